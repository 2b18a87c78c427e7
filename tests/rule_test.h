/* SPDX-License-Identifier: MIT */
/*
 * rule_test.h - what every single-threaded rule test program shares on top
 * of tests/fixture.h: the live-allocation baseline, the end-of-case check
 * (no rule broken in the fixture's eyes, nothing left allocated: R31), and
 * the usual deregister-then-wait.
 */
#ifndef NMR_TEST_RULE_TEST_H
#define NMR_TEST_RULE_TEST_H

#include "check.h"
#include "fixture.h"
#include "alloc.h"

/* Live allocations before the first case (set by main). */
static long g_live0 FX_UNUSED;

/* End of a case: the fixture saw nothing wrong, and nothing is left (R31). */
static FX_UNUSED void finish(void)
{
    CHECK_EQ(fx_errors(), 0);
    fx_reset();
    CHECK_EQ(nmr_alloc_live(), g_live0); /* R31 */
}

static FX_UNUSED void dereg_wait(fx_module *m)
{
    CHECK_STATUS(fx_deregister(m), STATUS_PENDING);
    CHECK_STATUS(fx_wait(m), STATUS_SUCCESS);
}

#endif
