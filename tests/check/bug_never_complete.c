/* SPDX-License-Identifier: MIT */
/*
 * bug_never_complete.c - bug_never_complete.so: a client of the catalogue's
 * NPI whose pending detach is never completed on one path.
 *
 * The real bug: the client counts its calls in flight per binding (under
 * its lock, as Microsoft's guide shows); the detach returns STATUS_PENDING
 * while calls are in flight, and the last call out is to call
 * NmrClientDetachProviderComplete.  But the end of a call has an early
 * return: "the provider is going away: drop this result" when the binding
 * is detaching, placed before the completion.  That is exactly the case
 * in which the completion is due, so the client half never completes and
 * the provider's NmrWaitForProviderDeregisterComplete waits for ever.  It
 * takes a call in flight when the provider is unloaded: --workers, and a
 * schedule that runs the provider's unload while a worker is between the
 * start of its call and its end (the worker yields there).
 *
 * Oracle: hang (the provider's unload: a detach never completed).
 *
 * `fixed`: the completion comes before the early return.
 */
#include "chk_mod.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct nc_binding {
    struct nc_binding *next;                /* in N.bindings [N.lock] */
    bool usable;                            /* detach not begun [N.lock] */
    bool detach_pending;                    /* the detach returned PENDING [N.lock] */
    unsigned in_flight;                     /* [N.lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const CHK_PROVIDER_DISPATCH *provider;
    unsigned key;
} nc_binding;

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    pthread_mutex_t lock;
    nc_binding *bindings;                   /* [lock] */
    atomic_ulong calls, dropped, attached, cleaned, pending;
    chk_wrong wrong;
} N;

static VOID nc_notify(PVOID client_binding_ctx, unsigned value)
{
    chk_notify_in_call(client_binding_ctx, value);
}

static const CHK_CLIENT_DISPATCH nc_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), nc_notify
};

static NTSTATUS nc_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    const VOID *dispatch = NULL;
    nc_binding *b;
    unsigned key;
    NTSTATUS st;

    (void)client_ctx;
    if (chk_provider_key(provider, &key) != STATUS_SUCCESS)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->nmr_binding = nmr_binding;
    b->key = key;
    st = NmrClientAttachProvider(nmr_binding, b, &nc_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    b->provider = dispatch;
    atomic_fetch_add(&N.attached, 1);
    pthread_mutex_lock(&N.lock);
    b->usable = chk_dispatch_ok(dispatch);
    b->next = N.bindings;
    N.bindings = b;
    pthread_mutex_unlock(&N.lock);
    return STATUS_SUCCESS;
}

static NTSTATUS nc_detach(PVOID client_binding_ctx)
{
    nc_binding *b = client_binding_ctx;
    NTSTATUS st = STATUS_SUCCESS;

    pthread_mutex_lock(&N.lock);
    b->usable = false;
    if (b->in_flight != 0) {
        b->detach_pending = true;           /* the last call out completes it */
        st = STATUS_PENDING;
    }
    pthread_mutex_unlock(&N.lock);
    if (st == STATUS_PENDING)
        atomic_fetch_add(&N.pending, 1);
    return st;
}

static VOID nc_cleanup(PVOID client_binding_ctx)
{
    nc_binding *b = client_binding_ctx, **pp;

    pthread_mutex_lock(&N.lock);
    for (pp = &N.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&N.lock);
    atomic_fetch_add(&N.cleaned, 1);
    free(b);
}

static const NPI_MODULEID nc_module_id = CHK_MODULE_ID(15);
static const NPI_CLIENT_CHARACTERISTICS nc_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), nc_attach, nc_detach, nc_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &nc_module_id, 0, NULL }
};

NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    nc_binding *b;
    HANDLE complete = NULL;
    bool detaching;
    unsigned value;
    const char *why;

    pthread_mutex_lock(&N.lock);
    for (b = N.bindings; b != NULL && !b->usable; b = b->next)
        ;
    if (b != NULL)
        b->in_flight++;
    pthread_mutex_unlock(&N.lock);
    if (b == NULL)
        return;
    nmrcheck_yield();                       /* a call in flight: its detach may come */
    value = chk_next_value(worker);
    why = chk_call(b->provider, b->provider_ctx, b->key, b, value);
    pthread_mutex_lock(&N.lock);
    detaching = !b->usable;
    if (--b->in_flight == 0 && b->detach_pending) {
        b->detach_pending = false;
        complete = b->nmr_binding;          /* b lives until we complete */
    }
    pthread_mutex_unlock(&N.lock);
    if (N.fixed && complete != NULL)
        NmrClientDetachProviderComplete(complete);
    if (detaching) {
        atomic_fetch_add(&N.dropped, 1);
        return;                             /* BUG unless fixed: skips the completion */
    }
    if (!N.fixed && complete != NULL)
        NmrClientDetachProviderComplete(complete);
    if (why != NULL)
        chk_wrong_note(&N.wrong, "%s (value %u)", why, value);
    else
        atomic_fetch_add_explicit(&N.calls, 1, memory_order_relaxed);
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&N, 0, sizeof N);
    chk_wrong_reset(&N.wrong);
    N.fixed = (flags & 1u) != 0;
    if (pthread_mutex_init(&N.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrRegisterClient(&nc_chars, NULL, &N.handle);
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&N.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(N.handle);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(N.handle);
    pthread_mutex_destroy(&N.lock);
    N.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&N.attached), c = atomic_load(&N.cleaned);

    if (chk_wrong_check(&N.wrong, buf, size))
        return 1;
    if (c > a || (N.unloaded && (c != a || N.bindings != NULL)))
        return chk_fail(buf, size, "%lu attached, %lu cleaned up%s", a, c,
                        N.unloaded ? " after unload" : "");
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lu dropped=%lu pending=%lu attached=%lu cleaned=%lu",
                    atomic_load(&N.calls), atomic_load(&N.dropped), atomic_load(&N.pending),
                    atomic_load(&N.attached), atomic_load(&N.cleaned));
}
