/* consumer.c — a program written only against the public API (API.md).
 * tests/install/check.sh builds it against an installed nabla, once with
 * pkg-config and once through find_package(nabla), and runs it. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <nabla.h>

static int failures = 0;

static void expect(int ok, const char *what) {
  if (!ok) {
    fprintf(stderr, "consumer: FAILED: %s (last error: %s)\n", what, nb_errmsg());
    failures++;
  }
}

int main(void) {
  /* y[i] = sum_j sin(x[i][j]) * x[i][j] for x of shape [2, 3] */
  nb_graph *g = nb_graph_new();
  expect(g != NULL, "nb_graph_new");
  if (!g) return 1;
  const int64_t shape[2] = {2, 3};
  const int axes[1] = {1};
  nb_expr *x = nb_input(g, "x", NB_F64, 2, shape);
  nb_expr *y = nb_sum(nb_mul(nb_sin(x), x), 1, axes, false);
  nb_fn *f = nb_fn_new(g, 1, &x, 1, &y);

  /* a failing operation: NULL, NB_ERR_SHAPE and a message naming the shapes */
  const int64_t s32[2] = {3, 2}, s4[1] = {4};
  nb_expr *bad = nb_add(nb_full(g, NB_F64, 2, s32, 1.0), nb_full(g, NB_F64, 1, s4, 2.0));
  expect(bad == NULL, "nb_add of [3,2] and [4] fails");
  expect(nb_errcode() == NB_ERR_SHAPE, "the error code is NB_ERR_SHAPE");
  expect(strncmp(nb_errmsg(), "nb_add: cannot broadcast", 24) == 0, "the message names nb_add");
  nb_graph_free(g); /* f keeps its own copy */

  expect(f != NULL, "nb_fn_new");
  if (f) {
    expect(nb_fn_nin(f) == 1 && nb_fn_nout(f) == 1, "signature counts");
    expect(nb_fn_out_dtype(f, 0) == NB_F64 && nb_fn_out_rank(f, 0) == 1 &&
               nb_fn_out_size(f, 0) == 2,
           "output signature [2] f64");
    const double in[6] = {0.1, 0.2, 0.3, -1.0, 2.0, 3.5};
    double out[2] = {0, 0};
    const void *ins[1] = {in};
    void *outs[1] = {out};
    expect(nb_call(f, ins, outs) == NB_OK, "nb_call");
    for (int i = 0; i < 2; i++) {
      double want = 0;
      for (int j = 0; j < 3; j++) want += sin(in[3 * i + j]) * in[3 * i + j];
      expect(fabs(out[i] - want) <= 1e-12 * (1 + fabs(want)), "nb_call result");
    }

    /* differentiation: either a gradient function or a clear "not available" */
    nb_fn *sum_f = NULL, *grad = NULL;
    nb_graph *g2 = nb_graph_new();
    const int64_t s3[1] = {3};
    nb_expr *v = nb_input(g2, "v", NB_F64, 1, s3);
    nb_expr *l = nb_sum(nb_square(v), 0, NULL, false);
    sum_f = nb_fn_new(g2, 1, &v, 1, &l);
    nb_graph_free(g2);
    expect(sum_f != NULL, "nb_fn_new(sum of squares)");
    grad = nb_grad(sum_f, NULL);
    if (grad) {
      const double vin[3] = {1.0, -2.0, 0.5};
      double gout[3];
      const void *gi[1] = {vin};
      void *go[1] = {gout};
      expect(nb_call(grad, gi, go) == NB_OK, "nb_call(grad)");
      for (int i = 0; i < 3; i++) expect(fabs(gout[i] - 2 * vin[i]) <= 1e-12, "grad value");
    } else {
      expect(nb_errmsg()[0] != '\0', "nb_grad failure has a message");
      printf("consumer: derivatives not available yet (%s)\n", nb_errmsg());
    }
    nb_fn_free(grad);
    nb_fn_free(sum_f);
  }
  nb_fn_free(f);

  expect(nb_version() != NULL && nb_version()[0] != '\0', "nb_version");
  expect(NB_VERSION_MAJOR >= 0 && NB_MAX_RANK == 8, "version and rank macros");
  expect(nb_status_str(NB_ERR_SHAPE) != NULL, "nb_status_str");
  if (failures) return 1;
  printf("consumer: ok (nabla %s)\n", nb_version());
  return 0;
}
