/* SPDX-License-Identifier: MIT */
/*
 * registrar.h - registrar instances (nmr/registrar.h), internal side.
 *
 * A registrar is named by a key: 0 for the default registrar, else
 * (generation << 32) | (index << 4) | 0x8, which is also the opaque
 * nmr_registrar pointer value users hold.  The key is part of every NPI
 * entry's identity (npi_index.h), so two registrars never share an NPI
 * entry and a client is never offered another registrar's provider.
 *
 * Each non-default registrar counts its registrations that have not been
 * waited for, plus short-lived references taken by calls in progress;
 * destroy succeeds only at zero, in one atomic step that also changes the
 * generation, so a destroyed registrar's key is refused from then on.
 */
#ifndef NMR_SRC_REGISTRAR_H
#define NMR_SRC_REGISTRAR_H

#include <nmr/registrar.h>
#include <stdint.h>

#define NMR_REGISTRAR_DEFAULT_KEY ((uint64_t)0)

/* registrar.c: the out-of-line parts of the two below. */
int nmr_registrar_acquire_(const nmr_registrar *registrar, uint64_t *key);
void nmr_registrar_release_(uint64_t key);

/* Validate a user's registrar value (NULL = default) and take one count
 * on it.  Returns 0 and its key, or -1 when it is not a live registrar.
 * Inline for the default (NULL: nothing to count). */
static inline int nmr_registrar_acquire(const nmr_registrar *registrar, uint64_t *key)
{
    if (registrar == NULL) {
        *key = NMR_REGISTRAR_DEFAULT_KEY;
        return 0;
    }
    return nmr_registrar_acquire_(registrar, key);
}

/* Drop one count taken by nmr_registrar_acquire (no-op for the default). */
static inline void nmr_registrar_release(uint64_t key)
{
    if (key != NMR_REGISTRAR_DEFAULT_KEY)
        nmr_registrar_release_(key);
}

/* Tests only: give the slot of a destroyed registrar the generation it
 * would reach after that many create/destroy cycles (no-op if the slot is
 * live or the value malformed). */
void nmr_registrar_test_set_generation(const nmr_registrar *destroyed, uint32_t generation);

#endif
