/* SPDX-License-Identifier: MIT */
/*
 * ntdef.h - the basic types and macros of Windows kernel code (the rest of
 * what ntdef.h, basetsd.h and guiddef.h give a driver), for NPI drivers
 * compiled on Linux with the kernel-mode layer (pkg-config nmr-km,
 * docs/km.md).  Installed as include/nmr-km/ntdef.h, ahead of the main
 * include directory.
 *
 * libnmr's own rendering of the names, sizes and documented behaviour of
 * the Windows definitions; no text is taken from Microsoft's headers.
 * Types only, and macros: no code, no state, nothing that blocks.
 *
 * The types libnmr itself shares with <netioddk.h> (VOID PVOID HANDLE
 * PHANDLE UCHAR USHORT ULONG LONG NTSTATUS GUID LUID BOOLEAN TRUE FALSE
 * POOL_TYPE SIZE_T NT_SUCCESS and the STATUS_ codes) come from <nmr/nt.h>,
 * one definition each; this file adds the others, with the Windows LLP64
 * sizes (ULONG and LONG are 32 bits, LONG64 and the _PTR types 64 bits on
 * a 64-bit system).  All the 64-bit integer names (LONG64 LONGLONG INT64
 * LONG_PTR SSIZE_T, and the unsigned ones) are one type each here, as on
 * Windows where all are __int64, so a PLONGLONG passes where a PLONG64 is
 * expected.
 *
 * Compiles as C11 and C++11.
 */
#ifndef NMR_KM_NTDEF_H
#define NMR_KM_NTDEF_H

#include <sal.h>
#include <nmr/nt.h>

#include <stddef.h>
#include <stdint.h>

/* ---- calling conventions and linkage: nothing on Linux ---------------- */
#ifndef NTAPI
#define NTAPI
#endif
#ifndef NTAPI_INLINE
#define NTAPI_INLINE
#endif
#ifndef NTSYSAPI
#define NTSYSAPI
#endif
#ifndef NTSYSCALLAPI
#define NTSYSCALLAPI
#endif
#ifndef NTKERNELAPI
#define NTKERNELAPI
#endif
#ifndef NTHALAPI
#define NTHALAPI
#endif
#ifndef __cdecl
#define __cdecl
#endif
#ifndef __stdcall
#define __stdcall
#endif
#ifndef __fastcall
#define __fastcall
#endif

#ifndef EXTERN_C
#ifdef __cplusplus
#define EXTERN_C extern "C"
#define EXTERN_C_START extern "C" {
#define EXTERN_C_END }
#else
#define EXTERN_C extern
#define EXTERN_C_START
#define EXTERN_C_END
#endif
#endif

/* The parameter markers of old Windows prototypes. */
#ifndef CONST
#define CONST const
#endif
#ifndef IN
#define IN
#endif
#ifndef OUT
#define OUT
#endif
#ifndef OPTIONAL
#define OPTIONAL
#endif

#ifndef NULL
#ifdef __cplusplus
#define NULL 0
#else
#define NULL ((void *)0)
#endif
#endif

/* ---- MSVC keywords ------------------------------------------------------
 * __int8 .. __int64 are MSVC's sized integer keywords ("unsigned __int64"
 * works, the macro only names the base type).  __forceinline inlines
 * always, also at -O0; with C11 inline rules a FORCEINLINE function in a
 * header without static is an inline definition only (its address needs
 * one definition elsewhere, as in C99).  __noop and __assume produce no
 * code, as MSVC's do for __noop; their arguments are not evaluated. */
#ifndef __int8
#define __int8 char
#endif
#ifndef __int16
#define __int16 short
#endif
#ifndef __int32
#define __int32 int
#endif
#ifndef __int64
#ifdef __INT64_TYPE__
#define __int64 __INT64_TYPE__ /* the type of int64_t, LONG64 and LONGLONG */
#else
#define __int64 long long
#endif
#endif
#ifndef __forceinline
#define __forceinline __inline__ __attribute__((__always_inline__))
#endif
#ifndef FORCEINLINE
#define FORCEINLINE __forceinline
#endif
#ifndef __noop
#define __noop(...) ((void)0)
#endif
#ifndef __assume
#define __assume(...) ((void)0)
#endif

