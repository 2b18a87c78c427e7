/* SPDX-License-Identifier: MIT */
/*
 * nmrkm/kernel.h - the kernel functions of libnmr-km: IRQL, spin locks,
 * push locks, fast mutexes, events and waits, time, pool, work items,
 * system threads, the driver object, assertions and debug output.
 *
 * Included by <wdm.h> (a driver includes <wdm.h> or <ntddk.h>, never this
 * file).  Each function keeps the calling thread's IRQL as Windows would
 * (a spin lock raises it to DISPATCH_LEVEL, a fast mutex to APC_LEVEL)
 * and checks, on entry, the highest IRQL its Microsoft reference page
 * allows; docs/km.md lists the limits and what each check reports.
 *
 * Context: any thread.  The functions that may block (spin lock and push
 * lock acquisition, KeWaitForSingleObject, KeDelayExecutionThread,
 * ExAcquireFastMutex) say so below; none holds a library lock while
 * calling driver code.  Spin locks really exclude each other between
 * threads: a contended one spins a little, then yields the processor.
 */
#ifndef NMR_KM_KERNEL_H
#define NMR_KM_KERNEL_H

#include <ntdef.h>
#include <ntstatus.h>
#include <nmrkm/basics.h>

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NTAPI
#define NTAPI
#endif
#ifndef NTKERNELAPI
#define NTKERNELAPI
#endif
#ifndef NTSYSAPI
#define NTSYSAPI
#endif
#ifndef FASTCALL
#define FASTCALL
#endif

/* The functions of libnmr-km: default visibility, C linkage. */
#if defined(__GNUC__)
#define NMR_KM_API __attribute__((visibility("default")))
#else
#define NMR_KM_API
#endif

/* ======================================================================
 * IRQL
 * ====================================================================== */
#define PASSIVE_LEVEL 0
#define LOW_LEVEL 0
#define APC_LEVEL 1
#define DISPATCH_LEVEL 2
#define HIGH_LEVEL 15

NMR_KM_API KIRQL NTAPI KeGetCurrentIrql(void);
/* The function behind KeRaiseIrql: raises to NewIrql (not below the
 * current IRQL) and returns the IRQL before. */
NMR_KM_API KIRQL NTAPI nmr_km_raise_irql(KIRQL NewIrql);
/* As on Windows, a macro storing the old IRQL through the pointer. */
#define KeRaiseIrql(NewIrql, OldIrql) (*(OldIrql) = nmr_km_raise_irql(NewIrql))
/* Back to NewIrql: the value the matching raise returned. */
NMR_KM_API VOID NTAPI KeLowerIrql(KIRQL NewIrql);
NMR_KM_API KIRQL NTAPI KeRaiseIrqlToDpcLevel(void);

/* ======================================================================
 * Spin locks (non-blocking for the IRQL's sake; they spin, then yield)
 *
 * The lock word records its owner (this thread's token, plus a count of
 * same-thread re-acquisitions the verifier reported), so the checks need
 * no table.  Zero is free: KeInitializeSpinLock or a zeroed word.
 * ====================================================================== */
typedef ULONG_PTR KSPIN_LOCK;
typedef KSPIN_LOCK *PKSPIN_LOCK;

NMR_KM_API VOID NTAPI KeInitializeSpinLock(PKSPIN_LOCK SpinLock);
NMR_KM_API KIRQL NTAPI nmr_km_acquire_spin_lock(PKSPIN_LOCK SpinLock);
#define KeAcquireSpinLock(SpinLock, OldIrql)                                   \
    (*(OldIrql) = nmr_km_acquire_spin_lock(SpinLock))
NMR_KM_API KIRQL NTAPI KeAcquireSpinLockRaiseToDpc(PKSPIN_LOCK SpinLock);
NMR_KM_API VOID NTAPI KeReleaseSpinLock(PKSPIN_LOCK SpinLock, KIRQL NewIrql);
NMR_KM_API VOID NTAPI KeAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);
NMR_KM_API VOID NTAPI KeReleaseSpinLockFromDpcLevel(PKSPIN_LOCK SpinLock);
NMR_KM_API BOOLEAN FASTCALL KeTryToAcquireSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock);

