/* SPDX-License-Identifier: MIT */
/* mt_harness.c - the shared machinery of the threaded tests
 * (tests/lib/mt_harness.h says what it gives). */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "mt_harness.h"

_Atomic(const char *) mt_case_name = "(none)";
unsigned long long mt_seed;
void mt_fail_(const char *file, int line, const char *expr,
              const char *msg)
{
    fprintf(stderr, "%s:%d: %s [%s] CHECK failed: %s -- %s (NMR_TEST_SEED=%llu)\n",
            file, line, nmr_test_where(), atomic_load(&mt_case_name), expr, msg,
            mt_seed);
    fflush(stderr);
    fflush(stdout);
    _Exit(1);
}

atomic_int mt_next_tid = 1;
_Thread_local int mt_tl_tid;
_Thread_local uint64_t mt_rng;
void mt_random_pause(long max_us)
{
    unsigned r = mt_rand() % 10u;
    if (r < 3)
        return;
    if (r < 6) {
        mt_jitter(2000);
        return;
    }
    if (r < 8) {
        sched_yield();
        return;
    }
    if (max_us > 0)
        mt_sleep_us(1 + (long)(mt_rand() % (unsigned long)max_us));
}

long mt_env_long(const char *name, long dflt)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0')
        return dflt;
    return strtol(s, NULL, 0);
}

atomic_long mt_seq_clock = 1;
void mt_loop_init(mt_loop *l, const char *name, long plain_iters)
{
    long env = mt_env_long("NMR_TEST_ITERS", 0);
    l->name = name;
    atomic_store(&mt_case_name, name);
    l->i = 0;
    if (env > 0) {
        l->max = env;
        l->budget = 1e9;
    } else {
        l->max = MT_TSAN ? (plain_iters + 1) / 2 : plain_iters;
        l->budget = (double)mt_env_long("NMR_TEST_BUDGET_MS",
                                        MT_TSAN ? 8000 : 1500) / 1000.0;
    }
    const char *only = getenv("NMR_TEST_ONLY");
    if (only != NULL && *only != '\0' && strstr(name, only) == NULL)
        l->max = 0; /* NMR_TEST_ONLY=<substring of a case name> */
    l->min = l->max < 20 ? l->max : 20;
    l->t0 = mt_now();
}

int mt_loop_next(mt_loop *l)
{
    if (l->i >= l->max ||
        (l->i >= l->min && mt_now() - l->t0 > l->budget)) {
        fprintf(stderr, "   %s: %ld iterations in %.2f s\n", l->name, l->i,
                mt_now() - l->t0);
        return 0;
    }
    l->i++;
    return 1;
}

atomic_long mt_misuse_total;
_Thread_local long mt_tl_misuse;
_Thread_local int mt_tl_misuse_kind;
atomic_int mt_misuse_quiet = 1;
void mt_misuse_hook(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)ctx;
    atomic_fetch_add(&mt_misuse_total, 1);
    mt_tl_misuse++;
    mt_tl_misuse_kind = (int)kind;
    if (!atomic_load(&mt_misuse_quiet))
        fprintf(stderr, "   misuse (kind %d): %s\n", (int)kind, msg);
}

_Thread_local int mt_in_nmr;
NTSTATUS mt_RegisterClient(PNPI_CLIENT_CHARACTERISTICS ch,
                           PVOID ctx, HANDLE *h)
{
    mt_in_nmr++;
    NTSTATUS s = NmrRegisterClient(ch, ctx, h);
    mt_in_nmr--;
    return s;
}

NTSTATUS mt_RegisterProvider(PNPI_PROVIDER_CHARACTERISTICS ch,
                             PVOID ctx, HANDLE *h)
{
    mt_in_nmr++;
    NTSTATUS s = NmrRegisterProvider(ch, ctx, h);
    mt_in_nmr--;
    return s;
}

NTSTATUS mt_DeregisterClient(HANDLE h)
{
    mt_in_nmr++;
    NTSTATUS s = NmrDeregisterClient(h);
    mt_in_nmr--;
    return s;
}

NTSTATUS mt_DeregisterProvider(HANDLE h)
{
    mt_in_nmr++;
    NTSTATUS s = NmrDeregisterProvider(h);
    mt_in_nmr--;
    return s;
}

NTSTATUS mt_WaitClient(HANDLE h)
{
    mt_in_nmr++;
    NTSTATUS s = NmrWaitForClientDeregisterComplete(h);
    mt_in_nmr--;
    return s;
}

NTSTATUS mt_WaitProvider(HANDLE h)
{
    mt_in_nmr++;
    NTSTATUS s = NmrWaitForProviderDeregisterComplete(h);
    mt_in_nmr--;
    return s;
}

