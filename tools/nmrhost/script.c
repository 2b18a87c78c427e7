/* SPDX-License-Identifier: MIT */
/*
 * script.c - the nmrhost interpreter: reads lines (lineread.c), expands
 * ${VAR}, splits words, runs `repeat N ... end` blocks, and runs each
 * command (commands.c).  A failed command is reported as
 *     nmrhost: FILE:LINE: COMMAND: REASON
 * on standard error; the session goes on (or stops, with --errexit).
 */
#define _POSIX_C_SOURCE 200809L
#include "script.h"

#include "intr.h"
#include "out.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS 64

typedef struct line {
    int lineno;
    char *text;
} line;

typedef struct block {
    line *lines;
    size_t n, cap;
} block;

static int block_add(block *b, int lineno, char *text)
{
    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 16;
        line *l = realloc(b->lines, cap * sizeof *l);
        if (l == NULL)
            return -1;
        b->lines = l;
        b->cap = cap;
    }
    b->lines[b->n].lineno = lineno;
    b->lines[b->n].text = text;
    b->n++;
    return 0;
}

static void block_free(block *b)
{
    for (size_t i = 0; i < b->n; i++)
        free(b->lines[i].text);
    free(b->lines);
    memset(b, 0, sizeof *b);
}

/* ${VAR} and ${VAR:-default} from the environment.  malloc'd result, or
 * NULL with why set. */
static char *expand(const char *in, char *why, size_t whysize)
{
    size_t cap = strlen(in) + 64, len = 0;
    char *out = malloc(cap);
    if (out == NULL) {
        snprintf(why, whysize, "out of memory");
        return NULL;
    }
    while (*in != '\0') {
        const char *val = NULL;
        size_t vlen;
        if (in[0] == '$' && in[1] == '{') {
            const char *close = strchr(in, '}'), *dflt = NULL;
            if (close == NULL) {
                snprintf(why, whysize, "unclosed ${ in '%s'", in);
                free(out);
                return NULL;
            }
            size_t nlen = (size_t)(close - in - 2);
            char name[128];
            snprintf(name, sizeof name, "%.*s", (int)nlen, in + 2);
            if (strstr(name, ":-") != NULL) {
                char *sep = strstr(name, ":-");
                *sep = '\0';
                dflt = in + 2 + (sep - name) + 2;
            }
            val = getenv(name);
            if (val == NULL || val[0] == '\0') {
                if (dflt == NULL) {
                    snprintf(why, whysize, "${%s} is not set in the environment", name);
                    free(out);
                    return NULL;
                }
                val = dflt;
                vlen = (size_t)(close - dflt);
            } else {
                vlen = strlen(val);
            }
            in = close + 1;
        } else {
            val = in++;
            vlen = 1;
        }
        if (len + vlen + 1 > cap) {
            cap = (len + vlen + 1) * 2;
            char *o = realloc(out, cap);
            if (o == NULL) {
                free(out);
                snprintf(why, whysize, "out of memory");
                return NULL;
            }
            out = o;
        }
        memcpy(out + len, val, vlen);
        len += vlen;
    }
    out[len] = '\0';
    return out;
}

/* Split in place: words separated by blanks, "..." quoted (\" and \\
 * inside), '#' outside quotes ends the line.  Returns the count, or -1
 * with why set. */
static int split(char *s, char **words, char **rest, char *why, size_t whysize)
{
    int n = 0;
    char *w = s;
    *rest = NULL;
    for (;;) {
        while (isspace((unsigned char)*s))
            s++;
        if (*s == '\0' || *s == '#')
            break;
        if (n == 1)
            *rest = s;
        if (n == MAX_WORDS) {
            snprintf(why, whysize, "more than %d words", MAX_WORDS);
            return -1;
        }
        char *start = w = s;
        while (*s != '\0' && !isspace((unsigned char)*s)) {
            if (*s == '"') {
                s++;
                while (*s != '"') {
                    if (*s == '\0') {
                        snprintf(why, whysize, "unclosed quote");
                        return -1;
                    }
                    if (*s == '\\' && (s[1] == '"' || s[1] == '\\'))
                        s++;
                    *w++ = *s++;
                }
                s++;
            } else {
                *w++ = *s++;
            }
        }
        if (*s != '\0')
            s++;
        *w = '\0';
        words[n++] = start;
    }
    return n;
}

