/* SPDX-License-Identifier: MIT */
/*
 * intr.c - SIGINT taken by a thread of its own (see intr.h).
 */
#define _POSIX_C_SOURCE 200809L
#include "intr.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

static atomic_uint count;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;            /* broadcast at each SIGINT [lock] */
static int pipe_fd[2] = { -1, -1 };
static int ready;

static void *watcher(void *arg)
{
    (void)arg;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    for (;;) {
        int sig;
        if (sigwait(&set, &sig) != 0 || sig != SIGINT)
            continue;
        pthread_mutex_lock(&lock);
        atomic_fetch_add(&count, 1);
        pthread_cond_broadcast(&cond);
        pthread_mutex_unlock(&lock);
        if (pipe_fd[1] >= 0) {
            ssize_t n = write(pipe_fd[1], "i", 1);   /* full pipe: already readable */
            (void)n;
        }
    }
    return NULL;
}

int intr_init(void)
{
    if (ready)
        return 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &ca);
    pthread_condattr_destroy(&ca);
    if (pipe(pipe_fd) != 0)
        return -1;
    for (int i = 0; i < 2; i++) {
        fcntl(pipe_fd[i], F_SETFD, FD_CLOEXEC);
        fcntl(pipe_fd[i], F_SETFL, fcntl(pipe_fd[i], F_GETFL) | O_NONBLOCK);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return -1;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_t t;
    if (pthread_create(&t, &attr, watcher, NULL) != 0) {
        pthread_attr_destroy(&attr);
        pthread_sigmask(SIG_UNBLOCK, &set, NULL);
        return -1;
    }
    pthread_attr_destroy(&attr);
    ready = 1;
    return 0;
}

unsigned intr_count(void) { return atomic_load(&count); }
int intr_since(unsigned mark) { return atomic_load(&count) != mark; }
int intr_fd(void) { return pipe_fd[0]; }

void intr_drain(void)
{
    char buf[64];
    if (pipe_fd[0] >= 0)
        while (read(pipe_fd[0], buf, sizeof buf) > 0)
            ;
}

int intr_sleep_until(uint64_t deadline_ns, unsigned mark)
{
    struct timespec ts;
    ts.tv_sec = (time_t)(deadline_ns / 1000000000u);
    ts.tv_nsec = (long)(deadline_ns % 1000000000u);
    pthread_mutex_lock(&lock);
    if (!ready) {                      /* no watcher: a plain sleep */
        pthread_mutex_unlock(&lock);
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
            ;
        return 0;
    }
    while (!intr_since(mark)) {
        int rc = pthread_cond_timedwait(&cond, &lock, &ts);
        if (rc == ETIMEDOUT)
            break;
    }
    pthread_mutex_unlock(&lock);
    return intr_since(mark);
}
