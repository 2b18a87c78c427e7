/* SPDX-License-Identifier: MIT */
/*
 * test_mt_regress.c - regression tests of defects found by adversarial
 * testing (issue 11), the threaded ones (run under TSan too):
 *
 *   register_event  the REGISTER event stays valid while the hook runs,
 *                   even when another thread deregisters, waits for and
 *                   frees the registration and its characteristics
 *                   meanwhile (R3, R7, R27, R31);
 *   half_order      a binding's events arrive in order when two threads
 *                   finish its two halves at once: no HALF_COMPLETE after
 *                   that binding's CLEANUP (R13, R14, R16), both when a
 *                   misuse report holds the first thread (deterministic)
 *                   and in a race of two completions (stress);
 *   hook_removal    removing a trace hook or a diagnostic hook returns
 *                   only when it runs nowhere, so its context can be freed
 *                   at once, while other threads keep calling it (R30);
 *                   from inside a hook, removal does not wait and the sync
 *                   says STATUS_POSSIBLE_DEADLOCK.
 *
 * Before the fixes: register_event read freed characteristics (ASan
 * heap-use-after-free; plain: a wrong module ID), half_order saw cleanup
 * before half-complete on the first deterministic round, hook_removal
 * freed a context a hook was still using (ASan).
 */
#define _POSIX_C_SOURCE 200809L

#include "check.h"
#include "chars.h"

#include "alloc.h"

#include <netioddk.h>
#include <nmr/diag.h>
#include <nmr/trace.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static NPIID npi_n(uint32_t n)
{
    NPIID g = {0x7e700000u + n, 0x33, 0x44, {8, 7, 6, 5, 4, 3, 2, 1}};
    return g;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* A flag with a timed wait, for handing steps between two threads. */
typedef struct flag {
    pthread_mutex_t m;
    pthread_cond_t cv;
    int set;
} flag;
#define FLAG_INIT {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0}

static void flag_set(flag *f)
{
    pthread_mutex_lock(&f->m);
    f->set = 1;
    pthread_cond_broadcast(&f->cv);
    pthread_mutex_unlock(&f->m);
}

/* 1 when set within ms, else 0. */
static int flag_wait(flag *f, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000u;
    ts.tv_nsec += (long)(ms % 1000u) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&f->m);
    while (!f->set && pthread_cond_timedwait(&f->cv, &f->m, &ts) == 0) {
    }
    int set = f->set;
    pthread_mutex_unlock(&f->m);
    return set;
}

static void flag_reset(flag *f)
{
    pthread_mutex_lock(&f->m);
    f->set = 0;
    pthread_mutex_unlock(&f->m);
}


/* ---- register_event (R3, R7, R27) -------------------------------------- */

typedef struct reg_case {
    NPI_PROVIDER_CHARACTERISTICS pc;
    NPI_CLIENT_CHARACTERISTICS cc;
    NPIID npi;
    NPI_MODULEID mod;
} reg_case;

static reg_case *g_rc;
static _Atomic(HANDLE) g_rc_handle;
static flag g_rc_seen = FLAG_INIT, g_rc_freed = FLAG_INIT;
static int g_rc_checked, g_rc_module_ok, g_rc_npi_ok;

static void reg_hook(void *ctx, const nmr_event *e)
{
    (void)ctx;
    if (e->type != NMR_EVENT_REGISTER || e->npi_id == NULL ||
        e->npi_id->Data1 != 0x7e700001u)
        return;
    /* Hand the handle to the other thread, which deregisters, waits, and
     * frees the characteristics (allowed once the wait returned, R3), then
     * read the event: it must still describe the registration. */
    atomic_store(&g_rc_handle, e->registration);
    flag_set(&g_rc_seen);
    CHECK(flag_wait(&g_rc_freed, 5000));
    g_rc_checked = 1;
    g_rc_npi_ok = e->npi_id->Data1 == 0x7e700001u && e->npi_id->Data2 == 0x33;
    g_rc_module_ok = e->module_id->Type == MIT_GUID &&
                     e->module_id->Guid.Data1 == 0xabcdef01u;
}


