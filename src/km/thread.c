/* SPDX-License-Identifier: MIT */
/*
 * thread.c - work items and system threads, on real threads.
 *
 * Each queued work item runs on a thread of its own (so a work item that
 * waits for another cannot deadlock a shared worker), at PASSIVE_LEVEL,
 * checked on return like a callback (nmr__verify_enter/leave).  A system
 * thread is a thread object: a DISPATCHER_HEADER first (signalled when
 * the thread ends, so KeWaitForSingleObject waits for it), reference
 * counted by its handle, by ObReferenceObjectByHandle and by the running
 * thread.  Both are counted per creating object for the residue.
 *
 * Context: the queue and create functions never block; the routines run
 * with no library lock held.
 */
#define _GNU_SOURCE
#include "km/internal.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Until <nmr/nt.h> lists it (the NT value). */
#ifndef STATUS_OBJECT_TYPE_MISMATCH
#define STATUS_OBJECT_TYPE_MISMATCH ((NTSTATUS)0xC0000024L)
#endif

/* Start a detached thread; retries a little when the system is short. */
static int km_spawn(void *(*fn)(void *), void *arg)
{
    pthread_attr_t a;
    if (pthread_attr_init(&a) != 0)
        return -1;
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    int rc = EAGAIN;
    for (int i = 0; i < 100 && rc == EAGAIN; i++) {
        rc = pthread_create(&t, &a, fn, arg);
        if (rc == EAGAIN)
            sched_yield();
    }
    pthread_attr_destroy(&a);
    return rc == 0 ? 0 : -1;
}

/* ---- I/O work items -------------------------------------------------------------- */
struct _IO_WORKITEM {
    PDEVICE_OBJECT device;
    int queued;                       /* atomic: queued and not yet started */
    PIO_WORKITEM_ROUTINE routine;
    PIO_WORKITEM_ROUTINE_EX routine_ex;
    PVOID context;
    const void *base;                 /* the object that queued it */
    int ticket;                       /* a schedule explorer's, or -1 */
};

PIO_WORKITEM IoAllocateWorkItem(PDEVICE_OBJECT DeviceObject)
{
    km_check("IoAllocateWorkItem", DISPATCH_LEVEL, KM_SITE());
    PIO_WORKITEM w = calloc(1, sizeof *w);
    if (w != NULL)
        w->device = DeviceObject;
    return w;
}

static void *km_io_work_main(void *arg)
{
    PIO_WORKITEM w = arg;
    PIO_WORKITEM_ROUTINE routine = w->routine;
    PIO_WORKITEM_ROUTINE_EX routine_ex = w->routine_ex;
    PVOID ctx = w->context;
    PDEVICE_OBJECT dev = w->device;
    const void *base = w->base;
    int ticket = w->ticket;
    km_sched_begin(ticket);
    /* Started: it may be queued again, or freed, from its routine. */
    __atomic_store_n(&w->queued, 0, __ATOMIC_RELEASE);
    nmr_vsnap snap;
    nmr__verify_enter(&snap);
    if (routine_ex != NULL) {
        routine_ex(dev, ctx, w);
        nmr__verify_leave(&snap, "IO_WORKITEM_ROUTINE_EX", (const void *)routine_ex);
    } else {
        routine(dev, ctx);
        nmr__verify_leave(&snap, "IO_WORKITEM_ROUTINE", (const void *)routine);
    }
    km_count(base, KM_COUNT_WORK, -1);
    km_sched_end(ticket);
    return NULL;
}

