/* SPDX-License-Identifier: MIT */
/*
 * nmr/check.h - libnmr extension: what nmrcheck(1) uses to drive modules
 * through schedules (docs/nmrcheck.md).
 *
 * For modules: nmrcheck_yield() is a switch point of their own.  Under
 * nmrcheck the scheduler may run another thread there; anywhere else it
 * does nothing (one load and a branch), so a module may call it in
 * production code, for example between two steps of its own that a race
 * could separate.
 *
 * For nmrcheck (and tools like it), not for modules: the yield hook, and
 * the fault injection of libnmr's allocations.  One tool per process;
 * install the hooks before any module is loaded and remove them after
 * the last is gone.
 */
#ifndef NMR_CHECK_H
#define NMR_CHECK_H

#include <netioddk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A switch point for the schedule explorer; a no-op elsewhere.  Any
 * thread, any IRQL, no lock taken. */
NMR_API void nmrcheck_yield(void);

/* ---- for the tool ----------------------------------------------------- */
/* Called by nmrcheck_yield() on the thread that yields (NULL: none). */
typedef void nmr_check_yield_fn(void *context);
NMR_API void nmr_check_set_yield_hook(nmr_check_yield_fn *hook, void *context);

/* A controlled scheduler's view of libnmr and libnmr-km (nmrcheck's
 * tools/nmrcheck/sched.h).  point: a switch point (fn: what, obj: the
 * handle, lock, event or object concerned); block_begin/block_end: the
 * calling thread is about to block on obj (a libnmr-km wait, a spin lock
 * another thread holds) and then goes on (timed: it ends by itself when
 * its timeout passes); wake: obj may now let its waiters go (called by
 * the thread that released it; libnmr calls it with its NPI lock held, so
 * it must only record, never call libnmr); thread_reserve: in the thread
 * that creates a system thread or queues a work item, before the thread
 * exists (returns a ticket, or -1); thread_begin/thread_end: first and
 * last thing on that thread.  NMR waits are seen through the trace hook
 * (WAIT_START, WAIT_END: keyed by the registration, which wake names when
 * its last binding is gone).  Every member must be set.  NULL removes. */
typedef struct nmr_check_sched_hooks {
    void (*point)(const char *fn, const void *obj);
    void (*block_begin)(const char *fn, const void *obj, int timed);
    void (*block_end)(void);
    void (*wake)(const void *obj);
    int (*thread_reserve)(const char *what);
    void (*thread_begin)(int ticket);
    void (*thread_end)(void);
} nmr_check_sched_hooks;

NMR_API void nmr_check_set_sched_hooks(const nmr_check_sched_hooks *hooks);

/* The hooks installed, or NULL (for libnmr-km). */
NMR_API const nmr_check_sched_hooks *nmr_check_sched(void);

/* Watch the calling thread (on != 0) or stop (0): from now on each of its
 * rundown operations (nmr/rundown.h: acquire, release, drain and wait,
 * both kinds, so every nmr_guard_enter and nmr_guard_leave) is a switch
 * point (the point hook, named by the Windows function and the object),
 * taken before the operation touches the object.  A watched thread's
 * cache-aware operations use the object's shared counter instead of its
 * own slot: correct, and slower, as for threads beyond the slot count.
 * Threads not watched pay nothing. */
NMR_API void nmr_check_watch_thread(int on);

/* Make the n-th allocation libnmr makes from now on fail (1 = the next),
 * once; n <= 0 disarms.  The call that needed it fails as on Windows
 * (STATUS_INSUFFICIENT_RESOURCES, or the documented failure of that
 * function). */
NMR_API void nmr_check_alloc_fail_at(long n);

/* Allocations libnmr attempted since the process started (failed ones
 * included): run once and count, to know how many points there are. */
NMR_API unsigned long nmr_check_alloc_count(void);

#ifdef __cplusplus
}
#endif

#endif /* NMR_CHECK_H */
