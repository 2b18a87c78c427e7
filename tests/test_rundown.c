/* SPDX-License-Identifier: MIT */
/*
 * test_rundown.c - unit tests of nmr/rundown.h, single-threaded except for
 * the helper threads that show a wait blocks (or that a reference may be
 * released on another thread than the one that took it).
 *
 *  1. EX_RUNDOWN_REF: init, acquire/release, Ex counts, acquire fails once
 *     the rundown started, wait returns at once when idle, wait blocks
 *     until the last release, ExRundownCompleted / ExReInitialize...
 *  2. cache-aware: allocate/free, size, initialise on caller memory (with
 *     0 slots: the overflow counter), Ex counts, references, acquire fails
 *     once drain/wait started, wait, completed, reinitialize.
 *  3. nmr_rundown_drain: callback exactly once, inline or from the last
 *     release; second drain; NULL arguments; the callback may free.
 *  4. misuse reports (nmr/diag.h) and fault injection (src/base/alloc.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "alloc.h"

#include <netioddk.h>
#include <nmr/check.h>
#include <nmr/diag.h>
#include <nmr/guard.h>
#include <nmr/rundown.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------- */

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static atomic_int g_misuse[8];
static char g_misuse_msg[512];

static void misuse_hook(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)ctx;
    unsigned k = (unsigned)kind < 8 ? (unsigned)kind : 0;
    atomic_fetch_add(&g_misuse[k], 1);
    snprintf(g_misuse_msg, sizeof(g_misuse_msg), "%s", msg ? msg : "");
}

static int misuse(nmr_misuse_kind k) { return atomic_load(&g_misuse[k]); }

static int misuse_total(void)
{
    int n = 0;
    for (int i = 0; i < 8; i++)
        n += atomic_load(&g_misuse[i]);
    return n;
}

/* A drain callback that records its calls. */
typedef struct drain_rec {
    atomic_int calls;
    BOOLEAN inline_call;
    void *context_seen;
    pthread_t thread;
    PEX_RUNDOWN_REF_CACHE_AWARE free_me; /* ExFree it from the callback */
    void *free_raw;                      /* free() it from the callback */
} drain_rec;

static void drain_cb(void *context, BOOLEAN inline_call)
{
    drain_rec *r = context;
    atomic_fetch_add(&r->calls, 1);
    r->inline_call = inline_call;
    r->context_seen = context;
    r->thread = pthread_self();
    if (r->free_me != NULL) {
        ExFreeCacheAwareRundownProtection(r->free_me);
        r->free_me = NULL;
    }
    if (r->free_raw != NULL) {
        free(r->free_raw);
        r->free_raw = NULL;
    }
}

static size_t head_size(void) { return offsetof(EX_RUNDOWN_REF_CACHE_AWARE, slots); }

static PEX_RUNDOWN_REF_CACHE_AWARE caller_object(size_t size)
{
    size_t rounded = (size + 63) & ~(size_t)63;
    void *p = aligned_alloc(64, rounded);
    CHECK(p != NULL);
    memset(p, 0xa5, rounded); /* init must not rely on zeroed memory */
    return p;
}

/* ======================================================================
 * 1. EX_RUNDOWN_REF
 * ====================================================================== */

/* Acquire/release count references; Ex variants count `count` at once. */
static void t_ex_basic(void)
{
    EX_RUNDOWN_REF r;
    r.Count = 12345; /* garbage: init must reset it */
    ExInitializeRundownProtection(&r);
    CHECK_EQ(r.Count, 0);
    CHECK(ExAcquireRundownProtection(&r));
    CHECK(ExAcquireRundownProtection(&r));
    CHECK_EQ(r.Count, 2 * NMR_RUNDOWN_INC);
    CHECK(ExAcquireRundownProtectionEx(&r, 5));
    CHECK_EQ(r.Count, 7 * NMR_RUNDOWN_INC);
    ExReleaseRundownProtectionEx(&r, 4);
    CHECK_EQ(r.Count, 3 * NMR_RUNDOWN_INC);
    ExReleaseRundownProtection(&r);
    ExReleaseRundownProtectionEx(&r, 2);
    CHECK_EQ(r.Count, 0);
    /* idle: the wait returns at once and starts the rundown */
    ExWaitForRundownProtectionRelease(&r);
    CHECK(!ExAcquireRundownProtection(&r));     /* rundown started: fails */
    CHECK(!ExAcquireRundownProtectionEx(&r, 3)); /* ... Ex too */
    CHECK_EQ(r.Count, NMR_RUNDOWN_ACTIVE);        /* and changes nothing */
    ExRundownCompleted(&r);
    CHECK(!ExAcquireRundownProtection(&r));
    /* reopen */
    ExReInitializeRundownProtection(&r);
    CHECK(ExAcquireRundownProtection(&r));
    ExReleaseRundownProtection(&r);
    ExWaitForRundownProtectionRelease(&r);
    ExRundownCompleted(&r);
}

