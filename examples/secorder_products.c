/* secorder_products.c — the torch_secorder GVP module (seed 002) in nabla.
 *
 * The seed's running example is
 *     def func(): return torch.stack([x[0] ** 2, 3 * x[1] ** 2])
 *     x = [1.0, 2.0],  v = [0.5, -1.0],  vs = [[1, 0], [0, 1]]
 * with jvp, vjp, batch_jvp, batch_vjp and full_jacobian, plus model_jvp and
 * model_vjp of an nn.Linear(10, 1) with respect to its parameters, and
 * create_graph=True for higher-order products. The seed prints no values, so the
 * expected values here are worked out by hand: J(x) = [[2*x0, 0], [0, 6*x1]].
 *
 * nabla equivalents:
 *   jvp / vjp            nb_jvp / nb_vjp
 *   batch_jvp/batch_vjp  nb_batch_jvp_sized / nb_batch_vjp_sized (tangents with a leading
 *                        batch axis; nabla shapes are static, so the batch size is given)
 *   full_jacobian        nb_jacrev (or nb_jacfwd, nb_jacobian)
 *   model_jvp/model_vjp  nb_jvp / nb_vjp with wrt naming the parameter inputs (W, b)
 *   create_graph         transformations compose: nb_jvp(nb_vjp(f)), nb_hvp, nb_hessian
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SHOW_RTOL 1e-9
#define SHOW_ATOL 1e-12
#include "example.h"








/* ---- the functions --------------------------------------------------------- */

/* func(x) = stack([x0**2, 3*x1**2]); with sum_all, the scalar sum(func(x)). */
static nb_fn *build_func(bool sum_all) {
  nb_graph *g = nb_graph_new();
  if (!g) return NULL;
  const int64_t shape[1] = {2};
  nb_expr *x = nb_input(g, "x", NB_F64, 1, shape);
  nb_expr *parts[2] = {nb_pows(nb_index(x, 0, 0), 2), nb_muls(nb_pows(nb_index(x, 0, 1), 2), 3)};
  nb_expr *y = nb_stack(2, parts, 0);
  if (sum_all) y = nb_sum(y, 0, NULL, false);
  nb_fn *f = nb_fn_new(g, 1, &x, 1, &y); /* NULL if anything above failed */
  nb_graph_free(g);
  return f;
}

/* nn.Linear(10, 1) as a function of (x, W, b): x @ W^T + b, x (1, 10), W (1, 10), b (1) */
static nb_fn *build_linear(void) {
  nb_graph *g = nb_graph_new();
  if (!g) return NULL;
  const int64_t row[2] = {1, 10}, one[1] = {1};
  nb_expr *in[3] = {nb_input(g, "x", NB_F64, 2, row), nb_input(g, "weight", NB_F64, 2, row),
                    nb_input(g, "bias", NB_F64, 1, one)};
  nb_expr *y = nb_add(nb_matmul(in[0], nb_transpose(in[1], NULL)), in[2]);
  nb_fn *f = nb_fn_new(g, 3, in, 1, &y);
  nb_graph_free(g);
  return f;
}

