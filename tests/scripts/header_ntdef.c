/* SPDX-License-Identifier: MIT */
/*
 * header_ntdef.c - as if the Windows ntdef.h had been included first
 * (_NTDEF_ defined, with GUID and LUID): netioddk.h takes the basic types,
 * GUID and LUID from it.  Uses the other LUID guard spelling.
 */
#include <stdint.h>

#define _NTDEF_
#define VOID void
typedef void *PVOID;
typedef void *HANDLE;
typedef HANDLE *PHANDLE;
typedef uint8_t UCHAR;
typedef uint16_t USHORT;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef LONG NTSTATUS;
typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;
typedef struct _LUID {
    ULONG LowPart;
    LONG HighPart;
} LUID, *PLUID;
#define _LUID_DEFINED

#include "header_check.c"
