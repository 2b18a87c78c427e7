/* SPDX-License-Identifier: MIT */
/*
 * hook.c - replaceable hooks with a grace period (hook.h).
 *
 * Memory ordering: every access to the phase, the counters and the
 * current pointer is sequentially consistent, and the argument of hook.h
 * rests on that single order: a caller's increment comes before its read
 * of the pointer; a grace period's publication of the new pointer comes
 * before its flips, and each flip before the scan of the phase it left.  A
 * caller that read an old pointer therefore incremented before the
 * publication, and one of the two scans sees its count until its
 * decrement, which releases everything the hook call did to the writer
 * that then frees the old context.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */

#include "base/hook.h"

#include <assert.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>

_Thread_local nmr_hook_thread nmr_hook_me;
static atomic_uint next_stripe;

/* The cell lock.  Debug builds (!NDEBUG) record its holder, so that
 * cell_assert_held() at the top of a *_locked function fails loudly when
 * the caller does not hold it (lockdep's lockdep_assert_held); release
 * builds compile these to the bare pthread calls. */
#ifdef NDEBUG
#define cell_assert_held(c) ((void)sizeof(c))
#else
#define cell_assert_held(c)                                                   \
    assert((c)->lock_held && pthread_equal((c)->lock_owner, pthread_self()) && \
           "the hook cell lock must be held")
#endif

static inline void cell_lock(nmr_hook_cell *c)
{
    pthread_mutex_lock(&c->lock);
#ifndef NDEBUG
    c->lock_owner = pthread_self();
    c->lock_held = 1;
#endif
}

static inline void cell_unlock(nmr_hook_cell *c)
{
#ifndef NDEBUG
    cell_assert_held(c);
    c->lock_held = 0;
#endif
    pthread_mutex_unlock(&c->lock);
}

unsigned nmr_hook_pick_stripe(nmr_hook_thread *self)
{
    self->stripe1 =
        atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % NMR_HOOK_STRIPES +
        1;
    return self->stripe1;
}

static void wait_phase_drained(nmr_hook_cell *c, unsigned p)
{
    for (unsigned i = 0; i < NMR_HOOK_STRIPES; i++) {
        unsigned spins = 0;
        while (atomic_load(&c->stripe[p][i].calls) != 0) {
            if (++spins < 64) {
                sched_yield();
            } else {
                struct timespec ts = {0, 100000}; /* a hook that takes long */
                nanosleep(&ts, NULL);
            }
        }
    }
}

/* Outside every hook call: wait for a grace period, then free the records
 * that were unpublished before it began. */
static void grace_and_free(nmr_hook_cell *c)
{
    pthread_mutex_lock(&c->grace_lock);
    cell_lock(c);
    nmr_hook_record *done = c->retired;
    c->retired = NULL;
    cell_unlock(c);
    unsigned p = atomic_load(&c->phase);
    atomic_store(&c->phase, p ^ 1u);
    wait_phase_drained(c, p);
    atomic_store(&c->phase, p);
    wait_phase_drained(c, p ^ 1u);
    pthread_mutex_unlock(&c->grace_lock);
    cell_lock(c);
    for (nmr_hook_record *r = done, *next; r != NULL; r = next) {
        next = r->retired_next;
        if (r->heap)
            free(r);
        else
            r->busy = 0;
    }
    cell_unlock(c);
}

/* A free record of the pool, or NULL.  Cell lock held. */
static nmr_hook_record *pool_take_locked(nmr_hook_cell *c)
{
    cell_assert_held(c);
    for (unsigned i = 0; i < 2; i++) {
        if (!c->pool[i].busy) {
            c->pool[i].busy = 1;
            c->pool[i].heap = 0;
            return &c->pool[i];
        }
    }
    return NULL;
}

nmr_hook_any_fn *nmr_hook_set(nmr_hook_cell *c, nmr_hook_any_fn *fn, void *ctx,
                              void **old_ctx, int *ok)
{
    nmr_hook_record *rec = NULL;
    *ok = 1;
    cell_lock(c);
    if (fn != NULL) {
        rec = pool_take_locked(c);
        if (rec == NULL && nmr_hook_me.depth == 0) {
            /* The other record was replaced inside a hook and not yet
             * waited for: wait now, and it is free. */
            cell_unlock(c);
            grace_and_free(c);
            cell_lock(c);
            rec = pool_take_locked(c);
        }
        if (rec == NULL) {
            /* Plain malloc: a hook record is not the NMR's memory (R31
             * counts registrations and bindings). */
            rec = malloc(sizeof(*rec));
            if (rec == NULL) {
                cell_unlock(c);
                *ok = 0;
                if (old_ctx != NULL)
                    *old_ctx = NULL;
                return NULL;
            }
            rec->busy = 1;
            rec->heap = 1;
        }
        rec->fn = fn;
        rec->ctx = ctx;
        rec->retired_next = NULL;
    }
    nmr_hook_record *old = atomic_load(&c->current);
    /* Read under the lock: once retired, a concurrent grace period may
     * free the record. */
    nmr_hook_any_fn *old_fn = old != NULL ? old->fn : NULL;
    if (old_ctx != NULL)
        *old_ctx = old != NULL ? old->ctx : NULL;
    atomic_store(&c->current, rec);
    if (c->listeners != NULL) {
        /* The kernel updates the same counter as tracers come and go:
         * add and subtract, never store. */
        if (old == NULL && rec != NULL)
            __atomic_fetch_add(c->listeners, 1, __ATOMIC_RELAXED);
        else if (old != NULL && rec == NULL)
            __atomic_fetch_sub(c->listeners, 1, __ATOMIC_RELAXED);
    }
    if (old != NULL) {
        old->retired_next = c->retired;
        c->retired = old;
    }
    cell_unlock(c);
    if (nmr_hook_me.depth == 0)
        grace_and_free(c);
    return old_fn;
}

int nmr_hook_sync(nmr_hook_cell *c)
{
    if (nmr_hook_me.depth > 0)
        return -1;
    grace_and_free(c);
    return 0;
}
