/* SPDX-License-Identifier: MIT */
/*
 * lock.c - the contended paths of lock.h: spinning a little, then
 * sleeping on the word (a Linux futex; elsewhere a yield and a poll).
 */
#define _GNU_SOURCE /* syscall */

#include "base/lock.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>

#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

/* How many times a taker looks at a held word before it sleeps: the
 * holder's section is a few dozen instructions, so a short spin usually
 * outlasts it; a long one would only burn the holder's core on a
 * two-vCPU machine whose holder was preempted. */
#define SPINS 64

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Sleep while *word == expected, until woken or the absolute
 * CLOCK_MONOTONIC deadline (NULL: none).  ETIMEDOUT, or 0 (woken, value
 * changed, interrupted: the caller re-checks). */
static int word_sleep(_Atomic uint32_t *word, uint32_t expected, const struct timespec *until)
{
#ifdef __linux__
    /* FUTEX_WAIT_BITSET takes an absolute deadline on CLOCK_MONOTONIC. */
    long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG,
                     expected, until, NULL, FUTEX_BITSET_MATCH_ANY);
    return r != 0 && errno == ETIMEDOUT ? ETIMEDOUT : 0;
#else
    if (atomic_load_explicit(word, memory_order_relaxed) == expected)
        sched_yield();
    if (until != NULL) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (now.tv_sec > until->tv_sec ||
            (now.tv_sec == until->tv_sec && now.tv_nsec >= until->tv_nsec))
            return ETIMEDOUT;
    }
    return 0;
#endif
}

static void word_wake(_Atomic uint32_t *word, int how_many)
{
#ifdef __linux__
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, how_many, NULL,
            NULL, 0);
#else
    (void)word;
    (void)how_many;
#endif
}

void nmr_lock_take_slow_(nmr_lock *l)
{
    for (int i = 0; i < SPINS; i++) {
        if (atomic_load_explicit(&l->word, memory_order_relaxed) == 0 && nmr_lock_try(l))
            return;
        cpu_relax();
    }
    /* Mark it contended, so its holder's drop wakes a sleeper; whoever
     * takes it this way keeps the mark (it cannot know whether others
     * still sleep), costing at most one needless wake. */
    while (atomic_exchange_explicit(&l->word, 2, memory_order_acquire) != 0)
        (void)word_sleep(&l->word, 2, NULL);
}

void nmr_lock_wake_one_(nmr_lock *l)
{
    word_wake(&l->word, 1);
}

void nmr_cond_wake_all_(nmr_cond *c)
{
    atomic_fetch_add_explicit(&c->seq, 1, memory_order_relaxed);
    word_wake(&c->seq, INT_MAX);
}

int nmr_cond_sleep_(nmr_cond *c, uint32_t seen, const struct timespec *until)
{
    return word_sleep(&c->seq, seen, until);
}
