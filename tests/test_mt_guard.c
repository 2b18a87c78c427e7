/* SPDX-License-Identifier: MIT */
/*
 * test_mt_guard.c - binding guards (nmr/guard.h) with the real NMR while
 * worker threads call into the peer continuously, and the provider or the
 * client deregisters with calls in flight.  Both NMR_GUARD_CLIENT (client
 * calls the provider) and NMR_GUARD_PROVIDER (provider calls the client).
 *
 * Each worker holds a "session" reference (an outer enter) for as long as
 * it uses the binding context, so the context cannot be cleaned up under
 * it, and makes calls (enter / peer op / leave) inside it.
 *
 * Rules checked:
 *   G3  nmr_guard_detach returns STATUS_SUCCESS only when no reference is
 *       held (no worker still before its last leave); it returns
 *       STATUS_SUCCESS whenever every leave had returned before the detach
 *       callback ran;
 *   G4  no call starts after the detach began: an enter that started
 *       after nmr_guard_detach returned must fail;
 *   G7  the cleanups run once each (R16), with no call in flight into the
 *       callee (its counter is 0), with no worker before its last leave,
 *       and on the thread of a leave or the deregistering thread; when
 *       every last leave started after NmrDeregister* returned, the
 *       cleanups ran on the last leave, before it returned;
 *   G8  the deregistration wait returns only after the cleanups (R18); no
 *       misuse report; no leak (R31).
 */
#define _POSIX_C_SOURCE 200809L
#include "mt_harness.h"
#include "chars.h"
#include "alloc.h"

#include <nmr/guard.h>

#define NW 3

typedef struct peer_dispatch {
    void (*op)(void *binding_context);
} peer_dispatch;

#define CTX_MAGIC 0x67756172u

typedef struct bctx {
    _Atomic unsigned magic;
    nmr_guard guard;
    void *peer_ctx;
    const peer_dispatch *peer;
    atomic_int calls_in_flight; /* calls into this side's dispatch */
} bctx;

static struct {
    int guard_side;
    int mode; /* 0 hold until enter fails, 1 random, 2 idle before detach */
    bctx *guarded, *callee;
    mt_sbar bar;
    atomic_int holders;      /* workers before their last leave */
    atomic_int leaves_done;  /* workers whose last leave returned */
    atomic_long detach_ret_seq;
    atomic_long dereg_ret_seq;
    atomic_int detach_status;
    atomic_int detach_calls;
    atomic_int leaves_done_at_detach;
    atomic_int cleanups;
    atomic_int cleanup_tid;
    atomic_int cleanup_in_leave;
    long last_leave_seq[NW];
    atomic_int checked_on_last_leave;
    int dereg_tid;
} S;

static _Thread_local int tl_in_leave;
static _Thread_local int tl_in_dereg;

static void op(void *binding_context)
{
    bctx *b = binding_context;
    MT_CHECK(atomic_load(&b->magic) == CTX_MAGIC, "G7: call into a cleaned-up context");
    atomic_fetch_add(&b->calls_in_flight, 1);
    mt_spin(100);
    atomic_fetch_sub(&b->calls_in_flight, 1);
}

static const peer_dispatch g_dispatch = {op};

static bctx *ctx_new(void)
{
    bctx *b = calloc(1, sizeof(*b));
    CHECK(b != NULL);
    atomic_store(&b->magic, CTX_MAGIC);
    return b;
}

static void ctx_cleanup(bctx *b)
{
    MT_CHECK(atomic_load(&b->magic) == CTX_MAGIC, "R16: cleanup twice");
    atomic_fetch_add(&S.cleanups, 1);
    MT_CHECK(atomic_load(&S.holders) == 0, "G7: cleanup while a worker holds a reference");
    MT_CHECK(S.callee == NULL || atomic_load(&S.callee->calls_in_flight) == 0,
             "G7: cleanup while a call into the peer is in flight");
    MT_CHECK(tl_in_leave || tl_in_dereg,
             "G7: cleanup neither on a leave nor on the deregistering thread");
    atomic_store(&S.cleanup_tid, mt_tid());
    atomic_store(&S.cleanup_in_leave, tl_in_leave);
    if (b == S.guarded) {
        nmr_guard_destroy(&b->guard);
        S.guarded = NULL;
    } else {
        S.callee = NULL;
    }
    atomic_store(&b->magic, 0);
    free(b);
}

static NTSTATUS guarded_detach(bctx *b)
{
    atomic_fetch_add(&S.detach_calls, 1);
    atomic_store(&S.leaves_done_at_detach, atomic_load(&S.leaves_done));
    NTSTATUS s = nmr_guard_detach(&b->guard);
    atomic_store(&S.detach_status, s);
    atomic_store(&S.detach_ret_seq, mt_seq());
    if (s == STATUS_SUCCESS)
        MT_CHECK(atomic_load(&S.holders) == 0,
                 "G3: detach SUCCESS while a worker still held a reference");
    else
        MT_CHECK_STATUS(s, STATUS_PENDING, "G3: detach returns SUCCESS or PENDING");
    return s;
}

