/* SPDX-License-Identifier: MIT */
/*
 * test_npi_index.c - the NPI index (src/core/npi_index.c) on its own: an
 * entry whose last reference goes is parked in its hash chain as its
 * stripe's spare (issue 14); the next get of the same NPI takes it back,
 * a new NPI of the stripe unlinks and reuses it, a second spare in a
 * stripe evicts the older one, and nmr_npi_foreach never visits a parked
 * entry.  Enough NPIs (far more than the 64 stripes) that every path is
 * taken.
 */
#include "check.h"
#include "fixture.h"
#include "rule_test.h"

#include "invariants.h"
#include "npi_index.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

enum { N = 300 };

static void count_visit(nmr_npi *npi, void *arg)
{
    (void)npi;
    ++*(int *)arg;
}

static int visited(void)
{
    int n = 0;
    CHECK_EQ(nmr_npi_foreach(count_visit, &n), 0);
    return n;
}

static GUID guid(int i)
{
    return fx_guid(0x14000000u + (uint32_t)i);
}

/* get, put, get again: the same entry, found where it was parked. */
static void t_parked_entry_found_again(void)
{
    GUID g = guid(0);
    nmr_npi *a = nmr_npi_get(0, &g);
    CHECK(a != NULL);
    CHECK_EQ(nmr_npi_uses(a), 1);
    nmr_npi *again = nmr_npi_get(0, &g);
    CHECK(again == a);
    CHECK_EQ(nmr_npi_uses(a), 2);
    nmr_npi_put(again);
    nmr_npi_put(a);
    CHECK_EQ(visited(), 0); /* parked: not visited */
    nmr_npi *b = nmr_npi_get(0, &g);
    CHECK(b == a);          /* taken back from its chain */
    CHECK_EQ(nmr_npi_uses(b), 1);
    CHECK(memcmp(&b->id, &g, sizeof g) == 0);
    CHECK_EQ(visited(), 1);
    nmr_npi_put(b);
    CHECK_EQ(visited(), 0);
}

/* Many NPIs one after the other: each put parks its entry and evicts the
 * stripe's older spare; each get of a new NPI may reuse another NPI's
 * spare.  Every entry found has the identity asked for. */
static void t_spares_evicted_and_reused(void)
{
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++) {
            GUID g = guid(i);
            nmr_npi *n = nmr_npi_get(0, &g);
            CHECK(n != NULL);
            CHECK(memcmp(&n->id, &g, sizeof g) == 0);
            CHECK_EQ(n->registrar, 0);
            CHECK_EQ(nmr_npi_uses(n), 1);
            CHECK(n->regs[0].next == &n->regs[0] && n->regs[1].next == &n->regs[1]);
            nmr_npi_put(n);
        }
        CHECK_EQ(visited(), 0);
    }
    /* all held at once: distinct entries, all visited; then none */
    static nmr_npi *held[N];
    for (int i = 0; i < N; i++) {
        GUID g = guid(i);
        held[i] = nmr_npi_get(0, &g);
        CHECK(held[i] != NULL);
        CHECK(memcmp(&held[i]->id, &g, sizeof g) == 0);
        for (int j = 0; j < i; j++)
            CHECK(held[j] != held[i]);
    }
    CHECK_EQ(visited(), N);
    for (int i = 0; i < N; i++)
        nmr_npi_put(held[i]);
    CHECK_EQ(visited(), 0);
    /* a registrar key is part of the identity: same GUID, another key */
    GUID g = guid(0);
    nmr_npi *d = nmr_npi_get(0, &g);
    nmr_npi *o = nmr_npi_get(0x1238, &g);
    CHECK(d != NULL && o != NULL && d != o);
    nmr_npi_put(o);
    nmr_npi_put(d);
    CHECK_EQ(visited(), 0);
}

/* The same through the API: lone registrations of many NPIs, one after
 * the other and all at once; the index stays consistent. */
