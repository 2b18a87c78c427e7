/* SPDX-License-Identifier: MIT */
/*
 * test_attach.c - offers and attach outcomes: one offer per pair (R6),
 * NmrClientAttachProvider (R8, R9), the three outcomes of an offer (R10).
 */
#include "check.h"
#include "fixture.h"
#include "rule_test.h"
#include "alloc.h"

#include <string.h>

/* Number of callbacks other than attach for the pair (c, p). */
static int after_attach_events(fx_module *c, fx_module *p)
{
    return fx_count(FX_EV_CLIENT_DETACH, c, p) +
           fx_count(FX_EV_PROVIDER_DETACH, p, c) +
           fx_count(FX_EV_CLIENT_CLEANUP, c, p) +
           fx_count(FX_EV_PROVIDER_CLEANUP, p, c);
}

/* ---- R6 ---------------------------------------------------------------- */

/* R6: a pair is offered at most once whatever the outcome (declined,
 * provider declined, failed after attach, success without attach,
 * attached), however many other registrations come and go. */
static void t_r6_offered_once(void)
{
    GUID npi = fx_guid(0x3001);
    fx_module *c[5];
    for (int i = 0; i < 5; i++)
        c[i] = fx_client(&npi);
    c[0]->attach_mode = FX_DECLINE;
    c[1]->attach_mode = FX_ACCEPT; /* provider declines it, see below */
    c[2]->attach_mode = FX_FAIL_AFTER_ATTACH;
    c[3]->attach_mode = FX_SUCCESS_NO_ATTACH;
    c[4]->attach_mode = FX_ACCEPT;
    for (int i = 0; i < 5; i++)
        CHECK_STATUS(fx_register(c[i]), STATUS_SUCCESS);
    fx_module *p = fx_provider(&npi);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    /* a second provider that refuses every client */
    fx_module *pd = fx_provider(&npi);
    pd->attach_mode = FX_DECLINE;
    CHECK_STATUS(fx_register(pd), STATUS_SUCCESS);
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c[i], p), 1);
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c[i], pd), 1);
    }
    /* churn: other registrations come and go */
    for (int k = 0; k < 3; k++) {
        fx_module *p2 = fx_provider(&npi);
        CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
        fx_module *c2 = fx_client(&npi);
        CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
        dereg_wait(p2);
        dereg_wait(c2);
    }
    for (int i = 0; i < 5; i++) {
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c[i], p), 1);
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c[i], pd), 1);
    }
    CHECK_EQ(fx_live_sides(c[4]), 1);
    dereg_wait(p);
    dereg_wait(pd);
    for (int i = 0; i < 5; i++)
        dereg_wait(c[i]);
    finish();
}

/* R6: a declined pair is offered again when either side registers anew
 * (a new registration of the same module, same characteristics). */
static void t_r6_reoffer_on_new_registration(void)
{
    GUID npi = fx_guid(0x3002);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->attach_mode = FX_DECLINE;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 1);
    /* client registers anew: offered again, now accepts */
    dereg_wait(c);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 1);
    c->attach_mode = FX_ACCEPT;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 2);
    CHECK_EQ(fx_live_sides(c), 1);
    /* provider registers anew: offered again */
    dereg_wait(p);
    CHECK_EQ(fx_live_sides(c), 0);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 3);
    CHECK_EQ(fx_live_sides(c), 1);
    dereg_wait(c);
    dereg_wait(p);
    finish();
}

/* ---- R8 ---------------------------------------------------------------- */

static NTSTATUS g_st[16];
static int g_nst;
static HANDLE g_saved_binding;

/* Called after a successful NmrClientAttachProvider: every further call on
 * the binding is refused with INVALID_DEVICE_STATE, calls nothing. */
static void hook_attach_twice(fx_module *m, fx_ev_type t, int phase,
                              fx_side *s, void *arg)
{
    (void)arg;
    if (t != FX_EV_CLIENT_ATTACH || phase != FX_POST)
        return;
    int before = fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL);
    PVOID pbc = NULL;
    const VOID *pd = NULL;
    g_st[g_nst++] = NmrClientAttachProvider(s->binding, s, &m->dispatch,
                                            &pbc, &pd);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL), before);
    CHECK(pbc == NULL || pbc == s->other); /* not a new binding context */
}

