/* SPDX-License-Identifier: MIT */
/*
 * registrar.c - registrar instances: create, destroy, validate (registrar.h).
 *
 * A fixed table of NMR_REGISTRARS_MAX slots; slot 0 is the default
 * registrar, which is never counted nor destroyed, so the plain
 * netioddk.h calls pay nothing for instances.  Each other slot is one
 * atomic word:
 *
 *     63          32 31     30                0
 *     [ generation ][live][ count (registrations + calls in progress) ]
 *
 * acquire = CAS "same generation, live -> count + 1"; destroy = CAS
 * "same generation, live, count 0 -> generation + 1, not live".  Free
 * slots are kept on a stack under a mutex (create and destroy are rare).
 * A slot whose generation would wrap is retired for good instead of being
 * reused, as handle slots are: a destroyed registrar's value never comes
 * back to life, however many registrars come and go (about 2^32 per slot
 * before one retires, 4095 slots).
 *
 * A registrar value (the key, below) ends in the bits 1000: its two low
 * bits are 00, which no handle's are (a handle's two low bits are its
 * kind, 1 to 3, handle.c), and no handle ends in 1000.  So a registrar
 * passed where a handle is expected is an unknown handle (R26), and a
 * handle passed as a registrar is an unknown registrar.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "core/registrar.h"
#include "core/report.h"

#include "base/alloc.h"
#include "base/misuse.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define LIVE ((uint64_t)1 << 31)
#define COUNT_MASK (LIVE - 1)
#define GEN_SHIFT 32
#define KEY_TAG 0x8u /* low bits 1000: never a handle's (see above) */
#define GEN_LAST 0xFFFFFFFFu

static _Atomic uint64_t slots[NMR_REGISTRARS_MAX];
static pthread_mutex_t free_lock = PTHREAD_MUTEX_INITIALIZER;
static uint32_t free_stack[NMR_REGISTRARS_MAX]; /* free_lock */
static uint32_t free_count;                     /* free_lock */
static uint32_t next_unused = 1;                /* free_lock; 0 is the default */

static uint64_t key_of(uint32_t index, uint64_t word)
{
    return (word >> GEN_SHIFT << GEN_SHIFT) | ((uint64_t)index << 4) | KEY_TAG;
}

/* The slot index of a key, or 0 when the key is malformed. */
static uint32_t index_of(uint64_t key)
{
    if ((key & 0xFu) != KEY_TAG)
        return 0;
    uint64_t index = (key & 0xFFFFFFFFu) >> 4;
    return index < NMR_REGISTRARS_MAX ? (uint32_t)index : 0;
}

int nmr_registrar_acquire_(const nmr_registrar *registrar, uint64_t *key)
{
    uint64_t k = (uint64_t)(uintptr_t)registrar;
    if (k == NMR_REGISTRAR_DEFAULT_KEY || k == KEY_TAG) {
        *key = NMR_REGISTRAR_DEFAULT_KEY;
        return 0;
    }
    uint32_t index = index_of(k);
    if (index == 0)
        return -1;
    _Atomic uint64_t *s = &slots[index];
    uint64_t w = atomic_load_explicit(s, memory_order_relaxed);
    for (;;) {
        if (!(w & LIVE) || (w >> GEN_SHIFT) != (k >> GEN_SHIFT) ||
            (w & COUNT_MASK) == COUNT_MASK)
            return -1;
        if (atomic_compare_exchange_weak_explicit(s, &w, w + 1, memory_order_acquire,
                                                  memory_order_relaxed))
            break;
    }
    *key = k;
    return 0;
}

void nmr_registrar_release_(uint64_t key)
{
    if (key == NMR_REGISTRAR_DEFAULT_KEY)
        return;
    atomic_fetch_sub_explicit(&slots[index_of(key)], 1, memory_order_release);
}

NTSTATUS nmr_registrar_create(nmr_registrar **out)
{
    if (out == NULL)
        return STATUS_INVALID_PARAMETER;
    *out = NULL;
    uint32_t index = 0;
    pthread_mutex_lock(&free_lock);
    if (free_count > 0)
        index = free_stack[--free_count];
    else if (next_unused < NMR_REGISTRARS_MAX)
        index = next_unused++;
    pthread_mutex_unlock(&free_lock);
    if (index == 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    /* The slot is ours alone: its generation was moved on by the destroy
     * that freed it, so no old key matches. */
    uint64_t w = atomic_load_explicit(&slots[index], memory_order_relaxed);
    w = (w >> GEN_SHIFT << GEN_SHIFT) | LIVE;
    atomic_store_explicit(&slots[index], w, memory_order_release);
    *out = (nmr_registrar *)(uintptr_t)key_of(index, w);
    return STATUS_SUCCESS;
}

nmr_registrar *nmr_registrar_default(void)
{
    return (nmr_registrar *)(uintptr_t)KEY_TAG;
}

NTSTATUS nmr_registrar_destroy(nmr_registrar *registrar)
{
    uint64_t k = (uint64_t)(uintptr_t)registrar;
    uint32_t index = index_of(k);
    if (index == 0)
        return STATUS_INVALID_PARAMETER; /* NULL, default or made up */
    _Atomic uint64_t *s = &slots[index];
    uint64_t w = atomic_load_explicit(s, memory_order_relaxed);
    for (;;) {
        if (!(w & LIVE) || (w >> GEN_SHIFT) != (k >> GEN_SHIFT))
            return STATUS_INVALID_PARAMETER;
        if ((w & COUNT_MASK) != 0) {
            nmr_busy_report(registrar, w & COUNT_MASK);
            return STATUS_DEVICE_BUSY;
        }
        /* At the last generation the slot stays not live with it: no key
         * is ever valid for it again. */
        uint64_t gen = w >> GEN_SHIFT;
        uint64_t next = (gen == GEN_LAST ? gen : gen + 1) << GEN_SHIFT;
        if (atomic_compare_exchange_weak_explicit(s, &w, next, memory_order_acq_rel,
                                                  memory_order_relaxed))
            break;
    }
    if ((w >> GEN_SHIFT) == GEN_LAST)
        return STATUS_SUCCESS; /* retired: never on the free stack again */
    pthread_mutex_lock(&free_lock);
    free_stack[free_count++] = index;
    pthread_mutex_unlock(&free_lock);
    return STATUS_SUCCESS;
}

void nmr_registrar_test_set_generation(const nmr_registrar *destroyed, uint32_t generation)
{
    uint32_t index = index_of((uint64_t)(uintptr_t)destroyed);
    if (index == 0)
        return;
    uint64_t w = atomic_load_explicit(&slots[index], memory_order_relaxed);
    if (w & LIVE)
        return;
    atomic_store_explicit(&slots[index], (uint64_t)generation << GEN_SHIFT,
                          memory_order_relaxed);
}
