/* SPDX-License-Identifier: MIT */
/*
 * nmrbench - how much the registrar's operations cost, and how the cost
 * grows with the number of modules.  Every figure is the median of
 * repeated runs, printed with its spread (min..max) in a table and as one
 * machine-readable line: BENCH <name> <value> <unit>.
 *
 *   W1 lone cycle      register + deregister + wait, no peer
 *   W2 bind cycle      one provider present; a client registers (offer,
 *                      both attach), deregisters (both detach, cleanups),
 *                      waits.  Each attach callback mallocs its 96-byte
 *                      binding context and each cleanup frees it, as a
 *                      real module does (and as the reference benchmark
 *                      of issue 14 does).
 *   W3 unrelated scale W1 and W2 with 0, 1k, 10k, 100k registrations of
 *                      other NPIs present
 *   W4 fan-out         one provider registers against K clients and
 *                      deregisters; ns per binding
 *   W5 parallel churn  W2 on 1 and 2 threads, each on its own NPI
 *   W6 memory          bytes allocated per registration and per binding
 *
 *   W7 tracing         W2 with a trace hook installed (one that does
 *                      nothing) against none: the price of listening.
 *                      The price of the event sites when nobody listens
 *                      is measured by bench/trace_overhead.sh, which runs
 *                      --core on this program and on nmrbench_notrace (the
 *                      same code on a library built with the sites
 *                      compiled out), alternately.
 *
 * Wall-clock time on a shared virtual machine moves by 2x between runs, so
 * the same run also measures what a cycle cannot avoid, and prints the
 * workloads as ratios to it (docs/performance.md, "Measuring the new
 * way"):
 *
 *   primitives         malloc + free of 96 bytes, a pthread mutex
 *                      lock + unlock pair, an indirect call (through a
 *                      volatile function pointer), and the machine's
 *                      two-thread speedup on pure integer computation
 *                      (threads created and timed as W5's are)
 *   floors             W1 over 1 malloc+free + 2 mutex pairs; W2 over
 *                      4 malloc+free + 5 mutex pairs + 6 indirect calls
 *   efficiency         W5's 2-thread over 1-thread speedup divided by the
 *                      machine's, the two measured in turn in each run
 *
 * --instructions runs W1, W2 and W4 (K = 1000) again under valgrind's
 * callgrind, each in a child process of this program: warm-up cycles,
 * then a fixed number of cycles inside a function of their own (not
 * inlined) whose instructions alone callgrind counts (--toggle-collect);
 * it prints instructions per cycle (per binding for W4).  Instruction
 * counts are deterministic; without valgrind on PATH it says SKIPPED and
 * exits 0.
 *
 * Usage: nmrbench [--quick] [--core] [--reps N]
 *        nmrbench --instructions [--quick]
 *   --quick         small counts, for `make check` (proves every figure
 *                   prints)
 *   --core          only W1 and W2 with nothing else registered
 *   --instructions  instructions per cycle under callgrind (valgrind from
 *                   $NMRBENCH_VALGRIND, else from PATH)
 *   --callgrind-child W1|W2|W4 CYCLES WARMUP
 *                   internal: what --instructions runs under valgrind
 */
#define _GNU_SOURCE
#include <netioddk.h>

#include "alloc.h"
#include "handle.h"

#include <nmr/trace.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* A sanitizer build cannot run under valgrind (--instructions skips). */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define NMRBENCH_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define NMRBENCH_SANITIZED 1
#endif
#endif

/* The functions callgrind collects in (--toggle-collect=NAME) must keep
 * their names: not inlined, not cloned into NAME.constprop.0. */
#if defined(__clang__)
#define NMRBENCH_COLLECTED __attribute__((noinline, used))
#else
#define NMRBENCH_COLLECTED __attribute__((noinline, noclone, used))
#endif

static int quick;
static int reps = 9;

/* ---- a minimal NPI module pair ----------------------------------------- */

static const NPI_MODULEID module_id = {sizeof(NPI_MODULEID), MIT_GUID,
                                       {{0x6e6d7262, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}}}};
static const int dispatch_table[1];

/* The binding contexts: 96 bytes from malloc, freed by the cleanups. */
enum { CONTEXT_BYTES = 96 };

static NTSTATUS client_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    (void)ctx;
    (void)pri;
    PVOID pctx;
    const VOID *pdisp;
    void *mine = malloc(CONTEXT_BYTES);
    if (mine == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    NTSTATUS s = NmrClientAttachProvider(b, mine, dispatch_table, &pctx, &pdisp);
    if (s != STATUS_SUCCESS)
        free(mine);
    return s;
}

