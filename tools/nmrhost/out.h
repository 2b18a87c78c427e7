/* SPDX-License-Identifier: MIT */
/*
 * out.h - nmrhost's output: one lock for every line written, so that
 * module log lines (from any thread), reports and the live progress line
 * never mix.  On a terminal the progress line is redrawn in place and
 * erased before any other line; elsewhere it is printed as plain lines.
 */
#ifndef NMRHOST_OUT_H
#define NMRHOST_OUT_H

#include <stdio.h>

#if defined(__GNUC__)
#define OUT_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define OUT_PRINTF(f, a)
#endif

typedef enum out_progress_mode { OUT_PROGRESS_OFF, OUT_PROGRESS_ON, OUT_PROGRESS_AUTO } out_progress_mode;

void out_init(out_progress_mode mode);
/* 1 when progress lines are printed at all. */
int out_progress_enabled(void);
/* 1 when stdout is a terminal and the progress line is redrawn in place. */
int out_progress_live(void);

void out_line(const char *format, ...) OUT_PRINTF(1, 2);    /* stdout, adds '\n' */
void out_err(const char *format, ...) OUT_PRINTF(1, 2);     /* stderr, adds '\n' */
void out_text(const char *text);                            /* stdout, as is */

/* The progress line: replaced in place on a terminal, else one line. */
void out_progress(const char *line);
/* End the live line (keep it on screen). */
void out_progress_end(void);

/* The interactive prompt (lineread.c).  While the reader says the prompt
 * is shown, a line written by any thread first erases the prompt's line
 * and makes the descriptor that out_prompt_init() returns readable: the
 * reader then draws the prompt again, with what was typed, below it.  The
 * reader holds the lock (out_lock) while line editing writes. */
int out_prompt_init(void);                  /* the descriptor, or -1 */
void out_lock(void);
void out_unlock(void);
void out_prompt_shown_locked(int shown);
/* 1 once when something was written over the prompt since last asked. */
int out_prompt_overwritten_locked(void);

/* Write directly to stdout under the output lock. */
FILE *out_begin(void);
void out_end(void);

#endif /* NMRHOST_OUT_H */