/* In-stack queued spin locks: the handle lives on the caller's stack and
 * remembers the lock and the IRQL to go back to. */
typedef struct _KSPIN_LOCK_QUEUE {
    struct _KSPIN_LOCK_QUEUE *volatile Next;
    PKSPIN_LOCK volatile Lock;
} KSPIN_LOCK_QUEUE, *PKSPIN_LOCK_QUEUE;

typedef struct _KLOCK_QUEUE_HANDLE {
    KSPIN_LOCK_QUEUE LockQueue;
    KIRQL OldIrql;
} KLOCK_QUEUE_HANDLE, *PKLOCK_QUEUE_HANDLE;

NMR_KM_API VOID FASTCALL KeAcquireInStackQueuedSpinLock(PKSPIN_LOCK SpinLock,
                                                        PKLOCK_QUEUE_HANDLE LockHandle);
NMR_KM_API VOID FASTCALL KeReleaseInStackQueuedSpinLock(PKLOCK_QUEUE_HANDLE LockHandle);
NMR_KM_API VOID FASTCALL KeAcquireInStackQueuedSpinLockAtDpcLevel(PKSPIN_LOCK SpinLock,
                                                                  PKLOCK_QUEUE_HANDLE LockHandle);
NMR_KM_API VOID FASTCALL KeReleaseInStackQueuedSpinLockFromDpcLevel(PKLOCK_QUEUE_HANDLE LockHandle);
/* Either at DISPATCH_LEVEL already or below it: raise only if needed. */
NMR_KM_API VOID FASTCALL KeAcquireInStackQueuedSpinLockForDpc(PKSPIN_LOCK SpinLock,
                                                              PKLOCK_QUEUE_HANDLE LockHandle);
NMR_KM_API VOID FASTCALL KeReleaseInStackQueuedSpinLockForDpc(PKLOCK_QUEUE_HANDLE LockHandle);

/* ======================================================================
 * Critical regions, push locks, fast mutexes (these may block)
 * ====================================================================== */
NMR_KM_API VOID NTAPI KeEnterCriticalRegion(void);
NMR_KM_API VOID NTAPI KeLeaveCriticalRegion(void);

/* A reader-writer lock in one pointer-sized word (zero = free). */
typedef ULONG_PTR EX_PUSH_LOCK;
typedef EX_PUSH_LOCK *PEX_PUSH_LOCK;
#define EX_DEFAULT_PUSH_LOCK_FLAGS 0

NMR_KM_API VOID NTAPI ExInitializePushLock(PEX_PUSH_LOCK PushLock);
NMR_KM_API VOID FASTCALL ExAcquirePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags);
NMR_KM_API VOID FASTCALL ExAcquirePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags);
NMR_KM_API VOID FASTCALL ExReleasePushLockExclusiveEx(PEX_PUSH_LOCK PushLock, ULONG Flags);
NMR_KM_API VOID FASTCALL ExReleasePushLockSharedEx(PEX_PUSH_LOCK PushLock, ULONG Flags);
NMR_KM_API VOID NTAPI ExAcquirePushLockExclusive(PEX_PUSH_LOCK PushLock);
NMR_KM_API VOID NTAPI ExAcquirePushLockShared(PEX_PUSH_LOCK PushLock);
NMR_KM_API VOID NTAPI ExReleasePushLockExclusive(PEX_PUSH_LOCK PushLock);
NMR_KM_API VOID NTAPI ExReleasePushLockShared(PEX_PUSH_LOCK PushLock);

/* A mutex that raises to APC_LEVEL while held (not recursive). */
typedef struct _FAST_MUTEX {
    volatile LONG Count;     /* 0 free, 1 held, 2 held with waiters */
    PVOID volatile Owner;    /* the owner's token */
    ULONG Contention;        /* times a caller had to wait */
    ULONG OldIrql;           /* the IRQL to go back to */
} FAST_MUTEX, *PFAST_MUTEX;

