/* SPDX-License-Identifier: MIT */
/*
 * residue.c - find and describe what a module left in the registrar (see
 * residue.h).  A registration belongs to a module when its characteristics,
 * one of its callbacks or its context lies in the module's mapping
 * (host_owner); its bindings are listed by the snapshot.
 */
#define _POSIX_C_SOURCE 200809L
#include "residue.h"

#include "out.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int residue_take(const host_module *m, residue *r)
{
    memset(r, 0, sizeof *r);
    if (nmr_snapshot_take(NULL, &r->snap) != STATUS_SUCCESS)
        return -1;
    r->regs = calloc(r->snap->nregistrations + 1, sizeof *r->regs);
    if (r->regs == NULL) {
        nmr_snapshot_free(r->snap);
        r->snap = NULL;
        return -1;
    }
    for (size_t i = 0; i < r->snap->nregistrations; i++) {
        if (host_owner(&r->snap->registrations[i]) == m)
            r->regs[r->n++] = i;
    }
    for (size_t i = 0; i < r->snap->nbindings; i++) {
        const nmr_binding_info *b = &r->snap->bindings[i];
        for (size_t k = 0; k < r->n; k++) {
            if (b->client == r->regs[k] || b->provider == r->regs[k]) {
                r->nbindings++;
                break;
            }
        }
    }
    return 0;
}

void residue_free(residue *r)
{
    nmr_snapshot_free(r->snap);
    free(r->regs);
    memset(r, 0, sizeof *r);
}

static const char *state_meaning(nmr_registration_state s)
{
    switch (s) {
    case NMR_REGISTRATION_ACTIVE:
        return "active (not deregistered)";
    case NMR_REGISTRATION_DEREGISTERING:
        return "deregistered, but never waited for (no NmrWaitFor*DeregisterComplete)";
    case NMR_REGISTRATION_WAITING:
        return "deregistered, its wait has not returned";
    }
    return "?";
}

void residue_owner_name(const nmr_registration_info *reg, char *buf, size_t size)
{
    host_module *m = host_owner(reg);
    if (m != NULL)
        snprintf(buf, size, "%s", m->name);
    else
        nmr_module_id_format(&reg->module_id, buf, size);
}

void residue_describe_reg(const nmr_registration_info *reg, char *buf, size_t size)
{
    NPI_MODULEID npi_as_id;
    memset(&npi_as_id, 0, sizeof npi_as_id);
    npi_as_id.Length = sizeof npi_as_id;
    npi_as_id.Type = MIT_GUID;
    npi_as_id.Guid = reg->npi_id;
    char npi[NMR_MODULE_ID_TEXT], mod[NMR_MODULE_ID_TEXT];
    nmr_module_id_format(&npi_as_id, npi, sizeof npi);
    nmr_module_id_format(&reg->module_id, mod, sizeof mod);
    snprintf(buf, size, "%s registration %p: NPI %s, module ID %s, number %lu, %s, %zu binding%s",
             nmr_role_name(reg->role), reg->handle, npi, mod, (unsigned long)reg->number,
             state_meaning(reg->state), reg->bindings, reg->bindings == 1 ? "" : "s");
}

void residue_describe_binding(const nmr_snapshot *s, const nmr_binding_info *b,
                              char *buf, size_t size)
{
    const nmr_registration_info *c = &s->registrations[b->client];
    const nmr_registration_info *p = &s->registrations[b->provider];
    char cn[HOST_NAME_LEN + NMR_MODULE_ID_TEXT], pn[HOST_NAME_LEN + NMR_MODULE_ID_TEXT];
    residue_owner_name(c, cn, sizeof cn);
    residue_owner_name(p, pn, sizeof pn);
    char halves[256] = "";
    if (b->state == NMR_BINDING_DETACHING) {
        size_t len = 0;
        len += (size_t)snprintf(halves, sizeof halves, ", detaching for %llu ms:",
                                (unsigned long long)b->detaching_ms);
        for (int side = 0; side < 2 && len < sizeof halves; side++) {
            nmr_half_info h = b->half[side];
            if (h == NMR_HALF_CALLING || h == NMR_HALF_PENDING)
                len += (size_t)snprintf(halves + len, sizeof halves - len,
                                        " %s half %s for %llu ms%s",
                                        side == 0 ? "client" : "provider", nmr_half_name(h),
                                        (unsigned long long)b->half_pending_ms[side],
                                        side == 0 ? "," : "");
            else
                len += (size_t)snprintf(halves + len, sizeof halves - len, " %s half %s%s",
                                        side == 0 ? "client" : "provider", nmr_half_name(h),
                                        side == 0 ? "," : "");
        }
    }
    snprintf(buf, size, "binding %p: client %s (%p) -- provider %s (%p): %s%s", b->handle, cn,
             c->handle, pn, p->handle, nmr_binding_state_name(b->state), halves);
}

