/* SPDX-License-Identifier: MIT */
/* fixture.c - the fake client and provider modules of tests/lib/fixture.h. */
#include "fixture.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_LOG_CAP 65536

static pthread_mutex_t fx_lock = PTHREAD_MUTEX_INITIALIZER;
static fx_event fx_log[FX_LOG_CAP];
static atomic_int fx_log_n;
static fx_module *fx_all;
static int fx_serial;
static atomic_int fx_err_n;
static char fx_err_msg[256];

static atomic_ullong fx_misuse_kind_n[8];
static char fx_misuse_msg[512];
static nmr_misuse_hook_fn *fx_old_hook;
static void *fx_old_hook_ctx;

/* ---- small helpers ---------------------------------------------------- */

GUID fx_guid(uint32_t n)
{
    GUID g = {n, 0x1234, 0x5678, {0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4}};
    return g;
}

static void fx_error(const char *what)
{
    atomic_fetch_add(&fx_err_n, 1);
    pthread_mutex_lock(&fx_lock);
    snprintf(fx_err_msg, sizeof(fx_err_msg), "%s", what);
    pthread_mutex_unlock(&fx_lock);
    fprintf(stderr, "fixture: %s\n", what);
}

int fx_errors(void) { return atomic_load(&fx_err_n); }
const char *fx_last_error(void) { return fx_err_msg; }

int fx_log_len(void)
{
    int n = atomic_load(&fx_log_n);
    return n < FX_LOG_CAP ? n : FX_LOG_CAP;
}

const fx_event *fx_log_at(int i) { return &fx_log[i]; }

static fx_event *fx_record(fx_ev_type type, fx_module *m,
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

int fx_count(fx_ev_type type, const fx_module *m,
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

int fx_index(fx_ev_type type, const fx_module *m,
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
static fx_module *fx_owner_of(PNPI_REGISTRATION_INSTANCE ri)
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

const NPI_REGISTRATION_INSTANCE *fx_reginst(const fx_module *m)
{
    return m->is_client ? &m->cc.ClientRegistrationInstance
                        : &m->pc.ProviderRegistrationInstance;
}

static fx_side *fx_side_new(fx_module *m, fx_module *peer, HANDLE b)
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

static fx_side *fx_side_check(void *ctx, int is_client, const char *cb)
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

static void fx_call_hook(fx_module *m, fx_ev_type t, int phase,
                         fx_side *s)
{
    if (m->hook != NULL)
        m->hook(m, t, phase, s, m->hook_arg);
}

void fx_complete(fx_side *s)
{
    atomic_store(&s->complete_claimed, 1);
    atomic_fetch_add(&s->completions, 1);
    if (s->is_client)
        NmrClientDetachProviderComplete(s->binding);
    else
        NmrProviderDetachClientComplete(s->binding);
}

int fx_complete_pending(fx_module *m)
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

static NTSTATUS fx_cb_client_attach(HANDLE b, PVOID ctx,
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

static NTSTATUS fx_cb_provider_attach(
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

static NTSTATUS fx_detach_common(void *ctx, int is_client)
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

static NTSTATUS fx_cb_client_detach(PVOID ctx)
{
    return fx_detach_common(ctx, 1);
}

static NTSTATUS fx_cb_provider_detach(PVOID ctx)
{
    return fx_detach_common(ctx, 0);
}

static void fx_cleanup_common(void *ctx, int is_client)
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

static void fx_cb_client_cleanup(PVOID ctx) { fx_cleanup_common(ctx, 1); }
static void fx_cb_provider_cleanup(PVOID ctx) { fx_cleanup_common(ctx, 0); }

/* ---- modules ----------------------------------------------------------- */

static fx_module *fx_module_new(const GUID *npi, int is_client)
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

fx_module *fx_client(const GUID *npi)
{
    return fx_module_new(npi, 1);
}

fx_module *fx_provider(const GUID *npi)
{
    return fx_module_new(npi, 0);
}

void fx_set_cleanup(fx_module *m, int on)
{
    m->cc.ClientCleanupBindingContext = on ? fx_cb_client_cleanup : NULL;
    m->pc.ProviderCleanupBindingContext = on ? fx_cb_provider_cleanup : NULL;
}

NTSTATUS fx_register(fx_module *m)
{
    return m->is_client ? NmrRegisterClient(&m->cc, m, &m->handle)
                        : NmrRegisterProvider(&m->pc, m, &m->handle);
}

/* fx_register in a given registrar (nmr/registrar.h). */
NTSTATUS fx_register_in(nmr_registrar *r, fx_module *m)
{
    return m->is_client ? nmr_register_client_ex(r, &m->cc, m, &m->handle)
                        : nmr_register_provider_ex(r, &m->pc, m, &m->handle);
}

NTSTATUS fx_deregister(fx_module *m)
{
    return m->is_client ? NmrDeregisterClient(m->handle)
                        : NmrDeregisterProvider(m->handle);
}

NTSTATUS fx_wait(fx_module *m)
{
    return m->is_client ? NmrWaitForClientDeregisterComplete(m->handle)
                        : NmrWaitForProviderDeregisterComplete(m->handle);
}

/* Sides of m that are attached, not yet cleaned up. */
int fx_live_sides(fx_module *m)
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

void fx_reset(void)
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

void fx_diag_hook(void *context, nmr_misuse_kind kind,
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

void fx_diag_capture(void)
{
    fx_old_hook = nmr_diag_set_hook(fx_diag_hook, NULL, &fx_old_hook_ctx);
}

void fx_diag_release(void)
{
    nmr_diag_set_hook(fx_old_hook, fx_old_hook_ctx, NULL);
}

unsigned long long fx_misuse(nmr_misuse_kind kind)
{
    unsigned k = (unsigned)kind;
    return k < 8 ? atomic_load(&fx_misuse_kind_n[k]) : 0;
}

unsigned long long fx_misuse_total(void)
{
    unsigned long long n = 0;
    for (int i = 0; i < 8; i++)
        n += atomic_load(&fx_misuse_kind_n[i]);
    return n;
}

const char *fx_last_misuse_msg(void) { return fx_misuse_msg; }

