/* SPDX-License-Identifier: MIT */
/*
 * test_nested.c - re-entry (R22): NMR calls from inside callbacks: nested
 * registration, deregistering oneself (or the peer) from attach and detach
 * callbacks, completing from inside detach, calls from cleanups; with the
 * late-comer rule (R11) and one offer per pair (R5, R6) still holding.
 */
#include "check.h"
#include "fixture.h"
#include "rule_test.h"
#include "alloc.h"

/* Every attached binding of the log was detached and cleaned up exactly
 * once per side (the fixture flags doubles). */
static void all_cleaned(fx_module **mods, int n)
{
    for (int i = 0; i < n; i++)
        CHECK_EQ(fx_live_sides(mods[i]), 0);
}

static NTSTATUS g_st[16];
static int g_nst;

/* ---- nested registration ------------------------------------------------ */

/* hook_register registers g_to_register (once) on entry to the next
 * callback of type g_register_on of the module it is hooked to. */
static fx_module *g_to_register;
static fx_ev_type g_register_on = FX_EV_CLIENT_ATTACH;
static void register_on(fx_ev_type t, fx_module *who)
{
    g_register_on = t;
    g_to_register = who;
}

static void hook_register(fx_module *m, fx_ev_type t, int phase, fx_side *s,
                          void *arg)
{
    (void)m; (void)s; (void)arg;
    if (t == g_register_on && phase == FX_PRE && g_to_register) {
        fx_module *r = g_to_register;
        g_to_register = NULL;
        g_st[g_nst++] = fx_register(r);
    }
}

/* R22: a client registers a provider of another NPI from inside its attach
 * callback; the nested registration makes its own offers synchronously. */
static void t_r22_register_other_npi_in_attach(void)
{
    GUID a = fx_guid(0x8001), b = fx_guid(0x8002);
    fx_module *pa = fx_provider(&a);
    fx_module *ca = fx_client(&a);
    fx_module *cb = fx_client(&b);
    fx_module *pb = fx_provider(&b);
    ca->hook = hook_register;
    g_nst = 0;
    CHECK_STATUS(fx_register(pa), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(cb), STATUS_SUCCESS);
    register_on(FX_EV_CLIENT_ATTACH, pb);
    CHECK_STATUS(fx_register(ca), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_SUCCESS);
    CHECK(pb->handle != NULL);
    /* pb's offer to cb happened inside ca's offer */
    int outer = fx_index(FX_EV_CLIENT_ATTACH, ca, pa, 0);
    int inner = fx_index(FX_EV_CLIENT_ATTACH, cb, pb, 0);
    CHECK(outer >= 0 && inner > outer);
    CHECK(inner < fx_index(FX_EV_PROVIDER_ATTACH, pa, ca, 0));
    CHECK_EQ(fx_live_sides(ca), 1);
    CHECK_EQ(fx_live_sides(cb), 1);
    fx_module *all[] = {pa, ca, cb, pb};
    for (int i = 0; i < 4; i++)
        dereg_wait(all[i]);
    all_cleaned(all, 4);
    finish();
}

/* R22, R5, R6: a client registers a provider of the *same* NPI from inside
 * its attach callback: the new pair is offered exactly once (by the nested
 * registration), each pair once. */
static void t_r22_register_same_npi_in_attach(void)
{
    GUID a = fx_guid(0x8003);
    fx_module *p1 = fx_provider(&a);
    fx_module *c = fx_client(&a);
    fx_module *p2 = fx_provider(&a);
    c->hook = hook_register;
    g_nst = 0;
    CHECK_STATUS(fx_register(p1), STATUS_SUCCESS);
    register_on(FX_EV_CLIENT_ATTACH, p2);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p1), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p2), 1);
    CHECK_EQ(fx_live_sides(c), 2);
    fx_module *all[] = {p1, c, p2};
    for (int i = 0; i < 3; i++)
        dereg_wait(all[i]);
    all_cleaned(all, 3);
    finish();
}

