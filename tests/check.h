/* SPDX-License-Identifier: MIT */
/*
 * check.h - the test suite's assertions.  A failed CHECK prints the file,
 * line, expression and (for statuses) both values, then exits with 1 so
 * ctest sees a failure.  Tests name the rule they check in a comment
 * (R14 ...) and in the message passed to TEST_BEGIN.
 */
#ifndef NMR_TEST_CHECK_H
#define NMR_TEST_CHECK_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond)                                                        \
    do {                                                                   \
        if (!(cond)) {                                                     \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__,         \
                    __LINE__, #cond);                                      \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

#define CHECK_STATUS(got, want)                                            \
    do {                                                                   \
        long long got_ = (long long)(int32_t)(got);                        \
        long long want_ = (long long)(int32_t)(want);                      \
        if (got_ != want_) {                                               \
            fprintf(stderr,                                                \
                    "%s:%d: CHECK_STATUS failed: %s = 0x%08" PRIx32        \
                    ", want %s = 0x%08" PRIx32 "\n",                       \
                    __FILE__, __LINE__, #got, (uint32_t)got_, #want,       \
                    (uint32_t)want_);                                      \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

#define CHECK_EQ(got, want)                                                \
    do {                                                                   \
        long long got_ = (long long)(got), want_ = (long long)(want);      \
        if (got_ != want_) {                                               \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s = %lld, want %s = %lld\n", \
                    __FILE__, __LINE__, #got, got_, #want, want_);         \
            exit(1);                                                       \
        }                                                                  \
    } while (0)

/* Run one case: prints its name so a failure log shows where it stopped. */
#define RUN(fn)                                                            \
    do {                                                                   \
        fprintf(stderr, "-- %s\n", #fn);                                   \
        fn();                                                              \
    } while (0)

#endif
