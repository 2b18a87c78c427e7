/* SPDX-License-Identifier: MIT */
/*
 * test_mt_churn.c - heavy concurrent churn on many NPIs (R25, with R5,
 * R6, R10, R12, R13, R16, R18, R22, R23, R24).
 *
 * Not a speed test: a correctness test.  Four threads register and
 * deregister clients and providers on eight NPIs with random attach
 * decisions (accept, decline, accept-then-fail, retry), random detach
 * behaviour (SUCCESS, completion inside the callback, completion from one of
 * two completer threads at a random later moment), waiting at once or
 * later; a few callbacks deregister their own module from inside the
 * callback (R22).  Every callback checks the harness invariants; at the end every
 * binding must have had each detach once and each cleanup once after both
 * halves, and every pair of registrations that coexisted was offered
 * exactly once (checked by logical time, see mt_verify_pairs).
 *
 * A second case checks progress: a callback blocked on one NPI (inside an
 * offer, then inside a detach) must not stop other threads from
 * registering, binding, deregistering and waiting on other NPIs, nor on the
 * same NPI (R22: no NMR lock is held across a callback; R25).
 */
#define _POSIX_C_SOURCE 200809L
#include "mt_harness.h"

#define CH_THREADS 4
#define CH_NPIS 8
#define CH_LIVE 6

static struct {
    atomic_int stop;
    atomic_long ops[CH_THREADS];
} ch;

static mt_mod *ch_new(void)
{
    int side = mt_chance(50) ? MT_CLIENT : MT_PROVIDER;
    int npi = (int)(mt_rand() % CH_NPIS);
    int att = side == MT_CLIENT ? MT_ATT_RANDOM : MT_PATT_RANDOM;
    if (side == MT_CLIENT && mt_chance(20))
        att = MT_ATT_ACCEPT;
    return mt_mod_new(side, npi, att, MT_DET_RANDOM);
}

static void *ch_main(void *arg)
{
    int w = (int)(intptr_t)arg;
    mt_mod *live[CH_LIVE], *dying[CH_LIVE];
    int nl = 0, nd = 0;
    while (!atomic_load(&ch.stop)) {
        unsigned x = mt_rand() % 100u;
        if (nl < CH_LIVE && (x < 45 || nl == 0)) {
            mt_mod *m = ch_new();
            mt_register(m);
            live[nl++] = m;
        } else if (x < 85 && nl > 0) {
            int i = (int)(mt_rand() % (unsigned)nl);
            mt_mod *m = live[i];
            live[i] = live[--nl];
            mt_try_deregister(m); /* unless a callback did (R22) */
            if (nd == CH_LIVE || mt_chance(50))
                mt_wait(m);
            else
                dying[nd++] = m;
        } else if (nd > 0) {
            int i = (int)(mt_rand() % (unsigned)nd);
            mt_wait(dying[i]);
            dying[i] = dying[--nd];
        }
        atomic_fetch_add(&ch.ops[w], 1);
    }
    for (int i = 0; i < nl; i++)
        mt_try_deregister(live[i]);
    for (int i = 0; i < nl; i++)
        mt_wait(live[i]);
    for (int i = 0; i < nd; i++)
        mt_wait(dying[i]);
    return NULL;
}

/* R25 (and everything the harness checks) */
static void test_churn(void)
{
    mt_loop l;
    pthread_t th[CH_THREADS];
    mt_loop_init(&l, "R25 churn: 4 threads x 8 NPIs", 60000);
    if (l.max == 0)
        return;
    /* Here the loop counts operations per thread; the budget bounds time. */
    double budget = l.budget > 1e8 ? 1e8 : l.budget * 1.5;
    atomic_store(&ch.stop, 0);
    atomic_store(&mt_nested_dereg_pct, 4); /* R22: some callbacks deregister their own module */
    mt_cq_start(2, 100);
    for (int i = 0; i < CH_THREADS; i++) {
        atomic_store(&ch.ops[i], 0);
        CHECK(pthread_create(&th[i], NULL, ch_main, (void *)(intptr_t)i) == 0);
    }
    double t0 = mt_now();
    for (;;) {
        long min = atomic_load(&ch.ops[0]);
        for (int i = 1; i < CH_THREADS; i++)
            if (atomic_load(&ch.ops[i]) < min)
                min = atomic_load(&ch.ops[i]);
        if (min >= l.max || mt_now() - t0 > budget)
            break;
        mt_sleep_us(20000);
    }
    atomic_store(&ch.stop, 1);
    for (int i = 0; i < CH_THREADS; i++)
        pthread_join(th[i], NULL);
    mt_cq_stop();
    atomic_store(&mt_nested_dereg_pct, 0);
    long total = 0;
    for (int i = 0; i < CH_THREADS; i++) {
        MT_CHECK(atomic_load(&ch.ops[i]) > 0, "R25: a churning thread made no progress");
        total += atomic_load(&ch.ops[i]);
    }
    fprintf(stderr, "   churn: %ld operations, %ld offers, %ld bindings, %ld cleaned up, "
                    "%ld deregistrations from callbacks in %.2f s\n",
            total, atomic_load(&mt_total_offers), atomic_load(&mt_total_bindings),
            atomic_load(&mt_total_cleanups), atomic_load(&mt_nested_deregs), mt_now() - t0);
    MT_CHECK(atomic_load(&mt_nested_deregs) > 0, "test: no deregistration from a callback happened");
    mt_verify_recs();
    mt_verify_pairs();
    mt_reset();
}