/* R8: after a successful NmrClientAttachProvider in the offer, a second
 * call returns STATUS_INVALID_DEVICE_STATE and calls nothing; the binding
 * stays attached. */
static void t_r8_after_success(void)
{
    GUID npi = fx_guid(0x3010);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->hook = hook_attach_twice;
    g_nst = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1);
    CHECK_EQ(fx_live_sides(c), 1);
    CHECK_EQ(fx_live_sides(p), 1);
    dereg_wait(c);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    dereg_wait(p);
    finish();
}

static void hook_save_binding(fx_module *m, fx_ev_type t, int phase,
                              fx_side *s, void *arg)
{
    (void)m; (void)arg;
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_PRE)
        g_saved_binding = s->binding;
}

static NTSTATUS attach_call(HANDLE b, fx_module *c)
{
    PVOID pbc = NULL;
    const VOID *pd = NULL;
    return NmrClientAttachProvider(b, c, &c->dispatch, &pbc, &pd);
}

/* Try NmrClientAttachProvider on a live attached binding from a detach
 * callback: still "elsewhere". */
static void hook_attach_in_detach(fx_module *m, fx_ev_type t, int phase,
                                  fx_side *s, void *arg)
{
    (void)arg;
    if (t == FX_EV_CLIENT_DETACH && phase == FX_PRE)
        g_st[g_nst++] = attach_call(s->binding, m);
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_PRE)
        g_saved_binding = s->binding;
}

/* R8: outside the binding's ClientAttachProvider (from the test body on a
 * live attached binding, from its detach callback) the call returns
 * STATUS_INVALID_DEVICE_STATE and calls nothing. */
static void t_r8_outside_callback(void)
{
    GUID npi = fx_guid(0x3011);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->hook = hook_attach_in_detach;
    g_nst = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK(g_saved_binding != NULL);
    int log0 = fx_log_len();
    CHECK_STATUS(attach_call(g_saved_binding, c), STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(fx_log_len(), log0);
    CHECK_EQ(fx_live_sides(c), 1);
    dereg_wait(p);
    CHECK_EQ(g_nst, 1);
    CHECK_STATUS(g_st[0], STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1);
    dereg_wait(c);
    finish();
}

/* A helper thread tries NmrClientAttachProvider on the binding whose
 * ClientAttachProvider is running (blocked in pthread_join) on the main
 * thread. */
static NTSTATUS g_thr_st;
static void *thr_attach(void *arg)
{
    fx_side *s = (fx_side *)arg;
    PVOID pbc = NULL;
    const VOID *pd = NULL;
    g_thr_st = NmrClientAttachProvider(s->binding, s, &s->module->dispatch,
                                       &pbc, &pd);
    return NULL;
}

static void hook_attach_from_thread(fx_module *m, fx_ev_type t, int phase,
                                    fx_side *s, void *arg)
{
    (void)m; (void)arg;
    if (t != FX_EV_CLIENT_ATTACH || phase != FX_PRE)
        return;
    pthread_t th;
    CHECK(pthread_create(&th, NULL, thr_attach, s) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL), 0);
}

/* R8 (design: only the thread running the binding's ClientAttachProvider):
 * another thread calling NmrClientAttachProvider during the offer, before
 * any attach, gets STATUS_INVALID_DEVICE_STATE and calls nothing; the
 * client's own call afterwards attaches normally. */
static void t_r8_other_thread(void)
{
    GUID npi = fx_guid(0x3015);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->hook = hook_attach_from_thread;
    g_thr_st = 0x1234;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(g_thr_st, STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1);
    CHECK_EQ(fx_live_sides(c), 1);
    dereg_wait(c);
    dereg_wait(p);
    finish();
}

/* R8 and R9 with a provider declining: NmrClientAttachProvider returns the
 * provider's status unchanged (failure codes and success codes other than
 * STATUS_SUCCESS alike); a provider status other than exactly
 * STATUS_SUCCESS does not create a binding (design: exact SUCCESS). */
