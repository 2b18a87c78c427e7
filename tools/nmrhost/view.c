/* SPDX-License-Identifier: MIT */
/*
 * view.c - what nmrhost shows: the module list (modules and drivers, with
 * their kind), the binding graph as text
 * and as DOT/PNG, the progress line and the final report.  All of it comes
 * from one snapshot of the default registrar (<nmr/introspect.h>) plus the
 * modules' stats lines.
 */
#define _POSIX_C_SOURCE 200809L
#include "out.h"
#include "residue.h"
#include "session.h"

#include <ctype.h>
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *state_word(host_state s)
{
    switch (s) {
    case HOST_LOADED: return "loaded";
    case HOST_RESIDENT: return "RESIDENT";
    case HOST_UNLOADED: return "unloaded";
    }
    return "?";
}

static void npi_text(const GUID *g, char *buf, size_t size)
{
    NPI_MODULEID id;
    memset(&id, 0, sizeof id);
    id.Length = sizeof id;
    id.Type = MIT_GUID;
    id.Guid = *g;
    nmr_module_id_format(&id, buf, size);
}

void view_list(void)
{
    nmr_snapshot *snap = NULL;
    nmr_snapshot_take(NULL, &snap);
    if (host_modules() == NULL)
        out_line("no module loaded");
    char line[1024];
    for (host_module *m = host_modules(); m != NULL; m = m->next) {
        out_line("%-20s %-9s %-6s %s%s%s", m->name, state_word(m->state), host_kind_name(m),
                 m->path, m->state == HOST_RESIDENT ? "  -- " : !host_can_unload(m) ? "  -- " : "",
                 m->state == HOST_RESIDENT ? m->why
                 : !host_can_unload(m) ? "no DriverUnload: cannot be unloaded" : "");
        for (size_t i = 0; snap != NULL && i < snap->nregistrations; i++) {
            if (host_owner(&snap->registrations[i]) != m)
                continue;
            residue_describe_reg(&snap->registrations[i], line, sizeof line);
            out_line("    %s", line);
        }
    }
    if (snap != NULL) {
        size_t foreign = 0;
        for (size_t i = 0; i < snap->nregistrations; i++)
            foreign += host_owner(&snap->registrations[i]) == NULL;
        if (foreign != 0)
            out_line("(%zu registration%s of no loaded module)", foreign,
                     foreign == 1 ? "" : "s");
    }
    nmr_snapshot_free(snap);
}

void view_bindings(void)
{
    nmr_snapshot *snap = NULL;
    if (nmr_snapshot_take(NULL, &snap) != STATUS_SUCCESS) {
        out_line("(no snapshot: out of memory)");
        return;
    }
    int *done = calloc(snap->nregistrations + 1, sizeof *done);
    if (done == NULL) {
        nmr_snapshot_free(snap);
        return;
    }
    out_line("binding graph: %zu registration%s, %zu binding%s", snap->nregistrations,
             snap->nregistrations == 1 ? "" : "s", snap->nbindings,
             snap->nbindings == 1 ? "" : "s");
    char npi[NMR_MODULE_ID_TEXT], line[1024], name[HOST_NAME_LEN + NMR_MODULE_ID_TEXT];
    /* One group per NPI, in the order the NPIs first appear. */
    for (size_t i = 0; i < snap->nregistrations; i++) {
        const GUID *g = &snap->registrations[i].npi_id;
        if (done[i])
            continue;
        npi_text(g, npi, sizeof npi);
        out_line("NPI %s", npi);
        for (size_t k = i; k < snap->nregistrations; k++) {
            const nmr_registration_info *r = &snap->registrations[k];
            if (done[k] || memcmp(&r->npi_id, g, sizeof *g) != 0)
                continue;
            done[k] = 1;
            residue_owner_name(r, name, sizeof name);
            out_line("  %-8s %-20s %p  %s, %zu binding%s", nmr_role_name(r->role), name,
                     r->handle, nmr_registration_state_name(r->state), r->bindings,
                     r->bindings == 1 ? "" : "s");
        }
        for (size_t k = 0; k < snap->nbindings; k++) {
            const nmr_binding_info *b = &snap->bindings[k];
            if (memcmp(&snap->registrations[b->client].npi_id, g, sizeof *g) != 0)
                continue;
            residue_describe_binding(snap, b, line, sizeof line);
            out_line("    %s", line);
        }
    }
    free(done);
    nmr_snapshot_free(snap);
}

