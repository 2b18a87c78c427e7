/* SPDX-License-Identifier: MIT */
/*
 * sched.h - nmrcheck's controlled scheduler (docs/nmrcheck.md).
 *
 * Inside one run (one schedule), the threads the scheduler controls run
 * one at a time: a thread holds the turn until it reaches a switch point
 * (sched_point: an NMR trace event, a call into a module, a kernel-mode
 * layer function that synchronises or waits, nmrcheck_yield()), where the
 * scheduler picks the thread that runs next.  The pick follows PCT
 * (probabilistic concurrency testing): each thread gets a random priority
 * when it is reserved, the highest-priority runnable thread always runs,
 * and at depth-1 change points, chosen at random among the first k steps,
 * the running thread's priority drops below every other.  A bug that needs
 * d ordering constraints among n threads and k steps is found by one run
 * with probability at least 1/(n k^(d-1)).  A thread that yields (a busy
 * loop: nmrcheck_yield, a worker with nothing to do) drops to the lowest
 * priority too, so that a spinning thread cannot starve the one it waits
 * for.  The seed decides every choice, so a run whose threads all stay
 * controlled replays exactly.
 *
 * Blocking: a thread about to block (an NMR wait, a layer event) calls
 * sched_block_begin(obj) and gives up the turn; the thread that makes the
 * wait end calls sched_wake(obj) (libnmr does, through nmr/check.h),
 * which makes the waiter runnable at that step; when the waiter is back
 * it calls sched_block_end and waits for its turn.  A waiter that comes
 * back without a wake (its wait had nothing to wait for) runs when no
 * other thread can.
 *
 * Code the scheduler cannot see (a module's own mutex, a thread it did not
 * create): when the thread holding the turn reaches no switch point for
 * stall_ms, the monitor hands the turn to another thread and counts a
 * fallback: the run is then no longer exactly reproducible, and the
 * report says so.  Threads that were never reserved pass through the
 * switch points untouched (counted as foreign points).  When no
 * controlled thread makes progress for hang_ms, the run hangs: sched_hung()
 * turns 1 and on_hang runs on the monitor thread.
 *
 * The log of steps lives in memory the caller gives (shared with the
 * parent process, so it survives a crash of the child).
 */
#ifndef NMRCHECK_SCHED_H
#define NMRCHECK_SCHED_H

#include <stddef.h>
#include <stdint.h>

#define SCHED_MAX_THREADS 32
#define SCHED_NAME_LEN 24
#define SCHED_WHAT_LEN 104

/* One step of the log: thread `thread` (its index, in reservation order;
 * 0xffff for a thread not controlled) reached switch point `what`. */
typedef struct sched_step {
    uint32_t index;                /* step number, from 0 */
    uint16_t thread;
    uint16_t flags;                /* SCHED_STEP_* */
    char what[SCHED_WHAT_LEN];
} sched_step;

#define SCHED_STEP_SWITCH 1u       /* the turn went to another thread here */
#define SCHED_STEP_BLOCK 2u        /* the thread blocked here */
#define SCHED_STEP_WAKE 4u         /* the thread came back from a block */
#define SCHED_STEP_FOREIGN 8u      /* a thread the scheduler does not control */
#define SCHED_STEP_FALLBACK 16u    /* the monitor took the turn from a stalled thread */

/* The log: `capacity` steps in a ring; `count` is how many were written
 * (the last min(count, capacity) are kept). */
typedef struct sched_log {
    volatile uint32_t count;
    uint32_t capacity;
    volatile uint32_t nthreads;
    char thread_names[SCHED_MAX_THREADS][SCHED_NAME_LEN];
    sched_step steps[];            /* capacity entries */
} sched_log;

/* Bytes a log of `capacity` steps needs. */
size_t sched_log_size(uint32_t capacity);

typedef struct sched_config {
    uint64_t seed;
    unsigned depth;                /* PCT d: 1 + the number of change points (>= 1) */
    unsigned expected_steps;       /* PCT k: change points fall in [1, k] */
    unsigned stall_ms;             /* fallback when the turn holder stalls */
    unsigned hang_ms;              /* no progress this long: a hang */
    uint64_t max_steps;            /* a run this long is a livelock (0: no limit) */
    sched_log *log;                /* may be NULL */
    void (*on_hang)(void *ctx);    /* on the monitor thread; may be NULL */
    void *ctx;
} sched_config;

