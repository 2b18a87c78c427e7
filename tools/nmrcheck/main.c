/* SPDX-License-Identifier: MIT */
/*
 * main.c - nmrcheck(1): drives NPI modules and drivers through the
 * schedules where their attach, detach and cleanup bugs live, and reports
 * each distinct defect with the seed and the command that replays it
 * (docs/nmrcheck.md).
 *
 * This is the parent: it checks the options and the modules, maps the
 * memory its children share with it, forks --jobs children (run.c), each
 * of which runs schedules until the budget is spent or a defect ends it,
 * starts a new child after each defect, and reports.  A child that dies
 * (a crash, a sanitizer report) is a finding: its last schedule, its step
 * log and what it printed survive it in the shared slot and its output
 * file.
 */
#define _GNU_SOURCE
#include "nmrcheck.h"

#include <ctype.h>
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef NMRCHECK_VERSION
#define NMRCHECK_VERSION "0"
#endif

#define DEFAULT_SCHEDULES 1000u
#define MAX_DEFECTS 64
#define TRACE_TAIL 60u

static const char *prog = "nmrcheck";

static void usage(FILE *f)
{
    fprintf(f,
            "usage: nmrcheck [options] MODULE.so[:ARGS] [MODULE.so[:ARGS] ...]\n"
            "Drives NPI modules (nmr/module.h) and drivers (DriverEntry) through load and\n"
            "unload orders, concurrent lifecycles and thread interleavings, and reports\n"
            "each distinct defect with the command that replays it.  ARGS: the module's\n"
            "load arguments, separated by commas.\n"
            "\n"
            "budget:\n"
            "  --schedules N     run N schedules (default %u when --seconds is not given)\n"
            "  --seconds S       run for S seconds (with --schedules: whichever ends first)\n"
            "  --first           stop at the first defect\n"
            "  -j, --jobs N      child processes at once (default: the CPUs, at most 8)\n"
            "what a schedule does:\n"
            "  --workers W       threads calling nmr_module_exercise (default 2, at most %d)\n"
            "  --calls N         exercise calls per worker per schedule (default 4)\n"
            "  --depth D         PCT depth: bugs of D ordering constraints (default 3)\n"
            "  --steps K         PCT: switch points a schedule is expected to have (default 100)\n"
            "  --alloc-fail N    make one of the first N allocations of a load fail in one\n"
            "                    schedule out of four (default 32; 0: never)\n"
            "  --detach-timing T when a pending detach completes: mixed (default: each\n"
            "                    schedule draws one of the others), free, calls-first,\n"
            "                    as-returned, late\n"
            "  --hang-ms MS      no thread can go on this long: a hang (default 2000)\n"
            "  --stall-ms MS     a thread asleep in code the scheduler cannot see this long\n"
            "                    (running there: 10 times as long): let another go on\n"
            "                    (default 20)\n"
            "  --seed N          the search's seed (default: from the clock; the report says it)\n"
            "  --replay SEED     run the one schedule of that seed, print its whole trace\n"
            "  -M DIR[:DIR...]   where MODULE names without a '/' are looked for\n"
            "output:\n"
            "  --trace           the whole trace of each defect (default: its last %u steps)\n"
            "  --json FILE       the report as JSON as well (docs/nmrcheck.md)\n"
            "  --progress=WHEN   a progress line: auto (on a terminal), on, off\n"
            "  -h, --help        this text\n"
            "  -V, --version     the version\n"
            "\n"
            "exit status: 0 nothing found in the budget, 1 a defect found, 2 bad usage or a\n"
            "module that cannot be loaded.\n",
            DEFAULT_SCHEDULES, CHK_MAX_WORKERS, TRACE_TAIL);
}

static _Noreturn void die_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static _Noreturn void die_usage(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", prog);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(nmrcheck --help for the options)\n");
    exit(2);
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno != 0 || end == s || *end != '\0' || s[0] == '-' || v > max)
        die_usage("%s: '%s' is not a number from 0 to %llu", opt, s, (unsigned long long)max);
    return v;
}

/* ---- modules ---------------------------------------------------------------- */
static char *find_module(const char *name, const char *path)
{
    if (strchr(name, '/') != NULL)
        return access(name, R_OK) == 0 ? realpath(name, NULL) : NULL;
    char *dirs = strdup(path != NULL ? path : ".");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save)) {
        for (int ext = 0; ext < 2; ext++) {
            char buf[PATH_MAX];
            snprintf(buf, sizeof buf, "%s/%s%s", d, name, ext ? ".so" : "");
            struct stat st;
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode)) {
                free(dirs);
                return realpath(buf, NULL);
            }
        }
    }
    free(dirs);
    return NULL;
}

