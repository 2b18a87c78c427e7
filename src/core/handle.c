/* SPDX-License-Identifier: MIT */
/*
 * handle.c - the handle table: slot index + generation, validated by kind.
 *
 * The table is a segmented array that only grows: chunk k holds
 * (FIRST_CHUNK << k) slots, and a chunk, once published, is never freed or
 * moved, so a lookup may read any slot of any published chunk at any time
 * without a lock (R26: no freed memory is ever touched by a lookup).
 *
 * Slot word (64 bits, one atomic):
 *
 *     63            32 31  30 29  28            0
 *     [  generation  ][kind][live][  references  ]
 *
 * A handle is (generation << 32) | (index << 2) | kind, so a handle is
 * never NULL (kind != 0) and a handle from an earlier life of the slot has
 * another generation (R28).  A lookup succeeds only by a CAS that sees the
 * right generation and kind with the live bit set and adds one reference;
 * the object pointer was published before the live bit (release in create,
 * acquire in the lookup's CAS).
 *
 * Free slots form a lock-free stack whose head carries a tag that changes
 * on every push, so a pop cannot be fooled by a slot popped and pushed
 * again in between (ABA).  A slot whose generation is about to wrap is
 * retired for good instead of being reused.
 */
#include "core/handle.h"

#include "base/alloc.h"
#include "base/thread_key.h"

#include <assert.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

_Static_assert(sizeof(void *) == 8, "handles pack 64 bits: 64-bit platforms only");

#define FIRST_CHUNK_SHIFT 6u
#define FIRST_CHUNK (1u << FIRST_CHUNK_SHIFT)
#define MAX_CHUNKS 24u           /* 64 * (2^24 - 1) slots: about 10^9 */
#define MAX_INDEX 0x3FFFFFFFu    /* what fits in the handle's 30 index bits */

#define REFS_MASK ((uint64_t)0x1FFFFFFF)
#define LIVE_BIT ((uint64_t)1 << 29)
#define KIND_SHIFT 30
#define KIND_MASK ((uint64_t)3 << KIND_SHIFT)
#define GEN_SHIFT 32

/* One cache line each: the word is written on every lookup of the
 * object, and two threads' objects must not share a line. */
typedef struct slot {
    _Atomic uint64_t word;
    struct nmr_object *_Atomic obj;
    _Atomic uint32_t next_free; /* index + 1 of the next free slot, 0 = end */
} __attribute__((aligned(64))) slot;

static slot *_Atomic chunks[MAX_CHUNKS];
static unsigned chunk_count;            /* protected by grow_lock */
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
/* Free stack head: (tag << 32) | (index + 1); index + 1 == 0 means empty. */
static _Atomic uint64_t free_head;

static inline unsigned chunk_of(uint32_t index, uint32_t *offset)
{
    uint32_t j = index + FIRST_CHUNK;
    unsigned msb = 31u - (unsigned)__builtin_clz(j);
    unsigned k = msb - FIRST_CHUNK_SHIFT;
    *offset = j - (FIRST_CHUNK << k);
    return k;
}

/* The slot for index, or NULL if that chunk was never published. */
static inline slot *slot_at(uint32_t index)
{
    uint32_t offset;
    unsigned k = chunk_of(index, &offset);
    if (k >= MAX_CHUNKS)
        return NULL;
    /* Pairs with the release store in grow(). */
    slot *c = atomic_load_explicit(&chunks[k], memory_order_acquire);
    return c ? &c[offset] : NULL;
}

static void push_free_chain(uint32_t first, uint32_t last)
{
    slot *tail = slot_at(last);
    uint64_t head = atomic_load_explicit(&free_head, memory_order_relaxed);
    uint64_t next;
    do {
        atomic_store_explicit(&tail->next_free, (uint32_t)head,
                              memory_order_relaxed);
        next = (((head >> 32) + 1) << 32) | (uint64_t)(first + 1);
    } while (!atomic_compare_exchange_weak_explicit(
        &free_head, &head, next, memory_order_release, memory_order_relaxed));
}

