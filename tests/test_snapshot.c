/* SPDX-License-Identifier: MIT */
/*
 * test_snapshot.c - introspection against scenarios with known state
 * (nmr/introspect.h): what each registration and binding looks like in
 * every phase, including a binding stuck in a pending detach, a snapshot
 * taken from inside a callback, many NPIs, and the rendered outputs.
 * With a directory argument it also writes the stuck scenario's snapshot
 * there as live.json and live.dot, for tests/scripts/snapshot_{json,dot}.sh.
 *
 * Rules also checked: R22 (a snapshot from inside ProviderAttachClient:
 * no lock is held there), R18 (a waited-for registration is gone), R31 (a
 * snapshot frees everything, also when an allocation fails).
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, open_memstream */

#include "rule_test.h"

#include <nmr/introspect.h>
#include <time.h>

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const char *out_dir; /* argv[1]: write the real stuck snapshot here */

static void save(const nmr_snapshot *s, nmr_dump_format fmt, const char *name)
{
    if (out_dir == NULL)
        return;
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", out_dir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    CHECK_EQ(nmr_snapshot_write(s, fmt, f), 0);
    CHECK_EQ(fclose(f), 0);
}

static nmr_snapshot *take(void)
{
    nmr_snapshot *s = NULL;
    CHECK_STATUS(nmr_snapshot_take(NULL, &s), STATUS_SUCCESS);
    CHECK(s != NULL);
    return s;
}

static const nmr_registration_info *find_reg(const nmr_snapshot *s, HANDLE h)
{
    for (size_t i = 0; i < s->nregistrations; i++)
        if (s->registrations[i].handle == h)
            return &s->registrations[i];
    return NULL;
}

static char *render(const nmr_snapshot *s, nmr_dump_format fmt)
{
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    CHECK(f != NULL);
    CHECK_EQ(nmr_snapshot_write(s, fmt, f), 0);
    CHECK_EQ(fclose(f), 0);
    return text;
}

static void test_empty_and_args(void)
{
    nmr_snapshot *s = take();
    CHECK_EQ(s->nregistrations, 0);
    CHECK_EQ(s->nbindings, 0);
    CHECK(s->time_ns > 0);
    nmr_snapshot_free(s);
    nmr_snapshot_free(NULL);
    CHECK_STATUS(nmr_snapshot_take(NULL, NULL), STATUS_INVALID_PARAMETER);
    s = (nmr_snapshot *)&s;
    CHECK_STATUS(nmr_snapshot_take((nmr_registrar *)(uintptr_t)0x5a5a, &s),
                 STATUS_INVALID_PARAMETER);
    CHECK(s == NULL);
    finish();
}

/* Every field of an attached pair. */
static void test_attached_pair(void)
{
    GUID npi = fx_guid(0x5001);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    c->cc.ClientRegistrationInstance.Number = 42;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);

    nmr_snapshot *s = take();
    CHECK_EQ(s->nregistrations, 2);
    CHECK_EQ(s->nbindings, 1);
    const nmr_registration_info *rc = find_reg(s, c->handle), *rp = find_reg(s, p->handle);
    CHECK(rc != NULL && rp != NULL);
    CHECK_EQ(rc->role, NMR_ROLE_CLIENT);
    CHECK_EQ(rp->role, NMR_ROLE_PROVIDER);
    CHECK_EQ(rc->state, NMR_REGISTRATION_ACTIVE);
    CHECK(memcmp(&rc->npi_id, &npi, sizeof(GUID)) == 0);
    CHECK(memcmp(&rc->module_id, &c->modid, sizeof(NPI_MODULEID)) == 0);
    CHECK(memcmp(&rp->module_id, &p->modid, sizeof(NPI_MODULEID)) == 0);
    CHECK_EQ(rc->number, 42);
    CHECK(rc->context == c && rp->context == p);
    CHECK(rc->characteristics == (const void *)&c->cc);
    CHECK(rp->characteristics == (const void *)&p->pc);
    CHECK(rc->attach == (void (*)(void))c->cc.ClientAttachProvider);
    CHECK(rp->detach == (void (*)(void))p->pc.ProviderDetachClient);
    CHECK(rp->cleanup == (void (*)(void))p->pc.ProviderCleanupBindingContext);
    CHECK_EQ(rc->bindings, 1);
    CHECK_EQ(rp->bindings, 1);

    const nmr_binding_info *b = &s->bindings[0];
    CHECK(b->handle == c->sides->binding);
    CHECK(&s->registrations[b->client] == rc);
    CHECK(&s->registrations[b->provider] == rp);
    CHECK_EQ(b->state, NMR_BINDING_ATTACHED);
    CHECK_EQ(b->half[0], NMR_HALF_NOT_STARTED);
    CHECK_EQ(b->half[1], NMR_HALF_NOT_STARTED);
    CHECK_EQ(b->detaching_ms, 0);

    char *text = render(s, NMR_DUMP_TEXT);
    CHECK(strstr(text, "attached") != NULL);
    free(text);
    nmr_snapshot_free(s);
    dereg_wait(c);
    dereg_wait(p);
    s = take();
    CHECK_EQ(s->nregistrations, 0); /* waited for: gone from the snapshot */
    nmr_snapshot_free(s);
    finish();
}

