/* SPDX-License-Identifier: MIT */
/*
 * test_verify.c - the core's part of the driver verifier (src/base/verify.h,
 * docs/km.md): each Nmr* function checks the thread's IRQL against the
 * limit of its reference page, and each callback is checked for returning
 * with a lock held or at another IRQL than it was called at.
 *
 * The kernel-mode layer (libnmr-km) is not linked here: the tests raise
 * the IRQL by hand, through the thread's verifier state, as the layer's
 * KeAcquireSpinLock does, and turn the checks on as its constructor does.
 * Each case runs in its own process, so "on" does not leak between cases.
 */
#include "check.h"
#include "chars.h"
#include "fixture.h"
#include "verify.h"

#include <nmr/rundown.h>

#include <string.h>

/* ---- recording the reports ---------------------------------------------- */
static int g_reports;
static nmr_misuse_kind g_kind;
static char g_msg[1024];

static void rec_hook(void *context, nmr_misuse_kind kind, const char *message)
{
    (void)context;
    g_reports++;
    g_kind = kind;
    snprintf(g_msg, sizeof g_msg, "%s", message);
}

static void record(void)
{
    g_reports = 0;
    g_msg[0] = '\0';
    nmr_diag_set_hook(rec_hook, NULL, NULL);
}

/* What KeAcquireSpinLock does to the thread's state, and its release. */
static int g_lock;
static void fake_acquire(void)
{
    nmr_vthread *t = nmr__vthread();
    t->raise[t->nraise++] = (nmr_vraise){&g_lock, "KeAcquireSpinLock",
                                         (const void *)(uintptr_t)fake_acquire,
                                         t->irql, NMR_DISPATCH_LEVEL};
    t->irql = NMR_DISPATCH_LEVEL;
    t->locks++;
}

static void fake_release(void)
{
    nmr_vthread *t = nmr__vthread();
    t->irql = t->raise[--t->nraise].from;
    t->locks--;
}

static void set_irql(unsigned irql)
{
    nmr__vthread()->irql = (unsigned char)irql;
}

/* ---- one client and one provider ---------------------------------------- */
static const NPIID npi = {0x76657269, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
static const NPI_MODULEID cmod = {sizeof(NPI_MODULEID), MIT_GUID, {{1, 0, 0, {0}}}};
static const NPI_MODULEID pmod = {sizeof(NPI_MODULEID), MIT_GUID, {{2, 0, 0, {0}}}};
static NPI_CLIENT_CHARACTERISTICS cc;
static NPI_PROVIDER_CHARACTERISTICS pc;

/* What the callbacks do (set by each case). */
static unsigned g_attach_irql;       /* IRQL at which the client attaches */
static int g_detach_keeps_lock;      /* client detach returns holding a lock */
static int g_cleanup_leaves_apc;     /* provider cleanup returns at APC_LEVEL */
static int g_cleanup_balanced;       /* provider cleanup takes and drops a lock */
static unsigned g_cleanup_called_at;

static NTSTATUS client_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE ri)
{
    (void)ri;
    PVOID pctx;
    const VOID *pd;
    set_irql(g_attach_irql);
    NTSTATUS s = NmrClientAttachProvider(b, ctx, NULL, &pctx, &pd);
    set_irql(NMR_PASSIVE_LEVEL);
    return s;
}

static NTSTATUS client_detach(PVOID ctx)
{
    (void)ctx;
    if (g_detach_keeps_lock)
        fake_acquire();
    return STATUS_SUCCESS;
}

static VOID provider_cleanup(PVOID ctx)
{
    (void)ctx;
    g_cleanup_called_at = nmr__vthread()->irql;
    if (g_cleanup_leaves_apc)
        set_irql(NMR_APC_LEVEL);
    if (g_cleanup_balanced) {
        fake_acquire();
        fake_release();
    }
}

static void pair_init(void)
{
    test_callbacks cb = {client_attach, client_detach, NULL,
                         test_provider_accept, test_detach_success, provider_cleanup};
    test_chars_init(&cc, &pc, &npi, &cmod, &pmod, &cb);
}

/* Register both (bound), deregister both, wait: the reports made. */
static void bind_and_unbind(void)
{
    HANDLE p, c;
    CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&cc, NULL, &c), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(c), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(c), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
}

/* ---- the cases ----------------------------------------------------------- */