typedef struct ex_waiter {
    PEX_RUNDOWN_REF ref;
    atomic_int returned;
} ex_waiter;

static void *ex_wait_main(void *arg)
{
    ex_waiter *w = arg;
    ExWaitForRundownProtectionRelease(w->ref);
    atomic_store(&w->returned, 1);
    return NULL;
}

/* The wait blocks until the last release (Ex counts included), and new
 * acquires fail while it waits. */
static void t_ex_wait_blocks(void)
{
    EX_RUNDOWN_REF r;
    ExInitializeRundownProtection(&r);
    CHECK(ExAcquireRundownProtectionEx(&r, 2));
    CHECK(ExAcquireRundownProtection(&r));
    ex_waiter w = {&r, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, ex_wait_main, &w) == 0);
    /* wait until the waiter has set the ACTIVE bit */
    for (int i = 0; i < 5000 && !(__atomic_load_n(&r.Count, __ATOMIC_SEQ_CST) &
                                  NMR_RUNDOWN_ACTIVE); i++)
        sleep_ms(1);
    CHECK(__atomic_load_n(&r.Count, __ATOMIC_SEQ_CST) & NMR_RUNDOWN_ACTIVE);
    CHECK(!ExAcquireRundownProtection(&r)); /* started: fails */
    sleep_ms(30);
    CHECK_EQ(atomic_load(&w.returned), 0); /* 3 held: still waiting */
    ExReleaseRundownProtectionEx(&r, 2);
    sleep_ms(30);
    CHECK_EQ(atomic_load(&w.returned), 0); /* 1 held: still waiting */
    ExReleaseRundownProtection(&r);         /* the last one wakes it */
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ(atomic_load(&w.returned), 1);
    ExRundownCompleted(&r);
    ExReInitializeRundownProtection(&r);
    CHECK(ExAcquireRundownProtection(&r)); /* reopened */
    ExReleaseRundownProtection(&r);
}

/* The waiter may free the object as soon as the wait returns: the waker
 * uses the address only (ASan checks). */
static void t_ex_wait_then_free(void)
{
    for (int i = 0; i < 50; i++) {
        PEX_RUNDOWN_REF r = malloc(sizeof(*r));
        CHECK(r != NULL);
        ExInitializeRundownProtection(r);
        CHECK(ExAcquireRundownProtection(r));
        ex_waiter w = {r, 0};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, ex_wait_main, &w) == 0);
        while (!(__atomic_load_n(&r->Count, __ATOMIC_SEQ_CST) & NMR_RUNDOWN_ACTIVE))
            sched_yield();
        ExReleaseRundownProtection(r);
        CHECK(pthread_join(th, NULL) == 0);
        free(r);
    }
}

/* ======================================================================
 * 2. cache-aware rundown
 * ====================================================================== */

/* Size: the header plus at least one slot line; allocation gives an
 * aligned, open object; free returns the memory (live count). */
static void t_ca_alloc_free(void)
{
    SIZE_T sz = ExSizeOfRundownProtectionCacheAware();
    CHECK(sz >= head_size() + sizeof(nmr_rundown_slot));
    CHECK_EQ(sz % NMR_RUNDOWN_LINE, 0);
    long live0 = nmr_alloc_live();
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPoolNx, 0x646e7552);
    CHECK(r != NULL);
    CHECK_EQ((uintptr_t)r % NMR_RUNDOWN_LINE, 0);
    CHECK_EQ(head_size() + (size_t)r->nslots * sizeof(nmr_rundown_slot), sz);
    CHECK(r->nslots >= 1);
    CHECK_EQ(nmr_alloc_live(), live0 + 1);
    CHECK_EQ(nmr_rundown_references(r), 0);
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    CHECK_EQ(nmr_rundown_references(r), 1);
    ExReleaseRundownProtectionCacheAware(r);
    CHECK_EQ(nmr_rundown_references(r), 0);
    ExFreeCacheAwareRundownProtection(r);
    CHECK_EQ(nmr_alloc_live(), live0);
    ExFreeCacheAwareRundownProtection(NULL); /* no-op, no report */
    CHECK_EQ(misuse_total(), 0);
}

