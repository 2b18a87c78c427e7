/* SPDX-License-Identifier: MIT */
/*
 * commands.c - the commands of nmrhost: each one checks its arguments,
 * does its job through the module table (host.c) or the views (view.c),
 * and on failure says why in one line; the interpreter (script.c) adds the
 * command's name and line.
 */
#define _POSIX_C_SOURCE 200809L
#include "intr.h"
#include "out.h"
#include "session.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef int cmd_fn(cmd_call *c, int argc, char **argv, const char *rest);

typedef struct command {
    const char *name;
    int min_args, max_args;     /* after the name; -1: no limit */
    const char *usage;
    const char *help;
    cmd_fn *fn;
} command;

static int fail(cmd_call *c, const char *format, ...) OUT_PRINTF(2, 3);

static int fail(cmd_call *c, const char *format, ...)
{
    va_list ap;
    va_start(ap, format);
    vsnprintf(c->why, sizeof c->why, format, ap);
    va_end(ap);
    return -1;
}

/* A non-negative decimal number, at most max. */
static int number(cmd_call *c, const char *what, const char *text, unsigned long max,
                  unsigned long *out)
{
    errno = 0;
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (text[0] == '\0' || text[0] == '-' || *end != '\0' || errno != 0 || v > max)
        return fail(c, "%s must be a number from 0 to %lu, not '%s'", what, max, text);
    *out = v;
    return 0;
}

/* Sleep until deadline (ns), printing a progress line every period when
 * enabled (only after full periods: a rate over a sliver means little).
 * 0, or -1 when a Ctrl-C came first. */
static int sleep_until(const session *s, uint64_t deadline)
{
    uint64_t period = (uint64_t)s->progress_ms * 1000000u;
    uint64_t next = host_now_ns() + period;

    for (;;) {
        uint64_t now = host_now_ns();
        if (now >= deadline)
            break;
        uint64_t until = out_progress_enabled() && next < deadline ? next : deadline;
        if (until > now && intr_sleep_until(until, s->intr_mark))
            return -1;
        if (out_progress_enabled() && host_now_ns() >= next) {
            view_progress(s);
            next += period;
        }
    }
    return 0;
}

/* ---- the commands ------------------------------------------------------- */
static int cmd_load(cmd_call *c, int argc, char **argv, const char *rest)
{
    uint64_t t0 = host_now_ns();
    (void)rest;
    host_module *m;
    if (host_load(argv[1], argc - 2, argv + 2, &m, c->why, sizeof c->why) != 0)
        return -1;
    if (!c->s->quiet)
        out_line("loaded %s%s from %s (%.2f ms)", m->kind == HOST_DRIVER ? "driver " : "",
                 m->name, m->path, (double)(host_now_ns() - t0) / 1e6);
    return 0;
}

static int cmd_unload(cmd_call *c, int argc, char **argv, const char *rest)
{
    host_module *m = host_find(argv[1]);
    (void)argc;
    (void)rest;
    if (m == NULL) {
        host_module *old = host_find_any(argv[1]);
        if (old != NULL)
            return fail(c, "'%s' is not loaded (it was unloaded before)", argv[1]);
        return fail(c, "no module named '%s' is loaded (list shows them)", argv[1]);
    }
    host_unload_times t;
    if (host_unload(m, &t, c->why, sizeof c->why) != 0)
        return -1;
    if (!c->s->quiet)
        out_line("unloaded %s%s: %s %.2f ms, check %.2f ms, dlclose %.2f ms; "
                 "%.2f ms in all; no longer mapped", m->kind == HOST_DRIVER ? "driver " : "",
                 argv[1], m->kind == HOST_DRIVER ? "DriverUnload" : "unload entry",
                 (double)t.unload_ns / 1e6,
                 (double)t.check_ns / 1e6, (double)t.dlclose_ns / 1e6,
                 (double)t.total_ns / 1e6);
    return 0;
}

static int cmd_list(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)c; (void)argc; (void)argv; (void)rest;
    view_list();
    return 0;
}

static int cmd_bindings(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)c; (void)argc; (void)argv; (void)rest;
    view_bindings();
    return 0;
}

static int cmd_graph(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)argc; (void)rest;
    return view_graph(argv[1], c->why, sizeof c->why);
}

static int cmd_show(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)rest;
    nmr_dump_format format;
    if (strcmp(argv[1], "json") == 0)
        format = NMR_DUMP_JSON;
    else if (strcmp(argv[1], "text") == 0)
        format = NMR_DUMP_TEXT;
    else
        return fail(c, "show json or show text, not '%s'", argv[1]);
    return view_show(format, argc == 3 ? argv[2] : NULL, c->why, sizeof c->why);
}

