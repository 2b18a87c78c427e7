/* SPDX-License-Identifier: MIT */
/*
 * test_register.c - registration: input validation (R1), the registration
 * instance handed to peers (R3), matching (R4), offers made at registration
 * (R5 single-threaded part, R7), and no memory left behind (R31).
 */
#include "check.h"
#include "fixture.h"
#include "rule_test.h"
#include "alloc.h"

#include <string.h>

/* ---- R1 ---------------------------------------------------------------- */

enum {
    BAD_VERSION_1,
    BAD_VERSION_FFFF,
    BAD_LENGTH_SHORT,
    BAD_LENGTH_ZERO,
    BAD_RI_SIZE_SHORT,
    BAD_RI_SIZE_ZERO,
    BAD_RI_VERSION,
    BAD_NPIID_NULL,
    BAD_MODULEID_NULL,
    BAD_ATTACH_NULL,
    BAD_DETACH_NULL,
    BAD_CHARS_NULL,
    BAD_OUT_NULL,
    BAD_COUNT
};

static void mutate(fx_module *m, int c)
{
    NPI_REGISTRATION_INSTANCE *ri = m->is_client
                                        ? &m->cc.ClientRegistrationInstance
                                        : &m->pc.ProviderRegistrationInstance;
    switch (c) {
    case BAD_VERSION_1:
        m->cc.Version = 1;
        m->pc.Version = 1;
        break;
    case BAD_VERSION_FFFF:
        m->cc.Version = 0xFFFF;
        m->pc.Version = 0xFFFF;
        break;
    case BAD_LENGTH_SHORT:
        m->cc.Length = sizeof(NPI_CLIENT_CHARACTERISTICS) - 1;
        m->pc.Length = sizeof(NPI_PROVIDER_CHARACTERISTICS) - 1;
        break;
    case BAD_LENGTH_ZERO:
        m->cc.Length = 0;
        m->pc.Length = 0;
        break;
    case BAD_RI_SIZE_SHORT:
        ri->Size = sizeof(NPI_REGISTRATION_INSTANCE) - 1;
        break;
    case BAD_RI_SIZE_ZERO:
        ri->Size = 0;
        break;
    case BAD_RI_VERSION: /* design choice: instance Version must be 0 */
        ri->Version = 1;
        break;
    case BAD_NPIID_NULL:
        ri->NpiId = NULL;
        break;
    case BAD_MODULEID_NULL:
        ri->ModuleId = NULL;
        break;
    case BAD_ATTACH_NULL:
        m->cc.ClientAttachProvider = NULL;
        m->pc.ProviderAttachClient = NULL;
        break;
    case BAD_DETACH_NULL:
        m->cc.ClientDetachProvider = NULL;
        m->pc.ProviderDetachClient = NULL;
        break;
    default:
        break;
    }
}

static NTSTATUS reg_case(fx_module *m, int c, HANDLE *out)
{
    PHANDLE o = (c == BAD_OUT_NULL) ? NULL : out;
    if (m->is_client)
        return NmrRegisterClient(c == BAD_CHARS_NULL ? NULL : &m->cc, m, o);
    return NmrRegisterProvider(c == BAD_CHARS_NULL ? NULL : &m->pc, m, o);
}

/* R1: every invalid input returns STATUS_INVALID_PARAMETER, creates
 * nothing (no offer to a present peer, no memory), calls nothing, and sets
 * the out handle to NULL. */
