/* SPDX-License-Identifier: MIT */
/*
 * rundown_bench - what it costs to protect a call into a peer: nanoseconds
 * per acquire + release pair, on 1 thread and on 2 threads working on the
 * SAME object (per-thread cost: a thread's elapsed time / its pairs), for
 *
 *   (a) EX_RUNDOWN_REF           ExAcquire/ExReleaseRundownProtection
 *   (b) cache-aware rundown      Ex*RundownProtectionCacheAware
 *   (c) shared atomic counter    fetch_add / fetch_sub, seq_cst
 *   (d) pthread_rwlock_t         rdlock / unlock
 *   (e) liburcu memb flavour     urcu_memb_read_lock / _unlock (the state
 *                                of the art; inlined, as _LGPL_SOURCE
 *                                users get it; optional at build time)
 *   (f) a call through a dispatch table (a small non-inlined function)
 *       guarded by nmr_guard_enter/leave, and unguarded
 *
 * then the ratios the project's targets are about, from the same run.
 * Every figure is the median of repeated runs, printed with its spread
 * (min..max) in a table and as one machine-readable line:
 * BENCH <name> <value> <unit>.  The threads start together (a barrier) and
 * are pinned to different CPUs when the system lets us.
 *
 * Usage: rundown_bench [--quick] [--reps N] [--pairs N]
 *   --quick  small counts, 3 runs, for `make check` (proves every figure
 *            prints; the numbers mean little)
 */
#define _GNU_SOURCE
#include <netioddk.h>
#include <nmr/guard.h>
#include <nmr/rundown.h>

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef NMR_BENCH_HAVE_URCU
#define _LGPL_SOURCE 1 /* inline read-side, as liburcu's fast users do */
#include <urcu/urcu-memb.h>
#endif

static int quick;
static int reps = 9;
static long pairs = 20000000;

static void fail(const char *what)
{
    fprintf(stderr, "rundown_bench: %s\n", what);
    exit(1);
}

/* ---- timing ------------------------------------------------------------- */

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct result {
    double median, min, max;
} result;

static void report(const char *name, const char *label, result r, const char *unit)
{
    printf("  %-40s %10.2f %-4s (%.2f .. %.2f)\n", label, r.median, unit, r.min, r.max);
    printf("BENCH %s %.2f %s\n", name, r.median, unit);
    fflush(stdout);
}

/* a / b, spread from the extremes of both */
static result ratio(result a, result b)
{
    result r = {a.median / b.median, a.min / b.max, a.max / b.min};
    return r;
}

static void report_ratio(const char *name, const char *label, result r,
                         double target)
{
    report(name, label, r, "x");
    if (target > 0)
        printf("  %-40s %s (target <= %.1fx)\n", "", r.median <= target ? "met" : "MISSED",
               target);
}

/* ---- CPUs --------------------------------------------------------------- */

static int cpus[2];
static int ncpus; /* CPUs we may pin to: 0 (no pinning), 1 or 2 */

static void find_cpus(void)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof(set), &set) != 0)
        return;
    for (int c = 0; c < CPU_SETSIZE && ncpus < 2; c++)
        if (CPU_ISSET(c, &set))
            cpus[ncpus++] = c;
}

