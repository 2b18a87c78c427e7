/*
 * registration.c - register, deregister and wait, for both roles.
 *
 * Client and provider registrations are the same object with a side; the
 * nine public functions of netioddk.h are thin wrappers that describe
 * their side's characteristics to one shared implementation.
 *
 *   register    validate (R1); allocate the registration, its NPI entry,
 *               its handle and one binding per matching peer - all before
 *               any callback (R2, R32); insert it and scan for peers in one
 *               critical section of the NPI lock (R5); store the handle
 *               (R7); then make each offer on this thread, lock dropped.
 *   deregister  ACTIVE -> DEREGISTERING under the NPI lock (R21); cancel
 *               offers not yet made, take over the detach of attached
 *               bindings, then run those detaches with no lock (R12, R13).
 *               Bindings whose offer is in flight are detached by their
 *               offering thread when it sees the deregistration (R11).
 *   wait        refuse when not deregistered (R19) or when this thread is
 *               inside a callback the wait would wait for (R20); else sleep
 *               on the NPI's condition variable until the registration has
 *               no bindings left, then retire the handle (R18).
 *
 * Context: register and deregister never block on other threads (only
 * briefly on the NPI lock) and may be called from callbacks; wait blocks.
 */
#include "core.h"

#include "alloc.h"
#include "callstack.h"

#include <assert.h>
#include <stddef.h>

/* What register needs to know of one side's characteristics. */
typedef struct reg_desc {
    nmr_side side;
    USHORT version, length;
    size_t length_needed;
    const void *attach;
    nmr_detach_fn *detach;
    nmr_cleanup_fn *cleanup;
    const NPI_REGISTRATION_INSTANCE *instance;
} reg_desc;

static const nmr_handle_kind reg_kind[2] = {NMR_HANDLE_CLIENT,
                                            NMR_HANDLE_PROVIDER};

static void reg_destroy(struct nmr_object *obj)
{
    nmr_reg *r = nmr_container_of(obj, nmr_reg, obj);
    nmr_npi_put(r->npi);
    nmr_free(r, sizeof(*r));
}

/* R1: everything checked before anything is created or called. */
static int desc_valid(const reg_desc *d)
{
    const NPI_REGISTRATION_INSTANCE *ri = d->instance;
    return d->version == 0 && d->length >= d->length_needed &&
           d->attach != NULL && d->detach != NULL && ri->Version == 0 &&
           ri->Size >= sizeof(NPI_REGISTRATION_INSTANCE) && ri->NpiId != NULL &&
           ri->ModuleId != NULL;
}

/* Undo a registration that failed for lack of memory (R2).  Lock held on
 * entry, released on return. */
static void register_rollback(nmr_reg *r, nmr_binding *todo)
{
    while (todo != NULL) {
        nmr_binding_cancel_locked(todo);
        todo = todo->work_next;
    }
    nmr_list_del(&r->npi_link);
    r->state = NMR_REG_DONE;
    pthread_mutex_unlock(&r->npi->lock);
}

