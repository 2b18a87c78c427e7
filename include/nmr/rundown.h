/* SPDX-License-Identifier: MIT */
/*
 * nmr/rundown.h - rundown protection: count the calls in flight into a
 * peer, refuse new ones once the peer is going away, and learn when the
 * last one has returned.  (libnmr extension; the EX* names are Windows'.)
 *
 * 1. EX_RUNDOWN_REF, the Windows object: one counter word, the Windows
 *    names and semantics (acquire fails once rundown started;
 *    ExWaitForRundownProtectionRelease blocks until every reference is
 *    released), for code ported from Windows.
 *
 * 2. The cache-aware rundown (PEX_RUNDOWN_REF_CACHE_AWARE), Windows names:
 *    one counter per thread slot, each on its own cache line and written
 *    only by the thread that owns the slot, so acquire and release are a
 *    few plain loads and stores: no atomic read-modify-write, no fence, no
 *    cache line shared between threads.  The side that runs the object
 *    down pays instead: it makes every thread of the process execute a
 *    memory barrier (Linux membarrier(2), the technique of liburcu's
 *    "memb" flavour) before it trusts the counters; without membarrier,
 *    readers fence themselves.  Acquire and release may be on different
 *    threads: counters are summed, a slot may go negative.  Threads beyond
 *    the slot count share one atomic overflow counter.
 *
 * 3. Asynchronous drain (beyond Windows): nmr_rundown_drain() starts the
 *    rundown and never blocks; a callback runs exactly once, when the last
 *    reference is released (on the releasing thread, no lock held), or at
 *    once on the calling thread if nothing was held.  A detach callback can
 *    return STATUS_PENDING and let that callback call Nmr*DetachComplete
 *    (nmr/guard.h packages exactly this).
 *
 * Safe to free: a releasing thread announces the object it is touching in
 * its own hazard slot for the few instructions of the release.  Before a
 * drain callback runs, and before a wait returns, libnmr waits for every
 * other thread's announcement of that object to be withdrawn (a few
 * instructions), so the callback may free the object and a waiter may
 * free it as soon as the wait returns.
 *
 * Context: acquire and release never block, take no lock and are callable
 * anywhere (callbacks, signal handlers excepted).  The waits block.  Drain
 * never blocks on other modules (it may yield for a few instructions of
 * another thread's release).
 */
#ifndef NMR_RUNDOWN_H
#define NMR_RUNDOWN_H

#include <netioddk.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* BOOLEAN, TRUE, FALSE, POOL_TYPE and SIZE_T come from <nmr/nt.h>. */

#if defined(__GNUC__)
#define NMR_LIKELY(x) __builtin_expect(!!(x), 1)
#define NMR_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define NMR_LIKELY(x) (x)
#define NMR_UNLIKELY(x) (x)
#endif

/* ======================================================================
 * 1. EX_RUNDOWN_REF: Count = 2 x references, + 1 once rundown started.
 * ====================================================================== */
typedef struct _EX_RUNDOWN_REF {
    uintptr_t Count; /* accessed only atomically */
} EX_RUNDOWN_REF, *PEX_RUNDOWN_REF;

#define NMR_RUNDOWN_ACTIVE ((uintptr_t)1)
#define NMR_RUNDOWN_INC ((uintptr_t)2)

/* Slow path: wake a waiter of ref.  Uses ref's address only, never the
 * memory behind it (the waiter may have returned and freed it). */
NMR_API void nmr_rundown_ref_wake(PEX_RUNDOWN_REF ref);

static inline VOID ExInitializeRundownProtection(PEX_RUNDOWN_REF ref)
{
    __atomic_store_n(&ref->Count, 0, __ATOMIC_RELEASE);
}

/* After ExRundownCompleted: usable again. */
static inline VOID ExReInitializeRundownProtection(PEX_RUNDOWN_REF ref)
{
    __atomic_store_n(&ref->Count, 0, __ATOMIC_RELEASE);
}

/* Under a schedule explorer (nmrcheck, nmr/check.h), each acquire and
 * release is a switch point of the threads it watches: one load and a
 * branch otherwise. */
