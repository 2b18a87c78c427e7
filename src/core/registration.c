/* SPDX-License-Identifier: MIT */
/*
 * registration.c - register, deregister and wait, for both roles.
 *
 * Client and provider registrations are the same object with a side; the
 * nine public functions of netioddk.h are thin wrappers that describe
 * their side's characteristics to one shared implementation.
 *
 *   register    validate (R1); allocate the registration, its NPI entry,
 *               its handle and one binding per matching peer - all before
 *               any callback (R2, R32); insert it and scan for peers in one
 *               critical section of the NPI lock (R5); store the handle
 *               (R7); then make each offer on this thread, lock dropped.
 *   deregister  ACTIVE -> DEREGISTERING under the NPI lock (R21); cancel
 *               offers not yet made, take over the detach of attached
 *               bindings, then run those detaches with no lock (R12, R13).
 *               Bindings whose offer is in flight are detached by their
 *               offering thread when it sees the deregistration (R11).
 *   wait        refuse when not deregistered (R19) or when this thread is
 *               inside a callback the wait would wait for (R20); else sleep
 *               on the NPI's condition variable until the registration has
 *               no bindings left, then retire the handle (R18).
 *
 * Context: register and deregister never block on other threads (only
 * briefly on the NPI lock) and may be called from callbacks; wait blocks.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "core/core.h"

#include "base/alloc.h"
#include "base/check.h"
#include "core/callstack.h"
#include "base/clock.h"
#include "core/registrar.h"
#include "core/trace.h"
#include "core/report.h"
#include "base/verify.h"

#include <assert.h>
#include <stddef.h>

/* What register needs to know of one side's characteristics. */
typedef struct reg_desc {
    nmr_side side;
    USHORT version, length;
    size_t length_needed;
    const void *attach;
    nmr_detach_fn *detach;
    nmr_cleanup_fn *cleanup;
    const NPI_REGISTRATION_INSTANCE *instance;
} reg_desc;

static const nmr_handle_kind reg_kind[2] = {NMR_HANDLE_CLIENT,
                                            NMR_HANDLE_PROVIDER};

/* The last reference is gone; handle.c recycles the registration's
 * bytes with its slot. */
static void reg_destroy(struct nmr_object *obj)
{
    nmr_reg *r = nmr_container_of(obj, nmr_reg, obj);
    nmr_npi_put(r->npi);
}

/* R1: everything checked before anything is created or called. */
static int desc_valid(const reg_desc *d)
{
    const NPI_REGISTRATION_INSTANCE *ri = d->instance;
    return d->version == 0 && d->length >= d->length_needed &&
           d->attach != NULL && d->detach != NULL && ri->Version == 0 &&
           ri->Size >= sizeof(NPI_REGISTRATION_INSTANCE) && ri->NpiId != NULL &&
           ri->ModuleId != NULL;
}

/* Undo a registration that failed for lack of memory (R2).  Lock held on
 * entry, released on return. */
static void register_rollback(nmr_reg *r, nmr_binding *todo)
{
    nmr_npi_assert_held(r->npi);
    while (todo != NULL) {
        nmr_binding_cancel_locked(todo);
        todo = todo->work_next;
    }
    nmr_list_del(&r->npi_link);
    nmr_reg_set_state(r, NMR_REG_DONE);
    nmr_npi_unlock(r->npi);
}

/* Register d (valid, R1) in the registrar of key `registrar`, on which
 * the caller holds one count (registrar.h): kept by the registration on
 * success, dropped here on failure.  *out is set here: the handle, or NULL
 * on failure.  Inline in each
 * side's instantiation (register_side), so d never reaches memory. */
