/* SPDX-License-Identifier: MIT */
/*
 * trace.c - the event hook and the USDT probes (nmr/trace.h, trace.h).
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

#include "trace.h"

#include "clock.h"
#include "hook.h"

#include <stdatomic.h>
#include <stdio.h>

#ifdef NMR_HAVE_SDT
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
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
#define NMR_USDT1(name, a) STAP_PROBE1(libnmr, name, a)
#define NMR_USDT2(name, a, b) STAP_PROBE2(libnmr, name, a, b)
#define NMR_USDT3(name, a, b, c) STAP_PROBE3(libnmr, name, a, b, c)
#define NMR_USDT4(name, a, b, c, d) STAP_PROBE4(libnmr, name, a, b, c, d)
#else
#define NMR_USDT1(name, a) ((void)(a))
#define NMR_USDT2(name, a, b) ((void)(a), (void)(b))
#define NMR_USDT3(name, a, b, c) ((void)(a), (void)(b), (void)(c))
#define NMR_USDT4(name, a, b, c, d) ((void)(a), (void)(b), (void)(c), (void)(d))
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

static void deliver(nmr_event *ev)
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

void nmr_trace_reg_capture(nmr_trace_reg_info *info, const nmr_reg *r, HANDLE h)
{
    const NPI_REGISTRATION_INSTANCE *ri = r->instance;
    info->handle = h;
    info->side = r->side;
    info->npi_id = *ri->NpiId;
    info->module_id = *ri->ModuleId;
}

void nmr_trace_register(const nmr_trace_reg_info *info)
{
    NMR_USDT4(register, info->handle, info->side, &info->npi_id, &info->module_id);
    nmr_event ev = {.type = NMR_EVENT_REGISTER, .registration = info->handle,
                    .side = info->side, .npi_id = &info->npi_id,
                    .module_id = &info->module_id};
    deliver(&ev);
}

void nmr_trace_registration(nmr_event_type type, const nmr_reg *r, NTSTATUS status)
{
    HANDLE h = nmr_handle_value(&r->obj);
    int role = r->side;
    switch (type) {
    case NMR_EVENT_DEREGISTER: NMR_USDT2(deregister, h, role); break;
    case NMR_EVENT_WAIT_START: NMR_USDT2(wait_start, h, role); break;
    default: NMR_USDT3(wait_end, h, role, (int)status); break;
    }
    nmr_event ev = {.type = type, .registration = h, .side = role, .status = status};
    deliver(&ev);
}

void nmr_trace_binding(nmr_event_type type, const nmr_binding *b, int side,
                       NTSTATUS status)
{
    HANDLE bh = nmr_handle_value(&b->obj);
    HANDLE ch = nmr_handle_value(&b->reg[NMR_CLIENT]->obj);
    HANDLE ph = nmr_handle_value(&b->reg[NMR_PROVIDER]->obj);
    switch (type) {
    case NMR_EVENT_OFFER: NMR_USDT3(offer, bh, ch, ph); break;
    case NMR_EVENT_ATTACH_ACCEPTED: NMR_USDT3(attach_accepted, bh, ch, ph); break;
    case NMR_EVENT_ATTACH_DECLINED: NMR_USDT3(attach_declined, bh, side, (int)status); break;
    case NMR_EVENT_DETACH_CALLED: NMR_USDT2(detach_called, bh, side); break;
    case NMR_EVENT_HALF_COMPLETE: NMR_USDT2(half_complete, bh, side); break;
    default: NMR_USDT1(cleanup, bh); break;
    }
    nmr_event ev = {.type = type, .binding = bh, .client = ch, .provider = ph,
                    .side = side, .status = status};
    deliver(&ev);
}

void nmr_trace_misuse(int kind, const char *message)
{
    NMR_USDT2(misuse, kind, message);
    nmr_event ev = {.type = NMR_EVENT_MISUSE, .side = -1, .status = kind,
                    .message = message};
    deliver(&ev);
}