static NTSTATUS provider_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                                PVOID cctx, const VOID *cdisp, PVOID *pctx,
                                const VOID **pdisp)
{
    (void)b;
    (void)ctx;
    (void)cri;
    (void)cctx;
    (void)cdisp;
    *pctx = malloc(CONTEXT_BYTES);
    if (*pctx == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    *pdisp = dispatch_table;
    return STATUS_SUCCESS;
}

static NTSTATUS detach(PVOID ctx)
{
    (void)ctx;
    return STATUS_SUCCESS;
}

static void cleanup(PVOID ctx)
{
    free(ctx);
}

typedef struct module {
    NPIID npi;
    NPI_CLIENT_CHARACTERISTICS client;
    NPI_PROVIDER_CHARACTERISTICS provider;
} module;

static void module_init(module *m, uint32_t npi_number)
{
    memset(m, 0, sizeof(*m));
    m->npi.Data1 = npi_number;
    m->npi.Data2 = 0x4e50;
    m->npi.Data3 = 0x4949;
    memcpy(m->npi.Data4, "nmrbench", 8);
    NPI_REGISTRATION_INSTANCE ri = {0, sizeof(NPI_REGISTRATION_INSTANCE),
                                    &m->npi, &module_id, 0, NULL};
    m->client = (NPI_CLIENT_CHARACTERISTICS){0, sizeof(m->client), client_attach,
                                              detach, cleanup, ri};
    m->provider = (NPI_PROVIDER_CHARACTERISTICS){0, sizeof(m->provider),
                                                  provider_attach, detach, cleanup, ri};
}

static void must(NTSTATUS s, NTSTATUS want, const char *what)
{
    if (s != want) {
        fprintf(stderr, "nmrbench: %s returned 0x%08x, expected 0x%08x\n", what,
                (unsigned)s, (unsigned)want);
        exit(1);
    }
}

static HANDLE reg_client(module *m)
{
    HANDLE h;
    must(NmrRegisterClient(&m->client, NULL, &h), STATUS_SUCCESS, "NmrRegisterClient");
    return h;
}

static HANDLE reg_provider(module *m)
{
    HANDLE h;
    must(NmrRegisterProvider(&m->provider, NULL, &h), STATUS_SUCCESS,
         "NmrRegisterProvider");
    return h;
}

static void end_client(HANDLE h)
{
    must(NmrDeregisterClient(h), STATUS_PENDING, "NmrDeregisterClient");
    must(NmrWaitForClientDeregisterComplete(h), STATUS_SUCCESS,
         "NmrWaitForClientDeregisterComplete");
}

static void end_provider(HANDLE h)
{
    must(NmrDeregisterProvider(h), STATUS_PENDING, "NmrDeregisterProvider");
    must(NmrWaitForProviderDeregisterComplete(h), STATUS_SUCCESS,
         "NmrWaitForProviderDeregisterComplete");
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

/* The median and spread of n figures (sorts v). */
static result summarise(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    result r = {v[n / 2], v[0], v[n - 1]};
    return r;
}

/* Run fn reps times; each run returns a figure; keep median and spread. */
static result measure(double (*fn)(void *), void *arg)
{
    double v[64];
    int n = reps < 64 ? reps : 64;
    fn(arg); /* warm-up */
    for (int i = 0; i < n; i++)
        v[i] = fn(arg);
    return summarise(v, n);
}

/* Ratios ("x") and efficiencies ("ratio") get two decimals, the rest one. */
static void report(const char *name, const char *label, result r, const char *unit)
{
    int prec = strcmp(unit, "x") == 0 || strcmp(unit, "ratio") == 0 ? 2 : 1;
    printf("  %-34s %12.*f %-8s (%.*f .. %.*f)\n", label, prec, r.median, unit, prec,
           r.min, prec, r.max);
    printf("BENCH %s %.*f %s\n", name, prec, r.median, unit);
    fflush(stdout);
}

/* a / b, with the spread of the quotient from the spreads of both. */
static result quotient(result a, result b)
{
    result q = {a.median / b.median, a.min / b.max, a.max / b.min};
    return q;
}

/* ---- primitives --------------------------------------------------------- */

static long prim_iterations(long full)
{
    return quick ? full / 100 : full;
}

static void *volatile prim_pointer;
static volatile unsigned prim_sink;

static double prim_malloc_free_run(void *arg)
{
    (void)arg;
    long n = prim_iterations(2000000);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        prim_pointer = malloc(CONTEXT_BYTES);
        free(prim_pointer);
    }
    return (now_ns() - t0) / (double)n;
}

static pthread_mutex_t prim_mutex = PTHREAD_MUTEX_INITIALIZER;

static double prim_mutex_run(void *arg)
{
    (void)arg;
    long n = prim_iterations(4000000);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        pthread_mutex_lock(&prim_mutex);
        pthread_mutex_unlock(&prim_mutex);
    }
    return (now_ns() - t0) / (double)n;
}