static int cmd_stats(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)rest;
    char buf[HOST_STATS_LEN];
    if (argc == 2) {
        host_module *m = host_find_any(argv[1]);
        if (m == NULL)
            return fail(c, "no module named '%s'", argv[1]);
        if (host_stats(m, buf, sizeof buf) != 0)
            return fail(c, "%s has no stats entry (%s)", m->name, NMR_MODULE_STATS_SYMBOL);
        out_line("%s: %s", m->name, buf);
        return 0;
    }
    int any = 0;
    for (host_module *m = host_modules(); m != NULL; m = m->next) {
        if (host_stats(m, buf, sizeof buf) == 0) {
            out_line("%s: %s", m->name, buf);
            any = 1;
        }
    }
    if (!any)
        out_line("no loaded module reports stats");
    return 0;
}

static int cmd_sleep(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)argc; (void)rest;
    unsigned long ms = 0;
    uint64_t start = host_now_ns();
    if (number(c, "MS", argv[1], 86400000ul, &ms) != 0)
        return -1;
    int rc = sleep_until(c->s, start + (uint64_t)ms * 1000000u);
    out_progress_end();
    if (rc != 0)
        return fail(c, "interrupted (Ctrl-C) after %.0f of %lu ms",
                    (double)(host_now_ns() - start) / 1e6, ms);
    return 0;
}

static int cmd_wait_bound(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)argc; (void)rest;
    unsigned long count = 0, timeout = 0;
    if (number(c, "COUNT", argv[2], 1000000ul, &count) != 0 ||
        number(c, "TIMEOUT", argv[3], 86400000ul, &timeout) != 0)
        return -1;
    uint64_t deadline = host_now_ns() + (uint64_t)timeout * 1000000u;
    uint64_t next_progress = host_now_ns() + (uint64_t)c->s->progress_ms * 1000000u;
    for (;;) {
        long seen = view_count_bound(argv[1]);
        if (seen < 0)
            return fail(c, "no snapshot (out of memory)");
        if ((unsigned long)seen == count)
            break;
        if (host_now_ns() >= deadline) {
            out_progress_end();
            return fail(c, "%ld binding%s of NPI %s attached after %lu ms, not %lu", seen,
                        seen == 1 ? "" : "s", argv[1], timeout, count);
        }
        if (intr_sleep_until(host_now_ns() + 2000000u, c->s->intr_mark)) {
            out_progress_end();
            return fail(c, "interrupted (Ctrl-C): %ld binding%s of NPI %s attached, waiting "
                        "for %lu", seen, seen == 1 ? "" : "s", argv[1], count);
        }
        if (out_progress_enabled() && host_now_ns() >= next_progress) {
            view_progress(c->s);
            next_progress = host_now_ns() + (uint64_t)c->s->progress_ms * 1000000u;
        }
    }
    out_progress_end();
    if (!c->s->quiet)
        out_line("NPI %s: %lu binding%s attached", argv[1], count, count == 1 ? "" : "s");
    return 0;
}

static int cmd_echo(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)c; (void)argc; (void)argv;
    out_line("%s", rest);
    return 0;
}

static int cmd_report(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)argc; (void)argv; (void)rest;
    view_report(c->s);
    return 0;
}

static int cmd_quit(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)argc; (void)argv; (void)rest;
    c->s->quit = 1;
    return 0;
}

static int cmd_help(cmd_call *c, int argc, char **argv, const char *rest)
{
    (void)rest;
    if (commands_help(argc == 2 ? argv[1] : NULL) != 0)
        return fail(c, "no command '%s'", argv[1]);
    return 0;
}

static int is_number(const char *s)
{
    if (*s == '\0')
        return 0;
    errno = 0;
    char *end;
    (void)strtod(s, &end);
    return *end == '\0' && errno == 0;
}

