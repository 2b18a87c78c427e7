/* SPDX-License-Identifier: MIT */
/*
 * ntddk.h - for drivers that include <ntddk.h> rather than <wdm.h>
 * (libnmr-km, docs/km.md).  Everything libnmr-km provides is in <wdm.h>:
 * the functions the Windows ntddk.h adds (KeEnterCriticalRegion,
 * KeGetCurrentProcessorNumber, ExFreePool) are declared there too, so a
 * driver gets the same names from either header.
 */
#ifndef NMR_KM_NTDDK_H
#define NMR_KM_NTDDK_H

#include <wdm.h>

#endif /* NMR_KM_NTDDK_H */
