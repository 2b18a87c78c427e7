/* SPDX-License-Identifier: MIT */
/*
 * bug_free_in_detach.c - bug_free_in_detach.so: a client of the catalogue's
 * NPI that frees its binding context in its detach callback.
 *
 * The real bug: a listener client (it only receives the provider's
 * notifications) treats ClientDetachProvider as the end of the binding:
 * it has no call of its own in flight, so it frees the context there and
 * returns STATUS_SUCCESS.  But the NMR detaches the client half first
 * (R13) and the provider may go on notifying until its own half is
 * complete; only the cleanup comes after both.  A notification from the
 * provider's thread (chk_provider.so:broadcast) in that window runs on
 * freed memory.  Notify calls through a pointer kept in the context (its
 * handler), and the free overwrites the context with 0xA5 first, so the
 * use faults even without ASan (with ASan: heap-use-after-free).
 *
 * Oracle: crash.  The broadcast thread is the provider's own (the
 * scheduler does not control it), so the window is one of time: after
 * the free the detach yields (nmrcheck_yield), and with --workers the
 * scheduler then runs another thread while the deregistration waits for
 * its turn, which widens the window to many notifications.
 *
 * `fixed`: the context is freed in the cleanup, after both halves.
 */
#include "chk_mod.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct lis_binding lis_binding;
typedef struct lis_handler {
    void (*on_notify)(lis_binding *b, unsigned value);
} lis_handler;

struct lis_binding {
    lis_binding *next;                      /* in L.bindings [L.lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const lis_handler *handler;             /* what a notification does */
    atomic_ulong notifies;
};

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    pthread_mutex_t lock;
    lis_binding *bindings;                  /* [lock] */
    atomic_ulong notifies, attached, cleaned;
} L;

static void count_notify(lis_binding *b, unsigned value)
{
    (void)value;
    atomic_fetch_add_explicit(&b->notifies, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&L.notifies, 1, memory_order_relaxed);
}

static const lis_handler counting_handler = { count_notify };

static VOID lis_notify(PVOID client_binding_ctx, unsigned value)
{
    lis_binding *b = client_binding_ctx;

    b->handler->on_notify(b, value);        /* freed context: 0xA5... faults */
}

static const CHK_CLIENT_DISPATCH lis_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), lis_notify
};

static void unlink_binding(lis_binding *b)
{
    lis_binding **pp;

    pthread_mutex_lock(&L.lock);
    for (pp = &L.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&L.lock);
}

static NTSTATUS lis_attach(HANDLE nmr_binding, PVOID client_ctx,
                           PNPI_REGISTRATION_INSTANCE provider)
{
    const VOID *dispatch;
    lis_binding *b;
    unsigned key;
    NTSTATUS st;

    (void)client_ctx;
    if (chk_provider_key(provider, &key) != STATUS_SUCCESS)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->nmr_binding = nmr_binding;
    b->handler = &counting_handler;         /* before the provider can notify */
    st = NmrClientAttachProvider(nmr_binding, b, &lis_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    atomic_fetch_add(&L.attached, 1);
    pthread_mutex_lock(&L.lock);
    b->next = L.bindings;
    L.bindings = b;
    pthread_mutex_unlock(&L.lock);
    return STATUS_SUCCESS;
}

static NTSTATUS lis_detach(PVOID client_binding_ctx)
{
    lis_binding *b = client_binding_ctx;

    unlink_binding(b);
    if (!L.fixed) {
        /* BUG: the provider's half is not complete: it may still notify. */
        atomic_fetch_add(&L.cleaned, 1);
        chk_poison_free(b, sizeof *b);
        nmrcheck_yield();
    }
    return STATUS_SUCCESS;                  /* nothing of ours in flight */
}

static VOID lis_cleanup(PVOID client_binding_ctx)
{
    if (!L.fixed)
        return;                             /* (freed in the detach) */
    atomic_fetch_add(&L.cleaned, 1);
    chk_poison_free(client_binding_ctx, sizeof(lis_binding));
}

static const NPI_MODULEID lis_module_id = CHK_MODULE_ID(10);
static const NPI_CLIENT_CHARACTERISTICS lis_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), lis_attach, lis_detach, lis_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &lis_module_id, 0, NULL }
};

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&L, 0, sizeof L);
    L.fixed = (flags & 1u) != 0;
    if (pthread_mutex_init(&L.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrRegisterClient(&lis_chars, NULL, &L.handle);
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&L.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(L.handle);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(L.handle);
    pthread_mutex_destroy(&L.lock);
    L.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&L.attached), c = atomic_load(&L.cleaned);

    if (c > a || (L.unloaded && (c != a || L.bindings != NULL)))
        return chk_fail(buf, size, "%lu attached, %lu freed%s", a, c,
                        L.unloaded ? " after unload" : "");
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "notifies=%lu attached=%lu cleaned=%lu",
                    atomic_load(&L.notifies), atomic_load(&L.attached),
                    atomic_load(&L.cleaned));
}
