/* SPDX-License-Identifier: MIT */
/*
 * test_registrar.c - registrar instances (nmr/registrar.h).
 *
 * Isolation: a client is offered only the providers of its own registrar;
 * the plain netioddk.h calls use the default one, which nmr_registrar_
 * default() and NULL name.  Destroy refuses a registrar with
 * registrations left (STATUS_DEVICE_BUSY), reports what is left through
 * the diagnostic channel and leaves it usable; a destroyed registrar's
 * value is refused from then on, even after its slot is reused.
 *
 * Rules these extend: R4 (equal NPI IDs match only within one
 * registrar), R26 (a registrar value is validated like a handle, never
 * dereferenced when dead or made up), R1 (refused registrations clear the
 * out handle), R31 (finish()).
 */
#include "rule_test.h"

#include <nmr/introspect.h>
#include <nmr/registrar.h>

static char busy_report[8192];
static int busy_reports;
static int other_reports;

static void capture(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)ctx;
    if (kind == NMR_DIAG_REGISTRAR_BUSY) {
        busy_reports++;
        snprintf(busy_report, sizeof(busy_report), "%s", msg);
    } else {
        other_reports++;
    }
}

static int bound(const fx_module *client, const fx_module *provider)
{
    return fx_count(FX_EV_PROVIDER_ATTACH, provider, client);
}

/* Same NPI in three registrars: only same-registrar pairs bind. */
static void test_isolation(void)
{
    GUID npi = fx_guid(0x7001);
    nmr_registrar *a, *b;
    CHECK_STATUS(nmr_registrar_create(&a), STATUS_SUCCESS);
    CHECK_STATUS(nmr_registrar_create(&b), STATUS_SUCCESS);
    CHECK(a != NULL && b != NULL && a != b);
    CHECK(a != nmr_registrar_default());

    fx_module *ca = fx_client(&npi), *pa = fx_provider(&npi);
    fx_module *pb = fx_provider(&npi);
    fx_module *cd = fx_client(&npi), *pd = fx_provider(&npi);
    CHECK_STATUS(fx_register_in(a, ca), STATUS_SUCCESS);
    CHECK_STATUS(fx_register_in(b, pb), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(pd), STATUS_SUCCESS);           /* default */
    CHECK_STATUS(fx_register_in(NULL, cd), STATUS_SUCCESS);  /* default */
    CHECK_STATUS(fx_register_in(a, pa), STATUS_SUCCESS);
    CHECK_EQ(bound(ca, pa), 1);
    CHECK_EQ(bound(ca, pb), 0);
    CHECK_EQ(bound(ca, pd), 0);
    CHECK_EQ(bound(cd, pd), 1);
    CHECK_EQ(bound(cd, pa), 0);
    CHECK_EQ(bound(cd, pb), 0);

    /* nmr_registrar_default() is the registrar of the plain calls */
    fx_module *cx = fx_client(&npi);
    CHECK_STATUS(fx_register_in(nmr_registrar_default(), cx), STATUS_SUCCESS);
    CHECK_EQ(bound(cx, pd), 1);

    /* snapshots see only their own registrar */
    nmr_snapshot *s;
    CHECK_STATUS(nmr_snapshot_take(a, &s), STATUS_SUCCESS);
    CHECK_EQ(s->nregistrations, 2);
    CHECK_EQ(s->nbindings, 1);
    nmr_snapshot_free(s);
    CHECK_STATUS(nmr_snapshot_take(b, &s), STATUS_SUCCESS);
    CHECK_EQ(s->nregistrations, 1);
    CHECK_EQ(s->nbindings, 0);
    CHECK(s->registrations[0].handle == pb->handle);
    nmr_snapshot_free(s);

    fx_module *all[] = {ca, pa, pb, cd, pd, cx};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        dereg_wait(all[i]);
    CHECK_STATUS(nmr_registrar_destroy(a), STATUS_SUCCESS);
    CHECK_STATUS(nmr_registrar_destroy(b), STATUS_SUCCESS);
    finish();
}

/* Destroy with registrations left: refused with a report; usable after. */
static void test_destroy_busy(void)
{
    GUID npi = fx_guid(0x7002);
    nmr_registrar *a;
    CHECK_STATUS(nmr_registrar_create(&a), STATUS_SUCCESS);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register_in(a, c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register_in(a, p), STATUS_SUCCESS);

    unsigned long long misuse0 = nmr_diag_misuse_count();
    void *old_ctx;
    nmr_misuse_hook_fn *old = nmr_diag_set_hook(capture, NULL, &old_ctx);
    busy_reports = other_reports = 0;
    CHECK_STATUS(nmr_registrar_destroy(a), STATUS_DEVICE_BUSY);
    CHECK_EQ(busy_reports, 1);
    CHECK_EQ(other_reports, 0);
    CHECK_EQ(nmr_diag_misuse_count(), misuse0); /* a report, not misuse */
    /* the report names what is left: both registrations and the binding */
    char hc[32], hp[32];
    snprintf(hc, sizeof(hc), "%p", c->handle);
    snprintf(hp, sizeof(hp), "%p", p->handle);
    CHECK(strstr(busy_report, "nmr_registrar_destroy") != NULL);
    CHECK(strstr(busy_report, hc) != NULL);
    CHECK(strstr(busy_report, hp) != NULL);
    CHECK(strstr(busy_report, "attached") != NULL);

    /* no memory for the list: still refused, and said so */
    nmr_alloc_fail_at(1);
    CHECK_STATUS(nmr_registrar_destroy(a), STATUS_DEVICE_BUSY);
    nmr_alloc_fail_at(0);
    CHECK_EQ(busy_reports, 2);
    CHECK(strstr(busy_report, "(no snapshot: out of memory)") != NULL);

    /* still usable: a new client binds */
    fx_module *c2 = fx_client(&npi);
    CHECK_STATUS(fx_register_in(a, c2), STATUS_SUCCESS);
    CHECK_EQ(bound(c2, p), 1);

    /* deregistered but not waited for: still busy */
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_EQ(fx_complete_pending(p), 2);
    dereg_wait(c);
    dereg_wait(c2);
    CHECK_STATUS(nmr_registrar_destroy(a), STATUS_DEVICE_BUSY);
    CHECK_EQ(busy_reports, 3);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    CHECK_STATUS(nmr_registrar_destroy(a), STATUS_SUCCESS);
    CHECK_EQ(busy_reports, 3);
    nmr_diag_set_hook(old, old_ctx, NULL);
    finish();
}

