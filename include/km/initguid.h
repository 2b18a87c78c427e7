/* SPDX-License-Identifier: MIT */
/*
 * initguid.h - libnmr's kernel-mode layer (docs/km.md): after this header,
 * DEFINE_GUID defines each GUID (with storage) instead of declaring it.
 *
 * A driver defines its GUIDs once, in one file that includes <initguid.h>
 * after <wdm.h> or <ntddk.h> and then the header of DEFINE_GUID lines; the
 * other files see only the declarations.  The definitions are weak, so a
 * GUID defined in two files still links (as selectany on Windows).
 */
#ifndef NMR_KM_INITGUID_H
#define NMR_KM_INITGUID_H

#include <nmrkm/basics.h>

#ifndef INITGUID
#define INITGUID
#endif
#undef DEFINE_GUID
#define DEFINE_GUID NMR_KM_DEFINE_GUID_INIT

#endif
