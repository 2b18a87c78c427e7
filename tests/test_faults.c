/* SPDX-License-Identifier: MIT */
/*
 * test_faults.c - allocation fault injection at every allocation (R2, R31,
 * R32), SQLite style.
 *
 * Every scenario below is a complete story (register, bind, detach, wait).
 * The driver runs each scenario once for N = 1, 2, 3, ... with the N-th
 * allocation made to fail, until a run finishes without reaching N.  Each
 * run must:
 *   - see every NmrRegister* return STATUS_SUCCESS or
 *     STATUS_INSUFFICIENT_RESOURCES, and a failed one must have called no
 *     callback and left the handle NULL (R2, R32);
 *   - leave the registrar consistent (nmr_check_invariants);
 *   - leak nothing: live allocations and handle slots back to where they
 *     were (R31);
 *   - leave the registrar usable: a full bind cycle works afterwards.
 */
#include "check.h"
#include "fixture.h"

#include "alloc.h"
#include "invariants.h"

/* ---- scenario helpers ---------------------------------------------------- */

static int g_failed_regs; /* registrations refused for memory in this run */

/* Register m; returns 1 if it is registered.  A refusal must be clean. */
static int reg(fx_module *m)
{
    int log0 = fx_log_len();
    NTSTATUS s = fx_register(m);
    if (s == STATUS_SUCCESS)
        return 1;
    CHECK_STATUS(s, STATUS_INSUFFICIENT_RESOURCES); /* R2 */
    CHECK(m->handle == NULL);                       /* R2: no handle */
    CHECK_EQ(fx_log_len(), log0);                   /* R32: no callback */
    g_failed_regs++;
    return 0;
}

/* Everything registered so far must be consistent mid-story too. */
static void mid(void)
{
    char why[256];
    long armed = nmr_alloc_fail_remaining(); /* the checker allocates too */
    nmr_alloc_fail_at(0);
    if (nmr_check_invariants(why, sizeof why) != 0) {
        fprintf(stderr, "mid-scenario: %s\n", why);
        CHECK(!"invariants hold");
    }
    nmr_alloc_fail_at(armed);
}

/* Deregister and wait for m (if registered), completing whatever the
 * scenario left pending on any of the given modules first. */
static void end(fx_module *m, int registered, fx_module **all, int n)
{
    if (!registered)
        return;
    CHECK_STATUS(fx_deregister(m), STATUS_PENDING);
    for (int i = 0; i < n; i++)
        fx_complete_pending(all[i]);
    CHECK_STATUS(fx_wait(m), STATUS_SUCCESS);
}

/* ---- scenarios ------------------------------------------------------------ */

static void s_lone(void)
{
    GUID npi = fx_guid(0xF001);
    fx_module *c = fx_client(&npi);
    int rc = reg(c);
    end(c, rc, &c, 1);
}

static void s_bind(void)
{
    GUID npi = fx_guid(0xF002);
    fx_module *m[2] = {fx_provider(&npi), fx_client(&npi)};
    int r0 = reg(m[0]), r1 = reg(m[1]);
    if (r0 && r1)
        CHECK_EQ(fx_live_sides(m[1]), 1);
    mid();
    end(m[1], r1, m, 2);
    end(m[0], r0, m, 2);
}

/* One client against three providers, one of which declines. */
static void s_fan_in(void)
{
    GUID npi = fx_guid(0xF003);
    fx_module *m[4] = {fx_provider(&npi), fx_provider(&npi), fx_provider(&npi),
                       fx_client(&npi)};
    m[1]->attach_mode = FX_DECLINE;
    int r[4];
    for (int i = 0; i < 4; i++)
        r[i] = reg(m[i]);
    mid();
    for (int i = 0; i < 4; i++)
        end(m[i], r[i], m, 4);
}

