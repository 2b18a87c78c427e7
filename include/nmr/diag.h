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

/* What kind of misuse was seen.  The message names the function and rule.
 * Every kind, once, with its class: XX(name, value, class).  Class MISUSE
 * is a contract violation: counted, a MISUSE trace event, an abort in
 * strict mode.  Class REPORT is not misuse: not counted, never aborts in
 * strict mode, and the message may span several lines. */
#define NMR_MISUSE_MAP(XX)                                                     \
    /* unknown, stale or wrong-kind handle (R26) */                            \
    XX(NMR_MISUSE_BAD_HANDLE, 1, MISUSE)                                       \
    /* completion of a half not pending (R29) */                               \
    XX(NMR_MISUSE_NOT_PENDING, 2, MISUSE)                                      \
    /* detach returned not SUCCESS/PENDING (R14) */                            \
    XX(NMR_MISUSE_BAD_DETACH_STATUS, 3, MISUSE)                                \
    /* client said SUCCESS, never attached (R10) */                            \
    XX(NMR_MISUSE_ATTACH_WITHOUT_PROVIDER, 4, MISUSE)                          \
    /* a rundown object used out of order (nmr/rundown.h) */                   \
    XX(NMR_MISUSE_RUNDOWN, 5, MISUSE)                                          \
    /* a wait is held up (nmr/registrar.h) */                                  \
    XX(NMR_DIAG_WAIT_STUCK, 6, REPORT)                                         \
    /* what a refused nmr_registrar_destroy left */                            \
    XX(NMR_DIAG_REGISTRAR_BUSY, 7, REPORT)                                     \
    /* a driver broke an IRQL, lock or pool rule (docs/km.md) */               \
    XX(NMR_MISUSE_VERIFIER, 8, MISUSE)                                         \
    /* a driver's ASSERT or NT_ASSERT failed (docs/km.md) */                   \
    XX(NMR_MISUSE_ASSERT, 9, MISUSE)

typedef enum nmr_misuse_kind {
#define NMR_MISUSE_ENUM_(name, value, cls) name = value,
    NMR_MISUSE_MAP(NMR_MISUSE_ENUM_)
#undef NMR_MISUSE_ENUM_
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

/* How many misuse reports (the kinds of class MISUSE in NMR_MISUSE_MAP:
 * 1 to 5, 8 and 9) this process has made so far. */
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
