/* SPDX-License-Identifier: MIT */
/*
 * event.c - events, waits, delays, time and processors.
 *
 * An event is its 32-bit signal state used as a futex word: waiters block
 * in nmr_km__block while it is 0.  A notification event stays signalled
 * and releases every waiter; a synchronization event is consumed by the
 * one waiter that clears it (compare-and-swap 1 -> 0).  Differences from
 * Windows: setting a synchronization event that is already signalled
 * does nothing, also when a waiter was woken by the first set and has not
 * consumed it yet (on Windows the first set would already have released
 * that waiter); and a wait's Alertable and WaitMode are ignored.
 */
#define _GNU_SOURCE
#include "km/internal.h"

#include <errno.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

/* 100 ns units between 1601-01-01 and 1970-01-01. */
#define KM_EPOCH_1601 116444736000000000LL

VOID KeInitializeEvent(PRKEVENT Event, EVENT_TYPE Type, BOOLEAN State)
{
    km_check("KeInitializeEvent", HIGH_LEVEL, KM_SITE());
    Event->Header.Type = (UCHAR)Type;
    __atomic_store_n(&Event->Header.SignalState, State ? 1 : 0, __ATOMIC_RELEASE);
}

LONG KeSetEvent(PRKEVENT Event, KPRIORITY Increment, BOOLEAN Wait)
{
    (void)Increment;
    const void *site = KM_SITE();
    if (Wait)
        km_check("KeSetEvent (Wait TRUE)", APC_LEVEL, site);
    else
        km_check("KeSetEvent", DISPATCH_LEVEL, site);
    LONG old = __atomic_exchange_n(&Event->Header.SignalState, 1, __ATOMIC_ACQ_REL);
    if (old == 0) {
        nmr_check_wake(Event);     /* a schedule explorer's waiters on it may go */
        km_wake(&Event->Header.SignalState,
                Event->Header.Type == SynchronizationEvent ? 1 : 1 << 30);
    }
    nmr_check_point("KeSetEvent", Event);
    return old;
}

LONG KeResetEvent(PRKEVENT Event)
{
    km_check("KeResetEvent", DISPATCH_LEVEL, KM_SITE());
    return __atomic_exchange_n(&Event->Header.SignalState, 0, __ATOMIC_ACQ_REL);
}

VOID KeClearEvent(PRKEVENT Event)
{
    km_check("KeClearEvent", DISPATCH_LEVEL, KM_SITE());
    __atomic_store_n(&Event->Header.SignalState, 0, __ATOMIC_RELEASE);
}

LONG KeReadStateEvent(PRKEVENT Event)
{
    km_check("KeReadStateEvent", DISPATCH_LEVEL, KM_SITE());
    return __atomic_load_n(&Event->Header.SignalState, __ATOMIC_ACQUIRE);
}

/* A Windows timeout as a deadline: 1 with *ts and *realtime set, 0 for no
 * deadline (NULL), -1 for a poll (zero). */
static int km_deadline(const LARGE_INTEGER *t, struct timespec *ts, int *realtime)
{
    if (t == NULL)
        return 0;
    long long v = t->QuadPart;
    if (v == 0)
        return -1;
    if (v < 0) {
        clock_gettime(CLOCK_MONOTONIC, ts);
        unsigned long long ns = (unsigned long long)(-(v + 1)) * 100ULL + 100ULL;
        ns += (unsigned long long)ts->tv_nsec;
        ts->tv_sec += (time_t)(ns / 1000000000ULL);
        ts->tv_nsec = (long)(ns % 1000000000ULL);
        *realtime = 0;
    } else {
        long long since1970 = v - KM_EPOCH_1601; /* may be negative: in the past */
        if (since1970 < 0)
            since1970 = 0;
        ts->tv_sec = (time_t)(since1970 / 10000000LL);
        ts->tv_nsec = (long)(since1970 % 10000000LL) * 100;
        *realtime = 1;
    }
    return 1;
}

/* Take the object if it is signalled: a synchronization event is
 * consumed, anything else (notification event, thread) stays. */
static int km_try_satisfy(DISPATCHER_HEADER *h)
{
    if (h->Type == SynchronizationEvent) {
        LONG one = 1;
        return __atomic_compare_exchange_n(&h->SignalState, &one, 0, 0, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED);
    }
    return __atomic_load_n(&h->SignalState, __ATOMIC_ACQUIRE) != 0;
}