static void t_registrations_over_parked_entries(void)
{
    static fx_module *m[N];
    static GUID g[N];
    for (int i = 0; i < N; i++) {
        g[i] = guid(1000 + i);
        m[i] = fx_client(&g[i]);
        CHECK_STATUS(fx_register(m[i]), STATUS_SUCCESS);
        CHECK_STATUS(fx_deregister(m[i]), STATUS_PENDING);
        CHECK_STATUS(fx_wait(m[i]), STATUS_SUCCESS);
    }
    CHECK_EQ(visited(), 0);
    for (int i = 0; i < N; i++)
        CHECK_STATUS(fx_register(m[i]), STATUS_SUCCESS);
    CHECK_EQ(visited(), N);
    char why[256];
    CHECK_EQ(nmr_check_invariants(why, sizeof why), 0);
    for (int i = 0; i < N; i++) {
        CHECK_STATUS(fx_deregister(m[i]), STATUS_PENDING);
        CHECK_STATUS(fx_wait(m[i]), STATUS_SUCCESS);
    }
    CHECK_EQ(visited(), 0);
    CHECK_EQ(nmr_check_invariants(why, sizeof why), 0);
}

/* ---- the per-thread pin ---- */

static GUID pin_guid;
static nmr_npi *pin_seen;

/* A thread looks an NPI up and returns it: its pin stays until it exits. */
static void *pin_thread(void *arg)
{
    (void)arg;
    nmr_npi *n = nmr_npi_get(0, &pin_guid);
    CHECK(n != NULL);
    CHECK(nmr_npi_get(0, &pin_guid) == n); /* the pinned fast path */
    CHECK_EQ(nmr_npi_uses(n), 2);
    CHECK_EQ(n->pins, 1);
    nmr_npi_put(n);
    nmr_npi_put(n);
    CHECK_EQ(nmr_npi_uses(n), 0);
    CHECK_EQ(atomic_load(&n->refs), 1); /* the pin alone */
    pin_seen = n;
    return NULL;
}

/* The last NPI a thread looked up keeps one reference of the thread's
 * (issue 14): found again by that thread without the index, never
 * visited without registrations, and given back - parked - when the pin
 * moves to another NPI or the thread exits.  Entries are persistent, so
 * reading one after its pin went is reading a parked entry. */
static void t_pin_moves_and_ends_with_thread(void)
{
    pin_guid = guid(7000);
    pthread_t t;
    CHECK_EQ(pthread_create(&t, NULL, pin_thread, NULL), 0);
    pthread_join(t, NULL);
    CHECK(pin_seen != NULL);
    CHECK_EQ(atomic_load(&pin_seen->refs), 0); /* the exit dropped the pin */
    CHECK_EQ(pin_seen->pins, 0);
    CHECK_EQ(visited(), 0);

    /* on this thread: the pin moves from one NPI to the next */
    GUID g1 = guid(7001), g2 = guid(7002);
    nmr_npi *a = nmr_npi_get(0, &g1);
    CHECK(a != NULL);
    nmr_npi_put(a);
    CHECK_EQ(atomic_load(&a->refs), 1);
    CHECK_EQ(a->pins, 1);
    CHECK_EQ(visited(), 0); /* pinned only: not in use */
    nmr_npi *b = nmr_npi_get(0, &g2);
    CHECK(b != NULL && b != a);
    CHECK_EQ(atomic_load(&a->refs), 0); /* moved away: a is parked */
    CHECK_EQ(a->pins, 0);
    CHECK_EQ(nmr_npi_uses(b), 1);
    CHECK_EQ(visited(), 1);
    nmr_npi_put(b);
    CHECK_EQ(visited(), 0);
    /* the same GUID under another registrar key is another NPI */
    nmr_npi *o = nmr_npi_get(0x1238, &g2);
    CHECK(o != NULL && o != b);
    CHECK_EQ(atomic_load(&b->refs), 0);
    nmr_npi_put(o);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_parked_entry_found_again, "R4"),
    CASE(t_spares_evicted_and_reused, "R4"),
    CASE(t_registrations_over_parked_entries, "R4 R25"),
    CASE(t_pin_moves_and_ends_with_thread, "R4"),
};

NMR_TEST_SUITE(test_npi_index, cases, rt_setup, rt_teardown, NULL);
