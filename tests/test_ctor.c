/* SPDX-License-Identifier: MIT */
/*
 * test_ctor.c - R33: no initialisation call is needed; the API works from
 * a constructor that runs before main (at the earliest priority), and
 * still from a destructor after main returned (nothing torn down at exit).
 */
#include "check.h"
#include "fixture.h"
#include "alloc.h"

#include <unistd.h>

static NTSTATUS g_ctor_st[8];
static int g_ctor_live_sides;
static int g_ctor_cleanups;
static int g_ctor_ran;

/* R33: register a provider and a client, bind, deregister and wait, all
 * before main. */
__attribute__((constructor(101))) static void early_use(void)
{
    GUID npi = fx_guid(0x9001);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    g_ctor_st[0] = fx_register(p);
    g_ctor_st[1] = fx_register(c);
    g_ctor_live_sides = fx_live_sides(c) + fx_live_sides(p);
    g_ctor_st[2] = fx_deregister(c);
    g_ctor_st[3] = fx_wait(c);
    g_ctor_st[4] = fx_deregister(p);
    g_ctor_st[5] = fx_wait(p);
    g_ctor_cleanups = fx_count(FX_EV_CLIENT_CLEANUP, c, p) +
                      fx_count(FX_EV_PROVIDER_CLEANUP, p, c);
    g_ctor_ran = 1;
}

/* R33: after main returned and exit handlers ran, the API still works.
 * On failure: _exit(1) (ctest sees it). */
__attribute__((destructor(101))) static void late_use(void)
{
    GUID npi = fx_guid(0x9002);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    if (fx_register(p) != STATUS_SUCCESS || fx_register(c) != STATUS_SUCCESS ||
        fx_live_sides(c) != 1 || fx_deregister(p) != STATUS_PENDING ||
        fx_wait(p) != STATUS_SUCCESS || fx_deregister(c) != STATUS_PENDING ||
        fx_wait(c) != STATUS_SUCCESS || fx_errors() != 0) {
        static const char msg[] = "test_ctor: API failed in a destructor (R33)\n";
        if (write(2, msg, sizeof(msg) - 1) < 0) {
            /* nothing more to do */
        }
        _exit(1);
    }
    fx_reset();
    if (nmr_alloc_live() != 0) {
        static const char msg[] = "test_ctor: memory left after exit-time use\n";
        if (write(2, msg, sizeof(msg) - 1) < 0) {
        }
        _exit(1);
    }
}

static void t_r33_constructor(void)
{
    CHECK_EQ(g_ctor_ran, 1);
    CHECK_STATUS(g_ctor_st[0], STATUS_SUCCESS);
    CHECK_STATUS(g_ctor_st[1], STATUS_SUCCESS);
    CHECK_EQ(g_ctor_live_sides, 2);
    CHECK_STATUS(g_ctor_st[2], STATUS_PENDING);
    CHECK_STATUS(g_ctor_st[3], STATUS_SUCCESS);
    CHECK_STATUS(g_ctor_st[4], STATUS_PENDING);
    CHECK_STATUS(g_ctor_st[5], STATUS_SUCCESS);
    CHECK_EQ(g_ctor_cleanups, 2);
    CHECK_EQ(fx_errors(), 0);
    fx_reset();
    CHECK_EQ(nmr_alloc_live(), 0); /* R31: nothing left from the ctor */
}

/* R33: and again in main, the library state is sane after early use. */
static void t_r33_after_ctor(void)
{
    GUID npi = fx_guid(0x9001);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 1);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    CHECK_EQ(fx_errors(), 0);
    fx_reset();
    CHECK_EQ(nmr_alloc_live(), 0);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_r33_constructor, "R33"),
    CASE(t_r33_after_ctor, "R33"),
};

NMR_TEST_SUITE(test_ctor, cases, NULL, NULL, NULL);
