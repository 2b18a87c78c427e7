/* SPDX-License-Identifier: MIT */
/*
 * internal.h - what the rundown layer's two files share (rundown.c,
 * guard.c): the rundown operations without their switch point, for
 * callers that name the operation themselves (nmr_guard_detach,
 * ExWaitForRundownProtectionReleaseCacheAware) or that hold a lock of
 * their own, where a switch point must not be (nmr_capture_provider).
 */
#ifndef NMR_SRC_RUNDOWN_INTERNAL_H
#define NMR_SRC_RUNDOWN_INTERNAL_H

#include <nmr/rundown.h>

/* nmr_rundown_drain, not a switch point. */
NTSTATUS nmr_rundown_drain_nopoint(PEX_RUNDOWN_REF_CACHE_AWARE ref, nmr_rundown_drain_fn *fn,
                                   void *context);

/* ExAcquireRundownProtectionCacheAwareEx, not a switch point on a watched
 * thread (on another thread it is the same). */
BOOLEAN nmr_rundown_ca_acquire_nopoint(PEX_RUNDOWN_REF_CACHE_AWARE ref, ULONG count);

#endif
