/* SPDX-License-Identifier: MIT */
/*
 * watchdog.h - the stuck-wait report (nmr/registrar.h, "Stuck-unload
 * watchdog").  reg_wait (registration.c) owns the timing; this file owns
 * the warning delay setting and what a report says.
 */
#ifndef NMR_SRC_WATCHDOG_H
#define NMR_SRC_WATCHDOG_H

#include "core.h"

#include <stdint.h>

/* The first warning delay in ms (0 = never): nmr_wait_set_warn_ms(), else
 * NMR_WAIT_WARN_MS, else 10000. */
uint64_t nmr_watchdog_warn_ms(void);

/* NPI lock held: the report for a wait on r that has lasted waited_ms,
 * naming every binding that holds it up.  Allocated (free with free());
 * NULL when memory ran out.  No user code runs. */
char *nmr_watchdog_report_locked(const nmr_reg *r, uint64_t waited_ms);

/* No lock held: send a report from nmr_watchdog_report_locked through the
 * diagnostic channel (kind NMR_DIAG_WAIT_STUCK) and free it. */
void nmr_watchdog_emit(char *report);

#endif