NTSTATUS mt_ClientAttachProvider(HANDLE bh, PVOID cbc,
                                 const void *cd, PVOID *pbc,
                                 const void **pd)
{
    mt_in_nmr++;
    NTSTATUS s = NmrClientAttachProvider(bh, cbc, cd, pbc, pd);
    mt_in_nmr--;
    return s;
}

void mt_ClientDetachComplete(HANDLE bh)
{
    mt_in_nmr++;
    NmrClientDetachProviderComplete(bh);
    mt_in_nmr--;
}

void mt_ProviderDetachComplete(HANDLE bh)
{
    mt_in_nmr++;
    NmrProviderDetachClientComplete(bh);
    mt_in_nmr--;
}

atomic_int mt_nested_dereg_pct;
atomic_long mt_nested_deregs; /* how many happened inside callbacks */
const int mt_client_dispatch = 1;
const int mt_provider_dispatch = 2;
_Atomic(mt_mod *) mt_all_mods;
_Atomic(mt_rec *) mt_all_recs;
atomic_int mt_next_mod_id = 1;
atomic_long mt_total_offers, mt_total_bindings, mt_total_cleanups;
atomic_int mt_r8_recheck = 1; /* re-call NmrClientAttachProvider after success sometimes */
void mt_npi_of(int idx, NPIID *out)
{
    memset(out, 0, sizeof *out);
    out->Data1 = 0x6d740000u + (uint32_t)idx;
    out->Data2 = 0x4e50;
    out->Data3 = 0x4944;
    out->Data4[0] = 0x88;
    out->Data4[7] = (uint8_t)idx;
}

mt_mod *mt_mod_from_inst(PNPI_REGISTRATION_INSTANCE inst,
                         int side)
{
    size_t off = side == MT_CLIENT
                     ? offsetof(mt_mod, cch.ClientRegistrationInstance)
                     : offsetof(mt_mod, pch.ProviderRegistrationInstance);
    MT_CHECK(inst != NULL, "R3: registration instance passed to a callback is NULL");
    mt_mod *m = (mt_mod *)(void *)((char *)(uintptr_t)inst - off);
    MT_CHECK(m->magic == MT_MOD_MAGIC && m->side == side,
             "R3: the peer's registration instance is not its own pointer");
    return m;
}

void mt_mod_enter(mt_mod *m)
{
    MT_CHECK(m != NULL && m->magic == MT_MOD_MAGIC, "callback got a bad context");
    MT_CHECK(mt_in_nmr > 0,
             "R24: callback runs on a thread that is not inside an NMR call");
    atomic_fetch_add(&m->active, 1);
    MT_CHECK(!atomic_load(&m->unloaded),
             "R18: callback into a module after its wait returned");
}

void mt_mod_exit(mt_mod *m)
{
    MT_CHECK(!atomic_load(&m->unloaded),
             "R18: callback still running when the module's wait returned");
    atomic_fetch_sub(&m->active, 1);
}

void mt_rec_enter(mt_rec *r, int nested)
{
    MT_CHECK(r != NULL && r->magic == MT_REC_MAGIC, "callback got a bad binding context");
    int prev = atomic_fetch_add(&r->depth, 1);
    if (!nested) {
        MT_CHECK(prev == 0,
                 "R23: two callbacks of one binding run at once");
        atomic_store(&r->owner, mt_tid());
    } else {
        MT_CHECK(prev == 1 && atomic_load(&r->owner) == mt_tid(),
                 "R8/R23: ProviderAttachClient not nested in the client's offer on its thread");
    }
}

void mt_rec_exit(mt_rec *r, int nested)
{
    if (!nested)
        atomic_store(&r->owner, 0);
    atomic_fetch_sub(&r->depth, 1);
}

void mt_push_rec(mt_rec *r)
{
    mt_rec *head = atomic_load(&mt_all_recs);
    do {
        r->next_all = head;
    } while (!atomic_compare_exchange_weak(&mt_all_recs, &head, r));
}

void mt_push_mod(mt_mod *m)
{
    mt_mod *head = atomic_load(&mt_all_mods);
    do {
        m->next_all = head;
    } while (!atomic_compare_exchange_weak(&mt_all_mods, &head, m));
}

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    mt_job *head, *tail;
    int stop, n;
    long max_delay_us;
    pthread_t th[8];
    atomic_int running;
} mt_cq = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL,
            0, 0, 0, {0}, 0 };

void mt_mark_pending(mt_rec *r, int side)
{
    atomic_store(&r->pending[side], 1);
}

void mt_complete(mt_rec *r, int side)
{
    MT_CHECK(atomic_load(&r->pending[side]) == 1, "harness: completing a half that is not pending");
    atomic_store(&r->comp_tid[side], mt_tid());
    int prev = atomic_exchange(&r->done[side], 1);
    MT_CHECK(prev == 0, "harness: half completed twice");
    if (side == MT_CLIENT)
        mt_ClientDetachComplete(r->bh);
    else
        mt_ProviderDetachComplete(r->bh_p);
}

