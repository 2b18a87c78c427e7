/* SPDX-License-Identifier: MIT */
/*
 * nmrcheck.h - what the two halves of nmrcheck share: the options, the
 * memory the parent maps for its children (one slot per child: the
 * schedule it runs, its step log, the defect it found), and the entry of
 * a child (run.c).  main.c is the parent: options, children, reports.
 */
#ifndef NMRCHECK_NMRCHECK_H
#define NMRCHECK_NMRCHECK_H

#include "sched.h"

#include <stdatomic.h>
#include <stdint.h>

#define CHK_MAX_MODULES 8
/* Switch points after which a schedule that has not ended is a livelock
 * (a schedule of the tests takes hundreds to thousands). */
#define CHK_MAX_STEPS 2000000u
#define CHK_MAX_ARGS 16
#define CHK_MAX_WORKERS 8

typedef struct chk_module_spec {
    char *text;                    /* as given: NAME.so[:ARGS] */
    char *path;                    /* the object, resolved */
    char *name;                    /* its name in reports (file name without .so) */
    int argc;
    char *argv[CHK_MAX_ARGS];      /* the load arguments */
} chk_module_spec;

typedef struct chk_options {
    chk_module_spec mods[CHK_MAX_MODULES];
    int nmods;
    const char *module_path;       /* -M */
    uint64_t schedules;            /* --schedules */
    double seconds;                /* --seconds */
    uint64_t seed;                 /* --seed: the first schedule's seeds derive from it */
    int replay;                    /* --replay SEED given */
    uint64_t replay_seed;
    unsigned workers;              /* --workers */
    unsigned calls;                /* --calls: exercise calls per worker per schedule */
    unsigned depth;                /* --depth: PCT d */
    unsigned steps;                /* --steps: PCT k */
    unsigned hang_ms;              /* --hang-ms */
    unsigned stall_ms;             /* --stall-ms */
    unsigned alloc_fail;           /* --alloc-fail N: try failing one of the first N allocations */
    int detach_timing;             /* --detach-timing: -1 mixed, else a CHK_DT_* for every schedule */
    unsigned jobs;                 /* --jobs: children at once */
    int first;                     /* --first: stop at the first defect */
    int progress;                  /* -1 auto, 0 off, 1 on */
    const char *json;              /* --json FILE */
    int verbose;                   /* --trace: the whole trace of each defect */
} chk_options;

typedef enum chk_kind {
    CHK_NONE = 0,
    CHK_CRASH,
    CHK_MISUSE,
    CHK_VERIFIER,
    CHK_HANG,
    CHK_LATE_CALLBACK,
    CHK_RESIDUE,
    CHK_MODULE_CHECK,
    CHK_KINDS
} chk_kind;

const char *chk_kind_name(chk_kind kind);

#define CHK_SUMMARY_LEN 320
#define CHK_PLACE_LEN 200
#define CHK_DETAIL_LEN 4096
#define CHK_LOG_STEPS 2048

typedef struct chk_defect {
    int kind;                      /* chk_kind */
    char summary[CHK_SUMMARY_LEN];
    char place[CHK_PLACE_LEN];     /* what makes two defects the same one */
    char detail[CHK_DETAIL_LEN];   /* more lines: threads, watchdog, report excerpt */
} chk_defect;

/* What a schedule did, for the report: its plan in words. */
#define CHK_PLAN_LEN 200

typedef struct chk_slot {
    volatile uint64_t seed;        /* of the schedule running or last run */
    volatile uint64_t schedule;    /* its number */
    volatile uint64_t beat;        /* moves while the child lives */
    volatile uint64_t fallbacks;   /* of the schedule running */
    volatile int have_defect;
    chk_defect defect;
    char plan[CHK_PLAN_LEN];
    char crash[CHK_SUMMARY_LEN];   /* a fatal signal, as the child's handler saw it */
    sched_log log;                 /* CHK_LOG_STEPS steps follow */
} chk_slot;

/* How a schedule steers the thread that calls a detach callback (run.c,
 * docs/nmrcheck.md); --detach-timing names them: */
typedef enum chk_detach_timing {
    CHK_DT_FREE,                   /* "free": PCT alone */
    CHK_DT_CALLS_FIRST,            /* "calls-first": others run first inside the callback */
    CHK_DT_AS_RETURNED,            /* "as-returned": others run as it returns */
    CHK_DT_LATE,                   /* "late": it keeps the turn until it blocks */
    CHK_DT_MODES
} chk_detach_timing;

extern const char *const chk_detach_timing_names[CHK_DT_MODES];

/* When the completion of a pending detach came (run.c counts them, in
 * every schedule; nmrcheck prints the totals): */
typedef enum chk_completion {
    CHK_DC_IN_CALLBACK,            /* inside the detach callback, by itself */
    CHK_DC_DURING_CALLBACK,        /* by another thread while the callback ran */
    CHK_DC_AS_RETURNED,            /* by another thread after the callback returned,
                                    * before the NMR read its status (R15) */
    CHK_DC_LATER_SAME,             /* later, by the thread that called the callback */
    CHK_DC_LATER_OTHER,            /* later, by another thread */
    CHK_DC_KINDS
} chk_completion;

typedef struct chk_shared {
    atomic_ullong next;            /* the next schedule number to run */
    atomic_ullong done;            /* schedules finished */
    atomic_int stop;               /* children take no more schedules */
    atomic_ullong completions[CHK_DC_KINDS];
} chk_shared;

size_t chk_slot_size(void);

/* The place of a defect made comparable across schedules: handles,
 * addresses and numbers become '#'. */
void chk_normalize(char *out, size_t size, const char *in);

/* The seed of schedule number i of a search from seed base. */
uint64_t chk_schedule_seed(uint64_t base, uint64_t i);

/* A child: runs schedules until the budget is spent or one finds a
 * defect.  Never returns: exits 0 (budget spent), 3 (defect in the slot)
 * or 4 (could not start). */
_Noreturn void chk_child_main(const chk_options *o, chk_shared *sh, chk_slot *slot,
                              double deadline_s);

/* interpose.c: the code of module `mod` is the object mapped at base
 * (NULL: forget it); which module's code pc is in, or -1. */
void chk_code_range_set(int mod, const void *base);
int chk_module_of_code(const void *pc);

#define CHK_EXIT_DONE 0
#define CHK_EXIT_DEFECT 3
#define CHK_EXIT_SETUP 4

#endif /* NMRCHECK_NMRCHECK_H */