/* Parse and check one MODULE argument: it must be a shared object with the
 * entries of a module or a driver.  Exits 2 with a message otherwise. */
static void take_module(chk_options *o, const char *arg)
{
    if (o->nmods >= CHK_MAX_MODULES)
        die_usage("at most %d modules", CHK_MAX_MODULES);
    chk_module_spec *m = &o->mods[o->nmods];
    m->text = strdup(arg);
    char *spec = strdup(arg);
    char *colon = strchr(spec, ':');
    char *args = NULL;
    if (colon != NULL) {
        *colon = '\0';
        args = colon + 1;
    }
    if (spec[0] == '\0')
        die_usage("'%s': no module before the ':'", arg);
    m->path = find_module(spec, o->module_path);
    if (m->path == NULL)
        die_usage("%s: no such module%s%s", spec, strchr(spec, '/') ? "" : " on the module path ",
                  strchr(spec, '/') ? "" : (o->module_path ? o->module_path : "(.; use -M DIR)"));
    const char *base = strrchr(m->path, '/');
    base = base != NULL ? base + 1 : m->path;
    m->name = strdup(base);
    size_t len = strlen(m->name);
    if (len > 3 && strcmp(m->name + len - 3, ".so") == 0)
        m->name[len - 3] = '\0';
    for (int i = 0; i < o->nmods; i++)
        if (strcmp(o->mods[i].name, m->name) == 0)
            die_usage("%s is given twice (each module is loaded once at a time)", m->name);
    m->argc = 0;
    if (args != NULL && args[0] != '\0') {
        char *save = NULL;
        for (char *a = strtok_r(args, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
            if (m->argc >= CHK_MAX_ARGS)
                die_usage("%s: at most %d load arguments", m->name, CHK_MAX_ARGS);
            m->argv[m->argc++] = strdup(a);
        }
    }
    free(spec);

    void *dl = dlopen(m->path, RTLD_LAZY | RTLD_LOCAL);
    if (dl == NULL) {
        fprintf(stderr, "%s: %s: cannot be loaded: %s\n", prog, m->path, dlerror());
        exit(2);
    }
    int module = dlsym(dl, "nmr_module_load") != NULL && dlsym(dl, "nmr_module_unload") != NULL;
    int driver = dlsym(dl, "DriverEntry") != NULL;
    dlclose(dl);
    if (!module && !driver) {
        fprintf(stderr, "%s: %s is neither a module (nmr_module_load and nmr_module_unload) "
                "nor a driver (DriverEntry)\n", prog, m->path);
        exit(2);
    }
    if (driver && !module && m->argc > 0) {
        fprintf(stderr, "%s: %s is a driver: DriverEntry takes no load arguments\n", prog,
                m->name);
        exit(2);
    }
    o->nmods++;
}

/* ---- children ------------------------------------------------------------------ */
typedef struct child {
    pid_t pid;
    int slot;
    char out[PATH_MAX];            /* its standard output and error */
    uint64_t last_beat, last_count;
    double last_move;
} child;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct defect_rec {
    chk_defect d;
    uint64_t seed;
    uint64_t schedule;
    uint64_t count;                /* times seen */
    uint64_t fallbacks;
    char plan[CHK_PLAN_LEN];
    sched_log *log;                /* a copy */
    char *output;                  /* what the child printed, its tail */
} defect_rec;

static chk_options O;
static chk_shared *SH;
static unsigned char *SLOTS;
static char tmpdir[PATH_MAX - 64];
static defect_rec defects[MAX_DEFECTS];
static int ndefects;
static uint64_t total_occurrences;

static chk_slot *slot_at(int i)
{
    return (chk_slot *)(void *)(SLOTS + (size_t)i * chk_slot_size());
}

static char *read_tail(const char *path, size_t max)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > (long)max ? size - (long)max : 0;
    fseek(f, from, SEEK_SET);
    char *buf = calloc(1, max + 1);
    size_t n = fread(buf, 1, max, f);
    buf[n] = '\0';
    fclose(f);
    if (from > 0) {                /* start at a line */
        char *nl = strchr(buf, '\n');
        if (nl != NULL)
            memmove(buf, nl + 1, strlen(nl + 1) + 1);
    }
    return buf;
}

