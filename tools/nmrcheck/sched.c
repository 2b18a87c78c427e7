/* SPDX-License-Identifier: MIT */
/*
 * sched.c - the controlled scheduler of sched.h.
 *
 * One mutex (S.lock) guards the table; it is a leaf lock: nothing is
 * called while it is held but sem_post and the log.  The turn is S.cur;
 * a thread waits for it on its own semaphore, and whoever changes S.cur
 * posts the new holder's semaphore.  Every decision is taken under the
 * lock from the logical state of the threads (runnable, blocked, woken,
 * ended), never from when the OS runs them, except the two fallbacks the
 * header names (a waiter back without a wake, a stalled turn holder).
 */
#define _GNU_SOURCE
#include "sched.h"

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { T_FREE, T_RESERVED, T_RUNNABLE, T_BLOCKED, T_WOKEN, T_STALLED, T_ENDED };

typedef struct sthread {
    int state;
    int prio;
    int arrived;                   /* blocked, and back from the block */
    int timed;
    int woken;                     /* sched_block_on: a wake came */
    unsigned quiet_run;            /* SCHED_QUIET points in a row */
    uint64_t points;               /* switch points it reached */
    int humble;                    /* sched_set_humble: lowered at each point */
    int holding;                   /* out of wait_turn_locked: runs with the turn */
    pid_t tid;                     /* the OS's id of the thread, once it began */
    uint64_t yield_mark;           /* S.logged_other when it last logged a yield */
    char yield_what[SCHED_WHAT_LEN];
    uint64_t obj;
    sem_t sem;
    char name[SCHED_NAME_LEN];
    char doing[SCHED_WHAT_LEN];
} sthread;

#define MAX_CHANGES 16
#define MAX_PENDING 64

static struct {
    pthread_mutex_t lock;
    int active;
    sched_config cfg;
    sthread th[SCHED_MAX_THREADS];
    int n;
    int cur;                       /* the turn, or -1 */
    uint64_t rng;
    uint64_t steps;                /* controlled switch points */
    uint64_t progress;             /* anything a controlled thread did */
    uint64_t logged_other;         /* steps logged that were not yields */
    unsigned changes[MAX_CHANGES];
    unsigned nchanges;
    int low;                       /* the lowest priority given so far */
    int high;                      /* the highest SCHED_RAISE gave so far */
    uint64_t pending[MAX_PENDING]; /* wakes nobody was blocked for yet */
    unsigned npending;
    sched_stats stats;
    atomic_int hung;
    int monitor_started;
    pthread_t monitor;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .cur = -1};

static _Thread_local int self = -1;

