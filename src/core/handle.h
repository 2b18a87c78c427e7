/* SPDX-License-Identifier: MIT */
/*
 * handle.h - validated handles (R26, R27, R28).
 *
 * Every object a caller can name (client registration, provider
 * registration, binding) starts with a struct nmr_object and lives in one
 * slot of the handle table: the slot holds the object itself, so naming
 * an object costs no allocation of its own.  A HANDLE value encodes the
 * slot index, the slot's generation and the object's kind; looking a
 * handle up checks all three against the slot's word, so never-issued,
 * dead and wrong-kind handles are rejected without touching the object's
 * bytes (and slots are never freed, so no lookup touches freed memory).
 *
 * Objects are reference counted in the slot word itself: a lookup takes a
 * reference atomically with the validation, so an object cannot be
 * destroyed under a caller that validated it.  The handle's own "live"
 * reference is dropped by nmr_handle_retire(); whoever drops the last
 * reference runs the object's destroy function and recycles the slot (and
 * the object's bytes with it) with a new generation.
 *
 * Context: all functions are lock-free except slot allocation when the
 * table grows (a short mutex); none calls user code; callable anywhere.
 */
#ifndef NMR_SRC_HANDLE_H
#define NMR_SRC_HANDLE_H

#include <netioddk.h>
#include <assert.h>

#include "base/alloc.h"
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef enum nmr_handle_kind {
    NMR_HANDLE_CLIENT = 1,
    NMR_HANDLE_PROVIDER = 2,
    NMR_HANDLE_BINDING = 3
} nmr_handle_kind;

struct nmr_object;
typedef void nmr_object_destroy_fn(struct nmr_object *obj);

struct nmr_object {
    nmr_object_destroy_fn *destroy; /* runs when the last reference goes */
};

/* The largest object a slot holds (the binding: core.h checks). */
#define NMR_HANDLE_OBJECT_MAX 112

/*
 * A slot of the handle table (handle.c explains the table): its word, its
 * free-stack link and the object's bytes.  Public here only so that the
 * operations on an object the caller already holds (get, put, value) can
 * be inline: an object's slot is found from its address.  Slot word (64
 * bits, one atomic):
 *
 *     63            32 31  30 29  28            0
 *     [  generation  ][kind][live][  references  ]
 *
 * Two cache lines, 64-byte aligned: the word shares its line with the
 * first bytes of its own object only, so two threads' objects never share
 * a line (the word is written on every lookup of the object).
 */
typedef struct nmr_slot {
    _Atomic uint64_t word;
    _Atomic uint32_t next_free; /* index + 1 of the next free slot, 0 = end */
    uint32_t index;             /* its own index: set before the slot's chunk
                                   is published, never changed */
    _Alignas(16) unsigned char object[NMR_HANDLE_OBJECT_MAX]; /* the object */
} __attribute__((aligned(64))) nmr_slot;

/* The slot that holds obj. */
static inline nmr_slot *nmr_handle_slot_(const struct nmr_object *obj)
{
    return (nmr_slot *)(uintptr_t)((const char *)obj - offsetof(nmr_slot, object));
}

#define NMR_HANDLE_REFS_MASK ((uint64_t)0x1FFFFFFF)
#define NMR_HANDLE_LIVE_BIT ((uint64_t)1 << 29)
#define NMR_HANDLE_KIND_SHIFT 30
#define NMR_HANDLE_KIND_MASK ((uint64_t)3 << NMR_HANDLE_KIND_SHIFT)
#define NMR_HANDLE_GEN_SHIFT 32

/* ASan builds poison the object bytes of a free slot (handle.c). */
#if defined(__SANITIZE_ADDRESS__)
#define NMR_HANDLE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NMR_HANDLE_ASAN 1
#endif
#endif
#ifdef NMR_HANDLE_ASAN
#include <sanitizer/asan_interface.h>
#define NMR_HANDLE_POISON_(s) ASAN_POISON_MEMORY_REGION((s)->object, NMR_HANDLE_OBJECT_MAX)
#define NMR_HANDLE_UNPOISON_(s) ASAN_UNPOISON_MEMORY_REGION((s)->object, NMR_HANDLE_OBJECT_MAX)
#else
#define NMR_HANDLE_POISON_(s) ((void)(s))
#define NMR_HANDLE_UNPOISON_(s) ((void)(s))
#endif

