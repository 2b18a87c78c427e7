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
#ifndef NMR_SRC_TRACE_H
#define NMR_SRC_TRACE_H

#include "core/core.h"

#include "base/event.h"

/* What the REGISTER event tells, copied while the registration is surely
 * alive (under its NPI lock): the event is delivered after the lock is
 * dropped, when the registration may already be gone. */
typedef struct nmr_trace_reg_info {
    HANDLE handle;
    int side;
    GUID npi_id;
    NPI_MODULEID module_id;
} nmr_trace_reg_info;
void nmr_trace_reg_capture(nmr_trace_reg_info *info, const nmr_reg *r, HANDLE h);
NMR_COLD void nmr_trace_register(const nmr_trace_reg_info *info);
/* DEREGISTER, WAIT_START, WAIT_END of a registration the caller holds a
 * reference on. */
NMR_COLD void nmr_trace_registration(nmr_event_type type, const nmr_reg *r, NTSTATUS status);
/* The binding events; side -1 when none. */
NMR_COLD void nmr_trace_binding(nmr_event_type type, const nmr_binding *b, int side,
                       NTSTATUS status);
#endif
