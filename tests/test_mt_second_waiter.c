/* SPDX-License-Identifier: MIT */
/*
 * test_mt_second_waiter.c - two threads wait for the same registration.
 *
 * Windows leaves this open; our choice (docs/rules.md, R19): the first waiter
 * blocks until the registration is drained, a second concurrent waiter gets
 * STATUS_INVALID_DEVICE_STATE at once (it does not block and does not end
 * the handle), and once the first wait returned the handle is dead
 * (STATUS_INVALID_PARAMETER, R19/R26).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "fixture.h"

#include <sched.h>

static fx_module *g_client;
static pthread_barrier_t g_start;
static atomic_int g_success, g_refused;

/* Two of these race to wait for the same registration. */
static void *waiter(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&g_start);
    NTSTATUS s = fx_wait(g_client);
    if (s == STATUS_SUCCESS)
        atomic_fetch_add(&g_success, 1);
    else if (s == STATUS_INVALID_DEVICE_STATE)
        atomic_fetch_add(&g_refused, 1);
    else
        CHECK_STATUS(s, STATUS_SUCCESS);
    return NULL;
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process. ---- */

/* 500 rounds: two waits on one registration, one blocks, one is refused. */
static void t_r19_second_waiter(void)
{
    fx_diag_capture();
    pthread_barrier_init(&g_start, NULL, 2);
    for (int round = 0; round < 500; round++) {
        fx_reset();
        atomic_store(&g_success, 0);
        atomic_store(&g_refused, 0);
        GUID npi = fx_guid(0x5EC0);
        fx_module *p = fx_provider(&npi);
        g_client = fx_client(&npi);
        g_client->detach_mode = FX_DET_PENDING; /* keeps the first wait blocked */
        CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(g_client), STATUS_SUCCESS);
        CHECK_STATUS(fx_deregister(g_client), STATUS_PENDING);

        pthread_t t[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&t[i], NULL, waiter, NULL);
        /* The half is pending, so neither wait can succeed yet: one blocks,
         * the other must be refused at once. */
        while (atomic_load(&g_refused) == 0)
            sched_yield();
        CHECK_EQ(atomic_load(&g_success), 0);
        CHECK_EQ(fx_complete_pending(g_client), 1);
        for (int i = 0; i < 2; i++)
            pthread_join(t[i], NULL);
        CHECK_EQ(atomic_load(&g_success), 1);
        CHECK_EQ(atomic_load(&g_refused), 1);
        CHECK_STATUS(fx_wait(g_client), STATUS_INVALID_PARAMETER); /* dead */
        CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
        CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
        CHECK_EQ(fx_errors(), 0);
    }
    pthread_barrier_destroy(&g_start);
    fx_diag_release();
    fx_reset();
    fprintf(stderr, "test_mt_second_waiter: all passed\n");
}

static const nmr_test_case cases[] = {
    CASE(t_r19_second_waiter, "R19 R26"),
};

NMR_TEST_SUITE(test_mt_second_waiter, cases, NULL, NULL, NULL);