/* Publish one more chunk and put its slots on the free stack. */
static int grow(void)
{
    int rc = 0;
    pthread_mutex_lock(&grow_lock);
    uint64_t head = atomic_load_explicit(&free_head, memory_order_acquire);
    if ((uint32_t)head != 0)
        goto out; /* someone else grew the table meanwhile */
    if (chunk_count >= MAX_CHUNKS) {
        rc = -1;
        goto out;
    }
    unsigned k = chunk_count;
    uint32_t n = FIRST_CHUNK << k;
    uint32_t base = (FIRST_CHUNK << k) - FIRST_CHUNK;
    if (base + n - 1 > MAX_INDEX) {
        rc = -1;
        goto out;
    }
    slot *c = nmr_alloc_persistent(sizeof(slot) * n);
    if (c == NULL) {
        rc = -1;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        atomic_init(&c[i].word, (uint64_t)1 << GEN_SHIFT);
        atomic_init(&c[i].obj, NULL);
        atomic_init(&c[i].next_free, i + 1 < n ? base + i + 2 : 0);
    }
    atomic_store_explicit(&chunks[k], c, memory_order_release);
    chunk_count++;
    push_free_chain(base, base + n - 1);
out:
    pthread_mutex_unlock(&grow_lock);
    return rc;
}

static int pop_global(uint32_t *index)
{
    for (;;) {
        uint64_t head = atomic_load_explicit(&free_head, memory_order_acquire);
        uint32_t top = (uint32_t)head;
        if (top == 0) {
            if (grow() != 0)
                return -1;
            continue;
        }
        slot *s = slot_at(top - 1);
        uint32_t next = atomic_load_explicit(&s->next_free, memory_order_relaxed);
        uint64_t want = (head & ~(uint64_t)0xFFFFFFFF) | next;
        if (atomic_compare_exchange_weak_explicit(&free_head, &head, want,
                                                  memory_order_acquire,
                                                  memory_order_relaxed)) {
            *index = top - 1;
            return 0;
        }
    }
}

/*
 * Per-thread cache of free slots.  A thread that frees a slot keeps it for
 * its next allocation, so churn on one thread never touches the shared
 * stack and two threads' objects rarely share a cache line.  Slots move
 * between the cache and the shared stack CACHE_BATCH at a time; a thread's
 * cache goes back to the shared stack when the thread exits.
 */
#define CACHE_MAX 64
#define CACHE_BATCH 32

typedef struct slot_cache {
    uint32_t n;
    uint32_t index[CACHE_MAX];
} slot_cache;

static _Thread_local slot_cache cache;
static _Thread_local int cache_registered;
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

/* Link cached slots [from, from + n) into a chain and push it at once. */
static void flush_cache(slot_cache *c, uint32_t from, uint32_t n)
{
    if (n == 0)
        return;
    for (uint32_t i = from; i + 1 < from + n; i++)
        atomic_store_explicit(&slot_at(c->index[i])->next_free,
                              c->index[i + 1] + 1, memory_order_relaxed);
    push_free_chain(c->index[from], c->index[from + n - 1]);
}

static void cache_thread_exit(void *p)
{
    (void)p;
    flush_cache(&cache, 0, cache.n);
    cache.n = 0;
    cache_registered = 0; /* a later free on this thread registers again */
}

static void make_cache_key(void)
{
    nmr_thread_key_create(&cache_key, cache_thread_exit);
}

static int pop_free(uint32_t *index)
{
    if (cache.n > 0) {
        *index = cache.index[--cache.n];
        return 0;
    }
    return pop_global(index);
}

static void push_free(uint32_t index)
{
    if (!cache_registered) {
        /* Register once so the cache is returned when the thread exits. */
        pthread_once(&cache_key_once, make_cache_key);
        pthread_setspecific(cache_key, &cache);
        cache_registered = 1;
    }
    if (cache.n == CACHE_MAX) {
        flush_cache(&cache, 0, CACHE_BATCH);
        for (uint32_t i = CACHE_BATCH; i < CACHE_MAX; i++)
            cache.index[i - CACHE_BATCH] = cache.index[i];
        cache.n -= CACHE_BATCH;
    }
    cache.index[cache.n++] = index;
}

int nmr_handle_create(struct nmr_object *obj, nmr_handle_kind kind,
                      nmr_object_destroy_fn *destroy, HANDLE *out)
{
    uint32_t index;
    if (pop_free(&index) != 0)
        return -1;
    slot *s = slot_at(index);
    obj->destroy = destroy;
    obj->slot = index;
    atomic_store_explicit(&s->obj, obj, memory_order_relaxed);
    uint64_t gen = atomic_load_explicit(&s->word, memory_order_relaxed) >> GEN_SHIFT;
    /* Release: a lookup that sees LIVE_BIT also sees obj and its fields. */
    atomic_store_explicit(&s->word,
                          (gen << GEN_SHIFT) | ((uint64_t)kind << KIND_SHIFT) |
                              LIVE_BIT | 1,
                          memory_order_release);
    *out = (HANDLE)(uintptr_t)((gen << GEN_SHIFT) | ((uint64_t)index << 2) |
                               (uint64_t)kind);
    return 0;
}