/* The per-thread cache of free slots (handle.c explains it); here for
 * the inline reserve below. */
#define NMR_HANDLE_CACHE_MAX 64
typedef struct nmr_slot_cache {
    uint32_t n;
    uint32_t room; /* NMR_HANDLE_CACHE_MAX once the thread-exit hook is
                      registered, 0 before: one compare serves both checks
                      of a push */
    nmr_slot *s[NMR_HANDLE_CACHE_MAX]; /* the slots: no table walk to reuse one */
} nmr_slot_cache;
extern _Thread_local nmr_slot_cache nmr_handle_cache_;

/* handle.c: the cache is empty; the allocation is counted already (and
 * uncounted again on failure). */
void *nmr_handle_reserve_refill_(void);

/* The bytes (NMR_HANDLE_OBJECT_MAX, not cleared: the caller initialises
 * every field) of an object in a free slot, that no handle names yet:
 * lookups refuse it until nmr_handle_publish.  Counted as an allocation
 * (base/alloc.h: fault injection may fail it, and it is live until its
 * slot is recycled).  NULL when it failed or the table could not grow.
 * Inline: a registration and a binding each start here. */
static inline void *nmr_handle_reserve(void)
{
    if (nmr_alloc_slot_object() != 0)
        return NULL;
    nmr_slot_cache *c = &nmr_handle_cache_;
    if (__builtin_expect(c->n == 0, 0))
        return nmr_handle_reserve_refill_();
    nmr_slot *s = c->s[--c->n];
    NMR_HANDLE_UNPOISON_(s);
    return s->object;
}
/* Give back a reserved object that was never published. */
void nmr_handle_unreserve(struct nmr_object *obj);

/* The table (handle.c): chunk k holds 64 << k slots and is published
 * once, never freed or moved.  Here only for the inline lookup below. */
#define NMR_HANDLE_MAX_CHUNKS 24u
extern nmr_slot *_Atomic nmr_handle_chunks_[NMR_HANDLE_MAX_CHUNKS];

/* The slot of index, or NULL if its chunk was never published. */
static inline nmr_slot *nmr_handle_slot_at_(uint32_t index)
{
    uint32_t j = index + 64u;
    unsigned k = 31u - (unsigned)__builtin_clz(j) - 6u;
    if (k >= NMR_HANDLE_MAX_CHUNKS)
        return NULL;
    /* Pairs with the release store that publishes the chunk. */
    nmr_slot *c = atomic_load_explicit(&nmr_handle_chunks_[k], memory_order_acquire);
    return c ? &c[j - (64u << k)] : NULL;
}

/* Give a reserved object its handle; it starts with one reference (the
 * live one).  Cannot fail. */
static inline HANDLE nmr_handle_publish(struct nmr_object *obj, nmr_handle_kind kind,
                                        nmr_object_destroy_fn *destroy)
{
    nmr_slot *s = nmr_handle_slot_(obj);
    obj->destroy = destroy;
    uint64_t gen = atomic_load_explicit(&s->word, memory_order_relaxed) >> NMR_HANDLE_GEN_SHIFT;
    /* Release: a lookup that sees the live bit also sees the object's
     * fields. */
    atomic_store_explicit(&s->word,
                          (gen << NMR_HANDLE_GEN_SHIFT) |
                              ((uint64_t)kind << NMR_HANDLE_KIND_SHIFT) | NMR_HANDLE_LIVE_BIT | 1,
                          memory_order_release);
    return (HANDLE)(uintptr_t)((gen << NMR_HANDLE_GEN_SHIFT) | ((uint64_t)s->index << 2) |
                               (uint64_t)kind);
}

/* Validate h as a live handle of the given kind and take a reference.
 * NULL when h is unknown, dead or of another kind.  Inline: every API
 * call that takes a handle starts here, and the kind is a constant. */