/* __declspec(keyword): each keyword Windows drivers use maps to a
 * NMR_KM_DECLSPEC_<keyword> below.  Any other keyword is left as the
 * stray identifier NMR_KM_DECLSPEC_<keyword>, so the declaration does not
 * compile (gcc points at the __declspec(...) it came from): an error
 * rather than a silently dropped attribute.  Note: gcc ignores
 * __declspec(align(n)) written before "struct" (MSVC's leading form;
 * C: silently, C++: an error); write struct __declspec(align(n)) S or
 * DECLSPEC_ALIGN after the struct keyword, which works. */
#ifndef __declspec
#define __declspec(x) NMR_KM_DECLSPEC_##x
#endif
#define NMR_KM_DECLSPEC_selectany __attribute__((__weak__))
#define NMR_KM_DECLSPEC_noinline __attribute__((__noinline__))
#define NMR_KM_DECLSPEC_noreturn __attribute__((__noreturn__))
#define NMR_KM_DECLSPEC_nothrow __attribute__((__nothrow__))
#define NMR_KM_DECLSPEC_deprecated __attribute__((__deprecated__))
#define NMR_KM_DECLSPEC_align(n) __attribute__((__aligned__(n)))
#define NMR_KM_DECLSPEC_dllexport __attribute__((__visibility__("default")))
#define NMR_KM_DECLSPEC_dllimport
#define NMR_KM_DECLSPEC_thread __thread
#define NMR_KM_DECLSPEC_novtable
#define NMR_KM_DECLSPEC_restrict
#define NMR_KM_DECLSPEC_noalias
#define NMR_KM_DECLSPEC_safebuffers
#define NMR_KM_DECLSPEC_allocator
#define NMR_KM_DECLSPEC_code_seg(...)     /* sections: one image here */
#define NMR_KM_DECLSPEC_allocate(...)

#ifndef SYSTEM_CACHE_ALIGNMENT_SIZE
#if defined(__x86_64__) || defined(__i386__)
#define SYSTEM_CACHE_ALIGNMENT_SIZE 64
#else
#define SYSTEM_CACHE_ALIGNMENT_SIZE 128
#endif
#endif
/* The alignment of every pool allocation on 64-bit Windows. */
#ifndef MEMORY_ALLOCATION_ALIGNMENT
#define MEMORY_ALLOCATION_ALIGNMENT 16
#endif

#ifndef DECLSPEC_SELECTANY
#define DECLSPEC_SELECTANY NMR_KM_DECLSPEC_selectany
#endif
#ifndef DECLSPEC_NOINLINE
#define DECLSPEC_NOINLINE NMR_KM_DECLSPEC_noinline
#endif
#ifndef DECLSPEC_NORETURN
#define DECLSPEC_NORETURN NMR_KM_DECLSPEC_noreturn
#endif
#ifndef DECLSPEC_NOTHROW
#define DECLSPEC_NOTHROW NMR_KM_DECLSPEC_nothrow
#endif
#ifndef DECLSPEC_DEPRECATED
#define DECLSPEC_DEPRECATED NMR_KM_DECLSPEC_deprecated
#endif
#ifndef DECLSPEC_ALIGN
#define DECLSPEC_ALIGN(x) NMR_KM_DECLSPEC_align(x)
#endif
#ifndef DECLSPEC_CACHEALIGN
#define DECLSPEC_CACHEALIGN DECLSPEC_ALIGN(SYSTEM_CACHE_ALIGNMENT_SIZE)
#endif
#ifndef DECLSPEC_EXPORT
#define DECLSPEC_EXPORT NMR_KM_DECLSPEC_dllexport
#endif
#ifndef DECLSPEC_IMPORT
#define DECLSPEC_IMPORT
#endif
#ifndef DECLSPEC_NOVTABLE
#define DECLSPEC_NOVTABLE
#endif
#ifndef DECLSPEC_UUID
#define DECLSPEC_UUID(x)
#endif
#ifndef DECLSPEC_RESTRICT
#define DECLSPEC_RESTRICT
#endif
#ifndef DECLSPEC_ALLOCATOR
#define DECLSPEC_ALLOCATOR
#endif
#ifndef DECLSPEC_SAFEBUFFERS
#define DECLSPEC_SAFEBUFFERS
#endif
#ifndef DECLSPEC_GUARDNOCF
#define DECLSPEC_GUARDNOCF
#endif
#ifndef DECLSPEC_NOSANITIZEADDRESS
#define DECLSPEC_NOSANITIZEADDRESS
#endif