static unsigned prim_callee(unsigned x)
{
    return x * 2654435761u + 1;
}

/* volatile: the compiler must load the pointer and call through it. */
static unsigned (*volatile prim_indirect)(unsigned) = prim_callee;

static double prim_indirect_run(void *arg)
{
    (void)arg;
    long n = prim_iterations(20000000);
    unsigned acc = 1;
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        acc = prim_indirect(acc);
    double t = now_ns() - t0;
    prim_sink = acc;
    return t / (double)n;
}

typedef struct primitives {
    result malloc_free, mutex_pair, indirect_call;
} primitives;

static primitives measure_primitives(void)
{
    primitives p;
    p.malloc_free = measure(prim_malloc_free_run, NULL);
    p.mutex_pair = measure(prim_mutex_run, NULL);
    p.indirect_call = measure(prim_indirect_run, NULL);
    report("prim_malloc_free_96", "malloc + free, 96 B", p.malloc_free, "ns");
    report("prim_mutex_pair", "mutex lock + unlock", p.mutex_pair, "ns");
    report("prim_indirect_call", "indirect call", p.indirect_call, "ns");
    return p;
}

/* A workload's floor: so many of each primitive; its spread from theirs. */
static result floor_of(const primitives *p, int mallocs, int mutexes, int calls)
{
    result f;
    f.median = mallocs * p->malloc_free.median + mutexes * p->mutex_pair.median +
               calls * p->indirect_call.median;
    f.min = mallocs * p->malloc_free.min + mutexes * p->mutex_pair.min +
            calls * p->indirect_call.min;
    f.max = mallocs * p->malloc_free.max + mutexes * p->mutex_pair.max +
            calls * p->indirect_call.max;
    return f;
}

/* ---- workloads ---------------------------------------------------------- */

static long cycles(long full)
{
    return quick ? full / 100 + 10 : full;
}

static double w1_run(void *arg)
{
    module *m = arg;
    long n = cycles(200000);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        end_client(reg_client(m));
    return (now_ns() - t0) / (double)n;
}

static double w2_run(void *arg)
{
    module *m = arg;
    long n = cycles(100000);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        end_client(reg_client(m));
    return (now_ns() - t0) / (double)n;
}

/* n registrations of n distinct other NPIs (providers: nobody binds). */
static HANDLE *populate(module **mods, long n, uint32_t base)
{
    *mods = calloc((size_t)(n ? n : 1), sizeof(module));
    HANDLE *h = calloc((size_t)(n ? n : 1), sizeof(HANDLE));
    if (*mods == NULL || h == NULL) {
        fprintf(stderr, "nmrbench: out of memory\n");
        exit(1);
    }
    for (long i = 0; i < n; i++) {
        module_init(&(*mods)[i], base + (uint32_t)i);
        h[i] = reg_provider(&(*mods)[i]);
    }
    return h;
}

static void depopulate(module *mods, HANDLE *h, long n)
{
    for (long i = 0; i < n; i++)
        end_provider(h[i]);
    free(h);
    free(mods);
}

typedef struct fanout {
    module m;
    long k;
} fanout;

static HANDLE *fanout_clients(fanout *f)
{
    HANDLE *c = malloc(sizeof(HANDLE) * (size_t)f->k);
    if (c == NULL) {
        fprintf(stderr, "nmrbench: out of memory\n");
        exit(1);
    }
    for (long i = 0; i < f->k; i++)
        c[i] = reg_client(&f->m);
    return c;
}

static void fanout_end_clients(fanout *f, HANDLE *c)
{
    for (long i = 0; i < f->k; i++)
        end_client(c[i]);
    free(c);
}

static double w4_run(void *arg)
{
    fanout *f = arg;
    HANDLE *c = fanout_clients(f);
    long rounds = quick ? 2 : (f->k >= 1000 ? 20 : 20000 / f->k);
    double t0 = now_ns();
    for (long r = 0; r < rounds; r++)
        end_provider(reg_provider(&f->m));
    double per = (now_ns() - t0) / (double)(rounds * f->k);
    fanout_end_clients(f, c);
    return per;
}

