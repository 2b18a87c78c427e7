/* SPDX-License-Identifier: MIT */
/*
 * npi_index.c - the NPI index: GUID value -> struct nmr_npi (npi_index.h).
 *
 * STRIPES independent hash tables, chosen by the GUID's hash.  Each stripe
 * is a chained hash table that doubles when its load passes 1, so a lookup
 * costs O(1) however many NPIs exist (W3 of the benchmark: 100k unrelated
 * registrations must not slow a registration down).  If doubling fails for
 * lack of memory the stripe keeps working with longer chains.
 *
 * An NPI entry whose last registration left is kept as its stripe's one
 * spare (lock and condition variable still initialised), parked where it
 * is: still in its hash chain, with no reference.  The next registration
 * of the same NPI finds it by the ordinary lookup and takes it back (a
 * module that registers and deregisters alone in a loop neither creates
 * nor re-links its entry); a new NPI of that stripe unlinks it and reuses
 * it.  A stripe keeps at most one: when a second entry loses its last
 * reference, the older spare is freed.  Invariant: an entry in a chain
 * has references, or is its stripe's spare.  Entries are index
 * infrastructure, like the handle table: allocated with
 * nmr_alloc_persistent, at most STRIPES spares are ever kept.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "core/npi_index.h"

#include "base/alloc.h"

#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

#define STRIPES 64u
#define INITIAL_BUCKETS 8u

/* The stripe lock guards a few pointer moves (and, rarely, a rehash), so it
 * is a plain test-and-test-and-set lock that yields while it waits: half
 * the cost of a mutex on the registration path, and no preempted-holder
 * spin storm on a 2-core machine. */
typedef struct stripe_lock {
    atomic_int held;
} stripe_lock;

static void stripe_lock_take(stripe_lock *l)
{
    for (;;) {
        if (!atomic_exchange_explicit(&l->held, 1, memory_order_acquire))
            return;
        while (atomic_load_explicit(&l->held, memory_order_relaxed))
            sched_yield();
    }
}

static void stripe_lock_drop(stripe_lock *l)
{
    atomic_store_explicit(&l->held, 0, memory_order_release);
}

typedef struct stripe {
    stripe_lock lock;
    nmr_npi **buckets;
    size_t nbuckets; /* power of two, or 0 before first use */
    size_t count;
    nmr_npi *spare; /* one unused, initialised entry still in its chain
                       (no references), or NULL */
} __attribute__((aligned(64))) stripe;

/* All zero is the initial state (R33: usable from the first call). */
static stripe stripes[STRIPES];

static uint64_t guid_hash(const GUID *g)
{
    uint64_t a, b;
    memcpy(&a, g, 8);
    memcpy(&b, (const char *)g + 8, 8);
    uint64_t h = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
    h ^= h >> 31;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 29;
    return h;
}

static int guid_equal(const GUID *a, const GUID *b)
{
    return memcmp(a, b, sizeof(GUID)) == 0;
}

static void rehash(stripe *s, size_t nbuckets)
{
    nmr_npi **nb = nmr_alloc_persistent(nbuckets * sizeof(*nb));
    if (nb == NULL)
        return; /* keep the old table: slower, still correct */
    for (size_t i = 0; i < s->nbuckets; i++) {
        nmr_npi *n = s->buckets[i];
        while (n != NULL) {
            nmr_npi *next = n->hash_next;
            size_t b = (n->hash >> 8) & (nbuckets - 1);
            n->hash_next = nb[b];
            nb[b] = n;
            n = next;
        }
    }
    nmr_free_persistent(s->buckets);
    s->buckets = nb;
    s->nbuckets = nbuckets;
}

/* Take n out of its chain.  Stripe lock held. */
static void unlink_locked(stripe *s, nmr_npi *n)
{
    nmr_npi **pp = &s->buckets[(n->hash >> 8) & (s->nbuckets - 1)];
    while (*pp != n)
        pp = &(*pp)->hash_next;
    *pp = n->hash_next;
    n->hash_next = NULL;
    s->count--;
}

/* A new entry for (h, registrar, id) in stripe s: the spare, or a new
 * one.  Stripe lock held.  NULL: no memory.  Out of line: the lookup that
 * finds its entry (the usual case) stays small. */