/* ---- deregister oneself from attach ------------------------------------ */

static fx_module *g_to_deregister;
static fx_ev_type g_dereg_when;
static void hook_deregister(fx_module *m, fx_ev_type t, int phase,
                            fx_side *s, void *arg)
{
    (void)m; (void)s; (void)arg;
    if (t == g_dereg_when && phase == FX_PRE && g_to_deregister) {
        fx_module *r = g_to_deregister;
        g_to_deregister = NULL;
        g_st[g_nst++] = fx_deregister(r);
    }
}

/* R22, R11, R12: a client deregisters itself from its first attach
 * callback and then attaches anyway: the binding is detached at once,
 * before NmrRegisterClient returns; no further offers are made for the
 * deregistering client; the wait then succeeds. */
static void t_r22_client_deregisters_self_in_attach(void)
{
    GUID a = fx_guid(0x8010);
    fx_module *p1 = fx_provider(&a);
    fx_module *p2 = fx_provider(&a);
    fx_module *c = fx_client(&a);
    c->hook = hook_deregister;
    g_dereg_when = FX_EV_CLIENT_ATTACH;
    g_nst = 0;
    CHECK_STATUS(fx_register(p1), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    g_to_deregister = c;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_PENDING);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, NULL), 1); /* no 2nd offer */
    /* whatever NmrClientAttachProvider said, nothing stays attached */
    CHECK_EQ(fx_live_sides(c), 0);
    CHECK_EQ(fx_live_sides(p1) + fx_live_sides(p2), 0);
    fx_side *cs = c->sides;
    if (cs->attached) {
        CHECK_EQ(cs->detach_calls, 1);
        CHECK_EQ(cs->other->detach_calls, 1);
    }
    CHECK_STATUS(fx_deregister(c), STATUS_INVALID_DEVICE_STATE);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    dereg_wait(p1);
    dereg_wait(p2);
    finish();
}

/* R22, R11: a provider deregisters itself from its own attach callback and
 * accepts: the binding is detached at once (client detach, then provider
 * detach, cleanups) before NmrRegisterClient returns. */
static void t_r22_provider_deregisters_self_in_attach(void)
{
    GUID a = fx_guid(0x8011);
    fx_module *p = fx_provider(&a);
    fx_module *c = fx_client(&a);
    p->hook = hook_deregister;
    g_dereg_when = FX_EV_PROVIDER_ATTACH;
    g_nst = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    g_to_deregister = p;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_PENDING);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    CHECK(fx_index(FX_EV_CLIENT_DETACH, c, p, 0) <
          fx_index(FX_EV_PROVIDER_DETACH, p, c, 0));
    CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
    /* the detach came after the offer returned (R23 order) */
    int last_attach_end = fx_index(FX_EV_PROVIDER_ATTACH, p, c, 0);
    CHECK(fx_index(FX_EV_CLIENT_DETACH, c, p, 0) > last_attach_end);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    dereg_wait(c);
    finish();
}

/* R22, R11: the client deregisters the *provider* from inside its attach
 * callback (before attaching): the late binding is detached at once and
 * the provider's wait succeeds after NmrRegisterClient returned. */
static void t_r22_client_deregisters_peer_in_attach(void)
{
    GUID a = fx_guid(0x8012);
    fx_module *p = fx_provider(&a);
    fx_module *c = fx_client(&a);
    c->hook = hook_deregister;
    g_dereg_when = FX_EV_CLIENT_ATTACH;
    g_nst = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    g_to_deregister = p;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_PENDING);
    CHECK_EQ(fx_live_sides(c), 0);
    CHECK_EQ(fx_live_sides(p), 0);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    /* c stays registered and gets later offers (R17) */
    fx_module *p2 = fx_provider(&a);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    CHECK_EQ(fx_live_sides(c), 1);
    dereg_wait(p2);
    dereg_wait(c);
    finish();
}