/* W5 and the machine's pure-computation speedup share this harness: the
 * same number of created threads, started together at a barrier, each
 * timing its own work from the barrier; the figure is the units of work
 * done over all threads per microsecond of the longest thread. */
typedef struct parallel {
    int threads;
    int compute;     /* 0: W2 cycles on the thread's own NPI; 1: integer work */
    long per_thread; /* cycles, or iterations of integer work */
    pthread_barrier_t start;
    struct {
        double elapsed;
        uint64_t result;
        char pad[48]; /* each thread writes its own cache line */
    } slot[2];
} parallel;

typedef struct parallel_arg {
    parallel *c;
    int index;
} parallel_arg;

/* Integer work with no memory traffic: a xorshift chain. */
static uint64_t integer_work(uint64_t x, long n)
{
    for (long i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    return x;
}

static void *parallel_thread(void *p)
{
    parallel_arg *a = p;
    parallel *c = a->c;
    if (c->compute) {
        pthread_barrier_wait(&c->start);
        double t0 = now_ns();
        uint64_t x = integer_work(0x9e3779b97f4a7c15u + (uint64_t)a->index, c->per_thread);
        c->slot[a->index].elapsed = now_ns() - t0;
        c->slot[a->index].result = x;
        return NULL;
    }
    module m;
    module_init(&m, 0x57350000u + (uint32_t)a->index);
    HANDLE prov = reg_provider(&m);
    pthread_barrier_wait(&c->start);
    double t0 = now_ns();
    for (long i = 0; i < c->per_thread; i++)
        end_client(reg_client(&m));
    c->slot[a->index].elapsed = now_ns() - t0;
    end_provider(prov);
    return NULL;
}

/* Returns units of work per microsecond over all threads. */
static double parallel_run(parallel *c)
{
    pthread_t t[2];
    parallel_arg a[2];
    pthread_barrier_init(&c->start, NULL, (unsigned)c->threads);
    for (int i = 0; i < c->threads; i++) {
        a[i] = (parallel_arg){c, i};
        if (pthread_create(&t[i], NULL, parallel_thread, &a[i]) != 0) {
            fprintf(stderr, "nmrbench: pthread_create failed\n");
            exit(1);
        }
    }
    double longest = 0;
    for (int i = 0; i < c->threads; i++) {
        pthread_join(t[i], NULL);
        if (c->slot[i].elapsed > longest)
            longest = c->slot[i].elapsed;
    }
    pthread_barrier_destroy(&c->start);
    return (double)(c->per_thread * c->threads) / (longest / 1000.0);
}

/* W5 on 1 and 2 threads, and the same two runs of integer work lasting as
 * long per thread as W5's 1-thread run, measured in turn in each
 * repetition so that the machine's speedup and W5's see the same moment;
 * the efficiency is the median of the repetitions' quotients. */
static result w5(void)
{
    parallel w1t = {.threads = 1, .per_thread = cycles(100000)};
    parallel w2t = w1t;
    w2t.threads = 2;

    /* Calibrate the integer work to W5's run length on one thread. */
    parallel_run(&w1t); /* warm-up */
    parallel_run(&w1t);
    double w5_ns = w1t.slot[0].elapsed;
    parallel probe = {.threads = 1, .compute = 1, .per_thread = 1000000};
    parallel_run(&probe);
    double per_iteration = probe.slot[0].elapsed / (double)probe.per_thread;
    long iterations = (long)(w5_ns / (per_iteration > 0 ? per_iteration : 1.0));
    if (iterations < 1000)
        iterations = 1000;
    parallel c1t = {.threads = 1, .compute = 1, .per_thread = iterations};
    parallel c2t = c1t;
    c2t.threads = 2;

    double r1[64], r2[64], s[64], m1[64], m2[64], ms[64], eff[64];
    int n = reps < 64 ? reps : 64;
    for (int i = -1; i < n; i++) { /* i = -1: warm-up */
        double a = parallel_run(&w1t), b = parallel_run(&w2t);
        double c = parallel_run(&c1t), d = parallel_run(&c2t);
        if (i < 0)
            continue;
        r1[i] = a;
        r2[i] = b;
        s[i] = b / a;
        m1[i] = c;
        m2[i] = d;
        ms[i] = d / c;
        eff[i] = s[i] / ms[i];
    }
    report("w5_throughput_1_thread", "W5 1 thread", summarise(r1, n), "cyc/us");
    report("w5_throughput_2_threads", "W5 2 threads", summarise(r2, n), "cyc/us");
    report("w5_scaling_2_over_1", "W5 2 threads / 1 thread", summarise(s, n), "x");
    char label[64];
    snprintf(label, sizeof label, "pure computation, 1 thread");
    report("machine_compute_1_thread", label, summarise(m1, n), "it/us");
    report("machine_compute_2_threads", "pure computation, 2 threads",
           summarise(m2, n), "it/us");
    report("machine_2_thread_speedup", "machine: 2 threads / 1 thread",
           summarise(ms, n), "x");
    return summarise(eff, n);
}

/* W6: bytes per registration and per binding: what nmr_alloc handed out
 * plus the object's handle-table slot.  Since issue 14 a registration and
 * a binding live inside their slots (core/handle.h) and allocate nothing
 * on the heap, so the figure is the slot's size, the object's bytes
 * included, and the allocator's rounding plays no part. */
static void w6(void)
{
    enum { N = 1000 };
    static module m;
    module_init(&m, 0x57360000u);
    HANDLE *c = malloc(sizeof(HANDLE) * (N + 1));
    c[N] = reg_client(&m); /* the first one also creates the NPI entry */
    long before = nmr_alloc_live_bytes();
    for (int i = 0; i < N; i++)
        c[i] = reg_client(&m);
    long after_regs = nmr_alloc_live_bytes();
    double slot = (double)nmr_handle_slot_bytes();
    double per_reg = (double)(after_regs - before) / N + slot;
    HANDLE p = reg_provider(&m); /* N + 1 bindings and one registration */
    long after_bind = nmr_alloc_live_bytes();
    /* the provider's registration: its heap bytes (per_reg less its slot;
     * the bytes counted no slot) */
    double per_binding =
        ((double)(after_bind - after_regs) - (per_reg - slot)) / (N + 1) + slot;
    end_provider(p);
    for (int i = 0; i <= N; i++)
        end_client(c[i]);
    free(c);
    result r1 = {per_reg, per_reg, per_reg}, r2 = {per_binding, per_binding, per_binding};
    report("w6_bytes_per_registration", "W6 bytes per registration", r1, "B");
    report("w6_bytes_per_binding", "W6 bytes per binding", r2, "B");
}

static void ignore_event(void *ctx, const nmr_event *ev)
{
    (void)ctx;
    (void)ev;
}

/* W7: W2 with and without a (no-op) hook, interleaved run by run. */
static void w7(module *m)
{
    HANDLE prov = reg_provider(m);
    result off = measure(w2_run, m);
    nmr_trace_set_hook(ignore_event, NULL, NULL);
    result on = measure(w2_run, m);
    nmr_trace_set_hook(NULL, NULL, NULL);
    end_provider(prov);
    report("w7_bind_cycle_no_hook", "W7 W2, no trace hook", off, "ns");
    report("w7_bind_cycle_hook", "W7 W2, no-op trace hook", on, "ns");
    report("w7_hook_over_no_hook", "W7 hook / no hook", quotient(on, off), "x");
}

/* ---- --instructions: W1, W2, W4 under callgrind -------------------------- */

/* The measured loops, each in a function of its own: callgrind counts
 * only what runs inside them (--collect-atstart=no --toggle-collect=...).
 * They are called through volatile pointers, so that the call goes to the
 * symbol callgrind was told about. */
void nmrbench_collect_w1(module *m, long n);
void nmrbench_collect_w2(module *m, long n);
void nmrbench_collect_w4(fanout *f, long rounds);

NMRBENCH_COLLECTED void nmrbench_collect_w1(module *m, long n)
{
    for (long i = 0; i < n; i++)
        end_client(reg_client(m));
}

NMRBENCH_COLLECTED void nmrbench_collect_w2(module *m, long n)
{
    for (long i = 0; i < n; i++)
        end_client(reg_client(m));
}

NMRBENCH_COLLECTED void nmrbench_collect_w4(fanout *f, long rounds)
{
    for (long r = 0; r < rounds; r++)
        end_provider(reg_provider(&f->m));
}

static void (*volatile collect_cycles)(module *, long);
static void (*volatile collect_rounds)(fanout *, long);

enum { W4_K = 1000 };

/* What --instructions runs under valgrind: WARMUP cycles (rounds for W4)
 * outside the collected function, then CYCLES inside it. */
static int callgrind_child(const char *workload, long n, long warmup)
{
    static module m;
    if (strcmp(workload, "W1") == 0) {
        module_init(&m, 0x57310000u);
        for (long i = 0; i < warmup; i++)
            end_client(reg_client(&m));
        collect_cycles = nmrbench_collect_w1;
        collect_cycles(&m, n);
    } else if (strcmp(workload, "W2") == 0) {
        module_init(&m, 0x57320000u);
        HANDLE prov = reg_provider(&m);
        for (long i = 0; i < warmup; i++)
            end_client(reg_client(&m));
        collect_cycles = nmrbench_collect_w2;
        collect_cycles(&m, n);
        end_provider(prov);
    } else if (strcmp(workload, "W4") == 0) {
        static fanout f;
        module_init(&f.m, 0x57340000u);
        f.k = W4_K;
        HANDLE *c = fanout_clients(&f);
        for (long r = 0; r < warmup; r++)
            end_provider(reg_provider(&f.m));
        collect_rounds = nmrbench_collect_w4;
        collect_rounds(&f, n);
        fanout_end_clients(&f, c);
    } else {
        fprintf(stderr, "nmrbench: --callgrind-child takes W1, W2 or W4\n");
        return 2;
    }
    printf("nmrbench: %s: %ld measured after %ld warm-up\n", workload, n, warmup);
    return 0;
}

/* The valgrind to run: $NMRBENCH_VALGRIND (which must work: the test that
 * sets it must not skip), else the first valgrind on PATH, else NULL. */
static const char *find_valgrind(int *forced)
{
    static char path[4096];
    const char *env = getenv("NMRBENCH_VALGRIND");
    *forced = env != NULL && *env != '\0';
    if (*forced)
        return env;
    const char *dirs = getenv("PATH");
    if (dirs == NULL)
        dirs = "/usr/bin:/bin";
    while (*dirs) {
        size_t len = strcspn(dirs, ":");
        int w = snprintf(path, sizeof path, "%.*s/valgrind", (int)len,
                         len ? dirs : ".");
        if (w > 0 && (size_t)w < sizeof path && access(path, X_OK) == 0)
            return path;
        dirs += len;
        if (*dirs == ':')
            dirs++;
    }
    return NULL;
}

/* Removes dir and the files in it (it holds no subdirectories). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d != NULL) {
        struct dirent *e;
        char path[4096 + 258]; /* dir (at most 4095) / name (at most 255) */
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (unlink(path) != 0)
                fprintf(stderr, "nmrbench: cannot remove %s: %s\n", path,
                        strerror(errno));
        }
        closedir(d);
    }
    if (rmdir(dir) != 0)
        fprintf(stderr, "nmrbench: cannot remove %s: %s\n", dir, strerror(errno));
}