NMR_KM_API VOID NTAPI ExInitializeFastMutex(PFAST_MUTEX FastMutex);
NMR_KM_API VOID FASTCALL ExAcquireFastMutex(PFAST_MUTEX FastMutex);
NMR_KM_API VOID FASTCALL ExReleaseFastMutex(PFAST_MUTEX FastMutex);
NMR_KM_API BOOLEAN FASTCALL ExTryToAcquireFastMutex(PFAST_MUTEX FastMutex);

/* ======================================================================
 * Events and waits
 *
 * A KEVENT needs no destroy call: it is a 32-bit futex word and a type.
 * A thread object (PsCreateSystemThread, ObReferenceObjectByHandle)
 * starts with the same header, signalled when the thread ends.
 * ====================================================================== */
typedef enum _EVENT_TYPE { NotificationEvent = 0, SynchronizationEvent = 1 } EVENT_TYPE;
typedef enum _KWAIT_REASON { Executive = 0, UserRequest = 6 } KWAIT_REASON;
typedef CCHAR KPROCESSOR_MODE;
typedef enum _MODE { KernelMode = 0, UserMode = 1 } MODE;
typedef LONG KPRIORITY;
#define IO_NO_INCREMENT 0
#define EVENT_INCREMENT 1
#define IO_NETWORK_INCREMENT 2

typedef struct _DISPATCHER_HEADER {
    volatile LONG SignalState; /* the futex word: 0 not signalled, 1 signalled */
    UCHAR Type;                /* EVENT_TYPE, or the type of another object */
    UCHAR Reserved[3];
} DISPATCHER_HEADER;

typedef struct _KEVENT {
    DISPATCHER_HEADER Header;
} KEVENT, *PKEVENT, *PRKEVENT;

NMR_KM_API VOID NTAPI KeInitializeEvent(PRKEVENT Event, EVENT_TYPE Type, BOOLEAN State);
/* Returns the previous state (non-zero: it was signalled). */
NMR_KM_API LONG NTAPI KeSetEvent(PRKEVENT Event, KPRIORITY Increment, BOOLEAN Wait);
NMR_KM_API LONG NTAPI KeResetEvent(PRKEVENT Event);
NMR_KM_API VOID NTAPI KeClearEvent(PRKEVENT Event);
NMR_KM_API LONG NTAPI KeReadStateEvent(PRKEVENT Event);
/* Blocks.  Timeout: NULL = for ever; negative = relative, in 100 ns
 * units; positive = absolute system time (100 ns units since 1601);
 * zero = test only.  STATUS_SUCCESS or STATUS_TIMEOUT. */
NMR_KM_API NTSTATUS NTAPI KeWaitForSingleObject(PVOID Object, KWAIT_REASON WaitReason,
                                                KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                                                PLARGE_INTEGER Timeout);
/* Blocks for Interval (same units as a wait's timeout; not NULL). */
NMR_KM_API NTSTATUS NTAPI KeDelayExecutionThread(KPROCESSOR_MODE WaitMode, BOOLEAN Alertable,
                                                 PLARGE_INTEGER Interval);
/* Busy-waits (never blocks). */
NMR_KM_API VOID NTAPI KeStallExecutionProcessor(ULONG MicroSeconds);

/* ======================================================================
 * Time and processors
 * ====================================================================== */
NMR_KM_API LARGE_INTEGER NTAPI KeQueryPerformanceCounter(PLARGE_INTEGER PerformanceFrequency);
/* 100 ns units since the system started. */
NMR_KM_API ULONGLONG NTAPI KeQueryInterruptTime(void);
/* 100 ns units since 1601-01-01 UTC. */
NMR_KM_API VOID NTAPI KeQuerySystemTime(PLARGE_INTEGER CurrentTime);
NMR_KM_API VOID NTAPI KeQuerySystemTimePrecise(PLARGE_INTEGER CurrentTime);

typedef ULONG_PTR KAFFINITY;
typedef KAFFINITY *PKAFFINITY;
typedef struct _PROCESSOR_NUMBER {
    USHORT Group;
    UCHAR Number;
    UCHAR Reserved;
} PROCESSOR_NUMBER, *PPROCESSOR_NUMBER;
#define ALL_PROCESSOR_GROUPS 0xffff

