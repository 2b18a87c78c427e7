/* SPDX-License-Identifier: MIT */
/*
 * handle.c - the handle table: slot index + generation, validated by kind.
 *
 * The table is a segmented array that only grows: chunk k holds
 * (FIRST_CHUNK << k) slots, and a chunk, once published, is never freed or
 * moved, so a lookup may read any slot of any published chunk at any time
 * without a lock (R26: no freed memory is ever touched by a lookup).
 *
 * Slot word (64 bits, one atomic; handle.h draws it).  A slot holds its
 * object's bytes too, so the operations on a held object (get, put,
 * retire, value) find the word from the object's address; only a lookup
 * by handle value walks the table.  A registration or a binding costs no
 * allocation of its own: reserving its slot is its allocation (counted
 * and fault-injectable like one, base/alloc.h), recycling the slot its
 * free.
 *
 * A handle is (generation << 32) | (index << 2) | kind, so a handle is
 * never NULL (kind != 0) and a handle from an earlier life of the slot has
 * another generation (R28).  A lookup succeeds only by a CAS that sees the
 * right generation and kind with the live bit set and adds one reference;
 * the object's fields were written before the live bit (release in
 * publish, acquire in the lookup's CAS).  A reserved slot's word has the
 * generation its handle will have, but no live bit: lookups refuse it.
 *
 * ASan builds poison a free slot's object bytes, and hold recycled slots
 * in a quarantine (first in, first out) before they are reused, so a use
 * after the last reference is reported as it is for heap memory.
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

#define REFS_MASK NMR_HANDLE_REFS_MASK
#define LIVE_BIT NMR_HANDLE_LIVE_BIT
#define KIND_SHIFT NMR_HANDLE_KIND_SHIFT
#define KIND_MASK NMR_HANDLE_KIND_MASK
#define GEN_SHIFT NMR_HANDLE_GEN_SHIFT

typedef nmr_slot slot;
_Static_assert(sizeof(slot) == 128, "two cache lines per slot, the object's included");
_Static_assert(offsetof(slot, object) == 16, "the object follows the word");

#define POISON(s) NMR_HANDLE_POISON_(s)
#define UNPOISON(s) NMR_HANDLE_UNPOISON_(s)

/* The chunks (handle.h: nmr_handle_chunks_, for the inline lookup). */
#define chunks nmr_handle_chunks_
slot *_Atomic nmr_handle_chunks_[NMR_HANDLE_MAX_CHUNKS];
_Static_assert(MAX_CHUNKS == NMR_HANDLE_MAX_CHUNKS && FIRST_CHUNK == 64u && MAX_INDEX == 0x3FFFFFFFu,
               "handle.h's inline lookup walks the same table");
static unsigned chunk_count;            /* protected by grow_lock */
static pthread_mutex_t grow_lock = PTHREAD_MUTEX_INITIALIZER;
/* Free stack head: (tag << 32) | (index + 1); index + 1 == 0 means empty. */
static _Atomic uint64_t free_head;

#define slot_at(index) nmr_handle_slot_at_(index)

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
    /* Aligned to the slot's size: each slot is exactly its two cache
     * lines (malloc's 16-byte alignment would let an object's last bytes,
     * written on every detach, share a line with the next slot's word, and
     * two threads' objects false-share: W5). */
    slot *c = nmr_alloc_persistent_aligned(sizeof(slot), sizeof(slot) * n);
    if (c == NULL) {
        rc = -1;
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        atomic_init(&c[i].word, (uint64_t)1 << GEN_SHIFT);
        atomic_init(&c[i].next_free, i + 1 < n ? base + i + 2 : 0);
        c[i].index = base + i;
        POISON(&c[i]);
    }
    atomic_store_explicit(&chunks[k], c, memory_order_release);
    chunk_count++;
    push_free_chain(base, base + n - 1);
out:
    pthread_mutex_unlock(&grow_lock);
    return rc;
}

static slot *quarantine_take(void);

