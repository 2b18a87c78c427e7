/* SPDX-License-Identifier: MIT */
/*
 * test_api_edges.c - corners of the API that the rule-by-rule tests leave
 * out: NULL everything (R1), NmrClientAttachProvider from the wrong
 * callback of the right binding (R8), and strict mode from the
 * environment (R30).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "fixture.h"

#include <nmr/version.h>
#include <string.h>

static NTSTATUS g_nested_status;

/* R8: from inside ProviderAttachClient, the offer's client callback is on
 * the stack but the provider is already being asked: refused. */
static void nested_attach(fx_module *m, fx_ev_type type, int phase, fx_side *s,
                          void *arg)
{
    (void)m;
    (void)phase;
    (void)arg;
    PVOID pbc;
    const VOID *pd;
    if (type == FX_EV_PROVIDER_ATTACH || type == FX_EV_CLIENT_DETACH ||
        type == FX_EV_CLIENT_CLEANUP)
        g_nested_status = NmrClientAttachProvider(s->binding, NULL, NULL, &pbc, &pd);
}

static void t_r8_attach_from_other_callbacks(void)
{
    GUID npi = fx_guid(0xED01);
    fx_module *p = fx_provider(&npi), *c = fx_client(&npi);
    p->hook = nested_attach;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    g_nested_status = STATUS_SUCCESS;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(g_nested_status, STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1); /* no second attach */
    CHECK_EQ(fx_live_sides(c), 1);

    /* from the client's own detach and cleanup callbacks of that binding */
    c->hook = nested_attach;
    g_nested_status = STATUS_SUCCESS;
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(g_nested_status, STATUS_INVALID_DEVICE_STATE);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    CHECK_EQ(fx_errors(), 0);
}

/* R1: NULL characteristics with a NULL out pointer: refused, no crash. */
static void t_r1_all_null(void)
{
    CHECK_STATUS(NmrRegisterClient(NULL, NULL, NULL), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrRegisterProvider(NULL, NULL, NULL), STATUS_INVALID_PARAMETER);
    GUID npi = fx_guid(0xED02);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    CHECK_STATUS(NmrRegisterClient(&c->cc, c, NULL), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrRegisterProvider(&p->pc, p, NULL), STATUS_INVALID_PARAMETER);
    CHECK_EQ(fx_log_len(), 0);
}

/* R30: strict mode follows NMR_STRICT when asked to (-1). */
static void t_r30_strict_from_environment(void)
{
    int was = nmr_diag_set_strict(0);
    setenv("NMR_STRICT", "1", 1);
    nmr_diag_set_strict(-1);
    CHECK_EQ(nmr_diag_set_strict(0), 1); /* it was on */
    setenv("NMR_STRICT", "0", 1);
    nmr_diag_set_strict(-1);
    CHECK_EQ(nmr_diag_set_strict(0), 0);
    unsetenv("NMR_STRICT");
    nmr_diag_set_strict(-1);
    CHECK_EQ(nmr_diag_set_strict(was), 0);
}

/* The library linked is the version its headers say; the string is made
 * of the three numbers. */
static void t_version(void)
{
    char want[64];
    snprintf(want, sizeof(want), "%d.%d.%d", NMR_VERSION_MAJOR, NMR_VERSION_MINOR,
             NMR_VERSION_PATCH);
    CHECK(strcmp(NMR_VERSION_STRING, want) == 0);
    CHECK(nmr_version() != NULL);
    CHECK(strcmp(nmr_version(), NMR_VERSION_STRING) == 0);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    fx_diag_capture();
}

static void teardown(void)
{
    fx_diag_release();
}

static const nmr_test_case cases[] = {
    CASE(t_version, ""),
    CASE(t_r8_attach_from_other_callbacks, "R8"),
    CASE(t_r1_all_null, "R1"),
    CASE(t_r30_strict_from_environment, "R30"),
};

NMR_TEST_SUITE(test_api_edges, cases, setup, teardown, NULL);