static NTSTATUS client_attach(HANDLE h, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    (void)ctx;
    (void)pri;
    bctx *b = ctx_new();
    if (S.guard_side == NMR_GUARD_CLIENT) {
        CHECK_STATUS(nmr_guard_init(&b->guard, h, NMR_GUARD_CLIENT), STATUS_SUCCESS);
        S.guarded = b;
    } else {
        S.callee = b;
    }
    const VOID *pd = NULL;
    CHECK_STATUS(NmrClientAttachProvider(h, b, &g_dispatch, &b->peer_ctx, &pd), STATUS_SUCCESS);
    b->peer = pd;
    return STATUS_SUCCESS;
}

static NTSTATUS client_detach(PVOID ctx)
{
    return S.guard_side == NMR_GUARD_CLIENT ? guarded_detach(ctx) : STATUS_SUCCESS;
}

static VOID client_cleanup(PVOID ctx) { ctx_cleanup(ctx); }

static NTSTATUS provider_attach(HANDLE h, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                                PVOID cbc, const VOID *cd, PVOID *pbc, const VOID **pd)
{
    (void)ctx;
    (void)cri;
    bctx *b = ctx_new();
    b->peer_ctx = cbc;
    b->peer = cd;
    if (S.guard_side == NMR_GUARD_PROVIDER) {
        CHECK_STATUS(nmr_guard_init(&b->guard, h, NMR_GUARD_PROVIDER), STATUS_SUCCESS);
        S.guarded = b;
    } else {
        S.callee = b;
    }
    *pbc = b;
    *pd = &g_dispatch;
    return STATUS_SUCCESS;
}

static NTSTATUS provider_detach(PVOID ctx)
{
    return S.guard_side == NMR_GUARD_PROVIDER ? guarded_detach(ctx) : STATUS_SUCCESS;
}

static VOID provider_cleanup(PVOID ctx) { ctx_cleanup(ctx); }

static NPIID g_npi = {0x47554153, 0x1, 0x2, {1, 2, 3, 4, 5, 6, 7, 9}};
static NPI_MODULEID g_cmod = {sizeof(NPI_MODULEID), MIT_GUID, {{0xc2, 0, 0, {0}}}};
static NPI_MODULEID g_pmod = {sizeof(NPI_MODULEID), MIT_GUID, {{0xb2, 0, 0, {0}}}};
static NPI_CLIENT_CHARACTERISTICS g_cc;
static NPI_PROVIDER_CHARACTERISTICS g_pc;

static void chars_init(void)
{
    static const test_callbacks cb = {client_attach, client_detach, client_cleanup,
                                      provider_attach, provider_detach, provider_cleanup};
    test_chars_init(&g_cc, &g_pc, &g_npi, &g_cmod, &g_pmod, &cb);
}

/* ---- workers ---------------------------------------------------------------- */

static void worker(mt_team *t, int w)
{
    (void)t;
    bctx *b = S.guarded;
    /* the session reference: b stays valid until our last leave */
    MT_CHECK(nmr_guard_enter(&b->guard), "enter before any detach");
    mt_sbar_wait(&S.bar);
    int calls = S.mode == 0 ? (1 << 30) : S.mode == 2 ? (int)(mt_rand() % 4)
                                                       : (int)(mt_rand() % 30);
    for (int i = 0; i < calls; i++) {
        long pre = mt_seq();
        if (!nmr_guard_enter(&b->guard))
            break;
        long dr = atomic_load(&S.detach_ret_seq);
        MT_CHECK(dr == 0 || pre < dr, "G4: a call started after the detach began");
        b->peer->op(b->peer_ctx);
        nmr_guard_leave(&b->guard);
    }
    /* the last leave */
    S.last_leave_seq[w] = mt_seq();
    atomic_fetch_sub(&S.holders, 1);
    tl_in_leave = 1;
    nmr_guard_leave(&b->guard); /* may complete the detach and clean up */
    tl_in_leave = 0;
    /* b may be gone */
    if (atomic_fetch_add(&S.leaves_done, 1) == NW - 1) {
        /* the last one out: if every last leave started after the
         * deregistration returned, the cleanups ran on one of them */
        long dereg = atomic_load(&S.dereg_ret_seq);
        int all_after = dereg != 0;
        for (int i = 0; i < NW; i++)
            if (S.last_leave_seq[i] < dereg)
                all_after = 0;
        if (all_after) {
            MT_CHECK(atomic_load(&S.cleanups) == 2,
                     "G7: the last leave returned before the cleanups ran");
            MT_CHECK(atomic_load(&S.cleanup_in_leave) == 1,
                     "G7: cleanup not on the last leave");
            atomic_fetch_add(&S.checked_on_last_leave, 1);
        }
    }
    if (S.mode == 2)
        mt_sbar_wait(&S.bar);
}

