/* SPDX-License-Identifier: MIT */
/*
 * misuse.h - internal entry to the diagnostic channel (R30).
 * Context: may be called from any thread, must be called with no libnmr
 * lock held (the user's hook runs inside).
 */
#ifndef NMR_SRC_MISUSE_H
#define NMR_SRC_MISUSE_H

#include <nmr/diag.h>

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
void nmr_report_misuse(nmr_misuse_kind kind, const char *fmt, ...);
/* The same for a ready message of any length (several lines allowed). */
void nmr_report(nmr_misuse_kind kind, const char *msg);

#endif