/* Ex counts and nmr_rundown_references. */
static void t_ca_counts(void)
{
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(PagedPool, 0);
    CHECK(r != NULL);
    CHECK(ExAcquireRundownProtectionCacheAwareEx(r, 3));
    CHECK_EQ(nmr_rundown_references(r), 3);
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    CHECK_EQ(nmr_rundown_references(r), 4);
    ExReleaseRundownProtectionCacheAwareEx(r, 2);
    CHECK_EQ(nmr_rundown_references(r), 2);
    ExReleaseRundownProtectionCacheAwareEx(r, 2);
    CHECK_EQ(nmr_rundown_references(r), 0);
    ExWaitForRundownProtectionReleaseCacheAware(r); /* idle: returns at once */
    ExFreeCacheAwareRundownProtection(r);
}

typedef struct ca_helper {
    PEX_RUNDOWN_REF_CACHE_AWARE ref;
    int op; /* 0 acquire, 1 release, 2 wait */
    ULONG count;
    BOOLEAN result;
    atomic_int returned;
} ca_helper;

static void *ca_helper_main(void *arg)
{
    ca_helper *h = arg;
    if (h->op == 0)
        h->result = ExAcquireRundownProtectionCacheAwareEx(h->ref, h->count);
    else if (h->op == 1)
        ExReleaseRundownProtectionCacheAwareEx(h->ref, h->count);
    else
        ExWaitForRundownProtectionReleaseCacheAware(h->ref);
    atomic_store(&h->returned, 1);
    return NULL;
}

static void run_helper(ca_helper *h)
{
    pthread_t th;
    CHECK(pthread_create(&th, NULL, ca_helper_main, h) == 0);
    CHECK(pthread_join(th, NULL) == 0);
}

/* Acquire on one thread, release on another: counters are summed (a slot
 * may go negative), and a drain fires on the foreign release. */
static void t_ca_cross_thread(void)
{
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    CHECK(ExAcquireRundownProtectionCacheAwareEx(r, 2)); /* main's slot: +2 */
    ca_helper h = {r, 1, 1, 0, 0};
    run_helper(&h); /* another thread releases one */
    CHECK_EQ(nmr_rundown_references(r), 1);
    ca_helper a = {r, 0, 3, 0, 0};
    run_helper(&a); /* another thread acquires 3 */
    CHECK(a.result);
    CHECK_EQ(nmr_rundown_references(r), 4);
    ExReleaseRundownProtectionCacheAwareEx(r, 3); /* main releases those */
    CHECK_EQ(nmr_rundown_references(r), 1);
    drain_rec d;
    memset(&d, 0, sizeof(d));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_PENDING);
    CHECK_EQ(atomic_load(&d.calls), 0);
    ca_helper h2 = {r, 1, 1, 0, 0};
    d.free_me = r; /* the callback frees it, on the helper thread */
    run_helper(&h2);
    CHECK_EQ(atomic_load(&d.calls), 1);
    CHECK_EQ(d.inline_call, FALSE);
    CHECK(d.free_me == NULL);
}

/* Caller memory: any size >= the header works; 0 slots (header only)
 * sends every thread to the shared overflow counter; more than the
 * maximum is capped; too small is reported. */
