/*
 * trace.c - the event hook and the USDT probes (nmr/trace.h, trace.h).
 *
 * The (hook, context) pair is read without a lock (a sequence counter),
 * so threads that trace at once do not serialise; an installed hook
 * counts as one listener in nmr_trace_listeners, the flag event sites
 * test (trace.h).
 *
 * USDT: with <sys/sdt.h> each event is a probe of provider "libnmr"; the
 * probes share one semaphore, so the arguments (handle values...) are
 * only computed while someone listens.
 * Arguments: register(handle, role, npi_id*, module_id*), offer /
 * attach_accepted(binding, client, provider), attach_declined(binding,
 * side, status), detach_called / half_complete(binding, side),
 * cleanup(binding), deregister / wait_start(handle, role), wait_end(handle,
 * role, status), misuse(kind, message*).
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, open_memstream */

#include "trace.h"

#include "clock.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#ifdef NMR_HAVE_SDT
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
/* One semaphore for all probes: each probe's semaphore symbol is an alias
 * of nmr_trace_listeners, so a tracer attached to any probe turns every
 * event site on (the tracer sees only its probes), and a site tests one
 * variable.  The kernel counts attached tracers in it; a trace hook adds
 * one more (nmr_trace_set_hook). */
__attribute__((section(".probes"))) volatile unsigned short nmr_trace_listeners;
#define NMR_SEMAPHORE_ALIAS(name)                                         \
    __asm__(".globl libnmr_" #name "_semaphore\n\t"                      \
            ".hidden libnmr_" #name "_semaphore\n\t"                     \
            ".set libnmr_" #name "_semaphore, nmr_trace_listeners");      \
    extern volatile unsigned short libnmr_##name##_semaphore
NMR_SEMAPHORE_ALIAS(register);
NMR_SEMAPHORE_ALIAS(offer);
NMR_SEMAPHORE_ALIAS(attach_accepted);
NMR_SEMAPHORE_ALIAS(attach_declined);
NMR_SEMAPHORE_ALIAS(detach_called);
NMR_SEMAPHORE_ALIAS(half_complete);
NMR_SEMAPHORE_ALIAS(cleanup);
NMR_SEMAPHORE_ALIAS(deregister);
NMR_SEMAPHORE_ALIAS(wait_start);
NMR_SEMAPHORE_ALIAS(wait_end);
NMR_SEMAPHORE_ALIAS(misuse);
#define NMR_USDT1(name, a) STAP_PROBE1(libnmr, name, a)
#define NMR_USDT2(name, a, b) STAP_PROBE2(libnmr, name, a, b)
#define NMR_USDT3(name, a, b, c) STAP_PROBE3(libnmr, name, a, b, c)
#define NMR_USDT4(name, a, b, c, d) STAP_PROBE4(libnmr, name, a, b, c, d)
#else
#define NMR_USDT1(name, a) ((void)(a))
#define NMR_USDT2(name, a, b) ((void)(a), (void)(b))
#define NMR_USDT3(name, a, b, c) ((void)(a), (void)(b), (void)(c))
#define NMR_USDT4(name, a, b, c, d) ((void)(a), (void)(b), (void)(c), (void)(d))
#endif

#ifndef NMR_HAVE_SDT
volatile unsigned short nmr_trace_listeners; /* hooks installed: 0 or 1 */
#endif
/* The (hook, context) pair: written under hook_lock by nmr_trace_set_hook,
 * read without a lock by every event through a sequence counter (odd
 * while a write is in progress), so threads tracing at once do not
 * serialise on a lock. */
static pthread_mutex_t hook_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_uint hook_seq;
static _Atomic(nmr_trace_hook_fn *) hook_fn;
static _Atomic(void *) hook_ctx;

nmr_trace_hook_fn *nmr_trace_set_hook(nmr_trace_hook_fn *hook, void *context,
                                      void **old_context)
{
    pthread_mutex_lock(&hook_lock);
    nmr_trace_hook_fn *old = atomic_load_explicit(&hook_fn, memory_order_relaxed);
    if (old_context != NULL)
        *old_context = atomic_load_explicit(&hook_ctx, memory_order_relaxed);
    atomic_fetch_add_explicit(&hook_seq, 1, memory_order_relaxed); /* odd */
    atomic_thread_fence(memory_order_release);
    atomic_store_explicit(&hook_fn, hook, memory_order_relaxed);
    atomic_store_explicit(&hook_ctx, hook ? context : NULL, memory_order_relaxed);
    atomic_fetch_add_explicit(&hook_seq, 1, memory_order_release); /* even */
    /* The kernel updates the same counter as tracers come and go: add and
     * subtract, never store. */
    if (old == NULL && hook != NULL)
        __atomic_fetch_add(&nmr_trace_listeners, 1, __ATOMIC_RELAXED);
    else if (old != NULL && hook == NULL)
        __atomic_fetch_sub(&nmr_trace_listeners, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&hook_lock);
    return old;
}

/* A consistent (hook, context) pair, without a lock. */
static nmr_trace_hook_fn *read_hook(void **ctx)
{
    for (;;) {
        unsigned s1 = atomic_load_explicit(&hook_seq, memory_order_acquire);
        nmr_trace_hook_fn *fn = atomic_load_explicit(&hook_fn, memory_order_relaxed);
        *ctx = atomic_load_explicit(&hook_ctx, memory_order_relaxed);
        atomic_thread_fence(memory_order_acquire);
        if (!(s1 & 1) && atomic_load_explicit(&hook_seq, memory_order_relaxed) == s1)
            return fn;
        sched_yield(); /* a writer is between its two increments */
    }
}

int nmr_trace_usdt_available(void)
{
#ifdef NMR_HAVE_SDT
    return 1;
#else
    return 0;
#endif
}

const char *nmr_event_name(nmr_event_type type)
{
    switch (type) {
    case NMR_EVENT_REGISTER: return "register";
    case NMR_EVENT_OFFER: return "offer";
    case NMR_EVENT_ATTACH_ACCEPTED: return "attach-accepted";
    case NMR_EVENT_ATTACH_DECLINED: return "attach-declined";
    case NMR_EVENT_DETACH_CALLED: return "detach-called";
    case NMR_EVENT_HALF_COMPLETE: return "half-complete";
    case NMR_EVENT_CLEANUP: return "cleanup";
    case NMR_EVENT_DEREGISTER: return "deregister";
    case NMR_EVENT_WAIT_START: return "wait-start";
    case NMR_EVENT_WAIT_END: return "wait-end";
    case NMR_EVENT_MISUSE: return "misuse";
    }
    return "unknown";
}

static void deliver(nmr_event *ev)
{
    void *ctx;
    nmr_trace_hook_fn *fn = read_hook(&ctx);
    if (fn != NULL) {
        ev->time_ns = nmr_now_ns();
        fn(ctx, ev);
    }
}

void nmr_trace_register(const nmr_reg *r, HANDLE h)
{
    const NPI_REGISTRATION_INSTANCE *ri = r->instance;
    NMR_USDT4(register, h, (int)r->side, ri->NpiId, ri->ModuleId);
    nmr_event ev = {.type = NMR_EVENT_REGISTER, .registration = h,
                    .side = r->side, .npi_id = ri->NpiId,
                    .module_id = ri->ModuleId};
    deliver(&ev);
}

void nmr_trace_registration(nmr_event_type type, const nmr_reg *r, NTSTATUS status)
{
    HANDLE h = nmr_handle_value(&r->obj);
    int role = r->side;
    switch (type) {
    case NMR_EVENT_DEREGISTER: NMR_USDT2(deregister, h, role); break;
    case NMR_EVENT_WAIT_START: NMR_USDT2(wait_start, h, role); break;
    default: NMR_USDT3(wait_end, h, role, (int)status); break;
    }
    nmr_event ev = {.type = type, .registration = h, .side = role, .status = status};
    deliver(&ev);
}

void nmr_trace_binding(nmr_event_type type, const nmr_binding *b, int side,
                       NTSTATUS status)
{
    HANDLE bh = nmr_handle_value(&b->obj);
    HANDLE ch = nmr_handle_value(&b->reg[NMR_CLIENT]->obj);
    HANDLE ph = nmr_handle_value(&b->reg[NMR_PROVIDER]->obj);
    switch (type) {
    case NMR_EVENT_OFFER: NMR_USDT3(offer, bh, ch, ph); break;
    case NMR_EVENT_ATTACH_ACCEPTED: NMR_USDT3(attach_accepted, bh, ch, ph); break;
    case NMR_EVENT_ATTACH_DECLINED: NMR_USDT3(attach_declined, bh, side, (int)status); break;
    case NMR_EVENT_DETACH_CALLED: NMR_USDT2(detach_called, bh, side); break;
    case NMR_EVENT_HALF_COMPLETE: NMR_USDT2(half_complete, bh, side); break;
    default: NMR_USDT1(cleanup, bh); break;
    }
    nmr_event ev = {.type = type, .binding = bh, .client = ch, .provider = ph,
                    .side = side, .status = status};
    deliver(&ev);
}

void nmr_trace_misuse(int kind, const char *message)
{
    NMR_USDT2(misuse, kind, message);
    nmr_event ev = {.type = NMR_EVENT_MISUSE, .side = -1, .status = kind,
                    .message = message};
    deliver(&ev);
}
