/* SPDX-License-Identifier: MIT */
/*
 * echo_provider.c - a provider of the echo NPI, written as a Windows NPI
 * provider module would be: a characteristics structure naming its three
 * callbacks, a binding context allocated in ProviderAttachClient and freed
 * in ProviderCleanupBindingContext, and nothing else shared with clients.
 *
 * The provider never calls into a client on its own (it only answers inside
 * Echo, on the client's thread), so it has nothing to wait for when told to
 * detach: ProviderDetachClient completes at once.
 */
#include "echo_modules.h"
#include "echo_npi.h"

#include <stdio.h>
#include <stdlib.h>

typedef struct echo_provider_module {
    HANDLE nmr_provider;
} echo_provider_module;

static echo_provider_module the_provider;

/* ---- the NPI itself ----------------------------------------------------- */
static NTSTATUS provider_echo(PVOID ctx, const char *msg, char *out, size_t n)
{
    ECHO_PROVIDER_BINDING *pb = ctx;

    printf("[provider] Echo(\"%s\")\n", msg);
    snprintf(out, n, "%s", msg);
    pb->Client->OnReply(pb->ClientBindingContext, out);
    return STATUS_SUCCESS;
}

static const ECHO_PROVIDER_DISPATCH provider_dispatch = {
    ECHO_NPI_VERSION, sizeof(ECHO_PROVIDER_DISPATCH), provider_echo
};

/* ---- NMR callbacks ------------------------------------------------------ */
static NTSTATUS provider_attach_client(HANDLE nmr_binding, PVOID provider_ctx,
                                       PNPI_REGISTRATION_INSTANCE client,
                                       PVOID client_binding,
                                       const VOID *client_dispatch,
                                       PVOID *provider_binding,
                                       const VOID **dispatch)
{
    ECHO_PROVIDER_BINDING *pb;
    NTSTATUS st;

    (void)provider_ctx;
    (void)client;
    st = echo_provider_bind(nmr_binding, client_binding, client_dispatch, &pb);
    if (st != STATUS_SUCCESS) {
        printf("[provider] ProviderAttachClient -> %s: declined\n", nmr_status_name(st));
        return st;
    }
    *provider_binding = pb;
    *dispatch = &provider_dispatch;
    printf("[provider] ProviderAttachClient: binding context allocated\n");
    return STATUS_SUCCESS;
}

static NTSTATUS provider_detach_client(PVOID provider_binding)
{
    (void)provider_binding;
    printf("[provider] ProviderDetachClient -> STATUS_SUCCESS\n");
    return STATUS_SUCCESS;
}

static VOID provider_cleanup_binding_context(PVOID provider_binding)
{
    printf("[provider] ProviderCleanupBindingContext: binding context freed\n");
    free(provider_binding);
}

/* ---- registration ------------------------------------------------------- */
static const NPI_MODULEID provider_module_id = {
    .Length = sizeof(NPI_MODULEID),
    .Type = MIT_GUID,
    .Guid = { 0x2a9b7c61, 0x0d3e, 0x4f15,
              { 0x9c, 0x08, 0x51, 0xe2, 0x7a, 0x44, 0xb3, 0x6d } },
};

static const ECHO_PROVIDER_CHARACTERISTICS provider_npi_chars = {
    ECHO_NPI_VERSION, "echo provider"
};

static const NPI_PROVIDER_CHARACTERISTICS provider_chars = {
    .Version = 0,
    .Length = sizeof(NPI_PROVIDER_CHARACTERISTICS),
    .ProviderAttachClient = provider_attach_client,
    .ProviderDetachClient = provider_detach_client,
    .ProviderCleanupBindingContext = provider_cleanup_binding_context,
    .ProviderRegistrationInstance = {
        .Version = 0,
        .Size = sizeof(NPI_REGISTRATION_INSTANCE),
        .NpiId = &NPI_ECHO_ID,
        .ModuleId = &provider_module_id,
        .Number = 0,
        .NpiSpecificCharacteristics = &provider_npi_chars,
    },
};

NTSTATUS echo_provider_load(void)
{
    NTSTATUS st;

    printf("[provider] NmrRegisterProvider\n");
    st = NmrRegisterProvider(&provider_chars, &the_provider,
                             &the_provider.nmr_provider);
    printf("[provider] NmrRegisterProvider -> %s\n", nmr_status_name(st));
    return st;
}

NTSTATUS echo_provider_stop(void)
{
    NTSTATUS st;

    printf("[provider] NmrDeregisterProvider\n");
    st = NmrDeregisterProvider(the_provider.nmr_provider);
    printf("[provider] NmrDeregisterProvider -> %s\n", nmr_status_name(st));
    return st;
}

NTSTATUS echo_provider_wait(void)
{
    NTSTATUS st =
        NmrWaitForProviderDeregisterComplete(the_provider.nmr_provider);

    printf("[provider] NmrWaitForProviderDeregisterComplete -> %s%s\n",
           nmr_status_name(st),
           st == STATUS_SUCCESS ? ": the provider module may be unloaded now"
                                : "");
    return st;
}
