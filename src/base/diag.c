/* SPDX-License-Identifier: MIT */
/*
 * diag.c - the misuse diagnostic channel (R30).
 *
 * One report path for every misuse that cannot be returned as a status:
 * the counter always moves and the trace hook sees a MISUSE event; then
 * the message goes to the user's hook if one is installed, else to
 * standard error; in strict mode the message goes to standard error and
 * the process aborts.  Reports that are not misuse (a stuck wait, a busy
 * registrar) take the same path without the counter, event or abort.
 *
 * The (hook, context) pair is a hook cell (hook.h): no lock is held while
 * the hook runs, so a hook may call back into libnmr, even to change the
 * hook, and replacing the hook waits until the old one runs nowhere.
 */
#include "base/misuse.h"

#include "base/hook.h"
#include "base/event.h"

#include <netioddk.h> /* NMR_STATUS_MAP */

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static nmr_hook_cell diag_cell = NMR_HOOK_CELL_INIT(NULL);
static atomic_ullong misuse_count;
/* -1: not decided yet (read NMR_STRICT at first use), 0 or 1. */
static atomic_int strict_mode = -1;

static int strict_enabled(void)
{
    int s = atomic_load_explicit(&strict_mode, memory_order_relaxed);
    if (s < 0) {
        const char *env = getenv("NMR_STRICT");
        s = (env != NULL && env[0] == '1') ? 1 : 0;
        int expected = -1;
        atomic_compare_exchange_strong(&strict_mode, &expected, s);
        s = atomic_load_explicit(&strict_mode, memory_order_relaxed);
    }
    return s;
}

nmr_misuse_hook_fn *nmr_diag_set_hook(nmr_misuse_hook_fn *hook, void *context,
                                      void **old_context)
{
    int ok;
    nmr_hook_any_fn *old = nmr_hook_set(&diag_cell, (nmr_hook_any_fn *)hook, context,
                                        old_context, &ok);
    if (!ok)
        fputs("libnmr: nmr_diag_set_hook: out of memory inside a hook; "
              "the hook is unchanged\n", stderr);
    return (nmr_misuse_hook_fn *)old;
}

NTSTATUS nmr_diag_sync(void)
{
    return nmr_hook_sync(&diag_cell) == 0 ? STATUS_SUCCESS : STATUS_POSSIBLE_DEADLOCK;
}

unsigned long long nmr_diag_misuse_count(void)
{
    return atomic_load_explicit(&misuse_count, memory_order_relaxed);
}

int nmr_diag_set_strict(int strict)
{
    int old = strict_enabled();
    if (strict < 0) {
        const char *env = getenv("NMR_STRICT");
        strict = (env != NULL && env[0] == '1') ? 1 : 0;
    }
    atomic_store_explicit(&strict_mode, strict ? 1 : 0, memory_order_relaxed);
    return old;
}

const char *nmr_status_name(NTSTATUS status)
{
    switch (status) {
#define NMR_STATUS_CASE_(name) case name: return #name;
    NMR_STATUS_MAP(NMR_STATUS_CASE_)
#undef NMR_STATUS_CASE_
    default: return "(other status)";
    }
}

/* 1 if kind is of class MISUSE, 0 if REPORT (NMR_MISUSE_MAP, nmr/diag.h):
 * a kind added to the list says its class there. */
static int is_misuse(nmr_misuse_kind kind)
{
#define NMR_CLASS_MISUSE_ 1
#define NMR_CLASS_REPORT_ 0
#define NMR_MISUSE_CLASS_CASE_(name, value, cls) case name: return NMR_CLASS_##cls##_;
    switch (kind) {
        NMR_MISUSE_MAP(NMR_MISUSE_CLASS_CASE_)
    }
#undef NMR_MISUSE_CLASS_CASE_
#undef NMR_CLASS_MISUSE_
#undef NMR_CLASS_REPORT_
    return 1; /* not a kind of the list: never sent by libnmr; count it */
}

void nmr_report(nmr_misuse_kind kind, const char *msg)
{
    int misuse = is_misuse(kind);
    if (misuse) {
        atomic_fetch_add_explicit(&misuse_count, 1, memory_order_relaxed);
        if (NMR_TRACING())
            nmr_trace_misuse((int)kind, msg);
        if (strict_enabled()) {
            fprintf(stderr, "libnmr: misuse (strict mode, aborting): %s\n", msg);
            fflush(stderr);
            abort();
        }
    }

    void *ctx;
    nmr_hook_token t;
    nmr_misuse_hook_fn *fn = (nmr_misuse_hook_fn *)nmr_hook_enter(&diag_cell, &ctx, &t);
    if (fn != NULL)
        fn(ctx, kind, msg);
    else
        fprintf(stderr, "libnmr: %s: %s\n", misuse ? "misuse" : "warning", msg);
    nmr_hook_leave(t);
}

void nmr_report_misuse(nmr_misuse_kind kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nmr_report(kind, msg);
}
