/* SPDX-License-Identifier: MIT */
/*
 * runner.h - the case table of a test program (tests/lib/runner.c runs it).
 *
 * A test program defines its cases, then names its table once:
 *
 *     static const nmr_test_case cases[] = {
 *         CASE(t_r14_pending_then_complete, "R14"),
 *         CASE(t_r15_complete_inside, "R15"),
 *         CASE(t_names, ""),            (no rule: the kind label only)
 *     };
 *     NMR_TEST_SUITE(test_detach, cases, setup, teardown, NULL);
 *
 * Keep one CASE(...) per line, its rule string a literal ("R14", or
 * "R14 R15" for several): tests/CMakeLists.txt reads these lines at
 * configure time and registers every case as its own ctest entry,
 * test_detach.t_r14_pending_then_complete-R14, labelled with the kind of
 * the program, "rule" and one label per rule.
 *
 * setup and teardown (either may be NULL) run in the child process of
 * every case, before and after it: a baseline such as the live-allocation
 * count is taken there, and the end-of-program checks of the old main()
 * run after every case.  args (may be NULL) handles a program-specific
 * command line, e.g. test_dump DIR, run in-process.
 */
#ifndef NMR_TEST_RUNNER_H
#define NMR_TEST_RUNNER_H

#include <stddef.h>

typedef struct nmr_test_case {
    const char *name;
    void (*fn)(void);
    const char *rules; /* "R14", "R14 R15" or "" */
} nmr_test_case;

typedef struct nmr_test_suite {
    const char *file;
    const nmr_test_case *cases;
    size_t ncases;
    void (*setup)(void);
    void (*teardown)(void);
    /* argv[1] is neither an option nor a case: the program's own mode
     * (NULL: a usage error).  Returns the exit status. */
    int (*args)(int argc, char **argv);
} nmr_test_suite;

#define CASE(fn, rules) {#fn, fn, rules}

#define NMR_TEST_SUITE(file, cases, setup, teardown, args)                 \
    const nmr_test_suite nmr_test_suite_ = {                               \
        #file, cases, sizeof(cases) / sizeof((cases)[0]), setup, teardown, \
        args}

/* The table of the program (defined by NMR_TEST_SUITE). */
extern const nmr_test_suite nmr_test_suite_;

/* The case running in this process ("" in the runner itself), and its
 * rules: what a failed check prints. */
extern const char *nmr_test_current;
extern const char *nmr_test_current_rules;

/* Run the setup, the case and the teardown in this process (no fork); for
 * an args hook that needs the cases' side effects.  Returns on success. */
void nmr_test_run_inline(const nmr_test_case *c);

/* "[test_detach.t_r14_x R14]" for failure messages (static buffer). */
const char *nmr_test_where(void);

#endif
