/* SPDX-License-Identifier: MIT */
/*
 * chk_drv.h - what the catalogue's drivers share (chk_mod.h is the
 * modules'): the driver's state, its DriverEntry and a plain DriverUnload,
 * the module checks, and a client that makes calls the way Microsoft's
 * guide writes one.  Everything is static, and the exported entries
 * (nmr_module_check, nmr_module_stats) are defined here, so a driver
 * includes this header once, in its one source file.
 *
 * Before including it, a driver defines
 *   CHK_DRV_TAG         the pool tag of its binding contexts;
 *   CHK_DRV_MODULE      the number n of its module ID, CHK_MODULE_ID(n).
 *
 * The calling client (ChkDrvAttach, ChkDrvDetach, ChkDrvCleanup,
 * ChkDrvCharacteristics): each call through a provider's dispatch table is
 * counted in flight under the driver's spin lock (ChkDrvCallBegin, then
 * ChkDrvCallEnd); the detach takes the binding off the list, so no new
 * call picks it, and returns STATUS_PENDING while calls are in flight; the
 * last call out calls NmrClientDetachProviderComplete; the cleanup frees
 * the binding's pool.  A driver that attaches otherwise (a listener) keeps
 * its own callbacks and uses the rest.
 */
#ifndef CHK_DRV_H
#define CHK_DRV_H

#include <ntddk.h>
#include <netioddk.h>

#include <nmr/check.h>
#include <nmr/module.h>

#include "chk_npi.h"

#include <stdio.h>

#if !defined(CHK_DRV_TAG) || !defined(CHK_DRV_MODULE)
#error "define CHK_DRV_TAG and CHK_DRV_MODULE before including chk_drv.h"
#endif

typedef struct _CHK_DRV_BINDING {
    LIST_ENTRY Link;                        /* on ChkDrv.Bindings while usable [ChkDrv.Lock] */
    HANDLE NmrBinding;
    PVOID ProviderContext;
    const CHK_PROVIDER_DISPATCH *Provider;
    unsigned Key;                           /* copied at attach */
    LONG InFlight;                          /* [ChkDrv.Lock] */
    BOOLEAN DetachPending;                  /* [ChkDrv.Lock] */
} CHK_DRV_BINDING, *PCHK_DRV_BINDING;

static struct {
    HANDLE Client;
    KSPIN_LOCK Lock;
    LIST_ENTRY Bindings;                    /* [Lock] */
    BOOLEAN Closing;                        /* [Lock]: no new call */
    BOOLEAN Unloaded;
    LONG volatile Seq;
    LONG64 volatile Calls, Failed, Wrong, Attached, Refused, Cleaned;
} ChkDrv;

static inline VOID ChkDrvNotify(PVOID ClientBindingContext, unsigned Value)
{
    UNREFERENCED_PARAMETER(ClientBindingContext);
    UNREFERENCED_PARAMETER(Value);
}

static const CHK_CLIENT_DISPATCH ChkDrvDispatch __attribute__((unused)) = {
    CHK_NPI_VERSION, sizeof(CHK_CLIENT_DISPATCH), ChkDrvNotify
};

/* The provider's registration speaks our NPI: its Key, or STATUS_NOINTERFACE. */
static inline NTSTATUS ChkDrvProviderKey(const NPI_REGISTRATION_INSTANCE *Provider, unsigned *Key)
{
    const CHK_PROVIDER_CHARACTERISTICS *pc =
        (const CHK_PROVIDER_CHARACTERISTICS *)Provider->NpiSpecificCharacteristics;

    if (pc == NULL || pc->Version != CHK_NPI_VERSION || pc->Length < sizeof(*pc))
        return STATUS_NOINTERFACE;
    *Key = pc->Key;
    return STATUS_SUCCESS;
}

/* The first steps of an attach: the provider speaks our NPI (its Key in
 * *Key), and a binding context of Size bytes from non-paged pool (tag
 * CHK_DRV_TAG) in *Context. */
