/* SPDX-License-Identifier: MIT */
/*
 * snapshot.h - one binding or registration as introspection shows it
 * (nmr/introspect.h), shared by the snapshot and the stuck-wait watchdog.
 * Context: NPI lock held; no allocation, no user code.
 */
#ifndef NMR_SRC_SNAPSHOT_H
#define NMR_SRC_SNAPSHOT_H

#include "core/core.h"

#include <nmr/introspect.h>

/* Is the binding visible to introspection (offered, not yet gone)? */
int nmr_binding_visible_locked(const nmr_binding *b);
/* State, halves and pending times of a visible binding; now is a
 * nmr_stamp_ms().  handle, client and provider are left to the caller. */
void nmr_binding_describe_locked(const nmr_binding *b, uint32_t now,
                                 nmr_binding_info *out);
/* Everything of a registration but its handle is filled in. */
void nmr_registration_describe_locked(const nmr_reg *r, nmr_registration_info *out);

#endif
