/* SPDX-License-Identifier: MIT */
/*
 * nmrkm/basics.h - the header-only kernel routines of the kernel-mode
 * layer (pkg-config nmr-km, docs/km.md): GUID comparison and DEFINE_GUID,
 * the Rtl memory and string helpers, the LIST_ENTRY functions, the
 * Interlocked family and the ReadNoFence/WriteRelease family.  Included
 * by <wdm.h>; a driver does not include it itself.
 *
 * libnmr's own rendering of the names and documented behaviour of the
 * Windows routines; nothing is taken from Microsoft's headers.
 *
 * Context: all are static inline functions or macros over the caller's
 * memory.  None blocks, none takes a lock, none checks the IRQL (on
 * Windows they are callable at any IRQL for resident memory).  The lists
 * are not thread-safe: the caller serializes, as on Windows.  The
 * Interlocked functions are full barriers (sequentially consistent), as on
 * Windows; the Acquire, Release and NoFence forms have those orders.
 *
 * Measured on the drivers named in docs/km.md, beyond the list:
 * msquic's kernel platform uses InterlockedIncrementNoFence64,
 * InterlockedDecrementRelease64, InterlockedCompareExchangeNoFence64,
 * InterlockedAnd8/InterlockedOr8 on a BOOLEAN, ReadNoFence64,
 * ReadPointerNoFence, RtlSecureZeroMemory, RtlUshortByteSwap /
 * RtlUlongByteSwap / RtlUlonglongByteSwap and PrefetchForWrite;
 * ebpf-for-windows netebpfext uses MemoryBarrier and DEFINE_GUID under
 * INITGUID (netebpfext/guid.c).
 */
#ifndef NMR_KM_BASICS_H
#define NMR_KM_BASICS_H

#include <ntdef.h>

#include <string.h>
#include <wchar.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- GUIDs ---------------------------------------------------------------
 * In C the comparisons take pointers, in C++ references (REFGUID), as on
 * Windows.  Both return nonzero when the 16 bytes are equal. */
