/* SPDX-License-Identifier: MIT */
/*
 * ping_client.c - a client of the ping NPI (ping_npi.h), written as a
 * Windows NPI driver.  DriverEntry registers the client with the NMR and
 * starts a system thread that calls Ping without pause through the
 * newest provider attached (highest version, then the latest attached);
 * DriverUnload stops the thread, waits for it, deregisters and waits.
 *
 * It follows the client pages of Microsoft's NMR programming guide
 * ("Attaching a client module to a provider module", "Detaching a client
 * module from a provider module", "Programming considerations"):
 *   - ClientAttachProvider allocates a binding context from pool (the
 *     driver's tag), calls NmrClientAttachProvider, and on success puts
 *     the binding on the driver's list;
 *   - every call through a provider's dispatch table is counted in flight
 *     under the driver's spin lock (taken only around the count, never
 *     across the call: Ping runs at PASSIVE_LEVEL);
 *   - ClientDetachProvider takes the binding off the list so that no new
 *     call starts, and returns STATUS_SUCCESS when no call is in flight,
 *     else STATUS_PENDING: the last call to leave then calls
 *     NmrClientDetachProviderComplete (after dropping the lock);
 *   - ClientCleanupBindingContext frees the binding context.
 * A provider deregistering (unloaded, hot-swapped) while the thread is in
 * its Ping makes the PENDING detach happen for real; the thread goes on
 * with the other provider if one is attached (make before break).
 *
 * Includes only the kernel-mode layer's <ntddk.h> and <netioddk.h>, and
 * the NPI's header.  Built in the tree by examples/drivers/CMakeLists.txt;
 * out of the tree, with libnmr installed:
 *
 *   cc -shared -fPIC $(pkg-config --cflags nmr-km) ping_client.c \
 *      -o ping_client.so $(pkg-config --libs nmr-km)
 */
#include <ntddk.h>
#include <netioddk.h>

#include "ping_npi.h"

/* "PngC" in pool listings. */
#define PING_CLIENT_TAG PING_TAG('P', 'n', 'g', 'C')

/* One attached provider. */
typedef struct _PING_CLIENT_BINDING {
    LIST_ENTRY Link;               /* on Client.Bindings while usable [Client.Lock] */
    HANDLE NmrBindingHandle;
    PVOID ProviderBindingContext;
    const PING_PROVIDER_DISPATCH *ProviderDispatch;
    USHORT ProviderVersion;        /* copied at attach: no pointer into the provider */
    LONG CallsInFlight;            /* [Client.Lock] */
    BOOLEAN DetachPending;         /* detach returned STATUS_PENDING [Client.Lock] */
} PING_CLIENT_BINDING, *PPING_CLIENT_BINDING;

/* The driver's global state. */
static struct {
    HANDLE NmrClientHandle;
    KSPIN_LOCK Lock;
    LIST_ENTRY Bindings;           /* usable bindings, newest first [Lock] */
    KEVENT StopEvent;              /* set by DriverUnload: the thread ends */
    PVOID Thread;                  /* the calling thread's object, to wait on */
    USHORT CurrentVersion;         /* provider version of the last call [thread] */
    /* counters, read by the stats line */
    LONG64 volatile Calls;         /* right replies */
    LONG64 volatile Refused;       /* no provider attached */
    LONG64 volatile Failed;        /* a provider was attached, the call failed */
    LONG64 volatile Wrong;         /* wrong reply */
    LONG64 volatile Switches;      /* changes of the provider version called */
    LONG64 volatile Detaches;      /* ClientDetachProvider calls */
    LONG64 volatile PendingDetaches; /* ... that returned STATUS_PENDING */
} Client;

static const NPI_MODULEID ClientModuleId = {
    sizeof(NPI_MODULEID), MIT_GUID,
    { { 0x7a3c5e10, 0x4b2d, 0x4f6e, { 0x9a, 0x81, 0x2c, 0x3d, 0x4e, 0x5f, 0x71, 0x01 } } }
};

static const PING_CLIENT_DISPATCH ClientDispatch = {
    PING_NPI_VERSION, sizeof(PING_CLIENT_DISPATCH)
};

