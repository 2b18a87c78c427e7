/* SPDX-License-Identifier: MIT */
/*
 * watchdog.c - what a stuck wait reports (watchdog.h).  When it reports is
 * the core's business (core/report.c, the wait in core/registration.c).
 *
 * A report names, for each binding the waiting registration still has:
 * the binding handle, both ends (role, module ID, registration handle),
 * the binding's state and, for each detach half, whether it is complete,
 * its callback still running, or pending - with how long, and which
 * completion function has not been called.  That is exactly what a user
 * needs to find the module whose detach never completes.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "observe/watchdog.h"

#include "base/clock.h"
#include "base/misuse.h"
#include "observe/snapshot.h"

#include <nmr/introspect.h>
#include <stdio.h>
#include <stdlib.h>

static void describe_end(FILE *f, const nmr_reg *r)
{
    char id[NMR_MODULE_ID_TEXT];
    fprintf(f, "%s %s #%lu (registration %p)", nmr_side_name(r->side),
            nmr_module_id_format(r->instance->ModuleId, id, sizeof(id)),
            (unsigned long)r->instance->Number, nmr_handle_value(&r->obj));
}

static void describe_half(FILE *f, const nmr_binding *b, const nmr_binding_info *bi, int side)
{
    fprintf(f, "    %s half: ", nmr_side_name(side));
    switch (bi->half[side]) {
    case NMR_HALF_COMPLETE:
        fputs("complete\n", f);
        break;
    case NMR_HALF_NOT_STARTED:
        fprintf(f, "not started (%s not called yet)\n", nmr_side_detach_fn(side));
        break;
    case NMR_HALF_CALLING:
        fprintf(f, "NOT COMPLETE: %s has been running for %llu ms and has not "
                   "returned%s\n",
                nmr_side_detach_fn(side), (unsigned long long)bi->half_pending_ms[side],
                b->half[side] == NMR_H_CALLING_DONE ? " (its completion came already)" : "");
        break;
    case NMR_HALF_PENDING:
        fprintf(f, "NOT COMPLETE: pending for %llu ms: %s returned STATUS_PENDING "
                   "and %s has not been called\n",
                (unsigned long long)bi->half_pending_ms[side], nmr_side_detach_fn(side),
                nmr_side_complete_fn(side));
        break;
    }
}

char *nmr_watchdog_report_locked(const nmr_reg *r, uint64_t waited_ms)
{
    nmr_npi_assert_held(r->npi);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    if (f == NULL)
        return NULL;
    char id[NMR_MODULE_ID_TEXT];
    NPI_MODULEID npi = {.Length = sizeof(NPI_MODULEID), .Type = MIT_GUID};
    npi.Guid = r->npi->id;
    fprintf(f, "%s: the wait for %s registration %p (module %s, NPI ",
            nmr_side_wait_fn(r->side),
            nmr_side_name(r->side), nmr_handle_value(&r->obj),
            nmr_module_id_format(r->instance->ModuleId, id, sizeof(id)));
    fprintf(f, "%s) has lasted %llu ms; %lu binding(s) hold it up:\n",
            nmr_module_id_format(&npi, id, sizeof(id)), (unsigned long long)waited_ms,
            (unsigned long)r->live_bindings);
    uint32_t now = nmr_stamp_ms();
    for (const nmr_link *l = r->bindings.next; l != &r->bindings; l = l->next) {
        const nmr_binding *b = nmr_container_of(l, nmr_binding, link[r->side]);
        if (!nmr_binding_visible_locked(b))
            continue;
        nmr_binding_info bi;
        nmr_binding_describe_locked(b, now, &bi);
        fprintf(f, "  binding %p: ", nmr_handle_value(&b->obj));
        describe_end(f, b->reg[NMR_CLIENT]);
        fputs(" <-> ", f);
        describe_end(f, b->reg[NMR_PROVIDER]);
        if (b->state == NMR_B_OFFERING) {
            fputs("\n    offering: its attach callbacks have not returned\n", f);
            continue;
        }
        if (b->state == NMR_B_CLEANUP) {
            fputs("\n    both halves complete: its cleanup callbacks are running\n", f);
            continue;
        }
        fprintf(f, "\n    detaching for %llu ms\n", (unsigned long long)bi.detaching_ms);
        describe_half(f, b, &bi, NMR_CLIENT);
        describe_half(f, b, &bi, NMR_PROVIDER);
    }
    if (fclose(f) != 0) {
        free(text);
        return NULL;
    }
    /* drop the final newline: reports are messages, not files */
    if (size > 0 && text[size - 1] == '\n')
        text[size - 1] = '\0';
    return text;
}

/* The core's wait asks for this report through nmr_stuck_report
 * (core/report.h). */
nmr_stuck_report_fn *const nmr_stuck_report = nmr_watchdog_report_locked;
