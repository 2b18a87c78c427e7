/* SPDX-License-Identifier: MIT */
/*
 * binding.c - the binding state machine: offer, attach, detach, cleanup.
 *
 * One binding joins one client registration and one provider registration
 * of the same NPI.  Its state (core.h, docs/design.md) moves only under
 * the NPI lock, and every transition names the single thread that owns the
 * next callbacks of the binding, so its callbacks never run on two threads
 * at once and always in the order offer -> detach halves -> cleanups
 * (R23):
 *
 *   - the registering thread owns the offer (CREATED -> OFFERING);
 *   - whoever moves it to DETACHING owns both detach calls, client first
 *     (R13); that is the deregistering thread, or the offering thread for
 *     a late-comer or a client that failed after the provider accepted;
 *   - whoever completes the last half owns the cleanups (R16): the detach
 *     thread when both callbacks returned STATUS_SUCCESS, else the thread
 *     whose Nmr*DetachComplete finished the last pending half.
 *
 * No callback is called with the lock held (R22); the lock is dropped
 * around each one, and the state re-read afterwards.
 *
 * Context: every function here may be called from inside callbacks.  None
 * blocks on another thread except for the NPI lock, which is only ever
 * held for short, callback-free sections.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "core/core.h"

#include "base/alloc.h"
#include "base/check.h"
#include "core/callstack.h"
#include "base/clock.h"
#include "base/misuse.h"
#include "core/trace.h"
#include "base/verify.h"

#include <assert.h>

/* A helper of the hot path, inlined into its callers whatever the
 * compiler's estimate: the call, its prologue and the arguments' moves
 * cost more than the body. */
#define NMR_HOT_INLINE static inline __attribute__((always_inline))

/* The last reference is gone; handle.c recycles the binding's bytes with
 * its slot. */
static void binding_destroy(struct nmr_object *obj)
{
    nmr_binding *b = nmr_container_of(obj, nmr_binding, obj);
    nmr_handle_put(&b->reg[NMR_CLIENT]->obj);
    nmr_handle_put(&b->reg[NMR_PROVIDER]->obj);
}

nmr_binding *nmr_binding_create_locked(nmr_reg *client, nmr_reg *provider)
{
    nmr_npi_assert_held(client->npi);
    assert(provider->npi == client->npi); /* one NPI, one lock */
    /* The binding lives in its handle slot: one allocation, which the
     * table's growth may need (R2, R32: before any callback). */
    nmr_binding *b = nmr_handle_reserve();
    if (b == NULL)
        return NULL;
    /* The slot's bytes are not cleared: every field is set here, or before
     * anyone reads it (obj by publish, link[] by the list insertions
     * below, work_next again by the creator as it queues the binding).
     * Contexts, stamps and the offering thread's flags are zero; the
     * states are the init path's.  Field by field: a compound literal
     * would clear all the bytes first. */
    b->reg[NMR_CLIENT] = client;
    b->reg[NMR_PROVIDER] = provider;
    b->work_next = NULL;
    b->ctx[NMR_CLIENT] = NULL;
    b->ctx[NMR_PROVIDER] = NULL;
    b->since[NMR_CLIENT] = 0;
    b->since[NMR_PROVIDER] = 0;
    b->provider_attached = 0;
    b->in_provider_attach = 0;
    b->provider_declined = 0;
    nmr_binding_init_state(b); /* the init path: CREATED, halves IDLE */
    (void)nmr_handle_publish(&b->obj, NMR_HANDLE_BINDING, binding_destroy);
    nmr_handle_get(&client->obj);
    nmr_handle_get(&provider->obj);
    nmr_handle_get(&b->obj); /* the creator's to-do list */
    for (int side = 0; side < 2; side++) {
        nmr_list_add_tail(&b->reg[side]->bindings, &b->link[side]);
        b->reg[side]->live_bindings++;
    }
    return b;
}

/* Under the lock: the binding is gone from both registrations; wake a wait
 * that was waiting for the last one (R18). */
NMR_HOT_INLINE void unlink_locked(nmr_binding *b)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    nmr_binding_set_state(b, NMR_B_GONE);
    for (int side = 0; side < 2; side++) {
        nmr_reg *r = b->reg[side];
        nmr_list_del(&b->link[side]);
        if (--r->live_bindings != 0)
            continue;
        if (r->state == NMR_REG_WAITING)
            nmr_npi_wake_all(r->npi);
        /* a schedule explorer learns which wait may now end (nmr/check.h) */
        if (r->state == NMR_REG_WAITING)
            nmr_check_wake(nmr_handle_value(&r->obj));
    }
}