static void *rc_freer(void *arg)
{
    (void)arg;
    CHECK(flag_wait(&g_rc_seen, 5000));
    HANDLE h = atomic_load(&g_rc_handle);
    CHECK_STATUS(NmrDeregisterProvider(h), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(h), STATUS_SUCCESS);
    /* Through a volatile pointer, so the compiler keeps the scrub before
     * the free: a late read then sees garbage even without ASan. */
    static void *(*volatile scrub)(void *, int, size_t) = memset;
    scrub(g_rc, 0x5a, sizeof(*g_rc));
    free(g_rc);
    g_rc = NULL;
    flag_set(&g_rc_freed);
    return NULL;
}

static void t_register_event_lifetime(void)
{
    g_rc = calloc(1, sizeof(*g_rc));
    CHECK(g_rc != NULL);
    g_rc->npi = npi_n(1);
    g_rc->mod = (NPI_MODULEID){sizeof(NPI_MODULEID), MIT_GUID, {{0}}};
    g_rc->mod.Guid.Data1 = 0xabcdef01u;
    test_callbacks cb = {test_client_decline, test_detach_success, NULL, test_provider_decline,
                         test_detach_success, NULL};
    test_chars_init(&g_rc->cc, &g_rc->pc, &g_rc->npi, &g_rc->mod, &g_rc->mod, &cb);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, rc_freer, NULL) == 0);
    CHECK(nmr_trace_set_hook(reg_hook, NULL, NULL) == NULL);
    HANDLE h;
    /* No peer: nothing keeps the registration alive past the lock. */
    CHECK_STATUS(NmrRegisterProvider(&g_rc->pc, NULL, &h), STATUS_SUCCESS);
    CHECK(pthread_join(t, NULL) == 0);
    CHECK(nmr_trace_set_hook(NULL, NULL, NULL) == reg_hook);
    CHECK(g_rc_checked);
    CHECK(g_rc_npi_ok);    /* R3, R27 */
    CHECK(g_rc_module_ok); /* R3, R27 */
}

/* ---- half_order (R13, R14, R16) ---------------------------------------- */

/* Per binding, the order the events arrived in. */
#define MAX_ORDER 64
static pthread_mutex_t g_ord_lock = PTHREAD_MUTEX_INITIALIZER;
static HANDLE g_ord_binding;
static int g_ord[MAX_ORDER];
static int g_ord_n;
static atomic_int g_ord_bad;

static void order_hook(void *ctx, const nmr_event *e)
{
    (void)ctx;
    if (e->binding == NULL)
        return;
    pthread_mutex_lock(&g_ord_lock);
    if (e->binding == g_ord_binding && g_ord_n < MAX_ORDER) {
        for (int i = 0; i < g_ord_n; i++)
            if (g_ord[i] == NMR_EVENT_CLEANUP)
                atomic_fetch_add(&g_ord_bad, 1); /* anything after CLEANUP */
        g_ord[g_ord_n++] = (int)e->type;
    }
    pthread_mutex_unlock(&g_ord_lock);
}

/* The binding under test: the client detach returns PENDING and is
 * completed from another thread; the provider detach returns PENDING too
 * (stress), or a status the contract does not allow (deterministic). */
static _Atomic(HANDLE) g_bind;
static atomic_int g_prov_mode; /* 0: PENDING, 1: bad status */