static void t_ca_caller_memory(void)
{
    /* default size */
    SIZE_T sz = ExSizeOfRundownProtectionCacheAware();
    PEX_RUNDOWN_REF_CACHE_AWARE r = caller_object(sz);
    ExInitializeRundownProtectionCacheAware(r, sz);
    CHECK(r->nslots >= 1);
    CHECK_EQ(r->state, NMR_RD_OPEN);
    CHECK_EQ(nmr_rundown_references(r), 0); /* the 0xa5 garbage was cleared */
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    CHECK_EQ(nmr_rundown_references(r), 1);
    ExReleaseRundownProtectionCacheAware(r);
    ExWaitForRundownProtectionReleaseCacheAware(r);
    CHECK(!ExAcquireRundownProtectionCacheAware(r));
    /* not allocated by ExAllocate...: free is misuse, reported, no free */
    int m0 = misuse(NMR_MISUSE_RUNDOWN);
    ExFreeCacheAwareRundownProtection(r);
    CHECK_EQ(misuse(NMR_MISUSE_RUNDOWN), m0 + 1);
    CHECK(strstr(g_misuse_msg, "ExFreeCacheAwareRundownProtection") != NULL);
    free(r); /* ASan: a double free above would be reported here */

    /* 0 slots: header only -> the overflow counter */
    r = caller_object(head_size());
    ExInitializeRundownProtectionCacheAware(r, head_size());
    CHECK_EQ(r->nslots, 0);
    CHECK(ExAcquireRundownProtectionCacheAwareEx(r, 2));
    CHECK_EQ(r->overflow.count, 2); /* went to the overflow counter */
    CHECK_EQ(nmr_rundown_references(r), 2);
    ca_helper h = {r, 1, 1, 0, 0};
    run_helper(&h);
    CHECK_EQ(r->overflow.count, 1);
    drain_rec d;
    memset(&d, 0, sizeof(d));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_PENDING);
    CHECK(!ExAcquireRundownProtectionCacheAware(r)); /* overflow path fails too */
    CHECK_EQ(nmr_rundown_references(r), 1);          /* and gave it back */
    CHECK_EQ(atomic_load(&d.calls), 0);
    d.free_raw = r;
    ExReleaseRundownProtectionCacheAware(r); /* last: fires, frees */
    CHECK_EQ(atomic_load(&d.calls), 1);
    CHECK_EQ(d.inline_call, FALSE);

    /* 1 slot */
    size_t one = head_size() + sizeof(nmr_rundown_slot);
    r = caller_object(one);
    ExInitializeRundownProtectionCacheAware(r, one);
    CHECK_EQ(r->nslots, 1);
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    CHECK_EQ(nmr_rundown_references(r), 1);
    ExReleaseRundownProtectionCacheAware(r);
    ExWaitForRundownProtectionReleaseCacheAware(r);
    free(r);

    /* huge: capped (init must not write past what it needs, nor fail) */
    size_t big = head_size() + 1000 * sizeof(nmr_rundown_slot);
    r = caller_object(big);
    ExInitializeRundownProtectionCacheAware(r, big);
    CHECK(r->nslots >= 1 && r->nslots < 1000);
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    ExReleaseRundownProtectionCacheAware(r);
    ExWaitForRundownProtectionReleaseCacheAware(r);
    free(r);

    /* too small, or NULL: reported, nothing written */
    m0 = misuse(NMR_MISUSE_RUNDOWN);
    unsigned char small[64];
    memset(small, 0x77, sizeof(small));
    ExInitializeRundownProtectionCacheAware((PEX_RUNDOWN_REF_CACHE_AWARE)(void *)small,
                                            sizeof(small));
    CHECK_EQ(misuse(NMR_MISUSE_RUNDOWN), m0 + 1);
    for (size_t i = 0; i < sizeof(small); i++)
        CHECK_EQ(small[i], 0x77);
    ExInitializeRundownProtectionCacheAware(NULL, ExSizeOfRundownProtectionCacheAware());
    CHECK_EQ(misuse(NMR_MISUSE_RUNDOWN), m0 + 2);
}

/* Wait blocks until the last release; acquires fail once it started;
 * completed keeps them failing; reinitialize reopens. */
static void t_ca_wait_blocks(void)
{
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    CHECK(ExAcquireRundownProtectionCacheAwareEx(r, 2));
    ca_helper w = {r, 2, 0, 0, 0};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, ca_helper_main, &w) == 0);
    for (int i = 0; i < 5000 && __atomic_load_n(&r->state, __ATOMIC_SEQ_CST) == NMR_RD_OPEN; i++)
        sleep_ms(1);
    CHECK(!ExAcquireRundownProtectionCacheAware(r)); /* wait started: fails */
    CHECK(!ExAcquireRundownProtectionCacheAwareEx(r, 4));
    CHECK_EQ(nmr_rundown_references(r), 2); /* failed acquires gave back */
    sleep_ms(30);
    CHECK_EQ(atomic_load(&w.returned), 0);
    ExReleaseRundownProtectionCacheAware(r);
    sleep_ms(30);
    CHECK_EQ(atomic_load(&w.returned), 0); /* one still held */
    ExReleaseRundownProtectionCacheAware(r);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_EQ(atomic_load(&w.returned), 1);
    CHECK(!ExAcquireRundownProtectionCacheAware(r));
    ExRundownCompletedCacheAware(r);
    CHECK(!ExAcquireRundownProtectionCacheAware(r));
    ExReInitializeRundownProtectionCacheAware(r);
    CHECK(ExAcquireRundownProtectionCacheAware(r)); /* reopened */
    ExReleaseRundownProtectionCacheAware(r);
    /* and it can be run down again (the first rundown left no trace) */
    drain_rec d;
    memset(&d, 0, sizeof(d));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_SUCCESS);
    CHECK_EQ(atomic_load(&d.calls), 1);
    CHECK_EQ(misuse_total(), 0);
    ExFreeCacheAwareRundownProtection(r);
}