void residue_summary(const residue *r, char *buf, size_t size)
{
    size_t len = (size_t)snprintf(buf, size, "%zu registration%s", r->n, r->n == 1 ? "" : "s");
    for (size_t k = 0; k < r->n && len < size; k++) {
        const nmr_registration_info *reg = &r->snap->registrations[r->regs[k]];
        len += (size_t)snprintf(buf + len, size - len, "%s%s %s", k == 0 ? " (" : "; ",
                                nmr_role_name(reg->role),
                                nmr_registration_state_name(reg->state));
    }
    if (r->n != 0 && len < size)
        len += (size_t)snprintf(buf + len, size - len, ")");
    if (len < size)
        snprintf(buf + len, size - len, ", %zu binding%s", r->nbindings,
                 r->nbindings == 1 ? "" : "s");
}

void residue_report(const residue *r, const char *indent)
{
    char line[1024];
    for (size_t k = 0; k < r->n; k++) {
        const nmr_registration_info *reg = &r->snap->registrations[r->regs[k]];
        residue_describe_reg(reg, line, sizeof line);
        out_line("%s%s", indent, line);
        for (size_t i = 0; i < r->snap->nbindings; i++) {
            const nmr_binding_info *b = &r->snap->bindings[i];
            if (b->client != r->regs[k] && b->provider != r->regs[k])
                continue;
            residue_describe_binding(r->snap, b, line, sizeof line);
            out_line("%s  %s", indent, line);
        }
    }
}

/* ---- what a driver left in libnmr-km ------------------------------------ */
int residue_km_take(const host_module *m, nmr_km_residue *k)
{
    memset(k, 0, sizeof *k);
    if (m->kind != HOST_DRIVER)
        return 0;
    /* By the object's mapping: also what a failed DriverEntry left, when
     * libnmr-km kept no driver record. */
    if (m->driver != NULL)
        nmr_km_driver_residue(m->driver, k);
    else
        nmr_km_object_residue(m->base, k);
    return k->pool_count != 0 || k->threads != 0 || k->work_items != 0;
}

static const char *plural(unsigned long long n) { return n == 1 ? "" : "s"; }

void residue_km_summary(const nmr_km_residue *k, char *buf, size_t size)
{
    size_t len = 0;
    buf[0] = '\0';
    if (k->pool_count != 0) {
        len += (size_t)snprintf(buf, size, "pool %llu byte%s in %llu allocation%s",
                                k->pool_bytes, plural(k->pool_bytes), k->pool_count,
                                plural(k->pool_count));
        char tag[8];
        for (size_t i = 0; i < k->ntags && len < size; i++)
            len += (size_t)snprintf(buf + len, size - len, "%s'%s': %llu, %llu byte%s",
                                    i == 0 ? " (tag " : "; tag ",
                                    nmr_km_tag_name(k->tags[i].tag, tag), k->tags[i].count,
                                    k->tags[i].bytes, plural(k->tags[i].bytes));
        if (k->more_tags != 0 && len < size)
            len += (size_t)snprintf(buf + len, size - len, "; %zu more tag%s", k->more_tags,
                                    plural(k->more_tags));
        if (k->ntags != 0 && len < size)
            len += (size_t)snprintf(buf + len, size - len, ")");
    }
    if (k->threads != 0 && len < size)
        len += (size_t)snprintf(buf + len, size - len, "%s%u system thread%s running",
                                len != 0 ? ", " : "", k->threads, plural(k->threads));
    if (k->work_items != 0 && len < size)
        snprintf(buf + len, size - len, "%s%u work item%s queued or running",
                 len != 0 ? ", " : "", k->work_items, plural(k->work_items));
}

void residue_km_report(const nmr_km_residue *k, const char *indent)
{
    char tag[8];
    if (k->pool_count != 0)
        out_line("%spool not freed: %llu allocation%s, %llu byte%s", indent, k->pool_count,
                 plural(k->pool_count), k->pool_bytes, plural(k->pool_bytes));
    for (size_t i = 0; i < k->ntags; i++)
        out_line("%s  tag '%s' (0x%08lx): %llu allocation%s, %llu byte%s", indent,
                 nmr_km_tag_name(k->tags[i].tag, tag), (unsigned long)k->tags[i].tag,
                 k->tags[i].count, plural(k->tags[i].count), k->tags[i].bytes,
                 plural(k->tags[i].bytes));
    if (k->more_tags != 0)
        out_line("%s  and %zu more tag%s", indent, k->more_tags, plural(k->more_tags));
    if (k->threads != 0)
        out_line("%s%u system thread%s (PsCreateSystemThread) still running", indent,
                 k->threads, plural(k->threads));
    if (k->work_items != 0)
        out_line("%s%u work item%s still queued or running", indent, k->work_items,
                 plural(k->work_items));
}