void mt_cq_push(mt_rec *r, int side)
{
    mt_job *j = malloc(sizeof *j);
    MT_CHECK(j != NULL, "out of memory in the test");
    j->r = r;
    j->side = side;
    j->next = NULL;
    pthread_mutex_lock(&mt_cq.mu);
    if (mt_cq.tail)
        mt_cq.tail->next = j;
    else
        mt_cq.head = j;
    mt_cq.tail = j;
    pthread_cond_signal(&mt_cq.cv);
    pthread_mutex_unlock(&mt_cq.mu);
}

void *mt_completer_main(void *arg)
{
    (void)arg;
    for (;;) {
        pthread_mutex_lock(&mt_cq.mu);
        while (mt_cq.head == NULL && !mt_cq.stop)
            pthread_cond_wait(&mt_cq.cv, &mt_cq.mu);
        mt_job *j = mt_cq.head;
        if (j == NULL) {
            pthread_mutex_unlock(&mt_cq.mu);
            break;
        }
        mt_cq.head = j->next;
        if (mt_cq.head == NULL)
            mt_cq.tail = NULL;
        pthread_mutex_unlock(&mt_cq.mu);
        mt_random_pause(mt_cq.max_delay_us);
        mt_complete(j->r, j->side);
        free(j);
    }
    return NULL;
}

void mt_cq_start(int n, long max_delay_us)
{
    mt_cq.stop = 0;
    mt_cq.n = n;
    mt_cq.max_delay_us = max_delay_us;
    for (int i = 0; i < n; i++)
        CHECK(pthread_create(&mt_cq.th[i], NULL, mt_completer_main, NULL) == 0);
    atomic_store(&mt_cq.running, 1);
}

void mt_cq_stop(void)
{
    pthread_mutex_lock(&mt_cq.mu);
    mt_cq.stop = 1;
    pthread_cond_broadcast(&mt_cq.cv);
    pthread_mutex_unlock(&mt_cq.mu);
    for (int i = 0; i < mt_cq.n; i++)
        pthread_join(mt_cq.th[i], NULL);
    mt_cq.n = 0;
    atomic_store(&mt_cq.running, 0);
}

void mt_note_offer(mt_mod *c, mt_mod *p)
{
    pthread_mutex_lock(&c->mu);
    for (int i = 0; i < c->n_offered; i++)
        MT_CHECK(c->offered[i] != p->id,
                 "R5/R6: a (client, provider) pair was offered twice");
    if (c->n_offered == c->cap_offered) {
        c->cap_offered = c->cap_offered ? 2 * c->cap_offered : 8;
        c->offered = realloc(c->offered, (size_t)c->cap_offered * sizeof(int));
        MT_CHECK(c->offered != NULL, "out of memory in the test");
    }
    c->offered[c->n_offered++] = p->id;
    pthread_mutex_unlock(&c->mu);
}