/* A child died without writing a defect: read what it printed. */
static void classify_death(const child *c, int status, chk_defect *d)
{
    memset(d, 0, sizeof *d);
    d->kind = CHK_CRASH;
    chk_slot *s = slot_at(c->slot);
    char *out = read_tail(c->out, 64 * 1024);
    const char *asan = out != NULL ? strstr(out, "ERROR: AddressSanitizer: ") : NULL;
    const char *ubsan = out != NULL ? strstr(out, "runtime error: ") : NULL;
    const char *lsan = out != NULL ? strstr(out, "ERROR: LeakSanitizer: ") : NULL;
    char what[CHK_SUMMARY_LEN] = "", frame[CHK_PLACE_LEN] = "";
    if (asan != NULL || lsan != NULL) {
        const char *p = asan != NULL ? asan + strlen("ERROR: AddressSanitizer: ")
                                     : lsan + strlen("ERROR: LeakSanitizer: ");
        size_t n = strcspn(p, "\n");
        snprintf(what, sizeof what, "AddressSanitizer: %.*s", (int)(n < 200 ? n : 200), p);
        /* the first frame in code that is not the sanitizer's */
        const char *f = p;
        while ((f = strstr(f, "\n    #")) != NULL) {
            f++;
            const char *in = strstr(f, " in ");
            const char *eol = strchr(f, '\n');
            if (in != NULL && (eol == NULL || in < eol)) {
                in += 4;
                size_t fn = strcspn(in, " \n");
                if (strncmp(in, "__interceptor_", 14) != 0 && strncmp(in, "__asan", 6) != 0 &&
                    strncmp(in, "free", fn > 4 ? fn : 4) != 0 &&
                    strncmp(in, "malloc", fn > 6 ? fn : 6) != 0) {
                    snprintf(frame, sizeof frame, "%.*s", (int)(fn < 120 ? fn : 120), in);
                    break;
                }
            }
        }
        /* the kind of error, without its address */
        char kind[96];
        size_t kn = strcspn(p, " \n");
        snprintf(kind, sizeof kind, "%.*s", (int)(kn < 90 ? kn : 90), p);
        snprintf(d->place, sizeof d->place, "%.90s in %.100s", kind, frame[0] ? frame : "?");
    } else if (ubsan != NULL) {
        const char *line = ubsan;
        while (line > out && line[-1] != '\n')
            line--;
        size_t n = strcspn(line, "\n");
        snprintf(what, sizeof what, "UndefinedBehaviorSanitizer: %.*s",
                 (int)(n < 240 ? n : 240), line);
        snprintf(d->place, sizeof d->place, "%.*s", (int)(n < 190 ? n : 190), line);
    } else if (WIFSIGNALED(status)) {
        snprintf(what, sizeof what, "killed by %s", strsignal(WTERMSIG(status)));
        snprintf(d->place, sizeof d->place, "%.190s", what);
    } else {
        snprintf(what, sizeof what, "the child exited with status %d",
                 WIFEXITED(status) ? WEXITSTATUS(status) : -1);
        snprintf(d->place, sizeof d->place, "%.190s", what);
    }
    if (s->crash[0] != '\0' && asan == NULL)
        snprintf(what, sizeof what, "%s", s->crash);
    snprintf(d->summary, sizeof d->summary, "%s", what);
    char norm[CHK_PLACE_LEN];
    chk_normalize(norm, sizeof norm, d->place);
    snprintf(d->place, sizeof d->place, "%s", norm);
    free(out);
}

static void record(const child *c, const chk_defect *d)
{
    chk_slot *s = slot_at(c->slot);
    total_occurrences++;
    for (int i = 0; i < ndefects; i++)
        if (defects[i].d.kind == d->kind && strcmp(defects[i].d.place, d->place) == 0) {
            defects[i].count++;
            return;
        }
    if (ndefects >= MAX_DEFECTS)
        return;
    defect_rec *r = &defects[ndefects++];
    r->d = *d;
    r->seed = s->seed;
    r->schedule = s->schedule;
    r->count = 1;
    r->fallbacks = s->fallbacks;
    snprintf(r->plan, sizeof r->plan, "%s", s->plan);
    size_t logsize = sched_log_size(CHK_LOG_STEPS);
    r->log = malloc(logsize);
    memcpy(r->log, &s->log, logsize);
    r->output = read_tail(c->out, 4096);
}

static pid_t spawn(child *c, double deadline)
{
    chk_slot *s = slot_at(c->slot);
    memset(s, 0, sizeof *s);
    s->log.capacity = CHK_LOG_STEPS;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "%s: fork: %s\n", prog, strerror(errno));
        return -1;
    }
    if (pid == 0) {
        int fd = open(c->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        signal(SIGINT, SIG_IGN);
        chk_child_main(&O, SH, s, deadline);
    }
    c->pid = pid;
    c->last_beat = 0;
    c->last_count = 0;
    c->last_move = now_s();
    return pid;
}

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* ---- the report ---------------------------------------------------------------- */
static void quote_arg(FILE *f, const char *s)
{
    if (s[strcspn(s, " \t\n'\"\\$`*?[]{}()<>|&;#~")] == '\0' && s[0] != '\0') {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'')
            fputs("'\\''", f);
        else
            fputc(*s, f);
    }
    fputc('\'', f);
}