static void t_r1_invalid_input(void)
{
    for (int side = 0; side < 2; side++) {
        GUID npi = fx_guid(0x1001 + (uint32_t)side);
        /* a valid peer, so an invalid registration that slipped in would
         * be offered to it */
        fx_module *peer = side ? fx_client(&npi) : fx_provider(&npi);
        CHECK_STATUS(fx_register(peer), STATUS_SUCCESS);
        long live = nmr_alloc_live();
        for (int c = 0; c < BAD_COUNT; c++) {
            fx_module *m = side ? fx_provider(&npi) : fx_client(&npi);
            mutate(m, c);
            HANDLE h = (HANDLE)(uintptr_t)0x1234;
            int log0 = fx_log_len();
            NTSTATUS st = reg_case(m, c, &h);
            if (st != STATUS_INVALID_PARAMETER)
                fprintf(stderr, "R1 case %d side %d\n", c, side);
            CHECK_STATUS(st, STATUS_INVALID_PARAMETER);
            if (c != BAD_OUT_NULL)
                CHECK(h == NULL);
            CHECK_EQ(fx_log_len(), log0);      /* nothing called */
            CHECK_EQ(nmr_alloc_live(), live);  /* nothing created */
        }
        /* The peer got no offer and is alone: a valid newcomer gets
         * exactly one offer. */
        CHECK_EQ(fx_log_len(), 0);
        fx_module *ok = side ? fx_provider(&npi) : fx_client(&npi);
        CHECK_STATUS(fx_register(ok), STATUS_SUCCESS);
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, NULL, NULL), 1);
        CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL), 1);
        dereg_wait(ok);
        dereg_wait(peer);
        finish();
    }
}

/* R1: a NULL cleanup callback is valid ("nothing to clean up"). */
static void t_r1_null_cleanup_valid(void)
{
    GUID npi = fx_guid(0x1010);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    fx_set_cleanup(p, 0);
    fx_set_cleanup(c, 0);
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK(p->handle != NULL);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK(c->handle != NULL);
    CHECK_EQ(fx_live_sides(c), 1);
    CHECK_EQ(fx_live_sides(p), 1);
    dereg_wait(c);
    CHECK_EQ(fx_count(FX_EV_CLIENT_DETACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_DETACH, p, c), 1);
    dereg_wait(p);
    finish();
}

/* R1: non-NULL NpiSpecificCharacteristics are accepted, a provider and a
 * client may share one module id, and Length / Size larger than the
 * structures are accepted (only smaller is invalid). */
static void t_r1_valid_variants(void)
{
    GUID npi = fx_guid(0x1011);
    static const int specific = 42;
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    p->pc.ProviderRegistrationInstance.NpiSpecificCharacteristics = &specific;
    c->cc.ClientRegistrationInstance.ModuleId = &p->modid;
    /* larger than the structures is not "smaller than" (newer callers) */
    p->pc.Length = sizeof(NPI_PROVIDER_CHARACTERISTICS) + 8;
    c->cc.ClientRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE) + 8;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_live_sides(c), 1);
    dereg_wait(c);
    dereg_wait(p);
    finish();
}

/* ---- R3 ---------------------------------------------------------------- */

/* R3: each attach callback receives the peer's own registration instance
 * (same pointer, so NpiSpecificCharacteristics etc. are the caller's). */
static void t_r3_same_instance_pointer(void)
{
    GUID npi = fx_guid(0x1020);
    static const char pspec[] = "provider-specific";
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    p->pc.ProviderRegistrationInstance.NpiSpecificCharacteristics = pspec;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 1);   /* peer found by ptr */
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, c), 1);
    CHECK_EQ(fx_errors(), 0);
    dereg_wait(c);
    dereg_wait(p);
    finish();
}

/* R3, checked without the fixture's lookup: raw callbacks compare the
 * pointers they receive with the registering module's instances. */
static const NPI_CLIENT_CHARACTERISTICS *g_raw_cc;
static const NPI_PROVIDER_CHARACTERISTICS *g_raw_pc;
static int g_raw_bad, g_raw_client_calls, g_raw_provider_calls;
static int g_raw_pctx, g_raw_cctx;