static __attribute__((noinline)) nmr_npi *insert_locked(stripe *s, uint64_t h,
                                                         uint64_t registrar,
                                                         const GUID *id)
{
    nmr_npi *n;
    if (s->spare != NULL) {
        n = s->spare;
        s->spare = NULL;
        unlink_locked(s, n);
    } else {
        n = nmr_alloc_persistent(sizeof(*n));
        if (n == NULL)
            return NULL;
        pthread_mutex_init(&n->lock, NULL);
#ifndef NDEBUG
        n->lock_held = 0; /* npi_index.h: nobody holds it */
#endif
        /* Waits with a deadline (the watchdog, timed waits) measure
         * on the monotonic clock. */
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&n->drained, &ca);
        pthread_condattr_destroy(&ca);
        nmr_list_init(&n->regs[0]);
        nmr_list_init(&n->regs[1]);
    }
    n->hash = h;
    n->registrar = registrar;
    n->id = *id;
    if (s->count >= s->nbuckets)
        rehash(s, s->nbuckets * 2);
    size_t b = (h >> 8) & (s->nbuckets - 1);
    n->hash_next = s->buckets[b];
    s->buckets[b] = n;
    s->count++;
    return n;
}

nmr_npi *nmr_npi_get(uint64_t registrar, const GUID *id)
{
    /* The default registrar's key is 0: its hash is the GUID's alone. */
    uint64_t h = guid_hash(id) ^ (registrar * 0xD6E8FEB86659FD93ull);
    stripe *s = &stripes[h % STRIPES];
    nmr_npi *n = NULL;

    stripe_lock_take(&s->lock);
    if (__builtin_expect(s->nbuckets == 0, 0)) {
        rehash(s, INITIAL_BUCKETS);
        if (s->nbuckets == 0)
            goto out;
    }
    for (n = s->buckets[(h >> 8) & (s->nbuckets - 1)]; n; n = n->hash_next)
        if (n->hash == h && n->registrar == registrar && guid_equal(&n->id, id))
            break;
    if (n != NULL) {
        if (n == s->spare)
            s->spare = NULL; /* parked: in use again, already linked */
    } else {
        n = insert_locked(s, h, registrar, id);
        if (n == NULL)
            goto out;
    }
    n->refs++;
out:
    stripe_lock_drop(&s->lock);
    return n;
}

void nmr_npi_put(nmr_npi *npi)
{
    stripe *s = &stripes[npi->hash % STRIPES];
    stripe_lock_take(&s->lock);
    if (--npi->refs > 0) {
        stripe_lock_drop(&s->lock);
        return;
    }
    /* Its lists are empty: no registration is left.  It becomes the
     * stripe's spare, parked in its chain; an older spare goes. */
    nmr_npi *old = s->spare;
    s->spare = npi;
    if (old != NULL)
        unlink_locked(s, old);
    stripe_lock_drop(&s->lock);
    if (old != NULL) {
        pthread_cond_destroy(&old->drained);
        pthread_mutex_destroy(&old->lock);
        nmr_free_persistent(old);
    }
}

int nmr_npi_foreach(void (*fn)(nmr_npi *npi, void *arg), void *arg)
{
    size_t n = 0, cap = 0;
    nmr_npi **all = NULL;
    int rc = 0;
    for (unsigned i = 0; i < STRIPES && rc == 0; i++) {
        stripe *s = &stripes[i];
        stripe_lock_take(&s->lock);
        if (n + s->count > cap) {
            size_t want = (n + s->count) * 2;
            nmr_npi **grown = nmr_alloc_persistent(want * sizeof(*grown));
            if (grown == NULL) {
                rc = -1;
            } else {
                if (n > 0)
                    memcpy(grown, all, n * sizeof(*grown));
                nmr_free_persistent(all);
                all = grown;
                cap = want;
            }
        }
        for (size_t b = 0; rc == 0 && b < s->nbuckets; b++)
            for (nmr_npi *e = s->buckets[b]; e != NULL; e = e->hash_next) {
                if (e == s->spare)
                    continue; /* parked: no registration, nothing to visit */
                e->refs++;
                all[n++] = e;
            }
        stripe_lock_drop(&s->lock);
    }
    for (size_t i = 0; i < n; i++) {
        if (rc == 0)
            fn(all[i], arg);
        nmr_npi_put(all[i]);
    }
    nmr_free_persistent(all);
    return rc;
}