/* A second wait is misuse (reported) and returns; so is a wait after a drain. */
static void t_ca_second_wait(void)
{
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    ExWaitForRundownProtectionReleaseCacheAware(r);
    CHECK_EQ(misuse(NMR_MISUSE_RUNDOWN), 0);
    ExWaitForRundownProtectionReleaseCacheAware(r);
    CHECK_EQ(misuse(NMR_MISUSE_RUNDOWN), 1);
    CHECK(strstr(g_misuse_msg, "ExWaitForRundownProtectionReleaseCacheAware") != NULL);
    ExReInitializeRundownProtectionCacheAware(r);
    drain_rec d;
    memset(&d, 0, sizeof(d));
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_PENDING);
    /* a wait while a drain is pending: misuse, returns without waiting */
    ExWaitForRundownProtectionReleaseCacheAware(r);
    CHECK_EQ(misuse(NMR_MISUSE_RUNDOWN), 2);
    CHECK_EQ(atomic_load(&d.calls), 0);
    ExReleaseRundownProtectionCacheAware(r);
    CHECK_EQ(atomic_load(&d.calls), 1);
    ExFreeCacheAwareRundownProtection(r);
    memset(g_misuse, 0, sizeof(g_misuse));
}

/* ======================================================================
 * 3. nmr_rundown_drain
 * ====================================================================== */

/* Nothing held: the callback runs at once, here, inline_call TRUE,
 * STATUS_SUCCESS; a second drain is refused without calling fn. */
static void t_drain_idle(void)
{
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    drain_rec d, d2;
    memset(&d, 0, sizeof(d));
    memset(&d2, 0, sizeof(d2));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_SUCCESS);
    CHECK_EQ(atomic_load(&d.calls), 1);
    CHECK_EQ(d.inline_call, TRUE);
    CHECK(d.context_seen == &d);
    CHECK(pthread_equal(d.thread, pthread_self()));
    CHECK(!ExAcquireRundownProtectionCacheAware(r));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d2), STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(atomic_load(&d2.calls), 0);
    CHECK_EQ(atomic_load(&d.calls), 1);
    ExFreeCacheAwareRundownProtection(r);
}

/* References held: STATUS_PENDING, fn not called; acquires fail; only the
 * last release (Ex counts included) fires it, once, inline_call FALSE, on
 * the releasing thread. */
static void t_drain_held(void)
{
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    CHECK(ExAcquireRundownProtectionCacheAwareEx(r, 3));
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    drain_rec d, d2;
    memset(&d, 0, sizeof(d));
    memset(&d2, 0, sizeof(d2));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_PENDING);
    CHECK_EQ(atomic_load(&d.calls), 0);
    CHECK(!ExAcquireRundownProtectionCacheAware(r));
    CHECK(!ExAcquireRundownProtectionCacheAwareEx(r, 2));
    CHECK_EQ(atomic_load(&d.calls), 0); /* failed acquires do not fire */
    CHECK_EQ(nmr_rundown_references(r), 4);
    /* second drain while pending: refused, fn not called, first intact */
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d2), STATUS_INVALID_DEVICE_STATE);
    ExReleaseRundownProtectionCacheAwareEx(r, 2);
    CHECK_EQ(atomic_load(&d.calls), 0);
    ExReleaseRundownProtectionCacheAware(r);
    CHECK_EQ(atomic_load(&d.calls), 0);
    /* the last one: on another thread */
    ca_helper h = {r, 1, 1, 0, 0};
    run_helper(&h);
    CHECK_EQ(atomic_load(&d.calls), 1);
    CHECK_EQ(d.inline_call, FALSE);
    CHECK(!pthread_equal(d.thread, pthread_self()));
    CHECK(d.context_seen == &d);
    CHECK_EQ(atomic_load(&d2.calls), 0);
    CHECK(!ExAcquireRundownProtectionCacheAware(r));
    CHECK_EQ(atomic_load(&d.calls), 1); /* a failed acquire after: no refire */
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d2), STATUS_INVALID_DEVICE_STATE);
    CHECK_EQ(atomic_load(&d2.calls), 0);
    /* reinitialize: a new drain works and calls the new callback */
    ExReInitializeRundownProtectionCacheAware(r);
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d2), STATUS_PENDING);
    ExReleaseRundownProtectionCacheAware(r);
    CHECK_EQ(atomic_load(&d2.calls), 1);
    CHECK_EQ(d2.inline_call, FALSE);
    CHECK(pthread_equal(d2.thread, pthread_self()));
    CHECK_EQ(atomic_load(&d.calls), 1);
    ExFreeCacheAwareRundownProtection(r);
}

