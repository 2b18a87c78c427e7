/* SPDX-License-Identifier: MIT */
/*
 * header_coexist.c - a program that has its own definitions of the Windows
 * types (as a compatibility header would) and says so with the guards that
 * netioddk.h documents, then includes it.  Redefining struct _GUID or
 * struct _LUID would be a hard error, and each STATUS_* / NT_SUCCESS below
 * is spelled differently from the header's, so an unguarded redefinition
 * fails under -Werror.
 */
#include <stdint.h>

#define VOID void
typedef void *PVOID;
typedef void *HANDLE;
typedef HANDLE *PHANDLE;
/* Deliberately not the header's uint8_t: if netioddk.h ignored the guard
 * below, its typedef of UCHAR would conflict with this one. */
typedef char UCHAR;
typedef unsigned short USHORT;
typedef unsigned int ULONG;
typedef int LONG;
typedef LONG NTSTATUS;
#define NMR_BASIC_TYPES_DEFINED 1

typedef struct _GUID {
    ULONG Data1;
    USHORT Data2;
    USHORT Data3;
    UCHAR Data4[8];
} GUID;
#define GUID_DEFINED

typedef struct _LUID {
    ULONG LowPart;
    LONG HighPart;
} LUID, *PLUID;
#define LUID_DEFINED

#define NT_SUCCESS(s) ((NTSTATUS)(s) >= 0)
#define STATUS_SUCCESS ((NTSTATUS)0)
#define STATUS_PENDING ((NTSTATUS)0x103)

#include "header_check.c"