/* The options that decide what a schedule does, as given. */
static void print_replay(FILE *f, uint64_t seed)
{
    fprintf(f, "nmrcheck --replay 0x%016" PRIx64, seed);
    fprintf(f, " --workers %u --calls %u --depth %u --steps %u --alloc-fail %u --hang-ms %u",
            O.workers, O.calls, O.depth, O.steps, O.alloc_fail, O.hang_ms);
    if (O.stall_ms != 20)
        fprintf(f, " --stall-ms %u", O.stall_ms);
    if (O.detach_timing >= 0)
        fprintf(f, " --detach-timing %s", chk_detach_timing_names[O.detach_timing]);
    if (O.module_path != NULL) {
        fputs(" -M ", f);
        quote_arg(f, O.module_path);
    }
    for (int i = 0; i < O.nmods; i++) {
        fputc(' ', f);
        quote_arg(f, O.mods[i].text);
    }
}

static const char *log_thread(const sched_log *log, unsigned t)
{
    if (t == 0xffff)
        return "(other)";
    return t < log->nthreads ? log->thread_names[t] : "?";
}

static void print_trace(FILE *f, const sched_log *log, int whole)
{
    uint32_t count = log->count, cap = log->capacity ? log->capacity : CHK_LOG_STEPS;
    uint32_t kept = count < cap ? count : cap;
    uint32_t show = whole ? kept : (kept < TRACE_TAIL ? kept : TRACE_TAIL);
    if (count > show)
        fprintf(f, "    ... %u earlier steps (--trace shows them)\n", count - show);
    for (uint32_t i = count - show; i < count; i++) {
        const sched_step *s = &log->steps[i % cap];
        const char *mark = s->flags & SCHED_STEP_FALLBACK ? "  [fallback]"
                         : s->flags & SCHED_STEP_BLOCK    ? "  [blocks]"
                         : s->flags & SCHED_STEP_SWITCH   ? "  [switch]"
                                                          : "";
        char th[8];
        if (s->thread == 0xffff)
            snprintf(th, sizeof th, "--");
        else
            snprintf(th, sizeof th, "T%u", s->thread);
        fprintf(f, "    %5u %-3s %-20s %s%s\n", s->index, th, log_thread(log, s->thread),
                s->what, mark);
    }
}

static void print_indented(FILE *f, const char *text, const char *indent)
{
    for (const char *p = text; *p != '\0';) {
        size_t n = strcspn(p, "\n");
        fprintf(f, "%s%.*s\n", indent, (int)n, p);
        p += n;
        if (*p == '\n')
            p++;
    }
}

static void print_defect(FILE *f, int n, const defect_rec *r)
{
    fprintf(f, "\nDEFECT %d: %s: %s\n", n, chk_kind_name((chk_kind)r->d.kind), r->d.summary);
    fprintf(f, "  modules:  ");
    for (int i = 0; i < O.nmods; i++)
        fprintf(f, "%s%s", i ? " " : "", O.mods[i].text);
    fprintf(f, "\n  seed:     0x%016" PRIx64 " (schedule %" PRIu64 ")%s\n", r->seed, r->schedule,
            r->count > 1 ? "" : "");
    if (r->count > 1)
        fprintf(f, "  seen:     %" PRIu64 " times\n", r->count);
    fprintf(f, "  plan:     %s\n", r->plan);
    if (r->fallbacks > 0)
        fprintf(f, "  note:     %" PRIu64 " fallback(s): a thread ran code the scheduler cannot "
                "see (its own lock, a thread it did not create), so a replay may differ\n",
                r->fallbacks);
    if (r->d.detail[0] != '\0') {
        fprintf(f, "  detail:\n");
        print_indented(f, r->d.detail, "    ");
    }
    fprintf(f, "  trace (step, thread, event):\n");
    print_trace(f, r->log, O.verbose || O.replay);
    if (r->output != NULL && r->output[0] != '\0') {
        fprintf(f, "  output of the run (its end):\n");
        print_indented(f, r->output, "    | ");
    }
    fprintf(f, "  replay:   ");
    print_replay(f, r->seed);
    fputc('\n', f);
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, nothing above U+10FFFF), 0 if there is
 * none: a name cut short in the middle of a character by a fixed-size
 * buffer, a file name in another encoding. */
