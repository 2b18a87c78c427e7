/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - header-only test scaffolding: configurable fake NMR client and
 * provider modules that record every callback into one event log.
 *
 * Include it once per test program (it defines static state).  Everything
 * is `static` + unused-tolerant, so a program may use any subset.  The log
 * and the counters are thread-safe (mutex / C11 atomics); the knobs of a
 * module are plain fields: set them before registering, or while no
 * callback of that module can run.
 *
 * ---- API ---------------------------------------------------------------
 *
 *   GUID fx_guid(uint32_t n);           NPI id with Data1 = n (fixed rest)
 *
 *   fx_module *fx_client(const GUID *npi);    new client, default knobs
 *   fx_module *fx_provider(const GUID *npi);  new provider, default knobs
 *      The module keeps its own copy of the NPI id (so NpiId pointers of
 *      two modules always differ, R4), its own NPI_MODULEID (GUID with
 *      Data1 = serial), Number = serial, and its characteristics in
 *      m->cc (client) / m->pc (provider); tests may edit them before
 *      registering (e.g. R1).  The registration context is the module.
 *      Modules live until fx_reset().
 *
 *   NTSTATUS fx_register(m)    Nmr{Register}{Client,Provider}(chars, m,
 *                              &m->handle)
 *   NTSTATUS fx_register_in(reg, m)  the same in registrar reg (_ex calls)
 *   NTSTATUS fx_deregister(m)  Nmr{Deregister}...(m->handle)
 *   NTSTATUS fx_wait(m)        NmrWaitFor...DeregisterComplete(m->handle)
 *   void fx_complete(fx_side *s)  Nmr{Client,Provider}Detach...Complete(
 *                              s->binding); counts s->completions.
 *   int fx_complete_pending(m) completes every side of m whose detach
 *                              returned PENDING and was not yet completed
 *                              by the fixture; returns how many.  Safe to
 *                              call from several threads at once (each
 *                              half is completed by exactly one of them).
 *   const NPI_REGISTRATION_INSTANCE *fx_reginst(m)   m's own instance.
 *
 * Knobs (fields of fx_module):
 *   attach_mode   FX_ACCEPT (default), FX_DECLINE (return attach_status
 *                 without attaching), FX_FAIL_AFTER_ATTACH (client only:
 *                 NmrClientAttachProvider succeeds, then return
 *                 attach_status), FX_SUCCESS_NO_ATTACH (client only: return
 *                 STATUS_SUCCESS without NmrClientAttachProvider).
 *   attach_status status returned by FX_DECLINE / FX_FAIL_AFTER_ATTACH
 *                 (default STATUS_NOINTERFACE).
 *   attach_tries  client: how many times NmrClientAttachProvider may be
 *                 called in one offer until it succeeds (default 1, R9).
 *   decline_first provider: decline the first N ProviderAttachClient calls
 *                 of each offer with attach_status (R9); default 0.
 *   detach_mode   FX_DET_SUCCESS (default), FX_DET_PENDING (complete later
 *                 with fx_complete / fx_complete_pending),
 *                 FX_DET_COMPLETE_INSIDE (complete from inside, then return
 *                 PENDING, R15), FX_DET_COMPLETE_INSIDE_SUCCESS (complete
 *                 from inside, then return SUCCESS), FX_DET_OTHER (return
 *                 detach_status, R14).
 *   detach_status value returned by FX_DET_OTHER.
 *   hook, hook_arg  optional fx_hook_fn called in every callback of m:
 *                 phase FX_PRE at entry (before the default action), and
 *                 for client attach also FX_POST after the
 *                 NmrClientAttachProvider loop (side->nmr_attach_status set).
 *                 Use it for nested calls (R22) and waits from callbacks.
 *                 The hook may set side->override / side->override_status
 *                 to make the callback return override_status right after
 *                 the hook (for attach at FX_PRE, no NmrClientAttachProvider
 *                 is made then).
 *   Call fx_set_cleanup(m, 0) to register with a NULL cleanup callback.
 *
 * What is recorded:
 *   fx_event log: fx_log_len(), fx_log_at(i) -> fx_event {type, module,
 *     peer (module owning the registration instance the callback received,
 *     NULL if it was not one of ours: R3), side, binding, handle_seen
 *     (m->handle at callback entry, R7), thread, status (attach: return
 *     value; client attach: also side->nmr_attach_status)}.
 *   fx_count(type, m, peer)  number of events of a type (m / peer NULL = any)
 *   fx_index(type, m, peer, nth) log index of the nth (0-based) such event,
 *     or -1.
 *   Per side (fx_side, the binding context the fixture hands to the NMR):
 *     module, peer, other (the peer's fx_side), binding, is_client,
 *     attached, detach_calls, cleanup_calls, pending, completions,
 *     nmr_attach_calls, nmr_attach_status.
 *   m->sides: list (newest first, via ->next) of every side of m.
 *   fx_errors(): number of inconsistencies the fixture saw itself (wrong
 *     context, registration instance not the peer's own (R3), binding
 *     context or dispatch mismatch, callback on a side after its cleanup,
 *     detach or cleanup twice on a side (R13, R16), two callbacks of one
 *     side at once (R23), a cleanup while a callback of either side runs,
 *     before ProviderDetachClient, or before a PENDING half was completed
 *     through fx_complete (R16), detach/cleanup of an unknown context).
 *     Tests should CHECK_EQ(fx_errors(), 0); fx_last_error() says what it
 *     was (also printed to stderr when it happens).
 *     NOTE: complete PENDING halves through fx_complete/fx_complete_pending
 *     (not by calling Nmr*DetachComplete directly), or the cleanup check
 *     reports "cleanup before a pending half completed".
 *
 *   Misuse capture (R30): fx_diag_capture() installs a counting hook (quiet
 *   stderr); fx_diag_release() restores the previous hook.
 *   fx_misuse(kind) reports of a kind seen by the hook; fx_misuse_total().
 *   fx_last_misuse_msg().
 *
 *   fx_reset(): frees every module and side and clears the log and error
 *   count.  Call only when every registration has been waited for.
 */
#ifndef NMR_TEST_FIXTURE_H
#define NMR_TEST_FIXTURE_H

#include <netioddk.h>
#include <nmr/diag.h>
#include <nmr/registrar.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_UNUSED __attribute__((unused))

typedef enum fx_ev_type {
    FX_EV_CLIENT_ATTACH = 1,
    FX_EV_PROVIDER_ATTACH,
    FX_EV_CLIENT_DETACH,
    FX_EV_PROVIDER_DETACH,
    FX_EV_CLIENT_CLEANUP,
    FX_EV_PROVIDER_CLEANUP
} fx_ev_type;

enum { FX_PRE = 0, FX_POST = 1 };

enum {
    FX_ACCEPT = 0,
    FX_DECLINE,
    FX_FAIL_AFTER_ATTACH,
    FX_SUCCESS_NO_ATTACH
};

enum {
    FX_DET_SUCCESS = 0,
    FX_DET_PENDING,
    FX_DET_COMPLETE_INSIDE,
    FX_DET_COMPLETE_INSIDE_SUCCESS,
    FX_DET_OTHER
};

typedef struct fx_module fx_module;
typedef struct fx_side fx_side;

typedef void fx_hook_fn(fx_module *m, fx_ev_type type, int phase,
                        fx_side *side, void *arg);

#define FX_SIDE_MAGIC 0x51de51deu

struct fx_side {
    unsigned magic;
    fx_module *module;
    fx_module *peer;
    fx_side *other;          /* the peer's side (binding context) */
    HANDLE binding;
    int is_client;
    atomic_int attached;     /* client: NmrClientAttachProvider succeeded;
                                provider: accepted */
    atomic_int detach_calls;
    atomic_int cleanup_calls;
    atomic_int pending;      /* detach returned/announced PENDING */
    atomic_int completions;  /* fx_complete calls on this side */
    atomic_int complete_claimed; /* fx_complete done or claimed */
    atomic_int in_callback;
    int nmr_attach_calls;    /* client: NmrClientAttachProvider calls */
    NTSTATUS nmr_attach_status;
    int provider_attach_calls; /* provider side: ProviderAttachClient calls
                                  for this offer (counted on client side) */
    int override;
    NTSTATUS override_status;
    fx_side *next;
};

struct fx_module {
    int is_client;
    int serial;
    GUID npi;
    NPI_MODULEID modid;
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    HANDLE handle;
    int dispatch[4]; /* &dispatch is this module's dispatch table */

    /* knobs */
    int attach_mode;
    NTSTATUS attach_status;
    int attach_tries;
    int decline_first;
    int detach_mode;
    NTSTATUS detach_status;
    fx_hook_fn *hook;
    void *hook_arg;

    /* counters */
    atomic_int n_attach, n_detach, n_cleanup;

    pthread_mutex_t lock; /* protects sides list head */
    fx_side *sides;
    fx_module *next_all;
};

typedef struct fx_event {
    fx_ev_type type;
    fx_module *module;
    fx_module *peer;
    fx_side *side;
    HANDLE binding;
    HANDLE handle_seen;
    pthread_t thread;
    NTSTATUS status;
} fx_event;

#define FX_LOG_CAP 65536

static pthread_mutex_t fx_lock FX_UNUSED = PTHREAD_MUTEX_INITIALIZER;
static fx_event fx_log[FX_LOG_CAP] FX_UNUSED;
static atomic_int fx_log_n FX_UNUSED;
static fx_module *fx_all FX_UNUSED;
static int fx_serial FX_UNUSED;
static atomic_int fx_err_n FX_UNUSED;
static char fx_err_msg[256] FX_UNUSED;

static atomic_ullong fx_misuse_kind_n[8] FX_UNUSED;
static char fx_misuse_msg[512] FX_UNUSED;
static nmr_misuse_hook_fn *fx_old_hook FX_UNUSED;
static void *fx_old_hook_ctx FX_UNUSED;

/* ---- small helpers ---------------------------------------------------- */

static inline GUID fx_guid(uint32_t n)
{
    GUID g = {n, 0x1234, 0x5678, {0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4}};
    return g;
}

static inline void fx_error(const char *what)
{
    atomic_fetch_add(&fx_err_n, 1);
    pthread_mutex_lock(&fx_lock);
    snprintf(fx_err_msg, sizeof(fx_err_msg), "%s", what);
    pthread_mutex_unlock(&fx_lock);
    fprintf(stderr, "fixture: %s\n", what);
}

static inline int fx_errors(void) { return atomic_load(&fx_err_n); }
static inline const char *fx_last_error(void) { return fx_err_msg; }

static inline int fx_log_len(void)
{
    int n = atomic_load(&fx_log_n);
    return n < FX_LOG_CAP ? n : FX_LOG_CAP;
}

static inline const fx_event *fx_log_at(int i) { return &fx_log[i]; }

static inline fx_event *fx_record(fx_ev_type type, fx_module *m,
                                  fx_module *peer, fx_side *s, HANDLE b)
{
    int i = atomic_fetch_add(&fx_log_n, 1);
    if (i >= FX_LOG_CAP)
        return NULL;
    fx_event *e = &fx_log[i];
    e->type = type;
    e->module = m;
    e->peer = peer;
    e->side = s;
    e->binding = b;
    e->handle_seen = m ? m->handle : NULL;
    e->thread = pthread_self();
    e->status = 0;
    return e;
}

static inline int fx_count(fx_ev_type type, const fx_module *m,
                           const fx_module *peer)
{
    int n = 0, len = fx_log_len();
    for (int i = 0; i < len; i++) {
        const fx_event *e = &fx_log[i];
        if (e->type == type && (m == NULL || e->module == m) &&
            (peer == NULL || e->peer == peer))
            n++;
    }
    return n;
}

static inline int fx_index(fx_ev_type type, const fx_module *m,
                           const fx_module *peer, int nth)
{
    int len = fx_log_len();
    for (int i = 0; i < len; i++) {
        const fx_event *e = &fx_log[i];
        if (e->type == type && (m == NULL || e->module == m) &&
            (peer == NULL || e->peer == peer)) {
            if (nth-- == 0)
                return i;
        }
    }
    return -1;
}

/* The module whose registration instance this is, or NULL. */
static inline fx_module *fx_owner_of(PNPI_REGISTRATION_INSTANCE ri)
{
    pthread_mutex_lock(&fx_lock);
    fx_module *m = fx_all;
    for (; m != NULL; m = m->next_all) {
        if (ri == &m->cc.ClientRegistrationInstance ||
            ri == &m->pc.ProviderRegistrationInstance)
            break;
    }
    pthread_mutex_unlock(&fx_lock);
    return m;
}

static inline const NPI_REGISTRATION_INSTANCE *fx_reginst(const fx_module *m)
{
    return m->is_client ? &m->cc.ClientRegistrationInstance
                        : &m->pc.ProviderRegistrationInstance;
}

static inline fx_side *fx_side_new(fx_module *m, fx_module *peer, HANDLE b)
{
    fx_side *s = (fx_side *)calloc(1, sizeof(*s));
    if (s == NULL) {
        fprintf(stderr, "fixture: out of memory\n");
        abort();
    }
    s->magic = FX_SIDE_MAGIC;
    s->module = m;
    s->peer = peer;
    s->binding = b;
    s->is_client = m->is_client;
    pthread_mutex_lock(&m->lock);
    s->next = m->sides;
    m->sides = s;
    pthread_mutex_unlock(&m->lock);
    return s;
}

static inline fx_side *fx_side_check(void *ctx, int is_client, const char *cb)
{
    fx_side *s = (fx_side *)ctx;
    char buf[160];
    if (s == NULL || s->magic != FX_SIDE_MAGIC || s->is_client != is_client) {
        snprintf(buf, sizeof(buf), "%s: unknown binding context %p", cb, ctx);
        fx_error(buf);
        return NULL;
    }
    if (atomic_load(&s->cleanup_calls) != 0) {
        snprintf(buf, sizeof(buf), "%s: callback after cleanup on side %p",
                 cb, ctx);
        fx_error(buf);
    }
    if (atomic_fetch_add(&s->in_callback, 1) != 0) {
        snprintf(buf, sizeof(buf), "%s: two callbacks of one side at once", cb);
        fx_error(buf);
    }
    return s;
}

static inline void fx_call_hook(fx_module *m, fx_ev_type t, int phase,
                                fx_side *s)
{
    if (m->hook != NULL)
        m->hook(m, t, phase, s, m->hook_arg);
}

static inline void fx_complete(fx_side *s)
{
    atomic_store(&s->complete_claimed, 1);
    atomic_fetch_add(&s->completions, 1);
    if (s->is_client)
        NmrClientDetachProviderComplete(s->binding);
    else
        NmrProviderDetachClientComplete(s->binding);
}

static inline int fx_complete_pending(fx_module *m)
{
    int n = 0;
    pthread_mutex_lock(&m->lock);
    fx_side *s = m->sides;
    pthread_mutex_unlock(&m->lock);
    for (; s != NULL; s = s->next) {
        /* claim first, so two threads never complete one half twice */
        if (atomic_load(&s->pending) &&
            atomic_exchange(&s->complete_claimed, 1) == 0) {
            fx_complete(s);
            n++;
        }
    }
    return n;
}

/* ---- the callbacks ---------------------------------------------------- */

static inline NTSTATUS fx_cb_client_attach(HANDLE b, PVOID ctx,
                                           PNPI_REGISTRATION_INSTANCE pri)
{
    fx_module *m = (fx_module *)ctx;
    if (m == NULL || !m->is_client) {
        fx_error("ClientAttachProvider: wrong client context");
        return STATUS_NOINTERFACE;
    }
    atomic_fetch_add(&m->n_attach, 1);
    fx_module *peer = fx_owner_of(pri);
    if (peer == NULL)
        fx_error("ClientAttachProvider: registration instance is not a "
                 "provider's own (R3)");
    fx_side *s = fx_side_new(m, peer, b);
    atomic_store(&s->in_callback, 1);
    fx_event *e = fx_record(FX_EV_CLIENT_ATTACH, m, peer, s, b);
    NTSTATUS ret;

    fx_call_hook(m, FX_EV_CLIENT_ATTACH, FX_PRE, s);
    if (s->override) {
        ret = s->override_status;
        goto out;
    }
    switch (m->attach_mode) {
    case FX_DECLINE:
        ret = m->attach_status;
        goto out;
    case FX_SUCCESS_NO_ATTACH:
        ret = STATUS_SUCCESS;
        goto out;
    default:
        break;
    }
    {
        int tries = m->attach_tries > 0 ? m->attach_tries : 1;
        NTSTATUS st = STATUS_NOINTERFACE;
        for (int i = 0; i < tries; i++) {
            PVOID pbc = NULL;
            const VOID *pd = NULL;
            s->nmr_attach_calls++;
            st = NmrClientAttachProvider(b, s, &m->dispatch, &pbc, &pd);
            s->nmr_attach_status = st;
            if (st == STATUS_SUCCESS) {
                fx_side *ps = (fx_side *)pbc;
                if (ps == NULL || ps->magic != FX_SIDE_MAGIC || ps->is_client)
                    fx_error("NmrClientAttachProvider: bad provider binding "
                             "context");
                else if (ps->other != s)
                    fx_error("NmrClientAttachProvider: provider context "
                             "belongs to another binding");
                s->other = ps;
                if (peer != NULL && pd != (const VOID *)&peer->dispatch)
                    fx_error("NmrClientAttachProvider: provider dispatch "
                             "mismatch");
                atomic_store(&s->attached, 1);
                break;
            }
        }
        fx_call_hook(m, FX_EV_CLIENT_ATTACH, FX_POST, s);
        if (s->override) {
            ret = s->override_status;
            goto out;
        }
        if (st == STATUS_SUCCESS && m->attach_mode == FX_FAIL_AFTER_ATTACH)
            ret = m->attach_status;
        else
            ret = st;
    }
out:
    if (e != NULL)
        e->status = ret;
    atomic_store(&s->in_callback, 0);
    return ret;
}

static inline NTSTATUS fx_cb_provider_attach(
    HANDLE b, PVOID ctx, PNPI_REGISTRATION_INSTANCE cri, PVOID cbc,
    const VOID *cdisp, PVOID *pbc, const VOID **pdisp)
{
    fx_module *m = (fx_module *)ctx;
    if (m == NULL || m->is_client) {
        fx_error("ProviderAttachClient: wrong provider context");
        return STATUS_NOINTERFACE;
    }
    atomic_fetch_add(&m->n_attach, 1);
    fx_module *peer = fx_owner_of(cri);
    if (peer == NULL)
        fx_error("ProviderAttachClient: registration instance is not a "
                 "client's own (R3)");
    fx_side *cs = (fx_side *)cbc;
    if (cs == NULL || cs->magic != FX_SIDE_MAGIC || !cs->is_client) {
        fx_error("ProviderAttachClient: bad client binding context");
        cs = NULL;
    } else if (cs->binding != b) {
        fx_error("ProviderAttachClient: binding handle differs from the "
                 "client's");
    }
    if (peer != NULL && cdisp != (const VOID *)&peer->dispatch)
        fx_error("ProviderAttachClient: client dispatch mismatch");
    fx_side *s = fx_side_new(m, peer, b);
    s->other = cs;
    atomic_store(&s->in_callback, 1);
    fx_event *e = fx_record(FX_EV_PROVIDER_ATTACH, m, peer, s, b);
    NTSTATUS ret;
    int n = 0;
    if (cs != NULL)
        n = ++cs->provider_attach_calls;

    fx_call_hook(m, FX_EV_PROVIDER_ATTACH, FX_PRE, s);
    if (s->override)
        ret = s->override_status;
    else if (m->attach_mode == FX_DECLINE || n <= m->decline_first)
        ret = m->attach_status;
    else {
        *pbc = s;
        *pdisp = &m->dispatch;
        atomic_store(&s->attached, 1);
        ret = STATUS_SUCCESS;
    }
    if (e != NULL)
        e->status = ret;
    atomic_store(&s->in_callback, 0);
    return ret;
}

static inline NTSTATUS fx_detach_common(void *ctx, int is_client)
{
    fx_ev_type t = is_client ? FX_EV_CLIENT_DETACH : FX_EV_PROVIDER_DETACH;
    fx_side *s = fx_side_check(ctx, is_client,
                               is_client ? "ClientDetachProvider"
                                         : "ProviderDetachClient");
    if (s == NULL)
        return STATUS_SUCCESS;
    fx_module *m = s->module;
    atomic_fetch_add(&m->n_detach, 1);
    if (atomic_fetch_add(&s->detach_calls, 1) != 0)
        fx_error("detach called twice on one side (R13)");
    fx_event *e = fx_record(t, m, s->peer, s, s->binding);
    NTSTATUS ret;
    fx_call_hook(m, t, FX_PRE, s);
    if (s->override) {
        ret = s->override_status;
        if (ret == STATUS_PENDING)
            atomic_store(&s->pending, 1);
    } else {
        switch (m->detach_mode) {
        case FX_DET_PENDING:
            atomic_store(&s->pending, 1);
            ret = STATUS_PENDING;
            break;
        case FX_DET_COMPLETE_INSIDE:
            atomic_store(&s->pending, 1);
            fx_complete(s);
            ret = STATUS_PENDING;
            break;
        case FX_DET_COMPLETE_INSIDE_SUCCESS:
            fx_complete(s);
            ret = STATUS_SUCCESS;
            break;
        case FX_DET_OTHER:
            ret = m->detach_status;
            break;
        default:
            ret = STATUS_SUCCESS;
            break;
        }
    }
    if (e != NULL)
        e->status = ret;
    atomic_fetch_sub(&s->in_callback, 1);
    return ret;
}

static inline NTSTATUS fx_cb_client_detach(PVOID ctx)
{
    return fx_detach_common(ctx, 1);
}

static inline NTSTATUS fx_cb_provider_detach(PVOID ctx)
{
    return fx_detach_common(ctx, 0);
}

static inline void fx_cleanup_common(void *ctx, int is_client)
{
    fx_ev_type t = is_client ? FX_EV_CLIENT_CLEANUP : FX_EV_PROVIDER_CLEANUP;
    fx_side *s = (fx_side *)ctx;
    if (s == NULL || s->magic != FX_SIDE_MAGIC || s->is_client != is_client) {
        fx_error("cleanup: unknown binding context");
        return;
    }
    if (atomic_fetch_add(&s->in_callback, 1) != 0)
        fx_error("cleanup: while another callback of the side runs (R16)");
    if (s->other != NULL && atomic_load(&s->other->in_callback) != 0)
        fx_error("cleanup: while a callback of the peer side runs (R16)");
    {
        fx_side *both[2] = {s, s->other};
        for (int i = 0; i < 2; i++) {
            fx_side *x = both[i];
            if (x == NULL)
                continue;
            if (!x->is_client && atomic_load(&x->detach_calls) == 0)
                fx_error("cleanup before ProviderDetachClient (R16)");
            if (atomic_load(&x->pending) && atomic_load(&x->completions) == 0)
                fx_error("cleanup before a pending half completed (R16)");
        }
    }
    fx_module *m = s->module;
    atomic_fetch_add(&m->n_cleanup, 1);
    fx_record(t, m, s->peer, s, s->binding);
    fx_call_hook(m, t, FX_PRE, s);
    if (atomic_fetch_add(&s->cleanup_calls, 1) != 0)
        fx_error("cleanup called twice on one side (R16)");
    atomic_fetch_sub(&s->in_callback, 1);
}

static inline void fx_cb_client_cleanup(PVOID ctx) { fx_cleanup_common(ctx, 1); }
static inline void fx_cb_provider_cleanup(PVOID ctx) { fx_cleanup_common(ctx, 0); }

/* ---- modules ----------------------------------------------------------- */

static inline fx_module *fx_module_new(const GUID *npi, int is_client)
{
    fx_module *m = (fx_module *)calloc(1, sizeof(*m));
    if (m == NULL) {
        fprintf(stderr, "fixture: out of memory\n");
        abort();
    }
    pthread_mutex_init(&m->lock, NULL);
    m->is_client = is_client;
    m->npi = *npi;
    m->attach_status = STATUS_NOINTERFACE;
    m->attach_tries = 1;
    m->detach_status = STATUS_NOINTERFACE;
    pthread_mutex_lock(&fx_lock);
    m->serial = ++fx_serial;
    m->next_all = fx_all;
    fx_all = m;
    pthread_mutex_unlock(&fx_lock);
    m->modid.Length = sizeof(NPI_MODULEID);
    m->modid.Type = MIT_GUID;
    m->modid.Guid = fx_guid(0xabc00000u + (uint32_t)m->serial);

    NPI_REGISTRATION_INSTANCE ri;
    memset(&ri, 0, sizeof(ri));
    ri.Version = 0;
    ri.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    ri.NpiId = &m->npi;
    ri.ModuleId = &m->modid;
    ri.Number = (ULONG)m->serial;
    ri.NpiSpecificCharacteristics = NULL;

    m->cc.Version = 0;
    m->cc.Length = sizeof(NPI_CLIENT_CHARACTERISTICS);
    m->cc.ClientAttachProvider = fx_cb_client_attach;
    m->cc.ClientDetachProvider = fx_cb_client_detach;
    m->cc.ClientCleanupBindingContext = fx_cb_client_cleanup;
    m->cc.ClientRegistrationInstance = ri;

    m->pc.Version = 0;
    m->pc.Length = sizeof(NPI_PROVIDER_CHARACTERISTICS);
    m->pc.ProviderAttachClient = fx_cb_provider_attach;
    m->pc.ProviderDetachClient = fx_cb_provider_detach;
    m->pc.ProviderCleanupBindingContext = fx_cb_provider_cleanup;
    m->pc.ProviderRegistrationInstance = ri;
    return m;
}

static inline fx_module *fx_client(const GUID *npi)
{
    return fx_module_new(npi, 1);
}

static inline fx_module *fx_provider(const GUID *npi)
{
    return fx_module_new(npi, 0);
}

static inline void fx_set_cleanup(fx_module *m, int on)
{
    m->cc.ClientCleanupBindingContext = on ? fx_cb_client_cleanup : NULL;
    m->pc.ProviderCleanupBindingContext = on ? fx_cb_provider_cleanup : NULL;
}

static inline NTSTATUS fx_register(fx_module *m)
{
    return m->is_client ? NmrRegisterClient(&m->cc, m, &m->handle)
                        : NmrRegisterProvider(&m->pc, m, &m->handle);
}

/* fx_register in a given registrar (nmr/registrar.h). */
static inline NTSTATUS fx_register_in(nmr_registrar *r, fx_module *m)
{
    return m->is_client ? nmr_register_client_ex(r, &m->cc, m, &m->handle)
                        : nmr_register_provider_ex(r, &m->pc, m, &m->handle);
}

static inline NTSTATUS fx_deregister(fx_module *m)
{
    return m->is_client ? NmrDeregisterClient(m->handle)
                        : NmrDeregisterProvider(m->handle);
}

static inline NTSTATUS fx_wait(fx_module *m)
{
    return m->is_client ? NmrWaitForClientDeregisterComplete(m->handle)
                        : NmrWaitForProviderDeregisterComplete(m->handle);
}

/* Sides of m that are attached, not yet cleaned up. */
static inline int fx_live_sides(fx_module *m)
{
    int n = 0;
    pthread_mutex_lock(&m->lock);
    fx_side *s = m->sides;
    pthread_mutex_unlock(&m->lock);
    for (; s != NULL; s = s->next)
        if (atomic_load(&s->attached) && atomic_load(&s->cleanup_calls) == 0)
            n++;
    return n;
}

static inline void fx_reset(void)
{
    pthread_mutex_lock(&fx_lock);
    fx_module *m = fx_all;
    fx_all = NULL;
    pthread_mutex_unlock(&fx_lock);
    while (m != NULL) {
        fx_module *next = m->next_all;
        fx_side *s = m->sides;
        while (s != NULL) {
            fx_side *sn = s->next;
            s->magic = 0;
            free(s);
            s = sn;
        }
        pthread_mutex_destroy(&m->lock);
        free(m);
        m = next;
    }
    atomic_store(&fx_log_n, 0);
    atomic_store(&fx_err_n, 0);
    fx_err_msg[0] = 0;
}

/* ---- misuse capture (R30) --------------------------------------------- */

static inline void fx_diag_hook(void *context, nmr_misuse_kind kind,
                                const char *message)
{
    (void)context;
    unsigned k = (unsigned)kind;
    if (k >= 8)
        k = 0;
    atomic_fetch_add(&fx_misuse_kind_n[k], 1);
    pthread_mutex_lock(&fx_lock);
    snprintf(fx_misuse_msg, sizeof(fx_misuse_msg), "%s",
             message ? message : "(null)");
    pthread_mutex_unlock(&fx_lock);
}

static inline void fx_diag_capture(void)
{
    fx_old_hook = nmr_diag_set_hook(fx_diag_hook, NULL, &fx_old_hook_ctx);
}

static inline void fx_diag_release(void)
{
    nmr_diag_set_hook(fx_old_hook, fx_old_hook_ctx, NULL);
}

static inline unsigned long long fx_misuse(nmr_misuse_kind kind)
{
    unsigned k = (unsigned)kind;
    return k < 8 ? atomic_load(&fx_misuse_kind_n[k]) : 0;
}

static inline unsigned long long fx_misuse_total(void)
{
    unsigned long long n = 0;
    for (int i = 0; i < 8; i++)
        n += atomic_load(&fx_misuse_kind_n[i]);
    return n;
}

static inline const char *fx_last_misuse_msg(void) { return fx_misuse_msg; }

#endif