NTSTATUS mt_ClientAttachProvider_cb(HANDLE bh, PVOID ctx,
                                    PNPI_REGISTRATION_INSTANCE pinst)
{
    mt_mod *c = ctx;
    mt_mod_enter(c);
    MT_CHECK(c->side == MT_CLIENT, "client callback got a provider context");
    mt_mod *p = mt_mod_from_inst(pinst, MT_PROVIDER);
    MT_CHECK(memcmp(&c->npi, &p->npi, sizeof c->npi) == 0,
             "R4: offered a provider of another NPI");
    MT_CHECK(!atomic_load(&p->unloaded), "R18: offer from a provider after its wait returned");
    MT_CHECK(bh != NULL, "offer with a NULL binding handle");
    MT_CHECK(mt_tid() == atomic_load(&c->reg_tid) || mt_tid() == atomic_load(&p->reg_tid),
             "R7/R24: offer not made on the registering thread");
    mt_note_offer(c, p);
    atomic_fetch_add(&c->n_offers, 1);
    atomic_fetch_add(&mt_total_offers, 1);

    int mode = c->att_mode;
    if (mode == MT_ATT_RANDOM) {
        unsigned x = mt_rand() % 100u;
        mode = x < 70 ? MT_ATT_ACCEPT : x < 85 ? MT_ATT_DECLINE_EARLY : MT_ATT_FAIL_AFTER;
    }
    if (mode == MT_ATT_DECLINE_EARLY && c->hooks == NULL) {
        mt_mod_exit(c);
        return STATUS_NOINTERFACE;
    }

    mt_rec *r = calloc(1, sizeof *r);
    MT_CHECK(r != NULL, "out of memory in the test");
    r->magic = MT_REC_MAGIC;
    r->c = c;
    r->p = p;
    r->bh = bh;
    mt_push_rec(r);
    {
        mt_rec *head = atomic_load(&c->recs);
        do {
            r->next_of_c = head;
        } while (!atomic_compare_exchange_weak(&c->recs, &head, r));
    }
    mt_rec_enter(r, 0);
    if (c->hooks && c->hooks->attach_before)
        c->hooks->attach_before(r);

    NTSTATUS st = STATUS_NOINTERFACE;
    if (mode != MT_ATT_DECLINE_EARLY) {
        PVOID pbc = NULL;
        const void *pd = NULL;
        int tries = c->att_mode == MT_ATT_RANDOM && mt_chance(30) ? 2 : 1;
        for (int t = 0; t < tries; t++) { /* R9: the last call counts */
            int before = atomic_load(&r->n_pattach);
            st = mt_ClientAttachProvider(bh, r, &mt_client_dispatch, &pbc, &pd);
            if (st == STATUS_SUCCESS)
                break;
            MT_CHECK(atomic_load(&r->prov_accepted) == 0,
                     "R8: NmrClientAttachProvider failed though the provider accepted");
            MT_CHECK(atomic_load(&r->n_pattach) <= before + 1,
                     "R8: one NmrClientAttachProvider called the provider twice");
        }
        if (st == STATUS_SUCCESS) {
            MT_CHECK(atomic_load(&r->prov_accepted) == 1,
                     "R8: NmrClientAttachProvider succeeded, provider did not accept");
            MT_CHECK(pbc == r, "R8: provider binding context not passed back");
            MT_CHECK(pd == &mt_provider_dispatch, "R8: provider dispatch not passed back");
            if (atomic_load(&mt_r8_recheck) && mt_chance(10)) {
                int before = atomic_load(&r->n_pattach);
                NTSTATUS st2 = mt_ClientAttachProvider(bh, r, &mt_client_dispatch, &pbc, &pd);
                MT_CHECK_STATUS(st2, STATUS_INVALID_DEVICE_STATE,
                                "R8: NmrClientAttachProvider after a successful attach");
                MT_CHECK(atomic_load(&r->n_pattach) == before,
                         "R8: a rejected NmrClientAttachProvider called the provider");
            }
        }
    }
    if (c->hooks && c->hooks->attach_after)
        c->hooks->attach_after(r, st);
    if (atomic_load(&mt_nested_dereg_pct) && mt_chance(atomic_load(&mt_nested_dereg_pct)))
        mt_try_deregister(c); /* R22: deregister oneself from one's offer */

    NTSTATUS ret = STATUS_NOINTERFACE;
    if (st == STATUS_SUCCESS && mode == MT_ATT_ACCEPT) {
        ret = STATUS_SUCCESS;
        atomic_store(&r->attached, 1);
        atomic_fetch_add(&mt_total_bindings, 1);
    }
    atomic_store(&r->offer_returned, 1);
    mt_rec_exit(r, 0);
    mt_mod_exit(c);
    return ret;
}

NTSTATUS mt_ProviderAttachClient_cb(HANDLE bh, PVOID ctx,
                                    PNPI_REGISTRATION_INSTANCE cinst,
                                    PVOID cbc, const void *cd,
                                    PVOID *pbc, const void **pd)
{
    mt_mod *p = ctx;
    mt_mod_enter(p);
    MT_CHECK(p->side == MT_PROVIDER, "provider callback got a client context");
    mt_mod *c = mt_mod_from_inst(cinst, MT_CLIENT);
    mt_rec *r = cbc;
    MT_CHECK(r != NULL && r->magic == MT_REC_MAGIC, "R8: client binding context not passed on");
    MT_CHECK(r->c == c && r->p == p, "R8: ProviderAttachClient for the wrong pair");
    MT_CHECK(cd == &mt_client_dispatch, "R8: client dispatch not passed on");
    MT_CHECK(bh != NULL, "ProviderAttachClient with a NULL binding handle");
    MT_CHECK(pbc != NULL && pd != NULL, "ProviderAttachClient with NULL out-pointers");
    mt_rec_enter(r, 1);
    MT_CHECK(!atomic_load(&r->offer_returned), "R8: provider attach after the offer returned");
    atomic_fetch_add(&r->n_pattach, 1);
    atomic_fetch_add(&p->n_offers, 1);
    int accept = p->att_mode == MT_PATT_ACCEPT ||
                 (p->att_mode == MT_PATT_RANDOM && mt_chance(80));
    NTSTATUS ret = STATUS_NOINTERFACE;
    if (accept) {
        r->bh_p = bh;
        *pbc = r;
        *pd = &mt_provider_dispatch;
        atomic_fetch_add(&c->live, 1);
        atomic_fetch_add(&p->live, 1);
        atomic_store(&r->prov_accepted, 1);
        ret = STATUS_SUCCESS;
    }
    mt_rec_exit(r, 1);
    mt_mod_exit(p);
    return ret;
}

