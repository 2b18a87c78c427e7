/* SPDX-License-Identifier: MIT */
/*
 * bug_wait_in_callback.c - bug_wait_in_callback.so: a client of the
 * catalogue's NPI that waits for its own deregistration inside its detach
 * callback.
 *
 * The real bug: the client is of no use without a provider, so when its
 * last provider detaches it shuts itself down from ClientDetachProvider:
 * NmrDeregisterClient (allowed inside a callback, R22), then
 * NmrWaitForClientDeregisterComplete, and it marks itself closed.  The
 * wait cannot end while the callback it is called from runs: on Windows
 * the thread deadlocks.  libnmr refuses the wait at once with
 * STATUS_POSSIBLE_DEADLOCK (R20); the module does not look at the status
 * (on Windows the wait returns STATUS_SUCCESS or never), believes the
 * deregistration over, and its unload, seeing it closed, returns without
 * waiting.  The registration is left deregistered and never waited for.
 * It happens whenever the provider goes away (unloaded) before this
 * client.
 *
 * Oracle: residue (a registration left: deregistered, not waited for).
 * A tool that reports a wait refused with STATUS_POSSIBLE_DEADLOCK (its
 * WAIT_END trace event) would see misuse first, at the provider's unload.
 *
 * `fixed`: the detach only deregisters; the unload always waits.
 */
#include "chk_mod.h"

#include <pthread.h>
#include <stdbool.h>

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    pthread_mutex_t lock;
    bool deregistered;                      /* [lock] */
    atomic_bool unloading, closed;
    atomic_int bound;
    atomic_ulong attached, cleaned, self_shutdowns;
    NTSTATUS wait_status;                   /* of the wait in the callback */
} W;

static VOID wc_notify(PVOID client_binding_ctx, unsigned value)
{
    (void)client_binding_ctx;
    (void)value;
}

static const CHK_CLIENT_DISPATCH wc_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), wc_notify
};

/* Deregister, once, whoever asks first (the last detach or the unload). */
static void deregister_once(void)
{
    pthread_mutex_lock(&W.lock);
    if (!W.deregistered) {
        W.deregistered = true;
        NmrDeregisterClient(W.handle);
    }
    pthread_mutex_unlock(&W.lock);
}

/* A binding context with nothing in it but what the NPI hands back. */
typedef struct wc_binding {
    PVOID provider_ctx;
    const VOID *provider;
} wc_binding;

static NTSTATUS wc_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    wc_binding *b;
    unsigned key;
    NTSTATUS st;

    (void)client_ctx;
    if (chk_provider_key(provider, &key) != STATUS_SUCCESS)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrClientAttachProvider(nmr_binding, b, &wc_dispatch, &b->provider_ctx, &b->provider);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    atomic_fetch_add(&W.attached, 1);
    atomic_fetch_add(&W.bound, 1);
    return STATUS_SUCCESS;
}

static NTSTATUS wc_detach(PVOID client_binding_ctx)
{
    (void)client_binding_ctx;
    if (atomic_fetch_sub(&W.bound, 1) != 1 || atomic_load(&W.unloading))
        return STATUS_SUCCESS;
    /* The last provider is going: shut down. */
    atomic_fetch_add(&W.self_shutdowns, 1);
    deregister_once();
    if (!W.fixed) {
        /* BUG: waits for this very callback (R20: POSSIBLE_DEADLOCK) */
        W.wait_status = NmrWaitForClientDeregisterComplete(W.handle);
        atomic_store(&W.closed, true);
    }
    return STATUS_SUCCESS;
}

static VOID wc_cleanup(PVOID client_binding_ctx)
{
    atomic_fetch_add(&W.cleaned, 1);
    free(client_binding_ctx);
}

static const NPI_MODULEID wc_module_id = CHK_MODULE_ID(18);
static const NPI_CLIENT_CHARACTERISTICS wc_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), wc_attach, wc_detach, wc_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &wc_module_id, 0, NULL }
};

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&W, 0, sizeof W);
    W.fixed = (flags & 1u) != 0;
    if (pthread_mutex_init(&W.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrRegisterClient(&wc_chars, NULL, &W.handle);
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&W.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = STATUS_SUCCESS;

    atomic_store(&W.unloading, true);
    deregister_once();
    if (!atomic_load(&W.closed))            /* else "the detach waited already" */
        st = NmrWaitForClientDeregisterComplete(W.handle);
    pthread_mutex_destroy(&W.lock);
    W.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&W.attached), c = atomic_load(&W.cleaned);

    if (c > a || (W.unloaded && !atomic_load(&W.closed) && c != a))
        return chk_fail(buf, size, "%lu attached, %lu cleaned up%s", a, c,
                        W.unloaded ? " after unload" : "");
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "bound=%d attached=%lu cleaned=%lu self_shutdowns=%lu",
                    atomic_load(&W.bound), atomic_load(&W.attached), atomic_load(&W.cleaned),
                    atomic_load(&W.self_shutdowns));
}
