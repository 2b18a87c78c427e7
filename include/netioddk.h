/* SPDX-License-Identifier: MIT */
/*
 * netioddk.h - the Network Module Registrar (NMR) API, as Windows ships it.
 *
 * This header is the Windows face of libnmr and nothing else: the types,
 * status codes, callback signatures and the nine Nmr* functions with the
 * names, layouts and values of the Windows Driver Kit, so that NPI modules
 * written for Windows compile unchanged.  libnmr's own extensions live under
 * <nmr/...> with an nmr_ prefix.
 *
 * Types use the Windows LLP64 sizes on every platform (ULONG is 32 bits).
 *
 * Coexistence with code that already defines Windows types: every structure
 * and macro is guarded.  A project with its own compatibility header defines
 * the guard of each type it already has before including this file:
 *
 *   GUID        GUID_DEFINED             (the Windows guiddef.h convention)
 *   LUID        LUID_DEFINED or _LUID_DEFINED
 *   scalars     NMR_BASIC_TYPES_DEFINED  (VOID PVOID HANDLE PHANDLE USHORT
 *                                         ULONG LONG UCHAR NTSTATUS)
 *   STATUS_*    each code is defined only if not already a macro (all the
 *               codes libnmr uses are here, including those only its
 *               extensions return; NMR_STATUS_MAP lists them)
 *
 * When the real Windows ntdef.h was included first (_NTDEF_ is defined), the
 * basic types, GUID and LUID are taken from it.
 *
 * Compiles as C11 and as C++ (the functions have C linkage).
 */
#ifndef NMR_NETIODDK_H
#define NMR_NETIODDK_H

#include <stdint.h>

#if defined(_WIN32) || defined(__CYGWIN__)
#define NMR_API_EXPORT __declspec(dllexport)
#elif defined(__GNUC__)
#define NMR_API_EXPORT __attribute__((visibility("default")))
#else
#define NMR_API_EXPORT
#endif

#ifndef NMR_API
#define NMR_API NMR_API_EXPORT
#endif

