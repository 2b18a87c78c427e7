/* SPDX-License-Identifier: MIT */
/*
 * pool.c - tagged pool allocations and their checks.
 *
 * Every live allocation has a record in a hash table keyed by its
 * address: tag, size, pool kind (paged or not), the code that asked for
 * it and the object that code lies in (the driver it is attributed to).
 * A freed block is not given back at once: it waits in a bounded
 * quarantine (its record and its memory, filled with 0xDF and poisoned
 * under ASan), so a second free of it is told apart from a pointer the
 * pool never gave, and its address is not handed out again at once.
 * Neither check touches memory the pool does not own.
 *
 * Context: any thread; never blocks (one internal mutex, held for a
 * table operation, never across a report).
 */
#define _GNU_SOURCE
#include "km/internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define KM_POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define KM_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define KM_POISON(p, n) ((void)(p), (void)(n))
#define KM_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

typedef struct km_block {
    struct km_block *next;
    void *p;
    size_t size;
    ULONG tag;
    unsigned char paged;
    const void *site;      /* who allocated (or, in quarantine, who freed) */
    const void *asked_by;  /* who allocated */
    const void *base;      /* the object asked_by lies in */
} km_block;

#define KM_BUCKETS 4096u
#define KM_QUARANTINE 256u

static pthread_mutex_t km_pool_lock = PTHREAD_MUTEX_INITIALIZER;
static km_block *km_live[KM_BUCKETS];
static km_block *km_quar[KM_QUARANTINE]; /* a ring, oldest at km_quar_head */
static unsigned km_quar_head, km_quar_len;
static long km_fail_at;
static unsigned long km_attempts;    /* pool allocations asked for (nmr_km_pool_count) */

void nmr_km__pool_fail_at(long n)
{
    __atomic_store_n(&km_fail_at, n > 0 ? n : 0, __ATOMIC_RELAXED);
}

void nmr_km_pool_fail_at(long n)
{
    nmr_km__pool_fail_at(n);
}

unsigned long nmr_km_pool_count(void)
{
    return __atomic_load_n(&km_attempts, __ATOMIC_RELAXED);
}

static int km_injected_failure(void)
{
    long n = __atomic_load_n(&km_fail_at, __ATOMIC_RELAXED);
    while (n > 0) {
        if (__atomic_compare_exchange_n(&km_fail_at, &n, n - 1, 0, __ATOMIC_RELAXED,
                                        __ATOMIC_RELAXED))
            return n == 1;
    }
    return 0;
}

static unsigned km_hash(const void *p)
{
    uintptr_t x = (uintptr_t)p >> 4;
    x ^= x >> 17;
    x *= (uintptr_t)0x9E3779B97F4A7C15ULL;
    return (unsigned)(x >> 7) % KM_BUCKETS;
}

