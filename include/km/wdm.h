/* SPDX-License-Identifier: MIT */
/*
 * wdm.h - the header a Windows driver includes, for libnmr-km (pkg-config
 * nmr-km, CMake nmr::km; docs/km.md).
 *
 * Brings in, in this order: the basic types and status codes (<ntdef.h>,
 * <ntstatus.h>), SAL, the interlocked, memory, list and string helpers
 * (<nmrkm/basics.h>), rundown protection (<nmr/rundown.h>), the NMR
 * (<netioddk.h>) and the kernel functions with their verifier checks
 * (<nmrkm/kernel.h>).  Context: see each of those headers.
 */
#ifndef NMR_KM_WDM_H
#define NMR_KM_WDM_H

#include <ntdef.h>
#include <ntstatus.h>
#include <nmrkm/basics.h>
#include <nmr/rundown.h>
#include <netioddk.h>
#include <nmrkm/kernel.h>

#endif /* NMR_KM_WDM_H */
