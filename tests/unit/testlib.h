/* Minimal test harness: checks count failures instead of aborting, so one run reports them all. */
#ifndef SERVPROF_TESTLIB_H
#define SERVPROF_TESTLIB_H

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "servprof/analyze.h"
#include "servprof/events.h"

extern _Atomic int sp_test_failures;
extern _Atomic int sp_test_checks;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        sp_test_checks++;                                                               \
        if (!(cond)) {                                                                  \
            sp_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);    \
        }                                                                               \
    } while (0)

#define CHECK_EQ_U64(a, b)                                                              \
    do {                                                                                \
        uint64_t a_ = (uint64_t)(a), b_ = (uint64_t)(b);                                \
        sp_test_checks++;                                                               \
        if (a_ != b_) {                                                                 \
            sp_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: %s == %" PRIu64 ", expected %s == %" PRIu64 "\n",   \
                    __FILE__, __LINE__, #a, a_, #b, b_);                                \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                           \
    do {                                                                                \
        double a_ = (double)(a), b_ = (double)(b);                                      \
        sp_test_checks++;                                                               \
        if (!(fabs(a_ - b_) <= (tol))) {                                                \
            sp_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: %s == %.9g, expected %.9g (tol %g)\n", __FILE__,    \
                    __LINE__, #a, a_, b_, (double)(tol));                               \
        }                                                                               \
    } while (0)

/* CHECK with a printf-style message saying what was seen instead of the condition's text. */
#define CHECK_MSG(cond, ...)                                                            \
    do {                                                                                \
        sp_test_checks++;                                                               \
        if (!(cond)) {                                                                  \
            sp_test_failures++;                                                         \
            fprintf(stderr, "%s:%d: check failed: ", __FILE__, __LINE__);              \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
        }                                                                               \
    } while (0)

/* Prints "N passed, N failed" and returns the exit status. */
int sp_test_done(const char *name);

/* Loads JSONL text into a new event set; aborts the test (exit 1) if it fails. */
sp_events *sp_test_load_jsonl(const char *text);
/* Loads and analyses; aborts on failure. */
sp_report *sp_test_analyze_jsonl(const char *text, sp_events **ev_out);

#endif