static size_t utf8_seq(const unsigned char *p)
{
    unsigned char c = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;    /* the second byte's range */
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0;
        else if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90;
        else if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xbf)
            return 0;
    return n;
}

/* A JSON string: valid UTF-8 whatever the bytes (a byte that starts no
 * well-formed sequence is written as U+FFFD). */
static void json_str(FILE *f, const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', f);
    while (*s) {
        unsigned char c = *s;
        size_t n = 1;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c == '\t')
            fputs("\\t", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else if (c < 0x80)
            fputc(c, f);
        else if ((n = utf8_seq(s)) > 0)
            fwrite(s, 1, n, f);
        else {
            fputs("\\ufffd", f);
            n = 1;
        }
        s += n;
    }
    fputc('"', f);
}

/* When the pending detaches of the run completed (chk_completion): the JSON
 * keys and the words of the text report. */
static const char *const completion_key[CHK_DC_KINDS] = {
    "in_callback", "during_callback", "as_returned", "later_same_thread", "later_other_thread"};
static const char *const completion_words[CHK_DC_KINDS] = {
    "in the callback by itself", "from another thread while the callback ran",
    "from another thread as the callback returned (R15)", "later by the detaching thread",
    "later by another thread"};

static void print_completions(FILE *f)
{
    unsigned long long n[CHK_DC_KINDS], total = 0;
    for (int k = 0; k < CHK_DC_KINDS; k++)
        total += n[k] = atomic_load(&SH->completions[k]);
    if (total == 0)
        return;
    fprintf(f, "nmrcheck: %llu pending detach%s completed:", total, total == 1 ? "" : "es");
    for (int k = 0; k < CHK_DC_KINDS; k++)
        fprintf(f, "%s %llu %s", k ? "," : "", n[k], completion_words[k]);
    fputc('\n', f);
}

static int write_json(const char *path, uint64_t done, double secs, uint64_t base)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    fprintf(f, "{\n  \"tool\": \"nmrcheck\",\n  \"version\": ");
    json_str(f, NMRCHECK_VERSION);
    fprintf(f, ",\n  \"modules\": [");
    for (int i = 0; i < O.nmods; i++) {
        fputs(i ? ", " : "", f);
        json_str(f, O.mods[i].text);
    }
    /* the search's seed; a replay has no search: the seed it replayed */
    fprintf(f, "],\n  \"seed\": \"0x%016" PRIx64 "\",\n  \"schedules\": %" PRIu64
            ",\n  \"seconds\": %.3f,\n  \"pending_detaches\": {", O.replay ? O.replay_seed : base,
            done, secs);
    for (int k = 0; k < CHK_DC_KINDS; k++)
        fprintf(f, "%s\"%s\": %llu", k ? ", " : "", completion_key[k],
                (unsigned long long)atomic_load(&SH->completions[k]));
    fprintf(f, "},\n  \"defects\": [");
    for (int i = 0; i < ndefects; i++) {
        const defect_rec *r = &defects[i];
        fprintf(f, "%s\n    {\n      \"kind\": ", i ? "," : "");
        json_str(f, chk_kind_name((chk_kind)r->d.kind));
        fprintf(f, ",\n      \"summary\": ");
        json_str(f, r->d.summary);
        fprintf(f, ",\n      \"place\": ");
        json_str(f, r->d.place);
        fprintf(f, ",\n      \"seed\": \"0x%016" PRIx64 "\",\n      \"schedule\": %" PRIu64
                ",\n      \"occurrences\": %" PRIu64 ",\n      \"fallbacks\": %" PRIu64
                ",\n      \"plan\": ", r->seed, r->schedule, r->count, r->fallbacks);
        json_str(f, r->plan);
        fprintf(f, ",\n      \"detail\": ");
        json_str(f, r->d.detail);
        fprintf(f, ",\n      \"replay\": ");
        char *cmd = NULL;
        size_t cmdlen = 0;
        FILE *m = open_memstream(&cmd, &cmdlen);
        print_replay(m, r->seed);
        fclose(m);
        json_str(f, cmd);
        free(cmd);
        fprintf(f, ",\n      \"trace\": [");
        const sched_log *log = r->log;
        uint32_t cap = log->capacity ? log->capacity : CHK_LOG_STEPS;
        uint32_t kept = log->count < cap ? log->count : cap;
        for (uint32_t k = log->count - kept; k < log->count; k++) {
            const sched_step *s = &log->steps[k % cap];
            fprintf(f, "%s\n        {\"step\": %u, \"thread\": %d, \"name\": ",
                    k == log->count - kept ? "" : ",", s->index,
                    s->thread == 0xffff ? -1 : (int)s->thread);
            json_str(f, log_thread(log, s->thread));
            fprintf(f, ", \"event\": ");
            json_str(f, s->what);
            fprintf(f, ", \"switch\": %s, \"blocks\": %s, \"fallback\": %s}",
                    s->flags & SCHED_STEP_SWITCH ? "true" : "false",
                    s->flags & SCHED_STEP_BLOCK ? "true" : "false",
                    s->flags & SCHED_STEP_FALLBACK ? "true" : "false");
        }
        fprintf(f, "\n      ]\n    }");
    }
    fprintf(f, "%s]\n}\n", ndefects ? "\n  " : "");
    if (fclose(f) != 0) {
        fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
        return -1;
    }
    return 0;
}

