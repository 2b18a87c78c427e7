/* SPDX-License-Identifier: MIT */
/*
 * handle.h - validated handles (R26, R27, R28).
 *
 * Every object a caller can name (client registration, provider
 * registration, binding) starts with a struct nmr_object and owns one slot
 * of the handle table.  A HANDLE value encodes the slot index, the slot's
 * generation and the object's kind; looking a handle up checks all three
 * against the slot, so never-issued, dead and wrong-kind handles are
 * rejected without touching the object's memory.
 *
 * Objects are reference counted in the slot word itself: a lookup takes a
 * reference atomically with the validation, so an object cannot be freed
 * under a caller that validated it.  The handle's own "live" reference is
 * dropped by nmr_handle_retire(); whoever drops the last reference runs the
 * object's destroy function and recycles the slot with a new generation.
 *
 * Context: all functions are lock-free except slot allocation when the
 * table grows (a short mutex); none calls user code; callable anywhere.
 */
#ifndef NMR_SRC_HANDLE_H
#define NMR_SRC_HANDLE_H

#include <netioddk.h>
#include <stddef.h>
#include <stdint.h>

typedef enum nmr_handle_kind {
    NMR_HANDLE_CLIENT = 1,
    NMR_HANDLE_PROVIDER = 2,
    NMR_HANDLE_BINDING = 3
} nmr_handle_kind;

struct nmr_object;
typedef void nmr_object_destroy_fn(struct nmr_object *obj);

struct nmr_object {
    nmr_object_destroy_fn *destroy; /* runs when the last reference goes */
    uint32_t slot;                  /* index in the handle table */
};

/* Give obj a slot and a handle; obj starts with one reference (the live
 * one).  Returns 0, or -1 if memory for the table ran out. */
int nmr_handle_create(struct nmr_object *obj, nmr_handle_kind kind,
                      nmr_object_destroy_fn *destroy, HANDLE *out);

/* Validate h as a live handle of the given kind and take a reference.
 * NULL when h is unknown, dead or of another kind. */
struct nmr_object *nmr_handle_ref(HANDLE h, nmr_handle_kind kind);

/* The handle value of a live object (for passing to callbacks). */
HANDLE nmr_handle_value(const struct nmr_object *obj);

/* One more reference on an object the caller already holds one on. */
void nmr_handle_get(struct nmr_object *obj);
/* Drop a reference; the last one destroys the object. */
void nmr_handle_put(struct nmr_object *obj);
/* Make the handle dead for every future lookup and drop the live
 * reference.  Called once per object. */
void nmr_handle_retire(struct nmr_object *obj);
/* nmr_handle_retire() and nmr_handle_put() in one atomic step. */
void nmr_handle_retire_put(struct nmr_object *obj);

/* How many handle-table slots are in use (live or still referenced).  0
 * once everything has been deregistered and waited for (tests, with the
 * integrity check of core/invariants.h). */
unsigned long nmr_handles_in_use(void);

/* Slots the table holds now, in use or free (for tests). */
unsigned long nmr_handle_capacity(void);

/* Size of one handle-table slot (for memory accounting). */
size_t nmr_handle_slot_bytes(void);

#endif