static int cmd_check(cmd_call *c, int argc, char **argv, const char *rest)
{
    host_module *m = host_find_any(argv[1]);
    (void)argc; (void)rest;
    if (m == NULL)
        return fail(c, "no module named '%s' was loaded", argv[1]);
    char stats[HOST_STATS_LEN], value[128];
    if (host_stats(m, stats, sizeof stats) != 0)
        return fail(c, "%s has no stats", m->name);
    if (host_stats_field(stats, argv[2], value, sizeof value) != 0)
        return fail(c, "%s reports no field '%s' (it reports: %s)", m->name, argv[2], stats);
    const char *op = argv[3], *want = argv[4];
    int ordering = strcmp(op, "<") == 0 || strcmp(op, "<=") == 0 || strcmp(op, ">") == 0 ||
               strcmp(op, ">=") == 0;
    if (!ordering && strcmp(op, "==") != 0 && strcmp(op, "!=") != 0)
        return fail(c, "unknown comparison '%s' (==, !=, <, <=, >, >=)", op);
    if (ordering && !is_number(want))
        return fail(c, "VALUE '%s' is not a number (%s compares numbers)", want, op);
    if (ordering && !is_number(value))
        return fail(c, "%s %s is '%s', not a number (%s compares numbers)", m->name, argv[2],
                    value, op);
    int cmp;
    if (is_number(value) && is_number(want)) {
        double a = strtod(value, NULL), b = strtod(want, NULL);
        cmp = a < b ? -1 : a > b;
    } else {
        cmp = strcmp(value, want);
        cmp = cmp < 0 ? -1 : cmp > 0;
    }
    int ok;
    if (strcmp(op, "==") == 0)
        ok = cmp == 0;
    else if (strcmp(op, "!=") == 0)
        ok = cmp != 0;
    else if (strcmp(op, "<") == 0)
        ok = cmp < 0;
    else if (strcmp(op, "<=") == 0)
        ok = cmp <= 0;
    else if (strcmp(op, ">") == 0)
        ok = cmp > 0;
    else if (strcmp(op, ">=") == 0)
        ok = cmp >= 0;
    else
        return fail(c, "unknown comparison '%s' (==, !=, <, <=, >, >=)", op);
    if (!ok)
        return fail(c, "%s %s is %s, not %s %s", m->name, argv[2], value, op, want);
    if (!c->s->quiet)
        out_line("check %s %s %s %s: yes (%s)", m->name, argv[2], op, want, value);
    return 0;
}

static int cmd_expect_state(cmd_call *c, int argc, char **argv, const char *rest)
{
    host_module *m = host_find_any(argv[1]);
    (void)argc; (void)rest;
    const char *state;
    if (m == NULL)
        state = "never-loaded";
    else
        state = m->state == HOST_LOADED ? "loaded"
              : m->state == HOST_RESIDENT ? "resident" : "unloaded";
    if (strcmp(argv[2], "loaded") != 0 && strcmp(argv[2], "resident") != 0 &&
        strcmp(argv[2], "unloaded") != 0 && strcmp(argv[2], "never-loaded") != 0)
        return fail(c, "STATE is loaded, resident, unloaded or never-loaded, not '%s'",
                    argv[2]);
    if (strcmp(state, argv[2]) != 0)
        return fail(c, "%s is %s, not %s", argv[1], state, argv[2]);
    if (!c->s->quiet)
        out_line("%s is %s", argv[1], state);
    return 0;
}

static int cmd_expect_fail(cmd_call *c, int argc, char **argv, const char *rest)
{
    if (strcmp(argv[1], "expect-fail") == 0)
        return fail(c, "expect-fail of expect-fail");
    /* rest without the inner command's name */
    const char *inner_rest = rest;
    inner_rest += strspn(inner_rest, " \t");
    inner_rest += strcspn(inner_rest, " \t");
    inner_rest += strspn(inner_rest, " \t");
    int rc = commands_run(c, argc - 1, argv + 1, inner_rest);
    if (rc == 0)
        return fail(c, "'%s' was expected to fail, and succeeded", argv[1]);
    out_line("nmrhost: %s: %s: %s (failure expected)", c->where, argv[1], c->why);
    c->s->expected++;
    c->why[0] = '\0';
    return 0;
}

static const command commands[] = {
    { "load", 1, -1, "load PATH|NAME [ARG...]",
      "dlopen a module, call its load entry with NAME ARG... (NAME is looked for on the "
      "module path as NAME and NAME.so); or a driver (it exports DriverEntry): call "
      "DriverEntry, which takes no ARG", cmd_load },
    { "unload", 1, 1, "unload NAME",
      "call the module's unload entry (a driver's DriverUnload), check that it left nothing "
      "in the registrar (a driver: no pool, thread or work item either), then dlclose it and "
      "check it is unmapped; if something is left, keep it resident and say what (unload "
      "NAME again checks again)", cmd_unload },
    { "list", 0, 0, "list", "the modules and drivers, their kind and registrations",
      cmd_list },
    { "bindings", 0, 0, "bindings", "the binding graph as text", cmd_bindings },
    { "graph", 1, 1, "graph FILE.dot",
      "write the binding graph as Graphviz DOT, and FILE.png when 'dot' is installed",
      cmd_graph },
    { "show", 1, 2, "show json|text [FILE]",
      "the snapshot of the registrar as JSON (docs/snapshot.schema.json) or text, on "
      "standard output or into FILE", cmd_show },
    { "stats", 0, 1, "stats [NAME]", "what the modules report (their stats entry)", cmd_stats },
    { "sleep", 1, 1, "sleep MS", "wait, printing the progress line", cmd_sleep },
    { "wait-bound", 3, 3, "wait-bound NPI COUNT TIMEOUT_MS",
      "wait until exactly COUNT bindings of the NPI (a GUID, or the start of one) are "
      "attached; fail after TIMEOUT_MS", cmd_wait_bound },
    { "echo", 0, -1, "echo TEXT", "print TEXT", cmd_echo },
    { "report", 0, 0, "report",
      "the last figures of every module of the session, and the host's counters", cmd_report },
    { "check", 4, 4, "check NAME FIELD OP VALUE",
      "fail unless the module's stats field compares as asked (==, !=, <, <=, >, >=; "
      "<, <=, >, >= want numbers); for an unloaded module, its last figures", cmd_check },
    { "expect-state", 2, 2, "expect-state NAME STATE",
      "fail unless the module is loaded, resident, unloaded or never-loaded",
      cmd_expect_state },
    { "expect-fail", 1, -1, "expect-fail COMMAND [ARG...]",
      "run COMMAND; succeed if and only if it fails", cmd_expect_fail },
    { "help", 0, 1, "help [COMMAND]", "this text", cmd_help },
    { "quit", 0, 0, "quit", "unload every module, newest first, and exit", cmd_quit },
};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

