/* SPDX-License-Identifier: MIT */
/*
 * rundown.c - slow paths of rundown protection (include/nmr/rundown.h).
 *
 * EX_RUNDOWN_REF.  The fast paths are single atomic operations on the
 * counter word.  A waiter sets the ACTIVE bit and sleeps on a condition
 * variable of a small "parking lot" (buckets chosen by the object's
 * address); the release that leaves exactly ACTIVE behind wakes that
 * bucket.  The waker uses the address only, never the memory: the waiter
 * may already have returned and freed the object.
 *
 * Cache-aware rundown.  Each thread owns a slot number (and a hazard
 * pointer), both in its TLS; slot k of every object is written only by the
 * thread that owns slot k, with plain loads and stores.
 * Running an object down is the expensive side (asymmetric, as liburcu's
 * memb flavour):
 *
 *   drain:   state = STARTED       acquires fail from here on
 *            barrier()             every thread of the process executes a
 *                                  full barrier (membarrier), so every
 *                                  acquire that saw OPEN is now visible
 *            state = DRAINING      from here on releases check the sum
 *            barrier()             every release that did not see DRAINING
 *                                  is now visible
 *            sum == 0 ? fire
 *   release: slot -= 1; compiler barrier; state == DRAINING ? check
 *   check:   full fence; sum == 0 ? fire
 *
 * A release either saw DRAINING (and checks the sum itself) or happened
 * before the second barrier (and the drainer's sum sees it), so the last
 * release is never missed.  Sums only count increments that were made
 * before the first barrier, so a sum of 0 seen after it is real.  Exactly
 * one thread fires (a CAS on `fired`).
 *
 * Freeing.  A releasing thread publishes the object in its hazard slot
 * for the duration of the release (and a failed acquire for its give-back).  Before the firing
 * thread runs the drain callback (which may free the object) or wakes a
 * waiter (who may free it), it issues a barrier and waits until no other
 * thread's hazard names the object: that lasts a few instructions of the
 * other thread.
 *
 * Without membarrier (older kernels, other systems) barrier() is a local
 * full fence and readers fence themselves (nmr_rundown_asymmetric == 0).
 */
#define _GNU_SOURCE
#include <nmr/rundown.h>

#include "base/check.h"
#include "base/alloc.h"
#include "base/misuse.h"
#include "base/thread_key.h"
#include "base/verify.h"
#include "rundown/internal.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__linux__)
#include <linux/membarrier.h>
#include <sys/syscall.h>
#endif

NMR_API __thread nmr_rundown_tls nmr_rundown_me;
NMR_API int nmr_rundown_asymmetric;
/* Threads watched now (nmr_check_watch_thread): nonzero, EX_RUNDOWN_REF's
 * inline paths call nmr_rundown_ref_point, which asks its own thread. */
NMR_API int nmr_rundown_watching;

#define MAX_SLOTS 64u
#define MIN_SLOTS 4u
#define BUCKETS 64u

/* ---- the parking lot --------------------------------------------------- */

typedef struct bucket {
    pthread_mutex_t lock;
    pthread_cond_t cond;
} __attribute__((aligned(64))) bucket;

static bucket buckets[BUCKETS];
static pthread_once_t buckets_once = PTHREAD_ONCE_INIT;

static void buckets_init(void)
{
    for (unsigned i = 0; i < BUCKETS; i++) {
        pthread_mutex_init(&buckets[i].lock, NULL);
        pthread_cond_init(&buckets[i].cond, NULL);
    }
}

static bucket *bucket_of(const void *p)
{
    pthread_once(&buckets_once, buckets_init);
    uintptr_t a = (uintptr_t)p;
    return &buckets[((a >> 6) ^ (a >> 14)) % BUCKETS];
}

void nmr_rundown_ref_wake(PEX_RUNDOWN_REF ref)
{
    bucket *b = bucket_of(ref);
    nmr_check_wake(ref);           /* a schedule explorer's waiter may go */
    pthread_mutex_lock(&b->lock);
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
}

void nmr_rundown_ref_point(PEX_RUNDOWN_REF ref, int release)
{
    if (nmr_rundown_me.watched)
        nmr_check_point(release ? "ExReleaseRundownProtection" : "ExAcquireRundownProtection",
                        ref);
}

