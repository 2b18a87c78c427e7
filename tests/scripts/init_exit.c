/* SPDX-License-Identifier: MIT */
/*
 * init_exit.c - R33: no initialisation call, nothing torn down at exit.
 *
 * A constructor of the highest user priority uses the API before main()
 * (and, in the statically linked variant, before any constructor libnmr's
 * own objects might have); then main() returns while another thread is
 * still registering, binding and unloading in a loop, so exit() runs while
 * libnmr is in use.  Passing means: the constructor's binding worked, and
 * the process exited with status 0 (no crash in the churning thread).
 */
#define _POSIX_C_SOURCE 200809L
#include <netioddk.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static const NPIID npi_id = {
    0x3c0e9d52, 0x7b1a, 0x4f08,
    { 0x96, 0x2d, 0x1e, 0x5a, 0x40, 0xc7, 0x33, 0x8b }
};
static const NPI_MODULEID module_id = {
    .Length = sizeof(NPI_MODULEID), .Type = MIT_GUID,
    .Guid = { 0x5, 0x6, 0x7, { 1, 2, 3, 4, 5, 6, 7, 8 } }
};
static const int dispatch = 0;

static NTSTATUS client_attach(HANDLE binding, PVOID ctx,
                              PNPI_REGISTRATION_INSTANCE provider)
{
    PVOID pctx;
    const VOID *pdisp;

    (void)provider;
    return NmrClientAttachProvider(binding, ctx, &dispatch, &pctx, &pdisp);
}

static NTSTATUS provider_attach(HANDLE binding, PVOID ctx,
                                PNPI_REGISTRATION_INSTANCE client,
                                PVOID client_ctx, const VOID *client_disp,
                                PVOID *pctx, const VOID **pdisp)
{
    (void)binding;
    (void)client;
    (void)client_disp;
    *pctx = ctx;
    *pdisp = &dispatch;
    /* The client context is a counter of bindings made. */
    __atomic_add_fetch((int *)client_ctx, 1, __ATOMIC_RELAXED);
    return STATUS_SUCCESS;
}

static NTSTATUS detach(PVOID ctx)
{
    (void)ctx;
    return STATUS_SUCCESS;
}

static const NPI_CLIENT_CHARACTERISTICS client_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), client_attach, detach, NULL,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &npi_id, &module_id, 0, NULL }
};
static const NPI_PROVIDER_CHARACTERISTICS provider_chars = {
    0, sizeof(NPI_PROVIDER_CHARACTERISTICS), provider_attach, detach, NULL,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &npi_id, &module_id, 0, NULL }
};

/* Register a provider and a client, check they bound, unload both. */
static int bind_and_unload(void)
{
    HANDLE p, c;
    int bound = 0;

    if (NmrRegisterProvider(&provider_chars, NULL, &p) != STATUS_SUCCESS)
        return 0;
    if (NmrRegisterClient(&client_chars, &bound, &c) != STATUS_SUCCESS)
        return 0;
    return __atomic_load_n(&bound, __ATOMIC_RELAXED) == 1 &&
           NmrDeregisterClient(c) == STATUS_PENDING &&
           NmrWaitForClientDeregisterComplete(c) == STATUS_SUCCESS &&
           NmrDeregisterProvider(p) == STATUS_PENDING &&
           NmrWaitForProviderDeregisterComplete(p) == STATUS_SUCCESS;
}

static int constructor_ok;

__attribute__((constructor(101))) static void before_main(void)
{
    constructor_ok = bind_and_unload();
}

static void *churn(void *arg)
{
    (void)arg;
    for (;;)
        if (!bind_and_unload())
            abort();
    return NULL;
}

int main(void)
{
    pthread_t t;
    struct timespec pause = { 0, 20 * 1000 * 1000 };

    if (!constructor_ok) {
        fprintf(stderr, "init_exit: the API did not work from a constructor\n");
        return 1;
    }
    if (pthread_create(&t, NULL, churn, NULL) != 0)
        return 1;
    nanosleep(&pause, NULL);
    return 0; /* exit() while the other thread is inside libnmr */
}
