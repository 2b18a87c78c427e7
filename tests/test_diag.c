/* SPDX-License-Identifier: MIT */
/*
 * test_diag.c - the misuse diagnostic channel (R30): hook, counter,
 * default message on stderr, strict mode (abort), and the four kinds of
 * misuse reported from their rules (R10, R14, R26, R29).
 */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "fixture.h"
#include "rule_test.h"
#include "alloc.h"

#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- a recording hook --------------------------------------------------- */

static int g_calls;
static void *g_ctx_seen;
static nmr_misuse_kind g_kind;
static char g_msg[1024];

static void rec_hook(void *context, nmr_misuse_kind kind, const char *message)
{
    g_calls++;
    g_ctx_seen = context;
    g_kind = kind;
    snprintf(g_msg, sizeof(g_msg), "%s", message ? message : "");
}

/* R30: the hook gets the kind, its context and a one-line message naming
 * the function; the counter moves by one per report; nmr_diag_set_hook
 * returns the previous hook and context. */
static void t_r30_hook(void)
{
    static int ctx1, ctx2;
    void *oldctx = (void *)1;
    nmr_misuse_hook_fn *old = nmr_diag_set_hook(rec_hook, &ctx1, &oldctx);
    CHECK(old == fx_diag_hook); /* installed by main */
    g_calls = 0;
    unsigned long long m0 = nmr_diag_misuse_count();
    NmrClientDetachProviderComplete(NULL);
    CHECK_EQ(g_calls, 1);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
    CHECK(g_ctx_seen == &ctx1);
    CHECK_EQ(g_kind, NMR_MISUSE_BAD_HANDLE);
    CHECK(strlen(g_msg) > 0);
    CHECK(strchr(g_msg, '\n') == NULL);
    CHECK(strstr(g_msg, "NmrClientDetachProviderComplete") != NULL);

    NmrProviderDetachClientComplete((HANDLE)(uintptr_t)0x4242);
    CHECK_EQ(g_calls, 2);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 2);
    CHECK_EQ(g_kind, NMR_MISUSE_BAD_HANDLE);
    CHECK(strstr(g_msg, "NmrProviderDetachClientComplete") != NULL);

    /* replace: previous hook and context come back */
    void *got = NULL;
    nmr_misuse_hook_fn *prev = nmr_diag_set_hook(rec_hook, &ctx2, &got);
    CHECK(prev == rec_hook);
    CHECK(got == &ctx1);
    NmrProviderDetachClientComplete(NULL);
    CHECK(g_ctx_seen == &ctx2);
    CHECK_EQ(g_calls, 3);
    /* restore the fixture's hook */
    prev = nmr_diag_set_hook(old, oldctx, NULL);
    CHECK(prev == rec_hook);
    unsigned long long f0 = fx_misuse_total();
    NmrProviderDetachClientComplete(NULL);
    CHECK_EQ(g_calls, 3);
    CHECK_EQ(fx_misuse_total() - f0, 1);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 4);
}

/* Run fn with stderr redirected to a temporary file; returns its text. */
static char g_captured[4096];
static const char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/nmr_test_diag_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stderr);
    int saved = dup(2);
    CHECK(saved >= 0);
    CHECK(dup2(fd, 2) == 2);
    fn();
    fflush(stderr);
    CHECK(dup2(saved, 2) == 2);
    close(saved);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    ssize_t n = read(fd, g_captured, sizeof(g_captured) - 1);
    CHECK(n >= 0);
    g_captured[n] = 0;
    close(fd);
    unlink(path);
    return g_captured;
}

static void misuse_once(void)
{
    NmrClientDetachProviderComplete((HANDLE)(uintptr_t)0x777);
}

/* R30: with no hook (the default), the report goes to standard error and
 * the counter moves. */
static void t_r30_default_stderr(void)
{
    void *oldctx = NULL;
    nmr_misuse_hook_fn *old = nmr_diag_set_hook(NULL, NULL, &oldctx);
    unsigned long long m0 = nmr_diag_misuse_count();
    const char *out = capture_stderr(misuse_once);
    nmr_diag_set_hook(old, oldctx, NULL);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
    CHECK(strstr(out, "NmrClientDetachProviderComplete") != NULL);
    CHECK(out[strlen(out) - 1] == '\n');

    /* with a hook: nothing on stderr */
    out = capture_stderr(misuse_once);
    CHECK_EQ(strlen(out), 0);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 2);
}

