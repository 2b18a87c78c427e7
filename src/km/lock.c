/* SPDX-License-Identifier: MIT */
/*
 * lock.c - IRQL, spin locks (plain and in-stack queued), critical
 * regions, push locks and fast mutexes, with their verifier checks.
 *
 * A spin lock word is 0 when free, else its owner's token (km_token) plus
 * the number of times the owner took it again (reported: on Windows that
 * deadlocks; here the process goes on).  Contended locks spin a little,
 * then yield: user-mode threads are preempted, unlike a processor at
 * DISPATCH_LEVEL.  Push locks and fast mutexes block in nmr_km__block.
 * All lock words are touched with acquire/release atomics.
 */
#define _GNU_SOURCE
#include "km/internal.h"

#include <sched.h>

/* ---- IRQL ------------------------------------------------------------------ */
KIRQL KeGetCurrentIrql(void)
{
    return (KIRQL)km_irql();
}

KIRQL nmr_km_raise_irql(KIRQL NewIrql)
{
    const void *site = KM_SITE();
    unsigned cur = km_irql();
    if (NewIrql < cur) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "KeRaiseIrql to %s, below the current IRQL %s",
                               nmr__irql_name(NewIrql), nmr__irql_name(cur));
        return (KIRQL)cur; /* nothing changes: KeLowerIrql(old) is a no-op */
    }
    km_push(NULL, "KeRaiseIrql", site, NewIrql);
    return (KIRQL)cur;
}

KIRQL KeRaiseIrqlToDpcLevel(void)
{
    const void *site = KM_SITE();
    km_check("KeRaiseIrqlToDpcLevel", DISPATCH_LEVEL, site);
    unsigned cur = km_irql();
    km_push(NULL, "KeRaiseIrqlToDpcLevel", site, cur > DISPATCH_LEVEL ? cur : DISPATCH_LEVEL);
    return (KIRQL)cur;
}

VOID KeLowerIrql(KIRQL NewIrql)
{
    const void *site = KM_SITE();
    unsigned cur = km_irql();
    if (NewIrql > cur) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "KeLowerIrql to %s, above the current IRQL %s",
                               nmr__irql_name(NewIrql), nmr__irql_name(cur));
        return;
    }
    if (km_undo(NULL, NewIrql, "KeLowerIrql", site) < 0 && NewIrql < cur) {
        char why[256];
        nmr__describe_raise(why, sizeof why);
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "KeLowerIrql to %s, but no KeRaiseIrql raised the IRQL "
                               "(it is %s%s%s): a lock must be released instead",
                               nmr__irql_name(NewIrql), nmr__irql_name(cur),
                               why[0] ? ", " : "", why);
    }
}

/* ---- spin locks ---------------------------------------------------------------- */
#define KM_SPINS 64

static inline void km_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

static int km_try_take(volatile uintptr_t *w, uintptr_t me)
{
    uintptr_t expected = 0;
    return __atomic_compare_exchange_n(w, &expected, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}

static void km_take(volatile uintptr_t *w, uintptr_t me)
{
    if (km_try_take(w, me))
        return;
    /* held by another thread, which a schedule explorer may have stopped:
     * let it run (a timed block: this thread spins on by itself) */
    nmr_check_block_begin("spin lock (held by another thread)", (const void *)w, 1);
    for (unsigned n = 0;; n++) {
        if (__atomic_load_n(w, __ATOMIC_RELAXED) == 0 && km_try_take(w, me)) {
            nmr_check_block_end();
            return;
        }
        if (n >= KM_SPINS)
            sched_yield();
        else
            km_relax();
    }
}

/* Acquire lock as `how`, raising to raise_to (the current IRQL when the
 * function does not raise).  Same-thread re-acquisition is reported and
 * counted in the word instead of deadlocking. */
static void km_spin_acquire(PKSPIN_LOCK lock, const char *how, const void *site,
                            unsigned raise_to)
{
    volatile uintptr_t *w = (volatile uintptr_t *)lock;
    uintptr_t me = km_token();
    uintptr_t cur = __atomic_load_n(w, __ATOMIC_RELAXED);
    unsigned irql = km_irql();
    unsigned to = raise_to > irql ? raise_to : irql;
    if ((cur & KM_TOKEN_MASK) == me) {
        const nmr_vraise *r = km_find(lock);
        char at[160];
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "%s of spin lock %p, which this thread already holds "
                               "(taken by %s at %s): on Windows the processor deadlocks",
                               how, (void *)lock, r != NULL ? r->how : "?",
                               r != NULL ? nmr__describe_code(r->site, at, sizeof at) : "?");
        if ((cur & ~KM_TOKEN_MASK) != ~KM_TOKEN_MASK)
            __atomic_store_n(w, cur + 1, __ATOMIC_RELAXED); /* ours: no race */
    } else {
        km_take(w, me);
    }
    km_push(lock, how, site, to);
    nmr__vthread()->locks++;
}