static int on_path(const char *prog)
{
    const char *path = getenv("PATH");
    char buf[4096];
    while (path != NULL && *path != '\0') {
        const char *end = strchr(path, ':');
        int len = end != NULL ? (int)(end - path) : (int)strlen(path);
        snprintf(buf, sizeof buf, "%.*s/%s", len, path, prog);
        if (len > 0 && access(buf, X_OK) == 0)
            return 1;
        path = end != NULL ? end + 1 : NULL;
    }
    return 0;
}

/* The inside of a DOT string: quotes and backslashes escaped. */
static void dot_quoted(FILE *f, const char *text)
{
    for (; *text != '\0'; text++) {
        if (*text == '"' || *text == '\\')
            fputc('\\', f);
        if (*text == '\n')
            fputs("\\n", f);
        else
            fputc(*text, f);
    }
}

static int binding_blocked(const nmr_binding_info *b)
{
    if (b->state != NMR_BINDING_DETACHING)
        return 0;
    for (int side = 0; side < 2; side++)
        if (b->half[side] == NMR_HALF_CALLING || b->half[side] == NMR_HALF_PENDING)
            return 1;
    return 0;
}

static const char *edge_style(const nmr_binding_info *b)
{
    if (binding_blocked(b))
        return "color=\"red\", fontcolor=\"red\", style=bold, penwidth=2";
    switch (b->state) {
    case NMR_BINDING_OFFERING: return "color=\"royalblue\", fontcolor=\"royalblue\", style=dashed";
    case NMR_BINDING_ATTACHED: return "color=\"forestgreen\", fontcolor=\"forestgreen\"";
    case NMR_BINDING_DETACHING: return "color=\"darkorange\", fontcolor=\"darkorange3\"";
    }
    return "";
}

static const char *node_style(const nmr_registration_info *r)
{
    switch (r->state) {
    case NMR_REGISTRATION_ACTIVE: return "style=solid";
    case NMR_REGISTRATION_DEREGISTERING: return "style=dashed";
    case NMR_REGISTRATION_WAITING: return "style=\"dashed,filled\", fillcolor=\"lightyellow\"";
    }
    return "";
}

/* The binding graph as DOT: one node per registration, labelled with the
 * name of the module that owns it (the module ID when no loaded module
 * does) and its role; the NPI, module ID, handle and state are in the
 * node's tooltip, the NPI also in the label of its cluster.  One small
 * legend node. */
