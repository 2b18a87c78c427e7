/* SPDX-License-Identifier: MIT */
/*
 * interpose.c - a module's own synchronisation, as the scheduler sees it.
 *
 * nmrcheck's executable defines the POSIX functions a module synchronises
 * and waits with (the executable exports them, so a module's calls bind
 * here first): mutexes, read-write locks, condition variables,
 * semaphores, sleeps, sched_yield.  A call made by a module's code (its
 * return address lies in a loaded module) on a thread the scheduler
 * controls becomes a switch point, and a wait becomes a block the
 * scheduler keeps (sched_block_on): a lock is taken with its trylock, and
 * when it is held the thread gives up the turn until the holder drops it.
 * So a module's own locks never stall a run, a deadlock among them is a
 * hang with the lock named, and a run that takes them replays exactly.
 * Every other call (libnmr, libnmr-km, nmrcheck itself, the C library, a
 * thread the scheduler does not control) goes to the next definition
 * (the C library's, or a sanitizer's) untouched.
 *
 * Time inside a run is logical: a sleep or a timed wait is a yield (the
 * other threads go first), not a wait on the clock; a timed wait that was
 * not woken reports its timeout once the clock has passed it, and until
 * then it returns as a spurious wakeup would, which POSIX allows.
 */
#define _GNU_SOURCE
#include "nmrcheck.h"

#include "sched.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- which code is a module's ------------------------------------------- */
/* Each range is read on every interposed call, from any thread, while a
 * load or an unload sets it: a sequence count makes a reader see one range
 * whole (a reader that took the old hi with the new lo of a clear would
 * see [0, old hi): nmrcheck's own code, its scheduler's semaphores
 * included, taken for a module's). */
static struct {
    atomic_uint seq;               /* odd while the range is written */
    _Atomic uintptr_t lo, hi;
} ranges[CHK_MAX_MODULES];

typedef struct range_find {
    uintptr_t base, lo, hi;
} range_find;

static int range_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    range_find *f = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = (uintptr_t)info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    long page = sysconf(_SC_PAGESIZE);
    uintptr_t start = lo & ~((uintptr_t)(page > 0 ? page : 4096) - 1);
    if (lo < hi && f->base >= start && f->base < hi) {
        f->lo = start;
        f->hi = hi;
        return 1;
    }
    return 0;
}

/* One writer per module at a time (its load, or its unload). */
void chk_code_range_set(int mod, const void *base)
{
    if (mod < 0 || mod >= CHK_MAX_MODULES)
        return;
    range_find f = {(uintptr_t)base, 0, 0};
    if (base != NULL)
        dl_iterate_phdr(range_cb, &f);
    unsigned s = atomic_load_explicit(&ranges[mod].seq, memory_order_relaxed);
    atomic_store_explicit(&ranges[mod].seq, s + 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&ranges[mod].lo, f.lo, memory_order_relaxed);
    atomic_store_explicit(&ranges[mod].hi, f.hi, memory_order_relaxed);
    atomic_store_explicit(&ranges[mod].seq, s + 2, memory_order_release);
}

int chk_module_of_code(const void *pc)
{
    uintptr_t p = (uintptr_t)pc;
    for (int i = 0; i < CHK_MAX_MODULES; i++) {
        uintptr_t lo, hi;
        unsigned s;
        do {
            s = atomic_load_explicit(&ranges[i].seq, memory_order_acquire);
            lo = atomic_load_explicit(&ranges[i].lo, memory_order_relaxed);
            hi = atomic_load_explicit(&ranges[i].hi, memory_order_relaxed);
            atomic_thread_fence(memory_order_acquire);
        } while ((s & 1u) != 0 || atomic_load_explicit(&ranges[i].seq, memory_order_relaxed) != s);
        if (p >= lo && p < hi)
            return i;
    }
    return -1;
}

/* A module's call on a controlled thread. */
static int controlled(const void *ra)
{
    return sched_self() >= 0 && chk_module_of_code(ra) >= 0;
}

static void step(const char *fn, const void *obj, int flags)
{
    char what[SCHED_WHAT_LEN];
    snprintf(what, sizeof what, "%s %p (module)", fn, obj);
    sched_point(what, flags);
}

