/* SPDX-License-Identifier: MIT */
/*
 * verify.h - the driver verifier's per-thread state and its checks.
 *
 * A Windows driver runs at an IRQL: PASSIVE_LEVEL normally, DISPATCH_LEVEL
 * while it holds a spin lock.  Most kernel functions, and every Nmr*
 * function, have a highest IRQL they may be called at; calling them above
 * it crashes the machine on Windows.  The kernel-mode layer (src/km/,
 * libnmr-km, docs/km.md) keeps each thread's IRQL here, raises it when a
 * spin lock is taken and lowers it when the lock is released; the core
 * checks it on entry to each Nmr* function and around each callback.
 *
 * The checks are off until the kernel-mode layer turns them on
 * (nmr__verify_enable, from libnmr-km's constructor): a program that does
 * not use the layer pays one relaxed load and a compare per check, and its
 * threads are always at PASSIVE_LEVEL.
 *
 * The functions with two underscores are exported by libnmr.so for
 * libnmr-km only: a private interface between two libraries built and
 * shipped together, not an API (no public header declares them).
 *
 * A report is a misuse of kind NMR_MISUSE_VERIFIER (<nmr/diag.h>): counted,
 * an abort in strict mode.  It names the function, the IRQL it was called
 * at, its limit, what raised the IRQL, and the code that called, by the
 * object it lies in and the offset there ("drv_client.so+0x1a2b").
 *
 * Context: all functions touch only the calling thread's state (no lock);
 * the report functions must be called with no libnmr lock held (the
 * misuse hook runs inside).
 */
#ifndef NMR_SRC_VERIFY_H
#define NMR_SRC_VERIFY_H

#include <netioddk.h>
#include <nmr/diag.h>
#include "base/visibility.h"

#include <stdatomic.h>
#include <stddef.h>

/* The IRQLs the verifier knows (the Windows values). */
#define NMR_PASSIVE_LEVEL 0
#define NMR_APC_LEVEL 1
#define NMR_DISPATCH_LEVEL 2
#define NMR_HIGH_LEVEL 15

/* One raise of this thread's IRQL not yet undone, innermost last. */
typedef struct nmr_vraise {
    const void *lock;   /* the lock that raised it; NULL for KeRaiseIrql */
    const char *how;    /* the function that raised it ("KeAcquireSpinLock") */
    const void *site;   /* where that function was called from */
    unsigned char from; /* the IRQL before */
    unsigned char to;   /* the IRQL after */
} nmr_vraise;

#define NMR_VRAISE_MAX 32

/* A thread's verifier state.  Only the owning thread touches it. */
typedef struct nmr_vthread {
    unsigned char irql;      /* the current IRQL */
    unsigned locks;          /* spin locks (and fast mutexes) held now */
    unsigned nraise;         /* raises not undone; raise[] keeps the first
                              * NMR_VRAISE_MAX of them */
    nmr_vraise raise[NMR_VRAISE_MAX];
} nmr_vthread;

/* What a callback (or a driver's entry) found on entry, to compare with
 * what it leaves. */
typedef struct nmr_vsnap {
    unsigned char irql;
    unsigned char on;        /* the checks were on at entry */
    unsigned locks;
} nmr_vsnap;

/* libnmr-internal: the flag is not exported, so libnmr-km (another
 * library) keeps its own, set by the same constructor. */
extern atomic_int nmr_verify_enabled NMR_INTERNAL_DATA;

static inline int nmr_verify_on(void)
{
    return atomic_load_explicit(&nmr_verify_enabled, memory_order_relaxed) != 0;
}

/* Turn the checks on, for the rest of the process. */
NMR_API void nmr__verify_enable(void);

/* This thread's state (never NULL). */
NMR_API nmr_vthread *nmr__vthread(void);

/* The name of an IRQL for messages ("DISPATCH_LEVEL", "IRQL 5"). */
NMR_API const char *nmr__irql_name(unsigned irql);

/* Where p lies, as "object+0xOFFSET" (the object's file name without its
 * directory), or "0xADDRESS" when no object holds it.  Returns buf. */
NMR_API char *nmr__describe_code(const void *p, char *buf, size_t size);

/* What raised this thread's IRQL to where it is, for messages ("spin lock
 * 0x... taken by KeAcquireSpinLock at drv.so+0x1a2b"), or "" at PASSIVE.
 * Returns buf. */
NMR_API char *nmr__describe_raise(char *buf, size_t size);

/* Report a verifier finding: "verifier: " + the formatted text + the
 * caller named by site.  kind is NMR_MISUSE_VERIFIER or NMR_MISUSE_ASSERT. */
#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
NMR_API void nmr__verify_report(nmr_misuse_kind kind, const void *site,
                                const char *fmt, ...);

/* fn was called from site: report it if this thread's IRQL is above
 * limit.  Returns 1 when it was reported. */
NMR_API int nmr__verify_irql(const char *fn, unsigned limit, const void *site);

/* Around a call of user code (a callback, DriverEntry, DriverUnload, a
 * work item): take the snapshot before, check after.  The check reports
 * the code (named by fn, described as what: "ClientDetachProvider",
 * "DriverUnload") if it returned holding a lock it did not hold on entry
 * or at another IRQL than it was called at. */
NMR_API void nmr__verify_enter(nmr_vsnap *snap);
NMR_API void nmr__verify_leave(const nmr_vsnap *snap, const char *what, const void *fn);

/* The check of an Nmr* function's entry: one compare when the verifier is
 * off.  Use in the function that the driver calls, so that the return
 * address is the driver's. */
#define NMR_VERIFY_IRQL(fn, limit) NMR_VERIFY_IRQL_AT((fn), (limit), __builtin_return_address(0))

/* The same check made by the implementation that a public function
 * tail-calls, given the public function's name and its caller (site:
 * __builtin_return_address(0) taken there).  The public function then
 * saves nothing around a call that is almost never made. */
#define NMR_VERIFY_IRQL_AT(fn, limit, site)                                    \
    do {                                                                       \
        if (nmr_verify_on())                                                   \
            nmr__verify_irql((fn), (limit), (site));                           \
    } while (0)

#endif
