/* SPDX-License-Identifier: MIT */
/*
 * core.h - the two objects of the registrar and the one lock that guards
 * them.  Read docs/design.md first; this is its code form.
 *
 * A registration (struct nmr_reg) is one NmrRegisterClient or
 * NmrRegisterProvider.  A binding (struct nmr_binding) is one (client,
 * provider) pair of the same NPI, from its offer to its cleanup.  The two
 * sides are mirror images: everything that differs by side is an array
 * indexed by nmr_side, and one piece of code serves both.
 *
 * Locking: every mutable field below marked [npi] is protected by the NPI
 * lock of the registration's NPI (reg->npi->lock); a binding's two
 * registrations always share that NPI.  No user callback runs with it held,
 * and no reference is dropped with it held (dropping the last reference of
 * a registration releases the NPI, which may free the lock itself).
 *
 * Lifetime: each object is reference counted through its handle slot
 * (handle.h).  A binding holds a reference on both of its registrations,
 * and a registration holds one on its NPI, so following binding -> reg ->
 * npi is always safe while one holds a reference on the binding.
 */
#ifndef NMR_SRC_CORE_H
#define NMR_SRC_CORE_H

#include <netioddk.h>
#include <stddef.h>
#include <stdint.h>
#ifndef NDEBUG
#include <stdio.h>  /* nmr_bad_transition */
#include <stdlib.h>
#endif

#include "core/handle.h"
#include "base/list.h"
#include "core/npi_index.h"

#include "base/side.h"

/*
 * The three state machines.  Each is a tiny enum machine whose list of
 * allowed transitions below is both its documentation and its check: the
 * state moves only through its setter (nmr_reg_set_state,
 * nmr_binding_set_state, nmr_half_set, at the end of this file), always
 * under the NPI lock, and debug builds (!NDEBUG) abort with the machine's
 * name and both states on a transition not listed.  docs/design.md draws
 * the same three tables, row for row.  A freshly allocated object gets
 * its first state from its init function (nmr_reg_init_state,
 * nmr_binding_init_state), the one other place that writes a state.
 */

/* Registration states (reg->state): XX(STATE). */
#define NMR_REG_STATES(XX) XX(ACTIVE) XX(DEREGISTERING) XX(WAITING) XX(DONE)

/* Registration transitions: XX(FROM, TO).  New: ACTIVE. */
#define NMR_REG_TRANSITIONS(XX)                                                 \
    XX(ACTIVE, DEREGISTERING)  /* Nmr*Deregister* accepted (R21)            */ \
    XX(ACTIVE, DONE)           /* registration failed for memory, rolled
                                  back before anyone saw it (R2)            */ \
    XX(DEREGISTERING, WAITING) /* NmrWaitFor* / timed wait starts waiting   */ \
    XX(WAITING, DEREGISTERING) /* a timed wait ran out: may wait again      */ \
    XX(WAITING, DONE)          /* no binding left: handle retired (R18)     */

typedef enum nmr_reg_state {
#define NMR_STATE_ENUM_(name) NMR_REG_##name,
    NMR_REG_STATES(NMR_STATE_ENUM_)
#undef NMR_STATE_ENUM_
} nmr_reg_state;

typedef NTSTATUS nmr_detach_fn(PVOID binding_context);
typedef VOID nmr_cleanup_fn(PVOID binding_context);

typedef struct nmr_reg {
    struct nmr_object obj;
    nmr_npi *npi;
    const NPI_REGISTRATION_INSTANCE *instance; /* the caller's (R3) */
    PVOID context;
    union {
        NPI_CLIENT_ATTACH_PROVIDER_FN *client;
        NPI_PROVIDER_ATTACH_CLIENT_FN *provider;
    } attach;
    nmr_detach_fn *detach;
    nmr_cleanup_fn *cleanup;   /* may be NULL */
    nmr_link npi_link;         /* in npi->regs[side]              [npi] */
    nmr_link bindings;         /* its bindings, via link[side]    [npi] */
    uint32_t live_bindings;    /* bindings not yet gone           [npi] */
    uint8_t side;              /* nmr_side */
    uint8_t state;             /* nmr_reg_state                   [npi] */
} nmr_reg;

/* Binding states (b->state): XX(STATE). */
#define NMR_BINDING_STATES(XX)                                                  \
    XX(CREATED) XX(OFFERING) XX(ATTACHED) XX(DETACHING) XX(CLEANUP) XX(GONE)

