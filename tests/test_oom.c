/* SPDX-License-Identifier: MIT */
/*
 * test_oom.c - out of memory during registration (R2, R32), with 0, 1 and
 * 3 peers present, on both sides; and the rest of the API keeps working
 * when allocations fail after registration (R12, R31).
 *
 * Method: arm nmr_alloc_fail_at(n) for n = 1, 2, 3, ... and register; each
 * attempt must either fail cleanly with STATUS_INSUFFICIENT_RESOURCES
 * (having reached the n-th allocation) or succeed without reaching it.
 */
#include "check.h"
#include "fixture.h"
#include "rule_test.h"
#include "alloc.h"

/* R2, R32: register a client (is_client=1) or a provider with npeers
 * matching peers present. */
static void oom_register(int is_client, int npeers)
{
    GUID npi = fx_guid(0x2000u + (uint32_t)(is_client * 16 + npeers));
    fx_module *peers[3];
    for (int i = 0; i < npeers; i++) {
        peers[i] = is_client ? fx_provider(&npi) : fx_client(&npi);
        CHECK_STATUS(fx_register(peers[i]), STATUS_SUCCESS);
    }
    /* an unrelated registration (other NPI) is present too */
    GUID other = fx_guid(0x2fffu);
    fx_module *unrelated = is_client ? fx_provider(&other) : fx_client(&other);
    CHECK_STATUS(fx_register(unrelated), STATUS_SUCCESS);

    long live0 = nmr_alloc_live();
    int log0 = fx_log_len();
    CHECK_EQ(log0, 0);
    fx_module *m = NULL;
    long n;
    int failures = 0;
    for (n = 1; n < 10000; n++) {
        m = is_client ? fx_client(&npi) : fx_provider(&npi);
        m->handle = (HANDLE)(uintptr_t)0x55;
        unsigned long c0 = nmr_alloc_count();
        nmr_alloc_fail_at(n);
        NTSTATUS st = fx_register(m);
        unsigned long used = nmr_alloc_count() - c0;
        nmr_alloc_fail_at(0);
        if (st == STATUS_SUCCESS) {
            /* The armed failure was never reached: otherwise a failed
             * allocation was swallowed, or made after the offers began
             * (R32). */
            if (used >= (unsigned long)n)
                fprintf(stderr, "allocation %ld failed but registration "
                        "succeeded (used %lu)\n", n, used);
            CHECK(used < (unsigned long)n);
            break;
        }
        failures++;
        CHECK_STATUS(st, STATUS_INSUFFICIENT_RESOURCES);     /* R2 */
        CHECK(used >= (unsigned long)n);
        CHECK(m->handle == NULL);                            /* no handle */
        CHECK_EQ(fx_log_len(), log0);                        /* no callback */
        CHECK_EQ(nmr_alloc_live(), live0);                   /* no leak */
    }
    CHECK(n < 10000);
    CHECK(failures >= 1); /* registration allocates at least once */

    /* The successful attempt offered every peer exactly once (a failed
     * attempt left no half-offered state). */
    CHECK(m->handle != NULL);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, NULL, NULL), npeers);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL), npeers);
    CHECK_EQ(fx_live_sides(m), npeers);
    for (int i = 0; i < npeers; i++)
        CHECK_EQ(fx_live_sides(peers[i]), 1);

    /* Still usable: one more registration binds to everything. */
    fx_module *again = is_client ? fx_client(&npi) : fx_provider(&npi);
    CHECK_STATUS(fx_register(again), STATUS_SUCCESS);
    CHECK_EQ(fx_live_sides(again), npeers);

    dereg_wait(m);
    dereg_wait(again);
    for (int i = 0; i < npeers; i++) {
        CHECK_EQ(fx_live_sides(peers[i]), 0);
        dereg_wait(peers[i]);
    }
    dereg_wait(unrelated);
    finish();
}

static void t_r2_client_0(void) { oom_register(1, 0); }
static void t_r2_client_1(void) { oom_register(1, 1); }
static void t_r2_client_3(void) { oom_register(1, 3); }
static void t_r2_provider_0(void) { oom_register(0, 0); }
static void t_r2_provider_1(void) { oom_register(0, 1); }
static void t_r2_provider_3(void) { oom_register(0, 3); }

/* R2, R32: same with peers that decline or fail after attaching (the
 * outcome of an offer does not change what registration allocates). */
static void t_r2_mixed_peers(void)
{
    GUID npi = fx_guid(0x2100);
    fx_module *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = fx_client(&npi);
        CHECK_STATUS(fx_register(c[i]), STATUS_SUCCESS);
    }
    c[0]->attach_mode = FX_DECLINE;
    c[1]->attach_mode = FX_FAIL_AFTER_ATTACH;
    long live0 = nmr_alloc_live();
    fx_module *p = NULL;
    long n;
    for (n = 1; n < 10000; n++) {
        p = fx_provider(&npi);
        unsigned long c0 = nmr_alloc_count();
        nmr_alloc_fail_at(n);
        NTSTATUS st = fx_register(p);
        unsigned long used = nmr_alloc_count() - c0;
        nmr_alloc_fail_at(0);
        if (st == STATUS_SUCCESS) {
            CHECK(used < (unsigned long)n);
            break;
        }
        CHECK_STATUS(st, STATUS_INSUFFICIENT_RESOURCES);
        CHECK(p->handle == NULL);
        CHECK_EQ(fx_log_len(), 0);
        CHECK_EQ(nmr_alloc_live(), live0);
    }
    CHECK(n > 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, NULL, p), 3);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, NULL), 2);
    /* c[1] failed after the provider accepted: provider detach + both
     * cleanups (R10) */
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c[1]), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, c[1]), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c[1], p), 1);
    CHECK_EQ(fx_live_sides(c[2]), 1);
    dereg_wait(p);
    for (int i = 0; i < 3; i++)
        dereg_wait(c[i]);
    finish();
}

/* R12, R18, R31: an allocation failure armed at any point of the
 * deregistration path (deregister, detach completion, wait) does not make
 * deregistration fail or leak: it still returns STATUS_PENDING and the wait
 * STATUS_SUCCESS, with every detach and cleanup made. */
static void t_r12_dereg_under_oom(void)
{
    for (long n = 1; n <= 6; n++) {
        GUID npi = fx_guid(0x2200u + (uint32_t)n);
        fx_module *p = fx_provider(&npi);
        fx_module *c1 = fx_client(&npi);
        fx_module *c2 = fx_client(&npi);
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c1), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
        p->detach_mode = FX_DET_PENDING;
        nmr_alloc_fail_at(n);
        CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
        CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, NULL, p), 2);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, NULL), 2);
        CHECK_EQ(fx_complete_pending(p), 2);
        CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
        nmr_alloc_fail_at(0);
        CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, NULL, p), 2);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_CLEANUP, p, NULL), 2);
        dereg_wait(c1);
        dereg_wait(c2);
        finish();
    }
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void teardown(void)
{
    CHECK_EQ(fx_misuse_total(), 0);
    fx_diag_release();
}

static const nmr_test_case cases[] = {
    CASE(t_r2_client_0, "R2"),
    CASE(t_r2_client_1, "R2"),
    CASE(t_r2_client_3, "R2"),
    CASE(t_r2_provider_0, "R2"),
    CASE(t_r2_provider_1, "R2"),
    CASE(t_r2_provider_3, "R2"),
    CASE(t_r2_mixed_peers, "R2 R32"),
    CASE(t_r12_dereg_under_oom, "R12 R18 R31"),
};

NMR_TEST_SUITE(test_oom, cases, rt_setup, teardown, NULL);