/* A module's code released obj (unlock, post, signal): its waiters may
 * go, and a controlled thread that released it reaches a switch point
 * (point: 0 for a signal, whose waiter still needs the mutex). */
static void released(const void *ra, const char *fn, const void *obj, int point)
{
    if (chk_module_of_code(ra) < 0)
        return;
    sched_wake_waiters((uint64_t)(uintptr_t)obj);
    if (point && sched_self() >= 0)
        step(fn, obj, SCHED_QUIET);
}

static int block(const char *fn, const void *obj)
{
    char what[SCHED_WHAT_LEN];
    snprintf(what, sizeof what, "%s %p (module)", fn, obj);
    return sched_block_on(what, (uint64_t)(uintptr_t)obj);
}

/* ---- the next definitions --------------------------------------------------- */
#define NEXT_FNS(X)                                                                        \
    X(pthread_mutex_lock, int, (pthread_mutex_t *))                                        \
    X(pthread_mutex_trylock, int, (pthread_mutex_t *))                                     \
    X(pthread_mutex_timedlock, int, (pthread_mutex_t *, const struct timespec *))          \
    X(pthread_mutex_unlock, int, (pthread_mutex_t *))                                      \
    X(pthread_rwlock_rdlock, int, (pthread_rwlock_t *))                                    \
    X(pthread_rwlock_wrlock, int, (pthread_rwlock_t *))                                    \
    X(pthread_rwlock_tryrdlock, int, (pthread_rwlock_t *))                                 \
    X(pthread_rwlock_trywrlock, int, (pthread_rwlock_t *))                                 \
    X(pthread_rwlock_unlock, int, (pthread_rwlock_t *))                                    \
    X(pthread_cond_wait, int, (pthread_cond_t *, pthread_mutex_t *))                       \
    X(pthread_cond_timedwait, int,                                                         \
      (pthread_cond_t *, pthread_mutex_t *, const struct timespec *))                      \
    X(pthread_cond_signal, int, (pthread_cond_t *))                                        \
    X(pthread_cond_broadcast, int, (pthread_cond_t *))                                     \
    X(sem_wait, int, (sem_t *))                                                            \
    X(sem_timedwait, int, (sem_t *, const struct timespec *))                              \
    X(sem_trywait, int, (sem_t *))                                                         \
    X(sem_post, int, (sem_t *))                                                            \
    X(nanosleep, int, (const struct timespec *, struct timespec *))                        \
    X(clock_nanosleep, int, (clockid_t, int, const struct timespec *, struct timespec *))  \
    X(usleep, int, (useconds_t))                                                           \
    X(sleep, unsigned, (unsigned))                                                         \
    X(sched_yield, int, (void))

#define DECLARE_NEXT(name, ret, args)                                                      \
    typedef ret name##_fn args;                                                            \
    static name##_fn *_Atomic next_##name;
NEXT_FNS(DECLARE_NEXT)

static void *find_next(const char *name)
{
    void *p = NULL;
#if defined(__x86_64__)
    /* the condition variables of x86-64 glibc carry two versions; the
     * one programs link against today is GLIBC_2.3.2 */
    if (strncmp(name, "pthread_cond_", 13) == 0)
        p = dlvsym(RTLD_NEXT, name, "GLIBC_2.3.2");
#endif
    if (p == NULL)
        p = dlsym(RTLD_NEXT, name);
    if (p == NULL) {
        static const char msg[] = "nmrcheck: the C library lacks a function it interposes\n";
        (void)!write(2, msg, sizeof msg - 1);
        _exit(CHK_EXIT_SETUP);
    }
    return p;
}