/* Binding transitions: XX(FROM, TO).  New: CREATED (a registration found
 * a matching ACTIVE peer).  One line per row of docs/design.md's table. */
#define NMR_BINDING_TRANSITIONS(XX)                                             \
    XX(CREATED, OFFERING)    /* the registering thread reaches it, both
                                sides ACTIVE                                */ \
    XX(CREATED, GONE)        /* a side deregisters first: never offered
                                (R12)                                       */ \
    XX(OFFERING, GONE)       /* declined: no successful
                                NmrClientAttachProvider (R10)               */ \
    XX(OFFERING, ATTACHED)   /* both accepted, both sides still ACTIVE      */ \
    XX(OFFERING, DETACHING)  /* provider accepted, client then failed: the
                                client half is complete already (R10)      */ \
    XX(OFFERING, DETACHING)  /* both accepted, a side deregistering
                                meanwhile: late-comer (R11)                 */ \
    XX(ATTACHED, DETACHING)  /* a side deregisters (R13)                    */ \
    XX(DETACHING, CLEANUP)   /* the last half completes (R16)               */ \
    XX(CLEANUP, GONE)        /* the cleanups returned; handle retired       */

typedef enum nmr_binding_state {
#define NMR_STATE_ENUM_(name) NMR_B_##name,
    NMR_BINDING_STATES(NMR_STATE_ENUM_)
#undef NMR_STATE_ENUM_
} nmr_binding_state;

/* Detach half states (b->half[side]), one machine per side: XX(STATE).
 *   IDLE          detach callback not called
 *   CALLING       detach callback running
 *   CALLING_DONE  running, and Nmr*DetachComplete already came (R15)
 *   PENDING       returned STATUS_PENDING, completion to come
 *   COMPLETING    complete; its event or misuse report is being told by
 *                 the completing thread with the lock dropped; not yet
 *                 COMPLETE for anyone else (binding.c, finish_half_locked)
 *   COMPLETE      finished */
#define NMR_HALF_STATES(XX)                                                     \
    XX(IDLE) XX(CALLING) XX(CALLING_DONE) XX(PENDING) XX(COMPLETING) XX(COMPLETE)

/* Detach half transitions: XX(FROM, TO).  New: IDLE.  A half moves only
 * while its binding is DETACHING.  Every "-> COMPLETE" goes through
 * COMPLETING when there is an event or a misuse report to tell. */
#define NMR_HALF_TRANSITIONS(XX)                                                \
    XX(IDLE, CALLING)          /* the detach owner calls the callback       */ \
    XX(IDLE, COMPLETE)         /* client half of an offer the client failed
                                  after the provider accepted: no call (R10) */ \
    XX(CALLING, CALLING_DONE)  /* Nmr*DetachComplete inside the call (R15)  */ \
    XX(CALLING, PENDING)       /* the callback returned STATUS_PENDING      */ \
    XX(CALLING, COMPLETING)    /* it returned anything else (R14)           */ \
    XX(CALLING, COMPLETE)      /* the same, with nothing to tell            */ \
    XX(CALLING_DONE, COMPLETING) /* the callback returned, whatever it said */ \
    XX(CALLING_DONE, COMPLETE) /* the same, with nothing to tell            */ \
    XX(PENDING, COMPLETING)    /* Nmr*DetachComplete (R14)                  */ \
    XX(PENDING, COMPLETE)      /* the same, with nothing to tell            */ \
    XX(COMPLETING, COMPLETE)   /* told: published as complete               */

typedef enum nmr_half_state {
#define NMR_STATE_ENUM_(name) NMR_H_##name,
    NMR_HALF_STATES(NMR_STATE_ENUM_)
#undef NMR_STATE_ENUM_
} nmr_half_state;

