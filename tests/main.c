/* The test runner: runs every suite and prints the summary line. */
#include <stdlib.h>

#include "harness.h"
#include "suites.h"

int         th_failed_checks;
const char *th_current;
static int  th_passed, th_failed;

void th_run(const char *name, void (*fn)(void)) {
  th_current = name;
  th_failed_checks = 0;
  nb_errclear();
  fn();
  if (th_failed_checks) {
    th_failed++;
    fprintf(stderr, "FAIL %s (%d checks)\n", name, th_failed_checks);
  } else {
    th_passed++;
  }
}

int th_near(double got, double want, double rtol, double atol) {
  if (isnan(want)) return isnan(got);
  if (isinf(want)) return got == want;
  return fabs(got - want) <= atol + rtol * fabs(want);
}

int main(int argc, char **argv) {
  const char *only = argc > 1 ? argv[1] : NULL;
  for (const th_suite *s = th_suites; s->name; s++) {
    if (only && strcmp(only, s->name)) continue;
    printf("suite %s\n", s->name);
    fflush(stdout);
    s->fn();
  }
  printf("%d passed, %d failed\n", th_passed, th_failed);
  return th_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
