/* SPDX-License-Identifier: MIT */
/*
 * dump.h - the string escapers of the snapshot writers (dump.c), for the
 * tests: hidden in libnmr.so, reachable through the static library.
 */
#ifndef NMR_SRC_DUMP_H
#define NMR_SRC_DUMP_H

#include <stdio.h>

/* s as a JSON string literal, quotes included. */
void nmr_dump_json_string(FILE *f, const char *s);
/* s as a Graphviz quoted string, quotes included. */
void nmr_dump_dot_string(FILE *f, const char *s);

#endif
