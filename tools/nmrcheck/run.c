/* SPDX-License-Identifier: MIT */
/*
 * run.c - a child of nmrcheck: runs schedules, one after another, in this
 * process, until the budget is spent or one finds a defect.
 *
 * A schedule is a plan (which lifecycle: the orders of loading and
 * unloading, a reload, loads or unloads at once, an unload racing a load;
 * which allocation fails, if any) and an interleaving (the controlled
 * scheduler, sched.h, seeded with the schedule's seed).  Its threads: the
 * director, which runs the plan; one actor per action of a phase that runs
 * actions at once; the workers, which call the modules' exercise entries
 * throughout.  Every one of them is reserved with the scheduler before it
 * exists, so its place in the schedule depends on the seed only.
 *
 * The oracles are hooks: the diagnostic hook (misuse, verifier), the trace
 * hook (every registrar event is a switch point; a callback into a module
 * whose unload returned is a late callback), the scheduler's hang callback
 * (no thread can go on), the host's verdict after each unload (residue),
 * the module's own check, and a fatal signal.  The first defect is written
 * into the slot the parent shares with us, then the child exits 3 at once:
 * the process is left as the defect found it, nothing more runs.
 */
#define _GNU_SOURCE
#include "nmrcheck.h"

#include "../nmrhost/host.h"

#include <nmr/check.h>
#include <nmr/diag.h>
#include <nmr/km.h>
#include <nmr/registrar.h>
#include <nmr/trace.h>

#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#define CHK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CHK_ASAN 1
#endif
#endif
#ifndef CHK_ASAN
#define CHK_ASAN 0
#endif

/* ---- shared helpers (the parent uses them too) --------------------------- */
const char *chk_kind_name(chk_kind kind)
{
    static const char *const names[CHK_KINDS] = {
        "none", "crash", "misuse", "verifier", "hang", "late-callback", "residue",
        "module-check"};
    return kind >= 0 && kind < CHK_KINDS ? names[kind] : "?";
}

size_t chk_slot_size(void)
{
    size_t n = sizeof(chk_slot) + (size_t)CHK_LOG_STEPS * sizeof(sched_step);
    return (n + 4095u) & ~(size_t)4095u;
}

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The low 20 bits carry the schedule number, from which the plan takes
 * its lifecycle (make_plan): the first schedules go through every pair of
 * orders and every mode. */
#define SEED_INDEX_BITS 20
#define SEED_INDEX_MASK ((1ull << SEED_INDEX_BITS) - 1)

uint64_t chk_schedule_seed(uint64_t base, uint64_t i)
{
    return (mix(base ^ mix(i + 1)) & ~SEED_INDEX_MASK) | (i & SEED_INDEX_MASK);
}

/* ---- the plan of a schedule ----------------------------------------------- */
typedef enum plan_mode {
    PLAN_SEQUENTIAL,               /* load in one order, unload in another */
    PLAN_RELOAD,                   /* ... and one module unloaded and loaded again between */
    PLAN_LOAD_AT_ONCE,             /* every load at once, then unloads in order */
    PLAN_UNLOAD_AT_ONCE,           /* loads in order, then every unload at once */
    PLAN_RACE,                     /* one module's unload racing another's load */
    PLAN_MODES
} plan_mode;

typedef struct plan {
    plan_mode mode;
    int load[CHK_MAX_MODULES];     /* load order */
    int unload[CHK_MAX_MODULES];   /* unload order */
    int reload;                    /* PLAN_RELOAD: which one */
    int late;                      /* PLAN_RACE: the one loaded while ... */
    int leaving;                   /* ... this one unloads */
    long alloc_fail;               /* 0, or the n-th allocation ... */
    int alloc_entry;               /* ... inside this module's load entry, or */
    int alloc_after;               /* ... from the end of the loads on, on any thread */
    int detach;                    /* chk_detach_timing: how detaches are steered */
    uint64_t sched_seed;
} plan;

/* The timing of a pending detach (docs/nmrcheck.md): when its completion
 * comes is the module's doing (the last call in flight gives back its
 * reference, a work item runs...), so a plan steers the thread that calls a
 * detach callback (chk_detach_timing), and the schedule follows:
 *   CHK_DT_FREE         PCT alone;
 *   CHK_DT_CALLS_FIRST  inside the callback, the detaching thread goes below
 *                       every other at each switch point, so the calls in
 *                       flight run first: the completion comes before it
 *                       returns;
 *   CHK_DT_AS_RETURNED  it runs its callback through, then goes below every
 *                       other as the callback returns, before the NMR reads
 *                       the status: a completion from another thread lands
 *                       in the window of R15;
 *   CHK_DT_LATE         it keeps the turn past the return until it blocks:
 *                       the completion comes as late as the module lets it.
 * nmrcheck counts when each completion came (chk_completion). */
const char *const chk_detach_timing_names[CHK_DT_MODES] = {"free", "calls-first",
                                                           "as-returned", "late"};


typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    r->s += 0x9e3779b97f4a7c15ull;
    return mix(r->s);
}

static unsigned rng_below(rng *r, unsigned n)
{
    return n <= 1 ? 0 : (unsigned)(rng_next(r) % n);
}