void nmr_binding_cancel_locked(nmr_binding *b)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    assert(b->state == NMR_B_CREATED);
    unlink_locked(b);
    /* Retiring under the lock cannot free the binding: a CREATED binding is
     * still on its creator's to-do list, and that reference is dropped only
     * after the creator has looked at it again. */
    nmr_handle_retire(&b->obj);
}

/* Under the lock, b DETACHING and its detach owned by this thread: move
 * the first detach half from side `from` on that needs a call from IDLE
 * to CALLING, stamped for the watchdog.  Returns that side, or -1. */
static int begin_half_locked(nmr_binding *b, int from)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    for (int side = from; side < 2; side++) {
        if (b->half[side] != NMR_H_IDLE)
            continue; /* R10: the client half needed no call */
        nmr_half_set(b, side, NMR_H_CALLING);
        b->since[side] = nmr_stamp_ms();
        return side;
    }
    return -1;
}

int nmr_binding_begin_detach_locked(nmr_binding *b)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    assert(b->state == NMR_B_DETACHING);
    return begin_half_locked(b, 0);
}

/* Cleanups (R16), then the binding handle dies.  No lock held.  The
 * critical section that unlinks b also begins next's detach (next: see
 * nmr_binding_detach); returns what nmr_binding_begin_detach_locked said
 * of next, or -1 without one.  traced: NMR_TRACING() as the operation that
 * runs them read it.  f: the frame for the cleanups; framed: it is pushed
 * already, as b's NMR_CB_CLEANUP frame (nmr_binding_detach's, retagged),
 * else it is pushed here. */
NMR_HOT_INLINE int run_cleanups(nmr_binding *b, nmr_binding *next, int traced, nmr_frame *f,
                                int framed)
{
    if (traced)
        nmr_trace_binding(NMR_EVENT_CLEANUP, b, -1, 0);
    /* One frame serves both cleanups: between the two calls this thread
     * runs no other code, so what the frame says is true throughout. */
    if (!framed)
        nmr_callstack_push(f, b, NMR_CB_CLEANUP);
    for (int side = 0; side < 2; side++) {
        nmr_cleanup_fn *fn = b->reg[side]->cleanup;
        if (fn == NULL)
            continue;
        nmr_callstack_verify(f, side, (const void *)(uintptr_t)fn);
        fn(b->ctx[side]);
        nmr_callstack_end_call(f);
    }
    nmr_callstack_pop(f);
    /* The handle dies before the binding leaves its registrations, so a
     * wait that returns finds it dead (R16, R27).  The caller holds its own
     * reference, so retiring cannot free the binding here. */
    nmr_handle_retire(&b->obj);
    nmr_npi_lock(nmr_binding_npi(b));
    unlink_locked(b);
    int next_side = next != NULL ? nmr_binding_begin_detach_locked(next) : -1;
    nmr_npi_unlock(nmr_binding_npi(b));
    return next_side;
}

/* Under the lock: if both halves are complete and no detach callback is
 * running, move to CLEANUP; the caller then runs the cleanups. */
static int ready_for_cleanup_locked(nmr_binding *b)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    if (b->state == NMR_B_DETACHING && b->half[0] == NMR_H_COMPLETE &&
        b->half[1] == NMR_H_COMPLETE) {
        nmr_binding_set_state(b, NMR_B_CLEANUP);
        return 1;
    }
    return 0;
}

/* A misuse seen under the lock, reported once the lock is dropped. */
typedef struct deferred_misuse {
    nmr_misuse_kind kind;
    int side;
    NTSTATUS status;
} deferred_misuse;

