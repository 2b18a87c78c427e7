/* SPDX-License-Identifier: MIT */
/*
 * km.c - the kernel-mode layer's start (turns the verifier on when
 * libnmr-km is loaded) and what its files share: the raise records of a
 * thread, its owner token, the blocking function, the attribution of code
 * to objects and the counts of threads and work items per object.
 */
#define _GNU_SOURCE /* dladdr */
#include "km/internal.h"

#include <dlfcn.h>
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int km_enabled;

__attribute__((constructor)) static void km_start(void)
{
    nmr__verify_enable();
    __atomic_store_n(&km_enabled, 1, __ATOMIC_RELAXED);
}

/* ---- owner token ---------------------------------------------------------
 * The address of a thread-local word: unique among live threads, aligned
 * to 8, so a lock word can hold it with a small count in the low bits. */
static _Thread_local uint64_t km_self;

uintptr_t km_token(void)
{
    return (uintptr_t)&km_self;
}

/* ---- IRQL checks and raise records -------------------------------------- */
int km_check_min(const char *fn, unsigned min, const void *site)
{
    if (!km_on() || km_irql() >= min)
        return 0;
    nmr__verify_report(NMR_MISUSE_VERIFIER, site, "%s called at %s, below the %s it requires",
                       fn, nmr__irql_name(km_irql()), nmr__irql_name(min));
    return 1;
}

void km_push(const void *lock, const char *how, const void *site, unsigned to)
{
    nmr_vthread *v = nmr__vthread();
    if (v->nraise < NMR_VRAISE_MAX) {
        nmr_vraise *r = &v->raise[v->nraise];
        r->lock = lock;
        r->how = how;
        r->site = site;
        r->from = v->irql;
        r->to = (unsigned char)to;
    }
    v->nraise++;
    v->irql = (unsigned char)to;
}

static int km_find_index(const nmr_vthread *v, const void *lock)
{
    unsigned top = v->nraise < NMR_VRAISE_MAX ? v->nraise : NMR_VRAISE_MAX;
    for (unsigned i = top; i-- > 0;)
        if (v->raise[i].lock == lock)
            return (int)i;
    return -1;
}

const nmr_vraise *km_find(const void *lock)
{
    nmr_vthread *v = nmr__vthread();
    int i = km_find_index(v, lock);
    return i < 0 ? NULL : &v->raise[i];
}

static void km_remove(nmr_vthread *v, unsigned i)
{
    unsigned top = v->nraise < NMR_VRAISE_MAX ? v->nraise : NMR_VRAISE_MAX;
    memmove(&v->raise[i], &v->raise[i + 1], (top - i - 1) * sizeof v->raise[0]);
    v->nraise--;
}

static const char *km_lock_kind(const nmr_vraise *r)
{
    return r->lock != NULL ? "the lock" : "the raise";
}

int km_undo(const void *lock, unsigned n, const char *fn, const void *site)
{
    nmr_vthread *v = nmr__vthread();
    unsigned cur = v->irql;
    int i = km_find_index(v, lock);
    if (i < 0) {
        /* Beyond the records kept (more than NMR_VRAISE_MAX nested). */
        if (v->nraise > NMR_VRAISE_MAX) {
            v->nraise--;
            v->irql = (unsigned char)n;
            return 0;
        }
        return -1;
    }
    unsigned top = v->nraise <= NMR_VRAISE_MAX ? v->nraise : NMR_VRAISE_MAX;
    nmr_vraise r = v->raise[i];
    char at[160];
    if ((unsigned)i == top - 1 && v->nraise <= NMR_VRAISE_MAX) {
        /* The innermost: back to where it came from. */
        km_remove(v, (unsigned)i);
        if (n < r.from) {
            if (km_on())
                nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                                   "%s lowers the IRQL to %s, below %s, the IRQL %s "
                                   "(by %s at %s) raised it from",
                                   fn, nmr__irql_name(n), nmr__irql_name(r.from),
                                   km_lock_kind(&r), r.how,
                                   nmr__describe_code(r.site, at, sizeof at));
            v->irql = (unsigned char)n; /* as Windows would */
        } else if (n > r.from) {
            /* Left higher than it came from: keep it as a raise, so a
             * later KeLowerIrql finds it. */
            v->irql = r.from;
            km_push(NULL, fn, site, n);
        } else {
            v->irql = (unsigned char)n;
        }
        return 0;
    }
    /* Undone out of order: what was taken after it still holds the IRQL
     * at the current level, and the next record now comes from where
     * this one came from (so releasing it restores the right IRQL). */
    if (n < cur) {
        const nmr_vraise *t = &v->raise[top - 1];
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "%s lowers the IRQL to %s while %s %p taken later "
                               "(by %s at %s) still needs %s",
                               fn, nmr__irql_name(n), t->lock != NULL ? "lock" : "raise",
                               t->lock, t->how, nmr__describe_code(t->site, at, sizeof at),
                               nmr__irql_name(cur));
        /* Go on as Windows would: at n, the later lock still held. */
    }
    v->raise[i + 1].from = r.from;
    km_remove(v, (unsigned)i);
    v->irql = (unsigned char)n;
    return 0;
}