static NTSTATUS ord_client_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE ri)
{
    (void)ri;
    PVOID pctx;
    const VOID *pd;
    atomic_store(&g_bind, b);
    pthread_mutex_lock(&g_ord_lock);
    g_ord_binding = b;
    g_ord_n = 0;
    pthread_mutex_unlock(&g_ord_lock);
    return NmrClientAttachProvider(b, ctx, NULL, &pctx, &pd);
}
static NTSTATUS ord_detach_pending(PVOID ctx)
{
    (void)ctx;
    return STATUS_PENDING;
}
static NTSTATUS ord_prov_detach(PVOID ctx)
{
    (void)ctx;
    return atomic_load(&g_prov_mode) == 1 ? (NTSTATUS)0x1234 : STATUS_PENDING;
}

/* Deterministic: the misuse report of the provider half's bad status
 * runs on the deregistering thread; while it runs, another thread
 * completes the client half.  That must not run the cleanups before the
 * provider half's HALF_COMPLETE is told. */
static flag g_go = FLAG_INIT, g_done = FLAG_INIT;

static void *client_completer(void *arg)
{
    (void)arg;
    CHECK(flag_wait(&g_go, 5000));
    NmrClientDetachProviderComplete(atomic_load(&g_bind));
    flag_set(&g_done);
    return NULL;
}

static atomic_int g_misuse_seen;
static void order_diag_hook(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)ctx; (void)msg;
    if (kind != NMR_MISUSE_BAD_DETACH_STATUS)
        return;
    atomic_fetch_add(&g_misuse_seen, 1);
    flag_set(&g_go);
    CHECK(flag_wait(&g_done, 5000));
}

static void order_setup(NPI_CLIENT_CHARACTERISTICS *cc, NPI_PROVIDER_CHARACTERISTICS *pc,
                        NPIID *npi, const NPI_MODULEID *mod)
{
    *npi = npi_n(2);
    test_callbacks cb = {ord_client_attach, ord_detach_pending, NULL, test_provider_accept,
                         ord_prov_detach, NULL};
    test_chars_init(cc, pc, npi, mod, mod, &cb);
}

static void t_half_order_misuse_window(void)
{
    static const NPI_MODULEID mod = {sizeof(NPI_MODULEID), MIT_GUID, {{0}}};
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    NPIID npi;
    order_setup(&cc, &pc, &npi, &mod);
    atomic_store(&g_prov_mode, 1);
    atomic_store(&g_ord_bad, 0);
    void *old_ctx;
    nmr_misuse_hook_fn *old = nmr_diag_set_hook(order_diag_hook, NULL, &old_ctx);
    CHECK(nmr_trace_set_hook(order_hook, NULL, NULL) == NULL);
    for (int round = 0; round < 20; round++) {
        HANDLE c, p;
        flag_reset(&g_go);
        flag_reset(&g_done);
        CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
        CHECK_STATUS(NmrRegisterClient(&cc, NULL, &c), STATUS_SUCCESS);
        pthread_t t;
        CHECK(pthread_create(&t, NULL, client_completer, NULL) == 0);
        CHECK_STATUS(NmrDeregisterClient(c), STATUS_PENDING);
        CHECK(pthread_join(t, NULL) == 0);
        CHECK_STATUS(NmrWaitForClientDeregisterComplete(c), STATUS_SUCCESS);
        CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
        CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
        pthread_mutex_lock(&g_ord_lock);
        int n = g_ord_n, last = n > 0 ? g_ord[n - 1] : 0;
        pthread_mutex_unlock(&g_ord_lock);
        CHECK_EQ(atomic_load(&g_ord_bad), 0); /* nothing after CLEANUP */
        CHECK_EQ(last, NMR_EVENT_CLEANUP);
    }
    CHECK_EQ(atomic_load(&g_misuse_seen), 20);
    CHECK(nmr_trace_set_hook(NULL, NULL, NULL) == order_hook);
    nmr_diag_set_hook(old, old_ctx, NULL);
}

/* Stress: both halves PENDING, completed by two threads at once. */
static atomic_int g_round;
static pthread_barrier_t g_barrier;

