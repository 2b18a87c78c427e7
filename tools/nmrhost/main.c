/* SPDX-License-Identifier: MIT */
/*
 * main.c - nmrhost: load, hot-swap and unload NPI modules (shared objects,
 * <nmr/module.h>) and Windows NPI drivers (DriverEntry, <nmr/km.h>) in one
 * process, from a script, standard input or an interactive prompt.  See
 * nmrhost(1) and docs/host.md.
 *
 * Exit status: 0 when every command did what it should (expect-fail
 * commands included), 1 when one failed, 2 for bad options.
 */
#define _POSIX_C_SOURCE 200809L
#include "intr.h"
#include "lineread.h"
#include "out.h"
#include "script.h"
#include "session.h"

#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef NMRHOST_VERSION
#define NMRHOST_VERSION "0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nmrhost [options] [SCRIPT | -]\n"
            "  SCRIPT             run the commands of a file ('-': standard input);\n"
            "                     with no SCRIPT: a prompt on a terminal, else standard input\n"
            "  -c COMMANDS        run these commands (';' separates them), then exit\n"
            "  -M, --module-path DIRS  where load looks for NAME and NAME.so before the\n"
            "                     current directory (':' separated; default $NMRHOST_MODULE_PATH)\n"
            "  -e, --errexit      stop at the first command that fails\n"
            "  -q, --quiet        no line for each successful load/unload, no module log lines\n"
            "  --progress=auto|on|off  the progress line during sleep and waits (auto: on a\n"
            "                     terminal only)\n"
            "  --progress-ms=MS   its period (default 250 on a terminal, 1000 otherwise)\n"
            "  --unload-warn-ms=MS  report an unload still running after MS, 2 MS, 4 MS...\n"
            "                     with what holds it up (default 2000; 0: never)\n"
            "  --unload-timeout-ms=MS  give up waiting for an unload entry after MS: the\n"
            "                     module stays resident (default 0: wait for ever)\n"
            "  -V, --version      version and line-editing support\n"
            "  -h, --help         this text; 'help' at the prompt lists the commands\n"
            "Ctrl-C stops the command in progress (at the prompt: drops the line; in a\n"
            "script: stops it); every module is then unloaded and the report printed.\n"
            "Exit status: 0 ok, 1 a command failed, 2 bad options, 130 interrupted.\n");
}

/* ---- a crash in a module or driver ---------------------------------------
 * A process cannot survive a SIGSEGV (or SIGBUS, SIGILL, SIGFPE) raised by
 * the code of a module or driver: its state is unknown, and nothing of it
 * can be unloaded.  The handler only says so, in one line on standard
 * error, with what the host was doing (host_doing: "DriverEntry of x"),
 * then puts back the action that was there before (the default, or a
 * sanitizer's) and returns: the faulting instruction runs again and the
 * process dies of the signal as it would have without nmrhost's handler.
 * Only async-signal-safe calls (write, sigaction, raise). */
static const int fatal_signals[] = { SIGSEGV, SIGBUS, SIGILL, SIGFPE };
static struct sigaction fatal_old[4];

static size_t put(char *buf, size_t len, size_t size, const char *text)
{
    while (*text != '\0' && len + 1 < size)
        buf[len++] = *text++;
    return len;
}

static void fatal_signal(int sig, siginfo_t *info, void *ucontext)
{
    (void)ucontext;
    size_t k = 0;
    while (k < 3 && fatal_signals[k] != sig)
        k++;
    const char *name = sig == SIGSEGV ? "SIGSEGV" : sig == SIGBUS ? "SIGBUS"
                     : sig == SIGILL ? "SIGILL" : "SIGFPE";
    char buf[512], hex[2 + 16 + 1];
    uintptr_t a = (uintptr_t)info->si_addr;
    size_t h = sizeof hex - 1;
    hex[h] = '\0';
    do {
        hex[--h] = "0123456789abcdef"[a & 15];
        a >>= 4;
    } while (a != 0 && h > 2);
    hex[--h] = 'x';
    hex[--h] = '0';
    size_t len = put(buf, 0, sizeof buf, "nmrhost: fatal signal ");
    len = put(buf, len, sizeof buf, name);
    len = put(buf, len, sizeof buf, " (address ");
    len = put(buf, len, sizeof buf, hex + h);
    len = put(buf, len, sizeof buf, ")");
    const char *doing = host_doing();
    if (doing[0] != '\0') {
        len = put(buf, len, sizeof buf, " during ");
        len = put(buf, len, sizeof buf, doing);
    }
    len = put(buf, len, sizeof buf, ": a module or driver crashed the process; nmrhost "
              "cannot survive it and dies of the signal, with nothing unloaded\n");
    ssize_t w = write(STDERR_FILENO, buf, len);
    (void)w;
    sigaction(sig, &fatal_old[k], NULL);
    if (info->si_code <= 0)        /* sent by kill or raise: no fault to repeat */
        raise(sig);
}

