/* SPDX-License-Identifier: MIT */
/*
 * nmr/registrar.h - libnmr extension: registrar instances, and waits that
 * can time out or report what holds them up.
 *
 * Registrars.  A registrar is one isolated world of registrations: a client
 * is only ever offered the providers of its own registrar.  The nine
 * functions of <netioddk.h> use the default registrar, which always
 * exists; nmr_registrar_create() makes more, so that tests and module
 * hosts can run registrars side by side in one process.  A registrar value
 * is validated like a handle: a destroyed or made-up one is refused with
 * STATUS_INVALID_PARAMETER, never dereferenced.  Handles (registration and
 * binding) are unique across registrars, so Nmr{Deregister,WaitFor*,...}
 * need no registrar argument.
 *
 * Stuck-unload watchdog.  A Nmr*WaitFor*DeregisterComplete (or the timed
 * variants below) that is still waiting after the warning delay reports,
 * through the diagnostic channel (nmr/diag.h, kind NMR_DIAG_WAIT_STUCK),
 * every binding that holds it up: binding handle, state, which detach half
 * is not complete, the module IDs of both ends and how long each half has
 * been pending.  It repeats after 2x, 4x, ... the delay while the wait
 * goes on.  The delay is NMR_WAIT_WARN_MS from the environment (read at
 * the first wait), default 10000 ms, 0 = never warn, and can be changed
 * with nmr_wait_set_warn_ms().
 *
 * Context: create, destroy and the register calls never block on other
 * threads; the waits block as their names say.  All are thread-safe.
 */
#ifndef NMR_REGISTRAR_H
#define NMR_REGISTRAR_H

#include <netioddk.h>

#ifdef __cplusplus
extern "C" {
#endif

/* STATUS_TIMEOUT and STATUS_DEVICE_BUSY, returned below, are defined with
 * every other status code in <netioddk.h>. */

typedef struct nmr_registrar nmr_registrar; /* opaque */

/* A new, empty registrar.  STATUS_INSUFFICIENT_RESOURCES when memory or
 * registrar slots (NMR_REGISTRARS_MAX live at once) run out; *out is NULL
 * on failure. */
#define NMR_REGISTRARS_MAX 4096
NMR_API NTSTATUS nmr_registrar_create(nmr_registrar **out);

/* Destroy an empty registrar.  STATUS_DEVICE_BUSY, and the registrar stays
 * usable, when registrations are left in it (any not yet waited for): the
 * registrations and bindings left are reported through the diagnostic
 * channel (kind NMR_DIAG_REGISTRAR_BUSY).  STATUS_INVALID_PARAMETER for
 * the default registrar, NULL, or a registrar already destroyed. */
NMR_API NTSTATUS nmr_registrar_destroy(nmr_registrar *registrar);

/* The default registrar, used by the plain <netioddk.h> functions. */
NMR_API nmr_registrar *nmr_registrar_default(void);

/* NmrRegisterClient / NmrRegisterProvider in a given registrar (NULL is
 * the default one).  Same statuses, plus STATUS_INVALID_PARAMETER for a
 * destroyed or unknown registrar. */
NMR_API NTSTATUS nmr_register_client_ex(nmr_registrar *registrar,
                                        PNPI_CLIENT_CHARACTERISTICS ClientCharacteristics,
                                        PVOID ClientContext, PHANDLE NmrClientHandle);
NMR_API NTSTATUS nmr_register_provider_ex(nmr_registrar *registrar,
                                          PNPI_PROVIDER_CHARACTERISTICS ProviderCharacteristics,
                                          PVOID ProviderContext, PHANDLE NmrProviderHandle);

/* NmrWaitFor*DeregisterComplete with a limit: STATUS_TIMEOUT when the
 * registration still has bindings after timeout_ms milliseconds (CLOCK_
 * MONOTONIC).  The registration then stays deregistered and may be waited
 * for again; its handle stays valid.  Other statuses as the plain wait. */
NMR_API NTSTATUS nmr_wait_client_timeout(HANDLE NmrClientHandle, ULONG timeout_ms);
NMR_API NTSTATUS nmr_wait_provider_timeout(HANDLE NmrProviderHandle, ULONG timeout_ms);

/* The watchdog's first warning delay in milliseconds (0 = never warn);
 * returns the previous value.  Applies to waits that start afterwards. */
NMR_API ULONG nmr_wait_set_warn_ms(ULONG ms);

#ifdef __cplusplus
}
#endif

#endif /* NMR_REGISTRAR_H */
