/* SPDX-License-Identifier: MIT */
/*
 * event.c - where events leave libnmr: the trace hook and the USDT
 * semaphore (nmr/trace.h, event.h).  The events of registrations and
 * bindings are made in core/trace.c; a misuse event here.
 *
 * The (hook, context) pair is a hook cell (hook.h): read without a lock,
 * so threads that trace at once do not serialise, and replaced with a
 * grace period, so a removed hook's context may be freed; an installed
 * hook counts as one listener in nmr_trace_listeners, the flag event
 * sites test (trace.h).
 *
 * USDT: with <sys/sdt.h> each event is a probe of provider "libnmr"; the
 * probes share one semaphore, so the arguments (handle values...) are
 * only computed while someone listens.
 * Arguments: register(handle, role, npi_id*, module_id*), offer /
 * attach_accepted(binding, client, provider), attach_declined(binding,
 * side, status), detach_called / half_complete(binding, side),
 * cleanup(binding), deregister / wait_start(handle, role), wait_end(handle,
 * role, status), misuse(kind, message*).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "base/event.h"

#include "base/clock.h"
#include "base/hook.h"
#include "base/usdt.h"

#include <stdatomic.h>
#include <stdio.h>

#ifdef NMR_HAVE_SDT
/* One semaphore for all probes: each probe's semaphore symbol is an alias
 * of nmr_trace_listeners, so a tracer attached to any probe turns every
 * event site on (the tracer sees only its probes), and a site tests one
 * variable.  The kernel counts attached tracers in it; a trace hook adds
 * one more (nmr_trace_set_hook). */
__attribute__((section(".probes"))) volatile unsigned short nmr_trace_listeners;
#define NMR_SEMAPHORE_ALIAS(name)                                         \
    __asm__(".globl libnmr_" #name "_semaphore\n\t"                      \
            ".hidden libnmr_" #name "_semaphore\n\t"                     \
            ".set libnmr_" #name "_semaphore, nmr_trace_listeners");      \
    extern volatile unsigned short libnmr_##name##_semaphore
/* One alias per event of NMR_EVENT_MAP (nmr/trace.h). */
#define NMR_EVENT_SEMAPHORE_(name, value, probe, text) NMR_SEMAPHORE_ALIAS(probe);
NMR_EVENT_MAP(NMR_EVENT_SEMAPHORE_)
#undef NMR_EVENT_SEMAPHORE_
#endif

#ifndef NMR_HAVE_SDT
volatile unsigned short nmr_trace_listeners; /* hooks installed: 0 or 1 */
#endif
/* The (hook, context) pair, replaceable while events are delivered
 * (hook.h); an installed hook counts as one listener. */
static nmr_hook_cell trace_cell = NMR_HOOK_CELL_INIT(&nmr_trace_listeners);

nmr_trace_hook_fn *nmr_trace_set_hook(nmr_trace_hook_fn *hook, void *context,
                                      void **old_context)
{
    int ok;
    nmr_hook_any_fn *old = nmr_hook_set(&trace_cell, (nmr_hook_any_fn *)hook,
                                        context, old_context, &ok);
    if (!ok)
        fputs("libnmr: nmr_trace_set_hook: out of memory inside a hook; "
              "the hook is unchanged\n", stderr);
    return (nmr_trace_hook_fn *)old;
}

NTSTATUS nmr_trace_sync(void)
{
    return nmr_hook_sync(&trace_cell) == 0 ? STATUS_SUCCESS : STATUS_POSSIBLE_DEADLOCK;
}

int nmr_trace_usdt_available(void)
{
#ifdef NMR_HAVE_SDT
    return 1;
#else
    return 0;
#endif
}

const char *nmr_event_name(nmr_event_type type)
{
    switch (type) {
#define NMR_EVENT_CASE_(name, value, probe, text) case NMR_EVENT_##name: return text;
    NMR_EVENT_MAP(NMR_EVENT_CASE_)
#undef NMR_EVENT_CASE_
    }
    return "unknown";
}

void nmr_event_deliver(nmr_event *ev)
{
    /* Only a tracer may be listening (USDT): no hook to count in for. */
    if (atomic_load_explicit(&trace_cell.current, memory_order_relaxed) == NULL)
        return;
    void *ctx;
    nmr_hook_token t;
    nmr_trace_hook_fn *fn = (nmr_trace_hook_fn *)nmr_hook_enter(&trace_cell, &ctx, &t);
    if (fn != NULL) {
        ev->time_ns = nmr_now_ns();
        fn(ctx, ev);
    }
    nmr_hook_leave(t);
}

void nmr_trace_misuse(int kind, const char *message)
{
    NMR_USDT2(misuse, kind, message);
    nmr_event ev = {.type = NMR_EVENT_MISUSE, .side = -1, .status = kind,
                    .message = message};
    nmr_event_deliver(&ev);
}