static void print_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f) != NULL)
        fprintf(stderr, "    %s", line);
    fclose(f);
}

/* The instruction count of a callgrind output file: its "summary:" line,
 * else its "totals:" line.  -1 when it has neither. */
static long long callgrind_total(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[4096];
    long long summary = -1, totals = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        long long *into = NULL;
        const char *rest = NULL;
        if (strncmp(line, "summary:", 8) == 0) {
            into = &summary;
            rest = line + 8;
        } else if (strncmp(line, "totals:", 7) == 0) {
            into = &totals;
            rest = line + 7;
        }
        if (into != NULL) {
            char *end;
            errno = 0;
            long long v = strtoll(rest, &end, 10);
            if (errno == 0 && end != rest && v >= 0)
                *into = v;
        }
    }
    fclose(f);
    return summary >= 0 ? summary : totals;
}

typedef struct counted {
    const char *workload, *function;
    long n, warmup;
    long long instructions;
} counted;

/* Runs self --callgrind-child under valgrind for one workload; 0 when the
 * count is in w->instructions, else says why and returns 1. */
static int run_callgrind(const char *valgrind, const char *self, const char *dir,
                         counted *w)
{
    char out[4200], log[4200], toggle[128], outopt[4300], n[32], warmup[32];
    snprintf(out, sizeof out, "%s/%s.callgrind", dir, w->workload);
    snprintf(log, sizeof log, "%s/%s.log", dir, w->workload);
    snprintf(toggle, sizeof toggle, "--toggle-collect=%s", w->function);
    snprintf(outopt, sizeof outopt, "--callgrind-out-file=%s", out);
    snprintf(n, sizeof n, "%ld", w->n);
    snprintf(warmup, sizeof warmup, "%ld", w->warmup);
    char *args[] = {(char *)valgrind, "--tool=callgrind", "--collect-atstart=no",
                    toggle, outopt, (char *)self, "--callgrind-child",
                    (char *)w->workload, n, warmup, NULL};
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "nmrbench --instructions: fork: %s\n", strerror(errno));
        return 1;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(valgrind, args);
        fprintf(stderr, "cannot run %s: %s\n", valgrind, strerror(errno));
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "nmrbench --instructions: waitpid: %s\n", strerror(errno));
            return 1;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status))
            fprintf(stderr,
                    "nmrbench --instructions: FAILED: %s under %s exited with status %d; "
                    "its output:\n",
                    w->workload, valgrind, WEXITSTATUS(status));
        else
            fprintf(stderr,
                    "nmrbench --instructions: FAILED: %s under %s was killed by signal %d; "
                    "its output:\n",
                    w->workload, valgrind, WTERMSIG(status));
        print_file(log);
        return 1;
    }
    w->instructions = callgrind_total(out);
    if (w->instructions <= 0) {
        fprintf(stderr,
                "nmrbench --instructions: FAILED: %s: callgrind counted %s instructions "
                "in %s (%s); valgrind's output:\n",
                w->workload, w->instructions == 0 ? "no" : "no readable count of",
                w->function,
                w->instructions == 0 ? "is the symbol stripped from nmrbench?"
                                     : "no summary: or totals: line");
        print_file(log);
        return 1;
    }
    return 0;
}