static void km_io_queue(PIO_WORKITEM w, PIO_WORKITEM_ROUTINE r, PIO_WORKITEM_ROUTINE_EX rx,
                        WORK_QUEUE_TYPE type, PVOID ctx, const char *fn, const void *site)
{
    (void)type;
    km_check(fn, DISPATCH_LEVEL, site);
    if (w == NULL || (r == NULL && rx == NULL)) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site, "%s with a NULL %s", fn,
                               w == NULL ? "work item" : "routine");
        return;
    }
    int zero = 0;
    if (!__atomic_compare_exchange_n(&w->queued, &zero, 1, 0, __ATOMIC_ACQ_REL,
                                     __ATOMIC_RELAXED)) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "%s of work item %p, queued already and not yet started", fn,
                               (void *)w);
        return;
    }
    w->routine = r;
    w->routine_ex = rx;
    w->context = ctx;
    w->base = km_object_base(site);
    w->ticket = km_sched_reserve(fn);
    km_count(w->base, KM_COUNT_WORK, 1);
    if (km_spawn(km_io_work_main, w) != 0) {
        km_count(w->base, KM_COUNT_WORK, -1);
        __atomic_store_n(&w->queued, 0, __ATOMIC_RELEASE);
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "%s: no thread could be started for work item %p; it will "
                               "not run",
                               fn, (void *)w);
    }
}

VOID IoQueueWorkItem(PIO_WORKITEM IoWorkItem, PIO_WORKITEM_ROUTINE WorkerRoutine,
                     WORK_QUEUE_TYPE QueueType, PVOID Context)
{
    km_io_queue(IoWorkItem, WorkerRoutine, NULL, QueueType, Context, "IoQueueWorkItem",
                KM_SITE());
}

VOID IoQueueWorkItemEx(PIO_WORKITEM IoWorkItem, PIO_WORKITEM_ROUTINE_EX WorkerRoutine,
                       WORK_QUEUE_TYPE QueueType, PVOID Context)
{
    km_io_queue(IoWorkItem, NULL, WorkerRoutine, QueueType, Context, "IoQueueWorkItemEx",
                KM_SITE());
}

VOID IoFreeWorkItem(PIO_WORKITEM IoWorkItem)
{
    const void *site = KM_SITE();
    km_check("IoFreeWorkItem", DISPATCH_LEVEL, site);
    if (IoWorkItem == NULL)
        return;
    if (__atomic_load_n(&IoWorkItem->queued, __ATOMIC_ACQUIRE)) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "IoFreeWorkItem of work item %p, queued and not yet started "
                               "(it is kept, not freed)",
                               (void *)IoWorkItem);
        return;
    }
    free(IoWorkItem);
}

/* ---- executive work items ----------------------------------------------------------- */
typedef struct km_ex_work {
    PWORKER_THREAD_ROUTINE routine;
    PVOID parameter;
    const void *base;
    int ticket;                /* a schedule explorer's, or -1 */
} km_ex_work;

static void *km_ex_work_main(void *arg)
{
    km_ex_work job = *(km_ex_work *)arg;
    free(arg);
    km_sched_begin(job.ticket);
    nmr_vsnap snap;
    nmr__verify_enter(&snap);
    job.routine(job.parameter);
    nmr__verify_leave(&snap, "WORKER_THREAD_ROUTINE", (const void *)job.routine);
    km_count(job.base, KM_COUNT_WORK, -1);
    km_sched_end(job.ticket);
    return NULL;
}

VOID ExQueueWorkItem(PWORK_QUEUE_ITEM WorkItem, WORK_QUEUE_TYPE QueueType)
{
    (void)QueueType;
    const void *site = KM_SITE();
    km_check("ExQueueWorkItem", DISPATCH_LEVEL, site);
    if (WorkItem == NULL || WorkItem->WorkerRoutine == NULL) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "ExQueueWorkItem of a work item without a routine");
        return;
    }
    km_ex_work *job = malloc(sizeof *job);
    if (job == NULL) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "ExQueueWorkItem: out of memory; the work item will not run");
        return;
    }
    job->routine = WorkItem->WorkerRoutine;
    job->parameter = WorkItem->Parameter;
    job->base = km_object_base(site);
    job->ticket = km_sched_reserve("ExQueueWorkItem");
    km_count(job->base, KM_COUNT_WORK, 1);
    if (km_spawn(km_ex_work_main, job) != 0) {
        km_count(job->base, KM_COUNT_WORK, -1);
        free(job);
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "ExQueueWorkItem: no thread could be started; the work item "
                               "will not run");
    }
}

/* ---- system threads ------------------------------------------------------------------- */
#define KM_THREAD_TYPE 6 /* a dispatcher type that is neither kind of event */

