/* SPDX-License-Identifier: MIT */
/*
 * callstack.h - per-thread record of the callbacks in progress.
 *
 * Before libnmr calls user code for a binding it pushes a frame on the
 * calling thread's list (the frame lives on the C stack: no allocation),
 * and pops it when the callback returns.  Two questions are answered from
 * it, without any lock, because only the owning thread reads its list:
 *
 *  - is this thread inside ClientAttachProvider of binding B?  (R8: only
 *    there may NmrClientAttachProvider be called);
 *  - is this thread inside any callback of a binding of registration R,
 *    or does it hold, queued behind the callback it is in, the detach of a
 *    binding of R?  (R20: then waiting for R would wait for ourselves:
 *    deadlock.)
 *
 * A queue frame names a thread's list of detaches still to run (a
 * deregistration runs its bindings' detaches one after the other): *queue
 * is the first binding not yet started, and the rest follow through
 * work_next.  Only the owning thread touches that list.
 *
 * With the driver verifier on (base/verify.h), a callback's frame also
 * holds what the thread's IRQL and locks were when it was called; the pop
 * reports a callback that returns holding a lock or at another IRQL.
 */
#ifndef NMR_SRC_CALLSTACK_H
#define NMR_SRC_CALLSTACK_H

#include "base/verify.h"

#include <assert.h>

typedef enum nmr_callback {
    NMR_CB_CLIENT_ATTACH,
    NMR_CB_PROVIDER_ATTACH,
    NMR_CB_DETACH,
    NMR_CB_CLEANUP,
    NMR_CB_QUEUE /* not a callback: detaches queued on this thread */
} nmr_callback;

struct nmr_binding;

typedef struct nmr_frame {
    struct nmr_frame *up;
    /* The binding whose callback runs (NULL for a queue frame).  Its
     * registrations are read through it (b->reg[], set before the binding
     * is published and never changed): the thread that pushed the frame
     * holds a reference on the binding until it pops it. */
    const struct nmr_binding *binding;
    union {
        struct nmr_binding *const *queue; /* NMR_CB_QUEUE: the list's head */
        /* NMR_CB_CLIENT_ATTACH: the binding's handle, as its callback got
         * it.  The offering thread holds a reference on the binding and
         * nothing retires an OFFERING binding's handle, so it stays the
         * binding's live handle while the frame is pushed: comparing with
         * it is what nmr_handle_is would say (NmrClientAttachProvider). */
        void *handle;
    };
    nmr_callback what;
    /* the verifier's part: set by nmr_callstack_verify, checked by pop */
    const void *fn;   /* the callback */
    int side;         /* NMR_CLIENT or NMR_PROVIDER: whose callback */
    nmr_vsnap v;      /* v.on is 0 when there is nothing to check */
} nmr_frame;

/* The innermost frame of this thread (callstack.c); only the owning
 * thread reads or writes it.  Push and pop are inline: they run around
 * every callback.
 *
 * Initial-exec: one load from the GOT and one %fs-relative access, where
 * the default model of position-independent code calls __tls_get_addr -
 * and even when the linker turns that call into %fs arithmetic (a static
 * link), the compiler had to plan for a call there, so every function
 * reading the call stack kept its arguments in callee-saved registers
 * around it.  The cost: these 8 bytes come from the static TLS block,
 * which a dlopen of libnmr.so takes from glibc's surplus reserved for
 * exactly this (hundreds of bytes; tests/dlclose covers the dlopen). */
#define NMR_CALLSTACK_TLS _Thread_local __attribute__((tls_model("initial-exec")))
extern NMR_CALLSTACK_TLS nmr_frame *nmr_callstack_top;

static inline void nmr_callstack_push(nmr_frame *f, const struct nmr_binding *binding,
                                      nmr_callback what)
{
    f->binding = binding;
    f->what = what;
    f->v.on = 0;
    f->up = nmr_callstack_top;
    nmr_callstack_top = f;
}

/* A frame for one callback called with the verifier off (the caller read
 * nmr_verify_on() just before, where nmr_callstack_verify would have, and
 * makes no nmr_callstack_verify or nmr_callstack_end_call on it): v.on is
 * left unset and the pop has nothing to check.  Pop it with
 * nmr_callstack_pop_unverified. */
static inline void nmr_callstack_push_unverified(nmr_frame *f,
                                                 const struct nmr_binding *binding,
                                                 nmr_callback what)
{
    f->binding = binding;
    f->what = what;
    f->up = nmr_callstack_top;
    nmr_callstack_top = f;
}

static inline void nmr_callstack_pop_unverified(nmr_frame *f)
{
    assert(nmr_callstack_top == f);
    nmr_callstack_top = f->up;
}

/* The verifier's check of a frame popped with v.on set (callstack.c). */
void nmr_callstack_leave_(const nmr_frame *f);

/* A callback of frame f returned, and the frame stays for another call of
 * the same kind (the cleanups): the verifier's check of this one now. */
static inline void nmr_callstack_end_call(nmr_frame *f)
{
    if (__builtin_expect(f->v.on, 0)) {
        nmr_callstack_leave_(f);
        f->v.on = 0;
    }
}

static inline void nmr_callstack_pop(nmr_frame *f)
{
    assert(nmr_callstack_top == f);
    nmr_callstack_top = f->up;
    if (__builtin_expect(f->v.on, 0))
        nmr_callstack_leave_(f);
}
/* After the push of a callback's frame: remember, for the verifier, the
 * callback fn of side and the thread's IRQL and locks. */
static inline void nmr_callstack_verify(nmr_frame *f, int side, const void *fn)
{
    if (nmr_verify_on()) {
        f->fn = fn;
        f->side = side;
        nmr__verify_enter(&f->v);
    }
}
/* Push a queue frame for the list whose head is *head (NMR_CB_QUEUE). */
void nmr_callstack_push_queue(nmr_frame *f, struct nmr_binding *const *head);

/* Is this thread inside callback `what` of `binding`? */
int nmr_callstack_inside(const void *binding, nmr_callback what);
/* Is this thread inside any callback of a binding of `reg`, or has it a
 * detach of one queued? */
int nmr_callstack_inside_registration(const void *reg);

#endif
