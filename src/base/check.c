/* SPDX-License-Identifier: MIT */
/*
 * check.c - <nmr/check.h>: the switch point modules may call
 * (nmrcheck_yield) and the hooks a schedule explorer installs.
 *
 * The yield hook is one pair of words read without a lock: the tool sets
 * it before any module is loaded and clears it after the last is gone
 * (nmr/check.h), so no module thread runs while it changes.  Allocation
 * failure forwards to the counters every libnmr allocation goes through
 * (alloc.c).  The scheduler hooks are one pointer, read where libnmr
 * wakes a wait (base/check.h) and by libnmr-km at each of its switch
 * points.
 */
#include <nmr/check.h>

#include "base/alloc.h"
#include "base/check.h"

#include <stddef.h>

static nmr_check_yield_fn *_Atomic check_yield_hook;
static void *_Atomic check_yield_context;

void nmrcheck_yield(void)
{
    nmr_check_yield_fn *hook = check_yield_hook;
    if (hook != NULL)
        hook(check_yield_context);
}

void nmr_check_set_yield_hook(nmr_check_yield_fn *hook, void *context)
{
    check_yield_context = context;
    check_yield_hook = hook;
}

const nmr_check_sched_hooks *_Atomic nmr_check_hooks;

void nmr_check_set_sched_hooks(const nmr_check_sched_hooks *hooks)
{
    nmr_check_hooks = hooks;
}

const nmr_check_sched_hooks *nmr_check_sched(void)
{
    return nmr_check_hooks;
}

void nmr_check_alloc_fail_at(long n)
{
    nmr_alloc_fail_at(n);
}

unsigned long nmr_check_alloc_count(void)
{
    return nmr_alloc_count();
}
