/* SPDX-License-Identifier: MIT */
/*
 * snapshot.c - a copy of a registrar's state (nmr/introspect.h).
 *
 * The NPI index is walked with each NPI held by a reference and no lock
 * (nmr_npi_foreach); each NPI of the registrar is then copied under its
 * own lock, which is held only for that copy.  So the registrations of one
 * NPI and their bindings are consistent with each other; two NPIs may be
 * copied at slightly different moments (they share nothing).
 *
 * Bindings are reached from their client registration, so each is copied
 * once; its provider's index in the result is found by binary search in a
 * table of this NPI's provider registrations sorted by address.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "observe/snapshot.h"

#include "base/alloc.h"
#include "base/clock.h"
#include "core/registrar.h"

#include <stddef.h>
#include <stdlib.h> /* qsort, bsearch */
#include <string.h>

int nmr_binding_visible_locked(const nmr_binding *b)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    return b->state != NMR_B_CREATED && b->state != NMR_B_GONE;
}

static nmr_half_info half_info(uint8_t h)
{
    switch (h) {
    case NMR_H_IDLE: return NMR_HALF_NOT_STARTED;
    case NMR_H_CALLING:
    case NMR_H_CALLING_DONE: return NMR_HALF_CALLING;
    case NMR_H_PENDING: return NMR_HALF_PENDING;
    default: return NMR_HALF_COMPLETE;
    }
}

void nmr_binding_describe_locked(const nmr_binding *b, uint32_t now,
                                 nmr_binding_info *out)
{
    nmr_npi_assert_held(nmr_binding_npi(b));
    switch (b->state) {
    case NMR_B_OFFERING: out->state = NMR_BINDING_OFFERING; break;
    case NMR_B_ATTACHED: out->state = NMR_BINDING_ATTACHED; break;
    default: out->state = NMR_BINDING_DETACHING; break;
    }
    for (int side = 0; side < 2; side++) {
        out->half[side] = half_info(b->half[side]);
        /* a half completes without a call when the client failed after
         * the provider attached (R10): never pending */
        out->half_pending_ms[side] =
            out->half[side] == NMR_HALF_COMPLETE ? 0 : nmr_stamp_age_ms(b->since[side], now);
    }
    if (out->state == NMR_BINDING_DETACHING) {
        uint32_t start = b->since[NMR_CLIENT] ? b->since[NMR_CLIENT] : b->since[NMR_PROVIDER];
        out->detaching_ms = nmr_stamp_age_ms(start, now);
    } else {
        out->detaching_ms = 0;
    }
}

static const NPI_MODULEID no_module; /* a registration always has one (R1) */

void nmr_registration_describe_locked(const nmr_reg *r, nmr_registration_info *out)
{
    nmr_npi_assert_held(r->npi);
    const NPI_REGISTRATION_INSTANCE *ri = r->instance;
    out->role = r->side == NMR_CLIENT ? NMR_ROLE_CLIENT : NMR_ROLE_PROVIDER;
    switch (r->state) {
    case NMR_REG_ACTIVE: out->state = NMR_REGISTRATION_ACTIVE; break;
    case NMR_REG_DEREGISTERING: out->state = NMR_REGISTRATION_DEREGISTERING; break;
    default: out->state = NMR_REGISTRATION_WAITING; break;
    }
    out->npi_id = r->npi->id;
    out->module_id = ri->ModuleId != NULL ? *ri->ModuleId : no_module;
    out->number = ri->Number;
    out->context = r->context;
    /* The instance is a member of the caller's characteristics (R3). */
    size_t offset = r->side == NMR_CLIENT
                        ? offsetof(NPI_CLIENT_CHARACTERISTICS, ClientRegistrationInstance)
                        : offsetof(NPI_PROVIDER_CHARACTERISTICS, ProviderRegistrationInstance);
    out->characteristics = (const char *)ri - offset;
    out->attach = r->side == NMR_CLIENT ? (void (*)(void))r->attach.client
                                        : (void (*)(void))r->attach.provider;
    out->detach = (void (*)(void))r->detach;
    out->cleanup = (void (*)(void))r->cleanup;
    out->bindings = r->live_bindings;
}

/* A snapshot with the sizes of its arrays, so that every allocation goes
 * through alloc.h (counted, fault-injectable) and is freed with its size. */
typedef struct snapshot_mem {
    nmr_snapshot pub; /* first: the caller's pointer */
    size_t reg_cap, binding_cap;
} snapshot_mem;

typedef struct collect {
    uint64_t registrar;
    uint32_t now;
    nmr_snapshot *snap;
    snapshot_mem *mem;
    int failed;
} collect;

typedef struct reg_index {
    const nmr_reg *reg;
    size_t index;
} reg_index;

static int by_address(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t)((const reg_index *)a)->reg;
    uintptr_t y = (uintptr_t)((const reg_index *)b)->reg;
    return x < y ? -1 : x > y;
}

static int grow(void **array, size_t *cap, size_t used, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t want = *cap ? *cap : 16;
    while (want < need)
        want *= 2;
    void *p = nmr_alloc(want * elem);
    if (p == NULL)
        return -1;
    if (used > 0)
        memcpy(p, *array, used * elem);
    if (*array != NULL)
        nmr_free(*array, *cap * elem);
    *array = p;
    *cap = want;
    return 0;
}

