/* SPDX-License-Identifier: MIT */
/*
 * test_trace.c - the event hook (nmr/trace.h): each scenario's exact event
 * sequence, with the right handles, sides and statuses; misuse events;
 * timestamps; a hook that calls back into libnmr; removal.
 *
 * Rules the sequences also check: R13 (client detach called before
 * the provider's), R10 (a client decline, a provider decline, and a client
 * failing after attach, where only the provider detaches), R14 (a PENDING
 * half completes later, then the cleanup), R22 (the hook re-enters
 * libnmr), R30 (misuse reaches the hook as an event), R31 (finish()).
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include "rule_test.h"

#include <nmr/introspect.h>
#include <nmr/trace.h>

#define MAX_EV 256
static nmr_event ev[MAX_EV];
static char ev_msg[MAX_EV][160];
static int nev;
static int hook_snapshots; /* when set, the hook takes a snapshot each time */

static void hook(void *ctx, const nmr_event *e)
{
    CHECK(ctx == &nev);
    CHECK(nev < MAX_EV);
    ev[nev] = *e;
    if (e->message != NULL)
        snprintf(ev_msg[nev], sizeof(ev_msg[nev]), "%s", e->message);
    if (e->type == NMR_EVENT_REGISTER) {
        CHECK(e->npi_id != NULL && e->module_id != NULL);
        ev[nev].npi_id = NULL; /* only valid during the call */
        ev[nev].module_id = NULL;
    }
    nev++;
    if (hook_snapshots) {
        nmr_snapshot *s = NULL;
        CHECK_STATUS(nmr_snapshot_take(NULL, &s), STATUS_SUCCESS);
        nmr_snapshot_free(s);
    }
}

/* The recorded sequence, as "register offer attach-accepted ..." */
static const char *sequence(void)
{
    static char buf[4096];
    size_t n = 0;
    buf[0] = '\0';
    for (int i = 0; i < nev && n < sizeof(buf) - 40; i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
                              nmr_event_name(ev[i].type));
    return buf;
}

static void expect(const char *want)
{
    if (strcmp(sequence(), want) != 0) {
        fprintf(stderr, "events:  %s\nwanted:  %s\n", sequence(), want);
        CHECK(!"event sequence");
    }
}

static void start(void)
{
    nev = 0;
    void *old_ctx = NULL;
    CHECK(nmr_trace_set_hook(hook, &nev, &old_ctx) == NULL);
    CHECK(old_ctx == NULL);
}

static void stop(void)
{
    void *old_ctx = NULL;
    CHECK(nmr_trace_set_hook(NULL, NULL, &old_ctx) == hook);
    CHECK(old_ctx == &nev);
}

/* Bind, detach with SUCCESS on both sides, wait. */
static void test_bind_and_detach(void)
{
    GUID npi = fx_guid(0x6001);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    start();
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    expect("register register offer attach-accepted");
    CHECK(ev[0].registration == p->handle && ev[0].side == 1);
    CHECK(ev[1].registration == c->handle && ev[1].side == 0);
    HANDLE b = c->sides->binding;
    for (int i = 2; i < 4; i++)
        CHECK(ev[i].binding == b && ev[i].client == c->handle && ev[i].provider == p->handle);

    nev = 0;
    dereg_wait(p);
    expect("deregister detach-called half-complete detach-called half-complete "
           "cleanup wait-start wait-end");
    CHECK(ev[0].registration == p->handle && ev[0].side == 1);
    CHECK(ev[1].side == 0 && ev[2].side == 0); /* client first (R13) */
    CHECK(ev[3].side == 1 && ev[4].side == 1);
    CHECK(ev[5].binding == b);
    CHECK_STATUS(ev[7].status, STATUS_SUCCESS);
    for (int i = 1; i < nev; i++)
        CHECK(ev[i].time_ns >= ev[i - 1].time_ns);
    stop();
    dereg_wait(c);
    finish();
}