static void pin(int index)
{
    if (ncpus == 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus[index % ncpus], &set);
    (void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
}

/* ---- the cases ---------------------------------------------------------- */

/* loop(obj, n, index): n acquire + release pairs by thread number index. */
typedef struct bcase {
    const char *name;  /* BENCH name stem */
    const char *label; /* table label stem */
    void (*loop)(void *obj, long n, int index);
    void (*thread_init)(void);
    void (*thread_fini)(void);
    void *obj;
} bcase;

/* Nothing may move across this: it stands for the protected work. */
#define BODY() __asm__ __volatile__("" ::: "memory")

static EX_RUNDOWN_REF ex_ref __attribute__((aligned(64)));
static struct {
    _Alignas(64) atomic_long v;
    char pad[64 - sizeof(atomic_long)];
} counter;
static struct {
    _Alignas(64) pthread_rwlock_t lock;
} rw;

__attribute__((noinline)) static void loop_ex(void *obj, long n, int index)
{
    (void)index;
    PEX_RUNDOWN_REF r = obj;
    for (long i = 0; i < n; i++) {
        if (!ExAcquireRundownProtection(r))
            fail("ExAcquireRundownProtection failed");
        BODY();
        ExReleaseRundownProtection(r);
    }
}

__attribute__((noinline)) static void loop_cache_aware(void *obj, long n, int index)
{
    (void)index;
    PEX_RUNDOWN_REF_CACHE_AWARE r = obj;
    for (long i = 0; i < n; i++) {
        if (!ExAcquireRundownProtectionCacheAware(r))
            fail("ExAcquireRundownProtectionCacheAware failed");
        BODY();
        ExReleaseRundownProtectionCacheAware(r);
    }
}

__attribute__((noinline)) static void loop_counter(void *obj, long n, int index)
{
    (void)index;
    atomic_long *c = obj;
    for (long i = 0; i < n; i++) {
        atomic_fetch_add_explicit(c, 1, memory_order_seq_cst);
        BODY();
        atomic_fetch_sub_explicit(c, 1, memory_order_seq_cst);
    }
}

__attribute__((noinline)) static void loop_rwlock(void *obj, long n, int index)
{
    (void)index;
    pthread_rwlock_t *l = obj;
    for (long i = 0; i < n; i++) {
        if (pthread_rwlock_rdlock(l) != 0)
            fail("pthread_rwlock_rdlock failed");
        BODY();
        pthread_rwlock_unlock(l);
    }
}

#ifdef NMR_BENCH_HAVE_URCU
__attribute__((noinline)) static void loop_urcu(void *obj, long n, int index)
{
    (void)obj;
    (void)index;
    for (long i = 0; i < n; i++) {
        urcu_memb_read_lock();
        BODY();
        urcu_memb_read_unlock();
    }
}

static void urcu_init(void)
{
    urcu_memb_register_thread();
}

static void urcu_fini(void)
{
    urcu_memb_unregister_thread();
}
#endif

/* (f): a dispatch table with one small operation, as a client calls its
 * provider: load the table, call through it.  The table pointer is read
 * through a volatile so the compiler cannot see the target. */
typedef struct call_ctx {
    _Alignas(64) long acc;
    char pad[64 - sizeof(long)];
} call_ctx;

typedef struct dispatch {
    long (*op)(call_ctx *ctx, long x);
} dispatch;

__attribute__((noinline)) static long op_add(call_ctx *ctx, long x)
{
    ctx->acc += x;
    return ctx->acc;
}

static const dispatch table = {op_add};
static const dispatch *volatile table_ptr = &table;
static call_ctx call_ctxs[2]; /* one per thread: no sharing in the work */
static nmr_guard guard;

__attribute__((noinline)) static void loop_call(void *obj, long n, int index)
{
    (void)obj;
    call_ctx *ctx = &call_ctxs[index];
    for (long i = 0; i < n; i++) {
        const dispatch *d = table_ptr;
        d->op(ctx, i);
    }
}

__attribute__((noinline)) static void loop_guarded_call(void *obj, long n, int index)
{
    nmr_guard *g = obj;
    call_ctx *ctx = &call_ctxs[index];
    for (long i = 0; i < n; i++) {
        const dispatch *d = table_ptr;
        if (!nmr_guard_enter(g))
            fail("nmr_guard_enter failed");
        d->op(ctx, i);
        nmr_guard_leave(g);
    }
}

/* ---- the runner --------------------------------------------------------- */

typedef struct run {
    const bcase *c;
    int threads;
    long n;
    pthread_barrier_t start;
    double elapsed[2];
} run;

typedef struct run_arg {
    run *r;
    int index;
} run_arg;

static void *run_thread(void *p)
{
    run_arg *a = p;
    run *r = a->r;
    pin(a->index);
    if (r->c->thread_init)
        r->c->thread_init();
    pthread_barrier_wait(&r->start);
    double t0 = now_ns();
    r->c->loop(r->c->obj, r->n, a->index);
    r->elapsed[a->index] = now_ns() - t0;
    if (r->c->thread_fini)
        r->c->thread_fini();
    return NULL;
}

/* One run: ns per pair per thread (the slowest thread's elapsed time). */
static double run_once(const bcase *c, int threads)
{
    run r = {.c = c, .threads = threads, .n = pairs};
    pthread_t t[2];
    run_arg a[2];
    if (pthread_barrier_init(&r.start, NULL, (unsigned)threads) != 0)
        fail("pthread_barrier_init failed");
    for (int i = 0; i < threads; i++) {
        a[i] = (run_arg){&r, i};
        if (pthread_create(&t[i], NULL, run_thread, &a[i]) != 0)
            fail("pthread_create failed");
    }
    double longest = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(t[i], NULL);
        if (r.elapsed[i] > longest)
            longest = r.elapsed[i];
    }
    pthread_barrier_destroy(&r.start);
    return longest / (double)pairs;
}

