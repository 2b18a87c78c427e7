/* SPDX-License-Identifier: MIT */
/*
 * alloc.c - the one door through which libnmr allocates memory.
 *
 * Every allocation is counted; tests can arm a failure at the n-th one
 * (nmr_alloc_fail_at) to prove that each allocation failure is handled
 * (R2, R32).  Live counts let tests check that everything allocated
 * for registrations and bindings is freed again (R31).  A small size
 * header keeps the byte count exact without asking the C library.
 *
 * The counters sit on the hot path of every registration, so they are per
 * thread: each thread adds to its own block with plain relaxed stores (one
 * writer, no read-modify-write, no shared cache line), and readers sum the
 * blocks.  A thread's block outlives the thread and is handed to the next
 * new thread, so sums stay exact.  Fault injection costs one relaxed load
 * while disarmed.
 *
 * Context: never blocks (the block registry lock is taken once per thread
 * and by readers), callable from anywhere.
 */
#define _POSIX_C_SOURCE 200809L
#include "base/alloc.h"
#include "base/thread_key.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

typedef struct nmr_alloc_counters counters;

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static counters *all_blocks, *spare_blocks; /* registry_lock */
static pthread_key_t exit_key;
static pthread_once_t exit_key_once = PTHREAD_ONCE_INIT;
_Thread_local counters *nmr_alloc_mine_;

_Atomic int nmr_alloc_fail_armed_;   /* 1 while a failure is armed */

static _Atomic long fail_countdown;  /* allocations left before it */

static void thread_exit(void *p)
{
    counters *c = p;
    pthread_mutex_lock(&registry_lock);
    c->next_spare = spare_blocks;
    spare_blocks = c;
    pthread_mutex_unlock(&registry_lock);
}

static void make_exit_key(void)
{
    nmr_thread_key_create(&exit_key, thread_exit);
}

/* Blocks come from calloc directly (never nmr_alloc) and are never freed:
 * they are reachable from all_blocks for the life of the process. */
static counters *my_counters(void)
{
    counters *c = nmr_alloc_mine_;
    if (c != NULL)
        return c;
    return nmr_alloc_counters_slow_();
}

counters *nmr_alloc_counters_slow_(void)
{
    counters *c;
    pthread_once(&exit_key_once, make_exit_key);
    pthread_mutex_lock(&registry_lock);
    c = spare_blocks;
    if (c != NULL) {
        spare_blocks = c->next_spare;
    } else {
        c = calloc(1, sizeof(*c));
        if (c != NULL) {
            c->next = all_blocks;
            all_blocks = c;
        }
    }
    pthread_mutex_unlock(&registry_lock);
    if (c != NULL) {
        pthread_setspecific(exit_key, c);
        nmr_alloc_mine_ = c;
    }
    return c;
}

int nmr_alloc_armed_fails_(void)
{
    if (atomic_fetch_sub_explicit(&fail_countdown, 1, memory_order_relaxed) == 1) {
        atomic_store_explicit(&nmr_alloc_fail_armed_, 0, memory_order_relaxed);
        return 1;
    }
    return 0;
}

static int should_fail(counters *c)
{
    nmr_alloc_bump_(&c->attempts, 1);
    if (!atomic_load_explicit(&nmr_alloc_fail_armed_, memory_order_relaxed))
        return 0;
    return nmr_alloc_armed_fails_();
}

/* Called through a volatile pointer so the compiler cannot fuse malloc and
 * memset back into calloc, which in glibc bypasses the per-thread cache. */
static void *(*volatile sys_malloc)(size_t) = malloc;

counters nmr_alloc_fallback_; /* if a thread's block could not be allocated */

static counters *counters_or_fallback(void)
{
    counters *c = my_counters();
    return c ? c : &nmr_alloc_fallback_;
}

/* The counted path shared by nmr_alloc and nmr_alloc_aligned: align 0
 * means malloc's own alignment. */
