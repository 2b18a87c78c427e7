/* SPDX-License-Identifier: MIT */
/*
 * driver.c - the host API (<nmr/km.h>): start a driver (DRIVER_OBJECT,
 * registry path, DriverEntry at PASSIVE_LEVEL inside the verifier's
 * enter/leave), unload it, and say what it still holds.
 *
 * The started drivers are kept in a list, so that DbgPrint and the
 * reports can name the driver code belongs to.  Context: see nmr/km.h.
 */
#define _GNU_SOURCE
#include "km/internal.h"

#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct nmr_km_driver {
    struct nmr_km_driver *next;   /* in km_drivers */
    char *name;
    const void *base;
    int unloaded;
    DRIVER_OBJECT object;
    DRIVER_EXTENSION extension;
    UNICODE_STRING registry_path;
    WCHAR *name_buf;
    WCHAR *path_buf;
};

static pthread_mutex_t km_drivers_lock = PTHREAD_MUTEX_INITIALIZER;
static nmr_km_driver *km_drivers;

const char *km_driver_name(const void *base, char *buf, size_t size)
{
    const char *found = NULL;
    pthread_mutex_lock(&km_drivers_lock);
    for (nmr_km_driver *d = km_drivers; d != NULL; d = d->next)
        if (d->base == base) {
            snprintf(buf, size, "%s", d->name);
            found = buf;
            break;
        }
    pthread_mutex_unlock(&km_drivers_lock);
    return found;
}

/* s as a counted wide string in a new buffer. */
static int km_wide(const char *s, UNICODE_STRING *u, WCHAR **buf)
{
    size_t n = strlen(s);
    if (n > 32000)
        return -1;
    *buf = calloc(n + 1, sizeof(WCHAR));
    if (*buf == NULL)
        return -1;
    for (size_t i = 0; i < n; i++)
        (*buf)[i] = (WCHAR)(unsigned char)s[i];
    u->Buffer = *buf;
    u->Length = (USHORT)(n * sizeof(WCHAR));
    u->MaximumLength = (USHORT)((n + 1) * sizeof(WCHAR));
    return 0;
}

/* The extent of the object mapped at base (its PT_LOAD segments). */
typedef struct km_extent {
    const void *base;
    size_t size;
} km_extent;

static int km_extent_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
    (void)size;
    km_extent *e = arg;
    uintptr_t lo = UINTPTR_MAX, hi = 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD)
            continue;
        uintptr_t a = info->dlpi_addr + ph->p_vaddr;
        if (a < lo)
            lo = a;
        if (a + ph->p_memsz > hi)
            hi = a + ph->p_memsz;
    }
    if (lo != UINTPTR_MAX && (const void *)lo == e->base) {
        e->size = hi - lo;
        return 1;
    }
    return 0;
}

static ULONG km_object_size(const void *base)
{
    km_extent e = {base, 0};
    dl_iterate_phdr(km_extent_cb, &e);
    return e.size > 0xFFFFFFFFu ? 0xFFFFFFFFu : (ULONG)e.size;
}

static void km_driver_destroy(nmr_km_driver *d)
{
    free(d->name_buf);
    free(d->path_buf);
    free(d->name);
    free(d);
}

static void km_residue_of(const void *base, nmr_km_residue *out)
{
    memset(out, 0, sizeof *out);
    km_pool_residue(base, out);
    out->threads = km_count_get(base, KM_COUNT_THREADS);
    out->work_items = km_count_get(base, KM_COUNT_WORK);
}

void nmr_km_object_residue(const void *base, nmr_km_residue *out)
{
    km_residue_of(base, out);
}

/* A work item whose routine set the event DriverUnload waited for is
 * still returning when DriverUnload returns (on Windows IoQueueWorkItem
 * keeps the driver loaded until it has); so is a system thread that set
 * an event of its own and then ended.  Give them up to KM_GRACE_MS to
 * finish before the residue is taken: what runs longer is residue. */
#define KM_GRACE_MS 250

