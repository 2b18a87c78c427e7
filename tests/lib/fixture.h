/* SPDX-License-Identifier: MIT */
/*
 * fixture.h - test scaffolding (tests/lib/fixture.c): configurable fake NMR client and
 * provider modules that record every callback into one event log.
 *
 * The state lives in tests/lib/fixture.c (one copy per program).  The log
 * and the counters are thread-safe (mutex / C11 atomics); the knobs of a
 * module are plain fields: set them before registering, or while no
 * callback of that module can run.
 *
 * ---- API ---------------------------------------------------------------
 *
 *   GUID fx_guid(uint32_t n);           NPI id with Data1 = n (fixed rest)
 *
 *   fx_module *fx_client(const GUID *npi);    new client, default knobs
 *   fx_module *fx_provider(const GUID *npi);  new provider, default knobs
 *      The module keeps its own copy of the NPI id (so NpiId pointers of
 *      two modules always differ, R4), its own NPI_MODULEID (GUID with
 *      Data1 = serial), Number = serial, and its characteristics in
 *      m->cc (client) / m->pc (provider); tests may edit them before
 *      registering (e.g. R1).  The registration context is the module.
 *      Modules live until fx_reset().
 *
 *   NTSTATUS fx_register(m)    Nmr{Register}{Client,Provider}(chars, m,
 *                              &m->handle)
 *   NTSTATUS fx_register_in(reg, m)  the same in registrar reg (_ex calls)
 *   NTSTATUS fx_deregister(m)  Nmr{Deregister}...(m->handle)
 *   NTSTATUS fx_wait(m)        NmrWaitFor...DeregisterComplete(m->handle)
 *   void fx_complete(fx_side *s)  Nmr{Client,Provider}Detach...Complete(
 *                              s->binding); counts s->completions.
 *   int fx_complete_pending(m) completes every side of m whose detach
 *                              returned PENDING and was not yet completed
 *                              by the fixture; returns how many.  Safe to
 *                              call from several threads at once (each
 *                              half is completed by exactly one of them).
 *   const NPI_REGISTRATION_INSTANCE *fx_reginst(m)   m's own instance.
 *
 * Knobs (fields of fx_module):
 *   attach_mode   FX_ACCEPT (default), FX_DECLINE (return attach_status
 *                 without attaching), FX_FAIL_AFTER_ATTACH (client only:
 *                 NmrClientAttachProvider succeeds, then return
 *                 attach_status), FX_SUCCESS_NO_ATTACH (client only: return
 *                 STATUS_SUCCESS without NmrClientAttachProvider).
 *   attach_status status returned by FX_DECLINE / FX_FAIL_AFTER_ATTACH
 *                 (default STATUS_NOINTERFACE).
 *   attach_tries  client: how many times NmrClientAttachProvider may be
 *                 called in one offer until it succeeds (default 1, R9).
 *   decline_first provider: decline the first N ProviderAttachClient calls
 *                 of each offer with attach_status (R9); default 0.
 *   detach_mode   FX_DET_SUCCESS (default), FX_DET_PENDING (complete later
 *                 with fx_complete / fx_complete_pending),
 *                 FX_DET_COMPLETE_INSIDE (complete from inside, then return
 *                 PENDING, R15), FX_DET_COMPLETE_INSIDE_SUCCESS (complete
 *                 from inside, then return SUCCESS), FX_DET_OTHER (return
 *                 detach_status, R14).
 *   detach_status value returned by FX_DET_OTHER.
 *   hook, hook_arg  optional fx_hook_fn called in every callback of m:
 *                 phase FX_PRE at entry (before the default action), and
 *                 for client attach also FX_POST after the
 *                 NmrClientAttachProvider loop (side->nmr_attach_status set).
 *                 Use it for nested calls (R22) and waits from callbacks.
 *                 The hook may set side->override / side->override_status
 *                 to make the callback return override_status right after
 *                 the hook (for attach at FX_PRE, no NmrClientAttachProvider
 *                 is made then).
 *   Call fx_set_cleanup(m, 0) to register with a NULL cleanup callback.
 *
 * What is recorded:
 *   fx_event log: fx_log_len(), fx_log_at(i) -> fx_event {type, module,
 *     peer (module owning the registration instance the callback received,
 *     NULL if it was not one of ours: R3), side, binding, handle_seen
 *     (m->handle at callback entry, R7), thread, status (attach: return
 *     value; client attach: also side->nmr_attach_status)}.
 *   fx_count(type, m, peer)  number of events of a type (m / peer NULL = any)
 *   fx_index(type, m, peer, nth) log index of the nth (0-based) such event,
 *     or -1.
 *   Per side (fx_side, the binding context the fixture hands to the NMR):
 *     module, peer, other (the peer's fx_side), binding, is_client,
 *     attached, detach_calls, cleanup_calls, pending, completions,
 *     nmr_attach_calls, nmr_attach_status.
 *   m->sides: list (newest first, via ->next) of every side of m.
 *   fx_errors(): number of inconsistencies the fixture saw itself (wrong
 *     context, registration instance not the peer's own (R3), binding
 *     context or dispatch mismatch, callback on a side after its cleanup,
 *     detach or cleanup twice on a side (R13, R16), two callbacks of one
 *     side at once (R23), a cleanup while a callback of either side runs,
 *     before ProviderDetachClient, or before a PENDING half was completed
 *     through fx_complete (R16), detach/cleanup of an unknown context).
 *     Tests should CHECK_EQ(fx_errors(), 0); fx_last_error() says what it
 *     was (also printed to stderr when it happens).
 *     NOTE: complete PENDING halves through fx_complete/fx_complete_pending
 *     (not by calling Nmr*DetachComplete directly), or the cleanup check
 *     reports "cleanup before a pending half completed".
 *
 *   Misuse capture (R30): fx_diag_capture() installs a counting hook (quiet
 *   stderr); fx_diag_release() restores the previous hook.
 *   fx_misuse(kind) reports of a kind seen by the hook; fx_misuse_total().
 *   fx_last_misuse_msg().
 *
 *   fx_reset(): frees every module and side and clears the log and error
 *   count.  Call only when every registration has been waited for.
 */
