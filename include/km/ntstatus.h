/* SPDX-License-Identifier: MIT */
/*
 * ntstatus.h - the NT status codes, for NPI drivers compiled on Linux with
 * the kernel-mode layer (pkg-config nmr-km, docs/km.md).  Installed as
 * include/nmr-km/ntstatus.h.
 *
 * The codes themselves live in <nmr/nt.h>, one definition each, shared
 * with <netioddk.h> and libnmr's core (NMR_STATUS_MAP lists them; a code
 * a driver needs and libnmr lacks is added there).  This file adds only
 * the aliases Windows defines over them.  libnmr's own rendering of the
 * documented names and values.  Macros only.
 */
#ifndef NMR_KM_NTSTATUS_H
#define NMR_KM_NTSTATUS_H

#include <nmr/nt.h>

/* What a wait returns for its first object: the value of STATUS_SUCCESS. */
#ifndef STATUS_WAIT_0
#define STATUS_WAIT_0 ((NTSTATUS)0x00000000L)
#endif

#endif /* NMR_KM_NTSTATUS_H */
