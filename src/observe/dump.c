/* SPDX-License-Identifier: MIT */
/*
 * dump.c - a registrar snapshot (nmr/introspect.h) rendered as text, JSON
 * or Graphviz DOT, and the printable names of the snapshot's enums.
 *
 * Pure formatting: no lock, no libnmr state, nothing but the snapshot the
 * caller owns and the FILE it gives.  The snapshot is checked before the
 * first byte is written (indices in range, enums known, a binding joins a
 * client and a provider of one NPI), so a bad one writes nothing.  Text
 * and DOT group registrations by NPI through a sorted index array, the one
 * allocation here (through alloc.c, so tests can make it fail); JSON needs
 * none.
 *
 * One word is shared by the three formats: a binding is "blocked" when one
 * of its detach halves is PENDING (the module owes an Nmr*DetachComplete)
 * or CALLING (the module's detach callback has not returned).  Either way
 * a wait for deregistration cannot end until that module acts, so text
 * marks the binding with "!!", DOT draws it red and JSON says
 * "blocked": true.
 *
 * The JSON layout is docs/snapshot.schema.json; bump SCHEMA_VERSION and
 * the schema together.
 */
#include "observe/dump.h"

#include <nmr/introspect.h>

#include "base/alloc.h"
#include "base/side.h"

#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_VERSION 1


/* ---- names ------------------------------------------------------------- */

/* A role is a side (side.h): same values, same names. */
_Static_assert(NMR_ROLE_CLIENT == (int)NMR_CLIENT && NMR_ROLE_PROVIDER == (int)NMR_PROVIDER,
               "nmr_role and nmr_side must agree");

const char *nmr_role_name(nmr_role role)
{
    switch (role) {
    case NMR_ROLE_CLIENT:
    case NMR_ROLE_PROVIDER: return nmr_side_name((int)role);
    }
    return "unknown";
}

const char *nmr_registration_state_name(nmr_registration_state state)
{
    switch (state) {
    case NMR_REGISTRATION_ACTIVE: return "active";
    case NMR_REGISTRATION_DEREGISTERING: return "deregistering";
    case NMR_REGISTRATION_WAITING: return "waiting";
    }
    return "unknown";
}

const char *nmr_binding_state_name(nmr_binding_state_info state)
{
    switch (state) {
    case NMR_BINDING_OFFERING: return "offering";
    case NMR_BINDING_ATTACHED: return "attached";
    case NMR_BINDING_DETACHING: return "detaching";
    }
    return "unknown";
}

const char *nmr_half_name(nmr_half_info half)
{
    switch (half) {
    case NMR_HALF_NOT_STARTED: return "not-started";
    case NMR_HALF_CALLING: return "calling";
    case NMR_HALF_PENDING: return "pending";
    case NMR_HALF_COMPLETE: return "complete";
    }
    return "unknown";
}

/* ---- GUIDs, module IDs, pointers ---------------------------------------- */

#define GUID_TEXT 39 /* {8-4-4-4-12} and the NUL */

static void guid_format(const GUID *g, char *buf, size_t size)
{
    snprintf(buf, size,
             "{%08" PRIX32 "-%04X-%04X-%02X%02X-%02X%02X%02X%02X%02X%02X}",
             (uint32_t)g->Data1, (unsigned)g->Data2, (unsigned)g->Data3,
             (unsigned)g->Data4[0], (unsigned)g->Data4[1], (unsigned)g->Data4[2],
             (unsigned)g->Data4[3], (unsigned)g->Data4[4], (unsigned)g->Data4[5],
             (unsigned)g->Data4[6], (unsigned)g->Data4[7]);
}

static int guid_equal(const GUID *a, const GUID *b)
{
    return a->Data1 == b->Data1 && a->Data2 == b->Data2 && a->Data3 == b->Data3 &&
           memcmp(a->Data4, b->Data4, sizeof(a->Data4)) == 0;
}

static int guid_compare(const GUID *a, const GUID *b)
{
    if (a->Data1 != b->Data1)
        return a->Data1 < b->Data1 ? -1 : 1;
    if (a->Data2 != b->Data2)
        return a->Data2 < b->Data2 ? -1 : 1;
    if (a->Data3 != b->Data3)
        return a->Data3 < b->Data3 ? -1 : 1;
    return memcmp(a->Data4, b->Data4, sizeof(a->Data4));
}

