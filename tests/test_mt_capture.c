/* SPDX-License-Identifier: MIT */
/*
 * test_mt_capture.c - provider capture (nmr/guard.h: nmr_capture_*), with
 * helper threads for the waits.
 *
 * Rules checked (nmr/guard.h):
 *   C1  NULL arguments -> STATUS_INVALID_PARAMETER (create, capture,
 *       destroy); create stores NULL in *out on failure.
 *   C2  no provider: NO_WAIT -> STATUS_DEVICE_NOT_READY at once; a timeout
 *       -> STATUS_DEVICE_NOT_READY after at least the timeout.
 *   C3  a provider registering while a capture waits: the capture returns
 *       STATUS_SUCCESS with the provider's binding context (Handle) and
 *       dispatch table (Dispatch); the provider saw the capture's
 *       client dispatch.
 *   C4  a held capture keeps the binding: the provider's deregistration
 *       wait does not return (and its binding is not cleaned up) until
 *       nmr_capture_release; a detaching binding is not captured.
 *   C5  the newest attached provider is captured; once it detaches, the
 *       other one.
 *   C6  nmr_capture_destroy: waiting captures return
 *       STATUS_INVALID_DEVICE_STATE; destroy blocks until every capture is
 *       released, then returns STATUS_SUCCESS; the provider stays
 *       registered (R17).
 *   C7  stress: captures and releases on several threads while providers
 *       come and go; a provider binding is never cleaned up while captured.
 *   and no leak (R31), no misuse (R30).
 */
#define _POSIX_C_SOURCE 200809L
#include "mt_harness.h"
#include "alloc.h"

#include <nmr/guard.h>

/* ---- a provider module ------------------------------------------------------- */

#define PB_MAGIC 0x70726f76u

typedef struct prov prov;
typedef struct pbind {
    _Atomic unsigned magic;
    prov *owner;
    atomic_int captured; /* held captures (test bookkeeping) */
} pbind;

struct prov {
    int id;
    NPI_MODULEID modid;
    NPI_PROVIDER_CHARACTERISTICS pc;
    HANDLE handle;
    int dispatch; /* &dispatch is its dispatch table */
    _Atomic(pbind *) bound;
    atomic_int attaches, detaches, cleanups;
};

static NPIID g_npi = {0x43415054, 0x1, 0x2, {1, 2, 3, 4, 5, 6, 7, 10}};
static NPI_MODULEID g_cmod = {sizeof(NPI_MODULEID), MIT_GUID, {{0xc3, 0, 0, {0}}}};
static const int g_client_dispatch = 42;

static NTSTATUS p_attach(HANDLE h, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri, PVOID cbc,
                         const VOID *cd, PVOID *pbc, const VOID **pd)
{
    (void)h;
    (void)cri;
    (void)cbc;
    prov *p = ctx;
    MT_CHECK(cd == &g_client_dispatch, "C3: the provider sees the client dispatch");
    pbind *b = calloc(1, sizeof(*b));
    CHECK(b != NULL);
    atomic_store(&b->magic, PB_MAGIC);
    b->owner = p;
    atomic_store(&p->bound, b);
    atomic_fetch_add(&p->attaches, 1);
    *pbc = b;
    *pd = &p->dispatch;
    return STATUS_SUCCESS;
}

static NTSTATUS p_detach(PVOID ctx)
{
    pbind *b = ctx;
    atomic_fetch_add(&b->owner->detaches, 1);
    return STATUS_SUCCESS;
}

static VOID p_cleanup(PVOID ctx)
{
    pbind *b = ctx;
    MT_CHECK(atomic_load(&b->magic) == PB_MAGIC, "R16: cleanup once");
    MT_CHECK(atomic_load(&b->captured) == 0, "C4: binding cleaned up while captured");
    atomic_fetch_add(&b->owner->cleanups, 1);
    atomic_store(&b->owner->bound, NULL);
    atomic_store(&b->magic, 0);
    free(b);
}

