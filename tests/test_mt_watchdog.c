/* SPDX-License-Identifier: MIT */
/*
 * test_mt_watchdog.c - the stuck-wait watchdog and the timed waits
 * (nmr/registrar.h).
 *
 * A wait held up by a detach half that never completes reports, through
 * the diagnostic channel, the binding, the side that has not completed,
 * the module IDs of both ends and how long the half has been pending; the
 * reports repeat at growing intervals and stop when the wait ends.  The
 * delay comes from nmr_wait_set_warn_ms() or NMR_WAIT_WARN_MS (0 = off).
 * nmr_wait_*_timeout returns STATUS_TIMEOUT on time and the registration
 * can be waited for again.
 *
 * Rules also checked: R18 (the wait returns once the last half
 * completes, and only then), R19 (a timed wait on a registration that was
 * not deregistered is refused), R27 (the handle stays valid after a
 * timeout and is dead after the successful wait).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "fixture.h"

#include <nmr/introspect.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_REPORTS 16
static pthread_mutex_t rep_lock = PTHREAD_MUTEX_INITIALIZER;
static char reports[MAX_REPORTS][4096];
static int nreports, nother;

static void capture(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)ctx;
    pthread_mutex_lock(&rep_lock);
    if (kind == NMR_DIAG_WAIT_STUCK && nreports < MAX_REPORTS)
        snprintf(reports[nreports++], sizeof(reports[0]), "%s", msg);
    else if (kind != NMR_DIAG_WAIT_STUCK)
        nother++;
    pthread_mutex_unlock(&rep_lock);
}

static int report_count(void)
{
    pthread_mutex_lock(&rep_lock);
    int n = nreports;
    pthread_mutex_unlock(&rep_lock);
    return n;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *hex(HANDLE h)
{
    static char buf[4][32];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof(buf[i]), "%p", h);
    return buf[i];
}

static const char *modid(const fx_module *m)
{
    static char buf[2][NMR_MODULE_ID_TEXT];
    static int i;
    i = (i + 1) % 2;
    return nmr_module_id_format(&m->modid, buf[i], sizeof(buf[i]));
}

/* "has lasted N ms" of a report */
static unsigned long lasted(const char *report)
{
    const char *p = strstr(report, "has lasted ");
    CHECK(p != NULL);
    return strtoul(p + strlen("has lasted "), NULL, 10);
}

typedef struct waiter {
    fx_module *m;
    NTSTATUS status;
    pthread_t thread;
} waiter;

static void *wait_thread(void *arg)
{
    waiter *w = arg;
    w->status = fx_wait(w->m);
    return NULL;
}

static void *complete_later(void *arg)
{
    sleep_ms(250);
    fx_complete_pending(arg);
    return NULL;
}

/* Child process: the delay from the environment.  Exit 0 when the number
 * of reports of a 250 ms hold-up is within [lo, hi]. */
static int env_child(const char *value, int lo, int hi)
{
    setenv("NMR_WAIT_WARN_MS", value, 1);
    nmr_diag_set_hook(capture, NULL, NULL);
    GUID npi = fx_guid(0x8001);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    pthread_t t;
    pthread_create(&t, NULL, complete_later, p);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    pthread_join(t, NULL);
    int n = report_count();
    if (n < lo || n > hi) {
        fprintf(stderr, "NMR_WAIT_WARN_MS=%s: %d reports, want %d..%d\n", value, n, lo, hi);
        return 1;
    }
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    fx_reset();
    return 0;
}

