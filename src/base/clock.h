/* SPDX-License-Identifier: MIT */
/*
 * clock.h - the two clocks of the registrar.
 *
 *   nmr_now_ns()    CLOCK_MONOTONIC in nanoseconds: event timestamps,
 *                   snapshot times, wait deadlines.
 *   nmr_stamp_ms()  a cheap 32-bit millisecond stamp (CLOCK_MONOTONIC_
 *                   COARSE, a few ns through the vDSO) taken on the detach
 *                   path to say later how long a half has been pending.
 *                   Never 0, so 0 can mean "not started"; compare two
 *                   stamps by unsigned difference (wraps after 49 days).
 */
#ifndef NMR_SRC_CLOCK_H
#define NMR_SRC_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t nmr_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint32_t nmr_stamp_ms(void)
{
    struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
#else
    clock_gettime(CLOCK_MONOTONIC, &ts);
#endif
    /* The same value as ((uint64_t)tv_sec * 1000 + tv_nsec / 1000000) mod
     * 2^32, in 32-bit arithmetic: tv_nsec < 10^9 fits, and its division
     * by a constant is one 64-bit multiply and a shift. */
    uint32_t ms = (uint32_t)ts.tv_sec * 1000u + (uint32_t)ts.tv_nsec / 1000000u;
    return ms | 1u;
}

/* Milliseconds from stamp to now (0 for a stamp never taken). */
static inline uint64_t nmr_stamp_age_ms(uint32_t stamp, uint32_t now)
{
    return stamp == 0 ? 0 : (uint64_t)(uint32_t)(now - stamp);
}

#endif