/* ---- integer types ----------------------------------------------------- */
typedef char CHAR;
typedef char CCHAR;
typedef signed char SCHAR;
typedef short SHORT;
typedef short CSHORT;
typedef int INT;
typedef unsigned int UINT;
typedef ULONG CLONG;
typedef ULONG LOGICAL;
typedef int8_t INT8;
typedef uint8_t UINT8;
typedef int16_t INT16;
typedef uint16_t UINT16;
typedef int32_t INT32;
typedef uint32_t UINT32;
typedef int32_t LONG32;
typedef uint32_t ULONG32;
typedef int64_t INT64;
typedef uint64_t UINT64;
typedef int64_t LONG64;
typedef uint64_t ULONG64;
typedef int64_t LONGLONG;
typedef uint64_t ULONGLONG;
typedef uint64_t DWORDLONG;
typedef intptr_t INT_PTR;
typedef uintptr_t UINT_PTR;
typedef intptr_t LONG_PTR;
typedef uintptr_t ULONG_PTR;
typedef intptr_t SSIZE_T;
typedef UCHAR KIRQL;

/* WCHAR is wchar_t, so that L"..." literals and L'x' have the type the
 * code expects.  Note: on Linux wchar_t is 4 bytes (UTF-32), not 2 as on
 * Windows; UNICODE_STRING lengths count bytes, as on Windows, so they are
 * four per character here.  Code that hard-codes 2 bytes per character,
 * or exchanges UTF-16 with Windows, must be checked. */
typedef wchar_t WCHAR;

/* ---- pointer forms ----------------------------------------------------- */
typedef CHAR *PCHAR, *LPCH, *PCH, *NPSTR, *LPSTR, *PSTR, *PSZ;
typedef const CHAR *LPCCH, *PCCH, *LPCSTR, *PCSTR, *PCSZ;
typedef CCHAR *PCCHAR;
typedef SCHAR *PSCHAR;
typedef UCHAR *PUCHAR;
typedef SHORT *PSHORT;
typedef USHORT *PUSHORT;
typedef INT *PINT;
typedef UINT *PUINT;
typedef LONG *PLONG;
typedef ULONG *PULONG;
typedef CLONG *PCLONG;
typedef LOGICAL *PLOGICAL;
typedef BOOLEAN *PBOOLEAN;
typedef NTSTATUS *PNTSTATUS;
typedef INT8 *PINT8;
typedef UINT8 *PUINT8;
typedef INT16 *PINT16;
typedef UINT16 *PUINT16;
typedef INT32 *PINT32;
typedef UINT32 *PUINT32;
typedef LONG32 *PLONG32;
typedef ULONG32 *PULONG32;
typedef INT64 *PINT64;
typedef UINT64 *PUINT64;
typedef LONG64 *PLONG64;
typedef ULONG64 *PULONG64;
typedef LONGLONG *PLONGLONG;
typedef ULONGLONG *PULONGLONG;
typedef INT_PTR *PINT_PTR;
typedef UINT_PTR *PUINT_PTR;
typedef LONG_PTR *PLONG_PTR;
typedef ULONG_PTR *PULONG_PTR;
typedef SIZE_T *PSIZE_T;
typedef SSIZE_T *PSSIZE_T;
typedef KIRQL *PKIRQL;
typedef WCHAR *PWCHAR, *LPWCH, *PWCH, *NWPSTR, *LPWSTR, *PWSTR, *PZZWSTR;
typedef const WCHAR *LPCWCH, *PCWCH, *LPCWSTR, *PCWSTR, *PCZZWSTR;
typedef const void *PCVOID;
typedef void *LPVOID;
typedef const void *LPCVOID;