static void *half_racer(void *arg)
{
    int client = arg != NULL;
    for (;;) {
        pthread_barrier_wait(&g_barrier);
        if (atomic_load(&g_round) < 0)
            return NULL;
        HANDLE b = atomic_load(&g_bind);
        if (client)
            NmrClientDetachProviderComplete(b);
        else
            NmrProviderDetachClientComplete(b);
        pthread_barrier_wait(&g_barrier);
    }
}

static void t_half_order_race(void)
{
    static const NPI_MODULEID mod = {sizeof(NPI_MODULEID), MIT_GUID, {{0}}};
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    NPIID npi;
    order_setup(&cc, &pc, &npi, &mod);
    atomic_store(&g_prov_mode, 0);
    atomic_store(&g_ord_bad, 0);
    CHECK(nmr_trace_set_hook(order_hook, NULL, NULL) == NULL);
    CHECK(pthread_barrier_init(&g_barrier, NULL, 3) == 0);
    pthread_t t[2];
    CHECK(pthread_create(&t[0], NULL, half_racer, NULL) == 0);
    CHECK(pthread_create(&t[1], NULL, half_racer, (void *)1) == 0);
    HANDLE p;
    CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
    uint64_t end = now_ms() + 1000;
    int rounds = 0;
    while (now_ms() < end && rounds < 200000) {
        HANDLE c;
        CHECK_STATUS(NmrRegisterClient(&cc, NULL, &c), STATUS_SUCCESS);
        CHECK_STATUS(NmrDeregisterClient(c), STATUS_PENDING); /* both PENDING */
        atomic_store(&g_round, ++rounds);
        pthread_barrier_wait(&g_barrier); /* go */
        pthread_barrier_wait(&g_barrier); /* both completed */
        CHECK_STATUS(NmrWaitForClientDeregisterComplete(c), STATUS_SUCCESS);
        pthread_mutex_lock(&g_ord_lock);
        int last = g_ord_n > 0 ? g_ord[g_ord_n - 1] : 0;
        pthread_mutex_unlock(&g_ord_lock);
        CHECK_EQ(atomic_load(&g_ord_bad), 0);
        CHECK_EQ(last, NMR_EVENT_CLEANUP);
    }
    atomic_store(&g_round, -1);
    pthread_barrier_wait(&g_barrier);
    CHECK(pthread_join(t[0], NULL) == 0 && pthread_join(t[1], NULL) == 0);
    pthread_barrier_destroy(&g_barrier);
    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
    CHECK(nmr_trace_set_hook(NULL, NULL, NULL) == order_hook);
    fprintf(stderr, "   %d rounds of two racing completions\n", rounds);
}

/* ---- hook_removal (R30) ------------------------------------------------- */

#define CTX_MAGIC 0x600dc0deu
typedef struct hook_ctx {
    atomic_uint magic;
    atomic_ulong calls;
} hook_ctx;

static atomic_int g_stop;
static atomic_ulong g_bad_ctx;

static void check_ctx(hook_ctx *h)
{
    if (atomic_load(&h->magic) != CTX_MAGIC)
        atomic_fetch_add(&g_bad_ctx, 1);
    /* Hold the context a while, so that a removal that does not wait for
     * calls in progress frees it under us. */
    struct timespec ts = {0, 20000};
    nanosleep(&ts, NULL);
    if (atomic_load(&h->magic) != CTX_MAGIC)
        atomic_fetch_add(&g_bad_ctx, 1);
    atomic_fetch_add(&h->calls, 1);
}

static void slow_trace_hook(void *ctx, const nmr_event *e)
{
    (void)e;
    check_ctx(ctx);
}
static void slow_diag_hook(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)kind; (void)msg;
    check_ctx(ctx);
}