typedef struct sched_stats {
    uint64_t steps;                /* switch points reached by controlled threads */
    uint64_t switches;             /* the turn changed hands */
    uint64_t fallbacks;            /* the monitor took the turn from a stalled thread */
    uint64_t foreign_points;       /* switch points of threads not controlled */
    unsigned threads;              /* threads reserved in the run */
} sched_stats;

/* Start a run (no run may be active); the monitor thread is started on the
 * first run and kept.  0, or -1 when a run is active. */
int sched_start(const sched_config *config);

/* End the run: every reserved thread has ended.  Fills *out. */
void sched_stop(sched_stats *out);

/* Reserve a thread before it exists, in the creating thread (or before the
 * run's threads start), so that its index and priority do not depend on
 * when the OS starts it.  Returns a ticket (>= 0), or -1 when no run is
 * active or the table is full.  The new thread passes the ticket to
 * sched_thread_begin. */
int sched_thread_reserve(const char *name);

/* The calling thread becomes the controlled thread of `ticket` and waits
 * for its first turn.  ticket < 0: nothing (the thread stays foreign). */
void sched_thread_begin(int ticket);

/* A reserved thread could not be started: forget it. */
void sched_thread_abandon(int ticket);

/* The calling controlled thread ends: gives up the turn for good. */
void sched_thread_end(void);

/* A switch point: records the step and maybe gives the turn to another
 * thread (then returns when this one's turn comes again).  flags:
 * SCHED_YIELD, the thread waits for another (its priority drops to the
 * lowest; it makes no progress); SCHED_QUIET, an ordinary switch point
 * that is not progress either (a module's own lock operations: a thread
 * that only takes and drops its locks must not hide a hang).  Any thread
 * may call it; a foreign thread's step is recorded and it goes on. */
#define SCHED_YIELD 1
#define SCHED_QUIET 2
/* Either may be or-ed in, to steer one schedule on purpose (the timing of
 * a pending detach, docs/nmrcheck.md): SCHED_RAISE, the calling thread's
 * priority goes above every other's (it keeps the turn until it blocks,
 * yields or meets a change point); SCHED_LOWER, below every other's. */
#define SCHED_RAISE 4
#define SCHED_LOWER 8
void sched_point(const char *what, int flags);

/* A block the scheduler keeps entirely (a module's own mutex, rwlock,
 * condition variable or semaphore, which nmrcheck takes with trylock): the
 * calling controlled thread gives up the turn until obj is woken
 * (sched_wake_waiters) and its turn comes again.  A wake that got lost
 * (the object was released by code nmrcheck does not see) is covered: a
 * thread blocked here also runs when no other thread can, and its caller
 * tries again.  Not progress.  Returns 1 when woken, 0 when it ran
 * because nothing else could; at once (0) on a foreign thread. */
int sched_block_on(const char *what, uint64_t obj);

/* The calling thread is about to block on obj, which another thread will
 * release (timed: the block also ends by itself).  Gives up the turn. */
void sched_block_begin(const char *what, uint64_t obj, int timed);

/* It came back: waits for its turn again. */
void sched_block_end(const char *what);

/* obj's waiters may go (any thread; only records: may be called with
 * other locks held).  When nobody is blocked on obj yet, the wake is kept
 * for the next thread that blocks on it (nmrcheck's own joins);
 * sched_wake_waiters wakes only those blocked now (the hooks of libnmr and
 * libnmr-km, whose objects are reused and whose waits check their state
 * before they block). */
void sched_wake(uint64_t obj);
void sched_wake_waiters(uint64_t obj);

/* 1 once the run hung; 2 when it hung because it reached max_steps
 * without ending (its threads go on making steps: a livelock). */
int sched_hung(void);

/* The index of the calling thread in the run, or -1 when foreign. */
int sched_self(void);

/* on: the calling controlled thread is lowered below every other at each
 * of its switch points from now on (SCHED_LOWER each time), until off. */
void sched_set_humble(int on);

/* How many sched_point switch points controlled thread t has reached in
 * this run (0 when there is no run or no such thread). */
uint64_t sched_thread_points(int t);

/* What each controlled thread is doing, one line each ("T2 worker0:
 * blocked in wait-start 0x..."), for a hang report. */
void sched_describe(char *buf, size_t size);

#endif /* NMRCHECK_SCHED_H */
