#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write the seed corpus of fuzz_ops.c (tests/fuzz/corpus/).

Each seed is a meaningful scenario written with the op helpers below; the
byte format is the one decoded by run_op() in fuzz_ops.c and described in
tests/fuzz/README.md.  Run from anywhere:  python3 tests/fuzz/make_corpus.py
"""
import os
import sys

# op codes (byte % 12)
REG_C, REG_P, DEREG, WAIT, COMPLETE, MISUSE, ARM_OOM, DRAIN, RETIRE, BAD_REG, ATTACH_OUT, STATE = range(12)
# client attach behaviours
CA_DECLINE, CA_ACCEPT, CA_FAIL_AFTER, CA_RETRY, CA_SUCCESS_NO_ATTACH = range(5)
# provider attach behaviours
PA_ACCEPT, PA_DECLINE, PA_DECLINE_FIRST = range(3)
# detach behaviours
D_SUCCESS, D_PENDING, D_INSIDE_PENDING, D_INSIDE_SUCCESS, D_BAD, D_INSIDE_BAD, D_INSIDE_TWICE = range(7)
# nested actions
(N_NONE, N_DEREG_SELF, N_DEREG_PEER, N_DEREG_WAIT_SELF, N_WAIT_SELF, N_WAIT_PEER, N_REGISTER,
 N_DEREG_OTHER, N_WAIT_OTHER, N_COMPLETE_ANY, N_ATTACH_CALL, N_COMPLETE_OWN) = range(12)
T_ATTACH, T_DETACH, T_CLEANUP = 1, 2, 4
CLIENT, PROVIDER = 0, 1


def tgt(side, slot):
    return (side << 3) | slot


def reg(side, slot, npi=0, attach=None, detach=D_SUCCESS, fail=0, bad=0,
        null_cleanup=0, trigger=0, nested=N_NONE, param=0, after=0):
    if attach is None:
        attach = CA_ACCEPT if side == CLIENT else PA_ACCEPT
    return [REG_C if side == CLIENT else REG_P, slot, npi,
            attach | (fail << 4), detach | (bad << 4),
            null_cleanup | (trigger << 1) | (nested << 4),
            (param & 0x7f) | (after << 7)]


def dereg(side, slot):
    return [DEREG, tgt(side, slot)]


def wait(side, slot):
    return [WAIT, tgt(side, slot)]


def retire(side, slot):
    return [RETIRE, tgt(side, slot)]


def complete(i=0):
    return [COMPLETE, i]


def drain():
    return [DRAIN]


def oom(n):
    return [ARM_OOM, n - 1]


def misuse(what, src, arg=0, forged=None):
    b = [MISUSE, what, src, arg]
    if src % 6 == 1:
        b += list((forged or 0).to_bytes(8, 'little'))
    return b


SEEDS = {}


def seed(name, *parts):
    data = []
    for p in parts:
        data += p
    SEEDS[name] = bytes(data)


# one binding, attached, detached synchronously, both waited
seed('bind_detach', reg(PROVIDER, 0), reg(CLIENT, 0), dereg(CLIENT, 0), wait(CLIENT, 0),
     dereg(PROVIDER, 0), wait(PROVIDER, 0))
# both halves pending; completed from outside; then the waits
seed('pending_complete', reg(PROVIDER, 0, detach=D_PENDING), reg(CLIENT, 0, detach=D_PENDING),
     dereg(PROVIDER, 0), wait(PROVIDER, 0), complete(0), complete(0), wait(PROVIDER, 0),
     retire(CLIENT, 0))
# the client deregisters itself from its attach callback: late-comer (R11)
seed('nested_dereg_attach', reg(PROVIDER, 0),
     reg(CLIENT, 0, trigger=T_ATTACH, nested=N_DEREG_SELF, after=1), retire(CLIENT, 0))
# deregistering oneself and waiting from inside: POSSIBLE_DEADLOCK (R20)
seed('nested_wait_deadlock', reg(PROVIDER, 0, trigger=T_DETACH, nested=N_DEREG_WAIT_SELF),
     reg(CLIENT, 0, trigger=T_ATTACH, nested=N_WAIT_SELF), dereg(CLIENT, 0), retire(CLIENT, 0))
# declines: client declines, provider declines, provider declines once (R9 retry)
seed('declines', reg(PROVIDER, 0, attach=PA_DECLINE), reg(PROVIDER, 1, attach=PA_DECLINE_FIRST),
     reg(CLIENT, 0, attach=CA_DECLINE), reg(CLIENT, 1, attach=CA_RETRY),
     reg(CLIENT, 2, attach=CA_ACCEPT), retire(CLIENT, 1), retire(PROVIDER, 1))
# the provider accepts, the client then fails: provider detach only (R10)
seed('fail_after_attach', reg(PROVIDER, 0, detach=D_PENDING),
     reg(CLIENT, 0, attach=CA_FAIL_AFTER, fail=1), complete(0), retire(PROVIDER, 0))
# SUCCESS without NmrClientAttachProvider: misuse, no binding (R10, R30)
seed('success_no_attach', reg(PROVIDER, 0), reg(CLIENT, 0, attach=CA_SUCCESS_NO_ATTACH),
     retire(PROVIDER, 0))
# detach callbacks completing from inside, twice, with bad statuses (R14, R15, R29)
seed('detach_inside', reg(PROVIDER, 0, detach=D_INSIDE_TWICE, null_cleanup=1),
     reg(CLIENT, 0, detach=D_INSIDE_PENDING), reg(CLIENT, 1, detach=D_INSIDE_SUCCESS),
     reg(CLIENT, 2, detach=D_BAD, bad=1), reg(CLIENT, 3, detach=D_INSIDE_BAD),
     retire(PROVIDER, 0))
# nested registration of another module from attach, detach and cleanup (R22)
seed('nested_register', reg(PROVIDER, 0, trigger=T_CLEANUP, nested=N_REGISTER, param=tgt(CLIENT, 2)),
     reg(CLIENT, 1, npi=0),
     reg(CLIENT, 0, trigger=T_ATTACH, nested=N_REGISTER, param=tgt(PROVIDER, 1)),
     reg(PROVIDER, 1, npi=0, trigger=T_DETACH, nested=N_REGISTER, param=tgt(CLIENT, 3)),
     retire(CLIENT, 1), retire(PROVIDER, 0), drain())
# out of memory at each of the first allocations of a registration with 3 peers (R2, R32)
oom_parts = [reg(PROVIDER, 0), reg(PROVIDER, 1), reg(PROVIDER, 2)]
for n in range(1, 9):
    oom_parts += [oom(n), reg(CLIENT, 0), retire(CLIENT, 0)]
seed('oom_each_allocation', *oom_parts)
oom_parts = []
for n in range(1, 6):
    oom_parts += [oom(n), reg(PROVIDER, n % 8, npi=n % 4), oom(n), reg(CLIENT, n % 8, npi=n % 4)]
seed('oom_new_npis', *oom_parts)
# misuse with bad handles of every source, for every function (R19, R21, R26, R29)
mis = [reg(PROVIDER, 0, detach=D_PENDING), reg(CLIENT, 0), dereg(CLIENT, 0), wait(CLIENT, 0)]
for what in range(7):
    for src in range(6):
        mis.append(misuse(what, src, 3, forged=0x0000000500000005 + what))
mis += [[STATE, tgt(PROVIDER, 0) | 16], [STATE, tgt(CLIENT, 0)], complete(0), complete(0),
        [ATTACH_OUT, 0], [ATTACH_OUT, 0x80], retire(CLIENT, 0)]
seed('misuse_handles', *mis)
# invalid registrations, every field, both sides (R1)
seed('bad_registrations', reg(PROVIDER, 0), reg(CLIENT, 0), *[[BAD_REG, v] for v in range(20)])
# both sides deregister while halves are pending; the wait must not finish early (R13, R18)
seed('both_deregister', reg(PROVIDER, 0, detach=D_PENDING), reg(PROVIDER, 1),
     reg(CLIENT, 0, detach=D_PENDING), reg(CLIENT, 1, detach=D_PENDING, null_cleanup=1),
     dereg(CLIENT, 0), dereg(PROVIDER, 0), wait(CLIENT, 0), complete(1), complete(0),
     complete(0), wait(CLIENT, 0), wait(PROVIDER, 0), dereg(PROVIDER, 1), drain(),
     retire(PROVIDER, 1))
# a provider deregisters the peer from its attach callback (R11), and NmrClientAttachProvider
# called from the wrong places (R8)
seed('provider_nested', reg(PROVIDER, 0, trigger=T_ATTACH, nested=N_DEREG_PEER),
     reg(CLIENT, 0), reg(PROVIDER, 1, trigger=T_ATTACH | T_DETACH | T_CLEANUP, nested=N_ATTACH_CALL),
     reg(CLIENT, 1, trigger=T_ATTACH, nested=N_ATTACH_CALL, param=16), retire(CLIENT, 1))
# slot churn: register, retire, register again many times (R28)
churn = []
for i in range(12):
    churn += [reg(PROVIDER, i % 2, npi=i % 4), reg(CLIENT, i % 3, npi=i % 4),
              retire(CLIENT, i % 3), retire(PROVIDER, i % 2)]
seed('churn', *churn)

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus')
os.makedirs(out, exist_ok=True)
for name, data in SEEDS.items():
    with open(os.path.join(out, name), 'wb') as f:
        f.write(data)
print(f"{len(SEEDS)} seeds written to {out}", file=sys.stderr)