char *nmr_km_tag_name(ULONG tag, char *buf)
{
    for (int i = 0; i < 4; i++) {
        unsigned char c = (unsigned char)(tag >> (8 * i));
        buf[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '.';
    }
    buf[4] = '\0';
    return buf;
}

static void *km_pool_alloc(const char *fn, int paged, SIZE_T size, ULONG tag, int zero,
                           const void *site)
{
    km_check(fn, DISPATCH_LEVEL, site);
    if (paged && km_on() && km_irql() > APC_LEVEL && km_irql() <= DISPATCH_LEVEL) {
        char name[96];
        snprintf(name, sizeof name, "%s of paged pool", fn);
        nmr__verify_irql(name, APC_LEVEL, site);
    }
    __atomic_fetch_add(&km_attempts, 1, __ATOMIC_RELAXED);
    if (km_injected_failure())
        return NULL;
    km_block *b = malloc(sizeof *b);
    if (b == NULL)
        return NULL;
    void *p = NULL;
    size_t asked = size == 0 ? 1 : size;
    asked = (asked + 15) & ~(size_t)15;
    if (asked < size || posix_memalign(&p, 16, asked) != 0) {
        free(b);
        return NULL;
    }
    if (zero)
        memset(p, 0, size);
    b->p = p;
    b->size = size;
    b->tag = tag;
    b->paged = (unsigned char)(paged != 0);
    b->site = site;
    b->asked_by = site;
    b->base = km_object_base(site);
    unsigned h = km_hash(p);
    pthread_mutex_lock(&km_pool_lock);
    b->next = km_live[h];
    km_live[h] = b;
    pthread_mutex_unlock(&km_pool_lock);
    return p;
}

static int km_flags_paged(POOL_FLAGS f, int *ok)
{
    POOL_FLAGS kinds = f & (POOL_FLAG_NON_PAGED | POOL_FLAG_NON_PAGED_EXECUTE | POOL_FLAG_PAGED);
    *ok = kinds == POOL_FLAG_NON_PAGED || kinds == POOL_FLAG_NON_PAGED_EXECUTE ||
          kinds == POOL_FLAG_PAGED;
    return kinds == POOL_FLAG_PAGED;
}

PVOID ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag)
{
    const void *site = KM_SITE();
    int ok;
    int paged = km_flags_paged(Flags, &ok);
    if (!ok || Tag == 0) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "ExAllocatePool2 with %s (flags 0x%llx, tag 0x%08x): it returns "
                               "NULL",
                               Tag == 0 ? "a zero tag" : "not exactly one pool kind flag",
                               (unsigned long long)Flags, (unsigned)Tag);
        return NULL;
    }
    return km_pool_alloc("ExAllocatePool2", paged, NumberOfBytes, Tag,
                         !(Flags & POOL_FLAG_UNINITIALIZED), site);
}

/* The paged POOL_TYPE values are the odd ones (PagedPool, its cache
 * aligned and session forms). */
static int km_type_paged(POOL_TYPE t)
{
    return ((unsigned)t & 1u) != 0;
}

PVOID ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
{
    return km_pool_alloc("ExAllocatePoolWithTag", km_type_paged(PoolType), NumberOfBytes, Tag, 0,
                         KM_SITE());
}