static inline NTSTATUS ChkDrvNewContext(const NPI_REGISTRATION_INSTANCE *Provider, SIZE_T Size,
                                        unsigned *Key, PVOID *Context)
{
    NTSTATUS status = ChkDrvProviderKey(Provider, Key);

    if (!NT_SUCCESS(status))
        return status;
    *Context = ExAllocatePool2(POOL_FLAG_NON_PAGED, Size, CHK_DRV_TAG);
    return *Context != NULL ? STATUS_SUCCESS : STATUS_INSUFFICIENT_RESOURCES;
}

/* Put an attached binding context on the driver's list (Link first). */
static inline VOID ChkDrvPublish(PLIST_ENTRY Link)
{
    KIRQL irql;

    InterlockedIncrement64(&ChkDrv.Attached);
    KeAcquireSpinLock(&ChkDrv.Lock, &irql);
    InsertHeadList(&ChkDrv.Bindings, Link);
    KeReleaseSpinLock(&ChkDrv.Lock, irql);
}

static inline NTSTATUS ChkDrvAttach(HANDLE NmrBindingHandle, PVOID ClientContext,
                             PNPI_REGISTRATION_INSTANCE ProviderRegistrationInstance)
{
    const VOID *dispatch = NULL;
    PCHK_DRV_BINDING binding;
    unsigned key;
    PVOID context;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(ClientContext);
    status = ChkDrvNewContext(ProviderRegistrationInstance, sizeof(*binding), &key, &context);
    if (!NT_SUCCESS(status))
        return status;
    binding = (PCHK_DRV_BINDING)context;
    binding->NmrBinding = NmrBindingHandle;
    binding->Key = key;
    status = NmrClientAttachProvider(NmrBindingHandle, binding, &ChkDrvDispatch,
                                     &binding->ProviderContext, &dispatch);
    if (!NT_SUCCESS(status)) {
        InterlockedIncrement64(&ChkDrv.Refused);
        ExFreePoolWithTag(binding, CHK_DRV_TAG);
        return status;
    }
    binding->Provider = (const CHK_PROVIDER_DISPATCH *)dispatch;
    ChkDrvPublish(&binding->Link);
    return STATUS_SUCCESS;
}

static inline NTSTATUS ChkDrvDetach(PVOID ClientBindingContext)
{
    PCHK_DRV_BINDING binding = (PCHK_DRV_BINDING)ClientBindingContext;
    NTSTATUS status = STATUS_SUCCESS;
    KIRQL irql;

    KeAcquireSpinLock(&ChkDrv.Lock, &irql);
    RemoveEntryList(&binding->Link);        /* no new call picks it */
    InitializeListHead(&binding->Link);
    if (binding->InFlight != 0) {
        binding->DetachPending = TRUE;      /* the last call out completes it */
        status = STATUS_PENDING;
    }
    KeReleaseSpinLock(&ChkDrv.Lock, irql);
    return status;
}

static inline VOID ChkDrvCleanup(PVOID ClientBindingContext)
{
    InterlockedIncrement64(&ChkDrv.Cleaned);
    ExFreePoolWithTag(ClientBindingContext, CHK_DRV_TAG);
}

static const NPI_MODULEID ChkDrvModuleId __attribute__((unused)) = CHK_MODULE_ID(CHK_DRV_MODULE);
static const NPI_CLIENT_CHARACTERISTICS ChkDrvCharacteristics __attribute__((unused)) = {
    0, sizeof(NPI_CLIENT_CHARACTERISTICS), ChkDrvAttach, ChkDrvDetach, ChkDrvCleanup,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &CHK_NPI_ID, &ChkDrvModuleId, 0, NULL }
};

/* A call starts: the first usable binding, counted in flight; NULL when
 * there is none (or the driver is closing). */
static inline PCHK_DRV_BINDING ChkDrvCallBegin(VOID)
{
    PCHK_DRV_BINDING binding = NULL;
    KIRQL irql;

    KeAcquireSpinLock(&ChkDrv.Lock, &irql);
    if (!ChkDrv.Closing && !IsListEmpty(&ChkDrv.Bindings)) {
        binding = CONTAINING_RECORD(ChkDrv.Bindings.Flink, CHK_DRV_BINDING, Link);
        binding->InFlight++;
    }
    KeReleaseSpinLock(&ChkDrv.Lock, irql);
    return binding;
}

