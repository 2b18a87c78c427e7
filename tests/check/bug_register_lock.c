/* SPDX-License-Identifier: MIT */
/*
 * bug_register_lock.c - bug_register_lock.so: a client of the catalogue's
 * NPI that holds its own lock across NmrRegisterClient.
 *
 * The real bug: the module lock guards the registration handle and the
 * binding list, and the load holds it across NmrRegisterClient "so that
 * no attach sees the handle unset".  But the NMR offers every provider
 * already registered synchronously, on the registering thread, before
 * NmrRegisterClient returns (R7), and ClientAttachProvider takes the same
 * lock to list the binding: the thread waits for itself.  The lock is a
 * PTHREAD_MUTEX_NORMAL mutex, so relocking it deadlocks for certain (no
 * error return).  It happens whenever a provider is loaded before this
 * client.
 *
 * Oracle: hang (the load never returns; the scheduler sees no switch point
 * from that thread, then no progress at all).
 *
 * `fixed`: the lock is taken around the store of the handle only, not
 * across NmrRegisterClient (R7 sets the handle before the first offer).
 */
#define _XOPEN_SOURCE 700 /* pthread_mutexattr_settype, PTHREAD_MUTEX_NORMAL */
#include "chk_mod.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct rl_binding {
    struct rl_binding *next;                /* in K.bindings [K.lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const CHK_PROVIDER_DISPATCH *provider;
} rl_binding;

static struct {
    HANDLE handle;                          /* [lock] */
    bool fixed, unloaded;
    pthread_mutex_t lock;                   /* PTHREAD_MUTEX_NORMAL */
    rl_binding *bindings;                   /* [lock] */
    unsigned long attached, cleaned;        /* [lock] */
} K;

static VOID rl_notify(PVOID client_binding_ctx, unsigned value)
{
    (void)client_binding_ctx;
    (void)value;
}

static const CHK_CLIENT_DISPATCH rl_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), rl_notify
};

static NTSTATUS rl_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    const VOID *dispatch;
    rl_binding *b;
    unsigned key;
    NTSTATUS st;

    (void)client_ctx;
    if (chk_provider_key(provider, &key) != STATUS_SUCCESS)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->nmr_binding = nmr_binding;
    st = NmrClientAttachProvider(nmr_binding, b, &rl_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    b->provider = dispatch;
    pthread_mutex_lock(&K.lock);            /* held already if inside the load */
    b->next = K.bindings;
    K.bindings = b;
    K.attached++;
    pthread_mutex_unlock(&K.lock);
    return STATUS_SUCCESS;
}

static NTSTATUS rl_detach(PVOID client_binding_ctx)
{
    (void)client_binding_ctx;
    return STATUS_SUCCESS;                  /* it makes no calls */
}

static VOID rl_cleanup(PVOID client_binding_ctx)
{
    rl_binding *b = client_binding_ctx, **pp;

    pthread_mutex_lock(&K.lock);
    for (pp = &K.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    K.cleaned++;
    pthread_mutex_unlock(&K.lock);
    free(b);
}

static const NPI_MODULEID rl_module_id = CHK_MODULE_ID(12);
static const NPI_CLIENT_CHARACTERISTICS rl_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), rl_attach, rl_detach, rl_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &rl_module_id, 0, NULL }
};

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    pthread_mutexattr_t attr;
    unsigned flags;
    HANDLE handle = NULL;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&K, 0, sizeof K);
    K.fixed = (flags & 1u) != 0;
    if (pthread_mutexattr_init(&attr) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_NORMAL);
    if (pthread_mutex_init(&K.lock, &attr) != 0) {
        pthread_mutexattr_destroy(&attr);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    pthread_mutexattr_destroy(&attr);
    if (!K.fixed) {
        pthread_mutex_lock(&K.lock);
        st = NmrRegisterClient(&rl_chars, NULL, &K.handle);   /* BUG: attach relocks */
        pthread_mutex_unlock(&K.lock);
    } else {
        st = NmrRegisterClient(&rl_chars, NULL, &handle);
        pthread_mutex_lock(&K.lock);
        K.handle = handle;
        pthread_mutex_unlock(&K.lock);
    }
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&K.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(K.handle);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(K.handle);
    pthread_mutex_destroy(&K.lock);
    K.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a, c;
    bool listed;

    if (!K.unloaded)
        return 0;                           /* the counts are read under the lock only */
    a = K.attached;
    c = K.cleaned;
    listed = K.bindings != NULL;
    if (a != c || listed)
        return chk_fail(buf, size, "after unload: %lu attached, %lu cleaned up", a, c);
    return 0;
}
