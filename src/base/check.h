/* SPDX-License-Identifier: MIT */
/*
 * check.h - the scheduler hooks of <nmr/check.h> as libnmr reads them: a
 * wait's waker tells a schedule explorer that the wait may end.  With no
 * tool installed, one load and a branch.
 */
#ifndef NMR_SRC_CHECK_H
#define NMR_SRC_CHECK_H

#include <nmr/check.h>

#include "base/visibility.h"

/* Inside libnmr the hooks are one pointer; libnmr-km, another object,
 * asks for it (it defines NMR_CHECK_VIA_CALL before including this). */
#ifdef NMR_CHECK_VIA_CALL
#define NMR_CHECK_HOOKS_() nmr_check_sched()
#else
extern const nmr_check_sched_hooks *_Atomic nmr_check_hooks NMR_INTERNAL_DATA;
#define NMR_CHECK_HOOKS_() nmr_check_hooks
#endif

/* obj's waiters may go (the NPI lock may be held: the hook only records). */
static inline void nmr_check_wake(const void *obj)
{
    const nmr_check_sched_hooks *h = NMR_CHECK_HOOKS_();
    if (__builtin_expect(h != NULL, 0))
        h->wake(obj);
}

/* A tool is installed: for a caller whose point needs work to name its
 * object (one load and a branch). */
static inline int nmr_check_enabled(void)
{
    return __builtin_expect(NMR_CHECK_HOOKS_() != NULL, 0);
}

/* The other hooks, for libnmr-km and the rundown layer (one load and a
 * branch when no tool is installed). */
static inline void nmr_check_point(const char *fn, const void *obj)
{
    const nmr_check_sched_hooks *h = NMR_CHECK_HOOKS_();
    if (__builtin_expect(h != NULL, 0))
        h->point(fn, obj);
}

static inline void nmr_check_block_begin(const char *fn, const void *obj, int timed)
{
    const nmr_check_sched_hooks *h = NMR_CHECK_HOOKS_();
    if (__builtin_expect(h != NULL, 0))
        h->block_begin(fn, obj, timed);
}

static inline void nmr_check_block_end(void)
{
    const nmr_check_sched_hooks *h = NMR_CHECK_HOOKS_();
    if (__builtin_expect(h != NULL, 0))
        h->block_end();
}

#endif