#ifdef __cplusplus
}
extern "C++" {
static inline int IsEqualGUID(REFGUID a, REFGUID b)
{
    return memcmp(&a, &b, sizeof(GUID)) == 0;
}
static inline int InlineIsEqualGUID(REFGUID a, REFGUID b)
{
    return memcmp(&a, &b, sizeof(GUID)) == 0;
}
#if !defined(_SYS_GUID_OPERATOR_EQ_) && !defined(_NO_SYS_GUID_OPERATOR_EQ_)
#define _SYS_GUID_OPERATOR_EQ_
static inline bool operator==(REFGUID a, REFGUID b) { return IsEqualGUID(a, b) != 0; }
static inline bool operator!=(REFGUID a, REFGUID b) { return !(a == b); }
#endif
}
extern "C" {
#else
static inline int IsEqualGUID(const GUID *a, const GUID *b)
{
    return memcmp(a, b, sizeof(GUID)) == 0;
}
static inline int InlineIsEqualGUID(const GUID *a, const GUID *b)
{
    return memcmp(a, b, sizeof(GUID)) == 0;
}
#endif

/* DEFINE_GUID(name, l, w1, w2, b1, ..., b8): with INITGUID defined before
 * this header, a definition (weak, so that every file that defines the
 * same GUID links); otherwise a declaration of the external constant.
 * The two forms are also available by name, for an <initguid.h>. */
#define NMR_KM_GUID_INIT_(l, w1, w2, b1, b2, b3, b4, b5, b6, b7, b8)           \
    { l, w1, w2, { b1, b2, b3, b4, b5, b6, b7, b8 } }
#ifdef __cplusplus
#define NMR_KM_DEFINE_GUID_INIT(name, ...)                                     \
    extern "C" const GUID DECLSPEC_SELECTANY name = NMR_KM_GUID_INIT_(__VA_ARGS__)
#else
#define NMR_KM_DEFINE_GUID_INIT(name, ...)                                     \
    const GUID DECLSPEC_SELECTANY name = NMR_KM_GUID_INIT_(__VA_ARGS__)
#endif
#define NMR_KM_DEFINE_GUID_EXTERN(name, ...) EXTERN_C const GUID name
#ifndef DEFINE_GUID
#ifdef INITGUID
#define DEFINE_GUID NMR_KM_DEFINE_GUID_INIT
#else
#define DEFINE_GUID NMR_KM_DEFINE_GUID_EXTERN
#endif
#endif

/* ---- memory ----------------------------------------------------------- */
#define RtlZeroMemory(Destination, Length) memset((Destination), 0, (Length))
#define RtlFillMemory(Destination, Length, Fill) memset((Destination), (Fill), (Length))
#define RtlCopyMemory(Destination, Source, Length) memcpy((Destination), (Source), (Length))
#define RtlMoveMemory(Destination, Source, Length) memmove((Destination), (Source), (Length))
#define RtlEqualMemory(Destination, Source, Length) (!memcmp((Destination), (Source), (Length)))
#define RtlZeroBytes RtlZeroMemory
#define RtlFillBytes RtlFillMemory
#define RtlCopyBytes RtlCopyMemory

/* The number of leading bytes that are equal (Length when all are). */
static inline SIZE_T RtlCompareMemory(const VOID *Source1, const VOID *Source2, SIZE_T Length)
{
    const UCHAR *a = (const UCHAR *)Source1, *b = (const UCHAR *)Source2;
    SIZE_T i = 0;
    while (i < Length && a[i] == b[i])
        i++;
    return i;
}

/* Zeroes through a volatile pointer, so the compiler keeps the stores
 * even when the memory is not read again (secrets). */
static inline PVOID RtlSecureZeroMemory(PVOID ptr, SIZE_T cnt)
{
    volatile char *p = (volatile char *)ptr;
    while (cnt--)
        *p++ = 0;
    return ptr;
}

static inline USHORT RtlUshortByteSwap(USHORT Source) { return __builtin_bswap16(Source); }
static inline ULONG RtlUlongByteSwap(ULONG Source) { return __builtin_bswap32(Source); }
static inline ULONGLONG RtlUlonglongByteSwap(ULONGLONG Source) { return __builtin_bswap64(Source); }

/* ---- counted strings -------------------------------------------------------
 * RtlInit*String: Buffer = Source, Length = its length in bytes without
 * the terminator, MaximumLength = with it; NULL gives an empty string with
 * a NULL buffer.  A source longer than a USHORT can count is cut to the
 * largest whole number of characters that fits (Windows' limit is
 * UNICODE_STRING_MAX_BYTES for Unicode strings). */
static inline VOID RtlInitUnicodeString(PUNICODE_STRING DestinationString, PCWSTR SourceString)
{
    SIZE_T bytes = 0;
    const SIZE_T max = (UNICODE_STRING_MAX_BYTES / sizeof(WCHAR)) * sizeof(WCHAR);
    DestinationString->Buffer = (PWCH)SourceString;
    if (SourceString != NULL) {
        bytes = wcslen(SourceString) * sizeof(WCHAR);
        if (bytes > max - sizeof(WCHAR))
            bytes = max - sizeof(WCHAR);
        DestinationString->Length = (USHORT)bytes;
        DestinationString->MaximumLength = (USHORT)(bytes + sizeof(WCHAR));
    } else {
        DestinationString->Length = 0;
        DestinationString->MaximumLength = 0;
    }
}

static inline VOID RtlInitString(PSTRING DestinationString, PCSZ SourceString)
{
    SIZE_T bytes;
    DestinationString->Buffer = (PCHAR)SourceString;
    if (SourceString != NULL) {
        bytes = strlen(SourceString);
        if (bytes > MAXUSHORT - 1)
            bytes = MAXUSHORT - 1;
        DestinationString->Length = (USHORT)bytes;
        DestinationString->MaximumLength = (USHORT)(bytes + 1);
    } else {
        DestinationString->Length = 0;
        DestinationString->MaximumLength = 0;
    }
}

static inline VOID RtlInitAnsiString(PANSI_STRING DestinationString, PCSZ SourceString)
{
    RtlInitString(DestinationString, SourceString);
}

/* Equal lengths and characters.  CaseInSensitive folds the ASCII letters
 * only (Windows folds with its whole upcase table). */
static inline BOOLEAN RtlEqualUnicodeString(PCUNICODE_STRING String1, PCUNICODE_STRING String2,
                                            BOOLEAN CaseInSensitive)
{
    USHORT i, n;
    if (String1->Length != String2->Length)
        return FALSE;
    n = (USHORT)(String1->Length / sizeof(WCHAR));
    for (i = 0; i < n; i++) {
        WCHAR a = String1->Buffer[i], b = String2->Buffer[i];
        if (CaseInSensitive) {
            if (a >= L'a' && a <= L'z')
                a = (WCHAR)(a - L'a' + L'A');
            if (b >= L'a' && b <= L'z')
                b = (WCHAR)(b - L'a' + L'A');
        }
        if (a != b)
            return FALSE;
    }
    return TRUE;
}

/* ---- doubly linked lists -------------------------------------------------
 * Each function checks the links it changes, as Windows does (there a
 * broken link is a bugcheck): a broken list is left as it is and reported
 * through NMR_KM_LIST_CORRUPT(entry, function), which the kernel layer
 * may define before including this header (by default, nothing), and the
 * function returns as if there were nothing to do (RemoveEntryList FALSE,
 * RemoveHeadList and RemoveTailList the entry they would have removed). */
#ifndef NMR_KM_LIST_CORRUPT
#define NMR_KM_LIST_CORRUPT(entry, function) ((void)(entry), (void)(function))
#endif

static inline VOID InitializeListHead(PLIST_ENTRY ListHead)
{
    ListHead->Flink = ListHead->Blink = ListHead;
}

static inline BOOLEAN IsListEmpty(const LIST_ENTRY *ListHead)
{
    return (BOOLEAN)(ListHead->Flink == ListHead);
}

/* Unlinks Entry; TRUE when the list it was in is empty afterwards. */
static inline BOOLEAN RemoveEntryList(PLIST_ENTRY Entry)
{
    PLIST_ENTRY next = Entry->Flink, prev = Entry->Blink;
    if (next->Blink != Entry || prev->Flink != Entry) {
        NMR_KM_LIST_CORRUPT(Entry, "RemoveEntryList");
        return FALSE;
    }
    prev->Flink = next;
    next->Blink = prev;
    return (BOOLEAN)(next == prev);
}

/* Unlinks and returns the first entry; on an empty list, the head. */
static inline PLIST_ENTRY RemoveHeadList(PLIST_ENTRY ListHead)
{
    PLIST_ENTRY entry = ListHead->Flink, next = entry->Flink;
    if (entry->Blink != ListHead || next->Blink != entry) {
        NMR_KM_LIST_CORRUPT(ListHead, "RemoveHeadList");
        return entry;
    }
    ListHead->Flink = next;
    next->Blink = ListHead;
    return entry;
}

/* Unlinks and returns the last entry; on an empty list, the head. */
static inline PLIST_ENTRY RemoveTailList(PLIST_ENTRY ListHead)
{
    PLIST_ENTRY entry = ListHead->Blink, prev = entry->Blink;
    if (entry->Flink != ListHead || prev->Flink != entry) {
        NMR_KM_LIST_CORRUPT(ListHead, "RemoveTailList");
        return entry;
    }
    ListHead->Blink = prev;
    prev->Flink = ListHead;
    return entry;
}

static inline VOID InsertHeadList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry)
{
    PLIST_ENTRY next = ListHead->Flink;
    if (next->Blink != ListHead) {
        NMR_KM_LIST_CORRUPT(ListHead, "InsertHeadList");
        return;
    }
    Entry->Flink = next;
    Entry->Blink = ListHead;
    next->Blink = Entry;
    ListHead->Flink = Entry;
}

