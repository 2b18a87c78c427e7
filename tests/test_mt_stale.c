/* SPDX-License-Identifier: MIT */
/*
 * test_mt_stale.c - stale, foreign and wrong-kind handles while other
 * threads churn (R26, R27, R28, R8, R19, R30).
 *
 * Two threads register, bind, deregister and wait, over and over, so that
 * handle slots and memory are reused all the time.  After every wait they
 * publish the dead handles: the registration's, and the binding handles of
 * its offers (dead once cleaned up, or once a declined offer returned).
 * Meanwhile a third thread feeds those dead handles, never-issued values and
 * live handles of the wrong kind to every API:
 *   - the NTSTATUS functions return STATUS_INVALID_PARAMETER (R19, R26);
 *     NmrClientAttachProvider with a live binding handle outside its offer
 *     returns STATUS_INVALID_DEVICE_STATE (or STATUS_INVALID_PARAMETER if
 *     the binding died meanwhile) and calls nothing (R8);
 *   - the VOID functions do nothing and report exactly one misuse of kind
 *     NMR_MISUSE_BAD_HANDLE, on the calling thread (R26, R30);
 *   - nothing crashes or touches freed memory (run under ASan and TSan);
 *   - the churning threads never notice: their own deregistrations still
 *     return STATUS_PENDING and their waits STATUS_SUCCESS (R28: a dead
 *     handle is never confused with a live one).
 */
#define _POSIX_C_SOURCE 200809L
#include "mt_harness.h"

#define ST_RING 1024
#define ST_KIND_CLIENT 0
#define ST_KIND_PROVIDER 1
#define ST_KIND_BINDING 2

static struct {
    _Atomic(HANDLE) dead[ST_RING];
    atomic_int dead_kind[ST_RING];
    atomic_long n_dead;
    _Atomic(HANDLE) live_reg[2]; /* a recently registered client / provider */
    _Atomic(HANDLE) live_bh;     /* a binding handle seen in an offer */
    atomic_int stop;
    atomic_long calls;
    atomic_long abuser_misuse;
} st;

static void st_publish(HANDLE h, int kind)
{
    long i = atomic_fetch_add(&st.n_dead, 1) % ST_RING;
    atomic_store(&st.dead_kind[i], kind);
    atomic_store(&st.dead[i], h);
}

static void st_after(mt_rec *r, NTSTATUS status)
{
    (void)status;
    atomic_store(&st.live_bh, r->bh);
}

static const mt_hooks st_hooks = { .attach_after = st_after };

static void *st_churn_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&st.stop)) {
        int npi = 20 + (int)(mt_rand() % 2u);
        mt_mod *p = mt_mod_new(MT_PROVIDER, npi, MT_PATT_RANDOM, MT_DET_RANDOM);
        mt_mod *c = mt_mod_new(MT_CLIENT, npi, MT_ATT_RANDOM, MT_DET_RANDOM);
        c->hooks = &st_hooks;
        mt_register(p);
        atomic_store(&st.live_reg[1], p->h);
        mt_register(c);
        atomic_store(&st.live_reg[0], c->h);
        mt_jitter(200);
        mt_deregister(mt_chance(50) ? c : p);
        mt_deregister(c->deregistered ? p : c);
        mt_wait(c);
        mt_wait(p);
        st_publish(c->h, ST_KIND_CLIENT);
        st_publish(p->h, ST_KIND_PROVIDER);
        for (mt_rec *r = atomic_load(&c->recs); r; r = r->next_of_c)
            st_publish(r->bh, ST_KIND_BINDING); /* dead: cleaned up or never attached */
    }
    return NULL;
}

static _Thread_local const char *mt_bad_what;

#define ST_EXPECT(s, h, msg)                                               \
    do {                                                                   \
        if ((s) != STATUS_INVALID_PARAMETER)                               \
            fprintf(stderr, "   handle %p: %s\n", (void *)(h), mt_bad_what); \
        MT_CHECK_STATUS(s, STATUS_INVALID_PARAMETER, msg);                 \
    } while (0)

