/* SPDX-License-Identifier: MIT */
/*
 * runner.c - the one main() of every test program (tests/lib/runner.h).
 *
 *   prog                 list the cases, one "name<TAB>rules" a line
 *   prog --list          the same
 *   prog CASE...         run each named case in its own child process
 *   prog --all           run every case, each in its own child process
 *   prog ARG...          the program's own mode (suite args hook), if any
 *
 * Each case runs in a fresh child (fork): setup, the case, teardown, then
 * exit(0).  The parent waits for it with a time limit (NMR_TEST_TIMEOUT
 * seconds, default 280, under ctest's 300; 0: none) and reports one line per case:
 * "PASS file.case [rules] (t s)" or "FAIL file.case [rules]: why".  A
 * failed check in the child has already printed its file, line, case,
 * rule and expression (tests/lib/check.h).  The exit status is 0 when
 * every case passed, 1 otherwise.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "runner.h"
#include "check.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

const char *nmr_test_current = "";
const char *nmr_test_current_rules = "";

const char *nmr_test_where(void)
{
    static char buf[256];
    if (nmr_test_current[0] == '\0')
        snprintf(buf, sizeof buf, "[%s]", nmr_test_suite_.file);
    else if (nmr_test_current_rules[0] == '\0')
        snprintf(buf, sizeof buf, "[%s.%s]", nmr_test_suite_.file,
                 nmr_test_current);
    else
        snprintf(buf, sizeof buf, "[%s.%s %s]", nmr_test_suite_.file,
                 nmr_test_current, nmr_test_current_rules);
    return buf;
}

void nmr_test_fail(const char *file, int line, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s:%d: %s %s\n", file, line, nmr_test_where(), msg);
    fflush(stderr);
    exit(1);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static const nmr_test_case *find_case(const char *name)
{
    const nmr_test_suite *s = &nmr_test_suite_;
    size_t flen = strlen(s->file);
    /* accept "case", "file.case" and the ctest name "file.case-R14" */
    if (strncmp(name, s->file, flen) == 0 && name[flen] == '.')
        name += flen + 1;
    size_t n = strcspn(name, "-");
    for (size_t i = 0; i < s->ncases; i++)
        if (strlen(s->cases[i].name) == n &&
            strncmp(s->cases[i].name, name, n) == 0)
            return &s->cases[i];
    return NULL;
}

static void list_cases(void)
{
    const nmr_test_suite *s = &nmr_test_suite_;
    for (size_t i = 0; i < s->ncases; i++)
        printf("%s\t%s\n", s->cases[i].name, s->cases[i].rules);
}

void nmr_test_run_inline(const nmr_test_case *c)
{
    nmr_test_current = c->name;
    nmr_test_current_rules = c->rules;
    if (nmr_test_suite_.setup != NULL)
        nmr_test_suite_.setup();
    fprintf(stderr, "-- %s\n", c->name);
    c->fn();
    if (nmr_test_suite_.teardown != NULL)
        nmr_test_suite_.teardown();
    nmr_test_current = "";
    nmr_test_current_rules = "";
}

static long timeout_s(void)
{
    const char *e = getenv("NMR_TEST_TIMEOUT");
    long t = e != NULL && *e != '\0' ? strtol(e, NULL, 10) : 280;
    return t >= 0 ? t : 280; /* 0: no limit */
}

/* Run one case in a child; returns 1 if it passed. */
static int run_forked(const nmr_test_case *c)
{
    const char *file = nmr_test_suite_.file;
    const char *rules = c->rules;
    char tag[160];
    if (rules[0] != '\0')
        snprintf(tag, sizeof tag, "%s.%s [%s]", file, c->name, rules);
    else
        snprintf(tag, sizeof tag, "%s.%s", file, c->name);

    fflush(stdout);
    fflush(stderr);
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "FAIL %s: fork: %s\n", tag, strerror(errno));
        return 0;
    }
    if (pid == 0) {
        setpgid(0, 0); /* the case and whatever it forks: killed together */
        nmr_test_run_inline(c);
        fflush(stdout);
        exit(0); /* atexit handlers, destructors and leak checks run */
    }
    setpgid(pid, pid);

    long limit = timeout_s();
    int status = 0, timed_out = 0;
    long nap = 1;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR) {
            fprintf(stderr, "FAIL %s: waitpid: %s\n", tag, strerror(errno));
            return 0;
        }
        if (limit > 0 && now_s() - t0 > (double)limit) {
            timed_out = 1;
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        sleep_ms(nap);
        if (nap < 20)
            nap *= 2;
    }
    /* the case's own children, if any are left */
    kill(-pid, SIGKILL);
    double dt = now_s() - t0;
    if (timed_out) {
        fprintf(stderr, "FAIL %s: timed out after %ld s (NMR_TEST_TIMEOUT)\n",
                tag, limit);
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        fprintf(stderr, "PASS %s (%.2f s)\n", tag, dt);
        return 1;
    }
    if (WIFEXITED(status))
        fprintf(stderr, "FAIL %s: exit status %d (%.2f s)\n", tag,
                WEXITSTATUS(status), dt);
    else if (WIFSIGNALED(status))
        fprintf(stderr, "FAIL %s: killed by signal %d (%s) (%.2f s)\n", tag,
                WTERMSIG(status), strsignal(WTERMSIG(status)), dt);
    else
        fprintf(stderr, "FAIL %s: status 0x%x\n", tag, (unsigned)status);
    return 0;
}

static int usage(const char *prog)
{
    fprintf(stderr,
            "usage: %s [--list | --all | CASE...]\n"
            "  no argument or --list: the cases (name, rules), one a line\n"
            "  CASE...: run these cases, each in its own process\n"
            "  --all: run every case, each in its own process\n",
            prog);
    return 2;
}

int main(int argc, char **argv)
{
    const nmr_test_suite *s = &nmr_test_suite_;
    if (argc < 2 || strcmp(argv[1], "--list") == 0) {
        list_cases();
        return 0;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argv[0]);
        return 0;
    }

    size_t failed = 0, ran = 0;
    if (strcmp(argv[1], "--all") == 0) {
        if (argc != 2)
            return usage(argv[0]);
        for (size_t i = 0; i < s->ncases; i++) {
            ran++;
            failed += !run_forked(&s->cases[i]);
        }
    } else {
        if (find_case(argv[1]) == NULL && argv[1][0] != '-' &&
            s->args != NULL)
            return s->args(argc, argv);
        for (int i = 1; i < argc; i++) {
            const nmr_test_case *c = find_case(argv[i]);
            if (c == NULL) {
                fprintf(stderr, "%s: no case %s (--list shows them)\n",
                        s->file, argv[i]);
                return 2;
            }
        }
        for (int i = 1; i < argc; i++) {
            ran++;
            failed += !run_forked(find_case(argv[i]));
        }
    }
    if (ran > 1)
        fprintf(stderr, "%s: %zu of %zu cases passed%s\n", s->file,
                ran - failed, ran, failed ? "" : ": all passed");
    return failed ? 1 : 0;
}