static prov *prov_new(int id)
{
    prov *p = calloc(1, sizeof(*p));
    CHECK(p != NULL);
    p->id = id;
    p->modid.Length = sizeof(NPI_MODULEID);
    p->modid.Type = MIT_GUID;
    p->modid.Guid.Data1 = 0xb3000000u + (unsigned)id;
    p->pc.Length = sizeof(p->pc);
    p->pc.ProviderAttachClient = p_attach;
    p->pc.ProviderDetachClient = p_detach;
    p->pc.ProviderCleanupBindingContext = p_cleanup;
    p->pc.ProviderRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    p->pc.ProviderRegistrationInstance.NpiId = &g_npi;
    p->pc.ProviderRegistrationInstance.ModuleId = &p->modid;
    return p;
}

static void prov_register(prov *p)
{
    CHECK_STATUS(NmrRegisterProvider(&p->pc, p, &p->handle), STATUS_SUCCESS);
}

static void prov_dereg_wait(prov *p)
{
    CHECK_STATUS(NmrDeregisterProvider(p->handle), STATUS_PENDING);
    CHECK_STATUS(NmrWaitForProviderDeregisterComplete(p->handle), STATUS_SUCCESS);
}

static nmr_capture *cap_new(void)
{
    nmr_capture *c = NULL;
    CHECK_STATUS(nmr_capture_create(&g_npi, &g_cmod, &g_client_dispatch, &c), STATUS_SUCCESS);
    CHECK(c != NULL);
    return c;
}

/* ---- helper threads ---------------------------------------------------------- */

typedef struct job {
    int what; /* 0 capture, 1 destroy, 2 provider dereg+wait */
    nmr_capture *c;
    ULONG timeout;
    prov *p;
    NPI npi;
    void *token;
    NTSTATUS status;
    atomic_int started, done;
    double t_start, t_end;
} job;

static void *job_main(void *arg)
{
    job *j = arg;
    atomic_store(&j->started, 1);
    j->t_start = mt_now();
    if (j->what == 0) {
        j->status = nmr_capture_provider(j->c, j->timeout, &j->npi, &j->token);
    } else if (j->what == 1) {
        j->status = nmr_capture_destroy(j->c);
    } else {
        j->status = NmrDeregisterProvider(j->p->handle);
        if (j->status == STATUS_PENDING)
            j->status = NmrWaitForProviderDeregisterComplete(j->p->handle);
    }
    j->t_end = mt_now();
    atomic_store(&j->done, 1);
    return NULL;
}

static pthread_t job_start(job *j)
{
    pthread_t th;
    CHECK(pthread_create(&th, NULL, job_main, j) == 0);
    MT_AWAIT(&j->started, 1, "helper thread started");
    return th;
}

/* ---- cases --------------------------------------------------------------------- */

/* C1 */
static void t_null_args(void)
{
    nmr_capture *c = (nmr_capture *)(uintptr_t)1;
    CHECK_STATUS(nmr_capture_create(&g_npi, &g_cmod, NULL, NULL), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_capture_create(NULL, &g_cmod, NULL, &c), STATUS_INVALID_PARAMETER);
    CHECK(c == NULL);
    c = (nmr_capture *)(uintptr_t)1;
    CHECK_STATUS(nmr_capture_create(&g_npi, NULL, NULL, &c), STATUS_INVALID_PARAMETER);
    CHECK(c == NULL);
    c = cap_new();
    NPI npi;
    void *tok;
    CHECK_STATUS(nmr_capture_provider(NULL, 0, &npi, &tok), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_capture_provider(c, 0, NULL, &tok), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_capture_provider(c, 0, &npi, NULL), STATUS_INVALID_PARAMETER);
    CHECK_STATUS(nmr_capture_destroy(NULL), STATUS_INVALID_PARAMETER);
    nmr_capture_release(c, NULL); /* nothing to give back: harmless */
    CHECK_STATUS(nmr_capture_destroy(c), STATUS_SUCCESS);
}

