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
 *                      waits
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
 * Usage: nmrbench [--quick] [--core] [--reps N]
 *   --quick  small counts, for `make check` (proves every figure prints)
 *   --core   only W1 and W2 with nothing else registered
 */
#define _GNU_SOURCE
#include <netioddk.h>

#include "alloc.h"
#include "handle.h"

#include <nmr/trace.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int quick;
static int reps = 9;

/* ---- a minimal NPI module pair ----------------------------------------- */

static const NPI_MODULEID module_id = {sizeof(NPI_MODULEID), MIT_GUID,
                                       {{0x6e6d7262, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}}}};
static const int dispatch_table[1];

static NTSTATUS client_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    (void)ctx;
    (void)pri;
    PVOID pctx;
    const VOID *pdisp;
    return NmrClientAttachProvider(b, NULL, dispatch_table, &pctx, &pdisp);
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
    *pctx = NULL;
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
    (void)ctx;
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

/* Run fn reps times; each run returns a figure; keep median and spread. */
static result measure(double (*fn)(void *), void *arg)
{
    double v[64];
    int n = reps < 64 ? reps : 64;
    fn(arg); /* warm-up */
    for (int i = 0; i < n; i++)
        v[i] = fn(arg);
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    result r = {v[n / 2], v[0], v[n - 1]};
    return r;
}

static void report(const char *name, const char *label, result r, const char *unit)
{
    printf("  %-34s %12.1f %-8s (%.1f .. %.1f)\n", label, r.median, unit, r.min,
           r.max);
    printf("BENCH %s %.1f %s\n", name, r.median, unit);
    fflush(stdout);
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

static double w4_run(void *arg)
{
    fanout *f = arg;
    HANDLE *c = malloc(sizeof(HANDLE) * (size_t)f->k);
    for (long i = 0; i < f->k; i++)
        c[i] = reg_client(&f->m);
    long rounds = quick ? 2 : (f->k >= 1000 ? 20 : 20000 / f->k);
    double t0 = now_ns();
    for (long r = 0; r < rounds; r++)
        end_provider(reg_provider(&f->m));
    double per = (now_ns() - t0) / (double)(rounds * f->k);
    for (long i = 0; i < f->k; i++)
        end_client(c[i]);
    free(c);
    return per;
}

typedef struct churn {
    int threads;
    pthread_barrier_t start;
    double elapsed[8];
    long per_thread;
} churn;

typedef struct churn_arg {
    churn *c;
    int index;
} churn_arg;

static void *churn_thread(void *p)
{
    churn_arg *a = p;
    module m;
    module_init(&m, 0x57350000u + (uint32_t)a->index);
    HANDLE prov = reg_provider(&m);
    pthread_barrier_wait(&a->c->start);
    double t0 = now_ns();
    for (long i = 0; i < a->c->per_thread; i++)
        end_client(reg_client(&m));
    a->c->elapsed[a->index] = now_ns() - t0;
    end_provider(prov);
    return NULL;
}

/* Returns cycles per microsecond over all threads. */
static double w5_run(void *arg)
{
    churn *c = arg;
    pthread_t t[8];
    churn_arg a[8];
    c->per_thread = cycles(100000);
    pthread_barrier_init(&c->start, NULL, (unsigned)c->threads);
    for (int i = 0; i < c->threads; i++) {
        a[i] = (churn_arg){c, i};
        pthread_create(&t[i], NULL, churn_thread, &a[i]);
    }
    double longest = 0;
    for (int i = 0; i < c->threads; i++) {
        pthread_join(t[i], NULL);
        if (c->elapsed[i] > longest)
            longest = c->elapsed[i];
    }
    pthread_barrier_destroy(&c->start);
    return (double)(c->per_thread * c->threads) / (longest / 1000.0);
}

/* W6: bytes per registration and per binding: what nmr_alloc handed out
 * plus the object's handle-table slot. */
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
    double per_binding = ((double)(after_bind - after_regs) - per_reg) / (N + 1) +
                         slot;
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
    result ratio = {on.median / off.median, on.min / off.max, on.max / off.min};
    report("w7_hook_over_no_hook", "W7 hook / no hook", ratio, "x");
}

int main(int argc, char **argv)
{
    int core = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--core") == 0) {
            core = 1;
        } else if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
            reps = 3;
        } else if (strcmp(argv[i], "--reps") == 0 && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 63) {
                fprintf(stderr, "nmrbench: --reps takes 1..63\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: nmrbench [--quick] [--core] [--reps N]\n");
            return 2;
        }
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

    printf("W1/W2/W3: cycles with unrelated registrations present\n");
    static const long scale[] = {0, 1000, 10000, 100000};
    for (size_t s = 0; s < sizeof(scale) / sizeof(scale[0]); s++) {
        long n = quick ? scale[s] / 100 : scale[s];
        module *mods;
        HANDLE *hs = populate(&mods, n, 0x10000000u);
        char name[64], label[64];
        snprintf(name, sizeof name, "w1_lone_cycle_%ld", scale[s]);
        snprintf(label, sizeof label, "W1 lone cycle, %ld others", n);
        report(name, label, measure(w1_run, &m1), "ns");
        HANDLE prov = reg_provider(&m2);
        snprintf(name, sizeof name, "w2_bind_cycle_%ld", scale[s]);
        snprintf(label, sizeof label, "W2 bind cycle, %ld others", n);
        report(name, label, measure(w2_run, &m2), "ns");
        end_provider(prov);
        depopulate(mods, hs, n);
    }

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

    printf("W5: parallel churn (W2 per thread, separate NPIs)\n");
    churn c1 = {.threads = 1}, c2 = {.threads = 2};
    result r1 = measure(w5_run, &c1);
    result r2 = measure(w5_run, &c2);
    report("w5_throughput_1_thread", "W5 1 thread", r1, "cyc/us");
    report("w5_throughput_2_threads", "W5 2 threads", r2, "cyc/us");
    result ratio = {r2.median / r1.median, r2.min / r1.max, r2.max / r1.min};
    report("w5_scaling_2_over_1", "W5 2 threads / 1 thread", ratio, "x");

    printf("W6: memory\n");
    w6();

    printf("W7: tracing\n");
    static module m7;
    module_init(&m7, 0x57370000u);
    w7(&m7);
    return 0;
}