static void write_dot(const nmr_snapshot *snap, FILE *f)
{
    int *done = calloc(snap->nregistrations + 1, sizeof *done);
    fprintf(f, "digraph nmr {\n"
               "  graph [rankdir=LR, fontname=\"Helvetica\", fontsize=10, labelloc=t, "
               "label=\"nmrhost: %zu registration%s, %zu binding%s\"];\n"
               "  node [fontname=\"Helvetica\", fontsize=10];\n"
               "  edge [fontname=\"Helvetica\", fontsize=9];\n",
            snap->nregistrations, snap->nregistrations == 1 ? "" : "s", snap->nbindings,
            snap->nbindings == 1 ? "" : "s");
    char name[HOST_NAME_LEN + NMR_MODULE_ID_TEXT], npi[NMR_MODULE_ID_TEXT];
    char mod[NMR_MODULE_ID_TEXT], tip[512];
    size_t cluster = 0;
    for (size_t i = 0; done != NULL && i < snap->nregistrations; i++) {
        const GUID *g = &snap->registrations[i].npi_id;
        if (done[i])
            continue;
        npi_text(g, npi, sizeof npi);
        fprintf(f, "  subgraph cluster_npi%zu {\n    label=\"NPI %s\"; fontsize=9; "
                   "style=\"rounded,dashed\"; color=\"gray50\";\n", cluster++, npi);
        for (size_t k = i; k < snap->nregistrations; k++) {
            const nmr_registration_info *r = &snap->registrations[k];
            if (done[k] || memcmp(&r->npi_id, g, sizeof *g) != 0)
                continue;
            done[k] = 1;
            residue_owner_name(r, name, sizeof name);
            nmr_module_id_format(&r->module_id, mod, sizeof mod);
            snprintf(tip, sizeof tip, "%s registration %p\nNPI %s\nmodule ID %s\n"
                     "number %lu, %s, %zu binding%s", nmr_role_name(r->role), r->handle, npi,
                     mod, (unsigned long)r->number, nmr_registration_state_name(r->state),
                     r->bindings, r->bindings == 1 ? "" : "s");
            fprintf(f, "    r%zu [shape=%s, %s, label=\"", k,
                    r->role == NMR_ROLE_CLIENT ? "box" : "ellipse", node_style(r));
            dot_quoted(f, name);
            fprintf(f, "\\n%s%s\", tooltip=\"", nmr_role_name(r->role),
                    r->state == NMR_REGISTRATION_ACTIVE ? "" : ", deregistering");
            dot_quoted(f, tip);
            fputs("\"];\n", f);
        }
        fputs("  }\n", f);
    }
    free(done);
    for (size_t i = 0; i < snap->nbindings; i++) {
        const nmr_binding_info *b = &snap->bindings[i];
        fprintf(f, "  r%zu -> r%zu [%s, label=\"%s", b->client, b->provider, edge_style(b),
                nmr_binding_state_name(b->state));
        if (b->state == NMR_BINDING_DETACHING)
            fprintf(f, " %llu ms", (unsigned long long)b->detaching_ms);
        fprintf(f, "\", tooltip=\"binding %p: client half %s, provider half %s\"];\n",
                b->handle, nmr_half_name(b->half[0]), nmr_half_name(b->half[1]));
    }
    fputs("  legend [shape=plaintext, fontsize=7, label=<<table border=\"0\" "
          "cellborder=\"0\" cellspacing=\"0\" cellpadding=\"0\">"
          "<tr><td align=\"left\">box client, ellipse provider</td></tr>"
          "<tr><td align=\"left\">dashed: deregistering</td></tr>"
          "<tr><td align=\"left\"><font color=\"forestgreen\">attached</font> "
          "<font color=\"royalblue\">offering</font> "
          "<font color=\"darkorange3\">detaching</font> "
          "<font color=\"red\">blocked</font></td></tr></table>>];\n"
          "}\n", f);
}

int view_graph(const char *dotfile, char *why, size_t whysize)
{
    nmr_snapshot *snap = NULL;
    if (nmr_snapshot_take(NULL, &snap) != STATUS_SUCCESS) {
        snprintf(why, whysize, "no snapshot (out of memory)");
        return -1;
    }
    FILE *f = fopen(dotfile, "w");
    if (f == NULL) {
        snprintf(why, whysize, "cannot create '%s': %s", dotfile, strerror(errno));
        nmr_snapshot_free(snap);
        return -1;
    }
    write_dot(snap, f);
    nmr_snapshot_free(snap);
    if (ferror(f) | (fclose(f) != 0)) {
        snprintf(why, whysize, "cannot write '%s': %s", dotfile, strerror(errno));
        return -1;
    }
    size_t len = strlen(dotfile);
    char png[4096];
    if (len > 4 && strcmp(dotfile + len - 4, ".dot") == 0)
        snprintf(png, sizeof png, "%.*s.png", (int)(len - 4), dotfile);
    else
        snprintf(png, sizeof png, "%s.png", dotfile);
    if (!on_path("dot")) {
        out_line("wrote %s (no PNG: Graphviz 'dot' is not installed)", dotfile);
        return 0;
    }
    char *argv[] = { "dot", "-Tpng", "-o", png, (char *)dotfile, NULL };
    pid_t pid;
    int status = 0;
    if (posix_spawnp(&pid, "dot", NULL, NULL, argv, environ) != 0 ||
        waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
        snprintf(why, whysize, "wrote %s, but 'dot -Tpng' failed", dotfile);
        return -1;
    }
    out_line("wrote %s and %s", dotfile, png);
    return 0;
}