/* A hook may call back into libnmr (no lock held): it registers and
 * deregisters a client and reads the counter. */
static int g_nested_ok;
static void nesting_hook(void *context, nmr_misuse_kind kind,
                         const char *message)
{
    (void)context; (void)kind; (void)message;
    static int depth;
    if (depth > 0)
        return; /* the nested report below comes back here */
    depth++;
    GUID npi = fx_guid(0x7005);
    fx_module *c = fx_client(&npi);
    if (fx_register(c) == STATUS_SUCCESS && fx_deregister(c) == STATUS_PENDING &&
        fx_wait(c) == STATUS_SUCCESS && nmr_diag_misuse_count() > 0)
        g_nested_ok++;
    /* a nested report from inside the hook */
    NmrProviderDetachClientComplete(NULL);
    depth--;
}

static void t_r30_hook_may_call_nmr(void)
{
    void *oldctx = NULL;
    nmr_misuse_hook_fn *old = nmr_diag_set_hook(nesting_hook, NULL, &oldctx);
    g_nested_ok = 0;
    unsigned long long m0 = nmr_diag_misuse_count();
    NmrClientDetachProviderComplete(NULL);
    nmr_diag_set_hook(old, oldctx, NULL);
    CHECK(g_nested_ok >= 1);
    CHECK(nmr_diag_misuse_count() - m0 >= 2);
    finish();
}

/* ---- strict mode ------------------------------------------------------- */

static void child_bad_handle(void) { NmrClientDetachProviderComplete(NULL); }

static void child_bad_detach_status(void)
{
    GUID npi = fx_guid(0x7010);
    fx_module *c = fx_client(&npi);
    fx_module *p = fx_provider(&npi);
    c->detach_mode = FX_DET_OTHER;
    c->detach_status = STATUS_NOINTERFACE;
    if (fx_register(p) != STATUS_SUCCESS || fx_register(c) != STATUS_SUCCESS)
        _exit(3);
    fx_deregister(c);
}

/* Fork; in the child: set up strict mode as asked, make one misuse, and
 * _exit(0) if still alive.  Returns the child's wait status; the child's
 * stderr goes to g_captured. */
static int run_child(int how, void (*misuse)(void))
{
    char path[] = "/tmp/nmr_test_strict_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(fd, 2);
        if (how == 0) {
            nmr_diag_set_strict(1);
        } else if (how == 1) {
            /* strict even with a hook installed */
            nmr_diag_set_hook(rec_hook, NULL, NULL);
            nmr_diag_set_strict(1);
        } else {
            /* follow the environment */
            setenv("NMR_STRICT", "1", 1);
            nmr_diag_set_strict(-1);
        }
        misuse();
        _exit(0);
    }
    int status = 0;
    CHECK(waitpid(pid, &status, 0) == pid);
    CHECK(lseek(fd, 0, SEEK_SET) == 0);
    ssize_t n = read(fd, g_captured, sizeof(g_captured) - 1);
    CHECK(n >= 0);
    g_captured[n] = 0;
    close(fd);
    unlink(path);
    return status;
}

/* R30: strict mode turns misuse into an abort (SIGABRT) with the message
 * on stderr: set by nmr_diag_set_strict(1), with or without a hook, and
 * by NMR_STRICT=1 with nmr_diag_set_strict(-1). */
