/* SPDX-License-Identifier: MIT */
/*
 * trace.c - the events of registrations and bindings: read from the core
 * objects, fired as USDT probes and delivered to the trace hook
 * (base/event.c).
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

#include "core/trace.h"

#include "base/usdt.h"

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
    nmr_event_deliver(&ev);
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
    nmr_event_deliver(&ev);
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
    nmr_event_deliver(&ev);
}