int view_show(nmr_dump_format format, const char *path, char *why, size_t whysize)
{
    nmr_snapshot *snap = NULL;
    if (nmr_snapshot_take(NULL, &snap) != STATUS_SUCCESS) {
        snprintf(why, whysize, "no snapshot (out of memory)");
        return -1;
    }
    if (path == NULL) {
        FILE *f = out_begin();
        int rc = nmr_snapshot_write(snap, format, f);
        out_end();
        nmr_snapshot_free(snap);
        if (rc != 0)
            snprintf(why, whysize, "cannot write the snapshot: %s", strerror(errno));
        return rc != 0 ? -1 : 0;
    }
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        snprintf(why, whysize, "cannot create '%s': %s", path, strerror(errno));
        nmr_snapshot_free(snap);
        return -1;
    }
    int rc = nmr_snapshot_write(snap, format, f);
    nmr_snapshot_free(snap);
    if ((fclose(f) != 0) | (rc != 0)) {
        snprintf(why, whysize, "cannot write '%s': %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* 1234567 -> "1.23M" */
static void human_rate(double r, char *buf, size_t size)
{
    if (r >= 1e6)
        snprintf(buf, size, "%.2fM", r / 1e6);
    else if (r >= 1e3)
        snprintf(buf, size, "%.1fk", r / 1e3);
    else
        snprintf(buf, size, "%.0f", r);
}

void view_progress(const session *s)
{
    uint64_t now = host_now_ns();
    char line[2048];
    size_t len = (size_t)snprintf(line, sizeof line, "[%6.1f s]",
                                  (double)(now - s->start_ns) / 1e9);
    char stats[HOST_STATS_LEN], v[64];
    for (host_module *m = host_modules(); m != NULL && len < sizeof line; m = m->next) {
        if (m->state != HOST_LOADED || m->stats == NULL)
            continue;
        host_stats(m, stats, sizeof stats);
        len += (size_t)snprintf(line + len, sizeof line - len, " | %s:", m->name);
        if (host_stats_field(stats, "calls", v, sizeof v) == 0 && len < sizeof line) {
            unsigned long long calls = strtoull(v, NULL, 10);
            char rate[32] = "-";
            if (m->have_sample && now > m->last_ns && calls >= m->last_calls)
                human_rate((double)(calls - m->last_calls) * 1e9 / (double)(now - m->last_ns),
                           rate, sizeof rate);
            m->last_calls = calls;
            m->last_ns = now;
            m->have_sample = 1;
            len += (size_t)snprintf(line + len, sizeof line - len, " %s calls/s", rate);
        }
        /* the other fields, as the module wrote them */
        for (const char *p = stats; *p != '\0' && len < sizeof line;) {
            size_t n = strcspn(p, " ");
            if (n != 0 && strncmp(p, "calls=", 6) != 0 && strncmp(p, "threads=", 8) != 0)
                len += (size_t)snprintf(line + len, sizeof line - len, " %.*s", (int)n, p);
            p += n;
            while (*p == ' ')
                p++;
        }
    }
    out_progress(line);
}

static int hexeq(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
            return 0;
    return 1;
}

long view_count_bound(const char *npi)
{
    nmr_snapshot *snap = NULL;
    const char *want = npi[0] == '{' ? npi + 1 : npi;
    size_t wlen = strcspn(want, "}");
    if (nmr_snapshot_take(NULL, &snap) != STATUS_SUCCESS)
        return -1;
    long count = 0;
    char text[NMR_MODULE_ID_TEXT];
    for (size_t i = 0; i < snap->nbindings; i++) {
        const nmr_binding_info *b = &snap->bindings[i];
        if (b->state != NMR_BINDING_ATTACHED)
            continue;
        npi_text(&snap->registrations[b->client].npi_id, text, sizeof text);
        if (strlen(text) > wlen && hexeq(text + 1, want, wlen))
            count++;
    }
    nmr_snapshot_free(snap);
    return count;
}

void view_report(const session *s)
{
    out_line("== report");
    char stats[HOST_STATS_LEN];
    for (host_module *m = host_modules(); m != NULL; m = m->next) {
        host_stats(m, stats, sizeof stats);
        out_line("  %-20s %-9s %s", m->name, state_word(m->state), stats);
    }
    for (host_module *m = host_history(); m != NULL; m = m->next)
        out_line("  %-20s %-9s %s", m->name, state_word(m->state), m->last_stats);
    host_counters c;
    host_get_counters(&c);
    out_line("  host: %lu loads, %lu unloads (unmapped), %lu kept resident, "
             "%lu misuse reports, %lu watchdog reports, %u failed commands",
             c.loads, c.unloads, c.kept_resident, c.misuse_reports, c.watchdog_reports,
             s->failures);
}