char *nmr_module_id_format(const NPI_MODULEID *id, char *buf, size_t size)
{
    if (buf == NULL || size == 0)
        return buf;
    if (id == NULL)
        snprintf(buf, size, "(none)");
    else if (id->Type == MIT_GUID)
        guid_format(&id->Guid, buf, size);
    else if (id->Type == MIT_IF_LUID)
        snprintf(buf, size, "luid:0x%08" PRIx32 ":0x%08" PRIx32,
                 (uint32_t)id->IfLuid.HighPart, (uint32_t)id->IfLuid.LowPart);
    else
        snprintf(buf, size, "type-%d:?", (int)id->Type);
    return buf;
}

static const char *module_id_type_name(const NPI_MODULEID *id)
{
    if (id->Type == MIT_GUID)
        return "guid";
    if (id->Type == MIT_IF_LUID)
        return "luid";
    return "unknown";
}

#define PTR_TEXT 24 /* 0x + 16 hex digits, with room to spare */

static const char *ptr_format(uintptr_t p, char *buf, size_t size)
{
    snprintf(buf, size, "0x%" PRIxPTR, p);
    return buf;
}

#define PTR(p, buf) ptr_format((uintptr_t)(p), buf, sizeof(buf))

/* ---- checking and counting ---------------------------------------------- */

static int snapshot_valid(const nmr_snapshot *s)
{
    if ((s->nregistrations > 0 && s->registrations == NULL) ||
        (s->nbindings > 0 && s->bindings == NULL))
        return 0;
    for (size_t i = 0; i < s->nregistrations; i++) {
        const nmr_registration_info *r = &s->registrations[i];
        if ((unsigned)r->role > NMR_ROLE_PROVIDER ||
            (unsigned)r->state > NMR_REGISTRATION_WAITING)
            return 0;
    }
    for (size_t i = 0; i < s->nbindings; i++) {
        const nmr_binding_info *b = &s->bindings[i];
        if (b->client >= s->nregistrations || b->provider >= s->nregistrations)
            return 0;
        const nmr_registration_info *c = &s->registrations[b->client];
        const nmr_registration_info *p = &s->registrations[b->provider];
        if (c->role != NMR_ROLE_CLIENT || p->role != NMR_ROLE_PROVIDER ||
            !guid_equal(&c->npi_id, &p->npi_id))
            return 0;
        if ((unsigned)b->state > NMR_BINDING_DETACHING ||
            (unsigned)b->half[0] > NMR_HALF_COMPLETE ||
            (unsigned)b->half[1] > NMR_HALF_COMPLETE)
            return 0;
    }
    return 1;
}

static int half_blocked(nmr_half_info h)
{
    return h == NMR_HALF_PENDING || h == NMR_HALF_CALLING;
}

static int binding_blocked(const nmr_binding_info *b)
{
    return half_blocked(b->half[0]) || half_blocked(b->half[1]);
}

typedef struct counts {
    size_t role[2];
    size_t reg_state[3];
    size_t binding_state[3];
    size_t blocked;
} counts;

static void count_snapshot(const nmr_snapshot *s, counts *c)
{
    memset(c, 0, sizeof(*c));
    for (size_t i = 0; i < s->nregistrations; i++) {
        c->role[s->registrations[i].role]++;
        c->reg_state[s->registrations[i].state]++;
    }
    for (size_t i = 0; i < s->nbindings; i++) {
        c->binding_state[s->bindings[i].state]++;
        if (binding_blocked(&s->bindings[i]))
            c->blocked++;
    }
}

/* Registration indices ordered by NPI GUID, then by index: each NPI's
 * registrations form one run, and the NPIs come in a stable order however
 * the snapshot listed them.  qsort() over an index array; its comparison
 * finds the snapshot through a thread-local pointer, since qsort() takes
 * no context and two threads may dump at once. */
static _Thread_local const nmr_snapshot *sorting;

static int by_npi(const void *pa, const void *pb)
{
    size_t i = *(const size_t *)pa, j = *(const size_t *)pb;
    int d = guid_compare(&sorting->registrations[i].npi_id,
                         &sorting->registrations[j].npi_id);
    if (d != 0)
        return d;
    return i < j ? -1 : i > j;
}