int mt_pick_det_mode(int mode)
{
    if (mode != MT_DET_RANDOM)
        return mode;
    unsigned x = mt_rand() % 100u;
    if (atomic_load(&mt_cq.running))
        return x < 35 ? MT_DET_SUCCESS : x < 55 ? MT_DET_INSIDE : MT_DET_QUEUE;
    return x < 60 ? MT_DET_SUCCESS : MT_DET_INSIDE;
}

NTSTATUS mt_detach_common(mt_rec *r, int side)
{
    MT_CHECK(r != NULL && r->magic == MT_REC_MAGIC, "detach got a bad binding context");
    mt_mod *m = side == MT_CLIENT ? r->c : r->p;
    mt_mod_enter(m);
    mt_rec_enter(r, 0);
    MT_CHECK(atomic_load(&r->offer_returned), "R23: detach before the offer returned");
    MT_CHECK(atomic_load(&r->prov_accepted), "R10: detach of a binding the provider never accepted");
    if (side == MT_CLIENT) {
        MT_CHECK(atomic_load(&r->attached),
                 "R10: ClientDetachProvider on a binding that never attached");
        MT_CHECK(atomic_load(&r->n_detach[MT_PROVIDER]) == 0,
                 "R13: ProviderDetachClient ran before ClientDetachProvider");
    } else if (atomic_load(&r->attached)) {
        MT_CHECK(atomic_load(&r->n_detach[MT_CLIENT]) == 1,
                 "R13: ProviderDetachClient ran before ClientDetachProvider");
    }
    MT_CHECK(atomic_fetch_add(&r->n_detach[side], 1) == 0,
             "R13: a detach callback ran twice for one binding");
    MT_CHECK(atomic_load(&r->n_cleanups) == 0, "R23: detach after a cleanup");
    atomic_store(&r->det_tid[side], mt_tid());
    if (atomic_load(&mt_nested_dereg_pct) && mt_chance(atomic_load(&mt_nested_dereg_pct)))
        mt_try_deregister(m); /* R22: deregister oneself from a detach callback */

    NTSTATUS ret;
    int mode = mt_pick_det_mode(m->det_mode);
    switch (mode) {
    case MT_DET_INSIDE:
        mt_mark_pending(r, side);
        mt_complete(r, side); /* R15: before the callback returns */
        ret = STATUS_PENDING;
        break;
    case MT_DET_QUEUE:
        mt_mark_pending(r, side);
        mt_cq_push(r, side);
        ret = STATUS_PENDING;
        break;
    case MT_DET_CUSTOM:
        ret = m->hooks->detach(r, side);
        if (ret == STATUS_SUCCESS)
            atomic_store(&r->done[side], 1);
        break;
    default:
        atomic_store(&r->done[side], 1);
        ret = STATUS_SUCCESS;
        break;
    }
    atomic_store(&r->det_returned[side], 1);
    mt_rec_exit(r, 0);
    mt_mod_exit(m);
    return ret;
}

NTSTATUS mt_ClientDetachProvider_cb(PVOID cbc)
{
    return mt_detach_common(cbc, MT_CLIENT);
}

NTSTATUS mt_ProviderDetachClient_cb(PVOID pbc)
{
    return mt_detach_common(pbc, MT_PROVIDER);
}

int mt_half_thread(mt_rec *r, int side, int tid)
{
    if (atomic_load(&r->det_tid[side]) == tid)
        return 1;
    return atomic_load(&r->pending[side]) && atomic_load(&r->comp_tid[side]) == tid;
}

void mt_cleanup_common(mt_rec *r, int side)
{
    MT_CHECK(r != NULL && r->magic == MT_REC_MAGIC, "cleanup got a bad binding context");
    mt_mod *m = side == MT_CLIENT ? r->c : r->p;
    mt_mod_enter(m);
    mt_rec_enter(r, 0);
    MT_CHECK(atomic_load(&r->prov_accepted), "R10: cleanup of a binding never accepted");
    MT_CHECK(atomic_load(&r->n_detach[MT_PROVIDER]) == 1 &&
                 atomic_load(&r->det_returned[MT_PROVIDER]),
             "R16: cleanup before ProviderDetachClient returned");
    MT_CHECK(atomic_load(&r->done[MT_PROVIDER]),
             "R16: cleanup before the provider half completed");
    if (atomic_load(&r->attached)) {
        MT_CHECK(atomic_load(&r->n_detach[MT_CLIENT]) == 1 &&
                     atomic_load(&r->det_returned[MT_CLIENT]),
                 "R16: cleanup before ClientDetachProvider returned");
        MT_CHECK(atomic_load(&r->done[MT_CLIENT]),
                 "R16: cleanup before the client half completed");
    }
    MT_CHECK(atomic_fetch_add(&r->n_cleanup[side], 1) == 0,
             "R16: a cleanup callback ran twice for one binding");
    int tid = mt_tid();
    int ok = mt_half_thread(r, MT_PROVIDER, tid) ||
             (atomic_load(&r->attached) && mt_half_thread(r, MT_CLIENT, tid));
    MT_CHECK(ok, "R16: cleanup not on a thread that completed a half");
    atomic_store(&r->cleanup_tid[side], tid);
    if (m->hooks && m->hooks->cleanup)
        m->hooks->cleanup(r, side);
    if (atomic_fetch_add(&r->n_cleanups, 1) == 1) {
        MT_CHECK(atomic_load(&r->cleanup_tid[0]) == atomic_load(&r->cleanup_tid[1]),
                 "R16: the two cleanups ran on different threads");
        atomic_fetch_add(&mt_total_cleanups, 1);
    }
    atomic_fetch_sub(&m->live, 1);
    mt_rec_exit(r, 0);
    mt_mod_exit(m);
}

