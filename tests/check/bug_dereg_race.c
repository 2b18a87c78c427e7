/* SPDX-License-Identifier: MIT */
/*
 * bug_dereg_race.c - bug_dereg_race.so: a client of the catalogue's NPI
 * that frees its module state between NmrDeregisterClient and the wait.
 *
 * The real bug: the author saw the detach callbacks run inside
 * NmrDeregisterClient and took the call for the end of every binding, so
 * the unload frees the module's state (the context its callbacks use, and
 * its statistics block) right after it, and waits afterwards "for the
 * NMR's own bookkeeping".  NmrDeregisterClient only starts the teardown
 * (R12): a binding still in progress on another thread is not over.
 *   - An offer in flight: a provider registering at the same time
 *     (nmrcheck runs one module's load with another's unload) is inside
 *     this client's ClientAttachProvider; when NmrClientAttachProvider
 *     returns, the attach uses the freed state, and so do the detach and
 *     cleanup that the offering thread then runs (R11).
 *   - A half still pending: chk_provider.so:broadcast returns STATUS_PENDING
 *     from its detach while its thread is notifying; the notification and
 *     the cleanup that follows come after NmrDeregisterClient returned.
 * Each of them reads the statistics pointer from the freed state, which
 * was overwritten with 0xA5: a fault in a plain build, heap-use-after-free
 * under ASan.
 *
 * Oracle: crash.  (A late callback is impossible: the wait does come, and
 * it waits for those callbacks; it is the state they use that is gone.)
 *
 * `fixed`: the state is freed after NmrWaitForClientDeregisterComplete.
 */
#include "chk_mod.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct dr_stats {
    atomic_ulong attached, detached, cleaned, notifies;
} dr_stats;

typedef struct dr_binding dr_binding;
typedef struct dr_state {
    dr_binding *bindings;                   /* [lock] */
    unsigned magic;
    pthread_mutex_t lock;
    dr_stats *stats;
} dr_state;

struct dr_binding {
    dr_binding *next;                       /* in state->bindings [state->lock] */
    dr_state *state;
    HANDLE nmr_binding;
    PVOID provider_ctx;
    const CHK_PROVIDER_DISPATCH *provider;
};

static struct {
    HANDLE handle;
    bool fixed, unloaded;
    dr_state *state;                        /* the ClientContext */
    unsigned long final[3];                 /* the counts when it was freed */
} D;

static VOID dr_notify(PVOID client_binding_ctx, unsigned value)
{
    dr_binding *b = client_binding_ctx;

    (void)value;
    atomic_fetch_add_explicit(&b->state->stats->notifies, 1, memory_order_relaxed);
}

static const CHK_CLIENT_DISPATCH dr_dispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), dr_notify
};

static NTSTATUS dr_attach(HANDLE nmr_binding, PVOID client_ctx,
                          PNPI_REGISTRATION_INSTANCE provider)
{
    dr_state *s = client_ctx;
    const VOID *dispatch;
    dr_binding *b;
    unsigned key;
    NTSTATUS st;

    if (chk_provider_key(provider, &key) != STATUS_SUCCESS)
        return STATUS_NOINTERFACE;
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->state = s;
    b->nmr_binding = nmr_binding;
    st = NmrClientAttachProvider(nmr_binding, b, &dr_dispatch, &b->provider_ctx, &dispatch);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    b->provider = dispatch;
    atomic_fetch_add(&s->stats->attached, 1);   /* s freed meanwhile: faults */
    pthread_mutex_lock(&s->lock);
    b->next = s->bindings;
    s->bindings = b;
    pthread_mutex_unlock(&s->lock);
    return STATUS_SUCCESS;
}

static NTSTATUS dr_detach(PVOID client_binding_ctx)
{
    dr_binding *b = client_binding_ctx;

    atomic_fetch_add(&b->state->stats->detached, 1);
    return STATUS_SUCCESS;                  /* it makes no calls */
}

static VOID dr_cleanup(PVOID client_binding_ctx)
{
    dr_binding *b = client_binding_ctx, **pp;
    dr_state *s = b->state;

    atomic_fetch_add(&s->stats->cleaned, 1);
    pthread_mutex_lock(&s->lock);
    for (pp = &s->bindings; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == b) {
            *pp = b->next;
            break;
        }
    }
    pthread_mutex_unlock(&s->lock);
    free(b);
}

static const NPI_MODULEID dr_module_id = CHK_MODULE_ID(14);
static const NPI_CLIENT_CHARACTERISTICS dr_chars = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), dr_attach, dr_detach, dr_cleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &dr_module_id, 0, NULL }
};

static void free_state(void)
{
    dr_state *s = D.state;

    D.final[0] = atomic_load(&s->stats->attached);
    D.final[1] = atomic_load(&s->stats->detached);
    D.final[2] = atomic_load(&s->stats->cleaned);
    D.state = NULL;
    pthread_mutex_destroy(&s->lock);
    chk_poison_free(s->stats, sizeof *s->stats);
    chk_poison_free(s, sizeof *s);
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    static const char *const names[] = { "fixed", NULL };
    unsigned flags;
    dr_state *s;
    NTSTATUS st = chk_args(host, argc, argv, names, &flags);

    if (st != STATUS_SUCCESS)
        return st;
    memset(&D, 0, sizeof D);
    D.fixed = (flags & 1u) != 0;
    s = calloc(1, sizeof *s);
    if (s == NULL || (s->stats = calloc(1, sizeof *s->stats)) == NULL ||
        pthread_mutex_init(&s->lock, NULL) != 0) {
        if (s != NULL)
            free(s->stats);
        free(s);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    s->magic = 0xc4ec0014u;
    D.state = s;
    st = NmrRegisterClient(&dr_chars, s, &D.handle);
    if (st != STATUS_SUCCESS)
        free_state();
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterClient(D.handle);

    if (!D.fixed)
        free_state();                       /* BUG: bindings may still be in progress */
    if (st == STATUS_PENDING || st == STATUS_SUCCESS)
        st = NmrWaitForClientDeregisterComplete(D.handle);
    if (D.fixed)
        free_state();
    D.unloaded = true;
    return st;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    if (D.unloaded && (D.final[0] != D.final[1] || D.final[0] != D.final[2]))
        return chk_fail(buf, size, "when its state was freed: %lu attached, %lu detached, "
                        "%lu cleaned up", D.final[0], D.final[1], D.final[2]);
    return 0;
}