#ifndef NMR_TEST_FIXTURE_H
#define NMR_TEST_FIXTURE_H

#include <netioddk.h>
#include <nmr/diag.h>
#include <nmr/registrar.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FX_UNUSED __attribute__((unused))

typedef enum fx_ev_type {
    FX_EV_CLIENT_ATTACH = 1,
    FX_EV_PROVIDER_ATTACH,
    FX_EV_CLIENT_DETACH,
    FX_EV_PROVIDER_DETACH,
    FX_EV_CLIENT_CLEANUP,
    FX_EV_PROVIDER_CLEANUP
} fx_ev_type;

enum { FX_PRE = 0, FX_POST = 1 };

enum {
    FX_ACCEPT = 0,
    FX_DECLINE,
    FX_FAIL_AFTER_ATTACH,
    FX_SUCCESS_NO_ATTACH
};

enum {
    FX_DET_SUCCESS = 0,
    FX_DET_PENDING,
    FX_DET_COMPLETE_INSIDE,
    FX_DET_COMPLETE_INSIDE_SUCCESS,
    FX_DET_OTHER
};

typedef struct fx_module fx_module;
typedef struct fx_side fx_side;

typedef void fx_hook_fn(fx_module *m, fx_ev_type type, int phase,
                        fx_side *side, void *arg);

#define FX_SIDE_MAGIC 0x51de51deu

struct fx_side {
    unsigned magic;
    fx_module *module;
    fx_module *peer;
    fx_side *other;          /* the peer's side (binding context) */
    HANDLE binding;
    int is_client;
    atomic_int attached;     /* client: NmrClientAttachProvider succeeded;
                                provider: accepted */
    atomic_int detach_calls;
    atomic_int cleanup_calls;
    atomic_int pending;      /* detach returned/announced PENDING */
    atomic_int completions;  /* fx_complete calls on this side */
    atomic_int complete_claimed; /* fx_complete done or claimed */
    atomic_int in_callback;
    int nmr_attach_calls;    /* client: NmrClientAttachProvider calls */
    NTSTATUS nmr_attach_status;
    int provider_attach_calls; /* provider side: ProviderAttachClient calls
                                  for this offer (counted on client side) */
    int override;
    NTSTATUS override_status;
    fx_side *next;
};

struct fx_module {
    int is_client;
    int serial;
    GUID npi;
    NPI_MODULEID modid;
    NPI_CLIENT_CHARACTERISTICS cc;
    NPI_PROVIDER_CHARACTERISTICS pc;
    HANDLE handle;
    int dispatch[4]; /* &dispatch is this module's dispatch table */

    /* knobs */
    int attach_mode;
    NTSTATUS attach_status;
    int attach_tries;
    int decline_first;
    int detach_mode;
    NTSTATUS detach_status;
    fx_hook_fn *hook;
    void *hook_arg;

    /* counters */
    atomic_int n_attach, n_detach, n_cleanup;

    pthread_mutex_t lock; /* protects sides list head */
    fx_side *sides;
    fx_module *next_all;
};

typedef struct fx_event {
    fx_ev_type type;
    fx_module *module;
    fx_module *peer;
    fx_side *side;
    HANDLE binding;
    HANDLE handle_seen;
    pthread_t thread;
    NTSTATUS status;
} fx_event;

/* ---- the API (see above) ---- */
GUID fx_guid(uint32_t n);
int fx_errors(void);
const char *fx_last_error(void);
int fx_log_len(void);
const fx_event *fx_log_at(int i);
int fx_count(fx_ev_type type, const fx_module *m, const fx_module *peer);
int fx_index(fx_ev_type type, const fx_module *m, const fx_module *peer,
             int nth);
const NPI_REGISTRATION_INSTANCE *fx_reginst(const fx_module *m);
void fx_complete(fx_side *s);
int fx_complete_pending(fx_module *m);
fx_module *fx_client(const GUID *npi);
fx_module *fx_provider(const GUID *npi);
void fx_set_cleanup(fx_module *m, int on);
NTSTATUS fx_register(fx_module *m);
NTSTATUS fx_register_in(nmr_registrar *r, fx_module *m);
NTSTATUS fx_deregister(fx_module *m);
NTSTATUS fx_wait(fx_module *m);
int fx_live_sides(fx_module *m);
void fx_reset(void);
void fx_diag_hook(void *context, nmr_misuse_kind kind, const char *message);
void fx_diag_capture(void);
void fx_diag_release(void);
unsigned long long fx_misuse(nmr_misuse_kind kind);
unsigned long long fx_misuse_total(void);
const char *fx_last_misuse_msg(void);

#endif