static void watch_fatal_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = fatal_signal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    for (size_t k = 0; k < 4; k++)
        sigaction(fatal_signals[k], &sa, &fatal_old[k]);
}

static unsigned long opt_number(const char *name, const char *text)
{
    char *end;
    unsigned long v = strtoul(text, &end, 10);
    if (text[0] == '\0' || text[0] == '-' || *end != '\0' || v > 86400000ul) {
        fprintf(stderr, "nmrhost: %s wants a number of milliseconds, not '%s'\n", name, text);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "module-path", required_argument, NULL, 'M' },
        { "errexit", no_argument, NULL, 'e' },
        { "quiet", no_argument, NULL, 'q' },
        { "progress", required_argument, NULL, 'p' },
        { "progress-ms", required_argument, NULL, 'P' },
        { "unload-warn-ms", required_argument, NULL, 'w' },
        { "unload-timeout-ms", required_argument, NULL, 't' },
        { "version", no_argument, NULL, 'V' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    session s;
    memset(&s, 0, sizeof s);
    host_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.unload_warn_ms = 2000;
    cfg.module_path = getenv("NMRHOST_MODULE_PATH");
    out_progress_mode progress = OUT_PROGRESS_AUTO;
    long progress_ms = -1;
    const char *commands = NULL;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:M:eqVh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c': commands = optarg; break;
        case 'M': cfg.module_path = optarg; break;
        case 'e': s.errexit = 1; break;
        case 'q': s.quiet = 1; cfg.quiet_modules = 1; break;
        case 'p':
            if (strcmp(optarg, "auto") == 0)
                progress = OUT_PROGRESS_AUTO;
            else if (strcmp(optarg, "on") == 0)
                progress = OUT_PROGRESS_ON;
            else if (strcmp(optarg, "off") == 0)
                progress = OUT_PROGRESS_OFF;
            else {
                fprintf(stderr, "nmrhost: --progress is auto, on or off, not '%s'\n", optarg);
                return 2;
            }
            break;
        case 'P': progress_ms = (long)opt_number("--progress-ms", optarg); break;
        case 'w': cfg.unload_warn_ms = (unsigned)opt_number("--unload-warn-ms", optarg); break;
        case 't':
            cfg.unload_timeout_ms = (unsigned)opt_number("--unload-timeout-ms", optarg);
            break;
        case 'V':
            printf("nmrhost %s (module ABI %d); line editing: %s\n", NMRHOST_VERSION,
                   NMR_MODULE_ABI_VERSION, lr_backend());
            return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind + 1 < argc || (commands != NULL && optind < argc)) {
        usage(stderr);
        return 2;
    }

    /* before any thread: every thread inherits SIGINT blocked (intr.h) */
    if (intr_init() != 0)
        fprintf(stderr, "nmrhost: cannot watch for Ctrl-C: it will kill the host\n");
    watch_fatal_signals();
    out_init(progress);
    s.progress_ms = progress_ms > 0 ? (unsigned)progress_ms
                                    : out_progress_live() ? 250u : 1000u;
    s.start_ns = host_now_ns();
    host_init(&cfg);

    line_reader *r;
    int stopped;
    if (commands != NULL) {
        char *copy = strdup(commands);
        if (copy == NULL)
            return 1;
        for (char *p = copy; *p != '\0'; p++)
            if (*p == ';')
                *p = '\n';
        FILE *f = fmemopen(copy, strlen(copy), "r");
        if (f == NULL)
            return 1;
        r = lr_open_file(f, "-c", 1);
        if (r == NULL)
            return 1;
        stopped = script_run(&s, r);
        lr_close(r);
        free(copy);
    } else if (optind < argc && strcmp(argv[optind], "-") != 0) {
        FILE *f = fopen(argv[optind], "r");
        if (f == NULL) {
            fprintf(stderr, "nmrhost: cannot open script '%s': ", argv[optind]);
            perror(NULL);
            return 1;
        }
        r = lr_open_file(f, argv[optind], 1);
        if (r == NULL)
            return 1;
        stopped = script_run(&s, r);
        lr_close(r);
    } else if (optind == argc && isatty(STDIN_FILENO)) {
        printf("nmrhost %s: 'help' lists the commands; line editing: %s\n", NMRHOST_VERSION,
               lr_backend());
        r = lr_open_interactive();
        if (r == NULL)
            return 1;
        stopped = script_run(&s, r);
        lr_close(r);
    } else {
        r = lr_open_file(stdin, "stdin", 0);
        if (r == NULL)
            return 1;
        stopped = script_run(&s, r);
        lr_close(r);
    }
    (void)stopped;
    commands_unload_all(&s);
    if (intr_count() != 0)             /* Ctrl-C was pressed: the whole story */
        view_report(&s);
    if (s.failures != 0)
        out_err("nmrhost: %u command%s failed", s.failures, s.failures == 1 ? "" : "s");
    if (s.interrupted)
        return 130;
    return s.failures != 0 ? 1 : 0;
}
