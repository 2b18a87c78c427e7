/* SPDX-License-Identifier: MIT */
/*
 * verify.c - the driver verifier's per-thread state and reports (see
 * verify.h).  Nothing here takes a lock: each thread touches only its own
 * state, and the reports go through the misuse channel.
 */
#define _GNU_SOURCE /* dladdr */
#include "base/verify.h"

#include "base/misuse.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

atomic_int nmr_verify_enabled;

static _Thread_local nmr_vthread self;

void nmr__verify_enable(void)
{
    atomic_store_explicit(&nmr_verify_enabled, 1, memory_order_relaxed);
}

nmr_vthread *nmr__vthread(void)
{
    return &self;
}

const char *nmr__irql_name(unsigned irql)
{
    static const char *const names[] = {"PASSIVE_LEVEL", "APC_LEVEL", "DISPATCH_LEVEL"};
    static _Thread_local char other[16];
    if (irql < sizeof names / sizeof names[0])
        return names[irql];
    if (irql == NMR_HIGH_LEVEL)
        return "HIGH_LEVEL";
    snprintf(other, sizeof other, "IRQL %u", irql);
    return other;
}

char *nmr__describe_code(const void *p, char *buf, size_t size)
{
    Dl_info info;
    if (p != NULL && dladdr(p, &info) != 0 && info.dli_fname != NULL &&
        info.dli_fbase != NULL) {
        const char *name = strrchr(info.dli_fname, '/');
        name = name != NULL ? name + 1 : info.dli_fname;
        snprintf(buf, size, "%s+0x%jx", name[0] != '\0' ? name : "(main program)",
                 (uintmax_t)((uintptr_t)p - (uintptr_t)info.dli_fbase));
    } else {
        snprintf(buf, size, "%p", p);
    }
    return buf;
}

char *nmr__describe_raise(char *buf, size_t size)
{
    buf[0] = '\0';
    if (self.irql == NMR_PASSIVE_LEVEL || self.nraise == 0)
        return buf;
    unsigned top = self.nraise <= NMR_VRAISE_MAX ? self.nraise : NMR_VRAISE_MAX;
    /* The first record that raised to the current IRQL (the innermost ones
     * taken at that IRQL did not change it). */
    const nmr_vraise *r = &self.raise[top - 1];
    for (unsigned i = 0; i < top; i++) {
        if (self.raise[i].to == self.irql && self.raise[i].from < self.irql) {
            r = &self.raise[i];
            break;
        }
    }
    char site[128];
    nmr__describe_code(r->site, site, sizeof site);
    if (r->lock != NULL)
        snprintf(buf, size, "raised to %s by %s of lock %p at %s", nmr__irql_name(r->to),
                 r->how, r->lock, site);
    else
        snprintf(buf, size, "raised to %s by %s at %s", nmr__irql_name(r->to), r->how, site);
    return buf;
}

static void vreport(nmr_misuse_kind kind, const void *site, const char *fmt, va_list ap)
{
    char text[640];
    char where[160];
    vsnprintf(text, sizeof text, fmt, ap);
    nmr__describe_code(site, where, sizeof where);
    nmr_report_misuse(kind, "verifier: %s (called from %s)", text, where);
}

void nmr__verify_report(nmr_misuse_kind kind, const void *site, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(kind, site, fmt, ap);
    va_end(ap);
}

int nmr__verify_irql(const char *fn, unsigned limit, const void *site)
{
    if (self.irql <= limit)
        return 0;
    char why[256];
    nmr__describe_raise(why, sizeof why);
    nmr__verify_report(NMR_MISUSE_VERIFIER, site, "%s called at %s, above its limit %s%s%s",
                       fn, nmr__irql_name(self.irql), nmr__irql_name(limit),
                       why[0] != '\0' ? "; the IRQL was " : "", why);
    return 1;
}

void nmr__verify_enter(nmr_vsnap *snap)
{
    snap->on = (unsigned char)nmr_verify_on();
    snap->irql = self.irql;
    snap->locks = self.locks;
}

void nmr__verify_leave(const nmr_vsnap *snap, const char *what, const void *fn)
{
    if (!snap->on || (self.locks <= snap->locks && self.irql == snap->irql))
        return;
    char why[256];
    nmr__describe_raise(why, sizeof why);
    char where[160];
    nmr__describe_code(fn, where, sizeof where);
    if (self.locks > snap->locks)
        nmr_report_misuse(NMR_MISUSE_VERIFIER,
                          "verifier: %s (%s) returned holding %u lock%s it did not hold "
                          "when called, at %s (it was called at %s)%s%s",
                          what, where, self.locks - snap->locks,
                          self.locks - snap->locks == 1 ? "" : "s",
                          nmr__irql_name(self.irql), nmr__irql_name(snap->irql),
                          why[0] != '\0' ? "; the IRQL was " : "", why);
    else
        nmr_report_misuse(NMR_MISUSE_VERIFIER,
                          "verifier: %s (%s) returned at %s; it was called at %s%s%s",
                          what, where, nmr__irql_name(self.irql),
                          nmr__irql_name(snap->irql),
                          why[0] != '\0' ? "; the IRQL was " : "", why);
}
