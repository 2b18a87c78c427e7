/*
 * alloc.c - the one door through which libnmr allocates memory.
 *
 * Every allocation is counted; tests can arm a failure at the n-th one
 * (nmr_alloc_fail_at) to prove that each allocation failure is handled
 * (SPEC R2, R32).  Live counts let tests check that everything allocated
 * for registrations and bindings is freed again (R31).  A small size
 * header keeps the byte count exact without asking the C library.
 *
 * Context: never blocks, lock-free, callable from anywhere.
 */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

/* Header in front of every block: size, padded to keep max alignment. */
typedef union alloc_header {
    size_t size;
    max_align_t align;
} alloc_header;

static atomic_ulong alloc_attempts;
static atomic_long alloc_fail_target; /* attempt number that fails, 0 = off */
static atomic_long alloc_live_blocks;
static atomic_long alloc_live_bytes;

static int should_fail(void)
{
    unsigned long n = atomic_fetch_add_explicit(&alloc_attempts, 1,
                                                memory_order_relaxed) + 1;
    long target = atomic_load_explicit(&alloc_fail_target, memory_order_relaxed);
    if (target > 0 && (unsigned long)target == n) {
        atomic_store_explicit(&alloc_fail_target, 0, memory_order_relaxed);
        return 1;
    }
    return 0;
}

void *nmr_alloc(size_t size)
{
    if (should_fail())
        return NULL;
    alloc_header *h = calloc(1, sizeof(*h) + size);
    if (h == NULL)
        return NULL;
    h->size = size;
    atomic_fetch_add_explicit(&alloc_live_blocks, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&alloc_live_bytes, (long)size, memory_order_relaxed);
    return h + 1;
}

void nmr_free(void *p)
{
    if (p == NULL)
        return;
    alloc_header *h = (alloc_header *)p - 1;
    atomic_fetch_sub_explicit(&alloc_live_blocks, 1, memory_order_relaxed);
    atomic_fetch_sub_explicit(&alloc_live_bytes, (long)h->size, memory_order_relaxed);
    free(h);
}

void *nmr_alloc_persistent(size_t size)
{
    if (should_fail())
        return NULL;
    return calloc(1, size);
}

void nmr_free_persistent(void *p)
{
    free(p);
}

void nmr_alloc_fail_at(long n)
{
    long target = 0;
    if (n > 0)
        target = (long)atomic_load_explicit(&alloc_attempts,
                                            memory_order_relaxed) + n;
    atomic_store_explicit(&alloc_fail_target, target, memory_order_relaxed);
}

unsigned long nmr_alloc_count(void)
{
    return atomic_load_explicit(&alloc_attempts, memory_order_relaxed);
}

long nmr_alloc_live(void)
{
    return atomic_load_explicit(&alloc_live_blocks, memory_order_relaxed);
}

long nmr_alloc_live_bytes(void)
{
    return atomic_load_explicit(&alloc_live_bytes, memory_order_relaxed);
}

size_t nmr_alloc_header_bytes(void)
{
    return sizeof(alloc_header);
}