typedef struct _KTHREAD {
    DISPATCHER_HEADER header;  /* signalled when the thread ends */
    int refs;                  /* atomic */
    PKSTART_ROUTINE routine;
    PVOID context;
    const void *base;
    pid_t tid;
    nmr_vsnap snap;
    jmp_buf end;               /* PsTerminateSystemThread comes back here */
    int ticket;                /* a schedule explorer's, or -1 */
    struct _KTHREAD *next;     /* in km_threads, while referenced */
} km_thread;

static POBJECT_TYPE km_thread_type_object = (POBJECT_TYPE)&km_thread_type_object;
POBJECT_TYPE *PsThreadType = &km_thread_type_object;

static pthread_mutex_t km_threads_lock = PTHREAD_MUTEX_INITIALIZER;
static km_thread *km_threads;
static _Thread_local km_thread *km_current;

/* Is t a live thread object?  Under km_threads_lock. */
static int km_thread_known(const void *t)
{
    for (km_thread *p = km_threads; p != NULL; p = p->next)
        if (p == t)
            return 1;
    return 0;
}

/* Take a reference of t if it is a live thread object. */
static int km_thread_ref(const void *t)
{
    pthread_mutex_lock(&km_threads_lock);
    int ok = km_thread_known(t);
    if (ok)
        __atomic_add_fetch(&((km_thread *)t)->refs, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&km_threads_lock);
    return ok;
}

/* Drop a reference; the last one unlinks and frees it.  Returns the
 * count left, or -1 when t is not a thread object. */
static long km_thread_unref(const void *t)
{
    pthread_mutex_lock(&km_threads_lock);
    if (!km_thread_known(t)) {
        pthread_mutex_unlock(&km_threads_lock);
        return -1;
    }
    km_thread *th = (km_thread *)t;
    int left = __atomic_sub_fetch(&th->refs, 1, __ATOMIC_ACQ_REL);
    if (left == 0) {
        for (km_thread **pp = &km_threads; *pp != NULL; pp = &(*pp)->next)
            if (*pp == th) {
                *pp = th->next;
                break;
            }
    }
    pthread_mutex_unlock(&km_threads_lock);
    if (left == 0)
        free(th);
    return left;
}

/* The end of a system thread (returned, or PsTerminateSystemThread).  It
 * stops counting before its object is signalled, so that a DriverUnload
 * that waited on the object finds nothing running; and it runs only code
 * of this library from there on, so the driver may be unmapped as soon as
 * the waiter wakes. */
static void km_thread_end(km_thread *t)
{
    nmr__verify_leave(&t->snap, "KSTART_ROUTINE", (const void *)t->routine);
    km_current = NULL;
    int ticket = t->ticket;
    km_count(t->base, KM_COUNT_THREADS, -1);
    __atomic_store_n(&t->header.SignalState, 1, __ATOMIC_RELEASE);
    nmr_check_wake(t);             /* its waiters, for a schedule explorer */
    km_wake(&t->header.SignalState, 1 << 30);
    km_thread_unref(t);
    km_sched_end(ticket);
}

static void *km_thread_main(void *arg)
{
    km_thread *volatile t = arg;
    km_current = t;
    km_sched_begin(t->ticket);
    t->tid = gettid();
    nmr__verify_enter(&t->snap);
    /* PsTerminateSystemThread jumps back here over the driver's frames:
     * pthread_exit would unwind them (reading the driver's unwind tables
     * and running its cleanup handlers) after the object is signalled,
     * when the driver may be unmapped already. */
    if (setjmp(((km_thread *)t)->end) == 0)
        t->routine(t->context);
    km_thread_end(t);
    return NULL;
}

