/* SPDX-License-Identifier: MIT */
/*
 * test_mt_detach_race.c - detach and completion races (R13, R14, R15,
 * R16, with R18 and R23).
 *
 *  - both sides of attached bindings deregister at the same instant: each
 *    detach callback exactly once per binding, ClientDetachProvider first,
 *    ProviderDetachClient without waiting for the client half (R13);
 *  - a detach half completed from another thread before its callback
 *    returned STATUS_PENDING is finished when the callback returns, and the
 *    cleanups run then, on the callback's thread (R15, R16);
 *  - a half completed after its callback returned is finished inside the
 *    completing call, cleanups on the completing thread (R16);
 *  - a completion racing the callback's return, or two completions racing
 *    each other: cleanups exactly once each, both on the same thread, one
 *    of the racing threads, after both halves (R16);
 *  - two threads deregistering one registration at once: one
 *    STATUS_PENDING, one STATUS_INVALID_DEVICE_STATE (R21);
 *  - a deregistration never waits for a callback that another thread is
 *    running, and the wait does (R12, R18).
 */
#define _POSIX_C_SOURCE 200809L
#include "mt_harness.h"

/* ---- a second completer: completes a client half only after the provider's
 * detach was called (R13: the second call does not wait for the first half) */

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mt_job *head;
    int stop;
    pthread_t th;
} after_p = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0 };

static void *after_p_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&after_p.mu);
        while (after_p.head == NULL && !after_p.stop)
            pthread_cond_wait(&after_p.cv, &after_p.mu);
        mt_job *j = after_p.head;
        if (j)
            after_p.head = j->next;
        pthread_mutex_unlock(&after_p.mu);
        if (j == NULL)
            break;
        MT_AWAIT(&j->r->n_detach[MT_PROVIDER], 1,
                 "R13: ProviderDetachClient not called while the client half was pending");
        mt_random_pause(30);
        mt_complete(j->r, j->side);
        free(j);
    }
    return NULL;
}

static NTSTATUS client_after_p_detach(mt_rec *r, int side)
{
    if (side != MT_CLIENT || mt_chance(40))
        return STATUS_SUCCESS;
    mt_job *j = malloc(sizeof *j);
    CHECK(j != NULL);
    j->r = r;
    j->side = side;
    mt_mark_pending(r, side);
    pthread_mutex_lock(&after_p.mu);
    j->next = after_p.head;
    after_p.head = j;
    pthread_cond_signal(&after_p.cv);
    pthread_mutex_unlock(&after_p.mu);
    return STATUS_PENDING;
}

static const mt_hooks after_p_hooks = { .detach = client_after_p_detach };

/* ---- R13: both sides deregister at once ----------------------------------- */

#define BS_MAX 3
static struct {
    mt_mod *c[BS_MAX], *p[BS_MAX];
    int nc, np;
} bs;

static void bs_role(mt_team *t, int w)
{
    (void)t;
    mt_jitter(300);
    int n = w == 0 ? bs.nc : bs.np;
    mt_mod **v = w == 0 ? bs.c : bs.p;
    for (int i = 0; i < n; i++) {
        mt_deregister(v[i]);
        if (mt_chance(30))
            mt_jitter(100);
    }
    for (int i = n - 1; i >= 0; i--)
        mt_wait(v[i]);
}

/* R13 R16: ClientDetachProvider and ProviderDetachClient each exactly once
 * per binding, client first; cleanups once each; all halves in every mix of
 * SUCCESS, completion inside the callback, completion from other threads. */