static int instructions(void)
{
#ifdef NMRBENCH_SANITIZED
    const int sanitized = 1;
#else
    const int sanitized = 0;
#endif
    if (sanitized) {
        printf("nmrbench --instructions: SKIPPED: this nmrbench is a sanitizer build, "
               "which valgrind cannot run; no instruction counts were measured\n");
        return 0;
    }
    int forced;
    const char *valgrind = find_valgrind(&forced);
    if (valgrind == NULL) {
        printf("nmrbench --instructions: SKIPPED: valgrind not installed (not on PATH; "
               "Debian package valgrind); no instruction counts were measured\n");
        return 0;
    }
    if (access(valgrind, X_OK) != 0) {
        fprintf(stderr, "nmrbench --instructions: FAILED: NMRBENCH_VALGRIND=%s: %s\n",
                valgrind, strerror(errno));
        return 1;
    }
    char self[4096];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
    if (len <= 0) {
        fprintf(stderr, "nmrbench --instructions: FAILED: cannot find this program "
                        "(/proc/self/exe)\n");
        return 1;
    }
    self[len] = '\0';
    const char *tmp = getenv("TMPDIR");
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/nmrbench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "nmrbench --instructions: FAILED: mkdtemp %s: %s\n", dir,
                strerror(errno));
        return 1;
    }
    counted w[] = {
        {"W1", "nmrbench_collect_w1", quick ? 200 : 20000, quick ? 50 : 2000, 0},
        {"W2", "nmrbench_collect_w2", quick ? 200 : 20000, quick ? 50 : 2000, 0},
        {"W4", "nmrbench_collect_w4", quick ? 1 : 10, quick ? 1 : 2, 0},
    };
    printf("nmrbench --instructions: callgrind (%s), instructions of the steady "
           "state,%s exact\n",
           valgrind, quick ? " quick mode," : "");
    int failed = 0;
    for (size_t i = 0; i < sizeof w / sizeof w[0] && !failed; i++)
        failed = run_callgrind(valgrind, self, dir, &w[i]);
    remove_dir(dir);
    if (failed)
        return 1;
    double w1 = (double)w[0].instructions / (double)w[0].n;
    double w2 = (double)w[1].instructions / (double)w[1].n;
    double w4 = (double)w[2].instructions / (double)(w[2].n * W4_K);
    printf("  %-34s %12.0f %-8s (%lld over %ld cycles after %ld)\n",
           "W1 lone cycle, per cycle", w1, "instr", w[0].instructions, w[0].n,
           w[0].warmup);
    printf("BENCH w1_instructions %.0f instr\n", w1);
    printf("  %-34s %12.0f %-8s (%lld over %ld cycles after %ld)\n",
           "W2 bind cycle, per cycle", w2, "instr", w[1].instructions, w[1].n,
           w[1].warmup);
    printf("BENCH w2_instructions %.0f instr\n", w2);
    printf("  %-34s %12.0f %-8s (%lld over %ld rounds of %d after %ld)\n",
           "W4 K = 1000, per binding", w4, "instr", w[2].instructions, w[2].n, W4_K,
           w[2].warmup);
    printf("BENCH w4_instructions_per_binding_k1000 %.0f instr\n", w4);
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: nmrbench [--quick] [--core] [--reps N]\n"
                    "       nmrbench --instructions [--quick]\n");
}

