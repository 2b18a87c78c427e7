/* SPDX-License-Identifier: MIT */
/*
 * test_km_mt_sync.c - the kernel-mode layer under threads: spin locks,
 * in-stack queued spin locks, fast mutexes and push locks exclude each
 * other (a plain counter comes out exact, and ThreadSanitizer sees no
 * race); a synchronization event releases one waiter per set, a
 * notification event all of them; work items and system threads run at
 * PASSIVE_LEVEL on other threads, are counted in the residue while alive
 * and are checked on return like a callback.
 */
#include "km_test.h"

#include <stdint.h>

#include <time.h>

#define NTHREADS 4
#define ROUNDS 20000

static KSPIN_LOCK g_spin;
static FAST_MUTEX g_fm;
static EX_PUSH_LOCK g_pl;
static long g_counter; /* guarded by the lock of the case */
static int g_mode;

static void *bump(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        KIRQL old;
        KLOCK_QUEUE_HANDLE h;
        switch (g_mode) {
        case 0:
            KeAcquireSpinLock(&g_spin, &old);
            g_counter++;
            KeReleaseSpinLock(&g_spin, old);
            break;
        case 1:
            KeAcquireInStackQueuedSpinLock(&g_spin, &h);
            g_counter++;
            KeReleaseInStackQueuedSpinLock(&h);
            break;
        case 2:
            ExAcquireFastMutex(&g_fm);
            g_counter++;
            ExReleaseFastMutex(&g_fm);
            break;
        case 3:
            KeEnterCriticalRegion();
            if (i % 4 == 0) {
                ExAcquirePushLockExclusive(&g_pl);
                g_counter++;
                ExReleasePushLockExclusive(&g_pl);
            } else {
                ExAcquirePushLockShared(&g_pl);
                long seen = g_counter; /* readers only read */
                (void)seen;
                ExReleasePushLockShared(&g_pl);
            }
            KeLeaveCriticalRegion();
            break;
        }
        CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    }
    return NULL;
}

static void run_bumpers(int mode, long want)
{
    pthread_t t[NTHREADS];
    g_mode = mode;
    g_counter = 0;
    ExInitializeFastMutex(&g_fm);
    for (int i = 0; i < NTHREADS; i++)
        CHECK(pthread_create(&t[i], NULL, bump, NULL) == 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(g_counter, want);
    CHECK_EQ(g_spin, 0);
    KT_NO_REPORT();
}

static void t_spin_exclusion(void) { run_bumpers(0, (long)NTHREADS * ROUNDS); }
static void t_queued_exclusion(void) { run_bumpers(1, (long)NTHREADS * ROUNDS); }
static void t_fast_mutex_exclusion(void) { run_bumpers(2, (long)NTHREADS * ROUNDS); }
static void t_push_lock_exclusion(void) { run_bumpers(3, (long)NTHREADS * (ROUNDS / 4)); }

/* ---- events --------------------------------------------------------------------- */
static KEVENT g_ev;
static int g_woken; /* atomic */

static void *waiter(void *arg)
{
    (void)arg;
    CHECK_STATUS(KeWaitForSingleObject(&g_ev, Executive, KernelMode, FALSE, NULL),
                 STATUS_SUCCESS);
    __atomic_add_fetch(&g_woken, 1, __ATOMIC_SEQ_CST);
    return NULL;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int woken(void)
{
    return __atomic_load_n(&g_woken, __ATOMIC_SEQ_CST);
}

static void t_sync_event_wakes_one(void)
{
    pthread_t t[3];
    KeInitializeEvent(&g_ev, SynchronizationEvent, FALSE);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, waiter, NULL) == 0);
    sleep_ms(100);
    CHECK_EQ(woken(), 0);
    for (int n = 1; n <= 3; n++) {
        CHECK_EQ(KeSetEvent(&g_ev, IO_NO_INCREMENT, FALSE), 0);
        for (int i = 0; i < 200 && woken() < n; i++)
            sleep_ms(5);
        sleep_ms(50); /* a second waiter, if it were released, would show now */
        CHECK_EQ(woken(), n);
        CHECK_EQ(KeReadStateEvent(&g_ev), 0); /* consumed */
    }
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    KT_NO_REPORT();
}

static void t_notification_event_wakes_all(void)
{
    pthread_t t[3];
    KeInitializeEvent(&g_ev, NotificationEvent, FALSE);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, waiter, NULL) == 0);
    sleep_ms(50);
    CHECK_EQ(woken(), 0);
    KeSetEvent(&g_ev, IO_NO_INCREMENT, FALSE);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(woken(), 3);
    CHECK_EQ(KeReadStateEvent(&g_ev), 1);
    KT_NO_REPORT();
}

/* ---- work items and system threads -------------------------------------------------- */
static KEVENT g_go, g_done;
static int g_item_irql = -1;
static DEVICE_OBJECT g_dev;

