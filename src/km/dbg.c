/* SPDX-License-Identifier: MIT */
/*
 * dbg.c - DbgPrint, DbgPrintEx, assertions and DbgBreakPoint.
 *
 * DbgPrint formats like printf, plus the Windows conversions: %wZ (a
 * PUNICODE_STRING), %ws / %S / %ls (a wide string), %wc / %C / %lc (a
 * wide character), and the size prefixes I64, I32 and I.  Wide text is
 * written as UTF-8.  The line goes to standard error in one write,
 * prefixed by the driver's name ("drv_echo: ..."); Windows truncates a
 * message at 512 bytes, so do we.  Every DbgPrintEx level is shown.
 */
#define _GNU_SOURCE
#include "km/internal.h"

#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define KM_DBG_MAX 512

typedef struct km_out {
    char *buf;
    size_t len, cap;
} km_out;

static void km_put(km_out *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->len + 1 < o->cap; i++)
        o->buf[o->len++] = s[i];
    o->buf[o->len] = '\0';
}

/* One code point as UTF-8. */
static void km_put_cp(km_out *o, unsigned long c)
{
    char b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xC0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12));
        b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (c >> 18));
        b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    km_put(o, b, n);
}

/* n wide characters (n < 0: up to the terminating zero), UTF-16 pairs
 * joined when WCHAR is 16 bits. */
static void km_put_wide(km_out *o, const WCHAR *w, long n)
{
    if (w == NULL) {
        km_put(o, "(null)", 6);
        return;
    }
    for (long i = 0; n < 0 || i < n; i++) {
        unsigned long c = (unsigned long)w[i];
        if (n < 0 && c == 0)
            break;
        if (sizeof(WCHAR) == 2 && c >= 0xD800 && c < 0xDC00 && (n < 0 || i + 1 < n)) {
            unsigned long d = (unsigned long)w[i + 1];
            if (d >= 0xDC00 && d < 0xE000) {
                c = 0x10000 + ((c - 0xD800) << 10) + (d - 0xDC00);
                i++;
            }
        }
        km_put_cp(o, c);
    }
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void km_format(km_out *o, const char *f, va_list *ap)
{
    while (*f) {
        if (*f != '%') {
            const char *s = strchr(f, '%');
            size_t n = s != NULL ? (size_t)(s - f) : strlen(f);
            km_put(o, f, n);
            f += n;
            continue;
        }
        const char *start = f++;
        if (*f == '%') {
            km_put(o, "%", 1);
            f++;
            continue;
        }
        /* The directive rebuilt for snprintf: flags, width, precision. */
        char spec[32];
        size_t sl = 0;
        spec[sl++] = '%';
        while (*f && strchr("-+ #0", *f) && sl < 8)
            spec[sl++] = *f++;
        int width = -1, prec = -1, star_w = 0, star_p = 0;
        if (*f == '*') {
            star_w = 1;
            width = va_arg(*ap, int);
            f++;
        } else {
            while (*f >= '0' && *f <= '9') {
                width = (width < 0 ? 0 : width * 10) + (*f - '0');
                f++;
            }
        }
        if (*f == '.') {
            f++;
            prec = 0;
            if (*f == '*') {
                star_p = 1;
                prec = va_arg(*ap, int);
                f++;
            } else {
                while (*f >= '0' && *f <= '9')
                    prec = prec * 10 + (*f++ - '0');
            }
        }
        (void)star_w;
        (void)star_p;
        if (width >= 0)
            sl += (size_t)snprintf(spec + sl, sizeof spec - sl, "%d", width);
        if (prec >= 0)
            sl += (size_t)snprintf(spec + sl, sizeof spec - sl, ".%d", prec);
        /* Length: C's, and Windows' w (wide), I64, I32, I. */
        int len = 0; /* 0 int, 1 long, 2 long long, 3 size_t, 4 short, 5 char, 6 intmax, 7 ptrdiff, 8 long double */
        int wide = 0;
        /* Length modifiers, longest first; "w" marks a wide argument. */
        static const struct {
            char text[4];
            signed char len;
        } km_lengths[] = {{"I64", 2}, {"I32", 0}, {"ll", 2}, {"hh", 5}, {"I", 3}, {"w", -1},
                          {"l", 1},   {"h", 4},   {"z", 3},  {"j", 6},  {"t", 7}, {"L", 8}};
        for (size_t k = 0; k < sizeof km_lengths / sizeof km_lengths[0]; k++) {
            size_t n = strlen(km_lengths[k].text);
            if (strncmp(f, km_lengths[k].text, n) == 0) {
                if (km_lengths[k].len < 0)
                    wide = 1;
                else
                    len = km_lengths[k].len;
                f += n;
                break;
            }
        }
        char conv = *f ? *f++ : '\0';
        char tmp[KM_DBG_MAX];
        int n = 0;
        if (conv == 'Z' && wide) { /* %wZ */
            const UNICODE_STRING *u = va_arg(*ap, const UNICODE_STRING *);
            if (u == NULL)
                km_put(o, "(null)", 6);
            else
                km_put_wide(o, u->Buffer, (long)(u->Length / sizeof(WCHAR)));
            continue;
        }
        if (conv == 'S' || (conv == 's' && (wide || len == 1))) {
            const WCHAR *w = va_arg(*ap, const WCHAR *);
            km_put_wide(o, w, prec >= 0 ? prec : -1);
            continue;
        }
        if (conv == 'C' || (conv == 'c' && (wide || len == 1))) {
            km_put_cp(o, (unsigned long)(unsigned)va_arg(*ap, int));
            continue;
        }
        static const char *const mods[] = {"", "l", "ll", "z", "h", "hh", "j", "t", "L"};
        switch (conv) {
        case 'd': case 'i': case 'u': case 'x': case 'X': case 'o':
            snprintf(spec + sl, sizeof spec - sl, "%s%c", mods[len], conv);
            switch (len) {
            case 1: n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, long)); break;
            case 2: n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, long long)); break;
            case 3: n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, size_t)); break;
            case 6: n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, intmax_t)); break;
            case 7: n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, ptrdiff_t)); break;
            default: n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, int)); break;
            }
            break;
        case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
            snprintf(spec + sl, sizeof spec - sl, "%s%c", len == 8 ? "L" : "", conv);
            if (len == 8)
                n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, long double));
            else
                n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, double));
            break;
        case 'c':
            snprintf(spec + sl, sizeof spec - sl, "c");
            n = snprintf(tmp, sizeof tmp, spec, va_arg(*ap, int));
            break;
        case 's': {
            const char *s = va_arg(*ap, const char *);
            snprintf(spec + sl, sizeof spec - sl, "s");
            n = snprintf(tmp, sizeof tmp, spec, s != NULL ? s : "(null)");
            break;
        }
        case 'Z': { /* %Z: an ANSI_STRING, whose layout is UNICODE_STRING's with chars */
            const struct { USHORT Length, MaximumLength; const char *Buffer; } *a =
                va_arg(*ap, const void *);
            if (a == NULL || a->Buffer == NULL)
                km_put(o, "(null)", 6);
            else
                km_put(o, a->Buffer, a->Length);
            continue;
        }
        case 'p':
            n = snprintf(tmp, sizeof tmp, "%p", va_arg(*ap, void *));
            break;
        default:
            /* Unknown: shown as written, no argument taken. */
            km_put(o, start, (size_t)(f - start));
            continue;
        }
        if (n > 0)
            km_put(o, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
    }
}
#pragma GCC diagnostic pop

