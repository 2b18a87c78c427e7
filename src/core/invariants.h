/* SPDX-License-Identifier: MIT */
/*
 * invariants.h - a full consistency check of the registrar's state, for
 * tests, the fuzzer and the stress test (SQLite-style integrity check).
 * Not exported from the shared object.
 *
 * Context: may block on NPI locks; never calls user code; must not be
 * called with an NPI lock held.
 */
#ifndef NMR_SRC_INVARIANTS_H
#define NMR_SRC_INVARIANTS_H

#include "core/handle.h" /* nmr_handles_in_use, which tests use with it */

#include <stddef.h>

/* Check every NPI, registration and binding.  Returns 0 if all is
 * consistent, else -1 with a description of the first problem in why. */
int nmr_check_invariants(char *why, size_t why_size);

#endif
