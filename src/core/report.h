/* SPDX-License-Identifier: MIT */
/*
 * report.h - the reports the core makes but does not write.
 *
 * A wait that is held up (the stuck-unload watchdog, nmr/registrar.h) and
 * a registrar that cannot be destroyed describe the registrar's state in
 * words; the words are written by observe/ (snapshots and their
 * renderings), which sits above the core.  So the core calls them through
 * the two pointers below, which observe/ defines: the core includes
 * nothing of the layer above it, and observe/ depends on the core, not the
 * other way round.  When a stuck wait reports (the delay) is the core's own
 * business, here.
 */
#ifndef NMR_SRC_CORE_REPORT_H
#define NMR_SRC_CORE_REPORT_H

#include <nmr/registrar.h>
#include <stdint.h>

struct nmr_reg;

/* NPI lock held: the report for a wait on r that has lasted waited_ms,
 * naming every binding that holds it up.  Allocated (free with free());
 * NULL when memory ran out.  No user code runs.  observe/watchdog.c. */
typedef char *nmr_stuck_report_fn(const struct nmr_reg *r, uint64_t waited_ms);
extern nmr_stuck_report_fn *const nmr_stuck_report;

/* No lock held: report through the diagnostic channel what a registrar
 * that refused to be destroyed still holds (count: its registrations and
 * calls in progress).  observe/busy.c. */
typedef void nmr_busy_report_fn(nmr_registrar *registrar, uint64_t count);
extern nmr_busy_report_fn *const nmr_busy_report;

/* The first warning delay in ms (0 = never): nmr_wait_set_warn_ms(), else
 * NMR_WAIT_WARN_MS, else 10000. */
uint64_t nmr_watchdog_warn_ms(void);

/* No lock held: send a report from nmr_stuck_report through the
 * diagnostic channel (kind NMR_DIAG_WAIT_STUCK) and free it. */
void nmr_watchdog_emit(char *report);

#endif
