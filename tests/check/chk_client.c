/* SPDX-License-Identifier: MIT */
/*
 * chk_client.c - chk_client.so: the correct client of the catalogue's NPI
 * (chk_npi.h), the partner of every planted-bug provider.
 *
 * It attaches to every provider of the NPI.  It has no thread of its own:
 * each nmr_module_exercise(worker) makes ONE call through a bound
 * provider's dispatch table (the bindings in turn) and checks the answer
 * and the Notify that comes with it; with nothing bound it returns at once.
 * Each binding has an nmr_guard: a call enters it under the module lock
 * while the binding is usable and leaves it after the call; the detach
 * makes the binding unusable, then returns nmr_guard_detach() (PENDING
 * with calls in flight: the last leave completes it).  The binding
 * context is freed in the cleanup only (a provider may notify until its
 * own detach half is complete).
 *
 * Unload: NmrDeregisterClient, then NmrWaitForClientDeregisterComplete.
 * nmr_module_check: no wrong call; after unload, nothing left bound and
 * every attach matched by one detach and one cleanup.
 */
#include "chk_mod.h"

#include <nmr/guard.h>

#include <pthread.h>
#include <stdbool.h>

typedef struct cli_binding {
    struct cli_binding *next;               /* in C.bindings [C.lock] */
    bool usable;                            /* detach not begun [C.lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const CHK_PROVIDER_DISPATCH *provider;
    unsigned key;                           /* copied at attach */
    nmr_guard guard;                        /* calls in flight */
    atomic_ulong broadcasts;                /* notifies outside our calls */
} cli_binding;

static struct {
    HANDLE handle;
    bool unloaded;
    pthread_mutex_t lock;
    cli_binding *bindings;                  /* [lock] */
    unsigned cursor;                        /* [lock] */
    atomic_ulong calls, broadcasts, attached, detached, cleaned;
    chk_wrong wrong;
} C;

static VOID cli_notify(PVOID client_binding_ctx, unsigned value)
{
    cli_binding *b = client_binding_ctx;

    if (chk_notify_in_call(b, value))
        return;
    atomic_fetch_add_explicit(&b->broadcasts, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&C.broadcasts, 1, memory_order_relaxed);
}

static const CHK_CLIENT_DISPATCH cli_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), cli_notify
};

/* ---- NMR callbacks ------------------------------------------------------- */
static NTSTATUS cli_attach(HANDLE nmr_binding, PVOID client_ctx,
                           PNPI_REGISTRATION_INSTANCE provider)
{
    cli_binding *b;
    const VOID *dispatch = NULL;
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
    st = nmr_guard_init(&b->guard, nmr_binding, NMR_GUARD_CLIENT);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    st = NmrClientAttachProvider(nmr_binding, b, &cli_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        nmr_guard_destroy(&b->guard);
        free(b);
        return st;
    }
    atomic_fetch_add(&C.attached, 1);
    b->provider = dispatch;
    pthread_mutex_lock(&C.lock);
    b->usable = chk_dispatch_ok(dispatch);  /* listed either way: cleanup unlinks */
    b->next = C.bindings;
    C.bindings = b;
    pthread_mutex_unlock(&C.lock);
    if (!b->usable)
        chk_wrong_note(&C.wrong, "a provider gave a dispatch table not of the NPI");
    return STATUS_SUCCESS;
}

static NTSTATUS cli_detach(PVOID client_binding_ctx)
{
    cli_binding *b = client_binding_ctx;

    atomic_fetch_add(&C.detached, 1);
    pthread_mutex_lock(&C.lock);
    b->usable = false;                      /* no new call enters */
    pthread_mutex_unlock(&C.lock);
    return nmr_guard_detach(&b->guard);     /* PENDING: the last leave completes */
}

static VOID cli_cleanup(PVOID client_binding_ctx)
{
    cli_binding *b = client_binding_ctx, **pp;

    pthread_mutex_lock(&C.lock);
    for (pp = &C.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&C.lock);
    nmr_guard_destroy(&b->guard);
    atomic_fetch_add(&C.cleaned, 1);
    free(b);
}

static const NPI_MODULEID cli_module_id = CHK_MODULE_ID(2);
static const NPI_CLIENT_CHARACTERISTICS cli_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), cli_attach, cli_detach, cli_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &cli_module_id, 0, NULL }
};

/* ---- module entry points ------------------------------------------------- */
NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    cli_binding *b, *pick = NULL;
    unsigned n = 0, value;
    const char *why;

    pthread_mutex_lock(&C.lock);
    for (b = C.bindings; b != NULL; b = b->next)
        n += b->usable;
    if (n != 0) {
        unsigned i = (C.cursor++ + worker) % n;
        for (b = C.bindings; b != NULL && pick == NULL; b = b->next)
            if (b->usable && i-- == 0)
                pick = b;
        if (!nmr_guard_enter(&pick->guard))  /* cannot fail while usable */
            pick = NULL;
    }
    pthread_mutex_unlock(&C.lock);
    if (pick == NULL)
        return;                             /* nothing bound */
    nmrcheck_yield();                       /* a call in flight: its detach may come */
    value = chk_next_value(worker);
    why = chk_call(pick->provider, pick->provider_ctx, pick->key, pick, value);
    nmr_guard_leave(&pick->guard);          /* pick may be gone from here on */
    if (why != NULL)
        chk_wrong_note(&C.wrong, "%s (value %u)", why, value);
    else
        atomic_fetch_add_explicit(&C.calls, 1, memory_order_relaxed);
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&C, 0, sizeof C);
    chk_wrong_reset(&C.wrong);
    if (pthread_mutex_init(&C.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrRegisterClient(&cli_chars, NULL, &C.handle);
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&C.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(C.handle);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(C.handle);
    pthread_mutex_destroy(&C.lock);
    C.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&C.attached), d = atomic_load(&C.detached),
                  c = atomic_load(&C.cleaned);

    if (chk_wrong_check(&C.wrong, buf, size))
        return 1;
    if (d > a || c > a)
        return chk_fail(buf, size, "more detaches (%lu) or cleanups (%lu) than attaches (%lu)",
                        d, c, a);
    if (C.unloaded && (C.bindings != NULL || d != a || c != a))
        return chk_fail(buf, size, "after unload: %lu attached, %lu detached, %lu cleaned up%s",
                        a, d, c, C.bindings != NULL ? ", bindings still listed" : "");
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lu wrong=%lu broadcasts=%lu attached=%lu cleaned=%lu",
                    atomic_load(&C.calls), atomic_load(&C.wrong.count),
                    atomic_load(&C.broadcasts), atomic_load(&C.attached),
                    atomic_load(&C.cleaned));
}
