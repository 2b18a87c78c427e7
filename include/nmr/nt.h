/* SPDX-License-Identifier: MIT */
/*
 * nmr/nt.h - the Windows base types and NT status codes libnmr knows.
 *
 * One definition of each, shared by <netioddk.h> (which includes this
 * file) and by the kernel-mode layer's <ntdef.h> and <ntstatus.h>
 * (pkg-config nmr-km, docs/km.md), so a driver that includes both gets the
 * same types and values from either.  Guarded as <netioddk.h> describes:
 * a project with its own definitions defines the guard of each one it
 * already has (NMR_BASIC_TYPES_DEFINED, GUID_DEFINED, LUID_DEFINED) before
 * including any libnmr header, and each STATUS_ code is defined only if it
 * is not a macro already.  When the real Windows ntdef.h came first
 * (_NTDEF_), the types are taken from it.
 */
#ifndef NMR_NT_H
#define NMR_NT_H

#include <stddef.h>
#include <stdint.h>

/* ---- basic Windows types (LLP64 sizes) -------------------------------- */
#if !defined(_NTDEF_) && !defined(NMR_BASIC_TYPES_DEFINED)
#define NMR_BASIC_TYPES_DEFINED 1
#ifndef VOID
#define VOID void
#endif
typedef void *PVOID;
typedef void *HANDLE;
typedef HANDLE *PHANDLE;
typedef uint8_t UCHAR;
typedef uint16_t USHORT;
typedef uint32_t ULONG;
typedef int32_t LONG;
typedef int32_t NTSTATUS;
#endif

#if !defined(_NTDEF_) && !defined(GUID_DEFINED)
#define GUID_DEFINED 1
typedef struct _GUID {
    uint32_t Data1;
    uint16_t Data2;
    uint16_t Data3;
    uint8_t Data4[8];
} GUID;
#endif

#if !defined(_NTDEF_) && !defined(LUID_DEFINED) && !defined(_LUID_DEFINED)
#define LUID_DEFINED 1
#define _LUID_DEFINED 1
typedef struct _LUID {
    ULONG LowPart;
    LONG HighPart;
} LUID, *PLUID;
#endif

#if !defined(_NTDEF_) && !defined(NMR_BOOLEAN_DEFINED)
#define NMR_BOOLEAN_DEFINED 1
typedef UCHAR BOOLEAN;
#endif
#ifndef TRUE
#define TRUE 1
#endif
#ifndef FALSE
#define FALSE 0
#endif

#if !defined(_NTDEF_) && !defined(NMR_POOL_TYPE_DEFINED)
#define NMR_POOL_TYPE_DEFINED 1
/* The pool types of ExAllocatePoolWithTag: libnmr's rundown objects accept
 * them for source compatibility; the kernel-mode layer checks paged pool
 * against the IRQL (docs/km.md). */
typedef enum _POOL_TYPE {
    NonPagedPool = 0,
    PagedPool = 1,
    NonPagedPoolMustSucceed = 2,
    NonPagedPoolCacheAligned = 4,
    PagedPoolCacheAligned = 5,
    NonPagedPoolNx = 512,
    NonPagedPoolNxCacheAligned = 516
} POOL_TYPE;
typedef size_t SIZE_T;
#endif

#ifndef NT_SUCCESS
#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)
#endif

/* ---- status codes (exact NT values) ------------------------------------
 * The first seven are the codes the Windows NMR itself returns; the next
 * three are returned by libnmr's extensions (<nmr/registrar.h>,
 * <nmr/guard.h>); the rest are the codes NPI drivers return, for the
 * kernel-mode layer.  Each is listed once in NMR_STATUS_MAP below. */