/* NULL when out of memory; *npis receives the number of distinct NPIs. */
static size_t *order_by_npi(const nmr_snapshot *s, size_t *npis)
{
    size_t n = s->nregistrations;
    *npis = 0;
    size_t *order = nmr_alloc((n ? n : 1) * sizeof(*order));
    if (order == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    sorting = s;
    qsort(order, n, sizeof(*order), by_npi);
    sorting = NULL;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || !guid_equal(&s->registrations[order[i - 1]].npi_id,
                                  &s->registrations[order[i]].npi_id))
            (*npis)++;
    return order;
}

/* ---- escaping ----------------------------------------------------------- */

void nmr_dump_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p != 0; p++) {
        switch (*p) {
        case '"': fputs("\\\"", f); break;
        case '\\': fputs("\\\\", f); break;
        case '\b': fputs("\\b", f); break;
        case '\f': fputs("\\f", f); break;
        case '\n': fputs("\\n", f); break;
        case '\r': fputs("\\r", f); break;
        case '\t': fputs("\\t", f); break;
        default:
            if (*p < 0x20 || *p == 0x7f)
                fprintf(f, "\\u%04x", (unsigned)*p);
            else
                fputc(*p, f);
        }
    }
    fputc('"', f);
}

/* The inside of a DOT quoted string: quotes and backslashes escaped (a
 * backslash would otherwise start a DOT escape such as \n or \N), line
 * ends turned into DOT's centred line break. */
void nmr_dump_dot_string(FILE *f, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != 0; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', f);
            fputc(*p, f);
        } else if (*p == '\n') {
            fputs("\\n", f);
        } else if (*p < 0x20 || *p == 0x7f) {
            fputc(' ', f);
        } else {
            fputc(*p, f);
        }
    }
}

/* ---- text ---------------------------------------------------------------- */

static const char *plural(size_t n, const char *one, const char *many)
{
    return n == 1 ? one : many;
}

/* The function a module calls to complete its pending detach half. */
static const char *completion_fn(int side)
{
    return nmr_side_complete_fn(side);
}

static const char *detach_callback(int side)
{
    return nmr_side_detach_fn(side);
}

static void text_registration(FILE *f, const nmr_snapshot *s, size_t i)
{
    const nmr_registration_info *r = &s->registrations[i];
    char h[PTR_TEXT], ctx[PTR_TEXT], mod[NMR_MODULE_ID_TEXT];
    fprintf(f, "  #%-3zu %-8s %-12s module %-38s number %-5lu %-13s %zu %-9s context %s",
            i, nmr_role_name(r->role), PTR(r->handle, h),
            nmr_module_id_format(&r->module_id, mod, sizeof(mod)),
            (unsigned long)r->number, nmr_registration_state_name(r->state),
            r->bindings, plural(r->bindings, "binding", "bindings"),
            PTR(r->context, ctx));
    if (r->state == NMR_REGISTRATION_WAITING && r->bindings > 0)
        fputs("  <- its wait is held up", f);
    fputc('\n', f);
}

static void text_binding(FILE *f, const nmr_snapshot *s, size_t i)
{
    const nmr_binding_info *b = &s->bindings[i];
    const nmr_registration_info *c = &s->registrations[b->client];
    const nmr_registration_info *p = &s->registrations[b->provider];
    char h[PTR_TEXT], cm[NMR_MODULE_ID_TEXT], pm[NMR_MODULE_ID_TEXT];
    int blocked = binding_blocked(b);

    fprintf(f, "%s %-12s client#%zu[%s] -> provider#%zu[%s]: %s",
            blocked ? "  !!" : "    ", PTR(b->handle, h), b->client,
            nmr_module_id_format(&c->module_id, cm, sizeof(cm)), b->provider,
            nmr_module_id_format(&p->module_id, pm, sizeof(pm)),
            nmr_binding_state_name(b->state));
    if (b->state == NMR_BINDING_DETACHING)
        fprintf(f, " for %" PRIu64 " ms", b->detaching_ms);
    if (b->state == NMR_BINDING_DETACHING || b->half[0] != NMR_HALF_NOT_STARTED ||
        b->half[1] != NMR_HALF_NOT_STARTED) {
        fputs(", halves (", f);
        for (int side = 0; side < 2; side++) {
            fprintf(f, "%s%s: %s", side ? ", " : "", nmr_role_name((nmr_role)side),
                    nmr_half_name(b->half[side]));
            if (half_blocked(b->half[side]))
                fprintf(f, " %" PRIu64 " ms", b->half_pending_ms[side]);
        }
        fputc(')', f);
    }
    fputc('\n', f);

    /* Say who owes what, in the words of the API. */
    for (int side = 0; side < 2; side++) {
        const nmr_registration_info *who = side == NMR_ROLE_CLIENT ? c : p;
        char wm[NMR_MODULE_ID_TEXT];
        nmr_module_id_format(&who->module_id, wm, sizeof(wm));
        if (b->half[side] == NMR_HALF_PENDING)
            fprintf(f, "       %s %s returned STATUS_PENDING %" PRIu64
                       " ms ago; still owes %s(%s)\n",
                    nmr_role_name((nmr_role)side), wm, b->half_pending_ms[side],
                    completion_fn(side), h);
        else if (b->half[side] == NMR_HALF_CALLING)
            fprintf(f, "       %s %s: its %s callback has been running for %" PRIu64
                       " ms\n",
                    nmr_role_name((nmr_role)side), wm, detach_callback(side),
                    b->half_pending_ms[side]);
    }
}