/* Off (no kernel-mode layer): the IRQL is never looked at. */
static void t_off_checks_nothing(void)
{
    pair_init();
    record();
    set_irql(NMR_DISPATCH_LEVEL);
    HANDLE p;
    CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
    set_irql(NMR_PASSIVE_LEVEL);
    CHECK_EQ(g_reports, 0);
}

/* NmrRegisterProvider with a spin lock held: one report naming the
 * function, the IRQL, its limit, the lock and its taker, and the caller;
 * the call itself still does its work. */
static void t_register_at_dispatch(void)
{
    nmr__verify_enable();
    pair_init();
    record();
    fake_acquire();
    HANDLE p;
    NTSTATUS s = NmrRegisterProvider(&pc, NULL, &p);
    fake_release();
    CHECK_EQ(g_reports, 1);
    CHECK_EQ(g_kind, NMR_MISUSE_VERIFIER);
    CHECK(strstr(g_msg, "NmrRegisterProvider called at DISPATCH_LEVEL, above its limit "
                        "PASSIVE_LEVEL") != NULL);
    CHECK(strstr(g_msg, "KeAcquireSpinLock of lock") != NULL);
    CHECK(strstr(g_msg, "called from test_verify+0x") != NULL);
    CHECK_STATUS(s, STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
    CHECK_EQ(g_reports, 1);
}

/* Each function's limit, from its reference page: deregister and the
 * completions up to DISPATCH_LEVEL, the waits below it, register and
 * NmrClientAttachProvider at PASSIVE_LEVEL only. */
static void t_limits(void)
{
    nmr__verify_enable();
    pair_init();
    record();
    HANDLE p, c;
    set_irql(NMR_APC_LEVEL);
    CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
    set_irql(NMR_PASSIVE_LEVEL);
    CHECK_EQ(g_reports, 1);
    CHECK(strstr(g_msg, "NmrRegisterProvider called at APC_LEVEL") != NULL);

    g_attach_irql = NMR_APC_LEVEL;
    CHECK_STATUS(NmrRegisterClient(&cc, NULL, &c), STATUS_SUCCESS);
    CHECK_EQ(g_reports, 2);
    CHECK(strstr(g_msg, "NmrClientAttachProvider called at APC_LEVEL, above its limit "
                        "PASSIVE_LEVEL") != NULL);

    set_irql(NMR_DISPATCH_LEVEL);
    CHECK_STATUS(NmrDeregisterClient(c), STATUS_PENDING);
    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    CHECK_EQ(g_reports, 2);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(c), STATUS_SUCCESS);
    CHECK_EQ(g_reports, 3);
    CHECK(strstr(g_msg, "NmrWaitForClientDeregisterComplete called at DISPATCH_LEVEL, "
                        "above its limit APC_LEVEL") != NULL);
    set_irql(NMR_APC_LEVEL);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
    set_irql(NMR_PASSIVE_LEVEL);
    CHECK_EQ(g_reports, 3);
    /* The completions are checked too: a bad handle is reported as such,
     * and at DISPATCH_LEVEL the IRQL is not. */
    set_irql(NMR_DISPATCH_LEVEL);
    NmrClientDetachProviderComplete(NULL);
    set_irql(NMR_PASSIVE_LEVEL);
    CHECK_EQ(g_reports, 4);
    CHECK_EQ(g_kind, NMR_MISUSE_BAD_HANDLE);
    set_irql(NMR_HIGH_LEVEL);
    NmrProviderDetachClientComplete(NULL);
    set_irql(NMR_PASSIVE_LEVEL);
    CHECK_EQ(g_reports, 6);
}

/* A detach callback that returns holding a spin lock. */
static void t_callback_keeps_lock(void)
{
    nmr__verify_enable();
    pair_init();
    record();
    g_attach_irql = NMR_PASSIVE_LEVEL;
    g_detach_keeps_lock = 1;
    HANDLE p, c;
    CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&cc, NULL, &c), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(c), STATUS_PENDING);
    fake_release();
    CHECK_EQ(g_reports, 1);
    CHECK_EQ(g_kind, NMR_MISUSE_VERIFIER);
    CHECK(strstr(g_msg, "verifier: ClientDetachProvider (test_verify+0x") != NULL);
    CHECK(strstr(g_msg, "returned holding 1 lock it did not hold when called, at "
                        "DISPATCH_LEVEL (it was called at PASSIVE_LEVEL)") != NULL);
    CHECK(strstr(g_msg, "KeAcquireSpinLock of lock") != NULL);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(c), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
    CHECK_EQ(g_reports, 1);
}