VOID ExWaitForRundownProtectionRelease(PEX_RUNDOWN_REF ref)
{
    NMR_VERIFY_IRQL("ExWaitForRundownProtectionRelease", NMR_APC_LEVEL);
    nmr_check_point("ExWaitForRundownProtectionRelease", ref);
    uintptr_t v = __atomic_fetch_or(&ref->Count, NMR_RUNDOWN_ACTIVE, __ATOMIC_ACQ_REL);
    if ((v >> 1) == 0)
        return;
    /* the last release wakes it (nmr_rundown_ref_wake) */
    nmr_check_block_begin("ExWaitForRundownProtectionRelease", ref, 0);
    bucket *b = bucket_of(ref);
    pthread_mutex_lock(&b->lock);
    while ((__atomic_load_n(&ref->Count, __ATOMIC_ACQUIRE) >> 1) != 0)
        pthread_cond_wait(&b->cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
    nmr_check_block_end();
}

/* ---- thread records ----------------------------------------------------
 *
 * One record per thread that ever used a cache-aware rundown: its slot
 * number and where its hazard lives (in its TLS).  Records are never freed;
 * a record whose thread exited goes to the next new thread, with its slot,
 * so a slot always has one writer.  threads_lock protects the list, and the
 * hazard pointer of each record against the thread's exit.
 */
typedef struct thread_record {
    const void **hazard_at; /* &nmr_rundown_me.hazard of its thread, or NULL */
    uint32_t slot;
    struct thread_record *next;
} thread_record;

static pthread_mutex_t threads_lock = PTHREAD_MUTEX_INITIALIZER;
static thread_record *threads;  /* threads_lock */
static uint32_t thread_count;   /* threads_lock */
static pthread_key_t thread_key;
static pthread_once_t thread_key_once = PTHREAD_ONCE_INIT;

static void thread_exit(void *p)
{
    thread_record *t = p;
    pthread_mutex_lock(&threads_lock);
    t->hazard_at = NULL; /* its TLS goes away; its slot goes to a new thread */
    pthread_mutex_unlock(&threads_lock);
    nmr_rundown_me.slot1 = 0;
    nmr_rundown_me.watched_slot1 = 0; /* not its slot any more */
    if (nmr_rundown_me.watched) {
        nmr_rundown_me.watched = 0;
        __atomic_sub_fetch(&nmr_rundown_watching, 1, __ATOMIC_RELAXED);
    }
}

static void make_thread_key(void)
{
    nmr_thread_key_create(&thread_key, thread_exit);
}

/* Give this thread a slot (the lowest free one).  Leaves slot1 at 0 if out
 * of memory: the caller then uses the shared overflow counter. */
static void assign_slot(void)
{
    pthread_once(&thread_key_once, make_thread_key);
    pthread_mutex_lock(&threads_lock);
    thread_record *t, *best = NULL;
    for (t = threads; t != NULL; t = t->next)
        if (t->hazard_at == NULL && (best == NULL || t->slot < best->slot))
            best = t;
    if (best == NULL) {
        /* Records live as long as the process, and are not subject to
         * fault injection: a drain must always be able to publish its
         * hazard. */
        best = calloc(1, sizeof(*best));
        if (best != NULL) {
            best->slot = thread_count++;
            best->next = threads;
            threads = best;
        }
    }
    if (best != NULL)
        best->hazard_at = &nmr_rundown_me.hazard;
    pthread_mutex_unlock(&threads_lock);
    if (best != NULL) {
        pthread_setspecific(thread_key, best);
        nmr_rundown_me.slot1 = best->slot + 1;
    }
}

/* A watched thread has its record (its hazard is seen by quiesce) and
 * keeps slot1 at 0, so that its cache-aware operations come here; they
 * use the shared overflow counter, and each is a switch point. */
void nmr_check_watch_thread(int on)
{
    nmr_rundown_tls *me = &nmr_rundown_me;
    if (on && !me->watched) {
        if (me->slot1 == 0)
            assign_slot();
        me->watched_slot1 = me->slot1;
        me->slot1 = 0;
        me->watched = 1;
        __atomic_add_fetch(&nmr_rundown_watching, 1, __ATOMIC_RELAXED);
    } else if (!on && me->watched) {
        me->watched = 0;
        me->slot1 = me->watched_slot1;
        me->watched_slot1 = 0;
        __atomic_sub_fetch(&nmr_rundown_watching, 1, __ATOMIC_RELAXED);
    }
}

/* ---- barriers ------------------------------------------------------------ */

static pthread_once_t asym_once = PTHREAD_ONCE_INIT;

static void asym_init(void)
{
#if defined(__linux__) && defined(SYS_membarrier)
    long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0, 0);
    if (cmds > 0 && (cmds & MEMBARRIER_CMD_PRIVATE_EXPEDITED) &&
        syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
        __atomic_store_n(&nmr_rundown_asymmetric, 1, __ATOMIC_SEQ_CST);
#endif
}

/* Every thread of the process executes a full memory barrier. */
static void heavy_barrier(void)
{
    nmr_rundown_full_fence();
#if defined(__linux__) && defined(SYS_membarrier)
    if (__atomic_load_n(&nmr_rundown_asymmetric, __ATOMIC_RELAXED)) {
        if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0) {
            /* Registered at start, so this cannot fail; if it did, readers
             * would be unfenced: stop rather than free memory in use. */
            fprintf(stderr, "libnmr: rundown: membarrier failed after "
                            "registration; aborting\n");
            abort();
        }
    }
#endif
    nmr_rundown_full_fence();
}

