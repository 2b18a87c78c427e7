/* SPDX-License-Identifier: MIT */
/*
 * bug_call_after_detach.c - bug_call_after_detach.so: a client of the
 * catalogue's NPI that does not keep a binding alive across its calls.
 *
 * The real bug: a call picks a binding under the module lock and makes the
 * call after dropping it, with nothing to say that a call is in flight;
 * the detach takes the binding off the list and returns STATUS_SUCCESS at
 * once, "no new call can pick it".  A call that picked it just before is
 * still on its way: the NMR completes both halves, runs the cleanups (this
 * module frees its context; chk_provider overwrites its binding state with
 * 0xA5 and frees it), the provider's wait returns and the provider may be
 * unmapped; then the call goes through the stale dispatch table and
 * context.  A worker yields between its pick and its call, where the
 * provider's unload may run.  It takes --workers and a provider unloaded
 * while this client calls.
 *
 * Oracle: crash (the call runs on freed memory: chk_provider reads a
 * 0xA5 client dispatch pointer, or its code is gone; ASan reports the use
 * of the freed binding context first).
 *
 * `fixed`: an nmr_guard per binding, entered under the lock while the
 * binding is usable and left after the call; the detach returns
 * nmr_guard_detach() (PENDING with calls in flight).
 */
#include "chk_mod.h"

#include <nmr/guard.h>

#include <pthread.h>
#include <stdbool.h>

typedef struct cd_binding {
    struct cd_binding *next;                /* in A.bindings [A.lock] */
    bool usable;                            /* [A.lock] */
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const CHK_PROVIDER_DISPATCH *provider;
    unsigned key;
    nmr_guard guard;                        /* fixed only */
} cd_binding;

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    pthread_mutex_t lock;
    cd_binding *bindings;                   /* [lock] */
    atomic_ulong calls, attached, cleaned;
    chk_wrong wrong;
} A;

static VOID cd_notify(PVOID client_binding_ctx, unsigned value)
{
    chk_notify_in_call(client_binding_ctx, value);
}

static const CHK_CLIENT_DISPATCH cd_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), cd_notify
};

static NTSTATUS cd_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    const VOID *dispatch = NULL;
    cd_binding *b;
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
    if (A.fixed && nmr_guard_init(&b->guard, nmr_binding, NMR_GUARD_CLIENT) != STATUS_SUCCESS) {
        free(b);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    st = NmrClientAttachProvider(nmr_binding, b, &cd_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        if (A.fixed)
            nmr_guard_destroy(&b->guard);
        free(b);
        return st;
    }
    b->provider = dispatch;
    atomic_fetch_add(&A.attached, 1);
    pthread_mutex_lock(&A.lock);
    b->usable = chk_dispatch_ok(dispatch);
    b->next = A.bindings;
    A.bindings = b;
    pthread_mutex_unlock(&A.lock);
    return STATUS_SUCCESS;
}

static NTSTATUS cd_detach(PVOID client_binding_ctx)
{
    cd_binding *b = client_binding_ctx;

    pthread_mutex_lock(&A.lock);
    b->usable = false;                      /* no new call picks it */
    pthread_mutex_unlock(&A.lock);
    if (A.fixed)
        return nmr_guard_detach(&b->guard);
    return STATUS_SUCCESS;                  /* BUG: a call may be on its way */
}

static VOID cd_cleanup(PVOID client_binding_ctx)
{
    cd_binding *b = client_binding_ctx, **pp;

    pthread_mutex_lock(&A.lock);
    for (pp = &A.bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&A.lock);
    if (A.fixed)
        nmr_guard_destroy(&b->guard);
    atomic_fetch_add(&A.cleaned, 1);
    free(b);
}

static const NPI_MODULEID cd_module_id = CHK_MODULE_ID(16);
static const NPI_CLIENT_CHARACTERISTICS cd_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), cd_attach, cd_detach, cd_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &cd_module_id, 0, NULL }
};

NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    cd_binding *b;
    unsigned value;
    const char *why;

    pthread_mutex_lock(&A.lock);
    for (b = A.bindings; b != NULL && !b->usable; b = b->next)
        ;
    if (b != NULL && A.fixed && !nmr_guard_enter(&b->guard))
        b = NULL;
    pthread_mutex_unlock(&A.lock);
    if (b == NULL)
        return;
    nmrcheck_yield();                       /* the provider may detach and go here */
    value = chk_next_value(worker);
    why = chk_call(b->provider, b->provider_ctx, b->key, b, value);
    if (A.fixed)
        nmr_guard_leave(&b->guard);
    if (why != NULL)
        chk_wrong_note(&A.wrong, "%s (value %u)", why, value);
    else
        atomic_fetch_add_explicit(&A.calls, 1, memory_order_relaxed);
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&A, 0, sizeof A);
    chk_wrong_reset(&A.wrong);
    A.fixed = (flags & 1u) != 0;
    if (pthread_mutex_init(&A.lock, NULL) != 0)
        return STATUS_INSUFFICIENT_RESOURCES;
    st = NmrRegisterClient(&cd_chars, NULL, &A.handle);
    if (st != STATUS_SUCCESS)
        pthread_mutex_destroy(&A.lock);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(A.handle);

    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(A.handle);
    pthread_mutex_destroy(&A.lock);
    A.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    unsigned long a = atomic_load(&A.attached), c = atomic_load(&A.cleaned);

    if (chk_wrong_check(&A.wrong, buf, size))
        return 1;
    if (c > a || (A.unloaded && (c != a || A.bindings != NULL)))
        return chk_fail(buf, size, "%lu attached, %lu cleaned up%s", a, c,
                        A.unloaded ? " after unload" : "");
    return 0;
}
