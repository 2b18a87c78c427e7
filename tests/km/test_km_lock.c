/* SPDX-License-Identifier: MIT */
/*
 * test_km_lock.c - the verifier's IRQL and lock rules, single-threaded:
 * each rule broken once by a piece of driver code (exactly one report
 * naming the function, the IRQL and the limit) and kept once (no report).
 * KeRaiseIrql/KeLowerIrql, spin locks (plain, at DPC level, in-stack
 * queued), fast mutexes, push locks and critical regions.
 */
#include "km_test.h"

/* ---- IRQL ------------------------------------------------------------------- */
static void t_irql_raise_lower_ok(void)
{
    KIRQL old, old2;
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KeRaiseIrql(APC_LEVEL, &old);
    CHECK_EQ(old, PASSIVE_LEVEL);
    KeRaiseIrql(DISPATCH_LEVEL, &old2);
    CHECK_EQ(old2, APC_LEVEL);
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KeLowerIrql(old2);
    CHECK_EQ(KeGetCurrentIrql(), APC_LEVEL);
    KeLowerIrql(old);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    old = KeRaiseIrqlToDpcLevel();
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KeLowerIrql(old);
    KT_NO_REPORT();
}

static void t_irql_raise_below_current(void)
{
    KIRQL old, bad;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeRaiseIrql(APC_LEVEL, &bad);
    KT_REPORTS(1, "KeRaiseIrql to APC_LEVEL", "below the current IRQL DISPATCH_LEVEL",
               "test_km_lock");
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KeLowerIrql(bad); /* a no-op: bad is the current IRQL */
    KeLowerIrql(old);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_irql_lower_above_current(void)
{
    KIRQL old;
    KeRaiseIrql(APC_LEVEL, &old);
    KeLowerIrql(DISPATCH_LEVEL);
    KT_REPORTS(1, "KeLowerIrql to DISPATCH_LEVEL", "above the current IRQL APC_LEVEL", NULL);
    KeLowerIrql(old);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_irql_lower_below_raise(void)
{
    KIRQL a, b;
    KeRaiseIrql(APC_LEVEL, &a);
    KeRaiseIrql(DISPATCH_LEVEL, &b);
    KeLowerIrql(PASSIVE_LEVEL); /* should be b (APC_LEVEL) */
    KT_REPORTS(1, "KeLowerIrql lowers the IRQL to PASSIVE_LEVEL", "below APC_LEVEL", NULL);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL); /* as on Windows */
    KeLowerIrql(a);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_irql_raise_to_dpc_above(void)
{
    KIRQL old;
    KeRaiseIrql(HIGH_LEVEL, &old);
    KIRQL o2 = KeRaiseIrqlToDpcLevel();
    KT_REPORTS(1, "KeRaiseIrqlToDpcLevel called at HIGH_LEVEL", "above its limit DISPATCH_LEVEL",
               "KeRaiseIrql");
    KeLowerIrql(o2);
    KeLowerIrql(old);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
}

/* ---- spin locks ------------------------------------------------------------------ */
static KSPIN_LOCK g_a, g_b;

static void t_spin_ok(void)
{
    KIRQL old;
    KeInitializeSpinLock(&g_a);
    KeAcquireSpinLock(&g_a, &old);
    CHECK_EQ(old, PASSIVE_LEVEL);
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    CHECK(g_a != 0); /* the word names its owner */
    KeAcquireSpinLockAtDpcLevel(&g_b);
    KeReleaseSpinLockFromDpcLevel(&g_b);
    CHECK(KeTryToAcquireSpinLockAtDpcLevel(&g_b));
    KeReleaseSpinLockFromDpcLevel(&g_b);
    KeReleaseSpinLock(&g_a, old);
    CHECK_EQ(g_a, 0);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    old = KeAcquireSpinLockRaiseToDpc(&g_a);
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KeReleaseSpinLock(&g_a, old);
    KT_NO_REPORT();
}

static void t_spin_acquire_above_dispatch(void)
{
    KIRQL old, o2;
    KeRaiseIrql(HIGH_LEVEL, &old);
    KeAcquireSpinLock(&g_a, &o2);
    KT_REPORTS(1, "KeAcquireSpinLock called at HIGH_LEVEL", "above its limit DISPATCH_LEVEL",
               "raised to HIGH_LEVEL by KeRaiseIrql");
}

static void t_spin_at_dpc_below_dispatch(void)
{
    KeAcquireSpinLockAtDpcLevel(&g_a);
    KT_REPORTS(1, "KeAcquireSpinLockAtDpcLevel called at PASSIVE_LEVEL",
               "below the DISPATCH_LEVEL it requires", "test_km_lock");
}

static void t_spin_at_dpc_ok(void)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeAcquireSpinLockAtDpcLevel(&g_a);
    KeReleaseSpinLockFromDpcLevel(&g_a);
    KeLowerIrql(old);
    KT_NO_REPORT();
}

static void t_spin_release_free(void)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeReleaseSpinLock(&g_a, old);
    KT_REPORTS(1, "KeReleaseSpinLock of spin lock", "which this thread does not hold",
               "it is free");
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL); /* left alone */
    KeLowerIrql(old);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void *t_holder(void *arg)
{
    KIRQL old;
    KeAcquireSpinLock((PKSPIN_LOCK)arg, &old);
    return NULL; /* leaves it held: the main thread tries to release it */
}