static void report_detach_misuse(const nmr_binding *b, const deferred_misuse *m)
{
    if (m->kind == NMR_MISUSE_NOT_PENDING)
        nmr_report_misuse(NMR_MISUSE_NOT_PENDING,
                          "%s: %s detach callback of binding %p completed "
                          "its half and then returned STATUS_SUCCESS "
                          "(it must return STATUS_PENDING) (R14, R29)",
                          nmr_side_complete_fn(m->side), nmr_side_name(m->side),
                          nmr_handle_value(&b->obj));
    else
        nmr_report_misuse(NMR_MISUSE_BAD_DETACH_STATUS,
                          "%s detach callback of binding %p returned "
                          "0x%08x; only STATUS_SUCCESS or STATUS_PENDING "
                          "are allowed, treated as STATUS_SUCCESS (R14)",
                          nmr_side_name(m->side), nmr_handle_value(&b->obj),
                          (unsigned)m->status);
}

/*
 * A detach half is complete.  Lock held on entry and on return.  Events of
 * one binding must arrive in order (nmr/trace.h), and once both halves are
 * COMPLETE another thread may run the cleanups and tell CLEANUP: so the
 * HALF_COMPLETE event, and any misuse report about this half, are told
 * before the half is published as COMPLETE.  Meanwhile it is COMPLETING,
 * which no other thread takes for complete.  With nothing to tell, no
 * extra lock round trip.
 */
NMR_HOT_INLINE void finish_half_locked(nmr_binding *b, int side, const deferred_misuse *m,
                                       int nmisuse, int traced)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    if (traced || nmisuse > 0) {
        nmr_half_set(b, side, NMR_H_COMPLETING);
        nmr_npi_unlock(nmr_binding_npi(b));
        for (int i = 0; i < nmisuse; i++)
            report_detach_misuse(b, &m[i]);
        if (traced)
            nmr_trace_binding(NMR_EVENT_HALF_COMPLETE, b, side, 0);
        nmr_npi_lock(nmr_binding_npi(b));
    }
    nmr_half_set(b, side, NMR_H_COMPLETE);
}

/* nmr_binding_detach, with NMR_TRACING() read once at its start: a
 * detach tells all of its events or none of them (a tracer installed
 * meanwhile sees the next one's).  Inlined twice, for traced 0 and 1, so
 * the untraced copy tests nothing. */
NMR_HOT_INLINE int detach(nmr_binding *b, int started, nmr_binding *next, int traced)
{
    nmr_npi *npi = nmr_binding_npi(b);
    assert(next == NULL || nmr_binding_npi(next) == npi);

    /* started >= 0: the caller began that half in a critical section of
     * its own (nmr_binding_begin_detach_locked), which saves the lock
     * round trip that begins it here. */
    int side = started;
    if (side < 0) {
        nmr_npi_lock(npi);
        assert(b->state == NMR_B_DETACHING);
        side = begin_half_locked(b, 0);
        if (side >= 0)
            nmr_npi_unlock(npi);
    }
    /* One frame serves both detach calls, as one serves both cleanups:
     * from the first call until the last has returned this thread owns
     * the binding's detach, so what the frame says stays true in between
     * (R20: a wait for either registration, from a hook that runs there,
     * could not end).  After the last call it is popped before any other
     * code runs on this thread: a schedule explorer's point, a trace hook,
     * a misuse report.  With none of them (the usual case) it stays, and
     * once the binding is ready for its cleanups it becomes their frame:
     * meanwhile only this function runs, so no one reads it. */
    nmr_frame f;
    int framed = 0;
    while (side >= 0) { /* lock not held; half `side` is CALLING */
        if (traced)
            nmr_trace_binding(NMR_EVENT_DETACH_CALLED, b, side, 0);
        if (!framed) {
            nmr_callstack_push(&f, b, NMR_CB_DETACH);
            framed = 1;
        }
        nmr_detach_fn *fn = b->reg[side]->detach;
        nmr_callstack_verify(&f, side, (const void *)(uintptr_t)fn);
        NTSTATUS s = fn(b->ctx[side]);
        nmr_callstack_end_call(&f); /* the verifier's check of this call */
        int check = nmr_check_enabled();
        if (side == NMR_PROVIDER && (traced || check)) { /* the last call there is */
            nmr_callstack_pop(&f);
            framed = 0;
        }
        /* a schedule explorer may run another thread here, before the
         * status is read: a completion from it lands in the window R15
         * names (the half is still CALLING) */
        if (check)
            nmr_check_point(side == NMR_CLIENT ? "ClientDetachProvider returned"
                                               : "ProviderDetachClient returned",
                            nmr_handle_value(&b->obj));

        /* R14/R15: SUCCESS = complete, PENDING = completion to come,
         * anything else counts as SUCCESS and is misuse. */
        deferred_misuse misuse[2];
        int nmisuse = 0, complete = 1;
        nmr_npi_lock(npi);
        if (b->half[side] == NMR_H_CALLING_DONE) {
            if (s == STATUS_SUCCESS)
                misuse[nmisuse++] = (deferred_misuse){NMR_MISUSE_NOT_PENDING, side, s};
        } else if (s == STATUS_PENDING) {
            nmr_half_set(b, side, NMR_H_PENDING);
            complete = 0;
        }
        if (s != STATUS_SUCCESS && s != STATUS_PENDING)
            misuse[nmisuse++] = (deferred_misuse){NMR_MISUSE_BAD_DETACH_STATUS, side, s};
        if (nmisuse > 0 && side == NMR_PROVIDER && framed) { /* reported below */
            nmr_callstack_pop(&f);
            framed = 0;
        }
        if (complete)
            finish_half_locked(b, side, misuse, nmisuse, traced);
        /* the next half begins in the section that ends this one */
        side = begin_half_locked(b, side + 1);
        if (side >= 0)
            nmr_npi_unlock(npi);
    }
    /* lock held */
    int ready = ready_for_cleanup_locked(b);
    if (framed) {
        if (ready) {
            f.what = NMR_CB_CLEANUP; /* the cleanups' frame from here on */
        } else {
            nmr_callstack_pop(&f); /* a half is pending */
            framed = 0;
        }
    }
    int next_side = -1;
    if (!ready && next != NULL)
        next_side = nmr_binding_begin_detach_locked(next);
    nmr_npi_unlock(npi);

    if (ready)
        next_side = run_cleanups(b, next, traced, &f, framed);
    return next_side;
}

