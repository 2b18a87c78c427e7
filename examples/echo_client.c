/* SPDX-License-Identifier: MIT */
/*
 * echo_client.c - a client of the echo NPI, written as a Windows NPI client
 * module would be.  It binds to the first provider it is offered and sends
 * its user's messages there.
 *
 * The one hard part of any NPI client is unbinding safely: the NMR may ask
 * the client to detach (ClientDetachProvider) while another thread is in
 * the middle of a call into the provider.  The client must not let the
 * binding finish detaching until that call has returned, because after the
 * provider's NmrWaitForProviderDeregisterComplete returns, its code may be
 * gone.  That is a count of calls in flight per binding, and a detach that
 * returns STATUS_PENDING while the count is not zero and completes when it
 * reaches zero.
 *
 * libnmr's binding guard (<nmr/guard.h>) is that count, done once: every
 * call goes between nmr_guard_enter and nmr_guard_leave, the detach
 * callback returns nmr_guard_detach(), and the last leave calls
 * NmrClientDetachProviderComplete by itself.  The hand-written version of
 * this module kept a "calls" counter and a "detaching" flag under the
 * module lock, took the lock a second time after every call, and decided
 * itself which side completes the detach; rewriting it with the guard
 * removed those 28 lines and added 22 (guard set-up, tear-down, error
 * path, messages): 173 -> 167 lines of code, and no completion logic left
 * to get wrong (docs/rundown.md).
 */
#include "echo_modules.h"
#include "echo_npi.h"

#include <nmr/guard.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct echo_client_module {
    pthread_mutex_t lock;                   /* protects everything below */
    struct echo_client_binding *current;    /* where calls go, or NULL */
    echo_reply_fn *on_reply;                /* set once, before registering */
    HANDLE nmr_client;
} echo_client_module;

/* One per attached provider. */
typedef struct echo_client_binding {
    echo_client_module *module;
    HANDLE nmr_binding;
    PVOID provider_binding;                 /* the provider's context ... */
    const ECHO_PROVIDER_DISPATCH *provider; /* ... and its table */
    const char *provider_name;
    nmr_guard guard;                        /* calls in flight */
} echo_client_binding;

static echo_client_module the_client = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* ---- the NPI itself: what the provider may call ------------------------- */
static void client_on_reply(PVOID client_binding, const char *reply)
{
    echo_client_binding *b = client_binding;

    b->module->on_reply(reply);
}

static const ECHO_CLIENT_DISPATCH client_dispatch = {
    ECHO_NPI_VERSION, sizeof(ECHO_CLIENT_DISPATCH), client_on_reply
};

/* ---- NMR callbacks ------------------------------------------------------ */
static NTSTATUS client_attach_provider(HANDLE nmr_binding, PVOID client_ctx,
                                       PNPI_REGISTRATION_INSTANCE provider)
{
    echo_client_module *m = client_ctx;
    const ECHO_PROVIDER_CHARACTERISTICS *pc =
        provider->NpiSpecificCharacteristics;
    echo_client_binding *b;
    const VOID *dispatch = NULL;
    NTSTATUS st;
    bool busy;

    if (pc == NULL || pc->Version < ECHO_NPI_VERSION) {
        printf("[client] provider too old: declined\n");
        return STATUS_NOINTERFACE;
    }
    pthread_mutex_lock(&m->lock);
    busy = m->current != NULL;
    pthread_mutex_unlock(&m->lock);
    if (busy) {
        printf("[client] already bound: '%s' declined\n", pc->Name);
        return STATUS_NOINTERFACE;
    }

    b = calloc(1, sizeof *b);
    if (b == NULL)
        return STATUS_INSUFFICIENT_RESOURCES;
    b->module = m;
    b->nmr_binding = nmr_binding;
    b->provider_name = pc->Name;
    st = nmr_guard_init(&b->guard, nmr_binding, NMR_GUARD_CLIENT);
    if (st != STATUS_SUCCESS) {
        free(b);
        return st;
    }
    printf("[client] ClientAttachProvider: offered '%s', attaching\n",
           pc->Name);
    st = NmrClientAttachProvider(nmr_binding, b, &client_dispatch,
                                 &b->provider_binding, &dispatch);
    if (st != STATUS_SUCCESS) {     /* only SUCCESS means attached */
        printf("[client] NmrClientAttachProvider -> %s\n",
               nmr_status_name(st));
        nmr_guard_destroy(&b->guard);
        free(b);
        return st;
    }
    b->provider = dispatch;
    /* Two providers offered at once, on two threads, may both get here:
     * the first serves the calls, the other stays idle until it detaches. */
    pthread_mutex_lock(&m->lock);
    if (m->current == NULL)
        m->current = b;
    pthread_mutex_unlock(&m->lock);
    printf("[client] bound to '%s'\n", pc->Name);
    return STATUS_SUCCESS;
}

