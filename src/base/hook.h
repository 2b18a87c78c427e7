/* SPDX-License-Identifier: MIT */
/*
 * hook.h - a user hook that can be replaced while other threads call it,
 * and whose replacement can wait until the old one runs nowhere.
 *
 * The trace hook (nmr/trace.h) and the diagnostic hook (nmr/diag.h) are
 * each one cell.  A caller of the hook brackets the call with
 * nmr_hook_enter() and nmr_hook_leave(); nmr_hook_set() installs a new
 * (hook, context) pair and then waits for a grace period: until every call
 * that may have seen an older pair has returned.  After that the old
 * context may be freed.
 *
 * How: the pair lives in a record that is published with one pointer.  A
 * caller counts itself in one of two phases (a per-thread stripe of
 * counters, so callers on different threads do not share a cache line),
 * then reads the pointer.  A grace period flips the phase twice and, after
 * each flip, waits for the counters of the phase it left to drain: every
 * caller counted before a flip is waited for, and every caller counted
 * after it reads the new pointer.  Only C11 atomics (sequentially
 * consistent), no fences, so ThreadSanitizer sees every edge.
 *
 * A thread inside a hook call (of any cell) never waits: its own call
 * would never end.  nmr_hook_set() then returns at once, and the record
 * it replaced is reused or freed after the next grace period that runs
 * outside a hook;
 * nmr_hook_sync() reports -1.
 *
 * Context: enter/leave never block and take no lock.  set and sync may
 * block (the grace period); never call them with a libnmr lock held.
 */
#ifndef NMR_SRC_HOOK_H
#define NMR_SRC_HOOK_H

#include <pthread.h>
#include <stdatomic.h>

#define NMR_HOOK_STRIPES 16u

typedef void nmr_hook_any_fn(void);

typedef struct nmr_hook_record {
    nmr_hook_any_fn *fn;
    void *ctx;
    struct nmr_hook_record *retired_next; /* cell lock */
    unsigned char busy;                   /* cell lock: current or retired */
    unsigned char heap;                   /* from malloc, not the pool */
} nmr_hook_record;

typedef struct nmr_hook_stripe {
    atomic_uint calls;
} __attribute__((aligned(64))) nmr_hook_stripe;

typedef struct nmr_hook_cell {
    _Atomic(nmr_hook_record *) current;
    atomic_uint phase;                  /* 0 or 1 */
    pthread_mutex_t lock;               /* swaps and the retired list */
    pthread_mutex_t grace_lock;         /* one grace period at a time */
    nmr_hook_record *retired;           /* lock: unpublished, not yet freed */
    volatile unsigned short *listeners; /* counts an installed hook, or NULL */
    nmr_hook_record pool[2];            /* current + one retired */
    nmr_hook_stripe stripe[2][NMR_HOOK_STRIPES];
#ifndef NDEBUG
    /* Debug builds: who holds lock, written by the holder under it
     * (hook.c, cell_assert_held); all zero is "free". */
    pthread_t lock_owner;               /* valid while lock_held */
    int lock_held;
#endif
} nmr_hook_cell;

#define NMR_HOOK_CELL_INIT(listeners_ptr)                                  \
    {.lock = PTHREAD_MUTEX_INITIALIZER,                                    \
     .grace_lock = PTHREAD_MUTEX_INITIALIZER,                              \
     .listeners = (listeners_ptr)}

/* This thread: the hook calls (of any cell) it is inside now, and 1 + its
 * stripe (0 until chosen). */
typedef struct nmr_hook_thread {
    unsigned depth;
    unsigned stripe1;
} nmr_hook_thread;
extern _Thread_local nmr_hook_thread nmr_hook_me;
unsigned nmr_hook_pick_stripe(nmr_hook_thread *self);

/* Where a call was counted; give it back to nmr_hook_leave(). */
typedef struct nmr_hook_token {
    atomic_uint *counter;
    nmr_hook_thread *self;
} nmr_hook_token;

/* Count this thread in and read the hook.  Returns the hook (its context
 * in *ctx), or NULL when none is installed; either way call
 * nmr_hook_leave() with *t afterwards.  Inline: it runs once per event. */
static inline nmr_hook_any_fn *nmr_hook_enter(nmr_hook_cell *c, void **ctx,
                                              nmr_hook_token *t)
{
    nmr_hook_thread *self = &nmr_hook_me;
    unsigned s1 = self->stripe1;
    if (s1 == 0)
        s1 = nmr_hook_pick_stripe(self);
    /* hook.c: the increment comes before the read of the record, in the
     * single order of sequentially consistent atomics. */
    unsigned p = atomic_load(&c->phase);
    atomic_uint *counter = &c->stripe[p][s1 - 1].calls;
    atomic_fetch_add(counter, 1);
    nmr_hook_record *r = atomic_load(&c->current);
    t->counter = counter;
    t->self = self;
    self->depth++;
    if (r == NULL) {
        *ctx = NULL;
        return NULL;
    }
    *ctx = r->ctx;
    return r->fn;
}

static inline void nmr_hook_leave(nmr_hook_token t)
{
    t.self->depth--;
    atomic_fetch_sub(t.counter, 1); /* pairs with the grace period's scan */
}

/* Install fn/ctx (fn NULL: none) and return the previous hook (its context
 * in *old_ctx when not NULL).  Waits for a grace period unless this thread
 * is inside a hook call.  Records come from the cell's pool of two, which
 * a grace period always leaves free; only changes made inside hook calls
 * may need malloc.  *ok is 0 when that fails: nothing changed, NULL
 * returned. */
nmr_hook_any_fn *nmr_hook_set(nmr_hook_cell *c, nmr_hook_any_fn *fn, void *ctx,
                              void **old_ctx, int *ok);

/* Wait for a grace period: 0, or -1 (at once) inside a hook call. */
int nmr_hook_sync(nmr_hook_cell *c);

#endif
