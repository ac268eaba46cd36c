/* Helpers shared by several test suites: buffers in either dtype, building
 * and calling a function from a graph, and checking its outputs. */
#ifndef NB_TEST_FIXTURE_H
#define NB_TEST_FIXTURE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* a failed check with a formatted explanation */
#define FAILF(...)                                                                     \
  do {                                                                                 \
    th_failed_checks++;                                                                \
    fprintf(stderr, "  %s:%d: %s: ", __FILE__, __LINE__, th_current);                 \
    fprintf(stderr, __VA_ARGS__);                                                      \
    fputc('\n', stderr);                                                               \
  } while (0)

static inline const char *dtname(nb_dtype dt) { return dt == NB_F32 ? "f32" : "f64"; }
/* the value v as the dtype dt would hold it */
static inline double as_dt(nb_dtype dt, double v) { return dt == NB_F32 ? (double)(float)v : v; }
#define RD(dt, v) as_dt((dt), (v))
static inline void store(nb_dtype dt, void *buf, int64_t i, double v) {
  if (dt == NB_F32)
    ((float *)buf)[i] = (float)v;
  else
    ((double *)buf)[i] = v;
}
static inline double load(nb_dtype dt, const void *buf, int64_t i) {
  return dt == NB_F32 ? (double)((const float *)buf)[i] : ((const double *)buf)[i];
}

/* expected output: rank, shape and values (as doubles) */
typedef struct want {
  int            rank;
  int64_t        shape[NB_MAX_RANK];
  const double  *v;
} want;

int64_t  numel(int rank, const int64_t *shape);
want     W(int rank, const int64_t *shape, const double *v);
double   rtol_of(nb_dtype dt);
double   atol_of(nb_dtype dt);
nb_expr *inp(nb_graph *g, const char *name, nb_dtype dt, int rank, const int64_t *shape);
/* Checks outs[j] against w[j] (dtype dt, rank, shape), builds f = (ins -> outs), calls it
 * with xs (converted to dt) and compares every output value; got (optional) receives the
 * outputs as doubles. At most 16 inputs and outputs. */
void run_(int line, nb_graph *g, nb_dtype dt, int nin, nb_expr *const *ins,
          const double *const *xs, int nout, nb_expr *const *outs, const want *w, double rtol,
          double atol, double *const *got);
/* Builds ins -> out, frees g, calls it with vals (converted to each input's dtype) and
 * stores the output as doubles in res (capacity cap). Returns its size, or -1. */
int64_t fx_eval(nb_graph *g, int nin, nb_expr *const *ins, const double *const *vals,
                nb_expr *out, double *res, int64_t cap);
/* Calls f with double buffers whatever its dtypes. */
nb_status fx_call(nb_fn *f, const double *const *in, double *const *out);
bool      fx_made(nb_fn *t, const char *what);
bool      fx_run(nb_fn *t, const char *what, const double *const *in, double *const *out);

/* several outputs, default tolerance of dt */
#define RUN_FN(g, dt, nin, ins, xs, nout, outs, w)                                      \
  run_(__LINE__, (g), (dt), (nin), (ins), (xs), (nout), (outs), (w), rtol_of(dt), atol_of(dt), NULL)

/* one input, one output */
#define RUN1(g, dt, x, xv, y, rank, shape, v)                                           \
  do {                                                                                  \
    nb_expr     *r1_in_[1] = {(x)}, *r1_out_[1] = {(y)};                                \
    const double *r1_xs_[1] = {(xv)};                                                   \
    want          r1_w_[1];                                                             \
    r1_w_[0] = W((rank), (shape), (v));                                                 \
    run_(__LINE__, (g), (dt), 1, r1_in_, r1_xs_, 1, r1_out_, r1_w_, rtol_of(dt),        \
         atol_of(dt), NULL);                                                            \
  } while (0)

/* the call returned NULL and recorded (code, message prefix) */
#define CHECK_FAILS(expr, code, prefix)                                                 \
  do {                                                                                  \
    nb_errclear();                                                                      \
    nb_expr *cf_r_ = (expr);                                                            \
    CHECK(cf_r_ == NULL);                                                               \
    CHECK_ERR((code), (prefix));                                                        \
  } while (0)

/* runs the following block for f64, then f32 */
#define FOR_DTYPES(dt) for (nb_dtype dt = NB_F64; dt >= NB_F32; dt = (nb_dtype)(dt - 1))

#endif
