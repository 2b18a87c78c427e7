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
 * Otherwise correct: chk_drv.h's calling client, as Microsoft's guide
 * writes one (each call through a provider's dispatch table, from the
 * tool's workers, counted in flight under the spin lock; the detach
 * pending while calls are in flight, the last call out completes it).
 */
#define CHK_DRV_TAG CHK_TAG('C', 'k', 'S', 'w')
#define CHK_DRV_MODULE 30
#include "chk_drv.h"

/* One call through the first usable binding (the tool's workers). */
NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    PCHK_DRV_BINDING binding = ChkDrvCallBegin();

    if (binding == NULL)
        return;
    nmrcheck_yield();                       /* a call in flight: its detach may come */
    ChkDrvCall(binding, ChkDrvNextValue(worker));
    ChkDrvCallEnd(binding);
}

static DRIVER_UNLOAD DriverUnload;

static VOID DriverUnload(PDRIVER_OBJECT DriverObject)
{
    NTSTATUS status;
    KIRQL irql;

    UNREFERENCED_PARAMETER(DriverObject);
    status = NmrDeregisterClient(ChkDrv.Client);  /* runs ChkDrvDetach here: no lock held */
    KeAcquireSpinLock(&ChkDrv.Lock, &irql);
    ChkDrv.Closing = TRUE;
#if defined(CHK_FIXED)
    KeReleaseSpinLock(&ChkDrv.Lock, irql);
    if (status == STATUS_PENDING)
        NmrWaitForClientDeregisterComplete(ChkDrv.Client);
#else
    if (status == STATUS_PENDING)           /* BUG: blocks at DISPATCH_LEVEL */
        NmrWaitForClientDeregisterComplete(ChkDrv.Client);
    KeReleaseSpinLock(&ChkDrv.Lock, irql);
#endif
    ChkDrv.Unloaded = TRUE;
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNREFERENCED_PARAMETER(RegistryPath);
    return ChkDrvStart(DriverObject, &ChkDrvCharacteristics, DriverUnload);
}