static NTSTATUS raw_pattach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                            PVOID cbc, const VOID *cd, PVOID *pbc,
                            const VOID **pd)
{
    (void)b; (void)cbc; (void)cd;
    g_raw_provider_calls++;
    if (ctx != &g_raw_pctx || cri != &g_raw_cc->ClientRegistrationInstance)
        g_raw_bad++;
    *pbc = &g_raw_pctx;
    *pd = NULL;
    return STATUS_SUCCESS;
}
static NTSTATUS raw_pdetach(PVOID c) { (void)c; return STATUS_SUCCESS; }
static NTSTATUS raw_cattach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    g_raw_client_calls++;
    if (ctx != &g_raw_cctx || pri != &g_raw_pc->ProviderRegistrationInstance)
        g_raw_bad++;
    PVOID pbc = NULL;
    const VOID *pd = NULL;
    return NmrClientAttachProvider(b, &g_raw_cctx, NULL, &pbc, &pd);
}
static NTSTATUS raw_cdetach(PVOID c) { (void)c; return STATUS_SUCCESS; }

static void t_r3_raw(void)
{
    static const GUID npi_p = {0x1021, 1, 2, {1, 2, 3, 4, 5, 6, 7, 8}};
    static const GUID npi_c = {0x1021, 1, 2, {1, 2, 3, 4, 5, 6, 7, 8}};
    static const NPI_MODULEID mid = {sizeof(NPI_MODULEID), MIT_GUID,
                                     {{0x77, 0, 0, {0}}}};
    static NPI_PROVIDER_CHARACTERISTICS pc;
    static NPI_CLIENT_CHARACTERISTICS cc;
    memset(&pc, 0, sizeof(pc));
    memset(&cc, 0, sizeof(cc));
    pc.Length = sizeof(pc);
    pc.ProviderAttachClient = raw_pattach;
    pc.ProviderDetachClient = raw_pdetach;
    pc.ProviderRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    pc.ProviderRegistrationInstance.NpiId = &npi_p;
    pc.ProviderRegistrationInstance.ModuleId = &mid;
    cc.Length = sizeof(cc);
    cc.ClientAttachProvider = raw_cattach;
    cc.ClientDetachProvider = raw_cdetach;
    cc.ClientRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    cc.ClientRegistrationInstance.NpiId = &npi_c;
    cc.ClientRegistrationInstance.ModuleId = &mid;
    g_raw_cc = &cc;
    g_raw_pc = &pc;
    HANDLE hp = NULL, hc = NULL;
    CHECK_STATUS(NmrRegisterProvider(&pc, &g_raw_pctx, &hp), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterClient(&cc, &g_raw_cctx, &hc), STATUS_SUCCESS);
    CHECK_EQ(g_raw_client_calls, 1);
    CHECK_EQ(g_raw_provider_calls, 1);
    CHECK_EQ(g_raw_bad, 0);
    CHECK_STATUS(NmrDeregisterProvider(hp), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(hp), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(hc), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(hc), STATUS_SUCCESS);
    CHECK_EQ(nmr_alloc_live(), g_live0);
}

/* R3: the caller's characteristics, NPI id, module id and NPI-specific
 * characteristics are needed only until the wait returns: freeing them
 * right after the wait (poisoned first, so a plain build notices too; ASan
 * reports any later read) does not disturb the NMR, which keeps matching
 * the same NPI for other registrations. */
typedef struct r3_mem {
    NPI_CLIENT_CHARACTERISTICS cc;
    GUID npi;
    NPI_MODULEID mid;
    char specific[16];
} r3_mem;

static int r3_client_offers, r3_ctx;
static NTSTATUS r3_cattach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    (void)ctx; (void)pri;
    r3_client_offers++;
    PVOID pbc = NULL;
    const VOID *pd = NULL;
    return NmrClientAttachProvider(b, &r3_ctx, NULL, &pbc, &pd);
}
static NTSTATUS r3_cdetach(PVOID c) { (void)c; return STATUS_SUCCESS; }

static r3_mem *r3_new_client(const GUID *npi)
{
    r3_mem *m = (r3_mem *)malloc(sizeof(*m));
    CHECK(m != NULL);
    memset(m, 0, sizeof(*m));
    m->npi = *npi;
    m->mid.Length = sizeof(NPI_MODULEID);
    m->mid.Type = MIT_GUID;
    m->mid.Guid = *npi;
    m->cc.Length = sizeof(m->cc);
    m->cc.ClientAttachProvider = r3_cattach;
    m->cc.ClientDetachProvider = r3_cdetach;
    m->cc.ClientRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    m->cc.ClientRegistrationInstance.NpiId = &m->npi;
    m->cc.ClientRegistrationInstance.ModuleId = &m->mid;
    m->cc.ClientRegistrationInstance.NpiSpecificCharacteristics = m->specific;
    return m;
}