/* NULL ref or fn: STATUS_INVALID_PARAMETER and the rundown is not started. */
static void t_drain_null(void)
{
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    drain_rec d;
    memset(&d, 0, sizeof(d));
    CHECK_STATUS(nmr_rundown_drain(NULL, drain_cb, &d), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_rundown_drain(r, NULL, &d), STATUS_INVALID_PARAMETER);
    CHECK_EQ(atomic_load(&d.calls), 0);
    CHECK(ExAcquireRundownProtectionCacheAware(r)); /* still open */
    ExReleaseRundownProtectionCacheAware(r);
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_SUCCESS);
    CHECK_EQ(atomic_load(&d.calls), 1);
    ExFreeCacheAwareRundownProtection(r);
}

/* The callback may free the object, inline or from the last release
 * (ASan: nothing touches it afterwards).  Both kinds of memory, and the
 * overflow path. */
static void t_drain_frees(void)
{
    for (int i = 0; i < 200; i++) {
        drain_rec d;
        memset(&d, 0, sizeof(d));
        PEX_RUNDOWN_REF_CACHE_AWARE r;
        int kind = i % 4;
        if (kind == 0) {
            r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
            CHECK(r != NULL);
            d.free_me = r;
        } else {
            size_t sz = kind == 1 ? head_size() : kind == 2
                                                      ? head_size() + sizeof(nmr_rundown_slot)
                                                      : ExSizeOfRundownProtectionCacheAware();
            r = caller_object(sz);
            ExInitializeRundownProtectionCacheAware(r, sz);
            d.free_raw = r;
        }
        int held = (i / 4) % 3; /* 0: inline, 1: here, 2: another thread */
        if (held == 0) {
            CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_SUCCESS);
            CHECK_EQ(d.inline_call, TRUE);
        } else {
            CHECK(ExAcquireRundownProtectionCacheAware(r));
            CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_PENDING);
            CHECK_EQ(atomic_load(&d.calls), 0);
            if (held == 1) {
                ExReleaseRundownProtectionCacheAware(r);
            } else {
                ca_helper h = {r, 1, 1, 0, 0};
                run_helper(&h);
            }
            CHECK_EQ(d.inline_call, FALSE);
        }
        CHECK_EQ(atomic_load(&d.calls), 1);
        CHECK(d.free_me == NULL && d.free_raw == NULL);
    }
}

/* The waiter may free the object as soon as the wait returns. */
static void t_wait_then_free(void)
{
    for (int i = 0; i < 50; i++) {
        PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
        CHECK(r != NULL);
        CHECK(ExAcquireRundownProtectionCacheAware(r));
        ca_helper w = {r, 2, 0, 0, 0};
        pthread_t th;
        CHECK(pthread_create(&th, NULL, ca_helper_main, &w) == 0);
        while (__atomic_load_n(&r->state, __ATOMIC_SEQ_CST) == NMR_RD_OPEN)
            sched_yield();
        ExReleaseRundownProtectionCacheAware(r);
        CHECK(pthread_join(th, NULL) == 0);
        ExFreeCacheAwareRundownProtection(r);
    }
}

/* ======================================================================
 * 4. fault injection
 * ====================================================================== */

/* Out of memory: ExAllocate... returns NULL, nmr_guard_init returns
 * STATUS_INSUFFICIENT_RESOURCES; nothing leaks; the next call works. */
