/* SPDX-License-Identifier: MIT */
/*
 * thread_key.h - thread-exit hooks that survive the library's unloading.
 *
 * libnmr returns per-thread state (handle slot caches, allocation
 * counters, rundown thread slots) when a thread exits, through pthread
 * keys with destructors.  A destructor is code of the image that holds
 * libnmr: libnmr.so, or a plugin that linked libnmr.a.  If that image were
 * unmapped (dlclose) while a thread that used it still runs, the thread's
 * exit would jump into unmapped memory.  So the first key made pins the
 * image: libnmr.so is linked with -z nodelete, and at run time the image
 * that holds this code (found with dladdr) is re-opened RTLD_NODELETE, so
 * a dlclose leaves it mapped (R33).
 *
 * Context: may be called from library constructors; takes the dynamic
 * loader's lock once.
 */
#ifndef NMR_SRC_THREAD_KEY_H
#define NMR_SRC_THREAD_KEY_H

#include <pthread.h>

/* pthread_key_create(), after pinning the image that holds libnmr. */
int nmr_thread_key_create(pthread_key_t *key, void (*destructor)(void *));

#endif
