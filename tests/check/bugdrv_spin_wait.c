/* SPDX-License-Identifier: MIT */
/*
 * bugdrv_spin_wait.c - bugdrv_spin_wait.so: a Windows NPI driver (libnmr-km)
 * that is a client of the catalogue's NPI and blocks with a spin lock held.
 *
 * The real bug: DriverUnload deregisters, then takes the driver's spin
 * lock to mark the driver closing, and waits for the deregistration with
 * the lock still held, "so that no call can slip in until the NMR is
 * done".  KeAcquireSpinLock raises the IRQL to DISPATCH_LEVEL, and
 * NmrWaitForClientDeregisterComplete may only be called below it: on
 * Windows a blocking wait at DISPATCH_LEVEL is a bug check (or, if a
 * pending detach needs the lock to complete, a deadlock).  Every unload
 * does it.
 *
 * Oracle: verifier (NmrWaitForClientDeregisterComplete called at
 * DISPATCH_LEVEL, limit APC_LEVEL, the IRQL raised by KeAcquireSpinLock).
 *
 * A driver's DriverEntry takes no load arguments, so the correct form is
 * a second object, bugdrv_spin_wait_fixed.so (this source with
 * CHK_FIXED=1): the lock is released before the wait.
 *
 * Otherwise correct, as Microsoft's guide writes a client: each call
 * through a provider's dispatch table (nmr_module_exercise, from the
 * tool's workers) is counted in flight under the spin lock; the detach
 * returns STATUS_PENDING while calls are in flight and the last one out
 * calls NmrClientDetachProviderComplete; the cleanup frees the binding's
 * pool.
 */
#include <ntddk.h>
#include <netioddk.h>

#include <nmr/check.h>
#include <nmr/module.h>

#include "chk_npi.h"

#include <stdio.h>

#define SW_TAG CHK_TAG('C', 'k', 'S', 'w')

typedef struct _SW_BINDING {
    LIST_ENTRY Link;                        /* on Drv.Bindings while usable [Drv.Lock] */
    HANDLE NmrBinding;
    PVOID ProviderContext;
    const CHK_PROVIDER_DISPATCH *Provider;
    unsigned Key;                           /* copied at attach */
    LONG InFlight;                          /* [Drv.Lock] */
    BOOLEAN DetachPending;                  /* [Drv.Lock] */
} SW_BINDING, *PSW_BINDING;

static struct {
    HANDLE Client;
    KSPIN_LOCK Lock;
    LIST_ENTRY Bindings;                    /* [Lock] */
    BOOLEAN Closing;                        /* [Lock] */
    BOOLEAN Unloaded;
    LONG volatile Seq;
    LONG64 volatile Calls, Wrong, Attached, Cleaned;
} Drv;

static VOID SwNotify(PVOID ClientBindingContext, unsigned Value)
{
    UNREFERENCED_PARAMETER(ClientBindingContext);
    UNREFERENCED_PARAMETER(Value);
}

static const CHK_CLIENT_DISPATCH SwDispatch = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), SwNotify
};

static NTSTATUS SwAttach(HANDLE NmrBindingHandle, PVOID ClientContext,
                         PNPI_REGISTRATION_INSTANCE ProviderRegistrationInstance)
{
    const CHK_PROVIDER_CHARACTERISTICS *pc;
    const VOID *dispatch = NULL;
    PSW_BINDING binding;
    KIRQL irql;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(ClientContext);
    pc = (const CHK_PROVIDER_CHARACTERISTICS *)
             ProviderRegistrationInstance->NpiSpecificCharacteristics;
    if (pc == NULL || pc->Version != CHK_NPI_VERSION || pc->Length < sizeof(*pc))
        return STATUS_NOINTERFACE;
    binding = (PSW_BINDING)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*binding), SW_TAG);
    if (binding == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    binding->NmrBinding = NmrBindingHandle;
    binding->Key = pc->Key;
    status = NmrClientAttachProvider(NmrBindingHandle, binding, &SwDispatch,
                                     &binding->ProviderContext, &dispatch);
    if (!NT_SUCCESS(status)) {
        ExFreePoolWithTag(binding, SW_TAG);
        return status;
    }
    binding->Provider = (const CHK_PROVIDER_DISPATCH *)dispatch;
    InterlockedIncrement64(&Drv.Attached);
    KeAcquireSpinLock(&Drv.Lock, &irql);
    InsertHeadList(&Drv.Bindings, &binding->Link);
    KeReleaseSpinLock(&Drv.Lock, irql);
    return STATUS_SUCCESS;
}

