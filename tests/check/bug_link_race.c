/* SPDX-License-Identifier: MIT */
/*
 * bug_link_race.c - bug_link_race.so: a client of the catalogue's NPI that
 * publishes a binding before it is usable.
 *
 * The real bug: ClientAttachProvider allocates the binding context and
 * puts it on the module's list, where the calling threads find bindings,
 * and only then calls NmrClientAttachProvider, which fills in the
 * provider's binding context and dispatch table.  A thread that picks the
 * binding in between calls through a NULL dispatch table.  The attach
 * yields (nmrcheck_yield) between the two steps, where the scheduler may
 * run a worker.  It needs a worker calling while the attach runs: the
 * provider loaded (or reloaded) after this client, with --workers.
 *
 * Oracle: crash (a read through NULL: SIGSEGV, plain build or ASan).
 *
 * `fixed`: the binding is listed after NmrClientAttachProvider returned and
 * the dispatch table is stored.
 */
#include "chk_mod.h"

#include <nmr/guard.h>

#include <pthread.h>
#include <stdbool.h>

typedef struct lr_binding {
    struct lr_binding *next;                /* in R.bindings [R.lock] */
    bool usable;                            /* [R.lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const CHK_PROVIDER_DISPATCH *provider;  /* NULL until attached */
    unsigned key;
    nmr_guard guard;
} lr_binding;

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    pthread_mutex_t lock;
    lr_binding *bindings;                   /* [lock] */
    atomic_ulong calls, attached, cleaned;
    chk_wrong wrong;
} R;

static VOID lr_notify(PVOID client_binding_ctx, unsigned value)
{
    chk_notify_in_call(client_binding_ctx, value);
}

static const CHK_CLIENT_DISPATCH lr_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), lr_notify
};

static void publish(lr_binding *b, bool usable)
{
    pthread_mutex_lock(&R.lock);
    b->usable = usable;
    b->next = R.bindings;
    R.bindings = b;
    pthread_mutex_unlock(&R.lock);
}

static void unpublish(lr_binding *b)
{
    lr_binding **pp;

    pthread_mutex_lock(&R.lock);
    for (pp = &R.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&R.lock);
}

static NTSTATUS lr_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    const VOID *dispatch = NULL;
    lr_binding *b;
    unsigned key;
    NTSTATUS st;

    (void)client_ctx;
    if (chk_provider_key(provider, &key) != STATUS_SUCCESS)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->nmr_binding = nmr_binding;
    b->key = key;
    if (nmr_guard_init(&b->guard, nmr_binding, NMR_GUARD_CLIENT) != STATUS_SUCCESS) {
        free(b);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    if (!R.fixed) {
        publish(b, true);                   /* BUG: callers see it from here */
        nmrcheck_yield();
    }
    st = NmrClientAttachProvider(nmr_binding, b, &lr_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        if (!R.fixed)
            unpublish(b);
        nmr_guard_destroy(&b->guard);
        free(b);
        return st;
    }
    b->provider = dispatch;
    atomic_fetch_add(&R.attached, 1);
    if (R.fixed)
        publish(b, chk_dispatch_ok(dispatch));  /* listed either way: cleanup unlinks */
    return STATUS_SUCCESS;
}

static NTSTATUS lr_detach(PVOID client_binding_ctx)
{
    lr_binding *b = client_binding_ctx;

    pthread_mutex_lock(&R.lock);
    b->usable = false;
    pthread_mutex_unlock(&R.lock);
    return nmr_guard_detach(&b->guard);
}

static VOID lr_cleanup(PVOID client_binding_ctx)
{
    lr_binding *b = client_binding_ctx;

    unpublish(b);
    nmr_guard_destroy(&b->guard);
    atomic_fetch_add(&R.cleaned, 1);
    free(b);
}

static const NPI_MODULEID lr_module_id = CHK_MODULE_ID(11);
static const NPI_CLIENT_CHARACTERISTICS lr_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), lr_attach, lr_detach, lr_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &lr_module_id, 0, NULL }
};

NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    lr_binding *b;
    unsigned value;
    const char *why;

    pthread_mutex_lock(&R.lock);
    for (b = R.bindings; b != NULL && !b->usable; b = b->next)
        ;
    if (b != NULL && !nmr_guard_enter(&b->guard))
        b = NULL;
    pthread_mutex_unlock(&R.lock);
    if (b == NULL)
        return;
    value = chk_next_value(worker);
    why = chk_call(b->provider, b->provider_ctx, b->key, b, value);   /* NULL provider: faults */
    nmr_guard_leave(&b->guard);
    if (why != NULL)
        chk_wrong_note(&R.wrong, "%s (value %u)", why, value);
    else
        atomic_fetch_add_explicit(&R.calls, 1, memory_order_relaxed);
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&R, 0, sizeof R);
    chk_wrong_reset(&R.wrong);
    R.fixed = (flags & 1u) != 0;
    if (pthread_mutex_init(&R.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrRegisterClient(&lr_chars, NULL, &R.handle);
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&R.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(R.handle);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(R.handle);
    pthread_mutex_destroy(&R.lock);
    R.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&R.attached), c = atomic_load(&R.cleaned);

    if (chk_wrong_check(&R.wrong, buf, size))
        return 1;
    if (c > a || (R.unloaded && (c != a || R.bindings != NULL)))
        return chk_fail(buf, size, "%lu attached, %lu cleaned up%s", a, c,
                        R.unloaded ? " after unload" : "");
    return 0;
}