static inline __attribute__((always_inline)) NTSTATUS
reg_register(uint64_t registrar, const reg_desc *d, PVOID context, PHANDLE out)
{
    /* The registration lives in its handle slot, reserved here and named
     * (published) only once it is listed, below. */
    nmr_reg *r = nmr_handle_reserve();
    if (r == NULL)
        goto no_memory;
    nmr_npi *npi = nmr_npi_get(registrar, d->instance->NpiId);
    if (npi == NULL) {
        nmr_handle_unreserve(&r->obj);
        goto no_memory;
    }
    /* Every field, one store each (the slot's bytes are not cleared;
     * clearing them first would cost as much again): obj is publish's,
     * npi_link the list's. */
    _Static_assert(sizeof(nmr_reg) == 96, "a field added to nmr_reg is initialised here");
    r->npi = npi;
    r->instance = d->instance;
    r->context = context;
    if (d->side == NMR_CLIENT)
        r->attach.client = (NPI_CLIENT_ATTACH_PROVIDER_FN *)d->attach;
    else
        r->attach.provider = (NPI_PROVIDER_ATTACH_CLIENT_FN *)d->attach;
    r->detach = d->detach;
    r->cleanup = d->cleanup;
    nmr_list_init(&r->bindings);
    r->live_bindings = 0;
    r->side = (uint8_t)d->side;
    nmr_reg_init_state(r); /* the init path: ACTIVE, not yet listed */

    /* R5: insertion and the match scan are one critical section, so of two
     * peers registering at once exactly one sees the other.  The handle is
     * made inside it too, after the insertion: nobody can name the
     * registration (not even by guessing its handle) before it is listed. */
    nmr_binding *todo = NULL, **tail = &todo;
    HANDLE h;
    nmr_npi_lock(npi);
    nmr_list_add_tail(&npi->regs[d->side], &r->npi_link);
    h = nmr_handle_publish(&r->obj, reg_kind[d->side], reg_destroy);
    /* R7: the handle is the caller's before anyone can see the registration:
     * a peer registering on another thread may offer to it as soon as the
     * lock is dropped, and its callback may use the handle. */
    *out = h;
    nmr_link *peers = &npi->regs[NMR_OTHER(d->side)];
    for (nmr_link *l = peers->next; l != peers; l = l->next) {
        nmr_reg *peer = nmr_container_of(l, nmr_reg, npi_link);
        if (peer->state != NMR_REG_ACTIVE)
            continue; /* R12: a deregistering registration gets no offers */
        nmr_binding *b = d->side == NMR_CLIENT
                             ? nmr_binding_create_locked(r, peer)
                             : nmr_binding_create_locked(peer, r);
        if (b == NULL) {
            register_rollback(r, todo);
            while (todo != NULL) {
                nmr_binding *next = todo->work_next;
                nmr_handle_put(&todo->obj);
                todo = next;
            }
            nmr_handle_retire(&r->obj);
            goto no_memory;
        }
        b->work_next = NULL;
        *tail = b;
        tail = &b->work_next;
    }
    int first_claimed = 0;
    if (todo != NULL) {
        /* Keep the registration while its offers run: a callback may
         * deregister it and another thread finish waiting for it. */
        nmr_handle_get(&r->obj);
        first_claimed = nmr_binding_claim_offer_locked(todo);
    }
    /* The REGISTER event is told from copies made under the lock: once it
     * is dropped, a registration without offers holds no reference of
     * ours, and another thread may deregister it, wait, and free it - and
     * its caller free the characteristics (R7, R27, R3). */
    nmr_trace_reg_info info;
    int traced = NMR_TRACING();
    if (traced)
        nmr_trace_reg_capture(&info, r, h);
    nmr_npi_unlock(npi);

    if (traced)
        nmr_trace_register(&info);
    if (todo != NULL) {
        nmr_binding_offer_all(todo, first_claimed);
        nmr_handle_put(&r->obj);
    }
    return STATUS_SUCCESS;

no_memory: /* R2: nothing of it is left, and the out handle says so */
    *out = NULL;
    nmr_registrar_release(registrar);
    return STATUS_INSUFFICIENT_RESOURCES;
}

/* The deregistration of a registration that has bindings: NPI lock held
 * on entry (r just moved to DEREGISTERING), dropped here.  Consumes the
 * caller's reference o. */
static __attribute__((noinline)) NTSTATUS deregister_bindings(struct nmr_object *o,
                                                              nmr_reg *r, nmr_side side)
{
    nmr_binding *todo = NULL, **tail = &todo;
    int started = -1; /* the first detach, begun in this critical section */
    nmr_link *head = &r->bindings;
    for (nmr_link *l = head->next, *next; l != head; l = next) {
        next = l->next;
        nmr_binding *b = nmr_container_of(l, nmr_binding, link[side]);
        if (b->state == NMR_B_CREATED) {
            /* Not offered yet: it never will be (R12).  Its creator still
             * holds it on its to-do list and will find it GONE. */
            nmr_binding_cancel_locked(b);
        } else if (nmr_binding_start_detach_locked(b)) {
            nmr_handle_get(&b->obj);
            b->work_next = NULL;
            if (todo == NULL)
                started = nmr_binding_begin_detach_locked(b);
            *tail = b;
            tail = &b->work_next;
        }
    }
    nmr_npi_unlock(r->npi);

    if (NMR_TRACING())
        nmr_trace_registration(NMR_EVENT_DEREGISTER, r, 0);
    if (todo != NULL) {
        /* R20: while one detach runs, the rest wait on this thread; a wait
         * for any of their registrations from inside it could never end.
         * The queue frame lets the wait see them. */
        nmr_frame queued;
        nmr_callstack_push_queue(&queued, &todo);
        while (todo != NULL) {
            nmr_binding *b = todo;
            todo = b->work_next;
            /* each detach's last critical section begins the next one's */
            started = nmr_binding_detach(b, started, todo);
            nmr_handle_put(&b->obj);
        }
        nmr_callstack_pop(&queued);
    }
    nmr_handle_put(o);
    return STATUS_PENDING;
}