static void t_spin_release_not_owner(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, t_holder, &g_a) == 0);
    pthread_join(t, NULL);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeReleaseSpinLock(&g_a, old);
    KT_REPORTS(1, "KeReleaseSpinLock", "does not hold", "another thread holds it");
    CHECK(g_a != 0); /* still the other thread's */
    KeLowerIrql(old);
}

static void t_spin_twice_same_thread(void)
{
    KIRQL o1, o2;
    KeAcquireSpinLock(&g_a, &o1);
    KeAcquireSpinLock(&g_a, &o2); /* on Windows: a deadlock */
    KT_REPORTS(1, "KeAcquireSpinLock of spin lock", "which this thread already holds",
               "deadlocks");
    KeReleaseSpinLock(&g_a, o2);
    CHECK(g_a != 0);
    KeReleaseSpinLock(&g_a, o1);
    CHECK_EQ(g_a, 0);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_spin_release_below_acquire(void)
{
    KIRQL a, b;
    KeRaiseIrql(APC_LEVEL, &a);
    KeAcquireSpinLock(&g_a, &b);
    KeReleaseSpinLock(&g_a, PASSIVE_LEVEL); /* should be b = APC_LEVEL */
    KT_REPORTS(1, "KeReleaseSpinLock lowers the IRQL to PASSIVE_LEVEL", "below APC_LEVEL",
               "KeAcquireSpinLock");
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL); /* as on Windows */
    KeLowerIrql(a);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_REPORTS(1, NULL, NULL, NULL);
}

/* Out of order, right: each release passes the IRQL the other returned. */
static void t_spin_out_of_order_ok(void)
{
    KIRQL oa, ob;
    KeAcquireSpinLock(&g_a, &oa);
    KeAcquireSpinLock(&g_b, &ob);
    KeReleaseSpinLock(&g_a, ob);
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KeReleaseSpinLock(&g_b, oa);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_NO_REPORT();
}