static uint64_t rnd(void)
{
    uint64_t z = (S.rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

size_t sched_log_size(uint32_t capacity)
{
    return sizeof(sched_log) + (size_t)capacity * sizeof(sched_step);
}

static void log_step(int t, unsigned flags, const char *what)
{
    sched_log *log = S.cfg.log;
    if (log == NULL || log->capacity == 0)
        return;
    uint32_t i = log->count;
    sched_step *s = &log->steps[i % log->capacity];
    s->index = i;
    s->thread = t < 0 ? 0xffff : (uint16_t)t;
    s->flags = (uint16_t)flags;
    snprintf(s->what, sizeof s->what, "%s", what);
    log->count = i + 1;
    S.logged_other++;
}

static int candidate(const sthread *t)
{
    return t->state == T_RUNNABLE || t->state == T_WOKEN || t->state == T_RESERVED;
}

/* The thread that should hold the turn: the highest priority among the
 * runnable; else a waiter back without a wake; else -1. */
static int pick_locked(void)
{
    int best = -1;
    for (int i = 0; i < S.n; i++)
        if (candidate(&S.th[i]) && (best < 0 || S.th[i].prio > S.th[best].prio))
            best = i;
    if (best >= 0)
        return best;
    for (int i = 0; i < S.n; i++)
        if (S.th[i].state == T_BLOCKED && S.th[i].arrived)
            return i;
    return -1;
}

static void give_locked(int next)
{
    if (next != S.cur)
        S.stats.switches++;
    S.cur = next;
    if (next >= 0)
        sem_post(&S.th[next].sem);
}

/* Wait (lock held on entry and exit) until the turn is t's. */
static void wait_turn_locked(int t)
{
    S.th[t].holding = 0;
    /* it reached a switch point: the monitor's "stalled" is over (a thread
     * left T_STALLED is no candidate, and nothing would give it the turn) */
    if (S.th[t].state == T_STALLED)
        S.th[t].state = T_RUNNABLE;
    /* nobody holds the turn (the monitor gave it away while t ran unseen
     * code, and the thread it went to has blocked since): take it back */
    if (S.cur < 0)
        give_locked(pick_locked());
    while (S.cur != t) {
        pthread_mutex_unlock(&S.lock);
        sem_wait(&S.th[t].sem);
        pthread_mutex_lock(&S.lock);
    }
    if (S.th[t].state == T_BLOCKED || S.th[t].state == T_WOKEN ||
        S.th[t].state == T_STALLED || S.th[t].state == T_RESERVED)
        S.th[t].state = T_RUNNABLE;
    S.th[t].arrived = 0;
    S.th[t].holding = 1;
}

static void lower_locked(int t)
{
    S.th[t].prio = --S.low;
}

/* The run hung (kind: sched_hung's value): drop the lock, tell on_hang. */
static void hang_unlock(int kind)
{
    atomic_store(&S.hung, kind);
    void (*fn)(void *) = S.cfg.on_hang;
    void *ctx = S.cfg.ctx;
    pthread_mutex_unlock(&S.lock);
    if (fn != NULL)
        fn(ctx);
}

/* The OS runs (or would run, given a CPU) thread tid: it computes, waits
 * for a CPU on a loaded machine or for the kernel, rather than sleeps in
 * a wait the scheduler cannot see.  0 when it sleeps or cannot be told. */
static int os_running(pid_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *end = strrchr(buf, ')');      /* the name may hold anything */
    /* R: on a CPU or waiting for one; D: in the kernel (a page fault, a
     * file read, as dlopen does): neither waits for another thread */
    return end != NULL && end[1] == ' ' && (end[2] == 'R' || end[2] == 'D');
}

/* How much longer than --stall-ms a holder the OS runs may go without a
 * switch point before the monitor takes its turn (a long computation, or
 * a spin in code the scheduler cannot see). */
#define STALL_RUNNING_FACTOR 10

/* The turn holder c, with no switch point since steps_since, is stalled in
 * code the scheduler cannot see: it sleeps there (a lock, a futex the
 * scheduler does not know), or it has run there for STALL_RUNNING_FACTOR
 * stall times.  A holder the OS has not given a CPU to (a loaded machine,
 * a sanitizer) is not stalled: its turn stays.  Drops the lock for the
 * read and takes it again; 0 when anything moved meanwhile. */
static int still_stalled_locked(int c, uint64_t steps_since, uint64_t t)
{
    pid_t tid = S.th[c].tid;
    uint64_t steps = S.steps;
    if (tid <= 0)
        return 1;
    pthread_mutex_unlock(&S.lock);
    int running = os_running(tid);
    pthread_mutex_lock(&S.lock);
    if (!S.active || atomic_load(&S.hung) || S.cur != c || S.steps != steps)
        return 0;
    return !running || t - steps_since >= (uint64_t)S.cfg.stall_ms * STALL_RUNNING_FACTOR;
}

static void *monitor_main(void *arg)
{
    (void)arg;
    /* seen/since: progress (a step that is not a yield), for the hang;
     * seen_steps/steps_since: any step, for the stall */
    uint64_t seen = 0, since = now_ms(), seen_steps = 0, steps_since = since;
    int stalled_fallback = 0;
    for (;;) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&S.lock);
        if (!S.active || atomic_load(&S.hung)) {
            seen = S.progress;
            since = steps_since = now_ms();
            seen_steps = S.steps;
            stalled_fallback = 0;
            pthread_mutex_unlock(&S.lock);
            continue;
        }
        uint64_t t = now_ms();
        if (S.steps != seen_steps) {
            seen_steps = S.steps;
            steps_since = t;
            stalled_fallback = 0;
        }
        if (S.cfg.max_steps != 0 && S.steps >= S.cfg.max_steps) {
            hang_unlock(2);        /* it goes on and on, and never ends: a livelock */
            continue;
        }
        if (S.progress != seen) {
            seen = S.progress;
            since = t;
            stalled_fallback = 0;
        } else if (S.cur >= 0 && !stalled_fallback && t - steps_since >= S.cfg.stall_ms &&
                   S.th[S.cur].state != T_RESERVED && S.th[S.cur].holding &&
                   still_stalled_locked(S.cur, steps_since, t)) {
            /* the holder runs code we cannot see: let another go on (a
             * holder that has not taken its turn yet is not stalled: not
             * started, or given the turn and not run since, the OS is slow
             * with it, as under a sanitizer or a loaded machine; taking its
             * turn would cost the run its replay, and leave the thread out
             * of every pick while it still waits for its turn; the hang
             * timeout still covers it) */
            int c = S.cur;
            S.th[c].state = T_STALLED;
            int next = pick_locked();
            stalled_fallback = 1;
            if (next >= 0 && next != c) {
                S.stats.fallbacks++;
                log_step(c, SCHED_STEP_FALLBACK, "(stalled: the turn goes on)");
                give_locked(next);
                steps_since = t;
            } else {
                S.th[c].state = T_RUNNABLE;
            }
        } else if (t - since >= S.cfg.hang_ms) {
            hang_unlock(1);
            continue;
        }
        pthread_mutex_unlock(&S.lock);
    }
    return NULL;
}