/* Declined by the client, by the provider, and failed after attach. */
static void test_declines(void)
{
    GUID npi = fx_guid(0x6002);
    fx_module *p = fx_provider(&npi);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);

    fx_module *c1 = fx_client(&npi);
    c1->attach_mode = FX_DECLINE;
    c1->attach_status = STATUS_NOINTERFACE;
    start();
    CHECK_STATUS(fx_register(c1), STATUS_SUCCESS);
    expect("register offer attach-declined");
    CHECK_EQ(ev[2].side, 0);
    CHECK_STATUS(ev[2].status, STATUS_NOINTERFACE);

    fx_module *p2 = fx_provider(&npi);
    p2->attach_mode = FX_DECLINE;
    p2->attach_status = STATUS_INSUFFICIENT_RESOURCES;
    fx_module *c2 = fx_client(&npi);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS); /* offered to c1, which declines */
    nev = 0;
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    /* offers in registration order: p (accepts), then p2 (declines) */
    expect("register offer attach-accepted offer attach-declined");
    CHECK_EQ(ev[4].side, 1);
    CHECK_STATUS(ev[4].status, STATUS_INSUFFICIENT_RESOURCES);

    fx_module *c3 = fx_client(&npi);
    c3->attach_mode = FX_FAIL_AFTER_ATTACH;
    c3->attach_status = STATUS_NOINTERFACE;
    dereg_wait(p2);
    nev = 0;
    CHECK_STATUS(fx_register(c3), STATUS_SUCCESS);
    /* the provider attached, the client failed: only the provider detaches
     * (R10), and the binding is cleaned up */
    expect("register offer attach-declined detach-called half-complete cleanup");
    CHECK_EQ(ev[2].side, 0);
    CHECK_EQ(ev[3].side, 1);
    stop();
    dereg_wait(c1);
    dereg_wait(c2);
    dereg_wait(c3);
    dereg_wait(p);
    finish();
}

/* A pending half completes later, from the completion call. */
static void test_pending(void)
{
    GUID npi = fx_guid(0x6003);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    c->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    start();
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    expect("deregister detach-called detach-called half-complete");
    CHECK_EQ(ev[1].side, 0);
    CHECK_EQ(ev[2].side, 1);
    CHECK_EQ(ev[3].side, 1);
    nev = 0;
    CHECK_EQ(fx_complete_pending(c), 1);
    expect("half-complete cleanup");
    CHECK_EQ(ev[0].side, 0);
    nev = 0;
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    expect("wait-start wait-end");
    /* a refused wait is traced with its status too */
    nev = 0;
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p->handle), STATUS_INVALID_PARAMETER);
    expect("wait-start wait-end");
    CHECK_STATUS(ev[1].status, STATUS_INVALID_PARAMETER);
    stop();
    dereg_wait(p);
    finish();
}

/* Misuse is an event too, with its message; a hook may call libnmr. */
static void test_misuse_and_reentry(void)
{
    fx_diag_capture();
    start();
    hook_snapshots = 1;
    NmrClientDetachProviderComplete((HANDLE)(uintptr_t)0x4242);
    expect("misuse");
    CHECK_EQ(ev[0].status, NMR_MISUSE_BAD_HANDLE);
    CHECK(strstr(ev_msg[0], "NmrClientDetachProviderComplete") != NULL);

    GUID npi = fx_guid(0x6004);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    nev = 0;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    dereg_wait(c);
    dereg_wait(p);
    CHECK(nev > 8);
    hook_snapshots = 0;
    stop();
    fx_diag_release();

    /* removed: nothing more is recorded */
    nev = 0;
    fx_module *c2 = fx_client(&npi);
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    dereg_wait(c2);
    CHECK_EQ(nev, 0);
    finish();
}

static void test_names(void)
{
    const char *want[] = {NULL, "register", "offer", "attach-accepted", "attach-declined",
                          "detach-called", "half-complete", "cleanup", "deregister",
                          "wait-start", "wait-end", "misuse"};
    for (int t = 1; t <= 11; t++)
        CHECK(strcmp(nmr_event_name((nmr_event_type)t), want[t]) == 0);
    CHECK(strcmp(nmr_event_name((nmr_event_type)99), "unknown") == 0);
    int usdt = nmr_trace_usdt_available();
    CHECK(usdt == 0 || usdt == 1);
}

/* A hook installed in the middle of an operation (here by the client's
 * detach callback, inside the provider's deregistration) sees nothing more
 * of that operation: an operation reports its events as tracing stood
 * when it began (issue 14: a detach, an offer and a wait read the flag
 * once).  The next operations are reported whole. */
static void install_in_detach(fx_module *m, fx_ev_type type, int phase, fx_side *side,
                              void *arg)
{
    (void)m, (void)side, (void)arg;
    if (type == FX_EV_CLIENT_DETACH && phase == FX_PRE)
        start();
}

static void test_hook_installed_mid_operation(void)
{
    GUID npi = fx_guid(0x6006);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    c->hook = install_in_detach;
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_EQ(c->n_detach, 1);
    CHECK_EQ(p->n_cleanup, 1); /* the whole detach ran, untraced */
    expect("");
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    expect("wait-start wait-end");
    c->hook = NULL;
    nev = 0;
    dereg_wait(c);
    expect("deregister wait-start wait-end");
    stop();
    finish();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    g_live0 = nmr_alloc_live();
}

static const nmr_test_case cases[] = {
    CASE(test_bind_and_detach, "R13"),
    CASE(test_declines, "R10"),
    CASE(test_pending, ""),
    CASE(test_misuse_and_reentry, ""),
    CASE(test_names, ""),
    CASE(test_hook_installed_mid_operation, ""),
};

NMR_TEST_SUITE(test_trace, cases, setup, NULL, NULL);
