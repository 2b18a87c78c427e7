/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the files of the kernel-mode layer share: the checks'
 * helpers (IRQL limits, the raise records of base/verify.h), the owner
 * token of a thread, the one blocking function, the attribution of code
 * to a driver, and the per-object counts of threads and work items.
 *
 * Context: any thread.  km_block blocks; nothing else here does (the
 * internal mutexes are held for a few instructions and never across a
 * report or a call of driver code).
 */
#ifndef NMR_SRC_KM_INTERNAL_H
#define NMR_SRC_KM_INTERNAL_H

#include <wdm.h>
#include <nmr/km.h>

#define NMR_CHECK_VIA_CALL 1 /* libnmr's hooks pointer is not exported */
#include "base/check.h"
#include "base/verify.h"

#include <stdint.h>
#include <time.h>

/* The caller of the exported function this is written in: the driver. */
#define KM_SITE() __builtin_return_address(0)

/* The checks are on once libnmr-km is loaded (its constructor turns the
 * verifier on, for good).  Kept here rather than read from libnmr's
 * nmr_verify_enabled, which libnmr.so does not export. */
extern int km_enabled;
static inline int km_on(void)
{
    return __atomic_load_n(&km_enabled, __ATOMIC_RELAXED);
}

/* The IRQL check on entry of a function (its reference page's limit). */
static inline void km_check(const char *fn, unsigned limit, const void *site)
{
    if (km_on())
        nmr__verify_irql(fn, limit, site);
}

/* Report fn called below min (the functions that require DISPATCH_LEVEL).
 * Returns 1 when reported. */
int km_check_min(const char *fn, unsigned min, const void *site);

/* This thread's current IRQL. */
static inline unsigned km_irql(void)
{
    return nmr__vthread()->irql;
}

/* A record of a raise (lock NULL: KeRaiseIrql) pushed on this thread's
 * stack; the IRQL becomes `to`. */
void km_push(const void *lock, const char *how, const void *site, unsigned to);
/* Undo the innermost record of lock (NULL: the innermost KeRaiseIrql)
 * and go to IRQL n, reporting a wrong n (below where it was raised from,
 * or below what a lock taken after it still needs).  fn and site name the
 * call in the report.  Returns 0, or -1 when no record was found. */
int km_undo(const void *lock, unsigned n, const char *fn, const void *site);
/* The innermost record of lock, or NULL. */
const nmr_vraise *km_find(const void *lock);

/* This thread's owner token: non-zero, the low three bits clear. */
uintptr_t km_token(void);
#define KM_TOKEN_MASK (~(uintptr_t)7)

/* THE blocking function of libnmr-km: every wait that blocks (events,
 * thread objects, fast mutexes, push locks, KeDelayExecutionThread) goes
 * through it, so a tool (nmrcheck) can hook this one exported symbol to
 * know which threads are blocked.  Waits while *word == expected, until
 * woken (km_wake) or the deadline (NULL: none; CLOCK_MONOTONIC, or
 * CLOCK_REALTIME when realtime).  Returns 0, or ETIMEDOUT. */
NMR_KM_API int nmr_km__block(volatile void *word, uint32_t expected,
                             const struct timespec *deadline, int realtime);
void km_wake(volatile void *word, int count);

/* The start of the object (executable or shared object) code lies in. */
const void *km_object_base(const void *code);
/* The name to show for code: the started driver's name, else the
 * object's file name.  Returns buf. */
char *km_code_name(const void *code, char *buf, size_t size);
/* The name of a started driver whose base is base (copied to buf), or
 * NULL. */
const char *km_driver_name(const void *base, char *buf, size_t size);

/* Live system threads and work items, by the object that created them. */
enum { KM_COUNT_THREADS, KM_COUNT_WORK };
void km_count(const void *base, int which, int delta);
unsigned km_count_get(const void *base, int which);

/* Pool residue of the object at base (pool.c). */
void km_pool_residue(const void *base, nmr_km_residue *out);

/* The misuse kind of a failed assertion. */
#define KM_MISUSE_ASSERT NMR_MISUSE_ASSERT

/* Test hook (static archive only): make the n-th pool allocation from
 * now on fail, once (n <= 0 disarms). */
void nmr_km__pool_fail_at(long n);

/* A schedule explorer's ticket for a thread about to be started (-1: no
 * explorer, or it keeps no ticket); km_sched_begin/km_sched_end run first
 * and last on that thread.  <nmr/check.h>. */
static inline int km_sched_reserve(const char *what)
{
    const nmr_check_sched_hooks *h = nmr_check_sched();
    return h != NULL ? h->thread_reserve(what) : -1;
}

static inline void km_sched_begin(int ticket)
{
    const nmr_check_sched_hooks *h = nmr_check_sched();
    if (h != NULL && ticket >= 0)
        h->thread_begin(ticket);
}

static inline void km_sched_end(int ticket)
{
    const nmr_check_sched_hooks *h = nmr_check_sched();
    if (h != NULL && ticket >= 0)
        h->thread_end();
}

#endif
