/* SPDX-License-Identifier: MIT */
/*
 * echo_client_mod.c - a client of the echo NPI (../echo_npi.h) as a
 * loadable module (<nmr/module.h>): echo_client.so.  N worker threads call
 * the provider continuously and check every reply.
 *
 * Binding policy: attach to every provider offered; each call goes to the
 * newest usable one (highest NPI version, then the most recently attached).
 * When a provider detaches, its binding stops being usable first (under the
 * module lock), so the next call goes to another bound provider: make
 * before break, no failed call.  The calls already in flight on the
 * detaching binding finish: its nmr_guard (<nmr/guard.h>) makes the detach
 * return STATUS_PENDING, and the last call out completes it.
 *
 * What each worker counts:
 *   calls    calls answered with the right reply
 *   refused  calls not made because no provider was bound at all
 *   failed   calls that failed although a provider was bound (a usable
 *            binding whose guard refused entry, or Echo not returning
 *            STATUS_SUCCESS)
 *   wrong    replies that are not the echo of this call (each message
 *            carries the worker and a sequence number; a version 2
 *            provider's tag must name the provider called), or whose
 *            OnReply notification did not come exactly once, for this
 *            call's binding, with the same text
 *
 * Arguments: threads=N   worker threads (default 2, 0 to 64; with 0 the
 *                        calls come only through nmr_module_exercise)
 *            idle-us=N   pause after a refused call (default 200)
 *            quiet       no log lines
 */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np: writers first */
#include "../echo_npi.h"

#include <nmr/guard.h>
#include <nmr/module.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 64
#define NAME_MAX_LEN 32

typedef struct client_binding {
    struct client_binding *next;        /* in client.bindings     [lock] */
    bool usable;                        /* detach not started     [lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const ECHO_PROVIDER_DISPATCH *provider;
    unsigned version;                   /* provider's NPI version */
    uint64_t serial;                    /* order of attachment */
    char name[NAME_MAX_LEN];            /* copied: the provider may be unmapped */
    nmr_guard guard;                    /* calls in flight */
} client_binding;

typedef struct worker {
    _Alignas(64) atomic_ullong calls;
    atomic_ullong refused, failed, wrong;
    pthread_t thread;
    unsigned id;
} worker;

/* What OnReply saw, for the call the current thread is making. */
typedef struct call_record {
    const client_binding *binding;
    const char *out;
    unsigned replies;
    bool matched;
} call_record;
static _Thread_local call_record *current_call;

static struct {
    const nmr_module_host *host;
    pthread_rwlock_t lock;              /* the binding list */
    client_binding *bindings;
    uint64_t next_serial;               /* [lock] */
    HANDLE nmr_client;
    atomic_bool stop;
    unsigned nthreads, idle_us;
    int quiet;
    worker *workers;
    atomic_ullong switches;             /* changes of preferred provider */
    unsigned long long final[4];        /* counters summed at unload */
    char preferred[NAME_MAX_LEN];       /* [lock] */
} client;

#define LOG(...) do { if (!client.quiet) client.host->log(client.host, __VA_ARGS__); } while (0)

/* The binding calls go to, or NULL.  Caller holds the lock. */
static client_binding *best_locked(void)
{
    client_binding *b, *best = NULL;

    for (b = client.bindings; b != NULL; b = b->next) {
        if (!b->usable)
            continue;
        if (best == NULL || b->version > best->version ||
            (b->version == best->version && b->serial > best->serial))
            best = b;
    }
    return best;
}

/* Caller holds the write lock: note a change of preferred provider. */
static void update_preferred_locked(void)
{
    client_binding *b = best_locked();
    const char *name = b != NULL ? b->name : "none";

    if (strcmp(name, client.preferred) != 0) {
        snprintf(client.preferred, sizeof client.preferred, "%s", name);
        atomic_fetch_add(&client.switches, 1);
    }
}

/* ---- the NPI: what the provider calls ----------------------------------- */
static void client_on_reply(PVOID client_binding_ctx, const char *reply)
{
    call_record *r = current_call;

    if (r == NULL)
        return;                 /* not during one of our calls: counted as wrong later */
    r->replies++;
    r->matched = client_binding_ctx == r->binding && reply != NULL &&
                 strcmp(reply, r->out) == 0;
}

static const ECHO_CLIENT_DISPATCH client_dispatch = {
    ECHO_NPI_VERSION, sizeof(ECHO_CLIENT_DISPATCH), client_on_reply
};

