/* SPDX-License-Identifier: MIT */
/*
 * test_handles.c - handle validation: R26 (never issued, dead, wrong kind;
 * VOID functions report misuse), R27 (valid until wait / cleanup), R28
 * (stale handles never confused with live ones after 1,000,000 reuses).
 */
#include "check.h"
#include "fixture.h"
#include "rule_test.h"
#include "alloc.h"

#include <string.h>

static NTSTATUS attach_call(HANDLE b)
{
    static int dispatch;
    PVOID pbc = NULL;
    const VOID *pd = NULL;
    return NmrClientAttachProvider(b, &dispatch, &dispatch, &pbc, &pd);
}

/* Every status-returning function that takes a handle, called with h:
 * each must return STATUS_INVALID_PARAMETER; each VOID function must count
 * exactly one misuse of kind NMR_MISUSE_BAD_HANDLE and do nothing. */
static void all_reject(HANDLE h, int expect_reg_invalid)
{
    if (expect_reg_invalid) {
        CHECK_STATUS(NmrDeregisterClient(h), STATUS_INVALID_PARAMETER);
        CHECK_STATUS(NmrDeregisterProvider(h), STATUS_INVALID_PARAMETER);
        CHECK_STATUS(NmrWaitForClientDeregisterComplete(h),
                     STATUS_INVALID_PARAMETER);
        CHECK_STATUS(NmrWaitForProviderDeregisterComplete(h),
                     STATUS_INVALID_PARAMETER);
    }
    CHECK_STATUS(attach_call(h), STATUS_INVALID_PARAMETER);
    unsigned long long m0 = nmr_diag_misuse_count();
    unsigned long long k0 = fx_misuse(NMR_MISUSE_BAD_HANDLE);
    NmrClientDetachProviderComplete(h);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
    NmrProviderDetachClientComplete(h);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 2);
    CHECK_EQ(fx_misuse(NMR_MISUSE_BAD_HANDLE) - k0, 2);
}

/* R26: never-issued values (NULL, small integers, all-ones, a stack
 * address, a static address, freed heap memory) are rejected by every
 * function; VOID functions report misuse and nothing crashes. */
static void t_r26_never_issued(void)
{
    int local = 0;
    static int stat;
    void *freed = malloc(256);
    CHECK(freed != NULL);
    memset(freed, 0xA5, 256);
    /* a value, never used as memory (volatile: GCC 12 would track it) */
    volatile uintptr_t freed_addr = (uintptr_t)freed;
    free(freed);
    HANDLE bad[] = {NULL,
                    (HANDLE)(uintptr_t)1,
                    (HANDLE)(uintptr_t)2,
                    (HANDLE)(uintptr_t)0x1000,
                    (HANDLE)(uintptr_t)0x12345678,
                    (HANDLE)(uintptr_t)-1,
                    (HANDLE)(uintptr_t)0xdeadbeefdeadbeefull,
                    (HANDLE)&local,
                    (HANDLE)&stat,
                    (HANDLE)freed_addr};
    /* with some live registrations and bindings around */
    GUID npi = fx_guid(0x6001);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    int log0 = fx_log_len();
    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        all_reject(bad[i], 1);
    CHECK_EQ(fx_log_len(), log0);
    CHECK_EQ(fx_live_sides(c), 1);
    dereg_wait(c);
    dereg_wait(p);
    finish();
}

static HANDLE g_binding;
static void hook_save_binding(fx_module *m, fx_ev_type t, int phase,
                              fx_side *s, void *arg)
{
    (void)m; (void)arg;
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_PRE)
        g_binding = s->binding;
}

/* R26: wrong kinds: a binding handle as a registration handle, a client
 * handle as a provider handle and vice versa, registration handles as
 * binding handles.  Nothing happens to the real objects. */