typedef GUID *PGUID, *LPGUID;
typedef const GUID *LPCGUID;
#ifdef __cplusplus
typedef const GUID &REFGUID;
#else
typedef const GUID *REFGUID;
#endif

/* ---- 64-bit values in two halves --------------------------------------- */
/* As on little-endian Windows, LowPart is the low 32 bits of QuadPart and
 * HighPart the high ones; the halves exist both anonymously and as u.
 * (__extension__: anonymous structs are a C11 feature, a GNU extension in
 * C++.) */
typedef union _LARGE_INTEGER {
    __extension__ struct {
        ULONG LowPart;
        LONG HighPart;
    };
    struct {
        ULONG LowPart;
        LONG HighPart;
    } u;
    LONGLONG QuadPart;
} LARGE_INTEGER, *PLARGE_INTEGER;

typedef union _ULARGE_INTEGER {
    __extension__ struct {
        ULONG LowPart;
        ULONG HighPart;
    };
    struct {
        ULONG LowPart;
        ULONG HighPart;
    } u;
    ULONGLONG QuadPart;
} ULARGE_INTEGER, *PULARGE_INTEGER;

/* ---- counted strings -----------------------------------------------------
 * Length and MaximumLength count bytes, without and with room for a
 * terminator; Buffer need not be terminated. */
typedef struct _UNICODE_STRING {
    USHORT Length;
    USHORT MaximumLength;
    PWCH Buffer;
} UNICODE_STRING, *PUNICODE_STRING;
typedef const UNICODE_STRING *PCUNICODE_STRING;

typedef struct _STRING {
    USHORT Length;
    USHORT MaximumLength;
    PCHAR Buffer;
} STRING, *PSTRING, ANSI_STRING, *PANSI_STRING, OEM_STRING, *POEM_STRING;
typedef const STRING *PCSTRING;
typedef const ANSI_STRING *PCANSI_STRING;
typedef const OEM_STRING *PCOEM_STRING;

#define UNICODE_NULL ((WCHAR)0)
#define ANSI_NULL ((CHAR)0)
/* The largest byte count a UNICODE_STRING holds (Windows' value); in
 * characters that is fewer here, WCHAR being 4 bytes. */
#define UNICODE_STRING_MAX_BYTES ((USHORT)65534)
#define UNICODE_STRING_MAX_CHARS (UNICODE_STRING_MAX_BYTES / sizeof(WCHAR))

/* A counted string over a literal (L"..." or "..."), for initializers:
 * the length without the terminator, the size with it. */
#ifdef __cplusplus
extern "C++" {
constexpr wchar_t *nmr_km_string_buffer(const wchar_t *s) { return const_cast<wchar_t *>(s); }
constexpr char *nmr_km_string_buffer(const char *s) { return const_cast<char *>(s); }
}
#define RTL_CONSTANT_STRING(s)                                                 \
    { (USHORT)(sizeof(s) - sizeof((s)[0])), (USHORT)sizeof(s), nmr_km_string_buffer(s) }
#else
#define RTL_CONSTANT_STRING(s)                                                 \
    { (USHORT)(sizeof(s) - sizeof((s)[0])), (USHORT)sizeof(s), (s) }
#endif

/* ---- lists ---------------------------------------------------------------
 * A doubly linked circular list with a head entry (empty: the head points
 * to itself), and a singly linked list ending in NULL.  The functions are
 * in <nmrkm/basics.h>. */
typedef struct _LIST_ENTRY {
    struct _LIST_ENTRY *Flink;
    struct _LIST_ENTRY *Blink;
} LIST_ENTRY, *PLIST_ENTRY, *PRLIST_ENTRY;