static inline struct nmr_object *nmr_handle_ref(HANDLE h, nmr_handle_kind kind)
{
    uint64_t v = (uint64_t)(uintptr_t)h;
    if ((v & 3) != (uint64_t)kind)
        return NULL;
    nmr_slot *s = nmr_handle_slot_at_((uint32_t)((v >> 2) & 0x3FFFFFFFu));
    if (s == NULL)
        return NULL;
    /* the word this handle's object has while it lives, references aside */
    uint64_t expect_hi = (v >> NMR_HANDLE_GEN_SHIFT << NMR_HANDLE_GEN_SHIFT) |
                         ((uint64_t)kind << NMR_HANDLE_KIND_SHIFT) | NMR_HANDLE_LIVE_BIT;
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    for (;;) {
        if ((w & ~NMR_HANDLE_REFS_MASK) != expect_hi)
            return NULL;
        assert((w & NMR_HANDLE_REFS_MASK) != NMR_HANDLE_REFS_MASK);
        /* Acquire: the object's fields were written before its live bit
         * (release in publish). */
        if (atomic_compare_exchange_weak_explicit(&s->word, &w, w + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            return (struct nmr_object *)(void *)s->object;
    }
}

/* The handle value of a live object (for passing to callbacks). */
static inline HANDLE nmr_handle_value(const struct nmr_object *obj)
{
    const nmr_slot *s = nmr_handle_slot_(obj);
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    return (HANDLE)(uintptr_t)((w >> NMR_HANDLE_GEN_SHIFT << NMR_HANDLE_GEN_SHIFT) |
                               ((uint64_t)s->index << 2) |
                               ((w & NMR_HANDLE_KIND_MASK) >> NMR_HANDLE_KIND_SHIFT));
}

/* Is h the live handle of obj, an object the caller holds a reference on?
 * (What nmr_handle_ref would say, without taking a reference.) */
static inline int nmr_handle_is(const struct nmr_object *obj, HANDLE h)
{
    uint64_t w = atomic_load_explicit(&nmr_handle_slot_(obj)->word, memory_order_relaxed);
    return (w & NMR_HANDLE_LIVE_BIT) && nmr_handle_value(obj) == h;
}

/* One more reference on an object the caller already holds one on. */
static inline void nmr_handle_get(struct nmr_object *obj)
{
    uint64_t old = atomic_fetch_add_explicit(&nmr_handle_slot_(obj)->word, 1,
                                             memory_order_relaxed);
    assert((old & NMR_HANDLE_REFS_MASK) != 0);
    (void)old;
}

/* handle.c: the last reference is gone (word: the slot word after the
 * drop); destroy the object and recycle its slot. */
void nmr_handle_release_(struct nmr_object *obj, uint64_t word);

/* Drop a reference; the last one destroys the object. */
static inline void nmr_handle_put(struct nmr_object *obj)
{
    /* acq_rel: every write to the object happens before its destruction. */
    uint64_t old = atomic_fetch_sub_explicit(&nmr_handle_slot_(obj)->word, 1,
                                             memory_order_acq_rel);
    assert((old & NMR_HANDLE_REFS_MASK) != 0);
    if ((old & (NMR_HANDLE_REFS_MASK | NMR_HANDLE_LIVE_BIT)) == 1)
        nmr_handle_release_(obj, old - 1);
}
/* Clear the live bit and drop refs references in one atomic step. */
static inline void nmr_handle_retire_drop_(struct nmr_object *obj, uint64_t refs)
{
    uint64_t old = atomic_fetch_sub_explicit(&nmr_handle_slot_(obj)->word,
                                             NMR_HANDLE_LIVE_BIT + refs, memory_order_acq_rel);
    assert(old & NMR_HANDLE_LIVE_BIT);
    assert((old & NMR_HANDLE_REFS_MASK) >= refs);
    if ((old & NMR_HANDLE_REFS_MASK) == refs)
        nmr_handle_release_(obj, old - NMR_HANDLE_LIVE_BIT - refs);
}

/* Make the handle dead for every future lookup and drop the live
 * reference.  Called once per object. */
static inline void nmr_handle_retire(struct nmr_object *obj)
{
    nmr_handle_retire_drop_(obj, 1);
}

/* nmr_handle_retire() and nmr_handle_put() in one atomic step. */
static inline void nmr_handle_retire_put(struct nmr_object *obj)
{
    nmr_handle_retire_drop_(obj, 2);
}

/* How many handle-table slots are in use (live or still referenced).  0
 * once everything has been deregistered and waited for (tests, with the
 * integrity check of core/invariants.h). */
unsigned long nmr_handles_in_use(void);

/* Slots the table holds now, in use or free (for tests). */
unsigned long nmr_handle_capacity(void);

/* Size of one handle-table slot, its object included (for memory
 * accounting). */
size_t nmr_handle_slot_bytes(void);

#endif
