/* check.h: the CHECK macro of the C tests. A failed check prints where and why on stderr and
 * counts, and the test goes on, so one run reports every failure; main() prints the counts and
 * fails when `failures` is not 0. Each test program includes it once (the counters are its own). */
#pragma once

#include <stdio.h>

static int checks, failures;

#define CHECK(cond, ...)                                                    \
    do {                                                                    \
        checks++;                                                           \
        if (!(cond)) {                                                      \
            failures++;                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)
