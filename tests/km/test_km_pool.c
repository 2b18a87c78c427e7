/* SPDX-License-Identifier: MIT */
/*
 * test_km_pool.c - the pool: zeroing, flags, tags, the IRQL of paged
 * pool, and the free checks (another tag, a double free, a pointer the
 * pool never gave) - each reported once, never a crash - and the residue
 * by tag.  The test program is the "driver": its allocations are
 * attributed to its own object.
 */
#include "km_test.h"

#include <stdlib.h>

#define TAG(a, b, c, d) ((ULONG)(a) | ((ULONG)(b) << 8) | ((ULONG)(c) << 16) | ((ULONG)(d) << 24))

void nmr_km__pool_fail_at(long n); /* static archive test hook (src/km) */

static void t_pool_zeroed_and_flags(void)
{
    unsigned char *p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, TAG('T', 'e', 's', 't'));
    CHECK(p != NULL);
    for (int i = 0; i < 100; i++)
        CHECK_EQ(p[i], 0);
    CHECK_EQ((uintptr_t)p % 16, 0);
    ExFreePoolWithTag(p, TAG('T', 'e', 's', 't'));
    p = ExAllocatePool2(POOL_FLAG_PAGED | POOL_FLAG_UNINITIALIZED, 10, TAG('T', 'e', 's', 't'));
    CHECK(p != NULL);
    ExFreePool(p);
    p = ExAllocatePoolZero(NonPagedPoolNx, 33, TAG('Z', 'e', 'r', 'o'));
    CHECK(p != NULL && p[32] == 0);
    ExFreePoolWithTag(p, TAG('Z', 'e', 'r', 'o'));
    p = ExAllocatePoolWithTag(PagedPool, 8, TAG('W', 'i', 't', 'h'));
    CHECK(p != NULL);
    ExFreePoolWithTag(p, TAG('W', 'i', 't', 'h'));
    p = ExAllocatePool(NonPagedPool, 8);
    CHECK(p != NULL);
    ExFreePool(p);
    KT_NO_REPORT();
}

static void t_pool_bad_flags(void)
{
    CHECK(ExAllocatePool2(POOL_FLAG_PAGED | POOL_FLAG_NON_PAGED, 8, TAG('B', 'a', 'd', 'F')) ==
          NULL);
    KT_REPORTS(1, "ExAllocatePool2 with not exactly one pool kind flag", NULL, NULL);
    CHECK(ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, 0) == NULL);
    KT_REPORTS(2, "ExAllocatePool2 with a zero tag", NULL, NULL);
}

static void t_pool_tag_mismatch(void)
{
    void *p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 24, TAG('G', 'o', 'o', 'd'));
    ExFreePoolWithTag(p, TAG('E', 'v', 'i', 'l'));
    KT_REPORTS(1, "ExFreePoolWithTag of", "with tag 'Evil'", "allocated with tag 'Good'");
    /* It was freed all the same: a second free is a double free. */
    ExFreePool(p);
    KT_REPORTS(2, "double free", NULL, NULL);
}

static void t_pool_double_free(void)
{
    void *p = ExAllocatePoolWithTag(NonPagedPoolNx, 40, TAG('D', 'b', 'l', 'F'));
    ExFreePoolWithTag(p, TAG('D', 'b', 'l', 'F'));
    KT_NO_REPORT();
    ExFreePoolWithTag(p, TAG('D', 'b', 'l', 'F'));
    KT_REPORTS(1, "ExFreePoolWithTag of", "which was freed already", "'DblF'");
}

static void t_pool_foreign_free(void)
{
    int on_stack = 0;
    void *m = malloc(32);
    ExFreePool(&on_stack);
    KT_REPORTS(1, "ExFreePool of", "which the pool did not allocate", NULL);
    ExFreePoolWithTag(m, TAG('F', 'o', 'r', 'n'));
    KT_REPORTS(2, "ExFreePoolWithTag of", "which the pool did not allocate", NULL);
    free(m); /* untouched: still ours to free */
    ExFreePool(NULL);
    KT_REPORTS(3, "ExFreePool of NULL", NULL, NULL);
}

static void t_pool_paged_at_dispatch(void)
{
    KIRQL old;
    KSPIN_LOCK l = 0;
    void *paged = ExAllocatePool2(POOL_FLAG_PAGED, 8, TAG('P', 'a', 'g', 'e'));
    KeAcquireSpinLock(&l, &old);
    void *np = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG('N', 'o', 'n', 'P'));
    CHECK(np != NULL);
    ExFreePoolWithTag(np, TAG('N', 'o', 'n', 'P'));
    KT_NO_REPORT();
    void *p2 = ExAllocatePoolWithTag(PagedPool, 8, TAG('P', 'a', 'g', 'e'));
    KT_REPORTS(1, "ExAllocatePoolWithTag of paged pool called at DISPATCH_LEVEL",
               "above its limit APC_LEVEL", NULL);
    ExFreePoolWithTag(paged, TAG('P', 'a', 'g', 'e'));
    KT_REPORTS(2, "ExFreePoolWithTag of paged pool called at DISPATCH_LEVEL",
               "above its limit APC_LEVEL", NULL);
    KeReleaseSpinLock(&l, old);
    ExFreePool(p2);
    KT_REPORTS(2, NULL, NULL, NULL);
}

