/* SPDX-License-Identifier: MIT */
/*
 * chk_provider.c - chk_provider.so: the correct provider of the
 * catalogue's NPI (chk_npi.h), the partner of every planted-bug client.
 *
 * Call answers CHK_ANSWER(Key, Value) and calls the client's Notify once,
 * on the calling thread.  It accepts every client whose dispatch table is
 * of the NPI.  Each binding has an nmr_guard (provider side) for the
 * notifications of its own thread: the detach marks the binding unusable
 * under the module lock, then returns nmr_guard_detach() (STATUS_PENDING
 * while a notify is running, whose nmr_guard_leave completes the detach).
 * The mark matters: the thread enters a guard with the module lock held,
 * and an nmr_guard_enter that fails on a draining guard may be the last
 * reference out and run the completion, and so the cleanups (which take
 * that lock), on the entering thread; entering only usable bindings under
 * the lock, it never meets a draining guard.  The
 * cleanup overwrites the binding's state with 0xA5 before freeing it, so a
 * client that calls through a binding whose detach it let complete reads
 * a garbage client dispatch pointer and faults (bug_call_after_detach).
 *
 * Arguments:
 *   broadcast     one thread of its own notifies the bound clients in turn
 *                 (round robin, nmrcheck_yield() between two), from attach
 *                 until each binding's detach; stopped and joined at unload,
 *                 before the deregistration.  A client must keep its binding
 *                 context valid until its cleanup (bug_free_in_detach).
 *   refuse-first  the first client offered after each load is refused with
 *                 STATUS_NOINTERFACE, every later one accepted: an attach
 *                 failure in an ordinary schedule (bug_rollback,
 *                 bugdrv_pool_leak).
 *
 * Unload: stop the thread, NmrDeregisterProvider, then
 * NmrWaitForProviderDeregisterComplete.  nmr_module_check: every attached
 * binding detached once and cleaned up once, nothing left after unload.
 */
#define _POSIX_C_SOURCE 200809L
#include "chk_mod.h"

#include <nmr/guard.h>

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <time.h>

#define PROVIDER_KEY 0x5eed0c4eu

typedef struct prov_binding {
    struct prov_binding *next;              /* in P.bindings [P.lock] */
    bool usable;                            /* detach not begun [P.lock] */
    HANDLE nmr_binding;
    unsigned key;
    PVOID client_ctx;
    const CHK_CLIENT_DISPATCH *client;
    nmr_guard guard;                        /* notifies of the broadcast thread */
} prov_binding;

static struct {
    HANDLE handle;
    bool broadcast, refuse_first, unloaded;
    atomic_bool refused_one, stop;
    pthread_t thread;
    pthread_mutex_t lock;
    prov_binding *bindings;                 /* [lock] */
    unsigned cursor;                        /* round robin of the thread */
    atomic_ulong calls, broadcasts, attached, detached, cleaned, refused;
} P;

static NTSTATUS prov_call(PVOID ctx, unsigned value, unsigned *out)
{
    prov_binding *pb = ctx;

    *out = CHK_ANSWER(pb->key, value);
    pb->client->Notify(pb->client_ctx, value);
    atomic_fetch_add_explicit(&P.calls, 1, memory_order_relaxed);
    return STATUS_SUCCESS;
}

static const CHK_PROVIDER_DISPATCH prov_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_PROVIDER_DISPATCH), prov_call
};