/* ---- NMR callbacks ------------------------------------------------------ */
static NTSTATUS client_attach_provider(HANDLE nmr_binding, PVOID client_ctx,
                                       PNPI_REGISTRATION_INSTANCE provider)
{
    const ECHO_PROVIDER_CHARACTERISTICS *pc = provider->NpiSpecificCharacteristics;
    client_binding *b;
    const VOID *dispatch = NULL;
    NTSTATUS st;

    (void)client_ctx;
    if (pc == NULL || pc->Version < ECHO_NPI_VERSION)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->nmr_binding = nmr_binding;
    b->version = pc->Version;
    snprintf(b->name, sizeof b->name, "%s", pc->Name != NULL ? pc->Name : "?");
    st = nmr_guard_init(&b->guard, nmr_binding, NMR_GUARD_CLIENT);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    st = NmrClientAttachProvider(nmr_binding, b, &client_dispatch,
                                 &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        nmr_guard_destroy(&b->guard);
        free(b);
        return st;
    }
    b->provider = dispatch;
    if (b->provider == NULL || b->provider->Length < sizeof(ECHO_PROVIDER_DISPATCH)) {
        /* Attached but unusable: keep it unlisted; it detaches normally. */
        LOG("provider '%s' gave no usable dispatch table: not used", b->name);
        return STATUS_SUCCESS;
    }
    pthread_rwlock_wrlock(&client.lock);
    b->serial = ++client.next_serial;
    b->usable = true;
    b->next = client.bindings;
    client.bindings = b;
    update_preferred_locked();
    pthread_rwlock_unlock(&client.lock);
    LOG("bound to %s (NPI version %u); calls go to %s", b->name, b->version,
        client.preferred);
    return STATUS_SUCCESS;
}

static NTSTATUS client_detach_provider(PVOID client_binding_ctx)
{
    client_binding *b = client_binding_ctx;
    char now[NAME_MAX_LEN];
    NTSTATUS st;

    /* Unusable first: no new call picks it (make before break). */
    pthread_rwlock_wrlock(&client.lock);
    b->usable = false;
    update_preferred_locked();
    snprintf(now, sizeof now, "%s", client.preferred);
    pthread_rwlock_unlock(&client.lock);
    st = nmr_guard_detach(&b->guard);
    LOG("detaching from %s: %s; calls go to %s", b->name,
        st == STATUS_PENDING ? "calls in flight, STATUS_PENDING (the last one completes it)"
                             : "idle, STATUS_SUCCESS",
        strcmp(now, "none") == 0 ? "no provider (refused)" : now);
    return st;
}