/* The first word of a line, for recognising repeat / end: into buf. */
static void first_word(const char *text, char *buf, size_t size, const char **after)
{
    text += strspn(text, " \t");
    size_t n = strcspn(text, " \t#");
    snprintf(buf, size, "%.*s", (int)n, text);
    if (after != NULL)
        *after = text + n;
}

static void report_failure(session *s, const cmd_call *c, const char *name)
{
    out_err("nmrhost: %s: %s: %s", c->where, name, c->why);
    s->failures++;
}

/* Run one line; 0 go on, -1 stop (errexit failure or quit). */
static int run_line(session *s, const char *src, int lineno, const char *iter, const char *text)
{
    cmd_call c;
    memset(&c, 0, sizeof c);
    c.s = s;
    snprintf(c.where, sizeof c.where, "%s:%d%s", src, lineno, iter);
    char *ex = expand(text, c.why, sizeof c.why);
    if (ex == NULL) {
        char name[64];
        first_word(text, name, sizeof name, NULL);
        report_failure(s, &c, name);
        return s->errexit ? -1 : 0;
    }
    /* echo prints its text as written (after expansion), not as words */
    char *rest_copy = NULL;
    const char *after;
    char name[64];
    first_word(ex, name, sizeof name, &after);
    if (strcmp(name, "echo") == 0 || strcmp(name, "expect-fail") == 0) {
        after += strspn(after, " \t");
        rest_copy = strdup(after);
    }
    char *words[MAX_WORDS], *rest = NULL;
    int n = split(ex, words, &rest, c.why, sizeof c.why);
    if (n < 0) {
        report_failure(s, &c, "(line)");
        free(ex);
        free(rest_copy);
        return s->errexit ? -1 : 0;
    }
    if (n == 0) {
        free(ex);
        free(rest_copy);
        return 0;
    }
    int rc = commands_run(&c, n, words, rest_copy != NULL ? rest_copy : (rest != NULL ? rest : ""));
    if (rc != 0)
        report_failure(s, &c, words[0]);
    free(ex);
    free(rest_copy);
    if (s->quit)
        return -1;
    return rc != 0 && s->errexit ? -1 : 0;
}

static int run_block(session *s, const char *src, const block *b, size_t from, size_t to,
                     const char *iter);

/* lines[from] is "repeat N": the index of its matching end, or to. */
static size_t matching_end(const block *b, size_t from, size_t to)
{
    int depth = 0;
    for (size_t i = from; i < to; i++) {
        char w[32];
        first_word(b->lines[i].text, w, sizeof w, NULL);
        if (strcmp(w, "repeat") == 0)
            depth++;
        else if (strcmp(w, "end") == 0 && --depth == 0)
            return i;
    }
    return to;
}

/* Run "repeat N" at b->lines[at] over the lines up to end. */
static int run_repeat(session *s, const char *src, const block *b, size_t at, size_t end,
                      const char *iter)
{
    cmd_call c;
    memset(&c, 0, sizeof c);
    snprintf(c.where, sizeof c.where, "%s:%d%s", src, b->lines[at].lineno, iter);
    const char *after;
    char w[32];
    first_word(b->lines[at].text, w, sizeof w, &after);
    after += strspn(after, " \t");
    char *num_end;
    unsigned long count = strtoul(after, &num_end, 10);
    num_end += strspn(num_end, " \t");
    if (!isdigit((unsigned char)*after) || (*num_end != '\0' && *num_end != '#') ||
        count > 100000000ul) {
        snprintf(c.why, sizeof c.why, "usage: repeat N (N a number), then lines, then end");
        report_failure(s, &c, "repeat");
        return s->errexit ? -1 : 0;
    }
    char note[256];
    for (unsigned long k = 0; k < count; k++) {
        snprintf(note, sizeof note, "%s (repeat %lu of %lu)", iter, k + 1, count);
        if (run_block(s, src, b, at + 1, end, note) != 0)
            return -1;
    }
    return 0;
}