static void t_r8_returns_provider_status(void)
{
    static const NTSTATUS codes[] = {
        STATUS_NOINTERFACE, (NTSTATUS)0xC0000001L, STATUS_INVALID_PARAMETER,
        (NTSTATUS)0x80000005L, (NTSTATUS)1, STATUS_PENDING,
        (NTSTATUS)0x40000000L};
    for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        GUID npi = fx_guid(0x3012);
        fx_module *p = fx_provider(&npi);
        fx_module *c = fx_client(&npi);
        p->attach_mode = FX_DECLINE;
        p->attach_status = codes[i];
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
        CHECK(c->sides != NULL);
        CHECK_EQ(c->sides->nmr_attach_calls, 1);
        CHECK_STATUS(c->sides->nmr_attach_status, codes[i]);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1);
        dereg_wait(c);
        dereg_wait(p);
        CHECK_EQ(after_attach_events(c, p), 0);
        finish();
    }
}

/* R8, R26: unknown handles, NULL, registration handles (wrong kind) and
 * NULL out-pointers give STATUS_INVALID_PARAMETER, from inside a live offer
 * too; the real call afterwards still works (R9). */
static HANDLE g_other_handles[4];
static void hook_bad_attach_args(fx_module *m, fx_ev_type t, int phase,
                                 fx_side *s, void *arg)
{
    (void)arg;
    if (t != FX_EV_CLIENT_ATTACH || phase != FX_PRE)
        return;
    PVOID pbc = NULL;
    const VOID *pd = NULL;
    int dummy;
    int before = fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL);
    g_st[g_nst++] = NmrClientAttachProvider(NULL, s, &m->dispatch, &pbc, &pd);
    g_st[g_nst++] = NmrClientAttachProvider((HANDLE)&dummy, s, &m->dispatch,
                                            &pbc, &pd);
    g_st[g_nst++] = NmrClientAttachProvider((HANDLE)(uintptr_t)0x12345678,
                                            s, &m->dispatch, &pbc, &pd);
    g_st[g_nst++] = NmrClientAttachProvider(m->handle, s, &m->dispatch,
                                            &pbc, &pd);
    g_st[g_nst++] = NmrClientAttachProvider(g_other_handles[0], s,
                                            &m->dispatch, &pbc, &pd);
    g_st[g_nst++] = NmrClientAttachProvider(s->binding, s, &m->dispatch,
                                            NULL, &pd);
    g_st[g_nst++] = NmrClientAttachProvider(s->binding, s, &m->dispatch,
                                            &pbc, NULL);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL), before);
}