static NTSTATUS SwDetach(PVOID ClientBindingContext)
{
    PSW_BINDING binding = (PSW_BINDING)ClientBindingContext;
    NTSTATUS status = STATUS_SUCCESS;
    KIRQL irql;

    KeAcquireSpinLock(&Drv.Lock, &irql);
    RemoveEntryList(&binding->Link);        /* no new call picks it */
    InitializeListHead(&binding->Link);
    if (binding->InFlight != 0) {
        binding->DetachPending = TRUE;      /* the last call out completes it */
        status = STATUS_PENDING;
    }
    KeReleaseSpinLock(&Drv.Lock, irql);
    return status;
}

static VOID SwCleanup(PVOID ClientBindingContext)
{
    InterlockedIncrement64(&Drv.Cleaned);
    ExFreePoolWithTag(ClientBindingContext, SW_TAG);
}

static const NPI_MODULEID SwModuleId = CHK_MODULE_ID(30);
static const NPI_CLIENT_CHARACTERISTICS SwCharacteristics = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), SwAttach, SwDetach, SwCleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &SwModuleId, 0, NULL }
};

/* One call through the first usable binding (the tool's workers). */
NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    PSW_BINDING binding = NULL;
    HANDLE complete = NULL;
    unsigned value, out = 0;
    KIRQL irql;
    NTSTATUS status;

    KeAcquireSpinLock(&Drv.Lock, &irql);
    if (!Drv.Closing && !IsListEmpty(&Drv.Bindings)) {
        binding = CONTAINING_RECORD(Drv.Bindings.Flink, SW_BINDING, Link);
        binding->InFlight++;
    }
    KeReleaseSpinLock(&Drv.Lock, irql);
    if (binding == NULL)
        return;
    nmrcheck_yield();                       /* a call in flight: its detach may come */
    value = (worker << 24) ^ (unsigned)InterlockedIncrement(&Drv.Seq);
    status = binding->Provider->Call(binding->ProviderContext, value, &out);
    if (!NT_SUCCESS(status) || out != CHK_ANSWER(binding->Key, value))
        InterlockedIncrement64(&Drv.Wrong);
    else
        InterlockedIncrement64(&Drv.Calls);
    KeAcquireSpinLock(&Drv.Lock, &irql);
    if (--binding->InFlight == 0 && binding->DetachPending) {
        binding->DetachPending = FALSE;
        complete = binding->NmrBinding;
    }
    KeReleaseSpinLock(&Drv.Lock, irql);
    if (complete != NULL)
        NmrClientDetachProviderComplete(complete);
}

static DRIVER_UNLOAD DriverUnload;

static VOID DriverUnload(PDRIVER_OBJECT DriverObject)
{
    NTSTATUS status;
    KIRQL irql;

    UNREFERENCED_PARAMETER(DriverObject);
    status = NmrDeregisterClient(Drv.Client);   /* runs SwDetach here: no lock held */
    KeAcquireSpinLock(&Drv.Lock, &irql);
    Drv.Closing = TRUE;
#if defined(CHK_FIXED)
    KeReleaseSpinLock(&Drv.Lock, irql);
    if (status == STATUS_PENDING)
        NmrWaitForClientDeregisterComplete(Drv.Client);
#else
    if (status == STATUS_PENDING)           /* BUG: blocks at DISPATCH_LEVEL */
        NmrWaitForClientDeregisterComplete(Drv.Client);
    KeReleaseSpinLock(&Drv.Lock, irql);
#endif
    Drv.Unloaded = TRUE;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    RtlZeroMemory(&Drv, sizeof(Drv));
    KeInitializeSpinLock(&Drv.Lock);
    InitializeListHead(&Drv.Bindings);
    status = NmrRegisterClient(&SwCharacteristics, NULL, &Drv.Client);
    if (!NT_SUCCESS(status))
        return status;
    DriverObject->DriverUnload = DriverUnload;
    return STATUS_SUCCESS;
}

NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    long long attached = ReadNoFence64(&Drv.Attached), cleaned = ReadNoFence64(&Drv.Cleaned);
    long long wrong = ReadNoFence64(&Drv.Wrong);

    if (wrong != 0) {
        snprintf(buf, size, "%lld wrong call(s)", wrong);
        return 1;
    }
    if (Drv.Unloaded && (attached != cleaned || !IsListEmpty(&Drv.Bindings))) {
        snprintf(buf, size, "after unload: %lld attached, %lld cleaned up", attached, cleaned);
        return 1;
    }
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lld wrong=%lld attached=%lld cleaned=%lld",
                    (long long)ReadNoFence64(&Drv.Calls), (long long)ReadNoFence64(&Drv.Wrong),
                    (long long)ReadNoFence64(&Drv.Attached),
                    (long long)ReadNoFence64(&Drv.Cleaned));
}