static NTSTATUS ClientAttachProvider(HANDLE NmrBindingHandle, PVOID ClientContext,
                                     PNPI_REGISTRATION_INSTANCE ProviderRegistrationInstance)
{
    const PING_PROVIDER_CHARACTERISTICS *pc;
    PPING_CLIENT_BINDING binding;
    const VOID *dispatch = NULL;
    KIRQL irql;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(ClientContext);
    pc = (const PING_PROVIDER_CHARACTERISTICS *)
             ProviderRegistrationInstance->NpiSpecificCharacteristics;
    if (pc == NULL || pc->Length < sizeof(*pc) || pc->Version != PING_NPI_VERSION)
        return STATUS_NOINTERFACE;     /* not a provider we understand */
    binding = (PPING_CLIENT_BINDING)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*binding),
                                                    PING_CLIENT_TAG);
    if (binding == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    binding->NmrBindingHandle = NmrBindingHandle;
    binding->ProviderVersion = pc->ProviderVersion;
    status = NmrClientAttachProvider(NmrBindingHandle, binding, &ClientDispatch,
                                     &binding->ProviderBindingContext, &dispatch);
    if (!NT_SUCCESS(status)) {
        ExFreePoolWithTag(binding, PING_CLIENT_TAG);
        return status;
    }
    binding->ProviderDispatch = (const PING_PROVIDER_DISPATCH *)dispatch;
    KeAcquireSpinLock(&Client.Lock, &irql);
    InsertHeadList(&Client.Bindings, &binding->Link);
    KeReleaseSpinLock(&Client.Lock, irql);
    DbgPrint("attached to provider v%u\n", (unsigned)pc->ProviderVersion);
    return STATUS_SUCCESS;
}

static NTSTATUS ClientDetachProvider(PVOID ClientBindingContext)
{
    PPING_CLIENT_BINDING binding = (PPING_CLIENT_BINDING)ClientBindingContext;
    KIRQL irql;
    LONG inFlight;

    InterlockedIncrement64(&Client.Detaches);
    KeAcquireSpinLock(&Client.Lock, &irql);
    RemoveEntryList(&binding->Link);   /* no new call starts on it */
    InitializeListHead(&binding->Link);
    inFlight = binding->CallsInFlight;
    if (inFlight != 0)
        binding->DetachPending = TRUE;
    KeReleaseSpinLock(&Client.Lock, irql);
    if (inFlight == 0)
        return STATUS_SUCCESS;
    /* The last call to leave calls NmrClientDetachProviderComplete. */
    InterlockedIncrement64(&Client.PendingDetaches);
    DbgPrint("detach from provider v%u pending: %ld call(s) in flight\n",
             (unsigned)binding->ProviderVersion, (long)inFlight);
    return STATUS_PENDING;
}

static VOID ClientCleanupBindingContext(PVOID ClientBindingContext)
{
    ExFreePoolWithTag(ClientBindingContext, PING_CLIENT_TAG);
}

static const NPI_CLIENT_CHARACTERISTICS ClientCharacteristics = {
    0,
    sizeof(NPI_CLIENT_CHARACTERISTICS),
    ClientAttachProvider,
    ClientDetachProvider,
    ClientCleanupBindingContext,
    { 0, sizeof(NPI_REGISTRATION_INSTANCE), &PING_NPI_ID, &ClientModuleId, 0, NULL }
};

/* The usable binding to call: the highest provider version, then the
 * latest attached (the list is newest first).  Counted in flight. */
static PPING_CLIENT_BINDING ReferenceBestBinding(void)
{
    PPING_CLIENT_BINDING best = NULL;
    PLIST_ENTRY entry;
    KIRQL irql;

    KeAcquireSpinLock(&Client.Lock, &irql);
    for (entry = Client.Bindings.Flink; entry != &Client.Bindings; entry = entry->Flink) {
        PPING_CLIENT_BINDING b = CONTAINING_RECORD(entry, PING_CLIENT_BINDING, Link);
        if (best == NULL || b->ProviderVersion > best->ProviderVersion)
            best = b;
    }
    if (best != NULL)
        best->CallsInFlight++;
    KeReleaseSpinLock(&Client.Lock, irql);
    return best;
}

/* The call is over: the last one out of a detaching binding completes
 * the detach, with the lock dropped (the binding may be freed then). */
static VOID DereferenceBinding(PPING_CLIENT_BINDING binding)
{
    HANDLE complete = NULL;
    KIRQL irql;

    KeAcquireSpinLock(&Client.Lock, &irql);
    if (--binding->CallsInFlight == 0 && binding->DetachPending) {
        binding->DetachPending = FALSE;
        complete = binding->NmrBindingHandle;
    }
    KeReleaseSpinLock(&Client.Lock, irql);
    if (complete != NULL)
        NmrClientDetachProviderComplete(complete);
}

static KSTART_ROUTINE CallerThread;