static void t_r30_strict_abort(void)
{
    for (int how = 0; how < 3; how++) {
        int st = run_child(how, child_bad_handle);
        if (!WIFSIGNALED(st))
            fprintf(stderr, "how=%d: child exited %d\n", how,
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        CHECK(WIFSIGNALED(st));
        CHECK_EQ(WTERMSIG(st), SIGABRT);
        CHECK(strstr(g_captured, "NmrClientDetachProviderComplete") != NULL);
    }
    int st = run_child(0, child_bad_detach_status);
    CHECK(WIFSIGNALED(st));
    CHECK_EQ(WTERMSIG(st), SIGABRT);
    /* the parent is not strict (NMR_STRICT=0 from ctest; set_strict(0)) */
    unsigned long long m0 = nmr_diag_misuse_count();
    NmrClientDetachProviderComplete(NULL);
    CHECK_EQ(nmr_diag_misuse_count() - m0, 1);
}

/* R30: nmr_diag_set_strict returns the previous setting. */
static void t_r30_strict_setting(void)
{
    int prev = nmr_diag_set_strict(0);
    CHECK_EQ(prev, 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        int a = nmr_diag_set_strict(1);
        int b = nmr_diag_set_strict(0);
        int c = nmr_diag_set_strict(0);
        _exit((a == 0 && b == 1 && c == 0) ? 0 : 1);
    }
    int st = 0;
    CHECK(waitpid(pid, &st, 0) == pid);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* ---- the four kinds ----------------------------------------------------- */

/* R30 with R10, R14, R26, R29: each kind of misuse is reported with its
 * kind, once. */
static void t_r30_kinds(void)
{
    GUID npi = fx_guid(0x7020);
    unsigned long long k[5];
    for (int i = 1; i <= 4; i++)
        k[i] = fx_misuse((nmr_misuse_kind)i);

    /* R10: SUCCESS without attach */
    fx_module *p = fx_provider(&npi);
    fx_module *c1 = fx_client(&npi);
    c1->attach_mode = FX_SUCCESS_NO_ATTACH;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c1), STATUS_SUCCESS);
    CHECK_EQ(fx_misuse(NMR_MISUSE_ATTACH_WITHOUT_PROVIDER) - k[4], 1);

    /* R14: a bad detach status */
    fx_module *c2 = fx_client(&npi);
    c2->detach_mode = FX_DET_OTHER;
    c2->detach_status = (NTSTATUS)0xC0000001L;
    CHECK_STATUS(fx_register(c2), STATUS_SUCCESS);
    HANDLE b2 = c2->sides->binding;
    /* R29: complete before any detach */
    NmrClientDetachProviderComplete(b2);
    CHECK_EQ(fx_misuse(NMR_MISUSE_NOT_PENDING) - k[2], 1);
    dereg_wait(c2);
    CHECK_EQ(fx_misuse(NMR_MISUSE_BAD_DETACH_STATUS) - k[3], 1);
    /* R26: the binding is dead now */
    NmrProviderDetachClientComplete(b2);
    CHECK_EQ(fx_misuse(NMR_MISUSE_BAD_HANDLE) - k[1], 1);
    dereg_wait(c1);
    dereg_wait(p);
    CHECK_EQ(fx_misuse(NMR_MISUSE_ATTACH_WITHOUT_PROVIDER) - k[4], 1);
    CHECK_EQ(fx_misuse(NMR_MISUSE_NOT_PENDING) - k[2], 1);
    CHECK_EQ(fx_misuse(NMR_MISUSE_BAD_DETACH_STATUS) - k[3], 1);
    CHECK_EQ(fx_misuse(NMR_MISUSE_BAD_HANDLE) - k[1], 1);
    finish();
}

/* R30: correct use reports nothing. */
static void t_r30_quiet_when_correct(void)
{
    GUID npi = fx_guid(0x7030);
    unsigned long long m0 = nmr_diag_misuse_count();
    fx_module *p = fx_provider(&npi);
    fx_module *c = fx_client(&npi);
    p->detach_mode = FX_DET_PENDING;
    c->detach_mode = FX_DET_COMPLETE_INSIDE;
    CHECK_STATUS(fx_register(p), STATUS_SUCCESS);
    CHECK_STATUS(fx_register(c), STATUS_SUCCESS);
    CHECK_STATUS(fx_deregister(c), STATUS_PENDING);
    CHECK_EQ(fx_complete_pending(p), 1);
    CHECK_STATUS(fx_wait(c), STATUS_SUCCESS);
    dereg_wait(p);
    CHECK_EQ(nmr_diag_misuse_count(), m0);
    finish();
}

/* ---- the case table (tests/lib/runner.h): each case runs in its own
 * process, between the setup and the teardown. ---- */

static const nmr_test_case cases[] = {
    CASE(t_r30_hook, "R30"),
    CASE(t_r30_default_stderr, "R30"),
    CASE(t_r30_hook_may_call_nmr, "R30"),
    CASE(t_r30_strict_abort, "R30"),
    CASE(t_r30_strict_setting, "R30"),
    CASE(t_r30_kinds, "R10 R14 R26 R29 R30"),
    CASE(t_r30_quiet_when_correct, "R30"),
};

NMR_TEST_SUITE(test_diag, cases, rt_setup, rt_teardown, NULL);
