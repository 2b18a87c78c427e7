/*
 * lineread.c - script and terminal input for nmrhost (see lineread.h).
 * The history of interactive sessions is kept in ~/.nmrhost_history.
 */
#define _POSIX_C_SOURCE 200809L
#include "lineread.h"

#include <stdlib.h>
#include <string.h>

#ifdef NMRHOST_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

struct line_reader {
    FILE *f;
    int own;
    int interactive;
    int lineno;
    char name[256];
    char history[1024];
};

const char *lr_backend(void)
{
#ifdef NMRHOST_HAVE_LIBEDIT
    return "libedit (line editing and history)";
#else
    return "none: plain lines, no editing or history (build with libedit-dev)";
#endif
}

line_reader *lr_open_file(FILE *f, const char *name, int own)
{
    line_reader *r = calloc(1, sizeof *r);

    if (r == NULL)
        return NULL;
    r->f = f;
    r->own = own;
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

line_reader *lr_open_interactive(void)
{
    line_reader *r = lr_open_file(stdin, "stdin", 0);

    if (r == NULL)
        return NULL;
    r->interactive = 1;
#ifdef NMRHOST_HAVE_LIBEDIT
    {
        const char *home = getenv("HOME");

        using_history();
        if (home != NULL && home[0] != '\0') {
            snprintf(r->history, sizeof r->history, "%s/.nmrhost_history", home);
            read_history(r->history);
        }
    }
#endif
    return r;
}

char *lr_next(line_reader *r, const char *prompt, int *lineno)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;

#ifdef NMRHOST_HAVE_LIBEDIT
    if (r->interactive) {
        line = readline(prompt);
        if (line == NULL)
            return NULL;
        if (line[0] != '\0')
            add_history(line);
        *lineno = ++r->lineno;
        return line;
    }
#endif
    if (r->interactive) {
        fputs(prompt, stdout);
        fflush(stdout);
    }
    n = getline(&line, &cap, r->f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    *lineno = ++r->lineno;
    return line;
}

const char *lr_name(const line_reader *r) { return r->name; }
int lr_interactive(const line_reader *r) { return r->interactive; }

void lr_close(line_reader *r)
{
    if (r == NULL)
        return;
#ifdef NMRHOST_HAVE_LIBEDIT
    if (r->interactive && r->history[0] != '\0')
        write_history(r->history);
#endif
    if (r->own)
        fclose(r->f);
    free(r);
}