static int r3_provider_offers, r3_pdetaches;
static NTSTATUS r3_pattach(HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                           PVOID cbc, const VOID *cd, PVOID *pbc,
                           const VOID **pd)
{
    (void)b; (void)ctx; (void)cri; (void)cbc; (void)cd;
    r3_provider_offers++;
    *pbc = &r3_ctx;
    *pd = NULL;
    return STATUS_SUCCESS;
}
static NTSTATUS r3_pdetach(PVOID c)
{
    (void)c;
    r3_pdetaches++;
    return STATUS_SUCCESS;
}

static void r3_free(r3_mem *m)
{
    memset(m, 0xA5, sizeof(*m));
    free(m);
}

static void t_r3_caller_memory_until_wait(void)
{
    static GUID npi;
    static const NPI_MODULEID pmid = {sizeof(NPI_MODULEID), MIT_GUID,
                                      {{0x1022, 0, 0, {0}}}};
    NPI_PROVIDER_CHARACTERISTICS pc;
    memset(&pc, 0, sizeof(pc));
    pc.Length = sizeof(pc);
    pc.ProviderAttachClient = r3_pattach;
    pc.ProviderDetachClient = r3_pdetach;
    pc.ProviderRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    pc.ProviderRegistrationInstance.NpiId = &npi;
    pc.ProviderRegistrationInstance.ModuleId = &pmid;

    /* (a) provider first; clients come, go, and their memory is freed */
    npi = fx_guid(0x1022);
    r3_client_offers = r3_provider_offers = r3_pdetaches = 0;
    HANDLE hp = NULL, h = NULL;
    CHECK_STATUS(NmrRegisterProvider(&pc, &r3_ctx, &hp), STATUS_SUCCESS);
    for (int round = 0; round < 3; round++) {
        r3_mem *m = r3_new_client(&npi);
        CHECK_STATUS(NmrRegisterClient(&m->cc, &r3_ctx, &h), STATUS_SUCCESS);
        CHECK_EQ(r3_client_offers, round + 1);
        CHECK_EQ(r3_provider_offers, round + 1);
        CHECK_STATUS(NmrDeregisterClient(h), STATUS_PENDING);
        CHECK_STATUS(NmrWaitForClientDeregisterComplete(h), STATUS_SUCCESS);
        r3_free(m);
    }
    CHECK_EQ(r3_pdetaches, 3);
    CHECK_STATUS(NmrDeregisterProvider(hp), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(hp), STATUS_SUCCESS);

    /* (b) a client whose memory is freed is the NPI's first registration;
     * the provider keeps the NPI alive; a later client still matches */
    npi = fx_guid(0x1023);
    r3_client_offers = r3_provider_offers = 0;
    r3_mem *first = r3_new_client(&npi);
    CHECK_STATUS(NmrRegisterClient(&first->cc, &r3_ctx, &h), STATUS_SUCCESS);
    CHECK_STATUS(NmrRegisterProvider(&pc, &r3_ctx, &hp), STATUS_SUCCESS);
    CHECK_EQ(r3_client_offers, 1);
    CHECK_STATUS(NmrDeregisterClient(h), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(h), STATUS_SUCCESS);
    r3_free(first);
    r3_mem *second = r3_new_client(&npi);
    CHECK_STATUS(NmrRegisterClient(&second->cc, &r3_ctx, &h), STATUS_SUCCESS);
    CHECK_EQ(r3_client_offers, 2);
    CHECK_EQ(r3_provider_offers, 2);
    CHECK_STATUS(NmrDeregisterProvider(hp), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(hp), STATUS_SUCCESS);
    CHECK_STATUS(NmrDeregisterClient(h), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForClientDeregisterComplete(h), STATUS_SUCCESS);
    r3_free(second);
    CHECK_EQ(nmr_alloc_live(), g_live0);
}

