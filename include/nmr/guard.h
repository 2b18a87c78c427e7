/* SPDX-License-Identifier: MIT */
/*
 * nmr/guard.h - the usual NPI pattern, packaged (libnmr extension).
 *
 * Binding guard.  A module that calls into its peer through a binding must
 * count the calls in flight so that its detach callback can return
 * STATUS_PENDING while one runs and complete the detach when the last one
 * returns.  A guard does that with a cache-aware rundown (nmr/rundown.h):
 *
 *   attach:   nmr_guard_init(&ctx->guard, binding_handle, NMR_GUARD_CLIENT)
 *   a call:   if (nmr_guard_enter(&ctx->guard)) {
 *                 ctx->peer_dispatch->Op(ctx->peer_ctx, ...);
 *                 nmr_guard_leave(&ctx->guard);
 *             } else { ... the peer is detaching: no new calls ... }
 *   detach:   return nmr_guard_detach(&ctx->guard);
 *             (STATUS_SUCCESS when idle; else STATUS_PENDING, and the last
 *             nmr_guard_leave calls Nmr*DetachComplete by itself)
 *   cleanup:  nmr_guard_destroy(&ctx->guard); free(ctx);
 *
 * Capture.  The pattern Winsock Kernel clients use (WskCaptureProviderNPI):
 * a client registration that binds to the providers of one NPI and lets
 * any thread wait, up to a timeout, for a provider to be attached and take
 * a reference on it; the reference keeps that binding from completing its
 * detach until it is released.
 *
 * Context: enter, leave and capture with timeout 0 never block; capture
 * with a timeout blocks up to it; nmr_capture_destroy blocks until every
 * capture is released.  All may be called from any thread; none from a
 * callback of the binding they would wait for.
 */
#ifndef NMR_GUARD_H
#define NMR_GUARD_H

#include <netioddk.h>
#include <nmr/rundown.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NMR_GUARD_CLIENT 0   /* detach completes with NmrClientDetachProviderComplete */
#define NMR_GUARD_PROVIDER 1 /* ... with NmrProviderDetachClientComplete */

typedef struct nmr_guard {
    PEX_RUNDOWN_REF_CACHE_AWARE rundown;
    HANDLE binding;
    int side;
} nmr_guard;

/* From the attach callback.  STATUS_INSUFFICIENT_RESOURCES when out of
 * memory (then fail the attach), STATUS_INVALID_PARAMETER for a NULL guard
 * or a side that is neither NMR_GUARD_CLIENT nor NMR_GUARD_PROVIDER. */
NMR_API NTSTATUS nmr_guard_init(nmr_guard *guard, HANDLE binding, int side);

/* Around each call into the peer.  FALSE once the detach has started.  A
 * FALSE may give back the reference the detach was waiting for: the
 * detach then completes on this thread before nmr_guard_enter returns
 * (Nmr*DetachComplete, and any cleanup callback that runs), so call it
 * holding no lock those callbacks take, as for nmr_guard_leave. */
static inline BOOLEAN nmr_guard_enter(nmr_guard *guard)
{
    return ExAcquireRundownProtectionCacheAware(guard->rundown);
}

static inline VOID nmr_guard_leave(nmr_guard *guard)
{
    ExReleaseRundownProtectionCacheAware(guard->rundown);
}

/* From the detach callback, as its return value: STATUS_SUCCESS if no call
 * was in flight, else STATUS_PENDING (the last leave completes the detach;
 * it may do so before this returns, which the NMR accepts, R15). */
NMR_API NTSTATUS nmr_guard_detach(nmr_guard *guard);

/* From the cleanup callback. */
NMR_API VOID nmr_guard_destroy(nmr_guard *guard);

/* ---- capture ------------------------------------------------------------- */

typedef struct nmr_capture nmr_capture;

#define NMR_CAPTURE_NO_WAIT 0u
#define NMR_CAPTURE_INFINITE 0xFFFFFFFFu

/* STATUS_DEVICE_NOT_READY, returned below, is defined with every other
 * status code in <netioddk.h>. */

/* Register a client of npi_id (with module_id, and client_dispatch handed to
 * every provider).  It attaches to every provider offered; a capture takes
 * the most recently attached one that is not detaching.  npi_id and
 * module_id are copied.  STATUS_SUCCESS, STATUS_INVALID_PARAMETER,
 * STATUS_INSUFFICIENT_RESOURCES. */
NMR_API NTSTATUS nmr_capture_create(const NPIID *npi_id, const NPI_MODULEID *module_id,
                                    const VOID *client_dispatch, nmr_capture **out);

/* Wait up to timeout_ms (NMR_CAPTURE_NO_WAIT, NMR_CAPTURE_INFINITE) for an
 * attached provider and take a reference on it: provider->Handle is the
 * provider's binding context, provider->Dispatch its dispatch table, and
 * *token is what nmr_capture_release takes back.  Returns STATUS_SUCCESS;
 * STATUS_DEVICE_NOT_READY when no provider was attached in time;
 * STATUS_INVALID_DEVICE_STATE once nmr_capture_destroy has begun;
 * STATUS_INVALID_PARAMETER for NULL arguments. */
NMR_API NTSTATUS nmr_capture_provider(nmr_capture *capture, ULONG timeout_ms,
                                      NPI *provider, void **token);

/* Give back one captured reference. */
NMR_API VOID nmr_capture_release(nmr_capture *capture, void *token);

/* Deregister and wait: blocks until every captured reference is released
 * and every binding is cleaned up, then frees the object.  Waiting captures
 * return STATUS_INVALID_DEVICE_STATE. */
NMR_API NTSTATUS nmr_capture_destroy(nmr_capture *capture);

#ifdef __cplusplus
}
#endif

#endif /* NMR_GUARD_H */
