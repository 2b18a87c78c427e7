/* SPDX-License-Identifier: MIT */
/*
 * lineread.h - where nmrhost's commands come from: a script file, a script
 * on standard input, or a terminal with line editing and history.
 *
 * Line editing uses libedit (Debian: libedit-dev) through its readline
 * interface, when it was found at configure time: libedit is BSD-licensed,
 * so nmrhost stays under the project's licence (GNU readline would make the
 * linked binary GPL).  Without it nmrhost reads plain lines (fgets) and
 * says so in --version and help.
 */
#ifndef NMRHOST_LINEREAD_H
#define NMRHOST_LINEREAD_H

#include <stdio.h>

typedef struct line_reader line_reader;

/* A script read from f (not closed by lr_close unless own is 1). */
line_reader *lr_open_file(FILE *f, const char *name, int own);
/* The terminal: prompts, line editing and history when available. */
line_reader *lr_open_interactive(void);
/* The next line (malloc'd, no newline; the caller frees it), or NULL at
 * the end.  *lineno: its line number.  prompt: for the terminal only. */
char *lr_next(line_reader *r, const char *prompt, int *lineno);
const char *lr_name(const line_reader *r);
int lr_interactive(const line_reader *r);
void lr_close(line_reader *r);

/* "libedit" or "none (plain lines)". */
const char *lr_backend(void);

#endif /* NMRHOST_LINEREAD_H */