static result measure(const bcase *c, int threads)
{
    double v[64];
    int n = reps < 64 ? reps : 64;
    run_once(c, threads); /* warm-up */
    for (int i = 0; i < n; i++)
        v[i] = run_once(c, threads);
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    result r = {v[n / 2], v[0], v[n - 1]};
    return r;
}

/* Both thread counts of one case, reported; results in out[0], out[1]. */
static void bench_case(const bcase *c, result out[2])
{
    char name[96], label[96];
    for (int t = 1; t <= 2; t++) {
        out[t - 1] = measure(c, t);
        snprintf(name, sizeof name, "%s_%dt", c->name, t);
        snprintf(label, sizeof label, "%s, %d thread%s", c->label, t, t > 1 ? "s" : "");
        report(name, label, out[t - 1], "ns");
    }
}

int main(int argc, char **argv)
{
    int pairs_given = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 63) {
                fprintf(stderr, "rundown_bench: --reps takes 1..63\n");
                return 2;
            }
        } else if (strcmp(argv[i], "--pairs") == 0 && i + 1 < argc) {
            pairs = atol(argv[++i]);
            pairs_given = 1;
            if (pairs < 1) {
                fprintf(stderr, "rundown_bench: --pairs takes a positive count\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: rundown_bench [--quick] [--reps N] [--pairs N]\n");
            return 2;
        }
    }
    if (quick) {
        reps = 3;
        if (!pairs_given)
            pairs = 200000;
    }

    find_cpus();
    ExInitializeRundownProtection(&ex_ref);
    PEX_RUNDOWN_REF_CACHE_AWARE ca = ExAllocateCacheAwareRundownProtection(NonPagedPoolNx, 0);
    if (ca == NULL)
        fail("ExAllocateCacheAwareRundownProtection failed");
    atomic_init(&counter.v, 0);
    if (pthread_rwlock_init(&rw.lock, NULL) != 0)
        fail("pthread_rwlock_init failed");
    if (nmr_guard_init(&guard, NULL, NMR_GUARD_CLIENT) != STATUS_SUCCESS)
        fail("nmr_guard_init failed");

    printf("rundown_bench: ns per acquire+release pair (per thread), medians of %d "
           "runs of %ld pairs, spread (min .. max)%s\n",
           reps, pairs, quick ? ", quick mode" : "");
    if (ncpus >= 2)
        printf("  threads pinned to CPUs %d and %d\n", cpus[0], cpus[1]);
    else if (ncpus == 1)
        printf("  one CPU available: both threads on CPU %d\n", cpus[0]);
    else
        printf("  threads not pinned\n");
    printf("  cache-aware readers: %s\n",
           nmr_rundown_asymmetric ? "no fence (the drainer uses membarrier)"
                                  : "full fence (membarrier unavailable)");
