/* SPDX-License-Identifier: MIT */
/*
 * test_wait.c - waiting for deregistration: R18 (success, then the handle
 * is dead), R19 (wait before deregister, bad handles), R20 (wait from a
 * callback it would wait for), R21 (double deregister).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "fixture.h"
#include "rule_test.h"
#include "alloc.h"

#include <time.h>

static NTSTATUS wait_h(int is_client, HANDLE h)
{
    return is_client ? NmrWaitForClientDeregisterComplete(h)
                     : NmrWaitForProviderDeregisterComplete(h);
}

static NTSTATUS dereg_h(int is_client, HANDLE h)
{
    return is_client ? NmrDeregisterClient(h) : NmrDeregisterProvider(h);
}

/* ---- R18 --------------------------------------------------------------- */

/* R18: the wait returns STATUS_SUCCESS once everything is cleaned up;
 * afterwards the registration handle is dead (R19: wait and deregister on
 * it give STATUS_INVALID_PARAMETER) and no callback of it runs again. */
static void t_r18_wait_then_dead(void)
{
    for (int side = 0; side < 2; side++) {
        GUID npi = fx_guid(0x5001);
        fx_module *c = fx_client(&npi);
        fx_module *p = fx_provider(&npi);
        fx_module *m = side ? c : p;
        m->detach_mode = FX_DET_PENDING;
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        CHECK_STATUS(fx_deregister(m), STATUS_PENDING);
        CHECK_EQ(fx_complete_pending(m), 1);
        CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
        CHECK_STATUS(fx_wait(m), STATUS_SUCCESS);
        int att0 = fx_count(FX_EV_CLIENT_ATTACH, NULL, NULL) +
                   fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL);
        CHECK_EQ(att0, 2);
        CHECK_STATUS(fx_wait(m), STATUS_INVALID_PARAMETER);
        CHECK_STATUS(fx_deregister(m), STATUS_INVALID_PARAMETER);
        /* a newcomer that would match m is not offered to it */
        fx_module *n = side ? fx_provider(&npi) : fx_client(&npi);
        CHECK_STATUS(fx_register(n), STATUS_SUCCESS);
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, NULL, NULL) +
                     fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL),
                 att0);
        fx_module *other = side ? p : c;
        dereg_wait(n);
        dereg_wait(other);
        finish();
    }
}

/* A helper thread that completes every pending half of a module after a
 * delay (the only way a single test thread can be blocked in a wait and
 * still see it finish). */
static atomic_int g_completed;
static pthread_t g_helper;
static void *thr_complete_later(void *arg)
{
    fx_module *m = (fx_module *)arg;
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL);
    g_helper = pthread_self();
    atomic_store(&g_completed, 1);
    fx_complete_pending(m);
    return NULL;
}

/* R18: the wait blocks until the pending half is completed and the
 * cleanups (run by the completing thread) have returned. */
static void t_r18_wait_blocks_until_cleanup(void)
{
    GUID npi = fx_guid(0x5002);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    atomic_store(&g_completed, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thr_complete_later, c) == 0);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_EQ(atomic_load(&g_completed), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
    CHECK_EQ(atomic_load(&c->sides->in_callback), 0);
    CHECK(pthread_join(th, NULL) == 0);
    /* R16: the cleanups ran on the thread that completed the last half */
    const fx_event *ev =
        fx_log_at(fx_index(FX_EV_CLIENT_CLEANUP, c, p, 0));
    CHECK(pthread_equal(ev->thread, g_helper));
    ev = fx_log_at(fx_index(FX_EV_PROVIDER_CLEANUP, p, c, 0));
    CHECK(pthread_equal(ev->thread, g_helper));
    CHECK_STATUS(fx_wait(c), STATUS_INVALID_PARAMETER);
    dereg_wait(p);
    finish();
}

/* ---- R19 --------------------------------------------------------------- */

/* R19: a wait before deregistration returns STATUS_INVALID_PARAMETER at
 * once and changes nothing: the registration still gets offers and can
 * be deregistered and waited normally. */
