/* SPDX-License-Identifier: MIT */
/*
 * echo_modules.h - the entry points of the two example modules: what a
 * Windows driver's DriverEntry and Unload routines would do, split so the
 * demo can show each step.  Unloading is always two calls: Nmr*Deregister*
 * (starts it, never blocks, returns STATUS_PENDING), then
 * NmrWaitFor*DeregisterComplete (blocks; after it the module's code and
 * data may go away).
 */
#ifndef ECHO_MODULES_H
#define ECHO_MODULES_H

#include <netioddk.h>
#include <nmr/diag.h> /* nmr_status_name */
#include <stddef.h>

/* The provider module. */
NTSTATUS echo_provider_load(void);   /* NmrRegisterProvider */
NTSTATUS echo_provider_stop(void);   /* NmrDeregisterProvider */
NTSTATUS echo_provider_wait(void);   /* NmrWaitForProviderDeregisterComplete */

/* The client module.  Its user gets each reply through on_reply.
 * echo_client_send returns STATUS_NOINTERFACE when no provider is bound. */
typedef void echo_reply_fn(const char *reply);
NTSTATUS echo_client_load(echo_reply_fn *on_reply);
NTSTATUS echo_client_send(const char *msg, char *out, size_t n);
NTSTATUS echo_client_stop(void);     /* NmrDeregisterClient */
NTSTATUS echo_client_wait(void);     /* NmrWaitForClientDeregisterComplete */

#endif /* ECHO_MODULES_H */