static inline VOID InsertTailList(PLIST_ENTRY ListHead, PLIST_ENTRY Entry)
{
    PLIST_ENTRY prev = ListHead->Blink;
    if (prev->Flink != ListHead) {
        NMR_KM_LIST_CORRUPT(ListHead, "InsertTailList");
        return;
    }
    Entry->Flink = ListHead;
    Entry->Blink = prev;
    prev->Flink = Entry;
    ListHead->Blink = Entry;
}

/* Appends a list without a head: ListToAppend is one entry of a circle of
 * entries, which go, from it onwards, at the end of ListHead's list. */
static inline VOID AppendTailList(PLIST_ENTRY ListHead, PLIST_ENTRY ListToAppend)
{
    PLIST_ENTRY last = ListHead->Blink;
    last->Flink = ListToAppend;
    ListHead->Blink = ListToAppend->Blink;
    ListToAppend->Blink->Flink = ListHead;
    ListToAppend->Blink = last;
}

/* ---- singly linked lists ------------------------------------------------- */
static inline VOID PushEntryList(PSINGLE_LIST_ENTRY ListHead, PSINGLE_LIST_ENTRY Entry)
{
    Entry->Next = ListHead->Next;
    ListHead->Next = Entry;
}

/* The first entry, unlinked; NULL on an empty list. */
static inline PSINGLE_LIST_ENTRY PopEntryList(PSINGLE_LIST_ENTRY ListHead)
{
    PSINGLE_LIST_ENTRY first = ListHead->Next;
    if (first != NULL)
        ListHead->Next = first->Next;
    return first;
}