/* Release as `how`, going to IRQL n.  A lock this thread does not hold is
 * reported and left alone. */
static void km_spin_release(PKSPIN_LOCK lock, const char *how, const void *site, unsigned n)
{
    volatile uintptr_t *w = (volatile uintptr_t *)lock;
    uintptr_t me = km_token();
    uintptr_t cur = __atomic_load_n(w, __ATOMIC_RELAXED);
    if ((cur & KM_TOKEN_MASK) != me) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "%s of spin lock %p, which this thread does not hold (%s)", how,
                               (void *)lock, cur == 0 ? "it is free" : "another thread holds it");
        return;
    }
    if ((cur & ~KM_TOKEN_MASK) != 0)
        __atomic_store_n(w, cur - 1, __ATOMIC_RELAXED); /* an extra, reported acquisition */
    else
        __atomic_store_n(w, 0, __ATOMIC_RELEASE);
    nmr_vthread *v = nmr__vthread();
    if (v->locks > 0)
        v->locks--;
    if (km_undo(lock, n, how, site) < 0)
        v->irql = (unsigned char)n;
}

VOID KeInitializeSpinLock(PKSPIN_LOCK SpinLock)
{
    __atomic_store_n(SpinLock, 0, __ATOMIC_RELEASE);
}

KIRQL nmr_km_acquire_spin_lock(PKSPIN_LOCK SpinLock)
{
    const void *site = KM_SITE();
    km_check("KeAcquireSpinLock", DISPATCH_LEVEL, site);
    KIRQL old = (KIRQL)km_irql();
    km_spin_acquire(SpinLock, "KeAcquireSpinLock", site, DISPATCH_LEVEL);
    return old;
}

KIRQL KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock)
{
    const void *site = KM_SITE();
    km_check("KeAcquireSpinLockRaiseToDpc", DISPATCH_LEVEL, site);
    KIRQL old = (KIRQL)km_irql();
    km_spin_acquire(SpinLock, "KeAcquireSpinLockRaiseToDpc", site, DISPATCH_LEVEL);
    return old;
}

VOID KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql)
{
    const void *site = KM_SITE();
    km_check("KeReleaseSpinLock", DISPATCH_LEVEL, site);
    km_spin_release(SpinLock, "KeReleaseSpinLock", site, NewIrql);
}

VOID KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock)
{
    const void *site = KM_SITE();
    km_check_min("KeAcquireSpinLockAtDpcLevel", DISPATCH_LEVEL, site);
    km_spin_acquire(SpinLock, "KeAcquireSpinLockAtDpcLevel", site, 0);
}

VOID KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock)
{
    const void *site = KM_SITE();
    km_check("KeReleaseSpinLockFromDpcLevel", DISPATCH_LEVEL, site);
    km_spin_release(SpinLock, "KeReleaseSpinLockFromDpcLevel", site, km_irql());
}

BOOLEAN KeTryToAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock)
{
    const void *site = KM_SITE();
    km_check("KeTryToAcquireSpinLockAtDpcLevel", DISPATCH_LEVEL, site);
    km_check_min("KeTryToAcquireSpinLockAtDpcLevel", DISPATCH_LEVEL, site);
    if (!km_try_take((volatile uintptr_t *)SpinLock, km_token()))
        return FALSE;
    km_push(SpinLock, "KeTryToAcquireSpinLockAtDpcLevel", site, km_irql());
    nmr__vthread()->locks++;
    return TRUE;
}

/* ---- in-stack queued spin locks ------------------------------------------------ */
static PKSPIN_LOCK km_handle_lock(PKLOCK_QUEUE_HANDLE h, const char *how, const void *site)
{
    PKSPIN_LOCK lock = h != NULL ? h->LockQueue.Lock : NULL;
    if (lock == NULL && km_on())
        nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                           "%s with a lock handle %p that no acquisition filled in", how,
                           (void *)h);
    return lock;
}