/* ---- R4 ---------------------------------------------------------------- */

/* R4: match by GUID value (each module has its own copy of the NPI id, so
 * the pointers differ); a GUID differing in any one byte does not match;
 * Number, ModuleId and NPI-specific characteristics are ignored. */
static void t_r4_match_by_value(void)
{
    GUID npi = fx_guid(0x1030);
    fx_module *c = fx_client(&npi);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);

    /* near misses: one field/byte differs */
    GUID near[4];
    for (int i = 0; i < 4; i++)
        near[i] = npi;
    near[0].Data1 ^= 0x80000000u;
    near[1].Data2 ^= 1;
    near[2].Data3 ^= 0x100;
    near[3].Data4[7] ^= 1;
    fx_module *miss[4];
    for (int i = 0; i < 4; i++) {
        miss[i] = fx_provider(&near[i]);
        /* same module id, number and specific characteristics as c */
        miss[i]->pc.ProviderRegistrationInstance.ModuleId = &c->modid;
        miss[i]->pc.ProviderRegistrationInstance.Number =
            c->cc.ClientRegistrationInstance.Number;
        CHECK_STATUS(fx_register(miss[i]), STATUS_SUCCESS);
    }
    CHECK_EQ(fx_log_len(), 0);

    /* a match with different pointer, module id type, number */
    fx_module *p = fx_provider(&npi);
    CHECK(p->pc.ProviderRegistrationInstance.NpiId !=
          c->cc.ClientRegistrationInstance.NpiId);
    p->modid.Type = MIT_IF_LUID;
    p->modid.IfLuid.LowPart = 7;
    p->modid.IfLuid.HighPart = -1;
    p->pc.ProviderRegistrationInstance.Number = 0xFFFFFFFFu;
    static const int spec = 5;
    p->pc.ProviderRegistrationInstance.NpiSpecificCharacteristics = &spec;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, NULL, NULL), 1);

    /* a second client matching the same GUID: offered p only */
    fx_module *c2 = fx_client(&npi);
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c2, p), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c2, NULL), 1);
    /* clients of the near-miss NPIs: each offered exactly its provider */
    fx_module *mc[4];
    for (int i = 0; i < 4; i++) {
        mc[i] = fx_client(&near[i]);
        CHECK_STATUS(fx_register(mc[i]), STATUS_SUCCESS);
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, mc[i], miss[i]), 1);
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, mc[i], NULL), 1);
    }
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, NULL, NULL), 6);

    dereg_wait(c);
    dereg_wait(c2);
    dereg_wait(p);
    for (int i = 0; i < 4; i++) {
        dereg_wait(mc[i]);
        dereg_wait(miss[i]);
    }
    finish();
}

/* R4: the NPI id is compared by value even when it lives in a stack
 * buffer that is an exact copy (not the same object). */
static void t_r4_identical_modules_both_match(void)
{
    GUID npi = fx_guid(0x1031);
    fx_module *p1 = fx_provider(&npi);
    fx_module *p2 = fx_provider(&npi);
    /* identical registration instances apart from the pointer */
    p2->modid = p1->modid;
    p2->pc.ProviderRegistrationInstance.Number =
        p1->pc.ProviderRegistrationInstance.Number;
    CHECK_STATUS(fx_register(p1), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    fx_module *c = fx_client(&npi);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p1), 1);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p2), 1);
    CHECK_EQ(fx_live_sides(c), 2);
    dereg_wait(p1);
    dereg_wait(p2);
    dereg_wait(c);
    finish();
}

/* ---- R5 / R7 ----------------------------------------------------------- */

static HANDLE g_peer_handle_seen;
static void hook_peer_handle(fx_module *m, fx_ev_type t, int phase,
                             fx_side *s, void *arg)
{
    (void)m; (void)arg;
    if (t == FX_EV_CLIENT_ATTACH && phase == FX_PRE && s->peer != NULL)
        g_peer_handle_seen = s->peer->handle;
}

