/*
 * binding.pml - a checked model of libnmr's binding state machine
 * (docs/design.md "The binding state machine", src/binding.c,
 * src/registration.c).  Run it with tests/model/run.sh; README.md next to
 * this file maps every state and transition to the code.
 *
 * World: one NPI, 2 client registrations (regs 0, 1) and 2 provider
 * registrations (regs 2, 3), so 4 possible bindings (client c, provider p)
 * = binding c*2 + (p-2).  Processes (= threads):
 *
 *   Register(r)    NmrRegister*: insert + scan in one critical section
 *                  (R5), store the handle (R7), then make the offers of its
 *                  to-do list one by one (nmr_binding_offer_all), running
 *                  the detach itself for late-comers / client failures.
 *   Deregister(r)  NmrDeregister* (once r's handle exists, at any moment),
 *                  then NmrWaitFor*DeregisterComplete on the same thread.
 *   Completer(h)   the thread that calls Nmr*DetachComplete for detach half
 *                  h = binding*2 + side, once that half's callback chose to
 *                  return STATUS_PENDING - possibly before the callback
 *                  returned (R15).
 *
 * The NPI lock: every critical section of the code is one atomic block
 * here, and contains exactly what the code does between lock and unlock.
 * Callbacks are the points between atomic blocks (no lock held): a
 * callback is "entered" by one step and "returns" at the start of the next
 * lock section, and any other process can run in between.
 *
 * Bug injection (each must make spin report an error; run.sh checks it):
 *   -DBUG_NO_LATECOMER   the offering thread ignores a deregistration that
 *                        started during the offer (R11)
 *   -DBUG_EARLY_CLEANUP  cleanup once ONE half is complete (R16)
 *   -DBUG_NO_CANCEL      deregistration does not cancel CREATED bindings (R12)
 *   -DBUG_NO_BROADCAST   the last unlink does not wake the wait (R18)
 *
 * Other knobs: -DCLIENTS=n -DPROVIDERS=n (1 or 2, default 2); for
 * exploring only: -DNO_SYMMETRY_CUT, -DX_NO_PENDING (detach callbacks
 * always return STATUS_SUCCESS), -DX_NO_MISUSE (no client that returns
 * SUCCESS without attaching).
 */

#define NR 4            /* registrations: 0,1 clients; 2,3 providers */
#define NB 4            /* bindings */

#define CLI(b)    ((b) / 2)
#define PRV(b)    (2 + (b) % 2)
/* the j-th possible binding of registration r, and the peer it joins */
#define RB(r, j)   ((r) < 2 -> (r) * 2 + (j) : (j) * 2 + (r) - 2)
#define PEER(r, j) ((r) < 2 -> 2 + (j) : (j))
#define HALF(b, side) half[(b) * 2 + (side)]

/* nmr_reg_state (+ UNREG: not registered yet) */
#define R_UNREG   0
#define R_ACTIVE  1
#define R_DEREG   2
#define R_WAITING 3
#define R_DONE    4

/* nmr_binding_state (+ NONE: never created) */
#define B_NONE      0
#define B_CREATED   1
#define B_OFFERING  2
#define B_ATTACHED  3
#define B_DETACHING 4
#define B_CLEANUP   5
#define B_GONE      6

/* nmr_half_state */
#define H_IDLE         0
#define H_CALLING      1
#define H_CALLING_DONE 2
#define H_PENDING      3
#define H_COMPLETE     4

/* ---- the code's state (all [npi]: touched only under the NPI lock) ---- */
byte rstate[NR];
byte live[NR];             /* reg->live_bindings */
bit  sleeping[NR];         /* blocked in pthread_cond_wait(npi->drained) */
byte bstate[NB];
byte half[NB * 2];
bit  provider_attached[NB];/* b->provider_attached (offering thread only) */

/* ---- the environment ---- */
bit  handle_out[NR];       /* *out = h done: others may deregister r */
bit  pending_req[NB * 2];  /* a detach callback returned (or will return)
                              STATUS_PENDING: its Nmr*DetachComplete may
                              now be called, exactly once, from any thread */

/* ---- ghost state for the properties ---- */
bit  waited[NR];           /* the wait of r has returned */
byte offers[NB];           /* ClientAttachProvider calls per binding */
bit  client_ok[NB];        /* ClientAttachProvider returned SUCCESS */
byte detach_calls[NB * 2]; /* detach callback calls per half */
byte cleanups[NB];         /* cleanup sequences per binding */
bit  in_cb[NB];            /* a callback of the binding is running (R23) */

#define NOT_WAITED(b) assert(!waited[CLI(b)] && !waited[PRV(b)]) /* R18 */