/* fn, site: the public function and its caller, for the IRQL check. */
static inline __attribute__((always_inline)) NTSTATUS
reg_deregister(HANDLE h, nmr_side side, const char *fn, const void *site)
{
    NMR_VERIFY_IRQL_AT(fn, NMR_DISPATCH_LEVEL, site);
    struct nmr_object *o = nmr_handle_ref(h, reg_kind[side]);
    if (o == NULL)
        return STATUS_INVALID_PARAMETER;
    nmr_reg *r = nmr_container_of(o, nmr_reg, obj);

    nmr_npi_lock(r->npi);
    if (r->state != NMR_REG_ACTIVE) {
        int dead = r->state == NMR_REG_DONE;
        nmr_npi_unlock(r->npi);
        nmr_handle_put(o);
        return dead ? STATUS_INVALID_PARAMETER : STATUS_INVALID_DEVICE_STATE;
    }
    nmr_reg_set_state(r, NMR_REG_DEREGISTERING);
    if (!nmr_list_empty(&r->bindings))
        return deregister_bindings(o, r, side);
    /* No binding: nothing to cancel or detach (the usual lone module). */
    nmr_npi_unlock(r->npi);
    if (NMR_TRACING())
        nmr_trace_registration(NMR_EVENT_DEREGISTER, r, 0);
    nmr_handle_put(o);
    return STATUS_PENDING;
}

/* Sleep until r has no bindings left, or the deadline (0: none) passes,
 * reporting through the watchdog each time the warning delay runs out.
 * NPI lock held; returns with it held.  0 when drained, -1 on timeout. */
static int wait_drained_locked(nmr_reg *r, uint64_t deadline_ns)
{
    nmr_npi_assert_held(r->npi);
    if (r->live_bindings == 0)
        return 0; /* the usual case: nothing to wait for, no clock read */
    /* a schedule explorer learns that this thread blocks until the last
     * binding goes (unlink_locked wakes it); nmr/check.h */
    nmr_check_block_begin("NmrWaitFor*DeregisterComplete", nmr_handle_value(&r->obj), 0);
    nmr_npi *npi = r->npi;
    uint64_t start = 0, warn_at = 0, interval = nmr_watchdog_warn_ms();
    if (interval > 0 || deadline_ns > 0) {
        start = nmr_now_ns();
        if (interval > 0)
            warn_at = start + interval * 1000000u;
    }
    while (r->live_bindings > 0) {
        uint64_t until = warn_at;
        if (deadline_ns > 0 && (until == 0 || deadline_ns < until))
            until = deadline_ns;
        if (until == 0) {
            nmr_npi_wait(npi);
            continue;
        }
        struct timespec ts = {.tv_sec = (time_t)(until / 1000000000u),
                              .tv_nsec = (long)(until % 1000000000u)};
        nmr_npi_timedwait(npi, &ts);
        if (r->live_bindings == 0)
            break;
        uint64_t now = nmr_now_ns();
        if (deadline_ns > 0 && now >= deadline_ns)
            return -1;
        if (warn_at > 0 && now >= warn_at) {
            char *report = nmr_stuck_report(r, (now - start) / 1000000u);
            nmr_npi_unlock(npi);
            nmr_watchdog_emit(report);
            nmr_npi_lock(npi);
            interval *= 2; /* growing intervals: d, 2d, 4d, ... */
            warn_at = nmr_now_ns() + interval * 1000000u;
        }
    }
    return 0;
}

/* The wait has nothing left to wait for: r is done and leaves its NPI's
 * list (R18).  NPI lock held, r WAITING. */
static inline void wait_done_locked(nmr_reg *r)
{
    nmr_reg_set_state(r, NMR_REG_DONE);
    nmr_list_del(&r->npi_link);
}