/* R7 (and R5): registering a client makes an offer for every matching
 * provider, synchronously, on the registering thread, before
 * NmrRegisterClient returns; the client's handle is already in the
 * out-variable during the callbacks. */
static void t_r7_client_registers(void)
{
    GUID npi = fx_guid(0x1040);
    fx_module *p[3];
    for (int i = 0; i < 3; i++) {
        p[i] = fx_provider(&npi);
        CHECK_STATUS(fx_register(p[i]), STATUS_SUCCESS);
    }
    fx_module *c = fx_client(&npi);
    c->handle = NULL;
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK(c->handle != NULL);
    /* all offers done before return */
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, NULL), 3);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, NULL, c), 3);
    for (int i = 0; i < 3; i++)
        CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c, p[i]), 1);
    for (int i = 0; i < fx_log_len(); i++) {
        const fx_event *e = fx_log_at(i);
        CHECK(pthread_equal(e->thread, pthread_self()));
        if (e->type == FX_EV_CLIENT_ATTACH)
            CHECK(e->handle_seen == c->handle);
    }
    CHECK_EQ(fx_live_sides(c), 3);
    dereg_wait(c);
    for (int i = 0; i < 3; i++)
        dereg_wait(p[i]);
    finish();
}

/* R7 (and R5): registering a provider offers it to every matching client,
 * synchronously, before NmrRegisterProvider returns, and the provider's
 * handle is already stored while the clients' callbacks run. */
static void t_r7_provider_registers(void)
{
    GUID npi = fx_guid(0x1041);
    fx_module *c[3];
    for (int i = 0; i < 3; i++) {
        c[i] = fx_client(&npi);
        c[i]->hook = hook_peer_handle;
        CHECK_STATUS(fx_register(c[i]), STATUS_SUCCESS);
    }
    CHECK_EQ(fx_log_len(), 0);
    fx_module *p = fx_provider(&npi);
    g_peer_handle_seen = NULL;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK(p->handle != NULL);
    CHECK(g_peer_handle_seen == p->handle);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, NULL, p), 3);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, p, NULL), 3);
    for (int i = 0; i < fx_log_len(); i++) {
        const fx_event *e = fx_log_at(i);
        CHECK(pthread_equal(e->thread, pthread_self()));
        if (e->type == FX_EV_PROVIDER_ATTACH)
            CHECK(e->handle_seen == p->handle);
    }
    /* the provider's attach is nested inside the client's offer (R23) */
    for (int i = 0; i < 3; i++) {
        int ci = fx_index(FX_EV_CLIENT_ATTACH, c[i], p, 0);
        int pi = fx_index(FX_EV_PROVIDER_ATTACH, p, c[i], 0);
        CHECK(ci >= 0 && pi == ci + 1);
    }
    dereg_wait(p);
    for (int i = 0; i < 3; i++)
        dereg_wait(c[i]);
    finish();
}

/* R5 (single thread): registrations that are deregistering at the time
 * are not offered; neither are registrations of another kind (client to
 * client, provider to provider). */
static void t_r5_only_live_opposite_kind(void)
{
    GUID npi = fx_guid(0x1042);
    fx_module *c1 = fx_client(&npi);
    CHECK_STATUS(fx_register(c1), STATUS_SUCCESS);
    fx_module *c2 = fx_client(&npi);
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    CHECK_EQ(fx_log_len(), 0); /* clients are not offered to clients */

    fx_module *p1 = fx_provider(&npi);
    CHECK_STATUS(fx_register(p1), STATUS_SUCCESS);
    fx_module *p2 = fx_provider(&npi);
    CHECK_STATUS(fx_register(p2), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_PROVIDER_ATTACH, NULL, NULL), 4);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, NULL, NULL), 4);

    /* p1 deregistering with a pending detach: still registered but gone
     * for new offers */
    p1->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_deregister(p1), STATUS_PENDING);
    int log0 = fx_log_len();
    fx_module *c3 = fx_client(&npi);
    CHECK_STATUS(fx_register(c3), STATUS_SUCCESS);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c3, p1), 0);
    CHECK_EQ(fx_count(FX_EV_CLIENT_ATTACH, c3, p2), 1);
    CHECK(fx_log_len() > log0);
    CHECK_EQ(fx_complete_pending(p1), 2);
    CHECK_STATUS(fx_wait(p1), STATUS_SUCCESS);
    dereg_wait(c1);
    dereg_wait(c2);
    dereg_wait(c3);
    dereg_wait(p2);
    finish();
}

