/* SPDX-License-Identifier: MIT */
/*
 * hostbench.c - the echo NPI through nmrhost's module table (tools/nmrhost,
 * host.h): the example modules (examples/modules/) loaded from their shared
 * objects, exactly as nmrhost loads and unloads them.
 *
 *   1. calls per second with 1, 2 and 4 client threads, steady state;
 *   2. the same while the provider is hot-swapped every 100 ms (load the
 *      other version, unload the current one: make before break);
 *   3. unload latency (unload command to dlclose done, including the check
 *      of what the module left) with traffic running: of a provider no
 *      longer in use (the swap above), and of the only provider while its
 *      calls are in flight.
 *
 * Figures are medians over windows (calls/s) or over unloads (latency).
 * Exits 1 if a call failed, a reply was wrong, or a call was refused while
 * a provider was bound (the swaps must be invisible to the client).
 *
 *   hostbench [--quick]     --quick: short windows, for the test suite
 */
#define _POSIX_C_SOURCE 200809L
#include "host.h"
#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef HOSTBENCH_MODULE_DIR
#error "HOSTBENCH_MODULE_DIR: where the example modules are built"
#endif

static int quick;
static int failures;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = { (time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L };

    nanosleep(&ts, NULL);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n == 0 ? 0 : n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double percentile(double *v, size_t n, double p)
{
    size_t i;

    qsort(v, n, sizeof *v, cmp_double);
    if (n == 0)
        return 0;
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static host_module *load(const char *name, const char *arg1, const char *arg2)
{
    char *argv[3];
    int argc = 0;
    host_module *m;
    char why[HOST_WHY_LEN];

    if (arg1 != NULL)
        argv[argc++] = (char *)arg1;
    if (arg2 != NULL)
        argv[argc++] = (char *)arg2;
    argv[argc] = NULL;
    if (host_load(name, argc, argv, &m, why, sizeof why) != 0) {
        fprintf(stderr, "hostbench: load %s: %s\n", name, why);
        exit(2);
    }
    return m;
}

/* Unload; the latency in ms. */
static double unload(host_module *m)
{
    host_unload_times t;
    char why[HOST_WHY_LEN];

    if (host_unload(m, &t, why, sizeof why) != 0) {
        fprintf(stderr, "hostbench: unload: %s\n", why);
        exit(2);
    }
    return (double)t.total_ns / 1e6;
}

static unsigned long long field(host_module *m, const char *key)
{
    char stats[HOST_STATS_LEN], v[64];

    if (host_stats(m, stats, sizeof stats) != 0 || host_stats_field(stats, key, v, sizeof v) != 0)
        return 0;
    return strtoull(v, NULL, 10);
}

/* The client's verdict: failed, wrong and (provider always bound) refused
 * must be 0. */
static void verdict(host_module *client, const char *what)
{
    unsigned long long f = field(client, "failed"), w = field(client, "wrong"),
                       r = field(client, "refused");

    if (f != 0 || w != 0 || r != 0) {
        printf("  !! %s: %llu failed, %llu wrong, %llu refused calls\n", what, f, w, r);
        failures++;
    }
}

/* Calls/s of the client over one window of ms. */
static double window_rate(host_module *client, unsigned ms)
{
    unsigned long long c0 = field(client, "calls"), c1;
    uint64_t t0 = host_now_ns(), t1;

    sleep_ms(ms);
    c1 = field(client, "calls");
    t1 = host_now_ns();
    return (double)(c1 - c0) * 1e9 / (double)(t1 - t0);
}

static double steady(unsigned threads)
{
    char arg[32];
    host_module *p, *c;
    double rates[32];
    size_t n = quick ? 3 : 10, i;
    unsigned win = quick ? 100 : 250;

    snprintf(arg, sizeof arg, "threads=%u", threads);
    p = load("echo_provider_v1", "quiet", NULL);
    c = load("echo_client", arg, "quiet");
    sleep_ms(quick ? 50 : 200);
    for (i = 0; i < n; i++)
        rates[i] = window_rate(c, win);
    verdict(c, "steady");
    unload(c);
    unload(p);
    return median(rates, n);
}

/* Hot swap every 100 ms; the rate over each 100 ms (each includes one
 * swap); latencies of the unloads into lat (count in *nlat). */
static double hot_swap(unsigned threads, double *lat, size_t *nlat)
{
    char arg[32];
    host_module *cur, *other, *c;
    double rates[64];
    size_t n = quick ? 6 : 30, i;
    int v2 = 0;

    snprintf(arg, sizeof arg, "threads=%u", threads);
    cur = load("echo_provider_v1", "quiet", NULL);
    c = load("echo_client", arg, "quiet");
    sleep_ms(quick ? 50 : 200);
    for (i = 0; i < n; i++) {
        unsigned long long c0 = field(c, "calls");
        uint64_t t0 = host_now_ns();

        other = load(v2 ? "echo_provider_v1" : "echo_provider_v2", "quiet", NULL);
        lat[(*nlat)++] = unload(cur);
        cur = other;
        v2 = !v2;
        {
            uint64_t spent = (host_now_ns() - t0) / 1000000u;

            if (spent < 100)
                sleep_ms((unsigned)(100 - spent));
        }
        rates[i] = (double)(field(c, "calls") - c0) * 1e9 / (double)(host_now_ns() - t0);
    }
    verdict(c, "hot swap");
    unload(c);
    unload(cur);
    return median(rates, n);
}

/* The only provider, unloaded while the client's calls are in flight. */
static void busy_unload(unsigned threads, double *lat, size_t *nlat, size_t reps)
{
    char arg[32];
    host_module *p, *c;
    size_t i;

    snprintf(arg, sizeof arg, "threads=%u", threads);
    p = load("echo_provider_v1", "quiet", NULL);
    c = load("echo_client", arg, "quiet");
    for (i = 0; i < reps; i++) {
        sleep_ms(5);
        lat[(*nlat)++] = unload(p);
        p = load("echo_provider_v1", "quiet", NULL);
    }
    if (field(c, "failed") != 0 || field(c, "wrong") != 0) {
        printf("  !! busy unload: failed or wrong calls\n");
        failures++;
    }
    unload(c);
    unload(p);
}

int main(int argc, char **argv)
{
    static const unsigned threads[] = { 1, 2, 4 };
    host_config cfg;
    double swap_lat[256], busy_lat[2][256], steady_rate[3], swap_rate[3];
    size_t nswap = 0, nbusy[2] = { 0, 0 }, i;

    quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    memset(&cfg, 0, sizeof cfg);
    cfg.unload_warn_ms = 5000;
    cfg.module_path = HOSTBENCH_MODULE_DIR;
    cfg.quiet_modules = 1;
    out_init(OUT_PROGRESS_OFF);
    host_init(&cfg);

    printf("hostbench%s: the echo NPI through modules loaded by nmrhost's module table\n",
           quick ? " --quick" : "");
    for (i = 0; i < 3; i++) {
        steady_rate[i] = steady(threads[i]);
        swap_rate[i] = hot_swap(threads[i], swap_lat, &nswap);
    }
    busy_unload(1, busy_lat[0], &nbusy[0], quick ? 20 : 200);
    busy_unload(2, busy_lat[1], &nbusy[1], quick ? 20 : 200);

    printf("\ncalls per second (median of %s windows)\n", quick ? "short" : "250 ms / 100 ms");
    printf("  %-8s %14s %26s\n", "threads", "steady", "hot swap every 100 ms");
    for (i = 0; i < 3; i++)
        printf("  %-8u %14.0f %26.0f\n", threads[i], steady_rate[i], swap_rate[i]);
    printf("\nunload latency, unload command to dlclose done (ms)\n");
    printf("  %-52s %8s %8s %8s\n", "", "median", "p90", "max");
    {
        double med = median(swap_lat, nswap), p90 = percentile(swap_lat, nswap, 0.9),
               mx = percentile(swap_lat, nswap, 1.0);

        printf("  %-52s %8.3f %8.3f %8.3f\n",
               "provider swapped out (calls moved to the new one)", med, p90, mx);
        for (i = 0; i < 2; i++) {
            char what[64];

            snprintf(what, sizeof what, "only provider, %zu thread%s calling it", i + 1,
                     i ? "s" : "");
            med = median(busy_lat[i], nbusy[i]);
            p90 = percentile(busy_lat[i], nbusy[i], 0.9);
            mx = percentile(busy_lat[i], nbusy[i], 1.0);
            printf("  %-52s %8.3f %8.3f %8.3f\n", what, med, p90, mx);
        }
    }
    printf("\n%s\n", failures ? "hostbench: FAILED (see !! above)"
                              : "hostbench: every reply right, no call failed or refused");
    return failures ? 1 : 0;
}
