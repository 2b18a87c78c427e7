/* SPDX-License-Identifier: MIT */
/*
 * lineread.c - script and terminal input for nmrhost (see lineread.h).
 * The history of interactive sessions is kept in ~/.nmrhost_history.
 *
 * Input that may block (a terminal, a pipe) is read in a poll() loop that
 * also watches Ctrl-C (intr_fd) and, at the prompt, lines that other
 * threads wrote over the prompt (out_prompt_init): Ctrl-C at the prompt
 * drops the line being typed and shows a fresh prompt; a line written over
 * the prompt is followed by the prompt again, with what was typed.  With
 * libedit this uses its callback interface (rl_callback_*), one character
 * at a time, with nmrhost's output lock held while it draws.
 */
#define _POSIX_C_SOURCE 200809L
#include "lineread.h"

#include "intr.h"
#include "out.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef NMRHOST_HAVE_LIBEDIT
#include <editline/readline.h>
#endif

struct line_reader {
    FILE *f;
    int own;
    int interactive;
    int by_fd;                 /* read(2) in a poll loop, not stdio */
    int fd;
    int eof;
    int lineno;
    char *buf;                 /* by_fd: bytes read, not yet returned */
    size_t len, cap;
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
    r->fd = -1;
    snprintf(r->name, sizeof r->name, "%s", name);
    struct stat st;
    /* a pipe or a terminal may block: read it so that Ctrl-C is seen */
    if (f == stdin && fstat(STDIN_FILENO, &st) == 0 && !S_ISREG(st.st_mode)) {
        r->by_fd = 1;
        r->fd = STDIN_FILENO;
    }
    return r;
}

line_reader *lr_open_interactive(void)
{
    line_reader *r = lr_open_file(stdin, "stdin", 0);
    if (r == NULL)
        return NULL;
    r->interactive = 1;
    r->by_fd = 1;
    r->fd = STDIN_FILENO;
    out_prompt_init();
#ifdef NMRHOST_HAVE_LIBEDIT
    const char *home = getenv("HOME");
    rl_catch_signals = 0;          /* SIGINT is intr.c's */
    using_history();
    if (home != NULL && home[0] != '\0') {
        snprintf(r->history, sizeof r->history, "%s/.nmrhost_history", home);
        read_history(r->history);
    }
#endif
    return r;
}

/* Wait for input on fd, a Ctrl-C or a redraw request.  Returns the poll
 * revents of fd (0 when only the others fired), -1 on error. */
static int wait_input(int fd, int redraw_fd)
{
    struct pollfd p[3];
    p[0].fd = fd;
    p[0].events = POLLIN;
    p[1].fd = intr_fd();
    p[1].events = POLLIN;
    p[2].fd = redraw_fd;
    p[2].events = POLLIN;
    for (;;) {
        int n = poll(p, 3, -1);
        if (n >= 0)
            return p[0].revents;
        if (errno != EINTR)
            return -1;
    }
}

#ifdef NMRHOST_HAVE_LIBEDIT
static char *edit_line;
static int edit_done;

static void edit_handler(char *line)
{
    edit_line = line;
    edit_done = 1;
}

static char *edit_next(const char *prompt)
{
    int redraw_fd = out_prompt_init();
    unsigned mark = intr_count();
    edit_line = NULL;
    edit_done = 0;
    out_lock();
    rl_callback_handler_install(prompt, edit_handler);
    out_prompt_shown_locked(1);
    out_unlock();
    while (!edit_done) {
        int ev = wait_input(STDIN_FILENO, redraw_fd);
        if (ev < 0) {
            edit_done = 1;             /* cannot wait: end of input */
            break;
        }
        out_lock();
        if (intr_since(mark)) {        /* Ctrl-C: drop the line, a fresh prompt */
            mark = intr_count();
            intr_drain();
            rl_callback_handler_remove();
            fputs("^C\n", stdout);
            fflush(stdout);
            rl_callback_handler_install(prompt, edit_handler);
        }
        if (out_prompt_overwritten_locked())
            rl_forced_update_display();
        if (ev & (POLLIN | POLLHUP | POLLERR)) {
            rl_callback_read_char();
            if (!edit_done && (ev & POLLIN) == 0)
                edit_done = 1;         /* hung up */
        }
        out_unlock();
    }
    out_lock();
    out_prompt_shown_locked(0);
    rl_callback_handler_remove();
    if (edit_line == NULL) {           /* end of input (^D) */
        fputc('\n', stdout);
        fflush(stdout);
    }
    out_unlock();
    return edit_line;
}
#endif

