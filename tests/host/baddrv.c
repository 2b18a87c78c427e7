/* SPDX-License-Identifier: MIT */
/*
 * baddrv.c - Windows NPI drivers that misbehave, for the nmrhost tests:
 * one source, built once per fault (tests/host/CMakeLists.txt), the fault
 * chosen by a compile definition:
 *
 *   BADDRV_FAIL        DriverEntry registers a ping provider, deregisters
 *                      it and fails: nothing left, the driver is unmapped
 *   BADDRV_FAIL_LEAKY  DriverEntry fails leaving its registration: resident
 *   BADDRV_FAIL_POOL   DriverEntry fails leaving a pool allocation tagged
 *                      "FPol" (24 bytes): resident, the report names it
 *   BADDRV_NO_UNLOAD   sets no DriverUnload: unload is refused, as on Windows
 *   BADDRV_LEAK        DriverUnload frees only one of three allocations
 *                      tagged "Leak" (2 left, 48 + 16 bytes) and one tagged
 *                      "Lk2 " (8 bytes): resident, the report names each tag
 *   BADDRV_THREAD      DriverUnload does not wait for its system thread,
 *                      which ends 800 ms later: resident until then, then a
 *                      second unload unmaps it
 *   BADDRV_SPIN_LOCK   DriverEntry returns holding a spin lock: the
 *                      verifier's report names the driver
 *   BADDRV_BOTH        exports DriverEntry and the module entries too
 *   BADDRV_CRASH       DriverEntry writes through a NULL pointer
 *
 * Each is built with the kernel-mode layer's headers only, as a driver.
 */
#include <ntddk.h>
#include <netioddk.h>

#include "../../examples/drivers/ping_npi.h"

static HANDLE ProviderHandle;
static KSPIN_LOCK Lock;
#if defined(BADDRV_LEAK)
static PVOID Kept;                 /* the allocation its unload frees */
#endif

static NTSTATUS Attach(HANDLE NmrBindingHandle, PVOID ProviderContext,
                       PNPI_REGISTRATION_INSTANCE ClientRegistrationInstance,
                       PVOID ClientBindingContext, const VOID *ClientDispatch,
                       PVOID *ProviderBindingContext, const VOID **ProviderDispatch)
{
    UNREFERENCED_PARAMETER(NmrBindingHandle);
    UNREFERENCED_PARAMETER(ProviderContext);
    UNREFERENCED_PARAMETER(ClientRegistrationInstance);
    UNREFERENCED_PARAMETER(ClientBindingContext);
    UNREFERENCED_PARAMETER(ClientDispatch);
    UNREFERENCED_PARAMETER(ProviderBindingContext);
    UNREFERENCED_PARAMETER(ProviderDispatch);
    return STATUS_NOINTERFACE;      /* binds to nobody */
}

static NTSTATUS Detach(PVOID ProviderBindingContext)
{
    UNREFERENCED_PARAMETER(ProviderBindingContext);
    return STATUS_SUCCESS;
}

static const NPI_MODULEID BadModuleId = {
    sizeof(NPI_MODULEID), MIT_GUID,
    { { 0xbad0bad0, 0x0002, 0x4002, { 0x80, 0x03, 0, 0, 0, 0, 0, 0x11 } } }
};

static const NPI_PROVIDER_CHARACTERISTICS Characteristics = {
    0, sizeof(NPI_PROVIDER_CHARACTERISTICS), Attach, Detach, NULL,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &PING_NPI_ID, &BadModuleId, 0, NULL }
};

#if defined(BADDRV_THREAD)
static KSTART_ROUTINE LateThread;
static VOID LateThread(PVOID StartContext)
{
    LARGE_INTEGER delay;
    UNREFERENCED_PARAMETER(StartContext);
    delay.QuadPart = -8000000;     /* 800 ms */
    KeDelayExecutionThread(KernelMode, FALSE, &delay);
    PsTerminateSystemThread(STATUS_SUCCESS);
}
#endif

