/* SPDX-License-Identifier: MIT */
/*
 * test_mt_stress.c - model-based stress test (R5, R6, R10-R16, R18, R20,
 * R21, R22, R23, R26).
 *
 * Several threads run random sequences of every operation on a few NPIs:
 * register both roles with random behaviour (decline, accept, fail after
 * attach, detach returning SUCCESS / PENDING / a bad value, completion
 * from inside the detach callback or later from any thread), deregister,
 * wait, nested calls from callbacks (register a new module, deregister
 * oneself, wait from inside a callback) and misuse with stale handles.
 * A reference model checks every callback against the rules:
 *   - each (client, provider) pair is offered at most once (R6);
 *   - callbacks of one binding never overlap on two threads, and run in
 *     the order offer, client detach, provider detach, cleanups (R13, R23);
 *   - each detach callback at most once, each cleanup exactly once, and
 *     only after both halves are complete (R13, R16);
 *   - no callback of a registration after its wait returned (R18), and at
 *     that moment every binding it had is cleaned up;
 *   - exactly one NmrDeregister* per registration returns STATUS_PENDING,
 *     the others STATUS_INVALID_DEVICE_STATE (R21);
 *   - a wait from inside one's own callback never blocks (R20);
 *   - stale handles are refused (R26), never crash.
 * At the end everything is torn down, the registrar's invariants are
 * checked, and nothing may be left allocated (R31).
 *
 * Seeded and reproducible per thread: NMR_STRESS_SEED=<n> replays a seed
 * (thread interleaving still varies); the seed is printed at the start and
 * on failure.  NMR_STRESS_SECONDS sets the duration (default 2).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <netioddk.h>
#include <nmr/diag.h>

#include "alloc.h"
#include "invariants.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define THREADS 4
#define NPIS 3
#define MAX_OWNED 12
#define PAIR_BUCKETS 4096

static unsigned long long g_seed;

#define FAIL(...)                                                          \
    do {                                                                   \
        fprintf(stderr, "test_mt_stress: seed %llu: ", g_seed);            \
        fprintf(stderr, __VA_ARGS__);                                      \
        fprintf(stderr, "\n");                                             \
        abort();                                                           \
    } while (0)

/* ---- random numbers (per thread, reproducible from the seed) -------------- */

static _Thread_local uint64_t rng_state;

static uint32_t rnd(uint32_t n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state % n);
}

/* ---- the reference model -------------------------------------------------- */

enum { DET_SUCCESS, DET_PENDING, DET_INSIDE, DET_BAD };
enum { ATT_ACCEPT, ATT_DECLINE, ATT_FAIL_AFTER };

typedef struct module {
    NPIID npi;
    NPI_MODULEID id;
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    int is_client;
    uint32_t serial;
    int attach_mode, detach_mode, nested;
    HANDLE handle;
    atomic_int dereg_pending;   /* NmrDeregister* calls that said PENDING */
    atomic_int dereg_calls;
    atomic_int waited;          /* the wait returned: nothing may run now */
    atomic_int obligations;     /* bindings accepted and not cleaned up */
    atomic_int in_callbacks;
    int owner_done;             /* owner thread only */
    struct module *next_free;
} module;

typedef struct binding_rec {
    module *client, *provider;
    HANDLE handle;
    atomic_int busy;            /* callbacks of this binding running */
    atomic_uintptr_t busy_thread;
    atomic_int phase;           /* 0 offer, 1 c-detach, 2 p-detach, 3 cleanups */
    atomic_int half_done[2];
    atomic_int detach_calls[2];
    atomic_int cleanups;
    int provider_accepted;      /* set on the offering thread */
} binding_rec;

/* Pending halves, completed by whichever thread gets there first. */
typedef struct pending {
    binding_rec *b;
    int side;
} pending;

static pthread_mutex_t pend_lock = PTHREAD_MUTEX_INITIALIZER;
static pending *pend;
static size_t pend_n, pend_cap;

/* Pairs offered so far (R6): (client serial << 32 | provider serial). */
static pthread_mutex_t pair_lock = PTHREAD_MUTEX_INITIALIZER;
typedef struct pair_node {
    uint64_t key;
    struct pair_node *next;
} pair_node;
static pair_node *pairs[PAIR_BUCKETS];

static atomic_uint g_serial;
static atomic_ullong g_ops, g_offers, g_bindings, g_detaches, g_completes,
    g_misuse_expected, g_nested, g_deadlock_checks;