typedef struct nmr_binding {
    struct nmr_object obj;
    nmr_reg *reg[2];               /* client, provider (referenced) */
    nmr_link link[2];              /* in reg[side]->bindings      [npi] */
    struct nmr_binding *work_next; /* a thread's private to-do list */
    PVOID ctx[2];                  /* binding contexts by side (the
                                      dispatch tables go straight to the
                                      other side: nothing keeps them) */
    uint32_t since[2];             /* nmr_stamp_ms() when each half's
                                      detach callback was called, 0 if not
                                      (clock.h; for introspection)  [npi] */
    uint8_t state;                 /* nmr_binding_state            [npi] */
    uint8_t half[2];               /* nmr_half_state by side       [npi] */
    uint8_t npi_spare;             /* keeps the word of [npi] bytes whole */
    /* A word of its own: a compiler may read the three bytes above as one
     * 32-bit load, and these are written without the lock (TSan in an
     * optimised build would rightly see that load race with them). */
    uint8_t provider_attached;     /* offering thread only */
    uint8_t in_provider_attach;    /* offering thread only */
    uint8_t provider_declined;     /* offering thread only (tracing) */
} nmr_binding;

/* Both objects live in their handle slots (handle.h), each starting with
 * its struct nmr_object (the slot is found from that address). */
_Static_assert(sizeof(nmr_reg) <= NMR_HANDLE_OBJECT_MAX, "a registration fits its slot");
_Static_assert(sizeof(nmr_binding) <= NMR_HANDLE_OBJECT_MAX, "a binding fits its slot");
_Static_assert(offsetof(nmr_reg, obj) == 0 && offsetof(nmr_binding, obj) == 0,
               "the object header opens the slot's object bytes");

/* ---- binding.c ---------------------------------------------------------- */
/* Under the NPI lock: a new binding in CREATED state, linked to both
 * registrations, with one extra reference for the caller's to-do list.
 * NULL when out of memory. */
nmr_binding *nmr_binding_create_locked(nmr_reg *client, nmr_reg *provider);
/* Under the NPI lock: unlink a CREATED binding that will never be offered,
 * mark it GONE and retire its handle (its creator still holds it). */
void nmr_binding_cancel_locked(nmr_binding *b);
/* Under the NPI lock: CREATED -> OFFERING.  0 if it was cancelled. */
int nmr_binding_claim_offer_locked(nmr_binding *b);
/* No lock held: make the offers of a registration's to-do list, in order,
 * dropping the list's reference on each (R7-R11).  first_claimed: the
 * first one was claimed already, in the registration's scan. */
void nmr_binding_offer_all(nmr_binding *todo, int first_claimed);
/* No lock held; b was moved to DETACHING by the caller, who holds a
 * reference: run the detach halves and, if both complete, the cleanups.
 * started: what nmr_binding_begin_detach_locked returned, if the caller
 * called it for b, else -1.  next: the binding (of the same NPI, DETACHING
 * and owned by this thread) whose detach this thread runs next, or NULL:
 * b's last critical section begins it, and the return value is what
 * nmr_binding_begin_detach_locked said of it (-1 without next). */
int nmr_binding_detach(nmr_binding *b, int started, nmr_binding *next);
/* Under the NPI lock, b DETACHING and owned by the caller: begin its
 * detach (the first half that needs a call goes to CALLING, stamped), in
 * the caller's critical section.  Returns that half's side, or -1. */
int nmr_binding_begin_detach_locked(nmr_binding *b);
/* Under the NPI lock: move an ATTACHED binding to DETACHING.  Returns 1 if
 * the caller now owns the detach sequence.  (Inline, below the state
 * setters: a deregistration calls it once per binding.) */
static inline int nmr_binding_start_detach_locked(nmr_binding *b);

/* ---- the state setters (the transition lists above are their tables) ---- */

/* The NPI whose lock guards b. */
static inline nmr_npi *nmr_binding_npi(const nmr_binding *b)
{
    return b->reg[NMR_CLIENT]->npi;
}

#ifndef NDEBUG
/* Debug builds: a transition not in its machine's list.  Says which, where,
 * and stops. */
static inline void nmr_bad_transition(const char *machine, const void *obj,
                                      const char *from, const char *to,
                                      const char *file, int line)
{
    fprintf(stderr,
            "libnmr: %s:%d: forbidden %s state transition %s -> %s (object %p; "
            "not in the transition list of src/core.h)\n",
            file, line, machine, from, to, obj);
    fflush(stderr);
    abort();
}
#define NMR_STATE_NAME_(name) #name,
#define NMR_STATE_TEXT_(names, v) \
    ((unsigned)(v) < sizeof(names) / sizeof(names[0]) ? names[v] : "(bad value)")