int main(void) {
  int rc = 1;
  nb_fn *func = NULL, *loss = NULL, *model = NULL;
  nb_fn *jvp = NULL, *vjp = NULL, *bjvp = NULL, *bvjp = NULL, *jac = NULL;
  nb_fn *mjvp = NULL, *mvjp = NULL, *jvp_of_vjp = NULL, *hvp = NULL, *hess = NULL;

  printf("nabla %s — torch_secorder.core.gvp (seed 002)\n", nb_version());

  /* ---- primal values ---- */
  func = build_func(false);
  loss = build_func(true);
  model = build_linear();
  if (!func || !loss || !model) {
    rc = fail("building the functions");
    goto done;
  }
  const double x[2] = {1.0, 2.0}, v[2] = {0.5, -1.0}, vs[2][2] = {{1, 0}, {0, 1}};
  double y[2], l;
  const void *fx[1] = {x};
  void *fy[1] = {y}, *fl[1] = {&l};
  if (nb_call(func, fx, fy) || nb_call(loss, fx, fl)) {
    rc = fail("nb_call(func)");
    goto done;
  }
  const double want_y[2] = {1.0, 12.0}, want_l = 13.0;
  show("func() at x = [1, 2]", y, want_y, 2, "analytic");
  show("sum(func())", &l, &want_l, 1, "analytic");

  double mx[10], mW[10], mb[1], tW[10], tb[1], my[1], want_my[1];
  for (int i = 0; i < 10; i++) mx[i] = normal();
  for (int i = 0; i < 10; i++) mW[i] = normal() / sqrt(10.0);
  mb[0] = normal() / sqrt(10.0);
  for (int i = 0; i < 10; i++) tW[i] = normal();
  tb[0] = normal();
  want_my[0] = mb[0];
  for (int i = 0; i < 10; i++) want_my[0] += mx[i] * mW[i];
  const void *margs[3] = {mx, mW, mb};
  void *mres[1] = {my};
  if (nb_call(model, margs, mres)) {
    rc = fail("nb_call(model)");
    goto done;
  }
  show("model(x), nn.Linear(10, 1)", my, want_my, 1, "direct C");

  /* ---- derivatives ---- */
  nb_errclear();
  const double J[2][2] = {{2 * x[0], 0}, {0, 6 * x[1]}}; /* worked out by hand */
  const double want_jv[2] = {J[0][0] * v[0], J[1][1] * v[1]};
  const double want_vj[2] = {v[0] * J[0][0], v[1] * J[1][1]};
  double out_y[2], prod[2], batch[2][2], full[2][2];
  const int64_t s22[2] = {2, 2}, sb_in[2] = {2, 4}, sb_out[2] = {2, 4}, s1[1] = {2},
                s4[1] = {4};

  jvp = nb_jvp(func, NULL); /* (x, v) -> (func(x), J v) */
  if (!jvp) {
    rc = fail("nb_jvp");
    goto done;
  }
  if (!check_signature(jvp, "nb_jvp(func)", NB_F64, 2, s22, 2, s22)) goto done;
  const void *xv[2] = {x, v};
  void *yp[2] = {out_y, prod};
  if (nb_call(jvp, xv, yp)) {
    rc = fail("nb_call(jvp)");
    goto done;
  }
  show("jvp(func, [x], v)", prod, want_jv, 2, "analytic");

  vjp = nb_vjp(func, NULL); /* (x, v) -> (func(x), vᵀ J) */
  if (!vjp) {
    rc = fail("nb_vjp");
    goto done;
  }
  if (!check_signature(vjp, "nb_vjp(func)", NB_F64, 2, s22, 2, s22)) goto done;
  if (nb_call(vjp, xv, yp)) {
    rc = fail("nb_call(vjp)");
    goto done;
  }
  show("vjp(func, [x], v)", prod, want_vj, 2, "analytic");

  /* batch products: row b of the result is J vs[b] (jvp) or vs[b]ᵀ J (vjp); the batch
   * size (2 rows of vs) is part of the function's signature */
  const void *xvs[2] = {x, vs};
  void *yb[2] = {out_y, batch};
  bjvp = nb_batch_jvp_sized(func, 2, NULL);
  if (!bjvp) {
    rc = fail("nb_batch_jvp_sized");
    goto done;
  }
  if (!check_signature(bjvp, "nb_batch_jvp_sized(func, 2)", NB_F64, 2, sb_in, 2, sb_out)) goto done;
  if (nb_call(bjvp, xvs, yb)) {
    rc = fail("nb_call(batch_jvp)");
    goto done;
  }
  const double want_bjvp[4] = {J[0][0], J[1][0], J[0][1], J[1][1]}; /* rows J e_b */
  show("batch_jvp(func, [x], vs)", &batch[0][0], want_bjvp, 4, "analytic");

  bvjp = nb_batch_vjp_sized(func, 2, NULL);
  if (!bvjp) {
    rc = fail("nb_batch_vjp_sized");
    goto done;
  }
  if (!check_signature(bvjp, "nb_batch_vjp_sized(func, 2)", NB_F64, 2, sb_in, 2, sb_out)) goto done;
  if (nb_call(bvjp, xvs, yb)) {
    rc = fail("nb_call(batch_vjp)");
    goto done;
  }
  show("batch_vjp(func, [x], vs)", &batch[0][0], &J[0][0], 4, "analytic"); /* rows e_bᵀ J */

  jac = nb_jacrev(func, NULL); /* full_jacobian: shape (2, 2) = output ++ param shape */
  if (!jac) {
    rc = fail("nb_jacrev");
    goto done;
  }
  if (!check_signature(jac, "nb_jacrev(func)", NB_F64, 1, s1, 1, s4)) goto done;
  void *jres[1] = {full};
  if (nb_call(jac, fx, jres)) {
    rc = fail("nb_call(jacrev)");
    goto done;
  }
  show("full_jacobian(func, [x])", &full[0][0], &J[0][0], 4, "analytic");

  /* model products: differentiate with respect to inputs 1 and 2 (W and b) */
  const int params[2] = {1, 2};
  const nb_diff_opts wrt_params = {2, params, 0};
  mjvp = nb_jvp(model, &wrt_params); /* (x, W, b, tW, tb) -> (y, x·tW + tb) */
  if (!mjvp) {
    rc = fail("nb_jvp(model)");
    goto done;
  }
  const int64_t mj_in[5] = {10, 10, 1, 10, 1}, mj_out[2] = {1, 1};
  if (!check_signature(mjvp, "nb_jvp(model)", NB_F64, 5, mj_in, 2, mj_out)) goto done;
  double mjv[1], want_mjv[1] = {tb[0]};
  for (int i = 0; i < 10; i++) want_mjv[0] += mx[i] * tW[i];
  const void *mj_args[5] = {mx, mW, mb, tW, tb};
  void *mj_res[2] = {my, mjv};
  if (nb_call(mjvp, mj_args, mj_res)) {
    rc = fail("nb_call(model_jvp)");
    goto done;
  }
  show("model_jvp(model, x, v)", mjv, want_mjv, 1, "direct C");

  mvjp = nb_vjp(model, &wrt_params); /* (x, W, b, v) -> (y, v xᵀ, v) */
  if (!mvjp) {
    rc = fail("nb_vjp(model)");
    goto done;
  }
  const int64_t mv_in[4] = {10, 10, 1, 1}, mv_out[3] = {1, 10, 1};
  if (!check_signature(mvjp, "nb_vjp(model)", NB_F64, 4, mv_in, 3, mv_out)) goto done;
  const double mv[1] = {normal()};
  double gW[10], gb[1], want_gW[10];
  for (int i = 0; i < 10; i++) want_gW[i] = mv[0] * mx[i];
  const void *mv_args[4] = {mx, mW, mb, mv};
  void *mv_res[3] = {my, gW, gb};
  if (nb_call(mvjp, mv_args, mv_res)) {
    rc = fail("nb_call(model_vjp)");
    goto done;
  }
  show("model_vjp: d weight", gW, want_gW, 10, "direct C");
  show("model_vjp: d bias", gb, mv, 1, "direct C");

  /* create_graph=True: the vjp function is itself differentiable.
   * jvp of (x, v) -> vᵀJ(x) along (tx, 0): d/dx(vᵀJ) tx = [2 v0 tx0, 6 v1 tx1] */
  const int first[1] = {0};
  const nb_diff_opts wrt_x = {1, first, 0};
  jvp_of_vjp = nb_jvp(vjp, &wrt_x); /* (x, v, tx) -> (y, vᵀJ, J tx, d(vᵀJ)) */
  if (!jvp_of_vjp) {
    rc = fail("nb_jvp(nb_vjp(func))");
    goto done;
  }
  const int64_t jv_in[3] = {2, 2, 2}, jv_out[4] = {2, 2, 2, 2};
  if (!check_signature(jvp_of_vjp, "nb_jvp(nb_vjp(func))", NB_F64, 3, jv_in, 4, jv_out)) goto done;
  const double tx[2] = {1.0, 1.0};
  double o0[2], o1[2], o2[2], o3[2];
  const void *jv_args[3] = {x, v, tx};
  void *jv_res[4] = {o0, o1, o2, o3};
  if (nb_call(jvp_of_vjp, jv_args, jv_res)) {
    rc = fail("nb_call(jvp(vjp))");
    goto done;
  }
  const double want_o3[2] = {2 * v[0] * tx[0], 6 * v[1] * tx[1]};
  show("jvp(vjp(func)): 2nd order", o3, want_o3, 2, "analytic");

  hvp = nb_hvp(loss, NULL); /* (x, v) -> H v for sum(func(x)); H = [[2, 0], [0, 6]] */
  if (!hvp) {
    rc = fail("nb_hvp");
    goto done;
  }
  if (!check_signature(hvp, "nb_hvp(loss)", NB_F64, 2, s22, 1, s1)) goto done;
  void *hres[1] = {prod};
  if (nb_call(hvp, xv, hres)) {
    rc = fail("nb_call(hvp)");
    goto done;
  }
  const double want_hv[2] = {2 * v[0], 6 * v[1]}, want_h[4] = {2, 0, 0, 6};
  show("hvp(sum(func()), v)", prod, want_hv, 2, "analytic");

  hess = nb_hessian(loss, NULL);
  if (!hess) {
    rc = fail("nb_hessian");
    goto done;
  }
  if (!check_signature(hess, "nb_hessian(loss)", NB_F64, 1, s1, 1, s4)) goto done;
  if (nb_call(hess, fx, jres)) {
    rc = fail("nb_call(hessian)");
    goto done;
  }
  show("hessian(sum(func()))", &full[0][0], want_h, 4, "analytic");
  rc = 0;

done:
  nb_fn_free(hess);
  nb_fn_free(hvp);
  nb_fn_free(jvp_of_vjp);
  nb_fn_free(mvjp);
  nb_fn_free(mjvp);
  nb_fn_free(jac);
  nb_fn_free(bvjp);
  nb_fn_free(bjvp);
  nb_fn_free(vjp);
  nb_fn_free(jvp);
  nb_fn_free(model);
  nb_fn_free(loss);
  nb_fn_free(func);
  if (rc == 0 && !all_ok) {
    fprintf(stderr, "error: some values differ from the expected ones\n");
    rc = 1;
  }
  return rc;
}