static void *alloc_counted(size_t align, size_t size)
{
    counters *c = counters_or_fallback();
    void *p = NULL;
    if (!should_fail(c)) {
        if (align == 0)
            p = sys_malloc(size);
        else if (posix_memalign(&p, align, size) != 0)
            p = NULL;
    }
    if (p == NULL) {
        nmr_alloc_bump_(&c->unlive, 1); /* an attempt without a block */
        return NULL;
    }
    memset(p, 0, size);
    nmr_alloc_bump_(&c->bytes, (long)size);
    return p;
}

void *nmr_alloc(size_t size)
{
    return alloc_counted(0, size);
}

void *nmr_alloc_aligned(size_t align, size_t size)
{
    return alloc_counted(align, size);
}

void nmr_free(void *p, size_t size)
{
    if (p == NULL)
        return;
    counters *c = counters_or_fallback();
    nmr_alloc_bump_(&c->unlive, 1);
    nmr_alloc_bump_(&c->bytes, -(long)size);
    free(p);
}

void nmr_free_aligned(void *p, size_t size)
{
    nmr_free(p, size); /* posix_memalign memory is freed with free() */
}

/* An attempt of infrastructure: counted, never a live block. */
static int persistent_fails(void)
{
    counters *c = counters_or_fallback();
    int fails = should_fail(c);
    nmr_alloc_bump_(&c->unlive, 1);
    return fails;
}

void *nmr_alloc_persistent(size_t size)
{
    if (persistent_fails())
        return NULL;
    void *p = sys_malloc(size);
    if (p != NULL)
        memset(p, 0, size);
    return p;
}

void *nmr_alloc_persistent_aligned(size_t align, size_t size)
{
    if (persistent_fails())
        return NULL;
    void *p = NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    memset(p, 0, size);
    return p;
}

void nmr_free_persistent(void *p)
{
    free(p);
}

void nmr_alloc_fail_at(long n)
{
    atomic_store_explicit(&nmr_alloc_fail_armed_, 0, memory_order_relaxed);
    if (n > 0) {
        atomic_store_explicit(&fail_countdown, n, memory_order_relaxed);
        atomic_store_explicit(&nmr_alloc_fail_armed_, 1, memory_order_relaxed);
    }
}

long nmr_alloc_fail_remaining(void)
{
    if (!atomic_load_explicit(&nmr_alloc_fail_armed_, memory_order_relaxed))
        return 0;
    return atomic_load_explicit(&fail_countdown, memory_order_relaxed);
}

/* Sum one field over every thread's block, less another (minus: an
 * offset, or (size_t)-1 for none), in one pass under the lock. */
static long sum_less(size_t plus, size_t minus)
{
    long total = 0;
    pthread_mutex_lock(&registry_lock);
    for (counters *c = all_blocks; c != NULL; c = c->next) {
        total += atomic_load_explicit((_Atomic long *)((char *)c + plus), memory_order_relaxed);
        if (minus != (size_t)-1)
            total -= atomic_load_explicit((_Atomic long *)((char *)c + minus),
                                          memory_order_relaxed);
    }
    pthread_mutex_unlock(&registry_lock);
    counters *f = &nmr_alloc_fallback_;
    total += atomic_load_explicit((_Atomic long *)((char *)f + plus), memory_order_relaxed);
    if (minus != (size_t)-1)
        total -= atomic_load_explicit((_Atomic long *)((char *)f + minus), memory_order_relaxed);
    return total;
}

static long sum(size_t offset)
{
    return sum_less(offset, (size_t)-1);
}

unsigned long nmr_alloc_count(void)
{
    return (unsigned long)sum(offsetof(counters, attempts));
}

long nmr_alloc_live(void)
{
    return sum_less(offsetof(counters, attempts), offsetof(counters, unlive));
}

long nmr_alloc_live_bytes(void)
{
    return sum(offsetof(counters, bytes));
}