static void km_unload_grace(const void *base)
{
    for (int ms = 0; ms < KM_GRACE_MS; ms++) {
        if (km_count_get(base, KM_COUNT_THREADS) == 0 && km_count_get(base, KM_COUNT_WORK) == 0)
            return;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
}

static int km_residue_empty(const nmr_km_residue *r)
{
    return r->pool_count == 0 && r->threads == 0 && r->work_items == 0;
}

/* "3 allocations (1 'Echo' 64 bytes, 2 'Bind' 96 bytes), 1 thread" */
static void km_residue_text(const nmr_km_residue *r, char *buf, size_t size)
{
    size_t n = 0;
    buf[0] = '\0';
#define KM_ADD(...)                                                                  \
    do {                                                                             \
        if (n < size)                                                                \
            n += (size_t)snprintf(buf + n, size - n, __VA_ARGS__);                   \
    } while (0)
    if (r->pool_count != 0) {
        KM_ADD("%llu pool allocation%s, %llu bytes (", r->pool_count,
               r->pool_count == 1 ? "" : "s", r->pool_bytes);
        for (size_t i = 0; i < r->ntags; i++) {
            char tn[5];
            KM_ADD("%s'%s' %llu x, %llu bytes", i ? "; " : "", nmr_km_tag_name(r->tags[i].tag, tn),
                   r->tags[i].count, r->tags[i].bytes);
        }
        if (r->more_tags)
            KM_ADD("; %zu more tags", r->more_tags);
        KM_ADD(")");
    }
    if (r->threads != 0)
        KM_ADD("%s%u system thread%s running", n ? ", " : "", r->threads,
               r->threads == 1 ? "" : "s");
    if (r->work_items != 0)
        KM_ADD("%s%u work item%s queued or running", n ? ", " : "", r->work_items,
               r->work_items == 1 ? "" : "s");
#undef KM_ADD
}

NTSTATUS nmr_km_driver_start(nmr_km_entry_fn *entry, const char *name, const void *base,
                             nmr_km_driver **out)
{
    const void *site = KM_SITE();
    if (out != NULL)
        *out = NULL;
    if (entry == NULL || name == NULL || out == NULL)
        return STATUS_INVALID_PARAMETER;
    km_check("nmr_km_driver_start", PASSIVE_LEVEL, site);
    nmr_km_driver *d = calloc(1, sizeof *d);
    if (d == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    static const char path_prefix[] = "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\";
    size_t nl = strlen(name);
    char *dn = malloc(nl + sizeof "\\Driver\\");
    char *rp = malloc(nl + sizeof path_prefix);
    d->name = strdup(name);
    if (dn == NULL || rp == NULL || d->name == NULL) {
        free(dn);
        free(rp);
        km_driver_destroy(d);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    snprintf(dn, nl + sizeof "\\Driver\\", "\\Driver\\%s", name);
    snprintf(rp, nl + sizeof path_prefix, "%s%s", path_prefix, name);
    int bad = km_wide(dn, &d->object.DriverName, &d->name_buf) != 0 ||
              km_wide(rp, &d->registry_path, &d->path_buf) != 0;
    free(dn);
    free(rp);
    if (bad) {
        km_driver_destroy(d);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    d->base = base;
    d->object.Type = 4; /* IO_TYPE_DRIVER */
    d->object.Size = (CSHORT)sizeof d->object;
    d->object.DriverStart = (PVOID)base;
    d->object.DriverSize = base != NULL ? km_object_size(base) : 0;
    d->object.DriverExtension = &d->extension;
    d->object.DriverInit = (PDRIVER_INITIALIZE)entry;
    d->extension.DriverObject = &d->object;
    d->extension.ServiceKeyName.Buffer = d->path_buf + (sizeof path_prefix - 1);
    d->extension.ServiceKeyName.Length = (USHORT)(nl * sizeof(WCHAR));
    d->extension.ServiceKeyName.MaximumLength = (USHORT)((nl + 1) * sizeof(WCHAR));

    pthread_mutex_lock(&km_drivers_lock);
    d->next = km_drivers;
    km_drivers = d;
    pthread_mutex_unlock(&km_drivers_lock);

    nmr_vsnap snap;
    nmr_vthread *v = nmr__vthread();
    unsigned char irql = v->irql;
    unsigned locks = v->locks, nraise = v->nraise;
    nmr__verify_enter(&snap);
    NTSTATUS st = entry(&d->object, &d->registry_path);
    nmr__verify_leave(&snap, "DriverEntry", (const void *)entry);
    /* Reported if it changed: the host thread goes on as it was. */
    v->irql = irql;
    v->locks = locks;
    v->nraise = nraise;
    if (NT_SUCCESS(st)) {
        *out = d;
        return st;
    }
    nmr_km_residue r;
    km_residue_of(base, &r);
    if (!km_residue_empty(&r) && km_on()) {
        char text[512];
        km_residue_text(&r, text, sizeof text);
        nmr__verify_report(NMR_MISUSE_VERIFIER, (const void *)entry,
                           "DriverEntry of %s failed (%s, 0x%08x) and left %s: the driver "
                           "must not be unmapped",
                           name, nmr_status_name(st), (unsigned)st, text);
    }
    pthread_mutex_lock(&km_drivers_lock);
    for (nmr_km_driver **pp = &km_drivers; *pp != NULL; pp = &(*pp)->next)
        if (*pp == d) {
            *pp = d->next;
            break;
        }
    pthread_mutex_unlock(&km_drivers_lock);
    km_driver_destroy(d);
    return st;
}

int nmr_km_driver_can_unload(const nmr_km_driver *driver)
{
    return driver != NULL && driver->object.DriverUnload != NULL;
}

void nmr_km_driver_unload(nmr_km_driver *driver)
{
    const void *site = KM_SITE();
    if (driver == NULL)
        return;
    km_check("nmr_km_driver_unload", PASSIVE_LEVEL, site);
    if (driver->unloaded || driver->object.DriverUnload == NULL) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "nmr_km_driver_unload of %s: %s", driver->name,
                               driver->unloaded ? "unloaded already"
                                                : "the driver set no DriverUnload");
        return;
    }
    driver->unloaded = 1;
    PDRIVER_UNLOAD fn = driver->object.DriverUnload;
    nmr_vsnap snap;
    nmr_vthread *v = nmr__vthread();
    unsigned char irql = v->irql;
    unsigned locks = v->locks, nraise = v->nraise;
    nmr__verify_enter(&snap);
    fn(&driver->object);
    nmr__verify_leave(&snap, "DriverUnload", (const void *)fn);
    v->irql = irql;
    v->locks = locks;
    v->nraise = nraise;
    km_unload_grace(driver->base);
}

void nmr_km_driver_residue(const nmr_km_driver *driver, nmr_km_residue *out)
{
    if (driver == NULL) {
        memset(out, 0, sizeof *out);
        return;
    }
    km_residue_of(driver->base, out);
}

void nmr_km_driver_free(nmr_km_driver *driver)
{
    if (driver == NULL)
        return;
    pthread_mutex_lock(&km_drivers_lock);
    for (nmr_km_driver **pp = &km_drivers; *pp != NULL; pp = &(*pp)->next)
        if (*pp == driver) {
            *pp = driver->next;
            break;
        }
    pthread_mutex_unlock(&km_drivers_lock);
    km_driver_destroy(driver);
}
