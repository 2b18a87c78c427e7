/* SPDX-License-Identifier: MIT */
/*
 * test_guard.c - binding guards (nmr/guard.h) with the real NMR, one
 * thread.  A client (NMR_GUARD_CLIENT) or a provider (NMR_GUARD_PROVIDER)
 * keeps an nmr_guard in its binding context: init in attach, detach
 * returns nmr_guard_detach, destroy in cleanup; calls into the peer's
 * dispatch go through nmr_guard_enter / nmr_guard_leave.
 *
 * Rules checked:
 *   G1  nmr_guard_init: NULL guard or bad side -> STATUS_INVALID_PARAMETER;
 *       out of memory -> STATUS_INSUFFICIENT_RESOURCES.
 *   G2  detach with no call in flight returns STATUS_SUCCESS and does not
 *       call Nmr*DetachComplete (a bogus binding handle would be reported
 *       as misuse, R26/R30); cleanups run inside NmrDeregister* (R16).
 *   G3  detach with a call in flight returns STATUS_PENDING; the binding is
 *       not cleaned up, and the deregistration not complete, until the last
 *       leave, which completes the half itself (R14): the cleanups run on
 *       that leave, on its thread, with no call in flight.
 *   G4  enter fails once the detach started.
 *   G5  the last leave may come from inside the detach callback, after
 *       nmr_guard_detach returned PENDING (R15).
 *   G6  no leak (R31), no misuse report, thousands of rounds.
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "chars.h"
#include "alloc.h"

#include <netioddk.h>
#include <nmr/diag.h>
#include <nmr/guard.h>

#include <stdatomic.h>
#include <string.h>

static int g_misuse;
static void misuse_hook(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)ctx;
    (void)kind;
    fprintf(stderr, "misuse: %s\n", msg);
    g_misuse++;
}

/* ---- the modules ------------------------------------------------------------ */

typedef struct peer_dispatch {
    void (*op)(void *binding_context);
} peer_dispatch;

#define CTX_MAGIC 0x67756172u

typedef struct bctx {
    unsigned magic;
    int is_client;
    nmr_guard guard;         /* only on the guarding side */
    void *peer_ctx;          /* the peer's binding context */
    const peer_dispatch *peer;
    int calls_in_flight;     /* calls into this side's dispatch */
    long calls;
} bctx;

static struct {
    int guard_side;        /* NMR_GUARD_CLIENT or NMR_GUARD_PROVIDER */
    bctx *guarded;         /* the guarding side's binding context */
    bctx *callee;          /* the other side's */
    NTSTATUS detach_status;
    int detach_calls;
    int cleanups;
    int in_leave;          /* a leave on this thread is running */
    int cleanups_in_leave;
    int callee_busy_at_cleanup;
    int leave_in_detach;   /* G5: the detach callback does the last leave */
    int held_for_detach;   /* a reference the detach callback releases */
} S;

static void op(void *binding_context)
{
    bctx *b = binding_context;
    CHECK(b->magic == CTX_MAGIC); /* never called after its cleanup */
    b->calls_in_flight++;
    b->calls++;
    b->calls_in_flight--;
}

static const peer_dispatch g_dispatch = {op};

static bctx *ctx_new(int is_client)
{
    bctx *b = calloc(1, sizeof(*b));
    CHECK(b != NULL);
    b->magic = CTX_MAGIC;
    b->is_client = is_client;
    return b;
}

static void ctx_cleanup(bctx *b)
{
    CHECK(b->magic == CTX_MAGIC);
    S.cleanups++;
    if (S.in_leave)
        S.cleanups_in_leave++;
    if (S.callee != NULL && S.callee->calls_in_flight != 0)
        S.callee_busy_at_cleanup++;
    if (b == S.guarded) {
        nmr_guard_destroy(&b->guard);
        CHECK(b->guard.rundown == NULL);
        S.guarded = NULL;
    }
    if (b == S.callee)
        S.callee = NULL;
    b->magic = 0;
    free(b);
}

static NTSTATUS guarded_detach(bctx *b)
{
    S.detach_calls++;
    NTSTATUS s = nmr_guard_detach(&b->guard);
    S.detach_status = s;
    CHECK(!nmr_guard_enter(&b->guard)); /* G4 */
    if (S.leave_in_detach && S.held_for_detach) {
        S.held_for_detach = 0;
        S.in_leave++;
        nmr_guard_leave(&b->guard); /* G5: completes before we return */
        S.in_leave--;
    }
    return s;
}

static NTSTATUS client_attach(HANDLE h, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    (void)ctx;
    (void)pri;
    bctx *b = ctx_new(1);
    if (S.guard_side == NMR_GUARD_CLIENT) {
        CHECK_STATUS(nmr_guard_init(&b->guard, h, NMR_GUARD_CLIENT), STATUS_SUCCESS);
        S.guarded = b;
    } else {
        S.callee = b;
    }
    const VOID *pd = NULL;
    NTSTATUS s = NmrClientAttachProvider(h, b, &g_dispatch, &b->peer_ctx, &pd);
    CHECK_STATUS(s, STATUS_SUCCESS);
    b->peer = pd;
    return STATUS_SUCCESS;
}

