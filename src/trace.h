/*
 * trace.h - where the registrar's events leave it (nmr/trace.h, USDT).
 *
 * Every event site is written
 *
 *     NMR_TRACE(offer, nmr_trace_binding(NMR_EVENT_OFFER, b, -1, 0));
 *
 * which costs, when nobody listens, one relaxed load of the "hook
 * installed" flag and, in builds with <sys/sdt.h>, one load of the probe's
 * USDT semaphore (non-zero only while a tracer is attached to it).  The
 * out-of-line functions below fire the USDT probe and call the user's
 * hook.  Context: call with no libnmr lock held (the hook is user code).
 */
#ifndef NMR_SRC_TRACE_H
#define NMR_SRC_TRACE_H

#include "core.h"

#include <nmr/trace.h>
#include <stdatomic.h>

extern atomic_int nmr_trace_hooked;

#ifdef NMR_HAVE_SDT
#define NMR_SEMAPHORE(name) libnmr_##name##_semaphore
#define NMR_DECLARE_SEMAPHORE(name) extern volatile unsigned short NMR_SEMAPHORE(name)
NMR_DECLARE_SEMAPHORE(register);
NMR_DECLARE_SEMAPHORE(offer);
NMR_DECLARE_SEMAPHORE(attach_accepted);
NMR_DECLARE_SEMAPHORE(attach_declined);
NMR_DECLARE_SEMAPHORE(detach_called);
NMR_DECLARE_SEMAPHORE(half_complete);
NMR_DECLARE_SEMAPHORE(cleanup);
NMR_DECLARE_SEMAPHORE(deregister);
NMR_DECLARE_SEMAPHORE(wait_start);
NMR_DECLARE_SEMAPHORE(wait_end);
NMR_DECLARE_SEMAPHORE(misuse);
#define NMR_PROBE_ON(name) (NMR_SEMAPHORE(name) != 0)
#else
#define NMR_PROBE_ON(name) 0
#endif

#define NMR_TRACE_ON(name) \
    __builtin_expect(NMR_PROBE_ON(name) || \
                     atomic_load_explicit(&nmr_trace_hooked, memory_order_relaxed), 0)

#define NMR_TRACE(name, call) \
    do {                      \
        if (NMR_TRACE_ON(name)) \
            call;             \
    } while (0)

/* REGISTER: a registration and its handle. */
void nmr_trace_register(const nmr_reg *r, HANDLE h);
/* DEREGISTER, WAIT_START, WAIT_END of a registration. */
void nmr_trace_registration(nmr_event_type type, const nmr_reg *r, NTSTATUS status);
/* The binding events; side -1 when none. */
void nmr_trace_binding(nmr_event_type type, const nmr_binding *b, int side,
                       NTSTATUS status);
/* MISUSE, with its message. */
void nmr_trace_misuse(int kind, const char *message);

#endif