/* The wait's checks and its sleep, NPI lock held (and held on return);
 * the status of the wait. */
static __attribute__((noinline)) NTSTATUS wait_locked(nmr_reg *r, uint64_t deadline)
{
    if (r->state == NMR_REG_ACTIVE || r->state == NMR_REG_DONE)
        return STATUS_INVALID_PARAMETER; /* R19: not deregistered, or dead */
    if (r->live_bindings > 0 && nmr_callstack_inside_registration(r))
        return STATUS_POSSIBLE_DEADLOCK; /* R20: we would wait for ourselves */
    if (r->state == NMR_REG_WAITING)
        return STATUS_INVALID_DEVICE_STATE; /* another thread is waiting */
    nmr_reg_set_state(r, NMR_REG_WAITING);
    if (wait_drained_locked(r, deadline) != 0) {
        nmr_reg_set_state(r, NMR_REG_DEREGISTERING); /* may be waited for again */
        return STATUS_TIMEOUT;
    }
    wait_done_locked(r);
    return STATUS_SUCCESS;
}

/* NmrWaitFor*DeregisterComplete; timeout_ms < 0: no limit. */
static inline __attribute__((always_inline)) NTSTATUS
reg_wait(HANDLE h, nmr_side side, long long timeout_ms, const char *fn, const void *site)
{
    NMR_VERIFY_IRQL_AT(fn, NMR_APC_LEVEL, site);
    struct nmr_object *o = nmr_handle_ref(h, reg_kind[side]);
    if (o == NULL)
        return STATUS_INVALID_PARAMETER;
    nmr_reg *r = nmr_container_of(o, nmr_reg, obj);
    nmr_npi *npi = r->npi;
    NTSTATUS s = STATUS_SUCCESS;
    uint64_t deadline = 0;
    if (timeout_ms >= 0)
        deadline = nmr_now_ns() + (uint64_t)timeout_ms * 1000000u + 1;

    /* A wait tells both its events or neither: those the tracing of its
     * start says (a tracer that comes mid-wait sees the next one). */
    int traced = NMR_TRACING();
    if (traced)
        nmr_trace_registration(NMR_EVENT_WAIT_START, r, 0);
    nmr_npi_lock(npi);
    if (__builtin_expect(r->state == NMR_REG_DEREGISTERING && r->live_bindings == 0, 1)) {
        /* the usual case: deregistered, nothing left to wait for */
        nmr_reg_set_state(r, NMR_REG_WAITING);
        wait_done_locked(r);
    } else {
        s = wait_locked(r, deadline);
    }
    uint64_t registrar = npi->registrar;
    nmr_npi_unlock(npi);

    if (traced)
        nmr_trace_registration(NMR_EVENT_WAIT_END, r, s);
    if (s == STATUS_SUCCESS) {
        nmr_registrar_release(registrar); /* the registration's count */
        nmr_handle_retire_put(o); /* R18: the handle is dead from here on */
    } else {
        nmr_handle_put(o);
    }
    return s;
}

/* ---- the Windows API, and its registrar-taking variants ---------------- */

static reg_desc client_desc(const NPI_CLIENT_CHARACTERISTICS *c)
{
    return (reg_desc){
        .side = NMR_CLIENT,
        .version = c->Version,
        .length = c->Length,
        .length_needed = sizeof(*c),
        .attach = (const void *)c->ClientAttachProvider,
        .detach = c->ClientDetachProvider,
        .cleanup = c->ClientCleanupBindingContext,
        .instance = &c->ClientRegistrationInstance,
    };
}

static reg_desc provider_desc(const NPI_PROVIDER_CHARACTERISTICS *p)
{
    return (reg_desc){
        .side = NMR_PROVIDER,
        .version = p->Version,
        .length = p->Length,
        .length_needed = sizeof(*p),
        .attach = (const void *)p->ProviderAttachClient,
        .detach = p->ProviderDetachClient,
        .cleanup = p->ProviderCleanupBindingContext,
        .instance = &p->ProviderRegistrationInstance,
    };
}

/* Both roles, both forms, one side at a time (side is a constant in each
 * instantiation below, so its characteristics are read straight into
 * registers).  Every refusal clears the out handle (when there is
 * one) and returns STATUS_INVALID_PARAMETER: characteristics or out
 * handle NULL, characteristics not valid (R1), a registrar value that is
 * not a live registrar. */