/* The next line from a descriptor that may block.  prompt: NULL when not
 * interactive; then a Ctrl-C ends the input (NULL). */
static char *fd_next(line_reader *r, const char *prompt)
{
    int redraw_fd = prompt != NULL ? out_prompt_init() : -1;
    unsigned mark = intr_count();
    int shown = 0;
    for (;;) {
        char *nl = r->len != 0 ? memchr(r->buf, '\n', r->len) : NULL;
        if (nl != NULL || (r->eof && r->len != 0)) {
            size_t n = nl != NULL ? (size_t)(nl - r->buf) : r->len;
            char *line = malloc(n + 1);
            if (line == NULL)
                return NULL;
            memcpy(line, r->buf, n);
            line[n] = '\0';
            if (n > 0 && line[n - 1] == '\r')
                line[n - 1] = '\0';
            n += nl != NULL;
            memmove(r->buf, r->buf + n, r->len - n);
            r->len -= n;
            if (shown) {
                out_lock();
                out_prompt_shown_locked(0);
                out_unlock();
            }
            return line;
        }
        if (r->eof)
            break;
        if (prompt != NULL && !shown) {
            out_lock();
            fputs(prompt, stdout);
            fflush(stdout);
            out_prompt_shown_locked(1);
            out_unlock();
            shown = 1;
        }
        int ev = wait_input(r->fd, redraw_fd);
        if (ev < 0)
            break;
        if (intr_since(mark)) {
            mark = intr_count();
            intr_drain();
            if (prompt == NULL)
                break;                 /* a script: Ctrl-C stops it */
            r->len = 0;                /* the terminal dropped the line too */
            out_lock();
            fputc('\n', stdout);
            out_prompt_shown_locked(0);
            out_unlock();
            shown = 0;
            continue;
        }
        if (prompt != NULL) {
            out_lock();
            if (out_prompt_overwritten_locked()) {
                fputs(prompt, stdout);
                fflush(stdout);
            }
            out_unlock();
        }
        if (ev & (POLLIN | POLLHUP | POLLERR)) {
            if (r->cap - r->len < 256) {
                size_t cap = r->cap ? r->cap * 2 : 1024;
                char *b = realloc(r->buf, cap);
                if (b == NULL)
                    break;
                r->buf = b;
                r->cap = cap;
            }
            ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
            if (n > 0)
                r->len += (size_t)n;
            else if (n == 0 || (errno != EINTR && errno != EAGAIN))
                r->eof = 1;
        }
    }
    if (shown) {
        out_lock();
        out_prompt_shown_locked(0);
        fputc('\n', stdout);
        fflush(stdout);
        out_unlock();
    }
    return NULL;
}

char *lr_next(line_reader *r, const char *prompt, int *lineno)
{
    char *line = NULL;
#ifdef NMRHOST_HAVE_LIBEDIT
    if (r->interactive) {
        line = edit_next(prompt);
        if (line == NULL)
            return NULL;
        if (line[0] != '\0')
            add_history(line);
        *lineno = ++r->lineno;
        return line;
    }
#endif
    if (r->by_fd) {
        line = fd_next(r, r->interactive ? prompt : NULL);
        if (line != NULL)
            *lineno = ++r->lineno;
        return line;
    }
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, r->f);
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
    free(r->buf);
    free(r);
}