void mt_ClientCleanup_cb(PVOID cbc){ mt_cleanup_common(cbc, MT_CLIENT); }

void mt_ProviderCleanup_cb(PVOID pbc){ mt_cleanup_common(pbc, MT_PROVIDER); }

mt_mod *mt_mod_new(int side, int npi_idx, int att_mode,
                   int det_mode)
{
    mt_mod *m = calloc(1, sizeof *m);
    CHECK(m != NULL);
    m->magic = MT_MOD_MAGIC;
    m->id = atomic_fetch_add(&mt_next_mod_id, 1);
    m->side = side;
    m->npi_idx = npi_idx;
    mt_npi_of(npi_idx, &m->npi);
    m->modid.Length = sizeof m->modid;
    m->modid.Type = MIT_GUID;
    m->modid.Guid.Data1 = (uint32_t)m->id;
    m->att_mode = att_mode;
    m->det_mode = det_mode;
    pthread_mutex_init(&m->mu, NULL);
    NPI_REGISTRATION_INSTANCE *ri;
    if (side == MT_CLIENT) {
        m->cch.Version = 0;
        m->cch.Length = sizeof m->cch;
        m->cch.ClientAttachProvider = mt_ClientAttachProvider_cb;
        m->cch.ClientDetachProvider = mt_ClientDetachProvider_cb;
        m->cch.ClientCleanupBindingContext = mt_ClientCleanup_cb;
        ri = &m->cch.ClientRegistrationInstance;
    } else {
        m->pch.Version = 0;
        m->pch.Length = sizeof m->pch;
        m->pch.ProviderAttachClient = mt_ProviderAttachClient_cb;
        m->pch.ProviderDetachClient = mt_ProviderDetachClient_cb;
        m->pch.ProviderCleanupBindingContext = mt_ProviderCleanup_cb;
        ri = &m->pch.ProviderRegistrationInstance;
    }
    ri->Version = 0;
    ri->Size = sizeof *ri;
    ri->NpiId = &m->npi;
    ri->ModuleId = &m->modid;
    ri->Number = (ULONG)m->id;
    mt_push_mod(m);
    return m;
}

void mt_register(mt_mod *m)
{
    atomic_store(&m->reg_tid, mt_tid());
    atomic_store(&m->seq_reg_start, mt_seq());
    NTSTATUS st = m->side == MT_CLIENT
                      ? mt_RegisterClient(&m->cch, m, &m->h)
                      : mt_RegisterProvider(&m->pch, m, &m->h);
    atomic_store(&m->seq_reg_end, mt_seq());
    MT_CHECK_STATUS(st, STATUS_SUCCESS, "R1/R7: registration failed");
    MT_CHECK(m->h != NULL, "R7: registration returned no handle");
    atomic_store(&m->registered, 1);
}

void mt_deregister(mt_mod *m)
{
    atomic_store(&m->seq_dereg_start, mt_seq());
    NTSTATUS st = m->side == MT_CLIENT ? mt_DeregisterClient(m->h)
                                       : mt_DeregisterProvider(m->h);
    atomic_store(&m->seq_dereg_end, mt_seq());
    MT_CHECK_STATUS(st, STATUS_PENDING, "R12: NmrDeregister* must return STATUS_PENDING");
    atomic_store(&m->deregistered, 1);
}

int mt_try_deregister(mt_mod *m)
{
    if (atomic_exchange(&m->dereg_claimed, 1))
        return 0;
    if (mt_in_nmr > 0)
        atomic_fetch_add(&mt_nested_deregs, 1);
    mt_deregister(m);
    return 1;
}

void mt_wait(mt_mod *m)
{
    /* A callback on another thread may have claimed the deregistration and
     * still be inside NmrDeregister*: wait for it to return first (R19). */
    if (atomic_load(&m->dereg_claimed))
        MT_AWAIT(&m->deregistered, 1, "R12: NmrDeregister* called from a callback did not return");
    NTSTATUS st = m->side == MT_CLIENT ? mt_WaitClient(m->h) : mt_WaitProvider(m->h);
    MT_CHECK_STATUS(st, STATUS_SUCCESS, "R18: NmrWaitFor*DeregisterComplete");
    atomic_store(&m->unloaded, 1);
    MT_CHECK(atomic_load(&m->active) == 0,
             "R18: a callback into the module is still running after its wait returned");
    MT_CHECK(atomic_load(&m->live) == 0,
             "R18: the wait returned before every binding of the module was cleaned up");
    atomic_store(&m->waited, 1);
}

