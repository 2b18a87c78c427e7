/* SPDX-License-Identifier: MIT */
/*
 * intr.h - Ctrl-C (SIGINT) in nmrhost, without a signal handler.
 *
 * intr_init() blocks SIGINT in the calling thread before any other thread
 * exists, so every thread (module threads, unload helpers, the library's
 * watchdog) inherits the mask, and one thread of its own takes the signal
 * with sigwait().  That thread is an ordinary thread: it counts the signal,
 * wakes the sleepers of intr_sleep_until() and makes intr_fd() readable,
 * for a main thread that waits in poll().  No code runs in signal context,
 * no module thread ever sees EINTR, and nothing is called under a library
 * lock.
 *
 * A command checks for a Ctrl-C that came after a point it marked
 * (intr_count() then, intr_since(mark) later).  Without intr_init()
 * (hostbench) the count stays 0: nothing is ever interrupted.
 */
#ifndef NMRHOST_INTR_H
#define NMRHOST_INTR_H

#include <stdint.h>

/* Once, first thing in main.  0, or -1 (then Ctrl-C keeps its default). */
int intr_init(void);
/* How many SIGINTs have arrived so far. */
unsigned intr_count(void);
/* 1 when a SIGINT arrived after intr_count() returned mark. */
int intr_since(unsigned mark);
/* Sleep until the monotonic time deadline_ns (host_now_ns()) or a SIGINT
 * after mark, whichever comes first; 1 when interrupted. */
int intr_sleep_until(uint64_t deadline_ns, unsigned mark);
/* Readable after each SIGINT (until intr_drain()); -1 without intr_init(). */
int intr_fd(void);
void intr_drain(void);

#endif /* NMRHOST_INTR_H */