extern NMR_API int nmr_rundown_watching;
NMR_API void nmr_rundown_ref_point(PEX_RUNDOWN_REF ref, int release);

static inline BOOLEAN ExAcquireRundownProtectionEx(PEX_RUNDOWN_REF ref, ULONG count)
{
    if (NMR_UNLIKELY(__atomic_load_n(&nmr_rundown_watching, __ATOMIC_RELAXED)))
        nmr_rundown_ref_point(ref, 0);
    uintptr_t v = __atomic_load_n(&ref->Count, __ATOMIC_RELAXED);
    for (;;) {
        if (v & NMR_RUNDOWN_ACTIVE)
            return FALSE;
        if (__atomic_compare_exchange_n(&ref->Count, &v,
                                        v + NMR_RUNDOWN_INC * count, 1,
                                        __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return TRUE;
    }
}

static inline BOOLEAN ExAcquireRundownProtection(PEX_RUNDOWN_REF ref)
{
    return ExAcquireRundownProtectionEx(ref, 1);
}

static inline VOID ExReleaseRundownProtectionEx(PEX_RUNDOWN_REF ref, ULONG count)
{
    if (NMR_UNLIKELY(__atomic_load_n(&nmr_rundown_watching, __ATOMIC_RELAXED)))
        nmr_rundown_ref_point(ref, 1);
    /* acq_rel: the protected accesses happen before the waiter sees 0. */
    uintptr_t v = __atomic_sub_fetch(&ref->Count, NMR_RUNDOWN_INC * count,
                                     __ATOMIC_ACQ_REL);
    if (NMR_UNLIKELY(v == NMR_RUNDOWN_ACTIVE))
        nmr_rundown_ref_wake(ref); /* the last one out, and a waiter waits */
}

static inline VOID ExReleaseRundownProtection(PEX_RUNDOWN_REF ref)
{
    ExReleaseRundownProtectionEx(ref, 1);
}

/* Start rundown (acquires fail from now on) and block until every
 * reference is released.  Blocks; never call it holding a reference. */
NMR_API VOID ExWaitForRundownProtectionRelease(PEX_RUNDOWN_REF ref);

/* After the wait: mark the rundown finished. */
static inline VOID ExRundownCompleted(PEX_RUNDOWN_REF ref)
{
    __atomic_store_n(&ref->Count, NMR_RUNDOWN_ACTIVE, __ATOMIC_RELEASE);
}

/* ======================================================================
 * 2. The cache-aware rundown
 * ====================================================================== */

/* inline_call: TRUE when it runs inside nmr_rundown_drain() because
 * nothing was held; FALSE when the last release runs it. */
typedef void nmr_rundown_drain_fn(void *context, BOOLEAN inline_call);

#define NMR_RUNDOWN_LINE 64

typedef struct nmr_rundown_slot {
    uintptr_t count; /* acquired minus released on this slot (may wrap) */
    char pad[NMR_RUNDOWN_LINE - sizeof(uintptr_t)];
} nmr_rundown_slot;

/* Per-thread state, in the thread's own TLS (no pointer to chase on the
 * fast path): its slot number + 1 (0 until assigned), and the object it is
 * releasing right now (its hazard; other threads read it through the
 * thread registry in src/rundown/rundown.c).  A thread a schedule explorer
 * watches (nmr_check_watch_thread) keeps its slot in watched_slot1 and
 * slot1 at 0, so that its acquires and releases take the slow path, where
 * they are switch points. */
typedef struct nmr_rundown_tls {
    uint32_t slot1;
    uint32_t watched;
    const void *hazard;
    uint32_t watched_slot1;
} nmr_rundown_tls;

/* Layout visible for the inline fast paths only; use the functions. */
typedef struct _EX_RUNDOWN_REF_CACHE_AWARE {
    uint32_t state;  /* NMR_RD_*; read by every acquire and release */
    uint32_t nslots; /* immutable */
    uint32_t fired;  /* 1 once the drain or the wait completed */
    uint32_t flags;  /* NMR_RD_ALLOCATED */
    nmr_rundown_drain_fn *drain_fn;
    void *drain_context;
    char pad0[NMR_RUNDOWN_LINE - 4 * sizeof(uint32_t) - 2 * sizeof(void *)];
    nmr_rundown_slot overflow; /* threads beyond nslots: atomic add */
    nmr_rundown_slot slots[1]; /* nslots of them */
} EX_RUNDOWN_REF_CACHE_AWARE, *PEX_RUNDOWN_REF_CACHE_AWARE;

#define NMR_RD_OPEN 0u
#define NMR_RD_STARTED 1u  /* acquires fail; counters not trusted yet */
#define NMR_RD_DRAINING 2u /* all threads fenced: releases check the sum */
#define NMR_RD_DONE 3u     /* drained, or completed */
#define NMR_RD_ALLOCATED 1u

/* This thread's slot and hazard, and whether the drainer's process-wide
 * barrier replaces the readers' fence. */
extern NMR_API __thread nmr_rundown_tls nmr_rundown_me;
extern NMR_API int nmr_rundown_asymmetric;

NMR_API BOOLEAN nmr_rundown_ca_acquire_slow(PEX_RUNDOWN_REF_CACHE_AWARE ref,
                                            ULONG count);
NMR_API VOID nmr_rundown_ca_release_slow(PEX_RUNDOWN_REF_CACHE_AWARE ref,
                                         ULONG count);
/* A release (or failed acquire) saw DRAINING: maybe it was the last. */
NMR_API VOID nmr_rundown_ca_check(PEX_RUNDOWN_REF_CACHE_AWARE ref);

/* A full fence.  ThreadSanitizer does not model fences (GCC warns), so
 * under it a sequentially consistent read-modify-write stands in: on the
 * hardware it is a full barrier too. */
#if defined(__SANITIZE_THREAD__)
#define NMR_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NMR_TSAN 1
#endif
#endif
static inline void nmr_rundown_full_fence(void)
{
#ifdef NMR_TSAN
    static int dummy;
    __atomic_fetch_add(&dummy, 0, __ATOMIC_SEQ_CST);
#else
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
}

static inline void nmr_rundown_reader_fence(void)
{
    if (NMR_LIKELY(__atomic_load_n(&nmr_rundown_asymmetric, __ATOMIC_RELAXED)))
        __atomic_signal_fence(__ATOMIC_SEQ_CST); /* the drainer fences for us */
    else
        nmr_rundown_full_fence();
}

/* Acquire touches ref only while the caller knows it exists (the drain may
 * be running, but its callback, which may free ref, has not run, or the
 * caller would be using freed memory anyway); so no hazard is published on
 * success.  A failed acquire gives its increment back under the hazard:
 * the drainer may have counted it, and the give-back may be the last. */
static inline BOOLEAN ExAcquireRundownProtectionCacheAwareEx(
    PEX_RUNDOWN_REF_CACHE_AWARE ref, ULONG count)
{
    uint32_t i = nmr_rundown_me.slot1 - 1;
    if (NMR_UNLIKELY(i >= ref->nslots))
        return nmr_rundown_ca_acquire_slow(ref, count);
    uintptr_t *c = &ref->slots[i].count;
    /* Only this thread writes its slot: a plain add.  The drainer's
     * process-wide barrier publishes it (see src/rundown/rundown.c). */
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) + count,
                     __ATOMIC_RELAXED);
    nmr_rundown_reader_fence();
    if (NMR_LIKELY(__atomic_load_n(&ref->state, __ATOMIC_ACQUIRE) == NMR_RD_OPEN))
        return TRUE;
    __atomic_store_n(&nmr_rundown_me.hazard, ref, __ATOMIC_RELAXED);
    nmr_rundown_reader_fence();
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) - count,
                     __ATOMIC_RELEASE);
    nmr_rundown_reader_fence();
    if (__atomic_load_n(&ref->state, __ATOMIC_ACQUIRE) == NMR_RD_DRAINING)
        nmr_rundown_ca_check(ref);
    __atomic_store_n(&nmr_rundown_me.hazard, NULL, __ATOMIC_RELEASE);
    return FALSE;
}

