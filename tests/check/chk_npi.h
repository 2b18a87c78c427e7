/* SPDX-License-Identifier: MIT */
/*
 * chk_npi.h - the NPI of nmrcheck's catalogue (tests/check/): one NPI that
 * the correct pair (chk_provider.so, chk_client.so) and every planted-bug
 * module speak, so that any bug module can be paired with the correct
 * module of the other role.  Usable from a module (<netioddk.h> only) and
 * from a driver (after <ntddk.h>).
 *
 * Rules of the NPI:
 *   - Call(ProviderBindingContext, Value, &Out), from any thread while the
 *     client is attached: Out = CHK_ANSWER(Key, Value), where Key is the
 *     provider's Key from its NPI-specific characteristics.  During the
 *     call the provider calls the client's Notify once, on the calling
 *     thread, with the same Value.  It returns STATUS_SUCCESS.
 *   - Notify(ClientBindingContext, Value): the provider tells the client
 *     something.  Besides inside Call, a provider may notify its clients
 *     from its own threads (a broadcast), until its detach half is
 *     complete; so a client's binding context must stay valid until its
 *     cleanup, which the NMR runs only after both halves are complete.
 *   - A client copies what it needs from the provider's characteristics
 *     at attach (the provider may be unmapped after it detaches).
 */
#ifndef CHK_NPI_H
#define CHK_NPI_H

#include <netioddk.h>

/* {C4EC0A11-5D2B-4E07-A1F3-6B8C92D0E417} */
static const NPIID CHK_NPI_ID = {
    0xc4ec0a11, 0x5d2b, 0x4e07, { 0xa1, 0xf3, 0x6b, 0x8c, 0x92, 0xd0, 0xe4, 0x17 }
};

#define CHK_NPI_VERSION 1

/* What Call answers: a mix of the value and the provider's key, so that a
 * reply from the wrong provider, or from freed memory, shows. */
#define CHK_ANSWER(key, value) (((unsigned)(value) * 2654435761u) ^ (unsigned)(key))

typedef NTSTATUS CHK_CALL_FN(PVOID ProviderBindingContext, unsigned Value, unsigned *Out);
typedef VOID CHK_NOTIFY_FN(PVOID ClientBindingContext, unsigned Value);

typedef struct CHK_PROVIDER_DISPATCH {
    USHORT Version;            /* CHK_NPI_VERSION */
    USHORT Length;             /* sizeof(CHK_PROVIDER_DISPATCH) */
    CHK_CALL_FN *Call;
} CHK_PROVIDER_DISPATCH;

typedef struct CHK_CLIENT_DISPATCH {
    USHORT Version;
    USHORT Length;
    CHK_NOTIFY_FN *Notify;
} CHK_CLIENT_DISPATCH;

/* NpiSpecificCharacteristics of a provider's registration. */
typedef struct CHK_PROVIDER_CHARACTERISTICS {
    USHORT Version;            /* CHK_NPI_VERSION */
    USHORT Length;             /* sizeof(CHK_PROVIDER_CHARACTERISTICS) */
    unsigned Key;              /* what CHK_ANSWER mixes in */
} CHK_PROVIDER_CHARACTERISTICS;

/* A second NPI, for the module that registers a management interface
 * (bug_leak_registration.c).  {C4EC0A12-5D2B-4E07-A1F3-6B8C92D0E417} */
static const NPIID CHK_MGMT_NPI_ID = {
    0xc4ec0a12, 0x5d2b, 0x4e07, { 0xa1, 0xf3, 0x6b, 0x8c, 0x92, 0xd0, 0xe4, 0x17 }
};

/* Module IDs: CHK_MODULE_ID(n) is {C4EC0B00-5D2B-4E07-A1F3-6B8C92D0E4nn};
 * each module of the catalogue takes its own n. */
#define CHK_MODULE_ID(n)                                                      \
    {                                                                         \
        sizeof(NPI_MODULEID), MIT_GUID,                                       \
        { { 0xc4ec0b00, 0x5d2b, 0x4e07,                                       \
            { 0xa1, 0xf3, 0x6b, 0x8c, 0x92, 0xd0, 0xe4, (unsigned char)(n) } } } \
    }

/* Pool tags of the catalogue's drivers: CHK_TAG('C', 'k', 'S', 'w') shows
 * as "CkSw" (the bytes in memory order, as Windows tools show a tag). */
#define CHK_TAG(a, b, c, d)                                                   \
    ((ULONG)(unsigned char)(a) | ((ULONG)(unsigned char)(b) << 8) |           \
     ((ULONG)(unsigned char)(c) << 16) | ((ULONG)(unsigned char)(d) << 24))

#endif /* CHK_NPI_H */
