/* SPDX-License-Identifier: MIT */
/*
 * test_invariants.c - the checks behind the other tests can fail, and the
 * growth paths of the registrar's tables fail cleanly (R2, R31, R32).
 *
 *   1. nmr_check_invariants() reports each kind of corruption it claims to
 *      detect (a checker that cannot fail would prove nothing);
 *   2. the handle table growing when it is full: the allocation of a new
 *      chunk fails for a registration handle and for a binding handle, and
 *      each registration is refused cleanly (R2, R32).
 */
#include "check.h"
#include "fixture.h"

#include "alloc.h"
#include "core.h"
#include "invariants.h"

static int broken(const char *expect)
{
    char why[256];
    int rc = nmr_check_invariants(why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "   checker says: %s\n", why);
    if (rc != 0 && expect != NULL && strstr(why, expect) == NULL) {
        fprintf(stderr, "   expected a message with \"%s\"\n", expect);
        CHECK(!"checker names the problem");
    }
    return rc != 0;
}

static nmr_reg *reg_of(fx_module *m)
{
    struct nmr_object *o = nmr_handle_ref(m->handle, m->is_client ? NMR_HANDLE_CLIENT
                                                                 : NMR_HANDLE_PROVIDER);
    CHECK(o != NULL);
    nmr_handle_put(o); /* the registration stays: we hold its handle */
    return nmr_container_of(o, nmr_reg, obj);
}

static void t_checker_detects_corruption(void)
{
    GUID npi = fx_guid(0x1E01);
    fx_module *p = fx_provider(&npi), *c = fx_client(&npi);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK(!broken(NULL));

    nmr_reg *rc = reg_of(c), *rp = reg_of(p);
    nmr_binding *b = nmr_container_of(rc->bindings.next, nmr_binding, link[NMR_CLIENT]);

    rc->live_bindings++; /* a count that disagrees with the list */
    CHECK(broken("counts"));
    rc->live_bindings--;

    b->half[NMR_PROVIDER] = NMR_H_PENDING; /* a half moving while ATTACHED */
    CHECK(broken("half"));
    b->half[NMR_PROVIDER] = NMR_H_IDLE;

    b->state = NMR_B_CLEANUP; /* CLEANUP without both halves */
    CHECK(broken("CLEANUP"));
    b->state = NMR_B_GONE; /* a GONE binding still listed */
    CHECK(broken("state"));
    b->state = NMR_B_ATTACHED;

    uint8_t st = rp->state;
    rp->state = NMR_REG_DONE; /* a finished registration still listed */
    CHECK(broken("DONE"));
    rp->state = st;

    b->reg[NMR_CLIENT] = rp; /* a binding that names the wrong registration */
    CHECK(broken("names"));
    b->reg[NMR_CLIENT] = rc;

    nmr_list_del(&b->link[NMR_PROVIDER]); /* missing from the peer's list */
    rp->live_bindings--;
    CHECK(broken("missing"));
    nmr_list_add_tail(&rp->bindings, &b->link[NMR_PROVIDER]);
    rp->live_bindings++;

    rc->side = NMR_PROVIDER; /* on the wrong list */
    CHECK(broken("wrong list"));
    rc->side = NMR_CLIENT;

    CHECK(!broken(NULL));
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
}

/* Register lone clients (one slot each) until exactly `left` slots of the
 * handle table are free.  Returns how many it registered into mods. */
static int fill_table(fx_module **mods, int cap, unsigned long left)
{
    int n = 0;
    while (nmr_handle_capacity() - nmr_handles_in_use() > left) {
        CHECK(n < cap);
        GUID npi = fx_guid(0x1E100000u + (uint32_t)n);
        mods[n] = fx_client(&npi);
        CHECK_STATUS(fx_register(mods[n]), STATUS_SUCCESS);
        n++;
    }
    CHECK_EQ(nmr_handle_capacity() - nmr_handles_in_use(), left);
    return n;
}

static void unfill(fx_module **mods, int n)
{
    for (int i = 0; i < n; i++) {
        CHECK_STATUS(fx_deregister(mods[i]), STATUS_PENDING);
        CHECK_STATUS(fx_wait(mods[i]), STATUS_SUCCESS);
    }
}

/* R2/R32: the handle table is full and growing it fails. */
static void t_table_growth_fails(void)
{
    enum { CAP = 1 << 16 };
    static fx_module *mods[CAP];
    long live0 = nmr_alloc_live();

    /* (a) the registration's own handle needs the new chunk */
    int n = fill_table(mods, CAP, 0);
    GUID npi = fx_guid(0x1E02);
    fx_module *c = fx_client(&npi);
    unsigned long cap0 = nmr_handle_capacity();
    /* allocations: the registration (1), the NPI entry (2, unless a spare
     * is reused), the table chunk: fail each in turn until one gets by */
    int refused = 0;
    for (long k = 1; k <= 10; k++) {
        nmr_alloc_fail_at(k);
        NTSTATUS s = fx_register(c);
        nmr_alloc_fail_at(0);
        if (s == STATUS_SUCCESS) {
            CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
            CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
            break;
        }
        CHECK_STATUS(s, STATUS_INSUFFICIENT_RESOURCES);
        CHECK(c->handle == NULL);
        CHECK(!broken(NULL));
        refused++;
    }
    CHECK(refused >= 2);
    CHECK(nmr_handle_capacity() > cap0); /* and then it did grow */
    unfill(mods, n);
    fx_reset();

    /* (b) the last free slot goes to the registration, the binding's handle
     * needs the new chunk. */
    GUID npi2 = fx_guid(0x1E03);
    fx_module *p = fx_provider(&npi2);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    n = fill_table(mods, CAP, 1);
    fx_module *c2 = fx_client(&npi2);
    cap0 = nmr_handle_capacity();
    refused = 0;
    for (long k = 1; k <= 10; k++) {
        int log0 = fx_log_len();
        nmr_alloc_fail_at(k);
        NTSTATUS s = fx_register(c2);
        nmr_alloc_fail_at(0);
        fprintf(stderr, "   k=%ld: 0x%08x, capacity %lu, in use %lu\n", k, (unsigned)s,
                nmr_handle_capacity(), nmr_handles_in_use());
        if (s == STATUS_SUCCESS)
            break;
        CHECK_STATUS(s, STATUS_INSUFFICIENT_RESOURCES);
        CHECK_EQ(fx_log_len(), log0); /* R32: no offer was made */
        CHECK(!broken(NULL));
        refused++;
    }
    CHECK(refused >= 2);
    CHECK(nmr_handle_capacity() > cap0);
    CHECK_EQ(fx_live_sides(c2), 1); /* bound once it went through */
    CHECK_STATUS(fx_deregister(c2), STATUS_PENDING);
    CHECK_STATUS(fx_wait(c2), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(p), STATUS_PENDING);
    CHECK_STATUS(fx_wait(p), STATUS_SUCCESS);
    unfill(mods, n);
    CHECK_EQ(nmr_alloc_live(), live0); /* R31 */
    CHECK_EQ(nmr_handles_in_use(), 0);
    fx_reset();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    fx_diag_capture();
}

static void teardown(void)
{
    fx_diag_release();
}

static const nmr_test_case cases[] = {
    CASE(t_checker_detects_corruption, ""),
    CASE(t_table_growth_fails, "R2 R31 R32"),
};

NMR_TEST_SUITE(test_invariants, cases, setup, teardown, NULL);
