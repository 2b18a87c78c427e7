/* SPDX-License-Identifier: MIT */
/*
 * invariants.c - consistency check of the whole registrar (invariants.h).
 *
 * For each NPI, under its lock, every registration and binding is checked
 * against the rules the code relies on:
 *   - a registration is on the list of its own side and NPI, not DONE;
 *   - its live_bindings equals the length of its binding list;
 *   - every binding on it names it on the right side, is on the peer's
 *     list too, the peer has the other side and the same NPI;
 *   - a binding's state agrees with its detach halves (no half moves before
 *     DETACHING; CLEANUP only with both halves complete);
 *   - a CREATED binding has two ACTIVE registrations (a deregistration
 *     cancels the offers it has not made).
 */
#include "core/invariants.h"

#include "core/core.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct check {
    char *why;
    size_t why_size;
    int failed;
} check;

#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
static void fail(check *c, const char *fmt, ...)
{
    if (c->failed++)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (c->why_size > 0)
        vsnprintf(c->why, c->why_size, fmt, ap);
    va_end(ap);
}

static size_t list_length(const nmr_link *head)
{
    size_t n = 0;
    for (const nmr_link *l = head->next; l != head; l = l->next)
        n++;
    return n;
}

static int on_list(const nmr_link *head, const nmr_link *item)
{
    for (const nmr_link *l = head->next; l != head; l = l->next)
        if (l == item)
            return 1;
    return 0;
}

static void check_binding(check *c, const nmr_npi *npi, const nmr_reg *r,
                          const nmr_binding *b)
{
    int side = r->side;
    const nmr_reg *peer = b->reg[NMR_OTHER(side)];
    if (b->reg[side] != r)
        fail(c, "binding %p is on registration %p's list but names %p", (void *)b,
             (void *)r, (void *)b->reg[side]);
    if (peer == NULL || peer->side != NMR_OTHER(side) || peer->npi != npi)
        fail(c, "binding %p has a bad peer %p", (void *)b, (void *)peer);
    else if (!on_list(&peer->bindings, &b->link[NMR_OTHER(side)]))
        fail(c, "binding %p is missing from its peer's list", (void *)b);
    switch ((nmr_binding_state)b->state) {
    case NMR_B_CREATED:
        if (b->reg[0]->state != NMR_REG_ACTIVE || b->reg[1]->state != NMR_REG_ACTIVE)
            fail(c, "binding %p is CREATED but a side is deregistering", (void *)b);
        /* fall through */
    case NMR_B_OFFERING:
    case NMR_B_ATTACHED:
        if (b->half[0] != NMR_H_IDLE || b->half[1] != NMR_H_IDLE)
            fail(c, "binding %p in state %d has a detach half moving", (void *)b,
                 b->state);
        break;
    case NMR_B_DETACHING:
        break;
    case NMR_B_CLEANUP:
        if (b->half[0] != NMR_H_COMPLETE || b->half[1] != NMR_H_COMPLETE)
            fail(c, "binding %p in CLEANUP with halves %d/%d", (void *)b,
                 b->half[0], b->half[1]);
        break;
    default:
        fail(c, "binding %p on a list in state %d", (void *)b, b->state);
    }
}

static void check_npi(nmr_npi *npi, void *arg)
{
    check *c = arg;
    nmr_npi_lock(npi);
    for (int side = 0; side < 2; side++) {
        nmr_link *head = &npi->regs[side];
        for (nmr_link *l = head->next; l != head; l = l->next) {
            nmr_reg *r = nmr_container_of(l, nmr_reg, npi_link);
            if (r->side != side || r->npi != npi)
                fail(c, "registration %p is on the wrong list", (void *)r);
            if (r->state == NMR_REG_DONE)
                fail(c, "registration %p is DONE but still listed", (void *)r);
            if (list_length(&r->bindings) != r->live_bindings)
                fail(c, "registration %p counts %u bindings, lists %zu", (void *)r,
                     r->live_bindings, list_length(&r->bindings));
            for (nmr_link *bl = r->bindings.next; bl != &r->bindings; bl = bl->next)
                check_binding(c, npi, r,
                              nmr_container_of(bl, nmr_binding, link[side]));
        }
    }
    nmr_npi_unlock(npi);
}

int nmr_check_invariants(char *why, size_t why_size)
{
    check c = {why, why_size, 0};
    if (why_size > 0)
        why[0] = '\0';
    if (nmr_npi_foreach(check_npi, &c) != 0)
        fail(&c, "out of memory while listing NPIs");
    return c.failed ? -1 : 0;
}
