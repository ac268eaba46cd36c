/* A small test harness: every test file defines a suite function that runs its
 * tests with RUN(); main.c runs the suites and prints "N passed, M failed". */
#ifndef NB_TEST_HARNESS_H
#define NB_TEST_HARNESS_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nabla.h"

extern int         th_failed_checks; /* failed checks in the running test */
extern const char *th_current;       /* name of the running test */
void               th_run(const char *name, void (*fn)(void));
int                th_near(double got, double want, double rtol, double atol);

#define RUN(fn) th_run(#fn, fn)

#define CHECK(cond)                                                                    \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      th_failed_checks++;                                                              \
      fprintf(stderr, "  %s:%d: %s: CHECK(%s) failed\n", __FILE__, __LINE__,          \
              th_current, #cond);                                                      \
    }                                                                                  \
  } while (0)

/* |got - want| <= atol + rtol * |want|; NaN matches NaN, inf matches same inf */
#define CHECK_NEAR(got, want, rtol, atol)                                              \
  do {                                                                                 \
    double th_g_ = (got), th_w_ = (want);                                              \
    if (!th_near(th_g_, th_w_, (rtol), (atol))) {                                      \
      th_failed_checks++;                                                              \
      fprintf(stderr, "  %s:%d: %s: %s = %.17g, want %.17g\n", __FILE__, __LINE__,    \
              th_current, #got, th_g_, th_w_);                                         \
    }                                                                                  \
  } while (0)

/* the last failure on this thread has this code and its message starts with prefix */
#define CHECK_ERR(code, prefix)                                                        \
  do {                                                                                 \
    if (nb_errcode() != (code) || strncmp(nb_errmsg(), (prefix), strlen(prefix))) {   \
      th_failed_checks++;                                                              \
      fprintf(stderr, "  %s:%d: %s: error is %s \"%s\", want %s \"%s...\"\n",         \
              __FILE__, __LINE__, th_current, nb_status_str(nb_errcode()),            \
              nb_errmsg(), nb_status_str(code), (prefix));                             \
    }                                                                                  \
  } while (0)

#endif