/* One provider registering against five clients (offers in one call). */
static void s_fan_out(void)
{
    GUID npi = fx_guid(0xF004);
    fx_module *m[6];
    int r[6];
    for (int i = 0; i < 5; i++) {
        m[i] = fx_client(&npi);
        r[i] = reg(m[i]);
    }
    m[5] = fx_provider(&npi);
    r[5] = reg(m[5]);
    mid();
    end(m[5], r[5], m, 6);
    for (int i = 0; i < 5; i++)
        end(m[i], r[i], m, 5);
}

/* Client fails after the provider accepted (R10), pending detaches. */
static void s_fail_after_attach_pending(void)
{
    GUID npi = fx_guid(0xF005);
    fx_module *m[3] = {fx_provider(&npi), fx_client(&npi), fx_client(&npi)};
    m[0]->detach_mode = FX_DET_PENDING;
    m[1]->attach_mode = FX_FAIL_AFTER_ATTACH;
    m[2]->detach_mode = FX_DET_COMPLETE_INSIDE;
    int r[3];
    for (int i = 0; i < 3; i++)
        r[i] = reg(m[i]);
    mid();
    fx_complete_pending(m[0]);
    end(m[0], r[0], m, 3);
    end(m[1], r[1], m, 3);
    end(m[2], r[2], m, 3);
}

/* A callback registers another module (nested registration, R22). */
static fx_module *g_nested;
static int g_nested_registered;

static void register_nested(fx_module *m, fx_ev_type type, int phase,
                            fx_side *side, void *arg)
{
    (void)m;
    (void)side;
    (void)arg;
    if (type == FX_EV_CLIENT_ATTACH && phase == FX_PRE && g_nested != NULL &&
        !g_nested_registered)
        g_nested_registered = reg(g_nested) ? 1 : -1;
}

static void s_nested(void)
{
    GUID npi = fx_guid(0xF006), other = fx_guid(0xF007);
    fx_module *m[4] = {fx_provider(&npi), fx_client(&npi), fx_provider(&other),
                       fx_client(&other)};
    g_nested = m[2];
    g_nested_registered = 0;
    m[1]->hook = register_nested;
    int r0 = reg(m[3]);
    int r1 = reg(m[0]);
    int r2 = reg(m[1]);
    int rn = g_nested_registered == 1;
    end(m[1], r2, m, 4);
    end(m[0], r1, m, 4);
    end(m[2], rn, m, 4);
    end(m[3], r0, m, 4);
    g_nested = NULL;
}

/* Both sides deregister before either waits. */
static void s_both_deregister(void)
{
    GUID npi = fx_guid(0xF008);
    fx_module *m[2] = {fx_client(&npi), fx_provider(&npi)};
    m[0]->detach_mode = FX_DET_PENDING;
    int r0 = reg(m[0]), r1 = reg(m[1]);
    if (r0)
        CHECK_STATUS(fx_deregister(m[0]), STATUS_PENDING);
    if (r1)
        CHECK_STATUS(fx_deregister(m[1]), STATUS_PENDING);
    fx_complete_pending(m[0]);
    if (r0)
        CHECK_STATUS(fx_wait(m[0]), STATUS_SUCCESS);
    if (r1)
        CHECK_STATUS(fx_wait(m[1]), STATUS_SUCCESS);
}

/* Many NPIs at once: grows the handle table past every slot freed so far,
 * and the NPI index stripes past their first bucket arrays, so the
 * failures of those growths are injected too. */
static void s_many_npis(void)
{
    enum { NPIS = 600, CLIENTS = 200, N = NPIS + CLIENTS };
    static fx_module *m[N];
    static int r[N];
    for (int i = 0; i < N; i++) {
        GUID npi = fx_guid(0xF100u + (uint32_t)(i < NPIS ? i : i - NPIS));
        m[i] = i < NPIS ? fx_provider(&npi) : fx_client(&npi);
        r[i] = reg(m[i]);
    }
    mid();
    for (int i = 0; i < N; i++)
        end(m[i], r[i], m, 0);
}