/* ---- R31 --------------------------------------------------------------- */

/* R31: a few hundred registrations and bindings, all deregistered and
 * waited for, leave no NMR memory. */
static void t_r31_no_memory_left(void)
{
    GUID npi = fx_guid(0x1050);
    fx_module *p[10], *c[10];
    for (int i = 0; i < 10; i++) {
        p[i] = fx_provider(&npi);
        CHECK_STATUS(fx_register(p[i]), STATUS_SUCCESS);
    }
    for (int i = 0; i < 10; i++) {
        c[i] = fx_client(&npi);
        if (i % 3 == 1)
            c[i]->attach_mode = FX_DECLINE;
        if (i % 3 == 2)
            c[i]->attach_mode = FX_FAIL_AFTER_ATTACH;
        CHECK_STATUS(fx_register(c[i]), STATUS_SUCCESS);
    }
    CHECK(nmr_alloc_live() > g_live0);
    for (int i = 0; i < 10; i += 2)
        dereg_wait(p[i]);
    for (int i = 0; i < 10; i++)
        dereg_wait(c[i]);
    for (int i = 1; i < 10; i += 2)
        dereg_wait(p[i]);
    CHECK_EQ(nmr_alloc_live(), g_live0);
    CHECK_EQ(nmr_alloc_live_bytes() >= 0, 1);
    finish();
}

/* ---- R24 --------------------------------------------------------------- */

static int thread_count(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (f == NULL)
        return -1;
    char line[256];
    int n = -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "Threads: %d", &n) == 1)
            break;
    fclose(f);
    return n;
}

static int g_threads_in_cb = -2;
static void hook_count_threads(fx_module *m, fx_ev_type t, int phase,
                               fx_side *s, void *arg)
{
    (void)m; (void)phase; (void)s; (void)arg;
    if (t == FX_EV_PROVIDER_CLEANUP)
        g_threads_in_cb = thread_count();
}

/* R24: the NMR creates no threads: a full life cycle (offers, pending
 * detach, completion, cleanups, waits) leaves this single-threaded process
 * with the threads it started with, also while callbacks run. */
static void t_r24_no_threads(void)
{
    int n0 = thread_count();
    if (n0 < 0) {
        fprintf(stderr, "no /proc/self/status: skipped\n");
        return;
    }
    GUID npi = fx_guid(0x1060);
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    p->hook = hook_count_threads;
    p->detach_mode = FX_DET_PENDING;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_EQ(thread_count(), n0);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_EQ(thread_count(), n0);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_EQ(g_threads_in_cb, n0);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    dereg_wait(p);
    CHECK_EQ(thread_count(), n0);
    finish();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_r1_invalid_input, "R1"),
    CASE(t_r1_null_cleanup_valid, "R1"),
    CASE(t_r1_valid_variants, "R1"),
    CASE(t_r3_same_instance_pointer, "R3"),
    CASE(t_r3_raw, "R3"),
    CASE(t_r3_caller_memory_until_wait, "R3"),
    CASE(t_r4_match_by_value, "R4"),
    CASE(t_r4_identical_modules_both_match, "R4"),
    CASE(t_r7_client_registers, "R5 R7"),
    CASE(t_r7_provider_registers, "R5 R7"),
    CASE(t_r5_only_live_opposite_kind, "R5"),
    CASE(t_r31_no_memory_left, "R31"),
    CASE(t_r24_no_threads, "R24"),
};

NMR_TEST_SUITE(test_register, cases, rt_setup, rt_teardown_no_misuse, NULL);