static void t_pool_residue_by_tag(void)
{
    const void *base = kt_self_base();
    nmr_km_residue r;
    nmr_km_object_residue(base, &r);
    CHECK_EQ(r.pool_count, 0);
    void *a[3];
    for (int i = 0; i < 3; i++)
        a[i] = ExAllocatePool2(POOL_FLAG_NON_PAGED, 10, TAG('R', 'e', 's', '1'));
    void *b = ExAllocatePoolWithTag(PagedPool, 100, TAG('R', 'e', 's', '2'));
    nmr_km_object_residue(base, &r);
    CHECK_EQ(r.pool_count, 4);
    CHECK_EQ(r.pool_bytes, 130);
    CHECK_EQ(r.ntags, 2);
    CHECK_EQ(r.more_tags, 0);
    int seen = 0;
    for (size_t i = 0; i < r.ntags; i++) {
        char tn[5];
        nmr_km_tag_name(r.tags[i].tag, tn);
        if (strcmp(tn, "Res1") == 0) {
            CHECK_EQ(r.tags[i].count, 3);
            CHECK_EQ(r.tags[i].bytes, 30);
            seen |= 1;
        } else if (strcmp(tn, "Res2") == 0) {
            CHECK_EQ(r.tags[i].count, 1);
            CHECK_EQ(r.tags[i].bytes, 100);
            seen |= 2;
        }
    }
    CHECK_EQ(seen, 3);
    /* Another object's residue does not see them. */
    nmr_km_residue other;
    nmr_km_object_residue((const void *)&other, &other);
    CHECK_EQ(other.pool_count, 0);
    for (int i = 0; i < 3; i++)
        ExFreePoolWithTag(a[i], TAG('R', 'e', 's', '1'));
    ExFreePool(b);
    nmr_km_object_residue(base, &r);
    CHECK_EQ(r.pool_count, 0);
    CHECK_EQ(r.ntags, 0);
    KT_NO_REPORT();
}

static void t_pool_many_tags(void)
{
    void *p[40];
    for (int i = 0; i < 40; i++)
        p[i] = ExAllocatePool2(POOL_FLAG_NON_PAGED, 1, TAG('M', 'T', 'A' + i / 26, 'A' + i % 26));
    nmr_km_residue r;
    nmr_km_object_residue(kt_self_base(), &r);
    CHECK_EQ(r.pool_count, 40);
    CHECK_EQ(r.ntags, NMR_KM_RESIDUE_TAGS);
    CHECK_EQ(r.more_tags, 40 - NMR_KM_RESIDUE_TAGS);
    for (int i = 0; i < 40; i++)
        ExFreePool(p[i]);
}

static void t_pool_tag_name_and_failure(void)
{
    char b[5];
    CHECK(strcmp(nmr_km_tag_name(TAG('T', 'e', 'm', 'p'), b), "Temp") == 0);
    CHECK(strcmp(nmr_km_tag_name(TAG('A', 0, '\n', 'z'), b), "A..z") == 0);
    nmr_km__pool_fail_at(2);
    void *ok = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG('F', 'a', 'i', 'l'));
    void *bad = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG('F', 'a', 'i', 'l'));
    void *ok2 = ExAllocatePool2(POOL_FLAG_NON_PAGED, 8, TAG('F', 'a', 'i', 'l'));
    CHECK(ok != NULL);
    CHECK(bad == NULL);
    CHECK(ok2 != NULL);
    ExFreePool(ok);
    ExFreePool(ok2);
    KT_NO_REPORT();
}

/* Many frees: the quarantine is bounded, its oldest blocks given back. */
static void t_pool_quarantine_bounded(void)
{
    for (int i = 0; i < 5000; i++) {
        void *p = ExAllocatePool2(POOL_FLAG_NON_PAGED, 64, TAG('Q', 'u', 'a', 'r'));
        CHECK(p != NULL);
        ExFreePoolWithTag(p, TAG('Q', 'u', 'a', 'r'));
    }
    KT_NO_REPORT();
}

static const nmr_test_case cases[] = {
    CASE(t_pool_zeroed_and_flags, ""),
    CASE(t_pool_bad_flags, ""),
    CASE(t_pool_tag_mismatch, ""),
    CASE(t_pool_double_free, ""),
    CASE(t_pool_foreign_free, ""),
    CASE(t_pool_paged_at_dispatch, ""),
    CASE(t_pool_residue_by_tag, ""),
    CASE(t_pool_many_tags, ""),
    CASE(t_pool_tag_name_and_failure, ""),
    CASE(t_pool_quarantine_bounded, ""),
};
NMR_TEST_SUITE(test_km_pool, cases, kt_setup, NULL, NULL);