/* A binding stuck in a pending detach, as a hung unload shows it. */
static void test_stuck_pending(void)
{
    GUID npi = fx_guid(0x5002);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    sleep_ms(120);

    nmr_snapshot *s = take();
    CHECK_EQ(s->nbindings, 1);
    const nmr_registration_info *rc = find_reg(s, c->handle);
    CHECK(rc != NULL);
    CHECK_EQ(rc->state, NMR_REGISTRATION_DEREGISTERING);
    CHECK_EQ(find_reg(s, p->handle)->state, NMR_REGISTRATION_ACTIVE);
    const nmr_binding_info *b = &s->bindings[0];
    CHECK_EQ(b->state, NMR_BINDING_DETACHING);
    CHECK_EQ(b->half[NMR_ROLE_CLIENT], NMR_HALF_COMPLETE);
    CHECK_EQ(b->half[NMR_ROLE_PROVIDER], NMR_HALF_PENDING);
    CHECK_EQ(b->half_pending_ms[NMR_ROLE_CLIENT], 0);
    /* coarse clock: a few ms of resolution, generous upper bound */
    CHECK(b->half_pending_ms[NMR_ROLE_PROVIDER] >= 100);
    CHECK(b->half_pending_ms[NMR_ROLE_PROVIDER] < 60000);
    CHECK(b->detaching_ms >= b->half_pending_ms[NMR_ROLE_PROVIDER]);

    char *text = render(s, NMR_DUMP_TEXT);
    CHECK(strstr(text, "pending") != NULL);
    CHECK(strstr(text, "NmrProviderDetachClientComplete") != NULL);
    free(text);
    char *json = render(s, NMR_DUMP_JSON);
    CHECK(strstr(json, "\"pending\"") != NULL);
    CHECK(strstr(json, "\"detaching\"") != NULL);
    free(json);
    char *dot = render(s, NMR_DUMP_DOT);
    CHECK(strncmp(dot, "digraph", 7) == 0);
    free(dot);
    /* for the script tests: schema validation and rendering with dot */
    save(s, NMR_DUMP_JSON, "live.json");
    save(s, NMR_DUMP_DOT, "live.dot");
    nmr_snapshot_free(s);

    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    s = take();
    CHECK_EQ(s->nregistrations, 1);
    CHECK_EQ(s->nbindings, 0);
    CHECK_EQ(s->registrations[0].bindings, 0);
    nmr_snapshot_free(s);
    dereg_wait(p);
    finish();
}

/* From inside a callback: the snapshot sees the offer in progress and
 * takes no lock the callback's caller holds. */
static nmr_binding_state_info seen_state = (nmr_binding_state_info)-1;
static size_t seen_bindings;

static void snap_hook(fx_module *m, fx_ev_type type, int phase, fx_side *side, void *arg)
{
    (void)m, (void)side, (void)arg;
    if (type != FX_EV_PROVIDER_ATTACH || phase != FX_PRE)
        return;
    nmr_snapshot *s = take();
    seen_bindings = s->nbindings;
    if (s->nbindings == 1)
        seen_state = s->bindings[0].state;
    nmr_snapshot_free(s);
}

static void test_from_callback(void)
{
    GUID npi = fx_guid(0x5003);
    fx_module *c = fx_client(&npi), *p = fx_provider(&npi);
    p->hook = snap_hook;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(seen_bindings, 1);
    CHECK_EQ(seen_state, NMR_BINDING_OFFERING);
    dereg_wait(c);
    dereg_wait(p);
    finish();
}

/* Declined pairs leave nothing; a waiting registration shows WAITING only
 * while a thread waits (single thread here: not observable), so check the
 * states we can reach, over many NPIs. */
