/* SPDX-License-Identifier: MIT */
/*
 * test_mt_register_race.c - registrations racing each other (R4, R5,
 * R6, R7, R8, R11, R12).
 *
 * Clients and providers of one NPI register at the same instant from
 * different threads (released together by a barrier, then shaken by a
 * random spin).  Insertion and match scan are one atomic step (R5), so every
 * pair is offered exactly once: never twice, never zero times.  Every
 * callback also checks the harness invariants (R10, R13, R16, R18, R23, R24;
 * see mt_harness.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "mt_harness.h"

/* ---- one client and one provider at the same instant ---------------------- */

static struct {
    mt_mod *c, *p, *decoy;
    mt_sbar go;
} pair;

static void pair_role(mt_team *t, int w)
{
    (void)t;
    mt_sbar_wait(&pair.go); /* leave together, then a few ns apart */
    mt_spin(mt_chance(30) ? 1500 : 150);
    mt_register(w == 0 ? pair.c : pair.p);
}

/* R5 R4: exactly one offer for the pair, every iteration. */
static void test_pair_race(void)
{
    mt_team t;
    mt_loop l;
    mt_sbar_init(&pair.go, 2);
    mt_team_start(&t, 2, pair_role, NULL);
    for (mt_loop_init(&l, "R5 client+provider register at once", 40000); mt_loop_next(&l);) {
        int it = (int)l.i;
        pair.c = mt_mod_new(MT_CLIENT, 0, MT_ATT_ACCEPT, it % 3 == 0 ? MT_DET_INSIDE : MT_DET_SUCCESS);
        pair.p = mt_mod_new(MT_PROVIDER, 0, MT_PATT_ACCEPT, it % 5 == 0 ? MT_DET_INSIDE : MT_DET_SUCCESS);
        /* R4: an NPI differing only in its last byte never matches. */
        pair.decoy = mt_mod_new(MT_PROVIDER, 1, MT_PATT_ACCEPT, MT_DET_SUCCESS);
        mt_register(pair.decoy);
        mt_team_iter(&t);
        /* R5 */
        MT_CHECK(atomic_load(&pair.c->n_offers) == 1,
                 "R5: racing client and provider not offered exactly once");
        MT_CHECK(atomic_load(&pair.p->n_offers) == 1,
                 "R5: provider attach not called exactly once");
        MT_CHECK(atomic_load(&pair.decoy->n_offers) == 0, "R4: decoy NPI matched");
        MT_CHECK(atomic_load(&pair.c->live) == 1 && atomic_load(&pair.p->live) == 1,
                 "R10: binding not attached");
        mt_mod *first = (it & 1) ? pair.c : pair.p;
        mt_mod *second = (it & 1) ? pair.p : pair.c;
        mt_deregister(first);
        mt_deregister(second);
        mt_deregister(pair.decoy);
        mt_wait(second);
        mt_wait(first);
        mt_wait(pair.decoy);
        mt_verify_recs();
        mt_verify_pairs();
        mt_reset();
    }
    mt_team_stop(&t);
}

/* ---- R7: the handle is stored before any offer, whoever makes it ---------- */

static void r7_before(mt_rec *r)
{
    /* The offer may be made by the peer's registration on the other
     * thread: this module's NmrRegister* may not have returned yet, but its
     * handle must already be in its out-variable (R7: callbacks may use
     * it).  Read with a plain load, as a module would. */
    MT_CHECK(r->c->h != NULL,
             "R7: client's handle not stored before an offer made by a peer registering on another thread");
    MT_CHECK(r->p->h != NULL,
             "R7: provider's handle not stored before an offer made to it on another thread");
}

static const mt_hooks r7_hooks = { .attach_before = r7_before };