static void t_r19_wait_before_deregister(void)
{
    for (int side = 0; side < 2; side++) {
        GUID npi = fx_guid(0x5010);
        fx_module *m = side ? fx_client(&npi) : fx_provider(&npi);
        CHECK_STATUS(fx_register(m), STATUS_SUCCESS);
        CHECK_STATUS(fx_wait(m), STATUS_INVALID_PARAMETER);
        fx_module *peer = side ? fx_provider(&npi) : fx_client(&npi);
        CHECK_STATUS(fx_register(peer), STATUS_SUCCESS);
        CHECK_EQ(fx_live_sides(m), 1);
        CHECK_STATUS(fx_wait(m), STATUS_INVALID_PARAMETER);
        CHECK_EQ(fx_live_sides(m), 1);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, NULL, NULL), 0);
        dereg_wait(m);
        dereg_wait(peer);
        finish();
    }
}

static HANDLE g_binding;
static void hook_save_binding(fx_module *m, fx_ev_type t, int phase,
                              fx_side *s, void *arg)
{
    (void)m; (void)arg;
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_PRE)
        g_binding = s->binding;
}

/* R19, R26: garbage, NULL, a binding handle, the other kind's handle and a
 * dead handle give STATUS_INVALID_PARAMETER. */
static void t_r19_bad_handles(void)
{
    GUID npi = fx_guid(0x5011);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->hook = hook_save_binding;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    p->detach_mode = FX_DET_PENDING;
    /* both deregistering, so a wrong-kind wait would otherwise be legal */
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    int dummy = 0;
    for (int k = 0; k < 2; k++) {
        CHECK_STATUS(wait_h(k, NULL), STATUS_INVALID_PARAMETER);
        CHECK_STATUS(wait_h(k, (HANDLE)&dummy), STATUS_INVALID_PARAMETER);
        CHECK_STATUS(wait_h(k, (HANDLE)(uintptr_t)0x12345678),
                     STATUS_INVALID_PARAMETER);
        CHECK_STATUS(wait_h(k, (HANDLE)(uintptr_t)1),
                     STATUS_INVALID_PARAMETER);
        CHECK_STATUS(wait_h(k, (HANDLE)(uintptr_t)-1),
                     STATUS_INVALID_PARAMETER);
        CHECK_STATUS(wait_h(k, g_binding), STATUS_INVALID_PARAMETER);
    }
    /* wrong kind: would block (binding pending) if accepted */
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(c->handle),
                 STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(p->handle),
                 STATUS_INVALID_PARAMETER);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    /* dead */
    CHECK_STATUS(fx_wait(c), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(fx_wait(p), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(wait_h(1, g_binding), STATUS_INVALID_PARAMETER);
    finish();
}

/* ---- R20 --------------------------------------------------------------- */

static NTSTATUS g_st[32];
static int g_nst;
static fx_module *g_target;      /* whose wait the hook calls */
static fx_ev_type g_when;        /* in which callback */
static int g_dereg_first;        /* deregister g_target first */

static void hook_wait(fx_module *m, fx_ev_type t, int phase, fx_side *s,
                      void *arg)
{
    (void)m; (void)s; (void)arg;
    if (t != g_when || phase != FX_PRE || g_target == NULL)
        return;
    fx_module *target = g_target;
    g_target = NULL; /* once */
    if (g_dereg_first)
        g_st[g_nst++] = fx_deregister(target);
    g_st[g_nst++] = fx_wait(target);
}

static void wait_in(fx_ev_type when, int hook_on_client, int target_client,
                    int dereg_first, int dereg_who)
{
    GUID npi = fx_guid(0x5020);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    (hook_on_client ? c : p)->hook = hook_wait;
    g_when = when;
    g_dereg_first = dereg_first;
    g_nst = 0;
    fx_module *target = target_client ? c : p;
    int attach = (when == FX_EV_CLIENT_ATTACH || when == FX_EV_PROVIDER_ATTACH);
    if (attach) {
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        g_target = target;
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    } else {
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        g_target = target;
        CHECK_STATUS(fx_deregister(dereg_who ? c : p), STATUS_PENDING);
    }
    CHECK(g_target == NULL); /* the hook ran */
    CHECK_EQ(g_nst, dereg_first ? 2 : 1);
    if (dereg_first)
        CHECK_STATUS(g_st[0], STATUS_PENDING);
    CHECK_STATUS(g_st[g_nst - 1], STATUS_POSSIBLE_DEADLOCK);
    /* the registrations are still fine: finish them normally */
    NTSTATUS sc = fx_deregister(c), sp = fx_deregister(p);
    CHECK(sc == STATUS_PENDING || sc == STATUS_INVALID_DEVICE_STATE);
    CHECK(sp == STATUS_PENDING || sp == STATUS_INVALID_DEVICE_STATE);
    CHECK(sc == STATUS_PENDING || sp == STATUS_PENDING || dereg_first ||
          !attach);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    finish();
}

/* R20: a registration waiting for itself from inside its own callbacks
 * (attach after deregistering itself, detach, cleanup) gets
 * STATUS_POSSIBLE_DEADLOCK at once instead of hanging. */
static void t_r20_own_callbacks(void)
{
    /* client attach: the client deregisters itself, then waits */
    wait_in(FX_EV_CLIENT_ATTACH, 1, 1, 1, 0);
    /* provider attach (nested in the client's offer): provider waits for
     * itself after deregistering itself */
    wait_in(FX_EV_PROVIDER_ATTACH, 0, 0, 1, 0);
    /* provider attach: waiting for the *client* whose offer is on the
     * stack (a callback of one of its bindings) */
    wait_in(FX_EV_PROVIDER_ATTACH, 0, 1, 1, 0);
    /* client detach while the client deregisters */
    wait_in(FX_EV_CLIENT_DETACH, 1, 1, 0, 1);
    /* provider detach while the provider deregisters */
    wait_in(FX_EV_PROVIDER_DETACH, 0, 0, 0, 0);
    /* cleanups */
    wait_in(FX_EV_CLIENT_CLEANUP, 1, 1, 0, 1);
    wait_in(FX_EV_PROVIDER_CLEANUP, 0, 0, 0, 0);
}

/* R20: waiting, from a callback of one of its bindings, for the peer
 * registration that is deregistering: the client's detach callback waits
 * for the provider whose deregistration called it. */
static void t_r20_peer_binding_on_stack(void)
{
    /* provider deregisters -> client detach -> wait(provider) */
    wait_in(FX_EV_CLIENT_DETACH, 1, 0, 0, 0);
    /* client deregisters -> provider detach -> wait(client) */
    wait_in(FX_EV_PROVIDER_DETACH, 0, 1, 0, 1);
    /* provider deregisters -> client cleanup -> wait(provider) */
    wait_in(FX_EV_CLIENT_CLEANUP, 1, 0, 0, 0);
}

/* Wait for an unrelated, finished deregistration from inside a callback. */
static fx_module *g_unrelated;
static void hook_wait_unrelated(fx_module *m, fx_ev_type t, int phase,
                                fx_side *s, void *arg)
{
    (void)m; (void)s; (void)arg;
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_PRE && g_unrelated) {
        g_st[g_nst++] = fx_wait(g_unrelated);
        g_unrelated = NULL;
    }
}

