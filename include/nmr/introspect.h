/* SPDX-License-Identifier: MIT */
/*
 * nmr/introspect.h - libnmr extension: what is registered and bound, now.
 *
 * nmr_snapshot_take() copies the state of one registrar: every
 * registration that has not finished its wait, and every binding that has
 * been offered and not yet cleaned up.  Each NPI is copied under its own
 * lock, one NPI at a time, so registrations of one NPI and their bindings
 * are mutually consistent, and nothing is stopped for longer than that
 * copy.  No user code runs during a snapshot.  The snapshot is plain
 * memory owned by the caller: read it at leisure, then nmr_snapshot_free().
 *
 * nmr_snapshot_write() renders a snapshot as human text, as JSON (schema:
 * docs/snapshot.schema.json) or as Graphviz DOT (clients and providers as
 * nodes, bindings as edges coloured by state).
 *
 * Context: may be called from any thread, including from callbacks; never
 * blocks on other threads (only briefly on NPI locks).
 */
#ifndef NMR_INTROSPECT_H
#define NMR_INTROSPECT_H

#include <netioddk.h>
#include <nmr/registrar.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nmr_role {
    NMR_ROLE_CLIENT = 0,
    NMR_ROLE_PROVIDER = 1
} nmr_role;

typedef enum nmr_registration_state {
    NMR_REGISTRATION_ACTIVE = 0,        /* registered */
    NMR_REGISTRATION_DEREGISTERING = 1, /* Nmr*Deregister* called, no wait yet */
    NMR_REGISTRATION_WAITING = 2        /* a thread is in the wait */
} nmr_registration_state;

typedef enum nmr_binding_state_info {
    NMR_BINDING_OFFERING = 0,  /* attach callbacks running */
    NMR_BINDING_ATTACHED = 1,  /* both sides attached */
    NMR_BINDING_DETACHING = 2  /* detach started (or cleanups running) */
} nmr_binding_state_info;

typedef enum nmr_half_info {
    NMR_HALF_NOT_STARTED = 0, /* detach callback not called yet */
    NMR_HALF_CALLING = 1,     /* detach callback running */
    NMR_HALF_PENDING = 2,     /* returned STATUS_PENDING, completion to come */
    NMR_HALF_COMPLETE = 3     /* this side's detach is complete */
} nmr_half_info;

typedef struct nmr_registration_info {
    HANDLE handle;
    nmr_role role;
    nmr_registration_state state;
    GUID npi_id;
    NPI_MODULEID module_id;  /* copied from the registration instance */
    ULONG number;            /* the instance's Number */
    PVOID context;           /* the Client/ProviderContext given at register */
    /* Where the module's code and data are: its characteristics and its
     * three callbacks (cleanup may be NULL).  A module host uses these to
     * find the registrations of one shared object (dladdr). */
    const void *characteristics;
    void (*attach)(void);
    void (*detach)(void);
    void (*cleanup)(void);
    size_t bindings;         /* bindings not yet cleaned up */
} nmr_registration_info;

typedef struct nmr_binding_info {
    HANDLE handle;
    size_t client;           /* index in nmr_snapshot.registrations */
    size_t provider;         /* index in nmr_snapshot.registrations */
    nmr_binding_state_info state;
    nmr_half_info half[2];   /* detach halves, [NMR_ROLE_CLIENT], [..._PROVIDER] */
    /* Milliseconds since the detach started (state DETACHING, else 0), and,
     * for each half not yet complete, since its detach callback was called
     * (0 when not called yet or complete); CLOCK_MONOTONIC, at the
     * snapshot's time, with a resolution of a few milliseconds. */
    uint64_t detaching_ms;
    uint64_t half_pending_ms[2];
} nmr_binding_info;

typedef struct nmr_snapshot {
    uint64_t time_ns;        /* CLOCK_MONOTONIC when taken */
    size_t nregistrations;
    nmr_registration_info *registrations;
    size_t nbindings;
    nmr_binding_info *bindings;
} nmr_snapshot;

/* Snapshot of a registrar (NULL: the default one).  STATUS_SUCCESS, or
 * STATUS_INVALID_PARAMETER (bad registrar or out == NULL), or
 * STATUS_INSUFFICIENT_RESOURCES.  *out is NULL on failure. */
NMR_API NTSTATUS nmr_snapshot_take(nmr_registrar *registrar, nmr_snapshot **out);
NMR_API void nmr_snapshot_free(nmr_snapshot *snapshot);

typedef enum nmr_dump_format {
    NMR_DUMP_TEXT = 0,
    NMR_DUMP_JSON = 1,
    NMR_DUMP_DOT = 2
} nmr_dump_format;

/* Write a snapshot to f.  Returns 0, or -1 with errno set: EINVAL for a
 * NULL argument, an unknown format or an inconsistent snapshot (nothing
 * is written then), ENOMEM (text and DOT sort a copy), or the error of a
 * failed write. */
NMR_API int nmr_snapshot_write(const nmr_snapshot *snapshot, nmr_dump_format format,
                               FILE *f);

/* Printable names of the enums above ("client", "attached", "pending"...). */
NMR_API const char *nmr_role_name(nmr_role role);
NMR_API const char *nmr_registration_state_name(nmr_registration_state state);
NMR_API const char *nmr_binding_state_name(nmr_binding_state_info state);
NMR_API const char *nmr_half_name(nmr_half_info half);

/* A module ID as text: a GUID in registry form {XXXXXXXX-...}, or
 * "luid:0xHIGHPART:0xLOWPART" for MIT_IF_LUID.  Writes at most size bytes
 * (NMR_MODULE_ID_TEXT is always enough), returns buf. */
NMR_API char *nmr_module_id_format(const NPI_MODULEID *id, char *buf, size_t size);
#define NMR_MODULE_ID_TEXT 48

#ifdef __cplusplus
}
#endif

#endif /* NMR_INTROSPECT_H */