int sched_start(const sched_config *config)
{
    pthread_mutex_lock(&S.lock);
    if (S.active) {
        pthread_mutex_unlock(&S.lock);
        return -1;
    }
    S.cfg = *config;
    if (S.cfg.depth == 0)
        S.cfg.depth = 1;
    if (S.cfg.expected_steps == 0)
        S.cfg.expected_steps = 100;
    if (S.cfg.stall_ms == 0)
        S.cfg.stall_ms = 20;
    if (S.cfg.hang_ms == 0)
        S.cfg.hang_ms = 2000;
    S.rng = S.cfg.seed;
    for (int i = 0; i < S.n; i++)
        sem_destroy(&S.th[i].sem);
    S.n = 0;
    S.cur = -1;
    S.steps = 0;
    S.low = 0;
    S.high = 1 << 20;              /* above every priority a reservation gives */
    S.npending = 0;
    memset(&S.stats, 0, sizeof S.stats);
    atomic_store(&S.hung, 0);
    S.nchanges = S.cfg.depth - 1 < MAX_CHANGES ? S.cfg.depth - 1 : MAX_CHANGES;
    for (unsigned i = 0; i < S.nchanges; i++)
        S.changes[i] = 1 + (unsigned)(rnd() % S.cfg.expected_steps);
    if (S.cfg.log != NULL) {
        S.cfg.log->count = 0;
        S.cfg.log->nthreads = 0;
    }
    S.active = 1;
    S.progress++;
    if (!S.monitor_started) {
        pthread_attr_t a;
        pthread_attr_init(&a);
        pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&S.monitor, &a, monitor_main, NULL) == 0)
            S.monitor_started = 1;
        pthread_attr_destroy(&a);
    }
    pthread_mutex_unlock(&S.lock);
    return 0;
}