static void text_write(const nmr_snapshot *s, FILE *f, const size_t *order,
                       size_t npis)
{
    counts c;
    count_snapshot(s, &c);
    fprintf(f, "libnmr snapshot at %" PRIu64 ".%09" PRIu64 " s (CLOCK_MONOTONIC)\n",
            s->time_ns / 1000000000u, s->time_ns % 1000000000u);
    fprintf(f, "registrations: %zu (%zu %s, %zu %s; %zu active, %zu deregistering, "
               "%zu waiting) in %zu %s\n",
            s->nregistrations, c.role[0], plural(c.role[0], "client", "clients"),
            c.role[1], plural(c.role[1], "provider", "providers"), c.reg_state[0],
            c.reg_state[1], c.reg_state[2], npis, plural(npis, "NPI", "NPIs"));
    fprintf(f, "bindings: %zu (%zu offering, %zu attached, %zu detaching)\n",
            s->nbindings, c.binding_state[0], c.binding_state[1], c.binding_state[2]);
    if (c.blocked > 0)
        fprintf(f, "!! %zu %s blocked on a module: a detach half pending (the module "
                   "owes Nmr*DetachComplete) or a detach callback still running\n",
                c.blocked, plural(c.blocked, "binding is", "bindings are"));

    for (size_t k = 0; k < s->nregistrations && !ferror(f); k++) {
        size_t i = order[k];
        const GUID *npi = &s->registrations[i].npi_id;
        if (k == 0 || !guid_equal(&s->registrations[order[k - 1]].npi_id, npi)) {
            char g[GUID_TEXT];
            size_t n = 0;
            while (k + n < s->nregistrations &&
                   guid_equal(&s->registrations[order[k + n]].npi_id, npi))
                n++;
            guid_format(npi, g, sizeof(g));
            fprintf(f, "\nNPI %s: %zu %s\n", g, n,
                    plural(n, "registration", "registrations"));
        }
        text_registration(f, s, i);
    }
    if (s->nregistrations == 0)
        fputs("\n(no registrations)\n", f);

    if (s->nbindings > 0)
        fputs("\nbindings:\n", f);
    for (size_t i = 0; i < s->nbindings && !ferror(f); i++)
        text_binding(f, s, i);
}

/* ---- JSON ---------------------------------------------------------------- */

static void json_key_string(FILE *f, const char *key, const char *value, int comma)
{
    if (comma)
        fputs(", ", f);
    nmr_dump_json_string(f, key);
    fputs(": ", f);
    nmr_dump_json_string(f, value);
}

static void json_key_uint(FILE *f, const char *key, uint64_t value, int comma)
{
    if (comma)
        fputs(", ", f);
    nmr_dump_json_string(f, key);
    fprintf(f, ": %" PRIu64, value);
}

