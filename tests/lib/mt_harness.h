/* SPDX-License-Identifier: MIT */
/*
 * mt_harness.h - shared machinery of the threaded tests (tests/test_mt_*.c).
 *
 * Declarations here, the code in tests/lib/mt_harness.c (one copy per
 * program, in nmr_testlib); a few tiny helpers (thread id, clock, random
 * numbers, spins) stay inline.  The including file must define
 * _POSIX_C_SOURCE 200809L before any #include (pthread barriers, nanosleep,
 * clock_gettime).
 *
 * What it gives:
 *   - instrumented modules (mt_mod): a client or provider registration whose
 *     six callbacks check, on every call, the invariants of R10, R13,
 *     R16, R18, R23 and R24, and record what happened;
 *   - bindings as seen by the test (mt_rec), one per offer that got as far
 *     as a binding context, kept alive until the end of a case so that a
 *     late, buggy callback reads valid memory and is reported;
 *   - a completion queue served by "completer" threads that call
 *     Nmr*DetachComplete at random moments (R14, R15);
 *   - teams of worker threads that start each iteration on a barrier;
 *   - iteration counts and time budgets: NMR_TEST_ITERS=<n> runs exactly n
 *     iterations per case (no time budget); otherwise each case runs its
 *     default count (half of it under ThreadSanitizer), cut short by a
 *     time budget (NMR_TEST_BUDGET_MS, default 1500 plain, 8000 TSan);
 *   - NMR_TEST_SEED=<n> replays a random seed (printed at start);
 *   - NMR_TEST_ONLY=<text> runs only the iteration loops of the cases whose
 *     name contains <text> (the others run zero iterations).
 *
 * A failed invariant prints file, line, the case (runner.h), the rule and
 * the seed, and ends the case's process with status 1 at once (from
 * whatever thread saw it).  A watchdog ends the case's process with status 2
 * once it has run NMR_TEST_WATCHDOG_S seconds (default 150; the runner's
 * limit is 280, ctest's 300) and names the case it was in, so a deadlock
 * shows where it hung.  In the churn cases, which have no
 * iterations, NMR_TEST_ITERS counts operations per thread (test_mt_churn)
 * or bad-handle calls (test_mt_stale).
 */
#ifndef NMR_TEST_MT_HARNESS_H
#define NMR_TEST_MT_HARNESS_H

#if !defined(_POSIX_C_SOURCE) || _POSIX_C_SOURCE < 200809L
#error "define _POSIX_C_SOURCE 200809L before any #include"
#endif

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <netioddk.h>
#include <nmr/diag.h>

#include "check.h"

#if defined(__SANITIZE_THREAD__)
#define MT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MT_TSAN 1
#endif
#endif
#ifndef MT_TSAN
#define MT_TSAN 0
#endif

#define MT_CLIENT 0
#define MT_PROVIDER 1

/* ---- failure reporting --------------------------------------------------- */

extern _Atomic(const char *) mt_case_name;
extern unsigned long long mt_seed;

void mt_fail_(const char *file, int line, const char *expr,
              const char *msg) __attribute__((noreturn));