static void t_r26_wrong_kind(void)
{
    GUID npi = fx_guid(0x6002);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->hook = hook_save_binding;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    HANDLE b = g_binding;
    CHECK(b != NULL && b != c->handle && b != p->handle);
    CHECK(c->handle != p->handle);
    int log0 = fx_log_len();

    /* binding handle as registration handle */
    CHECK_STATUS(NmrDeregisterClient(b), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrDeregisterProvider(b), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(b),
                 STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(b),
                 STATUS_INVALID_PARAMETER);
    /* client handle as provider handle and vice versa */
    CHECK_STATUS(NmrDeregisterProvider(c->handle), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrDeregisterClient(p->handle), STATUS_INVALID_PARAMETER);
    /* registration handles as binding handles */
    all_reject(c->handle, 0);
    all_reject(p->handle, 0);
    CHECK_EQ(fx_log_len(), log0);
    CHECK_EQ(fx_live_sides(c), 1);

    /* both deregistering now: wrong-kind waits still rejected */
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(c->handle),
                 STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(p->handle),
                 STATUS_INVALID_PARAMETER);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(b),
                 STATUS_INVALID_PARAMETER);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    finish();
}

/* R26, R27: dead handles (registration after its wait, binding after its
 * cleanup) are rejected by everything; before that they are valid (a
 * deregistering registration answers INVALID_DEVICE_STATE, not
 * INVALID_PARAMETER; a detaching binding's handle is accepted by the
 * completion). */
static void t_r27_valid_until_end(void)
{
    GUID npi = fx_guid(0x6003);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    c->hook = hook_save_binding;
    c->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    HANDLE b = g_binding, hc = c->handle, hp = p->handle;
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    /* still valid: wrong state, not unknown */
    CHECK_STATUS(NmrDeregisterClient(hc), STATUS_INVALID_DEVICE_STATE);
    CHECK_STATUS(attach_call(b), STATUS_INVALID_DEVICE_STATE);
    unsigned long long m0 = nmr_diag_misuse_count();
    fx_complete(c->sides); /* valid completion: no misuse */
    CHECK_EQ(nmr_diag_misuse_count(), m0);
    CHECK_EQ(fx_count(FX_EV_CLIENT_CLEANUP, c, p), 1);
    /* binding dead after cleanup, client registration still alive */
    all_reject(b, 1);
    CHECK_STATUS(NmrDeregisterClient(hc), STATUS_INVALID_DEVICE_STATE);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    all_reject(hc, 1);
    dereg_wait(p);
    all_reject(hp, 1);
    finish();
}

/* ---- R28 --------------------------------------------------------------- */

static int g_raw_ctx;
static NTSTATUS raw_cattach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    (void)pri; (void)ctx;
    PVOID pbc = NULL;
    const VOID *pd = NULL;
    return NmrClientAttachProvider(b, &g_raw_ctx, NULL, &pbc, &pd);
}
static NTSTATUS raw_detach(PVOID c) { (void)c; return STATUS_SUCCESS; }
static HANDLE g_last_binding;
static NTSTATUS raw_pattach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                            PVOID cbc, const VOID *cd, PVOID *pbc,
                            const VOID **pd)
{
    (void)ctx; (void)cri; (void)cbc; (void)cd;
    g_last_binding = b;
    *pbc = &g_raw_ctx;
    *pd = NULL;
    return STATUS_SUCCESS;
}