static NTSTATUS client_detach(PVOID ctx)
{
    bctx *b = ctx;
    CHECK(b->magic == CTX_MAGIC);
    return S.guard_side == NMR_GUARD_CLIENT ? guarded_detach(b) : STATUS_SUCCESS;
}

static VOID client_cleanup(PVOID ctx) { ctx_cleanup(ctx); }

static NTSTATUS provider_attach(HANDLE h, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                                PVOID cbc, const VOID *cd, PVOID *pbc, const VOID **pd)
{
    (void)ctx;
    (void)cri;
    bctx *b = ctx_new(0);
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
    bctx *b = ctx;
    CHECK(b->magic == CTX_MAGIC);
    return S.guard_side == NMR_GUARD_PROVIDER ? guarded_detach(b) : STATUS_SUCCESS;
}

static VOID provider_cleanup(PVOID ctx) { ctx_cleanup(ctx); }

static NPIID g_npi = {0x47554152, 0x1, 0x2, {1, 2, 3, 4, 5, 6, 7, 8}};
static NPI_MODULEID g_cmod = {sizeof(NPI_MODULEID), MIT_GUID, {{0xc1, 0, 0, {0}}}};
static NPI_MODULEID g_pmod = {sizeof(NPI_MODULEID), MIT_GUID, {{0xb1, 0, 0, {0}}}};
static NPI_CLIENT_CHARACTERISTICS g_cc;
static NPI_PROVIDER_CHARACTERISTICS g_pc;

static void chars_init(void)
{
    static const test_callbacks cb = {client_attach, client_detach, client_cleanup,
                                      provider_attach, provider_detach, provider_cleanup};
    test_chars_init(&g_cc, &g_pc, &g_npi, &g_cmod, &g_pmod, &cb);
}

/* One call into the peer through the guard. */
static int call_peer(bctx *b)
{
    if (!nmr_guard_enter(&b->guard))
        return 0;
    b->peer->op(b->peer_ctx);
    nmr_guard_leave(&b->guard);
    return 1;
}

/* ---- cases ----------------------------------------------------------------- */

/* G1 */
static void t_init_args(void)
{
    nmr_guard g;
    memset(&g, 0, sizeof(g));
    CHECK_STATUS(nmr_guard_init(NULL, NULL, NMR_GUARD_CLIENT), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_guard_init(&g, NULL, 2), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_guard_init(&g, NULL, -1), STATUS_INVALID_PARAMETER);
    long live0 = nmr_alloc_live();
    nmr_alloc_fail_at(1);
    CHECK_STATUS(nmr_guard_init(&g, NULL, NMR_GUARD_CLIENT), STATUS_INSUFFICIENT_RESOURCES);
    nmr_alloc_fail_at(0);
    CHECK_EQ(nmr_alloc_live(), live0);
    nmr_guard_destroy(NULL); /* harmless */
}

/* G2 without the NMR: an idle detach returns SUCCESS and completes nothing
 * (the bogus binding handle would be reported if it were used). */
static void t_idle_standalone(void)
{
    for (int side = 0; side < 2; side++) {
        nmr_guard g;
        CHECK_STATUS(nmr_guard_init(&g, (HANDLE)(uintptr_t)0xdead0, side), STATUS_SUCCESS);
        CHECK(nmr_guard_enter(&g));
        nmr_guard_leave(&g);
        CHECK_STATUS(nmr_guard_detach(&g), STATUS_SUCCESS);
        CHECK(!nmr_guard_enter(&g)); /* G4 */
        CHECK_EQ(g_misuse, 0);
        nmr_guard_destroy(&g);
        nmr_guard_destroy(&g); /* second destroy: harmless */
    }
}

static void setup(int guard_side)
{
    memset(&S, 0, sizeof(S));
    S.guard_side = guard_side;
}

static void register_both(HANDLE *hc, HANDLE *hp)
{
    CHECK_STATUS(NmrRegisterProvider(&g_pc, NULL, hp), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&g_cc, NULL, hc), STATUS_SUCCESS);
    CHECK(S.guarded != NULL && S.callee != NULL);
}

static void dereg_wait(HANDLE h, int is_client)
{
    CHECK_STATUS(is_client ? NmrDeregisterClient(h) : NmrDeregisterProvider(h), STATUS_PENDING);
    CHECK_STATUS(is_client ? NmrWaitForClientDeregisterComplete(h)
                           : NmrWaitForProviderDeregisterComplete(h),
                 STATUS_SUCCESS);
}