static atomic_int g_stop;

static void note_offer(module *c, module *p)
{
    uint64_t key = ((uint64_t)c->serial << 32) | p->serial;
    pthread_mutex_lock(&pair_lock);
    pair_node **b = &pairs[key % PAIR_BUCKETS];
    for (pair_node *n = *b; n; n = n->next)
        if (n->key == key) {
            pthread_mutex_unlock(&pair_lock);
            FAIL("pair (%u, %u) offered twice (R6)", c->serial, p->serial);
        }
    pair_node *n = malloc(sizeof(*n));
    n->key = key;
    n->next = *b;
    *b = n;
    pthread_mutex_unlock(&pair_lock);
    atomic_fetch_add(&g_offers, 1);
}

static void module_enter(module *m, const char *cb)
{
    if (atomic_load(&m->waited))
        FAIL("%s called for module %u after its wait returned (R18)", cb, m->serial);
    atomic_fetch_add(&m->in_callbacks, 1);
}

static void module_leave(module *m)
{
    atomic_fetch_sub(&m->in_callbacks, 1);
}

/* R23: one thread at a time per binding (nesting on that thread is fine),
 * and phases never go backwards. */
static void binding_enter(binding_rec *b, int phase, const char *cb)
{
    uintptr_t self = (uintptr_t)pthread_self();
    if (atomic_fetch_add(&b->busy, 1) > 0 && atomic_load(&b->busy_thread) != self)
        FAIL("%s: binding %p has callbacks on two threads (R23)", cb, b->handle);
    atomic_store(&b->busy_thread, self);
    int old = atomic_load(&b->phase);
    if (phase < old)
        FAIL("%s: binding %p went from phase %d back to %d (R23)", cb, b->handle,
             old, phase);
    atomic_store(&b->phase, phase);
}

static void binding_leave(binding_rec *b)
{
    atomic_fetch_sub(&b->busy, 1);
}

static void push_pending(binding_rec *b, int side)
{
    pthread_mutex_lock(&pend_lock);
    if (pend_n == pend_cap) {
        pend_cap = pend_cap ? pend_cap * 2 : 256;
        pend = realloc(pend, pend_cap * sizeof(*pend));
    }
    pend[pend_n++] = (pending){b, side};
    pthread_mutex_unlock(&pend_lock);
}

static void complete_half(binding_rec *b, int side)
{
    atomic_store(&b->half_done[side], 1); /* before: cleanup may run inside */
    atomic_fetch_add(&g_completes, 1);
    HANDLE h = b->handle;
    if (side == 0)
        NmrClientDetachProviderComplete(h);
    else
        NmrProviderDetachClientComplete(h);
}

/* Complete up to max queued halves (all if max < 0), in random order. */
static void drain_pending(int max)
{
    for (int done = 0; max < 0 || done < max; done++) {
        pthread_mutex_lock(&pend_lock);
        if (pend_n == 0) {
            pthread_mutex_unlock(&pend_lock);
            return;
        }
        size_t i = rnd((uint32_t)pend_n);
        pending p = pend[i];
        pend[i] = pend[--pend_n];
        pthread_mutex_unlock(&pend_lock);
        complete_half(p.b, p.side);
    }
}

/* ---- modules owned by threads --------------------------------------------- */

typedef struct thread_state {
    int index;
    uint64_t seed;
    module *owned[MAX_OWNED];
    int n_owned;
    HANDLE stale[16];
    int stale_kind[16]; /* 0 client, 1 provider */
    int n_stale;
} thread_state;

static _Thread_local thread_state *me;

static NPI_CLIENT_ATTACH_PROVIDER_FN client_attach;
static NPI_CLIENT_DETACH_PROVIDER_FN client_detach;
static NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN client_cleanup;
static NPI_PROVIDER_ATTACH_CLIENT_FN provider_attach;
static NPI_PROVIDER_DETACH_CLIENT_FN provider_detach;
static NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN provider_cleanup;

static const NPIID npi_ids[NPIS] = {
    {0x57e55001, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}},
    {0x57e55002, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}},
    {0x57e55003, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}},
};