static NMR_COLD int detach_traced(nmr_binding *b, int started, nmr_binding *next)
{
    return detach(b, started, next, 1);
}

int nmr_binding_detach(nmr_binding *b, int started, nmr_binding *next)
{
    if (NMR_TRACING())
        return detach_traced(b, started, next);
    return detach(b, started, next, 0);
}

int nmr_binding_claim_offer_locked(nmr_binding *b)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    if (b->state != NMR_B_CREATED)
        return 0; /* cancelled by a deregistration */
    assert(b->reg[0]->state == NMR_REG_ACTIVE && b->reg[1]->state == NMR_REG_ACTIVE);
    nmr_binding_set_state(b, NMR_B_OFFERING);
    return 1;
}

/* The ClientAttachProvider call of an offer, in its frame.  verify:
 * nmr_verify_on(), read just before, as nmr_callstack_verify reads it. */
NMR_HOT_INLINE NTSTATUS call_client_attach(nmr_binding *b, HANDLE h, int verify)
{
    nmr_reg *client = b->reg[NMR_CLIENT];
    nmr_frame f;
    if (verify) {
        nmr_callstack_push(&f, b, NMR_CB_CLIENT_ATTACH);
        nmr_callstack_verify(&f, NMR_CLIENT, (const void *)(uintptr_t)client->attach.client);
    } else {
        nmr_callstack_push_unverified(&f, b, NMR_CB_CLIENT_ATTACH);
    }
    f.handle = h; /* NmrClientAttachProvider's fast test */
    NTSTATUS s = client->attach.client(h, client->context, b->reg[NMR_PROVIDER]->instance);
    if (verify)
        nmr_callstack_pop(&f);
    else
        nmr_callstack_pop_unverified(&f);
    return s;
}

/*
 * One offer of nmr_binding_offer_all: b is the head of the to-do list,
 * claimed if nmr_binding_claim_offer_locked said so.  Returns whether the
 * next one (b->work_next) is claimed.  traced: NMR_TRACING(), read once
 * for the offer, which tells all its events or none.
 */