/* ---- progress while a callback blocks -------------------------------------- */

static struct {
    atomic_int blocked, release, churned, used;
    int in_detach; /* block in ClientDetachProvider instead of the offer */
} pg;

static void pg_block_offer(mt_rec *r, NTSTATUS st)
{
    (void)r;
    (void)st;
    if (pg.in_detach || atomic_exchange(&pg.used, 1))
        return; /* block only the first offer */
    atomic_store(&pg.blocked, 1);
    MT_AWAIT(&pg.release, 1, "test: never released");
}

static NTSTATUS pg_block_detach(mt_rec *r, int side)
{
    (void)r;
    if (side == MT_CLIENT && pg.in_detach && !atomic_exchange(&pg.used, 1)) {
        atomic_store(&pg.blocked, 1);
        MT_AWAIT(&pg.release, 1, "test: never released");
    }
    return STATUS_SUCCESS;
}

static const mt_hooks pg_hooks = { .attach_after = pg_block_offer, .detach = pg_block_detach };

static void pg_role(mt_team *t, int w)
{
    (void)t;
    if (w == 0) {
        /* Blocks inside a callback on NPI 10 until the others are done. */
        mt_mod *p = mt_mod_new(MT_PROVIDER, 10, MT_PATT_ACCEPT, MT_DET_SUCCESS);
        mt_mod *c = mt_mod_new(MT_CLIENT, 10, MT_ATT_ACCEPT, MT_DET_CUSTOM);
        c->hooks = &pg_hooks;
        mt_register(p);
        mt_register(c); /* blocks here in the offer ... */
        mt_deregister(c); /* ... or here in ClientDetachProvider */
        mt_wait(c);
        mt_deregister(p);
        mt_wait(p);
        return;
    }
    MT_AWAIT(&pg.blocked, 1, "test: callback never blocked");
    /* Worker 1 churns on NPI 11, worker 2 on NPI 10, the blocked one's
     * NPI: its providers are offered to the blocked client too (on this
     * thread, while the client's first offer blocks on worker 0: different
     * bindings may run at once, R23), unless that client is deregistering. */
    int npi = w == 1 ? 11 : 10;
    int rounds = MT_TSAN ? 20 : 100;
    for (int i = 0; i < rounds; i++) {
        mt_mod *p = mt_mod_new(MT_PROVIDER, npi, MT_PATT_ACCEPT, MT_DET_RANDOM);
        mt_mod *c = mt_mod_new(MT_CLIENT, npi, MT_ATT_ACCEPT, MT_DET_RANDOM);
        if (npi == 10)
            c->att_mode = MT_ATT_DECLINE_EARLY; /* offered the blocked pair's provider */
        mt_register(p);
        mt_register(c);
        mt_deregister(c);
        mt_deregister(p);
        mt_wait(p);
        mt_wait(c);
    }
    if (atomic_fetch_add(&pg.churned, 1) == 1)
        atomic_store(&pg.release, 1);
}

/* R22 R25: other NPIs, and the same NPI, make progress while a callback
 * blocks.  If a lock were held across the callback, or registration were
 * serialized behind it, the churn would never finish and the watchdog or
 * the await timeout would fail the test. */
static void test_progress_while_blocked(void)
{
    mt_team t;
    mt_loop l;
    long offers0 = atomic_load(&mt_total_offers);
    mt_team_start(&t, 3, pg_role, NULL);
    for (mt_loop_init(&l, "R22/R25 progress while a callback blocks", 200); mt_loop_next(&l);) {
        atomic_store(&pg.blocked, 0);
        atomic_store(&pg.release, 0);
        atomic_store(&pg.churned, 0);
        atomic_store(&pg.used, 0);
        pg.in_detach = (int)(l.i & 1);
        mt_team_iter(&t);
        MT_CHECK(atomic_load(&pg.churned) == 2, "R25: churn did not finish");
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
    fprintf(stderr, "   %ld offers made while a callback was blocked\n",
            atomic_load(&mt_total_offers) - offers0);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    mt_init("test_mt_churn");
}

static void teardown(void)
{
    CHECK_EQ(atomic_load(&mt_misuse_total), 0);
}

static const nmr_test_case cases[] = {
    CASE(test_churn, "R22 R25"),
    CASE(test_progress_while_blocked, "R22 R25"),
};

NMR_TEST_SUITE(test_mt_churn, cases, setup, teardown, NULL);