/* Bad registrar values are refused, never dereferenced. */
static void test_bad_values(void)
{
    GUID npi = fx_guid(0x7003);
    CHECK_STATUS(nmr_registrar_create(NULL), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_registrar_destroy(NULL), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_registrar_destroy(nmr_registrar_default()), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_registrar_destroy((nmr_registrar *)(uintptr_t)0x12345678),
                 STATUS_INVALID_PARAMETER);

    nmr_registrar *a;
    CHECK_STATUS(nmr_registrar_create(&a), STATUS_SUCCESS);
    CHECK_STATUS(nmr_registrar_destroy(a), STATUS_SUCCESS);
    CHECK_STATUS(nmr_registrar_destroy(a), STATUS_INVALID_PARAMETER); /* twice */

    fx_module *c = fx_client(&npi);
    c->handle = (HANDLE)(uintptr_t)1;
    CHECK_STATUS(fx_register_in(a, c), STATUS_INVALID_PARAMETER);
    CHECK(c->handle == NULL);
    c->handle = (HANDLE)(uintptr_t)1;
    CHECK_STATUS(fx_register_in((nmr_registrar *)(uintptr_t)0xdeadbeef0ull, c),
                 STATUS_INVALID_PARAMETER);
    CHECK(c->handle == NULL);
    nmr_snapshot *s = (nmr_snapshot *)&s;
    CHECK_STATUS(nmr_snapshot_take(a, &s), STATUS_INVALID_PARAMETER);
    CHECK(s == NULL);

    /* the slot is reused by the next create, with a new generation: the
     * old value stays dead */
    nmr_registrar *b;
    CHECK_STATUS(nmr_registrar_create(&b), STATUS_SUCCESS);
    CHECK(b != a);
    CHECK_STATUS(fx_register_in(a, c), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(fx_register_in(b, c), STATUS_SUCCESS);
    dereg_wait(c);

    /* a registration refused for a bad argument leaves no count behind */
    fx_module *bad = fx_client(&npi);
    bad->cc.ClientAttachProvider = NULL;
    CHECK_STATUS(fx_register_in(b, bad), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_registrar_destroy(b), STATUS_SUCCESS);
    finish();
}

/* The table of registrars fills up, refuses, and recycles. */
static void test_capacity(void)
{
    static nmr_registrar *all[NMR_REGISTRARS_MAX];
    size_t n = 0;
    while (n < NMR_REGISTRARS_MAX && nmr_registrar_create(&all[n]) == STATUS_SUCCESS)
        n++;
    CHECK_EQ(n, NMR_REGISTRARS_MAX - 1); /* slot 0 is the default's */
    nmr_registrar *extra = (nmr_registrar *)&extra;
    CHECK_STATUS(nmr_registrar_create(&extra), STATUS_INSUFFICIENT_RESOURCES);
    CHECK(extra == NULL);
    for (size_t i = 0; i < n; i++)
        CHECK_STATUS(nmr_registrar_destroy(all[i]), STATUS_SUCCESS);
    CHECK_STATUS(nmr_registrar_create(&extra), STATUS_SUCCESS);
    for (size_t i = 0; i < n; i++)
        CHECK(all[i] != extra); /* recycled slots carry a new generation */
    CHECK_STATUS(nmr_registrar_destroy(extra), STATUS_SUCCESS);
    finish();
}

/* The status names used in messages (nmr/diag.h). */
static void test_status_names(void)
{
    CHECK(strcmp(nmr_status_name(STATUS_DEVICE_BUSY), "STATUS_DEVICE_BUSY") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_TIMEOUT), "STATUS_TIMEOUT") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_PENDING), "STATUS_PENDING") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_POSSIBLE_DEADLOCK), "STATUS_POSSIBLE_DEADLOCK") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_SUCCESS), "STATUS_SUCCESS") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_NOINTERFACE), "STATUS_NOINTERFACE") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_INSUFFICIENT_RESOURCES),
                 "STATUS_INSUFFICIENT_RESOURCES") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_INVALID_PARAMETER), "STATUS_INVALID_PARAMETER") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_INVALID_DEVICE_STATE),
                 "STATUS_INVALID_DEVICE_STATE") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_UNSUCCESSFUL), "STATUS_UNSUCCESSFUL") == 0);
    CHECK(strcmp(nmr_status_name(STATUS_SHUTDOWN_IN_PROGRESS),
                 "STATUS_SHUTDOWN_IN_PROGRESS") == 0);
    CHECK(strcmp(nmr_status_name((NTSTATUS)0xC0001234), "(other status)") == 0);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    g_live0 = nmr_alloc_live();
}

static const nmr_test_case cases[] = {
    CASE(test_status_names, ""),
    CASE(test_isolation, ""),
    CASE(test_destroy_busy, ""),
    CASE(test_bad_values, ""),
    CASE(test_capacity, ""),
};

NMR_TEST_SUITE(test_registrar, cases, setup, NULL, NULL);
