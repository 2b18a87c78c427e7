/* SPDX-License-Identifier: MIT */
/*
 * bug_leak_registration.c - bug_leak_registration.so: a provider of the
 * catalogue's NPI that forgets one of its registrations at unload.
 *
 * The real bug: the module registers two providers at load, the NPI its
 * clients call (CHK_NPI_ID) and a management interface (CHK_MGMT_NPI_ID,
 * added later, for a configuration tool that no test loads).  The unload
 * was written before the second one existed: it deregisters and waits for
 * the first only.  The management registration stays active, its
 * characteristics and callbacks inside the module's mapping, after the
 * unload returned, in every schedule.
 *
 * Oracle: residue (an active registration of the module left).
 *
 * Otherwise a correct provider: Call answers CHK_ANSWER(Key, Value) and
 * notifies the caller on its thread; it never notifies from a thread of
 * its own, so its detach has nothing to wait for.  Pair it with
 * chk_client.so (--workers to make calls).
 *
 * `fixed`: the unload deregisters and waits for both.
 */
#include "chk_mod.h"

#include <stdbool.h>

#define LEAK_KEY 0x1eac0015u

typedef struct lk_binding {
    PVOID client_ctx;
    const CHK_CLIENT_DISPATCH *client;
    unsigned key;
} lk_binding;

static struct {
    HANDLE handle, mgmt;
    bool fixed, unloaded;
    atomic_ulong calls, attached, detached, cleaned;
} G;

static NTSTATUS lk_call(PVOID ctx, unsigned value, unsigned *out)
{
    lk_binding *pb = ctx;

    *out = CHK_ANSWER(pb->key, value);
    pb->client->Notify(pb->client_ctx, value);
    atomic_fetch_add_explicit(&G.calls, 1, memory_order_relaxed);
    return STATUS_SUCCESS;
}

static const CHK_PROVIDER_DISPATCH lk_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_PROVIDER_DISPATCH), lk_call
};

static NTSTATUS lk_attach(HANDLE nmr_binding, PVOID provider_ctx,
                          PNPI_REGISTRATION_INSTANCE client, PVOID client_ctx,
                          const VOID *client_dispatch, PVOID *binding_ctx,
                          const VOID **dispatch)
{
    const CHK_CLIENT_DISPATCH *cd = client_dispatch;
    lk_binding *pb;

    (void)nmr_binding;
    (void)provider_ctx;
    (void)client;
    if (cd == NULL || cd->Version != CHK_NPI_VERSION || cd->Length < sizeof *cd ||
        cd->Notify == NULL)
        return STATUS_NOINTERFACE;
    pb = calloc(1, sizeof *pb);
    if (pb == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    pb->client_ctx = client_ctx;
    pb->client = cd;
    pb->key = LEAK_KEY;
    atomic_fetch_add(&G.attached, 1);
    *binding_ctx = pb;
    *dispatch = &lk_dispatch;
    return STATUS_SUCCESS;
}

static NTSTATUS lk_detach(PVOID binding_ctx)
{
    (void)binding_ctx;
    atomic_fetch_add(&G.detached, 1);
    return STATUS_SUCCESS;                  /* it calls its clients only inside Call */
}

static VOID lk_cleanup(PVOID binding_ctx)
{
    atomic_fetch_add(&G.cleaned, 1);
    chk_poison_free(binding_ctx, sizeof(lk_binding));
}

/* The management interface: no client of it is ever loaded here. */
static NTSTATUS mgmt_attach(HANDLE nmr_binding, PVOID provider_ctx,
                            PNPI_REGISTRATION_INSTANCE client, PVOID client_ctx,
                            const VOID *client_dispatch, PVOID *binding_ctx,
                            const VOID **dispatch)
{
    (void)nmr_binding;
    (void)provider_ctx;
    (void)client;
    (void)client_ctx;
    (void)client_dispatch;
    (void)binding_ctx;
    (void)dispatch;
    return STATUS_NOINTERFACE;
}

static NTSTATUS mgmt_detach(PVOID binding_ctx)
{
    (void)binding_ctx;
    return STATUS_SUCCESS;
}

static const NPI_MODULEID lk_module_id = CHK_MODULE_ID(20);
static const CHK_PROVIDER_CHARACTERISTICS lk_npi_chars = {
    CHK_NPI_VERSION, sizeof(CHK_PROVIDER_CHARACTERISTICS), LEAK_KEY
};
static const NPI_PROVIDER_CHARACTERISTICS lk_chars = {
    0, sizeof(NPI_PROVIDER_CHARACTERISTICS), lk_attach, lk_detach, lk_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &lk_module_id, 0, &lk_npi_chars }
};
static const NPI_PROVIDER_CHARACTERISTICS mgmt_chars = {
    0, sizeof(NPI_PROVIDER_CHARACTERISTICS), mgmt_attach, mgmt_detach, NULL,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_MGMT_NPI_ID, &lk_module_id, 0, NULL }
};

static NTSTATUS deregister_and_wait(HANDLE h)
{
    NTSTATUS st = NmrDeregisterProvider(h);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForProviderDeregisterComplete(h);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&G, 0, sizeof G);
    G.fixed = (flags & 1u) != 0;
    st = NmrRegisterProvider(&mgmt_chars, NULL, &G.mgmt);
    if (st != STATUS_SUCCESS)
        return st;
    st = NmrRegisterProvider(&lk_chars, NULL, &G.handle);
    if (st != STATUS_SUCCESS)
        deregister_and_wait(G.mgmt);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = deregister_and_wait(G.handle);

    if (G.fixed) {                          /* BUG unless fixed: G.mgmt left */
        NTSTATUS st2 = deregister_and_wait(G.mgmt);
        if (st == STATUS_SUCCESS)
            st = st2;
    }
    G.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&G.attached), d = atomic_load(&G.detached),
                  c = atomic_load(&G.cleaned);

    if (d > a || c > a || (G.unloaded && (d != a || c != a)))
        return chk_fail(buf, size, "%lu attached, %lu detached, %lu cleaned up%s", a, d, c,
                        G.unloaded ? " after unload" : "");
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lu attached=%lu cleaned=%lu", atomic_load(&G.calls),
                    atomic_load(&G.attached), atomic_load(&G.cleaned));
}
