/* SPDX-License-Identifier: MIT */
/*
 * test_mt_latecomer.c - deregistration while an offer is in flight (rules
 * R11, with R7, R12, R13, R18).
 *
 * Thread A registers a module R; its offer to a peer is made on A and the
 * client's ClientAttachProvider blocks on a latch (before or after its
 * NmrClientAttachProvider).  Thread B then deregisters either R itself or
 * the peer of the blocked offer and waits for that deregistration.  Thread
 * C opens the latch after a random delay.
 *
 *  - NmrDeregister* returns STATUS_PENDING while the offer is still blocked
 *    (R12: it never waits for other threads);
 *  - the wait does not return before the offer returned and its binding, if
 *    it became attached, was detached and cleaned up (R11, R18);
 *  - the binding is detached (both detach callbacks called) before A's
 *    NmrRegister* returns (R11);
 *  - offers of the deregistering registration that had not started are
 *    cancelled (R12), the others still happen (R17).
 */
#define _POSIX_C_SOURCE 200809L
#include "mt_harness.h"

static struct {
    mt_mod *reg;          /* registered by A, offers made on A */
    mt_mod *peer[2];      /* the other side, registered beforehand */
    int n_peer;
    int dereg_self;       /* B deregisters reg (1) or the blocked offer's peer (0) */
    int block_before;     /* block before NmrClientAttachProvider (1) or after */
    atomic_int blocked_once, in_flight, dereg_done, released;
    _Atomic(mt_rec *) rec;
    _Atomic(mt_mod *) victim;
    atomic_int b_done;
} lc;

static void lc_block(mt_rec *r)
{
    if (atomic_exchange(&lc.blocked_once, 1))
        return; /* only the first offer of the iteration blocks */
    /* R7: the registering module's handle exists before its first offer. */
    MT_CHECK(lc.reg->h != NULL, "R7: handle not stored before the first offer");
    atomic_store(&lc.rec, r);
    atomic_store(&lc.victim, lc.dereg_self ? lc.reg
                             : (lc.reg->side == MT_CLIENT ? r->p : r->c));
    atomic_store(&lc.in_flight, 1);
    /* If NmrDeregister* blocked on this offer, this times out (R12). */
    MT_AWAIT(&lc.released, 1,
             "R12: NmrDeregister* blocked while an offer was in flight");
}

static void lc_before(mt_rec *r)
{
    if (lc.block_before)
        lc_block(r);
}

static void lc_after(mt_rec *r, NTSTATUS st)
{
    (void)st;
    if (!lc.block_before)
        lc_block(r);
}

static const mt_hooks lc_hooks = { .attach_before = lc_before, .attach_after = lc_after };

static void lc_role(mt_team *t, int w)
{
    (void)t;
    if (w == 0) { /* A: the registration whose offer is in flight */
        mt_register(lc.reg);
        mt_rec *r = atomic_load(&lc.rec);
        MT_CHECK(r != NULL, "R5/R7: no offer was made");
        MT_CHECK(atomic_load(&lc.released), "offer returned before release");
        if (atomic_load(&r->attached)) {
            /* R11: detached at once, before the offer's NmrRegister* returns. */
            MT_CHECK(atomic_load(&r->n_detach[MT_CLIENT]) == 1,
                     "R11: late-comer binding: ClientDetachProvider not called before NmrRegister* returned");
            MT_CHECK(atomic_load(&r->n_detach[MT_PROVIDER]) == 1,
                     "R11/R13: late-comer binding: ProviderDetachClient not called before NmrRegister* returned");
        } else if (atomic_load(&r->prov_accepted)) {
            MT_CHECK(atomic_load(&r->n_detach[MT_PROVIDER]) == 1,
                     "R10/R11: provider accepted, client failed: ProviderDetachClient not called");
        }
    } else if (w == 1) { /* B: deregisters while the offer is in flight */
        MT_AWAIT(&lc.in_flight, 1, "offer never started");
        mt_mod *v = atomic_load(&lc.victim);
        mt_deregister(v); /* R12: returns STATUS_PENDING without waiting */
        atomic_store(&lc.dereg_done, 1);
        mt_jitter(300);
        mt_wait(v); /* R11 R18: waits for the offer in flight */
        mt_rec *r = atomic_load(&lc.rec);
        MT_CHECK(atomic_load(&lc.released),
                 "R11: the wait returned while an offer on its registration was still blocked");
        MT_CHECK(atomic_load(&r->offer_returned),
                 "R11/R18: the wait returned before the offer in flight returned");
        if (atomic_load(&r->prov_accepted)) {
            MT_CHECK(atomic_load(&r->n_detach[MT_PROVIDER]) == 1,
                     "R11: the wait returned before the late-comer binding was detached");
            MT_CHECK(atomic_load(&r->n_cleanup[MT_CLIENT]) == 1 &&
                         atomic_load(&r->n_cleanup[MT_PROVIDER]) == 1,
                     "R11/R18: the wait returned before the late-comer binding was cleaned up");
        }
        atomic_store(&lc.b_done, 1);
    } else { /* C: opens the latch at a random moment after the deregistration */
        MT_AWAIT(&lc.dereg_done, 1,
                 "R12: NmrDeregister* did not return while an offer was in flight");
        mt_random_pause(150);
        atomic_store(&lc.released, 1);
    }
}

