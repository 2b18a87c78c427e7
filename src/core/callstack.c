/* SPDX-License-Identifier: MIT */
/*
 * callstack.c - per-thread list of callbacks in progress (see callstack.h).
 * Only the owning thread touches its list, so no synchronisation is needed.
 * Context: never blocks, no locks, callable anywhere.
 */
#include "core/callstack.h"

#include "core/core.h"

#include <assert.h>
#include <stddef.h>

NMR_CALLSTACK_TLS nmr_frame *nmr_callstack_top;
void nmr_callstack_push_queue(nmr_frame *f, struct nmr_binding *const *head)
{
    nmr_callstack_push(f, NULL, NMR_CB_QUEUE);
    f->queue = head;
}

/* The callback's name, for the verifier's messages. */
static const char *callback_name(const nmr_frame *f)
{
    static const char *const names[][2] = {
        [NMR_CB_CLIENT_ATTACH] = {"ClientAttachProvider", "ClientAttachProvider"},
        [NMR_CB_PROVIDER_ATTACH] = {"ProviderAttachClient", "ProviderAttachClient"},
        [NMR_CB_DETACH] = {"ClientDetachProvider", "ProviderDetachClient"},
        [NMR_CB_CLEANUP] = {"ClientCleanupBindingContext", "ProviderCleanupBindingContext"},
        [NMR_CB_QUEUE] = {"(queued detaches)", "(queued detaches)"},
    };
    return names[f->what][f->side == NMR_PROVIDER];
}

void nmr_callstack_leave_(const nmr_frame *f)
{
    nmr__verify_leave(&f->v, callback_name(f), f->fn);
}

int nmr_callstack_inside(const void *binding, nmr_callback what)
{
    for (const nmr_frame *f = nmr_callstack_top; f != NULL; f = f->up)
        if (f->binding == binding && f->what == what)
            return 1;
    return 0;
}

int nmr_callstack_inside_registration(const void *reg)
{
    for (const nmr_frame *f = nmr_callstack_top; f != NULL; f = f->up) {
        if (f->what == NMR_CB_QUEUE) {
            for (const nmr_binding *b = *f->queue; b != NULL; b = b->work_next)
                if (b->reg[NMR_CLIENT] == reg || b->reg[NMR_PROVIDER] == reg)
                    return 1;
        } else if (f->binding->reg[NMR_CLIENT] == reg ||
                   f->binding->reg[NMR_PROVIDER] == reg) {
            return 1;
        }
    }
    return 0;
}