static void json_registration(FILE *f, const nmr_snapshot *s, size_t i)
{
    const nmr_registration_info *r = &s->registrations[i];
    char buf[PTR_TEXT], g[GUID_TEXT], mod[NMR_MODULE_ID_TEXT];
    fputs("    {", f);
    json_key_uint(f, "index", i, 0);
    json_key_string(f, "handle", PTR(r->handle, buf), 1);
    json_key_string(f, "role", nmr_role_name(r->role), 1);
    json_key_string(f, "state", nmr_registration_state_name(r->state), 1);
    guid_format(&r->npi_id, g, sizeof(g));
    json_key_string(f, "npi_id", g, 1);
    json_key_string(f, "module_id", nmr_module_id_format(&r->module_id, mod, sizeof(mod)),
                    1);
    json_key_string(f, "module_id_type", module_id_type_name(&r->module_id), 1);
    json_key_uint(f, "number", r->number, 1);
    json_key_uint(f, "bindings", r->bindings, 1);
    json_key_string(f, "context", PTR(r->context, buf), 1);
    json_key_string(f, "characteristics", PTR(r->characteristics, buf), 1);
    json_key_string(f, "attach", PTR(r->attach, buf), 1);
    json_key_string(f, "detach", PTR(r->detach, buf), 1);
    json_key_string(f, "cleanup", PTR(r->cleanup, buf), 1);
    fputc('}', f);
}

static void json_binding(FILE *f, const nmr_snapshot *s, size_t i)
{
    const nmr_binding_info *b = &s->bindings[i];
    char buf[PTR_TEXT];
    fputs("    {", f);
    json_key_uint(f, "index", i, 0);
    json_key_string(f, "handle", PTR(b->handle, buf), 1);
    json_key_uint(f, "client", b->client, 1);
    json_key_uint(f, "provider", b->provider, 1);
    json_key_string(f, "state", nmr_binding_state_name(b->state), 1);
    json_key_uint(f, "detaching_ms", b->detaching_ms, 1);
    fputs(", \"halves\": {", f);
    for (int side = 0; side < 2; side++) {
        if (side)
            fputs(", ", f);
        nmr_dump_json_string(f, nmr_role_name((nmr_role)side));
        fputs(": {", f);
        json_key_string(f, "state", nmr_half_name(b->half[side]), 0);
        json_key_uint(f, "pending_ms", b->half_pending_ms[side], 1);
        fputc('}', f);
    }
    fputc('}', f);
    fprintf(f, ", \"blocked\": %s}", binding_blocked(b) ? "true" : "false");
}

static void json_write(const nmr_snapshot *s, FILE *f)
{
    counts c;
    count_snapshot(s, &c);
    fputs("{\n", f);
    fprintf(f, "  \"schema_version\": %d,\n", SCHEMA_VERSION);
    fputs("  \"format\": \"libnmr-snapshot\",\n", f);
    fprintf(f, "  \"time_ns\": %" PRIu64 ",\n", s->time_ns);
    fputs("  \"counts\": {", f);
    json_key_uint(f, "registrations", s->nregistrations, 0);
    json_key_uint(f, "clients", c.role[0], 1);
    json_key_uint(f, "providers", c.role[1], 1);
    json_key_uint(f, "active", c.reg_state[0], 1);
    json_key_uint(f, "deregistering", c.reg_state[1], 1);
    json_key_uint(f, "waiting", c.reg_state[2], 1);
    json_key_uint(f, "bindings", s->nbindings, 1);
    json_key_uint(f, "offering", c.binding_state[0], 1);
    json_key_uint(f, "attached", c.binding_state[1], 1);
    json_key_uint(f, "detaching", c.binding_state[2], 1);
    json_key_uint(f, "blocked", c.blocked, 1);
    fputs("},\n", f);

    fputs("  \"registrations\": [", f);
    for (size_t i = 0; i < s->nregistrations && !ferror(f); i++) {
        fputs(i ? ",\n" : "\n", f);
        json_registration(f, s, i);
    }
    fputs(s->nregistrations ? "\n  ],\n" : "],\n", f);

    fputs("  \"bindings\": [", f);
    for (size_t i = 0; i < s->nbindings && !ferror(f); i++) {
        fputs(i ? ",\n" : "\n", f);
        json_binding(f, s, i);
    }
    fputs(s->nbindings ? "\n  ]\n" : "]\n", f);
    fputs("}\n", f);
}

/* ---- DOT ----------------------------------------------------------------- */