static int run_block(session *s, const char *src, const block *b, size_t from, size_t to,
                     const char *iter)
{
    for (size_t i = from; i < to; i++) {
        char w[32];
        if (intr_since(s->intr_mark))
            return -1;                 /* Ctrl-C stops the whole block */
        first_word(b->lines[i].text, w, sizeof w, NULL);
        if (strcmp(w, "repeat") == 0) {
            size_t end = matching_end(b, i, to);
            if (run_repeat(s, src, b, i, end, iter) != 0)
                return -1;
            i = end;
            continue;
        }
        if (run_line(s, src, b->lines[i].lineno, iter, b->lines[i].text) != 0)
            return -1;
    }
    return 0;
}

/* After a statement (or the end of input) that a Ctrl-C came during: at the
 * prompt, go on; in a script, stop.  1 when the script must stop. */
static int interrupted(session *s, line_reader *r, int lineno)
{
    if (!intr_since(s->intr_mark))
        return 0;
    s->interrupted = 1;
    if (lr_interactive(r))
        return 0;
    out_err("nmrhost: %s:%d: interrupted (Ctrl-C): the rest of the script is not run",
            lr_name(r), lineno);
    return 1;
}

int script_run(session *s, line_reader *r)
{
    const char *src = lr_name(r);
    int lineno = 0;
    char *text;
    s->intr_mark = intr_count();
    while ((text = lr_next(r, "nmrhost> ", &lineno)) != NULL) {
        char w[32];
        s->intr_mark = intr_count();
        first_word(text, w, sizeof w, NULL);
        if (strcmp(w, "repeat") == 0) {
            /* read the whole block, then run it */
            block b = { NULL, 0, 0 };
            int depth = 1, start = lineno;
            if (block_add(&b, lineno, text) != 0) {
                free(text);
                return -1;
            }
            char *l;
            while (depth > 0 && (l = lr_next(r, "repeat> ", &lineno)) != NULL) {
                first_word(l, w, sizeof w, NULL);
                if (strcmp(w, "repeat") == 0)
                    depth++;
                else if (strcmp(w, "end") == 0)
                    depth--;
                if (block_add(&b, lineno, l) != 0) {
                    free(l);
                    block_free(&b);
                    return -1;
                }
            }
            if (depth > 0) {
                cmd_call c;
                memset(&c, 0, sizeof c);
                snprintf(c.where, sizeof c.where, "%s:%d", src, start);
                snprintf(c.why, sizeof c.why, "no 'end' for this repeat before the end of input");
                report_failure(s, &c, "repeat");
                block_free(&b);
                return -1;
            }
            int rc = run_block(s, src, &b, 0, b.n, "");
            block_free(&b);
            if (interrupted(s, r, start))
                return -1;
            if (rc != 0 && !(lr_interactive(r) && intr_since(s->intr_mark)))
                return -1;
            continue;
        }
        int rc = run_line(s, src, lineno, "", text);
        free(text);
        if (interrupted(s, r, lineno))
            return -1;
        if (rc != 0 && !(s->interrupted && lr_interactive(r) && !s->quit &&
                         intr_since(s->intr_mark)))
            return -1;
        s->intr_mark = intr_count();
    }
    if (!lr_interactive(r) && interrupted(s, r, lineno))   /* while waiting for input */
        return -1;
    return 0;
}