/* Out of order, wrong: A's release goes to PASSIVE while B is held. */
static void t_spin_out_of_order_wrong(void)
{
    KIRQL oa, ob;
    KeAcquireSpinLock(&g_a, &oa);
    KeAcquireSpinLock(&g_b, &ob);
    KeReleaseSpinLock(&g_a, oa);
    KT_REPORTS(1, "KeReleaseSpinLock lowers the IRQL to PASSIVE_LEVEL", "taken later",
               "still needs DISPATCH_LEVEL");
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL); /* as on Windows, B still held */
    KeReleaseSpinLock(&g_b, oa);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_lower_while_lock_held(void)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeAcquireSpinLockAtDpcLevel(&g_a);
    KeLowerIrql(old);
    KT_REPORTS(1, "KeLowerIrql lowers the IRQL to PASSIVE_LEVEL", "taken later", NULL);
    KeReleaseSpinLockFromDpcLevel(&g_a);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_lower_without_raise(void)
{
    KIRQL old;
    KeAcquireSpinLock(&g_a, &old);
    KeLowerIrql(old);
    KT_REPORTS(1, "KeLowerIrql to PASSIVE_LEVEL", "no KeRaiseIrql raised the IRQL", NULL);
    KeReleaseSpinLock(&g_a, old);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_queued_ok(void)
{
    KLOCK_QUEUE_HANDLE h, h2;
    KeAcquireInStackQueuedSpinLock(&g_a, &h);
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    CHECK_EQ(h.OldIrql, PASSIVE_LEVEL);
    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_b, &h2);
    KeReleaseInStackQueuedSpinLockFromDpcLevel(&h2);
    KeReleaseInStackQueuedSpinLock(&h);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KeAcquireInStackQueuedSpinLockForDpc(&g_a, &h);
    CHECK_EQ(KeGetCurrentIrql(), DISPATCH_LEVEL);
    KeReleaseInStackQueuedSpinLockForDpc(&h);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    CHECK_EQ(g_a, 0);
    CHECK_EQ(g_b, 0);
    KT_NO_REPORT();
}

static void t_queued_at_dpc_below(void)
{
    KLOCK_QUEUE_HANDLE h;
    KeAcquireInStackQueuedSpinLockAtDpcLevel(&g_a, &h);
    KT_REPORTS(1, "KeAcquireInStackQueuedSpinLockAtDpcLevel called at PASSIVE_LEVEL",
               "below the DISPATCH_LEVEL it requires", NULL);
}

static void t_queued_bad_handle(void)
{
    KLOCK_QUEUE_HANDLE h;
    memset(&h, 0, sizeof h);
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeReleaseInStackQueuedSpinLock(&h);
    KT_REPORTS(1, "KeReleaseInStackQueuedSpinLock with a lock handle", "no acquisition", NULL);
    KeLowerIrql(old);
}

/* ---- fast mutexes, push locks, critical regions ------------------------------------ */
static FAST_MUTEX g_fm;

static void t_fast_mutex_ok(void)
{
    ExInitializeFastMutex(&g_fm);
    ExAcquireFastMutex(&g_fm);
    CHECK_EQ(KeGetCurrentIrql(), APC_LEVEL);
    CHECK(!ExTryToAcquireFastMutex(&g_fm) || 0); /* held (by us): not taken again */
    ExReleaseFastMutex(&g_fm);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    CHECK(ExTryToAcquireFastMutex(&g_fm));
    CHECK_EQ(KeGetCurrentIrql(), APC_LEVEL);
    ExReleaseFastMutex(&g_fm);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KT_NO_REPORT();
}

static void t_fast_mutex_at_dispatch(void)
{
    KIRQL old;
    ExInitializeFastMutex(&g_fm);
    KeAcquireSpinLock(&g_a, &old);
    ExAcquireFastMutex(&g_fm);
    KT_REPORTS(1, "ExAcquireFastMutex called at DISPATCH_LEVEL", "above its limit APC_LEVEL",
               "KeAcquireSpinLock");
}

