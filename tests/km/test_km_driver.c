/* SPDX-License-Identifier: MIT */
/*
 * test_km_driver.c - the host API (<nmr/km.h>) with driver code in the
 * test program: the DRIVER_OBJECT and registry path DriverEntry gets,
 * unload, residue, the checks around DriverEntry and DriverUnload (a lock
 * still held, a failed entry that leaves pool behind), assertions and
 * DbgPrint's output and formats.
 */
#include "km_test.h"

#include <fcntl.h>
#include <unistd.h>
#include <wchar.h>

#define TAG(a, b, c, d) ((ULONG)(a) | ((ULONG)(b) << 8) | ((ULONG)(c) << 16) | ((ULONG)(d) << 24))

static PDRIVER_OBJECT g_obj;
static char g_path[256];
static void *g_mem;
static int g_unloaded;
static KSPIN_LOCK g_lock;

/* A wide counted string as ASCII (the test's names are ASCII). */
static void narrow(PCUNICODE_STRING u, char *buf, size_t size)
{
    size_t n = u->Length / sizeof(WCHAR), i;
    for (i = 0; i < n && i + 1 < size; i++)
        buf[i] = (char)u->Buffer[i];
    buf[i] = '\0';
}

static DRIVER_UNLOAD good_unload;
static void good_unload(PDRIVER_OBJECT DriverObject)
{
    CHECK(DriverObject == g_obj);
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL);
    ExFreePoolWithTag(g_mem, TAG('D', 'r', 'v', 'T'));
    g_unloaded++;
}

static NTSTATUS good_entry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    g_obj = DriverObject;
    narrow(RegistryPath, g_path, sizeof g_path);
    DriverObject->DriverUnload = good_unload;
    g_mem = ExAllocatePool2(POOL_FLAG_NON_PAGED, 48, TAG('D', 'r', 'v', 'T'));
    return g_mem != NULL ? STATUS_SUCCESS : STATUS_INSUFFICIENT_RESOURCES;
}

static void t_driver_start_unload(void)
{
    nmr_km_driver *d = NULL;
    const void *base = kt_self_base();
    NTSTATUS st = nmr_km_driver_start((nmr_km_entry_fn *)good_entry, "drvtest", base, &d);
    CHECK_STATUS(st, STATUS_SUCCESS);
    CHECK(d != NULL);
    char name[128];
    narrow(&g_obj->DriverName, name, sizeof name);
    CHECK(strcmp(name, "\\Driver\\drvtest") == 0);
    CHECK(strcmp(g_path, "\\Registry\\Machine\\System\\CurrentControlSet\\Services\\drvtest") == 0);
    CHECK(g_obj->DriverStart == base);
    CHECK(g_obj->DriverSize > 0);
    CHECK(g_obj->DriverExtension != NULL);
    CHECK(nmr_km_driver_can_unload(d));
    nmr_km_residue r;
    nmr_km_driver_residue(d, &r);
    CHECK_EQ(r.pool_count, 1);
    CHECK_EQ(r.pool_bytes, 48);
    CHECK_EQ(r.ntags, 1);
    CHECK_EQ(r.tags[0].tag, TAG('D', 'r', 'v', 'T'));
    nmr_km_driver_unload(d);
    CHECK_EQ(g_unloaded, 1);
    nmr_km_driver_residue(d, &r);
    CHECK_EQ(r.pool_count, 0);
    KT_NO_REPORT();
    nmr_km_driver_unload(d); /* twice: misuse, does nothing */
    CHECK_EQ(g_unloaded, 1);
    KT_REPORTS(1, "nmr_km_driver_unload of drvtest", "unloaded already", NULL);
    nmr_km_driver_free(d);
}

/* A DriverUnload that waits for its work item's event: the routine sets
 * it and then takes a while to return.  nmr_km_driver_unload gives it
 * that while (as IoQueueWorkItem keeps a driver loaded on Windows), so
 * the residue taken after it is empty. */
static KEVENT g_item_done;
static DEVICE_OBJECT g_item_dev;
static PIO_WORKITEM g_item;

static IO_WORKITEM_ROUTINE slow_item;
static void slow_item(PDEVICE_OBJECT DeviceObject, PVOID Context)
{
    (void)DeviceObject;
    (void)Context;
    KeSetEvent(&g_item_done, IO_NO_INCREMENT, FALSE);
    LARGE_INTEGER t;
    t.QuadPart = -30 * 10000; /* 30 ms, relative */
    KeDelayExecutionThread(KernelMode, FALSE, &t);
}

