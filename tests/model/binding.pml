/* SPDX-License-Identifier: MIT */
/*
 * binding.pml - a checked model of libnmr's binding state machine
 * (docs/design.md "The binding state machine", src/core/binding.c,
 * src/core/registration.c).  Run it with tests/model/run.sh; README.md next to
 * this file maps every state and transition to the code, and argues why
 * each reduction below keeps every behaviour that matters.
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
 *                  h = binding*2 + side after that half's callback returned
 *                  STATUS_PENDING.  (A completion that arrives while the
 *                  callback still runs, R15, is in detach_return_locked.)
 *
 * The NPI lock: every critical section of the code is one atomic block
 * here, and contains exactly what the code does between lock and unlock.
 * Callbacks are the gaps between atomic blocks (no lock held), so every
 * other thread can run while one runs.  To make 2 x 2 small enough for an
 * exhaustive search, steps that no other thread can see or influence are
 * folded into a neighbouring step of the same thread (README.md, "Why the
 * reductions are sound", gives the argument for each):
 *
 *   F1 entering a callback joins the lock section before it, and the
 *      callback's outcome is chosen in the section where it returns;
 *   F2 a completion that arrives while its detach callback still runs
 *      (R15: CALLING -> CALLING_DONE) joins the section where the callback
 *      returns; Completer acts only on PENDING halves;
 *   F3 ready check, both cleanups and the unlink are one step;
 *   F4 NmrWaitFor*DeregisterComplete's first section joins the
 *      deregistering thread's last lock section, and a woken wait returns
 *      in the step of the unlink that woke it;
 *   F5 when a binding becomes GONE its final properties are checked and
 *      its ghost flags and dead fields are reset, and every local is reset
 *      once dead, so that equal situations are equal states.
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
 * SUCCESS without attaching), -DX_ACCEPT_ONLY (every offer accepted);
 * -DPROBE=n makes reachability probe n fail (see REACH).
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
byte bstate[NB];
byte half[NB * 2];

/* ---- ghost state for the properties; reset when the binding is GONE ---- */
bit  offered[NB];          /* ClientAttachProvider was called (R6) */
bit  client_ok[NB];        /* ... and returned SUCCESS with the provider
                              attached: the client half needs its call */
bit  detach_called[NB * 2];/* the half's detach callback was called (R13) */
bit  cleaned[NB];          /* the cleanup callbacks ran (R16) */
bit  in_cb[NB];            /* a callback of the binding is running (R23) */

/* Reachability probes: with -DPROBE=n, probe n fails when its behaviour
 * happens, which shows the behaviour is in the state space (run.sh checks
 * each one, so no reduction can silently cut it away). */
#ifndef PROBE
#define PROBE 0
#endif
#define REACH(n) assert(PROBE != (n))

/* R18: no callback of a binding after a wait of either side returned */
#define NOT_WAITED(b) assert(rstate[CLI(b)] != R_DONE && rstate[PRV(b)] != R_DONE)

/* reg_wait()'s return, under the lock: R18, every binding of r is gone
 * (its final properties were checked by unlink_locked) or never existed */
inline wait_return_locked(x)
{
    assert(live[x] == 0);
    rstate[x] = R_DONE;
    assert(bstate[RB(x, 0)] == B_NONE || bstate[RB(x, 0)] == B_GONE);
    assert(bstate[RB(x, 1)] == B_NONE || bstate[RB(x, 1)] == B_GONE)
}

/* pthread_cond_broadcast(&npi->drained): one condition variable per NPI
 * wakes every waiter of the NPI.  A waiter whose count is not 0 only goes
 * back to sleep, invisibly; one whose count is 0 re-takes the lock and
 * returns.  The model does that return in the waker's step (README.md: the
 * return is a mover), so a sleeping waiter is just rstate == R_WAITING with
 * live > 0, and a wait that is never woken stays R_WAITING for ever, which
 * init's final check reports as an invalid end state. */
#define WAKE1(x) \
    if \
    :: live[x] == 0 && rstate[x] == R_WAITING -> \
        REACH(8); wait_return_locked(x) \
    :: else -> skip \
    fi
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