NMR_HOT_INLINE int offer_one(nmr_binding *b, int claimed, int traced)
{
    nmr_binding *next = b->work_next;
    nmr_reg *client = b->reg[NMR_CLIENT];
    nmr_reg *provider = b->reg[NMR_PROVIDER];
    nmr_npi *npi = nmr_binding_npi(b);
    int detach = 0, gone = 0, next_claimed = 0;
    NTSTATUS s = STATUS_NOINTERFACE;
    HANDLE h = nmr_handle_value(&b->obj);

    if (claimed) {
        if (traced)
            nmr_trace_binding(NMR_EVENT_OFFER, b, -1, 0);
        s = nmr_verify_on() ? call_client_attach(b, h, 1) : call_client_attach(b, h, 0);
    }

    /* The outcome is told while the binding is still OFFERING: no
     * other thread acts on it until the lock section below, so its
     * events stay in order. */
    if (claimed && traced) {
        if (b->provider_attached && s == STATUS_SUCCESS)
            nmr_trace_binding(NMR_EVENT_ATTACH_ACCEPTED, b, -1, 0);
        else if (b->provider_attached || !b->provider_declined)
            nmr_trace_binding(NMR_EVENT_ATTACH_DECLINED, b, NMR_CLIENT, s);
    }

    /* Declined: the handle dies before the binding leaves its
     * registrations, so a wait that returns finds it dead (R27).  The
     * to-do list still holds the binding. */
    if (claimed && !b->provider_attached)
        nmr_handle_retire(&b->obj);
    nmr_npi_lock(npi);
    if (!claimed) {
        /* cancelled before its offer: nothing to finish */
    } else if (b->provider_attached) {
        int late = client->state != NMR_REG_ACTIVE ||
                   provider->state != NMR_REG_ACTIVE;
        if (s == STATUS_SUCCESS && !late) {
            nmr_binding_set_state(b, NMR_B_ATTACHED);
        } else {
            /* R11 late-comer: attached, detached at once.  R10: the
             * client failed after the provider accepted: only the
             * provider is told to detach. */
            nmr_binding_set_state(b, NMR_B_DETACHING);
            if (s != STATUS_SUCCESS)
                nmr_half_set(b, NMR_CLIENT, NMR_H_COMPLETE);
            detach = 1;
        }
    } else {
        unlink_locked(b); /* declined: no binding, no more callbacks */
        gone = 1;
    }
    int user_code_next = detach || (gone && s == STATUS_SUCCESS);
    if (next != NULL && !user_code_next)
        next_claimed = nmr_binding_claim_offer_locked(next);
    nmr_npi_unlock(npi);

    if (detach)
        (void)nmr_binding_detach(b, -1, NULL);
    if (gone) {
        if (s == STATUS_SUCCESS)
            nmr_report_misuse(NMR_MISUSE_ATTACH_WITHOUT_PROVIDER,
                              "ClientAttachProvider returned STATUS_SUCCESS "
                              "for binding %p without a successful "
                              "NmrClientAttachProvider; treated as a "
                              "decline (R10)",
                              h);
    }
    if (next != NULL && user_code_next) {
        nmr_npi_lock(npi);
        next_claimed = nmr_binding_claim_offer_locked(next);
        nmr_npi_unlock(npi);
    }
    nmr_handle_put(&b->obj); /* the to-do list's reference */
    return next_claimed;
}

static NMR_COLD int offer_one_traced(nmr_binding *b, int claimed)
{
    return offer_one(b, claimed, 1);
}

/*
 * The offers of one registration, in order.  All bindings on the list share
 * one NPI lock, so the critical section that ends one offer also claims the
 * next (CREATED -> OFFERING) - unless the offer just ended needs a detach or
 * a misuse report, both of which run user code that may deregister and so
 * cancel the next offer (R12).
 */
void nmr_binding_offer_all(nmr_binding *todo, int first_claimed)
{
    int claimed = first_claimed;
    while (todo != NULL) {
        nmr_binding *b = todo;
        todo = b->work_next; /* read while the list still holds b */
        claimed = NMR_TRACING() ? offer_one_traced(b, claimed) : offer_one(b, claimed, 0);
    }
}

/* NmrClientAttachProvider once its handle names binding b, its output
 * pointers are not NULL and this thread is inside b's ClientAttachProvider
 * (R8): the offering thread (this one) holds a reference on b for the
 * whole offer and alone writes the fields below until the offer ends, so
 * they need no lock.  verify: the verifier was on when the call came in
 * (it is never turned off again); without it, nothing here calls out
 * before the provider's callback, so the arguments stay in the registers
 * they came in and only what the end needs is saved. */