void mt_verify_recs(void)
{
    for (mt_rec *r = atomic_load(&mt_all_recs); r; r = r->next_all) {
        MT_CHECK(atomic_load(&r->offer_returned), "R18: an offer never returned");
        MT_CHECK(atomic_load(&r->depth) == 0, "R18: a binding callback still running");
        if (!atomic_load(&r->prov_accepted)) {
            MT_CHECK(atomic_load(&r->n_detach[0]) == 0 && atomic_load(&r->n_detach[1]) == 0 &&
                         atomic_load(&r->n_cleanup[0]) == 0 && atomic_load(&r->n_cleanup[1]) == 0,
                     "R10: callbacks for a pair the provider declined");
            continue;
        }
        if (atomic_load(&r->attached))
            MT_CHECK(atomic_load(&r->n_detach[MT_CLIENT]) == 1,
                     "R13/R18: ClientDetachProvider not called exactly once");
        else
            MT_CHECK(atomic_load(&r->n_detach[MT_CLIENT]) == 0,
                     "R10: ClientDetachProvider called though the client failed the offer");
        MT_CHECK(atomic_load(&r->n_detach[MT_PROVIDER]) == 1,
                 "R10/R13/R18: ProviderDetachClient not called exactly once");
        MT_CHECK(atomic_load(&r->n_cleanup[0]) == 1 && atomic_load(&r->n_cleanup[1]) == 1,
                 "R16/R18: cleanups not called exactly once each");
    }
}

int mt_ival_cmp_(const void *a, const void *b)
{
    long x = ((const mt_ival_ *)a)->start, y = ((const mt_ival_ *)b)->start;
    return x < y ? -1 : x > y;
}

int mt_offered_count_(mt_mod *c, int pid)
{
    int k = 0;
    for (int q = 0; q < c->n_offered; q++)
        k += c->offered[q] == pid;
    return k;
}

void mt_verify_pairs(void)
{
    int max_id = atomic_load(&mt_next_mod_id);
    mt_mod **by_id = calloc((size_t)max_id + 1, sizeof *by_id);
    size_t n = 0;
    CHECK(by_id != NULL);
    for (mt_mod *m = atomic_load(&mt_all_mods); m; m = m->next_all) {
        by_id[m->id] = m;
        n++;
    }
    const long inf = 0x7fffffffffffffffL;
    /* Never offered after a deregistration returned, nor before it began. */
    for (mt_mod *c = atomic_load(&mt_all_mods); c; c = c->next_all) {
        if (c->side != MT_CLIENT)
            continue;
        for (int q = 0; q < c->n_offered; q++) {
            mt_mod *p = by_id[c->offered[q]];
            if (p == NULL)
                continue;
            long c_de = atomic_load(&c->deregistered) ? atomic_load(&c->seq_dereg_end) : inf;
            long p_de = atomic_load(&p->deregistered) ? atomic_load(&p->seq_dereg_end) : inf;
            MT_CHECK(!(atomic_load(&p->seq_reg_start) > c_de || atomic_load(&c->seq_reg_start) > p_de),
                     "R12: a pair was offered after one side's deregistration returned");
        }
    }
    /* Overlapping pairs offered exactly once. */
    mt_ival_ *iv = malloc((n + 1) * sizeof *iv);
    mt_ival_ **act = malloc((n + 1) * sizeof *act);
    CHECK(iv != NULL && act != NULL);
    for (int npi = 0; npi < 64; npi++) {
        size_t k = 0;
        for (mt_mod *m = atomic_load(&mt_all_mods); m; m = m->next_all) {
            if (m->npi_idx != npi || !atomic_load(&m->registered))
                continue;
            iv[k].m = m;
            iv[k].start = atomic_load(&m->seq_reg_end);
            iv[k].end = atomic_load(&m->deregistered) ? atomic_load(&m->seq_dereg_start) : inf;
            k++;
        }
        if (k == 0)
            continue;
        qsort(iv, k, sizeof *iv, mt_ival_cmp_);
        size_t na = 0;
        for (size_t i = 0; i < k; i++) {
            size_t keep = 0;
            for (size_t j = 0; j < na; j++)
                if (act[j]->end > iv[i].start)
                    act[keep++] = act[j];
            na = keep;
            for (size_t j = 0; j < na && iv[i].end > iv[i].start; j++) {
                if (act[j]->m->side == iv[i].m->side)
                    continue;
                mt_mod *c = iv[i].m->side == MT_CLIENT ? iv[i].m : act[j]->m;
                mt_mod *p = iv[i].m->side == MT_CLIENT ? act[j]->m : iv[i].m;
                int offered = mt_offered_count_(c, p->id);
                if (offered != 1) {
                    fprintf(stderr, "   pair client %d provider %d offered %d times\n",
                            c->id, p->id, offered);
                    MT_CHECK(offered == 1,
                             "R5: a pair registered at the same time was not offered exactly once");
                }
            }
            if (iv[i].end > iv[i].start)
                act[na++] = &iv[i];
        }
    }
    free(act);
    free(iv);
    free(by_id);
}

