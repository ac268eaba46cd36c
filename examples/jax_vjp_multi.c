/* jax_vjp_multi.c — the jax.vjp documentation example (seed 003) in nabla.
 *
 * The seed, in Python:
 *     def f(x, y): return jax.numpy.sin(x), jax.numpy.cos(y)
 *     primals, f_vjp = jax.vjp(f, 0.5, 1.0)
 *     xbar, ybar = f_vjp((-0.7, 0.3))
 * It also describes has_aux (an auxiliary output that is passed through, not
 * differentiated) and says that grad() is a special case of vjp(). The seed's
 * printed xbar and ybar are missing, so the expected values are worked out by
 * hand: xbar = -0.7 cos(0.5), ybar = 0.3 * (-sin(1.0)).
 *
 * JAX computes in float32 by default; so does this example (NB_F32 scalars, rank 0).
 * nabla's vjp function takes the primals and the cotangents together:
 *     nb_vjp(f): (x, y, xt, yt) -> (sin x, cos y, xbar, ybar)
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SHOW_RTOL 1e-6
#define SHOW_ATOL 1e-7
#include "example.h"






/* f(x, y) = (sin x, cos y); with_aux adds a third output x + y (JAX's has_aux). */
static nb_fn *build_f(bool with_aux) {
  nb_graph *g = nb_graph_new();
  if (!g) return NULL;
  nb_expr *in[2] = {nb_input(g, "x", NB_F32, 0, NULL), nb_input(g, "y", NB_F32, 0, NULL)};
  nb_expr *out[3] = {nb_sin(in[0]), nb_cos(in[1]), nb_add(in[0], in[1])};
  nb_fn *f = nb_fn_new(g, 2, in, with_aux ? 3 : 2, out); /* NULL if anything failed */
  nb_graph_free(g);
  return f;
}

int main(void) {
  int rc = 1;
  nb_fn *f = NULL, *fa = NULL, *f_vjp = NULL, *fa_vjp = NULL, *f_grad = NULL;

  printf("nabla %s — jax.vjp (seed 003)\n", nb_version());

  /* ---- primal values ---- */
  f = build_f(false);
  fa = build_f(true);
  if (!f || !fa) {
    rc = fail("building f");
    goto done;
  }
  const float x = 0.5f, y = 1.0f;
  float primals[3];
  const void *args[2] = {&x, &y};
  void *res[3] = {&primals[0], &primals[1], &primals[2]};
  if (nb_call(f, args, res)) {
    rc = fail("nb_call(f)");
    goto done;
  }
  const double want_primals[3] = {sin(0.5), cos(1.0), 1.5};
  show32("primals = f(0.5, 1.0)", primals, want_primals, 2, "analytic");

  /* ---- derivatives ---- */
  nb_errclear();
  f_vjp = nb_vjp(f, NULL);
  if (!f_vjp) {
    rc = fail("nb_vjp(f)");
    goto done;
  }
  if (!check_signature(f_vjp, "nb_vjp(f)", NB_F32, 4, NULL, 4, NULL)) goto done;
  const float xt = -0.7f, yt = 0.3f;
  float outs[5];
  const void *vjp_args[4] = {&x, &y, &xt, &yt};
  void *vjp_res[4] = {&outs[0], &outs[1], &outs[2], &outs[3]};
  if (nb_call(f_vjp, vjp_args, vjp_res)) {
    rc = fail("nb_call(f_vjp)");
    goto done;
  }
  const double want_bars[2] = {-0.7 * cos(0.5), 0.3 * -sin(1.0)};
  show32("xbar, ybar = f_vjp(-0.7, 0.3)", &outs[2], want_bars, 2, "analytic");
  show32("primals from f_vjp", outs, want_primals, 2, "analytic");

  /* has_aux: the last output (x + y) is passed through, not differentiated */
  const nb_diff_opts aux = {0, NULL, 1};
  fa_vjp = nb_vjp(fa, &aux); /* (x, y, xt, yt) -> (sin x, cos y, x + y, xbar, ybar) */
  if (!fa_vjp) {
    rc = fail("nb_vjp(f, has_aux)");
    goto done;
  }
  if (!check_signature(fa_vjp, "nb_vjp(f, has_aux)", NB_F32, 4, NULL, 5, NULL)) goto done;
  void *aux_res[5] = {&outs[0], &outs[1], &outs[2], &outs[3], &outs[4]};
  if (nb_call(fa_vjp, vjp_args, aux_res)) {
    rc = fail("nb_call(f_vjp, has_aux)");
    goto done;
  }
  show32("has_aux: aux", &outs[2], &want_primals[2], 1, "analytic");
  show32("has_aux: xbar, ybar", &outs[3], want_bars, 2, "analytic");

  /* grad is a vjp with cotangent 1: differentiate sin x only (cos y is auxiliary) */
  f_grad = nb_grad(f, &aux); /* (x, y) -> (d sin(x)/dx, d sin(x)/dy) */
  if (!f_grad) {
    rc = fail("nb_grad(f)");
    goto done;
  }
  if (!check_signature(f_grad, "nb_grad(f)", NB_F32, 2, NULL, 2, NULL)) goto done;
  float grads[2];
  void *grad_res[2] = {&grads[0], &grads[1]};
  if (nb_call(f_grad, args, grad_res)) {
    rc = fail("nb_call(grad(f))");
    goto done;
  }
  const double want_grads[2] = {cos(0.5), 0.0};
  show32("grad of sin(x) wrt (x, y)", grads, want_grads, 2, "analytic");
  const float one = 1.0f, zero = 0.0f;
  const void *unit_args[4] = {&x, &y, &one, &zero};
  if (nb_call(f_vjp, unit_args, vjp_res)) {
    rc = fail("nb_call(f_vjp)");
    goto done;
  }
  show32("f_vjp(1, 0), the same", &outs[2], want_grads, 2, "analytic");
  rc = 0;

done:
  nb_fn_free(f_grad);
  nb_fn_free(fa_vjp);
  nb_fn_free(f_vjp);
  nb_fn_free(fa);
  nb_fn_free(f);
  if (rc == 0 && !all_ok) {
    fprintf(stderr, "error: some values differ from the expected ones\n");
    rc = 1;
  }
  return rc;
}