static void km_dbg_emit(const void *site, const char *fmt, va_list *ap)
{
    char line[KM_DBG_MAX + 160];
    char name[128];
    km_out o = {line, 0, sizeof line};
    km_code_name(site, name, sizeof name);
    km_put(&o, name, strlen(name));
    km_put(&o, ": ", 2);
    km_out body = {line + o.len, 0, KM_DBG_MAX};
    if (fmt != NULL)
        km_format(&body, fmt, ap);
    o.len += body.len;
    if (o.len == 0 || line[o.len - 1] != '\n')
        km_put(&o, "\n", 1);
    ssize_t w = write(STDERR_FILENO, line, o.len);
    (void)w;
}

ULONG DbgPrint(PCSTR Format, ...)
{
    const void *site = KM_SITE();
    va_list ap;
    va_start(ap, Format);
    km_dbg_emit(site, Format, &ap);
    va_end(ap);
    return STATUS_SUCCESS;
}

ULONG DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...)
{
    (void)ComponentId;
    (void)Level;
    const void *site = KM_SITE();
    va_list ap;
    va_start(ap, Format);
    km_dbg_emit(site, Format, &ap);
    va_end(ap);
    return STATUS_SUCCESS;
}

VOID nmr_km_assert_failed(PCSTR Expression, PCSTR Message, PCSTR File, ULONG Line)
{
    const void *site = KM_SITE();
    nmr__verify_report(KM_MISUSE_ASSERT, site, "assertion failed: %s%s%s%s at %s:%lu",
                       Expression != NULL ? Expression : "?", Message != NULL ? " (" : "",
                       Message != NULL ? Message : "", Message != NULL ? ")" : "",
                       File != NULL ? File : "?", (unsigned long)Line);
}

VOID DbgBreakPoint(void)
{
    /* A debugger stops here; without one, SIGTRAP would end the process,
     * so only raise it when one is attached (TracerPid in /proc). */
    FILE *f = fopen("/proc/self/status", "r");
    char l[128];
    int traced = 0;
    while (f != NULL && fgets(l, sizeof l, f) != NULL)
        if (strncmp(l, "TracerPid:", 10) == 0)
            traced = atoi(l + 10) != 0;
    if (f != NULL)
        fclose(f);
    if (traced)
        raise(SIGTRAP);
}
