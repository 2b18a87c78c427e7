/* SPDX-License-Identifier: MIT */
/*
 * nmr/trace.h - libnmr extension: every registrar event, as it happens.
 *
 * A trace hook receives one event per step of every registration and
 * binding in the process (all registrars): registrations, offers, the
 * outcome of each offer (accepted, or declined by which side), detach
 * calls, detach halves completing, cleanups, deregistrations, the start
 * and end of waits, and misuse reports.
 *
 * The hook is user code: it runs on the thread where the event happened,
 * with no libnmr lock held, and may call libnmr (a call that makes events
 * makes them recursively).  Events of one binding arrive in their order;
 * events of different threads interleave.  With no hook installed an event
 * costs one relaxed load and a branch.
 *
 * The same events are static tracepoints (USDT, provider "libnmr") when
 * the library was built with <sys/sdt.h>:
 * `bpftrace -p PID tools/nmr-bindings.bt /path/to/libnmr.so` watches a
 * running process.  nmr_trace_usdt_available() says
 * whether this build has them.
 */
#ifndef NMR_TRACE_H
#define NMR_TRACE_H

#include <netioddk.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Every event, once: XX(NAME, value, usdt_probe, "name").  NMR_EVENT_NAME
 * is the enum constant, "name" what nmr_event_name returns, usdt_probe the
 * name of its static tracepoint. */
#define NMR_EVENT_MAP(XX)                                                      \
    /* registration: handle, role, npi, module */                              \
    XX(REGISTER, 1, register, "register")                                      \
    /* ClientAttachProvider about to be called */                              \
    XX(OFFER, 2, offer, "offer")                                               \
    /* both sides attached */                                                  \
    XX(ATTACH_ACCEPTED, 3, attach_accepted, "attach-accepted")                 \
    /* side: who declined; status: its status */                               \
    XX(ATTACH_DECLINED, 4, attach_declined, "attach-declined")                 \
    /* side's detach callback about to run */                                  \
    XX(DETACH_CALLED, 5, detach_called, "detach-called")                       \
    /* side's detach half is complete */                                       \
    XX(HALF_COMPLETE, 6, half_complete, "half-complete")                       \
    /* cleanups about to run */                                                \
    XX(CLEANUP, 7, cleanup, "cleanup")                                         \
    /* Nmr*Deregister* accepted */                                             \
    XX(DEREGISTER, 8, deregister, "deregister")                                \
    XX(WAIT_START, 9, wait_start, "wait-start")                                \
    /* status: what the wait returns */                                        \
    XX(WAIT_END, 10, wait_end, "wait-end")                                     \
    /* message: the diagnostic text */                                         \
    XX(MISUSE, 11, misuse, "misuse")

typedef enum nmr_event_type {
#define NMR_EVENT_ENUM_(name, value, probe, text) NMR_EVENT_##name = value,
    NMR_EVENT_MAP(NMR_EVENT_ENUM_)
#undef NMR_EVENT_ENUM_
} nmr_event_type;

typedef struct nmr_event {
    nmr_event_type type;
    uint64_t time_ns;          /* CLOCK_MONOTONIC */
    HANDLE registration;       /* REGISTER, DEREGISTER, WAIT_*: the registration */
    HANDLE binding;            /* binding events: the binding */
    HANDLE client;             /* binding events: the client registration */
    HANDLE provider;           /* binding events: the provider registration */
    int side;                  /* 0 client, 1 provider: the role (REGISTER,
                                  DEREGISTER, WAIT_*) or the side concerned
                                  (DECLINED, DETACH_CALLED, HALF_COMPLETE);
                                  -1 when none */
    NTSTATUS status;           /* DECLINED: the decliner's status; WAIT_END:
                                  what the wait returns; MISUSE: the
                                  nmr_misuse_kind; else 0 */
    const GUID *npi_id;        /* REGISTER: the NPI (valid during the call) */
    const NPI_MODULEID *module_id; /* REGISTER: the module (valid during the call) */
    const char *message;       /* MISUSE: the text (valid during the call) */
} nmr_event;

typedef void nmr_trace_hook_fn(void *context, const nmr_event *event);

/* Install a hook (NULL removes it).  Returns the previous hook; its
 * context goes to *old_context when not NULL.
 *
 * When it returns, the previous hook runs nowhere: it waits until every
 * call of an earlier hook in progress on other threads has returned, so
 * the old context may be freed at once.  The one exception is a call from
 * inside a hook (a trace hook or a diagnostic hook, nmr/diag.h, running on
 * this thread): it cannot wait for its own caller, so it makes the change
 * and returns at once; nmr_trace_sync() then says STATUS_POSSIBLE_DEADLOCK,
 * and the old context may be freed only after a later nmr_trace_sync()
 * outside any hook returned STATUS_SUCCESS.  It may block (while other
 * threads' hook calls finish); never call it from a hook that other
 * threads' hooks wait for.  If memory runs out (possible only inside a
 * hook), nothing changes: it returns NULL and says so on standard error. */
NMR_API nmr_trace_hook_fn *nmr_trace_set_hook(nmr_trace_hook_fn *hook, void *context,
                                              void **old_context);

/* Wait until every trace hook call in progress has returned: then no hook
 * replaced earlier runs anywhere.  STATUS_SUCCESS; or, from inside a hook
 * call on this thread, STATUS_POSSIBLE_DEADLOCK at once (nothing waited). */
NMR_API NTSTATUS nmr_trace_sync(void);

/* Printable name of an event type ("register", "attach-declined", ...). */
NMR_API const char *nmr_event_name(nmr_event_type type);

/* 1 when this build of the library carries USDT probes, else 0. */
NMR_API int nmr_trace_usdt_available(void);

#ifdef __cplusplus
}
#endif

#endif /* NMR_TRACE_H */
