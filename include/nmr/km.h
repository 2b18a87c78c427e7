/* SPDX-License-Identifier: MIT */
/*
 * nmr/km.h - libnmr extension: hosting a Windows driver built with the
 * kernel-mode layer (libnmr-km, pkg-config nmr-km, docs/km.md).
 *
 * A host (nmrhost) maps a driver's shared object, finds its DriverEntry,
 * and hands it here: libnmr-km makes the DRIVER_OBJECT and the registry
 * path, calls the entry at PASSIVE_LEVEL, and checks what the driver left
 * behind (locks held, IRQL, pool, threads, work items).  Mapping and
 * unmapping the object stay the host's business.
 *
 * Declared in the main include directory, as libnmr's other extensions;
 * defined in libnmr-km (link -lnmr-km).
 *
 * Context: each function is called by one host thread at a time for a
 * given driver, at PASSIVE_LEVEL, with no lock held; the entry and unload
 * routines run on the calling thread.
 */
#ifndef NMR_KM_H
#define NMR_KM_H

#include <netioddk.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* One started driver (opaque). */
typedef struct nmr_km_driver nmr_km_driver;

/* DriverEntry as the host sees it: the driver's
 * NTSTATUS DriverEntry(PDRIVER_OBJECT, PUNICODE_STRING). */
typedef NTSTATUS nmr_km_entry_fn(void *driver_object, void *registry_path);

/* Start a driver: call entry(&driver_object, &registry_path) on this
 * thread at PASSIVE_LEVEL.  name names the driver in messages and in its
 * registry path (\Registry\Machine\System\CurrentControlSet\Services\NAME);
 * base is the start of the driver's mapping (dladdr's dli_fbase): pool,
 * threads and reports are attributed to the driver by it.  Returns what
 * DriverEntry returned; on STATUS_SUCCESS (any NT_SUCCESS status) *out is
 * the driver, otherwise *out is NULL and no driver record is kept.  Locks
 * held or the IRQL changed when the entry returns are reported by the
 * verifier (and the host thread goes on at the IRQL it called at).  When
 * a failed entry left something behind (pool, system threads, work
 * items), that is reported too (NMR_MISUSE_VERIFIER), and the host must
 * not unmap the object while nmr_km_object_residue(base) is not empty. */
NMR_API NTSTATUS nmr_km_driver_start(nmr_km_entry_fn *entry, const char *name,
                                     const void *base, nmr_km_driver **out);

/* 1 when the driver set DriverObject->DriverUnload, else 0 (such a driver
 * cannot be unloaded, as on Windows). */
NMR_API int nmr_km_driver_can_unload(const nmr_km_driver *driver);

/* Call the driver's DriverUnload on this thread at PASSIVE_LEVEL (at most
 * once; a second call, or one for a driver without DriverUnload, is
 * misuse and does nothing).  When it returns, work items and system
 * threads of the driver still running are given up to 250 ms to
 * end (a routine that set the event DriverUnload waited for is still
 * returning; on Windows IoQueueWorkItem keeps the driver loaded until it
 * has) before this returns; what runs longer is residue. */
NMR_API void nmr_km_driver_unload(nmr_km_driver *driver);

/* What a driver still holds: pool allocated from its code and not freed,
 * by tag; threads it created (PsCreateSystemThread) still running; work
 * items it queued not finished. */
#define NMR_KM_RESIDUE_TAGS 32
typedef struct nmr_km_pool_usage {
    ULONG tag;                      /* as the driver passed it */
    unsigned long long count;       /* live allocations with this tag */
    unsigned long long bytes;       /* their requested sizes, summed */
} nmr_km_pool_usage;

typedef struct nmr_km_residue {
    unsigned long long pool_count;  /* all live allocations */
    unsigned long long pool_bytes;
    size_t ntags;                   /* entries of tags[] used */
    size_t more_tags;               /* further tags not listed */
    nmr_km_pool_usage tags[NMR_KM_RESIDUE_TAGS];
    unsigned threads;               /* system threads still running */
    unsigned work_items;            /* work items queued or running */
} nmr_km_residue;

NMR_API void nmr_km_driver_residue(const nmr_km_driver *driver, nmr_km_residue *out);

/* The same for whatever code of the object mapped at base (dli_fbase)
 * holds, with or without a driver record: for a driver whose DriverEntry
 * failed, or after nmr_km_driver_free. */
NMR_API void nmr_km_object_residue(const void *base, nmr_km_residue *out);

/* Write a tag as Windows tools show it: its four bytes in memory order, so
 * the source's 'pmeT' shows as "Temp"; non-printing bytes as '.'.  buf
 * holds at least 5 bytes.  Returns buf. */
NMR_API char *nmr_km_tag_name(ULONG tag, char *buf);

/* Forget the driver (after its unload, or when the host gives up on it).
 * Does not unmap anything. */
NMR_API void nmr_km_driver_free(nmr_km_driver *driver);

/* ---- for a schedule explorer (nmrcheck) ------------------------------- */
/* The scheduler hooks are libnmr's (nmr_check_set_sched_hooks, <nmr/check.h>):
 * the layer's waits, spin locks, events and threads call them. */
/* Make the n-th pool allocation from now on fail (1 = the next), once;
 * n <= 0 disarms.  nmr_km_pool_count: pool allocations attempted so far. */
NMR_API void nmr_km_pool_fail_at(long n);
NMR_API unsigned long nmr_km_pool_count(void);

#ifdef __cplusplus
}
#endif

#endif /* NMR_KM_H */
