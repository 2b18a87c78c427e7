/* SPDX-License-Identifier: MIT */
/*
 * script.h - run nmrhost commands from a line source (a file, standard
 * input or the terminal).
 */
#ifndef NMRHOST_SCRIPT_H
#define NMRHOST_SCRIPT_H

#include "lineread.h"
#include "session.h"

/* Run every line.  0 at the end of input; -1 when stopped (quit, or a
 * failure with errexit).  s->failures counts the failed commands. */
int script_run(session *s, line_reader *r);

#endif /* NMRHOST_SCRIPT_H */
