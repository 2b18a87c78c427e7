/* SPDX-License-Identifier: MIT */
/*
 * test_guard_faults.c - the failure paths of guards and capture: every
 * allocation of nmr_capture_create (the object, its registration, and the
 * binding record and guard of each provider it attaches to) made to fail
 * in turn (R2-style: a clean refusal, nothing left, still usable); a guard
 * detached twice is reported (NMR_MISUSE_RUNDOWN) and answers SUCCESS; a
 * provider that declines leaves the capture with nothing to capture.
 */
#include "check.h"
#include "fixture.h"

#include "alloc.h"

#include <nmr/guard.h>

static const NPI_MODULEID capture_id = {sizeof(NPI_MODULEID), MIT_GUID,
                                        {{0xC0FFEE01u, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}}}};

/* A plain provider (the fixture's modules expect fixture clients). */
static int g_bound, g_decline;
static const int provider_dispatch;

static NTSTATUS prov_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                            PVOID cctx, const VOID *cdisp, PVOID *pctx,
                            const VOID **pdisp)
{
    (void)b, (void)ctx, (void)cri, (void)cctx, (void)cdisp;
    if (g_decline)
        return STATUS_NOINTERFACE;
    *pctx = &g_bound;
    *pdisp = &provider_dispatch;
    g_bound++;
    return STATUS_SUCCESS;
}

static NTSTATUS prov_detach(PVOID ctx)
{
    (void)ctx;
    return STATUS_SUCCESS;
}

static VOID prov_cleanup(PVOID ctx)
{
    (void)ctx;
    g_bound--;
}

static HANDLE provider(const GUID *npi)
{
    static NPI_PROVIDER_CHARACTERISTICS pc[4];
    static int n;
    NPI_PROVIDER_CHARACTERISTICS *c = &pc[n++ % 4];
    *c = (NPI_PROVIDER_CHARACTERISTICS){
        0, sizeof(*c), prov_attach, prov_detach, prov_cleanup,
        {0, sizeof(NPI_REGISTRATION_INSTANCE), npi, &capture_id, 0, NULL}};
    HANDLE h;
    CHECK_STATUS(NmrRegisterProvider(c, NULL, &h), STATUS_SUCCESS);
    return h;
}

static void provider_end(HANDLE h)
{
    CHECK_STATUS(NmrDeregisterProvider(h), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(h), STATUS_SUCCESS);
}

/* Every allocation of creating a capture that binds to two providers. */
static void t_capture_create_faults(void)
{
    static GUID npi;
    npi = fx_guid(0x6F01);
    HANDLE p1 = provider(&npi), p2 = provider(&npi);
    long live0 = nmr_alloc_live();
    int refused = 0, partial = 0;
    for (long n = 1;; n++) {
        nmr_capture *c = NULL;
        unsigned long a0 = nmr_alloc_count();
        nmr_alloc_fail_at(n);
        NTSTATUS s = nmr_capture_create(&npi, &capture_id, NULL, &c);
        nmr_alloc_fail_at(0);
        unsigned long used = nmr_alloc_count() - a0;
        if (s != STATUS_SUCCESS) {
            CHECK_STATUS(s, STATUS_INSUFFICIENT_RESOURCES);
            CHECK(c == NULL);
            refused++;
        } else {
            /* A failed attach only loses that provider: capture the other. */
            NPI prov;
            void *token;
            if (nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &prov, &token) ==
                STATUS_SUCCESS)
                nmr_capture_release(c, token);
            if (g_bound < 2)
                partial++;
            CHECK_STATUS(nmr_capture_destroy(c), STATUS_SUCCESS);
        }
        CHECK_EQ(nmr_alloc_live(), live0);
        if (used < (unsigned long)n)
            break;
    }
    CHECK(refused >= 1);
    CHECK(partial >= 2); /* the binding record and the guard of an attach */
    CHECK_EQ(g_bound, 0);
    provider_end(p1);
    provider_end(p2);
}

/* A provider that declines: the capture is registered but has nothing. */
static void t_capture_declined(void)
{
    static GUID npi;
    npi = fx_guid(0x6F02);
    g_decline = 1;
    HANDLE p = provider(&npi);
    nmr_capture *c = NULL;
    CHECK_STATUS(nmr_capture_create(&npi, &capture_id, NULL, &c), STATUS_SUCCESS);
    NPI prov;
    void *token;
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &prov, &token),
                 STATUS_DEVICE_NOT_READY);
    CHECK_STATUS(nmr_capture_destroy(c), STATUS_SUCCESS);
    provider_end(p);
    g_decline = 0;
}

/* A guard detached twice: reported, and SUCCESS so the NMR is not left
 * waiting for a completion that will not come. */
static void t_guard_detach_twice(void)
{
    nmr_guard g;
    CHECK_STATUS(nmr_guard_init(&g, NULL, NMR_GUARD_CLIENT), STATUS_SUCCESS);
    CHECK_STATUS(nmr_guard_detach(&g), STATUS_SUCCESS); /* idle */
    unsigned long long m0 = fx_misuse(NMR_MISUSE_RUNDOWN);
    CHECK_STATUS(nmr_guard_detach(&g), STATUS_SUCCESS);
    CHECK_EQ(fx_misuse(NMR_MISUSE_RUNDOWN), m0 + 1);
    nmr_guard_destroy(&g);
    nmr_guard_destroy(&g); /* harmless: already destroyed */
    /* a wait on no object is reported, not a crash */
    ExWaitForRundownProtectionReleaseCacheAware(NULL);
    CHECK_EQ(fx_misuse(NMR_MISUSE_RUNDOWN), m0 + 2);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static long live0; /* live allocations before the case */

static void setup(void)
{
    fx_diag_capture();
    live0 = nmr_alloc_live();
}

static void teardown(void)
{
    CHECK_EQ(nmr_alloc_live(), live0);
    fx_diag_release();
}

static const nmr_test_case cases[] = {
    CASE(t_capture_create_faults, ""),
    CASE(t_capture_declined, ""),
    CASE(t_guard_detach_twice, ""),
};

NMR_TEST_SUITE(test_guard_faults, cases, setup, teardown, NULL);