static void test_many(void)
{
    enum { N = 64 };
    GUID npi[N];
    fx_module *c[N], *p[N];
    for (int i = 0; i < N; i++) {
        npi[i] = fx_guid(0x5100 + (uint32_t)i);
        c[i] = fx_client(&npi[i]);
        p[i] = fx_provider(&npi[i]);
        if (i % 2)
            p[i]->attach_mode = FX_DECLINE;
        CHECK_STATUS(fx_register(c[i]), STATUS_SUCCESS);
        CHECK_STATUS(fx_register(p[i]), STATUS_SUCCESS);
    }
    nmr_snapshot *s = take();
    CHECK_EQ(s->nregistrations, 2 * N);
    CHECK_EQ(s->nbindings, N / 2);
    for (size_t i = 0; i < s->nbindings; i++) {
        const nmr_binding_info *b = &s->bindings[i];
        CHECK_EQ(s->registrations[b->client].role, NMR_ROLE_CLIENT);
        CHECK_EQ(s->registrations[b->provider].role, NMR_ROLE_PROVIDER);
        CHECK(memcmp(&s->registrations[b->client].npi_id,
                     &s->registrations[b->provider].npi_id, sizeof(GUID)) == 0);
    }
    nmr_snapshot_free(s);
    for (int i = 0; i < N; i++) {
        dereg_wait(c[i]);
        dereg_wait(p[i]);
    }
    finish();
}

/* Every allocation of a snapshot may fail: then nothing is returned and
 * nothing leaks; the registrar is untouched. */
static void test_out_of_memory(void)
{
    enum { N = 40 };
    GUID npi[3] = {fx_guid(0x5201), fx_guid(0x5202), fx_guid(0x5203)};
    fx_module *m[N];
    for (int i = 0; i < N; i++) {
        m[i] = i % 2 ? fx_client(&npi[i % 3]) : fx_provider(&npi[i % 3]);
        CHECK_STATUS(fx_register(m[i]), STATUS_SUCCESS);
    }
    long live = nmr_alloc_live();
    int failures = 0;
    for (long n = 1;; n++) {
        nmr_alloc_fail_at(n);
        nmr_snapshot *s = (nmr_snapshot *)&s;
        NTSTATUS st = nmr_snapshot_take(NULL, &s);
        int reached = nmr_alloc_fail_remaining() == 0;
        nmr_alloc_fail_at(0);
        if (st == STATUS_SUCCESS) {
            CHECK(!reached);
            CHECK_EQ(s->nregistrations, N);
            nmr_snapshot_free(s);
            CHECK_EQ(nmr_alloc_live(), live);
            break;
        }
        CHECK_STATUS(st, STATUS_INSUFFICIENT_RESOURCES);
        CHECK(s == NULL);
        CHECK_EQ(nmr_alloc_live(), live);
        failures++;
        CHECK(n < 1000);
    }
    CHECK(failures >= 4); /* the snapshot, its arrays, the index tables */
    for (int i = 0; i < N; i++)
        dereg_wait(m[i]);
    finish();
}

static void test_names(void)
{
    CHECK(strcmp(nmr_role_name(NMR_ROLE_CLIENT), "client") == 0);
    CHECK(strcmp(nmr_role_name(NMR_ROLE_PROVIDER), "provider") == 0);
    CHECK(strcmp(nmr_binding_state_name(NMR_BINDING_DETACHING), "detaching") == 0);
    CHECK(strcmp(nmr_half_name(NMR_HALF_PENDING), "pending") == 0);
    CHECK(strcmp(nmr_registration_state_name(NMR_REGISTRATION_WAITING), "waiting") == 0);
    char buf[NMR_MODULE_ID_TEXT];
    NPI_MODULEID id = {.Length = sizeof(id), .Type = MIT_GUID};
    id.Guid = fx_guid(0xABCDEF01);
    CHECK(strcmp(nmr_module_id_format(&id, buf, sizeof(buf)),
                 "{ABCDEF01-1234-5678-9ABC-DEF001020304}") == 0);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static void setup(void)
{
    g_live0 = nmr_alloc_live();
}

static const nmr_test_case cases[] = {
    CASE(test_empty_and_args, ""),
    CASE(test_attached_pair, ""),
    CASE(test_stuck_pending, ""),
    CASE(test_from_callback, ""),
    CASE(test_many, ""),
    CASE(test_out_of_memory, ""),
    CASE(test_names, ""),
};

/* test_snapshot DIR: every case in this process, the real stuck snapshot
 * written to DIR (tests/scripts/snapshot_*.sh). */
static int write_mode(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    out_dir = argv[1];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        nmr_test_run_inline(&cases[i]);
    return 0;
}

NMR_TEST_SUITE(test_snapshot, cases, setup, NULL, write_mode);