typedef struct scenario {
    const char *name;
    void (*run)(void);
} scenario;

static const scenario scenarios[] = {
    {"lone", s_lone},
    {"bind", s_bind},
    {"fan_in", s_fan_in},
    {"fan_out", s_fan_out},
    {"fail_after_attach_pending", s_fail_after_attach_pending},
    {"nested", s_nested},
    {"both_deregister", s_both_deregister},
    {"many_npis", s_many_npis},
};

/* After a run: consistent, nothing leaked, and still usable. */
static void check_after(const char *name, long n, long live0, unsigned long h0)
{
    char why[256];
    if (nmr_check_invariants(why, sizeof why) != 0) {
        fprintf(stderr, "scenario %s, fault %ld: %s\n", name, n, why);
        CHECK(!"invariants hold");
    }
    if (fx_errors() != 0) {
        fprintf(stderr, "scenario %s, fault %ld: fixture: %s\n", name, n,
                fx_last_error());
        CHECK(!"fixture saw no rule broken");
    }
    CHECK_EQ(nmr_alloc_live(), live0);     /* R31 */
    CHECK_EQ(nmr_handles_in_use(), h0);    /* no slot left behind */
    fx_reset();
    s_bind(); /* usable afterwards, nothing armed */
    CHECK_EQ(g_failed_regs, 0);
    CHECK_EQ(nmr_alloc_live(), live0);
    fx_reset();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

/* One scenario, for N = 1, 2, 3, ... until the N-th allocation is never
 * reached. */
static void run_scenario(const char *name)
{
    const scenario *sc = NULL;
    for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++)
        if (strcmp(scenarios[i].name, name) == 0)
            sc = &scenarios[i];
    CHECK(sc != NULL);
    long refused = 0, n;
    for (n = 1;; n++) {
        fx_reset();
        g_failed_regs = 0;
        long live0 = nmr_alloc_live();
        unsigned long h0 = nmr_handles_in_use();
        unsigned long a0 = nmr_alloc_count();
        nmr_alloc_fail_at(n);
        sc->run();
        nmr_alloc_fail_at(0);
        unsigned long used = nmr_alloc_count() - a0;
        refused += g_failed_regs;
        g_failed_regs = 0;
        check_after(sc->name, n, live0, h0);
        if (used < (unsigned long)n)
            break; /* the N-th allocation was never reached */
    }
    fprintf(stderr, "scenario %-26s %4ld fault points, %4ld refused registrations\n",
            sc->name, n - 1, refused);
    CHECK(refused > 0 || n == 1); /* the injection really bit */
}

static void t_faults_lone(void) { run_scenario("lone"); }
static void t_faults_bind(void) { run_scenario("bind"); }
static void t_faults_fan_in(void) { run_scenario("fan_in"); }
static void t_faults_fan_out(void) { run_scenario("fan_out"); }
static void t_faults_fail_after_attach_pending(void) { run_scenario("fail_after_attach_pending"); }
static void t_faults_nested(void) { run_scenario("nested"); }
static void t_faults_both_deregister(void) { run_scenario("both_deregister"); }
static void t_faults_many_npis(void) { run_scenario("many_npis"); }

static void setup(void)
{
    fx_diag_capture();
}

static void teardown(void)
{
    fx_diag_release();
}

static const nmr_test_case cases[] = {
    CASE(t_faults_lone, "R2 R31 R32"),
    CASE(t_faults_bind, "R2 R31 R32"),
    CASE(t_faults_fan_in, "R2 R31 R32"),
    CASE(t_faults_fan_out, "R2 R31 R32"),
    CASE(t_faults_fail_after_attach_pending, "R2 R31 R32"),
    CASE(t_faults_nested, "R2 R31 R32"),
    CASE(t_faults_both_deregister, "R2 R31 R32"),
    CASE(t_faults_many_npis, "R2 R31 R32"),
};

NMR_TEST_SUITE(test_faults, cases, setup, teardown, NULL);