static void remove_tmpdir(void)
{
    if (tmpdir[0] == '\0')
        return;
    DIR *d = opendir(tmpdir);
    if (d != NULL) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.')
                continue;
            char p[PATH_MAX + 300];
            snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(tmpdir);
}

int main(int argc, char **argv)
{
    O.workers = 2;
    O.calls = 4;
    O.depth = 3;
    O.steps = 100;
    O.hang_ms = 2000;
    O.stall_ms = 20;
    O.alloc_fail = 32;
    O.detach_timing = -1;
    O.progress = -1;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    O.jobs = ncpu < 1 ? 1 : ncpu > 8 ? 8 : (unsigned)ncpu;
    int have_seed = 0, have_schedules = 0;

    enum { OPT_SCHEDULES = 256, OPT_SECONDS, OPT_FIRST, OPT_WORKERS, OPT_CALLS, OPT_DEPTH,
           OPT_STEPS, OPT_ALLOC, OPT_HANG, OPT_STALL, OPT_SEED, OPT_REPLAY, OPT_TRACE,
           OPT_JSON, OPT_PROGRESS, OPT_DETACH };
    static const struct option longopts[] = {
        {"schedules", required_argument, NULL, OPT_SCHEDULES},
        {"seconds", required_argument, NULL, OPT_SECONDS},
        {"first", no_argument, NULL, OPT_FIRST},
        {"jobs", required_argument, NULL, 'j'},
        {"workers", required_argument, NULL, OPT_WORKERS},
        {"calls", required_argument, NULL, OPT_CALLS},
        {"depth", required_argument, NULL, OPT_DEPTH},
        {"steps", required_argument, NULL, OPT_STEPS},
        {"alloc-fail", required_argument, NULL, OPT_ALLOC},
        {"detach-timing", required_argument, NULL, OPT_DETACH},
        {"hang-ms", required_argument, NULL, OPT_HANG},
        {"stall-ms", required_argument, NULL, OPT_STALL},
        {"seed", required_argument, NULL, OPT_SEED},
        {"replay", required_argument, NULL, OPT_REPLAY},
        {"trace", no_argument, NULL, OPT_TRACE},
        {"json", required_argument, NULL, OPT_JSON},
        {"progress", optional_argument, NULL, OPT_PROGRESS},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "+hVj:M:", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SCHEDULES:
            O.schedules = parse_u64("--schedules", optarg, UINT64_MAX / 2);
            if (O.schedules == 0)
                die_usage("--schedules: at least 1");
            have_schedules = 1;
            break;
        case OPT_SECONDS: {
            char *end;
            O.seconds = strtod(optarg, &end);
            if (end == optarg || *end != '\0' || !(O.seconds > 0) || O.seconds > 1e7)
                die_usage("--seconds: '%s' is not a positive number of seconds", optarg);
            break;
        }
        case OPT_FIRST: O.first = 1; break;
        case 'j':
            O.jobs = (unsigned)parse_u64("--jobs", optarg, 64);
            if (O.jobs == 0)
                die_usage("--jobs: at least 1");
            break;
        case OPT_WORKERS:
            O.workers = (unsigned)parse_u64("--workers", optarg, CHK_MAX_WORKERS);
            break;
        case OPT_CALLS: O.calls = (unsigned)parse_u64("--calls", optarg, 1000000); break;
        case OPT_DEPTH:
            O.depth = (unsigned)parse_u64("--depth", optarg, 16);
            if (O.depth == 0)
                die_usage("--depth: at least 1");
            break;
        case OPT_STEPS:
            O.steps = (unsigned)parse_u64("--steps", optarg, 1000000);
            if (O.steps == 0)
                die_usage("--steps: at least 1");
            break;
        case OPT_ALLOC: O.alloc_fail = (unsigned)parse_u64("--alloc-fail", optarg, 100000); break;
        case OPT_DETACH:
            O.detach_timing = -2;
            if (strcmp(optarg, "mixed") == 0)
                O.detach_timing = -1;
            for (int k = 0; k < CHK_DT_MODES; k++)
                if (strcmp(optarg, chk_detach_timing_names[k]) == 0)
                    O.detach_timing = k;
            if (O.detach_timing == -2)
                die_usage("--detach-timing: '%s' is not one of mixed, free, calls-first, "
                          "as-returned, late", optarg);
            break;
        case OPT_HANG:
            O.hang_ms = (unsigned)parse_u64("--hang-ms", optarg, 3600000);
            if (O.hang_ms < 50)
                die_usage("--hang-ms: at least 50");
            break;
        case OPT_STALL:
            O.stall_ms = (unsigned)parse_u64("--stall-ms", optarg, 60000);
            if (O.stall_ms == 0)
                die_usage("--stall-ms: at least 1");
            break;
        case OPT_SEED: O.seed = parse_u64("--seed", optarg, UINT64_MAX); have_seed = 1; break;
        case OPT_REPLAY:
            O.replay_seed = parse_u64("--replay", optarg, UINT64_MAX);
            O.replay = 1;
            break;
        case OPT_TRACE: O.verbose = 1; break;
        case OPT_JSON: O.json = optarg; break;
        case OPT_PROGRESS:
            if (optarg == NULL || strcmp(optarg, "on") == 0)
                O.progress = 1;
            else if (strcmp(optarg, "off") == 0)
                O.progress = 0;
            else if (strcmp(optarg, "auto") == 0)
                O.progress = -1;
            else
                die_usage("--progress: auto, on or off, not '%s'", optarg);
            break;
        case 'M': O.module_path = optarg; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("nmrcheck %s\n", NMRCHECK_VERSION); return 0;
        default: die_usage("unknown option");
        }
    }
    if (optind >= argc)
        die_usage("no module given");
    for (int i = optind; i < argc; i++)
        take_module(&O, argv[i]);
    if (O.stall_ms >= O.hang_ms)
        die_usage("--stall-ms (%u) must be below --hang-ms (%u)", O.stall_ms, O.hang_ms);
    if (O.replay) {
        O.jobs = 1;
        O.schedules = 1;
        O.seconds = 0;
    } else if (!have_schedules && O.seconds == 0) {
        O.schedules = DEFAULT_SCHEDULES;
    }
    if (!have_seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        O.seed = ((uint64_t)ts.tv_sec << 20) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 40);
    }
    if (O.schedules != 0 && O.jobs > O.schedules)
        O.jobs = (unsigned)O.schedules;
    if (O.json != NULL) {
        /* a report that cannot be written is bad usage, said before the
         * budget is spent, not after */
        FILE *jf = fopen(O.json, "w");
        if (jf == NULL) {
            fprintf(stderr, "%s: %s: %s\n", prog, O.json, strerror(errno));
            return 2;
        }
        fclose(jf);
    }
    int progress = O.progress < 0 ? isatty(2) : O.progress;

    /* the memory the children share with us */
    size_t shared_size = (sizeof(chk_shared) + 4095u) & ~(size_t)4095u;
    void *mem = mmap(NULL, shared_size + (size_t)O.jobs * chk_slot_size(),
                     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        fprintf(stderr, "%s: mmap: %s\n", prog, strerror(errno));
        return 2;
    }
    SH = mem;
    SLOTS = (unsigned char *)mem + shared_size;
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/nmrcheck.XXXXXX", tmp != NULL && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(tmpdir) == NULL) {
        fprintf(stderr, "%s: %s: %s\n", prog, tmpdir, strerror(errno));
        return 2;
    }
    atexit(remove_tmpdir);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    double start = now_s();
    double deadline = O.seconds > 0 ? start + O.seconds : 0;
    child kids[64];
    unsigned running = 0;
    int setup_failed = 0;
    for (unsigned i = 0; i < O.jobs; i++) {
        kids[i].slot = (int)i;
        snprintf(kids[i].out, sizeof kids[i].out, "%s/child%u.out", tmpdir, i);
        if (spawn(&kids[i], deadline) < 0)
            return 2;
        running++;
    }
    /* a child that shows no sign of life this long is killed: a hang its
     * own monitor could not report */
    double silent_limit = O.hang_ms / 1000.0 * 3 + 10;
    double last_progress = 0;
    uint64_t last_done = 0;
    double rate_t = start;
    double rate = 0;
    while (running > 0) {
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid > 0) {
            unsigned k;
            for (k = 0; k < O.jobs && kids[k].pid != pid; k++)
                ;
            if (k == O.jobs)
                continue;
            child *ch = &kids[k];
            chk_slot *s = slot_at(ch->slot);
            ch->pid = 0;
            running--;
            int clean = WIFEXITED(status) && WEXITSTATUS(status) == CHK_EXIT_DONE &&
                        !s->have_defect;
            if (WIFEXITED(status) && WEXITSTATUS(status) == CHK_EXIT_SETUP) {
                char *out = read_tail(ch->out, 2048);
                fprintf(stderr, "%s: a child could not start its schedules:\n%s", prog,
                        out != NULL ? out : "");
                free(out);
                setup_failed = 1;
                atomic_store(&SH->stop, 1);
                continue;
            }
            if (!clean) {
                chk_defect d;
                if (s->have_defect)
                    d = s->defect;
                else
                    classify_death(ch, status, &d);
                record(ch, &d);
                atomic_fetch_add(&SH->done, 1);
                if (O.first)
                    atomic_store(&SH->stop, 1);
                /* go on from the next schedule in a fresh child */
                int budget_left = !atomic_load(&SH->stop) &&
                                  (O.schedules == 0 || atomic_load(&SH->next) < O.schedules) &&
                                  (deadline == 0 || now_s() < deadline) && !interrupted;
                if (budget_left && spawn(ch, deadline) > 0)
                    running++;
            }
            continue;
        }
        if (interrupted)
            atomic_store(&SH->stop, 1);
        double t = now_s();
        for (unsigned k = 0; k < O.jobs; k++) {
            child *ch = &kids[k];
            if (ch->pid <= 0)
                continue;
            chk_slot *s = slot_at(ch->slot);
            if (s->beat != ch->last_beat || s->log.count != ch->last_count) {
                ch->last_beat = s->beat;
                ch->last_count = s->log.count;
                ch->last_move = t;
            } else if (t - ch->last_move > silent_limit) {
                if (!s->have_defect) {
                    chk_defect *d = &s->defect;
                    memset(d, 0, sizeof *d);
                    d->kind = CHK_HANG;
                    snprintf(d->summary, sizeof d->summary,
                             "the run stopped for %.0f s and its own monitor did not report "
                             "it (killed)", t - ch->last_move);
                    snprintf(d->place, sizeof d->place, "silent child");
                    s->have_defect = 1;
                }
                kill(ch->pid, SIGKILL);
                ch->last_move = t;
            }
        }
        uint64_t done = atomic_load(&SH->done);
        if (t - rate_t >= 1.0) {
            rate = (double)(done - last_done) / (t - rate_t);
            last_done = done;
            rate_t = t;
        }
        if (progress && t - last_progress >= 0.2) {
            fprintf(stderr, "\r%s: %" PRIu64 " schedules, %.0f/s, %d defect%s   ", prog, done,
                    rate > 0 ? rate : (double)done / (t - start > 0 ? t - start : 1), ndefects,
                    ndefects == 1 ? "" : "s");
            last_progress = t;
        }
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
    double secs = now_s() - start;
    uint64_t done = atomic_load(&SH->done);
    if (progress)
        fprintf(stderr, "\r%*s\r", 60, "");
    if (setup_failed)
        return 2;

    if (O.replay) {
        printf("nmrcheck: replay of 0x%016" PRIx64 ":", O.replay_seed);
        if (ndefects == 0) {
            chk_slot *s = slot_at(0);
            printf(" no defect (the schedule ran clean)\n  plan:     %s\n  trace (step, thread, "
                   "event):\n", s->plan);
            print_trace(stdout, &s->log, 1);
        } else {
            printf(" the defect reproduced\n");
            print_defect(stdout, 1, &defects[0]);
        }
    } else {
        printf("nmrcheck: %" PRIu64 " schedules in %.1f s (%.0f/s), %d job%s, seed 0x%016" PRIx64
               "%s\n", done, secs, secs > 0 ? (double)done / secs : 0.0, O.jobs,
               O.jobs == 1 ? "" : "s", O.seed, interrupted ? " (interrupted)" : "");
        print_completions(stdout);
        for (int i = 0; i < ndefects; i++)
            print_defect(stdout, i + 1, &defects[i]);
        if (ndefects == 0)
            printf("nmrcheck: no defect found\n");
        else
            printf("\nnmrcheck: %d distinct defect%s (%" PRIu64 " schedule%s failed)\n",
                   ndefects, ndefects == 1 ? "" : "s", total_occurrences,
                   total_occurrences == 1 ? "" : "s");
    }
    if (O.json != NULL && write_json(O.json, done, secs, O.seed) != 0)
        return 2;
    return ndefects > 0 ? 1 : 0;
}