/* C2 */
static void t_no_provider(void)
{
    nmr_capture *c = cap_new();
    NPI npi = {NULL, NULL};
    void *tok = NULL;
    double t0 = mt_now();
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &npi, &tok), STATUS_DEVICE_NOT_READY);
    CHECK(mt_now() - t0 < 5.0);
    t0 = mt_now();
    CHECK_STATUS(nmr_capture_provider(c, 50, &npi, &tok), STATUS_DEVICE_NOT_READY);
    double dt = mt_now() - t0;
    fprintf(stderr, "   50 ms timeout took %.1f ms\n", dt * 1000.0);
    CHECK(dt >= 0.049); /* waited the timeout */
    CHECK(dt < 5.0);    /* ... and not forever */
    CHECK_STATUS(nmr_capture_destroy(c), STATUS_SUCCESS);
}

/* C3 (INFINITE and a long timeout), capture/release pairs, then C4-less
 * deregistration: nothing held, the wait returns at once. */
static void t_provider_arrives(void)
{
    for (int k = 0; k < 2; k++) {
        nmr_capture *c = cap_new();
        prov *p = prov_new(1 + k);
        job j;
        memset(&j, 0, sizeof(j));
        j.what = 0;
        j.c = c;
        j.timeout = k == 0 ? NMR_CAPTURE_INFINITE : 30000;
        pthread_t th = job_start(&j);
        mt_sleep_us(30000);
        CHECK_EQ(atomic_load(&j.done), 0); /* still waiting: no provider */
        prov_register(p);
        CHECK(pthread_join(th, NULL) == 0);
        CHECK_STATUS(j.status, STATUS_SUCCESS);
        pbind *b = atomic_load(&p->bound);
        CHECK(b != NULL);
        CHECK(j.npi.Handle == b);             /* the provider's binding context */
        CHECK(j.npi.Dispatch == &p->dispatch); /* ... and dispatch */
        nmr_capture_release(c, j.token);
        for (int i = 0; i < 1000; i++) {
            NPI npi;
            void *tok;
            CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &npi, &tok), STATUS_SUCCESS);
            CHECK(npi.Handle == b && npi.Dispatch == &p->dispatch);
            nmr_capture_release(c, tok);
        }
        prov_dereg_wait(p); /* nothing held */
        CHECK_EQ(atomic_load(&p->cleanups), 1);
        NPI npi;
        void *tok;
        CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &npi, &tok), STATUS_DEVICE_NOT_READY);
        CHECK_STATUS(nmr_capture_destroy(c), STATUS_SUCCESS);
        free(p);
    }
}

/* C4 */
static void t_held_blocks_provider(void)
{
    nmr_capture *c = cap_new();
    prov *p = prov_new(3);
    prov_register(p);
    NPI npi;
    void *tok, *tok2;
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &npi, &tok), STATUS_SUCCESS);
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &npi, &tok2), STATUS_SUCCESS);
    pbind *b = npi.Handle;
    atomic_fetch_add(&b->captured, 2);
    job j;
    memset(&j, 0, sizeof(j));
    j.what = 2;
    j.p = p;
    pthread_t th = job_start(&j);
    MT_AWAIT(&p->detaches, 1, "R12: the provider's deregistration detaches");
    mt_sleep_us(50000);
    CHECK_EQ(atomic_load(&j.done), 0); /* C4: still held */
    CHECK_EQ(atomic_load(&p->cleanups), 0);
    /* the detaching binding is not captured any more */
    NPI n2;
    void *t2;
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &n2, &t2), STATUS_DEVICE_NOT_READY);
    CHECK_STATUS(nmr_capture_provider(c, 20, &n2, &t2), STATUS_DEVICE_NOT_READY);
    atomic_fetch_sub(&b->captured, 1);
    nmr_capture_release(c, tok);
    mt_sleep_us(30000);
    CHECK_EQ(atomic_load(&j.done), 0); /* one still held */
    atomic_fetch_sub(&b->captured, 1);
    nmr_capture_release(c, tok2); /* the last: completes the detach */
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(j.status, STATUS_SUCCESS);
    CHECK_EQ(atomic_load(&p->cleanups), 1);
    CHECK_STATUS(nmr_capture_destroy(c), STATUS_SUCCESS);
    free(p);
}

