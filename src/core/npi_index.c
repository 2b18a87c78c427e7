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
 * spare (its lock free, its condition quiet), parked where it
 * is: still in its hash chain, with no reference.  The next registration
 * of the same NPI finds it by the ordinary lookup and takes it back (a
 * module that registers and deregisters alone in a loop neither creates
 * nor re-links its entry); a new NPI of that stripe unlinks it and reuses
 * it.  A stripe keeps at most one: when a second entry loses its last
 * reference, the older spare is freed.  Invariant: an entry in a chain
 * has references, or is its stripe's spare.  Entries are index
 * infrastructure, like the handle table: allocated with
 * nmr_alloc_persistent, at most STRIPES spares are ever kept.
 *
 * Each thread pins the last NPI it looked up: it holds one reference on
 * it (counted in refs and in pins), so that entry cannot be parked,
 * reused or freed while pinned.  The next lookup of the same NPI on that
 * thread (a module that registers again, a client registering against
 * the provider it just bound) then costs one atomic increment: no hash,
 * no stripe lock.  A put that leaves a reference behind is one atomic
 * decrement; only the last reference's put takes the stripe lock (refs
 * goes to 0, and leaves 0, only under it).  A lookup of another NPI moves
 * the pin; the thread's exit drops it.  A pinned entry without
 * registrations is not an NPI in use: nmr_npi_foreach skips it as it
 * skips a parked one.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "core/npi_index.h"

#include "base/alloc.h"
#include "base/thread_key.h"

#include <pthread.h>
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
        n = nmr_alloc_persistent_aligned(_Alignof(nmr_npi), sizeof(*n));
        if (n == NULL)
            return NULL;
        /* a free lock and a quiet condition (base/lock.h) */
        atomic_init(&n->lock.word, 0);
        atomic_init(&n->drained.seq, 0);
#ifndef NDEBUG
        n->lock_held = 0; /* npi_index.h: nobody holds it */
#endif
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

/* The NPI this thread pins (one reference of its own), or NULL. */
static _Thread_local nmr_npi *pinned;
/* 1 once this thread's exit hook is registered, -1 if it could not be:
 * a thread pins only when its exit will drop the pin. */
static _Thread_local signed char pin_hooked;
static pthread_key_t pin_key;
static pthread_once_t pin_key_once = PTHREAD_ONCE_INIT;
static int pin_key_ok;

static void put_locked_path(nmr_npi *npi, int unpin);

static void pin_thread_exit(void *p)
{
    (void)p;
    nmr_npi *n = pinned;
    pinned = NULL;
    pin_hooked = 0; /* a later lookup on this thread registers again */
    if (n != NULL)
        put_locked_path(n, 1);
}

static void make_pin_key(void)
{
    pin_key_ok = nmr_thread_key_create(&pin_key, pin_thread_exit) == 0;
}

static int pin_hook(void)
{
    if (pin_hooked == 0) {
        pthread_once(&pin_key_once, make_pin_key);
        /* the value only makes the destructor run; pinned is the state */
        pin_hooked = pin_key_ok && pthread_setspecific(pin_key, &pinned) == 0 ? 1 : -1;
    }
    return pin_hooked > 0;
}

/* The lookup proper: under the stripe lock, with one reference for the
 * caller and, when pin is set, one more for this thread's pin. */
static nmr_npi *get_locked_path(uint64_t registrar, const GUID *id, int pin)
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
    atomic_fetch_add_explicit(&n->refs, pin ? 2u : 1u, memory_order_relaxed);
    n->pins += pin ? 1u : 0u;
out:
    stripe_lock_drop(&s->lock);
    return n;
}

/* Not the pinned NPI: the lookup proper, and the pin moves to its
 * answer.  p: the old pin, or NULL. */
static __attribute__((noinline)) nmr_npi *get_unpinned(uint64_t registrar, const GUID *id,
                                                        nmr_npi *p)
{
    int pin = pin_hook();
    nmr_npi *n = get_locked_path(registrar, id, pin);
    if (n != NULL && pin) {
        pinned = n;
        if (p != NULL)
            put_locked_path(p, 1); /* the old pin */
    }
    return n;
}

nmr_npi *nmr_npi_get(uint64_t registrar, const GUID *id)
{
    nmr_npi *p = pinned;
    /* Pinned: refs >= 1 until this thread moves the pin, so the entry's
     * identity (written before it was pinned, under the stripe lock this
     * thread took then) cannot change under this read. */
    if (__builtin_expect(p != NULL && p->registrar == registrar && guid_equal(&p->id, id), 1)) {
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
        return p;
    }
    return get_unpinned(registrar, id, p);
}

/* The put that may drop the last reference; unpin: the reference is this
 * thread's pin. */
static void put_locked_path(nmr_npi *npi, int unpin)
{
    stripe *s = &stripes[npi->hash % STRIPES];
    stripe_lock_take(&s->lock);
    npi->pins -= unpin ? 1u : 0u;
    /* acq_rel: every use of the entry by the other references' holders
     * (their lock-free puts release) happens before it is parked. */
    if (atomic_fetch_sub_explicit(&npi->refs, 1, memory_order_acq_rel) > 1) {
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
    if (old != NULL)
        nmr_free_persistent(old);
}

void nmr_npi_put(nmr_npi *npi)
{
    unsigned r = atomic_load_explicit(&npi->refs, memory_order_relaxed);
    /* Not the last reference: one atomic step, no lock.  Release: this
     * holder's uses happen before whoever parks the entry later. */
    while (r > 1)
        if (atomic_compare_exchange_weak_explicit(&npi->refs, &r, r - 1, memory_order_release,
                                                  memory_order_relaxed))
            return;
    put_locked_path(npi, 0);
}

unsigned nmr_npi_uses(const nmr_npi *npi)
{
    return atomic_load_explicit(&npi->refs, memory_order_relaxed) - npi->pins;
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
                if (e == s->spare ||
                    atomic_load_explicit(&e->refs, memory_order_relaxed) == e->pins)
                    continue; /* parked, or only pinned: not in use */
                atomic_fetch_add_explicit(&e->refs, 1, memory_order_relaxed);
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
