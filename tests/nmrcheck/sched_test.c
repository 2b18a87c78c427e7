/* SPDX-License-Identifier: MIT */
/*
 * sched_test.c - nmrcheck's scheduler and its module code ranges, alone
 * (tools/nmrcheck/sched.c, interpose.c), on cases a whole run opens only
 * by chance:
 *
 *   late_start    a thread that got the turn before the OS started it is
 *                 not "stalled": the turn waits for it, the run stays
 *                 replayable, and it runs (it used to be left out of every
 *                 later pick: a false hang, seen under ASan)
 *   unseen_block  a turn holder that sleeps in a wait the scheduler cannot
 *                 see, for a thread that needs the turn, is stalled: the
 *                 turn goes on after --stall-ms (a fallback), no hang
 *   busy_holder   a turn holder that computes (or waits for a CPU) is not
 *                 stalled for ten stall times: no fallback for a 60 ms loop
 *                 at 20 ms; one for a loop past 200 ms
 *   livelock      threads that make steps for ever, never ending the run,
 *                 are a livelock once the run reaches its step limit (a
 *                 run used to go on for ever, without a message)
 *   slow_wake     a thread given the turn that the OS has not run yet (busy
 *                 elsewhere, here in a signal handler) is not "stalled"
 *                 either: the turn waits for it (it used to be marked
 *                 stalled while still waiting for its turn, which it then
 *                 never got again: a false hang under load)
 *   range_whole   a module's code range is read whole while a load or an
 *                 unload writes it (a reader used to see [0, old end) during
 *                 a clear, took nmrcheck's own code for a module's and spun
 *                 on its own semaphore: a false hang)
 *
 * Usage: nmrcheck_sched_test CASE
 */
#define _GNU_SOURCE
/* by path: tools/nmrcheck/sched.h would hide the C library's <sched.h> */
#include "../../tools/nmrcheck/nmrcheck.h"
#include "../../tools/nmrcheck/sched.h"

#include <netioddk.h>

#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;

#define EXPECT(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                           \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            failures++;                                                                    \
        }                                                                                  \
    } while (0)

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* The calling thread (main) ends its part of the run: the other thread
 * th must end within 5 s and the run must not hang.  Returns the run's
 * fallbacks; a thread that never ends is a failure, and the test leaves
 * at once (it cannot wait for the thread). */
static unsigned long long finish_run(pthread_t th, const char *name, const char *stuck)
{
    sched_thread_end();
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    int rc = pthread_timedjoin_np(th, NULL, &until);
    EXPECT(rc == 0, "%s", stuck);
    sched_stats st;
    sched_stop(&st);
    EXPECT(!sched_hung(), "the run hung");
    if (rc != 0) {
        fprintf(stderr, "%s: %d failure(s)\n", name, failures);
        exit(1);
    }
    return (unsigned long long)st.fallbacks;
}

/* ---- late_start ------------------------------------------------------------ */
static atomic_int late_ran;
static int late_ticket;

static void *late_main(void *arg)
{
    (void)arg;
    sleep_ms(300);                 /* the OS is slow to start it: 15 stall times */
    sched_thread_begin(late_ticket);
    atomic_store(&late_ran, 1);
    sched_point("late thread runs", 0);
    sched_thread_end();
    return NULL;
}

static void late_start(void)
{
    sched_config cfg = {.seed = 7, .depth = 1, .expected_steps = 10, .stall_ms = 20,
                        .hang_ms = 2000};
    EXPECT(sched_start(&cfg) == 0, "sched_start");
    int me = sched_thread_reserve("main");
    sched_thread_begin(me);
    late_ticket = sched_thread_reserve("late");
    EXPECT(late_ticket > 0, "reserve: %d", late_ticket);
    pthread_t th;
    EXPECT(pthread_create(&th, NULL, late_main, NULL) == 0, "pthread_create");
    /* main drops below the late thread: the turn is the late thread's */
    sched_point("main yields", SCHED_YIELD);
    EXPECT(atomic_load(&late_ran) == 1,
           "main had the turn again before the late thread ran (the monitor took "
           "the turn of a thread that had not started)");
    unsigned long long n =
        finish_run(th, "late_start", "the late thread never ran (left stalled, out of every pick)");
    EXPECT(n == 0, "%llu fallbacks: the run is no longer replayable", n);
}

/* ---- slow_wake ------------------------------------------------------------- */
static int slow_ticket;
static atomic_int slow_waiting, slow_in_handler, slow_ran;

static void slow_handler(int sig)
{
    (void)sig;
    atomic_store(&slow_in_handler, 1);
    sleep_ms(150);                 /* 30 stall times: the OS runs it late */
}

