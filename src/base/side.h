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

/* "client" or "provider"; side must be 0 or 1. */
static inline const char *nmr_side_name(int side)
{
#define NMR_SIDE_TEXT_(name, value, text, detach, complete, wait) [value] = text,
    static const char *const names[2] = {NMR_SIDE_MAP(NMR_SIDE_TEXT_)};
#undef NMR_SIDE_TEXT_
    return names[side & 1];
}

/* "ClientDetachProvider" or "ProviderDetachClient". */
static inline const char *nmr_side_detach_fn(int side)
{
#define NMR_SIDE_DETACH_(name, value, text, detach, complete, wait) [value] = detach,
    static const char *const names[2] = {NMR_SIDE_MAP(NMR_SIDE_DETACH_)};
#undef NMR_SIDE_DETACH_
    return names[side & 1];
}

/* "NmrClientDetachProviderComplete" or "NmrProviderDetachClientComplete". */
static inline const char *nmr_side_complete_fn(int side)
{
#define NMR_SIDE_COMPLETE_(name, value, text, detach, complete, wait) [value] = complete,
    static const char *const names[2] = {NMR_SIDE_MAP(NMR_SIDE_COMPLETE_)};
#undef NMR_SIDE_COMPLETE_
    return names[side & 1];
}

/* "NmrWaitForClientDeregisterComplete" or "...ProviderDeregisterComplete". */
static inline const char *nmr_side_wait_fn(int side)
{
#define NMR_SIDE_WAIT_(name, value, text, detach, complete, wait) [value] = wait,
    static const char *const names[2] = {NMR_SIDE_MAP(NMR_SIDE_WAIT_)};
#undef NMR_SIDE_WAIT_
    return names[side & 1];
}

#endif
