/* SPDX-License-Identifier: MIT */
/*
 * test_mt_lock.c - the registrar's own lock and condition (src/base/lock.h),
 * which guard every NPI: exclusion under contention (R5 rests on it), a
 * sleeper on a held lock woken by its drop, waits on the condition woken
 * by a broadcast without a lost wakeup (R18: the wait for a registration's
 * last binding), and a timed wait that reports its deadline.  Run under
 * TSan too (label threaded): a section the lock failed to order is a race
 * it reports.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include "base/lock.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static struct timespec at_ns(uint64_t t)
{
    return (struct timespec){.tv_sec = (time_t)(t / 1000000000u),
                             .tv_nsec = (long)(t % 1000000000u)};
}

static void sleep_ms(long ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static pthread_t start(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, fn, arg), 0);
    return t;
}

/* ---- exclusion ------------------------------------------------------------ */

enum { THREADS = 4, ROUNDS = 50000 };

static struct {
    nmr_lock lock;
    long counter;       /* plain: only the lock orders its updates */
    atomic_int inside;  /* how many threads are in the section */
    atomic_int overlap; /* times a thread found another inside */
} ex;

static void *exclusion_worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < ROUNDS; i++) {
        nmr_lock_take(&ex.lock);
        if (atomic_fetch_add(&ex.inside, 1) != 0)
            atomic_fetch_add(&ex.overlap, 1);
        ex.counter++;
        if (i % 1024 == 0)
            sched_yield(); /* a holder preempted: the others spin, then sleep */
        atomic_fetch_sub(&ex.inside, 1);
        nmr_lock_drop(&ex.lock);
    }
    return NULL;
}

static void t_exclusion_under_contention(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        t[i] = start(exclusion_worker, NULL);
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(ex.counter, (long)THREADS * ROUNDS);
    CHECK_EQ(atomic_load(&ex.overlap), 0);
    CHECK_EQ(atomic_load(&ex.lock.word), 0); /* free at the end */
    CHECK(nmr_lock_try(&ex.lock));
    CHECK(!nmr_lock_try(&ex.lock)); /* not recursive */
    nmr_lock_drop(&ex.lock);
}

/* ---- a sleeper on a held lock --------------------------------------------- */

static struct {
    nmr_lock lock;
    atomic_int got;
} sl;

static void *sleeper(void *arg)
{
    (void)arg;
    nmr_lock_take(&sl.lock);
    atomic_fetch_add(&sl.got, 1);
    nmr_lock_drop(&sl.lock);
    return NULL;
}

/* Held far longer than the spin: the takers mark the word contended and
 * sleep; the drop must wake them, one after the other. */
static void t_sleepers_woken_by_drop(void)
{
    nmr_lock_take(&sl.lock);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        t[i] = start(sleeper, NULL);
    uint64_t give_up = now_ns() + 5000000000u;
    while (atomic_load(&sl.lock.word) != 2 && now_ns() < give_up)
        sleep_ms(1);
    CHECK_EQ(atomic_load(&sl.lock.word), 2); /* someone sleeps on it */
    sleep_ms(20);
    CHECK_EQ(atomic_load(&sl.got), 0);
    nmr_lock_drop(&sl.lock);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(atomic_load(&sl.got), 3);
    CHECK_EQ(atomic_load(&sl.lock.word), 0);
}

/* ---- the condition -------------------------------------------------------- */

enum { PINGS = 2000 };

static struct {
    nmr_lock lock;
    nmr_cond cond;
    long turn; /* guarded by lock: even - the main thread's, odd - the other's */
    int woken;
} pp;

static void *ponger(void *arg)
{
    (void)arg;
    nmr_lock_take(&pp.lock);
    for (int i = 0; i < PINGS; i++) {
        while (pp.turn % 2 == 0)
            (void)nmr_cond_wait(&pp.cond, &pp.lock, NULL);
        pp.turn++;
        nmr_cond_broadcast(&pp.cond);
    }
    nmr_lock_drop(&pp.lock);
    return NULL;
}

/* Two threads hand a turn back and forth 2,000 times, each sleeping on
 * the condition until it is its turn: one lost wakeup stops them (the
 * test's time limit then fails it). */
static void t_cond_ping_pong_loses_no_wakeup(void)
{
    pthread_t t = start(ponger, NULL);
    nmr_lock_take(&pp.lock);
    for (int i = 0; i < PINGS; i++) {
        pp.turn++;
        nmr_cond_broadcast(&pp.cond);
        while (pp.turn % 2 == 1)
            (void)nmr_cond_wait(&pp.cond, &pp.lock, NULL);
    }
    nmr_lock_drop(&pp.lock);
    pthread_join(t, NULL);
    CHECK_EQ(pp.turn, 2L * PINGS);
}

static void *cond_waiter(void *arg)
{
    (void)arg;
    nmr_lock_take(&pp.lock);
    while (pp.turn == 0)
        (void)nmr_cond_wait(&pp.cond, &pp.lock, NULL);
    pp.woken++;
    nmr_lock_drop(&pp.lock);
    return NULL;
}

/* One broadcast wakes every waiter. */
static void t_cond_broadcast_wakes_all(void)
{
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        t[i] = start(cond_waiter, NULL);
    sleep_ms(30); /* most likely all asleep; if not, they see turn != 0 */
    nmr_lock_take(&pp.lock);
    pp.turn = 1;
    nmr_cond_broadcast(&pp.cond);
    nmr_lock_drop(&pp.lock);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(pp.woken, 3);
}

/* A wait nobody wakes ends at its deadline with ETIMEDOUT, lock held. */
static void t_cond_timed_wait_reports_deadline(void)
{
    nmr_lock_take(&pp.lock);
    uint64_t t0 = now_ns(), until = t0 + 40000000u;
    struct timespec ts = at_ns(until);
    int e = 0;
    while (e != ETIMEDOUT)
        e = nmr_cond_wait(&pp.cond, &pp.lock, &ts);
    CHECK(now_ns() >= until);
    CHECK(!nmr_lock_try(&pp.lock)); /* held again on return */
    nmr_lock_drop(&pp.lock);
    /* a deadline already past returns at once */
    nmr_lock_take(&pp.lock);
    ts = at_ns(t0);
    CHECK_EQ(nmr_cond_wait(&pp.cond, &pp.lock, &ts), ETIMEDOUT);
    nmr_lock_drop(&pp.lock);
}

static const nmr_test_case cases[] = {
    CASE(t_exclusion_under_contention, "R5"),
    CASE(t_sleepers_woken_by_drop, "R5"),
    CASE(t_cond_ping_pong_loses_no_wakeup, "R18"),
    CASE(t_cond_broadcast_wakes_all, "R18"),
    CASE(t_cond_timed_wait_reports_deadline, "R18"),
};

NMR_TEST_SUITE(test_mt_lock, cases, NULL, NULL, NULL);