/* ---- barriers --------------------------------------------------------------- */
/* A full hardware and compiler barrier.  ThreadSanitizer does not model
 * fences (gcc refuses them with -fsanitize=thread), so under it the
 * barrier is a sequentially consistent read-modify-write of one shared
 * word, which TSan does see. */
#if defined(__SANITIZE_THREAD__)
#define NMR_KM_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NMR_KM_TSAN 1
#endif
#endif
#ifndef MemoryBarrier
#ifdef NMR_KM_TSAN
static inline void nmr_km_memory_barrier(void)
{
    static long word;
    __atomic_fetch_add(&word, 0, __ATOMIC_SEQ_CST);
}
#define MemoryBarrier() nmr_km_memory_barrier()
#else
#define MemoryBarrier() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#endif
/* A compiler barrier only. */
#ifndef _ReadWriteBarrier
#define _ReadWriteBarrier() __atomic_signal_fence(__ATOMIC_SEQ_CST)
#endif
#ifndef PreFetchCacheLine
#define PreFetchCacheLine(l, a) __builtin_prefetch((const void *)(a))
#endif
#ifndef PrefetchForWrite
#define PrefetchForWrite(p) __builtin_prefetch((const void *)(p), 1)
#endif

/* ---- Interlocked ----------------------------------------------------------
 * Windows' names and results: Increment, Decrement and Add return the new
 * value; Exchange, ExchangeAdd, CompareExchange, And, Or and Xor the old
 * one.  F is the fence ("" full, Acquire, Release, NoFence), S the size
 * suffix ("" 32 bits, 16, 64, 8), as Windows spells them. */
#define NMR_KM_SEQ __ATOMIC_SEQ_CST
#define NMR_KM_ACQ __ATOMIC_ACQUIRE
#define NMR_KM_REL __ATOMIC_RELEASE
#define NMR_KM_RLX __ATOMIC_RELAXED

#define NMR_KM_IL_INCDEC(T, F, S, MO)                                          \
    static inline T InterlockedIncrement##F##S(T volatile *Addend)             \
    { return __atomic_add_fetch(Addend, (T)1, MO); }                           \
    static inline T InterlockedDecrement##F##S(T volatile *Addend)             \
    { return __atomic_sub_fetch(Addend, (T)1, MO); }
#define NMR_KM_IL_XCHG(T, F, S, MO)                                            \
    static inline T InterlockedExchange##F##S(T volatile *Target, T Value)     \
    { return __atomic_exchange_n(Target, Value, MO); }
#define NMR_KM_IL_ADD(T, F, S, MO)                                             \
    static inline T InterlockedExchangeAdd##F##S(T volatile *Addend, T Value)  \
    { return __atomic_fetch_add(Addend, Value, MO); }                          \
    static inline T InterlockedAdd##F##S(T volatile *Addend, T Value)          \
    { return __atomic_add_fetch(Addend, Value, MO); }
