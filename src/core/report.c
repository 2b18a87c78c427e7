/* SPDX-License-Identifier: MIT */
/*
 * report.c - when a stuck wait reports, and how a report is sent
 * (report.h).  What a report says is written above the core, in
 * observe/.
 */
#include "core/report.h"

#include "base/misuse.h"

#include <stdatomic.h>
#include <stdlib.h>

#define DEFAULT_WARN_MS 10000u

/* -1: not read from the environment yet. */
static _Atomic long long warn_ms = -1;

static long long warn_from_env(void)
{
    const char *env = getenv("NMR_WAIT_WARN_MS");
    if (env == NULL || *env == '\0')
        return DEFAULT_WARN_MS;
    char *end;
    unsigned long long v = strtoull(env, &end, 10);
    if (*end != '\0' || env[0] == '-' || v > 0xFFFFFFFFull)
        return DEFAULT_WARN_MS; /* not a number of ms: keep the default */
    return (long long)v;
}

uint64_t nmr_watchdog_warn_ms(void)
{
    long long v = atomic_load_explicit(&warn_ms, memory_order_relaxed);
    if (v < 0) {
        long long expected = -1;
        atomic_compare_exchange_strong(&warn_ms, &expected, warn_from_env());
        v = atomic_load_explicit(&warn_ms, memory_order_relaxed);
    }
    return (uint64_t)v;
}

ULONG nmr_wait_set_warn_ms(ULONG ms)
{
    uint64_t old = nmr_watchdog_warn_ms();
    atomic_store_explicit(&warn_ms, (long long)ms, memory_order_relaxed);
    return (ULONG)old;
}

void nmr_watchdog_emit(char *report)
{
    nmr_report(NMR_DIAG_WAIT_STUCK,
               report != NULL ? report
                              : "a wait for a deregistration is held up (no memory "
                                "to say by which bindings)");
    free(report);
}
