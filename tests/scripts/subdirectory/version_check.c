/* SPDX-License-Identifier: MIT */
/*
 * version_check.c - linked into the add_subdirectory() consumers: the
 * generated <nmr/version.h> is found through the nmr::* targets, and the
 * library linked reports the version the header says.  Runs before main.
 */
#include <nmr/version.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((constructor)) static void version_check(void)
{
    if (strcmp(nmr_version(), NMR_VERSION_STRING) != 0) {
        fprintf(stderr, "version_check: nmr_version() is %s, the header %s\n",
                nmr_version(), NMR_VERSION_STRING);
        exit(1);
    }
    printf("version_check: libnmr %s\n", nmr_version());
}