static void *slow_main(void *arg)
{
    (void)arg;
    sched_thread_begin(slow_ticket);
    /* below main: main has the turn, this thread waits for its own */
    atomic_store(&slow_waiting, 1);
    sched_point("slow lowers itself", SCHED_LOWER);
    atomic_store(&slow_ran, 1);
    sched_point("slow thread runs", 0);
    sched_thread_end();
    return NULL;
}

static void slow_wake(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = slow_handler;
    sigemptyset(&sa.sa_mask);
    EXPECT(sigaction(SIGUSR1, &sa, NULL) == 0, "sigaction");
    sched_config cfg = {.seed = 7, .depth = 1, .expected_steps = 10, .stall_ms = 5,
                        .hang_ms = 3000};
    EXPECT(sched_start(&cfg) == 0, "sched_start");
    int me = sched_thread_reserve("main");
    sched_thread_begin(me);
    slow_ticket = sched_thread_reserve("slow");
    pthread_t th;
    EXPECT(pthread_create(&th, NULL, slow_main, NULL) == 0, "pthread_create");
    /* main below the new thread: it begins and lowers itself in turn */
    sched_point("main lowers itself", SCHED_LOWER);
    EXPECT(atomic_load(&slow_waiting) == 1, "the slow thread did not run first");
    /* the slow thread waits for its turn; keep the turn (steps, so no
     * stall) until its signal handler runs, then give the turn to it */
    for (int i = 0; i < 20; i++)
        sched_point("main keeps the turn", SCHED_RAISE);
    pthread_kill(th, SIGUSR1);
    while (!atomic_load(&slow_in_handler))
        sched_point("main keeps the turn", SCHED_RAISE);
    sched_point("main lowers itself", SCHED_LOWER);
    EXPECT(atomic_load(&slow_ran) == 1,
           "main had the turn again before the slow thread ran (the monitor took the "
           "turn of a thread the OS had not run yet)");
    unsigned long long n = finish_run(
        th, "slow_wake", "the slow thread never ran again (left stalled, out of every pick)");
    EXPECT(n == 0, "%llu fallbacks: the run is no longer replayable", n);
}

/* ---- unseen_block, busy_holder ------------------------------------------ */
static int other_ticket;
static sem_t other_go;
static atomic_int other_ran;

static void *other_main(void *arg)
{
    (void)arg;
    sched_thread_begin(other_ticket);
    atomic_store(&other_ran, 1);
    sem_post(&other_go);           /* what the holder waits for, unseen */
    sched_point("other runs", 0);
    sched_thread_end();
    return NULL;
}

/* main holds the turn, an other thread waits for it; hold(ms) is what
 * main does between two switch points; returns the run's fallbacks. */
static unsigned long long hold_run(int block, long busy_ms)
{
    sched_config cfg = {.seed = 7, .depth = 1, .expected_steps = 10, .stall_ms = 20,
                        .hang_ms = 3000};
    EXPECT(sched_start(&cfg) == 0, "sched_start");
    int me = sched_thread_reserve("main");
    sched_thread_begin(me);
    other_ticket = sched_thread_reserve("other");
    atomic_store(&other_ran, 0);
    sem_init(&other_go, 0, 0);
    pthread_t th;
    EXPECT(pthread_create(&th, NULL, other_main, NULL) == 0, "pthread_create");
    sched_point("main keeps the turn", SCHED_RAISE);
    if (block) {
        sem_wait(&other_go);       /* only the other thread ends it */
    } else {
        struct timespec start, now;
        clock_gettime(CLOCK_MONOTONIC, &start);
        do
            clock_gettime(CLOCK_MONOTONIC, &now);
        while ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 <
               busy_ms);
    }
    sched_point("main goes on", SCHED_LOWER);
    unsigned long long n = finish_run(th, block ? "unseen_block" : "busy_holder",
                                      "the other thread did not end");
    EXPECT(atomic_load(&other_ran) == 1, "the other thread never ran");
    sem_destroy(&other_go);
    return n;
}

static void unseen_block(void)
{
    unsigned long long n = hold_run(1, 0);
    EXPECT(n == 1, "%llu fallbacks for a holder asleep in an unseen wait, 1 expected", n);
}

static void busy_holder(void)
{
    unsigned long long n = hold_run(0, 60);
    EXPECT(n == 0, "%llu fallbacks for a holder that computed 60 ms (3 stall times)", n);
    n = hold_run(0, 400);
    EXPECT(n == 1, "%llu fallbacks for a holder that computed 400 ms (20 stall times)", n);
}