/* ---- cache-aware objects --------------------------------------------------- */

static uint32_t default_slots(void)
{
    long n = sysconf(_SC_NPROCESSORS_CONF);
    uint32_t s = n > 0 ? (uint32_t)n * 2 : MIN_SLOTS;
    if (s < MIN_SLOTS)
        s = MIN_SLOTS;
    if (s > MAX_SLOTS)
        s = MAX_SLOTS;
    return s;
}

static size_t size_for(uint32_t nslots)
{
    return offsetof(EX_RUNDOWN_REF_CACHE_AWARE, slots) +
           (size_t)nslots * sizeof(nmr_rundown_slot);
}

SIZE_T ExSizeOfRundownProtectionCacheAware(void)
{
    return size_for(default_slots());
}

static void init_object(PEX_RUNDOWN_REF_CACHE_AWARE ref, size_t size, uint32_t flags)
{
    pthread_once(&asym_once, asym_init);
    size_t head = offsetof(EX_RUNDOWN_REF_CACHE_AWARE, slots);
    uint32_t n = size > head ? (uint32_t)((size - head) / sizeof(nmr_rundown_slot)) : 0;
    if (n > MAX_SLOTS)
        n = MAX_SLOTS;
    memset(ref, 0, size_for(n) < size ? size_for(n) : size);
    ref->nslots = n; /* 0 slots: every thread uses the overflow counter */
    ref->flags = flags;
    __atomic_store_n(&ref->state, NMR_RD_OPEN, __ATOMIC_RELEASE);
}

VOID ExInitializeRundownProtectionCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref,
                                             SIZE_T size)
{
    if (ref == NULL || size < offsetof(EX_RUNDOWN_REF_CACHE_AWARE, slots)) {
        nmr_report_misuse(NMR_MISUSE_RUNDOWN,
                          "ExInitializeRundownProtectionCacheAware: %zu bytes at %p "
                          "is too small (ExSizeOfRundownProtectionCacheAware says %zu)",
                          (size_t)size, (void *)ref, (size_t)ExSizeOfRundownProtectionCacheAware());
        return;
    }
    init_object(ref, size, 0);
}

PEX_RUNDOWN_REF_CACHE_AWARE ExAllocateCacheAwareRundownProtection(POOL_TYPE PoolType,
                                                                  ULONG PoolTag)
{
    (void)PoolType;
    (void)PoolTag;
    size_t size = ExSizeOfRundownProtectionCacheAware();
    PEX_RUNDOWN_REF_CACHE_AWARE ref = nmr_alloc_aligned(NMR_RUNDOWN_LINE, size);
    if (ref == NULL)
        return NULL;
    init_object(ref, size, NMR_RD_ALLOCATED);
    return ref;
}

VOID ExFreeCacheAwareRundownProtection(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    if (ref == NULL)
        return;
    if (!(ref->flags & NMR_RD_ALLOCATED)) {
        nmr_report_misuse(NMR_MISUSE_RUNDOWN,
                          "ExFreeCacheAwareRundownProtection: %p was not allocated "
                          "by ExAllocateCacheAwareRundownProtection", (void *)ref);
        return;
    }
    nmr_free_aligned(ref, size_for(ref->nslots));
}

