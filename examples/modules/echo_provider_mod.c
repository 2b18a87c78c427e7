/* SPDX-License-Identifier: MIT */
/*
 * echo_provider_mod.c - a provider of the echo NPI (../echo_npi.h) as a
 * loadable module (<nmr/module.h>).  Built twice: with ECHO_PROVIDER_VERSION
 * 1 it is echo_provider_v1.so ("echo-v1", replies with the message), with 2
 * it is echo_provider_v2.so ("echo-v2", tags each reply with its name, the
 * version 2 rule of the NPI).  A client that prefers the newest provider
 * moves from v1 to v2 when v2 is loaded.
 *
 * The provider calls into a client only inside Echo, on the client's own
 * thread, so its detach has nothing to wait for and completes at once; the
 * client's guard keeps the binding alive while its calls are in flight.
 *
 * Arguments: delay-us=N  spin N microseconds in each Echo (a slow provider,
 *                        so that calls are in flight when it is unloaded)
 *            quiet       no log lines
 */
#define _POSIX_C_SOURCE 200809L
#include "../echo_npi.h"

#include <nmr/module.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef ECHO_PROVIDER_VERSION
#error "build with -DECHO_PROVIDER_VERSION=1 or 2"
#endif
#define STR2(x) #x
#define STR(x) STR2(x)
#define PROVIDER_NAME "echo-v" STR(ECHO_PROVIDER_VERSION)

/* Calls served, sharded by thread so that client threads do not fight over
 * one cache line. */
#define SHARDS 16
typedef struct shard {
    _Alignas(64) atomic_ullong calls;
} shard;

static struct {
    const nmr_module_host *host;
    HANDLE nmr_provider;
    unsigned delay_us;
    int quiet;
    atomic_uint clients;                /* bindings attached now */
    shard served[SHARDS];
} prov;

#define LOG(...) do { if (!prov.quiet) prov.host->log(prov.host, __VA_ARGS__); } while (0)

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- the NPI ------------------------------------------------------------ */
static NTSTATUS provider_echo(PVOID ctx, const char *msg, char *out, size_t n)
{
    ECHO_PROVIDER_BINDING *pb = ctx;
    size_t s = ((uintptr_t)pthread_self() >> 8) % SHARDS;

    if (prov.delay_us != 0) {
        uint64_t end = now_ns() + (uint64_t)prov.delay_us * 1000u;
        while (now_ns() < end)
            ;
    }
#if ECHO_PROVIDER_VERSION >= ECHO_NPI_VERSION_TAGGED
    snprintf(out, n, "%s|%s", msg, PROVIDER_NAME);
#else
    snprintf(out, n, "%s", msg);
#endif
    atomic_fetch_add_explicit(&prov.served[s].calls, 1, memory_order_relaxed);
    pb->Client->OnReply(pb->ClientBindingContext, out);
    return STATUS_SUCCESS;
}

static const ECHO_PROVIDER_DISPATCH provider_dispatch = {
    ECHO_PROVIDER_VERSION, sizeof(ECHO_PROVIDER_DISPATCH), provider_echo
};

/* ---- NMR callbacks ------------------------------------------------------ */
static NTSTATUS provider_attach_client(HANDLE nmr_binding, PVOID provider_ctx,
                                       PNPI_REGISTRATION_INSTANCE client,
                                       PVOID client_binding,
                                       const VOID *client_dispatch,
                                       PVOID *provider_binding_out,
                                       const VOID **dispatch)
{
    ECHO_PROVIDER_BINDING *pb;
    NTSTATUS st;

    (void)provider_ctx;
    (void)client;
    st = echo_provider_bind(nmr_binding, client_binding, client_dispatch, &pb);
    if (st != STATUS_SUCCESS)
        return st;
    *provider_binding_out = pb;
    *dispatch = &provider_dispatch;
    atomic_fetch_add(&prov.clients, 1);
    return STATUS_SUCCESS;
}

static NTSTATUS provider_detach_client(PVOID provider_binding_ctx)
{
    (void)provider_binding_ctx;
    return STATUS_SUCCESS;   /* nothing of ours in flight */
}

static VOID provider_cleanup_binding_context(PVOID provider_binding_ctx)
{
    atomic_fetch_sub(&prov.clients, 1);
    free(provider_binding_ctx);
}

/* ---- registration ------------------------------------------------------- */
static const NPI_MODULEID provider_module_id = {
    .Length = sizeof(NPI_MODULEID),
    .Type = MIT_GUID,
    .Guid = { 0x2a9b7c61, 0x0d3e, 0x4f15,
              { 0x9c, 0x08, 0x51, 0xe2, 0x7a, 0x44, 0xb3, 0x60 + ECHO_PROVIDER_VERSION } },
};

static const ECHO_PROVIDER_CHARACTERISTICS provider_npi_chars = {
    ECHO_PROVIDER_VERSION, PROVIDER_NAME
};

static const NPI_PROVIDER_CHARACTERISTICS provider_chars = {
    .Version = 0,
    .Length = sizeof(NPI_PROVIDER_CHARACTERISTICS),
    .ProviderAttachClient = provider_attach_client,
    .ProviderDetachClient = provider_detach_client,
    .ProviderCleanupBindingContext = provider_cleanup_binding_context,
    .ProviderRegistrationInstance = {
        .Version = 0,
        .Size = sizeof(NPI_REGISTRATION_INSTANCE),
        .NpiId = &NPI_ECHO_ID,
        .ModuleId = &provider_module_id,
        .Number = ECHO_PROVIDER_VERSION,
        .NpiSpecificCharacteristics = &provider_npi_chars,
    },
};

/* ---- module entry points ------------------------------------------------ */
NMR_MODULE_EXPORT NTSTATUS nmr_module_load(const nmr_module_host *host, int argc, char **argv)
{
    NTSTATUS st;
    int i;

    prov.host = host;
    prov.delay_us = 0;
    prov.quiet = 0;
    for (i = 1; i < argc; i++) {
        if (strncmp(argv[i], "delay-us=", 9) == 0) {
            prov.delay_us = (unsigned)strtoul(argv[i] + 9, NULL, 10);
        } else if (strcmp(argv[i], "quiet") == 0) {
            prov.quiet = 1;
        } else {
            host->log(host, "unknown argument '%s' (delay-us=N, quiet)", argv[i]);
            return STATUS_INVALID_PARAMETER;
        }
    }
    st = NmrRegisterProvider(&provider_chars, &prov, &prov.nmr_provider);
    if (st == STATUS_SUCCESS)
        LOG("%s registered (NPI version %d)", PROVIDER_NAME, ECHO_PROVIDER_VERSION);
    return st;
}

NMR_MODULE_EXPORT NTSTATUS nmr_module_unload(void)
{
    NTSTATUS st = NmrDeregisterProvider(prov.nmr_provider);

    if (st != STATUS_PENDING && st != STATUS_SUCCESS)
        return st;
    return NmrWaitForProviderDeregisterComplete(prov.nmr_provider);
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    unsigned long long calls = 0;
    size_t i;

    for (i = 0; i < SHARDS; i++)
        calls += atomic_load_explicit(&prov.served[i].calls, memory_order_relaxed);
    return snprintf(buf, size, "calls=%llu clients=%u", calls,
                    atomic_load(&prov.clients));
}