/* msg is a string literal naming the rule: "R23: ..." */
#define MT_CHECK(cond, msg)                                                \
    do {                                                                   \
        if (!(cond))                                                       \
            mt_fail_(__FILE__, __LINE__, #cond, msg);                      \
    } while (0)

#define MT_CHECK_STATUS(got, want, msg)                                    \
    do {                                                                   \
        NTSTATUS g_ = (got), w_ = (want);                                  \
        if (g_ != w_) {                                                    \
            fprintf(stderr, "%s:%d: status 0x%08x, want 0x%08x\n",         \
                    __FILE__, __LINE__, (unsigned)g_, (unsigned)w_);       \
            mt_fail_(__FILE__, __LINE__, #got " == " #want, msg);          \
        }                                                                  \
    } while (0)

/* ---- threads, time, randomness ------------------------------------------ */

extern atomic_int mt_next_tid;
extern _Thread_local int mt_tl_tid;

/* A small positive id for the calling thread (0 is never an id). */
static inline int mt_tid(void)
{
    if (mt_tl_tid == 0)
        mt_tl_tid = atomic_fetch_add(&mt_next_tid, 1);
    return mt_tl_tid;
}

static inline double mt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline void mt_sleep_us(long us)
{
    struct timespec ts;
    ts.tv_sec = us / 1000000;
    ts.tv_nsec = (us % 1000000) * 1000;
    nanosleep(&ts, NULL);
}

extern _Thread_local uint64_t mt_rng;

static inline uint32_t mt_rand(void)
{
    if (mt_rng == 0)
        mt_rng = (mt_seed ^ (0x9E3779B97F4A7C15ull * (uint64_t)mt_tid())) | 1;
    mt_rng ^= mt_rng >> 12;
    mt_rng ^= mt_rng << 25;
    mt_rng ^= mt_rng >> 27;
    return (uint32_t)((mt_rng * 0x2545F4914F6CDD1Dull) >> 32);
}

/* 1 with probability pct percent. */
static inline int mt_chance(int pct) { return (int)(mt_rand() % 100u) < pct; }

/* A short random delay to shake interleavings after a barrier. */
static inline void mt_jitter(unsigned max_spins)
{
    unsigned n = mt_rand() % (max_spins + 1u);
    if (mt_chance(15))
        sched_yield();
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

/* A short random spin, no yield: keeps two barrier-released threads close. */
static inline void mt_spin(unsigned max_spins)
{
    unsigned n = mt_rand() % (max_spins + 1u);
    for (volatile unsigned i = 0; i < n; i++) {
    }
}

/* A random pause: nothing, a spin, a yield or a sleep up to max_us. */
void mt_random_pause(long max_us);

static inline double mt_wait_timeout_s(void) { return MT_TSAN ? 60.0 : 20.0; }

/* Wait until *flag >= want; fail with msg if it takes longer than the
 * timeout (a timeout here means the rule in msg was broken: something
 * blocked that must not, or never happened). */
#define MT_AWAIT(flag, want, msg)                                          \
    do {                                                                   \
        double d_ = mt_now() + mt_wait_timeout_s();                        \
        unsigned s_ = 0;                                                   \
        while (atomic_load(flag) < (want)) {                               \
            if (++s_ < 200)                                                \
                sched_yield();                                             \
            else                                                           \
                mt_sleep_us(50);                                           \
            if (mt_now() > d_)                                             \
                mt_fail_(__FILE__, __LINE__, #flag " >= " #want, msg);     \
        }                                                                  \
    } while (0)

/* ---- configuration ------------------------------------------------------ */

long mt_env_long(const char *name, long dflt);

extern atomic_long mt_seq_clock;
/* A global logical clock: seq_cst, so it orders events across threads. */
static inline long mt_seq(void) { return atomic_fetch_add(&mt_seq_clock, 1); }

typedef struct mt_loop {
    const char *name;
    long max, i, min;
    double t0, budget;
} mt_loop;

/* One case's iteration loop: for (mt_loop_init(&l, "x", 3000); mt_loop_next(&l);) */
void mt_loop_init(mt_loop *l, const char *name, long plain_iters);

int mt_loop_next(mt_loop *l);

/* ---- the misuse channel (R30) -------------------------------------------- */

extern atomic_long mt_misuse_total;
extern _Thread_local long mt_tl_misuse;
extern _Thread_local int mt_tl_misuse_kind;
extern atomic_int mt_misuse_quiet;

void mt_misuse_hook(void *ctx, nmr_misuse_kind kind, const char *msg);

/* ---- every NMR call goes through these: R24 ------------------------------ */

/* Depth of NMR calls on this thread's stack.  The NMR creates no threads
 * (R24), so every callback must find it > 0. */
extern _Thread_local int mt_in_nmr;

NTSTATUS mt_RegisterClient(PNPI_CLIENT_CHARACTERISTICS ch, PVOID ctx,
                           HANDLE *h);
NTSTATUS mt_RegisterProvider(PNPI_PROVIDER_CHARACTERISTICS ch, PVOID ctx,
                             HANDLE *h);
NTSTATUS mt_DeregisterClient(HANDLE h);
NTSTATUS mt_DeregisterProvider(HANDLE h);
NTSTATUS mt_WaitClient(HANDLE h);
NTSTATUS mt_WaitProvider(HANDLE h);
NTSTATUS mt_ClientAttachProvider(HANDLE bh, PVOID cbc, const void *cd,
                                 PVOID *pbc, const void **pd);
void mt_ClientDetachComplete(HANDLE bh);
void mt_ProviderDetachComplete(HANDLE bh);

/* ---- instrumented modules and bindings ------------------------------------ */

#define MT_MOD_MAGIC 0x6d6f6475u
#define MT_REC_MAGIC 0x72656362u

/* Client attach behaviour. */
enum {
    MT_ATT_ACCEPT = 0,       /* NmrClientAttachProvider, SUCCESS if it succeeded */
    MT_ATT_DECLINE_EARLY,    /* STATUS_NOINTERFACE without attaching */
    MT_ATT_FAIL_AFTER,       /* attach, then STATUS_NOINTERFACE (R10) */
    MT_ATT_RANDOM
};
/* Provider attach behaviour. */
enum { MT_PATT_ACCEPT = 0, MT_PATT_DECLINE, MT_PATT_RANDOM };
/* Detach behaviour (either side). */
enum {
    MT_DET_SUCCESS = 0,   /* half complete on return */
    MT_DET_INSIDE,        /* complete from inside the callback, return PENDING */
    MT_DET_QUEUE,         /* return PENDING, a completer thread completes */
    MT_DET_CUSTOM,        /* the module's hooks->detach decides */
    MT_DET_RANDOM         /* one of the first three (QUEUE only if completers run) */
};

typedef struct mt_mod mt_mod;
typedef struct mt_rec mt_rec;

typedef struct mt_hooks {
    /* In ClientAttachProvider before NmrClientAttachProvider (r is the new
     * binding record). */
    void (*attach_before)(mt_rec *r);
    /* In ClientAttachProvider after NmrClientAttachProvider returned st. */
    void (*attach_after)(mt_rec *r, NTSTATUS st);
    /* MT_DET_CUSTOM: return STATUS_SUCCESS, or call mt_mark_pending(r, side)
     * and return STATUS_PENDING having arranged an mt_complete(r, side). */
    NTSTATUS (*detach)(mt_rec *r, int side);
    /* Called inside the module's cleanup callback, after its checks. */
    void (*cleanup)(mt_rec *r, int side);
} mt_hooks;

struct mt_mod {
    uint32_t magic;
    int id, side, npi_idx;
    NPIID npi;           /* the module's own copy: matching is by value (R4) */
    NPI_MODULEID modid;
    NPI_CLIENT_CHARACTERISTICS cch;
    NPI_PROVIDER_CHARACTERISTICS pch;
    HANDLE h;            /* written by NmrRegister* */
    int att_mode, det_mode;
    const mt_hooks *hooks;
    void *user;
    atomic_int active;   /* callbacks into this module running now */
    atomic_int unloaded; /* set right after its wait returned (R18) */
    atomic_int live;     /* accepted bindings whose cleanup (this side) is due */
    atomic_int registered, deregistered, waited;
    atomic_int dereg_claimed; /* someone called (or is calling) NmrDeregister* */
    atomic_int reg_tid;  /* thread that called NmrRegister* */
    _Atomic(mt_rec *) recs; /* client: binding records of its offers */
    atomic_int n_offers; /* client: ClientAttachProvider calls; provider: ProviderAttachClient calls */
    atomic_long seq_reg_start, seq_reg_end, seq_dereg_start, seq_dereg_end;
    pthread_mutex_t mu;  /* protects offered[] */
    int *offered;        /* client: ids of providers offered so far */
    int n_offered, cap_offered;
    mt_mod *next_all;
};

struct mt_rec {
    uint32_t magic;
    mt_mod *c, *p;
    HANDLE bh;            /* from ClientAttachProvider */
    HANDLE bh_p;          /* from ProviderAttachClient */
    atomic_int depth;     /* callbacks of this binding running (R23) */
    atomic_int owner;     /* tid running the outermost one, 0 if none */
    atomic_int offer_returned;
    atomic_int prov_accepted;
    atomic_int attached;
    atomic_int n_pattach;
    atomic_int n_detach[2], n_cleanup[2], n_cleanups;
    atomic_int pending[2], done[2], det_returned[2];
    atomic_int det_tid[2], comp_tid[2], cleanup_tid[2];
    void *user;
    mt_rec *next_all;
    mt_rec *next_of_c;
};

/* Percentage of callbacks (client attach, either detach) that deregister
 * their own registration from inside the callback (R22).  0 by default. */
extern atomic_int mt_nested_dereg_pct;
extern atomic_long mt_nested_deregs; /* how many happened inside callbacks */

extern const int mt_client_dispatch;
extern const int mt_provider_dispatch;

extern _Atomic(mt_mod *) mt_all_mods;
extern _Atomic(mt_rec *) mt_all_recs;
extern atomic_int mt_next_mod_id;
extern atomic_long mt_total_offers, mt_total_bindings, mt_total_cleanups;
extern atomic_int mt_r8_recheck; /* re-call NmrClientAttachProvider after success sometimes */

void mt_npi_of(int idx, NPIID *out);

mt_mod *mt_mod_from_inst(PNPI_REGISTRATION_INSTANCE inst, int side);

/* Callback entry and exit for the module the callback belongs to. */
void mt_mod_enter(mt_mod *m);
void mt_mod_exit(mt_mod *m);

/* R23: callbacks of one binding never overlap on two threads.  Only the
 * provider's attach may nest, on the same thread, inside the client's. */
void mt_rec_enter(mt_rec *r, int nested);
void mt_rec_exit(mt_rec *r, int nested);

void mt_push_rec(mt_rec *r);

void mt_push_mod(mt_mod *m);

/* ---- completion queue and completer threads ------------------------------ */

typedef struct mt_job {
    mt_rec *r;
    int side;
    struct mt_job *next;
} mt_job;


void mt_mark_pending(mt_rec *r, int side);

/* Complete a pending half (R14): from any thread, exactly once. */
void mt_complete(mt_rec *r, int side);

void mt_cq_push(mt_rec *r, int side);

void *mt_completer_main(void *arg);

void mt_cq_start(int n, long max_delay_us);

void mt_cq_stop(void);

/* ---- the six callbacks ---------------------------------------------------- */

void mt_note_offer(mt_mod *c, mt_mod *p);

NTSTATUS mt_ClientAttachProvider_cb(HANDLE bh, PVOID ctx,
                                    PNPI_REGISTRATION_INSTANCE pinst);

NTSTATUS mt_ProviderAttachClient_cb(HANDLE bh, PVOID ctx,
                                    PNPI_REGISTRATION_INSTANCE cinst,
                                    PVOID cbc, const void *cd, PVOID *pbc,
                                    const void **pd);

int mt_pick_det_mode(int mode);

NTSTATUS mt_detach_common(mt_rec *r, int side);

NTSTATUS mt_ClientDetachProvider_cb(PVOID cbc);
NTSTATUS mt_ProviderDetachClient_cb(PVOID pbc);

/* Is tid one of the threads that could have completed half `side`? */
int mt_half_thread(mt_rec *r, int side, int tid);

void mt_cleanup_common(mt_rec *r, int side);

void mt_ClientCleanup_cb(PVOID cbc);
void mt_ProviderCleanup_cb(PVOID pbc);

/* ---- module life ---------------------------------------------------------- */

mt_mod *mt_mod_new(int side, int npi_idx, int att_mode, int det_mode);

void mt_register(mt_mod *m);

void mt_deregister(mt_mod *m);

/* Deregister unless someone (a callback, R22) already did. */
int mt_try_deregister(mt_mod *m);

/* Wait, then "unload" the module: from here on any callback into it fails
 * the test (R18). */
void mt_wait(mt_mod *m);

/* ---- verification --------------------------------------------------------- */

/* Every binding record, once every registration involved has been waited
 * for: each detach exactly once, cleanups exactly once (R10, R13, R16, R18). */
void mt_verify_recs(void);

/* R5/R6/R12 by logical time: a pair whose registrations were both complete
 * before either started deregistering was offered exactly once; a pair where
 * one registered only after the other's deregistration returned was never
 * offered.  A sweep over the intervals [end of register, start of
 * deregister) of each NPI finds the overlapping pairs. */
typedef struct {
    mt_mod *m;
    long start, end;
} mt_ival_;

int mt_ival_cmp_(const void *a, const void *b);

int mt_offered_count_(mt_mod *c, int pid);

void mt_verify_pairs(void);

/* Free everything the case created.  Only when every registration has been
 * waited for. */
void mt_reset(void);

/* ---- teams: worker threads that start every iteration on a barrier -------- */

typedef struct mt_team mt_team;
typedef void mt_role_fn(mt_team *t, int worker);

struct mt_team {
    int n;
    pthread_barrier_t start, end;
    atomic_int stop;
    mt_role_fn *role;
    void *arg;
    pthread_t th[16];
    int w[16];
};

typedef struct {
    mt_team *t;
    int w;
} mt_team_arg_;


void *mt_team_main_(void *a);

void mt_team_start(mt_team *t, int n, mt_role_fn *role, void *arg);

/* Run one iteration: release the workers, then wait until all are done. */
void mt_team_iter(mt_team *t);

void mt_team_stop(mt_team *t);

/* A spinning barrier: the threads leave it within a few nanoseconds of each
 * other (a pthread barrier wakes sleepers one by one, microseconds apart,
 * which is longer than a whole registration).  Falls back to yielding when
 * there are more spinning threads than cores. */
typedef struct mt_sbar {
    atomic_int count, gen;
    int n;
} mt_sbar;

void mt_sbar_init(mt_sbar *b, int n);

void mt_sbar_wait(mt_sbar *b);

/* ---- program start -------------------------------------------------------- */

void *mt_watchdog_main(void *arg);

void mt_init(const char *prog);

#endif