#ifdef NMR_BENCH_HAVE_URCU
    printf("  liburcu memb readers: %s\n",
           urcu_memb_has_sys_membarrier ? "no fence (sys_membarrier)"
                                        : "full fence (sys_membarrier unavailable)");
#endif

    const bcase ex_case = {"rd_ex_rundown_ref", "(a) EX_RUNDOWN_REF", loop_ex, NULL, NULL,
                           &ex_ref};
    const bcase ca_case = {"rd_cache_aware", "(b) cache-aware rundown", loop_cache_aware,
                           NULL, NULL, ca};
    const bcase ctr_case = {"rd_atomic_counter", "(c) shared atomic counter",
                            loop_counter, NULL, NULL, &counter.v};
    const bcase rw_case = {"rd_rwlock_read", "(d) pthread_rwlock rdlock", loop_rwlock,
                           NULL, NULL, &rw.lock};
    result ex[2], cached[2], ctr[2], rwl[2];
    bench_case(&ex_case, ex);
    bench_case(&ca_case, cached);
    bench_case(&ctr_case, ctr);
    bench_case(&rw_case, rwl);
#ifdef NMR_BENCH_HAVE_URCU
    const bcase urcu_case = {"rd_urcu_memb", "(e) liburcu memb read lock", loop_urcu,
                             urcu_init, urcu_fini, NULL};
    result urcu[2];
    bench_case(&urcu_case, urcu);
#else
    printf("  %-40s liburcu: SKIPPED (liburcu-dev not installed)\n",
           "(e) liburcu memb read lock");
#endif

    printf("(f) a call through a dispatch table, ns per call (per thread)\n");
    const bcase call_case = {"call_unguarded", "unguarded call", loop_call, NULL, NULL,
                             NULL};
    const bcase gcall_case = {"call_guarded", "nmr_guard_enter/leave + call",
                              loop_guarded_call, NULL, NULL, &guard};
    result call[2], gcall[2];
    bench_case(&call_case, call);
    bench_case(&gcall_case, gcall);
    result overhead = {gcall[0].median - call[0].median, gcall[0].min - call[0].max,
                       gcall[0].max - call[0].min};
    report("call_guard_overhead_1t", "guard overhead per call, 1 thread", overhead, "ns");

    printf("ratios (medians of this run; spread from the extremes)\n");
#ifdef NMR_BENCH_HAVE_URCU
    report_ratio("ratio_cache_aware_over_urcu_1t", "cache-aware / liburcu, 1 thread",
                 ratio(cached[0], urcu[0]), 2.0);
#else
    printf("  %-40s liburcu: SKIPPED (liburcu-dev not installed)\n",
           "cache-aware / liburcu, 1 thread");
#endif
    report_ratio("ratio_cache_aware_2t_over_1t", "cache-aware 2 threads / 1 thread",
                 ratio(cached[1], cached[0]), 1.3);
    report_ratio("ratio_ex_rundown_ref_2t_over_1t", "EX_RUNDOWN_REF 2 threads / 1 thread",
                 ratio(ex[1], ex[0]), 0);
    report_ratio("ratio_atomic_counter_2t_over_1t", "shared counter 2 threads / 1 thread",
                 ratio(ctr[1], ctr[0]), 0);
    report_ratio("ratio_rwlock_2t_over_1t", "rwlock 2 threads / 1 thread",
                 ratio(rwl[1], rwl[0]), 0);
#ifdef NMR_BENCH_HAVE_URCU
    report_ratio("ratio_urcu_2t_over_1t", "liburcu 2 threads / 1 thread",
                 ratio(urcu[1], urcu[0]), 0);
#endif
    report_ratio("ratio_guarded_over_unguarded_1t", "guarded / unguarded call, 1 thread",
                 ratio(gcall[0], call[0]), 0);
    report_ratio("ratio_guarded_over_unguarded_2t", "guarded / unguarded call, 2 threads",
                 ratio(gcall[1], call[1]), 0);

    nmr_guard_destroy(&guard);
    pthread_rwlock_destroy(&rw.lock);
    ExFreeCacheAwareRundownProtection(ca);
    return 0;
}
