/* SPDX-License-Identifier: MIT */
/*
 * bugdrv_pool_leak.c - bugdrv_pool_leak.so: a Windows NPI driver (libnmr-km)
 * that is a client of the catalogue's NPI and leaks pool on one path.
 *
 * The real bug: ClientAttachProvider allocates the binding context from
 * non-paged pool (tag "CkPl") before calling NmrClientAttachProvider;
 * the cleanup frees it.  When the provider refuses the client, the error
 * path returns the status without freeing the allocation: nothing will
 * ever free it, and it is still there when DriverUnload returns.  It takes
 * a provider that refuses: chk_provider.so:refuse-first refuses the first
 * client offered after each load, so the path runs in every schedule.
 *
 * Oracle: residue (pool of the driver left at unload: tag "CkPl").
 *
 * A driver's DriverEntry takes no load arguments, so the correct form is
 * a second object, bugdrv_pool_leak_fixed.so (this source with
 * CHK_FIXED=1): the error path frees the allocation.
 *
 * Otherwise correct: a listener (it makes no calls, it only counts the
 * provider's notifications), so its detach has nothing to wait for; its
 * binding contexts stay valid until their cleanup.
 */
#include <ntddk.h>
#include <netioddk.h>

#include <nmr/module.h>

#include "chk_npi.h"

#include <stdio.h>

#define PL_TAG CHK_TAG('C', 'k', 'P', 'l')

typedef struct _PL_BINDING {
    LIST_ENTRY Link;                        /* on Drv.Bindings [Drv.Lock] */
    HANDLE NmrBinding;
    PVOID ProviderContext;
    const VOID *ProviderDispatch;
    LONG64 volatile Notifies;
} PL_BINDING, *PPL_BINDING;

static struct {
    HANDLE Client;
    KSPIN_LOCK Lock;
    LIST_ENTRY Bindings;                    /* [Lock] */
    BOOLEAN Unloaded;
    LONG64 volatile Notifies, Attached, Refused, Cleaned;
} Drv;

static VOID PlNotify(PVOID ClientBindingContext, unsigned Value)
{
    PPL_BINDING binding = (PPL_BINDING)ClientBindingContext;

    UNREFERENCED_PARAMETER(Value);
    InterlockedIncrement64(&binding->Notifies);
    InterlockedIncrement64(&Drv.Notifies);
}

static const CHK_CLIENT_DISPATCH PlDispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), PlNotify
};

static NTSTATUS PlAttach(HANDLE NmrBindingHandle, PVOID ClientContext,
                         PNPI_REGISTRATION_INSTANCE ProviderRegistrationInstance)
{
    const CHK_PROVIDER_CHARACTERISTICS *pc;
    PPL_BINDING binding;
    KIRQL irql;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(ClientContext);
    pc = (const CHK_PROVIDER_CHARACTERISTICS *)
             ProviderRegistrationInstance->NpiSpecificCharacteristics;
    if (pc == NULL || pc->Version != CHK_NPI_VERSION || pc->Length < sizeof(*pc))
        return STATUS_NOINTERFACE;
    binding = (PPL_BINDING)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*binding), PL_TAG);
    if (binding == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    binding->NmrBinding = NmrBindingHandle;
    status = NmrClientAttachProvider(NmrBindingHandle, binding, &PlDispatch,
                                     &binding->ProviderContext, &binding->ProviderDispatch);
    if (!NT_SUCCESS(status)) {
        InterlockedIncrement64(&Drv.Refused);
#if defined(CHK_FIXED)
        ExFreePoolWithTag(binding, PL_TAG);
#endif
        return status;                      /* BUG unless fixed: binding leaked */
    }
    InterlockedIncrement64(&Drv.Attached);
    KeAcquireSpinLock(&Drv.Lock, &irql);
    InsertHeadList(&Drv.Bindings, &binding->Link);
    KeReleaseSpinLock(&Drv.Lock, irql);
    return STATUS_SUCCESS;
}

static NTSTATUS PlDetach(PVOID ClientBindingContext)
{
    UNREFERENCED_PARAMETER(ClientBindingContext);
    return STATUS_SUCCESS;                  /* it makes no calls */
}

static VOID PlCleanup(PVOID ClientBindingContext)
{
    PPL_BINDING binding = (PPL_BINDING)ClientBindingContext;
    KIRQL irql;

    KeAcquireSpinLock(&Drv.Lock, &irql);
    RemoveEntryList(&binding->Link);
    KeReleaseSpinLock(&Drv.Lock, irql);
    InterlockedIncrement64(&Drv.Cleaned);
    ExFreePoolWithTag(binding, PL_TAG);
}

static const NPI_MODULEID PlModuleId = CHK_MODULE_ID(31);
static const NPI_CLIENT_CHARACTERISTICS PlCharacteristics = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), PlAttach, PlDetach, PlCleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &PlModuleId, 0, NULL }
};

static DRIVER_UNLOAD DriverUnload;

static VOID DriverUnload(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    if (NmrDeregisterClient(Drv.Client) == STATUS_PENDING)
        NmrWaitForClientDeregisterComplete(Drv.Client);
    Drv.Unloaded = TRUE;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    RtlZeroMemory(&Drv, sizeof(Drv));
    KeInitializeSpinLock(&Drv.Lock);
    InitializeListHead(&Drv.Bindings);
    status = NmrRegisterClient(&PlCharacteristics, NULL, &Drv.Client);
    if (!NT_SUCCESS(status))
        return status;
    DriverObject->DriverUnload = DriverUnload;
    return STATUS_SUCCESS;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    long long attached = ReadNoFence64(&Drv.Attached), cleaned = ReadNoFence64(&Drv.Cleaned);

    if (Drv.Unloaded && (attached != cleaned || !IsListEmpty(&Drv.Bindings))) {
        snprintf(buf, size, "after unload: %lld attached, %lld cleaned up", attached, cleaned);
        return 1;
    }
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "notifies=%lld attached=%lld refused=%lld cleaned=%lld",
                    (long long)ReadNoFence64(&Drv.Notifies),
                    (long long)ReadNoFence64(&Drv.Attached),
                    (long long)ReadNoFence64(&Drv.Refused),
                    (long long)ReadNoFence64(&Drv.Cleaned));
}