static inline __attribute__((always_inline)) NTSTATUS
register_side(const nmr_registrar *registrar, const void *chars, nmr_side side,
              PVOID context, PHANDLE out, const char *fn, const void *site)
{
    NMR_VERIFY_IRQL_AT(fn, NMR_PASSIVE_LEVEL, site);
    if (out == NULL)
        return STATUS_INVALID_PARAMETER;
    uint64_t key;
    if (chars == NULL)
        goto refused;
    reg_desc d = side == NMR_CLIENT ? client_desc(chars) : provider_desc(chars);
    if (!desc_valid(&d) || nmr_registrar_acquire(registrar, &key) != 0)
        goto refused;
    /* *out is written once: the handle (R7), or NULL on failure */
    return reg_register(key, &d, context, out);
refused:
    *out = NULL;
    return STATUS_INVALID_PARAMETER;
}

static __attribute__((noinline)) NTSTATUS
register_client(const nmr_registrar *registrar, const void *chars, PVOID context, PHANDLE out,
                const char *fn, const void *site)
{
    return register_side(registrar, chars, NMR_CLIENT, context, out, fn, site);
}

static __attribute__((noinline)) NTSTATUS
register_provider(const nmr_registrar *registrar, const void *chars, PVOID context,
                  PHANDLE out, const char *fn, const void *site)
{
    return register_side(registrar, chars, NMR_PROVIDER, context, out, fn, site);
}

NTSTATUS NmrRegisterClient(PNPI_CLIENT_CHARACTERISTICS ClientCharacteristics,
                           PVOID ClientContext, PHANDLE NmrClientHandle)
{
    return register_client(NULL, ClientCharacteristics, ClientContext, NmrClientHandle,
                           "NmrRegisterClient", __builtin_return_address(0));
}

NTSTATUS NmrRegisterProvider(PNPI_PROVIDER_CHARACTERISTICS ProviderCharacteristics,
                             PVOID ProviderContext, PHANDLE NmrProviderHandle)
{
    return register_provider(NULL, ProviderCharacteristics, ProviderContext, NmrProviderHandle,
                             "NmrRegisterProvider", __builtin_return_address(0));
}

NTSTATUS nmr_register_client_ex(nmr_registrar *registrar,
                                PNPI_CLIENT_CHARACTERISTICS ClientCharacteristics,
                                PVOID ClientContext, PHANDLE NmrClientHandle)
{
    return register_client(registrar, ClientCharacteristics, ClientContext, NmrClientHandle,
                           "nmr_register_client_ex", __builtin_return_address(0));
}

NTSTATUS nmr_register_provider_ex(nmr_registrar *registrar,
                                  PNPI_PROVIDER_CHARACTERISTICS ProviderCharacteristics,
                                  PVOID ProviderContext, PHANDLE NmrProviderHandle)
{
    return register_provider(registrar, ProviderCharacteristics, ProviderContext,
                             NmrProviderHandle, "nmr_register_provider_ex",
                             __builtin_return_address(0));
}

NTSTATUS NmrDeregisterClient(HANDLE NmrClientHandle)
{
    return reg_deregister(NmrClientHandle, NMR_CLIENT, "NmrDeregisterClient",
                          __builtin_return_address(0));
}

NTSTATUS NmrDeregisterProvider(HANDLE NmrProviderHandle)
{
    return reg_deregister(NmrProviderHandle, NMR_PROVIDER, "NmrDeregisterProvider",
                          __builtin_return_address(0));
}

NTSTATUS NmrWaitForClientDeregisterComplete(HANDLE NmrClientHandle)
{
    return reg_wait(NmrClientHandle, NMR_CLIENT, -1, "NmrWaitForClientDeregisterComplete",
                    __builtin_return_address(0));
}

NTSTATUS NmrWaitForProviderDeregisterComplete(HANDLE NmrProviderHandle)
{
    return reg_wait(NmrProviderHandle, NMR_PROVIDER, -1, "NmrWaitForProviderDeregisterComplete",
                    __builtin_return_address(0));
}

NTSTATUS nmr_wait_client_timeout(HANDLE NmrClientHandle, ULONG timeout_ms)
{
    return reg_wait(NmrClientHandle, NMR_CLIENT, (long long)timeout_ms, "nmr_wait_client_timeout",
                    __builtin_return_address(0));
}

NTSTATUS nmr_wait_provider_timeout(HANDLE NmrProviderHandle, ULONG timeout_ms)
{
    return reg_wait(NmrProviderHandle, NMR_PROVIDER, (long long)timeout_ms,
                    "nmr_wait_provider_timeout", __builtin_return_address(0));
}