void mt_reset(void)
{
    mt_rec *r = atomic_exchange(&mt_all_recs, NULL);
    while (r) {
        mt_rec *n = r->next_all;
        r->magic = 0;
        free(r);
        r = n;
    }
    mt_mod *m = atomic_exchange(&mt_all_mods, NULL);
    while (m) {
        mt_mod *n = m->next_all;
        MT_CHECK(!atomic_load(&m->registered) || atomic_load(&m->waited),
                 "harness: module freed before its wait");
        pthread_mutex_destroy(&m->mu);
        free(m->offered);
        m->magic = 0;
        free(m);
        m = n;
    }
}

static mt_team_arg_ mt_team_args_[16];

void *mt_team_main_(void *a)
{
    mt_team_arg_ *ta = a;
    mt_team *t = ta->t;
    for (;;) {
        pthread_barrier_wait(&t->start);
        if (atomic_load(&t->stop))
            break;
        t->role(t, ta->w);
        pthread_barrier_wait(&t->end);
    }
    return NULL;
}

void mt_team_start(mt_team *t, int n, mt_role_fn *role, void *arg)
{
    CHECK(n > 0 && n <= 16);
    t->n = n;
    t->role = role;
    t->arg = arg;
    atomic_store(&t->stop, 0);
    CHECK(pthread_barrier_init(&t->start, NULL, (unsigned)n + 1) == 0);
    CHECK(pthread_barrier_init(&t->end, NULL, (unsigned)n + 1) == 0);
    for (int i = 0; i < n; i++) {
        mt_team_args_[i].t = t;
        mt_team_args_[i].w = i;
        CHECK(pthread_create(&t->th[i], NULL, mt_team_main_, &mt_team_args_[i]) == 0);
    }
}

void mt_team_iter(mt_team *t)
{
    pthread_barrier_wait(&t->start);
    pthread_barrier_wait(&t->end);
}

void mt_team_stop(mt_team *t)
{
    atomic_store(&t->stop, 1);
    pthread_barrier_wait(&t->start);
    for (int i = 0; i < t->n; i++)
        pthread_join(t->th[i], NULL);
    pthread_barrier_destroy(&t->start);
    pthread_barrier_destroy(&t->end);
}

void mt_sbar_init(mt_sbar *b, int n)
{
    atomic_store(&b->count, 0);
    atomic_store(&b->gen, 0);
    b->n = n;
}

void mt_sbar_wait(mt_sbar *b)
{
    int g = atomic_load(&b->gen);
    if (atomic_fetch_add(&b->count, 1) == b->n - 1) {
        atomic_store(&b->count, 0);
        atomic_fetch_add(&b->gen, 1);
        return;
    }
    unsigned k = 0;
    while (atomic_load(&b->gen) == g)
        if (++k > 20000)
            sched_yield();
}

void *mt_watchdog_main(void *arg)
{
    long secs = (long)(intptr_t)arg;
    double end = mt_now() + (double)secs;
    while (mt_now() < end)
        mt_sleep_us(200000);
    fprintf(stderr, "watchdog: program still running after %ld s, in case [%s]: "
                    "hang (deadlock or lost completion?) (NMR_TEST_SEED=%llu)\n",
            secs, atomic_load(&mt_case_name), mt_seed);
    fflush(stderr);
    _Exit(2);
}

void mt_init(const char *prog)
{
    mt_seed = (unsigned long long)mt_env_long("NMR_TEST_SEED", 0);
    if (mt_seed == 0)
        mt_seed = (unsigned long long)time(NULL) ^
                  ((unsigned long long)(uintptr_t)&mt_seed >> 4);
    fprintf(stderr, "%s: NMR_TEST_SEED=%llu%s\n", prog, mt_seed,
            MT_TSAN ? " (ThreadSanitizer build)" : "");
    nmr_diag_set_strict(0);
    nmr_diag_set_hook(mt_misuse_hook, NULL, NULL);
    pthread_t wd;
    long secs = mt_env_long("NMR_TEST_WATCHDOG_S", 150);
    CHECK(pthread_create(&wd, NULL, mt_watchdog_main, (void *)(intptr_t)secs) == 0);
    pthread_detach(wd);
}