static module *module_new(int is_client)
{
    module *m = calloc(1, sizeof(*m));
    m->is_client = is_client;
    m->serial = atomic_fetch_add(&g_serial, 1) + 1;
    m->npi = npi_ids[rnd(NPIS)]; /* by value: our own copy (R4) */
    m->id.Length = sizeof(m->id);
    m->id.Type = MIT_GUID;
    m->id.Guid.Data1 = m->serial;
    uint32_t a = rnd(10);
    m->attach_mode = a < 6 ? ATT_ACCEPT : a < 8 ? ATT_DECLINE : ATT_FAIL_AFTER;
    uint32_t d = rnd(10);
    m->detach_mode = d < 4 ? DET_SUCCESS : d < 7 ? DET_PENDING : d < 9 ? DET_INSIDE : DET_BAD;
    m->nested = rnd(8) == 0;
    NPI_REGISTRATION_INSTANCE ri = {0, sizeof(ri), &m->npi, &m->id, m->serial, NULL};
    m->cc = (NPI_CLIENT_CHARACTERISTICS){0, sizeof(m->cc), client_attach,
                                          client_detach, client_cleanup, ri};
    m->pc = (NPI_PROVIDER_CHARACTERISTICS){0, sizeof(m->pc), provider_attach,
                                            provider_detach, provider_cleanup, ri};
    return m;
}

static module *owner_of(PNPI_REGISTRATION_INSTANCE ri, int client)
{
    if (client)
        return (module *)((char *)ri - offsetof(module, cc) -
                          offsetof(NPI_CLIENT_CHARACTERISTICS, ClientRegistrationInstance));
    return (module *)((char *)ri - offsetof(module, pc) -
                      offsetof(NPI_PROVIDER_CHARACTERISTICS, ProviderRegistrationInstance));
}

static void do_register(module *m);
static void do_deregister(module *m);

/* Nested call from a callback of m (R22). */
static void nested_call(module *m)
{
    atomic_fetch_add(&g_nested, 1);
    switch (rnd(3)) {
    case 0: /* register a new module; the current thread will own it */
        if (me != NULL && me->n_owned < MAX_OWNED) {
            module *n = module_new((int)rnd(2));
            me->owned[me->n_owned++] = n;
            do_register(n);
        }
        break;
    case 1: { /* wait from inside our own callback: must never block (R20) */
        NTSTATUS s = m->is_client ? NmrWaitForClientDeregisterComplete(m->handle)
                                  : NmrWaitForProviderDeregisterComplete(m->handle);
        if (s != STATUS_POSSIBLE_DEADLOCK && s != STATUS_INVALID_PARAMETER)
            FAIL("wait from inside module %u's callback returned 0x%08x (R20)",
                 m->serial, (unsigned)s);
        atomic_fetch_add(&g_deadlock_checks, 1);
        break;
    }
    default: /* deregister ourselves from our own callback */
        do_deregister(m);
    }
}

static NTSTATUS client_attach(HANDLE h, PVOID ctx, PNPI_REGISTRATION_INSTANCE pri)
{
    module *c = ctx, *p = owner_of(pri, 0);
    module_enter(c, "ClientAttachProvider");
    note_offer(c, p);
    binding_rec *b = calloc(1, sizeof(*b));
    b->client = c;
    b->provider = p;
    b->handle = h;
    binding_enter(b, 0, "ClientAttachProvider");
    if (c->nested && rnd(2))
        nested_call(c);

    NTSTATUS s = STATUS_NOINTERFACE;
    if (c->attach_mode != ATT_DECLINE) {
        PVOID pctx;
        const VOID *pdisp;
        s = NmrClientAttachProvider(h, b, &c->cc, &pctx, &pdisp);
        if (s == STATUS_SUCCESS && (pctx != b || pdisp != &p->pc))
            FAIL("provider binding context or dispatch lost");
        if (s == STATUS_SUCCESS &&
            NmrClientAttachProvider(h, b, &c->cc, &pctx, &pdisp) !=
                STATUS_INVALID_DEVICE_STATE)
            FAIL("second NmrClientAttachProvider after success allowed (R8)");
        if (s == STATUS_SUCCESS && c->attach_mode == ATT_FAIL_AFTER) {
            atomic_store(&b->half_done[0], 1); /* R10: no client detach */
            s = (NTSTATUS)0xC0000001L; /* STATUS_UNSUCCESSFUL */
        }
    }
    int accepted = b->provider_accepted;
    binding_leave(b);
    module_leave(c);
    if (!accepted)
        free(b); /* no binding: no further callbacks may name it */
    return s;
}

