/* SPDX-License-Identifier: MIT */
/*
 * out.c - serialized output of nmrhost (see out.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "out.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

static pthread_mutex_t out_mutex = PTHREAD_MUTEX_INITIALIZER;
static int progress_on;     /* print progress lines */
static int progress_live;   /* redraw in place */
static int line_shown;      /* a live progress line is on screen [out_mutex] */
static int prompt_shown;    /* the prompt is on screen, waiting for input [out_mutex] */
static int redraw_pipe[2] = { -1, -1 };

void out_init(out_progress_mode mode)
{
    int tty = isatty(STDOUT_FILENO);
    setvbuf(stdout, NULL, _IOLBF, 0);
    progress_on = mode == OUT_PROGRESS_ON || (mode == OUT_PROGRESS_AUTO && tty);
    progress_live = progress_on && tty;
}

int out_progress_enabled(void) { return progress_on; }
int out_progress_live(void) { return progress_live; }

/* Caller holds out_mutex. */
static void erase_locked(void)
{
    if (line_shown) {
        fputs("\r\033[K", stdout);
        line_shown = 0;
    }
    if (prompt_shown == 1) {
        /* a line from another thread while the prompt waits: it goes where
         * the prompt was, and the reader draws the prompt again below it */
        fputs("\r\033[K", stdout);
        prompt_shown = 2;
        ssize_t n = write(redraw_pipe[1], "r", 1);
        (void)n;
    }
}

int out_prompt_init(void)
{
    if (redraw_pipe[0] >= 0)
        return redraw_pipe[0];
    if (pipe(redraw_pipe) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(redraw_pipe[i], F_SETFD, FD_CLOEXEC);
        fcntl(redraw_pipe[i], F_SETFL, fcntl(redraw_pipe[i], F_GETFL) | O_NONBLOCK);
    }
    return redraw_pipe[0];
}

void out_lock(void) { pthread_mutex_lock(&out_mutex); }
void out_unlock(void) { pthread_mutex_unlock(&out_mutex); }

void out_prompt_shown_locked(int shown)
{
    prompt_shown = shown && redraw_pipe[1] >= 0;
    char buf[64];
    if (redraw_pipe[0] >= 0)
        while (read(redraw_pipe[0], buf, sizeof buf) > 0)
            ;
}

int out_prompt_overwritten_locked(void)
{
    int was = prompt_shown == 2;
    if (was)
        prompt_shown = 1;
    char buf[64];
    while (redraw_pipe[0] >= 0 && read(redraw_pipe[0], buf, sizeof buf) > 0)
        ;
    return was;
}

void out_line(const char *format, ...)
{
    pthread_mutex_lock(&out_mutex);
    erase_locked();
    va_list ap;
    va_start(ap, format);
    vfprintf(stdout, format, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_mutex);
}

void out_err(const char *format, ...)
{
    pthread_mutex_lock(&out_mutex);
    erase_locked();
    fflush(stdout);
    va_list ap;
    va_start(ap, format);
    vfprintf(stderr, format, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    pthread_mutex_unlock(&out_mutex);
}

void out_text(const char *text)
{
    pthread_mutex_lock(&out_mutex);
    erase_locked();
    fputs(text, stdout);
    fflush(stdout);
    pthread_mutex_unlock(&out_mutex);
}

void out_progress(const char *line)
{
    if (!progress_on)
        return;
    pthread_mutex_lock(&out_mutex);
    if (progress_live) {
        struct winsize ws;
        int width = 0;
        if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0)
            width = ws.ws_col;
        fputs("\r\033[K", stdout);
        if (width > 1 && (int)strlen(line) >= width)
            fprintf(stdout, "%.*s", width - 1, line);   /* one screen line */
        else
            fputs(line, stdout);
        line_shown = 1;
    } else {
        fputs(line, stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
    pthread_mutex_unlock(&out_mutex);
}

void out_progress_end(void)
{
    pthread_mutex_lock(&out_mutex);
    if (line_shown) {
        fputc('\n', stdout);
        line_shown = 0;
        fflush(stdout);
    }
    pthread_mutex_unlock(&out_mutex);
}

FILE *out_begin(void)
{
    pthread_mutex_lock(&out_mutex);
    erase_locked();
    return stdout;
}

void out_end(void)
{
    fflush(stdout);
    pthread_mutex_unlock(&out_mutex);
}
