/* SPDX-License-Identifier: MIT */
/*
 * test_detach.c - deregistration and detach: R12 (PENDING, synchronous
 * detach, no new offers), R13 (order, exactly once), R14 (PENDING / other
 * values), R15 (complete before the callback returned), R16 (cleanups),
 * R17 (the other side stays), R29 (complete when not pending).
 */
#include "check.h"
#include "fixture.h"
#include "rule_test.h"
#include "alloc.h"

static int n_ev(fx_ev_type t) { return fx_count(t, NULL, NULL); }

/* ---- R12 --------------------------------------------------------------- */

/* R12: deregistration returns STATUS_PENDING even with nothing bound, and
 * the wait then succeeds. */
static void t_r12_pending_without_bindings(void)
{
    GUID npi = fx_guid(0x4001);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    CHECK_EQ(fx_log_len(), 0);
    finish();
}

/* R12, R13, R16: with detach callbacks returning SUCCESS, deregistration
 * runs both detach callbacks and both cleanups itself, on this thread,
 * before it returns; client detach before provider detach. */
static void t_r12_synchronous_detach(void)
{
    for (int who = 0; who < 2; who++) {
        GUID npi = fx_guid(0x4002);
        fx_module *c = fx_client(&npi);
        fx_module *p = fx_provider(&npi);
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        int log0 = fx_log_len();
        CHECK_STATUS(fx_deregister(who ? p : c), STATUS_PENDING);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
        CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
        int icd = fx_index(FX_EV_CLIENT_DETACH, c, p, 0);
        int ipd = fx_index(FX_EV_PROVIDER_DETACH, p, c, 0);
        int icc = fx_index(FX_EV_CLIENT_CLEANUP, c, p, 0);
        int ipc = fx_index(FX_EV_PROVIDER_CLEANUP, p, c, 0);
        CHECK(log0 <= icd && icd < ipd);          /* R13 order */
        CHECK(ipd < icc && ipd < ipc);            /* R16 after both */
        for (int i = log0; i < fx_log_len(); i++)
            CHECK(pthread_equal(fx_log_at(i)->thread, pthread_self()));
        CHECK_STATUS(fx_wait(who ? p : c), STATUS_SUCCESS);
        CHECK_EQ(fx_log_len(), log0 + 4);
        dereg_wait(who ? c : p);
        CHECK_EQ(fx_log_len(), log0 + 4);
        finish();
    }
}

/* R12: from the call of NmrDeregister* on, the registration gets no new
 * offers and makes none (here it stays deregistering because a detach
 * pends). */
static void t_r12_no_offers_after_deregister(void)
{
    GUID npi = fx_guid(0x4003);
    /* a deregistering client is not offered a new provider */
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    fx_module *p2 = fx_provider(&npi);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p2), 0);
    /* a deregistering provider is not offered to a new client */
    fx_module *pp = fx_provider(&npi);
    pp->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(pp), STATUS_SUCCESS);
    fx_module *c0 = fx_client(&npi); /* keeps pp busy */
    CHECK_STATUS(fx_register(c0), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c0, pp), 1);
    CHECK_STATUS(fx_deregister(pp), STATUS_PENDING);
    fx_module *c2 = fx_client(&npi);
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c2, pp), 0);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c2, p), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c2, p2), 1);
    CHECK_EQ(fx_complete_pending(c), 1);
    CHECK_EQ(fx_complete_pending(pp), 1);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_wait(pp), STATUS_SUCCESS);
    dereg_wait(c0);
    dereg_wait(c2);
    dereg_wait(p);
    dereg_wait(p2);
    finish();
}

/* ---- R13 --------------------------------------------------------------- */

/* R13: client detach pends; the provider detach is called anyway, right
 * away (the second call does not wait for the first half); then the
 * provider deregisters too: no second detach on either side. */
static void t_r13_both_deregister(void)
{
    GUID npi = fx_guid(0x4010);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->detach_mode = FX_DET_PENDING;
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    CHECK(fx_index(FX_EV_CLIENT_DETACH, c, p, 0) <
          fx_index(FX_EV_PROVIDER_DETACH, p, c, 0));
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP) + n_ev(FX_EV_PROVIDER_CLEANUP), 0);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP) + n_ev(FX_EV_PROVIDER_CLEANUP), 0);
    CHECK_EQ(fx_complete_pending(c), 1);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
    CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), 1);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    finish();
}

/* R13: provider deregisters with several clients: for every binding the
 * client detach comes before the provider detach, each exactly once. */
