/* SPDX-License-Identifier: MIT */
/*
 * km_test.h - shared by the kernel-mode layer's tests (tests/km/test_*.c):
 * a misuse hook that counts the verifier's reports (NMR_MISUSE_VERIFIER)
 * and failed assertions (NMR_MISUSE_ASSERT) and keeps the last message,
 * and the checks on them.  The test code plays the driver: the reports
 * name it as the caller.  Thread-safe (the hook may run on any thread).
 */
#ifndef NMR_TEST_KM_TEST_H
#define NMR_TEST_KM_TEST_H

#define _GNU_SOURCE
#include <ntddk.h>
#include <nmr/diag.h>
#include <nmr/km.h>

#include "check.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

static pthread_mutex_t kt_lock = PTHREAD_MUTEX_INITIALIZER;
static int kt_verifier, kt_assert, kt_other;
static char kt_msg[2048];

static void kt_hook(void *context, nmr_misuse_kind kind, const char *message)
{
    (void)context;
    pthread_mutex_lock(&kt_lock);
    if (kind == NMR_MISUSE_VERIFIER)
        kt_verifier++;
    else if (kind == NMR_MISUSE_ASSERT)
        kt_assert++;
    else
        kt_other++;
    snprintf(kt_msg, sizeof kt_msg, "%s", message != NULL ? message : "");
    pthread_mutex_unlock(&kt_lock);
}

/* Install the hook and forget earlier reports (the case's setup). */
static void kt_setup(void)
{
    nmr_diag_set_strict(0);
    nmr_diag_set_hook(kt_hook, NULL, NULL);
    kt_verifier = kt_assert = kt_other = 0;
    kt_msg[0] = '\0';
}

static inline void kt_reset(void)
{
    pthread_mutex_lock(&kt_lock);
    kt_verifier = kt_assert = kt_other = 0;
    kt_msg[0] = '\0';
    pthread_mutex_unlock(&kt_lock);
}

static inline int kt_count(void)
{
    pthread_mutex_lock(&kt_lock);
    int n = kt_verifier;
    pthread_mutex_unlock(&kt_lock);
    return n;
}

/* Exactly n verifier reports so far, and the last one names every one of
 * the (up to three) strings given. */
#define KT_REPORTS(n, s1, s2, s3)                                              \
    do {                                                                       \
        pthread_mutex_lock(&kt_lock);                                          \
        int n_ = kt_verifier;                                                  \
        char m_[sizeof kt_msg];                                                \
        snprintf(m_, sizeof m_, "%s", kt_msg);                                 \
        pthread_mutex_unlock(&kt_lock);                                        \
        if (n_ != (n))                                                         \
            nmr_test_fail(__FILE__, __LINE__, "%d verifier reports, want %d; last: %s", \
                          n_, (int)(n), m_);                                   \
        const char *want_[3] = {(s1), (s2), (s3)};                             \
        for (int i_ = 0; i_ < 3; i_++)                                         \
            if (want_[i_] != NULL && strstr(m_, want_[i_]) == NULL)            \
                nmr_test_fail(__FILE__, __LINE__, "report lacks \"%s\": %s",   \
                              want_[i_], m_);                                  \
    } while (0)

#define KT_NO_REPORT() KT_REPORTS(0, NULL, NULL, NULL)

/* The object this test program is (its dli_fbase): the "driver". */
#include <dlfcn.h>
static inline const void *kt_self_base(void)
{
    Dl_info info;
    if (dladdr((const void *)kt_self_base, &info) == 0)
        return NULL;
    return info.dli_fbase;
}

#endif
