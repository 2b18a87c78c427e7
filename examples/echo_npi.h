/* SPDX-License-Identifier: MIT */
/*
 * echo_npi.h - the "echo" NPI: the contract a provider and a client of it
 * agree on, and nothing else.  An NPI is a GUID (the NPI ID) plus the
 * dispatch tables each side hands to the other when they bind.  The NMR
 * never calls through these tables; it only introduces the two sides.
 *
 * Both tables carry a version and their size first, as Windows NPIs do, so
 * a side can refuse a peer whose table is older than it needs.
 */
#ifndef ECHO_NPI_H
#define ECHO_NPI_H

#include <netioddk.h>
#include <stddef.h>
#include <stdlib.h>

/* NPI ID of the echo NPI: {6f1d2c3b-8a47-4e59-b1c2-3d4e5f607182}.
 * Each file that includes this header gets its own copy, at its own address:
 * the NMR matches NPI IDs by value (R4), so that is fine. */
static const NPIID NPI_ECHO_ID = {
    0x6f1d2c3b, 0x8a47, 0x4e59,
    { 0xb1, 0xc2, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82 }
};

#define ECHO_NPI_VERSION 1

/* Version 2 of the NPI adds one rule, so that a client can tell which
 * provider answered: a provider whose characteristics say Version 2 or
 * more replies with the message, then '|', then its Name ("hi|echo-v2").
 * A version 1 provider replies with the message alone.  The dispatch
 * tables are the same in both versions. */
#define ECHO_NPI_VERSION_TAGGED 2

/* What a provider publishes about itself (NpiSpecificCharacteristics of its
 * registration instance); clients read it in ClientAttachProvider. */
typedef struct ECHO_PROVIDER_CHARACTERISTICS {
    USHORT Version;
    const char *Name;
} ECHO_PROVIDER_CHARACTERISTICS;

/* Client -> provider.  Echo() writes the reply into out (at most n bytes,
 * NUL-terminated), also notifies the client through OnReply, and returns
 * STATUS_SUCCESS.  Callable from any thread while the binding is attached. */
typedef NTSTATUS ECHO_FN(PVOID ProviderBindingContext, const char *msg,
                         char *out, size_t n);
typedef struct ECHO_PROVIDER_DISPATCH {
    USHORT Version;
    USHORT Length;
    ECHO_FN *Echo;
} ECHO_PROVIDER_DISPATCH;

/* Provider -> client.  Called from inside Echo(), on the caller's thread. */
typedef void ECHO_ON_REPLY_FN(PVOID ClientBindingContext, const char *reply);
typedef struct ECHO_CLIENT_DISPATCH {
    USHORT Version;
    USHORT Length;
    ECHO_ON_REPLY_FN *OnReply;
} ECHO_CLIENT_DISPATCH;

/* ---- what every echo provider does with a client ----------------------
 * Its binding context: the client's context and table, to answer through. */
typedef struct ECHO_PROVIDER_BINDING {
    HANDLE NmrBinding;
    PVOID ClientBindingContext;
    const ECHO_CLIENT_DISPATCH *Client;
} ECHO_PROVIDER_BINDING;

/* The NPI part of ProviderAttachClient: refuse a client whose table is too
 * old or too short (STATUS_NOINTERFACE), else allocate the binding context
 * (freed with free() in ProviderCleanupBindingContext). */
static inline NTSTATUS echo_provider_bind(HANDLE nmr_binding, PVOID client_binding,
                                          const VOID *client_dispatch,
                                          ECHO_PROVIDER_BINDING **out)
{
    const ECHO_CLIENT_DISPATCH *cd = (const ECHO_CLIENT_DISPATCH *)client_dispatch;
    ECHO_PROVIDER_BINDING *pb;

    if (cd == NULL || cd->Version < ECHO_NPI_VERSION ||
        cd->Length < sizeof(ECHO_CLIENT_DISPATCH))
        return STATUS_NOINTERFACE;
    pb = (ECHO_PROVIDER_BINDING *)calloc(1, sizeof *pb);
    if (pb == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    pb->NmrBinding = nmr_binding;
    pb->ClientBindingContext = client_binding;
    pb->Client = cd;
    *out = pb;
    return STATUS_SUCCESS;
}

#endif /* ECHO_NPI_H */