static void t_r8_bad_arguments(void)
{
    GUID npi = fx_guid(0x3013);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->hook = hook_bad_attach_args;
    g_nst = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    g_other_handles[0] = p->handle;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(g_nst, 7);
    for (int i = 0; i < g_nst; i++) {
        if (g_st[i] != STATUS_INVALID_PARAMETER)
            fprintf(stderr, "case %d\n", i);
        CHECK_STATUS(g_st[i], STATUS_INVALID_PARAMETER);
    }
    /* the genuine call after all of them attached */
    CHECK_EQ(fx_live_sides(c), 1);
    CHECK_EQ(fx_live_sides(p), 1);
    dereg_wait(c);
    dereg_wait(p);
    /* from outside any callback: unknown handles */
    int dummy;
    CHECK_STATUS(attach_call(NULL, c), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(attach_call((HANDLE)&dummy, c), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(attach_call(c->handle, c), STATUS_INVALID_PARAMETER);
    finish();
}

/* R8/R16: after the binding is cleaned up its handle is dead: the call
 * returns STATUS_INVALID_PARAMETER. */
static void t_r8_dead_binding(void)
{
    GUID npi = fx_guid(0x3014);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->hook = hook_save_binding;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    HANDLE b = g_saved_binding;
    dereg_wait(p);
    CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
    int log0 = fx_log_len();
    CHECK_STATUS(attach_call(b, c), STATUS_INVALID_PARAMETER);
    CHECK_EQ(fx_log_len(), log0);
    dereg_wait(c);
    CHECK_STATUS(attach_call(b, c), STATUS_INVALID_PARAMETER);
    /* a declined offer's binding handle is dead once the offer ended */
    fx_module *p2 = fx_provider(&npi);
    fx_module *c2 = fx_client(&npi);
    c2->attach_mode = FX_DECLINE;
    c2->hook = hook_save_binding;
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    log0 = fx_log_len();
    NTSTATUS st = attach_call(g_saved_binding, c2);
    CHECK(st == STATUS_INVALID_PARAMETER || st == STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(fx_log_len(), log0);
    dereg_wait(c2);
    dereg_wait(p2);
    finish();
}

/* ---- R9 ---------------------------------------------------------------- */

/* R9: the client retries after the provider refused; the last call counts:
 * the binding is attached with the provider context of the accepting call,
 * and only that provider side is ever detached and cleaned up. */
static void t_r9_retry(void)
{
    GUID npi = fx_guid(0x3020);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    p->decline_first = 2;
    c->attach_tries = 3;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 3);
    CHECK_EQ(c->sides->nmr_attach_calls, 3);
    CHECK_STATUS(c->sides->nmr_attach_status, STATUS_SUCCESS);
    CHECK_EQ(fx_live_sides(c), 1);
    CHECK_EQ(fx_live_sides(p), 1);
    fx_side *accepted = c->sides->other;
    CHECK(accepted != NULL && accepted == p->sides); /* the newest */
    dereg_wait(c);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
    CHECK_EQ(accepted->detach_calls, 1);
    CHECK_EQ(accepted->cleanup_calls, 1);
    dereg_wait(p);
    finish();
}

/* R9: all retries refused: no binding, no further callback. */
static void t_r9_all_refused(void)
{
    GUID npi = fx_guid(0x3021);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    p->decline_first = 5;
    c->attach_tries = 5;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 5);
    CHECK_STATUS(c->sides->nmr_attach_status, STATUS_NOINTERFACE);
    dereg_wait(p);
    dereg_wait(c);
    CHECK_EQ(after_attach_events(c, p), 0);
    finish();
}

/* R9 with raw callbacks: each NmrClientAttachProvider call passes another
 * client binding context and dispatch table; the provider sees each call's
 * own values, and the last (accepted) call's context is the one the NMR
 * later hands to ClientDetachProvider and ClientCleanupBindingContext. */
static int r9_ctx[3], r9_disp[3], r9_pctx;
static const void *r9_seen_cbc[3], *r9_seen_cd[3];
static int r9_pcalls;
static void *r9_detach_ctx, *r9_cleanup_ctx;
static NTSTATUS r9_pattach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                           PVOID cbc, const VOID *cd, PVOID *pbc,
                           const VOID **pd)
{
    (void)b; (void)ctx; (void)cri;
    int i = r9_pcalls++;
    if (i < 3) {
        r9_seen_cbc[i] = cbc;
        r9_seen_cd[i] = cd;
    }
    if (i < 2)
        return STATUS_NOINTERFACE; /* "try another version" */
    *pbc = &r9_pctx;
    *pd = NULL;
    return STATUS_SUCCESS;
}
static NTSTATUS r9_pdetach(PVOID c) { (void)c; return STATUS_SUCCESS; }
static NTSTATUS r9_cattach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    (void)ctx; (void)pri;
    NTSTATUS st = STATUS_NOINTERFACE;
    for (int i = 0; i < 3 && st != STATUS_SUCCESS; i++) {
        PVOID pbc = NULL;
        const VOID *pd = NULL;
        st = NmrClientAttachProvider(b, &r9_ctx[i], &r9_disp[i], &pbc, &pd);
    }
    return st;
}
static NTSTATUS r9_cdetach(PVOID c)
{
    r9_detach_ctx = c;
    return STATUS_SUCCESS;
}
static void r9_ccleanup(PVOID c) { r9_cleanup_ctx = c; }

