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

#include <stddef.h>

void *nmr_alloc(size_t size);          /* zeroed; NULL on (injected) failure */
void nmr_free(void *p, size_t size);     /* size: as allocated */
/* Zeroed, aligned to `align` (a power of two, at least sizeof(void *)). */
void *nmr_alloc_aligned(size_t align, size_t size);
void nmr_free_aligned(void *p, size_t size);

/* Infrastructure that lives as long as the process or its table (handle
 * table chunks, NPI hash buckets): counted and fault-injectable, but not
 * part of the live counts below. */
void *nmr_alloc_persistent(size_t size);
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
