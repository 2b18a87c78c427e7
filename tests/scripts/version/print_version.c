/* SPDX-License-Identifier: MIT */
/*
 * print_version.c - prints the version of libnmr as the headers give it
 * and as the loaded library gives it, one "name value" per line, for
 * version.sh to compare with pkg-config and the CMake package.
 */
#include <nmr/version.h>

#include <stdio.h>

/* The macros, usable in #if as documented. */
#if !defined(NMR_VERSION_MAJOR) || !defined(NMR_VERSION_MINOR) || \
    !defined(NMR_VERSION_PATCH) || !defined(NMR_VERSION_STRING)
#error "<nmr/version.h> lacks one of the NMR_VERSION_* macros"
#endif
#if NMR_VERSION_MAJOR + NMR_VERSION_MINOR + NMR_VERSION_PATCH < 0
#error "NMR_VERSION_* are not integer constants"
#endif

int main(void)
{
    printf("macros %d.%d.%d\n", NMR_VERSION_MAJOR, NMR_VERSION_MINOR,
           NMR_VERSION_PATCH);
    printf("string %s\n", NMR_VERSION_STRING);
    printf("library %s\n", nmr_version());
    return 0;
}
