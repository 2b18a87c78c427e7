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
#include <stdint.h>

#include "handle.h"
#include "list.h"
#include "npi_index.h"

typedef enum nmr_side { NMR_CLIENT = 0, NMR_PROVIDER = 1 } nmr_side;

#define NMR_OTHER(side) ((nmr_side)(1 - (side)))

/* Registration states (reg->state).  ACTIVE -> DEREGISTERING (Nmr
 * Deregister*) -> WAITING (NmrWaitFor*, until its bindings are gone) ->
 * DONE (handle retired). */
typedef enum nmr_reg_state {
    NMR_REG_ACTIVE = 0,
    NMR_REG_DEREGISTERING,
    NMR_REG_WAITING,
    NMR_REG_DONE
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

/* Binding states (b->state); docs/design.md has the transition table.
 *
 *   CREATED   --offer starts-->          OFFERING
 *   CREATED   --a side deregisters-->    GONE       (never offered)
 *   OFFERING  --declined-->              GONE       (no cleanup)
 *   OFFERING  --both accepted-->         ATTACHED
 *   OFFERING  --late-comer / client
 *                failed after provider-->DETACHING
 *   ATTACHED  --a side deregisters-->    DETACHING
 *   DETACHING --both halves complete-->  CLEANUP
 *   CLEANUP   --cleanups returned-->     GONE       (handle retired)
 */
typedef enum nmr_binding_state {
    NMR_B_CREATED = 0,
    NMR_B_OFFERING,
    NMR_B_ATTACHED,
    NMR_B_DETACHING,
    NMR_B_CLEANUP,
    NMR_B_GONE
} nmr_binding_state;

/* The state of one detach half (b->half[side]). */
typedef enum nmr_half_state {
    NMR_H_IDLE = 0,     /* detach callback not called */
    NMR_H_CALLING,      /* detach callback running */
    NMR_H_CALLING_DONE, /* running, and Nmr*DetachComplete already came (R15) */
    NMR_H_PENDING,      /* returned STATUS_PENDING, completion to come */
    NMR_H_COMPLETING,   /* complete, its event or misuse report being told
                           by the completing thread; not yet COMPLETE for
                           anyone else (binding.c, finish_half_locked) */
    NMR_H_COMPLETE
} nmr_half_state;

typedef struct nmr_binding {
    struct nmr_object obj;
    nmr_reg *reg[2];               /* client, provider (referenced) */
    nmr_link link[2];              /* in reg[side]->bindings      [npi] */
    struct nmr_binding *work_next; /* a thread's private to-do list */
    PVOID ctx[2];                  /* binding contexts by side */
    const VOID *dispatch[2];       /* dispatch tables by side */
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
 * reference: run the detach halves and, if both complete, the cleanups. */
void nmr_binding_detach(nmr_binding *b);
/* Under the NPI lock: move an ATTACHED binding to DETACHING.  Returns 1 if
 * the caller now owns the detach sequence. */
int nmr_binding_start_detach_locked(nmr_binding *b);

#endif