NTSTATUS PsCreateSystemThread(PHANDLE ThreadHandle, ULONG DesiredAccess,
                              POBJECT_ATTRIBUTES ObjectAttributes, HANDLE ProcessHandle,
                              PCLIENT_ID ClientId, PKSTART_ROUTINE StartRoutine,
                              PVOID StartContext)
{
    (void)DesiredAccess;
    (void)ObjectAttributes;
    (void)ProcessHandle;
    const void *site = KM_SITE();
    km_check("PsCreateSystemThread", PASSIVE_LEVEL, site);
    if (ThreadHandle == NULL || StartRoutine == NULL)
        return STATUS_INVALID_PARAMETER;
    km_thread *t = calloc(1, sizeof *t);
    if (t == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    t->header.Type = KM_THREAD_TYPE;
    t->refs = 2; /* the handle and the running thread */
    t->routine = StartRoutine;
    t->context = StartContext;
    t->base = km_object_base(site);
    t->ticket = km_sched_reserve("PsCreateSystemThread");
    pthread_mutex_lock(&km_threads_lock);
    t->next = km_threads;
    km_threads = t;
    pthread_mutex_unlock(&km_threads_lock);
    km_count(t->base, KM_COUNT_THREADS, 1);
    *ThreadHandle = (HANDLE)t;
    if (ClientId != NULL) {
        ClientId->UniqueProcess = (HANDLE)(intptr_t)getpid();
        ClientId->UniqueThread = (HANDLE)t;
    }
    if (km_spawn(km_thread_main, t) != 0) {
        km_count(t->base, KM_COUNT_THREADS, -1);
        *ThreadHandle = NULL;
        km_thread_unref(t);
        km_thread_unref(t);
        return STATUS_INSUFFICIENT_RESOURCES;
    }
    return STATUS_SUCCESS;
}

NTSTATUS PsTerminateSystemThread(NTSTATUS ExitStatus)
{
    (void)ExitStatus;
    const void *site = KM_SITE();
    km_check("PsTerminateSystemThread", PASSIVE_LEVEL, site);
    km_thread *t = km_current;
    if (t == NULL) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "PsTerminateSystemThread on a thread PsCreateSystemThread did "
                               "not create (ignored)");
        return STATUS_INVALID_PARAMETER;
    }
    longjmp(t->end, 1);
}

NTSTATUS ZwClose(HANDLE Handle)
{
    const void *site = KM_SITE();
    km_check("ZwClose", PASSIVE_LEVEL, site);
    if (km_thread_unref(Handle) < 0) {
        if (km_on())
            nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                               "ZwClose of %p, not a handle libnmr-km gave", (void *)Handle);
        return STATUS_INVALID_HANDLE;
    }
    return STATUS_SUCCESS;
}

NTSTATUS ObReferenceObjectByHandle(HANDLE Handle, ACCESS_MASK DesiredAccess,
                                   POBJECT_TYPE ObjectType, KPROCESSOR_MODE AccessMode,
                                   PVOID *Object, POBJECT_HANDLE_INFORMATION HandleInformation)
{
    (void)DesiredAccess;
    (void)AccessMode;
    const void *site = KM_SITE();
    km_check("ObReferenceObjectByHandle", PASSIVE_LEVEL, site);
    if (Object == NULL)
        return STATUS_INVALID_PARAMETER;
    *Object = NULL;
    if (ObjectType != NULL && ObjectType != *PsThreadType)
        return STATUS_OBJECT_TYPE_MISMATCH;
    if (!km_thread_ref(Handle))
        return STATUS_INVALID_HANDLE;
    if (HandleInformation != NULL) {
        HandleInformation->HandleAttributes = 0;
        HandleInformation->GrantedAccess = DesiredAccess;
    }
    *Object = Handle;
    return STATUS_SUCCESS;
}

LONG_PTR ObfDereferenceObject(PVOID Object)
{
    const void *site = KM_SITE();
    km_check("ObDereferenceObject", DISPATCH_LEVEL, site);
    long left = km_thread_unref(Object);
    if (left < 0 && km_on())
        nmr__verify_report(NMR_MISUSE_VERIFIER, site,
                           "ObDereferenceObject of %p, not an object libnmr-km referenced",
                           Object);
    return left < 0 ? 0 : (LONG_PTR)left;
}

PETHREAD PsGetCurrentThread(void)
{
    if (km_current != NULL)
        return km_current;
    return (PETHREAD)km_token(); /* an identity only, for comparisons */
}

HANDLE PsGetCurrentThreadId(void)
{
    return (HANDLE)(intptr_t)gettid();
}