static void t_faults(void)
{
    long live0 = nmr_alloc_live();
    nmr_alloc_fail_at(1);
    CHECK(ExAllocateCacheAwareRundownProtection(NonPagedPool, 0) == NULL);
    CHECK_EQ(nmr_alloc_fail_remaining(), 0);
    CHECK_EQ(nmr_alloc_live(), live0);
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    ExFreeCacheAwareRundownProtection(r);

    nmr_guard g;
    memset(&g, 0, sizeof(g));
    nmr_alloc_fail_at(1);
    CHECK_STATUS(nmr_guard_init(&g, (HANDLE)(uintptr_t)0x1234, NMR_GUARD_CLIENT),
                 STATUS_INSUFFICIENT_RESOURCES);
    nmr_alloc_fail_at(0);
    CHECK_EQ(nmr_alloc_live(), live0);
    CHECK_STATUS(nmr_guard_init(&g, (HANDLE)(uintptr_t)0x1234, NMR_GUARD_PROVIDER),
                 STATUS_SUCCESS);
    CHECK_EQ(nmr_alloc_live(), live0 + 1);
    nmr_guard_destroy(&g);
    CHECK_EQ(nmr_alloc_live(), live0);
    CHECK_EQ(misuse_total(), 0);
}

/* ======================================================================
 * 5. switch points for a schedule explorer (nmr_check_watch_thread)
 * ====================================================================== */

/* Counting hooks: every point, with the last one's name and object. */
static atomic_int points;
static char last_fn[64];
static const void *last_obj;

static void hk_point(const char *fn, const void *obj)
{
    atomic_fetch_add(&points, 1);
    snprintf(last_fn, sizeof last_fn, "%s", fn);
    last_obj = obj;
}
static void hk_block_begin(const char *fn, const void *obj, int timed)
{
    (void)fn;
    (void)obj;
    (void)timed;
}
static void hk_block_end(void) {}
static void hk_wake(const void *obj) { (void)obj; }
static int hk_reserve(const char *what)
{
    (void)what;
    return -1;
}
static void hk_begin(int ticket) { (void)ticket; }
static void hk_end(void) {}

static const nmr_check_sched_hooks counting = {hk_point, hk_block_begin, hk_block_end, hk_wake,
                                               hk_reserve, hk_begin, hk_end};

/* Points since the last call. */
static int points_taken(void) { return atomic_exchange(&points, 0); }

#define CHECK_POINT(fn_, obj_)                                                             \
    do {                                                                                   \
        CHECK_EQ(points_taken(), 1);                                                       \
        CHECK(strcmp(last_fn, (fn_)) == 0);                                                \
        CHECK(last_obj == (const void *)(obj_));                                           \
    } while (0)

/* A watched thread's rundown operations are one switch point each (a wait
 * or a guard detach too: one, not two); an unwatched thread's are none;
 * the counters stay exact across the switch from slot to shared counter
 * and back. */
static void t_watch_points(void)
{
    nmr_check_set_sched_hooks(&counting);
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    EX_RUNDOWN_REF x;
    ExInitializeRundownProtection(&x);

    /* not watched: nothing */
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    ExReleaseRundownProtectionCacheAware(r);
    CHECK(ExAcquireRundownProtection(&x));
    ExReleaseRundownProtection(&x);
    CHECK_EQ(points_taken(), 0);
    uint32_t slot1 = nmr_rundown_me.slot1;
    CHECK(slot1 != 0);

    nmr_check_watch_thread(1);
    nmr_check_watch_thread(1); /* twice: still one watch */
    CHECK_EQ(nmr_rundown_watching, 1);
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    CHECK_POINT("ExAcquireRundownProtectionCacheAware", r);
    CHECK_EQ(nmr_rundown_references(r), 1);
    CHECK(ExAcquireRundownProtection(&x));
    CHECK_POINT("ExAcquireRundownProtection", &x);
    ExReleaseRundownProtection(&x);
    CHECK_POINT("ExReleaseRundownProtection", &x);

    /* taken watched (shared counter), given back unwatched (the slot) */
    nmr_check_watch_thread(0);
    nmr_check_watch_thread(0);
    CHECK_EQ(nmr_rundown_watching, 0);
    CHECK_EQ(nmr_rundown_me.slot1, slot1);
    ExReleaseRundownProtectionCacheAware(r);
    CHECK_EQ(points_taken(), 0);
    CHECK_EQ(nmr_rundown_references(r), 0);

    /* and the other way round, then a drain that finds nothing held */
    CHECK(ExAcquireRundownProtectionCacheAware(r));
    nmr_check_watch_thread(1);
    ExReleaseRundownProtectionCacheAware(r);
    CHECK_POINT("ExReleaseRundownProtectionCacheAware", r);
    CHECK_EQ(nmr_rundown_references(r), 0);
    drain_rec d;
    memset(&d, 0, sizeof(d));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_SUCCESS);
    CHECK_POINT("nmr_rundown_drain", r);
    CHECK_EQ(atomic_load(&d.calls), 1);
    /* an acquire that fails is a point too */
    CHECK(!ExAcquireRundownProtectionCacheAware(r));
    CHECK_POINT("ExAcquireRundownProtectionCacheAware", r);
    ExFreeCacheAwareRundownProtection(r);

    /* a wait: one point, under its own name */
    r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    ExWaitForRundownProtectionReleaseCacheAware(r);
    CHECK_POINT("ExWaitForRundownProtectionReleaseCacheAware", r);
    ExFreeCacheAwareRundownProtection(r);

    /* a guard: enter and leave are points; detach is one, its own */
    nmr_guard g;
    CHECK_STATUS(nmr_guard_init(&g, (HANDLE)(uintptr_t)0x1234, NMR_GUARD_CLIENT),
                 STATUS_SUCCESS);
    CHECK(nmr_guard_enter(&g));
    CHECK_POINT("ExAcquireRundownProtectionCacheAware", g.rundown);
    nmr_guard_leave(&g);
    CHECK_POINT("ExReleaseRundownProtectionCacheAware", g.rundown);
    CHECK_STATUS(nmr_guard_detach(&g), STATUS_SUCCESS);
    CHECK_POINT("nmr_guard_detach", &g);
    nmr_guard_destroy(&g);

    nmr_check_watch_thread(0);
    CHECK_EQ(nmr_rundown_me.slot1, slot1);
    CHECK_EQ(nmr_rundown_me.watched_slot1, 0);
    nmr_check_set_sched_hooks(NULL);
}

