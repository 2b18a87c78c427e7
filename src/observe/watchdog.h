/* SPDX-License-Identifier: MIT */
/*
 * watchdog.h - the stuck-wait report (nmr/registrar.h, "Stuck-unload
 * watchdog"): what a report says.  The wait (core/registration.c) owns
 * the timing and the delay (core/report.h).
 */
#ifndef NMR_SRC_WATCHDOG_H
#define NMR_SRC_WATCHDOG_H

#include "core/core.h"
#include "core/report.h"

#include <stdint.h>

/* NPI lock held: the report for a wait on r that has lasted waited_ms,
 * naming every binding that holds it up.  Allocated (free with free());
 * NULL when memory ran out.  No user code runs. */
char *nmr_watchdog_report_locked(const nmr_reg *r, uint64_t waited_ms);


#endif