void sched_stop(sched_stats *out)
{
    pthread_mutex_lock(&S.lock);
    S.stats.steps = S.steps;
    S.stats.threads = (unsigned)S.n;
    if (out != NULL)
        *out = S.stats;
    S.active = 0;
    S.cur = -1;
    pthread_mutex_unlock(&S.lock);
}

int sched_thread_reserve(const char *name)
{
    pthread_mutex_lock(&S.lock);
    if (!S.active || S.n >= SCHED_MAX_THREADS) {
        pthread_mutex_unlock(&S.lock);
        return -1;
    }
    int t = S.n++;
    sthread *th = &S.th[t];
    memset(th, 0, sizeof *th);
    sem_init(&th->sem, 0, 0);
    th->state = T_RESERVED;
    /* PCT: a random priority among those given so far, all above the
     * change points' */
    th->prio = 1000 + (int)(rnd() % 1000u) * 64 + t;
    snprintf(th->name, sizeof th->name, "%s", name);
    snprintf(th->doing, sizeof th->doing, "not started");
    if (S.cfg.log != NULL) {
        snprintf(S.cfg.log->thread_names[t], SCHED_NAME_LEN, "%s", name);
        S.cfg.log->nthreads = (uint32_t)S.n;
    }
    if (S.cur < 0 || S.th[S.cur].state == T_RESERVED) {
        /* before the run's threads start: the best reserved one first */
        int best = pick_locked();
        S.cur = best;
    }
    pthread_mutex_unlock(&S.lock);
    return t;
}

void sched_thread_begin(int ticket)
{
    if (ticket < 0)
        return;
    self = ticket;
    pid_t tid = (pid_t)syscall(SYS_gettid);
    pthread_mutex_lock(&S.lock);
    S.th[ticket].tid = tid;
    S.progress++;
    if (S.cur < 0)
        S.cur = pick_locked();
    wait_turn_locked(ticket);
    snprintf(S.th[ticket].doing, sizeof S.th[ticket].doing, "running");
    pthread_mutex_unlock(&S.lock);
}

void sched_thread_end(void)
{
    int t = self;
    if (t < 0)
        return;
    self = -1;
    pthread_mutex_lock(&S.lock);
    S.progress++;
    S.th[t].state = T_ENDED;
    snprintf(S.th[t].doing, sizeof S.th[t].doing, "ended");
    if (S.cur == t || S.cur < 0)
        give_locked(pick_locked());
    pthread_mutex_unlock(&S.lock);
}

/* A thread that reaches only quiet points this many times in a row spins
 * (a module polling a flag under its own lock): it yields. */
#define QUIET_SPIN 16