static inline BOOLEAN ExAcquireRundownProtectionCacheAware(
    PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    return ExAcquireRundownProtectionCacheAwareEx(ref, 1);
}

/* A release publishes ref as its hazard first: once its decrement is
 * visible the drain may complete, and the callback may free ref, which
 * the release still reads; the firing thread waits for the hazard to go. */
static inline VOID ExReleaseRundownProtectionCacheAwareEx(
    PEX_RUNDOWN_REF_CACHE_AWARE ref, ULONG count)
{
    uint32_t i = nmr_rundown_me.slot1 - 1;
    if (NMR_UNLIKELY(i >= ref->nslots)) {
        nmr_rundown_ca_release_slow(ref, count);
        return;
    }
    uintptr_t *c = &ref->slots[i].count;
    __atomic_store_n(&nmr_rundown_me.hazard, ref, __ATOMIC_RELAXED);
    /* release: what was done under the reference (and the hazard) happens
     * before the drainer's (acquire) read of this counter. */
    __atomic_store_n(c, __atomic_load_n(c, __ATOMIC_RELAXED) - count,
                     __ATOMIC_RELEASE);
    nmr_rundown_reader_fence();
    if (NMR_UNLIKELY(__atomic_load_n(&ref->state, __ATOMIC_ACQUIRE) ==
                     NMR_RD_DRAINING))
        nmr_rundown_ca_check(ref);
    __atomic_store_n(&nmr_rundown_me.hazard, NULL, __ATOMIC_RELEASE);
}

static inline VOID ExReleaseRundownProtectionCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref)
{
    ExReleaseRundownProtectionCacheAwareEx(ref, 1);
}

/* Bytes for one object (for caller-provided memory, aligned to 64). */
NMR_API SIZE_T ExSizeOfRundownProtectionCacheAware(void);
NMR_API VOID ExInitializeRundownProtectionCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref,
                                                     SIZE_T size);
/* NULL when out of memory.  PoolType and PoolTag are accepted and ignored. */
NMR_API PEX_RUNDOWN_REF_CACHE_AWARE ExAllocateCacheAwareRundownProtection(
    POOL_TYPE PoolType, ULONG PoolTag);
NMR_API VOID ExFreeCacheAwareRundownProtection(PEX_RUNDOWN_REF_CACHE_AWARE ref);
/* Start rundown and block until every reference is released.  When it
 * returns, no thread touches ref any more: it may be freed at once. */
NMR_API VOID ExWaitForRundownProtectionReleaseCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref);
NMR_API VOID ExRundownCompletedCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref);
/* After completion: usable again. */
NMR_API VOID ExReInitializeRundownProtectionCacheAware(PEX_RUNDOWN_REF_CACHE_AWARE ref);

/* ======================================================================
 * 3. Asynchronous drain
 * ====================================================================== */

/* Start rundown: acquires fail from now on.  fn(context, inline_call) runs
 * exactly once: at once, here, if nothing was held (inline_call TRUE), else
 * on the thread whose release was the last (inline_call FALSE), no lock
 * held.  When fn runs, no other thread touches ref: fn may free it.
 * Returns STATUS_SUCCESS if fn ran here, STATUS_PENDING if it will run (or
 * is running) on a releasing thread, STATUS_INVALID_DEVICE_STATE (fn not
 * called) if a rundown of ref was already started, STATUS_INVALID_PARAMETER
 * for NULL ref or fn.  Never blocks. */
NMR_API NTSTATUS nmr_rundown_drain(PEX_RUNDOWN_REF_CACHE_AWARE ref,
                                   nmr_rundown_drain_fn *fn, void *context);

/* References held right now (a racy snapshot, for diagnostics and tests). */
NMR_API long nmr_rundown_references(PEX_RUNDOWN_REF_CACHE_AWARE ref);

#ifdef __cplusplus
}
#endif

#endif /* NMR_RUNDOWN_H */