#define NEXT(name)                                                                         \
    (atomic_load_explicit(&next_##name, memory_order_relaxed) != NULL                      \
         ? atomic_load_explicit(&next_##name, memory_order_relaxed)                        \
         : (atomic_store(&next_##name, (name##_fn *)find_next(#name)), next_##name))

#define RESOLVE(name, ret, args) (void)NEXT(name);
__attribute__((constructor)) static void interpose_init(void)
{
    NEXT_FNS(RESOLVE)
}

/* ---- time --------------------------------------------------------------------- */
static int passed(clockid_t clock, const struct timespec *abstime)
{
    struct timespec now;
    clock_gettime(clock, &now);
    return now.tv_sec > abstime->tv_sec ||
           (now.tv_sec == abstime->tv_sec && now.tv_nsec >= abstime->tv_nsec);
}

/* A condition variable's clock is not known from outside: an absolute time
 * below 2^30 s (34 years) cannot be the realtime clock's, so it is read as
 * the monotonic clock's. */
static int cond_passed(const struct timespec *abstime)
{
    return passed(abstime->tv_sec < (1L << 30) ? CLOCK_MONOTONIC : CLOCK_REALTIME, abstime);
}

/* ---- mutexes ---------------------------------------------------------------------- */
static int mutex_take(pthread_mutex_t *m, const struct timespec *abstime)
{
    for (;;) {
        int rc = NEXT(pthread_mutex_trylock)(m);
        if (rc != EBUSY)
            return rc;
        if (abstime != NULL) {
            if (passed(CLOCK_REALTIME, abstime))
                return ETIMEDOUT;
            step("pthread_mutex_timedlock", m, SCHED_YIELD);
        } else {
            block("pthread_mutex_lock", m);
        }
    }
}

__attribute__((visibility("default"))) int pthread_mutex_lock(pthread_mutex_t *m)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(pthread_mutex_lock)(m);
    step("pthread_mutex_lock", m, SCHED_QUIET);
    return mutex_take(m, NULL);
}

__attribute__((visibility("default"))) int pthread_mutex_trylock(pthread_mutex_t *m)
{
    if (controlled(__builtin_return_address(0)))
        step("pthread_mutex_trylock", m, SCHED_QUIET);
    return NEXT(pthread_mutex_trylock)(m);
}

__attribute__((visibility("default"))) int pthread_mutex_timedlock(
    pthread_mutex_t *m, const struct timespec *abstime)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(pthread_mutex_timedlock)(m, abstime);
    step("pthread_mutex_timedlock", m, SCHED_QUIET);
    return mutex_take(m, abstime);
}

__attribute__((visibility("default"))) int pthread_mutex_unlock(pthread_mutex_t *m)
{
    int rc = NEXT(pthread_mutex_unlock)(m);
    released(__builtin_return_address(0), "pthread_mutex_unlock", m, 1);
    return rc;
}

/* ---- read-write locks --------------------------------------------------------------- */
static int rw_take(pthread_rwlock_t *l, int write)
{
    const char *fn = write ? "pthread_rwlock_wrlock" : "pthread_rwlock_rdlock";
    step(fn, l, SCHED_QUIET);
    for (;;) {
        int rc = write ? NEXT(pthread_rwlock_trywrlock)(l) : NEXT(pthread_rwlock_tryrdlock)(l);
        if (rc != EBUSY)
            return rc;
        block(fn, l);
    }
}

__attribute__((visibility("default"))) int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(pthread_rwlock_rdlock)(l);
    return rw_take(l, 0);
}

__attribute__((visibility("default"))) int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(pthread_rwlock_wrlock)(l);
    return rw_take(l, 1);
}

__attribute__((visibility("default"))) int pthread_rwlock_tryrdlock(pthread_rwlock_t *l)
{
    if (controlled(__builtin_return_address(0)))
        step("pthread_rwlock_tryrdlock", l, SCHED_QUIET);
    return NEXT(pthread_rwlock_tryrdlock)(l);
}

__attribute__((visibility("default"))) int pthread_rwlock_trywrlock(pthread_rwlock_t *l)
{
    if (controlled(__builtin_return_address(0)))
        step("pthread_rwlock_trywrlock", l, SCHED_QUIET);
    return NEXT(pthread_rwlock_trywrlock)(l);
}

__attribute__((visibility("default"))) int pthread_rwlock_unlock(pthread_rwlock_t *l)
{
    int rc = NEXT(pthread_rwlock_unlock)(l);
    released(__builtin_return_address(0), "pthread_rwlock_unlock", l, 1);
    return rc;
}

/* ---- condition variables -------------------------------------------------------------- */
/* The mutex is dropped and taken again through the scheduler; the wait
 * itself is the scheduler's block on the condition variable.  The signal
 * goes to the C library too, for waiters nmrcheck does not control. */
static void drop(pthread_mutex_t *m)
{
    NEXT(pthread_mutex_unlock)(m);
    sched_wake_waiters((uint64_t)(uintptr_t)m);
}

__attribute__((visibility("default"))) int pthread_cond_wait(pthread_cond_t *c,
                                                             pthread_mutex_t *m)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(pthread_cond_wait)(c, m);
    drop(m);
    block("pthread_cond_wait", c);
    return mutex_take(m, NULL);
}