/* One registration, deregistered and waited for: four events. */
static void make_one_event(uint32_t npi_number)
{
    static const NPI_MODULEID mod = {sizeof(NPI_MODULEID), MIT_GUID, {{0}}};
    NPIID npi = npi_n(npi_number);
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    test_callbacks cb = {test_client_decline, test_detach_success, NULL, test_provider_decline,
                         test_detach_success, NULL};
    test_chars_init(&cc, &pc, &npi, &mod, &mod, &cb);
    HANDLE c;
    CHECK_STATUS(NmrRegisterClient(&cc, NULL, &c), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(c), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(c), STATUS_SUCCESS);
}

/* Makes events (trace) and misuse reports (diag) until told to stop. */
static void *event_maker(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        make_one_event(3);
        NmrClientDetachProviderComplete(NULL); /* one misuse report (R26, R30) */
    }
    return NULL;
}

/* In place of no hook: no message on standard error per misuse. */
static void quiet_diag_hook(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)ctx; (void)kind; (void)msg;
}

static hook_ctx *new_ctx(void)
{
    hook_ctx *h = malloc(sizeof(*h));
    CHECK(h != NULL);
    atomic_init(&h->magic, CTX_MAGIC);
    atomic_init(&h->calls, 0);
    return h;
}

static void free_ctx(hook_ctx *h)
{
    atomic_store(&h->magic, 0xdeadu);
    free(h);
}

static void t_hook_removal_waits(void)
{
    void *old_diag_ctx;
    nmr_misuse_hook_fn *old_diag = nmr_diag_set_hook(quiet_diag_hook, NULL, &old_diag_ctx);
    atomic_store(&g_stop, 0);
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&t[i], NULL, event_maker, NULL) == 0);
    unsigned long calls = 0;
    uint64_t end = now_ms() + 800;
    int cycles = 0;
    while (now_ms() < end) {
        hook_ctx *tc = new_ctx(), *dc = new_ctx();
        CHECK(nmr_trace_set_hook(slow_trace_hook, tc, NULL) == NULL);
        CHECK(nmr_diag_set_hook(slow_diag_hook, dc, NULL) == quiet_diag_hook);
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
        void *got_t = NULL, *got_d = NULL;
        CHECK(nmr_trace_set_hook(NULL, NULL, &got_t) == slow_trace_hook);
        CHECK(nmr_diag_set_hook(quiet_diag_hook, NULL, &got_d) == slow_diag_hook);
        CHECK(got_t == tc && got_d == dc);
        calls += atomic_load(&tc->calls) + atomic_load(&dc->calls);
        free_ctx(tc); /* at once: no hook call is in progress any more */
        free_ctx(dc);
        cycles++;
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_join(t[i], NULL) == 0);
    nmr_diag_set_hook(old_diag, old_diag_ctx, NULL);
    CHECK_EQ(atomic_load(&g_bad_ctx), 0); /* R30 */
    CHECK(calls > 0);
    fprintf(stderr, "   %d install/remove cycles, %lu hook calls\n", cycles, calls);
}

/* From inside a hook: removal returns at once, the sync says it cannot
 * wait, and a later sync from outside succeeds. */
static NTSTATUS g_inside_trace_sync = -1, g_inside_diag_sync = -1;
static atomic_int g_self_removals;

static void self_removing_trace_hook(void *ctx, const nmr_event *e)
{
    (void)e;
    if (nmr_trace_set_hook(NULL, NULL, NULL) == self_removing_trace_hook) {
        atomic_fetch_add(&g_self_removals, 1);
        g_inside_trace_sync = nmr_trace_sync();
        g_inside_diag_sync = nmr_diag_sync(); /* inside a hook of any kind */
        CHECK(atomic_load(&((hook_ctx *)ctx)->magic) == CTX_MAGIC);
    }
}