NTSTATUS KeWaitForSingleObject(PVOID Object, KWAIT_REASON WaitReason, KPROCESSOR_MODE WaitMode,
                               BOOLEAN Alertable, PLARGE_INTEGER Timeout)
{
    (void)WaitReason;
    (void)WaitMode;
    (void)Alertable;
    const void *site = KM_SITE();
    struct timespec ts;
    int realtime = 0;
    int kind = km_deadline(Timeout, &ts, &realtime);
    if (kind < 0)
        km_check("KeWaitForSingleObject (zero timeout)", DISPATCH_LEVEL, site);
    else
        km_check(kind == 0 ? "KeWaitForSingleObject (no timeout)"
                           : "KeWaitForSingleObject (non-zero timeout)",
                 APC_LEVEL, site);
    if (Object == NULL) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site, "KeWaitForSingleObject on NULL");
        return STATUS_INVALID_PARAMETER;
    }
    DISPATCHER_HEADER *h = (DISPATCHER_HEADER *)Object;
    nmr_check_point("KeWaitForSingleObject", Object);
    for (;;) {
        if (km_try_satisfy(h))
            return STATUS_SUCCESS;
        if (kind < 0)
            return STATUS_TIMEOUT;
        /* a schedule explorer lets others run while this thread blocks;
         * KeSetEvent (or the thread's end) wakes it */
        nmr_check_block_begin("KeWaitForSingleObject", Object, kind > 0);
        int rc = nmr_km__block(&h->SignalState, 0, kind > 0 ? &ts : NULL, realtime);
        nmr_check_block_end();
        if (rc == ETIMEDOUT)
            return km_try_satisfy(h) ? STATUS_SUCCESS : STATUS_TIMEOUT;
    }
}

NTSTATUS KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                                PLARGE_INTEGER Interval)
{
    (void)WaitMode;
    (void)Alertable;
    const void *site = KM_SITE();
    km_check("KeDelayExecutionThread", APC_LEVEL, site);
    struct timespec ts;
    int realtime = 0;
    int kind = km_deadline(Interval, &ts, &realtime);
    if (kind == 0) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site, "KeDelayExecutionThread with a NULL interval");
        return STATUS_INVALID_PARAMETER;
    }
    if (kind < 0) {
        nmr_check_point("KeDelayExecutionThread", NULL);
        sched_yield();
        return STATUS_SUCCESS;
    }
    /* A word nobody changes: only the deadline ends the wait.  A schedule
     * explorer runs the others meanwhile (a timed block). */
    uint32_t never = 0;
    nmr_check_block_begin("KeDelayExecutionThread", &never, 1);
    while (nmr_km__block(&never, 0, &ts, realtime) != ETIMEDOUT)
        ;
    nmr_check_block_end();
    return STATUS_SUCCESS;
}

VOID KeStallExecutionProcessor(ULONG MicroSeconds)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    long long want = (long long)MicroSeconds * 1000LL;
    do {
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while ((t.tv_sec - t0.tv_sec) * 1000000000LL + (t.tv_nsec - t0.tv_nsec) < want);
}

/* ---- time ----------------------------------------------------------------------- */
static long long km_ns(clockid_t c)
{
    struct timespec t;
    clock_gettime(c, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

LARGE_INTEGER KeQueryPerformanceCounter(PLARGE_INTEGER PerformanceFrequency)
{
    LARGE_INTEGER v;
    /* 100 ns ticks of the monotonic clock: a 10 MHz counter. */
    if (PerformanceFrequency != NULL)
        PerformanceFrequency->QuadPart = 10000000LL;
    v.QuadPart = km_ns(CLOCK_MONOTONIC) / 100;
    return v;
}

ULONGLONG KeQueryInterruptTime(void)
{
    return (ULONGLONG)(km_ns(CLOCK_BOOTTIME) / 100);
}

VOID KeQuerySystemTime(PLARGE_INTEGER CurrentTime)
{
    CurrentTime->QuadPart = km_ns(CLOCK_REALTIME_COARSE) / 100 + KM_EPOCH_1601;
}

VOID KeQuerySystemTimePrecise(PLARGE_INTEGER CurrentTime)
{
    CurrentTime->QuadPart = km_ns(CLOCK_REALTIME) / 100 + KM_EPOCH_1601;
}

/* ---- processors -------------------------------------------------------------------- */
ULONG KeGetCurrentProcessorNumber(void)
{
    int c = sched_getcpu();
    return c < 0 ? 0 : (ULONG)c;
}

ULONG KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber)
{
    ULONG c = KeGetCurrentProcessorNumber();
    if (ProcNumber != NULL) {
        ProcNumber->Group = (USHORT)(c / 64);
        ProcNumber->Number = (UCHAR)(c % 64);
        ProcNumber->Reserved = 0;
    }
    return c;
}

static ULONG km_ncpu(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (ULONG)n;
}

ULONG KeQueryActiveProcessorCount(PKAFFINITY ActiveProcessors)
{
    ULONG n = km_ncpu();
    if (ActiveProcessors != NULL) {
        unsigned bits = (unsigned)(sizeof(KAFFINITY) * 8);
        *ActiveProcessors = n >= bits ? ~(KAFFINITY)0 : (((KAFFINITY)1 << n) - 1);
    }
    return n;
}

ULONG KeQueryActiveProcessorCountEx(USHORT GroupNumber)
{
    ULONG n = km_ncpu();
    if (GroupNumber == ALL_PROCESSOR_GROUPS)
        return n;
    ULONG first = (ULONG)GroupNumber * 64;
    if (n <= first)
        return 0;
    return n - first < 64 ? n - first : 64;
}