#ifndef STATUS_SUCCESS
#define STATUS_SUCCESS ((NTSTATUS)0x00000000L)
#endif
#ifndef STATUS_PENDING
#define STATUS_PENDING ((NTSTATUS)0x00000103L)
#endif
#ifndef STATUS_NOINTERFACE
#define STATUS_NOINTERFACE ((NTSTATUS)0xC00002B9L)
#endif
#ifndef STATUS_INSUFFICIENT_RESOURCES
#define STATUS_INSUFFICIENT_RESOURCES ((NTSTATUS)0xC000009AL)
#endif
#ifndef STATUS_INVALID_PARAMETER
#define STATUS_INVALID_PARAMETER ((NTSTATUS)0xC000000DL)
#endif
#ifndef STATUS_INVALID_DEVICE_STATE
#define STATUS_INVALID_DEVICE_STATE ((NTSTATUS)0xC0000184L)
#endif
#ifndef STATUS_POSSIBLE_DEADLOCK
#define STATUS_POSSIBLE_DEADLOCK ((NTSTATUS)0xC0000194L)
#endif
#ifndef STATUS_TIMEOUT
#define STATUS_TIMEOUT ((NTSTATUS)0x00000102L) /* NT_SUCCESS() is true */
#endif
#ifndef STATUS_DEVICE_BUSY
#define STATUS_DEVICE_BUSY ((NTSTATUS)0x80000011L) /* a warning: NT_SUCCESS() is false */
#endif
#ifndef STATUS_DEVICE_NOT_READY
#define STATUS_DEVICE_NOT_READY ((NTSTATUS)0xC00000A3L)
#endif
#ifndef STATUS_UNSUCCESSFUL
#define STATUS_UNSUCCESSFUL ((NTSTATUS)0xC0000001L)
#endif
#ifndef STATUS_NOT_IMPLEMENTED
#define STATUS_NOT_IMPLEMENTED ((NTSTATUS)0xC0000002L)
#endif
#ifndef STATUS_INVALID_HANDLE
#define STATUS_INVALID_HANDLE ((NTSTATUS)0xC0000008L)
#endif
#ifndef STATUS_INVALID_DEVICE_REQUEST
#define STATUS_INVALID_DEVICE_REQUEST ((NTSTATUS)0xC0000010L)
#endif
#ifndef STATUS_NO_MEMORY
#define STATUS_NO_MEMORY ((NTSTATUS)0xC0000017L)
#endif
#ifndef STATUS_ACCESS_DENIED
#define STATUS_ACCESS_DENIED ((NTSTATUS)0xC0000022L)
#endif
#ifndef STATUS_BUFFER_TOO_SMALL
#define STATUS_BUFFER_TOO_SMALL ((NTSTATUS)0xC0000023L)
#endif
#ifndef STATUS_OBJECT_NAME_NOT_FOUND
#define STATUS_OBJECT_NAME_NOT_FOUND ((NTSTATUS)0xC0000034L)
#endif
#ifndef STATUS_OBJECT_NAME_COLLISION
#define STATUS_OBJECT_NAME_COLLISION ((NTSTATUS)0xC0000035L)
#endif
#ifndef STATUS_DELETE_PENDING
#define STATUS_DELETE_PENDING ((NTSTATUS)0xC0000056L)
#endif
#ifndef STATUS_INTEGER_OVERFLOW
#define STATUS_INTEGER_OVERFLOW ((NTSTATUS)0xC0000095L)
#endif
#ifndef STATUS_NOT_SUPPORTED
#define STATUS_NOT_SUPPORTED ((NTSTATUS)0xC00000BBL)
#endif
#ifndef STATUS_CANCELLED
#define STATUS_CANCELLED ((NTSTATUS)0xC0000120L)
#endif
#ifndef STATUS_INVALID_BUFFER_SIZE
#define STATUS_INVALID_BUFFER_SIZE ((NTSTATUS)0xC0000206L)
#endif
#ifndef STATUS_NOT_FOUND
#define STATUS_NOT_FOUND ((NTSTATUS)0xC0000225L)
#endif
#ifndef STATUS_SHUTDOWN_IN_PROGRESS
#define STATUS_SHUTDOWN_IN_PROGRESS ((NTSTATUS)0xC00002FEL)
#endif
#ifndef STATUS_BUFFER_OVERFLOW
#define STATUS_BUFFER_OVERFLOW ((NTSTATUS)0x80000005L) /* a warning: NT_SUCCESS() is false */
#endif
#ifndef STATUS_NO_MORE_ENTRIES
#define STATUS_NO_MORE_ENTRIES ((NTSTATUS)0x8000001AL) /* a warning: NT_SUCCESS() is false */
#endif
#ifndef STATUS_ALERTED
#define STATUS_ALERTED ((NTSTATUS)0x00000101L)
#endif
#ifndef STATUS_USER_APC
#define STATUS_USER_APC ((NTSTATUS)0x000000C0L)
#endif

/* The list of the codes above, one XX(name) each (the libuv UV_ERRNO_MAP
 * pattern): nmr_status_name (<nmr/diag.h>) knows exactly these.  A new
 * code gets its guarded definition above and its line here. */
#define NMR_STATUS_MAP(XX)                                                     \
    XX(STATUS_SUCCESS)                                                         \
    XX(STATUS_PENDING)                                                         \
    XX(STATUS_NOINTERFACE)                                                     \
    XX(STATUS_INSUFFICIENT_RESOURCES)                                          \
    XX(STATUS_INVALID_PARAMETER)                                               \
    XX(STATUS_INVALID_DEVICE_STATE)                                            \
    XX(STATUS_POSSIBLE_DEADLOCK)                                               \
    XX(STATUS_TIMEOUT)                                                         \
    XX(STATUS_DEVICE_BUSY)                                                     \
    XX(STATUS_DEVICE_NOT_READY)                                                \
    XX(STATUS_UNSUCCESSFUL)                                                    \
    XX(STATUS_NOT_IMPLEMENTED)                                                 \
    XX(STATUS_INVALID_HANDLE)                                                  \
    XX(STATUS_INVALID_DEVICE_REQUEST)                                          \
    XX(STATUS_NO_MEMORY)                                                       \
    XX(STATUS_ACCESS_DENIED)                                                   \
    XX(STATUS_BUFFER_TOO_SMALL)                                                \
    XX(STATUS_OBJECT_NAME_NOT_FOUND)                                           \
    XX(STATUS_OBJECT_NAME_COLLISION)                                           \
    XX(STATUS_DELETE_PENDING)                                                  \
    XX(STATUS_INTEGER_OVERFLOW)                                                \
    XX(STATUS_NOT_SUPPORTED)                                                   \
    XX(STATUS_CANCELLED)                                                       \
    XX(STATUS_INVALID_BUFFER_SIZE)                                             \
    XX(STATUS_NOT_FOUND)                                                       \
    XX(STATUS_SHUTDOWN_IN_PROGRESS)                                            \
    XX(STATUS_BUFFER_OVERFLOW)                                                 \
    XX(STATUS_NO_MORE_ENTRIES)                                                 \
    XX(STATUS_ALERTED)                                                         \
    XX(STATUS_USER_APC)

#endif /* NMR_NT_H */