#if !defined(BADDRV_NO_UNLOAD)
static DRIVER_UNLOAD DriverUnload;
static VOID DriverUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
#if defined(BADDRV_LEAK)
    ExFreePoolWithTag(Kept, PING_TAG('L', 'e', 'a', 'k'));
#endif
    if (ProviderHandle != NULL && NmrDeregisterProvider(ProviderHandle) == STATUS_PENDING)
        NmrWaitForProviderDeregisterComplete(ProviderHandle);
}
#endif

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    NTSTATUS status;
    UNREFERENCED_PARAMETER(RegistryPath);
#if !defined(BADDRV_NO_UNLOAD)
    /* set first: a failed DriverEntry's unload is never called (Windows) */
    DriverObject->DriverUnload = DriverUnload;
#else
    UNREFERENCED_PARAMETER(DriverObject);
#endif
    KeInitializeSpinLock(&Lock);
    status = NmrRegisterProvider(&Characteristics, NULL, &ProviderHandle);
    if (!NT_SUCCESS(status))
        return status;
#if defined(BADDRV_FAIL)
    if (NmrDeregisterProvider(ProviderHandle) == STATUS_PENDING)
        NmrWaitForProviderDeregisterComplete(ProviderHandle);
    return STATUS_INSUFFICIENT_RESOURCES;
#elif defined(BADDRV_FAIL_LEAKY)
    return STATUS_DEVICE_NOT_READY;
#elif defined(BADDRV_FAIL_POOL)
    if (NmrDeregisterProvider(ProviderHandle) == STATUS_PENDING)
        NmrWaitForProviderDeregisterComplete(ProviderHandle);
    if (ExAllocatePool2(POOL_FLAG_NON_PAGED, 24, PING_TAG('F', 'P', 'o', 'l')) == NULL)
        DbgPrint("baddrv: out of memory\n");
    return STATUS_UNSUCCESSFUL;
#elif defined(BADDRV_NO_UNLOAD)
    return STATUS_SUCCESS;
#else
#if defined(BADDRV_LEAK)
    Kept = ExAllocatePool2(POOL_FLAG_NON_PAGED, 100, PING_TAG('L', 'e', 'a', 'k'));
    if (ExAllocatePool2(POOL_FLAG_NON_PAGED, 48, PING_TAG('L', 'e', 'a', 'k')) == NULL ||
        ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, PING_TAG('L', 'e', 'a', 'k')) == NULL ||
        ExAllocatePool2(POOL_FLAG_PAGED, 8, PING_TAG('L', 'k', '2', ' ')) == NULL ||
        Kept == NULL)
        DbgPrint("baddrv: out of memory\n");
#elif defined(BADDRV_THREAD)
    HANDLE thread;
    if (NT_SUCCESS(PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, NULL, NULL, NULL,
                                        LateThread, NULL)))
        ZwClose(thread);
#elif defined(BADDRV_SPIN_LOCK)
    KIRQL irql;
    KeAcquireSpinLock(&Lock, &irql);   /* and never released */
    UNREFERENCED_PARAMETER(irql);
#elif defined(BADDRV_CRASH)
    volatile uintptr_t nowhere = 16;   /* not NULL: UBSan would stop it first */
    *(volatile int *)nowhere = 1;
#endif
    return STATUS_SUCCESS;
#endif
}

#if defined(BADDRV_BOTH)
/* The entries of an nmrhost module (<nmr/module.h>) as well: ambiguous. */
__attribute__((visibility("default"))) NTSTATUS nmr_module_load(const void *host, int argc,
                                                               char **argv);
__attribute__((visibility("default"))) NTSTATUS nmr_module_unload(void);
__attribute__((visibility("default"))) NTSTATUS nmr_module_load(const void *host, int argc,
                                                               char **argv)
{
    UNREFERENCED_PARAMETER(host);
    UNREFERENCED_PARAMETER(argc);
    UNREFERENCED_PARAMETER(argv);
    return STATUS_SUCCESS;
}
__attribute__((visibility("default"))) NTSTATUS nmr_module_unload(void)
{
    return STATUS_SUCCESS;
}
#endif
