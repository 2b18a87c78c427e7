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

/* The basic types (VOID PVOID HANDLE PHANDLE UCHAR USHORT ULONG LONG
 * NTSTATUS), GUID, LUID, NT_SUCCESS and the NT status codes: one
 * definition each, shared with the kernel-mode layer (docs/km.md). */
#include <nmr/nt.h>

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
