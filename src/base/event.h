/* SPDX-License-Identifier: MIT */
/*
 * trace.h - where the registrar's events leave it (nmr/trace.h, USDT).
 *
 * Every event site is written
 *
 *     if (NMR_TRACING())
 *         nmr_trace_binding(NMR_EVENT_OFFER, b, -1, 0);
 *
 * which costs, when nobody listens, one compare with memory and a branch
 * (reading the flag again is cheaper than keeping it in a register across
 * the calls in between).  The functions are cold, so the compiler keeps
 * their argument set-up off the hot path.  The
 * out-of-line functions below fire the USDT probe and call the user's
 * hook.  Context: call with no libnmr lock held (the hook is user code).
 */
#ifndef NMR_SRC_EVENT_H
#define NMR_SRC_EVENT_H

#include <nmr/trace.h>
#include <stdatomic.h>

#include "base/visibility.h"

/* Non-zero while anyone listens: a trace hook is installed, or (builds
 * with <sys/sdt.h>) a tracer is attached to any libnmr probe, because
 * every probe's USDT semaphore is this one variable (trace.c). */
extern volatile unsigned short nmr_trace_listeners NMR_INTERNAL_DATA;

#ifdef NMR_NO_TRACE /* the baseline build of the tracing benchmark */
#define NMR_TRACING() 0
#else
#if defined(__SANITIZE_THREAD__)
/* for ThreadSanitizer the load is atomic, as it is on x86-64 anyway */
#define NMR_TRACING() \
    __builtin_expect(__atomic_load_n(&nmr_trace_listeners, __ATOMIC_RELAXED) != 0, 0)
#else
#define NMR_TRACING() __builtin_expect(nmr_trace_listeners != 0, 0)
#endif
#endif

#if defined(__GNUC__)
#define NMR_COLD __attribute__((cold, noinline))
#else
#define NMR_COLD
#endif

/* Deliver an event to the trace hook, if one is installed (no lock held:
 * the hook is user code).  Fills in the timestamp. */
void nmr_event_deliver(nmr_event *ev);

/* MISUSE, with its message. */
NMR_COLD void nmr_trace_misuse(int kind, const char *message);

#endif