static void guard_case(const char *name, int guard_side)
{
    mt_team t;
    mt_loop l;
    long pend = 0, succ = 0, on_leave = 0, on_dereg = 0;
    long live0 = nmr_alloc_live();
    mt_team_start(&t, NW, worker, NULL);
    for (mt_loop_init(&l, name, 30000); mt_loop_next(&l);) {
        memset(&S, 0, sizeof(S));
        S.guard_side = guard_side;
        S.mode = (int)(mt_rand() % 3);
        atomic_store(&S.holders, NW);
        mt_sbar_init(&S.bar, NW + 1);
        HANDLE hc, hp;
        if (mt_chance(50)) {
            MT_CHECK_STATUS(NmrRegisterProvider(&g_pc, NULL, &hp), STATUS_SUCCESS, "R7");
            MT_CHECK_STATUS(NmrRegisterClient(&g_cc, NULL, &hc), STATUS_SUCCESS, "R7");
        } else {
            MT_CHECK_STATUS(NmrRegisterClient(&g_cc, NULL, &hc), STATUS_SUCCESS, "R7");
            MT_CHECK_STATUS(NmrRegisterProvider(&g_pc, NULL, &hp), STATUS_SUCCESS, "R7");
        }
        MT_CHECK(S.guarded != NULL && S.callee != NULL, "R10: attached");
        int dereg_client = mt_chance(50);

        pthread_barrier_wait(&t.start);
        mt_sbar_wait(&S.bar); /* every worker holds its session */
        if (S.mode == 2)
            mt_sbar_wait(&S.bar); /* ... and has left for good */
        else
            mt_jitter(3000);
        tl_in_dereg = 1;
        NTSTATUS s = dereg_client ? NmrDeregisterClient(hc) : NmrDeregisterProvider(hp);
        tl_in_dereg = 0;
        atomic_store(&S.dereg_ret_seq, mt_seq());
        MT_CHECK_STATUS(s, STATUS_PENDING, "R12");
        MT_CHECK(atomic_load(&S.detach_calls) == 1, "R13: one detach of the guarded side");
        NTSTATUS ds = atomic_load(&S.detach_status);
        if (ds == STATUS_SUCCESS)
            succ++;
        else
            pend++;
        if (atomic_load(&S.leaves_done_at_detach) == NW)
            MT_CHECK(ds == STATUS_SUCCESS, "G3: PENDING although every call had returned");
        if (S.mode == 2)
            MT_CHECK(ds == STATUS_SUCCESS, "G3: PENDING although nothing was in flight");
        s = dereg_client ? NmrWaitForClientDeregisterComplete(hc)
                         : NmrWaitForProviderDeregisterComplete(hp);
        MT_CHECK_STATUS(s, STATUS_SUCCESS, "R18");
        MT_CHECK(atomic_load(&S.cleanups) == 2, "G8: wait returned before the cleanups");
        MT_CHECK(atomic_load(&S.holders) == 0, "G8: wait returned before the last leave");
        if (atomic_load(&S.cleanup_in_leave))
            on_leave++;
        else
            on_dereg++;
        if (ds == STATUS_SUCCESS)
            MT_CHECK(atomic_load(&S.cleanup_in_leave) == 0,
                     "G7: SUCCESS, yet a leave completed the detach");
        pthread_barrier_wait(&t.end);
        s = dereg_client ? NmrDeregisterProvider(hp) : NmrDeregisterClient(hc);
        MT_CHECK_STATUS(s, STATUS_PENDING, "R12");
        s = dereg_client ? NmrWaitForProviderDeregisterComplete(hp)
                         : NmrWaitForClientDeregisterComplete(hc);
        MT_CHECK_STATUS(s, STATUS_SUCCESS, "R18");
        MT_CHECK(atomic_load(&S.cleanups) == 2, "R16: cleanups once each");
    }
    mt_team_stop(&t);
    MT_CHECK(atomic_load(&mt_misuse_total) == 0, "R30: no misuse");
    MT_CHECK(nmr_alloc_live() == live0, "R31: no leak");
    fprintf(stderr, "   %s: detach PENDING %ld, SUCCESS %ld; cleanups on a leave %ld, "
                    "on the deregistering thread %ld\n",
            name, pend, succ, on_leave, on_dereg);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void guard_client(void) { guard_case("guard_client", NMR_GUARD_CLIENT); }
static void guard_provider(void) { guard_case("guard_provider", NMR_GUARD_PROVIDER); }

static void setup(void)
{
    mt_init("test_mt_guard");
    chars_init();
}

static const nmr_test_case cases[] = {
    CASE(guard_client, "R16 R18 R31"),
    CASE(guard_provider, "R16 R18 R31"),
};

NMR_TEST_SUITE(test_mt_guard, cases, setup, NULL, NULL);
