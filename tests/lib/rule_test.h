/* SPDX-License-Identifier: MIT */
/*
 * rule_test.h - what every single-threaded rule test program shares on top
 * of tests/lib/fixture.h (tests/lib/rule_test.c): the live-allocation
 * baseline, the end-of-case check (no rule broken in the fixture's eyes,
 * nothing left allocated: R31), the usual deregister-then-wait, and the
 * usual setup and teardown of a case table (runner.h).
 */
#ifndef NMR_TEST_RULE_TEST_H
#define NMR_TEST_RULE_TEST_H

#include "check.h"
#include "fixture.h"
#include "alloc.h"

/* Live allocations before the case (set by the setup, in the case's own
 * process). */
extern long g_live0;

/* End of a case: the fixture saw nothing wrong, and nothing is left (R31). */
void finish(void);

/* Deregister m (STATUS_PENDING) and wait for it (STATUS_SUCCESS). */
void dereg_wait(fx_module *m);

/* Setup: capture the misuse reports (fx_diag_capture), take g_live0. */
void rt_setup(void);
/* Teardown: release the capture, nothing left allocated (R31). */
void rt_teardown(void);
/* The same, and no misuse report at all during the case. */
void rt_teardown_no_misuse(void);

#endif