static NTSTATUS provider_attach(HANDLE h, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri,
                                PVOID cctx, const VOID *cdisp, PVOID *pctx,
                                const VOID **pdisp)
{
    module *p = ctx, *c = owner_of(cri, 1);
    binding_rec *b = cctx;
    module_enter(p, "ProviderAttachClient");
    binding_enter(b, 0, "ProviderAttachClient");
    if (b->client != c || b->provider != p || b->handle != h || cdisp != &c->cc)
        FAIL("provider attach got the wrong binding (R3/R8)");
    NTSTATUS s = STATUS_NOINTERFACE;
    if (p->attach_mode != ATT_DECLINE) {
        *pctx = b;
        *pdisp = &p->pc;
        b->provider_accepted = 1;
        atomic_fetch_add(&c->obligations, 1);
        atomic_fetch_add(&p->obligations, 1);
        atomic_fetch_add(&g_bindings, 1);
        s = STATUS_SUCCESS;
    }
    binding_leave(b);
    module_leave(p);
    return s;
}

static NTSTATUS detach_common(binding_rec *b, int side)
{
    module *m = side ? b->provider : b->client;
    module_enter(m, side ? "ProviderDetachClient" : "ClientDetachProvider");
    binding_enter(b, 1 + side, "detach");
    if (atomic_fetch_add(&b->detach_calls[side], 1) != 0)
        FAIL("detach of side %d of binding %p called twice (R13)", side, b->handle);
    if (side == 1 && atomic_load(&b->detach_calls[0]) == 0 &&
        !atomic_load(&b->half_done[0]))
        FAIL("provider detach before client detach (R13)");
    atomic_fetch_add(&g_detaches, 1);
    if (m->nested && rnd(4) == 0)
        nested_call(m);
    NTSTATUS s;
    switch (m->detach_mode) {
    case DET_PENDING:
        push_pending(b, side);
        s = STATUS_PENDING;
        break;
    case DET_INSIDE: /* R15: cleanups must wait until we have returned */
        complete_half(b, side);
        s = STATUS_PENDING;
        break;
    case DET_BAD:
        atomic_store(&b->half_done[side], 1);
        atomic_fetch_add(&g_misuse_expected, 1);
        s = STATUS_NOINTERFACE; /* R14: treated as SUCCESS, reported */
        break;
    default:
        atomic_store(&b->half_done[side], 1);
        s = STATUS_SUCCESS;
    }
    binding_leave(b);
    module_leave(m);
    return s;
}

static NTSTATUS client_detach(PVOID ctx) { return detach_common(ctx, 0); }
static NTSTATUS provider_detach(PVOID ctx) { return detach_common(ctx, 1); }

static void cleanup_common(binding_rec *b, int side)
{
    module *m = side ? b->provider : b->client;
    module_enter(m, "cleanup");
    if (atomic_load(&b->busy) != 0)
        FAIL("cleanup of binding %p while another of its callbacks runs (R16)",
             b->handle);
    binding_enter(b, 3, "cleanup");
    if (!atomic_load(&b->half_done[0]) || !atomic_load(&b->half_done[1]))
        FAIL("cleanup of binding %p before both halves completed (R16)", b->handle);
    int n = atomic_fetch_add(&b->cleanups, 1);
    if (n != side)
        FAIL("cleanups of binding %p out of order or repeated (R16)", b->handle);
    atomic_fetch_sub(&m->obligations, 1);
    binding_leave(b);
    module_leave(m);
    if (side == 1)
        free(b); /* last callback of the binding */
}

static void client_cleanup(PVOID ctx) { cleanup_common(ctx, 0); }
static void provider_cleanup(PVOID ctx) { cleanup_common(ctx, 1); }

/* ---- operations ------------------------------------------------------------ */

static void do_register(module *m)
{
    NTSTATUS s = m->is_client ? NmrRegisterClient(&m->cc, m, &m->handle)
                              : NmrRegisterProvider(&m->pc, m, &m->handle);
    if (s != STATUS_SUCCESS)
        FAIL("register returned 0x%08x", (unsigned)s);
}