static long sum(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    uintptr_t total = __atomic_load_n(&ref->overflow.count, __ATOMIC_ACQUIRE);
    for (uint32_t i = 0; i < ref->nslots; i++)
        total += __atomic_load_n(&ref->slots[i].count, __ATOMIC_ACQUIRE);
    return (long)(intptr_t)total;
}

long nmr_rundown_references(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    return sum(ref);
}

/* Wait until no other thread's hazard names ref (a few instructions of
 * that thread).  The lock keeps an exiting thread's TLS alive meanwhile;
 * a thread inside a release never needs it. */
static void quiesce(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    heavy_barrier();
    const void **mine = &nmr_rundown_me.hazard;
    pthread_mutex_lock(&threads_lock);
    for (thread_record *t = threads; t != NULL; t = t->next) {
        if (t->hazard_at == NULL || t->hazard_at == mine)
            continue;
        while (__atomic_load_n(t->hazard_at, __ATOMIC_ACQUIRE) == ref)
            sched_yield();
    }
    pthread_mutex_unlock(&threads_lock);
}

/* Exactly once: mark done, let other threads leave ref, run the callback. */
static int try_fire(PEX_RUNDOWN_REF_CACHE_AWARE ref, BOOLEAN inline_call)
{
    uint32_t zero = 0;
    if (!__atomic_compare_exchange_n(&ref->fired, &zero, 1, 0, __ATOMIC_ACQ_REL,
                                      __ATOMIC_ACQUIRE))
        return 0;
    nmr_rundown_drain_fn *fn = ref->drain_fn;
    void *ctx = ref->drain_context;
    __atomic_store_n(&ref->state, NMR_RD_DONE, __ATOMIC_RELEASE);
    quiesce(ref);
    fn(ctx, inline_call); /* may free ref: nothing touches it after this */
    return 1;
}

VOID nmr_rundown_ca_check(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    nmr_rundown_full_fence();
    if (__atomic_load_n(&ref->state, __ATOMIC_ACQUIRE) != NMR_RD_DRAINING)
        return;
    if (sum(ref) == 0)
        try_fire(ref, FALSE);
}

BOOLEAN nmr_rundown_ca_acquire_slow(PEX_RUNDOWN_REF_CACHE_AWARE ref, ULONG count)
{
    if (nmr_rundown_me.watched)
        nmr_check_point("ExAcquireRundownProtectionCacheAware", ref);
    return nmr_rundown_ca_acquire_nopoint(ref, count);
}

BOOLEAN nmr_rundown_ca_acquire_nopoint(PEX_RUNDOWN_REF_CACHE_AWARE ref, ULONG count)
{
    if (nmr_rundown_me.slot1 == 0 && !nmr_rundown_me.watched)
        assign_slot();
    if (nmr_rundown_me.slot1 != 0 && nmr_rundown_me.slot1 - 1 < ref->nslots)
        return ExAcquireRundownProtectionCacheAwareEx(ref, count);
    /* No slot of our own in this object (or watched): the shared overflow
     * counter. */
    __atomic_add_fetch(&ref->overflow.count, count, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ref->state, __ATOMIC_SEQ_CST) == NMR_RD_OPEN)
        return TRUE;
    __atomic_store_n(&nmr_rundown_me.hazard, ref, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&ref->overflow.count, count, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ref->state, __ATOMIC_ACQUIRE) == NMR_RD_DRAINING)
        nmr_rundown_ca_check(ref);
    __atomic_store_n(&nmr_rundown_me.hazard, NULL, __ATOMIC_RELEASE);
    return FALSE;
}

VOID nmr_rundown_ca_release_slow(PEX_RUNDOWN_REF_CACHE_AWARE ref, ULONG count)
{
    if (nmr_rundown_me.watched)
        nmr_check_point("ExReleaseRundownProtectionCacheAware", ref);
    else if (nmr_rundown_me.slot1 == 0)
        assign_slot();
    if (nmr_rundown_me.slot1 != 0 && nmr_rundown_me.slot1 - 1 < ref->nslots) {
        ExReleaseRundownProtectionCacheAwareEx(ref, count);
        return;
    }
    __atomic_store_n(&nmr_rundown_me.hazard, ref, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&ref->overflow.count, count, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&ref->state, __ATOMIC_SEQ_CST) == NMR_RD_DRAINING)
        nmr_rundown_ca_check(ref);
    __atomic_store_n(&nmr_rundown_me.hazard, NULL, __ATOMIC_RELEASE);
}