/* unlink_locked(): the binding is gone from both registrations.  Its final
 * properties are checked here, once, and then everything the binding kept
 * is reset: a GONE binding is dead (handle retired, never read again), and
 * nothing about it may differ between two states any more.
 *   declined / cancelled: no detach callback, no cleanup;
 *   after the cleanups:   the provider's detach was called, the client's
 *                         exactly when the client accepted too (R10, R13),
 *                         the cleanups ran once (R16), no completion is
 *                         outstanding (both halves COMPLETE). */
inline unlink_locked(bb)
{
    assert(bstate[bb] != B_NONE && bstate[bb] != B_GONE);
    assert(!in_cb[bb]);
    if
    :: bstate[bb] == B_CLEANUP ->
        assert(cleaned[bb] && HALF(bb, 0) == H_COMPLETE && HALF(bb, 1) == H_COMPLETE);
        assert(detach_called[bb * 2 + 1] && detach_called[bb * 2] == client_ok[bb])
    :: else ->      /* CREATED (cancelled) or OFFERING (declined) */
        assert(bstate[bb] == B_CREATED || bstate[bb] == B_OFFERING);
        assert(!cleaned[bb] && !detach_called[bb * 2] && !detach_called[bb * 2 + 1]);
        assert(HALF(bb, 0) == H_IDLE && HALF(bb, 1) == H_IDLE)
    fi;
    bstate[bb] = B_GONE;
    HALF(bb, 0) = H_IDLE; HALF(bb, 1) = H_IDLE;
    offered[bb] = 0; client_ok[bb] = 0; cleaned[bb] = 0;
    detach_called[bb * 2] = 0; detach_called[bb * 2 + 1] = 0;
    live[CLI(bb)]--;
    WAKE_IF_DRAINED(CLI(bb));
    live[PRV(bb)]--;
    WAKE_IF_DRAINED(PRV(bb))
}

/* nmr_binding_claim_offer_locked(): CREATED -> OFFERING, or 0 if cancelled;
 * then, with the lock dropped, ClientAttachProvider is entered (folded in:
 * it only touches ghost state of the binding this thread now owns) */
inline claim_locked(bb, res)
{
    if
    :: bstate[bb] == B_CREATED ->
        /* R12: an offer never starts on a deregistering registration */
        assert(rstate[CLI(bb)] == R_ACTIVE && rstate[PRV(bb)] == R_ACTIVE);
        bstate[bb] = B_OFFERING;
        res = 1;
        /* ClientAttachProvider entered, with NmrClientAttachProvider ->
         * ProviderAttachClient nested in it */
        assert(!in_cb[bb]);
        assert(!offered[bb]);           /* R6: offered at most once */
        offered[bb] = 1;
        NOT_WAITED(bb);
        in_cb[bb] = 1
    :: else -> REACH(10); res = 0
    fi
}

/* ready_for_cleanup_locked(), and if the binding is ready, run_cleanups():
 * the lock is dropped, both cleanup callbacks run, and the lock section
 * that unlinks the binding (and may wake the wait) follows.  The model
 * makes these one step: while the binding is CLEANUP nothing can change or
 * see it except the live counts of its two registrations, and moving the
 * unlink back to the ready check changes no outcome (README.md, "Why the
 * reductions are sound"). */
#ifdef BUG_EARLY_CLEANUP
#define HALVES_DONE(bb) (HALF(bb, 0) == H_COMPLETE || HALF(bb, 1) == H_COMPLETE)
#else
#define HALVES_DONE(bb) (HALF(bb, 0) == H_COMPLETE && HALF(bb, 1) == H_COMPLETE)
#endif
inline ready_and_cleanups_locked(bb)
{
    if
    :: bstate[bb] == B_DETACHING && HALVES_DONE(bb) ->
        bstate[bb] = B_CLEANUP;
        /* ClientCleanupBindingContext, then ProviderCleanupBindingContext.
         * R16: only after both halves completed and every callback of the
         * binding returned, exactly once */
        assert(HALF(bb, 0) == H_COMPLETE && HALF(bb, 1) == H_COMPLETE);
        assert(!in_cb[bb]);
        assert(!cleaned[bb]);
        NOT_WAITED(bb);
        cleaned[bb] = 1;
        /* they returned; lock */
        unlink_locked(bb)
    :: else -> skip
    fi
}