void sched_point(const char *what, int flags)
{
    int yield = (flags & SCHED_YIELD) != 0;
    int steer = flags & (SCHED_RAISE | SCHED_LOWER);
    flags &= SCHED_YIELD | SCHED_QUIET;
    int t = self;
    pthread_mutex_lock(&S.lock);
    if (!S.active || t < 0) {
        if (S.active) {
            S.stats.foreign_points++;
            log_step(-1, SCHED_STEP_FOREIGN, what);
        }
        pthread_mutex_unlock(&S.lock);
        return;
    }
    if (flags == SCHED_QUIET && ++S.th[t].quiet_run >= QUIET_SPIN)
        yield = 1;
    if (flags != SCHED_QUIET || yield)
        S.th[t].quiet_run = 0;
    if (flags == 0)
        S.progress++;              /* a thread that only yields makes none */
    uint64_t step = ++S.steps;
    S.th[t].points++;
    snprintf(S.th[t].doing, sizeof S.th[t].doing, "at %s", what);
    if (steer & SCHED_RAISE)
        S.th[t].prio = ++S.high;
    if ((steer & SCHED_LOWER) || S.th[t].humble)
        lower_locked(t);
    if (S.cur != t) {
        /* the monitor gave our turn away while we ran unseen code */
        if (S.th[t].state == T_STALLED)
            S.th[t].state = T_RUNNABLE;
        log_step(t, 0, what);
        wait_turn_locked(t);
        pthread_mutex_unlock(&S.lock);
        return;
    }
    for (unsigned i = 0; i < S.nchanges; i++)
        if (S.changes[i] == step)
            lower_locked(t);
    if (yield)
        lower_locked(t);
    int next = pick_locked();
    if (yield && next == t) {
        /* a spinning thread lets a waiter that came back without a wake go */
        for (int i = 0; i < S.n; i++)
            if (S.th[i].state == T_BLOCKED && S.th[i].arrived) {
                next = i;
                break;
            }
    }
    /* idle threads yielding to one another (while a crash is reported,
     * say) would fill the log: a yield repeated with nothing else in
     * between is logged once */
    if (!yield) {
        log_step(t, next != t ? SCHED_STEP_SWITCH : 0, what);
    } else if (S.th[t].yield_mark != S.logged_other + 1 ||
               strcmp(S.th[t].yield_what, what) != 0) {
        uint64_t mark = S.logged_other;
        log_step(t, next != t ? SCHED_STEP_SWITCH : 0, what);
        S.logged_other = mark;     /* a yield is not "something else" */
        S.th[t].yield_mark = mark + 1;
        snprintf(S.th[t].yield_what, sizeof S.th[t].yield_what, "%s", what);
    }
    if (next != t) {
        give_locked(next);
        wait_turn_locked(t);
    }
    pthread_mutex_unlock(&S.lock);
}

void sched_block_begin(const char *what, uint64_t obj, int timed)
{
    int t = self;
    pthread_mutex_lock(&S.lock);
    if (!S.active || t < 0) {
        pthread_mutex_unlock(&S.lock);
        return;
    }
    S.progress++;
    S.steps++;
    sthread *th = &S.th[t];
    for (unsigned i = 0; i < S.npending; i++)
        if (S.pending[i] == obj) {
            /* woken before it blocked: it goes on at once */
            S.pending[i] = S.pending[--S.npending];
            snprintf(th->doing, sizeof th->doing, "in %s (already released)", what);
            log_step(t, 0, what);
            pthread_mutex_unlock(&S.lock);
            return;
        }
    th->state = T_BLOCKED;
    th->obj = obj;
    th->timed = timed;
    th->arrived = 0;
    snprintf(th->doing, sizeof th->doing, "blocked in %s", what);
    log_step(t, SCHED_STEP_BLOCK, what);
    if (S.cur == t) {
        if (timed) {
            /* it may end by itself: runnable, behind every other */
            th->state = T_WOKEN;
            lower_locked(t);
            int next = pick_locked();
            if (next == t) {
                pthread_mutex_unlock(&S.lock);
                return;
            }
            give_locked(next);
        } else {
            give_locked(pick_locked());
        }
    }
    pthread_mutex_unlock(&S.lock);
}

int sched_block_on(const char *what, uint64_t obj)
{
    int t = self;
    pthread_mutex_lock(&S.lock);
    if (!S.active || t < 0) {
        pthread_mutex_unlock(&S.lock);
        return 0;
    }
    S.steps++;
    sthread *th = &S.th[t];
    th->state = T_BLOCKED;
    th->obj = obj;
    th->timed = 0;
    th->woken = 0;
    /* it waits for its turn, not for the OS: pick_locked may come back
     * to it when nothing else can run (a wake nmrcheck did not see) */
    th->arrived = 1;
    snprintf(th->doing, sizeof th->doing, "blocked in %s", what);
    log_step(t, SCHED_STEP_BLOCK, what);
    if (S.cur == t) {
        int next = pick_locked();
        if (next != t)
            give_locked(next);
    }
    wait_turn_locked(t);
    int woken = th->woken;
    th->woken = 0;
    snprintf(th->doing, sizeof th->doing, "running after %s", what);
    pthread_mutex_unlock(&S.lock);
    return woken;
}

