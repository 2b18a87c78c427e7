/* SPDX-License-Identifier: MIT */
/*
 * echo_demo.c - the life of two NPI modules, step by step: a provider and
 * a client of the "echo" NPI bind, talk, and unbind, once while a call is
 * still running on another thread.  Each line says who speaks: [provider]
 * and [client] are the modules (echo_provider.c, echo_client.c), [app] is
 * the client's user, [main] and [thread B] are this program.
 *
 * Exits 0 when every NMR call returned what the contract says it must.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "echo_modules.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int failures;

static void expect(const char *what, NTSTATUS got, NTSTATUS want)
{
    if (got != want) {
        printf("!! %s returned %s (0x%08x), expected %s\n", what,
               nmr_status_name(got), (unsigned)got, nmr_status_name(want));
        failures++;
    }
}

static void step(const char *title)
{
    static int n;

    printf("\n== %d. %s\n", ++n, title);
}

/* The application above the client.  For the message "slow" it holds the
 * call open (inside the provider's Echo) until main opens the gate. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool in_call, waiter_started, open;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0 };

static void gate_set(bool *flag)
{
    pthread_mutex_lock(&gate.lock);
    *flag = true;
    pthread_cond_broadcast(&gate.cond);
    pthread_mutex_unlock(&gate.lock);
}

static void gate_wait(const bool *flag)
{
    pthread_mutex_lock(&gate.lock);
    while (!*flag)
        pthread_cond_wait(&gate.cond, &gate.lock);
    pthread_mutex_unlock(&gate.lock);
}

static void app_on_reply(const char *reply)
{
    printf("[app] reply \"%s\"\n", reply);
    if (strcmp(reply, "slow") == 0) {
        printf("[app] (thread B) holding the call open\n");
        gate_set(&gate.in_call);
        gate_wait(&gate.open);
    }
}

static void send_and_show(const char *who, const char *msg, NTSTATUS want)
{
    char out[64] = "";
    NTSTATUS st;

    printf("[%s] echo_client_send(\"%s\")\n", who, msg);
    st = echo_client_send(msg, out, sizeof out);
    if (st == STATUS_SUCCESS)
        printf("[%s] -> STATUS_SUCCESS, out = \"%s\"\n", who, out);
    else
        printf("[%s] -> %s (no provider bound)\n", who, nmr_status_name(st));
    expect("echo_client_send", st, want);
}

static char slow_out[64];
static NTSTATUS slow_status;

static void *thread_b(void *arg)
{
    (void)arg;
    printf("[thread B] echo_client_send(\"slow\")\n");
    slow_status = echo_client_send("slow", slow_out, sizeof slow_out);
    return NULL;
}

static NTSTATUS waiter_status;

static void *waiter(void *arg)
{
    (void)arg;
    printf("[thread W] waiting for the provider's deregistration\n");
    gate_set(&gate.waiter_started);
    waiter_status = echo_provider_wait();
    return NULL;
}

int main(void)
{
    pthread_t b, w;
    struct timespec pause = { 0, 50 * 1000 * 1000 };

    setvbuf(stdout, NULL, _IOLBF, 0);

    step("load the provider: no client yet, nothing to bind");
    expect("NmrRegisterProvider", echo_provider_load(), STATUS_SUCCESS);

    step("load the client: the NMR offers it the provider, they bind");
    expect("NmrRegisterClient", echo_client_load(app_on_reply), STATUS_SUCCESS);

    step("call through the binding");
    send_and_show("main", "hello", STATUS_SUCCESS);

    step("thread B starts a call that stays in flight");
    pthread_create(&b, NULL, thread_b, NULL);
    gate_wait(&gate.in_call);

    step("unload the provider while thread B's call is in flight");
    expect("NmrDeregisterProvider", echo_provider_stop(), STATUS_PENDING);
    send_and_show("main", "too late", STATUS_NOINTERFACE);

    step("wait for the provider on thread W, then let thread B's call return");
    pthread_create(&w, NULL, waiter, NULL);
    gate_wait(&gate.waiter_started);
    nanosleep(&pause, NULL);        /* let W block in the wait (cosmetic) */
    printf("[main] releasing thread B's call\n");
    gate_set(&gate.open);
    pthread_join(w, NULL);
    pthread_join(b, NULL);
    printf("[main] thread B's call returned %s, out = \"%s\"\n",
           nmr_status_name(slow_status), slow_out);
    expect("echo_client_send(slow)", slow_status, STATUS_SUCCESS);
    expect("NmrWaitForProviderDeregisterComplete", waiter_status,
           STATUS_SUCCESS);

    step("load the provider again: the client, still registered, binds again");
    expect("NmrRegisterProvider", echo_provider_load(), STATUS_SUCCESS);
    send_and_show("main", "hello again", STATUS_SUCCESS);

    step("unload the client: nothing in flight, detach completes at once");
    expect("NmrDeregisterClient", echo_client_stop(), STATUS_PENDING);
    expect("NmrWaitForClientDeregisterComplete", echo_client_wait(),
           STATUS_SUCCESS);

    step("unload the provider: no client left");
    expect("NmrDeregisterProvider", echo_provider_stop(), STATUS_PENDING);
    expect("NmrWaitForProviderDeregisterComplete", echo_provider_wait(),
           STATUS_SUCCESS);

    printf("\n%s\n",
           failures ? "demo FAILED" : "demo done: every module unloaded");
    return failures ? 1 : 0;
}