NTSTATUS nmr_rundown_drain(PEX_RUNDOWN_REF_CACHE_AWARE ref, nmr_rundown_drain_fn *fn,
                           void *context)
{
    if (ref != NULL && fn != NULL && nmr_rundown_me.watched)
        nmr_check_point("nmr_rundown_drain", ref);
    return nmr_rundown_drain_nopoint(ref, fn, context);
}

NTSTATUS nmr_rundown_drain_nopoint(PEX_RUNDOWN_REF_CACHE_AWARE ref, nmr_rundown_drain_fn *fn,
                                   void *context)
{
    if (ref == NULL || fn == NULL)
        return STATUS_INVALID_PARAMETER;
    /* The drainer reads ref until it returns, while a last release on
     * another thread may fire the callback, which may free ref: publish ref
     * as our hazard so that the firing thread waits for us (a watched
     * thread has its record already). */
    if (nmr_rundown_me.slot1 == 0 && !nmr_rundown_me.watched)
        assign_slot();
    const void *outer = nmr_rundown_me.hazard; /* (a drain inside a release) */
    __atomic_store_n(&nmr_rundown_me.hazard, ref, __ATOMIC_SEQ_CST);
    NTSTATUS s = STATUS_PENDING;
    uint32_t open = NMR_RD_OPEN;
    if (!__atomic_compare_exchange_n(&ref->state, &open, NMR_RD_STARTED, 0,
                                     __ATOMIC_SEQ_CST, __ATOMIC_RELAXED)) {
        s = STATUS_INVALID_DEVICE_STATE;
        goto out;
    }
    ref->drain_fn = fn; /* published by the DRAINING store below */
    ref->drain_context = context;
    heavy_barrier(); /* every acquire that saw OPEN is visible now */
    __atomic_store_n(&ref->state, NMR_RD_DRAINING, __ATOMIC_SEQ_CST);
    heavy_barrier(); /* every release that missed DRAINING is visible now */
    if (sum(ref) == 0 && try_fire(ref, TRUE))
        s = STATUS_SUCCESS; /* fn ran here, and may have freed ref */
out:
    __atomic_store_n(&nmr_rundown_me.hazard, outer, __ATOMIC_RELEASE);
    return s;
}

/* A blocking wait is a drain whose callback wakes the waiter's stack. */
typedef struct waiter {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int done;
} waiter;

static void wake_waiter(void *context, BOOLEAN inline_call)
{
    waiter *w = context;
    if (inline_call)
        return; /* the waiter is us, and will not sleep */
    nmr_check_wake(w);
    pthread_mutex_lock(&w->lock);
    w->done = 1;
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock); /* the last touch of the waiter */
}

VOID ExWaitForRundownProtectionReleaseCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    NMR_VERIFY_IRQL("ExWaitForRundownProtectionReleaseCacheAware", NMR_APC_LEVEL);
    if (ref == NULL) {
        nmr_report_misuse(NMR_MISUSE_RUNDOWN,
                          "ExWaitForRundownProtectionReleaseCacheAware: NULL object");
        return;
    }
    nmr_check_point("ExWaitForRundownProtectionReleaseCacheAware", ref);
    waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    NTSTATUS s = nmr_rundown_drain_nopoint(ref, wake_waiter, &w);
    if (s == STATUS_PENDING) {
        nmr_check_block_begin("ExWaitForRundownProtectionReleaseCacheAware", &w, 0);
        pthread_mutex_lock(&w.lock);
        while (!w.done)
            pthread_cond_wait(&w.cond, &w.lock);
        pthread_mutex_unlock(&w.lock);
        nmr_check_block_end();
    } else if (s != STATUS_SUCCESS) {
        nmr_report_misuse(NMR_MISUSE_RUNDOWN,
                          "ExWaitForRundownProtectionReleaseCacheAware: rundown of "
                          "%p was already started", (void *)ref);
    }
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
}

VOID ExRundownCompletedCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    __atomic_store_n(&ref->state, NMR_RD_DONE, __ATOMIC_RELEASE);
}

VOID ExReInitializeRundownProtectionCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    ref->drain_fn = NULL;
    ref->drain_context = NULL;
    __atomic_store_n(&ref->fired, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&ref->state, NMR_RD_OPEN, __ATOMIC_RELEASE);
}