/* ---- NMR callbacks ----------------------------------------------------- */
static NTSTATUS prov_attach(HANDLE nmr_binding, PVOID provider_ctx,
                            PNPI_REGISTRATION_INSTANCE client, PVOID client_ctx,
                            const VOID *client_dispatch, PVOID *binding_ctx,
                            const VOID **dispatch)
{
    const CHK_CLIENT_DISPATCH *cd = client_dispatch;
    prov_binding *pb;

    (void)provider_ctx;
    (void)client;
    if (cd == NULL || cd->Version != CHK_NPI_VERSION || cd->Length < sizeof *cd ||
        cd->Notify == NULL)
        return STATUS_NOINTERFACE;
    if (P.refuse_first && !atomic_exchange(&P.refused_one, true)) {
        atomic_fetch_add(&P.refused, 1);
        return STATUS_NOINTERFACE;
    }
    pb = calloc(1, sizeof *pb);
    if (pb == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    if (nmr_guard_init(&pb->guard, nmr_binding, NMR_GUARD_PROVIDER) != STATUS_SUCCESS) {
        free(pb);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    pb->usable = true;
    pb->nmr_binding = nmr_binding;
    pb->key = PROVIDER_KEY;
    pb->client_ctx = client_ctx;
    pb->client = cd;
    pthread_mutex_lock(&P.lock);
    pb->next = P.bindings;
    P.bindings = pb;
    pthread_mutex_unlock(&P.lock);
    atomic_fetch_add(&P.attached, 1);
    *binding_ctx = pb;
    *dispatch = &prov_dispatch;
    return STATUS_SUCCESS;
}

static NTSTATUS prov_detach(PVOID binding_ctx)
{
    prov_binding *pb = binding_ctx;

    atomic_fetch_add(&P.detached, 1);
    pthread_mutex_lock(&P.lock);
    pb->usable = false;                     /* the thread enters it no more */
    pthread_mutex_unlock(&P.lock);
    return nmr_guard_detach(&pb->guard);    /* PENDING while the thread notifies */
}

static VOID prov_cleanup(PVOID binding_ctx)
{
    prov_binding *pb = binding_ctx, **pp;

    pthread_mutex_lock(&P.lock);
    for (pp = &P.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == pb) {
            *pp = pb->next;
            break;
        }
    }
    pthread_mutex_unlock(&P.lock);
    nmr_guard_destroy(&pb->guard);
    atomic_fetch_add(&P.cleaned, 1);
    chk_poison_free(pb, sizeof *pb);
}

/* ---- the broadcast thread ------------------------------------------------ */
static void *broadcast_main(void *arg)
{
    unsigned value = 0;

    (void)arg;
    while (!atomic_load(&P.stop)) {
        prov_binding *pb, *pick = NULL;
        unsigned n = 0;

        pthread_mutex_lock(&P.lock);
        for (pb = P.bindings; pb != NULL; pb = pb->next)
            n += pb->usable;
        if (n != 0) {
            unsigned i = P.cursor++ % n;
            for (pb = P.bindings; pick == NULL; pb = pb->next)
                if (pb->usable && i-- == 0)
                    pick = pb;
            if (!nmr_guard_enter(&pick->guard)) /* cannot fail while usable */
                pick = NULL;
        }
        pthread_mutex_unlock(&P.lock);          /* pick stays valid: the guard */
        if (pick != NULL) {
            pick->client->Notify(pick->client_ctx, ++value);
            atomic_fetch_add_explicit(&P.broadcasts, 1, memory_order_relaxed);
            nmr_guard_leave(&pick->guard);      /* may complete the detach */
        } else {
            struct timespec ts = { 0, 100000 }; /* nobody to notify: 100 us */
            nanosleep(&ts, NULL);
        }
        nmrcheck_yield();
        sched_yield();
    }
    return NULL;
}

/* ---- registration ---------------------------------------------------------- */
static const NPI_MODULEID prov_module_id = CHK_MODULE_ID(1);
static const CHK_PROVIDER_CHARACTERISTICS prov_npi_chars = {
    CHK_NPI_VERSION, sizeof(CHK_PROVIDER_CHARACTERISTICS), PROVIDER_KEY
};
static const NPI_PROVIDER_CHARACTERISTICS prov_chars = {
    0, sizeof(NPI_PROVIDER_CHARACTERISTICS), prov_attach, prov_detach, prov_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &prov_module_id, 0, &prov_npi_chars }
};

static void stop_thread(void)
{
    if (P.broadcast) {
        atomic_store(&P.stop, true);
        pthread_join(P.thread, NULL);
    }
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "broadcast", "refuse-first", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&P, 0, sizeof P);
    P.broadcast = (flags & 1u) != 0;
    P.refuse_first = (flags & 2u) != 0;
    if (pthread_mutex_init(&P.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    if (P.broadcast && pthread_create(&P.thread, NULL, broadcast_main, NULL) != 0) {
        pthread_mutex_destroy(&P.lock);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    st = NmrRegisterProvider(&prov_chars, NULL, &P.handle);
    if (st != STATUS_SUCCESS) {
        stop_thread();
        pthread_mutex_destroy(&P.lock);
    }
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st;

    stop_thread();                      /* no notify of ours from here on */
    st = NmrDeregisterProvider(P.handle);
    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForProviderDeregisterComplete(P.handle);
    pthread_mutex_destroy(&P.lock);
    P.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    (void)worker;
    nmrcheck_yield();                   /* nothing of its own to do */
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&P.attached), d = atomic_load(&P.detached),
                  c = atomic_load(&P.cleaned);

    if (d > a || c > a)
        return chk_fail(buf, size, "more detaches (%lu) or cleanups (%lu) than attaches (%lu)",
                        d, c, a);
    if (!P.unloaded)
        return 0;
    if (P.bindings != NULL || d != a || c != a)
        return chk_fail(buf, size, "after unload: %lu attached, %lu detached, %lu cleaned up%s",
                        a, d, c, P.bindings != NULL ? ", bindings still listed" : "");
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lu broadcasts=%lu attached=%lu cleaned=%lu refused=%lu",
                    atomic_load(&P.calls), atomic_load(&P.broadcasts),
                    atomic_load(&P.attached), atomic_load(&P.cleaned),
                    atomic_load(&P.refused));
}
