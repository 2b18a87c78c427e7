/* SPDX-License-Identifier: MIT */
/*
 * session.h - the state of one nmrhost run, shared by the interpreter
 * (script.c), the commands (commands.c) and the views (view.c).
 */
#ifndef NMRHOST_SESSION_H
#define NMRHOST_SESSION_H

#include "host.h"

#include <stdint.h>

typedef struct session {
    int errexit;            /* stop at the first unexpected failure */
    int quiet;              /* no success lines for load/unload */
    unsigned progress_ms;   /* progress line period during sleep/waits */
    unsigned failures;      /* commands that failed unexpectedly */
    unsigned expected;      /* failures that expect-fail wanted */
    int quit;               /* quit was given */
    unsigned intr_mark;     /* intr_count() when the current statement began */
    int interrupted;        /* Ctrl-C stopped a command or the script */
    uint64_t start_ns;
} session;

/* One command being run: where it comes from, and why it failed. */
typedef struct cmd_call {
    session *s;
    char where[320];        /* "demo.nmr:12" or "demo.nmr:12 (repeat 3 of 1000)" */
    char why[HOST_WHY_LEN];
} cmd_call;

/* Run one command (argv[0] is its name; rest: the text after the name, as
 * written, for echo).  0, or -1 with c->why set. */
int commands_run(cmd_call *c, int argc, char **argv, const char *rest);
/* The help text (all commands, or one). 0, or -1 for an unknown one. */
int commands_help(const char *name);
/* Unload every loaded module, newest first (end of session). */
void commands_unload_all(session *s);

/* Views (view.c). */
void view_list(void);
void view_bindings(void);
int view_graph(const char *dotfile, char *why, size_t whysize);
/* The snapshot as JSON or text (nmr_snapshot_write) to path, or standard
 * output when path is NULL.  0, or -1 with why. */
int view_show(nmr_dump_format format, const char *path, char *why, size_t whysize);
void view_report(const session *s);
/* Print one progress line (rates since the previous one). */
void view_progress(const session *s);
/* Attached bindings of the NPI (a GUID, or a prefix of its text), or -1. */
long view_count_bound(const char *npi);

#endif /* NMRHOST_SESSION_H */