#define NMR_REG_OK_(a, b) || (from == NMR_REG_##a && to == NMR_REG_##b)
#define NMR_BINDING_OK_(a, b) || (from == NMR_B_##a && to == NMR_B_##b)
#define NMR_HALF_OK_(a, b) || (from == NMR_H_##a && to == NMR_H_##b)
#endif

/* The first state of a new registration, before it is listed anywhere. */
static inline void nmr_reg_init_state(nmr_reg *r)
{
    r->state = NMR_REG_ACTIVE;
}

/* The first state of a new binding and of its two halves (create_locked,
 * before the binding is published or listed). */
static inline void nmr_binding_init_state(nmr_binding *b)
{
    b->state = NMR_B_CREATED;
    b->half[NMR_CLIENT] = NMR_H_IDLE;
    b->half[NMR_PROVIDER] = NMR_H_IDLE;
    b->npi_spare = 0;
}

/* r->state = to, NPI lock held (NMR_REG_TRANSITIONS). */
#define nmr_reg_set_state(r, to) nmr_reg_set_state_((r), (to), __FILE__, __LINE__)
static inline void nmr_reg_set_state_(nmr_reg *r, nmr_reg_state to, const char *file,
                                      int line)
{
#ifndef NDEBUG
    nmr_npi_assert_held(r->npi);
    nmr_reg_state from = (nmr_reg_state)r->state;
    if (!(0 NMR_REG_TRANSITIONS(NMR_REG_OK_))) {
        static const char *const names[] = {NMR_REG_STATES(NMR_STATE_NAME_)};
        nmr_bad_transition("registration", r, NMR_STATE_TEXT_(names, from),
                           NMR_STATE_TEXT_(names, to), file, line);
    }
#else
    (void)file, (void)line;
#endif
    r->state = (uint8_t)to;
}

/* b->state = to, NPI lock held (NMR_BINDING_TRANSITIONS). */
#define nmr_binding_set_state(b, to) \
    nmr_binding_set_state_((b), (to), __FILE__, __LINE__)
static inline void nmr_binding_set_state_(nmr_binding *b, nmr_binding_state to,
                                          const char *file, int line)
{
#ifndef NDEBUG
    nmr_npi_assert_held(nmr_binding_npi(b));
    nmr_binding_state from = (nmr_binding_state)b->state;
    if (!(0 NMR_BINDING_TRANSITIONS(NMR_BINDING_OK_))) {
        static const char *const names[] = {NMR_BINDING_STATES(NMR_STATE_NAME_)};
        nmr_bad_transition("binding", b, NMR_STATE_TEXT_(names, from),
                           NMR_STATE_TEXT_(names, to), file, line);
    }
#else
    (void)file, (void)line;
#endif
    b->state = (uint8_t)to;
}

/* b->half[side] = to, NPI lock held, binding DETACHING
 * (NMR_HALF_TRANSITIONS). */
#define nmr_half_set(b, side, to) nmr_half_set_((b), (side), (to), __FILE__, __LINE__)
static inline void nmr_half_set_(nmr_binding *b, int side, nmr_half_state to,
                                 const char *file, int line)
{
#ifndef NDEBUG
    nmr_npi_assert_held(nmr_binding_npi(b));
    nmr_half_state from = (nmr_half_state)b->half[side];
    static const char *const names[] = {NMR_HALF_STATES(NMR_STATE_NAME_)};
    const char *machine = side == NMR_CLIENT ? "client detach half"
                                             : "provider detach half";
    if (b->state != NMR_B_DETACHING) /* halves move only while DETACHING */
        nmr_bad_transition(side == NMR_CLIENT
                               ? "client detach half (binding not DETACHING)"
                               : "provider detach half (binding not DETACHING)",
                           b, NMR_STATE_TEXT_(names, from), NMR_STATE_TEXT_(names, to),
                           file, line);
    if (!(0 NMR_HALF_TRANSITIONS(NMR_HALF_OK_)))
        nmr_bad_transition(machine, b, NMR_STATE_TEXT_(names, from),
                           NMR_STATE_TEXT_(names, to), file, line);
#else
    (void)file, (void)line;
#endif
    b->half[side] = (uint8_t)to;
}

/* ---- binding.c's transition made inline in its caller -------------------- */

static inline int nmr_binding_start_detach_locked(nmr_binding *b)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    if (b->state != NMR_B_ATTACHED)
        return 0;
    nmr_binding_set_state(b, NMR_B_DETACHING);
    return 1;
}

#endif