PVOID ExAllocatePoolZero(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
{
    return km_pool_alloc("ExAllocatePoolZero", km_type_paged(PoolType), NumberOfBytes, Tag, 1,
                         KM_SITE());
}

PVOID ExAllocatePoolUninitialized(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag)
{
    return km_pool_alloc("ExAllocatePoolUninitialized", km_type_paged(PoolType), NumberOfBytes,
                         Tag, 0, KM_SITE());
}

/* The tag "None", as the pool tags allocations that name none. */
#define KM_TAG_NONE ((ULONG)'N' | ((ULONG)'o' << 8) | ((ULONG)'n' << 16) | ((ULONG)'e' << 24))

PVOID ExAllocatePool(POOL_TYPE PoolType, SIZE_T NumberOfBytes)
{
    return km_pool_alloc("ExAllocatePool", km_type_paged(PoolType), NumberOfBytes, KM_TAG_NONE,
                         0, KM_SITE());
}

static void km_release_block(km_block *b)
{
    if (b == NULL)
        return;
    KM_UNPOISON(b->p, (b->size + 15) & ~(size_t)15);
    free(b->p);
    free(b);
}

/* check_tag: compare with tag (ExFreePoolWithTag). */
static void km_pool_free(const char *fn, PVOID p, int check_tag, ULONG tag, const void *site)
{
    km_check(fn, DISPATCH_LEVEL, site);
    if (p == NULL) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site, "%s of NULL", fn);
        return;
    }
    km_block found, *evicted = NULL;
    int state = 0; /* 1 live, 2 quarantined (double free), 0 foreign */
    unsigned h = km_hash(p);
    pthread_mutex_lock(&km_pool_lock);
    for (km_block **pp = &km_live[h]; *pp != NULL; pp = &(*pp)->next) {
        km_block *b = *pp;
        if (b->p != p)
            continue;
        *pp = b->next;
        found = *b;
        state = 1;
        b->site = site;
        if (km_quar_len == KM_QUARANTINE) {
            evicted = km_quar[km_quar_head];
            km_quar[km_quar_head] = b;
            km_quar_head = (km_quar_head + 1) % KM_QUARANTINE;
        } else {
            km_quar[(km_quar_head + km_quar_len++) % KM_QUARANTINE] = b;
        }
        memset(b->p, 0xDF, b->size);
        KM_POISON(b->p, (b->size + 15) & ~(size_t)15);
        break;
    }
    if (state == 0) {
        for (unsigned i = 0; i < km_quar_len; i++) {
            km_block *b = km_quar[(km_quar_head + i) % KM_QUARANTINE];
            if (b->p == p) {
                found = *b;
                state = 2;
            }
        }
    }
    pthread_mutex_unlock(&km_pool_lock);
    km_release_block(evicted);

    char tn[5], tn2[5], at[160];
    if (state == 1) {
        if (found.paged && km_on() && km_irql() > APC_LEVEL &&
            km_irql() <= DISPATCH_LEVEL) {
            char name[96];
            snprintf(name, sizeof name, "%s of paged pool", fn);
            nmr__verify_irql(name, APC_LEVEL, site);
        }
        if (check_tag && tag != found.tag && km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "%s of %p with tag '%s' (0x%08x), but it was allocated with tag "
                               "'%s' (0x%08x, %zu bytes) at %s",
                               fn, p, nmr_km_tag_name(tag, tn), (unsigned)tag,
                               nmr_km_tag_name(found.tag, tn2), (unsigned)found.tag, found.size,
                               nmr__describe_code(found.asked_by, at, sizeof at));
        return;
    }
    if (!km_on())
        return;
    if (state == 2) {
        char at2[160];
        nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                           "%s of %p, which was freed already (at %s; allocated with tag '%s', "
                           "%zu bytes, at %s): a double free",
                           fn, p, nmr__describe_code(found.site, at, sizeof at),
                           nmr_km_tag_name(found.tag, tn), found.size,
                           nmr__describe_code(found.asked_by, at2, sizeof at2));
    } else {
        nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                           "%s of %p, which the pool did not allocate (or freed long ago)", fn,
                           p);
    }
}

VOID ExFreePoolWithTag(PVOID P, ULONG Tag)
{
    km_pool_free("ExFreePoolWithTag", P, 1, Tag, KM_SITE());
}

VOID ExFreePool(PVOID P)
{
    km_pool_free("ExFreePool", P, 0, 0, KM_SITE());
}

VOID ExFreePool2(PVOID P, ULONG Tag, PVOID ExtendedParameters, ULONG ExtendedParametersCount)
{
    (void)ExtendedParameters;
    (void)ExtendedParametersCount;
    km_pool_free("ExFreePool2", P, 1, Tag, KM_SITE());
}

void km_pool_residue(const void *base, nmr_km_residue *out)
{
    ULONG extra[256]; /* the tags beyond tags[], to count each once */
    size_t nextra = 0;
    pthread_mutex_lock(&km_pool_lock);
    for (unsigned h = 0; h < KM_BUCKETS; h++) {
        for (km_block *b = km_live[h]; b != NULL; b = b->next) {
            if (b->base != base)
                continue;
            out->pool_count++;
            out->pool_bytes += b->size;
            size_t i = 0;
            while (i < out->ntags && out->tags[i].tag != b->tag)
                i++;
            if (i == out->ntags) {
                if (out->ntags == NMR_KM_RESIDUE_TAGS) {
                    size_t j = 0;
                    while (j < nextra && extra[j] != b->tag)
                        j++;
                    if (j == nextra) {
                        out->more_tags++;
                        if (nextra < sizeof extra / sizeof extra[0])
                            extra[nextra++] = b->tag;
                    }
                    continue;
                }
                out->ntags++;
                out->tags[i].tag = b->tag;
                out->tags[i].count = 0;
                out->tags[i].bytes = 0;
            }
            out->tags[i].count++;
            out->tags[i].bytes += b->size;
        }
    }
    pthread_mutex_unlock(&km_pool_lock);
}
