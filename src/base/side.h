/* SPDX-License-Identifier: MIT */
/*
 * side.h - the two sides of a binding, and every name that differs by
 * side, written once.
 *
 * A side is 0 for the client and 1 for the provider everywhere: nmr_side
 * here, the side of a trace event (nmr/trace.h), nmr_role of a snapshot
 * (nmr/introspect.h, same values).  Code that prints a side, or names the
 * callback or completion function of a side, takes it from this table and
 * nowhere else.  A leaf header: includes nothing, so every layer may use it.
 */
#ifndef NMR_SRC_SIDE_H
#define NMR_SRC_SIDE_H

/* XX(NAME, value, "name", "detach callback", "completion function",
 *    "wait function") */
#define NMR_SIDE_MAP(XX)                                                        \
    XX(CLIENT, 0, "client", "ClientDetachProvider",                             \
       "NmrClientDetachProviderComplete", "NmrWaitForClientDeregisterComplete")  \
    XX(PROVIDER, 1, "provider", "ProviderDetachClient",                         \
       "NmrProviderDetachClientComplete",                                       \
       "NmrWaitForProviderDeregisterComplete")

typedef enum nmr_side {
#define NMR_SIDE_ENUM_(name, value, text, detach, complete, wait) NMR_##name = value,
    NMR_SIDE_MAP(NMR_SIDE_ENUM_)
#undef NMR_SIDE_ENUM_
} nmr_side;

#define NMR_OTHER(side) ((nmr_side)(1 - (side)))

/* Every name of one side, from NMR_SIDE_MAP: one table, one lookup. */
typedef struct nmr_side_names {
    const char *text;     /* "client" */
    const char *detach;   /* "ClientDetachProvider" */
    const char *complete; /* "NmrClientDetachProviderComplete" */
    const char *wait;     /* "NmrWaitForClientDeregisterComplete" */
} nmr_side_names;

/* The names of side 0 or 1 (any other value is taken modulo 2). */
static inline const nmr_side_names *nmr_side_info(int side)
{
#define NMR_SIDE_NAMES_(name, value, text, detach, complete, wait)             \
    [value] = {text, detach, complete, wait},
    static const nmr_side_names names[2] = {NMR_SIDE_MAP(NMR_SIDE_NAMES_)};
#undef NMR_SIDE_NAMES_
    return &names[side & 1];
}

static inline const char *nmr_side_name(int side) { return nmr_side_info(side)->text; }
static inline const char *nmr_side_detach_fn(int side) { return nmr_side_info(side)->detach; }
static inline const char *nmr_side_complete_fn(int side) { return nmr_side_info(side)->complete; }
static inline const char *nmr_side_wait_fn(int side) { return nmr_side_info(side)->wait; }

#endif