static void t_r13_order_many(void)
{
    GUID npi = fx_guid(0x4011);
    fx_module *p = fx_provider(&npi);
    fx_module *c[4];
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    for (int i = 0; i < 4; i++) {
        c[i] = fx_client(&npi);
        CHECK_STATUS(fx_register(c[i]), STATUS_SUCCESS);
    }
    dereg_wait(p);
    for (int i = 0; i < 4; i++) {
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c[i], p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c[i]), 1);
        CHECK(fx_index(FX_EV_CLIENT_DETACH, c[i], p, 0) <
              fx_index(FX_EV_PROVIDER_DETACH, p, c[i], 0));
    }
    for (int i = 0; i < 4; i++)
        dereg_wait(c[i]);
    CHECK_EQ(n_ev(FX_EV_CLIENT_DETACH), 4);
    CHECK_EQ(n_ev(FX_EV_PROVIDER_DETACH), 4);
    finish();
}

/* ---- R14 --------------------------------------------------------------- */

/* R14: a PENDING half completes later: nothing is cleaned up and the wait
 * is not over before the completion; the wait succeeds afterwards. */
static void t_r14_pending_then_complete(void)
{
    for (int side = 0; side < 2; side++) {
        GUID npi = fx_guid(0x4020);
        fx_module *c = fx_client(&npi);
        fx_module *p = fx_provider(&npi);
        (side ? p : c)->detach_mode = FX_DET_PENDING;
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
        CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP) + n_ev(FX_EV_PROVIDER_CLEANUP), 0);
        unsigned long long m0 = nmr_diag_misuse_count();
        CHECK_EQ(fx_complete_pending(side ? p : c), 1);
        CHECK_EQ(nmr_diag_misuse_count(), m0);
        CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
        CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), 1);
        CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
        dereg_wait(p);
        finish();
    }
}

/* R14, R30: any other return value of a detach callback is STATUS_SUCCESS
 * plus a misuse report (NMR_MISUSE_BAD_DETACH_STATUS). */
static void t_r14_other_values(void)
{
    static const NTSTATUS codes[] = {STATUS_NOINTERFACE, (NTSTATUS)1,
                                     (NTSTATUS)0xC0000001L,
                                     STATUS_INVALID_DEVICE_STATE,
                                     (NTSTATUS)0x80000000L};
    for (int side = 0; side < 2; side++) {
        for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
            GUID npi = fx_guid(0x4021);
            fx_module *c = fx_client(&npi);
            fx_module *p = fx_provider(&npi);
            fx_module *bad = side ? p : c;
            bad->detach_mode = FX_DET_OTHER;
            bad->detach_status = codes[i];
            CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
            CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
            unsigned long long m0 = nmr_diag_misuse_count();
            unsigned long long k0 = fx_misuse(NMR_MISUSE_BAD_DETACH_STATUS);
            CHECK_STATUS(fx_deregister(side ? c : p), STATUS_PENDING);
            CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
            CHECK_EQ(fx_misuse(NMR_MISUSE_BAD_DETACH_STATUS) - k0, 1);
            /* treated as complete: cleanups ran, wait succeeds */
            CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
            CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), 1);
            CHECK_STATUS(fx_wait(side ? c : p), STATUS_SUCCESS);
            dereg_wait(side ? p : c);
            CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
            finish();
        }
    }
}

/* ---- R15 --------------------------------------------------------------- */

/* R15: complete from inside the detach callback, then return PENDING:
 * accepted, no misuse, the half finishes when the callback returns;
 * cleanups run after the callback returned (the fixture checks that no
 * cleanup runs while a callback of the binding is still running). */
static void t_r15_complete_inside(void)
{
    for (int side = 0; side < 3; side++) {
        GUID npi = fx_guid(0x4030);
        fx_module *c = fx_client(&npi);
        fx_module *p = fx_provider(&npi);
        if (side != 1)
            c->detach_mode = FX_DET_COMPLETE_INSIDE;
        if (side != 0)
            p->detach_mode = FX_DET_COMPLETE_INSIDE;
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        unsigned long long m0 = nmr_diag_misuse_count();
        CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
        CHECK_EQ(nmr_diag_misuse_count(), m0);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
        CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
        CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), 1);
        CHECK(fx_index(FX_EV_PROVIDER_DETACH, p, c, 0) <
              fx_index(FX_EV_CLIENT_CLEANUP, c, p, 0));
        CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
        dereg_wait(c);
        CHECK_EQ(nmr_diag_misuse_count(), m0);
        finish();
    }
}

/* Design choice + R29: complete from inside, then return SUCCESS: the half
 * is complete (once), and NMR_MISUSE_NOT_PENDING is reported. */
