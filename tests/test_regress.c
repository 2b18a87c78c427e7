/* SPDX-License-Identifier: MIT */
/*
 * test_regress.c - regression tests of defects found by adversarial
 * testing (issue 11), single-threaded ones:
 *
 *   values     a registrar value passed as a HANDLE, or a handle passed as a
 *              registrar, is refused and touches nothing (R26);
 *   wrap       a registrar slot whose generation would wrap is retired, so
 *              a destroyed registrar's value never comes back (R26, R28);
 *   queued     R20: a wait for a registration whose detach is queued on
 *              this very thread (behind the callback it is in) returns
 *              STATUS_POSSIBLE_DEADLOCK at once; a wait that can finish
 *              from inside a callback is still allowed (R20, R22).
 *
 * Each failed before its fix: values (the provider in handle slot 6 was
 * deregistered through the first registrar's value), wrap (the stale value
 * equalled the new registrar's), queued (STATUS_TIMEOUT after 3 s).
 */
#include "check.h"
#include "chars.h"

#include "alloc.h"
#include "registrar.h"

#include <netioddk.h>
#include <nmr/registrar.h>
#include <stdint.h>
#include <string.h>

static const NPI_MODULEID MOD = {sizeof(NPI_MODULEID), MIT_GUID, {{0}}};

static NPIID npi_n(uint32_t n)
{
    NPIID g = {0x7e600000u + n, 0x11, 0x22, {1, 2, 3, 4, 5, 6, 7, 8}};
    return g;
}

/* ---- values: registrar values and handles are disjoint (R26) ---------- */


#define NPROV 128

static void t_values_disjoint(void)
{
    /* R26: first in the process, so the handle table is fresh: the
     * providers fill slots 0..127 in their first generation, where the
     * registrar values of the old encoding (index << 4 | 0xA) were also
     * provider handles (index << 2 | 2). */
    static NPI_CLIENT_CHARACTERISTICS cc[NPROV];
    static NPI_PROVIDER_CHARACTERISTICS pc[NPROV];
    static NPIID npi[NPROV];
    static HANDLE prov[NPROV];
    test_callbacks cb = {test_client_decline, test_detach_success, NULL, test_provider_accept, test_detach_success,
                         NULL};
    for (int i = 0; i < NPROV; i++) {
        npi[i] = npi_n(0x100u + (uint32_t)i);
        test_chars_init(&cc[i], &pc[i], &npi[i], &MOD, &MOD, &cb);
        CHECK_STATUS(NmrRegisterProvider(&pc[i], NULL, &prov[i]), STATUS_SUCCESS);
    }
    nmr_registrar *reg[8];
    for (int i = 0; i < 8; i++) {
        CHECK_STATUS(nmr_registrar_create(&reg[i]), STATUS_SUCCESS);
        if (i % 2 == 1) { /* move a slot's generation on, as in real use */
            CHECK_STATUS(nmr_registrar_destroy(reg[i]), STATUS_SUCCESS);
            CHECK_STATUS(nmr_registrar_create(&reg[i]), STATUS_SUCCESS);
        }
    }
    for (int i = 0; i < 8; i++) {
        HANDLE as_handle = (HANDLE)reg[i];
        CHECK_STATUS(NmrDeregisterProvider(as_handle), STATUS_INVALID_PARAMETER);
        CHECK_STATUS(NmrDeregisterClient(as_handle), STATUS_INVALID_PARAMETER);
        CHECK_STATUS(NmrWaitForProviderDeregisterComplete(as_handle),
                     STATUS_INVALID_PARAMETER);
        CHECK_STATUS(NmrWaitForClientDeregisterComplete(as_handle),
                     STATUS_INVALID_PARAMETER);
        CHECK_STATUS(NmrClientAttachProvider(as_handle, NULL, NULL, (PVOID *)&as_handle,
                                             (const VOID **)&as_handle),
                     STATUS_INVALID_PARAMETER);
    }
    /* A handle is no registrar: not to register in, not to destroy. */
    for (int i = 0; i < NPROV; i++) {
        nmr_registrar *as_reg = (nmr_registrar *)prov[i];
        HANDLE h = NULL;
        CHECK_STATUS(nmr_register_client_ex(as_reg, &cc[i], NULL, &h),
                     STATUS_INVALID_PARAMETER);
        CHECK(h == NULL);
        CHECK_STATUS(nmr_registrar_destroy(as_reg), STATUS_INVALID_PARAMETER);
    }
    /* Nothing was touched: every provider is still registered, and every
     * registrar still there. */
    for (int i = 0; i < NPROV; i++) {
        CHECK_STATUS(NmrDeregisterProvider(prov[i]), STATUS_PENDING);
        CHECK_STATUS(NmrWaitForProviderDeregisterComplete(prov[i]), STATUS_SUCCESS);
    }
    for (int i = 0; i < 8; i++)
        CHECK_STATUS(nmr_registrar_destroy(reg[i]), STATUS_SUCCESS);
}

/* ---- wrap: a registrar slot retires at its last generation ----------- */

