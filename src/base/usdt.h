/* SPDX-License-Identifier: MIT */
/*
 * usdt.h - the USDT probes of provider "libnmr" (nmr/trace.h), for the
 * files that fire them (base/event.c, core/trace.c).
 *
 * With <sys/sdt.h> each event is a probe; the probes share one semaphore,
 * nmr_trace_listeners (base/event.h): each probe's semaphore symbol is an
 * alias of it, set in base/event.c, so a tracer attached to any probe
 * turns every event site on, and a site tests one variable.  Without
 * <sys/sdt.h> the probe macros only evaluate their arguments.
 */
#ifndef NMR_SRC_USDT_H
#define NMR_SRC_USDT_H

#include <nmr/trace.h>

#ifdef NMR_HAVE_SDT
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
/* One declaration per event of NMR_EVENT_MAP (nmr/trace.h); the symbols
 * are aliases of nmr_trace_listeners (base/event.c). */
#define NMR_EVENT_SEMAPHORE_DECL_(name, value, probe, text)                   \
    extern volatile unsigned short libnmr_##probe##_semaphore;
NMR_EVENT_MAP(NMR_EVENT_SEMAPHORE_DECL_)
#undef NMR_EVENT_SEMAPHORE_DECL_
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

#endif