/* pthread_cond_broadcast(&npi->drained): one condition variable per NPI
 * wakes every waiter of the NPI; a waiter whose count is not 0 only goes
 * back to sleep under the lock, with no visible effect, so the model wakes
 * just the waiters whose count is 0 (fewer states, same behaviours). */
#define WAKE1(x) if :: live[x] == 0 -> sleeping[x] = 0 :: else -> skip fi
#define BROADCAST WAKE1(0); WAKE1(1); WAKE1(2); WAKE1(3)

#ifdef BUG_NO_BROADCAST
#define WAKE_IF_DRAINED(r) skip
#else
#define WAKE_IF_DRAINED(r) \
    if \
    :: live[r] == 0 && rstate[r] == R_WAITING -> BROADCAST \
    :: else -> skip \
    fi
#endif

/* unlink_locked(): the binding is gone from both registrations */
inline unlink_locked(bb)
{
    assert(bstate[bb] != B_NONE && bstate[bb] != B_GONE);
    bstate[bb] = B_GONE;
    live[CLI(bb)]--;
    WAKE_IF_DRAINED(CLI(bb));
    live[PRV(bb)]--;
    WAKE_IF_DRAINED(PRV(bb))
}

/* nmr_binding_claim_offer_locked(): CREATED -> OFFERING, or 0 if cancelled */
inline claim_locked(bb, res)
{
    if
    :: bstate[bb] == B_CREATED ->
        /* R12: an offer never starts on a deregistering registration */
        assert(rstate[CLI(bb)] == R_ACTIVE && rstate[PRV(bb)] == R_ACTIVE);
        bstate[bb] = B_OFFERING;
        res = 1
    :: else -> res = 0
    fi
}

/* ready_for_cleanup_locked() */
#ifdef BUG_EARLY_CLEANUP
#define HALVES_DONE(bb) (HALF(bb, 0) == H_COMPLETE || HALF(bb, 1) == H_COMPLETE)
#else
#define HALVES_DONE(bb) (HALF(bb, 0) == H_COMPLETE && HALF(bb, 1) == H_COMPLETE)
#endif
inline ready_locked(bb, res)
{
    if
    :: bstate[bb] == B_DETACHING && HALVES_DONE(bb) ->
        bstate[bb] = B_CLEANUP;
        res = 1
    :: else -> skip
    fi
}

/* run_cleanups(): both cleanup callbacks, no lock; then unlink under it */
inline run_cleanups(bb)
{
    atomic {    /* ClientCleanupBindingContext entered */
        assert(bstate[bb] == B_CLEANUP);
        /* R16: only after both halves completed and every callback returned */
        assert(HALF(bb, 0) == H_COMPLETE && HALF(bb, 1) == H_COMPLETE);
        assert(!in_cb[bb]);
        NOT_WAITED(bb);
        cleanups[bb]++;
        assert(cleanups[bb] == 1);      /* R16: exactly once */
        in_cb[bb] = 1
    }
    /* ... ProviderCleanupBindingContext runs after it: no lock, nothing
     * else to see, so both are one interval here */
    atomic {    /* both returned; lock: unlink_locked, the wait may wake */
        NOT_WAITED(bb);
        in_cb[bb] = 0;
        unlink_locked(bb)
    }
}

/* Inside a lock section of nmr_binding_detach(): skip the halves that need
 * no call; mark the next one CALLING, or if none is left do the ready check
 * (in the same critical section, as the code does). */
inline next_half_locked(bb)
{
    do
    :: side < 2 && HALF(bb, side) != H_IDLE -> side++
    :: else -> break
    od;
    if
    :: side < 2 -> HALF(bb, side) = H_CALLING
    :: else -> ready_locked(bb, ready)
    fi
}

/* nmr_binding_detach(): b is DETACHING and owned by this thread.
 * Needs locals side, ds, ready in the calling proctype. */
inline detach(bb)
{
    atomic {
        assert(bstate[bb] == B_DETACHING);
        side = 0;
        next_half_locked(bb)
    }
    do
    :: side < 2 ->
        atomic {    /* Client/ProviderDetach* entered; no lock */
            assert(bstate[bb] == B_DETACHING);      /* R23 order */
            assert(!in_cb[bb]);                     /* R23 one thread */
            detach_calls[bb * 2 + side]++;
            assert(detach_calls[bb * 2 + side] == 1);   /* R13 */
            NOT_WAITED(bb);
            in_cb[bb] = 1;
            if
            :: ds = 0                               /* STATUS_SUCCESS */
#ifndef X_NO_PENDING
            :: ds = 1; pending_req[bb * 2 + side] = 1   /* STATUS_PENDING */
#endif
            fi
        }
        atomic {    /* it returned; lock */
            NOT_WAITED(bb);
            in_cb[bb] = 0;
            if
            :: HALF(bb, side) == H_CALLING_DONE -> HALF(bb, side) = H_COMPLETE
            :: HALF(bb, side) == H_CALLING && ds -> HALF(bb, side) = H_PENDING
            :: HALF(bb, side) == H_CALLING && !ds -> HALF(bb, side) = H_COMPLETE
            :: else -> assert(false)
            fi;
            ds = 0;
            side++;
            next_half_locked(bb)
        }
    :: else -> break
    od;
    side = 0;
    if
    :: ready -> ready = 0; run_cleanups(bb)
    :: else -> skip
    fi
}