static void test_both_sides_deregister(void)
{
    mt_team t;
    mt_loop l;
    mt_cq_start(2, 60);
    CHECK(pthread_create(&after_p.th, NULL, after_p_main, NULL) == 0);
    mt_team_start(&t, 2, bs_role, NULL);
    for (mt_loop_init(&l, "R13 both sides deregister at once", 10000); mt_loop_next(&l);) {
        long bind0 = atomic_load(&mt_total_bindings);
        bs.nc = 1 + (int)(mt_rand() % BS_MAX);
        bs.np = 1 + (int)(mt_rand() % BS_MAX);
        for (int i = 0; i < bs.np; i++) {
            bs.p[i] = mt_mod_new(MT_PROVIDER, 0, MT_PATT_ACCEPT, MT_DET_RANDOM);
            mt_register(bs.p[i]);
        }
        for (int i = 0; i < bs.nc; i++) {
            int custom = mt_chance(30);
            bs.c[i] = mt_mod_new(MT_CLIENT, 0, MT_ATT_ACCEPT,
                                 custom ? MT_DET_CUSTOM : MT_DET_RANDOM);
            if (custom)
                bs.c[i]->hooks = &after_p_hooks;
            mt_register(bs.c[i]);
        }
        MT_CHECK(atomic_load(&mt_total_bindings) - bind0 == (long)bs.nc * bs.np,
                 "R5/R10: not every pair attached");
        mt_team_iter(&t);
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
    pthread_mutex_lock(&after_p.mu);
    after_p.stop = 1;
    pthread_cond_broadcast(&after_p.cv);
    pthread_mutex_unlock(&after_p.mu);
    pthread_join(after_p.th, NULL);
    mt_cq_stop();
}

/* ---- R15 R16: completion versus the callback's return --------------------- */

enum {
    CR_EARLY = 0,  /* completed by a helper before the callback returns */
    CR_LATE,       /* completed by a helper after the deregistration returned */
    CR_RACE,       /* helper completes as the callback returns */
    CR_TWO,        /* both halves completed by two helpers at the same time */
    CR_MODES
};

static struct {
    int mode;
    int dereg;          /* 0 client, 1 provider, 2 both */
    int c_pending;      /* CR_EARLY / CR_RACE: client half also handed to a helper */
    mt_mod *c, *p;
    _Atomic(mt_rec *) job[2];
    atomic_int h_done[2];
    atomic_int deregs_returned;
    atomic_int det_in_dereg[2];
    atomic_int d_finished;
    int n_d;
    pthread_barrier_t meet[2]; /* callback + helper */
    pthread_barrier_t two;     /* helper 0 + helper 1 */
} cr;

static _Thread_local int tl_in_dereg; /* inside our own NmrDeregister* call */

static NTSTATUS cr_detach(mt_rec *r, int side)
{
    atomic_store(&cr.det_in_dereg[side], tl_in_dereg);
    if (side == MT_CLIENT && !cr.c_pending && cr.mode != CR_TWO) {
        if (cr.mode == CR_LATE || mt_chance(50))
            return STATUS_SUCCESS;
        mt_mark_pending(r, side);
        mt_complete(r, side); /* R15: from inside the callback */
        return STATUS_PENDING;
    }
    mt_mark_pending(r, side);
    atomic_store(&cr.job[side], r);
    switch (cr.mode) {
    case CR_EARLY:
        /* R15: if the completion blocked until we return, this times out. */
        MT_AWAIT(&cr.h_done[side], 1,
                 "R15: Nmr*DetachComplete did not return while the detach callback was running");
        MT_CHECK(atomic_load(&r->n_cleanups) == 0,
                 "R16: cleanup ran while a detach callback was still running");
        break;
    case CR_RACE:
        pthread_barrier_wait(&cr.meet[side]);
        mt_jitter(200);
        break;
    default:
        break;
    }
    return STATUS_PENDING;
}

static const mt_hooks cr_hooks = { .detach = cr_detach };

/* Has half `side` certainly finished (callback returned, completion made)? */
static int cr_half_finished(mt_rec *r, int side)
{
    int cb_returned = atomic_load(&cr.det_in_dereg[side]) &&
                      atomic_load(&cr.deregs_returned) == cr.n_d;
    if (!cb_returned)
        return 0;
    if (!atomic_load(&r->pending[side]))
        return atomic_load(&r->done[side]);
    return atomic_load(&cr.h_done[side]);
}

/* Workers 0 and 1 deregister (client, provider); 2 and 3 are helpers that
 * complete the client and provider halves. */
static void cr_role(mt_team *t, int w)
{
    (void)t;
    if (w < 2) {
        int mine = (w == 0 && cr.dereg != 1) || (w == 1 && cr.dereg != 0);
        if (!mine)
            return;
        mt_mod *m = w == 0 ? cr.c : cr.p;
        mt_jitter(100);
        tl_in_dereg = 1;
        mt_deregister(m);
        tl_in_dereg = 0;
        atomic_fetch_add(&cr.deregs_returned, 1);
        mt_wait(m);
        atomic_fetch_add(&cr.d_finished, 1);
        return;
    }
    int side = w - 2;
    mt_rec *r;
    double deadline = mt_now() + mt_wait_timeout_s();
    /* Wait for this side's job; none comes if the half is not ours. */
    while ((r = atomic_load(&cr.job[side])) == NULL) {
        if (atomic_load(&cr.d_finished) == cr.n_d)
            return;
        MT_CHECK(mt_now() < deadline, "R13: a detach callback was never called");
        sched_yield();
    }
    switch (cr.mode) {
    case CR_EARLY:
        mt_random_pause(20);
        mt_complete(r, side);
        atomic_store(&cr.h_done[side], 1);
        break;
    case CR_RACE:
        pthread_barrier_wait(&cr.meet[side]);
        mt_jitter(200);
        mt_complete(r, side);
        break;
    case CR_TWO:
        /* Both halves pending; wait until both detach callbacks were called
         * (R13: the provider's without waiting for the client half), then
         * complete both at the same instant. */
        MT_AWAIT(&r->det_returned[1 - side], 1,
                 "R13: ProviderDetachClient not called while the client half was pending");
        MT_AWAIT(&cr.deregs_returned, cr.n_d, "R12: NmrDeregister* did not return");
        pthread_barrier_wait(&cr.two);
        mt_complete(r, side);
        break;
    case CR_LATE: {
        /* After every NmrDeregister* returned (R12: never blocks). */
        MT_AWAIT(&cr.deregs_returned, cr.n_d, "R12: NmrDeregister* did not return");
        mt_random_pause(20);
        int mine_returned = cr_half_finished(r, side) || (atomic_load(&cr.det_in_dereg[side]) &&
                                                         atomic_load(&cr.deregs_returned) == cr.n_d);
        int other_finished = cr_half_finished(r, 1 - side);
        mt_complete(r, side);
        if (mine_returned && other_finished) {
            /* R16: this call completed the last half, after every callback
             * returned: the cleanups ran inside it, on this thread. */
            MT_CHECK(atomic_load(&r->n_cleanups) == 2,
                     "R16: cleanups not run inside the call that completed the last half");
            MT_CHECK(atomic_load(&r->cleanup_tid[0]) == mt_tid(),
                     "R16: cleanups not on the thread that completed the last half");
        }
        atomic_store(&cr.h_done[side], 1);
        break;
    }
    }
}

static void test_complete_vs_return(void)
{
    mt_team t;
    mt_loop l;
    long n_mode[CR_MODES] = {0};
    CHECK(pthread_barrier_init(&cr.meet[0], NULL, 2) == 0);
    CHECK(pthread_barrier_init(&cr.meet[1], NULL, 2) == 0);
    CHECK(pthread_barrier_init(&cr.two, NULL, 2) == 0);
    mt_team_start(&t, 4, cr_role, NULL);
    for (mt_loop_init(&l, "R15/R16 completion racing the callback's return", 16000); mt_loop_next(&l);) {
        cr.mode = (int)(l.i % CR_MODES);
        n_mode[cr.mode]++;
        cr.dereg = (int)(mt_rand() % 3u);
        cr.n_d = cr.dereg == 2 ? 2 : 1;
        cr.c_pending = mt_chance(50);
        atomic_store(&cr.job[0], NULL);
        atomic_store(&cr.job[1], NULL);
        atomic_store(&cr.h_done[0], 0);
        atomic_store(&cr.h_done[1], 0);
        atomic_store(&cr.deregs_returned, 0);
        atomic_store(&cr.d_finished, 0);
        atomic_store(&cr.det_in_dereg[0], 0);
        atomic_store(&cr.det_in_dereg[1], 0);
        cr.c = mt_mod_new(MT_CLIENT, 1, MT_ATT_ACCEPT, MT_DET_CUSTOM);
        cr.p = mt_mod_new(MT_PROVIDER, 1, MT_PATT_ACCEPT, MT_DET_CUSTOM);
        cr.c->hooks = &cr_hooks;
        cr.p->hooks = &cr_hooks;
        mt_register(cr.p);
        mt_register(cr.c);
        mt_team_iter(&t);
        /* The deregistered side(s) waited in the team; finish the rest. */
        if (cr.dereg == 0) {
            mt_deregister(cr.p);
            mt_wait(cr.p);
        } else if (cr.dereg == 1) {
            mt_deregister(cr.c);
            mt_wait(cr.c);
        }
        mt_rec *r = atomic_load(&mt_all_recs);
        MT_CHECK(r != NULL && atomic_load(&r->n_cleanups) == 2, "R16: cleanups missing");
        int ct = atomic_load(&r->cleanup_tid[0]);
        if (cr.mode == CR_EARLY) {
            /* Both pending halves were completed before their callbacks
             * returned: the provider half, called last, completes when its
             * callback returns, so the cleanups run on that thread. */
            MT_CHECK(ct == atomic_load(&r->det_tid[MT_PROVIDER]),
                     "R15/R16: early completion: cleanups not run on the detach callback's thread when it returned");
        } else if (cr.mode == CR_TWO) {
            MT_CHECK(ct == atomic_load(&r->comp_tid[0]) || ct == atomic_load(&r->comp_tid[1]),
                     "R16: two racing completions: cleanups not on a completing thread");
        } else if (cr.mode == CR_RACE && !cr.c_pending) {
            MT_CHECK(ct == atomic_load(&r->comp_tid[MT_PROVIDER]) ||
                         ct == atomic_load(&r->det_tid[MT_PROVIDER]),
                     "R16: racing completion: cleanups not on one of the racing threads");
        }
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
    pthread_barrier_destroy(&cr.meet[0]);
    pthread_barrier_destroy(&cr.meet[1]);
    pthread_barrier_destroy(&cr.two);
}

/* ---- R21: two threads deregister the same registration at once ------------ */

static struct {
    mt_mod *c, *p, *victim;
    mt_sbar go;
    atomic_int n_pending, n_busy;
} dd;

static void dd_role(mt_team *t, int w)
{
    (void)t;
    (void)w;
    mt_sbar_wait(&dd.go);
    mt_spin(100);
    NTSTATUS s = dd.victim->side == MT_CLIENT ? mt_DeregisterClient(dd.victim->h)
                                              : mt_DeregisterProvider(dd.victim->h);
    if (s == STATUS_PENDING)
        atomic_fetch_add(&dd.n_pending, 1);
    else if (s == STATUS_INVALID_DEVICE_STATE)
        atomic_fetch_add(&dd.n_busy, 1);
    else
        MT_CHECK_STATUS(s, STATUS_PENDING, "R12/R21: racing NmrDeregister* returned something else");
}

/* R21 R13: exactly one of two racing NmrDeregister* calls starts the
 * deregistration (STATUS_PENDING), the other gets
 * STATUS_INVALID_DEVICE_STATE; the binding is detached once. */
static void test_double_deregister_race(void)
{
    mt_team t;
    mt_loop l;
    mt_sbar_init(&dd.go, 2);
    mt_team_start(&t, 2, dd_role, NULL);
    for (mt_loop_init(&l, "R21 two threads deregister one registration at once", 10000); mt_loop_next(&l);) {
        atomic_store(&dd.n_pending, 0);
        atomic_store(&dd.n_busy, 0);
        dd.c = mt_mod_new(MT_CLIENT, 2, MT_ATT_ACCEPT, MT_DET_RANDOM);
        dd.p = mt_mod_new(MT_PROVIDER, 2, MT_PATT_ACCEPT, MT_DET_RANDOM);
        mt_register(dd.p);
        mt_register(dd.c);
        dd.victim = (l.i & 1) ? dd.c : dd.p;
        mt_mod *other = (l.i & 1) ? dd.p : dd.c;
        atomic_store(&dd.victim->seq_dereg_start, mt_seq());
        mt_team_iter(&t);
        atomic_store(&dd.victim->seq_dereg_end, mt_seq());
        atomic_store(&dd.victim->deregistered, 1);
        MT_CHECK(atomic_load(&dd.n_pending) == 1 && atomic_load(&dd.n_busy) == 1,
                 "R21: racing NmrDeregister*: not exactly one STATUS_PENDING and one STATUS_INVALID_DEVICE_STATE");
        mt_wait(dd.victim);
        mt_deregister(other);
        mt_wait(other);
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
}

/* ---- R12: deregistration never waits for another thread's callback -------- */

enum { BK_CLIENT_DETACH = 0, BK_PROVIDER_DETACH, BK_CLEANUP, BK_MODES };

static struct {
    int where;
    mt_mod *c, *p1, *p2;
    atomic_int blocked, y_returned, armed;
} bk;

static void bk_block(void)
{
    if (atomic_exchange(&bk.armed, 0) == 0)
        return;
    atomic_store(&bk.blocked, 1);
    /* If Y's NmrDeregisterClient waited for this callback, this times out. */
    MT_AWAIT(&bk.y_returned, 1,
             "R12: NmrDeregister* waited for a callback running on another thread");
}

static NTSTATUS bk_detach(mt_rec *r, int side)
{
    if (r->p == bk.p1 && ((side == MT_CLIENT && bk.where == BK_CLIENT_DETACH) ||
                          (side == MT_PROVIDER && bk.where == BK_PROVIDER_DETACH)))
        bk_block();
    return STATUS_SUCCESS;
}

static void bk_cleanup(mt_rec *r, int side)
{
    if (r->p == bk.p1 && side == MT_CLIENT && bk.where == BK_CLEANUP)
        bk_block();
}

static const mt_hooks bk_hooks = { .detach = bk_detach, .cleanup = bk_cleanup };

static void bk_role(mt_team *t, int w)
{
    (void)t;
    if (w == 0) {
        /* X: deregisters P1; a callback of binding (C, P1) blocks here. */
        mt_deregister(bk.p1);
        mt_wait(bk.p1);
        return;
    }
    /* Y: deregisters C while X is inside that callback. */
    MT_AWAIT(&bk.blocked, 1, "R13: the blocking callback was never called");
    mt_deregister(bk.c);
    atomic_store(&bk.y_returned, 1);
    mt_wait(bk.c); /* R18: returns only after X's callback returned */
    MT_CHECK(atomic_load(&bk.c->active) == 0, "R18");
}

/* R12 R13 R18: C is bound to P1 and P2.  X deregisters P1 and blocks inside
 * a callback of binding (C, P1) (ClientDetachProvider, ProviderDetachClient
 * or ClientCleanupBindingContext).  Y deregisters C meanwhile: that returns
 * at once, detaches (C, P2), does not detach (C, P1) a second time, and Y's
 * wait returns only once X's callback has returned. */
static void test_deregister_while_callback_blocked(void)
{
    mt_team t;
    mt_loop l;
    mt_team_start(&t, 2, bk_role, NULL);
    for (mt_loop_init(&l, "R12 deregister while another thread is inside a callback", 3000); mt_loop_next(&l);) {
        bk.where = (int)(l.i % BK_MODES);
        atomic_store(&bk.blocked, 0);
        atomic_store(&bk.y_returned, 0);
        atomic_store(&bk.armed, 1);
        bk.c = mt_mod_new(MT_CLIENT, 3, MT_ATT_ACCEPT, MT_DET_CUSTOM);
        bk.p1 = mt_mod_new(MT_PROVIDER, 3, MT_PATT_ACCEPT, MT_DET_CUSTOM);
        bk.p2 = mt_mod_new(MT_PROVIDER, 3, MT_PATT_ACCEPT, MT_DET_CUSTOM);
        bk.c->hooks = bk.p1->hooks = bk.p2->hooks = &bk_hooks;
        mt_register(bk.p1);
        mt_register(bk.p2);
        mt_register(bk.c);
        mt_team_iter(&t);
        MT_CHECK(atomic_load(&bk.p2->live) == 0,
                 "R12/R17: binding (C, P2) not detached by C's deregistration");
        mt_deregister(bk.p2);
        mt_wait(bk.p2);
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    mt_init("test_mt_detach_race");
}

static void teardown(void)
{
    CHECK_EQ(atomic_load(&mt_misuse_total), 0);
}

static const nmr_test_case cases[] = {
    CASE(test_both_sides_deregister, "R5 R10 R13 R16"),
    CASE(test_complete_vs_return, "R15 R16"),
    CASE(test_double_deregister_race, "R13 R21"),
    CASE(test_deregister_while_callback_blocked, "R12 R13 R17 R18"),
};

NMR_TEST_SUITE(test_mt_detach_race, cases, setup, teardown, NULL);