static VOID client_cleanup_binding_context(PVOID client_binding_ctx)
{
    client_binding *b = client_binding_ctx, **pp;

    pthread_rwlock_wrlock(&client.lock);
    for (pp = &client.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_rwlock_unlock(&client.lock);
    nmr_guard_destroy(&b->guard);
    free(b);
}

/* ---- the workers -------------------------------------------------------- */
static void pause_us(unsigned us)
{
    struct timespec ts = { (time_t)(us / 1000000u), (long)(us % 1000000u) * 1000L };

    if (us != 0)
        nanosleep(&ts, NULL);
}

/* One call to the preferred provider, counted in w: 1 when made (answered
 * or failed), 0 when refused (nothing bound).  seq numbers the messages of
 * w's thread; rec is this thread's call record. */
static int one_call(worker *w, unsigned long long seq, call_record *rec)
{
    client_binding *b;
    bool entered = false;
    char msg[48], expect[96], out[96];
    NTSTATUS st;

    pthread_rwlock_rdlock(&client.lock);
    b = best_locked();
    if (b != NULL)
        entered = nmr_guard_enter(&b->guard);
    pthread_rwlock_unlock(&client.lock);
    if (b == NULL) {
        atomic_fetch_add_explicit(&w->refused, 1, memory_order_relaxed);
        return 0;
    }
    if (!entered) {
        atomic_fetch_add_explicit(&w->failed, 1, memory_order_relaxed);
        return 1;
    }
    /* In the guard: b stays valid until nmr_guard_leave. */
    snprintf(msg, sizeof msg, "w%u#%llu", w->id, seq);
    if (b->version >= ECHO_NPI_VERSION_TAGGED)
        snprintf(expect, sizeof expect, "%s|%s", msg, b->name);
    else
        snprintf(expect, sizeof expect, "%s", msg);
    out[0] = '\0';
    rec->binding = b;
    rec->out = out;
    rec->replies = 0;
    rec->matched = false;
    current_call = rec;
    st = b->provider->Echo(b->provider_ctx, msg, out, sizeof out);
    current_call = NULL;
    nmr_guard_leave(&b->guard);     /* b may be gone after this */
    if (st != STATUS_SUCCESS)
        atomic_fetch_add_explicit(&w->failed, 1, memory_order_relaxed);
    else if (strcmp(out, expect) != 0 || rec->replies != 1 || !rec->matched)
        atomic_fetch_add_explicit(&w->wrong, 1, memory_order_relaxed);
    else
        atomic_fetch_add_explicit(&w->calls, 1, memory_order_relaxed);
    return 1;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    unsigned long long seq = 0;
    call_record rec;

    while (!atomic_load_explicit(&client.stop, memory_order_relaxed)) {
        if (!one_call(w, ++seq, &rec))
            pause_us(client.idle_us);
    }
    return NULL;
}

/* The calls a host makes through nmr_module_exercise (nmrcheck's workers),
 * counted apart from the module's own threads; id 1000 + the host's worker
 * number in the message. */
static worker host_calls;
static atomic_ullong host_seq;

NMR_MODULE_EXPORT void nmr_module_exercise(unsigned host_worker)
{
    call_record rec;
    worker w = { .id = 1000u + host_worker };

    one_call(&w, atomic_fetch_add(&host_seq, 1) + 1, &rec);
    atomic_fetch_add_explicit(&host_calls.calls, atomic_load(&w.calls), memory_order_relaxed);
    atomic_fetch_add_explicit(&host_calls.refused, atomic_load(&w.refused), memory_order_relaxed);
    atomic_fetch_add_explicit(&host_calls.failed, atomic_load(&w.failed), memory_order_relaxed);
    atomic_fetch_add_explicit(&host_calls.wrong, atomic_load(&w.wrong), memory_order_relaxed);
}

static void stop_workers(unsigned n)
{
    unsigned i;

    atomic_store(&client.stop, true);
    for (i = 0; i < n; i++)
        pthread_join(client.workers[i].thread, NULL);
}

/* ---- registration ------------------------------------------------------- */
static const NPI_MODULEID client_module_id = {
    .Length = sizeof(NPI_MODULEID),
    .Type = MIT_GUID,
    .Guid = { 0x8d4f0e27, 0x61ab, 0x4c3d,
              { 0xa5, 0x17, 0xe0, 0x9b, 0x36, 0xc8, 0x2f, 0x52 } },
};

static const NPI_CLIENT_CHARACTERISTICS client_chars = {
    .Version = 0,
    .Length = sizeof(NPI_CLIENT_CHARACTERISTICS),
    .ClientAttachProvider = client_attach_provider,
    .ClientDetachProvider = client_detach_provider,
    .ClientCleanupBindingContext = client_cleanup_binding_context,
    .ClientRegistrationInstance = {
        .Version = 0,
        .Size = sizeof(NPI_REGISTRATION_INSTANCE),
        .NpiId = &NPI_ECHO_ID,
        .ModuleId = &client_module_id,
        .Number = 0,
        .NpiSpecificCharacteristics = NULL,
    },
};

/* ---- module entry points ------------------------------------------------ */
static int parse_args(const nmr_module_host *host, int argc, char **argv)
{
    int i;

    client.nthreads = 2;
    client.idle_us = 200;
    client.quiet = 0;
    for (i = 1; i < argc; i++) {
        char *end;
        unsigned long v;

        if (strcmp(argv[i], "quiet") == 0) {
            client.quiet = 1;
            continue;
        }
        if (strncmp(argv[i], "threads=", 8) == 0) {
            v = strtoul(argv[i] + 8, &end, 10);
            if (*end != '\0' || v > MAX_THREADS) {
                host->log(host, "threads=N: N from 0 to %d", MAX_THREADS);
                return -1;
            }
            client.nthreads = (unsigned)v;
        } else if (strncmp(argv[i], "idle-us=", 8) == 0) {
            v = strtoul(argv[i] + 8, &end, 10);
            if (*end != '\0' || v > 1000000) {
                host->log(host, "idle-us=N: N from 0 to 1000000");
                return -1;
            }
            client.idle_us = (unsigned)v;
        } else {
            host->log(host, "unknown argument '%s' (threads=N, idle-us=N, quiet)", argv[i]);
            return -1;
        }
    }
    return 0;
}

/* Writers first: with workers read-locking all the time, a reader-first
 * lock could keep a detach waiting. */
static int init_lock(void)
{
    pthread_rwlockattr_t attr;
    int rc;

    if (pthread_rwlockattr_init(&attr) != 0)
        return -1;
#if defined(__GLIBC__)
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
#endif
    rc = pthread_rwlock_init(&client.lock, &attr);
    pthread_rwlockattr_destroy(&attr);
    return rc;
}

static void sum_counters(unsigned long long c[4])
{
    unsigned i;

    memcpy(c, client.final, sizeof client.final);
    c[0] += atomic_load_explicit(&host_calls.calls, memory_order_relaxed);
    c[1] += atomic_load_explicit(&host_calls.refused, memory_order_relaxed);
    c[2] += atomic_load_explicit(&host_calls.failed, memory_order_relaxed);
    c[3] += atomic_load_explicit(&host_calls.wrong, memory_order_relaxed);
    for (i = 0; client.workers != NULL && i < client.nthreads; i++) {
        c[0] += atomic_load_explicit(&client.workers[i].calls, memory_order_relaxed);
        c[1] += atomic_load_explicit(&client.workers[i].refused, memory_order_relaxed);
        c[2] += atomic_load_explicit(&client.workers[i].failed, memory_order_relaxed);
        c[3] += atomic_load_explicit(&client.workers[i].wrong, memory_order_relaxed);
    }
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    NTSTATUS st;
    unsigned i;

    client.host = host;
    if (parse_args(host, argc, argv) != 0)
        return STATUS_INVALID_PARAMETER;
    if (init_lock() != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    client.bindings = NULL;
    client.next_serial = 0;
    snprintf(client.preferred, sizeof client.preferred, "none");
    atomic_store(&client.switches, 0);
    atomic_store(&client.stop, false);
    memset(client.final, 0, sizeof client.final);
    /* worker is cache-line aligned: its size is a multiple of 64. */
    client.workers = aligned_alloc(_Alignof(worker), (client.nthreads + 1) * sizeof(worker));
    if (client.workers == NULL) {
        pthread_rwlock_destroy(&client.lock);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    memset(client.workers, 0, (client.nthreads + 1) * sizeof(worker));
    /* Register first: the providers already there are bound before the
     * first call, so no call is refused when one is. */
    st = NmrRegisterClient(&client_chars, &client, &client.nmr_client);
    if (st != STATUS_SUCCESS) {
        free(client.workers);
        client.workers = NULL;
        pthread_rwlock_destroy(&client.lock);
        return st;
    }
    for (i = 0; i < client.nthreads; i++) {
        client.workers[i].id = i;
        if (pthread_create(&client.workers[i].thread, NULL, worker_main,
                           &client.workers[i]) != 0) {
            stop_workers(i);
            NmrDeregisterClient(client.nmr_client);
            NmrWaitForClientDeregisterComplete(client.nmr_client);
            free(client.workers);
            client.workers = NULL;
            pthread_rwlock_destroy(&client.lock);
            return STATUS_INSUFFICIENT_RESOURCES;
        }
    }
    LOG("%u worker threads calling; provider: %s", client.nthreads, client.preferred);
    return STATUS_SUCCESS;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st;

    stop_workers(client.nthreads);      /* no call in flight from here on */
    st = NmrDeregisterClient(client.nmr_client);
    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(client.nmr_client);
    /* Keep the totals for nmr_module_stats (final figures), free the rest. */
    {
        unsigned long long c[4];
        worker *w = client.workers;

        sum_counters(c);
        memcpy(client.final, c, sizeof c);
        client.workers = NULL;
        free(w);
        atomic_store(&host_calls.calls, 0);     /* counted in final now */
        atomic_store(&host_calls.refused, 0);
        atomic_store(&host_calls.failed, 0);
        atomic_store(&host_calls.wrong, 0);
    }
    pthread_rwlock_destroy(&client.lock);
    return st;
}

/* The module's own check (nmrcheck calls it after load and after unload):
 * every reply was the echo of its call. */
NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long long c[4];

    sum_counters(c);
    if (c[3] == 0)
        return 0;
    snprintf(buf, size, "%llu wrong replies (not the echo of the call, or no OnReply "
             "for it)", c[3]);
    return 1;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    unsigned long long c[4];
    unsigned bound = 0;
    char preferred[NAME_MAX_LEN];
    bool live = !atomic_load(&client.stop);

    sum_counters(c);
    if (live) {
        client_binding *b;

        pthread_rwlock_rdlock(&client.lock);
        for (b = client.bindings; b != NULL; b = b->next)
            bound += b->usable;
        snprintf(preferred, sizeof preferred, "%s", client.preferred);
        pthread_rwlock_unlock(&client.lock);
    } else {
        snprintf(preferred, sizeof preferred, "none");
    }
    return snprintf(buf, size,
                    "calls=%llu refused=%llu failed=%llu wrong=%llu provider=%s bound=%u "
                    "switches=%llu threads=%u",
                    c[0], c[1], c[2], c[3], preferred, bound,
                    (unsigned long long)atomic_load(&client.switches), client.nthreads);
}