static void shuffle(rng *r, int *a, int n)
{
    for (int i = 0; i < n; i++)
        a[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (unsigned)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}

/* The k-th permutation of 0..n-1 (k < n!), in lexicographic order. */
static void nth_permutation(int *a, int n, unsigned k)
{
    int pool[CHK_MAX_MODULES];
    unsigned fact = 1;
    for (int i = 0; i < n; i++)
        pool[i] = i;
    for (int i = 2; i < n; i++)
        fact *= (unsigned)i;
    for (int i = 0, left = n; i < n; i++, left--) {
        unsigned j = k / fact;
        k %= fact;
        a[i] = pool[j];
        memmove(pool + j, pool + j + 1, (size_t)(left - 1 - (int)j) * sizeof pool[0]);
        if (left > 1)
            fact /= (unsigned)(left - 1 > 0 ? left - 1 : 1);
    }
}

static void make_plan(const chk_options *o, uint64_t seed, plan *p)
{
    rng r = {seed};
    int n = o->nmods;
    memset(p, 0, sizeof *p);
    unsigned modes = n >= 2 ? PLAN_MODES : PLAN_RELOAD + 1;
    uint64_t combos = 0;
    if (n <= 4) {
        /* every (load order, unload order, mode) in turn: N! x N! x modes
         * schedules cover them all (20 for two modules, 2,880 for four) */
        unsigned fact = 1;
        for (int k = 2; k <= n; k++)
            fact *= (unsigned)k;
        combos = (uint64_t)fact * fact * modes;
        uint64_t idx = (seed & SEED_INDEX_MASK) % combos;
        nth_permutation(p->load, n, (unsigned)(idx % fact));
        nth_permutation(p->unload, n, (unsigned)(idx / fact % fact));
        p->mode = (plan_mode)(idx / fact / fact);
        rng_next(&r);
    } else {
        shuffle(&r, p->load, n);
        shuffle(&r, p->unload, n);
        p->mode = (plan_mode)rng_below(&r, modes);
    }
    p->reload = (int)rng_below(&r, (unsigned)n);
    if (p->mode == PLAN_RACE) {
        /* the late one is loaded last; the leaving one, any other */
        p->late = p->load[n - 1];
        p->leaving = p->load[rng_below(&r, (unsigned)n - 1)];
    }
    if (combos != 0 && o->alloc_fail > 0) {
        /* every fourth pass over the combinations makes one allocation
         * fail, the next point each pass: allocation k of module m's load
         * comes up within 4 x combinations x N x modules schedules */
        uint64_t pass = (seed & SEED_INDEX_MASK) / combos;
        if (pass % 4 == 3) {
            /* in turn: inside a load entry, then after the loads */
            uint64_t point = pass / 4;
            p->alloc_after = (int)(point % 2);
            point /= 2;
            p->alloc_fail = 1 + (long)(point % o->alloc_fail);
            p->alloc_entry = (int)(point / o->alloc_fail % (unsigned)n);
        }
        rng_next(&r);
    } else if (o->alloc_fail > 0 && rng_below(&r, 4) == 0) {
        p->alloc_fail = 1 + (long)rng_below(&r, o->alloc_fail);
        p->alloc_entry = (int)rng_below(&r, (unsigned)n);
        p->alloc_after = (int)rng_below(&r, 2);
    }
    p->sched_seed = rng_next(&r);
    p->detach = (int)rng_below(&r, CHK_DT_MODES);  /* drawn last: the rest is as before */
    if (o->detach_timing >= 0)
        p->detach = o->detach_timing;
}

static const char *mode_name(plan_mode m)
{
    static const char *const names[PLAN_MODES] = {
        "sequential", "reload", "loads at once", "unloads at once", "unload racing a load"};
    return names[m];
}

/* ---- the child's state ----------------------------------------------------- */
typedef struct rmod {
    const chk_module_spec *spec;
    host_module *hm;                  /* while loaded (director's view) */
    atomic_int live;                  /* workers may call its exercise entry */
    atomic_int inflight;              /* workers inside its exercise entry */
    atomic_int unload_returned;       /* its unload entry returned (this load) */
    nmr_module_exercise_fn *_Atomic exercise;
    const void *_Atomic base;         /* the object's mapping, from its first entry */
    int loaded;
} rmod;

#define MAX_REGS 256

static struct {
    const chk_options *o;
    chk_shared *sh;
    chk_slot *slot;
    rmod mods[CHK_MAX_MODULES];
    plan plan;
    uint64_t seed;
    atomic_int stop_workers;
    atomic_int defect_taken;
    pthread_mutex_t regs_lock;
    struct {
        uint64_t handle;
        int mod;
    } regs[MAX_REGS];
    int nregs;
    pthread_mutex_t watchdog_lock;
    char watchdog[1024];              /* the last stuck-wait report */
    atomic_long alloc_arm;            /* n for the next load entry of alloc_entry, or 0 */
    atomic_uint epoch;                /* moves at each entry's start and return */
    pthread_mutex_t det_lock;
    struct {
        uint64_t binding;
        int side;
        int thread;                   /* the detaching thread (sched index, or -1) */
        int phase;                    /* DP_* */
        uint64_t points;              /* DP_RETURNED: its points as it returned */
    } det[MAX_REGS];                  /* the detach callbacks of the schedule */
    int ndet;
} C = {.regs_lock = PTHREAD_MUTEX_INITIALIZER, .watchdog_lock = PTHREAD_MUTEX_INITIALIZER,
       .det_lock = PTHREAD_MUTEX_INITIALIZER};

static void vappendf(char *buf, size_t size, const char *fmt, va_list ap)
{
    size_t len = strnlen(buf, size);
    if (len + 1 >= size)
        return;
    vsnprintf(buf + len, size - len, fmt, ap);
}

static void appendf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vappendf(buf, size, fmt, ap);
    va_end(ap);
}

void chk_normalize(char *out, size_t size, const char *in)
{
    size_t j = 0;
    for (size_t i = 0; in[i] != '\0' && j + 1 < size; i++) {
        if (in[i] == '0' && (in[i + 1] == 'x' || in[i + 1] == 'X')) {
            i += 2;
            while ((in[i] >= '0' && in[i] <= '9') || (in[i] >= 'a' && in[i] <= 'f') ||
                   (in[i] >= 'A' && in[i] <= 'F'))
                i++;
            i--;
            out[j++] = '#';
        } else if (in[i] >= '0' && in[i] <= '9') {
            while (in[i + 1] >= '0' && in[i + 1] <= '9')
                i++;
            out[j++] = '#';
        } else {
            out[j++] = in[i];
        }
    }
    out[j] = '\0';
}

/* Record the first defect of this child and leave at once (exit 3).  Any
 * thread; later defects (the consequences of the first) are dropped. */
