/* SPDX-License-Identifier: MIT */
/*
 * busy.c - what a registrar that refused to be destroyed still holds
 * (nmr_registrar_destroy, nmr/registrar.h): its snapshot, as text, through
 * the diagnostic channel (NMR_DIAG_REGISTRAR_BUSY).  The core asks for it
 * through nmr_busy_report (core/report.h).
 */
#define _POSIX_C_SOURCE 200809L /* open_memstream */

#include "core/report.h"

#include "base/misuse.h"

#include <nmr/introspect.h>
#include <stdio.h>
#include <stdlib.h>

/* What a busy registrar still holds, through the diagnostic channel. */
static void report_busy(nmr_registrar *registrar, uint64_t count)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f != NULL) {
        fprintf(f, "nmr_registrar_destroy: registrar %p still has %llu "
                   "registration(s) or call(s) in progress; it stays usable. "
                   "What is left:\n",
                (void *)registrar, (unsigned long long)count);
        nmr_snapshot *snap = NULL;
        if (nmr_snapshot_take(registrar, &snap) == STATUS_SUCCESS) {
            nmr_snapshot_write(snap, NMR_DUMP_TEXT, f);
            nmr_snapshot_free(snap);
        } else {
            fputs("(no snapshot: out of memory)\n", f);
        }
        if (fclose(f) != 0) {
            free(text);
            text = NULL;
        }
    }
    nmr_report(NMR_DIAG_REGISTRAR_BUSY,
               text != NULL ? text
                            : "nmr_registrar_destroy: registrar still has "
                              "registrations (no memory to list them)");
    free(text);
}

nmr_busy_report_fn *const nmr_busy_report = report_busy;
