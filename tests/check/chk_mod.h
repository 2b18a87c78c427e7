/* SPDX-License-Identifier: MIT */
/*
 * chk_mod.h - what the catalogue's modules (not its drivers) share:
 * argument parsing, the checks every client makes on a provider, one
 * verified call through a provider's dispatch table, the record of the
 * first thing found wrong, and poisoned frees.  Everything is static, so
 * each module has its own copy and its own state.
 */
#ifndef CHK_MOD_H
#define CHK_MOD_H

#include "chk_npi.h"

#include <nmr/check.h>
#include <nmr/module.h>

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a poisoned free writes first: a pointer read from the memory
 * afterwards is 0xA5A5A5A5A5A5A5A5, not canonical on x86-64, so using it
 * faults even in a build without ASan (which reports the use itself). */
#define CHK_POISON 0xA5

static inline void chk_poison_free(void *p, size_t size)
{
    if (p != NULL) {
        memset(p, CHK_POISON, size);
        /* the compiler would drop a store just before free() */
        __asm__ __volatile__("" : : "r"(p) : "memory");
        free(p);
    }
}

/* The load arguments: each of argv[1..] must be one of names[] (NULL
 * ended); bit i of *flags is set for names[i].  Unknown: logged, and
 * STATUS_INVALID_PARAMETER. */
static inline NTSTATUS chk_args(const nmr_module_host *host, int argc, char **argv,
                                const char *const *names, unsigned *flags)
{
    *flags = 0;
    for (int i = 1; i < argc; i++) {
        unsigned n = 0;
        while (names[n] != NULL && strcmp(names[n], argv[i]) != 0)
            n++;
        if (names[n] == NULL) {
            host->log(host, "unknown argument '%s'", argv[i]);
            return STATUS_INVALID_PARAMETER;
        }
        *flags |= 1u << n;
    }
    return STATUS_SUCCESS;
}

/* A provider's registration speaks our NPI: its Key, or STATUS_NOINTERFACE. */
static inline NTSTATUS chk_provider_key(const NPI_REGISTRATION_INSTANCE *provider,
                                        unsigned *key)
{
    const CHK_PROVIDER_CHARACTERISTICS *pc = provider->NpiSpecificCharacteristics;

    if (pc == NULL || pc->Version != CHK_NPI_VERSION || pc->Length < sizeof *pc)
        return STATUS_NOINTERFACE;
    *key = pc->Key;
    return STATUS_SUCCESS;
}

/* The dispatch table NmrClientAttachProvider handed back is usable. */
static inline int chk_dispatch_ok(const VOID *dispatch)
{
    const CHK_PROVIDER_DISPATCH *d = dispatch;

    return d != NULL && d->Version == CHK_NPI_VERSION && d->Length >= sizeof *d &&
           d->Call != NULL;
}

/* ---- one verified call ---------------------------------------------------- */
/* What Notify saw during the call the current thread is making. */
typedef struct chk_call_record {
    const void *binding;           /* the client binding context called for */
    unsigned value;
    unsigned notifies;
    int matched;                   /* the last one had our context and value */
} chk_call_record;

static inline chk_call_record **chk_current_call(void)
{
    static _Thread_local chk_call_record *current;
    return &current;
}

/* From the client's Notify: 1 when it belongs to the call this thread is
 * making (counted there), 0 for a notification of the provider's own. */
static inline int chk_notify_in_call(PVOID client_binding_ctx, unsigned value)
{
    chk_call_record *r = *chk_current_call();

    if (r == NULL)
        return 0;
    r->notifies++;
    r->matched = client_binding_ctx == r->binding && value == r->value;
    return 1;
}

/* A number no other call of this module uses (mixed with the worker). */
static inline unsigned chk_next_value(unsigned worker)
{
    static atomic_uint seq;
    return (worker << 24) ^ (atomic_fetch_add_explicit(&seq, 1, memory_order_relaxed) + 1u);
}

/* Call(provider_ctx, value) and check what the NPI promises: success, the
 * answer CHK_ANSWER(key, value), and one Notify with this binding and value
 * on this thread.  NULL when all is right, else what was wrong. */
static inline const char *chk_call(const CHK_PROVIDER_DISPATCH *provider, PVOID provider_ctx,
                                   unsigned key, const void *mine, unsigned value)
{
    chk_call_record rec = { mine, value, 0, 0 };
    unsigned out = ~CHK_ANSWER(key, value);
    NTSTATUS st;

    *chk_current_call() = &rec;
    st = provider->Call(provider_ctx, value, &out);
    *chk_current_call() = NULL;
    if (st != STATUS_SUCCESS)
        return "Call failed";
    if (out != CHK_ANSWER(key, value))
        return "wrong answer";
    if (rec.notifies != 1 || !rec.matched)
        return "Notify not called once, on this thread, for this binding and value";
    return NULL;
}

/* ---- the first thing found wrong -------------------------------------------- */
typedef struct chk_wrong {
    atomic_ulong count;
    char first[160];               /* written by whoever counted the first */
} chk_wrong;

static inline void chk_wrong_reset(chk_wrong *w)
{
    atomic_store(&w->count, 0);
    w->first[0] = '\0';
}

static inline NMR_MODULE_PRINTF(2, 3) void chk_wrong_note(chk_wrong *w, const char *fmt, ...)
{
    if (atomic_fetch_add(&w->count, 1) == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->first, sizeof w->first, fmt, ap);
        va_end(ap);
    }
}

/* For nmr_module_check: write why into buf and return 1. */
static inline NMR_MODULE_PRINTF(3, 4) int chk_fail(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return 1;
}

/* For nmr_module_check: 1 with the count and the first, if any was noted. */
static inline int chk_wrong_check(const chk_wrong *w, char *buf, size_t size)
{
    unsigned long n = atomic_load(&w->count);

    return n != 0 && chk_fail(buf, size, "%lu wrong call(s); the first: %s", n, w->first);
}

#endif /* CHK_MOD_H */