/* C5 */
static void t_newest(void)
{
    nmr_capture *c = cap_new();
    prov *p1 = prov_new(4), *p2 = prov_new(5);
    prov_register(p1);
    prov_register(p2);
    NPI npi;
    void *tok;
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &npi, &tok), STATUS_SUCCESS);
    CHECK(npi.Handle == atomic_load(&p2->bound)); /* the newest */
    CHECK(npi.Dispatch == &p2->dispatch);
    /* p2 detaching while captured: new captures take p1 */
    job j;
    memset(&j, 0, sizeof(j));
    j.what = 2;
    j.p = p2;
    pthread_t th = job_start(&j);
    MT_AWAIT(&p2->detaches, 1, "R12");
    NPI n1;
    void *t1;
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &n1, &t1), STATUS_SUCCESS);
    CHECK(n1.Handle == atomic_load(&p1->bound));
    CHECK(n1.Dispatch == &p1->dispatch);
    nmr_capture_release(c, t1);
    CHECK_EQ(atomic_load(&j.done), 0);
    nmr_capture_release(c, tok);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(j.status, STATUS_SUCCESS);
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &n1, &t1), STATUS_SUCCESS);
    CHECK(n1.Handle == atomic_load(&p1->bound));
    nmr_capture_release(c, t1);
    /* a newer provider again: it wins */
    prov *p3 = prov_new(6);
    prov_register(p3);
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &n1, &t1), STATUS_SUCCESS);
    CHECK(n1.Handle == atomic_load(&p3->bound));
    nmr_capture_release(c, t1);
    CHECK_STATUS(nmr_capture_destroy(c), STATUS_SUCCESS);
    /* R17: the providers stay registered; their bindings are gone */
    CHECK_EQ(atomic_load(&p1->cleanups), 1);
    CHECK_EQ(atomic_load(&p3->cleanups), 1);
    prov_dereg_wait(p1);
    prov_dereg_wait(p3);
    free(p1);
    free(p2);
    free(p3);
}

/* C6: destroy while a capture waits */
static void t_destroy_wakes_waiter(void)
{
    for (int k = 0; k < 2; k++) {
        nmr_capture *c = cap_new();
        job w;
        memset(&w, 0, sizeof(w));
        w.what = 0;
        w.c = c;
        w.timeout = k == 0 ? NMR_CAPTURE_INFINITE : 60000;
        pthread_t th = job_start(&w);
        mt_sleep_us(30000);
        CHECK_EQ(atomic_load(&w.done), 0);
        CHECK_STATUS(nmr_capture_destroy(c), STATUS_SUCCESS);
        CHECK(pthread_join(th, NULL) == 0);
        CHECK_STATUS(w.status, STATUS_INVALID_DEVICE_STATE);
        CHECK(w.t_end - w.t_start < 30.0); /* woken, not timed out */
    }
}

/* C6: destroy blocks until the captures are released */
static void t_destroy_blocks(void)
{
    nmr_capture *c = cap_new();
    prov *p = prov_new(7);
    prov_register(p);
    NPI npi;
    void *tok;
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &npi, &tok), STATUS_SUCCESS);
    pbind *b = npi.Handle;
    atomic_fetch_add(&b->captured, 1);
    job d;
    memset(&d, 0, sizeof(d));
    d.what = 1;
    d.c = c;
    pthread_t th = job_start(&d);
    MT_AWAIT(&p->detaches, 1, "R12: destroy deregisters");
    mt_sleep_us(50000);
    CHECK_EQ(atomic_load(&d.done), 0); /* blocked by the capture */
    CHECK_EQ(atomic_load(&p->cleanups), 0);
    /* destroy has begun: no new capture */
    NPI n2;
    void *t2;
    CHECK_STATUS(nmr_capture_provider(c, NMR_CAPTURE_NO_WAIT, &n2, &t2), STATUS_INVALID_DEVICE_STATE);
    atomic_fetch_sub(&b->captured, 1);
    nmr_capture_release(c, tok);
    CHECK(pthread_join(th, NULL) == 0);
    CHECK_STATUS(d.status, STATUS_SUCCESS);
    CHECK_EQ(atomic_load(&p->cleanups), 1);
    /* R17: the provider is still registered: a new capture object binds */
    nmr_capture *c2 = cap_new();
    CHECK_STATUS(nmr_capture_provider(c2, NMR_CAPTURE_NO_WAIT, &npi, &tok), STATUS_SUCCESS);
    CHECK(npi.Dispatch == &p->dispatch);
    nmr_capture_release(c2, tok);
    CHECK_STATUS(nmr_capture_destroy(c2), STATUS_SUCCESS);
    prov_dereg_wait(p);
    free(p);
}