/* Inside a lock section of nmr_binding_detach(): skip the halves that need
 * no call; mark the next one CALLING and (lock dropped) enter its detach
 * callback, or if none is left do the ready check (in the same critical
 * section, as the code does).  Needs the local side. */
inline next_half_locked(bb)
{
    do
    :: side < 2 && HALF(bb, side) != H_IDLE -> side++
    :: else -> break
    od;
    if
    :: side < 2 ->
        HALF(bb, side) = H_CALLING;
        /* Client/ProviderDetach* entered */
        assert(bstate[bb] == B_DETACHING);      /* R23 order */
        assert(!in_cb[bb]);                     /* R23 one thread */
        assert(!detach_called[bb * 2 + side]);  /* R13: at most once */
        detach_called[bb * 2 + side] = 1;
        NOT_WAITED(bb);
        in_cb[bb] = 1
    :: else -> ready_and_cleanups_locked(bb)
    fi
}

/* nmr_binding_detach(), first lock section: b is DETACHING and owned by
 * this thread.  (Folded into the lock section that handed b over: it only
 * touches b's halves and ghost state, which nobody else reads until a
 * detach callback of b runs.)  A binding handed to a detach always has its
 * provider half IDLE, so the first section always calls a callback. */
inline detach_start_locked(bb)
{
    assert(bstate[bb] == B_DETACHING);
    side = 0;
    next_half_locked(bb);
    assert(side < 2)
}

/* A later lock section of nmr_binding_detach(): the running detach callback
 * returned; its status is chosen here.  A completion that arrives while the
 * callback still runs (R15: CALLING -> CALLING_DONE by the completing
 * thread) is folded into this section: nothing but this section can see
 * the difference between CALLING and CALLING_DONE (README.md).  The
 * detach is over when side == 2; side is then reset. */
inline detach_return_locked(bb)
{
    assert(side < 2 && in_cb[bb]);
    NOT_WAITED(bb);
    in_cb[bb] = 0;
    if
    :: HALF(bb, side) == H_CALLING ->       /* STATUS_SUCCESS */
        HALF(bb, side) = H_COMPLETE
#ifndef X_NO_PENDING
    :: HALF(bb, side) == H_CALLING ->       /* STATUS_PENDING, and its */
        REACH(6);
        HALF(bb, side) = H_CALLING_DONE;    /* completion came while the */
        HALF(bb, side) = H_COMPLETE         /* callback ran (R15) */
    :: HALF(bb, side) == H_CALLING ->       /* STATUS_PENDING, completion */
        HALF(bb, side) = H_PENDING          /* to come (Completer) */
#endif
    :: else -> assert(false)
    fi;
    side++;
    next_half_locked(bb);
    if
    :: side == 2 -> side = 0    /* this thread's detach is over */
    :: else -> skip
    fi
}
#define DETACH_OVER (side == 0)

/* Symmetry: the two clients are interchangeable, and so are the two
 * providers, so the model lets registration 1 (3) register only after
 * registration 0 (2) did.  This also makes the scan order (index order in
 * the model) the code's order: the peer list is in insertion order. */
#ifdef NO_SYMMETRY_CUT
#define SIBLING_FIRST(r) true
#else
#define SIBLING_FIRST(r) ((r) % 2 == 0 || rstate[(r) - 1] != R_UNREG)
#endif

/* NmrRegister* (reg_register + nmr_binding_offer_all).
 *   j, b     the offer being made (0 or 1) and its binding RB(r, j)
 *   todo     bit j set: binding RB(r, j) is on the to-do list
 *   claimed  offer j was claimed (CREATED -> OFFERING)
 *   det      this thread is detaching offer j (late-comer / client failed)
 *   later    offer 1 is claimed in its own lock section, after user code
 */