typedef struct _SINGLE_LIST_ENTRY {
    struct _SINGLE_LIST_ENTRY *Next;
} SINGLE_LIST_ENTRY, *PSINGLE_LIST_ENTRY;

/* ---- limits (Windows values and types) ---------------------------------- */
#define MINCHAR 0x80
#define MAXCHAR 0x7f
#define MINSHORT 0x8000
#define MAXSHORT 0x7fff
#define MINLONG 0x80000000
#define MAXLONG 0x7fffffff
#define MAXUCHAR 0xff
#define MAXUSHORT 0xffff
#define MAXULONG 0xffffffff
#define MAXLONGLONG ((LONGLONG)0x7fffffffffffffffLL)
#define MAXULONGLONG ((ULONGLONG)~((ULONGLONG)0))
#define MAXUINT8 ((UINT8)~((UINT8)0))
#define MAXINT8 ((INT8)(MAXUINT8 >> 1))
#define MININT8 ((INT8)~MAXINT8)
#define MAXUINT16 ((UINT16)~((UINT16)0))
#define MAXINT16 ((INT16)(MAXUINT16 >> 1))
#define MININT16 ((INT16)~MAXINT16)
#define MAXUINT32 ((UINT32)~((UINT32)0))
#define MAXINT32 ((INT32)(MAXUINT32 >> 1))
#define MININT32 ((INT32)~MAXINT32)
#define MAXUINT64 ((UINT64)~((UINT64)0))
#define MAXINT64 ((INT64)(MAXUINT64 >> 1))
#define MININT64 ((INT64)~MAXINT64)
#define MAXULONG32 ((ULONG32)~((ULONG32)0))
#define MAXLONG32 ((LONG32)(MAXULONG32 >> 1))
#define MINLONG32 ((LONG32)~MAXLONG32)
#define MAXULONG64 ((ULONG64)~((ULONG64)0))
#define MAXLONG64 ((LONG64)(MAXULONG64 >> 1))
#define MINLONG64 ((LONG64)~MAXLONG64)
#define MAXUINT ((UINT)~((UINT)0))
#define MAXINT ((INT)(MAXUINT >> 1))
#define MININT ((INT)~MAXINT)
#define MAXULONG_PTR ((ULONG_PTR)~((ULONG_PTR)0))
#define MAXLONG_PTR ((LONG_PTR)(MAXULONG_PTR >> 1))
#define MINLONG_PTR ((LONG_PTR)~MAXLONG_PTR)
#define MAXSIZE_T ((SIZE_T)~((SIZE_T)0))
#define MAXSSIZE_T ((SSIZE_T)(MAXSIZE_T >> 1))
#define MINSSIZE_T ((SSIZE_T)~MAXSSIZE_T)
#define ANYSIZE_ARRAY 1

/* ---- utility macros ------------------------------------------------------ */
/* A parameter or variable used only in some builds: evaluated, as a void
 * expression (no "statement with no effect" warning). */
#ifndef UNREFERENCED_PARAMETER
#define UNREFERENCED_PARAMETER(P) ((void)(P))
#endif
#ifndef DBG_UNREFERENCED_PARAMETER
#define DBG_UNREFERENCED_PARAMETER(P) ((void)(P))
#endif
#ifndef DBG_UNREFERENCED_LOCAL_VARIABLE
#define DBG_UNREFERENCED_LOCAL_VARIABLE(V) ((void)(V))
#endif
#ifndef UNREFERENCED_LOCAL_VARIABLE
#define UNREFERENCED_LOCAL_VARIABLE(V) ((void)(V))
#endif

/* The offset of a field, as a LONG; the structure holding a field, from
 * the field's address (through offsetof: no null-pointer arithmetic). */
#define FIELD_OFFSET(type, field) ((LONG)offsetof(type, field))
#define CONTAINING_RECORD(address, type, field)                                \
    ((type *)((PCHAR)(address) - offsetof(type, field)))
#define RTL_FIELD_SIZE(type, field) (sizeof(((type *)0)->field))
#define RTL_SIZEOF_THROUGH_FIELD(type, field)                                  \
    (FIELD_OFFSET(type, field) + RTL_FIELD_SIZE(type, field))