static void t_registrar_generation_wrap(void)
{
    nmr_registrar *r1, *r2, *r3;
    CHECK_STATUS(nmr_registrar_create(&r1), STATUS_SUCCESS);
    CHECK_STATUS(nmr_registrar_destroy(r1), STATUS_SUCCESS);
    /* As if 2^32 - 1 more create/destroy cycles had run on r1's slot. */
    nmr_registrar_test_set_generation(r1, 0xFFFFFFFFu);
    CHECK_STATUS(nmr_registrar_create(&r2), STATUS_SUCCESS);
    CHECK(((uintptr_t)r2 & 0xFFFFFFFFu) == ((uintptr_t)r1 & 0xFFFFFFFFu)); /* same slot */
    CHECK_STATUS(nmr_registrar_destroy(r2), STATUS_SUCCESS);
    /* The next generation would be r1's again: the slot is retired. */
    for (int i = 0; i < 4; i++) {
        CHECK_STATUS(nmr_registrar_create(&r3), STATUS_SUCCESS);
        CHECK(r3 != r1 && r3 != r2);
        CHECK(((uintptr_t)r3 & 0xFFFFFFFFu) != ((uintptr_t)r1 & 0xFFFFFFFFu));
        CHECK_STATUS(nmr_registrar_destroy(r3), STATUS_SUCCESS);
    }
    NPIID npi = npi_n(1);
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    test_callbacks cb = {test_client_decline, test_detach_success, NULL, test_provider_accept, test_detach_success,
                         NULL};
    test_chars_init(&cc, &pc, &npi, &MOD, &MOD, &cb);
    HANDLE h = NULL;
    CHECK_STATUS(nmr_register_client_ex(r1, &cc, NULL, &h), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_register_client_ex(r2, &cc, NULL, &h), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_registrar_destroy(r1), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_registrar_destroy(r2), STATUS_INVALID_PARAMETER);
}

/* ---- queued: R20 covers detaches queued on this thread --------------- */

/* Two clients c[0], c[1] of one module, bound to provider p; an unrelated
 * client u bound to provider q on another NPI. */
static HANDLE c[2], p, u, q;
static NTSTATUS g_inner_wait, g_inner_wait_plain, g_unrelated_wait;
static int g_detaches[2], g_cleanups;


static NTSTATUS client_detach(PVOID ctx)
{
    intptr_t which = (intptr_t)ctx;
    if (which == 0 || which == 1)
        g_detaches[which]++;
    if (which == 0) {
        /* Inside c[0]'s detach, run by p's deregistration, which has c[1]'s
         * detach queued behind this callback on this thread. */
        CHECK_STATUS(NmrDeregisterClient(c[1]), STATUS_PENDING);
        g_inner_wait = nmr_wait_client_timeout(c[1], 3000);
        if (g_inner_wait == STATUS_POSSIBLE_DEADLOCK)
            g_inner_wait_plain = NmrWaitForClientDeregisterComplete(c[1]);
        /* A wait that can finish is never refused: u's binding is detached
         * by its own deregistration, right here. */
        CHECK_STATUS(NmrDeregisterClient(u), STATUS_PENDING);
        g_unrelated_wait = NmrWaitForClientDeregisterComplete(u);
    }
    return STATUS_SUCCESS;
}

static void client_cleanup(PVOID ctx)
{
    (void)ctx;
    g_cleanups++;
}

static void t_r20_queued_detach(void)
{
    NPIID npi = npi_n(2), other = npi_n(3);
    NPI_CLIENT_CHARACTERISTICS cc, ccu;
    NPI_PROVIDER_CHARACTERISTICS pc, pcq;
    test_callbacks cb = {test_client_attach, client_detach, client_cleanup,
                         test_provider_accept, test_detach_success, NULL};
    test_chars_init(&cc, &pc, &npi, &MOD, &MOD, &cb);
    test_chars_init(&ccu, &pcq, &other, &MOD, &MOD, &cb);
    CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&cc, (PVOID)(intptr_t)0, &c[0]), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&cc, (PVOID)(intptr_t)1, &c[1]), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterProvider(&pcq, NULL, &q), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&ccu, (PVOID)(intptr_t)2, &u), STATUS_SUCCESS);

    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    CHECK_STATUS(g_inner_wait, STATUS_POSSIBLE_DEADLOCK);       /* R20 */
    CHECK_STATUS(g_inner_wait_plain, STATUS_POSSIBLE_DEADLOCK); /* R20 */
    CHECK_STATUS(g_unrelated_wait, STATUS_SUCCESS);             /* R20, R22 */
    CHECK_EQ(g_detaches[0], 1);
    CHECK_EQ(g_detaches[1], 1); /* the queued detach ran after the callback */
    CHECK_EQ(g_cleanups, 3);    /* c[0], c[1] and u */
    /* From outside, the same waits finish. */
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(c[1]), STATUS_SUCCESS);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(c[0]), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(c[0]), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterProvider(q), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(q), STATUS_SUCCESS);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static long live0; /* live allocations before the case */

static void setup(void)
{
    live0 = nmr_alloc_live();
}

static void teardown(void)
{
    CHECK_EQ(nmr_alloc_live(), live0); /* R31 */
}

static const nmr_test_case cases[] = {
    CASE(t_values_disjoint, "R26"), /* needs a fresh handle table: it has one, in its own process */
    CASE(t_registrar_generation_wrap, ""),
    CASE(t_r20_queued_detach, "R20"),
};

NMR_TEST_SUITE(test_regress, cases, setup, teardown, NULL);