/* Call every API with h, which must be rejected as a bad handle. */
static void st_all_bad(HANDLE h, const char *what)
{
    PVOID pbc = NULL;
    const void *pd = NULL;
    NTSTATUS s;
    long before;
    mt_bad_what = what;
    s = NmrDeregisterClient(h);
    ST_EXPECT(s, h, "R26/R28: NmrDeregisterClient(bad handle)");
    s = NmrDeregisterProvider(h);
    ST_EXPECT(s, h, "R26/R28: NmrDeregisterProvider(bad handle)");
    s = NmrWaitForClientDeregisterComplete(h);
    ST_EXPECT(s, h, "R19/R26: NmrWaitForClientDeregisterComplete(bad handle)");
    s = NmrWaitForProviderDeregisterComplete(h);
    ST_EXPECT(s, h, "R19/R26: NmrWaitForProviderDeregisterComplete(bad handle)");
    s = NmrClientAttachProvider(h, NULL, &mt_client_dispatch, &pbc, &pd);
    ST_EXPECT(s, h, "R8/R26: NmrClientAttachProvider(bad handle)");
    before = mt_tl_misuse;
    NmrClientDetachProviderComplete(h);
    MT_CHECK(mt_tl_misuse == before + 1, "R26/R30: NmrClientDetachProviderComplete(bad handle) not reported once");
    MT_CHECK(mt_tl_misuse_kind == NMR_MISUSE_BAD_HANDLE, "R26/R30: wrong misuse kind for a bad handle");
    before = mt_tl_misuse;
    NmrProviderDetachClientComplete(h);
    MT_CHECK(mt_tl_misuse == before + 1, "R26/R30: NmrProviderDetachClientComplete(bad handle) not reported once");
    MT_CHECK(mt_tl_misuse_kind == NMR_MISUSE_BAD_HANDLE, "R26/R30: wrong misuse kind for a bad handle");
    atomic_fetch_add(&st.calls, 7);
}

/* Wrong-kind calls with a handle that is (or just was) live. */
static void st_wrong_kind(HANDLE h, int kind)
{
    PVOID pbc = NULL;
    const void *pd = NULL;
    NTSTATUS s;
    long before;
    if (h == NULL)
        return;
    if (kind != ST_KIND_CLIENT) {
        s = NmrDeregisterClient(h);
        MT_CHECK_STATUS(s, STATUS_INVALID_PARAMETER, "R26: NmrDeregisterClient(handle of another kind)");
        s = NmrWaitForClientDeregisterComplete(h);
        MT_CHECK_STATUS(s, STATUS_INVALID_PARAMETER, "R26: NmrWaitForClientDeregisterComplete(handle of another kind)");
    }
    if (kind != ST_KIND_PROVIDER) {
        s = NmrDeregisterProvider(h);
        MT_CHECK_STATUS(s, STATUS_INVALID_PARAMETER, "R26: NmrDeregisterProvider(handle of another kind)");
        s = NmrWaitForProviderDeregisterComplete(h);
        MT_CHECK_STATUS(s, STATUS_INVALID_PARAMETER, "R26: NmrWaitForProviderDeregisterComplete(handle of another kind)");
    }
    if (kind != ST_KIND_BINDING) {
        s = NmrClientAttachProvider(h, NULL, &mt_client_dispatch, &pbc, &pd);
        MT_CHECK_STATUS(s, STATUS_INVALID_PARAMETER, "R26: NmrClientAttachProvider(registration handle)");
        before = mt_tl_misuse;
        NmrClientDetachProviderComplete(h);
        MT_CHECK(mt_tl_misuse == before + 1, "R26/R30: NmrClientDetachProviderComplete(registration handle) not reported");
        before = mt_tl_misuse;
        NmrProviderDetachClientComplete(h);
        MT_CHECK(mt_tl_misuse == before + 1, "R26/R30: NmrProviderDetachClientComplete(registration handle) not reported");
    } else {
        /* A live binding, but not on the thread running its offer (R8). */
        s = NmrClientAttachProvider(h, NULL, &mt_client_dispatch, &pbc, &pd);
        MT_CHECK(s == STATUS_INVALID_DEVICE_STATE || s == STATUS_INVALID_PARAMETER,
                 "R8: NmrClientAttachProvider outside the binding's offer accepted");
    }
    atomic_fetch_add(&st.calls, 4);
}

