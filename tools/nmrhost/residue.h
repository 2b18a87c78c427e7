/* SPDX-License-Identifier: MIT */
/*
 * residue.h - what a module left in the registrar: its registrations (found
 * by the addresses they gave the NMR, see host_owner) with their bindings
 * and detach halves, from one snapshot of the default registrar; and what
 * a driver left in libnmr-km (pool by tag, system threads, work items:
 * nmr_km_driver_residue).  Used to decide whether a module or driver may
 * be unmapped, and to say why not.
 */
#ifndef NMRHOST_RESIDUE_H
#define NMRHOST_RESIDUE_H

#include "host.h"

typedef struct residue {
    nmr_snapshot *snap;
    size_t n;                  /* registrations of the module */
    size_t *regs;              /* their indexes in snap->registrations */
    size_t nbindings;          /* bindings with one end in the module */
} residue;

/* 0, or -1 when no snapshot could be taken (out of memory). */
int residue_take(const host_module *m, residue *r);
void residue_free(residue *r);

/* One line: "1 registration (provider, deregistered but never waited
 * for), 1 binding (detaching)". */
void residue_summary(const residue *r, char *buf, size_t size);

/* Every registration and binding left, with handles, NPI, module ID,
 * states and pending halves; lines start with indent. */
void residue_report(const residue *r, const char *indent);

/* Text of one registration / binding of a snapshot (also for `bindings`). */
void residue_describe_reg(const nmr_registration_info *reg, char *buf, size_t size);
void residue_describe_binding(const nmr_snapshot *s, const nmr_binding_info *b,
                              char *buf, size_t size);
/* "echo_client" or the module ID when no host module owns it. */
void residue_owner_name(const nmr_registration_info *reg, char *buf, size_t size);

/* What libnmr-km says the driver m still holds: 1 when anything (pool,
 * threads, work items), 0 when nothing or m is not a started driver. */
int residue_km_take(const host_module *m, nmr_km_residue *k);

/* One line: "pool 48 bytes in 1 allocation (tag Leak: 1, 48 bytes), 1
 * system thread running, 1 work item queued or running". */
void residue_km_summary(const nmr_km_residue *k, char *buf, size_t size);

/* The same, one line per tag, thread count and work item count. */
void residue_km_report(const nmr_km_residue *k, const char *indent);

#endif /* NMRHOST_RESIDUE_H */