#define NMR_KM_IL_CAS(T, F, S, MO)                                             \
    static inline T InterlockedCompareExchange##F##S(T volatile *Destination,  \
                                                     T ExChange, T Comperand)  \
    {                                                                          \
        T old = Comperand;                                                     \
        (void)__atomic_compare_exchange_n(Destination, &old, ExChange, 0, MO,  \
                                          MO == NMR_KM_REL ? NMR_KM_RLX : MO); \
        return old;                                                            \
    }
/* Bit operations put the size before the fence: InterlockedOr64 but
 * InterlockedOrAcquire64 and InterlockedOr8 (Windows' spelling). */
#define NMR_KM_IL_BITS(T, F, S, MO)                                            \
    static inline T InterlockedAnd##F##S(T volatile *Destination, T Value)     \
    { return __atomic_fetch_and(Destination, Value, MO); }                     \
    static inline T InterlockedOr##F##S(T volatile *Destination, T Value)      \
    { return __atomic_fetch_or(Destination, Value, MO); }                      \
    static inline T InterlockedXor##F##S(T volatile *Destination, T Value)     \
    { return __atomic_fetch_xor(Destination, Value, MO); }

#define NMR_KM_IL_ALL(T, F, S, MO)                                             \
    NMR_KM_IL_INCDEC(T, F, S, MO)                                              \
    NMR_KM_IL_XCHG(T, F, S, MO)                                                \
    NMR_KM_IL_ADD(T, F, S, MO)                                                 \
    NMR_KM_IL_CAS(T, F, S, MO)                                                 \
    NMR_KM_IL_BITS(T, F, S, MO)

/* 32 and 64 bits: every operation, every fence. */
NMR_KM_IL_ALL(LONG, , , NMR_KM_SEQ)
NMR_KM_IL_ALL(LONG, Acquire, , NMR_KM_ACQ)
NMR_KM_IL_ALL(LONG, Release, , NMR_KM_REL)
NMR_KM_IL_ALL(LONG, NoFence, , NMR_KM_RLX)
NMR_KM_IL_ALL(LONG64, , 64, NMR_KM_SEQ)
NMR_KM_IL_ALL(LONG64, Acquire, 64, NMR_KM_ACQ)
NMR_KM_IL_ALL(LONG64, Release, 64, NMR_KM_REL)
NMR_KM_IL_ALL(LONG64, NoFence, 64, NMR_KM_RLX)
/* 16 bits: full barrier only. */
NMR_KM_IL_ALL(SHORT, , 16, NMR_KM_SEQ)
/* 8 bits: exchange, exchange-add and the bit operations, full barrier. */
NMR_KM_IL_XCHG(CHAR, , 8, NMR_KM_SEQ)
static inline CHAR InterlockedExchangeAdd8(CHAR volatile *Addend, CHAR Value)
{
    return __atomic_fetch_add(Addend, Value, NMR_KM_SEQ);
}
NMR_KM_IL_BITS(CHAR, , 8, NMR_KM_SEQ)

/* Pointers. */
#define NMR_KM_IL_PTR(F, MO)                                                   \
    static inline PVOID InterlockedExchangePointer##F(PVOID volatile *Target,  \
                                                      PVOID Value)             \
    { return __atomic_exchange_n(Target, Value, MO); }                         \
    static inline PVOID InterlockedCompareExchangePointer##F(                  \
        PVOID volatile *Destination, PVOID ExChange, PVOID Comperand)          \
    {                                                                          \
        PVOID old = Comperand;                                                 \
        (void)__atomic_compare_exchange_n(Destination, &old, ExChange, 0, MO,  \
                                          MO == NMR_KM_REL ? NMR_KM_RLX : MO); \
        return old;                                                            \
    }
NMR_KM_IL_PTR(, NMR_KM_SEQ)
NMR_KM_IL_PTR(Acquire, NMR_KM_ACQ)
NMR_KM_IL_PTR(Release, NMR_KM_REL)
NMR_KM_IL_PTR(NoFence, NMR_KM_RLX)