static IO_WORKITEM_ROUTINE item_routine;
static void item_routine(PDEVICE_OBJECT DeviceObject, PVOID Context)
{
    CHECK(DeviceObject == &g_dev);
    CHECK(Context == &g_go);
    g_item_irql = KeGetCurrentIrql();
    KeWaitForSingleObject(&g_go, Executive, KernelMode, FALSE, NULL);
    KeSetEvent(&g_done, IO_NO_INCREMENT, FALSE);
}

static void wait_residue_zero(int which)
{
    nmr_km_residue r;
    for (int i = 0; i < 1000; i++) {
        nmr_km_object_residue(kt_self_base(), &r);
        if ((which ? r.threads : r.work_items) == 0)
            return;
        sleep_ms(2);
    }
    CHECK(!"the residue did not go back to zero");
}

static void t_work_item(void)
{
    KeInitializeEvent(&g_go, NotificationEvent, FALSE);
    KeInitializeEvent(&g_done, NotificationEvent, FALSE);
    PIO_WORKITEM w = IoAllocateWorkItem(&g_dev);
    CHECK(w != NULL);
    IoQueueWorkItem(w, item_routine, DelayedWorkQueue, &g_go);
    nmr_km_residue r;
    nmr_km_object_residue(kt_self_base(), &r);
    CHECK_EQ(r.work_items, 1);
    KeSetEvent(&g_go, IO_NO_INCREMENT, FALSE);
    KeWaitForSingleObject(&g_done, Executive, KernelMode, FALSE, NULL);
    CHECK_EQ(g_item_irql, PASSIVE_LEVEL);
    wait_residue_zero(0);
    IoFreeWorkItem(w);
    KT_NO_REPORT();
}

static KSPIN_LOCK g_leak_lock;
static void leaky_routine(PDEVICE_OBJECT DeviceObject, PVOID Context)
{
    (void)DeviceObject;
    (void)Context;
    KIRQL old;
    KeAcquireSpinLock(&g_leak_lock, &old); /* returns holding it */
    KeSetEvent(&g_done, IO_NO_INCREMENT, FALSE);
}

static void t_work_item_returns_holding_lock(void)
{
    KeInitializeEvent(&g_done, NotificationEvent, FALSE);
    PIO_WORKITEM w = IoAllocateWorkItem(&g_dev);
    IoQueueWorkItem(w, leaky_routine, DelayedWorkQueue, NULL);
    KeWaitForSingleObject(&g_done, Executive, KernelMode, FALSE, NULL);
    wait_residue_zero(0);
    KT_REPORTS(1, "IO_WORKITEM_ROUTINE", "returned holding 1 lock", NULL);
    IoFreeWorkItem(w);
}

static void ex_routine(PVOID Parameter)
{
    KeSetEvent((PKEVENT)Parameter, IO_NO_INCREMENT, FALSE);
}

static void t_ex_work_item(void)
{
    WORK_QUEUE_ITEM item;
    KeInitializeEvent(&g_done, NotificationEvent, FALSE);
    ExInitializeWorkItem(&item, ex_routine, &g_done);
    ExQueueWorkItem(&item, DelayedWorkQueue);
    CHECK_STATUS(KeWaitForSingleObject(&g_done, Executive, KernelMode, FALSE, NULL),
                 STATUS_SUCCESS);
    wait_residue_zero(0);
    KT_NO_REPORT();
}

static int g_thread_ran;
static KSTART_ROUTINE thread_routine;
static void thread_routine(PVOID StartContext)
{
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    KeWaitForSingleObject(&g_go, Executive, KernelMode, FALSE, NULL);
    __atomic_store_n(&g_thread_ran, 1, __ATOMIC_SEQ_CST);
    if (StartContext != NULL)
        PsTerminateSystemThread(STATUS_SUCCESS);
    /* else: returns */
}

static void run_system_thread(PVOID ctx)
{
    HANDLE h = NULL;
    PVOID obj = NULL;
    KeInitializeEvent(&g_go, NotificationEvent, FALSE);
    CHECK_STATUS(PsCreateSystemThread(&h, THREAD_ALL_ACCESS, NULL, NULL, NULL, thread_routine,
                                      ctx),
                 STATUS_SUCCESS);
    CHECK_STATUS(ObReferenceObjectByHandle(h, SYNCHRONIZE, *PsThreadType, KernelMode, &obj,
                                           NULL),
                 STATUS_SUCCESS);
    CHECK_STATUS(ZwClose(h), STATUS_SUCCESS);
    nmr_km_residue r;
    nmr_km_object_residue(kt_self_base(), &r);
    CHECK_EQ(r.threads, 1);
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    CHECK_STATUS(KeWaitForSingleObject(obj, Executive, KernelMode, FALSE, &zero),
                 STATUS_TIMEOUT);
    KeSetEvent(&g_go, IO_NO_INCREMENT, FALSE);
    CHECK_STATUS(KeWaitForSingleObject(obj, Executive, KernelMode, FALSE, NULL),
                 STATUS_SUCCESS);
    CHECK_EQ(__atomic_load_n(&g_thread_ran, __ATOMIC_SEQ_CST), 1);
    /* Signalled means ended: a DriverUnload that waited on the object
     * finds nothing running, at once. */
    nmr_km_object_residue(kt_self_base(), &r);
    CHECK_EQ(r.threads, 0);
    ObDereferenceObject(obj);
    KT_NO_REPORT();
}

