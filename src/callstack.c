/*
 * callstack.c - per-thread list of callbacks in progress (see callstack.h).
 * Only the owning thread touches its list, so no synchronisation is needed.
 * Context: never blocks, no locks, callable anywhere.
 */
#include "callstack.h"

#include <assert.h>
#include <stddef.h>

static _Thread_local nmr_frame *top;

void nmr_callstack_push(nmr_frame *f, const void *binding,
                        const void *client_reg, const void *provider_reg,
                        nmr_callback what)
{
    f->binding = binding;
    f->reg[0] = client_reg;
    f->reg[1] = provider_reg;
    f->what = what;
    f->up = top;
    top = f;
}

void nmr_callstack_pop(nmr_frame *f)
{
    assert(top == f);
    top = f->up;
}

int nmr_callstack_inside(const void *binding, nmr_callback what)
{
    for (const nmr_frame *f = top; f != NULL; f = f->up)
        if (f->binding == binding && f->what == what)
            return 1;
    return 0;
}

int nmr_callstack_inside_registration(const void *reg)
{
    for (const nmr_frame *f = top; f != NULL; f = f->up)
        if (f->reg[0] == reg || f->reg[1] == reg)
            return 1;
    return 0;
}