static size_t list_count(const nmr_link *head)
{
    size_t n = 0;
    for (const nmr_link *l = head->next; l != head; l = l->next)
        n++;
    return n;
}

/* Under the NPI lock: append its registrations and bindings.  -1 when
 * memory ran out. */
static int copy_npi_locked(collect *c, nmr_npi *npi)
{
    nmr_npi_assert_held(npi);
    nmr_snapshot *s = c->snap;
    size_t nregs = list_count(&npi->regs[0]) + list_count(&npi->regs[1]);
    if (nregs == 0)
        return 0;
    reg_index *idx = nmr_alloc(nregs * sizeof(*idx));
    if (idx == NULL ||
        grow((void **)&s->registrations, &c->mem->reg_cap, s->nregistrations,
             s->nregistrations + nregs, sizeof(*s->registrations)) != 0) {
        if (idx != NULL)
            nmr_free(idx, nregs * sizeof(*idx));
        return -1;
    }
    /* Registrations: clients first, then providers, in list order. */
    size_t nclients = 0, n = 0;
    for (int side = 0; side < 2; side++) {
        for (nmr_link *l = npi->regs[side].next; l != &npi->regs[side]; l = l->next) {
            const nmr_reg *r = nmr_container_of(l, nmr_reg, npi_link);
            nmr_registration_info *ri = &s->registrations[s->nregistrations];
            memset(ri, 0, sizeof(*ri));
            ri->handle = nmr_handle_value(&r->obj);
            nmr_registration_describe_locked(r, ri);
            idx[n++] = (reg_index){r, s->nregistrations++};
        }
        if (side == NMR_CLIENT)
            nclients = n;
    }
    reg_index *providers = idx + nclients;
    size_t nproviders = n - nclients;
    qsort(providers, nproviders, sizeof(*providers), by_address);

    /* Bindings, each once: from its client. */
    int rc = 0;
    for (size_t i = 0; i < nclients && rc == 0; i++) {
        const nmr_reg *r = idx[i].reg;
        for (const nmr_link *l = r->bindings.next; l != &r->bindings; l = l->next) {
            const nmr_binding *b = nmr_container_of(l, nmr_binding, link[NMR_CLIENT]);
            if (!nmr_binding_visible_locked(b))
                continue;
            reg_index key = {b->reg[NMR_PROVIDER], 0};
            const reg_index *p = bsearch(&key, providers, nproviders, sizeof(key), by_address);
            if (p == NULL)
                continue; /* cannot happen: the invariants tie both lists */
            if (grow((void **)&s->bindings, &c->mem->binding_cap, s->nbindings,
                     s->nbindings + 1, sizeof(*s->bindings)) != 0) {
                rc = -1;
                break;
            }
            nmr_binding_info *bi = &s->bindings[s->nbindings++];
            memset(bi, 0, sizeof(*bi));
            bi->handle = nmr_handle_value(&b->obj);
            bi->client = idx[i].index;
            bi->provider = p->index;
            nmr_binding_describe_locked(b, c->now, bi);
        }
    }
    nmr_free(idx, nregs * sizeof(*idx));
    return rc;
}

static void visit(nmr_npi *npi, void *arg)
{
    collect *c = arg;
    if (c->failed || npi->registrar != c->registrar)
        return;
    nmr_npi_lock(npi);
    if (copy_npi_locked(c, npi) != 0)
        c->failed = 1;
    nmr_npi_unlock(npi);
}

void nmr_snapshot_free(nmr_snapshot *snapshot)
{
    if (snapshot == NULL)
        return;
    snapshot_mem *m = (snapshot_mem *)snapshot;
    if (snapshot->registrations != NULL)
        nmr_free(snapshot->registrations, m->reg_cap * sizeof(*snapshot->registrations));
    if (snapshot->bindings != NULL)
        nmr_free(snapshot->bindings, m->binding_cap * sizeof(*snapshot->bindings));
    nmr_free(m, sizeof(*m));
}

NTSTATUS nmr_snapshot_take(nmr_registrar *registrar, nmr_snapshot **out)
{
    if (out == NULL)
        return STATUS_INVALID_PARAMETER;
    *out = NULL;
    uint64_t key;
    if (nmr_registrar_acquire(registrar, &key) != 0)
        return STATUS_INVALID_PARAMETER;
    collect c = {.registrar = key, .now = nmr_stamp_ms()};
    c.mem = nmr_alloc(sizeof(*c.mem));
    c.snap = c.mem != NULL ? &c.mem->pub : NULL;
    NTSTATUS status = STATUS_INSUFFICIENT_RESOURCES;
    if (c.snap != NULL) {
        c.snap->time_ns = nmr_now_ns();
        if (nmr_npi_foreach(visit, &c) == 0 && !c.failed) {
            *out = c.snap;
            status = STATUS_SUCCESS;
        } else {
            nmr_snapshot_free(c.snap);
        }
    }
    nmr_registrar_release(key);
    return status;
}
