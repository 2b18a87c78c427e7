/* SPDX-License-Identifier: MIT */
/*
 * test_dlclose.c - R33: a thread that used libnmr may outlive the unloading
 * of the image that holds libnmr (dlclose), and exit cleanly.
 *
 *   test_dlclose lib LIBNMR.so    dlopen libnmr itself, use it through
 *                                 dlsym from a worker thread
 *   test_dlclose plugin PLUGIN.so a plugin that links libnmr (shared or
 *                                 static) and uses it from a worker
 *
 * Then dlclose, and only then let the worker exit: its thread-exit
 * handlers are libnmr's code.  Before the fix this died with SIGSEGV in
 * the thread's exit (the handlers ran in unmapped memory).
 */
#define _POSIX_C_SOURCE 200809L

#include "../lib/chars.h"

#include <dlfcn.h>
#include <netioddk.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

typedef NTSTATUS reg_fn(PNPI_PROVIDER_CHARACTERISTICS, PVOID, PHANDLE);
typedef NTSTATUS handle_fn(HANDLE);
typedef int use_fn(void);

static void *g_image;
static int g_lib_mode;
static int g_used;
static pthread_mutex_t g_m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static int g_step; /* 1: worker used libnmr; 2: main closed the image */


static int use_lib(void)
{
    static const NPIID npi = {0x7e800002u, 1, 2, {3, 4, 5, 6, 7, 8, 9, 10}};
    static const NPI_MODULEID mod = {sizeof(NPI_MODULEID), MIT_GUID, {{0}}};
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    test_callbacks cb = {test_client_decline, test_detach_success, NULL, test_provider_decline, test_detach_success, NULL};
    test_chars_init(&cc, &pc, &npi, &mod, &mod, &cb);
    reg_fn *reg;
    handle_fn *dereg, *wait;
    *(void **)&reg = dlsym(g_image, "NmrRegisterProvider");
    *(void **)&dereg = dlsym(g_image, "NmrDeregisterProvider");
    *(void **)&wait = dlsym(g_image, "NmrWaitForProviderDeregisterComplete");
    if (reg == NULL || dereg == NULL || wait == NULL)
        return 0;
    int ok = 1;
    for (int i = 0; i < 4 && ok; i++) {
        HANDLE h;
        ok = reg(&pc, NULL, &h) == STATUS_SUCCESS && dereg(h) == STATUS_PENDING &&
             wait(h) == STATUS_SUCCESS;
    }
    return ok;
}

static void *worker(void *arg)
{
    (void)arg;
    int ok;
    if (g_lib_mode) {
        ok = use_lib();
    } else {
        use_fn *use;
        *(void **)&use = dlsym(g_image, "plugin_use");
        ok = use != NULL && use();
    }
    pthread_mutex_lock(&g_m);
    g_used = ok;
    g_step = 1;
    pthread_cond_broadcast(&g_cv);
    while (g_step < 2)
        pthread_cond_wait(&g_cv, &g_m);
    pthread_mutex_unlock(&g_m);
    return NULL; /* thread exit: libnmr's thread-exit handlers run now */
}

int main(int argc, char **argv)
{
    if (argc != 3 || (strcmp(argv[1], "lib") != 0 && strcmp(argv[1], "plugin") != 0)) {
        fprintf(stderr, "usage: test_dlclose lib|plugin FILE.so\n");
        return 2;
    }
    g_lib_mode = strcmp(argv[1], "lib") == 0;
    g_image = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (g_image == NULL) {
        fprintf(stderr, "test_dlclose: %s\n", dlerror());
        return 1;
    }
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0)
        return 1;
    pthread_mutex_lock(&g_m);
    while (g_step < 1)
        pthread_cond_wait(&g_cv, &g_m);
    pthread_mutex_unlock(&g_m);
    if (!g_used) {
        fprintf(stderr, "test_dlclose: the worker could not use libnmr\n");
        return 1;
    }
    if (dlclose(g_image) != 0) {
        fprintf(stderr, "test_dlclose: dlclose: %s\n", dlerror());
        return 1;
    }
    pthread_mutex_lock(&g_m);
    g_step = 2;
    pthread_cond_broadcast(&g_cv);
    pthread_mutex_unlock(&g_m);
    pthread_join(t, NULL);
    printf("test_dlclose %s: the worker exited cleanly after dlclose (R33)\n", argv[1]);
    return 0;
}