/* ---- the blocking function ------------------------------------------------ */
int nmr_km__block(volatile void *word, uint32_t expected, const struct timespec *deadline,
                  int realtime)
{
    int op = FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG | (realtime ? FUTEX_CLOCK_REALTIME : 0);
    long rc = syscall(SYS_futex, word, op, expected, deadline, NULL, FUTEX_BITSET_MATCH_ANY);
    if (rc == -1 && errno == ETIMEDOUT)
        return ETIMEDOUT;
    return 0;
}

void km_wake(volatile void *word, int count)
{
    syscall(SYS_futex, word, FUTEX_WAKE | FUTEX_PRIVATE_FLAG, count, NULL, NULL, 0);
}

/* ---- attribution ------------------------------------------------------------ */
const void *km_object_base(const void *code)
{
    Dl_info info;
    if (code != NULL && dladdr(code, &info) != 0)
        return info.dli_fbase;
    return NULL;
}

char *km_code_name(const void *code, char *buf, size_t size)
{
    const void *base = km_object_base(code);
    if (base != NULL && km_driver_name(base, buf, size) != NULL)
        return buf;
    Dl_info info;
    if (code != NULL && dladdr(code, &info) != 0 && info.dli_fname != NULL &&
        info.dli_fname[0] != '\0') {
        const char *name = strrchr(info.dli_fname, '/');
        snprintf(buf, size, "%s", name != NULL ? name + 1 : info.dli_fname);
    } else {
        snprintf(buf, size, "(main program)");
    }
    return buf;
}

/* ---- threads and work items per object -------------------------------------
 * A small table, searched linearly: a process hosts a handful of drivers. */
typedef struct km_counts {
    const void *base;
    unsigned n[2];
} km_counts;

static pthread_mutex_t km_counts_lock = PTHREAD_MUTEX_INITIALIZER;
static km_counts *km_counts_tab;
static size_t km_counts_len, km_counts_cap;

void km_count(const void *base, int which, int delta)
{
    pthread_mutex_lock(&km_counts_lock);
    km_counts *c = NULL;
    for (size_t i = 0; i < km_counts_len; i++)
        if (km_counts_tab[i].base == base)
            c = &km_counts_tab[i];
    if (c == NULL) {
        if (km_counts_len == km_counts_cap) {
            size_t cap = km_counts_cap ? km_counts_cap * 2 : 16;
            km_counts *t = realloc(km_counts_tab, cap * sizeof *t);
            if (t == NULL) {
                pthread_mutex_unlock(&km_counts_lock);
                return; /* the count is lost: residue may say less */
            }
            km_counts_tab = t;
            km_counts_cap = cap;
        }
        c = &km_counts_tab[km_counts_len++];
        c->base = base;
        c->n[0] = c->n[1] = 0;
    }
    c->n[which] = (unsigned)((int)c->n[which] + delta);
    pthread_mutex_unlock(&km_counts_lock);
}

unsigned km_count_get(const void *base, int which)
{
    unsigned n = 0;
    pthread_mutex_lock(&km_counts_lock);
    for (size_t i = 0; i < km_counts_len; i++)
        if (km_counts_tab[i].base == base)
            n = km_counts_tab[i].n[which];
    pthread_mutex_unlock(&km_counts_lock);
    return n;
}