static void t_hook_removal_from_inside(void)
{
    hook_ctx *h = new_ctx();
    CHECK(nmr_trace_set_hook(self_removing_trace_hook, h, NULL) == NULL);
    make_one_event(4); /* events */
    CHECK_EQ(atomic_load(&g_self_removals), 1);
    CHECK_STATUS(g_inside_trace_sync, STATUS_POSSIBLE_DEADLOCK); /* R30 */
    CHECK_STATUS(g_inside_diag_sync, STATUS_POSSIBLE_DEADLOCK);
    CHECK_STATUS(nmr_trace_sync(), STATUS_SUCCESS);
    CHECK_STATUS(nmr_diag_sync(), STATUS_SUCCESS);
    free_ctx(h);
    CHECK(nmr_trace_set_hook(NULL, NULL, NULL) == NULL);
}

/* Hooks changed from inside hook calls, several times in one call, then
 * from outside: the changes take effect at once, no record is freed while
 * it may be read, and the next change outside frees what was replaced
 * (the hook cell's pool of two records runs out, then is refilled). */
static atomic_int g_swap_calls[3];
static void swap_hook_c(void *ctx, const nmr_event *e);
static void swap_hook_b(void *ctx, const nmr_event *e)
{
    (void)ctx; (void)e;
    atomic_fetch_add(&g_swap_calls[1], 1);
}
static void swap_hook_a(void *ctx, const nmr_event *e)
{
    (void)ctx; (void)e;
    if (atomic_fetch_add(&g_swap_calls[0], 1) != 0)
        return;
    /* Inside a hook: three changes, none waits; the second and third find
     * both pooled records in use and take fresh ones. */
    CHECK(nmr_trace_set_hook(swap_hook_b, NULL, NULL) == swap_hook_a);
    CHECK(nmr_trace_set_hook(swap_hook_c, NULL, NULL) == swap_hook_b);
    CHECK(nmr_trace_set_hook(swap_hook_b, NULL, NULL) == swap_hook_c);
    CHECK_STATUS(nmr_trace_sync(), STATUS_POSSIBLE_DEADLOCK);
}
static void swap_hook_c(void *ctx, const nmr_event *e)
{
    (void)ctx; (void)e;
    atomic_fetch_add(&g_swap_calls[2], 1);
}

static void t_hook_swaps_inside_hooks(void)
{
    CHECK(nmr_trace_set_hook(swap_hook_a, NULL, NULL) == NULL);
    make_one_event(5); /* register, deregister, wait start, wait end */
    CHECK_EQ(atomic_load(&g_swap_calls[0]), 1); /* replaced at its first call */
    CHECK(atomic_load(&g_swap_calls[1]) >= 3);   /* the rest of that cycle */
    CHECK_EQ(atomic_load(&g_swap_calls[2]), 0);
    /* From outside: one record is current, the others wait for a grace
     * period; the change makes it and reuses a pooled record. */
    CHECK(nmr_trace_set_hook(swap_hook_c, NULL, NULL) == swap_hook_b);
    make_one_event(5);
    CHECK(atomic_load(&g_swap_calls[2]) >= 4);
    CHECK(nmr_trace_set_hook(swap_hook_b, NULL, NULL) == swap_hook_c);
    CHECK(nmr_trace_set_hook(NULL, NULL, NULL) == swap_hook_b);
    CHECK_STATUS(nmr_trace_sync(), STATUS_SUCCESS);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static long live0; /* live allocations before the case */

static void setup(void)
{
    live0 = nmr_alloc_live();
}

static void teardown(void)
{
    CHECK_EQ(nmr_alloc_live(), live0); /* R31 */
}

static const nmr_test_case cases[] = {
    CASE(t_register_event_lifetime, "R3 R27"),
    CASE(t_half_order_misuse_window, "R14 R16"),
    CASE(t_half_order_race, "R14 R16"),
    CASE(t_hook_removal_waits, "R30"),
    CASE(t_hook_removal_from_inside, "R30"),
    CASE(t_hook_swaps_inside_hooks, "R30"),
};

NMR_TEST_SUITE(test_mt_regress, cases, setup, teardown, NULL);