static void do_deregister(module *m)
{
    atomic_fetch_add(&m->dereg_calls, 1);
    NTSTATUS s = m->is_client ? NmrDeregisterClient(m->handle)
                              : NmrDeregisterProvider(m->handle);
    if (s == STATUS_PENDING) {
        if (atomic_fetch_add(&m->dereg_pending, 1) != 0)
            FAIL("module %u deregistered twice with STATUS_PENDING (R21)", m->serial);
    } else if (s != STATUS_INVALID_DEVICE_STATE) {
        FAIL("deregister of module %u returned 0x%08x (R12, R21); waited %d, "
             "pending %d, calls %d, handle %p",
             m->serial, (unsigned)s, atomic_load(&m->waited),
             atomic_load(&m->dereg_pending), atomic_load(&m->dereg_calls), m->handle);
    }
}

static void do_wait(thread_state *t, module *m)
{
    drain_pending(-1); /* our own pending halves must not wait on us */
    NTSTATUS s = m->is_client ? NmrWaitForClientDeregisterComplete(m->handle)
                              : NmrWaitForProviderDeregisterComplete(m->handle);
    if (s != STATUS_SUCCESS)
        FAIL("wait for module %u returned 0x%08x (R18)", m->serial, (unsigned)s);
    atomic_store(&m->waited, 1);
    if (atomic_load(&m->in_callbacks) != 0)
        FAIL("module %u has a callback running after its wait (R18)", m->serial);
    if (atomic_load(&m->obligations) != 0)
        FAIL("module %u waited with %d bindings not cleaned up (R18)", m->serial,
             atomic_load(&m->obligations));
    if (t->n_stale < 16) {
        t->stale[t->n_stale] = m->handle;
        t->stale_kind[t->n_stale++] = !m->is_client;
    } else {
        int k = (int)rnd(16);
        t->stale[k] = m->handle;
        t->stale_kind[k] = !m->is_client;
    }
    for (int i = 0; i < t->n_owned; i++)
        if (t->owned[i] == m) {
            t->owned[i] = t->owned[--t->n_owned];
            break;
        }
    free(m); /* the module may be unloaded now */
}

/* Stale handles must be refused everywhere (R19, R26, R28). */
static void do_misuse(thread_state *t)
{
    if (t->n_stale == 0)
        return;
    int k = (int)rnd((uint32_t)t->n_stale);
    HANDLE h = t->stale[k];
    NTSTATUS s;
    switch (rnd(5)) {
    case 0:
        s = t->stale_kind[k] ? NmrDeregisterProvider(h) : NmrDeregisterClient(h);
        break;
    case 1:
        s = t->stale_kind[k] ? NmrWaitForProviderDeregisterComplete(h)
                             : NmrWaitForClientDeregisterComplete(h);
        break;
    case 2: /* wrong kind */
        s = t->stale_kind[k] ? NmrDeregisterClient(h) : NmrDeregisterProvider(h);
        break;
    case 3: {
        PVOID a;
        const VOID *d;
        s = NmrClientAttachProvider(h, NULL, NULL, &a, &d);
        break;
    }
    default:
        atomic_fetch_add(&g_misuse_expected, 1);
        NmrClientDetachProviderComplete(h);
        s = STATUS_INVALID_PARAMETER;
    }
    if (s != STATUS_INVALID_PARAMETER)
        FAIL("stale handle %p accepted: 0x%08x (R26)", h, (unsigned)s);
}

static void *worker(void *arg)
{
    thread_state *t = arg;
    me = t;
    rng_state = t->seed;
    while (!atomic_load(&g_stop)) {
        atomic_fetch_add(&g_ops, 1);
        uint32_t op = rnd(100);
        if (op < 30 && t->n_owned < MAX_OWNED) {
            module *m = module_new((int)rnd(2));
            t->owned[t->n_owned++] = m;
            do_register(m);
        } else if (op < 55 && t->n_owned > 0) {
            module *m = t->owned[rnd((uint32_t)t->n_owned)];
            if (atomic_load(&m->dereg_pending) == 0 || rnd(8) == 0)
                do_deregister(m);
        } else if (op < 75 && t->n_owned > 0) {
            module *m = t->owned[rnd((uint32_t)t->n_owned)];
            if (atomic_load(&m->dereg_pending))
                do_wait(t, m);
        } else if (op < 95) {
            drain_pending((int)rnd(4) + 1);
        } else {
            do_misuse(t);
        }
    }
    /* Tear down everything this thread owns. */
    while (t->n_owned > 0) {
        module *m = t->owned[t->n_owned - 1];
        if (!atomic_load(&m->dereg_pending))
            do_deregister(m); /* (a nested call may add modules) */
        do_wait(t, m);
    }
    drain_pending(-1); /* nothing we started may be left for others */
    me = NULL;
    return NULL;
}

