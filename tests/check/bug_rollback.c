/* SPDX-License-Identifier: MIT */
/*
 * bug_rollback.c - bug_rollback.so: a client of the catalogue's NPI whose
 * attach does not undo its bookkeeping when NmrClientAttachProvider fails.
 *
 * The real bug: the attach counts the binding in the module's count of
 * live bindings before it calls NmrClientAttachProvider (so that the count
 * is never below the bindings that can call it), and the cleanup takes it
 * off.  When the provider refuses the client, the error path frees the
 * context and returns the status, but forgets the count: it stays one
 * too high for ever (a driver that waits at unload for its count to drop
 * would hang there; this one's own check says so).  It takes a provider
 * that refuses: chk_provider.so:refuse-first refuses the first client
 * offered after each load, so the error path runs in every schedule.
 *
 * Oracle: module-check (nmr_module_check after unload: the count is not 0).
 *
 * `fixed`: the error path takes the count back.
 */
#include "chk_mod.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct rb_binding {
    struct rb_binding *next;                /* in B.bindings [B.lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const CHK_PROVIDER_DISPATCH *provider;
} rb_binding;

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    pthread_mutex_t lock;
    rb_binding *bindings;                   /* [lock] */
    atomic_long live;                       /* bindings counted: attach to cleanup */
    atomic_ulong attached, refused, cleaned;
} B;

static VOID rb_notify(PVOID client_binding_ctx, unsigned value)
{
    (void)client_binding_ctx;
    (void)value;
}

static const CHK_CLIENT_DISPATCH rb_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), rb_notify
};

static NTSTATUS rb_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    const VOID *dispatch;
    rb_binding *b;
    unsigned key;
    NTSTATUS st;

    (void)client_ctx;
    if (chk_provider_key(provider, &key) != STATUS_SUCCESS)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->nmr_binding = nmr_binding;
    atomic_fetch_add(&B.live, 1);           /* counted before it can be called */
    st = NmrClientAttachProvider(nmr_binding, b, &rb_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        atomic_fetch_add(&B.refused, 1);
        if (B.fixed)
            atomic_fetch_sub(&B.live, 1);   /* BUG when missing: the count stays up */
        free(b);
        return st;
    }
    b->provider = dispatch;
    atomic_fetch_add(&B.attached, 1);
    pthread_mutex_lock(&B.lock);
    b->next = B.bindings;
    B.bindings = b;
    pthread_mutex_unlock(&B.lock);
    return STATUS_SUCCESS;
}

static NTSTATUS rb_detach(PVOID client_binding_ctx)
{
    (void)client_binding_ctx;
    return STATUS_SUCCESS;                  /* it makes no calls */
}

static VOID rb_cleanup(PVOID client_binding_ctx)
{
    rb_binding *b = client_binding_ctx, **pp;

    pthread_mutex_lock(&B.lock);
    for (pp = &B.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&B.lock);
    atomic_fetch_add(&B.cleaned, 1);
    atomic_fetch_sub(&B.live, 1);
    free(b);
}

static const NPI_MODULEID rb_module_id = CHK_MODULE_ID(13);
static const NPI_CLIENT_CHARACTERISTICS rb_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), rb_attach, rb_detach, rb_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &rb_module_id, 0, NULL }
};

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&B, 0, sizeof B);
    B.fixed = (flags & 1u) != 0;
    if (pthread_mutex_init(&B.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrRegisterClient(&rb_chars, NULL, &B.handle);
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&B.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(B.handle);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(B.handle);
    pthread_mutex_destroy(&B.lock);
    B.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    long live = atomic_load(&B.live);

    if (live < 0)
        return chk_fail(buf, size, "live binding count below zero (%ld)", live);
    if (B.unloaded && (live != 0 || B.bindings != NULL))
        return chk_fail(buf, size, "after unload: live binding count %ld, not 0 (%lu attached, "
                        "%lu refused, %lu cleaned up)", live, atomic_load(&B.attached),
                        atomic_load(&B.refused), atomic_load(&B.cleaned));
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "live=%ld attached=%lu refused=%lu cleaned=%lu",
                    atomic_load(&B.live), atomic_load(&B.attached),
                    atomic_load(&B.refused), atomic_load(&B.cleaned));
}