HANDLE nmr_handle_value(const struct nmr_object *obj)
{
    slot *s = slot_at(obj->slot);
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    return (HANDLE)(uintptr_t)((w >> GEN_SHIFT << GEN_SHIFT) |
                               ((uint64_t)obj->slot << 2) |
                               ((w & KIND_MASK) >> KIND_SHIFT));
}

struct nmr_object *nmr_handle_ref(HANDLE h, nmr_handle_kind kind)
{
    uint64_t v = (uint64_t)(uintptr_t)h;
    if ((v & 3) != (uint64_t)kind)
        return NULL;
    uint32_t index = (uint32_t)((v >> 2) & MAX_INDEX);
    slot *s = slot_at(index);
    if (s == NULL)
        return NULL;
    uint64_t expect_hi = (v >> GEN_SHIFT << GEN_SHIFT) |
                         ((uint64_t)kind << KIND_SHIFT) | LIVE_BIT;
    uint64_t w = atomic_load_explicit(&s->word, memory_order_relaxed);
    for (;;) {
        if ((w & ~REFS_MASK) != expect_hi)
            return NULL;
        assert((w & REFS_MASK) != REFS_MASK);
        if (atomic_compare_exchange_weak_explicit(&s->word, &w, w + 1,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return atomic_load_explicit(&s->obj, memory_order_relaxed);
    }
}

void nmr_handle_get(struct nmr_object *obj)
{
    slot *s = slot_at(obj->slot);
    uint64_t old = atomic_fetch_add_explicit(&s->word, 1, memory_order_relaxed);
    assert((old & REFS_MASK) != 0);
    (void)old;
}

/* Last reference gone: destroy the object, then recycle the slot. */
static void release_slot(struct nmr_object *obj, uint64_t word)
{
    uint32_t index = obj->slot;
    slot *s = slot_at(index);
    obj->destroy(obj);
    uint64_t gen = (word >> GEN_SHIFT) + 1;
    atomic_store_explicit(&s->obj, NULL, memory_order_relaxed);
    atomic_store_explicit(&s->word, (gen & 0xFFFFFFFF) << GEN_SHIFT,
                          memory_order_release);
    if (gen > 0xFFFFFFFF)
        return; /* generation would wrap: keep the slot out of use (R28) */
    push_free(index);
}

void nmr_handle_put(struct nmr_object *obj)
{
    slot *s = slot_at(obj->slot);
    /* acq_rel: every write to the object happens before its destruction. */
    uint64_t old = atomic_fetch_sub_explicit(&s->word, 1, memory_order_acq_rel);
    assert((old & REFS_MASK) != 0);
    if ((old & (REFS_MASK | LIVE_BIT)) == 1)
        release_slot(obj, old - 1);
}

/* Clear the live bit and drop refs references in one step. */
static void retire_drop(struct nmr_object *obj, uint64_t refs)
{
    slot *s = slot_at(obj->slot);
    uint64_t old = atomic_fetch_sub_explicit(&s->word, LIVE_BIT + refs,
                                             memory_order_acq_rel);
    assert(old & LIVE_BIT);
    assert((old & REFS_MASK) >= refs);
    if ((old & REFS_MASK) == refs)
        release_slot(obj, old - LIVE_BIT - refs);
}

void nmr_handle_retire(struct nmr_object *obj)
{
    retire_drop(obj, 1);
}

void nmr_handle_retire_put(struct nmr_object *obj)
{
    retire_drop(obj, 2);
}

size_t nmr_handle_slot_bytes(void)
{
    return sizeof(slot);
}

unsigned long nmr_handles_in_use(void)
{
    unsigned long n = 0;
    pthread_mutex_lock(&grow_lock);
    for (unsigned k = 0; k < chunk_count; k++) {
        slot *c = atomic_load_explicit(&chunks[k], memory_order_acquire);
        for (uint32_t i = 0; i < (FIRST_CHUNK << k); i++) {
            uint64_t w = atomic_load_explicit(&c[i].word, memory_order_relaxed);
            if (w & (LIVE_BIT | REFS_MASK))
                n++;
        }
    }
    pthread_mutex_unlock(&grow_lock);
    return n;
}

unsigned long nmr_handle_capacity(void)
{
    pthread_mutex_lock(&grow_lock);
    unsigned long n = ((unsigned long)FIRST_CHUNK << chunk_count) - FIRST_CHUNK;
    pthread_mutex_unlock(&grow_lock);
    return n;
}