#ifdef __cplusplus
extern "C" {
#endif

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

#ifndef NT_SUCCESS
#define NT_SUCCESS(Status) (((NTSTATUS)(Status)) >= 0)
#endif

/* ---- status codes (exact NT values) ------------------------------------
 * Every NT status code libnmr uses is defined here, once, each only if it
 * is not a macro already, and listed once in NMR_STATUS_MAP below.  The
 * first seven are the codes the Windows NMR itself returns; the last three
 * are returned by libnmr's extensions (<nmr/registrar.h>, <nmr/guard.h>). */
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
#define STATUS_DEVICE_BUSY ((NTSTATUS)0x80000011L)
#endif
#ifndef STATUS_DEVICE_NOT_READY
#define STATUS_DEVICE_NOT_READY ((NTSTATUS)0xC00000A3L)
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
    XX(STATUS_DEVICE_NOT_READY)

/* ---- NPI identity ------------------------------------------------------ */
typedef GUID NPIID;
typedef const NPIID *PNPIID;

typedef enum _NPI_MODULEID_TYPE {
    MIT_GUID = 1,
    MIT_IF_LUID = 2
} NPI_MODULEID_TYPE;

typedef struct _NPI_MODULEID {
    USHORT Length;
    NPI_MODULEID_TYPE Type;
    union {
        GUID Guid;
        LUID IfLuid;
    };
} NPI_MODULEID;
typedef const NPI_MODULEID *PNPI_MODULEID;

typedef struct _NPI_REGISTRATION_INSTANCE {
    USHORT Version;
    USHORT Size;
    PNPIID NpiId;
    PNPI_MODULEID ModuleId;
    ULONG Number;
    const VOID *NpiSpecificCharacteristics;
} NPI_REGISTRATION_INSTANCE;
/* As in the Windows headers, the P* forms point to const. */
typedef const struct _NPI_REGISTRATION_INSTANCE *PNPI_REGISTRATION_INSTANCE;

/* Used by NPIs such as WSK to pass a binding around as one value. */
typedef struct _NPI {
    HANDLE Handle;
    const VOID *Dispatch;
} NPI;

/* ---- client callbacks -------------------------------------------------- */
typedef NTSTATUS NPI_CLIENT_ATTACH_PROVIDER_FN(
    HANDLE NmrBindingHandle, PVOID ClientContext,
    PNPI_REGISTRATION_INSTANCE ProviderRegistrationInstance);
typedef NPI_CLIENT_ATTACH_PROVIDER_FN *PNPI_CLIENT_ATTACH_PROVIDER_FN;

typedef NTSTATUS NPI_CLIENT_DETACH_PROVIDER_FN(PVOID ClientBindingContext);
typedef NPI_CLIENT_DETACH_PROVIDER_FN *PNPI_CLIENT_DETACH_PROVIDER_FN;

typedef VOID NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN(PVOID ClientBindingContext);
typedef NPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN
    *PNPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN;

typedef struct _NPI_CLIENT_CHARACTERISTICS {
    USHORT Version;
    USHORT Length;
    PNPI_CLIENT_ATTACH_PROVIDER_FN ClientAttachProvider;
    PNPI_CLIENT_DETACH_PROVIDER_FN ClientDetachProvider;
    PNPI_CLIENT_CLEANUP_BINDING_CONTEXT_FN ClientCleanupBindingContext;
    NPI_REGISTRATION_INSTANCE ClientRegistrationInstance;
} NPI_CLIENT_CHARACTERISTICS;
typedef const struct _NPI_CLIENT_CHARACTERISTICS *PNPI_CLIENT_CHARACTERISTICS;

/* ---- provider callbacks ------------------------------------------------ */
typedef NTSTATUS NPI_PROVIDER_ATTACH_CLIENT_FN(
    HANDLE NmrBindingHandle, PVOID ProviderContext,
    PNPI_REGISTRATION_INSTANCE ClientRegistrationInstance,
    PVOID ClientBindingContext, const VOID *ClientDispatch,
    PVOID *ProviderBindingContext, const VOID **ProviderDispatch);
typedef NPI_PROVIDER_ATTACH_CLIENT_FN *PNPI_PROVIDER_ATTACH_CLIENT_FN;

typedef NTSTATUS NPI_PROVIDER_DETACH_CLIENT_FN(PVOID ProviderBindingContext);
typedef NPI_PROVIDER_DETACH_CLIENT_FN *PNPI_PROVIDER_DETACH_CLIENT_FN;

typedef VOID NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN(
    PVOID ProviderBindingContext);
typedef NPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN
    *PNPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN;

typedef struct _NPI_PROVIDER_CHARACTERISTICS {
    USHORT Version;
    USHORT Length;
    PNPI_PROVIDER_ATTACH_CLIENT_FN ProviderAttachClient;
    PNPI_PROVIDER_DETACH_CLIENT_FN ProviderDetachClient;
    PNPI_PROVIDER_CLEANUP_BINDING_CONTEXT_FN ProviderCleanupBindingContext;
    NPI_REGISTRATION_INSTANCE ProviderRegistrationInstance;
} NPI_PROVIDER_CHARACTERISTICS;
typedef const struct _NPI_PROVIDER_CHARACTERISTICS
    *PNPI_PROVIDER_CHARACTERISTICS;

/* ---- provider side ----------------------------------------------------- */
/* May block only inside the caller's own callbacks; callable from callbacks. */
NMR_API NTSTATUS NmrRegisterProvider(
    PNPI_PROVIDER_CHARACTERISTICS ProviderCharacteristics,
    PVOID ProviderContext, PHANDLE NmrProviderHandle);
/* Never blocks on other threads; returns STATUS_PENDING. */
NMR_API NTSTATUS NmrDeregisterProvider(HANDLE NmrProviderHandle);
/* Blocks until every binding is cleaned up; then the handle is dead. */
NMR_API NTSTATUS NmrWaitForProviderDeregisterComplete(HANDLE NmrProviderHandle);
/* Never blocks on other threads; callable from any thread. */
NMR_API VOID NmrProviderDetachClientComplete(HANDLE NmrBindingHandle);

/* ---- client side ------------------------------------------------------- */
NMR_API NTSTATUS NmrRegisterClient(
    PNPI_CLIENT_CHARACTERISTICS ClientCharacteristics,
    PVOID ClientContext, PHANDLE NmrClientHandle);
NMR_API NTSTATUS NmrDeregisterClient(HANDLE NmrClientHandle);
NMR_API NTSTATUS NmrWaitForClientDeregisterComplete(HANDLE NmrClientHandle);
/* Only from inside the binding's ClientAttachProvider callback. */
NMR_API NTSTATUS NmrClientAttachProvider(
    HANDLE NmrBindingHandle, PVOID ClientBindingContext,
    const VOID *ClientDispatch, PVOID *ProviderBindingContext,
    const VOID **ProviderDispatch);
NMR_API VOID NmrClientDetachProviderComplete(HANDLE NmrBindingHandle);

#ifdef __cplusplus
}
#endif

#endif /* NMR_NETIODDK_H */