static void t_fast_mutex_twice(void)
{
    ExInitializeFastMutex(&g_fm);
    ExAcquireFastMutex(&g_fm);
    ExAcquireFastMutex(&g_fm);
    KT_REPORTS(1, "ExAcquireFastMutex of fast mutex", "already holds", "deadlocks");
    ExReleaseFastMutex(&g_fm);
    CHECK_EQ(KeGetCurrentIrql(), APC_LEVEL);
    ExReleaseFastMutex(&g_fm);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    CHECK_EQ(g_fm.Count, 0);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_fast_mutex_release_not_held(void)
{
    ExInitializeFastMutex(&g_fm);
    KIRQL old;
    KeRaiseIrql(APC_LEVEL, &old);
    ExReleaseFastMutex(&g_fm);
    KT_REPORTS(1, "ExReleaseFastMutex of fast mutex", "does not hold", NULL);
    KeLowerIrql(old);
}

static EX_PUSH_LOCK g_pl;

static void t_push_lock_ok(void)
{
    ExInitializePushLock(&g_pl);
    KeEnterCriticalRegion();
    ExAcquirePushLockShared(&g_pl);
    ExAcquirePushLockSharedEx(&g_pl, 0);
    ExReleasePushLockSharedEx(&g_pl, 0);
    ExReleasePushLockShared(&g_pl);
    ExAcquirePushLockExclusive(&g_pl);
    ExReleasePushLockExclusive(&g_pl);
    ExAcquirePushLockExclusiveEx(&g_pl, EX_DEFAULT_PUSH_LOCK_FLAGS);
    ExReleasePushLockExclusiveEx(&g_pl, EX_DEFAULT_PUSH_LOCK_FLAGS);
    KeLeaveCriticalRegion();
    CHECK_EQ(g_pl, 0);
    KT_NO_REPORT();
}

static void t_push_lock_no_critical_region(void)
{
    ExInitializePushLock(&g_pl);
    ExAcquirePushLockExclusive(&g_pl);
    KT_REPORTS(1, "ExAcquirePushLockExclusive outside a critical region",
               "KeEnterCriticalRegion", NULL);
    ExReleasePushLockExclusive(&g_pl);
    KT_REPORTS(1, NULL, NULL, NULL);
}

static void t_push_lock_at_dispatch(void)
{
    KIRQL old;
    KeEnterCriticalRegion();
    KeAcquireSpinLock(&g_a, &old);
    ExAcquirePushLockShared(&g_pl);
    KT_REPORTS(1, "ExAcquirePushLockShared called at DISPATCH_LEVEL", "above its limit APC_LEVEL",
               NULL);
}

static void t_push_lock_release_not_held(void)
{
    KeEnterCriticalRegion();
    ExReleasePushLockShared(&g_pl);
    KT_REPORTS(1, "ExReleasePushLockShared of push lock", "not held", NULL);
    KeLeaveCriticalRegion();
}

static void t_leave_critical_unbalanced(void)
{
    KeLeaveCriticalRegion();
    KT_REPORTS(1, "KeLeaveCriticalRegion without a matching KeEnterCriticalRegion", NULL, NULL);
}

static const nmr_test_case cases[] = {
    CASE(t_irql_raise_lower_ok, ""),
    CASE(t_irql_raise_below_current, ""),
    CASE(t_irql_lower_above_current, ""),
    CASE(t_irql_lower_below_raise, ""),
    CASE(t_irql_raise_to_dpc_above, ""),
    CASE(t_spin_ok, ""),
    CASE(t_spin_acquire_above_dispatch, ""),
    CASE(t_spin_at_dpc_below_dispatch, ""),
    CASE(t_spin_at_dpc_ok, ""),
    CASE(t_spin_release_free, ""),
    CASE(t_spin_release_not_owner, ""),
    CASE(t_spin_twice_same_thread, ""),
    CASE(t_spin_release_below_acquire, ""),
    CASE(t_spin_out_of_order_ok, ""),
    CASE(t_spin_out_of_order_wrong, ""),
    CASE(t_lower_while_lock_held, ""),
    CASE(t_lower_without_raise, ""),
    CASE(t_queued_ok, ""),
    CASE(t_queued_at_dpc_below, ""),
    CASE(t_queued_bad_handle, ""),
    CASE(t_fast_mutex_ok, ""),
    CASE(t_fast_mutex_at_dispatch, ""),
    CASE(t_fast_mutex_twice, ""),
    CASE(t_fast_mutex_release_not_held, ""),
    CASE(t_push_lock_ok, ""),
    CASE(t_push_lock_no_critical_region, ""),
    CASE(t_push_lock_at_dispatch, ""),
    CASE(t_push_lock_release_not_held, ""),
    CASE(t_leave_critical_unbalanced, ""),
};
NMR_TEST_SUITE(test_km_lock, cases, kt_setup, NULL, NULL);
