/* SPDX-License-Identifier: MIT */
/*
 * lock.h - the registrar's own mutex and condition, for the NPI lock.
 *
 * The NPI lock is taken three times by a lone register-deregister-wait
 * cycle and seven times by a bind cycle, always uncontended in the usual
 * case and always for a few dozen instructions.  glibc's pthread mutex
 * spends about 55 instructions on an uncontended lock and unlock (type
 * dispatch, owner and count bookkeeping); this lock spends one atomic
 * compare-and-swap to take and one atomic exchange to drop, inline.
 *
 *   nmr_lock   one 32-bit word: 0 free, 1 held, 2 held and someone may
 *              sleep on it.  Taking it tries 0 -> 1; when that fails it
 *              spins a little, then marks the word 2 and sleeps on it
 *              (a futex) until a drop that saw 2 wakes one sleeper.
 *              Not recursive, not fair; no owner (npi_index.h keeps the
 *              owner in debug builds).
 *   nmr_cond   one 32-bit sequence word, changed only under its lock.
 *              A wait reads it under the lock, drops the lock, sleeps
 *              while the word still has that value (so a wake between
 *              the drop and the sleep is never lost), and takes the lock
 *              again; a wake changes the word and wakes every sleeper.
 *              Spurious wakeups are possible, as with POSIX conditions:
 *              the caller re-checks its predicate in a loop.
 *
 * Memory order: the take is an acquire and the drop a release, so a
 * critical section sees every write of the previous one (and TSan, which
 * understands C11 atomics, sees the same).  Both start all-zero, so a
 * zeroed struct is a free lock and a quiet condition; neither needs to be
 * destroyed.  On Linux the sleeps are futexes; elsewhere they yield the
 * processor and poll (correct, and only reached under contention or while
 * a registration waits for its bindings).
 */
#ifndef NMR_SRC_LOCK_H
#define NMR_SRC_LOCK_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

typedef struct nmr_lock {
    _Atomic uint32_t word;
} nmr_lock;

typedef struct nmr_cond {
    _Atomic uint32_t seq;
} nmr_cond;

/* lock.c: the contended paths. */
void nmr_lock_take_slow_(nmr_lock *l);
void nmr_lock_wake_one_(nmr_lock *l);
void nmr_cond_wake_all_(nmr_cond *c);
int nmr_cond_sleep_(nmr_cond *c, uint32_t seen, const struct timespec *until);

static inline void nmr_lock_take(nmr_lock *l)
{
    uint32_t free_word = 0;
    if (__builtin_expect(atomic_compare_exchange_strong_explicit(
                             &l->word, &free_word, 1, memory_order_acquire,
                             memory_order_relaxed),
                         1))
        return;
    nmr_lock_take_slow_(l);
}

/* 1 if it was free and is now held by the caller, else 0. */
static inline int nmr_lock_try(nmr_lock *l)
{
    uint32_t free_word = 0;
    return atomic_compare_exchange_strong_explicit(&l->word, &free_word, 1,
                                                   memory_order_acquire,
                                                   memory_order_relaxed);
}

static inline void nmr_lock_drop(nmr_lock *l)
{
    if (__builtin_expect(atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2, 0))
        nmr_lock_wake_one_(l);
}

/* Sleep on c with l held on entry and on return (dropped meanwhile).
 * until: an absolute CLOCK_MONOTONIC deadline, or NULL for none.
 * Returns 0, or ETIMEDOUT when the deadline passed; either way the
 * caller re-checks what it waits for. */
static inline int nmr_cond_wait(nmr_cond *c, nmr_lock *l, const struct timespec *until)
{
    uint32_t seen = atomic_load_explicit(&c->seq, memory_order_relaxed);
    nmr_lock_drop(l);
    int e = nmr_cond_sleep_(c, seen, until);
    nmr_lock_take(l);
    return e;
}

/* Wake every waiter of c.  Its lock held (so no waiter can read the
 * sequence between this change and its sleep). */
static inline void nmr_cond_broadcast(nmr_cond *c)
{
    nmr_cond_wake_all_(c);
}

#endif
