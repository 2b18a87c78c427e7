/* SPDX-License-Identifier: MIT */
/*
 * test_mt_unload.c - unload safety under threads (R18, R23, R24, with
 * R7, R12, R13, R16).
 *
 * Every callback of every module checks, through mt_harness.h:
 *  - R18: its module's "unloaded" flag, set right after the module's
 *    NmrWaitFor*DeregisterComplete returned (on entry and on exit, so a
 *    callback still running when the wait returned is caught too), and the
 *    wait itself checks that no callback of the module is running and no
 *    binding of it is left;
 *  - R23: a per-binding in-callback counter (two callbacks of one binding on
 *    two threads at once fail) and the order offer -> detach halves ->
 *    cleanups;
 *  - R24: the thread it runs on is inside an NMR call right now (the NMR has
 *    no threads of its own); offers run on a registering thread (R7).
 *
 * Two worker threads register modules of one NPI at the same time, then
 * deregister and wait for them in random orders while a third keeps
 * registering and deregistering newcomers on the same NPI, and two
 * completer threads complete pending detach halves at random moments.
 */
#define _POSIX_C_SOURCE 200809L
#include "mt_harness.h"

#define UL_WORKERS 3
#define UL_PER 4

static struct {
    int phase;
    mt_mod *mods[UL_WORKERS][UL_PER];
    int n[UL_WORKERS];
} ul;

static void ul_role(mt_team *t, int w)
{
    (void)t;
    mt_jitter(300);
    if (ul.phase == 0) {
        if (w == UL_WORKERS - 1)
            return; /* the newcomer thread only works in phase 1 */
        for (int i = 0; i < ul.n[w]; i++) {
            mt_register(ul.mods[w][i]);
            mt_jitter(50);
        }
        return;
    }
    if (w == UL_WORKERS - 1) {
        /* Newcomers: offered to whatever is still registered (R17) and
         * never to a module already deregistering (R12), never to one
         * whose wait returned (R18). */
        for (int i = 0; i < 3; i++) {
            mt_mod *m = mt_mod_new(mt_chance(50) ? MT_CLIENT : MT_PROVIDER, 0,
                                   MT_ATT_RANDOM, MT_DET_RANDOM);
            if (m->side == MT_PROVIDER)
                m->att_mode = MT_PATT_RANDOM;
            mt_register(m);
            mt_jitter(100);
            mt_deregister(m);
            if (mt_chance(50))
                mt_jitter(200);
            mt_wait(m);
        }
        return;
    }
    /* Deregister and wait, in a random order, in random batches. */
    int order[UL_PER];
    for (int i = 0; i < ul.n[w]; i++)
        order[i] = i;
    for (int i = ul.n[w] - 1; i > 0; i--) {
        int j = (int)(mt_rand() % (unsigned)(i + 1));
        int x = order[i];
        order[i] = order[j];
        order[j] = x;
    }
    int waited = 0;
    for (int i = 0; i < ul.n[w]; i++) {
        mt_deregister(ul.mods[w][order[i]]);
        if (mt_chance(50)) {
            while (waited <= i)
                mt_wait(ul.mods[w][order[waited++]]);
        }
    }
    while (waited < ul.n[w])
        mt_wait(ul.mods[w][order[waited++]]);
}

/* R18 R23 R24 */
static void test_unload_storm(void)
{
    mt_team t;
    mt_loop l;
    mt_cq_start(2, 200);
    mt_team_start(&t, UL_WORKERS, ul_role, NULL);
    for (mt_loop_init(&l, "R18/R23/R24 unload storm", 6000); mt_loop_next(&l);) {
        for (int w = 0; w < UL_WORKERS - 1; w++) {
            ul.n[w] = 1 + (int)(mt_rand() % UL_PER);
            for (int i = 0; i < ul.n[w]; i++) {
                int side = mt_chance(50) ? MT_CLIENT : MT_PROVIDER;
                ul.mods[w][i] = mt_mod_new(side, 0,
                                           side == MT_CLIENT ? MT_ATT_RANDOM : MT_PATT_RANDOM,
                                           MT_DET_RANDOM);
            }
        }
        ul.n[UL_WORKERS - 1] = 0;
        ul.phase = 0;
        mt_team_iter(&t);
        ul.phase = 1;
        mt_team_iter(&t);
        mt_verify_recs();
        mt_verify_pairs();
        mt_reset();
    }
    mt_team_stop(&t);
    mt_cq_stop();
}

/* ---- R18: the wait blocks until late completions arrive ------------------ */

static struct {
    mt_mod *c, *p;
    atomic_int completed;
} lw;

static NTSTATUS lw_detach(mt_rec *r, int side)
{
    mt_mark_pending(r, side);
    mt_cq_push(r, side);
    return STATUS_PENDING;
}

static const mt_hooks lw_hooks = { .detach = lw_detach };

static void lw_role(mt_team *t, int w)
{
    (void)t;
    mt_mod *m = w == 0 ? lw.c : lw.p;
    mt_jitter(200);
    mt_deregister(m);
    mt_wait(m);
    /* R18: after our wait, the binding is fully gone; the peer's cleanup
     * ran too if the peer is also waiting (both halves were complete). */
    mt_rec *r = atomic_load(&mt_all_recs);
    MT_CHECK(atomic_load(&r->n_cleanup[m->side]) == 1,
             "R18: wait returned before this side's cleanup");
    MT_CHECK(atomic_load(&r->done[0]) && atomic_load(&r->done[1]),
             "R18: wait returned before both halves completed");
}

/* R18: both halves pending, completed late from completer threads with
 * random delays up to 2 ms, while both sides wait. */
static void test_wait_for_late_completions(void)
{
    mt_team t;
    mt_loop l;
    mt_cq_start(2, MT_TSAN ? 500 : 2000);
    mt_team_start(&t, 2, lw_role, NULL);
    for (mt_loop_init(&l, "R18 wait for late completions", 2000); mt_loop_next(&l);) {
        lw.c = mt_mod_new(MT_CLIENT, 5, MT_ATT_ACCEPT, MT_DET_CUSTOM);
        lw.p = mt_mod_new(MT_PROVIDER, 5, MT_PATT_ACCEPT, MT_DET_CUSTOM);
        lw.c->hooks = &lw_hooks;
        lw.p->hooks = &lw_hooks;
        mt_register(lw.c);
        mt_register(lw.p);
        mt_team_iter(&t);
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
    mt_cq_stop();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    mt_init("test_mt_unload");
}

static void teardown(void)
{
    CHECK_EQ(atomic_load(&mt_misuse_total), 0);
}

static const nmr_test_case cases[] = {
    CASE(test_unload_storm, "R18 R23 R24"),
    CASE(test_wait_for_late_completions, "R18"),
};

NMR_TEST_SUITE(test_mt_unload, cases, setup, teardown, NULL);