static void test_env(void)
{
    struct { const char *value; int lo, hi; } cases[] = {
        {"40", 1, 4},   /* reports at 40, 120, 280 ms: at least one */
        {"0", 0, 0},    /* off */
        {"junk", 0, 0}, /* not a number: the default 10 s */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pid_t pid = fork();
        CHECK(pid >= 0);
        if (pid == 0)
            exit(env_child(cases[i].value, cases[i].lo, cases[i].hi)); /* flushes gcov */
        int st;
        CHECK(waitpid(pid, &st, 0) == pid);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
}

/* A pending provider half holds the provider's wait: reports name it. */
static void test_pending_report(void)
{
    fx_reset();
    nreports = 0;
    GUID npi = fx_guid(0x8002);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    HANDLE b = c->sides->binding;
    unsigned long long misuse0 = nmr_diag_misuse_count();

    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    waiter w = {.m = p};
    pthread_create(&w.thread, NULL, wait_thread, &w);
    uint64_t t0 = now_ms();
    while (report_count() < 2 && now_ms() - t0 < 20000)
        sleep_ms(10);
    CHECK(report_count() >= 2);
    fx_complete_pending(p);
    pthread_join(w.thread, NULL);
    CHECK_STATUS(w.status, STATUS_SUCCESS);
    int n = report_count();
    sleep_ms(250);
    CHECK_EQ(report_count(), n); /* the wait ended: no more reports */

    const char *r = reports[0];
    CHECK(strstr(r, "NmrWaitForProviderDeregisterComplete") != NULL);
    CHECK(strstr(r, hex(p->handle)) != NULL);      /* the waiting registration */
    CHECK(strstr(r, hex(b)) != NULL);              /* the binding */
    CHECK(strstr(r, hex(c->handle)) != NULL);      /* its other end */
    CHECK(strstr(r, modid(c)) != NULL);            /* both module IDs */
    CHECK(strstr(r, modid(p)) != NULL);
    CHECK(strstr(r, "client half: complete") != NULL);
    CHECK(strstr(r, "provider half: NOT COMPLETE: pending for ") != NULL);
    CHECK(strstr(r, "NmrProviderDetachClientComplete has not been called") != NULL);
    /* growing intervals: 100 ms, then 200 ms more */
    unsigned long l0 = lasted(reports[0]), l1 = lasted(reports[1]);
    CHECK(l0 >= 100);
    CHECK(l1 >= l0 + 200);
    CHECK_EQ(nmr_diag_misuse_count(), misuse0); /* reports, not misuse */
    CHECK_EQ(nother, 0);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_EQ(fx_errors(), 0);
}

/* A callback that does not return until released: the hook blocks in the
 * callback of type `at`. */
typedef struct blocker {
    fx_ev_type at;
    atomic_int entered, release;
} blocker;

static void block_hook(fx_module *m, fx_ev_type type, int phase, fx_side *side, void *arg)
{
    (void)m, (void)side;
    blocker *bl = arg;
    if (type != bl->at || phase != FX_PRE)
        return;
    atomic_store(&bl->entered, 1);
    while (!atomic_load(&bl->release))
        sleep_ms(5);
}

static void *deregister_thread(void *arg)
{
    CHECK_STATUS(fx_deregister(arg), STATUS_PENDING);
    return NULL;
}

static void *register_thread(void *arg)
{
    CHECK_STATUS(fx_register(arg), STATUS_SUCCESS);
    return NULL;
}

/* The provider deregisters and waits while one of the binding's callbacks
 * (of type `at`, on module `blocked`) does not return; `starter` runs the
 * operation that reaches that callback (a registration or a
 * deregistration) on its own thread.  Returns with reports[0] holding the
 * first report. */
static void stuck_in_callback(fx_ev_type at, int block_client, int register_first,
                              void *(*starter)(void *), int start_client)
{
    fx_reset();
    nreports = 0;
    GUID npi = fx_guid(0x8003 + (uint32_t)at);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    blocker bl = {.at = at};
    fx_module *blocked = block_client ? c : p;
    blocked->hook = block_hook;
    blocked->hook_arg = &bl;
    CHECK_STATUS(fx_register(register_first ? p : c), STATUS_SUCCESS);
    if (starter != register_thread)
        CHECK_STATUS(fx_register(register_first ? c : p), STATUS_SUCCESS);
    pthread_t t;
    pthread_create(&t, NULL, starter, start_client ? c : p);
    while (!atomic_load(&bl.entered))
        sleep_ms(1);
    if (starter == register_thread)
        CHECK_STATUS(fx_deregister(p), STATUS_PENDING); /* skips the offer */
    waiter w = {.m = p};
    pthread_create(&w.thread, NULL, wait_thread, &w);
    uint64_t t0 = now_ms();
    while (report_count() < 1 && now_ms() - t0 < 20000)
        sleep_ms(10);
    CHECK(report_count() >= 1);
    atomic_store(&bl.release, 1);
    pthread_join(t, NULL);
    pthread_join(w.thread, NULL);
    CHECK_STATUS(w.status, STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_EQ(fx_errors(), 0);
}

/* A detach callback still running; an offer whose attach callbacks have
 * not returned; cleanups still running: each is named as such. */
static void test_callback_reports(void)
{
    stuck_in_callback(FX_EV_CLIENT_DETACH, 1, 1, deregister_thread, 0);
    CHECK(strstr(reports[0], "client half: NOT COMPLETE: ClientDetachProvider has been "
                             "running") != NULL);
    CHECK(strstr(reports[0], "provider half: not started") != NULL);

    /* the client registers; its offer blocks in ProviderAttachClient while
     * the provider deregisters and waits (R11: a late-comer then) */
    stuck_in_callback(FX_EV_PROVIDER_ATTACH, 0, 1, register_thread, 1);
    CHECK(strstr(reports[0], "offering: its attach callbacks have not returned") != NULL);

    stuck_in_callback(FX_EV_PROVIDER_CLEANUP, 0, 1, deregister_thread, 0);
    CHECK(strstr(reports[0], "both halves complete: its cleanup callbacks are running") !=
          NULL);
}

static void *complete_after_100ms(void *arg)
{
    sleep_ms(100);
    fx_complete_pending(arg);
    return NULL;
}

static void test_timeout(void)
{
    fx_reset();
    GUID npi = fx_guid(0x8004);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(nmr_wait_client_timeout(c->handle, 10), STATUS_INVALID_PARAMETER); /* R19 */
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);

    uint64_t t0 = now_ms();
    CHECK_STATUS(nmr_wait_client_timeout(c->handle, 150), STATUS_TIMEOUT);
    uint64_t took = now_ms() - t0;
    CHECK(took >= 150);
    CHECK(took < 5150); /* on time, with room for a loaded machine */
    CHECK_STATUS(nmr_wait_client_timeout(c->handle, 0), STATUS_TIMEOUT);

    /* after a timeout: deregistering, not waiting; handle still valid */
    nmr_snapshot *s;
    CHECK_STATUS(nmr_snapshot_take(NULL, &s), STATUS_SUCCESS);
    int found = 0;
    for (size_t i = 0; i < s->nregistrations; i++)
        if (s->registrations[i].handle == c->handle) {
            CHECK_EQ(s->registrations[i].state, NMR_REGISTRATION_DEREGISTERING);
            found = 1;
        }
    CHECK(found);
    nmr_snapshot_free(s);

    pthread_t t;
    pthread_create(&t, NULL, complete_after_100ms, p);
    t0 = now_ms();
    CHECK_STATUS(nmr_wait_client_timeout(c->handle, 20000), STATUS_SUCCESS);
    CHECK(now_ms() - t0 < 10000);
    pthread_join(t, NULL);
    CHECK_STATUS(nmr_wait_client_timeout(c->handle, 0), STATUS_INVALID_PARAMETER); /* dead */

    /* nothing to wait for: success at once, even with timeout 0 */
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_STATUS(nmr_wait_provider_timeout(p->handle, 0), STATUS_SUCCESS);
    CHECK_STATUS(nmr_wait_provider_timeout((HANDLE)(uintptr_t)0x77, 0),
                 STATUS_INVALID_PARAMETER);
    CHECK_EQ(fx_errors(), 0);
}

/* Warnings off: a long hold-up says nothing. */
static void test_off(void)
{
    fx_reset();
    nreports = 0;
    CHECK_EQ(nmr_wait_set_warn_ms(0), 100);
    GUID npi = fx_guid(0x8005);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    pthread_t t;
    pthread_create(&t, NULL, complete_later, p);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    pthread_join(t, NULL);
    CHECK_EQ(report_count(), 0);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

/* Every case but test_env, which forks before this process has threads and
 * checks the environment variable itself. */
static void setup(void)
{
    if (strcmp(nmr_test_current, "test_env") == 0)
        return;
    nmr_diag_set_hook(capture, NULL, NULL);
    unsetenv("NMR_WAIT_WARN_MS");
    CHECK_EQ(nmr_wait_set_warn_ms(100), 10000); /* the default */
}

static void teardown(void)
{
    fx_reset();
}

static const nmr_test_case cases[] = {
    CASE(test_env, ""),
    CASE(test_pending_report, ""),
    CASE(test_callback_reports, "R11"),
    CASE(test_timeout, "R19"),
    CASE(test_off, ""),
};

NMR_TEST_SUITE(test_mt_watchdog, cases, setup, teardown, NULL);