/* The three pairs differ in the IRQL they require and the one they leave:
 * the plain and ForDpc forms raise to DISPATCH_LEVEL from at most there
 * and restore the handle's IRQL; the AtDpcLevel form requires
 * DISPATCH_LEVEL (at_dpc) and leaves the IRQL alone. */
static void km_queued_acquire(PKSPIN_LOCK lock, PKLOCK_QUEUE_HANDLE h, const char *fn,
                              const void *site, int at_dpc)
{
    if (at_dpc)
        km_check_min(fn, DISPATCH_LEVEL, site);
    else
        km_check(fn, DISPATCH_LEVEL, site);
    h->OldIrql = (KIRQL)km_irql();
    h->LockQueue.Next = NULL;
    km_spin_acquire(lock, fn, site, at_dpc ? 0 : DISPATCH_LEVEL);
    h->LockQueue.Lock = lock;
}

static void km_queued_release(PKLOCK_QUEUE_HANDLE h, const char *fn, const void *site,
                              int at_dpc)
{
    km_check(fn, DISPATCH_LEVEL, site);
    PKSPIN_LOCK lock = km_handle_lock(h, fn, site);
    if (lock == NULL)
        return;
    h->LockQueue.Lock = NULL;
    km_spin_release(lock, fn, site, at_dpc ? km_irql() : h->OldIrql);
}

VOID KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle)
{
    km_queued_acquire(SpinLock, LockHandle, "KeAcquireInStackQueuedSpinLock", KM_SITE(), 0);
}

VOID KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle)
{
    km_queued_release(LockHandle, "KeReleaseInStackQueuedSpinLock", KM_SITE(), 0);
}

VOID KeAcquireInStackQueuedSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock,
                                              PKLOCK_QUEUE_HANDLE LockHandle)
{
    km_queued_acquire(SpinLock, LockHandle, "KeAcquireInStackQueuedSpinLockAtDpcLevel",
                      KM_SITE(), 1);
}

VOID KeReleaseInStackQueuedSpinLockFromDpcLevel(PKLOCK_QUEUE_HANDLE LockHandle)
{
    km_queued_release(LockHandle, "KeReleaseInStackQueuedSpinLockFromDpcLevel", KM_SITE(), 1);
}

VOID KeAcquireInStackQueuedSpinLockForDpc(PKSPIN_LOCK SpinLock, PKLOCK_QUEUE_HANDLE LockHandle)
{
    km_queued_acquire(SpinLock, LockHandle, "KeAcquireInStackQueuedSpinLockForDpc", KM_SITE(),
                      0);
}

VOID KeReleaseInStackQueuedSpinLockForDpc(PKLOCK_QUEUE_HANDLE LockHandle)
{
    km_queued_release(LockHandle, "KeReleaseInStackQueuedSpinLockForDpc", KM_SITE(), 0);
}

/* ---- critical regions ------------------------------------------------------------ */
static _Thread_local unsigned km_critical;

VOID KeEnterCriticalRegion(void)
{
    km_check("KeEnterCriticalRegion", APC_LEVEL, KM_SITE());
    km_critical++;
}

VOID KeLeaveCriticalRegion(void)
{
    const void *site = KM_SITE();
    km_check("KeLeaveCriticalRegion", APC_LEVEL, site);
    if (km_critical == 0) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "KeLeaveCriticalRegion without a matching KeEnterCriticalRegion");
        return;
    }
    km_critical--;
}

/* ---- push locks -------------------------------------------------------------------
 * The 32-bit half of the word at its address (the low half on a
 * little-endian machine, the only half on a 32-bit one): bit 0 an
 * exclusive owner, bit 1 waiters, the rest the shared owners times 4.
 * The reference pages give no IRQL; they require a critical region
 * (KeEnterCriticalRegion, so at most APC_LEVEL) and say the caller may
 * wait: both are checked. */
#define PL_EXCL 1u
#define PL_WAIT 2u
#define PL_SHARED 4u

static volatile uint32_t *km_pl_word(PEX_PUSH_LOCK p)
{
    volatile uint32_t *w = (volatile uint32_t *)p;
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (sizeof(EX_PUSH_LOCK) == 8)
        w++;
#endif
    return w;
}

