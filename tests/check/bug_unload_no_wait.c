/* SPDX-License-Identifier: MIT */
/*
 * bug_unload_no_wait.c - bug_unload_no_wait.so: a client of the catalogue's
 * NPI whose unload deregisters and returns without waiting.
 *
 * The real bug: the author saw the detach callbacks run inside
 * NmrDeregisterClient (R12) and concluded that nothing was left to wait
 * for, so the unload calls NmrDeregisterClient and returns.  But a half
 * may still be pending: chk_provider.so:broadcast returns STATUS_PENDING
 * from its detach while its thread is notifying this client, and the
 * cleanups then run on that thread, after the unload returned, into a
 * module that may be unmapped.  And without the wait the registration is
 * never ended: it stays in the registrar, deregistered, for ever.
 *
 * Oracle: residue (the registration left, in every schedule, as soon as
 * the unload returns); a late callback (the cleanup after the unload
 * returned) when the provider's half was pending, if the tool looks for
 * it before the residue.
 *
 * `fixed`: NmrWaitForClientDeregisterComplete after NmrDeregisterClient.
 */
#include "chk_mod.h"

#include <stdbool.h>

typedef struct nw_binding {
    PVOID provider_ctx;
    const VOID *provider;
    atomic_ulong notifies;
} nw_binding;

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    atomic_ulong attached, detached, cleaned, notifies;
} U;

static VOID nw_notify(PVOID client_binding_ctx, unsigned value)
{
    nw_binding *b = client_binding_ctx;

    (void)value;
    atomic_fetch_add_explicit(&b->notifies, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&U.notifies, 1, memory_order_relaxed);
}

static const CHK_CLIENT_DISPATCH nw_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), nw_notify
};

static NTSTATUS nw_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    nw_binding *b;
    unsigned key;
    NTSTATUS st;

    (void)client_ctx;
    if (chk_provider_key(provider, &key) != STATUS_SUCCESS)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrClientAttachProvider(nmr_binding, b, &nw_dispatch, &b->provider_ctx, &b->provider);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    atomic_fetch_add(&U.attached, 1);
    return STATUS_SUCCESS;
}

static NTSTATUS nw_detach(PVOID client_binding_ctx)
{
    (void)client_binding_ctx;
    atomic_fetch_add(&U.detached, 1);
    return STATUS_SUCCESS;                  /* it makes no calls */
}

static VOID nw_cleanup(PVOID client_binding_ctx)
{
    atomic_fetch_add(&U.cleaned, 1);
    free(client_binding_ctx);
}

static const NPI_MODULEID nw_module_id = CHK_MODULE_ID(19);
static const NPI_CLIENT_CHARACTERISTICS nw_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), nw_attach, nw_detach, nw_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &nw_module_id, 0, NULL }
};

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&U, 0, sizeof U);
    U.fixed = (flags & 1u) != 0;
    return NmrRegisterClient(&nw_chars, NULL, &U.handle);
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(U.handle);

    /* BUG unless fixed: "the detaches ran inside NmrDeregisterClient" */
    if (U.fixed && (st == STATUS_PENDING || st == STATUS_SUCCESS))
        st = NmrWaitForClientDeregisterComplete(U.handle);
    U.unloaded = true;
    return st == STATUS_PENDING ? STATUS_SUCCESS : st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&U.attached), d = atomic_load(&U.detached),
                  c = atomic_load(&U.cleaned);

    if (d > a || c > a || (U.unloaded && U.fixed && (d != a || c != a)))
        return chk_fail(buf, size, "%lu attached, %lu detached, %lu cleaned up%s", a, d, c,
                        U.unloaded ? " after unload" : "");
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "notifies=%lu attached=%lu cleaned=%lu",
                    atomic_load(&U.notifies), atomic_load(&U.attached),
                    atomic_load(&U.cleaned));
}