/* ---- livelock ----------------------------------------------------------------- */
static int spin_ticket;
static atomic_int spin_hang_calls;

static void on_spin_hang(void *ctx)
{
    (void)ctx;
    atomic_fetch_add(&spin_hang_calls, 1);
}

static void *spinner(void *arg)
{
    (void)arg;
    sched_thread_begin(spin_ticket);
    while (!sched_hung())
        sched_point("spinner spins", 0);
    sched_thread_end();
    return NULL;
}

/* Two threads that make steps for ever (each one's steps count as
 * progress) never hang by the clock: the step limit ends the run, and
 * says it is a livelock (it used to run for ever, without a message). */
static void livelock(void)
{
    sched_config cfg = {.seed = 3, .depth = 2, .expected_steps = 10, .stall_ms = 20,
                        .hang_ms = 2000, .max_steps = 20000, .on_hang = on_spin_hang};
    EXPECT(sched_start(&cfg) == 0, "sched_start");
    int me = sched_thread_reserve("main");
    spin_ticket = sched_thread_reserve("spinner");
    pthread_t th;
    EXPECT(pthread_create(&th, NULL, spinner, NULL) == 0, "pthread_create");
    sched_thread_begin(me);
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    do {
        sched_point("main spins", 0);
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (!sched_hung() && now.tv_sec - start.tv_sec < 20);
    EXPECT(sched_hung() == 2, "sched_hung() is %d after 20 s of steps, not 2 (a livelock)",
           sched_hung());
    sched_thread_end();
    pthread_join(th, NULL);
    sched_stats st;
    sched_stop(&st);
    EXPECT(st.steps >= 20000, "%llu steps", (unsigned long long)st.steps);
    EXPECT(atomic_load(&spin_hang_calls) == 1, "on_hang ran %d times",
           atomic_load(&spin_hang_calls));
}

/* ---- range_whole ---------------------------------------------------------------- */
static atomic_int range_stop;

static void *range_writer(void *arg)
{
    const void *base = arg;
    while (!atomic_load(&range_stop)) {
        chk_code_range_set(0, base);
        chk_code_range_set(0, NULL);
    }
    return NULL;
}

static void range_whole(void)
{
    /* a function of libnmr.so stands for a module's code; this program's
     * own code must never be taken for it */
    const void *lib = (const void *)(uintptr_t)&NmrRegisterProvider;
    const void *own = (const void *)(uintptr_t)&range_whole;
    chk_code_range_set(0, lib);
    EXPECT(chk_module_of_code(lib) == 0, "libnmr.so's range was not found");
    EXPECT(chk_module_of_code(own) == -1, "this program's code is in libnmr.so's range");
    chk_code_range_set(0, NULL);
    EXPECT(chk_module_of_code(lib) == -1, "a cleared range still matches");

    pthread_t th;
    EXPECT(pthread_create(&th, NULL, range_writer, (void *)(uintptr_t)lib) == 0,
           "pthread_create");
    struct timespec start, now;
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned long reads = 0, wrong = 0, seen_lib = 0;
    do {
        for (int i = 0; i < 10000; i++) {
            if (chk_module_of_code(own) != -1)
                wrong++;
            if (chk_module_of_code(lib) == 0)
                seen_lib++;
        }
        reads += 10000;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while (now.tv_sec - start.tv_sec < 2 && wrong == 0);
    atomic_store(&range_stop, 1);
    pthread_join(th, NULL);
    EXPECT(wrong == 0, "%lu of %lu reads took this program's code for the module's", wrong,
           reads);
    printf("range_whole: %lu reads, the module's range seen by %lu\n", reads, seen_lib);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: nmrcheck_sched_test late_start|slow_wake|unseen_block|busy_holder|livelock|range_whole\n");
        return 2;
    }
    if (strcmp(argv[1], "late_start") == 0)
        late_start();
    else if (strcmp(argv[1], "slow_wake") == 0)
        slow_wake();
    else if (strcmp(argv[1], "unseen_block") == 0)
        unseen_block();
    else if (strcmp(argv[1], "busy_holder") == 0)
        busy_holder();
    else if (strcmp(argv[1], "livelock") == 0)
        livelock();
    else if (strcmp(argv[1], "range_whole") == 0)
        range_whole();
    else {
        fprintf(stderr, "nmrcheck_sched_test: no case %s\n", argv[1]);
        return 2;
    }
    if (failures == 0)
        printf("%s: passed\n", argv[1]);
    return failures == 0 ? 0 : 1;
}