/* One call through the binding's provider, its answer checked. */
static inline VOID ChkDrvCall(PCHK_DRV_BINDING Binding, unsigned Value)
{
    unsigned out = 0;
    NTSTATUS status = Binding->Provider->Call(Binding->ProviderContext, Value, &out);

    if (!NT_SUCCESS(status) || out != CHK_ANSWER(Binding->Key, Value))
        InterlockedIncrement64(&ChkDrv.Wrong);
    else
        InterlockedIncrement64(&ChkDrv.Calls);
}

/* The value of a worker's next call. */
static inline unsigned ChkDrvNextValue(unsigned Worker)
{
    return (Worker << 24) ^ (unsigned)InterlockedIncrement(&ChkDrv.Seq);
}

/* The call is over: count it out; the last one out of a detaching binding
 * completes its detach. */
static inline VOID ChkDrvCallEnd(PCHK_DRV_BINDING Binding)
{
    HANDLE complete = NULL;
    KIRQL irql;

    KeAcquireSpinLock(&ChkDrv.Lock, &irql);
    if (--Binding->InFlight == 0 && Binding->DetachPending) {
        Binding->DetachPending = FALSE;
        complete = Binding->NmrBinding;
    }
    KeReleaseSpinLock(&ChkDrv.Lock, irql);
    if (complete != NULL)
        NmrClientDetachProviderComplete(complete);
}

/* DriverUnload without a bug: deregister, wait, done. */
static inline VOID ChkDrvUnloadPlain(PDRIVER_OBJECT DriverObject)
{
    UNREFERENCED_PARAMETER(DriverObject);
    if (NmrDeregisterClient(ChkDrv.Client) == STATUS_PENDING)
        NmrWaitForClientDeregisterComplete(ChkDrv.Client);
    ChkDrv.Unloaded = TRUE;
}

/* What DriverEntry does: a fresh state, then the client's registration. */
static inline NTSTATUS ChkDrvStart(PDRIVER_OBJECT DriverObject,
                            const NPI_CLIENT_CHARACTERISTICS *Characteristics,
                            PDRIVER_UNLOAD Unload)
{
    NTSTATUS status;

    RtlZeroMemory(&ChkDrv, sizeof(ChkDrv));
    KeInitializeSpinLock(&ChkDrv.Lock);
    InitializeListHead(&ChkDrv.Bindings);
    status = NmrRegisterClient(Characteristics, NULL, &ChkDrv.Client);
    if (!NT_SUCCESS(status))
        return status;
    DriverObject->DriverUnload = Unload;
    return STATUS_SUCCESS;
}

/* The driver's own check: no wrong answer; after its unload, every
 * attached binding cleaned up and none left on its list. */
NMR_MODULE_EXPORT int nmr_module_check(char *buf, size_t size)
{
    long long attached = ReadNoFence64(&ChkDrv.Attached);
    long long cleaned = ReadNoFence64(&ChkDrv.Cleaned);
    long long wrong = ReadNoFence64(&ChkDrv.Wrong);

    if (wrong != 0) {
        snprintf(buf, size, "%lld wrong call(s)", wrong);
        return 1;
    }
    if (ChkDrv.Unloaded && (attached != cleaned || !IsListEmpty(&ChkDrv.Bindings))) {
        snprintf(buf, size, "after unload: %lld attached, %lld cleaned up", attached, cleaned);
        return 1;
    }
    return 0;
}

NMR_MODULE_EXPORT int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lld failed=%lld wrong=%lld attached=%lld "
                    "refused=%lld cleaned=%lld",
                    (long long)ReadNoFence64(&ChkDrv.Calls),
                    (long long)ReadNoFence64(&ChkDrv.Failed),
                    (long long)ReadNoFence64(&ChkDrv.Wrong),
                    (long long)ReadNoFence64(&ChkDrv.Attached),
                    (long long)ReadNoFence64(&ChkDrv.Refused),
                    (long long)ReadNoFence64(&ChkDrv.Cleaned));
}

#endif /* CHK_DRV_H */