/* ---- deregister from detach --------------------------------------------- */

/* R22: the provider deregisters; in its detach callback the client
 * deregisters itself: every binding is still detached exactly once per
 * side (the fixture flags doubles), both waits succeed. */
static void t_r22_deregister_self_in_detach(void)
{
    for (int who = 0; who < 2; who++) {
        GUID a = fx_guid(0x8020);
        fx_module *p = fx_provider(&a);
        fx_module *p2 = fx_provider(&a);
        fx_module *c = fx_client(&a);
        fx_module *c2 = fx_client(&a);
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
        g_nst = 0;
        if (who == 0) {
            /* p deregisters -> c's detach -> c deregisters itself */
            c->hook = hook_deregister;
            g_dereg_when = FX_EV_CLIENT_DETACH;
            g_to_deregister = c;
            CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
        } else {
            /* c deregisters -> p's detach -> p deregisters itself */
            p->hook = hook_deregister;
            g_dereg_when = FX_EV_PROVIDER_DETACH;
            g_to_deregister = p;
            CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
        }
        CHECK_EQ(g_nst, 1);
        CHECK_STATUS(g_st[0], STATUS_PENDING);
        CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p2), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c2), 1);
        CHECK_EQ(fx_live_sides(c2), 1); /* c2-p2 survives */
        CHECK_EQ(fx_live_sides(p2), 1);
        dereg_wait(c2);
        dereg_wait(p2);
        fx_module *all[] = {p, p2, c, c2};
        all_cleaned(all, 4);
        finish();
    }
}

/* R22, R12: a new client registers from inside the provider's detach
 * callback (the provider is deregistering): it is not offered that
 * provider but is offered the others. */
static void t_r22_register_in_detach(void)
{
    GUID a = fx_guid(0x8021);
    fx_module *p = fx_provider(&a);
    fx_module *p2 = fx_provider(&a);
    fx_module *c = fx_client(&a);
    fx_module *cn = fx_client(&a);
    p->hook = hook_register;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    g_nst = 0;
    register_on(FX_EV_PROVIDER_DETACH, cn);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, cn, p), 0);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, cn, p2), 1);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    dereg_wait(c);
    dereg_wait(cn);
    dereg_wait(p2);
    finish();
}

/* ---- calls from cleanups -------------------------------------------------- */

static int g_cleanup_calls_ok;
static void hook_cleanup_reenters(fx_module *m, fx_ev_type t, int phase,
                                  fx_side *s, void *arg)
{
    (void)m; (void)s; (void)arg; (void)phase;
    if (t != FX_EV_CLIENT_CLEANUP && t != FX_EV_PROVIDER_CLEANUP)
        return;
    /* register, bind, deregister and wait a whole pair of another NPI */
    GUID o = fx_guid(0x8031);
    fx_module *op = fx_provider(&o);
    fx_module *oc = fx_client(&o);
    if (fx_register(op) == STATUS_SUCCESS && fx_register(oc) == STATUS_SUCCESS &&
        fx_live_sides(oc) == 1 && fx_deregister(oc) == STATUS_PENDING &&
        fx_wait(oc) == STATUS_SUCCESS && fx_deregister(op) == STATUS_PENDING &&
        fx_wait(op) == STATUS_SUCCESS)
        g_cleanup_calls_ok++;
}

/* R22, R16: cleanup callbacks run with no NMR lock held: a cleanup can
 * register, bind, deregister and wait other registrations. */
static void t_r22_calls_from_cleanup(void)
{
    GUID a = fx_guid(0x8030);
    fx_module *p = fx_provider(&a);
    fx_module *c = fx_client(&a);
    c->hook = hook_cleanup_reenters;
    p->hook = hook_cleanup_reenters;
    g_cleanup_calls_ok = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    dereg_wait(c);
    CHECK_EQ(g_cleanup_calls_ok, 2);
    dereg_wait(p);
    finish();
}