static DRIVER_UNLOAD item_unload;
static void item_unload(PDRIVER_OBJECT DriverObject)
{
    (void)DriverObject;
    IoQueueWorkItem(g_item, slow_item, DelayedWorkQueue, NULL);
    KeWaitForSingleObject(&g_item_done, Executive, KernelMode, FALSE, NULL);
}

static NTSTATUS item_entry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    (void)RegistryPath;
    KeInitializeEvent(&g_item_done, NotificationEvent, FALSE);
    g_item = IoAllocateWorkItem(&g_item_dev);
    DriverObject->DriverUnload = item_unload;
    return g_item != NULL ? STATUS_SUCCESS : STATUS_INSUFFICIENT_RESOURCES;
}

static void t_driver_unload_waits_for_work_item(void)
{
    nmr_km_driver *d = NULL;
    CHECK_STATUS(nmr_km_driver_start((nmr_km_entry_fn *)item_entry, "drvitem", kt_self_base(), &d),
                 STATUS_SUCCESS);
    nmr_km_driver_unload(d);
    nmr_km_residue r;
    nmr_km_driver_residue(d, &r);
    CHECK_EQ(r.work_items, 0);
    IoFreeWorkItem(g_item);
    nmr_km_driver_free(d);
    KT_NO_REPORT();
}

static NTSTATUS no_unload_entry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    (void)DriverObject;
    (void)RegistryPath;
    return STATUS_SUCCESS;
}

static void t_driver_without_unload(void)
{
    nmr_km_driver *d = NULL;
    CHECK_STATUS(nmr_km_driver_start((nmr_km_entry_fn *)no_unload_entry, "nounload",
                                     kt_self_base(), &d),
                 STATUS_SUCCESS);
    CHECK(!nmr_km_driver_can_unload(d));
    nmr_km_driver_unload(d);
    KT_REPORTS(1, "nmr_km_driver_unload of nounload", "no DriverUnload", NULL);
    nmr_km_driver_free(d);
}

static NTSTATUS lock_entry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    (void)DriverObject;
    (void)RegistryPath;
    KIRQL old;
    KeAcquireSpinLock(&g_lock, &old); /* and returns holding it */
    return STATUS_SUCCESS;
}

static void t_driver_entry_returns_holding_lock(void)
{
    nmr_km_driver *d = NULL;
    CHECK_STATUS(nmr_km_driver_start((nmr_km_entry_fn *)lock_entry, "lockdrv", kt_self_base(),
                                     &d),
                 STATUS_SUCCESS);
    KT_REPORTS(1, "DriverEntry", "returned holding 1 lock", "DISPATCH_LEVEL");
    CHECK_EQ(KeGetCurrentIrql(), PASSIVE_LEVEL); /* the host thread goes on as it was */
    nmr_km_driver_free(d);
}

static NTSTATUS failing_entry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    (void)DriverObject;
    (void)RegistryPath;
    g_mem = ExAllocatePool2(POOL_FLAG_NON_PAGED, 16, TAG('L', 'e', 'a', 'k'));
    return STATUS_INSUFFICIENT_RESOURCES; /* and forgets to free it */
}

static void t_driver_failed_entry_leaves_pool(void)
{
    nmr_km_driver *d = (nmr_km_driver *)1;
    CHECK_STATUS(nmr_km_driver_start((nmr_km_entry_fn *)failing_entry, "leaky", kt_self_base(),
                                     &d),
                 STATUS_INSUFFICIENT_RESOURCES);
    CHECK(d == NULL);
    KT_REPORTS(1, "DriverEntry of leaky failed", "STATUS_INSUFFICIENT_RESOURCES",
               "'Leak' 1 x, 16 bytes");
    nmr_km_residue r;
    nmr_km_object_residue(kt_self_base(), &r);
    CHECK_EQ(r.pool_count, 1);
    ExFreePool(g_mem);
    nmr_km_object_residue(kt_self_base(), &r);
    CHECK_EQ(r.pool_count, 0);
}

static NTSTATUS clean_failing_entry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    (void)DriverObject;
    (void)RegistryPath;
    return STATUS_NOT_SUPPORTED;
}

static void t_driver_failed_entry_clean(void)
{
    nmr_km_driver *d = NULL;
    CHECK_STATUS(nmr_km_driver_start((nmr_km_entry_fn *)clean_failing_entry, "clean",
                                     kt_self_base(), &d),
                 STATUS_NOT_SUPPORTED);
    CHECK(d == NULL);
    KT_NO_REPORT();
}

