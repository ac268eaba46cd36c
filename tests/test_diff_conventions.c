#include "harness.h"
#include "suites.h"

void suite_diff_conventions(void) {}
