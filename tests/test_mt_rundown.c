/* SPDX-License-Identifier: MIT */
/*
 * test_mt_rundown.c - the cache-aware rundown (nmr/rundown.h) under real
 * concurrency: drains and waits racing with references taken and released
 * on other threads.
 *
 * Rules checked (nmr/rundown.h):
 *   D1  the drain callback runs exactly once per drain;
 *   D2  ... only after the last release: every worker marks itself
 *       "inside" while it holds a reference, the callback checks that no
 *       one is inside;
 *   D3  STATUS_SUCCESS <=> the callback ran inline (inline_call TRUE, on
 *       the draining thread); STATUS_PENDING => it runs on a releasing
 *       thread with inline_call FALSE;
 *   D4  acquires fail once the drain has returned (an acquire that started
 *       after the drain returned must fail);
 *   D5  the callback may free the object; a waiter may free it as soon as
 *       the wait returns (ASan / TSan report any later touch);
 *   D6  ExWaitForRundownProtectionReleaseCacheAware returns only after
 *       every reference was released;
 *   D7  all of this also holds when threads share the overflow counter
 *       (more threads than slots: a 1-slot object on caller memory),
 *       when threads are pinned to different CPUs or migrate between CPUs
 *       while holding a reference, when a reference is taken on one thread
 *       and released on another, and when threads exit and new threads
 *       reuse their slots.
 *
 * Environment: see mt_harness.h (NMR_TEST_ITERS, NMR_TEST_SEED, ...).
 */
#define _GNU_SOURCE
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "mt_harness.h"

#include <nmr/rundown.h>

#include <sched.h>
#include <stddef.h>
#include <unistd.h>

/* ---- CPUs ------------------------------------------------------------------ */

static int g_cpus[64];
static int g_ncpus;

static void cpus_init(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return;
    for (int i = 0; i < CPU_SETSIZE && g_ncpus < 64; i++)
        if (CPU_ISSET(i, &set))
            g_cpus[g_ncpus++] = i;
}

/* Pin the calling thread to the k-th allowed CPU (thread API for one call,
 * process API for the other: both must work). */