/* R7 R5: as test_pair_race, and each callback reads both handles. */
static void test_handle_before_offer(void)
{
    mt_team t;
    mt_loop l;
    mt_sbar_init(&pair.go, 2);
    mt_team_start(&t, 2, pair_role, NULL);
    for (mt_loop_init(&l, "R7 handle stored before an offer made by a peer", 40000); mt_loop_next(&l);) {
        pair.c = mt_mod_new(MT_CLIENT, 0, MT_ATT_ACCEPT, MT_DET_SUCCESS);
        pair.p = mt_mod_new(MT_PROVIDER, 0, MT_PATT_ACCEPT, MT_DET_SUCCESS);
        pair.c->hooks = &r7_hooks;
        mt_team_iter(&t);
        MT_CHECK(atomic_load(&pair.c->n_offers) == 1,
                 "R5: racing client and provider not offered exactly once");
        mt_deregister(pair.c);
        mt_deregister(pair.p);
        mt_wait(pair.p);
        mt_wait(pair.c);
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
}

/* ---- N clients and M providers spread over 4 threads ---------------------- */

#define NM_WORKERS 4
#define NM_MAX 4

static struct {
    int n, m, phase;
    mt_mod *c[NM_MAX], *p[NM_MAX];
    mt_mod *mine[NM_WORKERS][2 * NM_MAX];
    int n_mine[NM_WORKERS];
} nm;

static void nm_role(mt_team *t, int w)
{
    (void)t;
    mt_jitter(300);
    if (nm.phase == 0) {
        for (int i = 0; i < nm.n_mine[w]; i++) {
            mt_register(nm.mine[w][i]);
            mt_jitter(100);
        }
    } else {
        /* Deregister everything this worker owns, racing the others (R13),
         * then wait for each (R18). */
        for (int i = nm.n_mine[w] - 1; i >= 0; i--)
            mt_deregister(nm.mine[w][i]);
        for (int i = 0; i < nm.n_mine[w]; i++)
            mt_wait(nm.mine[w][i]);
    }
}

/* R5 R6: N clients and M providers racing: exactly N*M offers, each pair
 * once, whatever each attach decides. */
static void test_n_by_m_race(void)
{
    mt_team t;
    mt_loop l;
    mt_cq_start(1, 50);
    mt_team_start(&t, NM_WORKERS, nm_role, NULL);
    for (mt_loop_init(&l, "R5 N clients x M providers register at once", 6000); mt_loop_next(&l);) {
        long offers0 = atomic_load(&mt_total_offers);
        nm.n = 1 + (int)(mt_rand() % NM_MAX);
        nm.m = 1 + (int)(mt_rand() % NM_MAX);
        memset(nm.n_mine, 0, sizeof nm.n_mine);
        for (int i = 0; i < nm.n; i++) {
            nm.c[i] = mt_mod_new(MT_CLIENT, 2, MT_ATT_RANDOM, MT_DET_RANDOM);
            int w = (int)(mt_rand() % NM_WORKERS);
            nm.mine[w][nm.n_mine[w]++] = nm.c[i];
        }
        for (int i = 0; i < nm.m; i++) {
            nm.p[i] = mt_mod_new(MT_PROVIDER, 2, MT_PATT_RANDOM, MT_DET_RANDOM);
            int w = (int)(mt_rand() % NM_WORKERS);
            nm.mine[w][nm.n_mine[w]++] = nm.p[i];
        }
        nm.phase = 0;
        mt_team_iter(&t);
        MT_CHECK(atomic_load(&mt_total_offers) - offers0 == (long)nm.n * nm.m,
                 "R5: N clients x M providers racing did not make exactly N*M offers");
        for (int i = 0; i < nm.n; i++) {
            MT_CHECK(atomic_load(&nm.c[i]->n_offers) == nm.m, "R5: a client missed an offer");
            for (int j = 0; j < nm.m; j++) {
                int k = 0;
                for (int q = 0; q < nm.c[i]->n_offered; q++)
                    k += nm.c[i]->offered[q] == nm.p[j]->id;
                MT_CHECK(k == 1, "R5: a pair not offered exactly once");
            }
        }
        nm.phase = 1;
        mt_team_iter(&t);
        mt_verify_recs();
        mt_verify_pairs();
        mt_reset();
    }
    mt_team_stop(&t);
    mt_cq_stop();
}

/* ---- a registration racing a deregistration ------------------------------- */

static struct {
    mt_mod *c, *old_p, *new_p;
} rd;

static void rd_role(mt_team *t, int w)
{
    (void)t;
    mt_jitter(500);
    if (w == 0) {
        mt_register(rd.c);
    } else if (w == 1) {
        mt_deregister(rd.old_p);
        mt_jitter(200);
        mt_wait(rd.old_p); /* R11: waits for an offer in flight, if any */
    } else {
        mt_register(rd.new_p);
    }
}

/* R5 R11 R12: a client registers while one provider deregisters and another
 * registers.  The new pair is offered exactly once; the old pair at most
 * once, never after the deregistration returned, and whatever binding it
 * made is gone when the provider's wait returns. */
static void test_register_vs_deregister(void)
{
    mt_team t;
    mt_loop l;
    mt_cq_start(1, 30);
    mt_team_start(&t, 3, rd_role, NULL);
    for (mt_loop_init(&l, "R5/R11/R12 register racing deregister", 12000); mt_loop_next(&l);) {
        rd.c = mt_mod_new(MT_CLIENT, 3, MT_ATT_ACCEPT, MT_DET_RANDOM);
        rd.old_p = mt_mod_new(MT_PROVIDER, 3, MT_PATT_ACCEPT, MT_DET_RANDOM);
        rd.new_p = mt_mod_new(MT_PROVIDER, 3, MT_PATT_ACCEPT, MT_DET_RANDOM);
        mt_register(rd.old_p);
        mt_team_iter(&t);
        MT_CHECK(atomic_load(&rd.old_p->live) == 0,
                 "R11/R18: binding to a waited provider still alive");
        MT_CHECK(atomic_load(&rd.c->n_offers) >= 1 && atomic_load(&rd.c->n_offers) <= 2,
                 "R5: wrong number of offers");
        mt_deregister(rd.c);
        mt_deregister(rd.new_p);
        mt_wait(rd.new_p);
        mt_wait(rd.c);
        mt_verify_recs();
        mt_verify_pairs();
        mt_reset();
    }
    mt_team_stop(&t);
    mt_cq_stop();
}

/* ---- R8: NmrClientAttachProvider from a foreign thread during the offer ---- */

static struct {
    mt_mod *c, *p;
    _Atomic(mt_rec *) rec;
    atomic_int foreign_done;
} fa;

static void fa_before(mt_rec *r)
{
    atomic_store(&fa.rec, r);
    MT_AWAIT(&fa.foreign_done, 1, "R8: foreign NmrClientAttachProvider blocked");
}

static const mt_hooks fa_hooks = { .attach_before = fa_before };

static void fa_role(mt_team *t, int w)
{
    (void)t;
    if (w == 0) {
        mt_register(fa.c); /* the offer runs here and waits for worker 1 */
        return;
    }
    mt_rec *r;
    double deadline = mt_now() + mt_wait_timeout_s();
    while ((r = atomic_load(&fa.rec)) == NULL) {
        MT_CHECK(mt_now() < deadline, "R5: no offer");
        sched_yield();
    }
    PVOID pbc = NULL;
    const void *pd = NULL;
    int dummy = 0;
    NTSTATUS s = mt_ClientAttachProvider(r->bh, &dummy, &mt_client_dispatch, &pbc, &pd);
    MT_CHECK_STATUS(s, STATUS_INVALID_DEVICE_STATE,
                    "R8: NmrClientAttachProvider from a thread not running the offer");
    MT_CHECK(atomic_load(&r->n_pattach) == 0 && pbc == NULL && pd == NULL,
             "R8: a rejected NmrClientAttachProvider called the provider");
    atomic_store(&fa.foreign_done, 1);
}

/* R8: valid only on the thread running the binding's ClientAttachProvider;
 * from any other thread, even during the offer, STATUS_INVALID_DEVICE_STATE
 * and nothing called; the offering thread's own call then works. */
static void test_attach_from_foreign_thread(void)
{
    mt_team t;
    mt_loop l;
    mt_team_start(&t, 2, fa_role, NULL);
    for (mt_loop_init(&l, "R8 NmrClientAttachProvider from a foreign thread", 5000); mt_loop_next(&l);) {
        atomic_store(&fa.rec, NULL);
        atomic_store(&fa.foreign_done, 0);
        fa.c = mt_mod_new(MT_CLIENT, 4, MT_ATT_ACCEPT, MT_DET_SUCCESS);
        fa.p = mt_mod_new(MT_PROVIDER, 4, MT_PATT_ACCEPT, MT_DET_SUCCESS);
        fa.c->hooks = &fa_hooks;
        mt_register(fa.p);
        mt_team_iter(&t);
        mt_rec *r = atomic_load(&fa.rec);
        MT_CHECK(atomic_load(&r->attached) && atomic_load(&r->n_pattach) == 1,
                 "R8: the offering thread's own NmrClientAttachProvider failed");
        mt_deregister(fa.p);
        mt_deregister(fa.c);
        mt_wait(fa.c);
        mt_wait(fa.p);
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    mt_init("test_mt_register_race");
}

static void teardown(void)
{
    CHECK_EQ(atomic_load(&mt_misuse_total), 0);
}

static const nmr_test_case cases[] = {
    CASE(test_pair_race, "R4 R5 R10"),
    CASE(test_n_by_m_race, "R5 R6"),
    CASE(test_register_vs_deregister, "R5 R11 R12 R18"),
    CASE(test_handle_before_offer, "R5 R7"),
    CASE(test_attach_from_foreign_thread, "R8"),
};

NMR_TEST_SUITE(test_mt_register_race, cases, setup, teardown, NULL);
