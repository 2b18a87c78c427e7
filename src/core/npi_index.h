/* SPDX-License-Identifier: MIT */
/*
 * npi_index.h - NPI ID -> the registrations of that NPI.
 *
 * Each NPI in use has one struct nmr_npi, found by GUID value (R4) in a
 * hash table split into independently locked stripes, so registrations of
 * unrelated NPIs share no lock (R25).  The NPI's own mutex protects its two
 * registration lists and the state of every registration and binding of
 * that NPI: a client and its provider always share one NPI, so one lock
 * makes "insert and scan for matches" a single atomic step (R5).
 *
 * Lock order: a stripe lock is never held while taking an NPI lock or the
 * other way round (each is taken alone).  No user code runs under either.
 */
#ifndef NMR_SRC_NPI_INDEX_H
#define NMR_SRC_NPI_INDEX_H

#include <netioddk.h>
#include <assert.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "base/list.h"
#include "base/lock.h"

typedef struct nmr_npi {
    struct nmr_npi *hash_next; /* stripe chain; stripe lock */
    uint64_t hash;
    uint64_t registrar;        /* registrar key (registrar.h): part of the identity */
    _Atomic unsigned refs;     /* one per registration, one per thread
                                  that pins it (npi_index.c); moved from
                                  0 and to 0 only under the stripe lock */
    unsigned pins;             /* how many threads pin it; stripe lock */
    GUID id;
    nmr_lock lock;             /* the NPI lock: see above; taken only
                                  through nmr_npi_lock() and friends below */
    nmr_cond drained;          /* a waited-for registration reached zero */
    nmr_link regs[2];          /* registrations by side (client, provider) */
#ifndef NDEBUG
    /* Debug builds: who holds the lock (lockdep's lockdep_assert_held).
     * Written only by the holder, under the lock, so reading them while
     * holding the lock is race-free; lock_held is 0 whenever it is free. */
    pthread_t lock_owner;      /* valid while lock_held */
    int lock_held;
#endif
} __attribute__((aligned(64))) nmr_npi; /* cache lines of its own: two threads'
                                        NPIs, written on every cycle, never share one */

/*
 * The NPI lock.  Every lock, unlock and condition wait on npi->lock goes
 * through these, so debug builds (!NDEBUG) know which thread holds it, and
 * nmr_npi_assert_held(npi) at the top of every *_locked function fails
 * loudly when the caller does not hold that NPI's lock.  Release builds
 * compile them to exactly the bare operations of base/lock.h.
 */
#ifdef NDEBUG
#define nmr_npi_assert_held(npi) ((void)sizeof(npi))
#define nmr_npi_owner_set_(npi) ((void)0)
#define nmr_npi_owner_clear_(npi) ((void)0)
#else
/* 1 if this thread holds npi->lock (debug builds only). */
static inline int nmr_npi_held_by_me(const nmr_npi *npi)
{
    return npi->lock_held && pthread_equal(npi->lock_owner, pthread_self());
}
#define nmr_npi_assert_held(npi) \
    assert(nmr_npi_held_by_me(npi) && "the NPI lock of this object must be held")
#define nmr_npi_owner_set_(npi) \
    ((npi)->lock_owner = pthread_self(), (npi)->lock_held = 1)
#define nmr_npi_owner_clear_(npi) (nmr_npi_assert_held(npi), (npi)->lock_held = 0)
#endif

static inline void nmr_npi_lock(nmr_npi *npi)
{
    nmr_lock_take(&npi->lock);
    nmr_npi_owner_set_(npi);
}

static inline void nmr_npi_unlock(nmr_npi *npi)
{
    nmr_npi_owner_clear_(npi);
    nmr_lock_drop(&npi->lock);
}

/* Sleep on npi->drained; the lock is released meanwhile, held on return. */
static inline void nmr_npi_wait(nmr_npi *npi)
{
    nmr_npi_owner_clear_(npi);
    (void)nmr_cond_wait(&npi->drained, &npi->lock, NULL);
    nmr_npi_owner_set_(npi);
}

/* The same with an absolute CLOCK_MONOTONIC deadline. */
static inline int nmr_npi_timedwait(nmr_npi *npi, const struct timespec *until)
{
    nmr_npi_owner_clear_(npi);
    int e = nmr_cond_wait(&npi->drained, &npi->lock, until);
    nmr_npi_owner_set_(npi);
    return e;
}

/* Wake every thread sleeping in nmr_npi_wait/nmr_npi_timedwait on this
 * NPI (a waited-for registration drained).  NPI lock held. */
static inline void nmr_npi_wake_all(nmr_npi *npi)
{
    nmr_cond_broadcast(&npi->drained);
}

/* Find or create the NPI for (registrar key, id), with one reference.
 * NULL: no memory.  May block briefly on a stripe lock; never calls user
 * code. */
nmr_npi *nmr_npi_get(uint64_t registrar, const GUID *id);
/* Drop a reference; the last one parks the NPI (npi_index.c). */
void nmr_npi_put(nmr_npi *npi);
/* How many references are not pins: registrations, and foreach's own
 * (for tests).  Stripe lock not needed for a quiescent index. */
unsigned nmr_npi_uses(const nmr_npi *npi);

/* Call fn on every NPI in the index, each held by a reference and with no
 * lock held (fn may take the NPI lock).  Returns -1 if memory for the list
 * ran out (nothing was visited), else 0.  For checks and introspection,
 * not for hot paths. */
int nmr_npi_foreach(void (*fn)(nmr_npi *npi, void *arg), void *arg);

#endif