static _Noreturn void found(chk_kind kind, const char *place, const char *detail,
                            const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static _Noreturn void found(chk_kind kind, const char *place, const char *detail,
                            const char *fmt, ...)
{
    if (atomic_exchange(&C.defect_taken, 1) != 0) {
        for (;;)
            pause();               /* the first one is on its way out */
    }
    chk_defect *d = &C.slot->defect;
    memset(d, 0, sizeof *d);
    d->kind = kind;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(d->summary, sizeof d->summary, fmt, ap);
    va_end(ap);
    char where[CHK_PLACE_LEN];
    snprintf(where, sizeof where, "%.199s", place != NULL ? place : d->summary);
    chk_normalize(d->place, sizeof d->place, where);
    if (detail != NULL)
        snprintf(d->detail, sizeof d->detail, "%s", detail);
    C.slot->fallbacks = 0;
    __atomic_store_n(&C.slot->have_defect, 1, __ATOMIC_RELEASE);
    fflush(NULL);
    _exit(CHK_EXIT_DEFECT);
}

/* The module whose entry (load, unload) runs on this thread, or -1. */
static _Thread_local int in_entry = -1;

static const char *mod_name(int i)
{
    return i >= 0 ? C.mods[i].spec->name : "?";
}

static void reg_remember(HANDLE h, int mod)
{
    pthread_mutex_lock(&C.regs_lock);
    for (int i = 0; i < C.nregs; i++)
        if (C.regs[i].handle == (uint64_t)(uintptr_t)h) {
            C.regs[i].mod = mod;
            pthread_mutex_unlock(&C.regs_lock);
            return;
        }
    if (C.nregs < MAX_REGS) {
        C.regs[C.nregs].handle = (uint64_t)(uintptr_t)h;
        C.regs[C.nregs].mod = mod;
        C.nregs++;
    }
    pthread_mutex_unlock(&C.regs_lock);
}

static int reg_mod(HANDLE h)
{
    int mod = -1;
    pthread_mutex_lock(&C.regs_lock);
    for (int i = 0; i < C.nregs; i++)
        if (C.regs[i].handle == (uint64_t)(uintptr_t)h)
            mod = C.regs[i].mod;
    pthread_mutex_unlock(&C.regs_lock);
    return mod;
}

/* ---- hooks: diagnostics --------------------------------------------------- */
static void diag_hook(void *context, nmr_misuse_kind kind, const char *message)
{
    (void)context;
    if (kind == NMR_DIAG_WAIT_STUCK) {
        pthread_mutex_lock(&C.watchdog_lock);
        snprintf(C.watchdog, sizeof C.watchdog, "%s", message);
        pthread_mutex_unlock(&C.watchdog_lock);
        return;
    }
    if (kind == NMR_DIAG_REGISTRAR_BUSY)
        return;
    chk_kind k = kind == NMR_MISUSE_VERIFIER || kind == NMR_MISUSE_ASSERT ? CHK_VERIFIER
                                                                          : CHK_MISUSE;
    char place[CHK_PLACE_LEN];
    /* the text up to its first ':' names the function, then the rule */
    snprintf(place, sizeof place, "%s", message);
    found(k, place, NULL, "%s", message);
}

/* ---- the timing of pending detaches ------------------------------------------ */
enum { DP_CALLING, DP_RETURNED, DP_DONE };

/* The detach callbacks this thread is inside. */
static _Thread_local int in_detach;

/* A detach callback is called on this thread: remember it; the flags of
 * this switch point. */
static int detach_called(HANDLE binding, int side)
{
    int t = sched_self();
    pthread_mutex_lock(&C.det_lock);
    if (C.ndet < MAX_REGS)
        C.det[C.ndet++] = (__typeof__(C.det[0])){(uint64_t)(uintptr_t)binding, side, t,
                                                  DP_CALLING, 0};
    pthread_mutex_unlock(&C.det_lock);
    if (t < 0)
        return 0;
    in_detach++;
    switch (C.plan.detach) {
    case CHK_DT_CALLS_FIRST: sched_set_humble(1); return SCHED_LOWER;
    case CHK_DT_AS_RETURNED:
    case CHK_DT_LATE: return SCHED_RAISE;
    default: return 0;
    }
}

static int find_detach_locked(uint64_t binding, int side, int phase)
{
    for (int i = C.ndet - 1; i >= 0; i--)
        if (C.det[i].binding == binding && C.det[i].side == side && C.det[i].phase == phase)
            return i;
    return -1;
}

/* It returned (the point libnmr makes before it reads the status). */
static int detach_returned(const void *binding, int side)
{
    int t = sched_self();
    pthread_mutex_lock(&C.det_lock);
    int i = find_detach_locked((uint64_t)(uintptr_t)binding, side, DP_CALLING);
    if (i >= 0) {
        C.det[i].phase = DP_RETURNED;
        C.det[i].points = sched_thread_points(t);
    }
    pthread_mutex_unlock(&C.det_lock);
    if (t < 0 || in_detach == 0)
        return 0;
    if (--in_detach == 0)
        sched_set_humble(0);
    return C.plan.detach == CHK_DT_CALLS_FIRST || C.plan.detach == CHK_DT_AS_RETURNED ? SCHED_LOWER : 0;
}

/* Nmr*DetachComplete is called on this thread: when, for the count. */
static void detach_completed(const void *binding, int side)
{
    int t = sched_self();
    int kind = -1;
    pthread_mutex_lock(&C.det_lock);
    uint64_t b = (uint64_t)(uintptr_t)binding;
    int i = find_detach_locked(b, side, DP_CALLING);
    if (i >= 0) {
        kind = t >= 0 && C.det[i].thread == t ? CHK_DC_IN_CALLBACK : CHK_DC_DURING_CALLBACK;
    } else if ((i = find_detach_locked(b, side, DP_RETURNED)) >= 0) {
        /* the detaching thread has not run since its return point (its own
         * point counts one) */
        int d = C.det[i].thread;
        if (d >= 0 && d != t && sched_thread_points(d) <= C.det[i].points + 1)
            kind = CHK_DC_AS_RETURNED;
        else
            kind = d >= 0 && d == t ? CHK_DC_LATER_SAME : CHK_DC_LATER_OTHER;
    }
    if (i >= 0)
        C.det[i].phase = DP_DONE;
    pthread_mutex_unlock(&C.det_lock);
    if (kind >= 0)
        atomic_fetch_add(&C.sh->completions[kind], 1);
}

/* ---- hooks: the registrar's events ---------------------------------------- */
static void late_check(int mod, const char *callback, HANDLE binding)
{
    if (mod < 0 || !atomic_load(&C.mods[mod].unload_returned))
        return;
    char place[CHK_PLACE_LEN];
    snprintf(place, sizeof place, "%s into %s after its unload", callback, mod_name(mod));
    found(CHK_LATE_CALLBACK, place, NULL,
          "the NMR calls %s of %s (binding %p) after its unload returned: the module "
          "left a registration or a binding behind", callback, mod_name(mod), binding);
}

static const char *side_word(int side)
{
    return side == 0 ? "client" : side == 1 ? "provider" : "?";
}

static void trace_hook(void *context, const nmr_event *e)
{
    (void)context;
    char what[SCHED_WHAT_LEN];
    int cm = -1, pm = -1, flags = 0;
    if (e->type != NMR_EVENT_REGISTER && e->type != NMR_EVENT_DEREGISTER &&
        e->type != NMR_EVENT_WAIT_START && e->type != NMR_EVENT_WAIT_END &&
        e->type != NMR_EVENT_MISUSE) {
        cm = reg_mod(e->client);
        pm = reg_mod(e->provider);
    }
    switch (e->type) {
    case NMR_EVENT_REGISTER: {
        /* the module whose entry runs on this thread (the event carries a
         * copy of the module ID, not the module's own address) */
        int m = in_entry;
        reg_remember(e->registration, m);
        snprintf(what, sizeof what, "register %s %p (%s)", side_word(e->side),
                 e->registration, mod_name(m));
        break;
    }
    case NMR_EVENT_OFFER:
        late_check(cm, "ClientAttachProvider", e->binding);
        late_check(pm, "ProviderAttachClient", e->binding);
        snprintf(what, sizeof what, "offer %p: client %s, provider %s", e->binding,
                 mod_name(cm), mod_name(pm));
        break;
    case NMR_EVENT_ATTACH_ACCEPTED:
        snprintf(what, sizeof what, "attached %p (%s, %s)", e->binding, mod_name(cm),
                 mod_name(pm));
        break;
    case NMR_EVENT_ATTACH_DECLINED:
        snprintf(what, sizeof what, "declined %p by the %s: %s", e->binding,
                 side_word(e->side), nmr_status_name(e->status));
        break;
    case NMR_EVENT_DETACH_CALLED: {
        int m = e->side == 0 ? cm : pm;
        late_check(m, e->side == 0 ? "ClientDetachProvider" : "ProviderDetachClient",
                   e->binding);
        snprintf(what, sizeof what, "detach %s side of %p (%s)", side_word(e->side),
                 e->binding, mod_name(m));
        flags = detach_called(e->binding, e->side);
        break;
    }
    case NMR_EVENT_HALF_COMPLETE:
        snprintf(what, sizeof what, "%s half of %p complete (%s)", side_word(e->side),
                 e->binding, mod_name(e->side == 0 ? cm : pm));
        break;
    case NMR_EVENT_CLEANUP:
        late_check(cm, "ClientCleanupBindingContext", e->binding);
        late_check(pm, "ProviderCleanupBindingContext", e->binding);
        snprintf(what, sizeof what, "cleanup %p (%s, %s)", e->binding, mod_name(cm),
                 mod_name(pm));
        break;
    case NMR_EVENT_DEREGISTER:
        snprintf(what, sizeof what, "deregister %s %p (%s)", side_word(e->side),
                 e->registration, mod_name(reg_mod(e->registration)));
        break;
    case NMR_EVENT_WAIT_START:
        /* libnmr says when it really blocks (nmr_check_block_begin) */
        snprintf(what, sizeof what, "wait for %s %p (%s)", side_word(e->side),
                 e->registration, mod_name(reg_mod(e->registration)));
        break;
    case NMR_EVENT_WAIT_END:
        snprintf(what, sizeof what, "wait for %p done: %s", e->registration,
                 nmr_status_name(e->status));
        sched_block_end(what);
        return;
    case NMR_EVENT_MISUSE:
    default:
        return;                    /* the diagnostic hook has it */
    }
    sched_point(what, flags);
}

/* ---- hooks: the scheduler as libnmr and libnmr-km see it ------------------ */
static void hk_point(const char *fn, const void *obj)
{
    char what[SCHED_WHAT_LEN];
    snprintf(what, sizeof what, "%s %p", fn, obj);
    /* a rundown (guard) reference taken or given back is, like a module's
     * lock, no progress: a thread that only loops over its guard must not
     * hide a hang, nor keep the thread it starves from its turn */
    int quiet = strncmp(fn, "ExAcquireRundownProtection", 26) == 0 ||
                strncmp(fn, "ExReleaseRundownProtection", 26) == 0;
    int flags = quiet ? SCHED_QUIET : 0;
    if (strcmp(fn, "ClientDetachProvider returned") == 0)
        flags = detach_returned(obj, 0);
    else if (strcmp(fn, "ProviderDetachClient returned") == 0)
        flags = detach_returned(obj, 1);
    else if (strcmp(fn, "NmrClientDetachProviderComplete") == 0)
        detach_completed(obj, 0);
    else if (strcmp(fn, "NmrProviderDetachClientComplete") == 0)
        detach_completed(obj, 1);
    sched_point(what, flags);
}

static void hk_block_begin(const char *fn, const void *obj, int timed)
{
    char what[SCHED_WHAT_LEN];
    snprintf(what, sizeof what, "%s %p", fn, obj);
    sched_block_begin(what, (uint64_t)(uintptr_t)obj, timed);
}

static void hk_block_end(void)
{
    sched_block_end("back");
}

/* A controlled thread begins and ends: libnmr watches it too, so that its
 * rundown and guard operations are switch points (nmr_check_watch_thread). */
static void thread_begin(int ticket)
{
    sched_thread_begin(ticket);
    if (ticket >= 0)
        nmr_check_watch_thread(1);
}

static void thread_end(void)
{
    nmr_check_watch_thread(0);
    sched_thread_end();
}

static void hk_wake(const void *obj)
{
    sched_wake_waiters((uint64_t)(uintptr_t)obj);
}

static int hk_reserve(const char *what)
{
    return sched_thread_reserve(what);
}

static void hk_begin(int ticket)
{
    thread_begin(ticket);
}

static void hk_end(void)
{
    thread_end();
}

static const nmr_check_sched_hooks sched_hooks = {
    hk_point, hk_block_begin, hk_block_end, hk_wake, hk_reserve, hk_begin, hk_end};

static void yield_hook(void *context)
{
    (void)context;
    sched_point("nmrcheck_yield", SCHED_YIELD);
}

/* ---- hooks: the host's entries ---------------------------------------------- */
static void on_entry(host_module *m, const char *entry, int returned)
{
    int i = -1;
    for (int k = 0; k < C.o->nmods; k++)
        if (strcmp(C.mods[k].spec->name, m->name) == 0)
            i = k;
    if (i < 0)
        return;
    rmod *r = &C.mods[i];
    int unloading = strcmp(entry, "load") != 0 && strcmp(entry, HOST_DRIVER_ENTRY_SYMBOL) != 0;
    char what[SCHED_WHAT_LEN];
    in_entry = returned ? -1 : i;
    if (!returned && atomic_exchange(&r->base, m->base) != m->base)
        chk_code_range_set(i, m->base);
    atomic_fetch_add(&C.epoch, 1);    /* the workers' budgets start again */
    if (!returned) {
        if (!unloading) {
            long n = atomic_exchange(&C.alloc_arm, 0);
            if (n > 0 && i == C.plan.alloc_entry) {
                nmr_check_alloc_fail_at(n);
                nmr_km_pool_fail_at(n);
            } else if (n > 0) {
                atomic_store(&C.alloc_arm, n);
            }
        }
        snprintf(what, sizeof what, "%s of %s", entry, r->spec->name);
    } else {
        if (!unloading) {
            if (!C.plan.alloc_after) {
                nmr_check_alloc_fail_at(0);
                nmr_km_pool_fail_at(0);
            }
        } else {
            atomic_store(&r->unload_returned, 1);
        }
        snprintf(what, sizeof what, "%s of %s returned", entry, r->spec->name);
    }
    sched_point(what, 0);
}

/* ---- the modules' own threads ------------------------------------------------ */
/* nmrcheck defines pthread_create and pthread_join (the executable exports
 * them, so a module's calls bind here first): a thread a module starts
 * during a run is reserved and controlled like the run's own, and a join
 * of it is a block the thread's end releases.  Anything else (libnmr,
 * libnmr-km, nmrcheck itself, a module outside a run) goes to the C
 * library untouched.  A module's locks, condition variables, semaphores
 * and sleeps are interpose.c's. */
typedef int create_fn(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
typedef int join_fn(pthread_t, void **);
static create_fn *real_create;
static join_fn *real_join;
static pthread_key_t own_key;
static pthread_once_t own_once = PTHREAD_ONCE_INIT;

static void own_thread_exit(void *p)
{
    (void)p;
    sched_wake((uint64_t)pthread_self());
    thread_end();
}

static void own_init(void)
{
    real_create = (create_fn *)dlsym(RTLD_NEXT, "pthread_create");
    real_join = (join_fn *)dlsym(RTLD_NEXT, "pthread_join");
    pthread_key_create(&own_key, own_thread_exit);
}

typedef struct own_start {
    void *(*fn)(void *);
    void *arg;
    int ticket;
} own_start;

static void *own_main(void *p)
{
    own_start st = *(own_start *)p;
    free(p);
    thread_begin(st.ticket);
    pthread_setspecific(own_key, &own_key);
    return st.fn(st.arg);
}

__attribute__((visibility("default"))) int pthread_create(pthread_t *t,
                                                          const pthread_attr_t *a,
                                                          void *(*fn)(void *), void *arg)
{
    pthread_once(&own_once, own_init);
    int m = C.o != NULL ? chk_module_of_code(__builtin_return_address(0)) : -1;
    own_start *st = m >= 0 ? malloc(sizeof *st) : NULL;
    if (st == NULL)
        return real_create(t, a, fn, arg);
    char name[SCHED_NAME_LEN];
    snprintf(name, sizeof name, "%.15s thread", C.mods[m].spec->name);
    st->fn = fn;
    st->arg = arg;
    st->ticket = sched_thread_reserve(name);
    if (st->ticket < 0) {
        free(st);
        return real_create(t, a, fn, arg);
    }
    int rc = real_create(t, a, own_main, st);
    if (rc != 0) {
        sched_thread_abandon(st->ticket);
        free(st);
    }
    return rc;
}

__attribute__((visibility("default"))) int pthread_join(pthread_t t, void **ret)
{
    pthread_once(&own_once, own_init);
    if (sched_self() < 0)
        return real_join(t, ret);
    sched_block_begin("pthread_join", (uint64_t)t, 0);
    int rc = real_join(t, ret);
    sched_block_end("pthread_join returned");
    return rc;
}

/* ---- crashes ------------------------------------------------------------------ */
static char altstack[65536];

static void crash_handler(int sig, siginfo_t *si, void *uc_)
{
    ucontext_t *uc = uc_;
    const void *pc = NULL;
#if defined(__x86_64__)
    pc = (const void *)uc->uc_mcontext.gregs[REG_RIP];
#elif defined(__aarch64__)
    pc = (const void *)uc->uc_mcontext.pc;
#else
    (void)uc;
#endif
    char at[160] = "?";
    Dl_info info;
    memset(&info, 0, sizeof info);
    if (pc != NULL && dladdr(pc, &info) != 0 && info.dli_fname != NULL) {
        const char *base = strrchr(info.dli_fname, '/');
        base = base != NULL ? base + 1 : info.dli_fname;
        if (info.dli_sname != NULL)
            snprintf(at, sizeof at, "%s (%s+0x%lx)", info.dli_sname, base,
                     (unsigned long)((const char *)pc - (const char *)info.dli_fbase));
        else
            snprintf(at, sizeof at, "%s+0x%lx", base,
                     (unsigned long)((const char *)pc - (const char *)info.dli_fbase));
    }
    int t = sched_self();
    snprintf(C.slot->crash, sizeof C.slot->crash, "%s", strsignal(sig));
    char place[CHK_PLACE_LEN];
    /* the place: the signal and the function, not its offset (a fix nearby
     * moves the offset, not the defect) */
    snprintf(place, sizeof place, "%s in %s", strsignal(sig),
             info.dli_sname != NULL && pc != NULL ? info.dli_sname : at);
    char who[64];
    if (t >= 0)
        snprintf(who, sizeof who, "thread T%d", t);
    else
        snprintf(who, sizeof who, "a thread nmrcheck does not control (the module's own)");
    found(CHK_CRASH, place, NULL, "%s at %s, address %p, on %s", strsignal(sig), at,
          si->si_addr, who);
}

static void install_crash_handler(void)
{
    if (CHK_ASAN)
        return;                    /* AddressSanitizer reports it better: the parent reads it */
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack};
    sigaltstack(&ss, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = crash_handler;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

/* ---- hangs -------------------------------------------------------------------- */
static void on_hang(void *ctx)
{
    (void)ctx;
    char threads[2048], detail[CHK_DETAIL_LEN], place[CHK_PLACE_LEN];
    sched_describe(threads, sizeof threads);
    snprintf(detail, sizeof detail, "threads:\n%s", threads);
    pthread_mutex_lock(&C.watchdog_lock);
    if (C.watchdog[0] != '\0')
        appendf(detail, sizeof detail, "\nwatchdog: %s", C.watchdog);
    pthread_mutex_unlock(&C.watchdog_lock);
    /* the place: what the threads of the lifecycle (not the workers, whose
     * spot varies) are stuck in, without their names */
    place[0] = '\0';
    for (char *line = threads; line != NULL && *line != '\0';) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        char *colon = strstr(line, ": ");
        if (colon != NULL && strstr(line, " worker") == NULL && strstr(colon, "ended") == NULL &&
            strstr(colon, "not started") == NULL) {
            char *turn = strstr(colon, " (has the turn)");
            if (turn != NULL)
                *turn = '\0';
            appendf(place, sizeof place, "%s%s", place[0] ? "; " : "", colon + 2);
            if (turn != NULL)
                *turn = ' ';
        }
        if (nl != NULL)
            *nl = '\n';
        line = nl != NULL ? nl + 1 : NULL;
    }
    if (sched_hung() == 2)
        found(CHK_HANG, place, detail,
              "the schedule did not end in %u steps: its threads go on without "
              "finishing (a livelock: a loop that waits for a thread it keeps from running?)",
              (unsigned)CHK_MAX_STEPS);
    else
        found(CHK_HANG, place, detail,
              "no thread can go on for %u ms: %s", C.o->hang_ms,
              C.watchdog[0] != '\0' ? C.watchdog : "every controlled thread is blocked or stuck");
}

/* ---- the threads of a schedule ---------------------------------------------------- */
static void point(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void point(const char *fmt, ...)
{
    char what[SCHED_WHAT_LEN];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    sched_point(what, 0);
}

static void residue_defect(rmod *r, const char *why)
{
    char place[CHK_PLACE_LEN];
    /* the place: the module and what kind of thing it left */
    const char *left = strstr(why, "left ");
    snprintf(place, sizeof place, "%s: %.150s", r->spec->name, left != NULL ? left : why);
    found(CHK_RESIDUE, place, NULL, "%s", why);
}

static void do_load(int i)
{
    rmod *r = &C.mods[i];
    char why[HOST_WHY_LEN] = "";
    host_module *m = NULL;
    atomic_store(&r->unload_returned, 0);
    if (host_load(r->spec->path, r->spec->argc, (char **)r->spec->argv, &m, why,
                  sizeof why) != 0) {
        if (strstr(why, "kept resident") != NULL || strstr(why, "still mapped") != NULL)
            residue_defect(r, why);
        if (C.plan.alloc_fail == 0)
            found(CHK_MODULE_CHECK, NULL, NULL, "load of %s failed: %s", r->spec->name, why);
        point("load of %s failed (an allocation was made to fail)", r->spec->name);
        return;
    }
    r->hm = m;
    r->loaded = 1;
    char check[HOST_WHY_LEN];
    if (host_check(m, check, sizeof check) != 0)
        found(CHK_MODULE_CHECK, NULL, NULL, "%s after load: %s", r->spec->name, check);
    atomic_store(&r->exercise, m->exercise);
    atomic_store(&r->live, 1);
}

static void do_unload(int i)
{
    rmod *r = &C.mods[i];
    if (!r->loaded)
        return;
    /* no new exercise call; the ones in flight end first */
    atomic_store(&r->live, 0);
    while (atomic_load(&r->inflight) != 0)
        sched_point("unload waits for the calls in flight", SCHED_YIELD);
    char why[HOST_WHY_LEN] = "";
    host_module *m = r->hm;
    int rc = host_unload(m, NULL, why, sizeof why);
    /* an allocation made to fail may be the residue check's own (another
     * thread's load armed it): check again, it fails once only */
    for (int again = 0; rc != 0 && again < 3 && C.plan.alloc_fail != 0 &&
                        strstr(why, "cannot take a snapshot") != NULL; again++)
        rc = host_unload(m, NULL, why, sizeof why);
    r->loaded = 0;
    r->hm = NULL;
    if (rc == 0) {
        /* unmapped: its addresses may be another object's next */
        atomic_store(&r->base, NULL);
        chk_code_range_set(i, NULL);
    }
    if (rc != 0) {
        if (strstr(why, "unload entry returned") != NULL)
            found(CHK_MODULE_CHECK, NULL, NULL, "%s", why);
        residue_defect(r, why);
    }
    if (m->check_why[0] != '\0') {
        char place[CHK_PLACE_LEN];
        snprintf(place, sizeof place, "%.60s: %.130s", r->spec->name, m->check_why);
        found(CHK_MODULE_CHECK, place, NULL, "%s after unload: %s", r->spec->name,
              m->check_why);
    }
}

typedef struct actor {
    pthread_t thread;
    int ticket;
    int mod;
    int unload;                    /* else load */
} actor;

static void *actor_main(void *arg)
{
    actor *a = arg;
    thread_begin(a->ticket);
    if (a->unload)
        do_unload(a->mod);
    else
        do_load(a->mod);
    sched_wake((uint64_t)(uintptr_t)a);
    thread_end();
    return NULL;
}

/* Run actions at once: one actor each; the director waits for them all. */
static void at_once(const int *mods, const int *unloads, int n)
{
    actor a[CHK_MAX_MODULES];
    for (int i = 0; i < n; i++) {
        char name[SCHED_NAME_LEN];
        snprintf(name, sizeof name, "%s %s", unloads[i] ? "unload" : "load",
                 C.mods[mods[i]].spec->name);
        a[i].mod = mods[i];
        a[i].unload = unloads[i];
        a[i].ticket = sched_thread_reserve(name);
        if (real_create(&a[i].thread, NULL, actor_main, &a[i]) != 0) {
            fprintf(stderr, "nmrcheck: cannot create a thread\n");
            _exit(CHK_EXIT_SETUP);
        }
    }
    for (int i = 0; i < n; i++) {
        char what[SCHED_WHAT_LEN];
        snprintf(what, sizeof what, "director waits for %s of %s",
                 unloads[i] ? "unload" : "load", C.mods[mods[i]].spec->name);
        sched_block_begin(what, (uint64_t)(uintptr_t)&a[i], 0);
        real_join(a[i].thread, NULL);
        sched_block_end("director goes on");
    }
}

typedef struct worker {
    pthread_t thread;
    int ticket;
    unsigned id;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    thread_begin(w->ticket);
    /* --calls calls per worker between two lifecycle steps (a load or
     * unload entry starting or returning), so that calls meet every one */
    unsigned calls = 0, k = w->id, epoch = atomic_load(&C.epoch);
    while (!atomic_load(&C.stop_workers)) {
        unsigned now = atomic_load(&C.epoch);
        if (now != epoch) {
            epoch = now;
            calls = 0;
        }
        int done = 0;
        for (int j = 0; j < C.o->nmods && !done && calls < C.o->calls; j++) {
            rmod *r = &C.mods[(k + (unsigned)j) % (unsigned)C.o->nmods];
            nmr_module_exercise_fn *ex = atomic_load(&r->exercise);
            if (ex == NULL)
                continue;
            atomic_fetch_add(&r->inflight, 1);
            if (atomic_load(&r->live)) {
                point("exercise %s (worker %u)", r->spec->name, w->id);
                ex(w->id);
                calls++;
                done = 1;
            }
            atomic_fetch_sub(&r->inflight, 1);
        }
        k++;
        if (!done)
            sched_point("worker idle", SCHED_YIELD);
    }
    sched_wake((uint64_t)(uintptr_t)w);
    thread_end();
    return NULL;
}

typedef struct director {
    pthread_t thread;
    int ticket;
} director;

static void *director_main(void *arg)
{
    director *d = arg;
    const plan *p = &C.plan;
    int n = C.o->nmods;
    thread_begin(d->ticket);

    worker w[CHK_MAX_WORKERS];
    for (unsigned i = 0; i < C.o->workers; i++) {
        char name[SCHED_NAME_LEN];
        snprintf(name, sizeof name, "worker%u", i);
        w[i].id = i;
        w[i].ticket = sched_thread_reserve(name);
        if (real_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "nmrcheck: cannot create a thread\n");
            _exit(CHK_EXIT_SETUP);
        }
    }
    if (p->alloc_fail > 0 && !p->alloc_after)
        atomic_store(&C.alloc_arm, p->alloc_fail);

    int mods[CHK_MAX_MODULES], flags[CHK_MAX_MODULES];
    switch (p->mode) {
    case PLAN_SEQUENTIAL:
    case PLAN_RELOAD:
    case PLAN_UNLOAD_AT_ONCE:
        for (int i = 0; i < n; i++)
            do_load(p->load[i]);
        break;
    case PLAN_LOAD_AT_ONCE:
        for (int i = 0; i < n; i++) {
            mods[i] = p->load[i];
            flags[i] = 0;
        }
        at_once(mods, flags, n);
        break;
    case PLAN_RACE:
        for (int i = 0; i < n - 1; i++)
            do_load(p->load[i]);
        mods[0] = p->leaving;
        flags[0] = 1;
        mods[1] = p->late;
        flags[1] = 0;
        at_once(mods, flags, 2);
        break;
    case PLAN_MODES:
        break;
    }
    if (p->alloc_fail > 0 && p->alloc_after) {
        /* what runs from here (calls in flight, a reload, the unloads and
         * their cleanups) meets the failure */
        point("allocation %ld from here fails", p->alloc_fail);
        nmr_check_alloc_fail_at(p->alloc_fail);
        nmr_km_pool_fail_at(p->alloc_fail);
    }
    if (p->mode == PLAN_RELOAD) {
        do_unload(p->reload);
        do_load(p->reload);
    }
    if (p->mode == PLAN_UNLOAD_AT_ONCE) {
        for (int i = 0; i < n; i++) {
            mods[i] = p->unload[i];
            flags[i] = 1;
        }
        at_once(mods, flags, n);
    } else {
        for (int i = 0; i < n; i++)
            do_unload(p->unload[i]);
    }

    nmr_check_alloc_fail_at(0);
    nmr_km_pool_fail_at(0);
    atomic_store(&C.stop_workers, 1);
    for (unsigned i = 0; i < C.o->workers; i++) {
        sched_block_begin("director waits for a worker", (uint64_t)(uintptr_t)&w[i], 0);
        real_join(w[i].thread, NULL);
        sched_block_end("director goes on");
    }
    sched_wake((uint64_t)(uintptr_t)d);
    thread_end();
    return NULL;
}

static void describe_plan(const plan *p, char *buf, size_t size)
{
    buf[0] = '\0';
    int n = C.o->nmods;
    appendf(buf, size, "%s; load", mode_name(p->mode));
    for (int i = 0; i < n; i++)
        appendf(buf, size, " %s", C.mods[p->load[i]].spec->name);
    if (p->mode == PLAN_RELOAD)
        appendf(buf, size, "; reload %s", C.mods[p->reload].spec->name);
    if (p->mode == PLAN_RACE)
        appendf(buf, size, " (%s while %s unloads)", C.mods[p->late].spec->name,
                C.mods[p->leaving].spec->name);
    appendf(buf, size, "; unload");
    for (int i = 0; i < n; i++)
        appendf(buf, size, " %s", C.mods[p->unload[i]].spec->name);
    static const char *const timing[CHK_DT_MODES] = {
        "", "; pending detaches: calls first", "; pending detaches: complete as it returns",
        "; pending detaches: complete late"};
    appendf(buf, size, "%s", timing[p->detach]);
    if (p->alloc_fail > 0 && p->alloc_after)
        appendf(buf, size, "; allocation %ld after the loads fails", p->alloc_fail);
    else if (p->alloc_fail > 0)
        appendf(buf, size, "; allocation %ld in the load of %s fails", p->alloc_fail,
                C.mods[p->alloc_entry].spec->name);
}

/* One schedule, start to end, in this process. */
static void run_one(uint64_t seed)
{
    const chk_options *o = C.o;
    C.seed = seed;
    make_plan(o, seed, &C.plan);
    C.slot->seed = seed;
    describe_plan(&C.plan, C.slot->plan, sizeof C.slot->plan);
    atomic_store(&C.stop_workers, 0);
    atomic_store(&C.alloc_arm, 0);
    pthread_mutex_lock(&C.regs_lock);
    C.nregs = 0;
    pthread_mutex_unlock(&C.regs_lock);
    pthread_mutex_lock(&C.det_lock);
    C.ndet = 0;
    pthread_mutex_unlock(&C.det_lock);
    pthread_mutex_lock(&C.watchdog_lock);
    C.watchdog[0] = '\0';
    pthread_mutex_unlock(&C.watchdog_lock);
    for (int i = 0; i < o->nmods; i++) {
        atomic_store(&C.mods[i].live, 0);
        atomic_store(&C.mods[i].exercise, NULL);
        atomic_store(&C.mods[i].unload_returned, 0);
    }

    sched_config sc = {
        .seed = C.plan.sched_seed,
        .depth = o->depth,
        .expected_steps = o->steps,
        .stall_ms = o->stall_ms,
        .hang_ms = o->hang_ms,
        .max_steps = CHK_MAX_STEPS,
        .log = &C.slot->log,
        .on_hang = on_hang,
        .ctx = NULL,
    };
    if (sched_start(&sc) != 0) {
        fprintf(stderr, "nmrcheck: the scheduler is still busy\n");
        _exit(CHK_EXIT_SETUP);
    }
    director d;
    d.ticket = sched_thread_reserve("director");
    if (real_create(&d.thread, NULL, director_main, &d) != 0) {
        fprintf(stderr, "nmrcheck: cannot create a thread\n");
        _exit(CHK_EXIT_SETUP);
    }
    real_join(d.thread, NULL);
    sched_stats st;
    sched_stop(&st);
    C.slot->fallbacks = st.fallbacks;
    host_clear_history();
}

_Noreturn void chk_child_main(const chk_options *o, chk_shared *sh, chk_slot *slot,
                              double deadline_s)
{
    C.o = o;
    C.sh = sh;
    C.slot = slot;
    for (int i = 0; i < o->nmods; i++)
        C.mods[i].spec = &o->mods[i];
    slot->log.capacity = CHK_LOG_STEPS;

    host_config hc = {
        .unload_warn_ms = 0,
        .unload_timeout_ms = 0,
        .module_path = o->module_path,
        .quiet_modules = 1,
        .unload_inline = 1,
        .on_entry = on_entry,
    };
    host_init(&hc);
    nmr_diag_set_hook(diag_hook, NULL, NULL);
    nmr_diag_set_strict(0);
    nmr_wait_set_warn_ms(o->hang_ms / 2 > 0 ? o->hang_ms / 2 : 1);
    nmr_trace_set_hook(trace_hook, NULL, NULL);
    nmr_check_set_yield_hook(yield_hook, NULL);
    nmr_check_set_sched_hooks(&sched_hooks);
    install_crash_handler();
    pthread_once(&own_once, own_init);

    for (;;) {
        if (atomic_load(&sh->stop))
            break;
        uint64_t i;
        if (o->replay) {
            i = atomic_fetch_add(&sh->next, 1);
            if (i >= 1)
                break;
            run_one(o->replay_seed);
        } else {
            i = atomic_fetch_add(&sh->next, 1);
            if (o->schedules != 0 && i >= o->schedules)
                break;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            if (deadline_s > 0 && (double)ts.tv_sec + ts.tv_nsec / 1e9 >= deadline_s)
                break;
            slot->schedule = i;
            run_one(chk_schedule_seed(o->seed, i));
        }
        slot->beat++;
        atomic_fetch_add(&sh->done, 1);
    }
    nmr_check_set_sched_hooks(NULL);
    nmr_check_set_yield_hook(NULL, NULL);
    nmr_trace_set_hook(NULL, NULL, NULL);
    fflush(NULL);
    _exit(CHK_EXIT_DONE);
}