void sched_block_end(const char *what)
{
    int t = self;
    pthread_mutex_lock(&S.lock);
    if (!S.active || t < 0) {
        pthread_mutex_unlock(&S.lock);
        return;
    }
    S.progress++;
    sthread *th = &S.th[t];
    if (S.cur == t && th->state == T_RUNNABLE) {
        /* it never blocked (the wait had nothing to wait for) */
        log_step(t, 0, what);
        pthread_mutex_unlock(&S.lock);
        return;
    }
    if (S.cur == t && th->state == T_WOKEN && th->timed) {
        th->state = T_RUNNABLE;    /* it never gave the turn away */
    } else {
        /* the monitor may have taken its turn while it was in the wait
         * (a join that took long): it is runnable again, not stalled */
        if (th->state == T_STALLED)
            th->state = T_RUNNABLE;
        th->arrived = 1;
        if (S.cur < 0)
            give_locked(t);
        wait_turn_locked(t);
    }
    snprintf(th->doing, sizeof th->doing, "running after %s", what);
    log_step(t, SCHED_STEP_WAKE, what);
    pthread_mutex_unlock(&S.lock);
}

static void wake(uint64_t obj, int keep);

void sched_wake(uint64_t obj)
{
    wake(obj, 1);
}

void sched_wake_waiters(uint64_t obj)
{
    wake(obj, 0);
}

static void wake(uint64_t obj, int keep)
{
    pthread_mutex_lock(&S.lock);
    if (!S.active) {
        pthread_mutex_unlock(&S.lock);
        return;
    }
    int any = 0;
    for (int i = 0; i < S.n; i++)
        if (S.th[i].state == T_BLOCKED && S.th[i].obj == obj) {
            S.th[i].state = T_WOKEN;
            S.th[i].woken = 1;
            any = 1;
        }
    if (!any && keep) {
        /* nobody waits yet: the wake stays for the one who will */
        if (S.npending == MAX_PENDING) {
            memmove(S.pending, S.pending + 1, (MAX_PENDING - 1) * sizeof S.pending[0]);
            S.npending--;
        }
        S.pending[S.npending++] = obj;
    }
    if (S.cur < 0)
        give_locked(pick_locked());
    pthread_mutex_unlock(&S.lock);
}

int sched_hung(void)
{
    return atomic_load(&S.hung);
}

int sched_self(void)
{
    return self;
}

void sched_set_humble(int on)
{
    int t = self;
    if (t < 0)
        return;
    pthread_mutex_lock(&S.lock);
    if (S.active)
        S.th[t].humble = on;
    pthread_mutex_unlock(&S.lock);
}

uint64_t sched_thread_points(int t)
{
    pthread_mutex_lock(&S.lock);
    uint64_t n = S.active && t >= 0 && t < S.n ? S.th[t].points : 0;
    pthread_mutex_unlock(&S.lock);
    return n;
}

void sched_describe(char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    pthread_mutex_lock(&S.lock);
    for (int i = 0; i < S.n && len + 1 < size; i++) {
        int w = snprintf(buf + len, size - len, "%sT%d %s: %s%s", len ? "\n" : "", i,
                         S.th[i].name, S.th[i].doing, S.cur == i ? " (has the turn)" : "");
        if (w < 0)
            break;
        len += (size_t)w;
    }
    pthread_mutex_unlock(&S.lock);
    if (len >= size && size > 0)
        buf[size - 1] = '\0';
}

void sched_thread_abandon(int ticket)
{
    pthread_mutex_lock(&S.lock);
    if (S.active && ticket >= 0 && ticket < S.n && S.th[ticket].state == T_RESERVED) {
        S.th[ticket].state = T_ENDED;
        snprintf(S.th[ticket].doing, sizeof S.th[ticket].doing, "never started");
        if (S.cur == ticket)
            give_locked(pick_locked());
    }
    pthread_mutex_unlock(&S.lock);
}