/* SIZE_T counters, as Windows defines them: over the 64-bit forms, any
 * pointer to a 64-bit integer accepted, the result a LONG64. */
#define InterlockedIncrementSizeT(a) InterlockedIncrement64((LONG64 volatile *)(a))
#define InterlockedDecrementSizeT(a) InterlockedDecrement64((LONG64 volatile *)(a))
#define InterlockedExchangeAddSizeT(a, b)                                      \
    InterlockedExchangeAdd64((LONG64 volatile *)(a), (LONG64)(b))
#define InterlockedAddSizeT(a, b) InterlockedAdd64((LONG64 volatile *)(a), (LONG64)(b))
#define InterlockedIncrementSizeTNoFence(a)                                    \
    InterlockedIncrementNoFence64((LONG64 volatile *)(a))
#define InterlockedDecrementSizeTNoFence(a)                                    \
    InterlockedDecrementNoFence64((LONG64 volatile *)(a))
#define InterlockedExchangeAddSizeTNoFence(a, b)                               \
    InterlockedExchangeAddNoFence64((LONG64 volatile *)(a), (LONG64)(b))

/* ---- ReadNoFence / WriteRelease ----------------------------------------
 * Single atomic loads and stores: Acquire loads and Release stores order
 * the accesses around them; NoFence and Raw ones are relaxed (Raw is a
 * plain access on Windows; relaxed atomics cost the same on x86 and keep
 * ThreadSanitizer informed). */
#define NMR_KM_RW(T, RA, RN, RR, WR, WN, WW)                                   \
    static inline T RA(T const volatile *Source)                               \
    { return __atomic_load_n(Source, NMR_KM_ACQ); }                            \
    static inline T RN(T const volatile *Source)                               \
    { return __atomic_load_n(Source, NMR_KM_RLX); }                            \
    static inline T RR(T const volatile *Source)                               \
    { return __atomic_load_n(Source, NMR_KM_RLX); }                            \
    static inline VOID WR(T volatile *Destination, T Value)                    \
    { __atomic_store_n(Destination, Value, NMR_KM_REL); }                      \
    static inline VOID WN(T volatile *Destination, T Value)                    \
    { __atomic_store_n(Destination, Value, NMR_KM_RLX); }                      \
    static inline VOID WW(T volatile *Destination, T Value)                    \
    { __atomic_store_n(Destination, Value, NMR_KM_RLX); }
/* Sized names put the size last (ReadAcquire64), typed ones in the middle
 * (ReadULongAcquire). */
#define NMR_KM_RW_SIZED(T, S)                                                  \
    NMR_KM_RW(T, ReadAcquire##S, ReadNoFence##S, ReadRaw##S, WriteRelease##S,  \
              WriteNoFence##S, WriteRaw##S)
#define NMR_KM_RW_TYPED(T, N)                                                  \
    NMR_KM_RW(T, Read##N##Acquire, Read##N##NoFence, Read##N##Raw,             \
              Write##N##Release, Write##N##NoFence, Write##N##Raw)

NMR_KM_RW_SIZED(CHAR, 8)
NMR_KM_RW_SIZED(SHORT, 16)
NMR_KM_RW_SIZED(LONG, )
NMR_KM_RW_SIZED(LONG64, 64)
NMR_KM_RW_TYPED(UCHAR, UChar)
NMR_KM_RW_TYPED(BOOLEAN, Boolean)
NMR_KM_RW_TYPED(USHORT, UShort)
NMR_KM_RW_TYPED(ULONG, ULong)
NMR_KM_RW_TYPED(ULONG64, ULong64)
NMR_KM_RW_TYPED(PVOID, Pointer)
NMR_KM_RW_TYPED(LONG_PTR, LongPtr)
NMR_KM_RW_TYPED(ULONG_PTR, ULongPtr)
NMR_KM_RW_TYPED(SIZE_T, SizeT)

#ifdef __cplusplus
}
#endif

#endif /* NMR_KM_BASICS_H */