/* Symmetry: the two clients are interchangeable, and so are the two
 * providers, so the model lets registration 1 (3) register only after
 * registration 0 (2) did.  This also makes the scan order (index order in
 * the model) the code's order: the peer list is in insertion order. */
#ifdef NO_SYMMETRY_CUT
#define SIBLING_FIRST(r) true
#else
#define SIBLING_FIRST(r) ((r) % 2 == 0 || rstate[(r) - 1] != R_UNREG)
#endif

/* NmrRegister* (reg_register + nmr_binding_offer_all) */
proctype Register(byte r)
{
    byte j, b, nb, todo, side;
    bit claimed, nclaimed, s, det, gone, ucn, ds, ready;

    atomic {    /* lock: insert and scan (R5), create, claim the first */
        SIBLING_FIRST(r) ->
        assert(rstate[r] == R_UNREG);
        rstate[r] = R_ACTIVE;
        j = 0;
        do
        :: j < 2 ->
            if
            :: rstate[PEER(r, j)] == R_ACTIVE ->
                b = RB(r, j);
                assert(bstate[b] == B_NONE);    /* R5/R6: created once */
                bstate[b] = B_CREATED;
                live[CLI(b)]++;
                live[PRV(b)]++;
                todo = todo | (1 << j)
            :: else -> skip
            fi;
            j++
        :: else -> break
        od;
        if
        :: todo & 1 -> b = RB(r, 0); claim_locked(b, claimed)
        :: todo == 2 -> b = RB(r, 1); claim_locked(b, claimed)
        :: todo == 0 -> skip
        fi;
        j = 0;
        b = 0;
        /* R7: *out = h before the first offer.  (In the code this store
         * follows the unlock; it only enables Deregister(r), so doing it
         * here loses no behaviour.) */
        handle_out[r] = 1
    }

    do
    :: j < 2 && !(todo & (1 << j)) -> j++
    :: j < 2 && (todo & (1 << j)) ->
        b = RB(r, j);
        if
        :: claimed ->
            atomic {    /* ClientAttachProvider entered (no lock), with
                         * NmrClientAttachProvider -> ProviderAttachClient
                         * nested in it */
                assert(bstate[b] == B_OFFERING);
                assert(!in_cb[b]);
                offers[b]++;
                assert(offers[b] == 1);         /* R6 */
                NOT_WAITED(b);
                in_cb[b] = 1;
                if
#ifndef X_ACCEPT_ONLY
                :: provider_attached[b] = 0; s = 0  /* client declines */
#ifndef X_NO_MISUSE
                :: provider_attached[b] = 0; s = 1  /* SUCCESS, no attach: misuse */
#endif
                :: provider_attached[b] = 1; s = 0  /* provider yes, client fails */
#endif
                :: provider_attached[b] = 1; s = 1  /* both accept */
                fi;
                client_ok[b] = s
            }
        :: else -> skip
        fi;
        atomic {    /* the callback returned; lock */
            if
            :: claimed -> NOT_WAITED(b); in_cb[b] = 0
            :: else -> skip
            fi;
            if
            :: !claimed -> skip     /* cancelled before its offer */
            :: claimed && provider_attached[b] ->
                if
#ifdef BUG_NO_LATECOMER
                :: s -> bstate[b] = B_ATTACHED
#else
                :: s && rstate[CLI(b)] == R_ACTIVE && rstate[PRV(b)] == R_ACTIVE ->
                    bstate[b] = B_ATTACHED
#endif
                :: else ->  /* R11 late-comer, or R10 client failed */
                    bstate[b] = B_DETACHING;
                    if
                    :: !s -> HALF(b, 0) = H_COMPLETE
                    :: else -> skip
                    fi;
                    det = 1
                fi
            :: claimed && !provider_attached[b] ->
                unlink_locked(b);   /* declined: gone, no more callbacks */
                gone = 1
            fi;
            ucn = det || (gone && s);   /* user code next: detach or misuse hook */
            if
            :: j == 0 && (todo & 2) && !ucn -> nb = RB(r, 1); claim_locked(nb, nclaimed)
            :: else -> skip
            fi
        }
        if
        :: det -> detach(b)
        :: else -> skip
        fi;
        if
        :: j == 0 && (todo & 2) && ucn ->
            atomic { nb = RB(r, 1); claim_locked(nb, nclaimed) }
        :: else -> skip
        fi;
        atomic {
            claimed = nclaimed;
            nclaimed = 0; s = 0; det = 0; gone = 0; ucn = 0; b = 0; nb = 0;
            j++
        }
    :: j == 2 -> break
    od
}