static void t_system_thread_returns(void) { run_system_thread(NULL); }
static void t_system_thread_terminates(void) { run_system_thread((PVOID)1); }

/* The count of running threads drops before the object is signalled:
 * many rounds, each checking the residue the moment the wait returns
 * (before the fix the ending thread signalled first and a waiter could
 * see it still running). */
static void t_system_thread_end_order(void)
{
    for (int i = 0; i < 300; i++) {
        __atomic_store_n(&g_thread_ran, 0, __ATOMIC_SEQ_CST);
        run_system_thread((PVOID)(uintptr_t)(i & 1));
    }
}

/* PsTerminateSystemThread runs none of the driver's code after the object
 * is signalled: it does not unwind the driver's frames (a cleanup handler
 * the routine pushed would run then, when the driver may be unmapped). */
static int g_cleanup_ran;
static void note_cleanup(void *arg)
{
    (void)arg;
    __atomic_store_n(&g_cleanup_ran, 1, __ATOMIC_SEQ_CST);
}

static void terminate_inside(void)
{
    pthread_cleanup_push(note_cleanup, NULL);
    PsTerminateSystemThread(STATUS_SUCCESS);
    pthread_cleanup_pop(0);
}

static KSTART_ROUTINE terminating_routine;
static void terminating_routine(PVOID StartContext)
{
    (void)StartContext;
    terminate_inside();
    __atomic_store_n(&g_thread_ran, 2, __ATOMIC_SEQ_CST); /* never reached */
}

static void t_system_thread_terminate_skips_frames(void)
{
    HANDLE h = NULL;
    PVOID obj = NULL;
    g_cleanup_ran = 0;
    g_thread_ran = 0;
    CHECK_STATUS(PsCreateSystemThread(&h, THREAD_ALL_ACCESS, NULL, NULL, NULL,
                                      terminating_routine, NULL),
                 STATUS_SUCCESS);
    CHECK_STATUS(ObReferenceObjectByHandle(h, SYNCHRONIZE, *PsThreadType, KernelMode, &obj,
                                           NULL),
                 STATUS_SUCCESS);
    CHECK_STATUS(ZwClose(h), STATUS_SUCCESS);
    CHECK_STATUS(KeWaitForSingleObject(obj, Executive, KernelMode, FALSE, NULL),
                 STATUS_SUCCESS);
    ObDereferenceObject(obj);
    sleep_ms(50); /* the thread is gone or going: it must not come back */
    CHECK_EQ(__atomic_load_n(&g_cleanup_ran, __ATOMIC_SEQ_CST), 0);
    CHECK_EQ(__atomic_load_n(&g_thread_ran, __ATOMIC_SEQ_CST), 0);
    nmr_km_residue r;
    nmr_km_object_residue(kt_self_base(), &r);
    CHECK_EQ(r.threads, 0);
    KT_NO_REPORT();
}

static void t_bad_handles(void)
{
    int x;
    CHECK_STATUS(ZwClose((HANDLE)&x), STATUS_INVALID_HANDLE);
    KT_REPORTS(1, "ZwClose of", "not a handle", NULL);
    PVOID o = (PVOID)1;
    CHECK_STATUS(ObReferenceObjectByHandle((HANDLE)&x, 0, NULL, KernelMode, &o, NULL),
                 STATUS_INVALID_HANDLE);
    CHECK(o == NULL);
    CHECK_EQ(PsTerminateSystemThread(STATUS_SUCCESS), STATUS_INVALID_PARAMETER);
    KT_REPORTS(2, "PsTerminateSystemThread on a thread", NULL, NULL);
}

static const nmr_test_case cases[] = {
    CASE(t_spin_exclusion, ""),
    CASE(t_queued_exclusion, ""),
    CASE(t_fast_mutex_exclusion, ""),
    CASE(t_push_lock_exclusion, ""),
    CASE(t_sync_event_wakes_one, ""),
    CASE(t_notification_event_wakes_all, ""),
    CASE(t_work_item, ""),
    CASE(t_work_item_returns_holding_lock, ""),
    CASE(t_ex_work_item, ""),
    CASE(t_system_thread_returns, ""),
    CASE(t_system_thread_terminates, ""),
    CASE(t_system_thread_end_order, ""),
    CASE(t_system_thread_terminate_skips_frames, ""),
    CASE(t_bad_handles, ""),
};
NMR_TEST_SUITE(test_km_mt_sync, cases, kt_setup, NULL, NULL);