static void *st_abuser_main(void *arg)
{
    (void)arg;
    while (!atomic_load(&st.stop)) {
        long n = atomic_load(&st.n_dead);
        if (n > 0) {
            long i = (long)(mt_rand() % (unsigned long)(n < ST_RING ? n : ST_RING));
            HANDLE h = atomic_load(&st.dead[i]);
            if (h != NULL) {
                static const char *const names[] = { "dead client handle",
                    "dead provider handle", "dead binding handle" };
                st_all_bad(h, names[atomic_load(&st.dead_kind[i]) % 3]);
            }
        }
        unsigned k = mt_rand() % 3u;
        HANDLE lh = k < 2 ? atomic_load(&st.live_reg[k]) : atomic_load(&st.live_bh);
        st_wrong_kind(lh, k == 0 ? ST_KIND_CLIENT : k == 1 ? ST_KIND_PROVIDER : ST_KIND_BINDING);
        if (mt_chance(5))
            sched_yield();
    }
    atomic_fetch_add(&st.abuser_misuse, mt_tl_misuse);
    return NULL;
}

/* R26: values never issued, first on their own so a crash is easy to place. */
static void test_never_issued(void)
{
    atomic_store(&mt_case_name, "R26 never-issued handles");
    int local = 0;
    unsigned char *zeros = calloc(1, 256);
    unsigned char *ones = malloc(256);
    CHECK(zeros != NULL && ones != NULL);
    memset(ones, 0xff, 256);
    HANDLE bad[] = { NULL, (HANDLE)(uintptr_t)1, (HANDLE)(uintptr_t)0x1234,
                     (HANDLE)(uintptr_t)0xdeadbeefu, (HANDLE)~(uintptr_t)0,
                     (HANDLE)&local, zeros, ones, (HANDLE)&mt_client_dispatch };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        st_all_bad(bad[i], "never issued");
    free(zeros);
    free(ones);
}

/* R26 R27 R28 under churn */
static void test_stale_under_churn(void)
{
    mt_loop l;
    pthread_t churn[2], abuser;
    mt_loop_init(&l, "R26/R28 stale handles while others churn", 1000000);
    if (l.max == 0)
        return;
    double budget = l.budget > 1e8 ? 1e8 : l.budget * 1.5;
    atomic_store(&st.stop, 0);
    mt_cq_start(1, 50);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&churn[i], NULL, st_churn_main, NULL) == 0);
    CHECK(pthread_create(&abuser, NULL, st_abuser_main, NULL) == 0);
    double t0 = mt_now();
    while ((atomic_load(&st.calls) < l.max || atomic_load(&st.n_dead) < l.max / 20) &&
           mt_now() - t0 < budget)
        mt_sleep_us(20000);
    atomic_store(&st.stop, 1);
    pthread_join(abuser, NULL);
    for (int i = 0; i < 2; i++)
        pthread_join(churn[i], NULL);
    mt_cq_stop();
    fprintf(stderr, "   %ld bad-handle calls against %ld dead handles in %.2f s\n",
            atomic_load(&st.calls), atomic_load(&st.n_dead), mt_now() - t0);
    MT_CHECK(atomic_load(&st.n_dead) > 0, "test: no handles died");
    mt_verify_recs();
    mt_reset();
}

/* ---- R16 R27: a binding handle is dead once the wait returned ------------- */

