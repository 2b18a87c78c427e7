/* SPDX-License-Identifier: MIT */
/*
 * npi_index.h - NPI ID -> the registrations of that NPI.
 *
 * Each NPI in use has one struct nmr_npi, found by GUID value (R4) in a
 * hash table split into independently locked stripes, so registrations of
 * unrelated NPIs share no lock (R25).  The NPI's own mutex protects its two
 * registration lists and the state of every registration and binding of
 * that NPI: a client and its provider always share one NPI, so one lock
 * makes "insert and scan for matches" a single atomic step (R5).
 *
 * Lock order: a stripe lock is never held while taking an NPI lock or the
 * other way round (each is taken alone).  No user code runs under either.
 */
#ifndef NMR_SRC_NPI_INDEX_H
#define NMR_SRC_NPI_INDEX_H

#include <netioddk.h>
#include <pthread.h>
#include <stdint.h>

#include "list.h"

typedef struct nmr_npi {
    struct nmr_npi *hash_next; /* stripe chain; stripe lock */
    uint64_t hash;
    uint64_t registrar;        /* registrar key (registrar.h): part of the identity */
    unsigned refs;             /* one per registration; stripe lock */
    GUID id;
    pthread_mutex_t lock;      /* the NPI lock: see above */
    pthread_cond_t drained;    /* a waited-for registration reached zero */
    nmr_link regs[2];          /* registrations by side (client, provider) */
} nmr_npi;

/* Find or create the NPI for (registrar key, id), with one reference.
 * NULL: no memory.  May block briefly on a stripe lock; never calls user
 * code. */
nmr_npi *nmr_npi_get(uint64_t registrar, const GUID *id);
/* Drop a reference; the last one frees the NPI. */
void nmr_npi_put(nmr_npi *npi);

/* Call fn on every NPI in the index, each held by a reference and with no
 * lock held (fn may take the NPI lock).  Returns -1 if memory for the list
 * ran out (nothing was visited), else 0.  For checks and introspection,
 * not for hot paths. */
int nmr_npi_foreach(void (*fn)(nmr_npi *npi, void *arg), void *arg);

#endif