static void lc_run(const char *name, int reg_side, long iters)
{
    mt_team t;
    mt_loop l;
    mt_cq_start(1, 80);
    mt_team_start(&t, 3, lc_role, NULL);
    for (mt_loop_init(&l, name, iters); mt_loop_next(&l);) {
        int npi = 4;
        long offers0 = atomic_load(&mt_total_offers);
        atomic_store(&lc.blocked_once, 0);
        atomic_store(&lc.in_flight, 0);
        atomic_store(&lc.dereg_done, 0);
        atomic_store(&lc.released, 0);
        atomic_store(&lc.b_done, 0);
        atomic_store(&lc.rec, NULL);
        atomic_store(&lc.victim, NULL);
        lc.dereg_self = mt_chance(50);
        lc.block_before = mt_chance(30);
        lc.n_peer = 1 + mt_chance(50);
        int det = mt_chance(50) ? MT_DET_SUCCESS : MT_DET_RANDOM;
        if (reg_side == MT_CLIENT) {
            lc.reg = mt_mod_new(MT_CLIENT, npi, MT_ATT_ACCEPT, det);
            lc.reg->hooks = &lc_hooks;
            for (int i = 0; i < lc.n_peer; i++)
                lc.peer[i] = mt_mod_new(MT_PROVIDER, npi, MT_PATT_ACCEPT, det);
        } else {
            lc.reg = mt_mod_new(MT_PROVIDER, npi, MT_PATT_ACCEPT, det);
            for (int i = 0; i < lc.n_peer; i++) {
                lc.peer[i] = mt_mod_new(MT_CLIENT, npi, MT_ATT_ACCEPT, det);
                lc.peer[i]->hooks = &lc_hooks;
            }
        }
        for (int i = 0; i < lc.n_peer; i++)
            mt_register(lc.peer[i]);
        mt_team_iter(&t);
        MT_CHECK(atomic_load(&lc.b_done), "thread B did not finish");
        long offers = atomic_load(&mt_total_offers) - offers0;
        if (lc.dereg_self)
            /* R12: the offers not started when deregistration began are cancelled. */
            MT_CHECK(offers == 1, "R12: a deregistering registration made a new offer");
        else
            /* R17: the other peer still gets its offer. */
            MT_CHECK(offers == lc.n_peer, "R17: an unrelated pair lost its offer");
        /* Tear down what is left. */
        mt_mod *all[3] = { lc.reg, lc.peer[0], lc.n_peer > 1 ? lc.peer[1] : NULL };
        for (int i = 0; i < 3; i++)
            if (all[i] && !atomic_load(&all[i]->deregistered))
                mt_deregister(all[i]);
        for (int i = 0; i < 3; i++)
            if (all[i] && !atomic_load(&all[i]->waited))
                mt_wait(all[i]);
        mt_verify_recs();
        mt_verify_pairs();
        mt_reset();
    }
    mt_team_stop(&t);
    mt_cq_stop();
}

/* R11: the client registers; its offer is in flight on A. */
static void test_client_registers(void)
{
    lc_run("R11 late-comer, client registering", MT_CLIENT, 10000);
}

/* R11: the provider registers; the client's ClientAttachProvider runs on A. */
static void test_provider_registers(void)
{
    lc_run("R11 late-comer, provider registering", MT_PROVIDER, 10000);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    mt_init("test_mt_latecomer");
}

static void teardown(void)
{
    CHECK_EQ(atomic_load(&mt_misuse_total), 0);
}

static const nmr_test_case cases[] = {
    CASE(test_client_registers, "R11"),
    CASE(test_provider_registers, "R11"),
};

NMR_TEST_SUITE(test_mt_latecomer, cases, setup, teardown, NULL);