int commands_help(const char *name)
{
    int found = 0;
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (name != NULL && strcmp(name, commands[i].name) != 0)
            continue;
        out_line("  %-34s %s", commands[i].usage, commands[i].help);
        found = 1;
    }
    if (name == NULL) {
        out_line("  %-34s %s", "repeat N ... end", "run the lines up to the matching end N times");
        out_line("  Lines: '#' starts a comment; \"...\" quotes; ${VAR} and ${VAR:-default} "
                 "are taken from the environment.");
        return 0;
    }
    if (!found && (strcmp(name, "repeat") == 0 || strcmp(name, "end") == 0)) {
        out_line("  %-34s %s", "repeat N ... end", "run the lines up to the matching end N times");
        return 0;
    }
    return found ? 0 : -1;
}

int commands_run(cmd_call *c, int argc, char **argv, const char *rest)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        const command *cmd = &commands[i];
        if (strcmp(argv[0], cmd->name) != 0)
            continue;
        if (argc - 1 < cmd->min_args || (cmd->max_args >= 0 && argc - 1 > cmd->max_args))
            return fail(c, "wrong number of arguments (usage: %s)", cmd->usage);
        c->why[0] = '\0';
        return cmd->fn(c, argc, argv, rest);
    }
    if (strcmp(argv[0], "end") == 0)
        return fail(c, "'end' without 'repeat'");
    return fail(c, "unknown command '%s' (help lists the commands)", argv[0]);
}

static void unload_at_end(session *s, host_module *m)
{
    cmd_call c;
    memset(&c, 0, sizeof c);
    c.s = s;
    snprintf(c.where, sizeof c.where, "end of session");
    char *argv[2];
    argv[0] = "unload";
    argv[1] = m->name;
    if (commands_run(&c, 2, argv, m->name) != 0) {
        out_err("nmrhost: %s: unload: %s", c.where, c.why);
        s->failures++;
    }
}

/* Every module, newest first: the loaded ones (but drivers that set no
 * DriverUnload, which stay), and the resident ones whose unload entry is
 * still running (given up on after a timeout or a Ctrl-C), waited for
 * again.  A Ctrl-C here says what the unload in progress waits
 * for; a second one stops waiting for that module (it stays mapped). */
void commands_unload_all(session *s)
{
    size_t n = 0;
    for (host_module *m = host_modules(); m != NULL; m = m->next)
        n++;
    host_module **todo = calloc(n + 1, sizeof *todo);
    if (todo == NULL)
        return;
    n = 0;
    for (host_module *m = host_modules(); m != NULL; m = m->next)
        if ((m->state == HOST_LOADED && host_can_unload(m)) || host_unload_running(m))
            todo[n++] = m;
    host_set_intr_policy(HOST_INTR_REPORT);
    if (n != 0 && s->interrupted)
        out_line("nmrhost: interrupted: unloading every module, newest first (Ctrl-C: say "
                 "what an unload waits for)");
    for (size_t i = n; i-- > 0;)
        if (todo[i]->state == HOST_LOADED || host_unload_running(todo[i]))
            unload_at_end(s, todo[i]);
    free(todo);
    host_set_intr_policy(HOST_INTR_STOP);
    for (host_module *m = host_modules(); m != NULL; m = m->next) {
        if (m->state == HOST_RESIDENT)
            out_line("nmrhost: %s stays mapped until exit: %s", m->name, m->why);
        else if (!host_can_unload(m))   /* as on Windows: not a failure of the session */
            out_line("nmrhost: %s stays loaded until exit: it set no DriverUnload", m->name);
    }
}