/* Edge styles, by state; the legend draws each one. */
#define DOT_OFFERING "color=\"royalblue\", fontcolor=\"royalblue\", style=dashed"
#define DOT_ATTACHED "color=\"forestgreen\", fontcolor=\"forestgreen\""
#define DOT_DETACHING "color=\"darkorange\", fontcolor=\"darkorange3\""
#define DOT_BLOCKED "color=\"red\", fontcolor=\"red\", style=bold, penwidth=2.5"

static const char *dot_edge_style(const nmr_binding_info *b)
{
    if (binding_blocked(b))
        return DOT_BLOCKED;
    switch (b->state) {
    case NMR_BINDING_OFFERING: return DOT_OFFERING;
    case NMR_BINDING_ATTACHED: return DOT_ATTACHED;
    case NMR_BINDING_DETACHING: return DOT_DETACHING;
    }
    return "";
}

/* Node styles, by registration state. */
static const char *dot_node_style(const nmr_registration_info *r)
{
    switch (r->state) {
    case NMR_REGISTRATION_ACTIVE: return "style=solid";
    case NMR_REGISTRATION_DEREGISTERING: return "style=dashed";
    case NMR_REGISTRATION_WAITING:
        return "style=\"dashed,filled\", fillcolor=\"lightyellow\"";
    }
    return "";
}

static const char *dot_shape(nmr_role role)
{
    return role == NMR_ROLE_CLIENT ? "box" : "ellipse";
}

static void dot_node(FILE *f, const nmr_snapshot *s, size_t i)
{
    const nmr_registration_info *r = &s->registrations[i];
    char h[PTR_TEXT], g[GUID_TEXT], mod[NMR_MODULE_ID_TEXT];
    fprintf(f, "    r%zu [shape=%s, %s, label=\"", i, dot_shape(r->role),
            dot_node_style(r));
    nmr_dump_dot_string(f, nmr_role_name(r->role));
    fprintf(f, " #%zu\\n", i);
    nmr_dump_dot_string(f, nmr_module_id_format(&r->module_id, mod, sizeof(mod)));
    fputs("\\nNPI ", f);
    guid_format(&r->npi_id, g, sizeof(g));
    nmr_dump_dot_string(f, g);
    fprintf(f, "\\nnumber %lu, ", (unsigned long)r->number);
    nmr_dump_dot_string(f, nmr_registration_state_name(r->state));
    fputs("\\n", f);
    nmr_dump_dot_string(f, PTR(r->handle, h));
    fputs("\"];\n", f);
}

static void dot_edge(FILE *f, const nmr_snapshot *s, size_t i)
{
    const nmr_binding_info *b = &s->bindings[i];
    char h[PTR_TEXT];
    fprintf(f, "  r%zu -> r%zu [%s, label=\"", b->client, b->provider,
            dot_edge_style(b));
    nmr_dump_dot_string(f, PTR(b->handle, h));
    fputc(' ', f);
    nmr_dump_dot_string(f, nmr_binding_state_name(b->state));
    if (b->state == NMR_BINDING_DETACHING)
        fprintf(f, " %" PRIu64 " ms", b->detaching_ms);
    for (int side = 0; side < 2; side++) {
        if (b->state != NMR_BINDING_DETACHING && b->half[side] == NMR_HALF_NOT_STARTED)
            continue;
        fputs("\\n", f);
        nmr_dump_dot_string(f, nmr_role_name((nmr_role)side));
        fputs(": ", f);
        nmr_dump_dot_string(f, nmr_half_name(b->half[side]));
        if (half_blocked(b->half[side]))
            fprintf(f, " %" PRIu64 " ms", b->half_pending_ms[side]);
    }
    fputs("\"];\n", f);
}

