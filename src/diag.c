/*
 * diag.c - the misuse diagnostic channel (SPEC R30).
 *
 * One report path for every misuse that cannot be returned as a status:
 * the counter always moves and the trace hook sees a MISUSE event; then
 * the message goes to the user's hook if one is installed, else to
 * standard error; in strict mode the message goes to standard error and
 * the process aborts.  Reports that are not misuse (a stuck wait, a busy
 * registrar) take the same path without the counter, event or abort.
 *
 * The (hook, context) pair is read under hook_lock and the hook is called
 * after the lock is dropped, so a hook may call back into libnmr, even to
 * change the hook.  Reports are rare; the lock costs nothing on hot paths.
 */
#include "misuse.h"

#include "trace.h"

#include <nmr/registrar.h> /* STATUS_TIMEOUT, STATUS_DEVICE_BUSY */

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static nmr_misuse_hook_fn *hook_fn;  /* protected by hook_lock */
static void *hook_ctx;               /* protected by hook_lock */
static atomic_ullong misuse_count;
/* -1: not decided yet (read NMR_STRICT at first use), 0 or 1. */
static atomic_int strict_mode = -1;

static int strict_enabled(void)
{
    int s = atomic_load_explicit(&strict_mode, memory_order_relaxed);
    if (s < 0) {
        const char *env = getenv("NMR_STRICT");
        s = (env != NULL && env[0] == '1') ? 1 : 0;
        int expected = -1;
        atomic_compare_exchange_strong(&strict_mode, &expected, s);
        s = atomic_load_explicit(&strict_mode, memory_order_relaxed);
    }
    return s;
}

nmr_misuse_hook_fn *nmr_diag_set_hook(nmr_misuse_hook_fn *hook, void *context,
                                      void **old_context)
{
    pthread_mutex_lock(&hook_lock);
    nmr_misuse_hook_fn *old = hook_fn;
    if (old_context != NULL)
        *old_context = hook_ctx;
    hook_fn = hook;
    hook_ctx = hook ? context : NULL;
    pthread_mutex_unlock(&hook_lock);
    return old;
}

unsigned long long nmr_diag_misuse_count(void)
{
    return atomic_load_explicit(&misuse_count, memory_order_relaxed);
}

int nmr_diag_set_strict(int strict)
{
    int old = strict_enabled();
    if (strict < 0) {
        const char *env = getenv("NMR_STRICT");
        strict = (env != NULL && env[0] == '1') ? 1 : 0;
    }
    atomic_store_explicit(&strict_mode, strict ? 1 : 0, memory_order_relaxed);
    return old;
}

const char *nmr_status_name(NTSTATUS status)
{
    switch (status) {
    case STATUS_SUCCESS: return "STATUS_SUCCESS";
    case STATUS_PENDING: return "STATUS_PENDING";
    case STATUS_TIMEOUT: return "STATUS_TIMEOUT";
    case STATUS_DEVICE_BUSY: return "STATUS_DEVICE_BUSY";
    case STATUS_NOINTERFACE: return "STATUS_NOINTERFACE";
    case STATUS_INSUFFICIENT_RESOURCES: return "STATUS_INSUFFICIENT_RESOURCES";
    case STATUS_INVALID_PARAMETER: return "STATUS_INVALID_PARAMETER";
    case STATUS_INVALID_DEVICE_STATE: return "STATUS_INVALID_DEVICE_STATE";
    case STATUS_POSSIBLE_DEADLOCK: return "STATUS_POSSIBLE_DEADLOCK";
    default: return "(other status)";
    }
}

void nmr_report(nmr_misuse_kind kind, const char *msg)
{
    int misuse = kind <= NMR_MISUSE_RUNDOWN;
    if (misuse) {
        atomic_fetch_add_explicit(&misuse_count, 1, memory_order_relaxed);
        if (NMR_TRACING())
            nmr_trace_misuse((int)kind, msg);
        if (strict_enabled()) {
            fprintf(stderr, "libnmr: misuse (strict mode, aborting): %s\n", msg);
            fflush(stderr);
            abort();
        }
    }

    pthread_mutex_lock(&hook_lock);
    nmr_misuse_hook_fn *fn = hook_fn;
    void *ctx = hook_ctx;
    pthread_mutex_unlock(&hook_lock);

    if (fn != NULL)
        fn(ctx, kind, msg);
    else
        fprintf(stderr, "libnmr: %s: %s\n", misuse ? "misuse" : "warning", msg);
}

void nmr_report_misuse(nmr_misuse_kind kind, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    nmr_report(kind, msg);
}
