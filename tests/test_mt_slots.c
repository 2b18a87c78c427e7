/* SPDX-License-Identifier: MIT */
/*
 * test_mt_slots.c - the handle table's slots (src/core/handle.c) taken
 * far beyond a thread's cache of 64: a thread whose cache is empty takes a
 * batch of slots off the shared free stack in one compare-and-swap
 * (issue 14), while other threads push and pop the same stack.  Every
 * object handed out must be a slot nobody else holds (R26: slots are
 * never freed, so the table keeps a fixed set), and slots given back are
 * reused before the table grows (R28 reuses them with a new generation).
 * Run under TSan too (label threaded): two threads handed one slot would
 * race on its bytes.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include "core/handle.h"

#include <pthread.h>
#include <stdint.h>
#include <string.h>

enum { MANY = 2000, PER_THREAD = 300, ROUNDS = 150, THREADS = 3 };

static void *objs[MANY];

/* One thread, far past its cache: distinct slots, then the same ones
 * again without growing the table. */
static void t_batches_distinct_and_reused(void)
{
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < MANY; i++) {
            objs[i] = nmr_handle_reserve();
            CHECK(objs[i] != NULL);
            memset(objs[i], 0, NMR_HANDLE_OBJECT_MAX);
            memcpy(objs[i], &i, sizeof i);
        }
        for (int i = 0; i < MANY; i++) {
            int mark;
            memcpy(&mark, objs[i], sizeof mark);
            CHECK_EQ(mark, i); /* nobody else was given its slot */
        }
        unsigned long cap = nmr_handle_capacity();
        for (int i = 0; i < MANY; i++)
            nmr_handle_unreserve(objs[i]);
        CHECK_EQ(nmr_handle_capacity(), cap);
        if (round > 0)
            CHECK(cap < 2u * MANY + 4096u); /* reused, not grown each round */
    }
    CHECK_EQ(nmr_handles_in_use(), 0);
}

typedef struct worker {
    int id;
    void *held[PER_THREAD];
} worker;

static void *slot_worker(void *arg)
{
    worker *w = arg;
    for (int round = 0; round < ROUNDS; round++) {
        for (int i = 0; i < PER_THREAD; i++) {
            w->held[i] = nmr_handle_reserve();
            CHECK(w->held[i] != NULL);
            uint64_t mark = ((uint64_t)w->id << 32) | (uint64_t)i;
            memcpy(w->held[i], &mark, sizeof mark);
        }
        for (int i = 0; i < PER_THREAD; i++) {
            uint64_t mark;
            memcpy(&mark, w->held[i], sizeof mark);
            CHECK_EQ(mark, ((uint64_t)w->id << 32) | (uint64_t)i);
        }
        for (int i = 0; i < PER_THREAD; i++)
            nmr_handle_unreserve(w->held[i]);
    }
    return NULL;
}

/* Three threads, each holding 300 slots at a time, 150 rounds: batches
 * taken and chains pushed back concurrently never hand one slot to two. */
static void t_threads_share_the_stack(void)
{
    static worker w[THREADS];
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i].id = i + 1;
        CHECK_EQ(pthread_create(&t[i], NULL, slot_worker, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    CHECK_EQ(nmr_handles_in_use(), 0);
}

static const nmr_test_case cases[] = {
    CASE(t_batches_distinct_and_reused, "R26 R28"),
    CASE(t_threads_share_the_stack, "R26 R28"),
};

NMR_TEST_SUITE(test_mt_slots, cases, NULL, NULL, NULL);
