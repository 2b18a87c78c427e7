/* SPDX-License-Identifier: MIT */
/*
 * badmod.c - a provider module of the echo NPI that misbehaves on demand,
 * for the nmrhost tests.  The argument mode= picks the fault:
 *
 *   forget-wait      unload deregisters but never waits: the registration
 *                    stays in the registrar, so nmrhost must keep the
 *                    module resident and say so
 *   no-deregister    unload returns STATUS_SUCCESS having done nothing
 *   slow-detach      the provider's detach returns STATUS_PENDING and a
 *                    thread completes it hold-ms=N later: unload blocks
 *                    that long (the watchdog and nmrhost report it), then
 *                    finishes cleanly
 *   fail-load        load fails after undoing its registration (clean)
 *   fail-load-leaky  load fails leaving its registration behind
 *   ok               behaves
 *
 * Replies like a version 1 echo provider ("echo-bad").
 */
#define _POSIX_C_SOURCE 200809L
#include "../../examples/echo_npi.h"

#include <nmr/module.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    const nmr_module_host *host;
    HANDLE nmr_provider;
    char mode[32];
    unsigned hold_ms;
    pthread_mutex_t lock;
    pthread_t completer;
    int completer_started;
    HANDLE to_complete;
} bad = { .lock = PTHREAD_MUTEX_INITIALIZER };

static NTSTATUS bad_echo(PVOID ctx, const char *msg, char *out, size_t n)
{
    ECHO_PROVIDER_BINDING *b = ctx;

    snprintf(out, n, "%s", msg);
    b->Client->OnReply(b->ClientBindingContext, out);
    return STATUS_SUCCESS;
}

static const ECHO_PROVIDER_DISPATCH bad_dispatch = {
    ECHO_NPI_VERSION, sizeof(ECHO_PROVIDER_DISPATCH), bad_echo
};

static NTSTATUS bad_attach(HANDLE nmr_binding, PVOID ctx, PNPI_REGISTRATION_INSTANCE client,
                           PVOID client_binding, const VOID *client_dispatch,
                           PVOID *provider_binding, const VOID **dispatch)
{
    ECHO_PROVIDER_BINDING *b;
    NTSTATUS st = echo_provider_bind(nmr_binding, client_binding, client_dispatch, &b);

    (void)ctx;
    (void)client;
    if (st != STATUS_SUCCESS)
        return st;
    *provider_binding = b;
    *dispatch = &bad_dispatch;
    return STATUS_SUCCESS;
}

static void *completer_main(void *arg)
{
    struct timespec ts = { (time_t)(bad.hold_ms / 1000u), (long)(bad.hold_ms % 1000u) * 1000000L };

    (void)arg;
    nanosleep(&ts, NULL);
    NmrProviderDetachClientComplete(bad.to_complete);
    return NULL;
}

static NTSTATUS bad_detach(PVOID provider_binding)
{
    ECHO_PROVIDER_BINDING *b = provider_binding;

    if (strcmp(bad.mode, "slow-detach") != 0)
        return STATUS_SUCCESS;
    pthread_mutex_lock(&bad.lock);
    if (bad.completer_started) {       /* one slow binding is enough */
        pthread_mutex_unlock(&bad.lock);
        return STATUS_SUCCESS;
    }
    bad.to_complete = b->NmrBinding;
    bad.completer_started = pthread_create(&bad.completer, NULL, completer_main, NULL) == 0;
    pthread_mutex_unlock(&bad.lock);
    return bad.completer_started ? STATUS_PENDING : STATUS_SUCCESS;
}

static VOID bad_cleanup(PVOID provider_binding)
{
    free(provider_binding);
}

static const NPI_MODULEID bad_module_id = {
    .Length = sizeof(NPI_MODULEID),
    .Type = MIT_GUID,
    .Guid = { 0xbad0bad0, 0x0001, 0x4002, { 0x80, 0x03, 0, 0, 0, 0, 0, 0x04 } },
};

static const ECHO_PROVIDER_CHARACTERISTICS bad_npi_chars = { ECHO_NPI_VERSION, "echo-bad" };

static const NPI_PROVIDER_CHARACTERISTICS bad_chars = {
    .Version = 0,
    .Length = sizeof(NPI_PROVIDER_CHARACTERISTICS),
    .ProviderAttachClient = bad_attach,
    .ProviderDetachClient = bad_detach,
    .ProviderCleanupBindingContext = bad_cleanup,
    .ProviderRegistrationInstance = {
        .Version = 0,
        .Size = sizeof(NPI_REGISTRATION_INSTANCE),
        .NpiId = &NPI_ECHO_ID,
        .ModuleId = &bad_module_id,
        .Number = 0,
        .NpiSpecificCharacteristics = &bad_npi_chars,
    },
};

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    NTSTATUS st;
    int i;

    bad.host = host;
    snprintf(bad.mode, sizeof bad.mode, "ok");
    bad.hold_ms = 1000;
    bad.completer_started = 0;
    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "mode=", 5) == 0)
            snprintf(bad.mode, sizeof bad.mode, "%s", argv[i] + 5);
        else if (strncmp(argv[i], "hold-ms=", 8) == 0)
            bad.hold_ms = (unsigned)strtoul(argv[i] + 8, NULL, 10);
        else
            return STATUS_INVALID_PARAMETER;
    }
    st = NmrRegisterProvider(&bad_chars, &bad, &bad.nmr_provider);
    if (st != STATUS_SUCCESS)
        return st;
    if (strcmp(bad.mode, "fail-load") == 0) {
        NmrDeregisterProvider(bad.nmr_provider);
        NmrWaitForProviderDeregisterComplete(bad.nmr_provider);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    if (strcmp(bad.mode, "fail-load-leaky") == 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    host->log(host, "mode %s", bad.mode);
    return STATUS_SUCCESS;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st;

    if (strcmp(bad.mode, "no-deregister") == 0)
        return STATUS_SUCCESS;
    st = NmrDeregisterProvider(bad.nmr_provider);
    if (strcmp(bad.mode, "forget-wait") == 0)
        return STATUS_SUCCESS;          /* the bug: no wait */
    st = NmrWaitForProviderDeregisterComplete(bad.nmr_provider);
    if (bad.completer_started)
        pthread_join(bad.completer, NULL);
    return st;
}