/* G2 with the NMR: idle -> detach SUCCESS, cleanups inside deregister. */
static void t_idle(void)
{
    for (int round = 0; round < 4; round++) {
        int side = round & 1, dereg_client = round >> 1;
        setup(side);
        HANDLE hc, hp;
        register_both(&hc, &hp);
        bctx *g = S.guarded;
        for (int i = 0; i < 10; i++)
            CHECK(call_peer(g));
        CHECK_EQ(S.callee->calls, 10);
        CHECK_STATUS(dereg_client ? NmrDeregisterClient(hc) : NmrDeregisterProvider(hp),
                     STATUS_PENDING);
        CHECK_EQ(S.detach_calls, 1);
        CHECK_STATUS(S.detach_status, STATUS_SUCCESS);
        CHECK_EQ(S.cleanups, 2); /* both halves done inside the deregister */
        CHECK_STATUS(dereg_client ? NmrWaitForClientDeregisterComplete(hc)
                                  : NmrWaitForProviderDeregisterComplete(hp),
                     STATUS_SUCCESS);
        dereg_wait(dereg_client ? hp : hc, !dereg_client);
        CHECK_EQ(g_misuse, 0);
    }
}

/* G3, G4, G5: a call in flight when the detach comes. */
static void t_in_flight(void)
{
    for (int round = 0; round < 8; round++) {
        int side = round & 1, dereg_client = (round >> 1) & 1, in_detach = round >> 2;
        setup(side);
        S.leave_in_detach = in_detach;
        HANDLE hc, hp;
        register_both(&hc, &hp);
        bctx *g = S.guarded;
        bctx *callee = S.callee;
        /* a call in flight: entered, inside the peer's dispatch */
        CHECK(nmr_guard_enter(&g->guard));
        callee->calls_in_flight++;
        if (in_detach) {
            /* the detach callback itself will do the last leave (R15) */
            callee->calls_in_flight--;
            S.held_for_detach = 1;
        }
        CHECK_STATUS(dereg_client ? NmrDeregisterClient(hc) : NmrDeregisterProvider(hp),
                     STATUS_PENDING);
        CHECK_EQ(S.detach_calls, 1);
        CHECK_STATUS(S.detach_status, STATUS_PENDING); /* G3 */
        if (in_detach) {
            /* G5: completed from inside; the NMR finished the half when
             * the callback returned */
            CHECK_EQ(S.cleanups, 2);
            CHECK_EQ(S.cleanups_in_leave, 0); /* the NMR deferred it */
        } else {
            CHECK_EQ(S.cleanups, 0); /* G3: not before the last leave */
            CHECK(!nmr_guard_enter(&g->guard)); /* G4 */
            CHECK(!nmr_guard_enter(&g->guard));
            callee->calls_in_flight--;
            S.in_leave = 1;
            nmr_guard_leave(&g->guard); /* the last leave: completes */
            S.in_leave = 0;
            CHECK_EQ(S.cleanups, 2);
            CHECK_EQ(S.cleanups_in_leave, 2); /* on the last leave */
        }
        CHECK_EQ(S.callee_busy_at_cleanup, 0);
        CHECK_STATUS(dereg_client ? NmrWaitForClientDeregisterComplete(hc)
                                  : NmrWaitForProviderDeregisterComplete(hp),
                     STATUS_SUCCESS);
        dereg_wait(dereg_client ? hp : hc, !dereg_client);
        CHECK_EQ(g_misuse, 0);
    }
}

/* G6: many rounds, alternating everything; no leak. */
static void t_many(void)
{
    long live0 = nmr_alloc_live();
    for (int round = 0; round < 3000; round++) {
        int side = round & 1, dereg_client = (round >> 1) & 1, held = (round >> 2) % 3;
        setup(side);
        HANDLE hc, hp;
        register_both(&hc, &hp);
        bctx *g = S.guarded;
        CHECK(call_peer(g));
        for (int i = 0; i < held; i++)
            CHECK(nmr_guard_enter(&g->guard));
        CHECK_STATUS(dereg_client ? NmrDeregisterClient(hc) : NmrDeregisterProvider(hp),
                     STATUS_PENDING);
        CHECK_STATUS(S.detach_status, held ? STATUS_PENDING : STATUS_SUCCESS);
        for (int i = 0; i < held; i++) {
            CHECK_EQ(S.cleanups, 0);
            nmr_guard_leave(&g->guard);
        }
        CHECK_EQ(S.cleanups, 2);
        CHECK_STATUS(dereg_client ? NmrWaitForClientDeregisterComplete(hc)
                                  : NmrWaitForProviderDeregisterComplete(hp),
                     STATUS_SUCCESS);
        dereg_wait(dereg_client ? hp : hc, !dereg_client);
    }
    CHECK_EQ(g_misuse, 0);
    CHECK_EQ(nmr_alloc_live(), live0);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between case_setup and teardown. ---- */

static long live0; /* live allocations before the case */

static void case_setup(void)
{
    nmr_diag_set_strict(0);
    nmr_diag_set_hook(misuse_hook, NULL, NULL);
    chars_init();
    live0 = nmr_alloc_live();
}

static void teardown(void)
{
    CHECK_EQ(nmr_alloc_live(), live0);
}

static const nmr_test_case cases[] = {
    CASE(t_init_args, ""),
    CASE(t_idle_standalone, ""),
    CASE(t_idle, ""),
    CASE(t_in_flight, "R15"),
    CASE(t_many, ""),
};

NMR_TEST_SUITE(test_guard, cases, case_setup, teardown, NULL);