static void km_pl_check(const char *fn, const void *site)
{
    if (!km_on())
        return;
    if (nmr__verify_irql(fn, APC_LEVEL, site))
        return;
    if (km_critical == 0 && km_irql() < APC_LEVEL)
        nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                           "%s outside a critical region: the caller must call "
                           "KeEnterCriticalRegion first",
                           fn);
}

static void km_pl_acquire(PEX_PUSH_LOCK p, int exclusive)
{
    volatile uint32_t *w = km_pl_word(p);
    for (;;) {
        uint32_t s = __atomic_load_n(w, __ATOMIC_RELAXED);
        int free_ = exclusive ? (s & ~PL_WAIT) == 0 : (s & PL_EXCL) == 0;
        if (free_) {
            uint32_t want = exclusive ? (s | PL_EXCL) : (s + PL_SHARED);
            if (__atomic_compare_exchange_n(w, &s, want, 1, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return;
            continue;
        }
        if (!(s & PL_WAIT) &&
            !__atomic_compare_exchange_n(w, &s, s | PL_WAIT, 1, __ATOMIC_RELAXED,
                                         __ATOMIC_RELAXED))
            continue;
        nmr_km__block(w, s | PL_WAIT, NULL, 0);
    }
}

static void km_pl_release(PEX_PUSH_LOCK p, int exclusive, const char *fn, const void *site)
{
    volatile uint32_t *w = km_pl_word(p);
    uint32_t s = __atomic_load_n(w, __ATOMIC_RELAXED);
    if (exclusive ? !(s & PL_EXCL) : (s < PL_SHARED)) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site, "%s of push lock %p, not held %s", fn,
                               (void *)p, exclusive ? "exclusively" : "shared");
        return;
    }
    if (exclusive) {
        s = __atomic_exchange_n(w, 0, __ATOMIC_RELEASE);
        if (s & PL_WAIT)
            km_wake(w, 1 << 30);
        return;
    }
    s = __atomic_sub_fetch(w, PL_SHARED, __ATOMIC_RELEASE);
    if (s == PL_WAIT && __atomic_compare_exchange_n(w, &s, 0, 0, __ATOMIC_RELAXED,
                                                    __ATOMIC_RELAXED))
        km_wake(w, 1 << 30);
}

VOID ExInitializePushLock(PEX_PUSH_LOCK PushLock)
{
    __atomic_store_n(PushLock, 0, __ATOMIC_RELEASE);
}

VOID ExAcquirePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags)
{
    (void)Flags;
    km_pl_check("ExAcquirePushLockExclusiveEx", KM_SITE());
    km_pl_acquire(PushLock, 1);
}

VOID ExAcquirePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags)
{
    (void)Flags;
    km_pl_check("ExAcquirePushLockSharedEx", KM_SITE());
    km_pl_acquire(PushLock, 0);
}

VOID ExReleasePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags)
{
    (void)Flags;
    km_pl_release(PushLock, 1, "ExReleasePushLockExclusiveEx", KM_SITE());
}

VOID ExReleasePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags)
{
    (void)Flags;
    km_pl_release(PushLock, 0, "ExReleasePushLockSharedEx", KM_SITE());
}

VOID ExAcquirePushLockExclusive(PEX_PUSH_LOCK PushLock)
{
    km_pl_check("ExAcquirePushLockExclusive", KM_SITE());
    km_pl_acquire(PushLock, 1);
}

VOID ExAcquirePushLockShared(PEX_PUSH_LOCK PushLock)
{
    km_pl_check("ExAcquirePushLockShared", KM_SITE());
    km_pl_acquire(PushLock, 0);
}

VOID ExReleasePushLockExclusive(PEX_PUSH_LOCK PushLock)
{
    km_pl_release(PushLock, 1, "ExReleasePushLockExclusive", KM_SITE());
}

VOID ExReleasePushLockShared(PEX_PUSH_LOCK PushLock)
{
    km_pl_release(PushLock, 0, "ExReleasePushLockShared", KM_SITE());
}

/* ---- fast mutexes -------------------------------------------------------------------
 * Count: 0 free, 1 held, 2 held with waiters (blocking in nmr_km__block).
 * Owner: the owner's token plus reported re-acquisitions, as a spin lock. */
VOID ExInitializeFastMutex(PFAST_MUTEX FastMutex)
{
    km_check("ExInitializeFastMutex", DISPATCH_LEVEL, KM_SITE());
    FastMutex->Contention = 0;
    FastMutex->OldIrql = 0;
    __atomic_store_n(&FastMutex->Owner, NULL, __ATOMIC_RELAXED);
    __atomic_store_n(&FastMutex->Count, 0, __ATOMIC_RELEASE);
}