static void t_r9_last_call_counts(void)
{
    static const GUID npi = {0x3022, 0, 0, {0}};
    static const NPI_MODULEID mid = {sizeof(NPI_MODULEID), MIT_GUID,
                                     {{0x3022, 0, 0, {0}}}};
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    memset(&cc, 0, sizeof(cc));
    memset(&pc, 0, sizeof(pc));
    cc.Length = sizeof(cc);
    cc.ClientAttachProvider = r9_cattach;
    cc.ClientDetachProvider = r9_cdetach;
    cc.ClientCleanupBindingContext = r9_ccleanup;
    cc.ClientRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    cc.ClientRegistrationInstance.NpiId = &npi;
    cc.ClientRegistrationInstance.ModuleId = &mid;
    pc.Length = sizeof(pc);
    pc.ProviderAttachClient = r9_pattach;
    pc.ProviderDetachClient = r9_pdetach;
    pc.ProviderRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    pc.ProviderRegistrationInstance.NpiId = &npi;
    pc.ProviderRegistrationInstance.ModuleId = &mid;
    HANDLE hp = NULL, hc = NULL;
    CHECK_STATUS(NmrRegisterProvider(&pc, &r9_pctx, &hp), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&cc, &r9_ctx, &hc), STATUS_SUCCESS);
    CHECK_EQ(r9_pcalls, 3);
    for (int i = 0; i < 3; i++) {
        CHECK(r9_seen_cbc[i] == &r9_ctx[i]);
        CHECK(r9_seen_cd[i] == &r9_disp[i]);
    }
    CHECK_STATUS(NmrDeregisterProvider(hp), STATUS_PENDING);
    CHECK(r9_detach_ctx == &r9_ctx[2]);
    CHECK(r9_cleanup_ctx == &r9_ctx[2]);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(hp), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(hc), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(hc), STATUS_SUCCESS);
    CHECK_EQ(nmr_alloc_live(), g_live0);
}

/* ---- R10 --------------------------------------------------------------- */

/* R10: attached when both said STATUS_SUCCESS: detach both sides on
 * deregistration, then both cleanups with the right contexts. */
static void t_r10_attached(void)
{
    GUID npi = fx_guid(0x3030);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(after_attach_events(c, p), 0);
    CHECK_EQ(fx_live_sides(c), 1);
    fx_side *cs = c->sides, *ps = p->sides;
    CHECK(cs->other == ps && ps->other == cs);
    CHECK(cs->binding == ps->binding);
    dereg_wait(p);
    CHECK_EQ(cs->detach_calls, 1);
    CHECK_EQ(ps->detach_calls, 1);
    CHECK_EQ(cs->cleanup_calls, 1);
    CHECK_EQ(ps->cleanup_calls, 1);
    dereg_wait(c);
    finish();
}

/* R10: the client declines without calling NmrClientAttachProvider: no
 * binding, no further callbacks for the pair, ever. */
static void t_r10_declined(void)
{
    GUID npi = fx_guid(0x3031);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->attach_mode = FX_DECLINE;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 0);
    dereg_wait(p);
    dereg_wait(c);
    CHECK_EQ(fx_log_len(), 1);
    finish();
}

/* R10: provider accepted, then the client's callback failed: the NMR calls
 * ProviderDetachClient (synchronously here, detach returns SUCCESS), then
 * both cleanups; ClientDetachProvider is never called.  Either side
 * registering last; failure codes and non-exact success codes alike. */
static void t_r10_client_fails_after_attach(void)
{
    static const NTSTATUS codes[] = {STATUS_NOINTERFACE,
                                     STATUS_INSUFFICIENT_RESOURCES,
                                     (NTSTATUS)1, STATUS_PENDING};
    for (int order = 0; order < 2; order++) {
        for (unsigned i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
            GUID npi = fx_guid(0x3032);
            fx_module *p = fx_provider(&npi);
            fx_module *c = fx_client(&npi);
            c->attach_mode = FX_FAIL_AFTER_ATTACH;
            c->attach_status = codes[i];
            if (order == 0) {
                CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
                CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
            } else {
                CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
                CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
            }
            CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1);
            CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
            CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 0);
            CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
            CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
            int ia = fx_index(FX_EV_CLIENT_ATTACH, c, p, 0);
            int id = fx_index(FX_EV_PROVIDER_DETACH, p, c, 0);
            int icc = fx_index(FX_EV_CLIENT_CLEANUP, c, p, 0);
            int ipc = fx_index(FX_EV_PROVIDER_CLEANUP, p, c, 0);
            CHECK(ia < id && id < icc && id < ipc);
            CHECK_EQ(c->sides->cleanup_calls, 1); /* the context it passed */
            CHECK_EQ(p->sides->cleanup_calls, 1);
            dereg_wait(c);
            dereg_wait(p);
            CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 0);
            CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
            finish();
        }
    }
}

/* R10 + R14/R15: provider accepted, client failed, the provider's detach
 * pends: cleanups only after the provider completes; no client detach.
 * The client may deregister meanwhile; its wait covers the binding. */