int main(int argc, char **argv)
{
    int core = 0, instr = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--core") == 0) {
            core = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
            reps = 3;
        } else if (strcmp(argv[i], "--instructions") == 0) {
            instr = 1;
        } else if (strcmp(argv[i], "--callgrind-child") == 0 && i == 1 && argc == 5) {
            char *e1, *e2;
            long n = strtol(argv[3], &e1, 10), warmup = strtol(argv[4], &e2, 10);
            if (*e1 != '\0' || *e2 != '\0' || n < 1 || warmup < 0) {
                usage();
                return 2;
            }
            return callgrind_child(argv[2], n, warmup);
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 63) {
                fprintf(stderr, "nmrbench: --reps takes 1..63\n");
                return 2;
            }
        } else {
            usage();
            return 2;
        }
    }
    if (instr) {
        if (core) {
            usage();
            return 2;
        }
        return instructions();
    }
    printf("nmrbench: medians of %d runs, spread (min .. max)%s\n", reps,
           quick ? ", quick mode" : "");

    static module m1, m2;
    module_init(&m1, 0x57310000u);
    module_init(&m2, 0x57320000u);
    if (core) {
        report("w1_lone_cycle_0", "W1 lone cycle", measure(w1_run, &m1), "ns");
        HANDLE prov = reg_provider(&m2);
        report("w2_bind_cycle_0", "W2 bind cycle", measure(w2_run, &m2), "ns");
        end_provider(prov);
        return 0;
    }

    printf("Primitives: what a cycle cannot avoid, in this run\n");
    primitives prim = measure_primitives();

    printf("W1/W2/W3: cycles with unrelated registrations present\n");
    static const long scale[] = {0, 1000, 10000, 100000};
    result w1_empty = {0, 0, 0}, w2_empty = {0, 0, 0};
    for (size_t s = 0; s < sizeof(scale) / sizeof(scale[0]); s++) {
        long n = quick ? scale[s] / 100 : scale[s];
        module *mods;
        HANDLE *hs = populate(&mods, n, 0x10000000u);
        char name[64], label[64];
        snprintf(name, sizeof name, "w1_lone_cycle_%ld", scale[s]);
        snprintf(label, sizeof label, "W1 lone cycle, %ld others", n);
        result r = measure(w1_run, &m1);
        report(name, label, r, "ns");
        if (s == 0)
            w1_empty = r;
        HANDLE prov = reg_provider(&m2);
        snprintf(name, sizeof name, "w2_bind_cycle_%ld", scale[s]);
        snprintf(label, sizeof label, "W2 bind cycle, %ld others", n);
        r = measure(w2_run, &m2);
        report(name, label, r, "ns");
        if (s == 0)
            w2_empty = r;
        end_provider(prov);
        depopulate(mods, hs, n);
    }

    printf("Floors: W1 and W2 (nothing else registered) over the primitives\n");
    result w1_floor = floor_of(&prim, 1, 2, 0);
    result w2_floor = floor_of(&prim, 4, 5, 6);
    report("w1_floor", "W1 floor: 1 malloc, 2 mutex", w1_floor, "ns");
    report("w1_over_floor", "W1 over its floor", quotient(w1_empty, w1_floor), "x");
    report("w2_floor", "W2 floor: 4 malloc, 5 mutex, 6 call", w2_floor, "ns");
    report("w2_over_floor", "W2 over its floor", quotient(w2_empty, w2_floor), "x");

    printf("W4: fan-out, one provider against K clients\n");
    static const long ks[] = {1, 10, 100, 1000};
    for (size_t i = 0; i < sizeof(ks) / sizeof(ks[0]); i++) {
        static fanout f;
        module_init(&f.m, 0x57340000u);
        f.k = ks[i];
        char name[64], label[64];
        snprintf(name, sizeof name, "w4_fanout_per_binding_k%ld", ks[i]);
        snprintf(label, sizeof label, "W4 per binding, K = %ld", ks[i]);
        report(name, label, measure(w4_run, &f), "ns");
    }

    printf("W5: parallel churn (W2 per thread, separate NPIs), and the machine's\n"
           "    two-thread speedup on pure computation, measured in turn\n");
    result eff = w5();
    report("w5_efficiency", "W5 efficiency: speedup / machine's", eff, "ratio");

    printf("W6: memory\n");
    w6();

    printf("W7: tracing\n");
    static module m7;
    module_init(&m7, 0x57370000u);
    w7(&m7);
    return 0;
}