static void t_r15_complete_inside_then_success(void)
{
    for (int side = 0; side < 2; side++) {
        GUID npi = fx_guid(0x4031);
        fx_module *c = fx_client(&npi);
        fx_module *p = fx_provider(&npi);
        (side ? p : c)->detach_mode = FX_DET_COMPLETE_INSIDE_SUCCESS;
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        unsigned long long k0 = fx_misuse(NMR_MISUSE_NOT_PENDING);
        unsigned long long m0 = nmr_diag_misuse_count();
        CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
        CHECK_EQ(fx_misuse(NMR_MISUSE_NOT_PENDING) - k0, 1);
        CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
        CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
        CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), 1);
        CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
        dereg_wait(p);
        finish();
    }
}

/* ---- R16 --------------------------------------------------------------- */

/* R16: cleanups only after both halves, exactly once each, during the call
 * that completes the last half (same thread), only the non-NULL ones; then
 * the binding handle is dead: NmrClientAttachProvider on it gives
 * STATUS_INVALID_PARAMETER and a completion is reported as misuse. */
static void t_r16_cleanup(void)
{
    for (int nulls = 0; nulls < 4; nulls++) {
        GUID npi = fx_guid(0x4040);
        fx_module *c = fx_client(&npi);
        fx_module *p = fx_provider(&npi);
        c->detach_mode = FX_DET_PENDING;
        p->detach_mode = FX_DET_PENDING;
        if (nulls & 1)
            fx_set_cleanup(c, 0);
        if (nulls & 2)
            fx_set_cleanup(p, 0);
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        fx_side *cs = c->sides, *ps = p->sides;
        HANDLE b = cs->binding;
        CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
        CHECK_EQ(cs->detach_calls, 1);
        CHECK_EQ(ps->detach_calls, 1);
        fx_complete(cs);
        CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP) + n_ev(FX_EV_PROVIDER_CLEANUP), 0);
        int log0 = fx_log_len();
        fx_complete(ps); /* the last half: cleanups in this call */
        CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), (nulls & 1) ? 0 : 1);
        CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), (nulls & 2) ? 0 : 1);
        for (int i = log0; i < fx_log_len(); i++)
            CHECK(pthread_equal(fx_log_at(i)->thread, pthread_self()));
        if (!(nulls & 1))
            CHECK_EQ(cs->cleanup_calls, 1);
        if (!(nulls & 2))
            CHECK_EQ(ps->cleanup_calls, 1);
        /* the binding handle is dead */
        PVOID pbc = NULL;
        const VOID *pd = NULL;
        CHECK_STATUS(NmrClientAttachProvider(b, cs, &c->dispatch, &pbc, &pd),
                     STATUS_INVALID_PARAMETER);
        unsigned long long k0 = fx_misuse(NMR_MISUSE_BAD_HANDLE);
        unsigned long long m0 = nmr_diag_misuse_count();
        NmrClientDetachProviderComplete(b);
        NmrProviderDetachClientComplete(b);
        CHECK_EQ(nmr_diag_misuse_count() - m0, 2);
        CHECK_EQ(fx_misuse(NMR_MISUSE_BAD_HANDLE) - k0, 2);
        CHECK_EQ(fx_log_len(), log0 + 2 - !!(nulls & 1) - !!(nulls & 2));
        CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
        dereg_wait(c);
        finish();
    }
}

/* R16: the client half completes last: cleanups run in the client's
 * completion call. */
static void t_r16_client_last(void)
{
    GUID npi = fx_guid(0x4041);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->detach_mode = FX_DET_PENDING;
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP) + n_ev(FX_EV_PROVIDER_CLEANUP), 0);
    CHECK_EQ(fx_complete_pending(c), 1);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
    CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), 1);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    dereg_wait(p);
    finish();
}

/* ---- R17 --------------------------------------------------------------- */

/* R17: the side that is not deregistering stays registered and gets
 * offers from registrations that come later (both directions). */
static void t_r17_other_side_stays(void)
{
    GUID npi = fx_guid(0x4050);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    dereg_wait(p);
    CHECK_EQ(fx_live_sides(c), 0);
    fx_module *p2 = fx_provider(&npi);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p2), 1);
    CHECK_EQ(fx_live_sides(c), 1);
    dereg_wait(c);
    CHECK_EQ(fx_live_sides(p2), 0);
    fx_module *c2 = fx_client(&npi);
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c2, p2), 1);
    CHECK_EQ(fx_live_sides(p2), 1);
    dereg_wait(c2);
    dereg_wait(p2);
    finish();
}

/* R17 + R12: while the provider is still deregistering (pending detach)
 * the client can be offered a new provider. */