static void t_r10_client_fails_provider_detach_pending(void)
{
    GUID npi = fx_guid(0x3033);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->attach_mode = FX_FAIL_AFTER_ATTACH;
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 0);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 0);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 0);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    dereg_wait(p);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    finish();
}

/* R10, R30: the client returns STATUS_SUCCESS without a successful
 * NmrClientAttachProvider: a decline, reported as misuse
 * (NMR_MISUSE_ATTACH_WITHOUT_PROVIDER). */
static void t_r10_success_without_attach(void)
{
    GUID npi = fx_guid(0x3034);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->attach_mode = FX_SUCCESS_NO_ATTACH;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    unsigned long long m0 = nmr_diag_misuse_count();
    unsigned long long k0 = fx_misuse(NMR_MISUSE_ATTACH_WITHOUT_PROVIDER);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
    CHECK_EQ(fx_misuse(NMR_MISUSE_ATTACH_WITHOUT_PROVIDER) - k0, 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 0);
    dereg_wait(c);
    dereg_wait(p);
    CHECK_EQ(after_attach_events(c, p), 0);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
    finish();
}

/* The client overrides its return value with STATUS_SUCCESS after the
 * provider refused (NmrClientAttachProvider failed). */
static void hook_force_success(fx_module *m, fx_ev_type t, int phase,
                               fx_side *s, void *arg)
{
    (void)m; (void)arg;
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_POST) {
        s->override = 1;
        s->override_status = STATUS_SUCCESS;
    }
}

/* R10, R30: STATUS_SUCCESS after a *failed* NmrClientAttachProvider is
 * also "without a successful NmrClientAttachProvider": decline + misuse. */
static void t_r10_success_after_refusal(void)
{
    GUID npi = fx_guid(0x3035);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    p->attach_mode = FX_DECLINE;
    c->hook = hook_force_success;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    unsigned long long k0 = fx_misuse(NMR_MISUSE_ATTACH_WITHOUT_PROVIDER);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_misuse(NMR_MISUSE_ATTACH_WITHOUT_PROVIDER) - k0, 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1);
    dereg_wait(c);
    dereg_wait(p);
    CHECK_EQ(after_attach_events(c, p), 0);
    finish();
}

/* R10 with several providers: outcomes are per pair. */
static void t_r10_mixed(void)
{
    GUID npi = fx_guid(0x3036);
    fx_module *p[3];
    for (int i = 0; i < 3; i++)
        p[i] = fx_provider(&npi);
    p[1]->attach_mode = FX_DECLINE;
    for (int i = 0; i < 3; i++)
        CHECK_STATUS(fx_register(p[i]), STATUS_SUCCESS);
    fx_module *c = fx_client(&npi);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_live_sides(c), 2);
    CHECK_EQ(fx_live_sides(p[0]), 1);
    CHECK_EQ(fx_live_sides(p[1]), 0);
    CHECK_EQ(fx_live_sides(p[2]), 1);
    dereg_wait(c);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, NULL), 2);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p[1]), 0);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, NULL, c), 2);
    for (int i = 0; i < 3; i++)
        dereg_wait(p[i]);
    finish();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_r6_offered_once, "R6"),
    CASE(t_r6_reoffer_on_new_registration, "R6"),
    CASE(t_r8_after_success, "R8"),
    CASE(t_r8_outside_callback, "R8"),
    CASE(t_r8_other_thread, "R8"),
    CASE(t_r8_returns_provider_status, "R8 R9"),
    CASE(t_r8_bad_arguments, "R8"),
    CASE(t_r8_dead_binding, "R8 R16"),
    CASE(t_r9_retry, "R9"),
    CASE(t_r9_all_refused, "R9"),
    CASE(t_r9_last_call_counts, "R9"),
    CASE(t_r10_attached, "R10"),
    CASE(t_r10_declined, "R10"),
    CASE(t_r10_client_fails_after_attach, "R10"),
    CASE(t_r10_client_fails_provider_detach_pending, "R10 R14 R15"),
    CASE(t_r10_success_without_attach, "R10 R30"),
    CASE(t_r10_success_after_refusal, "R10 R30"),
    CASE(t_r10_mixed, "R10"),
};

NMR_TEST_SUITE(test_attach, cases, rt_setup, rt_teardown, NULL);