NMR_HOT_INLINE NTSTATUS attach_provider_body(nmr_binding *b, HANDLE NmrBindingHandle,
                                             PVOID ClientBindingContext,
                                             const VOID *ClientDispatch,
                                             PVOID *ProviderBindingContext,
                                             const VOID **ProviderDispatch, int verify)
{
    if (b->provider_attached || b->in_provider_attach)
        return STATUS_INVALID_DEVICE_STATE;
    nmr_reg *client = b->reg[NMR_CLIENT];
    nmr_reg *provider = b->reg[NMR_PROVIDER];
    b->ctx[NMR_CLIENT] = ClientBindingContext;

    PVOID pctx = NULL;
    const VOID *pdispatch = NULL;
    nmr_frame f;
    b->in_provider_attach = 1;
    if (verify) {
        nmr_callstack_push(&f, b, NMR_CB_PROVIDER_ATTACH);
        nmr_callstack_verify(&f, NMR_PROVIDER, (const void *)(uintptr_t)provider->attach.provider);
    } else {
        nmr_callstack_push_unverified(&f, b, NMR_CB_PROVIDER_ATTACH);
    }
    NTSTATUS s = provider->attach.provider(NmrBindingHandle, provider->context,
                                           client->instance, ClientBindingContext,
                                           ClientDispatch, &pctx, &pdispatch);
    if (verify)
        nmr_callstack_pop(&f);
    else
        nmr_callstack_pop_unverified(&f);
    b->in_provider_attach = 0;
    if (s == STATUS_SUCCESS) {
        b->provider_attached = 1;
        b->ctx[NMR_PROVIDER] = pctx;
        *ProviderBindingContext = pctx;
        *ProviderDispatch = pdispatch;
    } else {
        b->provider_declined = 1;
        if (NMR_TRACING())
            nmr_trace_binding(NMR_EVENT_ATTACH_DECLINED, b, NMR_PROVIDER, s);
    }
    return s;
}

/* The arguments in NmrClientAttachProvider's order, b last: its tail call
 * moves one register. */
static __attribute__((noinline)) NTSTATUS
attach_provider(HANDLE NmrBindingHandle, PVOID ClientBindingContext,
                const VOID *ClientDispatch, PVOID *ProviderBindingContext,
                const VOID **ProviderDispatch, nmr_binding *b)
{
    return attach_provider_body(b, NmrBindingHandle, ClientBindingContext, ClientDispatch,
                                ProviderBindingContext, ProviderDispatch, 0);
}

/* NmrClientAttachProvider when the fast test below did not pass, or with
 * the verifier on (site: the caller, for the IRQL check): the validated
 * lookup, and the checks in their order. */
static NMR_COLD NTSTATUS attach_provider_checked(HANDLE NmrBindingHandle,
                                                 PVOID ClientBindingContext,
                                                 const VOID *ClientDispatch,
                                                 PVOID *ProviderBindingContext,
                                                 const VOID **ProviderDispatch,
                                                 const void *site)
{
    int verify = nmr_verify_on();
    NMR_VERIFY_IRQL_AT("NmrClientAttachProvider", NMR_PASSIVE_LEVEL, site);
    const nmr_frame *top = nmr_callstack_top;
    struct nmr_object *o = NULL;
    nmr_binding *b;
    if (top != NULL && top->what == NMR_CB_CLIENT_ATTACH && top->handle == NmrBindingHandle) {
        b = (nmr_binding *)(uintptr_t)top->binding; /* as below */
    } else {
        o = nmr_handle_ref(NmrBindingHandle, NMR_HANDLE_BINDING);
        if (o == NULL)
            return STATUS_INVALID_PARAMETER;
        b = nmr_container_of(o, nmr_binding, obj);
    }
    NTSTATUS s;
    if (ProviderBindingContext == NULL || ProviderDispatch == NULL)
        s = STATUS_INVALID_PARAMETER;
    else if (o != NULL && !nmr_callstack_inside(b, NMR_CB_CLIENT_ATTACH)) /* R8 */
        s = STATUS_INVALID_DEVICE_STATE;
    else if (verify)
        s = attach_provider_body(b, NmrBindingHandle, ClientBindingContext, ClientDispatch,
                                 ProviderBindingContext, ProviderDispatch, 1);
    else
        s = attach_provider(NmrBindingHandle, ClientBindingContext, ClientDispatch,
                            ProviderBindingContext, ProviderDispatch, b);
    if (o != NULL)
        nmr_handle_put(o);
    return s;
}