static const GUID g_npi28 = {0x6028, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
static const NPI_MODULEID g_mid28 = {sizeof(NPI_MODULEID), MIT_GUID,
                                     {{0x6028, 0, 0, {0}}}};

static void raw_chars(NPI_CLIENT_CHARACTERISTICS *cc,
                      NPI_PROVIDER_CHARACTERISTICS *pc, const GUID *npi)
{
    memset(cc, 0, sizeof(*cc));
    memset(pc, 0, sizeof(*pc));
    cc->Length = sizeof(*cc);
    cc->ClientAttachProvider = raw_cattach;
    cc->ClientDetachProvider = raw_detach;
    cc->ClientRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    cc->ClientRegistrationInstance.NpiId = npi;
    cc->ClientRegistrationInstance.ModuleId = &g_mid28;
    pc->Length = sizeof(*pc);
    pc->ProviderAttachClient = raw_pattach;
    pc->ProviderDetachClient = raw_detach;
    pc->ProviderRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    pc->ProviderRegistrationInstance.NpiId = npi;
    pc->ProviderRegistrationInstance.ModuleId = &g_mid28;
}

/* R28: 1,000,000 register / deregister / wait cycles (the same memory and
 * handle slots reused over and over); the very first handle, long dead,
 * is never equal to a live handle and never accepted, even while a live
 * registration occupies its slot. */
static void t_r28_million_cycles(void)
{
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    raw_chars(&cc, &pc, &g_npi28);
    HANDLE old = NULL, prev = NULL;
    CHECK_STATUS(NmrRegisterClient(&cc, &g_raw_ctx, &old), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(old), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(old), STATUS_SUCCESS);
    prev = old;
    long live0 = nmr_alloc_live();
    for (long i = 0; i < 1000000; i++) {
        HANDLE h = NULL;
        NTSTATUS st = (i & 1) ? NmrRegisterProvider(&pc, &g_raw_ctx, &h)
                              : NmrRegisterClient(&cc, &g_raw_ctx, &h);
        if (st != STATUS_SUCCESS)
            fprintf(stderr, "cycle %ld\n", i);
        CHECK_STATUS(st, STATUS_SUCCESS);
        if (h == old || h == prev) {
            fprintf(stderr, "cycle %ld: dead handle value reissued\n", i);
            CHECK(h != old && h != prev);
        }
        /* the stale handles must not reach the live registration */
        if ((i & 1023) == 0 || i >= 999000) {
            CHECK_STATUS(NmrDeregisterClient(old), STATUS_INVALID_PARAMETER);
            CHECK_STATUS(NmrDeregisterProvider(prev),
                         STATUS_INVALID_PARAMETER);
            CHECK_STATUS(NmrDeregisterClient(prev), STATUS_INVALID_PARAMETER);
        }
        st = (i & 1) ? NmrDeregisterProvider(h) : NmrDeregisterClient(h);
        if (st != STATUS_PENDING)
            fprintf(stderr, "cycle %ld\n", i);
        CHECK_STATUS(st, STATUS_PENDING);
        st = (i & 1) ? NmrWaitForProviderDeregisterComplete(h)
                     : NmrWaitForClientDeregisterComplete(h);
        CHECK_STATUS(st, STATUS_SUCCESS);
        prev = h;
    }
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(old),
                 STATUS_INVALID_PARAMETER);
    CHECK_EQ(nmr_alloc_live(), live0);
    CHECK_EQ(nmr_alloc_live(), g_live0);
}

/* R28 for binding handles: 200,000 bindings made and cleaned up; the first
 * binding handle stays dead and never equals a live binding's handle. */
static void t_r28_binding_cycles(void)
{
    static const GUID npi = {0x6029, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    raw_chars(&cc, &pc, &npi);
    HANDLE hp = NULL;
    CHECK_STATUS(NmrRegisterProvider(&pc, &g_raw_ctx, &hp), STATUS_SUCCESS);
    HANDLE first = NULL;
    unsigned long long m0 = nmr_diag_misuse_count();
    for (long i = 0; i < 200000; i++) {
        HANDLE hc = NULL;
        g_last_binding = NULL;
        CHECK_STATUS(NmrRegisterClient(&cc, &g_raw_ctx, &hc), STATUS_SUCCESS);
        CHECK(g_last_binding != NULL);
        if (first == NULL)
            first = g_last_binding;
        else {
            CHECK(g_last_binding != first);
            if ((i & 255) == 0)
                CHECK_STATUS(attach_call(first), STATUS_INVALID_PARAMETER);
        }
        CHECK_STATUS(NmrDeregisterClient(hc), STATUS_PENDING);
        CHECK_STATUS(NmrWaitForClientDeregisterComplete(hc), STATUS_SUCCESS);
    }
    CHECK_EQ(nmr_diag_misuse_count(), m0);
    CHECK_STATUS(NmrDeregisterProvider(hp), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(hp), STATUS_SUCCESS);
    CHECK_EQ(nmr_alloc_live(), g_live0);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_r26_never_issued, "R26"),
    CASE(t_r26_wrong_kind, "R26"),
    CASE(t_r27_valid_until_end, "R26 R27"),
    CASE(t_r28_million_cycles, "R28"),
    CASE(t_r28_binding_cycles, "R28"),
};

NMR_TEST_SUITE(test_handles, cases, rt_setup, rt_teardown, NULL);