static int km_fm_reentry(PFAST_MUTEX m)
{
    uintptr_t owner = (uintptr_t)__atomic_load_n(&m->Owner, __ATOMIC_RELAXED);
    return (owner & KM_TOKEN_MASK) == km_token();
}

static void km_fm_taken(PFAST_MUTEX m, const char *how, const void *site, unsigned old)
{
    __atomic_store_n(&m->Owner, (PVOID)km_token(), __ATOMIC_RELAXED);
    m->OldIrql = old;
    km_push(m, how, site, old > APC_LEVEL ? old : APC_LEVEL);
    nmr__vthread()->locks++;
}

VOID ExAcquireFastMutex(PFAST_MUTEX FastMutex)
{
    const void *site = KM_SITE();
    km_check("ExAcquireFastMutex", APC_LEVEL, site);
    unsigned old = km_irql();
    if (km_fm_reentry(FastMutex)) {
        const nmr_vraise *r = km_find(FastMutex);
        char at[160];
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "ExAcquireFastMutex of fast mutex %p, which this thread already "
                               "holds (taken by %s at %s): on Windows the thread deadlocks",
                               (void *)FastMutex, r != NULL ? r->how : "?",
                               r != NULL ? nmr__describe_code(r->site, at, sizeof at) : "?");
        uintptr_t owner = (uintptr_t)FastMutex->Owner;
        if ((owner & ~KM_TOKEN_MASK) != ~KM_TOKEN_MASK)
            __atomic_store_n(&FastMutex->Owner, (PVOID)(owner + 1), __ATOMIC_RELAXED);
        km_push(FastMutex, "ExAcquireFastMutex", site, old > APC_LEVEL ? old : APC_LEVEL);
        nmr__vthread()->locks++;
        return;
    }
    volatile LONG *c = &FastMutex->Count;
    LONG expected = 0;
    if (!__atomic_compare_exchange_n(c, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        __atomic_add_fetch(&FastMutex->Contention, 1, __ATOMIC_RELAXED);
        while (__atomic_exchange_n(c, 2, __ATOMIC_ACQUIRE) != 0)
            nmr_km__block(c, 2, NULL, 0);
    }
    km_fm_taken(FastMutex, "ExAcquireFastMutex", site, old);
}

BOOLEAN ExTryToAcquireFastMutex(PFAST_MUTEX FastMutex)
{
    const void *site = KM_SITE();
    km_check("ExTryToAcquireFastMutex", APC_LEVEL, site);
    LONG expected = 0;
    if (!__atomic_compare_exchange_n(&FastMutex->Count, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return FALSE;
    km_fm_taken(FastMutex, "ExTryToAcquireFastMutex", site, km_irql());
    return TRUE;
}

VOID ExReleaseFastMutex(PFAST_MUTEX FastMutex)
{
    const void *site = KM_SITE();
    km_check("ExReleaseFastMutex", APC_LEVEL, site);
    uintptr_t owner = (uintptr_t)__atomic_load_n(&FastMutex->Owner, __ATOMIC_RELAXED);
    if ((owner & KM_TOKEN_MASK) != km_token()) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "ExReleaseFastMutex of fast mutex %p, which this thread does "
                               "not hold (%s)",
                               (void *)FastMutex, owner == 0 ? "it is free" : "another thread holds it");
        return;
    }
    unsigned old = FastMutex->OldIrql;
    nmr_vthread *v = nmr__vthread();
    if (v->locks > 0)
        v->locks--;
    if ((owner & ~KM_TOKEN_MASK) != 0) {
        __atomic_store_n(&FastMutex->Owner, (PVOID)(owner - 1), __ATOMIC_RELAXED);
        const nmr_vraise *r = km_find(FastMutex);
        old = r != NULL ? r->from : old;
        km_undo(FastMutex, old, "ExReleaseFastMutex", site);
        return;
    }
    __atomic_store_n(&FastMutex->Owner, NULL, __ATOMIC_RELAXED);
    if (__atomic_exchange_n(&FastMutex->Count, 0, __ATOMIC_RELEASE) == 2)
        km_wake(&FastMutex->Count, 1);
    if (km_undo(FastMutex, old, "ExReleaseFastMutex", site) < 0)
        v->irql = (unsigned char)old;
}
