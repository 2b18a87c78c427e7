/* SPDX-License-Identifier: MIT */
/*
 * netiodef.h - the network module identity helper Windows' netiodef.h
 * gives NPI drivers, for drivers compiled on Linux with the kernel-mode
 * layer (pkg-config nmr-km, docs/km.md).  Installed as
 * include/nmr-km/netiodef.h.
 *
 * The NPI types (NPI_MODULEID, MIT_GUID, MIT_IF_LUID) come from libnmr's
 * <netioddk.h>.  libnmr's own rendering of the documented behaviour.  A
 * pure function of its arguments: any thread, any IRQL, no lock.
 */
#ifndef NMR_KM_NETIODEF_H
#define NMR_KM_NETIODEF_H

#include <netioddk.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Whether two module identifiers name the same module: TRUE when both
 * have the same Type and, for MIT_GUID, equal GUIDs or, for MIT_IF_LUID,
 * equal interface LUIDs (both halves).  Length is not compared; any other
 * Type is never equal. */
static inline BOOLEAN NmrIsEqualNpiModuleId(PNPI_MODULEID ModuleId1, PNPI_MODULEID ModuleId2)
{
    if (ModuleId1->Type != ModuleId2->Type)
        return FALSE;
    if (ModuleId1->Type == MIT_GUID)
        return (BOOLEAN)(memcmp(&ModuleId1->Guid, &ModuleId2->Guid, sizeof(GUID)) == 0);
    if (ModuleId1->Type == MIT_IF_LUID)
        return (BOOLEAN)(ModuleId1->IfLuid.LowPart == ModuleId2->IfLuid.LowPart &&
                         ModuleId1->IfLuid.HighPart == ModuleId2->IfLuid.HighPart);
    return FALSE;
}

#ifdef __cplusplus
}
#endif

#endif /* NMR_KM_NETIODEF_H */