static void t_r17_during_deregistration(void)
{
    GUID npi = fx_guid(0x4051);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    fx_module *p2 = fx_provider(&npi);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p2), 1);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    CHECK_EQ(fx_live_sides(c), 1);
    dereg_wait(c);
    dereg_wait(p2);
    finish();
}

/* ---- R29 --------------------------------------------------------------- */

/* R29: completion of a half that is not pending does nothing and reports
 * NMR_MISUSE_NOT_PENDING: (a) no detach called yet, (b) the detach
 * returned SUCCESS, (c) already completed. */
static void t_r29_not_pending(void)
{
    GUID npi = fx_guid(0x4060);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    HANDLE b = c->sides->binding;
    unsigned long long k0 = fx_misuse(NMR_MISUSE_NOT_PENDING);
    unsigned long long m0 = nmr_diag_misuse_count();
    int log0 = fx_log_len();
    /* (a) attached binding, nobody deregistering */
    NmrClientDetachProviderComplete(b);
    NmrProviderDetachClientComplete(b);
    CHECK_EQ(fx_misuse(NMR_MISUSE_NOT_PENDING) - k0, 2);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 2);
    CHECK_EQ(fx_log_len(), log0);
    CHECK_EQ(fx_live_sides(c), 1);
    /* the binding still works normally afterwards */
    c->detach_mode = FX_DET_SUCCESS;
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    /* (b) the client's detach returned SUCCESS */
    NmrClientDetachProviderComplete(b);
    CHECK_EQ(fx_misuse(NMR_MISUSE_NOT_PENDING) - k0, 3);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP) + n_ev(FX_EV_PROVIDER_CLEANUP), 0);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    dereg_wait(p);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 3);
    finish();

    /* (c) completed twice while the other half still pends */
    c = fx_client(&npi);
    p = fx_provider(&npi);
    c->detach_mode = FX_DET_PENDING;
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    b = c->sides->binding;
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    k0 = fx_misuse(NMR_MISUSE_NOT_PENDING);
    m0 = nmr_diag_misuse_count();
    fx_complete(c->sides);
    CHECK_EQ(nmr_diag_misuse_count(), m0);
    NmrClientDetachProviderComplete(b); /* again */
    CHECK_EQ(fx_misuse(NMR_MISUSE_NOT_PENDING) - k0, 1);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP) + n_ev(FX_EV_PROVIDER_CLEANUP), 0);
    fx_complete(p->sides);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
    CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), 1);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    dereg_wait(c);
    finish();
}

/* R29: the provider deregisters, its half pends; the client's detach
 * returned SUCCESS, so completing the client half (the wrong half) is
 * misuse and finishes nothing; the real completion still works. */
static void t_r29_wrong_half(void)
{
    GUID npi = fx_guid(0x4061);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    p->detach_mode = FX_DET_PENDING;
    c->detach_mode = FX_DET_SUCCESS;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    HANDLE b = c->sides->binding;
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    unsigned long long m0 = nmr_diag_misuse_count();
    unsigned long long k0 = fx_misuse(NMR_MISUSE_NOT_PENDING);
    NmrClientDetachProviderComplete(b);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
    CHECK_EQ(fx_misuse(NMR_MISUSE_NOT_PENDING) - k0, 1);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP) + n_ev(FX_EV_PROVIDER_CLEANUP), 0);
    fx_complete(p->sides);
    CHECK_EQ(n_ev(FX_EV_CLIENT_CLEANUP), 1);
    CHECK_EQ(n_ev(FX_EV_PROVIDER_CLEANUP), 1);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    dereg_wait(c);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
    finish();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_r12_pending_without_bindings, "R12"),
    CASE(t_r12_synchronous_detach, "R12 R13 R16"),
    CASE(t_r12_no_offers_after_deregister, "R12"),
    CASE(t_r13_both_deregister, "R13"),
    CASE(t_r13_order_many, "R13"),
    CASE(t_r14_pending_then_complete, "R14"),
    CASE(t_r14_other_values, "R14 R30"),
    CASE(t_r15_complete_inside, "R15"),
    CASE(t_r15_complete_inside_then_success, "R15 R29"),
    CASE(t_r16_cleanup, "R16"),
    CASE(t_r16_client_last, "R16"),
    CASE(t_r17_other_side_stays, "R17"),
    CASE(t_r17_during_deregistration, "R12 R17"),
    CASE(t_r29_not_pending, "R29"),
    CASE(t_r29_wrong_half, "R29"),
};

NMR_TEST_SUITE(test_detach, cases, rt_setup, rt_teardown, NULL);
