/* SPDX-License-Identifier: MIT */
/*
 * test_km_event.c - events (notification and synchronization state,
 * KeSetEvent's return), the three kinds of timeout (relative, absolute,
 * zero), the wait and delay IRQL rules, time and processor queries.
 * Single-threaded (the threaded event cases are in test_km_mt_sync.c).
 */
#include "km_test.h"

#include <time.h>

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void t_event_state(void)
{
    KEVENT e;
    KeInitializeEvent(&e, NotificationEvent, FALSE);
    CHECK_EQ(KeReadStateEvent(&e), 0);
    CHECK_EQ(KeSetEvent(&e, IO_NO_INCREMENT, FALSE), 0);
    CHECK_EQ(KeSetEvent(&e, IO_NO_INCREMENT, FALSE), 1); /* previous state */
    CHECK_EQ(KeReadStateEvent(&e), 1);
    CHECK_STATUS(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, NULL), STATUS_SUCCESS);
    CHECK_EQ(KeReadStateEvent(&e), 1); /* a notification event stays set */
    CHECK_EQ(KeResetEvent(&e), 1);
    CHECK_EQ(KeResetEvent(&e), 0);
    KeSetEvent(&e, IO_NO_INCREMENT, FALSE);
    KeClearEvent(&e);
    CHECK_EQ(KeReadStateEvent(&e), 0);

    KeInitializeEvent(&e, SynchronizationEvent, TRUE);
    CHECK_EQ(KeReadStateEvent(&e), 1);
    CHECK_STATUS(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, NULL), STATUS_SUCCESS);
    CHECK_EQ(KeReadStateEvent(&e), 0); /* consumed by the wait */
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    CHECK_STATUS(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &zero), STATUS_TIMEOUT);
    KT_NO_REPORT();
}

static void t_timeout_relative(void)
{
    KEVENT e;
    KeInitializeEvent(&e, NotificationEvent, FALSE);
    LARGE_INTEGER t;
    t.QuadPart = -30 * 10000LL; /* 30 ms */
    long long t0 = now_ms();
    CHECK_STATUS(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &t), STATUS_TIMEOUT);
    long long dt = now_ms() - t0;
    CHECK(dt >= 29);
    CHECK(dt < 5000);
    t0 = now_ms();
    CHECK_STATUS(KeDelayExecutionThread(KernelMode, FALSE, &t), STATUS_SUCCESS);
    CHECK(now_ms() - t0 >= 29);
    KT_NO_REPORT();
}

static void t_timeout_absolute(void)
{
    KEVENT e;
    KeInitializeEvent(&e, SynchronizationEvent, FALSE);
    LARGE_INTEGER now, t;
    KeQuerySystemTimePrecise(&now);
    t.QuadPart = now.QuadPart + 30 * 10000LL; /* 30 ms from now, absolute */
    long long t0 = now_ms();
    CHECK_STATUS(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &t), STATUS_TIMEOUT);
    long long dt = now_ms() - t0;
    CHECK(dt >= 25);
    CHECK(dt < 5000);
    /* In the past: at once. */
    t.QuadPart = now.QuadPart - 10000000LL;
    t0 = now_ms();
    CHECK_STATUS(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &t), STATUS_TIMEOUT);
    CHECK(now_ms() - t0 < 1000);
    KT_NO_REPORT();
}

static void t_wait_at_dispatch(void)
{
    KEVENT e;
    KIRQL old;
    KSPIN_LOCK l = 0;
    KeInitializeEvent(&e, NotificationEvent, TRUE);
    KeAcquireSpinLock(&l, &old);
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    CHECK_STATUS(KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &zero), STATUS_SUCCESS);
    KT_NO_REPORT(); /* a zero timeout is allowed at DISPATCH_LEVEL */
    KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, NULL);
    KT_REPORTS(1, "KeWaitForSingleObject (no timeout) called at DISPATCH_LEVEL",
               "above its limit APC_LEVEL", "KeAcquireSpinLock");
    LARGE_INTEGER t;
    t.QuadPart = -1;
    KeWaitForSingleObject(&e, Executive, KernelMode, FALSE, &t);
    KT_REPORTS(2, "KeWaitForSingleObject (non-zero timeout) called at DISPATCH_LEVEL",
               "above its limit APC_LEVEL", NULL);
    KeReleaseSpinLock(&l, old);
    KT_REPORTS(2, NULL, NULL, NULL);
}

static void t_delay_at_dispatch(void)
{
    KIRQL old;
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    LARGE_INTEGER t;
    t.QuadPart = -10;
    KeDelayExecutionThread(KernelMode, FALSE, &t);
    KT_REPORTS(1, "KeDelayExecutionThread called at DISPATCH_LEVEL", "above its limit APC_LEVEL",
               NULL);
    KeLowerIrql(old);
}

static void t_set_event_wait_at_dispatch(void)
{
    KEVENT e;
    KIRQL old;
    KeInitializeEvent(&e, NotificationEvent, FALSE);
    KeRaiseIrql(DISPATCH_LEVEL, &old);
    KeSetEvent(&e, IO_NO_INCREMENT, FALSE);
    KT_NO_REPORT();
    KeSetEvent(&e, IO_NO_INCREMENT, TRUE);
    KT_REPORTS(1, "KeSetEvent (Wait TRUE) called at DISPATCH_LEVEL", "above its limit APC_LEVEL",
               NULL);
    KeLowerIrql(old);
}

static void t_time_and_processors(void)
{
    LARGE_INTEGER st, freq, c1, c2;
    KeQuerySystemTime(&st);
    long long unix_s = (long long)time(NULL);
    long long from1601 = st.QuadPart / 10000000LL - 11644473600LL;
    CHECK(from1601 >= unix_s - 5 && from1601 <= unix_s + 5);
    c1 = KeQueryPerformanceCounter(&freq);
    CHECK_EQ(freq.QuadPart, 10000000);
    c2 = KeQueryPerformanceCounter(NULL);
    CHECK(c2.QuadPart >= c1.QuadPart);
    ULONGLONG it = KeQueryInterruptTime();
    CHECK(it > 0);
    KeStallExecutionProcessor(10);
    CHECK(KeQueryInterruptTime() >= it + 100);
    KAFFINITY aff = 0;
    ULONG n = KeQueryActiveProcessorCount(&aff);
    CHECK(n >= 1);
    CHECK(aff != 0);
    CHECK_EQ(KeQueryActiveProcessorCountEx(ALL_PROCESSOR_GROUPS), n);
    PROCESSOR_NUMBER pn;
    ULONG cpu = KeGetCurrentProcessorNumberEx(&pn);
    CHECK_EQ((ULONG)pn.Group * 64 + pn.Number, cpu);
    KT_NO_REPORT();
}

static const nmr_test_case cases[] = {
    CASE(t_event_state, ""),
    CASE(t_timeout_relative, ""),
    CASE(t_timeout_absolute, ""),
    CASE(t_wait_at_dispatch, ""),
    CASE(t_delay_at_dispatch, ""),
    CASE(t_set_event_wait_at_dispatch, ""),
    CASE(t_time_and_processors, ""),
};
NMR_TEST_SUITE(test_km_event, cases, kt_setup, NULL, NULL);
