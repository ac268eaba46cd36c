/* archimedes_vjp.c — the archimedes.vjp documentation example (seed 000) in nabla.
 *
 * The seed, in Python:
 *     def f(x): return np.array([x[0]**2, x[0]*x[1], np.exp(x[1])])
 *     f_vjp = arc.vjp(f)
 *     f_vjp([2.0, 1.0], w=[1.0, 0.5, 2.0])        ->  [4.5  6.43656366]
 *     w @ arc.jac(f)(x)                            ->  the same (allclose: True)
 *     arc.vjp(sum(x**2))(x, 1.0) == arc.grad(...)  ->  True, for 1000 random x
 *
 * In nabla, nb_vjp(f) is a new function: inputs (x, w), outputs (f(x), wᵀ·J(x)).
 * The "static argument" of the seed (a value fixed when the function is built)
 * is the user pointer of nb_trace: here the exponent p of sum(x**p).
 *
 * Build and run: `make demo`, or build/archimedes_vjp after `make build`.
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SHOW_RTOL 1e-7
#define SHOW_ATOL 1e-12
#include "example.h"

#define NX 1000 /* size of the high-dimensional input */










/* ---- the functions --------------------------------------------------------- */

/* f(x) = [x0^2, x0*x1, exp(x1)] for x of shape [2]. Operations accept NULL
 * operands and pass the failure on, so the chain is checked once, at nb_fn_new. */
static nb_fn *build_f(void) {
  nb_graph *g = nb_graph_new();
  if (!g) return NULL;
  const int64_t shape[1] = {2};
  nb_expr *x = nb_input(g, "x", NB_F64, 1, shape);
  nb_expr *x0 = nb_index(x, 0, 0), *x1 = nb_index(x, 0, 1);
  nb_expr *parts[3] = {nb_pows(x0, 2), nb_mul(x0, x1), nb_exp(x1)};
  nb_expr *y = nb_stack(3, parts, 0);
  nb_fn *f = nb_fn_new(g, 1, &x, 1, &y); /* copies what it needs */
  nb_graph_free(g);
  return f;
}

/* high_dim_input_func(x) = sum(x**p); p is a static argument (user pointer). */
static nb_status build_sum_pow(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g;
  double p = *(const double *)user;
  out[0] = nb_sum(nb_pows(in[0], p), 0, NULL, false); /* naxes 0: all axes */
  return out[0] ? NB_OK : nb_errcode();
}

