/* SPDX-License-Identifier: MIT */
/*
 * names.cpp - the kernel-mode layer's names, compiled as C++: the same
 * checks as names.c (names_basics.inc, names_kernel.inc).  ctest
 * km_names_cxx.
 *
 * This file includes <netioddk.h> AFTER <ntddk.h>, without INITGUID
 * (DEFINE_GUID declares); names.c includes it before, with INITGUID.
 */
#include <ntddk.h>
#include <netiodef.h>
#include <netioddk.h>

#include "names_basics.inc"
#include "names_kernel.inc"

int main(void)
{
    int failed = km_names_basics();
    failed += km_names_kernel();
    if (failed)
        printf("km_names_cxx: %d check(s) failed\n", failed);
    return failed != 0;
}
