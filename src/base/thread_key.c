/* SPDX-License-Identifier: MIT */
/*
 * thread_key.c - pin the image that holds libnmr before making a key
 * whose destructor is its code (thread_key.h).
 */
#define _GNU_SOURCE /* dladdr, RTLD_NOLOAD, RTLD_NODELETE */

#include "base/thread_key.h"

#include <dlfcn.h>
#include <stddef.h>

static pthread_once_t pin_once = PTHREAD_ONCE_INIT;

static void pin_image(void)
{
    Dl_info info;
    if (dladdr((void *)&pin_image, &info) == 0 || info.dli_fname == NULL)
        return;
    /* Already loaded: RTLD_NOLOAD only adds RTLD_NODELETE to it, and the
     * reference is kept for ever.  For the main program the call may find
     * nothing, which is as well: it is never unloaded. */
    (void)dlopen(info.dli_fname, RTLD_LAZY | RTLD_NOLOAD | RTLD_NODELETE);
}

int nmr_thread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
    pthread_once(&pin_once, pin_image);
    return pthread_key_create(key, destructor);
}