NMR_KM_API ULONG NTAPI KeGetCurrentProcessorNumber(void);
NMR_KM_API ULONG NTAPI KeGetCurrentProcessorNumberEx(PPROCESSOR_NUMBER ProcNumber);
NMR_KM_API ULONG NTAPI KeQueryActiveProcessorCount(PKAFFINITY ActiveProcessors);
NMR_KM_API ULONG NTAPI KeQueryActiveProcessorCountEx(USHORT GroupNumber);

/* ======================================================================
 * Pool: tagged allocations (never block)
 * ====================================================================== */
typedef ULONG64 POOL_FLAGS;
#define POOL_FLAG_USE_QUOTA ((POOL_FLAGS)0x1)
#define POOL_FLAG_UNINITIALIZED ((POOL_FLAGS)0x2)
#define POOL_FLAG_SESSION ((POOL_FLAGS)0x4)
#define POOL_FLAG_CACHE_ALIGNED ((POOL_FLAGS)0x8)
#define POOL_FLAG_RAISE_ON_FAILURE ((POOL_FLAGS)0x20)
#define POOL_FLAG_NON_PAGED ((POOL_FLAGS)0x40)
#define POOL_FLAG_NON_PAGED_EXECUTE ((POOL_FLAGS)0x80)
#define POOL_FLAG_PAGED ((POOL_FLAGS)0x100)

/* Zeroed unless POOL_FLAG_UNINITIALIZED.  NULL on failure, a zero tag or
 * a flag word without exactly one of the three pool kinds. */
