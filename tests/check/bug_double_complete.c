/* SPDX-License-Identifier: MIT */
/*
 * bug_double_complete.c - bug_double_complete.so: a client of the
 * catalogue's NPI that can complete one detach twice.
 *
 * The real bug: a check-then-act race between the detach and the last
 * call out.  The detach first marks the binding detaching ("the last call
 * out completes it"), then, in a second step, looks at the calls in
 * flight and returns STATUS_SUCCESS if there are none.  A call that ends
 * between the two steps sees the mark and calls
 * NmrClientDetachProviderComplete; the detach then finds no call in flight
 * and returns STATUS_SUCCESS: the half is completed twice.  The NMR
 * accepts the early completion (R15) and reports the second as misuse
 * (NMR_MISUSE_NOT_PENDING, R15/R29).  The detach yields between its two
 * steps and a worker between the start and the end of its call.  It takes
 * --workers and a provider unloaded while this client calls.
 *
 * Oracle: misuse (completion of a half that is not pending).
 *
 * `fixed`: one step under the lock: the mark is set only when calls are in
 * flight, and the return value follows from the same look.
 */
#include "chk_mod.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct dc_binding {
    struct dc_binding *next;                /* in X.bindings [X.lock] */
    bool usable;                            /* [X.lock] */
    bool detaching;                         /* the last call out completes [X.lock] */
    unsigned in_flight;                     /* [X.lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const CHK_PROVIDER_DISPATCH *provider;
    unsigned key;
} dc_binding;

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    pthread_mutex_t lock;
    dc_binding *bindings;                   /* [lock] */
    atomic_ulong calls, attached, cleaned, completed_by_call;
    chk_wrong wrong;
} X;

static VOID dc_notify(PVOID client_binding_ctx, unsigned value)
{
    chk_notify_in_call(client_binding_ctx, value);
}

static const CHK_CLIENT_DISPATCH dc_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), dc_notify
};

static NTSTATUS dc_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    const VOID *dispatch = NULL;
    dc_binding *b;
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
    st = NmrClientAttachProvider(nmr_binding, b, &dc_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    b->provider = dispatch;
    atomic_fetch_add(&X.attached, 1);
    pthread_mutex_lock(&X.lock);
    b->usable = chk_dispatch_ok(dispatch);
    b->next = X.bindings;
    X.bindings = b;
    pthread_mutex_unlock(&X.lock);
    return STATUS_SUCCESS;
}

static NTSTATUS dc_detach(PVOID client_binding_ctx)
{
    dc_binding *b = client_binding_ctx;
    bool idle;

    pthread_mutex_lock(&X.lock);
    b->usable = false;
    if (X.fixed) {
        idle = b->in_flight == 0;
        b->detaching = !idle;
        pthread_mutex_unlock(&X.lock);
        return idle ? STATUS_SUCCESS : STATUS_PENDING;
    }
    b->detaching = true;                    /* step 1: the last call out completes */
    pthread_mutex_unlock(&X.lock);
    nmrcheck_yield();
    pthread_mutex_lock(&X.lock);
    idle = b->in_flight == 0;               /* step 2 (BUG: it may have done so) */
    pthread_mutex_unlock(&X.lock);
    return idle ? STATUS_SUCCESS : STATUS_PENDING;
}

static VOID dc_cleanup(PVOID client_binding_ctx)
{
    dc_binding *b = client_binding_ctx, **pp;

    pthread_mutex_lock(&X.lock);
    for (pp = &X.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&X.lock);
    atomic_fetch_add(&X.cleaned, 1);
    free(b);
}

static const NPI_MODULEID dc_module_id = CHK_MODULE_ID(17);
static const NPI_CLIENT_CHARACTERISTICS dc_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), dc_attach, dc_detach, dc_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &dc_module_id, 0, NULL }
};

NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    dc_binding *b;
    HANDLE complete = NULL;
    unsigned value;
    const char *why;

    pthread_mutex_lock(&X.lock);
    for (b = X.bindings; b != NULL && !b->usable; b = b->next)
        ;
    if (b != NULL)
        b->in_flight++;
    pthread_mutex_unlock(&X.lock);
    if (b == NULL)
        return;
    nmrcheck_yield();                       /* a call in flight: its detach may come */
    value = chk_next_value(worker);
    why = chk_call(b->provider, b->provider_ctx, b->key, b, value);
    pthread_mutex_lock(&X.lock);
    if (--b->in_flight == 0 && b->detaching) {
        b->detaching = false;
        complete = b->nmr_binding;          /* b lives until we complete */
    }
    pthread_mutex_unlock(&X.lock);
    if (complete != NULL) {
        atomic_fetch_add(&X.completed_by_call, 1);
        NmrClientDetachProviderComplete(complete);
    }
    if (why != NULL)
        chk_wrong_note(&X.wrong, "%s (value %u)", why, value);
    else
        atomic_fetch_add_explicit(&X.calls, 1, memory_order_relaxed);
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&X, 0, sizeof X);
    chk_wrong_reset(&X.wrong);
    X.fixed = (flags & 1u) != 0;
    if (pthread_mutex_init(&X.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrRegisterClient(&dc_chars, NULL, &X.handle);
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&X.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(X.handle);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(X.handle);
    pthread_mutex_destroy(&X.lock);
    X.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&X.attached), c = atomic_load(&X.cleaned);

    if (chk_wrong_check(&X.wrong, buf, size))
        return 1;
    if (c > a || (X.unloaded && (c != a || X.bindings != NULL)))
        return chk_fail(buf, size, "%lu attached, %lu cleaned up%s", a, c,
                        X.unloaded ? " after unload" : "");
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lu completed_by_call=%lu attached=%lu cleaned=%lu",
                    atomic_load(&X.calls), atomic_load(&X.completed_by_call),
                    atomic_load(&X.attached), atomic_load(&X.cleaned));
}