/* R20 is narrow: a wait from inside a callback for a registration that
 * does not wait for that callback (other NPI, nothing bound) completes
 * normally (R22: every NMR function may be called from callbacks). */
static void t_r20_unrelated_wait_ok(void)
{
    GUID npi = fx_guid(0x5030), other = fx_guid(0x5031);
    fx_module *q = fx_provider(&other);
    CHECK_STATUS(fx_register(q), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(q), STATUS_PENDING);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->hook = hook_wait_unrelated;
    g_unrelated = q;
    g_nst = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_SUCCESS);
    CHECK_STATUS(fx_wait(q), STATUS_INVALID_PARAMETER); /* dead now */
    dereg_wait(c);
    dereg_wait(p);
    finish();
}

/* From inside c's attach callback: deregister q (whose provider half
 * pends, so q has a live binding that is NOT on this stack), let a helper
 * thread complete it later, and wait for q: that wait must block and
 * succeed, not claim a deadlock. */
static fx_module *g_q;
static void hook_wait_busy_unrelated(fx_module *m, fx_ev_type t, int phase,
                                     fx_side *s, void *arg)
{
    (void)m; (void)s; (void)arg;
    if (t != FX_EV_CLIENT_ATTACH || phase != FX_PRE || g_q == NULL)
        return;
    fx_module *q = g_q;
    g_q = NULL;
    g_st[g_nst++] = fx_deregister(q);
    atomic_store(&g_completed, 0);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thr_complete_later, q) == 0);
    g_st[g_nst++] = fx_wait(q);
    g_st[g_nst++] = atomic_load(&g_completed);
    CHECK(pthread_join(th, NULL) == 0);
}