static struct {
    mt_mod *c, *p;
    _Atomic(mt_rec *) job;
    atomic_int done;
} bd;

static NTSTATUS bd_detach(mt_rec *r, int side)
{
    if (side == MT_CLIENT)
        return STATUS_SUCCESS;
    mt_mark_pending(r, side);
    atomic_store(&bd.job, r);
    return STATUS_PENDING;
}

static const mt_hooks bd_hooks = { .detach = bd_detach };

static void bd_role(mt_team *t, int w)
{
    (void)t;
    if (w == 1) {
        /* The helper completes the provider half: the cleanups, and the
         * end of the binding handle, happen on this thread. */
        mt_rec *r;
        double deadline = mt_now() + mt_wait_timeout_s();
        while ((r = atomic_load(&bd.job)) == NULL) {
            MT_CHECK(mt_now() < deadline, "R13: ProviderDetachClient never called");
            sched_yield();
        }
        mt_jitter(100);
        mt_complete(r, MT_PROVIDER);
        return;
    }
    mt_register(bd.p);
    mt_register(bd.c);
    mt_rec *r = atomic_load(&bd.c->recs);
    MT_CHECK(r != NULL && atomic_load(&r->attached), "R10: not attached");
    mt_deregister(bd.c);
    mt_wait(bd.c); /* returns once the helper ran the cleanups */
    /* R16/R27/R28: the binding's cleanup ended its handle, and the wait
     * returned after that cleanup: the handle must be dead now. */
    PVOID pbc = NULL;
    const void *pd = NULL;
    NTSTATUS s = NmrClientAttachProvider(r->bh, NULL, &mt_client_dispatch, &pbc, &pd);
    MT_CHECK_STATUS(s, STATUS_INVALID_PARAMETER,
                    "R16/R27: binding handle still live after the cleanup and the wait returned");
    long before = mt_tl_misuse;
    NmrClientDetachProviderComplete(r->bh);
    MT_CHECK(mt_tl_misuse == before + 1 && mt_tl_misuse_kind == NMR_MISUSE_BAD_HANDLE,
             "R26/R27: completion with the dead binding handle not reported as a bad handle");
    atomic_fetch_add(&st.abuser_misuse, 1);
    mt_deregister(bd.p);
    mt_wait(bd.p);
}

static void test_binding_handle_dead_after_wait(void)
{
    mt_team t;
    mt_loop l;
    mt_team_start(&t, 2, bd_role, NULL);
    for (mt_loop_init(&l, "R16/R27 binding handle dead once the wait returned", 40000); mt_loop_next(&l);) {
        atomic_store(&bd.job, NULL);
        bd.c = mt_mod_new(MT_CLIENT, 22, MT_ATT_ACCEPT, MT_DET_CUSTOM);
        bd.p = mt_mod_new(MT_PROVIDER, 22, MT_PATT_ACCEPT, MT_DET_CUSTOM);
        bd.c->hooks = &bd_hooks;
        bd.p->hooks = &bd_hooks;
        mt_team_iter(&t);
        mt_verify_recs();
        mt_reset();
    }
    mt_team_stop(&t);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    mt_init("test_mt_stale");
}

static void teardown(void)
{
    /* Every misuse report came from the deliberate calls, none from the
     * churning threads' valid use.  The abusing threads (counted in
     * st.abuser_misuse) are those of the two cases below. */
    if (strcmp(nmr_test_current, "test_never_issued") != 0)
        CHECK(atomic_load(&st.abuser_misuse) > 0);
    CHECK_EQ(atomic_load(&mt_misuse_total), mt_tl_misuse + atomic_load(&st.abuser_misuse));
}

static const nmr_test_case cases[] = {
    CASE(test_never_issued, "R26"),
    CASE(test_binding_handle_dead_after_wait, "R16 R27"),
    CASE(test_stale_under_churn, "R26 R27 R28"),
};

NMR_TEST_SUITE(test_mt_stale, cases, setup, teardown, NULL);
