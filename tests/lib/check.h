/* SPDX-License-Identifier: MIT */
/*
 * check.h - the test suite's assertions.  A failed CHECK prints the file,
 * line, the case and its rule (from the runner, tests/lib/runner.c), the
 * expression and (for statuses) both values, then ends the case's process
 * with status 1; the runner reports the case as failed and the other cases
 * still run.  Tests name the rule they check in a comment (R14 ...) and in
 * their CASE(...) line.
 */
#ifndef NMR_TEST_CHECK_H
#define NMR_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "runner.h"

/* Print "file:line: [case rules] <message>" and exit(1). */
void nmr_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond))                                                       \
            nmr_test_fail(__FILE__, __LINE__, "CHECK failed: %s", #cond);  \
    } while (0)

#define CHECK_STATUS(got, want)                                            \
    do {                                                                   \
        long long got_ = (long long)(int32_t)(got);                        \
        long long want_ = (long long)(int32_t)(want);                      \
        if (got_ != want_)                                                 \
            nmr_test_fail(__FILE__, __LINE__,                              \
                          "CHECK_STATUS failed: %s = 0x%08" PRIx32         \
                          ", want %s = 0x%08" PRIx32,                      \
                          #got, (uint32_t)got_, #want, (uint32_t)want_);   \
    } while (0)

#define CHECK_EQ(got, want)                                                \
    do {                                                                   \
        long long got_ = (long long)(got), want_ = (long long)(want);      \
        if (got_ != want_)                                                 \
            nmr_test_fail(__FILE__, __LINE__,                              \
                          "CHECK_EQ failed: %s = %lld, want %s = %lld",    \
                          #got, got_, #want, want_);                       \
    } while (0)

#endif