#define RTL_FIELD_TYPE(type, field) (((type *)0)->field)
#define TYPE_ALIGNMENT(t) __alignof__(t)
#define RTL_BITS_OF(sizeOfArg) (sizeof(sizeOfArg) * 8)
#define RTL_BITS_OF_FIELD(type, field) (RTL_BITS_OF(RTL_FIELD_TYPE(type, field)))

/* Elements of an array (not of a pointer: that is the caller's error). */
#define RTL_NUMBER_OF_V1(A) (sizeof(A) / sizeof((A)[0]))
#define RTL_NUMBER_OF_V2(A) RTL_NUMBER_OF_V1(A)
#define RTL_NUMBER_OF(A) RTL_NUMBER_OF_V1(A)
#ifndef ARRAYSIZE
#define ARRAYSIZE(A) RTL_NUMBER_OF_V2(A)
#endif
#ifndef _ARRAYSIZE
#define _ARRAYSIZE(A) RTL_NUMBER_OF_V1(A)
#endif

/* A compile-time check, at file or block scope. */
#ifndef C_ASSERT
#ifdef __cplusplus
#define C_ASSERT(e) static_assert(e, #e)
#else
#define C_ASSERT(e) _Static_assert(e, #e)
#endif
#endif

/* 32 x 32 -> 64 bit products, unsigned and signed. */
#define UInt32x32To64(a, b) ((ULONGLONG)(ULONG)(a) * (ULONGLONG)(ULONG)(b))
#define Int32x32To64(a, b) ((LONGLONG)(LONG)(a) * (LONGLONG)(LONG)(b))

/* Rounding to a power-of-two alignment. */
#define ALIGN_DOWN_BY(length, alignment)                                       \
    ((ULONG_PTR)(length) & ~((ULONG_PTR)(alignment) - 1))
#define ALIGN_UP_BY(length, alignment)                                         \
    (ALIGN_DOWN_BY(((ULONG_PTR)(length) + (alignment) - 1), alignment))
#define ALIGN_DOWN_POINTER_BY(address, alignment)                              \
    ((PVOID)ALIGN_DOWN_BY(address, alignment))
#define ALIGN_UP_POINTER_BY(address, alignment)                                \
    ((PVOID)ALIGN_UP_BY(address, alignment))
#define ALIGN_DOWN(length, type) ALIGN_DOWN_BY(length, sizeof(type))
#define ALIGN_UP(length, type) ALIGN_UP_BY(length, sizeof(type))
#define ALIGN_DOWN_POINTER(address, type) ALIGN_DOWN_POINTER_BY(address, sizeof(type))
#define ALIGN_UP_POINTER(address, type) ALIGN_UP_POINTER_BY(address, sizeof(type))

/* Flag tests. */
#ifndef FlagOn
#define FlagOn(_F, _SF) ((_F) & (_SF))
#endif
#ifndef BooleanFlagOn
#define BooleanFlagOn(F, SF) ((BOOLEAN)(((F) & (SF)) != 0))
#endif
#ifndef SetFlag
#define SetFlag(_F, _SF) ((_F) |= (_SF))
#endif
#ifndef ClearFlag
#define ClearFlag(_F, _SF) ((_F) &= ~(_SF))
#endif

/* min and max, as Windows defines them unless NOMINMAX.  In C only by
 * default: in C++ the macros would break std::min and std::max in every
 * standard header included later; a C++ driver that wants them defines
 * NMR_KM_MINMAX. */
#if !defined(NOMINMAX) && (!defined(__cplusplus) || defined(NMR_KM_MINMAX))
#ifndef min
#define min(a, b) (((a) < (b)) ? (a) : (b))
#endif
#ifndef max
#define max(a, b) (((a) > (b)) ? (a) : (b))
#endif
#endif

/* The real ntdef.h announces itself so; code that tests it finds these. */
#ifndef _NTDEF_
#define _NTDEF_
#endif

#endif /* NMR_KM_NTDEF_H */