static void pin_to(int k, int use_sched)
{
    if (g_ncpus < 1)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(g_cpus[((k % g_ncpus) + g_ncpus) % g_ncpus], &set);
    if (use_sched)
        (void)sched_setaffinity(0, sizeof(set), &set); /* 0: this thread */
    else
        (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static _Thread_local int tl_home = -1;
static _Thread_local int tl_cpu_k;

/* Move to another allowed CPU (if there is one): the reference taken on
 * the old CPU is released on the new one. */
static void migrate(void)
{
    if (g_ncpus < 2)
        return;
    tl_cpu_k++;
    pin_to(tl_cpu_k, mt_chance(50));
}

static void go_home(void)
{
    if (tl_home >= 0 && tl_cpu_k != tl_home) {
        tl_cpu_k = tl_home;
        pin_to(tl_home, 0);
    }
}

/* ---- one iteration's object and bookkeeping --------------------------------- */

enum { OBJ_ALLOC = 0, OBJ_ONE_SLOT = 1, OBJ_NO_SLOT = 2, OBJ_CALLER = 3 };
enum { MODE_HOLD = 0, MODE_RANDOM = 1, MODE_IDLE = 2 };

#define MAXW 12

static struct {
    PEX_RUNDOWN_REF_CACHE_AWARE obj;
    int kind;
    int mode;
    int use_wait; /* blocking wait instead of drain */
    int handoff;  /* even workers hand their reference to the next one */
    int migrate_pct;
    int nworkers;
    mt_sbar bar;
    atomic_int inside;   /* references marked as held (D2) */
    atomic_int fired;    /* callback calls (D1) */
    atomic_int fired_inline;
    atomic_int fire_tid;
    atomic_long drain_ret_seq; /* mt_seq() after the drain/wait returned */
    atomic_int mailbox[MAXW];
    atomic_long acquires_ok, acquires_failed;
} G;

static size_t obj_size(int kind)
{
    size_t head = offsetof(EX_RUNDOWN_REF_CACHE_AWARE, slots);
    switch (kind) {
    case OBJ_ONE_SLOT:
        return head + sizeof(nmr_rundown_slot);
    case OBJ_NO_SLOT:
        return head;
    default:
        return ExSizeOfRundownProtectionCacheAware();
    }
}

static PEX_RUNDOWN_REF_CACHE_AWARE obj_new(int kind)
{
    if (kind == OBJ_ALLOC) {
        PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPoolNx, 0);
        CHECK(r != NULL);
        return r;
    }
    size_t sz = obj_size(kind);
    void *p = aligned_alloc(64, (sz + 63) & ~(size_t)63);
    CHECK(p != NULL);
    ExInitializeRundownProtectionCacheAware(p, sz);
    return p;
}

static void obj_free(PEX_RUNDOWN_REF_CACHE_AWARE r, int kind)
{
    if (kind == OBJ_ALLOC)
        ExFreeCacheAwareRundownProtection(r);
    else
        free(r);
}

/* The drain callback: D1, D2, then D5 (frees the object). */
static void on_drained(void *context, BOOLEAN inline_call)
{
    PEX_RUNDOWN_REF_CACHE_AWARE r = context;
    MT_CHECK(atomic_fetch_add(&G.fired, 1) == 0, "D1: drain callback ran twice");
    MT_CHECK(atomic_load(&G.inside) == 0,
             "D2: drain callback ran while a reference was still held");
    atomic_store(&G.fired_inline, inline_call ? 1 : 0);
    atomic_store(&G.fire_tid, mt_tid());
    obj_free(r, G.kind); /* D5: nothing may touch r from now on */
}

static void hold_spin(void)
{
    if (mt_chance(G.migrate_pct))
        migrate();
    else
        mt_spin(200);
}

/* Take one reference on r, which the caller already protects (it holds a
 * reference itself, so r cannot be freed under it).  D4: an acquire that
 * started after the drain returned must fail. */
static int try_inner(PEX_RUNDOWN_REF_CACHE_AWARE r)
{
    long pre = mt_seq();
    ULONG n = 1 + (mt_rand() % 3 == 0);
    BOOLEAN ok = n == 1 ? ExAcquireRundownProtectionCacheAware(r)
                        : ExAcquireRundownProtectionCacheAwareEx(r, n);
    if (!ok) {
        atomic_fetch_add(&G.acquires_failed, 1);
        return 0;
    }
    long dr = atomic_load(&G.drain_ret_seq);
    MT_CHECK(dr == 0 || pre < dr, "D4: acquire succeeded after the drain returned");
    atomic_fetch_add(&G.acquires_ok, 1);
    atomic_fetch_add(&G.inside, (int)n);
    hold_spin();
    atomic_fetch_sub(&G.inside, (int)n);
    if (n == 1)
        ExReleaseRundownProtectionCacheAware(r);
    else
        ExReleaseRundownProtectionCacheAwareEx(r, n);
    return 1;
}

/* ---- cases 1-4: a team of workers, one drain or wait per iteration --------- */

static void worker(mt_team *t, int w)
{
    (void)t;
    if (tl_home < 0) {
        tl_home = w;
        tl_cpu_k = w;
        pin_to(w, w & 1);
    }
    go_home();
    PEX_RUNDOWN_REF_CACHE_AWARE r = G.obj;
    /* the outer reference: keeps r alive while this worker uses it */
    MT_CHECK(ExAcquireRundownProtectionCacheAware(r), "acquire before any rundown");
    atomic_fetch_add(&G.inside, 1);
    mt_sbar_wait(&G.bar);
    int calls;
    switch (G.mode) {
    case MODE_HOLD:
        calls = 1 << 30; /* until an acquire fails */
        break;
    case MODE_IDLE:
        calls = (int)(mt_rand() % 4);
        break;
    default:
        calls = mt_chance(30) ? 0 : (int)(mt_rand() % 40);
        break;
    }
    for (int i = 0; i < calls; i++)
        if (!try_inner(r))
            break;
    int give = G.handoff && (w % 2) == 0 && w + 1 < G.nworkers;
    int take = G.handoff && (w % 2) == 1;
    if (mt_chance(G.migrate_pct))
        migrate(); /* the outer reference moves to another CPU */
    if (give) {
        atomic_store(&G.mailbox[w + 1], 1); /* w+1 releases it */
    } else {
        atomic_fetch_sub(&G.inside, 1);
        ExReleaseRundownProtectionCacheAware(r);
    }
    if (take) {
        while (atomic_load(&G.mailbox[w]) == 0)
            sched_yield();
        atomic_store(&G.mailbox[w], 0);
        atomic_fetch_sub(&G.inside, 1);
        ExReleaseRundownProtectionCacheAware(r); /* acquired by w-1 */
    }
    /* r may be gone now: not touched again */
    if (G.mode == MODE_IDLE)
        mt_sbar_wait(&G.bar);
}

static double case_budget(void)
{
    if (mt_env_long("NMR_TEST_ITERS", 0) > 0)
        return 1e9;
    return (double)mt_env_long("NMR_TEST_BUDGET_MS", MT_TSAN ? 6000 : 1300) / 1000.0;
}

static void team_case(const char *name, int nworkers, int use_wait, int kind_a, int kind_b)
{
    mt_team t;
    mt_loop l;
    G.nworkers = nworkers;
    G.use_wait = use_wait;
    mt_team_start(&t, nworkers, worker, NULL);
    long n_pending = 0, n_success = 0, n_remote = 0;
    for (mt_loop_init(&l, name, 40000), l.budget = case_budget(); mt_loop_next(&l);) {
        G.kind = (l.i & 1) ? kind_a : kind_b;
        G.obj = obj_new(G.kind);
        G.mode = (int)(mt_rand() % 3);
        G.handoff = mt_chance(40);
        G.migrate_pct = mt_chance(30) ? 10 : 0;
        atomic_store(&G.inside, 0);
        atomic_store(&G.fired, 0);
        atomic_store(&G.fired_inline, -1);
        atomic_store(&G.fire_tid, 0);
        atomic_store(&G.drain_ret_seq, 0);
        mt_sbar_init(&G.bar, nworkers + 1);
        PEX_RUNDOWN_REF_CACHE_AWARE r = G.obj;
        int kind = G.kind;

        pthread_barrier_wait(&t.start);
        mt_sbar_wait(&G.bar); /* every worker holds its outer reference */
        if (G.mode == MODE_IDLE)
            mt_sbar_wait(&G.bar); /* ... and has released everything */
        else
            mt_jitter(3000);
        if (use_wait) {
            ExWaitForRundownProtectionReleaseCacheAware(r);
            atomic_store(&G.drain_ret_seq, mt_seq());
            /* D6: no one holds a reference any more */
            MT_CHECK(atomic_load(&G.inside) == 0,
                     "D6: wait returned while a reference was held");
            obj_free(r, kind); /* D5: the waiter frees at once */
        } else {
            NTSTATUS s = nmr_rundown_drain(r, on_drained, r);
            atomic_store(&G.drain_ret_seq, mt_seq());
            /* r may be freed already: not touched again */
            if (s == STATUS_SUCCESS) {
                n_success++;
                MT_CHECK(atomic_load(&G.fired) == 1, "D3: SUCCESS but callback not run");
                MT_CHECK(atomic_load(&G.fired_inline) == 1, "D3: SUCCESS but inline_call FALSE");
                MT_CHECK(atomic_load(&G.fire_tid) == mt_tid(),
                         "D3: SUCCESS but callback ran on another thread");
            } else {
                MT_CHECK_STATUS(s, STATUS_PENDING, "D3: drain returns SUCCESS or PENDING");
                n_pending++;
                MT_CHECK(G.mode != MODE_IDLE, "D3: PENDING although nothing was held");
            }
            /* (MODE_HOLD may still give SUCCESS: the workers see their
             * acquires fail once the drain started and may release
             * everything before the drain sums the counters.) */
        }
        pthread_barrier_wait(&t.end);
        if (!use_wait) {
            MT_CHECK(atomic_load(&G.fired) == 1, "D1: drain callback never ran");
            if (atomic_load(&G.fired_inline) == 0) {
                n_remote++;
                MT_CHECK(atomic_load(&G.fire_tid) != mt_tid(),
                         "D3: inline_call FALSE on the draining thread");
            }
        }
    }
    mt_team_stop(&t);
    fprintf(stderr, "   %s: %ld pending (%ld fired by a release), %ld inline; "
                    "%ld inner acquires ok, %ld failed\n",
            name, n_pending, n_remote, n_success, atomic_load(&G.acquires_ok),
            atomic_load(&G.acquires_failed));
    atomic_store(&G.acquires_ok, 0);
    atomic_store(&G.acquires_failed, 0);
}

/* ---- case 5: threads that exit, new threads that reuse their slots ---------- */

typedef struct churn_arg {
    PEX_RUNDOWN_REF_CACHE_AWARE r;
    ULONG count;
    int release; /* 0: acquire and exit holding it; 1: release and exit */
    mt_sbar *bar;
} churn_arg;

static void *churn_main(void *p)
{
    churn_arg *a = p;
    pin_to((int)(mt_rand() % 64), mt_chance(50));
    if (!a->release) {
        BOOLEAN ok = a->count == 1 ? ExAcquireRundownProtectionCacheAware(a->r)
                                   : ExAcquireRundownProtectionCacheAwareEx(a->r, a->count);
        MT_CHECK(ok, "acquire before any rundown");
        atomic_fetch_add(&G.inside, (int)a->count);
        return NULL; /* exits holding the reference: its slot is reused */
    }
    mt_sbar_wait(a->bar);
    mt_jitter(2000);
    atomic_fetch_sub(&G.inside, (int)a->count);
    if (a->count == 1)
        ExReleaseRundownProtectionCacheAware(a->r);
    else
        ExReleaseRundownProtectionCacheAwareEx(a->r, a->count);
    return NULL;
}

static void churn_case(void)
{
    mt_loop l;
    long n_pending = 0;
    for (mt_loop_init(&l, "thread_churn", 20000), l.budget = case_budget(); mt_loop_next(&l);) {
        int kind = (int)(l.i % 3); /* allocated, 1 slot, 0 slots */
        G.kind = kind;
        PEX_RUNDOWN_REF_CACHE_AWARE r = obj_new(kind);
        atomic_store(&G.inside, 0);
        atomic_store(&G.fired, 0);
        atomic_store(&G.fired_inline, -1);
        int n = 1 + (int)(mt_rand() % 4);
        churn_arg acq[4], rel[4];
        pthread_t th[4];
        long total = 0;
        for (int i = 0; i < n; i++) {
            acq[i] = (churn_arg){r, 1 + mt_rand() % 2, 0, NULL};
            total += acq[i].count;
            CHECK(pthread_create(&th[i], NULL, churn_main, &acq[i]) == 0);
        }
        for (int i = 0; i < n; i++)
            CHECK(pthread_join(th[i], NULL) == 0);
        /* the counters of exited threads still count */
        MT_CHECK(nmr_rundown_references(r) == total,
                 "D7: references of exited threads lost");
        mt_sbar bar;
        mt_sbar_init(&bar, n + 1);
        for (int i = 0; i < n; i++) {
            rel[i] = (churn_arg){r, acq[i].count, 1, &bar};
            CHECK(pthread_create(&th[i], NULL, churn_main, &rel[i]) == 0);
        }
        mt_sbar_wait(&bar);
        mt_jitter(2000);
        NTSTATUS s = nmr_rundown_drain(r, on_drained, r);
        if (s == STATUS_PENDING)
            n_pending++;
        else
            MT_CHECK_STATUS(s, STATUS_SUCCESS, "D3: drain returns SUCCESS or PENDING");
        for (int i = 0; i < n; i++)
            CHECK(pthread_join(th[i], NULL) == 0);
        MT_CHECK(atomic_load(&G.fired) == 1, "D1: drain callback never ran");
        MT_CHECK(atomic_load(&G.fired_inline) == (s == STATUS_SUCCESS),
                 "D3: inline_call matches the status");
    }
    fprintf(stderr, "   thread_churn: %ld pending\n", n_pending);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static int nw_default(void) { return g_ncpus > 1 ? 3 : 2; }

/* D1-D5 with per-thread slots (and caller memory) */
static void drain_slots(void) { team_case("drain_slots", nw_default(), 0, OBJ_ALLOC, OBJ_CALLER); }
/* D7: more threads than slots: 1-slot and 0-slot objects */
static void drain_overflow(void) { team_case("drain_overflow", 5, 0, OBJ_ONE_SLOT, OBJ_NO_SLOT); }
/* D5, D6: the blocking wait, object freed right after it returns */
static void wait_slots(void) { team_case("wait_slots", nw_default(), 1, OBJ_ALLOC, OBJ_CALLER); }
static void wait_overflow(void) { team_case("wait_overflow", 5, 1, OBJ_ONE_SLOT, OBJ_NO_SLOT); }
/* D7: threads exit holding references, new threads release them */
static void thread_churn(void) { churn_case(); }

static void setup(void)
{
    mt_init("test_mt_rundown");
    cpus_init();
    fprintf(stderr, "   %d allowed CPUs, %zu-byte objects (%zu slots)\n", g_ncpus,
            (size_t)ExSizeOfRundownProtectionCacheAware(),
            ((size_t)ExSizeOfRundownProtectionCacheAware() -
             offsetof(EX_RUNDOWN_REF_CACHE_AWARE, slots)) / sizeof(nmr_rundown_slot));
}

static const nmr_test_case cases[] = {
    CASE(drain_slots, ""),
    CASE(drain_overflow, ""),
    CASE(wait_slots, ""),
    CASE(wait_overflow, ""),
    CASE(thread_churn, ""),
};

NMR_TEST_SUITE(test_mt_rundown, cases, setup, NULL, NULL);