NMR_KM_API PVOID NTAPI ExAllocatePool2(POOL_FLAGS Flags, SIZE_T NumberOfBytes, ULONG Tag);
/* Not zeroed. */
NMR_KM_API PVOID NTAPI ExAllocatePoolWithTag(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
NMR_KM_API PVOID NTAPI ExAllocatePoolZero(POOL_TYPE PoolType, SIZE_T NumberOfBytes, ULONG Tag);
NMR_KM_API PVOID NTAPI ExAllocatePoolUninitialized(POOL_TYPE PoolType, SIZE_T NumberOfBytes,
                                                   ULONG Tag);
/* Tag "None", not zeroed. */
NMR_KM_API PVOID NTAPI ExAllocatePool(POOL_TYPE PoolType, SIZE_T NumberOfBytes);
NMR_KM_API VOID NTAPI ExFreePoolWithTag(PVOID P, ULONG Tag);
NMR_KM_API VOID NTAPI ExFreePool(PVOID P);
NMR_KM_API VOID NTAPI ExFreePool2(PVOID P, ULONG Tag, PVOID ExtendedParameters,
                                  ULONG ExtendedParametersCount);

/* ======================================================================
 * Objects, devices, drivers
 * ====================================================================== */
struct _DRIVER_OBJECT;
struct _DEVICE_OBJECT;
struct _IRP;
typedef struct _IRP IRP, *PIRP;   /* incomplete: no IRP processing here */

#ifndef NMR_KM_OBJECT_ATTRIBUTES_DEFINED
#define NMR_KM_OBJECT_ATTRIBUTES_DEFINED 1
#if !defined(OBJ_KERNEL_HANDLE)
typedef struct _OBJECT_ATTRIBUTES {
    ULONG Length;
    HANDLE RootDirectory;
    PUNICODE_STRING ObjectName;
    ULONG Attributes;
    PVOID SecurityDescriptor;
    PVOID SecurityQualityOfService;
} OBJECT_ATTRIBUTES, *POBJECT_ATTRIBUTES;
typedef const OBJECT_ATTRIBUTES *PCOBJECT_ATTRIBUTES;
#define OBJ_INHERIT 0x00000002L
#define OBJ_CASE_INSENSITIVE 0x00000040L
#define OBJ_KERNEL_HANDLE 0x00000200L
#define InitializeObjectAttributes(p, n, a, r, s)                              \
    do {                                                                       \
        (p)->Length = sizeof(OBJECT_ATTRIBUTES);                               \
        (p)->RootDirectory = (r);                                              \
        (p)->Attributes = (a);                                                 \
        (p)->ObjectName = (n);                                                 \
        (p)->SecurityDescriptor = (s);                                         \
        (p)->SecurityQualityOfService = NULL;                                  \
    } while (0)
#endif
#endif

typedef struct _CLIENT_ID {
    HANDLE UniqueProcess;
    HANDLE UniqueThread;
} CLIENT_ID, *PCLIENT_ID;

typedef ULONG ACCESS_MASK;
#define SYNCHRONIZE 0x00100000L
#define STANDARD_RIGHTS_REQUIRED 0x000F0000L
#define THREAD_ALL_ACCESS (STANDARD_RIGHTS_REQUIRED | SYNCHRONIZE | 0xFFFF)
#define NtCurrentProcess() ((HANDLE)(LONG_PTR)-1)
#define ZwCurrentProcess() NtCurrentProcess()

typedef struct _OBJECT_TYPE *POBJECT_TYPE;
typedef struct _OBJECT_HANDLE_INFORMATION {
    ULONG HandleAttributes;
    ACCESS_MASK GrantedAccess;
} OBJECT_HANDLE_INFORMATION, *POBJECT_HANDLE_INFORMATION;
/* The thread object type, for ObReferenceObjectByHandle. */
extern NMR_KM_API POBJECT_TYPE *PsThreadType;

typedef struct _KTHREAD *PKTHREAD, *PRKTHREAD;
typedef struct _KTHREAD *PETHREAD;

#define IRP_MJ_CREATE 0x00
#define IRP_MJ_CLOSE 0x02
#define IRP_MJ_DEVICE_CONTROL 0x0e
#define IRP_MJ_INTERNAL_DEVICE_CONTROL 0x0f
#define IRP_MJ_CLEANUP 0x12
#define IRP_MJ_MAXIMUM_FUNCTION 0x1b

typedef NTSTATUS DRIVER_DISPATCH(struct _DEVICE_OBJECT *DeviceObject, struct _IRP *Irp);
typedef DRIVER_DISPATCH *PDRIVER_DISPATCH;
typedef NTSTATUS DRIVER_INITIALIZE(struct _DRIVER_OBJECT *DriverObject,
                                   PUNICODE_STRING RegistryPath);
typedef DRIVER_INITIALIZE *PDRIVER_INITIALIZE;
typedef VOID DRIVER_UNLOAD(struct _DRIVER_OBJECT *DriverObject);
typedef DRIVER_UNLOAD *PDRIVER_UNLOAD;
typedef NTSTATUS DRIVER_ADD_DEVICE(struct _DRIVER_OBJECT *DriverObject,
                                   struct _DEVICE_OBJECT *PhysicalDeviceObject);
typedef DRIVER_ADD_DEVICE *PDRIVER_ADD_DEVICE;
typedef VOID DRIVER_STARTIO(struct _DEVICE_OBJECT *DeviceObject, struct _IRP *Irp);
typedef DRIVER_STARTIO *PDRIVER_STARTIO;

typedef struct _DRIVER_EXTENSION {
    struct _DRIVER_OBJECT *DriverObject;
    PDRIVER_ADD_DEVICE AddDevice;
    ULONG Count;
    UNICODE_STRING ServiceKeyName;
} DRIVER_EXTENSION, *PDRIVER_EXTENSION;

/* A minimal device object: what work items and drivers' bookkeeping use. */
typedef struct _DEVICE_OBJECT {
    CSHORT Type;
    USHORT Size;
    LONG ReferenceCount;
    struct _DRIVER_OBJECT *DriverObject;
    struct _DEVICE_OBJECT *NextDevice;
    ULONG Flags;
    ULONG Characteristics;
    PVOID DeviceExtension;
    ULONG DeviceType;
} DEVICE_OBJECT, *PDEVICE_OBJECT;

typedef struct _DRIVER_OBJECT {
    CSHORT Type;
    CSHORT Size;
    PDEVICE_OBJECT DeviceObject;
    ULONG Flags;
    PVOID DriverStart;          /* the driver's mapping (dladdr's dli_fbase) */
    ULONG DriverSize;           /* its extent, from the program headers */
    PVOID DriverSection;
    PDRIVER_EXTENSION DriverExtension;
    UNICODE_STRING DriverName;  /* L"\\Driver\\NAME" */
    PUNICODE_STRING HardwareDatabase;
    PVOID FastIoDispatch;
    PDRIVER_INITIALIZE DriverInit;
    PDRIVER_STARTIO DriverStartIo;
    PDRIVER_UNLOAD DriverUnload;
    PDRIVER_DISPATCH MajorFunction[IRP_MJ_MAXIMUM_FUNCTION + 1];
} DRIVER_OBJECT, *PDRIVER_OBJECT;

/* The entry every driver defines: declared here with C linkage, so that a
 * C++ driver's own `DRIVER_INITIALIZE DriverEntry;` keeps it, and with
 * default visibility, so that the host finds it with dlsym. */
NMR_KM_API DRIVER_INITIALIZE DriverEntry;

/* ======================================================================
 * Work items and system threads (real threads; the routines run at
 * PASSIVE_LEVEL, checked on return like a callback)
 * ====================================================================== */
typedef enum _WORK_QUEUE_TYPE {
    CriticalWorkQueue = 0,
    DelayedWorkQueue = 1,
    HyperCriticalWorkQueue = 2,
    NormalWorkQueue = 3,
    BackgroundWorkQueue = 4
} WORK_QUEUE_TYPE;

typedef struct _IO_WORKITEM IO_WORKITEM, *PIO_WORKITEM;
typedef VOID IO_WORKITEM_ROUTINE(PDEVICE_OBJECT DeviceObject, PVOID Context);
typedef IO_WORKITEM_ROUTINE *PIO_WORKITEM_ROUTINE;
typedef VOID IO_WORKITEM_ROUTINE_EX(PVOID IoObject, PVOID Context, PIO_WORKITEM IoWorkItem);
typedef IO_WORKITEM_ROUTINE_EX *PIO_WORKITEM_ROUTINE_EX;

NMR_KM_API PIO_WORKITEM NTAPI IoAllocateWorkItem(PDEVICE_OBJECT DeviceObject);
NMR_KM_API VOID NTAPI IoQueueWorkItem(PIO_WORKITEM IoWorkItem, PIO_WORKITEM_ROUTINE WorkerRoutine,
                                      WORK_QUEUE_TYPE QueueType, PVOID Context);
NMR_KM_API VOID NTAPI IoQueueWorkItemEx(PIO_WORKITEM IoWorkItem,
                                        PIO_WORKITEM_ROUTINE_EX WorkerRoutine,
                                        WORK_QUEUE_TYPE QueueType, PVOID Context);
NMR_KM_API VOID NTAPI IoFreeWorkItem(PIO_WORKITEM IoWorkItem);

typedef VOID WORKER_THREAD_ROUTINE(PVOID Parameter);
typedef WORKER_THREAD_ROUTINE *PWORKER_THREAD_ROUTINE;
typedef struct _WORK_QUEUE_ITEM {
    LIST_ENTRY List;
    PWORKER_THREAD_ROUTINE WorkerRoutine;
    PVOID Parameter;
} WORK_QUEUE_ITEM, *PWORK_QUEUE_ITEM;
#define ExInitializeWorkItem(Item, Routine, Context)                           \
    do {                                                                       \
        (Item)->WorkerRoutine = (Routine);                                     \
        (Item)->Parameter = (Context);                                         \
        (Item)->List.Flink = NULL;                                             \
    } while (0)
NMR_KM_API VOID NTAPI ExQueueWorkItem(PWORK_QUEUE_ITEM WorkItem, WORK_QUEUE_TYPE QueueType);

typedef VOID KSTART_ROUTINE(PVOID StartContext);
typedef KSTART_ROUTINE *PKSTART_ROUTINE;

/* The thread starts at once; *ThreadHandle is closed with ZwClose. */
NMR_KM_API NTSTATUS NTAPI PsCreateSystemThread(PHANDLE ThreadHandle, ULONG DesiredAccess,
                                               POBJECT_ATTRIBUTES ObjectAttributes,
                                               HANDLE ProcessHandle, PCLIENT_ID ClientId,
                                               PKSTART_ROUTINE StartRoutine, PVOID StartContext);
/* Ends the calling system thread (does not return). */
NMR_KM_API NTSTATUS NTAPI PsTerminateSystemThread(NTSTATUS ExitStatus);
NMR_KM_API NTSTATUS NTAPI ZwClose(HANDLE Handle);
/* A thread handle only: *Object is the thread, to wait on (KeWait...). */
NMR_KM_API NTSTATUS NTAPI ObReferenceObjectByHandle(HANDLE Handle, ACCESS_MASK DesiredAccess,
                                                    POBJECT_TYPE ObjectType,
                                                    KPROCESSOR_MODE AccessMode, PVOID *Object,
                                                    POBJECT_HANDLE_INFORMATION HandleInformation);
NMR_KM_API LONG_PTR FASTCALL ObfDereferenceObject(PVOID Object);
#define ObDereferenceObject(o) ObfDereferenceObject(o)
NMR_KM_API PETHREAD NTAPI PsGetCurrentThread(void);
NMR_KM_API HANDLE NTAPI PsGetCurrentThreadId(void);
#define KeGetCurrentThread() ((PKTHREAD)PsGetCurrentThread())

/* ======================================================================
 * Assertions and debug output
 * ====================================================================== */
/* A failed assertion is reported (misuse kind NMR_MISUSE_ASSERT: the
 * expression, file:line and the code's object) and the driver goes on;
 * in strict mode (NMR_STRICT=1) the process aborts.  Always active, as
 * in a checked build. */
NMR_KM_API VOID NTAPI nmr_km_assert_failed(PCSTR Expression, PCSTR Message, PCSTR File,
                                           ULONG Line);
#define NT_ASSERTMSG(Msg, Exp)                                                 \
    ((void)((Exp) ? 1 : (nmr_km_assert_failed(#Exp, (Msg), __FILE__, __LINE__), 0)))
#define NT_ASSERT(Exp) NT_ASSERTMSG(NULL, Exp)
#define NT_ASSERT_ASSUME(Exp) NT_ASSERT(Exp)
#define NT_VERIFYMSG(Msg, Exp)                                                 \
    ((Exp) ? TRUE : (nmr_km_assert_failed(#Exp, (Msg), __FILE__, __LINE__), FALSE))
#define NT_VERIFY(Exp) NT_VERIFYMSG(NULL, Exp)
#define ASSERTMSG(Msg, Exp) NT_ASSERTMSG(Msg, Exp)
#ifndef ASSERT
#define ASSERT(Exp) NT_ASSERT(Exp)
#endif

#define DPFLTR_ERROR_LEVEL 0
#define DPFLTR_WARNING_LEVEL 1
#define DPFLTR_TRACE_LEVEL 2
#define DPFLTR_INFO_LEVEL 3
#define DPFLTR_MASK 0x80000000
#define DPFLTR_IHVDRIVER_ID 77

/* printf formats, plus %wZ (PUNICODE_STRING), %ws / %S / %ls (wide
 * string), %wc / %C / %lc (wide character) and the I64 / I32 / I size
 * prefixes.  To standard error, prefixed by the driver's name.  (No
 * format attribute: %wZ is not a C format.) */
NMR_KM_API ULONG DbgPrint(PCSTR Format, ...);
NMR_KM_API ULONG DbgPrintEx(ULONG ComponentId, ULONG Level, PCSTR Format, ...);
#define KdPrint(_x_) ((void)DbgPrint _x_)
#define KdPrintEx(_x_) ((void)DbgPrintEx _x_)
NMR_KM_API VOID NTAPI DbgBreakPoint(void);

#ifdef __cplusplus
}
#endif

#endif /* NMR_KM_KERNEL_H */