/* R22, R15: completing from inside detach, and the completing side's
 * deregistration nested within the other side's detach, all on one stack. */
static fx_module *g_complete_and_dereg;
static void hook_complete_and_dereg(fx_module *m, fx_ev_type t, int phase,
                                    fx_side *s, void *arg)
{
    (void)arg;
    if (t == FX_EV_CLIENT_DETACH && phase == FX_PRE && g_complete_and_dereg) {
        fx_module *r = g_complete_and_dereg;
        g_complete_and_dereg = NULL;
        g_st[g_nst++] = fx_deregister(r);
        s->override = 1;
        s->override_status = STATUS_PENDING;
        fx_complete(s);
        (void)m;
    }
}

static void t_r22_complete_inside_nested(void)
{
    GUID a = fx_guid(0x8040);
    fx_module *p = fx_provider(&a);
    fx_module *c = fx_client(&a);
    c->hook = hook_complete_and_dereg;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    g_nst = 0;
    g_complete_and_dereg = c;
    unsigned long long m0 = nmr_diag_misuse_count();
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_PENDING);
    CHECK_EQ(nmr_diag_misuse_count(), m0);
    CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    finish();
}

/* ---- more nesting ------------------------------------------------------- */

/* R22, R11: the client deregisters itself *after* a successful
 * NmrClientAttachProvider (FX_POST), then returns STATUS_SUCCESS: the
 * binding is detached at once, client half first, before NmrRegisterClient
 * returns. */
static fx_module *g_post_dereg;
static void hook_dereg_post(fx_module *m, fx_ev_type t, int phase, fx_side *s,
                            void *arg)
{
    (void)m; (void)s; (void)arg;
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_POST && g_post_dereg) {
        fx_module *r = g_post_dereg;
        g_post_dereg = NULL;
        g_st[g_nst++] = fx_deregister(r);
    }
}

static void t_r22_deregister_self_after_attach(void)
{
    for (int who = 0; who < 2; who++) {
        GUID a = fx_guid(0x8050);
        fx_module *p = fx_provider(&a);
        fx_module *c = fx_client(&a);
        c->hook = hook_dereg_post;
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        g_nst = 0;
        g_post_dereg = who ? p : c;
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        CHECK_EQ(g_nst, 1);
        CHECK_STATUS(g_st[0], STATUS_PENDING);
        CHECK_EQ(c->sides->nmr_attach_status, STATUS_SUCCESS);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
        CHECK(fx_index(FX_EV_CLIENT_ATTACH, c, p, 0) <
              fx_index(FX_EV_CLIENT_DETACH, c, p, 0));
        CHECK(fx_index(FX_EV_CLIENT_DETACH, c, p, 0) <
              fx_index(FX_EV_PROVIDER_DETACH, p, c, 0));
        CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
        CHECK_STATUS(fx_wait(who ? p : c), STATUS_SUCCESS);
        dereg_wait(who ? c : p);
        finish();
    }
}

/* R12, R22: while a client's offers run (three providers), its attach
 * callback for the first provider offered deregisters one of the two not
 * yet offered: that pair is never offered; the remaining one still is. */
static fx_module *g_pool[3], *g_victim;
static int g_pick;
static void hook_dereg_other_provider(fx_module *m, fx_ev_type t, int phase,
                                      fx_side *s, void *arg)
{
    (void)m; (void)arg;
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_PRE && g_pick) {
        g_pick = 0;
        for (int i = 0; i < 3; i++) {
            if (g_pool[i] != s->peer) {
                g_victim = g_pool[i];
                break;
            }
        }
        g_st[g_nst++] = fx_deregister(g_victim);
    }
}

