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
 * gone.  The usual answer, written out here by hand, is a count of calls in
 * flight per binding:
 *
 *   send:    lock; take the current binding, calls++; unlock
 *            call the provider
 *            lock; calls--; last = (calls == 0 && detaching); unlock
 *            if last: NmrClientDetachProviderComplete
 *   detach:  lock; detaching = 1; stop handing the binding out; unlock
 *            return calls ? STATUS_PENDING : STATUS_SUCCESS
 *
 * Exactly one of the two sides sees the count reach zero with the binding
 * detaching, so the half is completed exactly once (SPEC R14).  After the
 * completion the binding context may be freed at any moment (by the cleanup
 * callback, possibly on this very thread), so nothing touches it afterwards.
 */
#include "echo_modules.h"
#include "echo_npi.h"

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
    unsigned calls;                         /* calls in flight (module->lock) */
    bool detaching;                         /* (module->lock) */
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
    printf("[client] ClientAttachProvider: offered '%s', attaching\n",
           pc->Name);
    st = NmrClientAttachProvider(nmr_binding, b, &client_dispatch,
                                 &b->provider_binding, &dispatch);
    if (st != STATUS_SUCCESS) {     /* only SUCCESS means attached */
        printf("[client] NmrClientAttachProvider -> %s\n",
               echo_status_name(st));
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
 * threads do (SPEC R16), so reading b after the unlock is safe. */
static NTSTATUS client_detach_provider(PVOID client_binding)
{
    echo_client_binding *b = client_binding;
    echo_client_module *m = b->module;
    unsigned calls;

    pthread_mutex_lock(&m->lock);
    b->detaching = true;
    if (m->current == b)
        m->current = NULL;
    calls = b->calls;
    pthread_mutex_unlock(&m->lock);
    if (calls > 0) {
        printf("[client] ClientDetachProvider('%s'): %u call(s) in flight"
               " -> STATUS_PENDING\n", b->provider_name, calls);
        return STATUS_PENDING;
    }
    printf("[client] ClientDetachProvider('%s'): no call in flight"
           " -> STATUS_SUCCESS\n", b->provider_name);
    return STATUS_SUCCESS;
}

static VOID client_cleanup_binding_context(PVOID client_binding)
{
    printf("[client] ClientCleanupBindingContext: binding context freed\n");
    free(client_binding);
}

/* ---- calls into the provider -------------------------------------------- */
NTSTATUS echo_client_send(const char *msg, char *out, size_t n)
{
    echo_client_module *m = &the_client;
    echo_client_binding *b;
    HANDLE nmr_binding;
    NTSTATUS st;
    bool last;

    pthread_mutex_lock(&m->lock);
    b = m->current;
    if (b != NULL)
        b->calls++;
    pthread_mutex_unlock(&m->lock);
    if (b == NULL)
        return STATUS_NOINTERFACE;

    st = b->provider->Echo(b->provider_binding, msg, out, n);

    pthread_mutex_lock(&m->lock);
    last = --b->calls == 0 && b->detaching;
    nmr_binding = b->nmr_binding;
    pthread_mutex_unlock(&m->lock);
    if (last) {
        printf("[client] last call into '%s' returned:"
               " NmrClientDetachProviderComplete\n", b->provider_name);
        NmrClientDetachProviderComplete(nmr_binding);   /* b may be gone */
    }
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
    printf("[client] NmrRegisterClient -> %s\n", echo_status_name(st));
    return st;
}

NTSTATUS echo_client_stop(void)
{
    NTSTATUS st;

    printf("[client] NmrDeregisterClient\n");
    st = NmrDeregisterClient(the_client.nmr_client);
    printf("[client] NmrDeregisterClient -> %s\n", echo_status_name(st));
    return st;
}

NTSTATUS echo_client_wait(void)
{
    NTSTATUS st = NmrWaitForClientDeregisterComplete(the_client.nmr_client);

    printf("[client] NmrWaitForClientDeregisterComplete -> %s%s\n",
           echo_status_name(st),
           st == STATUS_SUCCESS ? ": the client module may be unloaded now"
                                : "");
    return st;
}