int main(void) {
  int rc = 1;
  nb_fn *f = NULL, *h = NULL, *f_vjp = NULL, *f_jac = NULL, *h_grad = NULL, *h_vjp = NULL;
  static double xh[NX], gh[NX], vh[NX], want_gh[NX];

  printf("nabla %s — archimedes.vjp (seed 000)\n", nb_version());

  /* ---- primal values ---- */
  f = build_f();
  if (!f) return fail("building f");
  const double x[2] = {2.0, 1.0};
  double y[3];
  const void *f_in[1] = {x};
  void *f_out[1] = {y};
  if (nb_call(f, f_in, f_out) != NB_OK) {
    rc = fail("nb_call(f)");
    goto done;
  }
  const double want_y[3] = {4.0, 2.0, exp(1.0)};
  show("f([2, 1])", y, want_y, 3, "analytic");
  printf("f as nabla IR:\n");
  if (nb_fn_print(f, stdout) != NB_OK) {
    rc = fail("nb_fn_print");
    goto done;
  }

  double p = 2.0;
  const nb_spec spec = {"x", NB_F64, 1, {NX}};
  h = nb_trace(build_sum_pow, &p, 1, &spec, 1);
  if (!h) {
    rc = fail("nb_trace(sum(x**2))");
    goto done;
  }
  for (int i = 0; i < NX; i++) xh[i] = normal();
  double hx, want_hx = 0;
  for (int i = 0; i < NX; i++) want_hx += xh[i] * xh[i];
  const void *h_in[1] = {xh};
  void *h_out[1] = {&hx};
  if (nb_call(h, h_in, h_out) != NB_OK) {
    rc = fail("nb_call(h)");
    goto done;
  }
  show("sum(x**2), 1000 randn", &hx, &want_hx, 1, "analytic");

  /* ---- derivatives ---- */
  nb_errclear();
  f_vjp = nb_vjp(f, NULL); /* inputs (x, w), outputs (f(x), wᵀ·J(x)) */
  if (!f_vjp) {
    rc = fail("nb_vjp(f)");
    goto done;
  }
  const int64_t vjp_in[2] = {2, 3}, vjp_out[2] = {3, 2};
  if (!check_signature(f_vjp, "nb_vjp(f)", NB_F64, 2, vjp_in, 2, vjp_out)) goto done;
  const double w[3] = {1.0, 0.5, 2.0};
  double y2[3], auto_vjp[2];
  const void *vjp_args[2] = {x, w};
  void *vjp_res[2] = {y2, auto_vjp};
  if (nb_call(f_vjp, vjp_args, vjp_res) != NB_OK) {
    rc = fail("nb_call(f_vjp)");
    goto done;
  }
  const double seed_vjp[2] = {4.5, 6.43656366};
  show("f_vjp(x, w)", auto_vjp, seed_vjp, 2, "seed");
  show("f(x) from f_vjp", y2, want_y, 3, "analytic");

  f_jac = nb_jacobian(f, NULL); /* arc.jac: J(x) of shape [3, 2] */
  if (!f_jac) {
    rc = fail("nb_jacobian(f)");
    goto done;
  }
  const int64_t jac_in[1] = {2}, jac_out[1] = {6};
  if (!check_signature(f_jac, "nb_jacobian(f)", NB_F64, 1, jac_in, 1, jac_out)) goto done;
  double J[3][2], manual_vjp[2] = {0, 0};
  void *jac_res[1] = {J};
  if (nb_call(f_jac, f_in, jac_res) != NB_OK) {
    rc = fail("nb_call(jac(f))");
    goto done;
  }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 2; j++) manual_vjp[j] += w[i] * J[i][j];
  show("w @ J(x)", manual_vjp, seed_vjp, 2, "seed");
  show_bool("np.allclose(auto_vjp, manual_vjp):", allclose(auto_vjp, manual_vjp, 2, 1e-5, 1e-8),
            "seed");

  h_grad = nb_grad(h, NULL);
  if (!h_grad) {
    rc = fail("nb_grad(h)");
    goto done;
  }
  h_vjp = nb_vjp(h, NULL); /* inputs (x, w) with w a scalar */
  if (!h_vjp) {
    rc = fail("nb_vjp(h)");
    goto done;
  }
  const int64_t g_in[1] = {NX}, g_out[1] = {NX}, hv_in[2] = {NX, 1}, hv_out[2] = {1, NX};
  if (!check_signature(h_grad, "nb_grad(h)", NB_F64, 1, g_in, 1, g_out) ||
      !check_signature(h_vjp, "nb_vjp(h)", NB_F64, 2, hv_in, 2, hv_out))
    goto done;
  const double one = 1.0;
  double hy;
  const void *hv_args[2] = {xh, &one};
  void *hg_res[1] = {gh}, *hv_res[2] = {&hy, vh};
  if (nb_call(h_grad, h_in, hg_res) != NB_OK || nb_call(h_vjp, hv_args, hv_res) != NB_OK) {
    rc = fail("nb_call(grad/vjp of h)");
    goto done;
  }
  for (int i = 0; i < NX; i++) want_gh[i] = 2 * xh[i];
  show("grad(h)(x)[0:3]", gh, want_gh, 3, "analytic 2x");
  show_bool("np.allclose(vjp_result, grad_result):", allclose(vh, gh, NX, 1e-5, 1e-8), "seed");
  show_bool("grad(h)(x) == 2x everywhere:", allclose(gh, want_gh, NX, 1e-10, 1e-12), "analytic");
  rc = 0;

done:
  nb_fn_free(h_vjp);
  nb_fn_free(h_grad);
  nb_fn_free(f_jac);
  nb_fn_free(f_vjp);
  nb_fn_free(h);
  nb_fn_free(f);
  if (rc == 0 && !all_ok) {
    fprintf(stderr, "error: some values differ from the expected ones\n");
    rc = 1;
  }
  return rc;
}
