/* SPDX-License-Identifier: MIT */
/*
 * guard.c - binding guards and provider capture (include/nmr/guard.h).
 *
 * A guard is a cache-aware rundown plus the binding handle and the side to
 * complete: its detach is an asynchronous drain whose callback calls
 * Nmr*DetachComplete, unless nothing was in flight, in which case the
 * detach callback returns STATUS_SUCCESS itself.
 *
 * A capture object is a small client module built on guards: one binding
 * record per attached provider, newest first, under the capture's mutex.
 * A capture takes a guard reference on the newest binding that is not
 * detaching; the binding's detach cannot complete until that reference is
 * released.  The mutex is never held across an NMR call or a callback: the
 * NMR callbacks below take it only around list updates.
 */
#define _POSIX_C_SOURCE 200809L
#include <nmr/guard.h>

#include "base/check.h"
#include "base/alloc.h"
#include "base/misuse.h"
#include "rundown/internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>

/* ---- guards --------------------------------------------------------------- */

NTSTATUS nmr_guard_init(nmr_guard *guard, HANDLE binding, int side)
{
    if (guard == NULL || (side != NMR_GUARD_CLIENT && side != NMR_GUARD_PROVIDER))
        return STATUS_INVALID_PARAMETER;
    guard->rundown = ExAllocateCacheAwareRundownProtection(NonPagedPoolNx, 0);
    if (guard->rundown == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    guard->binding = binding;
    guard->side = side;
    return STATUS_SUCCESS;
}

/* The last call left: complete our half of the detach (R14, R15). */
static void guard_drained(void *context, BOOLEAN inline_call)
{
    nmr_guard *guard = context;
    if (inline_call)
        return; /* nothing was in flight: the detach callback says SUCCESS */
    HANDLE binding = guard->binding; /* the cleanup may free the guard */
    if (guard->side == NMR_GUARD_CLIENT)
        NmrClientDetachProviderComplete(binding);
    else
        NmrProviderDetachClientComplete(binding);
}

NTSTATUS nmr_guard_detach(nmr_guard *guard)
{
    nmr_check_point("nmr_guard_detach", guard);
    NTSTATUS s = nmr_rundown_drain_nopoint(guard->rundown, guard_drained, guard);
    /* SUCCESS: idle, complete now.  PENDING: the last leave completes. */
    if (s == STATUS_SUCCESS || s == STATUS_PENDING)
        return s;
    /* A second detach of one guard: report it, and say SUCCESS so the NMR
     * is not left waiting for a completion that will not come. */
    nmr_report_misuse(NMR_MISUSE_RUNDOWN,
                      "nmr_guard_detach: the guard of binding %p is already "
                      "detaching", guard->binding);
    return STATUS_SUCCESS;
}

VOID nmr_guard_destroy(nmr_guard *guard)
{
    if (guard == NULL || guard->rundown == NULL)
        return;
    ExFreeCacheAwareRundownProtection(guard->rundown);
    guard->rundown = NULL;
}

/* ---- capture ---------------------------------------------------------------- */

typedef struct cbind {
    nmr_guard guard;
    struct nmr_capture *owner;
    PVOID provider_context;
    const VOID *provider_dispatch;
    struct cbind *next; /* owner->bound, newest first; owner->lock */
    int listed;         /* owner->lock */
} cbind;

struct nmr_capture {
    pthread_mutex_t lock;
    pthread_cond_t changed; /* a provider attached, or destroy began */
    cbind *bound;           /* attached bindings, newest first */
    int destroying;
    int deregistered;       /* NmrDeregisterClient done (destroy may retry) */
    int inside;             /* nmr_capture_provider calls in progress */
    HANDLE registration;
    const VOID *client_dispatch;
    NPIID npi_id;
    NPI_MODULEID module_id;
    NPI_CLIENT_CHARACTERISTICS chars;
};

static NTSTATUS capture_attach(HANDLE binding, PVOID context,
                               PNPI_REGISTRATION_INSTANCE provider)
{
    (void)provider;
    nmr_capture *c = context;
    cbind *b = nmr_alloc(sizeof(*b));
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->owner = c;
    NTSTATUS s = nmr_guard_init(&b->guard, binding, NMR_GUARD_CLIENT);
    if (s != STATUS_SUCCESS) {
        nmr_free(b, sizeof(*b));
        return s;
    }
    s = NmrClientAttachProvider(binding, b, c->client_dispatch, &b->provider_context,
                                &b->provider_dispatch);
    if (s != STATUS_SUCCESS) {
        nmr_guard_destroy(&b->guard);
        nmr_free(b, sizeof(*b));
        return s;
    }
    pthread_mutex_lock(&c->lock);
    b->next = c->bound;
    c->bound = b;
    b->listed = 1;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return STATUS_SUCCESS;
}

static NTSTATUS capture_detach(PVOID binding_context)
{
    cbind *b = binding_context;
    nmr_capture *c = b->owner;
    pthread_mutex_lock(&c->lock);
    for (cbind **pp = &c->bound; *pp != NULL; pp = &(*pp)->next)
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    b->listed = 0;
    pthread_mutex_unlock(&c->lock);
    return nmr_guard_detach(&b->guard);
}

static VOID capture_cleanup(PVOID binding_context)
{
    cbind *b = binding_context;
    nmr_guard_destroy(&b->guard);
    nmr_free(b, sizeof(*b));
}

NTSTATUS nmr_capture_create(const NPIID *npi_id, const NPI_MODULEID *module_id,
                            const VOID *client_dispatch, nmr_capture **out)
{
    if (out == NULL)
        return STATUS_INVALID_PARAMETER;
    *out = NULL;
    if (npi_id == NULL || module_id == NULL)
        return STATUS_INVALID_PARAMETER;
    nmr_capture *c = nmr_alloc(sizeof(*c));
    if (c == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    pthread_mutex_init(&c->lock, NULL);
    /* Timeouts are measured on the monotonic clock: setting the system
     * clock does not stretch or cut a wait. */
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&c->changed, &attr);
    pthread_condattr_destroy(&attr);
    c->client_dispatch = client_dispatch;
    c->npi_id = *npi_id;
    c->module_id = *module_id;
    c->chars.Version = 0;
    c->chars.Length = sizeof(c->chars);
    c->chars.ClientAttachProvider = capture_attach;
    c->chars.ClientDetachProvider = capture_detach;
    c->chars.ClientCleanupBindingContext = capture_cleanup;
    c->chars.ClientRegistrationInstance.Version = 0;
    c->chars.ClientRegistrationInstance.Size = sizeof(NPI_REGISTRATION_INSTANCE);
    c->chars.ClientRegistrationInstance.NpiId = &c->npi_id;
    c->chars.ClientRegistrationInstance.ModuleId = &c->module_id;
    /* Offers may start inside NmrRegisterClient: c is complete by now. */
    NTSTATUS s = NmrRegisterClient(&c->chars, c, &c->registration);
    if (s != STATUS_SUCCESS) {
        pthread_cond_destroy(&c->changed);
        pthread_mutex_destroy(&c->lock);
        nmr_free(c, sizeof(*c));
        return s;
    }
    *out = c;
    return STATUS_SUCCESS;
}

/* Absolute CLOCK_MONOTONIC deadline timeout_ms from now. */
static struct timespec deadline_after(ULONG timeout_ms)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    t.tv_sec += (time_t)(timeout_ms / 1000u);
    t.tv_nsec += (long)(timeout_ms % 1000u) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

NTSTATUS nmr_capture_provider(nmr_capture *c, ULONG timeout_ms, NPI *provider,
                              void **token)
{
    if (c == NULL || provider == NULL || token == NULL)
        return STATUS_INVALID_PARAMETER;
    struct timespec deadline = deadline_after(timeout_ms);
    NTSTATUS s = STATUS_DEVICE_NOT_READY;
    /* the switch point of the guard references taken below, which are
     * taken with the capture's lock held */
    nmr_check_point("nmr_capture_provider", c);
    pthread_mutex_lock(&c->lock);
    c->inside++;
    for (;;) {
        if (c->destroying) {
            s = STATUS_INVALID_DEVICE_STATE;
            break;
        }
        cbind *b;
        /* (no binding listed is detaching: a failed enter cannot complete
         * a detach, which would run callbacks with the lock held) */
        for (b = c->bound; b != NULL; b = b->next)
            if (nmr_rundown_ca_acquire_nopoint(b->guard.rundown, 1))
                break;
        if (b != NULL) {
            provider->Handle = b->provider_context;
            provider->Dispatch = b->provider_dispatch;
            *token = b;
            s = STATUS_SUCCESS;
            break;
        }
        if (timeout_ms == NMR_CAPTURE_NO_WAIT)
            break;
        int rc = timeout_ms == NMR_CAPTURE_INFINITE
                     ? pthread_cond_wait(&c->changed, &c->lock)
                     : pthread_cond_timedwait(&c->changed, &c->lock, &deadline);
        if (rc == ETIMEDOUT)
            break;
    }
    if (--c->inside == 0 && c->destroying)
        pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    return s;
}

VOID nmr_capture_release(nmr_capture *c, void *token)
{
    (void)c;
    cbind *b = token;
    if (b == NULL)
        return;
    nmr_guard_leave(&b->guard); /* may complete the binding's detach */
}

NTSTATUS nmr_capture_destroy(nmr_capture *c)
{
    if (c == NULL)
        return STATUS_INVALID_PARAMETER;
    pthread_mutex_lock(&c->lock);
    c->destroying = 1;
    pthread_cond_broadcast(&c->changed);
    pthread_mutex_unlock(&c->lock);
    if (!c->deregistered) {
        NTSTATUS s = NmrDeregisterClient(c->registration);
        if (s != STATUS_PENDING)
            return s;
        c->deregistered = 1;
    }
    /* From inside one of its own callbacks this is STATUS_POSSIBLE_DEADLOCK;
     * the object stays valid and destroy may be called again elsewhere. */
    NTSTATUS s = NmrWaitForClientDeregisterComplete(c->registration);
    if (s != STATUS_SUCCESS)
        return s;
    pthread_mutex_lock(&c->lock);
    while (c->inside > 0) /* waiting captures are on their way out */
        pthread_cond_wait(&c->changed, &c->lock);
    pthread_mutex_unlock(&c->lock);
    pthread_cond_destroy(&c->changed);
    pthread_mutex_destroy(&c->lock);
    nmr_free(c, sizeof(*c));
    return STATUS_SUCCESS;
}