static atomic_ullong g_misuse_seen;

static void misuse_hook(void *ctx, nmr_misuse_kind kind, const char *msg)
{
    (void)ctx;
    (void)kind;
    (void)msg;
    atomic_fetch_add(&g_misuse_seen, 1);
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process. ---- */

/* The model-based stress run (NMR_STRESS_SECONDS, NMR_STRESS_SEED). */
static void t_model_stress(void)
{
    const char *env = getenv("NMR_STRESS_SEED");
    g_seed = env ? strtoull(env, NULL, 0) : (unsigned long long)time(NULL);
    env = getenv("NMR_STRESS_SECONDS");
    double seconds = env ? atof(env) : 2.0;
    fprintf(stderr, "test_mt_stress: seed %llu, %.1f s, %d threads, %d NPIs\n",
            g_seed, seconds, THREADS, NPIS);

    nmr_diag_set_hook(misuse_hook, NULL, NULL);
    long live0 = nmr_alloc_live();
    unsigned long handles0 = nmr_handles_in_use();

    pthread_t th[THREADS];
    thread_state ts[THREADS];
    memset(ts, 0, sizeof ts);
    for (int i = 0; i < THREADS; i++) {
        ts[i].index = i;
        ts[i].seed = g_seed * 0x9E3779B97F4A7C15ull + (uint64_t)i * 7919 + 1;
        pthread_create(&th[i], NULL, worker, &ts[i]);
    }
    /* Meanwhile, check the registrar's invariants while it churns. */
    struct timespec start, now, tick = {0, 5 * 1000 * 1000};
    clock_gettime(CLOCK_MONOTONIC, &start);
    unsigned long checks = 0;
    char why[256];
    do {
        nanosleep(&tick, NULL);
        if (nmr_check_invariants(why, sizeof why) != 0)
            FAIL("invariants during the run: %s", why);
        checks++;
        clock_gettime(CLOCK_MONOTONIC, &now);
    } while ((double)(now.tv_sec - start.tv_sec) +
                 (double)(now.tv_nsec - start.tv_nsec) * 1e-9 < seconds);
    atomic_store(&g_stop, 1);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    drain_pending(-1);

    if (nmr_check_invariants(why, sizeof why) != 0)
        FAIL("invariants: %s", why);
    if (pend_n != 0)
        FAIL("%zu halves still pending after teardown", pend_n);
    if (nmr_alloc_live() != live0)
        FAIL("%ld allocations left (R31)", nmr_alloc_live() - live0);
    if (nmr_handles_in_use() != handles0)
        FAIL("%lu handle slots left", nmr_handles_in_use() - handles0);
    if (atomic_load(&g_misuse_seen) < atomic_load(&g_misuse_expected))
        FAIL("misuse reports %llu < expected %llu (R30)",
             (unsigned long long)atomic_load(&g_misuse_seen),
             (unsigned long long)atomic_load(&g_misuse_expected));
    if (atomic_load(&g_bindings) == 0 || atomic_load(&g_detaches) == 0)
        FAIL("the run bound nothing: the test did not test");

    fprintf(stderr,
            "test_mt_stress: %llu ops (%.0f/s), %llu offers, %llu bindings, "
            "%llu detach calls, %llu completions, %llu nested calls, "
            "%llu deadlock checks, %llu misuse reports, %lu invariant checks\n",
            (unsigned long long)g_ops, (double)g_ops / seconds,
            (unsigned long long)g_offers, (unsigned long long)g_bindings,
            (unsigned long long)g_detaches, (unsigned long long)g_completes,
            (unsigned long long)g_nested, (unsigned long long)g_deadlock_checks,
            (unsigned long long)atomic_load(&g_misuse_seen), checks);
    for (int i = 0; i < PAIR_BUCKETS; i++)
        while (pairs[i]) {
            pair_node *n = pairs[i];
            pairs[i] = n->next;
            free(n);
        }
    free(pend);
    nmr_diag_set_hook(NULL, NULL, NULL);
}

static const nmr_test_case cases[] = {
    CASE(t_model_stress, "R5 R6 R10 R12 R13 R14 R15 R16 R18 R20 R21 R22 R23 R26"),
};

NMR_TEST_SUITE(test_mt_stress, cases, NULL, NULL, NULL);
