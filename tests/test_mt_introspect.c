/* SPDX-License-Identifier: MIT */
/*
 * test_mt_introspect.c - snapshots and trace hooks while other threads
 * register, bind, detach and wait as fast as they can.
 *
 * Churn threads run register / deregister / wait cycles of clients and
 * providers on three NPIs (and in a second registrar).  Meanwhile one
 * thread takes snapshots and checks each is self-consistent (every
 * binding joins a client and a provider of the same NPI and registrar
 * that are in the snapshot, states are known values, handles are
 * unique) and renders it as JSON; another installs and removes a trace
 * hook over and over, and the hook checks each event it receives.  Run
 * under ThreadSanitizer by `make check`.  NMR_TEST_BUDGET_MS sets the
 * duration (default 1000 ms).
 *
 * Rules also checked: R25 (three threads in two registrars, no global
 * lock to deadlock on), R22 (the hook comes and goes while callbacks run
 * on other threads), R18 (every wait returns, nothing is left at the end).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "chars.h"

#include <netioddk.h>
#include <nmr/introspect.h>
#include <nmr/trace.h>

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>

static const NPI_MODULEID module = {sizeof(NPI_MODULEID), MIT_GUID,
                                    {{0x17c0ffee, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}}}};
static const int dispatch;
static GUID npis[3] = {{0x11110001, 0, 0, {0}}, {0x11110002, 0, 0, {0}},
                       {0x11110003, 0, 0, {0}}};
static atomic_int stop;
static atomic_long cycles, snapshots, bindings_seen, events;

static NTSTATUS c_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    (void)ctx, (void)pri;
    PVOID pctx;
    const VOID *pd;
    return NmrClientAttachProvider(b, NULL, &dispatch, &pctx, &pd);
}

static NTSTATUS p_attach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri, PVOID cctx,
                         const VOID *cd, PVOID *pctx, const VOID **pd)
{
    (void)b, (void)ctx, (void)cri, (void)cctx, (void)cd;
    *pctx = NULL;
    *pd = &dispatch;
    return STATUS_SUCCESS;
}

static NTSTATUS detach(PVOID ctx)
{
    (void)ctx;
    return STATUS_SUCCESS;
}

typedef struct churner {
    nmr_registrar *registrar;
    unsigned seed;
    NPI_CLIENT_CHARACTERISTICS cc[3];
    NPI_PROVIDER_CHARACTERISTICS pc[3];
} churner;

static void init_chars(churner *c)
{
    static const test_callbacks cb = {c_attach, detach, NULL, p_attach, detach, NULL};
    for (int i = 0; i < 3; i++) {
        test_chars_init(&c->cc[i], &c->pc[i], &npis[i], &module, &module, &cb);
        c->cc[i].ClientRegistrationInstance.Number = (ULONG)i;
        c->pc[i].ProviderRegistrationInstance.Number = (ULONG)i;
    }
}

static void *churn(void *arg)
{
    churner *c = arg;
    HANDLE held[8] = {0};
    int role[8] = {0};
    while (!atomic_load(&stop)) {
        int slot = (int)(rand_r(&c->seed) % 8);
        int npi = (int)(rand_r(&c->seed) % 3);
        if (held[slot] == NULL) {
            role[slot] = (int)(rand_r(&c->seed) % 2);
            NTSTATUS s = role[slot] == 0
                             ? nmr_register_client_ex(c->registrar, &c->cc[npi], NULL, &held[slot])
                             : nmr_register_provider_ex(c->registrar, &c->pc[npi], NULL, &held[slot]);
            CHECK_STATUS(s, STATUS_SUCCESS);
        } else {
            if (role[slot] == 0) {
                CHECK_STATUS(NmrDeregisterClient(held[slot]), STATUS_PENDING);
                CHECK_STATUS(NmrWaitForClientDeregisterComplete(held[slot]), STATUS_SUCCESS);
            } else {
                CHECK_STATUS(NmrDeregisterProvider(held[slot]), STATUS_PENDING);
                CHECK_STATUS(NmrWaitForProviderDeregisterComplete(held[slot]), STATUS_SUCCESS);
            }
            held[slot] = NULL;
            atomic_fetch_add(&cycles, 1);
        }
    }
    for (int i = 0; i < 8; i++) {
        if (held[i] == NULL)
            continue;
        if (role[i] == 0) {
            NmrDeregisterClient(held[i]);
            CHECK_STATUS(NmrWaitForClientDeregisterComplete(held[i]), STATUS_SUCCESS);
        } else {
            NmrDeregisterProvider(held[i]);
            CHECK_STATUS(NmrWaitForProviderDeregisterComplete(held[i]), STATUS_SUCCESS);
        }
    }
    return NULL;
}

static void check_snapshot(const nmr_snapshot *s)
{
    for (size_t i = 0; i < s->nregistrations; i++) {
        const nmr_registration_info *r = &s->registrations[i];
        CHECK(r->role == NMR_ROLE_CLIENT || r->role == NMR_ROLE_PROVIDER);
        CHECK(r->state <= NMR_REGISTRATION_WAITING);
        CHECK(memcmp(&r->module_id, &module, sizeof(module)) == 0);
        for (size_t j = 0; j < i; j++)
            CHECK(s->registrations[j].handle != r->handle);
    }
    size_t *refs = calloc(s->nregistrations + 1, sizeof(size_t));
    CHECK(refs != NULL);
    for (size_t i = 0; i < s->nbindings; i++) {
        const nmr_binding_info *b = &s->bindings[i];
        CHECK(b->client < s->nregistrations && b->provider < s->nregistrations);
        const nmr_registration_info *c = &s->registrations[b->client];
        const nmr_registration_info *p = &s->registrations[b->provider];
        CHECK(c->role == NMR_ROLE_CLIENT && p->role == NMR_ROLE_PROVIDER);
        CHECK(memcmp(&c->npi_id, &p->npi_id, sizeof(GUID)) == 0);
        CHECK(b->state <= NMR_BINDING_DETACHING);
        CHECK(b->half[0] <= NMR_HALF_COMPLETE && b->half[1] <= NMR_HALF_COMPLETE);
        if (b->state != NMR_BINDING_DETACHING)
            CHECK(b->half[0] == NMR_HALF_NOT_STARTED && b->half[1] == NMR_HALF_NOT_STARTED);
        refs[b->client]++;
        refs[b->provider]++;
    }
    /* a registration counts every binding not yet gone, offered or not */
    for (size_t i = 0; i < s->nregistrations; i++)
        CHECK(refs[i] <= s->registrations[i].bindings);
    free(refs);
}

