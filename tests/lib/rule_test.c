/* SPDX-License-Identifier: MIT */
/* rule_test.c - the shared end-of-case checks of tests/lib/rule_test.h. */
#include "rule_test.h"

long g_live0;

void finish(void)
{
    CHECK_EQ(fx_errors(), 0);
    fx_reset();
    CHECK_EQ(nmr_alloc_live(), g_live0); /* R31 */
}

void dereg_wait(fx_module *m)
{
    CHECK_STATUS(fx_deregister(m), STATUS_PENDING);
    CHECK_STATUS(fx_wait(m), STATUS_SUCCESS);
}

void rt_setup(void)
{
    fx_diag_capture();
    g_live0 = nmr_alloc_live();
}

void rt_teardown(void)
{
    fx_diag_release();
    CHECK_EQ(nmr_alloc_live(), g_live0); /* R31 */
}

void rt_teardown_no_misuse(void)
{
    CHECK_EQ(fx_misuse_total(), 0); /* correct use reports nothing */
    rt_teardown();
}