/* C7: stress */
static nmr_capture *g_c;
static atomic_int g_stop;
static atomic_long g_caps, g_misses;

static void *capturer(void *arg)
{
    (void)arg;
    while (!atomic_load(&g_stop)) {
        NPI npi;
        void *tok;
        NTSTATUS s = nmr_capture_provider(g_c, mt_chance(20) ? 2 : NMR_CAPTURE_NO_WAIT, &npi, &tok);
        if (s == STATUS_DEVICE_NOT_READY) {
            atomic_fetch_add(&g_misses, 1);
            continue;
        }
        MT_CHECK_STATUS(s, STATUS_SUCCESS, "C7: capture");
        pbind *b = npi.Handle;
        MT_CHECK(atomic_load(&b->magic) == PB_MAGIC, "C7: captured a cleaned-up binding");
        MT_CHECK(npi.Dispatch == &b->owner->dispatch, "C7: dispatch of that provider");
        atomic_fetch_add(&b->captured, 1);
        mt_spin(300);
        MT_CHECK(atomic_load(&b->magic) == PB_MAGIC, "C4: binding cleaned up while captured");
        atomic_fetch_sub(&b->captured, 1);
        nmr_capture_release(g_c, tok);
        atomic_fetch_add(&g_caps, 1);
    }
    return NULL;
}

static void t_stress(void)
{
    g_c = cap_new();
    atomic_store(&g_stop, 0);
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        CHECK(pthread_create(&th[i], NULL, capturer, NULL) == 0);
    mt_loop l;
    long n = 0;
    for (mt_loop_init(&l, "capture_stress", 20000); mt_loop_next(&l);) {
        prov *p = prov_new(100 + (int)(l.i % 1000));
        prov_register(p);
        mt_random_pause(200);
        prov_dereg_wait(p); /* blocks while captured */
        MT_CHECK(atomic_load(&p->cleanups) == 1, "R18: cleaned up when the wait returns");
        free(p);
        n++;
    }
    atomic_store(&g_stop, 1);
    for (int i = 0; i < 3; i++)
        CHECK(pthread_join(th[i], NULL) == 0);
    CHECK_STATUS(nmr_capture_destroy(g_c), STATUS_SUCCESS);
    fprintf(stderr, "   capture_stress: %ld providers, %ld captures, %ld misses\n", n,
            atomic_load(&g_caps), atomic_load(&g_misses));
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static long live0; /* live allocations before the case */

static void setup(void)
{
    mt_init("test_mt_capture");
    live0 = nmr_alloc_live();
}

static void teardown(void)
{
    CHECK_EQ(atomic_load(&mt_misuse_total), 0);
    CHECK_EQ(nmr_alloc_live(), live0);
}

static const nmr_test_case cases[] = {
    CASE(t_null_args, ""),
    CASE(t_no_provider, ""),
    CASE(t_provider_arrives, ""),
    CASE(t_held_blocks_provider, "R12"),
    CASE(t_newest, "R12 R17"),
    CASE(t_destroy_wakes_waiter, ""),
    CASE(t_destroy_blocks, "R12 R17"),
    CASE(t_stress, "R18"),
};

NMR_TEST_SUITE(test_mt_capture, cases, setup, teardown, NULL);
