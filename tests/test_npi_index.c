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
    CHECK_EQ(a->refs, 1);
    nmr_npi *again = nmr_npi_get(0, &g);
    CHECK(again == a);
    CHECK_EQ(a->refs, 2);
    nmr_npi_put(again);
    nmr_npi_put(a);
    CHECK_EQ(visited(), 0); /* parked: not visited */
    nmr_npi *b = nmr_npi_get(0, &g);
    CHECK(b == a);          /* taken back from its chain */
    CHECK_EQ(b->refs, 1);
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
            CHECK_EQ(n->refs, 1);
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

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_parked_entry_found_again, "R4"),
    CASE(t_spares_evicted_and_reused, "R4"),
    CASE(t_registrations_over_parked_entries, "R4 R25"),
};

NMR_TEST_SUITE(test_npi_index, cases, rt_setup, rt_teardown, NULL);
