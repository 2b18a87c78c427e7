/* SPDX-License-Identifier: MIT */
/*
 * ping_provider.c - a provider of the ping NPI (ping_npi.h), written as a
 * Windows NPI driver: DriverEntry registers the provider with the NMR,
 * DriverUnload deregisters it and waits until every client has detached.
 * Built twice: ping_provider_v1.so and ping_provider_v2.so
 * (PING_PROVIDER_VERSION=1 or 2), so that nmrhost can hot-swap them while
 * the client (ping_client.c) keeps calling.
 *
 * It follows the provider pages of Microsoft's NMR programming guide:
 * one binding context per attached client, allocated from pool with the
 * driver's tag in ProviderAttachClient and freed in
 * ProviderCleanupBindingContext (the NMR calls it once both sides have
 * detached).  The provider makes no call into its clients, so its detach
 * has nothing in flight and completes at once.
 *
 * Includes only the kernel-mode layer's <ntddk.h> and <netioddk.h>, and
 * the NPI's header.  Built in the tree by examples/drivers/CMakeLists.txt;
 * out of the tree, with libnmr installed:
 *
 *   cc -shared -fPIC $(pkg-config --cflags nmr-km) -DPING_PROVIDER_VERSION=1 \
 *      ping_provider.c -o ping_provider_v1.so $(pkg-config --libs nmr-km)
 *
 * then `nmrhost -c 'load ./ping_provider_v1.so'` (docs/host.md, Drivers).
 */
#include <ntddk.h>
#include <netioddk.h>

#include "ping_npi.h"

#ifndef PING_PROVIDER_VERSION
#define PING_PROVIDER_VERSION 1
#endif

/* "PngP" in pool listings. */
#define PING_PROVIDER_TAG PING_TAG('P', 'n', 'g', 'P')

/* One attached client. */
typedef struct _PING_PROVIDER_BINDING {
    HANDLE NmrBindingHandle;
    PVOID ClientBindingContext;
    const PING_CLIENT_DISPATCH *ClientDispatch;
} PING_PROVIDER_BINDING, *PPING_PROVIDER_BINDING;

/* The driver's global state. */
static struct {
    HANDLE NmrProviderHandle;
    LONG64 volatile Calls;         /* Ping calls answered */
    LONG volatile Bindings;        /* clients attached now */
} Provider;

static const NPI_MODULEID ProviderModuleId = {
    sizeof(NPI_MODULEID), MIT_GUID,
    { { 0x7a3c5e10, 0x4b2d, 0x4f6e,
        { 0x9a, 0x81, 0x2c, 0x3d, 0x4e, 0x5f, 0x70, PING_PROVIDER_VERSION } } }
};

static const PING_PROVIDER_CHARACTERISTICS PingCharacteristics = {
    PING_NPI_VERSION, sizeof(PING_PROVIDER_CHARACTERISTICS), PING_PROVIDER_VERSION
};

static NTSTATUS Ping(PVOID ProviderBindingContext, ULONG64 Value, PPING_REPLY Reply)
{
    LARGE_INTEGER interval;

    UNREFERENCED_PARAMETER(ProviderBindingContext);
    /* Take a little time, as real work would: a client that detaches
     * now finds this call in flight. */
    interval.QuadPart = -1000;    /* 100 us, relative */
    KeDelayExecutionThread(KernelMode, FALSE, &interval);
    Reply->Value = Value;
    Reply->ProviderVersion = PING_PROVIDER_VERSION;
    InterlockedIncrement64(&Provider.Calls);
    return STATUS_SUCCESS;
}

static const PING_PROVIDER_DISPATCH PingDispatch = {
    PING_NPI_VERSION, sizeof(PING_PROVIDER_DISPATCH), Ping
};

static NTSTATUS ProviderAttachClient(HANDLE NmrBindingHandle, PVOID ProviderContext,
                                     PNPI_REGISTRATION_INSTANCE ClientRegistrationInstance,
                                     PVOID ClientBindingContext, const VOID *ClientDispatch,
                                     PVOID *ProviderBindingContext,
                                     const VOID **ProviderDispatch)
{
    PPING_PROVIDER_BINDING binding;

    UNREFERENCED_PARAMETER(ProviderContext);
    UNREFERENCED_PARAMETER(ClientRegistrationInstance);
    binding = (PPING_PROVIDER_BINDING)ExAllocatePool2(POOL_FLAG_NON_PAGED,
                                                      sizeof(*binding), PING_PROVIDER_TAG);
    if (binding == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    binding->NmrBindingHandle = NmrBindingHandle;
    binding->ClientBindingContext = ClientBindingContext;
    binding->ClientDispatch = (const PING_CLIENT_DISPATCH *)ClientDispatch;
    InterlockedIncrement(&Provider.Bindings);
    *ProviderBindingContext = binding;
    *ProviderDispatch = &PingDispatch;
    return STATUS_SUCCESS;
}

/* Nothing of ours is in flight into the client: done at once. */
static NTSTATUS ProviderDetachClient(PVOID ProviderBindingContext)
{
    UNREFERENCED_PARAMETER(ProviderBindingContext);
    return STATUS_SUCCESS;
}

static VOID ProviderCleanupBindingContext(PVOID ProviderBindingContext)
{
    InterlockedDecrement(&Provider.Bindings);
    ExFreePoolWithTag(ProviderBindingContext, PING_PROVIDER_TAG);
}

static const NPI_PROVIDER_CHARACTERISTICS ProviderCharacteristics = {
    0,
    sizeof(NPI_PROVIDER_CHARACTERISTICS),
    ProviderAttachClient,
    ProviderDetachClient,
    ProviderCleanupBindingContext,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &PING_NPI_ID, &ProviderModuleId, 0,
      &PingCharacteristics }
};

static DRIVER_UNLOAD DriverUnload;

/* Deregister, then wait: once the wait returns, no client holds our
 * dispatch table and no callback of ours is pending, so the image may go. */
static VOID DriverUnload(PDRIVER_OBJECT DriverObject)
{
    NTSTATUS status;

    UNREFERENCED_PARAMETER(DriverObject);
    status = NmrDeregisterProvider(Provider.NmrProviderHandle);
    if (status == STATUS_PENDING)
        NmrWaitForProviderDeregisterComplete(Provider.NmrProviderHandle);
    DbgPrint("v%d: unloaded after %lld calls\n", PING_PROVIDER_VERSION,
             (long long)ReadNoFence64(&Provider.Calls));
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    status = NmrRegisterProvider(&ProviderCharacteristics, NULL, &Provider.NmrProviderHandle);
    if (!NT_SUCCESS(status))
        return status;
    DriverObject->DriverUnload = DriverUnload;
    DbgPrint("v%d: registered\n", PING_PROVIDER_VERSION);
    return STATUS_SUCCESS;
}

#if defined(__linux__)
/* Not part of a Windows driver: nmrhost's optional stats line
 * (<nmr/module.h>, nmr_module_stats), for its `stats` and `check`
 * commands. */
#include <stdio.h>

__attribute__((visibility("default"))) int nmr_module_stats(char *buf, size_t size);

__attribute__((visibility("default"))) int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lld bindings=%ld version=%d",
                    (long long)ReadNoFence64(&Provider.Calls),
                    (long)ReadNoFence(&Provider.Bindings), PING_PROVIDER_VERSION);
}
#endif