/* A watched thread's release is the last one of a drain another thread
 * started: the callback runs there, once; a watched thread that ends
 * without unwatching leaves nothing watched behind. */
static void *watched_release(void *arg)
{
    nmr_check_watch_thread(1);
    ExReleaseRundownProtectionCacheAware(arg);
    return NULL;
}

static void t_watch_cross_thread(void)
{
    nmr_check_set_sched_hooks(&counting);
    PEX_RUNDOWN_REF_CACHE_AWARE r = ExAllocateCacheAwareRundownProtection(NonPagedPool, 0);
    CHECK(r != NULL);
    CHECK(ExAcquireRundownProtectionCacheAware(r)); /* main's slot */
    drain_rec d;
    memset(&d, 0, sizeof(d));
    CHECK_STATUS(nmr_rundown_drain(r, drain_cb, &d), STATUS_PENDING);
    CHECK_EQ(points_taken(), 0); /* main is not watched */
    pthread_t th;
    CHECK(pthread_create(&th, NULL, watched_release, r) == 0);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_POINT("ExReleaseRundownProtectionCacheAware", r);
    CHECK_EQ(atomic_load(&d.calls), 1);
    CHECK_EQ(d.inline_call, FALSE);
    CHECK(!pthread_equal(d.thread, pthread_self()));
    CHECK_EQ(nmr_rundown_watching, 0);
    ExFreeCacheAwareRundownProtection(r);
    nmr_check_set_sched_hooks(NULL);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static long live0; /* live allocations before the case */

static void setup(void)
{
    nmr_diag_set_strict(0);
    nmr_diag_set_hook(misuse_hook, NULL, NULL);
    alarm(120); /* a hung wait is a failure, not a ctest timeout */
    live0 = nmr_alloc_live();
}

static void teardown(void)
{
    /* t_ca_caller_memory misuses on purpose (and counts it itself); no
     * other case may cause a misuse report. */
    if (strcmp(nmr_test_current, "t_ca_caller_memory") != 0)
        CHECK_EQ(misuse_total(), 0);
    CHECK_EQ(nmr_alloc_live(), live0); /* every allocated object was freed */
}

static const nmr_test_case cases[] = {
    CASE(t_ex_basic, ""),
    CASE(t_ex_wait_blocks, ""),
    CASE(t_ex_wait_then_free, ""),
    CASE(t_ca_alloc_free, ""),
    CASE(t_ca_counts, ""),
    CASE(t_ca_cross_thread, ""),
    CASE(t_ca_caller_memory, ""),
    CASE(t_ca_wait_blocks, ""),
    CASE(t_ca_second_wait, ""),
    CASE(t_drain_idle, ""),
    CASE(t_drain_held, ""),
    CASE(t_drain_null, ""),
    CASE(t_drain_frees, ""),
    CASE(t_wait_then_free, ""),
    CASE(t_faults, ""),
    CASE(t_watch_points, ""),
    CASE(t_watch_cross_thread, ""),
};

NMR_TEST_SUITE(test_rundown, cases, setup, teardown, NULL);
