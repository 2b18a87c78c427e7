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
 * provider's notifications, as "calls" in its stats), so its detach has
 * nothing to wait for; its binding contexts stay valid until their
 * cleanup.  The rest (state, DriverEntry, DriverUnload, the checks) is
 * chk_drv.h's.
 */
#define CHK_DRV_TAG CHK_TAG('C', 'k', 'P', 'l')
#define CHK_DRV_MODULE 31
#include "chk_drv.h"

typedef struct _PL_BINDING {
    LIST_ENTRY Link;                        /* on ChkDrv.Bindings [ChkDrv.Lock] */
    HANDLE NmrBinding;
    PVOID ProviderContext;
    const VOID *ProviderDispatch;
    LONG64 volatile Notifies;
} PL_BINDING, *PPL_BINDING;

static VOID PlNotify(PVOID ClientBindingContext, unsigned Value)
{
    PPL_BINDING binding = (PPL_BINDING)ClientBindingContext;

    UNREFERENCED_PARAMETER(Value);
    InterlockedIncrement64(&binding->Notifies);
    InterlockedIncrement64(&ChkDrv.Calls);
}

static const CHK_CLIENT_DISPATCH PlDispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), PlNotify
};

static NTSTATUS PlAttach(HANDLE NmrBindingHandle, PVOID ClientContext,
                         PNPI_REGISTRATION_INSTANCE ProviderRegistrationInstance)
{
    PPL_BINDING binding;
    unsigned key;
    PVOID context;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(ClientContext);
    status = ChkDrvNewContext(ProviderRegistrationInstance, sizeof(*binding), &key, &context);
    if (!NT_SUCCESS(status))
        return status;
    binding = (PPL_BINDING)context;
    binding->NmrBinding = NmrBindingHandle;
    status = NmrClientAttachProvider(NmrBindingHandle, binding, &PlDispatch,
                                     &binding->ProviderContext, &binding->ProviderDispatch);
    if (!NT_SUCCESS(status)) {
        InterlockedIncrement64(&ChkDrv.Refused);
#if defined(CHK_FIXED)
        ExFreePoolWithTag(binding, CHK_DRV_TAG);
#endif
        return status;                      /* BUG unless fixed: binding leaked */
    }
    ChkDrvPublish(&binding->Link);
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

    KeAcquireSpinLock(&ChkDrv.Lock, &irql);
    RemoveEntryList(&binding->Link);
    KeReleaseSpinLock(&ChkDrv.Lock, irql);
    ChkDrvCleanup(binding);                 /* counts it, frees the pool */
}

static const NPI_CLIENT_CHARACTERISTICS PlCharacteristics = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), PlAttach, PlDetach, PlCleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &ChkDrvModuleId, 0, NULL }
};

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNREFERENCED_PARAMETER(RegistryPath);
    return ChkDrvStart(DriverObject, &PlCharacteristics, ChkDrvUnloadPlain);
}
