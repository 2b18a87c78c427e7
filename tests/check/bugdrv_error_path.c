/* SPDX-License-Identifier: MIT */
/*
 * bugdrv_error_path.c - bugdrv_error_path.so: a Windows NPI driver
 * (libnmr-km), a client of the catalogue's NPI, whose error path leaves a
 * call counted in flight.
 *
 * The real bug: each call through the provider's dispatch table is counted
 * in flight, and then takes a request from non-paged pool (tag "CkEp").
 * When the allocation fails, the call returns at once, without counting
 * itself out.  Nothing shows until the binding detaches: the detach sees a
 * call in flight, returns STATUS_PENDING and waits for the last call out to
 * complete it, which never comes; DriverUnload's
 * NmrWaitForClientDeregisterComplete waits for ever.  Only a failed
 * allocation opens the path, and only one made after the driver has
 * loaded (a call's): no load order, no interleaving finds it without one.
 *
 * Oracle: hang (the unload waits for the client half of a binding that is
 * owed by the driver's own detach completion).
 *
 * A driver's DriverEntry takes no load arguments, so the correct form is
 * a second object, bugdrv_error_path_fixed.so (this source with
 * CHK_FIXED=1): the error path counts the call out like any other.
 *
 * Otherwise correct: chk_drv.h's calling client (the detach is pending
 * while calls are in flight, the last call out completes it).
 */
#define CHK_DRV_TAG CHK_TAG('C', 'k', 'E', 'p')
#define CHK_DRV_MODULE 32
#include "chk_drv.h"

#define EP_REQUEST_TAG CHK_TAG('C', 'k', 'E', 'r')

/* What one call sends: built in pool, as a driver builds a request. */
typedef struct _EP_REQUEST {
    unsigned Value;
} EP_REQUEST, *PEP_REQUEST;

/* One call through the first usable binding (the tool's workers). */
NMR_MODULE_EXPORT void nmr_module_exercise(unsigned worker)
{
    PCHK_DRV_BINDING binding = ChkDrvCallBegin();
    PEP_REQUEST request;

    if (binding == NULL)
        return;
    request = (PEP_REQUEST)ExAllocatePool2(POOL_FLAG_NON_PAGED, sizeof(*request),
                                           EP_REQUEST_TAG);
    if (request == NULL) {
        InterlockedIncrement64(&ChkDrv.Failed);
#if defined(CHK_FIXED)
        ChkDrvCallEnd(binding);
#endif
        return;                             /* BUG unless fixed: still counted in flight */
    }
    nmrcheck_yield();                       /* a call in flight: its detach may come */
    request->Value = ChkDrvNextValue(worker);
    ChkDrvCall(binding, request->Value);
    ExFreePoolWithTag(request, EP_REQUEST_TAG);
    ChkDrvCallEnd(binding);
}

NTSTATUS DriverEntry(PDRIVER_OBJECT DriverObject, PUNICODE_STRING RegistryPath)
{
    UNREFERENCED_PARAMETER(RegistryPath);
    return ChkDrvStart(DriverObject, &ChkDrvCharacteristics, ChkDrvUnloadPlain);
}
