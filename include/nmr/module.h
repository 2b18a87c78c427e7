/* SPDX-License-Identifier: MIT */
/*
 * nmr/module.h - libnmr extension: the ABI of an NPI module built as a
 * shared object, as nmrhost(1) loads, hot-swaps and unloads it.
 *
 * On Windows an NPI module is a driver: DriverEntry registers its clients
 * and providers, the Unload routine deregisters them and waits, and then
 * the kernel unmaps the driver while its peers keep running.  Here a
 * module is a shared object that a host process dlopen()s and dlclose()s.
 * It uses the plain <netioddk.h> functions (the default registrar), so the
 * NPI code of a Windows module runs unchanged; only its two entry points
 * take the form below.
 *
 * A module exports, with C linkage and default visibility:
 *
 *   nmr_module_load     required.  Called once, after dlopen, on the host's
 *                       thread.  Receives the host interface and the
 *                       arguments of the load command (argv[0] is the
 *                       module's name; argv is valid only during the call:
 *                       copy what you keep).  Registers the module's
 *                       clients and providers, starts its threads, and
 *                       returns STATUS_SUCCESS, or a failure status after
 *                       undoing everything it did (a failed load must leave
 *                       nothing registered and no thread running).
 *
 *   nmr_module_unload   required.  Called once, on a host thread, if and
 *                       only if load succeeded.  Must stop and join the
 *                       module's threads, call Nmr*Deregister* for every
 *                       registration and then NmrWaitFor*DeregisterComplete
 *                       for each, and release what it holds.  THE MODULE'S
 *                       CODE AND DATA MAY BE UNMAPPED AS SOON AS UNLOAD
 *                       RETURNS: nothing of the module may run or be
 *                       referenced afterwards (no thread, timer, atexit
 *                       handler, thread-specific-data destructor, pointer
 *                       into its static data kept by a peer, callback
 *                       pending in the NMR).  Its return status is
 *                       reported; the host decides whether to unmap from
 *                       what is left registered, not from the status.
 *
 *   nmr_module_stats    optional.  Writes a one-line summary of the
 *                       module's counters into buf (at most size bytes,
 *                       NUL-terminated) as space-separated key=value
 *                       fields, and returns the length it wanted (as
 *                       snprintf).  A field named "calls" is a running
 *                       count of operations: hosts show its rate.  Called
 *                       from any host thread, concurrently with the
 *                       module's own threads, from after load returned
 *                       until just before the module is unmapped; that
 *                       includes once after unload returned, for the final
 *                       figures, so it must not depend on anything unload
 *                       freed.
 *
 *   nmr_module_exercise optional.  One unit of the module's work, for the
 *                       host to call from threads of its own (`worker`
 *                       numbers them from 0): for a client, one call
 *                       through the dispatch table of a provider it is
 *                       bound to; for a provider, one use of its own state.
 *                       Called from after load returned until just before
 *                       unload is called, concurrently with attach, detach
 *                       and cleanup, so that calls race them (nmrcheck(1)
 *                       does this with --workers).  Must return promptly
 *                       and be harmless when nothing is bound.
 *   nmr_module_check    optional.  The module's own consistency check:
 *                       returns 0 when all is well, otherwise writes why
 *                       into buf (at most size bytes, NUL-terminated) and
 *                       returns non-zero.  Called on a host thread after
 *                       load returned and after unload returned (so, as for
 *                       stats, it must not depend on what unload freed).
 *                       A driver may export these two as well.
 * The host's safety net (what nmrhost does): after unload returns, it takes
 * a snapshot of the default registrar (<nmr/introspect.h>) and looks for
 * any registration whose characteristics, callbacks or context lie inside
 * the module's mapping.  If one is left (with its bindings and any detach
 * half not complete), it does not dlclose: the module stays resident and
 * the host reports what was left.  A module that follows the rule above
 * never gets there.
 *
 * Declare the entry points with NMR_MODULE_EXPORT; this header gives their
 * prototypes (so -Wmissing-prototypes is satisfied):
 *
 *   #include <nmr/module.h>
 *   NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host,
 *                                              int argc, char **argv) { ... }
 *   NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void) { ... }
 *
 * Only types, macros and prototypes of functions the module itself defines
 * are here: libnmr exports nothing for this ABI.
 */
#ifndef NMR_MODULE_H
#define NMR_MODULE_H

#include <netioddk.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Version of this ABI.  A host passes it in nmr_module_host.abi_version;
 * a module may refuse a host older than it needs. */
#define NMR_MODULE_ABI_VERSION 1

/* Symbol names, for dlsym(). */
#define NMR_MODULE_LOAD_SYMBOL "nmr_module_load"
#define NMR_MODULE_UNLOAD_SYMBOL "nmr_module_unload"
#define NMR_MODULE_STATS_SYMBOL "nmr_module_stats"
#define NMR_MODULE_EXERCISE_SYMBOL "nmr_module_exercise"
#define NMR_MODULE_CHECK_SYMBOL "nmr_module_check"

#if defined(__GNUC__)
#define NMR_MODULE_EXPORT __attribute__((visibility("default")))
#define NMR_MODULE_PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NMR_MODULE_EXPORT
#define NMR_MODULE_PRINTF(f, a)
#endif

typedef struct nmr_module_host nmr_module_host;

/* Print one line (no trailing newline needed) in the host's output,
 * prefixed with the module's name.  Thread-safe; may be called from NMR
 * callbacks and from the module's threads until unload returns. */
typedef void nmr_module_log_fn(const nmr_module_host *host, const char *format, ...)
    NMR_MODULE_PRINTF(2, 3);

/* What the host gives a module.  Valid from the call of load until unload
 * returns. */
struct nmr_module_host {
    unsigned int abi_version;   /* NMR_MODULE_ABI_VERSION of the host */
    unsigned int size;          /* sizeof(nmr_module_host) of the host */
    const char *name;           /* the module's name in the host */
    nmr_module_log_fn *log;
    void *host_private;         /* for the host only */
};

typedef NTSTATUS nmr_module_load_fn(const nmr_module_host *host, int argc, char **argv);
typedef NTSTATUS nmr_module_unload_fn(void);
typedef int nmr_module_stats_fn(char *buf, size_t size);
typedef void nmr_module_exercise_fn(unsigned worker);
typedef int nmr_module_check_fn(char *buf, size_t size);

/* Prototypes of the entry points a module defines (not part of libnmr). */
NMR_MODULE_EXPORT nmr_module_load_fn nmr_module_load;
NMR_MODULE_EXPORT nmr_module_unload_fn nmr_module_unload;
NMR_MODULE_EXPORT nmr_module_stats_fn nmr_module_stats;
NMR_MODULE_EXPORT nmr_module_exercise_fn nmr_module_exercise;
NMR_MODULE_EXPORT nmr_module_check_fn nmr_module_check;

#ifdef __cplusplus
}
#endif

#endif /* NMR_MODULE_H */