/* NmrDeregister* then NmrWaitFor*DeregisterComplete, on one thread */
proctype Deregister(byte r)
{
    byte j, b, todo, side;
    bit ds, ready;

    atomic {    /* lock: ACTIVE -> DEREGISTERING, cancel, take over */
        handle_out[r] == 1 ->   /* once the handle is known, at any moment */
        assert(rstate[r] == R_ACTIVE);
        rstate[r] = R_DEREG;
        j = 0;
        do
        :: j < 2 ->
            b = RB(r, j);
            if
#ifndef BUG_NO_CANCEL
            :: bstate[b] == B_CREATED -> unlink_locked(b)  /* never offered */
#endif
            :: bstate[b] == B_ATTACHED ->  /* nmr_binding_start_detach_locked */
                bstate[b] = B_DETACHING;
                todo = todo | (1 << j)
            :: else -> skip     /* OFFERING: the offering thread detaches;
                                   DETACHING/CLEANUP/GONE: owned already */
            fi;
            j++
        :: else -> break
        od;
        j = 0;
        b = 0
    }
    do
    :: j < 2 ->
        if
        :: todo & (1 << j) -> b = RB(r, j); detach(b)
        :: else -> skip
        fi;
        j++
    :: else -> break
    od;
    j = 0;
    b = 0;

    /* reg_wait: the condition-variable loop */
    atomic {
        assert(rstate[r] == R_DEREG);
        rstate[r] = R_WAITING;
        if
        :: live[r] > 0 -> sleeping[r] = 1
        :: else -> skip
        fi
    }
    do
    :: atomic { !sleeping[r] && live[r] > 0 -> sleeping[r] = 1 }   /* woken, not for us */
    :: atomic {
        !sleeping[r] && live[r] == 0 ->
        rstate[r] = R_DONE;
        waited[r] = 1;
        /* R18: every binding of r is gone, cleaned up exactly when the
         * provider had accepted, and each detach callback was called
         * exactly when its half needed one (R10, R13) */
        j = 0;
        do
        :: j < 2 ->
            b = RB(r, j);
            assert(bstate[b] == B_NONE || bstate[b] == B_GONE);
            assert(!in_cb[b]);
            assert(cleanups[b] == provider_attached[b]);
            assert(detach_calls[b * 2 + 1] == provider_attached[b]);
            assert(detach_calls[b * 2] == (provider_attached[b] && client_ok[b]));
            assert(!pending_req[b * 2] && !pending_req[b * 2 + 1]);
            j++
        :: else -> break
        od;
        j = 0;
        b = 0
        }
        break
    od
}

/* Nmr*DetachComplete for half h, called once after its callback chose
 * STATUS_PENDING (possibly while the callback is still running) */
proctype Completer(byte h)
{
    byte b, side;
    bit ready;

end_idle:
    atomic {
        pending_req[h] == 1 ->
        pending_req[h] = 0;
        b = h / 2;
        /* detach_complete(): lock */
        if
        :: bstate[b] == B_GONE -> assert(false)  /* dead handle: misuse */
        :: else ->
            if
            :: half[h] == H_CALLING -> half[h] = H_CALLING_DONE     /* R15 */
            :: half[h] == H_PENDING ->
                half[h] = H_COMPLETE;
                ready_locked(b, ready)
            :: else -> assert(false)    /* R29: not pending: misuse */
            fi
        fi
    }
    if
    :: ready -> ready = 0; run_cleanups(b)
    :: else -> skip
    fi
}

/* Configuration: CLIENTS and PROVIDERS (1 or 2 each; default 2 x 2).  An
 * absent registration never registers, so it never matches. */
#ifndef CLIENTS
#define CLIENTS 2
#endif
#ifndef PROVIDERS
#define PROVIDERS 2
#endif
#define PRESENT(r) ((r) < 2 -> (r) < CLIENTS : (r) - 2 < PROVIDERS)

init {
    atomic {
        byte i;
        i = 0;
        do
        :: i < NR && PRESENT(i) -> run Register(i); run Deregister(i); i++
        :: i < NR && !PRESENT(i) -> i++
        :: else -> break
        od;
        i = 0;
        do
        :: i < NB * 2 && PRESENT(CLI(i / 2)) && PRESENT(PRV(i / 2)) ->
            run Completer(i); i++
        :: i < NB * 2 && !(PRESENT(CLI(i / 2)) && PRESENT(PRV(i / 2))) -> i++
        :: else -> break
        od
    }
}