/* The binding stays valid until this callback has returned, whatever other
 * threads do (R16), so reading b after the unlock is safe. */
static NTSTATUS client_detach_provider(PVOID client_binding)
{
    echo_client_binding *b = client_binding;
    echo_client_module *m = b->module;
    NTSTATUS st;

    pthread_mutex_lock(&m->lock);
    if (m->current == b)
        m->current = NULL;              /* no new call will pick it */
    pthread_mutex_unlock(&m->lock);
    st = nmr_guard_detach(&b->guard);   /* the last call completes it */
    printf("[client] ClientDetachProvider('%s'): %s\n", b->provider_name,
           st == STATUS_PENDING
               ? "a call is in flight -> STATUS_PENDING (the last call completes)"
               : "no call in flight -> STATUS_SUCCESS");
    return st;
}

static VOID client_cleanup_binding_context(PVOID client_binding)
{
    echo_client_binding *b = client_binding;

    printf("[client] ClientCleanupBindingContext: binding context freed\n");
    nmr_guard_destroy(&b->guard);
    free(b);
}

/* ---- calls into the provider -------------------------------------------- */
NTSTATUS echo_client_send(const char *msg, char *out, size_t n)
{
    echo_client_module *m = &the_client;
    echo_client_binding *b;
    NTSTATUS st;

    /* The current binding is never detaching: the detach callback unhooks
     * it under this lock before it starts the guard's rundown. */
    pthread_mutex_lock(&m->lock);
    b = m->current;
    if (b != NULL && !nmr_guard_enter(&b->guard))
        b = NULL;
    pthread_mutex_unlock(&m->lock);
    if (b == NULL)
        return STATUS_NOINTERFACE;

    st = b->provider->Echo(b->provider_binding, msg, out, n);
    nmr_guard_leave(&b->guard);   /* the last one out completes the detach */
    return st;
}

/* ---- registration ------------------------------------------------------- */
static const NPI_MODULEID client_module_id = {
    .Length = sizeof(NPI_MODULEID),
    .Type = MIT_GUID,
    .Guid = { 0x8d4f0e27, 0x61ab, 0x4c3d,
              { 0xa5, 0x17, 0xe0, 0x9b, 0x36, 0xc8, 0x2f, 0x51 } },
};

static const NPI_CLIENT_CHARACTERISTICS client_chars = {
    .Version = 0,
    .Length = sizeof(NPI_CLIENT_CHARACTERISTICS),
    .ClientAttachProvider = client_attach_provider,
    .ClientDetachProvider = client_detach_provider,
    .ClientCleanupBindingContext = client_cleanup_binding_context,
    .ClientRegistrationInstance = {
        .Version = 0,
        .Size = sizeof(NPI_REGISTRATION_INSTANCE),
        .NpiId = &NPI_ECHO_ID,
        .ModuleId = &client_module_id,
        .Number = 0,
        .NpiSpecificCharacteristics = NULL,
    },
};

NTSTATUS echo_client_load(echo_reply_fn *on_reply)
{
    NTSTATUS st;

    the_client.on_reply = on_reply;
    printf("[client] NmrRegisterClient\n");
    st = NmrRegisterClient(&client_chars, &the_client, &the_client.nmr_client);
    printf("[client] NmrRegisterClient -> %s\n", nmr_status_name(st));
    return st;
}

NTSTATUS echo_client_stop(void)
{
    NTSTATUS st;

    printf("[client] NmrDeregisterClient\n");
    st = NmrDeregisterClient(the_client.nmr_client);
    printf("[client] NmrDeregisterClient -> %s\n", nmr_status_name(st));
    return st;
}

NTSTATUS echo_client_wait(void)
{
    NTSTATUS st = NmrWaitForClientDeregisterComplete(the_client.nmr_client);

    printf("[client] NmrWaitForClientDeregisterComplete -> %s%s\n",
           nmr_status_name(st),
           st == STATUS_SUCCESS ? ": the client module may be unloaded now"
                                : "");
    return st;
}
