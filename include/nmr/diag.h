/* SPDX-License-Identifier: MIT */
/*
 * nmr/diag.h - libnmr extension: the misuse diagnostic channel (R30).
 *
 * Misuse that cannot be returned as a status (a VOID function given a bad
 * handle, a detach completed twice, a callback returning a value the
 * contract does not allow) is reported here, in one place:
 *
 *   - a message on standard error, by default;
 *   - or, once a hook is installed, a call of the hook instead;
 *   - always, an increment of a process-wide counter;
 *   - in strict mode (environment NMR_STRICT=1 at the first report, or
 *     nmr_diag_set_strict(1)), the message is written to standard error and
 *     the process aborts, so a debugger stops at the faulty call.
 *
 * The hook is user code: it is called with no libnmr lock held, on the
 * thread that made the faulty call, and may call any libnmr function.
 * All functions here are thread-safe and callable from callbacks; only
 * nmr_diag_set_hook and nmr_diag_sync may block (for hook calls on other
 * threads to return).
 */
#ifndef NMR_DIAG_H
#define NMR_DIAG_H

#include <netioddk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* What kind of misuse was seen.  The message names the function and rule. */
typedef enum nmr_misuse_kind {
    NMR_MISUSE_BAD_HANDLE = 1,        /* unknown, stale or wrong-kind (R26) */
    NMR_MISUSE_NOT_PENDING = 2,       /* completion of a half not pending (R29) */
    NMR_MISUSE_BAD_DETACH_STATUS = 3, /* detach returned not SUCCESS/PENDING (R14) */
    NMR_MISUSE_ATTACH_WITHOUT_PROVIDER = 4, /* client said SUCCESS, never attached (R10) */
    NMR_MISUSE_RUNDOWN = 5, /* a rundown object used out of order (nmr/rundown.h) */
    /* Reports that are not misuse: not counted, never abort in strict
     * mode, and the message may span several lines. */
    NMR_DIAG_WAIT_STUCK = 6,     /* a wait is held up (nmr/registrar.h) */
    NMR_DIAG_REGISTRAR_BUSY = 7  /* what a refused nmr_registrar_destroy left */
} nmr_misuse_kind;

/* A hook: receives the kind and a one-line message (no trailing newline).
 * The message is valid only during the call. */
typedef void nmr_misuse_hook_fn(void *context, nmr_misuse_kind kind,
                                const char *message);

/* Install a hook (NULL restores the default: standard error).  Returns the
 * previous hook; *old_context, if not NULL, receives its context.
 *
 * When it returns, the previous hook runs nowhere (every call of it in
 * progress on other threads has returned), so its context may be freed -
 * except when called from inside a hook call (diagnostic or trace) on this
 * thread: then it makes the change without waiting, and nmr_diag_sync()
 * must return STATUS_SUCCESS, outside any hook, before the old context is
 * freed.  Out of memory (possible only inside a hook): nothing changes,
 * NULL is returned and a line goes to standard error. */
NMR_API nmr_misuse_hook_fn *nmr_diag_set_hook(nmr_misuse_hook_fn *hook,
                                              void *context,
                                              void **old_context);

/* Wait until every diagnostic hook call in progress has returned.
 * STATUS_SUCCESS; from inside a hook call on this thread,
 * STATUS_POSSIBLE_DEADLOCK at once (nothing waited). */
NMR_API NTSTATUS nmr_diag_sync(void);

/* How many misuse reports (kinds 1 to 5) this process has made so far. */
NMR_API unsigned long long nmr_diag_misuse_count(void);

/* Strict mode: 1 = abort on misuse, 0 = report and go on, -1 = follow the
 * environment (NMR_STRICT=1).  Returns the previous setting (0 or 1). */
NMR_API int nmr_diag_set_strict(int strict);

/* The name of an NT status code libnmr or the NMR uses ("STATUS_PENDING"),
 * or "(other status)".  For messages. */
NMR_API const char *nmr_status_name(NTSTATUS status);

#ifdef __cplusplus
}
#endif

#endif /* NMR_DIAG_H */