static VOID CallerThread(PVOID StartContext)
{
    LARGE_INTEGER pause;
    ULONG64 value = 0;

    UNREFERENCED_PARAMETER(StartContext);
    pause.QuadPart = -10000;           /* 1 ms, relative */
    for (;;) {
        PPING_CLIENT_BINDING binding = ReferenceBestBinding();
        if (binding == NULL) {
            InterlockedIncrement64(&Client.Refused);
            /* no provider: wait a little, or for the stop */
            if (KeWaitForSingleObject(&Client.StopEvent, Executive, KernelMode, FALSE,
                                      &pause) == STATUS_SUCCESS)
                break;
            continue;
        }
        PING_REPLY reply;
        USHORT version = binding->ProviderVersion;
        NTSTATUS status;
        RtlZeroMemory(&reply, sizeof(reply));
        status = binding->ProviderDispatch->Ping(binding->ProviderBindingContext, ++value,
                                                 &reply);
        DereferenceBinding(binding);
        if (!NT_SUCCESS(status))
            InterlockedIncrement64(&Client.Failed);
        else if (reply.Value != value || reply.ProviderVersion != version)
            InterlockedIncrement64(&Client.Wrong);
        else
            InterlockedIncrement64(&Client.Calls);
        if (version != Client.CurrentVersion) {
            Client.CurrentVersion = version;
            InterlockedIncrement64(&Client.Switches);
        }
        if (KeReadStateEvent(&Client.StopEvent) != 0)
            break;
    }
    PsTerminateSystemThread(STATUS_SUCCESS);
}

static DRIVER_UNLOAD DriverUnload;

/* Stop the thread and wait until it has ended (its object is signalled),
 * so that no call is in flight; then deregister and wait for the NMR. */
static VOID DriverUnload(PDRIVER_OBJECT DriverObject)
{
    NTSTATUS status;

    UNREFERENCED_PARAMETER(DriverObject);
    KeSetEvent(&Client.StopEvent, IO_NO_INCREMENT, FALSE);
    KeWaitForSingleObject(Client.Thread, Executive, KernelMode, FALSE, NULL);
    ObDereferenceObject(Client.Thread);
    Client.Thread = NULL;
    status = NmrDeregisterClient(Client.NmrClientHandle);
    if (status == STATUS_PENDING)
        NmrWaitForClientDeregisterComplete(Client.NmrClientHandle);
    DbgPrint("unloaded: %lld calls, %lld refused, %lld failed, %lld wrong, "
             "%lld pending detaches\n", (long long)ReadNoFence64(&Client.Calls),
             (long long)ReadNoFence64(&Client.Refused), (long long)ReadNoFence64(&Client.Failed),
             (long long)ReadNoFence64(&Client.Wrong),
             (long long)ReadNoFence64(&Client.PendingDetaches));
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    HANDLE thread;
    NTSTATUS status;

    UNREFERENCED_PARAMETER(RegistryPath);
    KeInitializeSpinLock(&Client.Lock);
    InitializeListHead(&Client.Bindings);
    KeInitializeEvent(&Client.StopEvent, NotificationEvent, FALSE);
    status = NmrRegisterClient(&ClientCharacteristics, NULL, &Client.NmrClientHandle);
    if (!NT_SUCCESS(status))
        return status;
    status = PsCreateSystemThread(&thread, THREAD_ALL_ACCESS, NULL, NULL, NULL, CallerThread,
                                  NULL);
    if (NT_SUCCESS(status)) {
        status = ObReferenceObjectByHandle(thread, THREAD_ALL_ACCESS, *PsThreadType,
                                           KernelMode, &Client.Thread, NULL);
        if (!NT_SUCCESS(status)) {     /* cannot wait for it: stop it blindly */
            KeSetEvent(&Client.StopEvent, IO_NO_INCREMENT, FALSE);
        }
        ZwClose(thread);
    }
    if (!NT_SUCCESS(status)) {         /* undo the registration */
        if (NmrDeregisterClient(Client.NmrClientHandle) == STATUS_PENDING)
            NmrWaitForClientDeregisterComplete(Client.NmrClientHandle);
        return status;
    }
    DriverObject->DriverUnload = DriverUnload;
    return STATUS_SUCCESS;
}

#if defined(__linux__)
/* Not part of a Windows driver: nmrhost's optional stats line
 * (<nmr/module.h>, nmr_module_stats), for its `stats` and `check`
 * commands and its progress line. */
#include <stdio.h>

__attribute__((visibility("default"))) int nmr_module_stats(char *buf, size_t size);

__attribute__((visibility("default"))) int nmr_module_stats(char *buf, size_t size)
{
    return snprintf(buf, size, "calls=%lld refused=%lld failed=%lld wrong=%lld switches=%lld "
                    "detaches=%lld pending_detaches=%lld",
                    (long long)ReadNoFence64(&Client.Calls),
                    (long long)ReadNoFence64(&Client.Refused),
                    (long long)ReadNoFence64(&Client.Failed),
                    (long long)ReadNoFence64(&Client.Wrong),
                    (long long)ReadNoFence64(&Client.Switches),
                    (long long)ReadNoFence64(&Client.Detaches),
                    (long long)ReadNoFence64(&Client.PendingDetaches));
}
#endif