static int pop_global(uint32_t *index)
{
    for (;;) {
        uint64_t head = atomic_load_explicit(&free_head, memory_order_acquire);
        uint32_t top = (uint32_t)head;
        if (top == 0) {
            slot *q = quarantine_take(); /* ASan: before the table grows */
            if (q != NULL) {
                *index = q->index;
                return 0;
            }
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
#define CACHE_MAX NMR_HANDLE_CACHE_MAX
#define CACHE_BATCH 32

typedef nmr_slot_cache slot_cache;

/* handle.h's inline reserve pops from it too */
#define cache nmr_handle_cache_
_Thread_local slot_cache nmr_handle_cache_;
static pthread_key_t cache_key;
static pthread_once_t cache_key_once = PTHREAD_ONCE_INIT;

/* Link cached slots [from, from + n) into a chain and push it at once. */
static void flush_cache(slot_cache *c, uint32_t from, uint32_t n)
{
    if (n == 0)
        return;
    for (uint32_t i = from; i + 1 < from + n; i++)
        atomic_store_explicit(&c->s[i]->next_free, c->s[i + 1]->index + 1,
                              memory_order_relaxed);
    push_free_chain(c->s[from]->index, c->s[from + n - 1]->index);
}

static void cache_thread_exit(void *p)
{
    (void)p;
    flush_cache(&cache, 0, cache.n);
    cache.n = 0;
    cache.room = 0; /* a later free on this thread registers again */
}

static void make_cache_key(void)
{
    nmr_thread_key_create(&cache_key, cache_thread_exit);
}

/* Register once so the cache is returned when the thread exits. */
static void hook_cache(void)
{
    if (cache.room == 0) {
        pthread_once(&cache_key_once, make_cache_key);
        pthread_setspecific(cache_key, &cache);
        cache.room = CACHE_MAX;
    }
}

/* Take up to n slots off the shared stack in one compare-and-swap: walk
 * n links from its head and swing the head past them.  The links read
 * may be stale (another thread may pop and reuse those slots meanwhile),
 * but then the head has moved or, if it is back where it was, its tag
 * has (every push changes it), and the swap fails.  Slots are never
 * freed, so every read is of a slot; a stale index past the table ends
 * the walk.  Returns how many were taken (0: the stack is empty). */
static uint32_t pop_global_chain(slot **out, uint32_t n)
{
    for (;;) {
        uint64_t head = atomic_load_explicit(&free_head, memory_order_acquire);
        uint32_t link = (uint32_t)head, got = 0;
        while (got < n && link != 0) {
            slot *s = slot_at(link - 1);
            if (s == NULL)
                break; /* stale: the swap below fails */
            out[got++] = s;
            link = atomic_load_explicit(&s->next_free, memory_order_relaxed);
        }
        if (got == 0)
            return 0;
        uint64_t want = (head & ~(uint64_t)0xFFFFFFFF) | link;
        if (atomic_compare_exchange_weak_explicit(&free_head, &head, want,
                                                  memory_order_acquire,
                                                  memory_order_relaxed))
            return got;
    }
}

/* The cache is empty: refill it with a batch from the shared stack (a
 * thread that makes many objects, W4's fan-out, pays one swap per batch,
 * not one per slot); when the stack is empty, one slot from the
 * quarantine or a new chunk. */
static __attribute__((noinline)) slot *refill_cache(void)
{
    hook_cache(); /* slots it caches go back when it exits */
    uint32_t got = pop_global_chain(cache.s, CACHE_BATCH);
    if (got > 0) {
        cache.n = got - 1;
        return cache.s[got - 1];
    }
    uint32_t index;
    if (pop_global(&index) != 0)
        return NULL;
    return slot_at(index);
}

static slot *pop_free(void)
{
    if (__builtin_expect(cache.n > 0, 1))
        return cache.s[--cache.n];
    return refill_cache();
}

/* The cache is full, or the thread's first push: make room. */
static void make_room(void)
{
    hook_cache();
    if (cache.n == CACHE_MAX) {
        flush_cache(&cache, 0, CACHE_BATCH);
        for (uint32_t i = CACHE_BATCH; i < CACHE_MAX; i++)
            cache.s[i - CACHE_BATCH] = cache.s[i];
        cache.n -= CACHE_BATCH;
    }
}

static void push_free(slot *s)
{
    if (__builtin_expect(cache.n >= cache.room, 0))
        make_room();
    cache.s[cache.n++] = s;
}

#ifdef NMR_HANDLE_ASAN
/* Recycled slots wait here, oldest first, before they are reused: a use
 * of an object after its last reference then finds poisoned bytes, not
 * the next object.  The free path takes the oldest when the stack is
 * empty, so the quarantine never makes the table grow. */
#define QUARANTINE 256
static pthread_mutex_t quarantine_lock = PTHREAD_MUTEX_INITIALIZER;
static slot *quarantine[QUARANTINE]; /* quarantine_lock */
static unsigned q_first, q_count;     /* quarantine_lock */

static slot *quarantine_take(void)
{
    slot *s = NULL;
    pthread_mutex_lock(&quarantine_lock);
    if (q_count > 0) {
        s = quarantine[q_first];
        q_first = (q_first + 1) % QUARANTINE;
        q_count--;
    }
    pthread_mutex_unlock(&quarantine_lock);
    return s;
}

/* s is recycled: it goes to the quarantine, and the oldest, if the
 * quarantine is full, to the free stack. */
static void recycle(slot *s)
{
    slot *out = NULL;
    pthread_mutex_lock(&quarantine_lock);
    if (q_count == QUARANTINE) {
        out = quarantine[q_first];
        q_first = (q_first + 1) % QUARANTINE;
        q_count--;
    }
    quarantine[(q_first + q_count) % QUARANTINE] = s;
    q_count++;
    pthread_mutex_unlock(&quarantine_lock);
    if (out != NULL)
        push_free(out);
}
#else
static slot *quarantine_take(void)
{
    return NULL;
}
#define recycle(s) push_free(s)
#endif

void *nmr_handle_reserve_refill_(void)
{
    slot *s = pop_free();
    if (s == NULL) {
        nmr_free_slot_object();
        return NULL;
    }
    UNPOISON(s);
    return s->object;
}

void nmr_handle_unreserve(struct nmr_object *obj)
{
    slot *s = nmr_handle_slot_(obj);
    assert((atomic_load_explicit(&s->word, memory_order_relaxed) & (LIVE_BIT | REFS_MASK)) == 0);
    nmr_free_slot_object();
    POISON(s);
    /* No handle was made from its generation: the slot is reused as it is. */
    recycle(s);
}

/* Last reference gone: destroy the object, then recycle the slot (and
 * the object's bytes with it). */
void nmr_handle_release_(struct nmr_object *obj, uint64_t word)
{
    slot *s = nmr_handle_slot_(obj);
    obj->destroy(obj);
    nmr_free_slot_object();
    POISON(s);
    uint64_t gen = (word >> GEN_SHIFT) + 1;
    /* Release: the object's last writes happen before the slot's reuse
     * by a thread that pops it from the free stack (acquire). */
    atomic_store_explicit(&s->word, (gen & 0xFFFFFFFF) << GEN_SHIFT,
                          memory_order_release);
    if (gen > 0xFFFFFFFF)
        return; /* generation would wrap: keep the slot out of use (R28) */
    recycle(s);
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