static void dot_legend(FILE *f)
{
    static const struct {
        const char *style, *label;
    } edges[] = {
        {DOT_OFFERING, "offering (attach callbacks running)"},
        {DOT_ATTACHED, "attached"},
        {DOT_DETACHING, "detaching"},
        {DOT_BLOCKED, "detaching, blocked: a half pending\\nor a detach callback running"},
    };
    fputs("  subgraph cluster_legend {\n"
          "    label=\"legend\"; fontsize=10; style=rounded; color=\"gray60\";\n"
          "    legend_client [shape=box, label=\"client\"];\n"
          "    legend_provider [shape=ellipse, label=\"provider\"];\n"
          "    legend_dereg [shape=box, style=dashed, label=\"deregistering\"];\n"
          "    legend_wait [shape=box, style=\"dashed,filled\", fillcolor=\"lightyellow\","
          " label=\"waiting for\\nderegistration\"];\n"
          "    legend_client -> legend_provider [style=invis];\n"
          "    legend_dereg -> legend_wait [style=invis];\n",
          f);
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        fprintf(f, "    legend_a%zu [shape=point, width=0.08, label=\"\"];\n", i);
        fprintf(f, "    legend_b%zu [shape=point, width=0.08, label=\"\"];\n", i);
        fprintf(f, "    legend_a%zu -> legend_b%zu [%s, label=\"%s\"];\n", i, i,
                edges[i].style, edges[i].label);
    }
    fputs("  }\n", f);
}

static void dot_write(const nmr_snapshot *s, FILE *f, const size_t *order, size_t npis)
{
    counts c;
    count_snapshot(s, &c);
    fputs("digraph nmr {\n", f);
    fprintf(f, "  graph [rankdir=LR, labelloc=t, fontname=\"Helvetica\", "
               "label=\"libnmr snapshot at %" PRIu64 ".%09" PRIu64
               " s: %zu %s in %zu %s, %zu %s",
            s->time_ns / 1000000000u, s->time_ns % 1000000000u, s->nregistrations,
            plural(s->nregistrations, "registration", "registrations"), npis,
            plural(npis, "NPI", "NPIs"), s->nbindings,
            plural(s->nbindings, "binding", "bindings"));
    if (c.blocked > 0)
        fprintf(f, ", %zu blocked", c.blocked);
    fputs("\"];\n"
          "  node [fontname=\"Helvetica\", fontsize=10];\n"
          "  edge [fontname=\"Helvetica\", fontsize=9];\n",
          f);

    size_t cluster = 0;
    for (size_t k = 0; k < s->nregistrations && !ferror(f); k++) {
        size_t i = order[k];
        const GUID *npi = &s->registrations[i].npi_id;
        if (k == 0 || !guid_equal(&s->registrations[order[k - 1]].npi_id, npi)) {
            char g[GUID_TEXT];
            if (k > 0)
                fputs("  }\n", f);
            guid_format(npi, g, sizeof(g));
            fprintf(f, "  subgraph cluster_npi%zu {\n", cluster++);
            fputs("    label=\"NPI ", f);
            nmr_dump_dot_string(f, g);
            fputs("\"; fontsize=10; style=\"rounded,dashed\"; color=\"gray50\";\n", f);
        }
        dot_node(f, s, i);
    }
    if (s->nregistrations > 0)
        fputs("  }\n", f);
    for (size_t i = 0; i < s->nbindings && !ferror(f); i++)
        dot_edge(f, s, i);
    dot_legend(f);
    fputs("}\n", f);
}

/* ---- entry point --------------------------------------------------------- */

int nmr_snapshot_write(const nmr_snapshot *snapshot, nmr_dump_format format, FILE *f)
{
    if (snapshot == NULL || f == NULL ||
        (format != NMR_DUMP_TEXT && format != NMR_DUMP_JSON && format != NMR_DUMP_DOT) ||
        !snapshot_valid(snapshot)) {
        errno = EINVAL;
        return -1;
    }
    int saved_errno = errno;
    size_t *order = NULL, npis = 0;
    if (format != NMR_DUMP_JSON && snapshot->nregistrations > 0) {
        order = order_by_npi(snapshot, &npis);
        if (order == NULL) {
            errno = ENOMEM;
            return -1;
        }
    }
    errno = 0;
    switch (format) {
    case NMR_DUMP_TEXT: text_write(snapshot, f, order, npis); break;
    case NMR_DUMP_JSON: json_write(snapshot, f); break;
    case NMR_DUMP_DOT: dot_write(snapshot, f, order, npis); break;
    }
    if (order != NULL)
        nmr_free(order, (snapshot->nregistrations ? snapshot->nregistrations : 1) *
                            sizeof(*order));
    /* A buffered stream may fail only when flushed: flush, then look. */
    if (fflush(f) != 0 || ferror(f)) {
        if (errno == 0)
            errno = EIO;
        return -1;
    }
    errno = saved_errno;
    return 0;
}