NTSTATUS NmrClientAttachProvider(HANDLE NmrBindingHandle, PVOID ClientBindingContext,
                                 const VOID *ClientDispatch,
                                 PVOID *ProviderBindingContext,
                                 const VOID **ProviderDispatch)
{
    /* The usual call comes straight from the ClientAttachProvider of this
     * binding, whose frame is this thread's innermost: if the handle is
     * the one that frame's callback got, it is the binding's live handle
     * and the offering thread (this one) holds a reference on it for the
     * whole offer (callstack.h), so no lookup and no reference of our own
     * are needed (the handle's generation tells an earlier life of the
     * slot apart, R28).  Anything else takes the validated lookup, and so
     * does every call with the verifier on (its IRQL check and the
     * callback's snapshot are made there).  Both are tail calls: this
     * function saves nothing. */
    const nmr_frame *top = nmr_callstack_top;
    if (!nmr_verify_on() && top != NULL && top->what == NMR_CB_CLIENT_ATTACH &&
        top->handle == NmrBindingHandle && ProviderBindingContext != NULL &&
        ProviderDispatch != NULL)
        return attach_provider(NmrBindingHandle, ClientBindingContext, ClientDispatch,
                               ProviderBindingContext, ProviderDispatch,
                               (nmr_binding *)(uintptr_t)top->binding);
    return attach_provider_checked(NmrBindingHandle, ClientBindingContext, ClientDispatch,
                                   ProviderBindingContext, ProviderDispatch,
                                   __builtin_return_address(0));
}

/* Nmr*DetachComplete for one side (R14, R15, R29). */
static void detach_complete(HANDLE h, nmr_side side)
{
    nmr_check_point(nmr_side_complete_fn(side), h);
    struct nmr_object *o = nmr_handle_ref(h, NMR_HANDLE_BINDING);
    if (o == NULL) {
        nmr_report_misuse(NMR_MISUSE_BAD_HANDLE,
                          "%s: %p is not a live binding handle (R26)",
                          nmr_side_complete_fn(side), h);
        return;
    }
    nmr_binding *b = nmr_container_of(o, nmr_binding, obj);
    int ready = 0, misuse = 0, dead = 0;
    int traced = NMR_TRACING(); /* for its HALF_COMPLETE and CLEANUP events */
    nmr_npi_lock(nmr_binding_npi(b));
    if (b->state == NMR_B_GONE) {
        dead = 1;
    } else if (b->half[side] == NMR_H_CALLING) {
        nmr_half_set(b, side, NMR_H_CALLING_DONE); /* R15: finished when it returns */
    } else if (b->half[side] == NMR_H_PENDING) {
        finish_half_locked(b, side, NULL, 0, traced);
        ready = ready_for_cleanup_locked(b);
    } else {
        misuse = 1; /* not started, completed, or completing right now */
    }
    nmr_npi_unlock(nmr_binding_npi(b));

    if (dead)
        nmr_report_misuse(NMR_MISUSE_BAD_HANDLE,
                          "%s: %p is not a live binding handle (R26)",
                          nmr_side_complete_fn(side), h);
    if (misuse)
        nmr_report_misuse(NMR_MISUSE_NOT_PENDING,
                          "%s: the %s half of binding %p is not pending "
                          "(its detach callback was not called, returned "
                          "STATUS_SUCCESS, or was completed already) (R29)",
                          nmr_side_complete_fn(side), nmr_side_name(side), h);
    if (ready) {
        nmr_frame f;
        (void)run_cleanups(b, NULL, traced, &f, 0);
    }
    nmr_handle_put(o);
}

VOID NmrClientDetachProviderComplete(HANDLE NmrBindingHandle)
{
    NMR_VERIFY_IRQL("NmrClientDetachProviderComplete", NMR_DISPATCH_LEVEL);
    detach_complete(NmrBindingHandle, NMR_CLIENT);
}

VOID NmrProviderDetachClientComplete(HANDLE NmrBindingHandle)
{
    NMR_VERIFY_IRQL("NmrProviderDetachClientComplete", NMR_DISPATCH_LEVEL);
    detach_complete(NmrBindingHandle, NMR_PROVIDER);
}
