/* SPDX-License-Identifier: MIT */
/*
 * alloc.h - every allocation libnmr makes goes through here, so tests can
 * count them and make any one of them fail (SQLite-style fault injection).
 *
 * Context: never blocks, callable from anywhere.  The test hooks are not
 * exported from the shared object; tests link the static library.
 */
#ifndef NMR_SRC_ALLOC_H
#define NMR_SRC_ALLOC_H

#include <stdatomic.h>
#include <stddef.h>

void *nmr_alloc(size_t size);          /* zeroed; NULL on (injected) failure */
void nmr_free(void *p, size_t size);     /* size: as allocated */
/* Zeroed, aligned to `align` (a power of two, at least sizeof(void *)). */
void *nmr_alloc_aligned(size_t align, size_t size);
void nmr_free_aligned(void *p, size_t size);

/* ---- the counters, for the inline paths below (alloc.c) ----------------
 * Each thread adds to its own block with plain relaxed stores (one
 * writer); readers sum the blocks. */
struct nmr_alloc_counters {
    /* written by one thread only.  Live blocks = attempts - unlive:
     * unlive counts every attempt that left no live block (a failure, an
     * allocation of infrastructure) and every free, so a successful
     * allocation bumps one counter, not two. */
    _Atomic long attempts, unlive, bytes;
    struct nmr_alloc_counters *next;         /* all blocks; alloc.c's lock */
    struct nmr_alloc_counters *next_spare;   /* blocks of exited threads */
};
extern _Thread_local struct nmr_alloc_counters *nmr_alloc_mine_;
extern struct nmr_alloc_counters nmr_alloc_fallback_;
extern _Atomic int nmr_alloc_fail_armed_;
/* This thread's block on its first use (NULL if none could be made). */
struct nmr_alloc_counters *nmr_alloc_counters_slow_(void);
/* An armed failure counts this attempt: 1 if it is the one to fail. */
int nmr_alloc_armed_fails_(void);

static inline void nmr_alloc_bump_(_Atomic long *v, long by)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + by,
                          memory_order_relaxed);
}

static inline struct nmr_alloc_counters *nmr_alloc_counters_(void)
{
    struct nmr_alloc_counters *c = nmr_alloc_mine_;
    if (__builtin_expect(c == NULL, 0)) {
        c = nmr_alloc_counters_slow_();
        if (c == NULL)
            c = &nmr_alloc_fallback_;
    }
    return c;
}

/* An object that lives in memory libnmr holds already (a handle-table
 * slot, core/handle.h): counted as an allocation attempt (an armed
 * failure may fail it: -1) and, until nmr_free_slot_object, as one live
 * block of no bytes (its bytes are the slot's).  Inline: they run for
 * every registration and binding. */
static inline int nmr_alloc_slot_object(void)
{
    struct nmr_alloc_counters *c = nmr_alloc_counters_();
    nmr_alloc_bump_(&c->attempts, 1);
    if (__builtin_expect(atomic_load_explicit(&nmr_alloc_fail_armed_,
                                              memory_order_relaxed) != 0, 0) &&
        nmr_alloc_armed_fails_()) {
        nmr_alloc_bump_(&c->unlive, 1);
        return -1;
    }
    return 0;
}

static inline void nmr_free_slot_object(void)
{
    nmr_alloc_bump_(&nmr_alloc_counters_()->unlive, 1);
}

/* Infrastructure that lives as long as the process or its table (handle
 * table chunks, NPI hash buckets): counted and fault-injectable, but not
 * part of the live counts below. */
void *nmr_alloc_persistent(size_t size);
/* The same, aligned to `align` (a power of two, at least sizeof(void *));
 * freed with nmr_free_persistent. */
void *nmr_alloc_persistent_aligned(size_t align, size_t size);
void nmr_free_persistent(void *p);

/* ---- test hooks -------------------------------------------------------- */
/* Make the n-th allocation from now on (1 = the next one) fail, once.
 * n <= 0 disarms. */
void nmr_alloc_fail_at(long n);
/* Allocations left before the armed failure (n of the last fail_at, less
 * those made since), or 0 when nothing is armed. */
long nmr_alloc_fail_remaining(void);
/* Allocations attempted since the process started (failed ones included). */
unsigned long nmr_alloc_count(void);
/* Allocations made by libnmr and not yet freed (0 when everything is gone,
 * apart from the handle table, which is never freed: see handle.c). */
long nmr_alloc_live(void);
/* Bytes currently allocated through nmr_alloc (same exclusions). */
long nmr_alloc_live_bytes(void);

#endif