static void *snapshotter(void *arg)
{
    nmr_registrar *r = arg;
    while (!atomic_load(&stop)) {
        nmr_snapshot *s;
        CHECK_STATUS(nmr_snapshot_take(atomic_load(&snapshots) % 2 ? r : NULL, &s),
                     STATUS_SUCCESS);
        check_snapshot(s);
        char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);
        CHECK(f != NULL);
        CHECK_EQ(nmr_snapshot_write(s, NMR_DUMP_JSON, f), 0);
        fclose(f);
        free(text);
        atomic_fetch_add(&bindings_seen, (long)s->nbindings);
        atomic_fetch_add(&snapshots, 1);
        nmr_snapshot_free(s);
    }
    return NULL;
}

static void hook(void *ctx, const nmr_event *e)
{
    CHECK(ctx == &events);
    CHECK(e->type >= NMR_EVENT_REGISTER && e->type <= NMR_EVENT_MISUSE);
    CHECK(e->time_ns > 0);
    if (e->type == NMR_EVENT_OFFER || e->type == NMR_EVENT_CLEANUP)
        CHECK(e->binding != NULL && e->client != NULL && e->provider != NULL);
    atomic_fetch_add(&events, 1);
}

static void *hook_toggler(void *arg)
{
    (void)arg;
    struct timespec ms = {0, 1000000};
    while (!atomic_load(&stop)) {
        CHECK(nmr_trace_set_hook(hook, &events, NULL) == NULL);
        nanosleep(&ms, NULL);
        void *old_ctx;
        CHECK(nmr_trace_set_hook(NULL, NULL, &old_ctx) == hook);
        CHECK(old_ctx == &events);
        nanosleep(&ms, NULL);
    }
    return NULL;
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process. ---- */

/* Snapshots, dumps and the trace hook toggled while three threads churn. */
static void t_introspect_churn(void)
{
    long budget = 1000;
    const char *env = getenv("NMR_TEST_BUDGET_MS");
    if (env != NULL)
        budget = atol(env);
    nmr_registrar *second;
    CHECK_STATUS(nmr_registrar_create(&second), STATUS_SUCCESS);
    static churner ch[3];
    for (int i = 0; i < 3; i++) {
        init_chars(&ch[i]);
        ch[i].seed = 1234u + (unsigned)i;
        ch[i].registrar = i == 2 ? second : NULL;
    }
    pthread_t t[5];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, churn, &ch[i]);
    pthread_create(&t[3], NULL, snapshotter, second);
    pthread_create(&t[4], NULL, hook_toggler, NULL);
    struct timespec ts = {budget / 1000, (budget % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    atomic_store(&stop, 1);
    for (int i = 0; i < 5; i++)
        pthread_join(t[i], NULL);
    CHECK_STATUS(nmr_registrar_destroy(second), STATUS_SUCCESS);
    nmr_snapshot *s;
    CHECK_STATUS(nmr_snapshot_take(NULL, &s), STATUS_SUCCESS);
    CHECK_EQ(s->nregistrations, 0);
    nmr_snapshot_free(s);
    fprintf(stderr,
            "test_mt_introspect: %ld cycles, %ld snapshots (%ld bindings seen), "
            "%ld events: all passed\n",
            atomic_load(&cycles), atomic_load(&snapshots), atomic_load(&bindings_seen),
            atomic_load(&events));
    CHECK(atomic_load(&snapshots) > 0 && atomic_load(&cycles) > 0);
}

static const nmr_test_case cases[] = {
    CASE(t_introspect_churn, "R18 R22 R25"),
};

NMR_TEST_SUITE(test_mt_introspect, cases, NULL, NULL, NULL);
