/* SPDX-License-Identifier: MIT */
/*
 * names.c - the kernel-mode layer's names, compiled as C: every name of
 * the header-only basics (names_basics.inc) and of the kernel functions
 * (names_kernel.inc), used and checked.  ctest km_names_c.
 *
 * This file includes <netioddk.h> BEFORE <ntddk.h> and defines INITGUID
 * (DEFINE_GUID defines); names.cpp includes it after, without INITGUID
 * (DEFINE_GUID declares): both orders must work.
 */
#define INITGUID
#include <netioddk.h>
#include <ntddk.h>
#include <netiodef.h>

#include "names_basics.inc"
#include "names_kernel.inc"

int main(void)
{
    int failed = km_names_basics();
    failed += km_names_kernel();
    if (failed)
        printf("km_names_c: %d check(s) failed\n", failed);
    return failed != 0;
}
