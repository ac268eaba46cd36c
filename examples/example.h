/* Helpers the examples share: reporting values beside the expected ones,
 * guarding buffers with a function's signature, and a deterministic random
 * stream. An example may define SHOW_RTOL / SHOW_ATOL before including this. */
#ifndef NB_EXAMPLE_H
#define NB_EXAMPLE_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nabla.h"

#ifndef SHOW_RTOL
#define SHOW_RTOL 1e-7
#endif
#ifndef SHOW_ATOL
#define SHOW_ATOL 1e-12
#endif

static bool all_ok = true; /* false once a value differs from the expected one */

/* A nabla call failed: print why (nb_errmsg) and make the example fail. */
static inline int fail(const char *what) {
  fprintf(stderr, "error: %s failed: %s\n", what, nb_errmsg());
  return 1;
}

/* numpy.allclose: |got - want| <= atol + rtol * |want| everywhere */
static inline bool allclose(const double *got, const double *want, int64_t n, double rtol,
                            double atol) {
  for (int64_t i = 0; i < n; i++)
    if (!(fabs(got[i] - want[i]) <= atol + rtol * fabs(want[i]))) return false;
  return true;
}

static inline void print_vec(const double *v, int n) {
  printf("[");
  for (int i = 0; i < n; i++) printf(i ? " %.9g" : "%.9g", v[i]);
  printf("]");
}

/* "label = [got]   expected [want] (source)  ok", within SHOW_RTOL / SHOW_ATOL */
static inline void show(const char *label, const double *got, const double *want, int n,
                        const char *source) {
  bool ok = allclose(got, want, n, SHOW_RTOL, SHOW_ATOL);
  printf("%-28s = ", label);
  print_vec(got, n);
  printf("   expected ");
  print_vec(want, n);
  printf(" (%s)  %s\n", source, ok ? "ok" : "MISMATCH");
  all_ok = all_ok && ok;
}

/* the same for float results (at most 16 values) */
static inline void show32(const char *label, const float *got, const double *want, int n,
                          const char *source) {
  double g[16];
  for (int i = 0; i < n && i < 16; i++) g[i] = got[i];
  show(label, g, want, n < 16 ? n : 16, source);
}

/* "label True   (source: True)" */
static inline void show_bool(const char *label, bool got, const char *source) {
  printf("%s %s   (%s: True)\n", label, got ? "True" : "False", source);
  all_ok = all_ok && got;
}

/* Guards the buffers an example passes: f has nin inputs and nout outputs of
 * dtype dt with these element counts (NULL: one element each). */
static inline bool check_signature(const nb_fn *f, const char *what, nb_dtype dt, int nin,
                                   const int64_t *in_sizes, int nout, const int64_t *out_sizes) {
  bool ok = nb_fn_nin(f) == nin && nb_fn_nout(f) == nout;
  for (int i = 0; ok && i < nin; i++)
    ok = nb_fn_in_size(f, i) == (in_sizes ? in_sizes[i] : 1) && nb_fn_in_dtype(f, i) == dt;
  for (int j = 0; ok && j < nout; j++)
    ok = nb_fn_out_size(f, j) == (out_sizes ? out_sizes[j] : 1) && nb_fn_out_dtype(f, j) == dt;
  if (!ok) fprintf(stderr, "error: %s does not have the expected signature\n", what);
  return ok;
}

/* A deterministic stand-in for np.random / torch.rand: splitmix64, in (0, 1). */
static inline double uniform(void) {
  static uint64_t state = 42;
  uint64_t        z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return ((double)(z >> 11) + 0.5) * 0x1.0p-53;
}

/* ... and for randn: Box-Muller */
static inline double normal(void) {
  return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

#endif