/* A cleanup that returns at another IRQL than it was called at; and one
 * that takes and drops a lock (no report). */
static void t_callback_changes_irql(void)
{
    nmr__verify_enable();
    pair_init();
    record();
    g_cleanup_leaves_apc = 1;
    HANDLE p, c;
    CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&cc, NULL, &c), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(c), STATUS_PENDING);
    set_irql(NMR_PASSIVE_LEVEL);
    CHECK_EQ(g_reports, 1);
    CHECK(strstr(g_msg, "verifier: ProviderCleanupBindingContext (test_verify+0x") != NULL);
    CHECK(strstr(g_msg, "returned at APC_LEVEL; it was called at PASSIVE_LEVEL") != NULL);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(c), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);

    g_cleanup_leaves_apc = 0;
    g_cleanup_balanced = 1;
    bind_and_unbind();
    CHECK_EQ(g_reports, 1);
}

/* The cleanup runs at the IRQL of the thread that completes the detach
 * (up to DISPATCH_LEVEL, as Windows calls it), and is not reported. */
static void t_cleanup_at_dispatch(void)
{
    nmr__verify_enable();
    pair_init();
    record();
    HANDLE p, c;
    g_cleanup_called_at = 99;
    CHECK_STATUS(NmrRegisterProvider(&pc, NULL, &p), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&cc, NULL, &c), STATUS_SUCCESS);
    fake_acquire();
    CHECK_STATUS(NmrDeregisterProvider(p), STATUS_PENDING);
    fake_release();
    CHECK_EQ(g_cleanup_called_at, NMR_DISPATCH_LEVEL);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(c), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(c), STATUS_SUCCESS);
    CHECK_EQ(g_reports, 0);
}

/* The rundown wait is checked as a wait (<= APC_LEVEL). */
static void t_rundown_wait(void)
{
    nmr__verify_enable();
    record();
    EX_RUNDOWN_REF r;
    ExInitializeRundownProtection(&r);
    fake_acquire();
    ExWaitForRundownProtectionRelease(&r);
    fake_release();
    CHECK_EQ(g_reports, 1);
    CHECK(strstr(g_msg, "ExWaitForRundownProtectionRelease called at DISPATCH_LEVEL, "
                        "above its limit APC_LEVEL") != NULL);
}

/* How code and IRQLs are named in the reports. */
static void t_names(void)
{
    char buf[128];
    CHECK(strncmp(nmr__describe_code((const void *)(uintptr_t)t_names, buf, sizeof buf),
                  "test_verify+0x", 14) == 0);
    CHECK(strstr(nmr__describe_code((const void *)(uintptr_t)NmrRegisterClient, buf,
                                    sizeof buf), "+0x") != NULL);
    CHECK(strcmp(nmr__irql_name(0), "PASSIVE_LEVEL") == 0);
    CHECK(strcmp(nmr__irql_name(1), "APC_LEVEL") == 0);
    CHECK(strcmp(nmr__irql_name(2), "DISPATCH_LEVEL") == 0);
    CHECK(strcmp(nmr__irql_name(15), "HIGH_LEVEL") == 0);
    CHECK(strcmp(nmr__irql_name(5), "IRQL 5") == 0);
    CHECK(strcmp(nmr__describe_raise(buf, sizeof buf), "") == 0);
    fake_acquire();
    CHECK(strstr(nmr__describe_raise(buf, sizeof buf),
                 "raised to DISPATCH_LEVEL by KeAcquireSpinLock of lock") != NULL);
    fake_release();
}

static void setup(void)
{
    g_attach_irql = NMR_PASSIVE_LEVEL;
    g_detach_keeps_lock = g_cleanup_leaves_apc = g_cleanup_balanced = 0;
}

static const nmr_test_case cases[] = {
    CASE(t_off_checks_nothing, ""),
    CASE(t_register_at_dispatch, ""),
    CASE(t_limits, ""),
    CASE(t_callback_keeps_lock, ""),
    CASE(t_callback_changes_irql, ""),
    CASE(t_cleanup_at_dispatch, ""),
    CASE(t_rundown_wait, ""),
    CASE(t_names, ""),
};
NMR_TEST_SUITE(test_verify, cases, setup, NULL, NULL);
