/* SPDX-License-Identifier: MIT */
/*
 * ping_npi.h - the ping NPI of the example drivers (examples/drivers/):
 * a provider answers Ping calls, a client makes them.  An NPI of our own,
 * defined the way a Windows NPI is: an NPI ID (a GUID), the dispatch
 * table each side offers at attach, and the provider's NPI-specific
 * characteristics, which the client reads when it is offered a provider.
 *
 * Rules of the NPI:
 *   - Ping(ProviderBindingContext, Value, &Reply) is called at
 *     PASSIVE_LEVEL, from any thread, while the client is attached; it
 *     may block briefly.  It returns STATUS_SUCCESS with Reply.Value ==
 *     Value and Reply.ProviderVersion == the provider's version.
 *   - The client dispatch table carries no function: the provider never
 *     calls the client.
 *   - A client must not keep a pointer into the provider's
 *     characteristics after it detaches (the provider's image may be
 *     unloaded): it copies what it needs at attach.
 *
 * Included by a driver after <ntddk.h> (or <wdm.h>) and <netioddk.h>.
 */
#ifndef PING_NPI_H
#define PING_NPI_H

/* {7A3C5E10-4B2D-4F6E-9A81-2C3D4E5F6A7B} */
static const NPIID PING_NPI_ID = {
    0x7a3c5e10, 0x4b2d, 0x4f6e, { 0x9a, 0x81, 0x2c, 0x3d, 0x4e, 0x5f, 0x6a, 0x7b }
};

#define PING_NPI_VERSION 1

/* A pool tag from its four characters, in the order pool tools show
 * them: PING_TAG('P', 'n', 'g', 'C') shows as "PngC".  (Windows sources
 * write 'CgnP', a multi-character constant; gcc warns about those.) */
#define PING_TAG(a, b, c, d)                                                  \
    ((ULONG)(UCHAR)(a) | ((ULONG)(UCHAR)(b) << 8) | ((ULONG)(UCHAR)(c) << 16) | \
     ((ULONG)(UCHAR)(d) << 24))

typedef struct _PING_REPLY {
    ULONG64 Value;             /* the Value of the call */
    USHORT ProviderVersion;    /* who answered */
} PING_REPLY, *PPING_REPLY;

typedef NTSTATUS PING_FN(PVOID ProviderBindingContext, ULONG64 Value, PPING_REPLY Reply);
typedef PING_FN *PPING_FN;

typedef struct _PING_PROVIDER_DISPATCH {
    USHORT Version;            /* PING_NPI_VERSION */
    USHORT Length;             /* sizeof(PING_PROVIDER_DISPATCH) */
    PPING_FN Ping;
} PING_PROVIDER_DISPATCH, *PPING_PROVIDER_DISPATCH;

typedef struct _PING_CLIENT_DISPATCH {
    USHORT Version;
    USHORT Length;
} PING_CLIENT_DISPATCH, *PPING_CLIENT_DISPATCH;

/* NpiSpecificCharacteristics of a ping provider's registration. */
typedef struct _PING_PROVIDER_CHARACTERISTICS {
    USHORT Version;            /* PING_NPI_VERSION */
    USHORT Length;             /* sizeof(PING_PROVIDER_CHARACTERISTICS) */
    USHORT ProviderVersion;    /* 1, 2...: a client prefers the highest */
} PING_PROVIDER_CHARACTERISTICS, *PPING_PROVIDER_CHARACTERISTICS;

#endif /* PING_NPI_H */