proctype Register(byte r)
{
    byte j, b, todo, side;
    bit claimed, det, later, s, pa, fin;

    atomic {    /* lock: insert and scan (R5), create, claim the first */
        SIBLING_FIRST(r) ->
        assert(rstate[r] == R_UNREG);
        rstate[r] = R_ACTIVE;
        j = 0;
        do
        :: j < 2 ->
            b = RB(r, j);
            if
            :: rstate[PEER(r, j)] == R_ACTIVE ->
                assert(bstate[b] == B_NONE); /* R5/R6: created once */
                bstate[b] = B_CREATED;
                live[r]++;
                live[PEER(r, j)]++;
                todo = todo | (1 << j)
            :: else -> skip
            fi;
            j++
        :: else -> break
        od;
        /* R7: *out = h before the first offer.  (In the code this store
         * follows the unlock; it only enables Deregister(r), which waits
         * for rstate[r] == R_ACTIVE, so doing it here loses nothing.) */
        if
        :: todo & 1 -> j = 0; b = RB(r, 0); claim_locked(b, claimed)
        :: todo == 2 -> j = 1; b = RB(r, 1); claim_locked(b, claimed)
        :: todo == 0 -> j = 0; b = 0; fin = 1
        fi
    }

    /* The loop runs until fin: then no option is executable and the thread
     * has returned from NmrRegister* (a valid end state; it cannot block
     * before that, every option's guard is local).  Ending this way rather
     * than by a jump out of the loop saves a state per ending. */
end_offers:
    do
    :: atomic {     /* ClientAttachProvider returned (or offer j was
                     * cancelled); lock */
            !fin && !det && !later ->
            if
            :: !claimed -> skip     /* cancelled before its offer */
            :: else ->
                NOT_WAITED(b);
                in_cb[b] = 0;
                /* the offer's outcome (b->provider_attached, s) */
                if
#ifndef X_ACCEPT_ONLY
                :: pa = 0; s = 0    /* client declines */
#ifndef X_NO_MISUSE
                :: pa = 0; s = 1    /* SUCCESS without attaching: misuse */
#endif
                :: pa = 1; s = 0    /* provider accepted, client failed */
#endif
                :: pa = 1; s = 1    /* both accept */
                fi;
                if
                :: pa ->
                    client_ok[b] = s;
                    if
#ifdef BUG_NO_LATECOMER
                    :: s -> bstate[b] = B_ATTACHED
#else
                    :: s && rstate[CLI(b)] == R_ACTIVE &&
                            rstate[PRV(b)] == R_ACTIVE ->
                        bstate[b] = B_ATTACHED
#endif
                    :: else ->  /* R11 late-comer, or R10 client failed */
                        bstate[b] = B_DETACHING;
                        if
                        :: !s -> REACH(5); HALF(b, 0) = H_COMPLETE
                        :: else -> REACH(4)
                        fi;
                        det = 1;
                        detach_start_locked(b)
                    fi;
                    s = 0   /* only a decline's s matters below */
                :: else ->
                    unlink_locked(b);    /* declined: gone */
                    if
                    :: s -> REACH(3)
                    :: else -> REACH(2)
                    fi
                fi;
                pa = 0
            fi;
            /* user code next (a detach, or the misuse report of a
             * SUCCESS without attach): the next claim needs its own
             * lock section; otherwise it is in this one */
            if
            :: j == 0 && (todo & 2) && !(det || s) ->
                j = 1;
                b = RB(r, 1);
                claim_locked(b, claimed)
            :: j == 0 && (todo & 2) && (det || s) ->
                later = 1; claimed = 0
            :: else ->      /* no next offer */
                claimed = 0;
                if
                :: !det -> s = 0; j = 0; b = 0; todo = 0; fin = 1   /* all done */
                :: else -> skip
                fi
            fi;
            s = 0
        }
    :: atomic {
            det ->
            detach_return_locked(b);
            if
            :: DETACH_OVER ->
                det = 0;
                if
                :: !later -> j = 0; b = 0; todo = 0; fin = 1    /* all done */
                :: else -> skip
                fi
            :: else -> skip
            fi
        }
    :: atomic {     /* the next offer's own lock section */
            !det && later ->
            REACH(13);
            later = 0;
            j = 1;
            b = RB(r, 1);
            claim_locked(b, claimed)
        }
    od
}