__attribute__((visibility("default"))) int pthread_cond_timedwait(
    pthread_cond_t *c, pthread_mutex_t *m, const struct timespec *abstime)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(pthread_cond_timedwait)(c, m, abstime);
    drop(m);
    step("pthread_cond_timedwait", c, SCHED_YIELD);
    int rc = mutex_take(m, NULL);
    if (rc != 0)
        return rc;
    return cond_passed(abstime) ? ETIMEDOUT : 0;
}

__attribute__((visibility("default"))) int pthread_cond_signal(pthread_cond_t *c)
{
    int rc = NEXT(pthread_cond_signal)(c);
    released(__builtin_return_address(0), "pthread_cond_signal", c, 0);
    return rc;
}

__attribute__((visibility("default"))) int pthread_cond_broadcast(pthread_cond_t *c)
{
    int rc = NEXT(pthread_cond_broadcast)(c);
    released(__builtin_return_address(0), "pthread_cond_broadcast", c, 0);
    return rc;
}

/* ---- semaphores ------------------------------------------------------------------------- */
static int sem_take(sem_t *s, const struct timespec *abstime)
{
    step(abstime != NULL ? "sem_timedwait" : "sem_wait", s, SCHED_QUIET);
    for (;;) {
        if (NEXT(sem_trywait)(s) == 0)
            return 0;
        if (errno != EAGAIN)
            return -1;
        if (abstime != NULL) {
            if (passed(CLOCK_REALTIME, abstime)) {
                errno = ETIMEDOUT;
                return -1;
            }
            step("sem_timedwait", s, SCHED_YIELD);
        } else {
            block("sem_wait", s);
        }
    }
}

__attribute__((visibility("default"))) int sem_wait(sem_t *s)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(sem_wait)(s);
    return sem_take(s, NULL);
}

__attribute__((visibility("default"))) int sem_timedwait(sem_t *s, const struct timespec *abstime)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(sem_timedwait)(s, abstime);
    return sem_take(s, abstime);
}

__attribute__((visibility("default"))) int sem_trywait(sem_t *s)
{
    if (controlled(__builtin_return_address(0)))
        step("sem_trywait", s, SCHED_QUIET);
    return NEXT(sem_trywait)(s);
}

__attribute__((visibility("default"))) int sem_post(sem_t *s)
{
    int rc = NEXT(sem_post)(s);
    released(__builtin_return_address(0), "sem_post", s, 1);
    return rc;
}

/* ---- sleeps ------------------------------------------------------------------------------ */
__attribute__((visibility("default"))) int nanosleep(const struct timespec *req,
                                                     struct timespec *rem)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(nanosleep)(req, rem);
    step("nanosleep", req, SCHED_YIELD);
    if (rem != NULL)
        *rem = (struct timespec){0, 0};
    return 0;
}

__attribute__((visibility("default"))) int clock_nanosleep(clockid_t clock, int flags,
                                                           const struct timespec *req,
                                                           struct timespec *rem)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(clock_nanosleep)(clock, flags, req, rem);
    step("clock_nanosleep", req, SCHED_YIELD);
    if (rem != NULL && !(flags & TIMER_ABSTIME))
        *rem = (struct timespec){0, 0};
    return 0;
}

__attribute__((visibility("default"))) int usleep(useconds_t us)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(usleep)(us);
    step("usleep", NULL, SCHED_YIELD);
    return 0;
}

__attribute__((visibility("default"))) unsigned sleep(unsigned s)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(sleep)(s);
    step("sleep", NULL, SCHED_YIELD);
    return 0;
}

__attribute__((visibility("default"))) int sched_yield(void)
{
    if (!controlled(__builtin_return_address(0)))
        return NEXT(sched_yield)();
    step("sched_yield", NULL, SCHED_YIELD);
    return 0;
}