static NTSTATUS reg_register(const reg_desc *d, PVOID context, PHANDLE out)
{
    if (out == NULL)
        return STATUS_INVALID_PARAMETER;
    *out = NULL;
    if (!desc_valid(d))
        return STATUS_INVALID_PARAMETER;

    nmr_reg *r = nmr_alloc(sizeof(*r));
    if (r == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    r->npi = nmr_npi_get(d->instance->NpiId);
    if (r->npi == NULL) {
        nmr_free(r, sizeof(*r));
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    r->side = (uint8_t)d->side;
    r->instance = d->instance;
    r->context = context;
    if (d->side == NMR_CLIENT)
        r->attach.client = (NPI_CLIENT_ATTACH_PROVIDER_FN *)d->attach;
    else
        r->attach.provider = (NPI_PROVIDER_ATTACH_CLIENT_FN *)d->attach;
    r->detach = d->detach;
    r->cleanup = d->cleanup;
    nmr_list_init(&r->bindings);
    r->state = NMR_REG_ACTIVE;

    /* R5: insertion and the match scan are one critical section, so of two
     * peers registering at once exactly one sees the other.  The handle is
     * made inside it too, after the insertion: nobody can name the
     * registration (not even by guessing its handle) before it is listed. */
    nmr_npi *npi = r->npi;
    nmr_binding *todo = NULL, **tail = &todo;
    HANDLE h;
    pthread_mutex_lock(&npi->lock);
    nmr_list_add_tail(&npi->regs[d->side], &r->npi_link);
    if (nmr_handle_create(&r->obj, reg_kind[d->side], reg_destroy, &h) != 0) {
        nmr_list_del(&r->npi_link);
        pthread_mutex_unlock(&npi->lock);
        nmr_npi_put(r->npi);
        nmr_free(r, sizeof(*r));
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    /* R7: the handle is the caller's before anyone can see the registration:
     * a peer registering on another thread may offer to it as soon as the
     * lock is dropped, and its callback may use the handle. */
    *out = h;
    nmr_link *peers = &npi->regs[NMR_OTHER(d->side)];
    for (nmr_link *l = peers->next; l != peers; l = l->next) {
        nmr_reg *peer = nmr_container_of(l, nmr_reg, npi_link);
        if (peer->state != NMR_REG_ACTIVE)
            continue; /* R12: a deregistering registration gets no offers */
        nmr_binding *b = d->side == NMR_CLIENT
                             ? nmr_binding_create_locked(r, peer)
                             : nmr_binding_create_locked(peer, r);
        if (b == NULL) {
            *out = NULL;
            register_rollback(r, todo);
            while (todo != NULL) {
                nmr_binding *next = todo->work_next;
                nmr_handle_put(&todo->obj);
                todo = next;
            }
            nmr_handle_retire(&r->obj);
            return STATUS_INSUFFICIENT_RESOURCES;
        }
        b->work_next = NULL;
        *tail = b;
        tail = &b->work_next;
    }
    int first_claimed = 0;
    if (todo != NULL) {
        /* Keep the registration while its offers run: a callback may
         * deregister it and another thread finish waiting for it. */
        nmr_handle_get(&r->obj);
        first_claimed = nmr_binding_claim_offer_locked(todo);
    }
    pthread_mutex_unlock(&npi->lock);

    if (todo != NULL) {
        nmr_binding_offer_all(todo, first_claimed);
        nmr_handle_put(&r->obj);
    }
    return STATUS_SUCCESS;
}

static NTSTATUS reg_deregister(HANDLE h, nmr_side side)
{
    struct nmr_object *o = nmr_handle_ref(h, reg_kind[side]);
    if (o == NULL)
        return STATUS_INVALID_PARAMETER;
    nmr_reg *r = nmr_container_of(o, nmr_reg, obj);
    nmr_binding *todo = NULL, **tail = &todo;

    pthread_mutex_lock(&r->npi->lock);
    if (r->state != NMR_REG_ACTIVE) {
        int dead = r->state == NMR_REG_DONE;
        pthread_mutex_unlock(&r->npi->lock);
        nmr_handle_put(o);
        return dead ? STATUS_INVALID_PARAMETER : STATUS_INVALID_DEVICE_STATE;
    }
    r->state = NMR_REG_DEREGISTERING;
    nmr_link *head = &r->bindings;
    for (nmr_link *l = head->next, *next; l != head; l = next) {
        next = l->next;
        nmr_binding *b = nmr_container_of(l, nmr_binding, link[side]);
        if (b->state == NMR_B_CREATED) {
            /* Not offered yet: it never will be (R12).  Its creator still
             * holds it on its to-do list and will find it GONE. */
            nmr_binding_cancel_locked(b);
        } else if (nmr_binding_start_detach_locked(b)) {
            nmr_handle_get(&b->obj);
            b->work_next = NULL;
            *tail = b;
            tail = &b->work_next;
        }
    }
    pthread_mutex_unlock(&r->npi->lock);

    while (todo != NULL) {
        nmr_binding *next = todo->work_next;
        nmr_binding_detach(todo);
        nmr_handle_put(&todo->obj);
        todo = next;
    }
    nmr_handle_put(o);
    return STATUS_PENDING;
}

static NTSTATUS reg_wait(HANDLE h, nmr_side side)
{
    struct nmr_object *o = nmr_handle_ref(h, reg_kind[side]);
    if (o == NULL)
        return STATUS_INVALID_PARAMETER;
    nmr_reg *r = nmr_container_of(o, nmr_reg, obj);
    nmr_npi *npi = r->npi;
    NTSTATUS s = STATUS_SUCCESS;

    pthread_mutex_lock(&npi->lock);
    if (r->state == NMR_REG_ACTIVE || r->state == NMR_REG_DONE) {
        s = STATUS_INVALID_PARAMETER; /* R19: not deregistered, or dead */
    } else if (r->live_bindings > 0 && nmr_callstack_inside_registration(r)) {
        s = STATUS_POSSIBLE_DEADLOCK; /* R20: we would wait for ourselves */
    } else if (r->state == NMR_REG_WAITING) {
        s = STATUS_INVALID_DEVICE_STATE; /* another thread is waiting */
    } else {
        r->state = NMR_REG_WAITING;
        while (r->live_bindings > 0)
            pthread_cond_wait(&npi->drained, &npi->lock);
        r->state = NMR_REG_DONE;
        nmr_list_del(&r->npi_link);
    }
    pthread_mutex_unlock(&npi->lock);

    if (s == STATUS_SUCCESS)
        nmr_handle_retire_put(o); /* R18: the handle is dead from here on */
    else
        nmr_handle_put(o);
    return s;
}

/* ---- the Windows API ---------------------------------------------------- */

NTSTATUS NmrRegisterClient(PNPI_CLIENT_CHARACTERISTICS ClientCharacteristics,
                           PVOID ClientContext, PHANDLE NmrClientHandle)
{
    if (ClientCharacteristics == NULL) {
        if (NmrClientHandle != NULL)
            *NmrClientHandle = NULL;
        return STATUS_INVALID_PARAMETER;
    }
    const NPI_CLIENT_CHARACTERISTICS *c = ClientCharacteristics;
    reg_desc d = {
        .side = NMR_CLIENT,
        .version = c->Version,
        .length = c->Length,
        .length_needed = sizeof(*c),
        .attach = (const void *)c->ClientAttachProvider,
        .detach = c->ClientDetachProvider,
        .cleanup = c->ClientCleanupBindingContext,
        .instance = &c->ClientRegistrationInstance,
    };
    return reg_register(&d, ClientContext, NmrClientHandle);
}

NTSTATUS NmrRegisterProvider(PNPI_PROVIDER_CHARACTERISTICS ProviderCharacteristics,
                             PVOID ProviderContext, PHANDLE NmrProviderHandle)
{
    if (ProviderCharacteristics == NULL) {
        if (NmrProviderHandle != NULL)
            *NmrProviderHandle = NULL;
        return STATUS_INVALID_PARAMETER;
    }
    const NPI_PROVIDER_CHARACTERISTICS *p = ProviderCharacteristics;
    reg_desc d = {
        .side = NMR_PROVIDER,
        .version = p->Version,
        .length = p->Length,
        .length_needed = sizeof(*p),
        .attach = (const void *)p->ProviderAttachClient,
        .detach = p->ProviderDetachClient,
        .cleanup = p->ProviderCleanupBindingContext,
        .instance = &p->ProviderRegistrationInstance,
    };
    return reg_register(&d, ProviderContext, NmrProviderHandle);
}

NTSTATUS NmrDeregisterClient(HANDLE NmrClientHandle)
{
    return reg_deregister(NmrClientHandle, NMR_CLIENT);
}

NTSTATUS NmrDeregisterProvider(HANDLE NmrProviderHandle)
{
    return reg_deregister(NmrProviderHandle, NMR_PROVIDER);
}

NTSTATUS NmrWaitForClientDeregisterComplete(HANDLE NmrClientHandle)
{
    return reg_wait(NmrClientHandle, NMR_CLIENT);
}

NTSTATUS NmrWaitForProviderDeregisterComplete(HANDLE NmrProviderHandle)
{
    return reg_wait(NmrProviderHandle, NMR_PROVIDER);
}