/* Deregister: pick the next binding taken over by the deregistration and
 * start its detach (nmr_binding_detach's first lock section: a mover, see
 * detach_start_locked), or cur = 0 when none is left */
inline pick_next_locked(r)
{
    if
    :: todo & 1 -> todo = todo & 2; cur = 1; b = RB(r, 0); detach_start_locked(b)
    :: todo == 2 -> todo = 0; cur = 1; b = RB(r, 1); detach_start_locked(b)
    :: todo == 0 -> cur = 0; b = 0
    fi
}

/* reg_wait(): lock; WAITING; return at once if nothing is left, else sleep
 * until the broadcast of the last unlink (which returns it, see WAKE1).
 * (Folded into the last lock section of the deregistration: README.md.) */
inline wait_locked(r)
{
    assert(rstate[r] == R_DEREG);
    rstate[r] = R_WAITING;
    if
    :: live[r] == 0 -> REACH(12); wait_return_locked(r)
    :: else -> skip     /* sleeps */
    fi
}

/* NmrDeregister* then NmrWaitFor*DeregisterComplete, on one thread.
 *   todo  bindings taken over and not yet detached (bit j: RB(r, j))
 *   cur   a binding, b, is being detached by this thread */
proctype Deregister(byte r)
{
    byte j, b, todo, side;
    bit cur;

    atomic {    /* lock: ACTIVE -> DEREGISTERING, cancel, take over */
        rstate[r] == R_ACTIVE ->    /* once the handle is known, at any moment */
        rstate[r] = R_DEREG;
        j = 0;
        do
        :: j < 2 ->
            b = RB(r, j);
            if
#ifndef BUG_NO_CANCEL
            :: bstate[b] == B_CREATED ->  /* never offered */
                REACH(1);
                unlink_locked(b)
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
        if
        :: todo == 3 -> REACH(9)
        :: else -> skip
        fi;
        pick_next_locked(r);
        if
        :: !cur -> wait_locked(r)    /* nothing to detach */
        :: else -> skip
        fi
    }
    /* until !cur (then the thread has returned from the wait, or sleeps in
     * it: see wait_locked), as in Register */
end_detaching:
    do
    :: atomic {     /* a detach callback returned; lock */
            cur ->
            detach_return_locked(b);
            if
            :: DETACH_OVER ->
                pick_next_locked(r);
                if
                :: !cur -> wait_locked(r)
                :: else -> skip
                fi
            :: else -> skip
            fi
        }
    od
}

/* Nmr*DetachComplete for half h, called once, after its callback returned
 * STATUS_PENDING (PENDING -> COMPLETE, then the ready check and, if this
 * was the last half, the cleanups on this thread).  The completion that
 * arrives while the callback still runs (R15) is in detach_return_locked.
 * If the callback returns STATUS_SUCCESS this thread never calls.  Calls on
 * any other half state are misuse (R29), which the model's environment does
 * not make. */
proctype Completer(byte h)
{
    byte b = h / 2;

end_idle:
    atomic {    /* detach_complete(): lock */
        half[h] == H_PENDING ->
        assert(bstate[b] == B_DETACHING);
        if
        :: in_cb[b] -> REACH(11)    /* the other half's callback runs */
        :: half[h ^ 1] == H_COMPLETE -> REACH(7)    /* last half: cleanups */
        :: else -> skip
        fi;
        half[h] = H_COMPLETE;
        ready_and_cleanups_locked(b)
    }
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
        od;
        i = 0
    };
    /* Every wait returns (no deadlock): once nothing can move any more,
     * every registration's wait must have returned; if one still sleeps,
     * init blocks here, outside an end state, and spin reports an invalid
     * end state, exactly as for a thread blocked for ever. */
    timeout;
    (rstate[0] == R_DONE || !PRESENT(0)) && (rstate[1] == R_DONE || !PRESENT(1)) &&
    (rstate[2] == R_DONE || !PRESENT(2)) && (rstate[3] == R_DONE || !PRESENT(3))
}