static void t_driver_start_above_passive(void)
{
    nmr_km_driver *d = NULL;
    KIRQL old;
    KeRaiseIrql(APC_LEVEL, &old);
    nmr_km_driver_start((nmr_km_entry_fn *)no_unload_entry, "apc", kt_self_base(), &d);
    KT_REPORTS(1, "nmr_km_driver_start called at APC_LEVEL", "above its limit PASSIVE_LEVEL",
               NULL);
    KeLowerIrql(old);
    nmr_km_driver_free(d);
}

static void t_assert(void)
{
    int x = 1;
    NT_ASSERT(x == 1);
    ASSERT(x == 1);
    CHECK_EQ(kt_assert, 0);
    NT_ASSERT(x == 2);
    CHECK_EQ(kt_assert, 1);
    CHECK(strstr(kt_msg, "assertion failed: x == 2") != NULL);
    CHECK(strstr(kt_msg, "test_km_driver.c:") != NULL);
    CHECK(strstr(kt_msg, "test_km_driver") != NULL);
    CHECK(!NT_VERIFY(x == 3));
    CHECK(NT_VERIFY(x == 1));
    CHECK_EQ(kt_assert, 2);
    NT_ASSERTMSG("the reason", x == 4);
    CHECK_EQ(kt_assert, 3);
    CHECK(strstr(kt_msg, "(the reason)") != NULL);
    KT_NO_REPORT(); /* none of kind VERIFIER */
}

/* Run fn with standard error captured into buf. */
static void capture_stderr(void (*fn)(void), char *buf, size_t size)
{
    char path[] = "/tmp/km-dbgXXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    int saved = dup(2);
    fflush(stderr);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    ssize_t n = read(fd, buf, size - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
    unlink(path);
}

static WCHAR g_wide[] = {'W', 'i', 'd', 'e', 0};

static void print_things(void)
{
    UNICODE_STRING u;
    u.Buffer = g_wide;
    u.Length = 3 * sizeof(WCHAR); /* counted: "Wid" */
    u.MaximumLength = sizeof g_wide;
    DbgPrint("n=%d s=%s u=%wZ ws=%ws S=%S c=%c x=%I64x z=%Iu p%%\n", 42, "str", &u, g_wide,
             g_wide, 'q', (ULONGLONG)0x1234567890ULL, (SIZE_T)7);
    DbgPrintEx(DPFLTR_IHVDRIVER_ID, DPFLTR_ERROR_LEVEL, "ex %05.1f %-3s|", 2.5, "a");
    KdPrint(("kd %u\n", 5u));
    KdPrintEx((DPFLTR_IHVDRIVER_ID, DPFLTR_INFO_LEVEL, "kdex %lu\n", 6ul));
}

static char g_out[2048];
static void print_in_driver(void)
{
    capture_stderr(print_things, g_out, sizeof g_out);
}

static NTSTATUS print_entry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    (void)DriverObject;
    (void)RegistryPath;
    print_in_driver();
    return STATUS_SUCCESS;
}

static void t_dbgprint(void)
{
    nmr_km_driver *d = NULL;
    CHECK_STATUS(nmr_km_driver_start((nmr_km_entry_fn *)print_entry, "printer", kt_self_base(),
                                     &d),
                 STATUS_SUCCESS);
    nmr_km_driver_free(d);
    const char *want =
        "printer: n=42 s=str u=Wid ws=Wide S=Wide c=q x=1234567890 z=7 p%\n"
        "printer: ex 002.5 a  |\n"
        "printer: kd 5\n"
        "printer: kdex 6\n";
    if (strcmp(g_out, want) != 0)
        nmr_test_fail(__FILE__, __LINE__, "DbgPrint wrote:\n%s\nwant:\n%s", g_out, want);
    /* Outside a started driver: the object's file name. */
    capture_stderr(print_things, g_out, sizeof g_out);
    CHECK(strncmp(g_out, "test_km_driver: n=42", 20) == 0);
    KT_NO_REPORT();
}

static const nmr_test_case cases[] = {
    CASE(t_driver_start_unload, ""),
    CASE(t_driver_unload_waits_for_work_item, ""),
    CASE(t_driver_without_unload, ""),
    CASE(t_driver_entry_returns_holding_lock, ""),
    CASE(t_driver_failed_entry_leaves_pool, ""),
    CASE(t_driver_failed_entry_clean, ""),
    CASE(t_driver_start_above_passive, ""),
    CASE(t_assert, ""),
    CASE(t_dbgprint, ""),
};
NMR_TEST_SUITE(test_km_driver, cases, kt_setup, NULL, NULL);