static void t_r12_deregister_pending_offer(void)
{
    GUID a = fx_guid(0x8051);
    for (int i = 0; i < 3; i++) {
        g_pool[i] = fx_provider(&a);
        CHECK_STATUS(fx_register(g_pool[i]), STATUS_SUCCESS);
    }
    fx_module *c = fx_client(&a);
    c->hook = hook_dereg_other_provider;
    g_nst = 0;
    g_pick = 1;
    g_victim = NULL;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK(g_victim != NULL);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_PENDING);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, g_victim), 0);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, NULL), 2);
    CHECK_EQ(fx_live_sides(c), 2);
    CHECK_STATUS(fx_wait(g_victim), STATUS_SUCCESS);
    dereg_wait(c);
    for (int i = 0; i < 3; i++)
        if (g_pool[i] != g_victim)
            dereg_wait(g_pool[i]);
    finish();
}

/* R22, R5, R6: a client registers from inside a provider's attach callback
 * (nested in another client's offer): the newcomer is offered that
 * provider exactly once, nested, and the outer binding still attaches. */
static void t_r22_register_in_provider_attach(void)
{
    GUID a = fx_guid(0x8052);
    fx_module *p = fx_provider(&a);
    fx_module *c1 = fx_client(&a);
    fx_module *c2 = fx_client(&a);
    p->hook = hook_register;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    g_nst = 0;
    register_on(FX_EV_PROVIDER_ATTACH, c2);
    CHECK_STATUS(fx_register(c1), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c1, p), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c2, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, NULL), 2);
    CHECK_EQ(fx_live_sides(c1), 1);
    CHECK_EQ(fx_live_sides(c2), 1);
    CHECK_EQ(fx_live_sides(p), 2);
    dereg_wait(p);
    dereg_wait(c1);
    dereg_wait(c2);
    finish();
}

/* R22: a provider deregisters itself from its cleanup callback (the
 * client's deregistration ended their binding); its other bindings are
 * detached by that nested call; its wait then succeeds. */
static fx_module *g_dereg_in_cleanup;
static void hook_dereg_in_cleanup(fx_module *m, fx_ev_type t, int phase,
                                  fx_side *s, void *arg)
{
    (void)m; (void)s; (void)arg; (void)phase;
    if (t == FX_EV_PROVIDER_CLEANUP && g_dereg_in_cleanup) {
        fx_module *r = g_dereg_in_cleanup;
        g_dereg_in_cleanup = NULL;
        g_st[g_nst++] = fx_deregister(r);
    }
}

static void t_r22_deregister_in_cleanup(void)
{
    GUID a = fx_guid(0x8053);
    fx_module *p = fx_provider(&a);
    fx_module *c1 = fx_client(&a);
    fx_module *c2 = fx_client(&a);
    p->hook = hook_dereg_in_cleanup;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c1), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    g_nst = 0;
    g_dereg_in_cleanup = p;
    CHECK_STATUS(fx_deregister(c1), STATUS_PENDING);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_PENDING);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c2, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c2), 1);
    CHECK_EQ(fx_live_sides(c2), 0);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_wait(c1), STATUS_SUCCESS);
    dereg_wait(c2);
    finish();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_r22_register_other_npi_in_attach, "R22"),
    CASE(t_r22_register_same_npi_in_attach, "R5 R6 R22"),
    CASE(t_r22_client_deregisters_self_in_attach, "R11 R12 R22"),
    CASE(t_r22_provider_deregisters_self_in_attach, "R11 R22"),
    CASE(t_r22_client_deregisters_peer_in_attach, "R11 R22"),
    CASE(t_r22_deregister_self_in_detach, "R22"),
    CASE(t_r22_register_in_detach, "R12 R22"),
    CASE(t_r22_calls_from_cleanup, "R16 R22"),
    CASE(t_r22_complete_inside_nested, "R22"),
    CASE(t_r22_deregister_self_after_attach, "R22"),
    CASE(t_r12_deregister_pending_offer, "R12"),
    CASE(t_r22_register_in_provider_attach, "R5 R6 R22"),
    CASE(t_r22_deregister_in_cleanup, "R22"),
};

NMR_TEST_SUITE(test_nested, cases, rt_setup, rt_teardown_no_misuse, NULL);
