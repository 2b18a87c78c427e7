/* SPDX-License-Identifier: MIT */
/*
 * consumer.c - the smallest complete user of an installed libnmr: one
 * provider and one client of a private NPI bind, the client deregisters,
 * both wait.  Built by install_pkgconfig.sh (pkg-config) and by the CMake
 * project next to it (find_package(nmr)).  Exits 0 when every step did
 * what docs/rules.md says.
 */
#include <netioddk.h>
#include <nmr/diag.h>

#include <stdio.h>
#include <stdlib.h>

#define EXPECT(cond)                                                       \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "consumer.c:%d: failed: %s\n", __LINE__, #cond); \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

static const NPIID npi_id = {
    0x0b5e7a21, 0x93c4, 0x4d6f,
    { 0x8e, 0x12, 0x7a, 0x3b, 0xc9, 0x50, 0x14, 0x6d }
};
static const NPI_MODULEID module_id = {
    .Length = sizeof(NPI_MODULEID), .Type = MIT_GUID,
    .Guid = { 0x1, 0x2, 0x3, { 4, 5, 6, 7, 8, 9, 10, 11 } }
};

/* The binding contexts and dispatch tables are just addresses here. */
static int client_binding, provider_binding;
static const int client_dispatch = 1, provider_dispatch = 2;
static int attached, client_detached, provider_detached, cleaned_up;

static NTSTATUS client_attach(HANDLE binding, PVOID ctx,
                              PNPI_REGISTRATION_INSTANCE provider)
{
    PVOID pb = NULL;
    const VOID *pd = NULL;
    NTSTATUS st;

    (void)ctx;
    EXPECT(provider->NpiId != NULL);
    st = NmrClientAttachProvider(binding, &client_binding, &client_dispatch,
                                 &pb, &pd);
    EXPECT(st == STATUS_SUCCESS);
    EXPECT(pb == &provider_binding && pd == &provider_dispatch);
    attached++;
    return STATUS_SUCCESS;
}

static NTSTATUS client_detach(PVOID ctx)
{
    EXPECT(ctx == &client_binding);
    client_detached++;
    return STATUS_SUCCESS;
}

static VOID client_cleanup(PVOID ctx)
{
    EXPECT(ctx == &client_binding);
    cleaned_up++;
}

static NTSTATUS provider_attach(HANDLE binding, PVOID ctx,
                                PNPI_REGISTRATION_INSTANCE client,
                                PVOID client_ctx, const VOID *client_disp,
                                PVOID *pctx, const VOID **pdisp)
{
    (void)binding;
    (void)ctx;
    (void)client;
    EXPECT(client_ctx == &client_binding && client_disp == &client_dispatch);
    *pctx = &provider_binding;
    *pdisp = &provider_dispatch;
    return STATUS_SUCCESS;
}

static NTSTATUS provider_detach(PVOID ctx)
{
    EXPECT(ctx == &provider_binding);
    provider_detached++;
    return STATUS_SUCCESS;
}

static VOID provider_cleanup(PVOID ctx)
{
    EXPECT(ctx == &provider_binding);
    cleaned_up++;
}

static const NPI_CLIENT_CHARACTERISTICS client_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS),
    client_attach, client_detach, client_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &npi_id, &module_id, 0, NULL }
};
static const NPI_PROVIDER_CHARACTERISTICS provider_chars = {
    0, sizeof(NPI_PROVIDER_CHARACTERISTICS),
    provider_attach, provider_detach, provider_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &npi_id, &module_id, 0, NULL }
};

int main(void)
{
    HANDLE provider = NULL, client = NULL;

    EXPECT(NmrRegisterProvider(&provider_chars, NULL, &provider) ==
           STATUS_SUCCESS);
    EXPECT(NmrRegisterClient(&client_chars, NULL, &client) == STATUS_SUCCESS);
    EXPECT(attached == 1);

    EXPECT(NmrDeregisterClient(client) == STATUS_PENDING);
    EXPECT(NmrWaitForClientDeregisterComplete(client) == STATUS_SUCCESS);
    EXPECT(client_detached == 1 && provider_detached == 1 && cleaned_up == 2);

    EXPECT(NmrDeregisterProvider(provider) == STATUS_PENDING);
    EXPECT(NmrWaitForProviderDeregisterComplete(provider) == STATUS_SUCCESS);
    EXPECT(nmr_diag_misuse_count() == 0);
    printf("consumer: bound, detached, waited: ok\n");
    return 0;
}