/* R20 is narrow (R22): a wait from a callback for a registration with live
 * bindings that do not involve this thread's callbacks blocks normally. */
static void t_r20_busy_unrelated_wait_ok(void)
{
    GUID npi = fx_guid(0x5032), other = fx_guid(0x5033);
    fx_module *q = fx_provider(&other);
    fx_module *qc = fx_client(&other);
    q->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(q), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(qc), STATUS_SUCCESS);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->hook = hook_wait_busy_unrelated;
    g_q = q;
    g_nst = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 3);
    CHECK_STATUS(g_st[0], STATUS_PENDING);
    CHECK_STATUS(g_st[1], STATUS_SUCCESS);
    CHECK_EQ(g_st[2], 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, q, qc), 1);
    dereg_wait(qc);
    dereg_wait(c);
    dereg_wait(p);
    finish();
}

/* ---- R21 --------------------------------------------------------------- */

/* R21: a second deregistration returns STATUS_INVALID_DEVICE_STATE and
 * changes nothing (no second detach, wait still works). */
static void t_r21_double_deregister(void)
{
    for (int side = 0; side < 2; side++) {
        GUID npi = fx_guid(0x5040);
        fx_module *c = fx_client(&npi);
        fx_module *p = fx_provider(&npi);
        fx_module *m = side ? c : p;
        m->detach_mode = FX_DET_PENDING;
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        CHECK_STATUS(fx_deregister(m), STATUS_PENDING);
        int log0 = fx_log_len();
        CHECK_STATUS(fx_deregister(m), STATUS_INVALID_DEVICE_STATE);
        CHECK_STATUS(dereg_h(side, m->handle), STATUS_INVALID_DEVICE_STATE);
        CHECK_EQ(fx_log_len(), log0);
        CHECK_EQ(fx_complete_pending(m), 1);
        CHECK_STATUS(fx_deregister(m), STATUS_INVALID_DEVICE_STATE);
        CHECK_STATUS(fx_wait(m), STATUS_SUCCESS);
        CHECK_STATUS(fx_deregister(m), STATUS_INVALID_PARAMETER); /* dead */
        dereg_wait(side ? p : c);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, NULL, NULL), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, NULL, NULL), 1);
        finish();
    }
}

/* R21 without bindings: still INVALID_DEVICE_STATE until the wait. */
static void t_r21_double_deregister_unbound(void)
{
    GUID npi = fx_guid(0x5041);
    fx_module *c = fx_client(&npi);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_deregister(c), STATUS_INVALID_DEVICE_STATE);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_INVALID_PARAMETER);
    /* wrong kind deregister: INVALID_PARAMETER (R26) */
    fx_module *p = fx_provider(&npi);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    fx_module *c2 = fx_client(&npi);
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(p->handle), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrDeregisterProvider(c2->handle), STATUS_INVALID_PARAMETER);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, NULL, NULL), 0);
    dereg_wait(p);
    dereg_wait(c2);
    finish();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_r18_wait_then_dead, "R18 R19"),
    CASE(t_r18_wait_blocks_until_cleanup, "R18"),
    CASE(t_r19_wait_before_deregister, "R19"),
    CASE(t_r19_bad_handles, "R19 R26"),
    CASE(t_r20_own_callbacks, "R20"),
    CASE(t_r20_peer_binding_on_stack, "R20"),
    CASE(t_r20_unrelated_wait_ok, "R20 R22"),
    CASE(t_r20_busy_unrelated_wait_ok, "R20 R22"),
    CASE(t_r21_double_deregister, "R21"),
    CASE(t_r21_double_deregister_unbound, "R21"),
};

NMR_TEST_SUITE(test_wait, cases, rt_setup, rt_teardown_no_misuse, NULL);
