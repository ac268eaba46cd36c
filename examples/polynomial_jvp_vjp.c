/* polynomial_jvp_vjp.c — "JVP and VJP" in JAX, PyTorch and TensorFlow (seed 004) in nabla.
 *
 * Part 1, an R^4 -> R^3 polynomial at x = [1.0, 0.5, 1.5, 2.0]:
 *     fn(x) = [x0^6 x1^4 x2^9 x3^2,  x0^2 x1^3 x2^5 x3^3,  x0^5 x1^7 x2^7 x3^6]
 *     fn(x)                              [9.61084  7.59375  8.542969]
 *     jacfwd(fn)(x) @ [0.2, 0.3, 0.4, 0.8] = jvp   [65.353714 35.943752 80.87344]
 *     [0.5, 0.8, 1.0] @ jacrev(fn)(x)      = vjp   [83.697365 194.49492 88.94971 39.546825]
 * Part 2, a Keras Dense(1) layer inside a loss, differentiated forward:
 *     loss = reduce_sum((x @ kernel + bias - targets) ** 2)
 *     x = [[2, 3], [1, 4]], targets = [[1], [-1]], kernel = [[-1.3399825], [1.3681983]], bias 0
 *     JVP along kernel tangent [[1], [0]]         ->  11.96414
 *     JVP along x tangent [[0, 0], [0, 1]]         ->  14.045405
 * (The seed's first printed JVP, -1.7002447, belongs to an unprinted random kernel.)
 *
 * The seed computes in float32; so does this example. Every expected value that
 * the seed prints is marked "(seed)".
 */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SHOW_RTOL 1e-5
#define SHOW_ATOL 1e-6
#include "example.h"






/* ---- the functions --------------------------------------------------------- */

static const int powers[3][4] = {{6, 4, 9, 2}, {2, 3, 5, 3}, {5, 7, 7, 6}};

/* fn(x)[i] = prod_j x[j] ** powers[i][j] */
static nb_fn *build_fn(void) {
  nb_graph *g = nb_graph_new();
  if (!g) return NULL;
  const int64_t shape[1] = {4};
  nb_expr *x = nb_input(g, "x", NB_F32, 1, shape);
  nb_expr *rows[3];
  for (int i = 0; i < 3; i++) {
    rows[i] = nb_pows(nb_index(x, 0, 0), powers[i][0]);
    for (int j = 1; j < 4; j++) rows[i] = nb_mul(rows[i], nb_pows(nb_index(x, 0, j), powers[i][j]));
  }
  nb_expr *y = nb_stack(3, rows, 0);
  nb_fn *f = nb_fn_new(g, 1, &x, 1, &y); /* NULL if anything above failed */
  nb_graph_free(g);
  return f;
}

/* loss(x, kernel, bias, targets) = sum((x @ kernel + bias - targets) ** 2) */
static nb_fn *build_dense_loss(void) {
  nb_graph *g = nb_graph_new();
  if (!g) return NULL;
  const int64_t s22[2] = {2, 2}, s21[2] = {2, 1}, s1[1] = {1};
  nb_expr *in[4] = {nb_input(g, "x", NB_F32, 2, s22), nb_input(g, "kernel", NB_F32, 2, s21),
                    nb_input(g, "bias", NB_F32, 1, s1), nb_input(g, "targets", NB_F32, 2, s21)};
  nb_expr *dense = nb_add(nb_matmul(in[0], in[1]), in[2]);
  nb_expr *loss = nb_sum(nb_pows(nb_sub(dense, in[3]), 2), 0, NULL, false);
  nb_fn *f = nb_fn_new(g, 4, in, 1, &loss);
  nb_graph_free(g);
  return f;
}

int main(void) {
  int rc = 1;
  nb_fn *fn = NULL, *loss = NULL, *jacf = NULL, *jacr = NULL, *jvp = NULL, *vjp = NULL;
  nb_fn *jvp_kernel = NULL, *jvp_x = NULL;

  printf("nabla %s — JVP and VJP of a polynomial and a Dense layer (seed 004)\n", nb_version());

  /* ---- primal values ---- */
  fn = build_fn();
  loss = build_dense_loss();
  if (!fn || !loss) {
    rc = fail("building the functions");
    goto done;
  }
  const float x[4] = {1.0f, 0.5f, 1.5f, 2.0f};
  float y[3];
  const void *fn_args[1] = {x};
  void *fn_res[1] = {y};
  if (nb_call(fn, fn_args, fn_res)) {
    rc = fail("nb_call(fn)");
    goto done;
  }
  const double seed_y[3] = {9.61084, 7.59375, 8.542969};
  show32("fn(x)", y, seed_y, 3, "seed");

  const float dx[4] = {2, 3, 1, 4}, kernel[2] = {-1.3399825f, 1.3681983f}, bias[1] = {0};
  const float targets[2] = {1, -1};
  double want_loss = 0;
  for (int i = 0; i < 2; i++) {
    double r = dx[2 * i] * (double)kernel[0] + dx[2 * i + 1] * (double)kernel[1] - targets[i];
    want_loss += r * r;
  }
  float l;
  const void *loss_args[4] = {dx, kernel, bias, targets};
  void *loss_res[1] = {&l};
  if (nb_call(loss, loss_args, loss_res)) {
    rc = fail("nb_call(loss)");
    goto done;
  }
  show32("dense loss", &l, &want_loss, 1, "analytic");

  /* ---- derivatives ---- */
  nb_errclear();
  const double seed_J[12] = {57.66504, 76.88672,  57.66504,  9.61084,   15.1875,  45.5625,
                             25.3125,  11.390625, 42.714844, 119.60156, 39.867188, 25.628906};
  const double seed_jvp[3] = {65.353714, 35.943752, 80.87344};
  const double seed_vjp[4] = {83.697365, 194.49492, 88.94971, 39.546825};
  const float tv[4] = {0.2f, 0.3f, 0.4f, 0.8f}, cv[3] = {0.5f, 0.8f, 1.0f};
  const int64_t s4[1] = {4}, s12[1] = {12}, s43[2] = {4, 3}, s34[2] = {3, 4}, s44[2] = {4, 4},
                s33[2] = {3, 3};
  float J[3][4], prod[4], out_y[3];
  void *jac_res[1] = {J};

  /* ## JVP ## */
  jacf = nb_jacfwd(fn, NULL); /* full_jacobian, shape (3, 4) */
  if (!jacf) {
    rc = fail("nb_jacfwd");
    goto done;
  }
  if (!check_signature(jacf, "nb_jacfwd(fn)", NB_F32, 1, s4, 1, s12)) goto done;
  if (nb_call(jacf, fn_args, jac_res)) {
    rc = fail("nb_call(jacfwd)");
    goto done;
  }
  for (int i = 0; i < 3; i++) show32(i ? "" : "jacfwd(fn)(x)", J[i], seed_J + 4 * i, 4, "seed");
  for (int i = 0; i < 3; i++) {
    prod[i] = 0;
    for (int j = 0; j < 4; j++) prod[i] += J[i][j] * tv[j];
  }
  show32("full_jacobian @ v", prod, seed_jvp, 3, "seed");

  jvp = nb_jvp(fn, NULL); /* (x, v) -> (fn(x), J v) */
  if (!jvp) {
    rc = fail("nb_jvp");
    goto done;
  }
  if (!check_signature(jvp, "nb_jvp(fn)", NB_F32, 2, s44, 2, s33)) goto done;
  const void *jvp_args[2] = {x, tv};
  void *jvp_res[2] = {out_y, prod};
  if (nb_call(jvp, jvp_args, jvp_res)) {
    rc = fail("nb_call(jvp)");
    goto done;
  }
  show32("f_evaluated", out_y, seed_y, 3, "seed");
  show32("jvp_evaluated", prod, seed_jvp, 3, "seed");

  /* ## VJP ## */
  jacr = nb_jacrev(fn, NULL);
  if (!jacr) {
    rc = fail("nb_jacrev");
    goto done;
  }
  if (!check_signature(jacr, "nb_jacrev(fn)", NB_F32, 1, s4, 1, s12)) goto done;
  if (nb_call(jacr, fn_args, jac_res)) {
    rc = fail("nb_call(jacrev)");
    goto done;
  }
  for (int i = 0; i < 3; i++) show32(i ? "" : "jacrev(fn)(x)", J[i], seed_J + 4 * i, 4, "seed");
  for (int j = 0; j < 4; j++) {
    prod[j] = 0;
    for (int i = 0; i < 3; i++) prod[j] += cv[i] * J[i][j];
  }
  show32("v.T @ full_jacobian", prod, seed_vjp, 4, "seed");

  vjp = nb_vjp(fn, NULL); /* (x, v) -> (fn(x), vᵀ J) */
  if (!vjp) {
    rc = fail("nb_vjp");
    goto done;
  }
  if (!check_signature(vjp, "nb_vjp(fn)", NB_F32, 2, s43, 2, s34)) goto done;
  const void *vjp_args[2] = {x, cv};
  void *vjp_res[2] = {out_y, prod};
  if (nb_call(vjp, vjp_args, vjp_res)) {
    rc = fail("nb_call(vjp)");
    goto done;
  }
  show32("f_evaluated", out_y, seed_y, 3, "seed");
  show32("vjp", prod, seed_vjp, 4, "seed");

  /* ## Dense layer: forward-mode product with respect to one input ## */
  const int wrt_kernel[1] = {1}, wrt_x[1] = {0};
  const nb_diff_opts o_kernel = {1, wrt_kernel, 0}, o_x = {1, wrt_x, 0};
  jvp_kernel = nb_jvp(loss, &o_kernel); /* (x, kernel, bias, targets, t_kernel) */
  jvp_x = jvp_kernel ? nb_jvp(loss, &o_x) : NULL; /* (x, kernel, bias, targets, t_x) */
  if (!jvp_kernel || !jvp_x) {
    rc = fail("nb_jvp(loss)");
    goto done;
  }
  const int64_t lk_in[5] = {4, 2, 1, 2, 2}, lx_in[5] = {4, 2, 1, 2, 4}, l_out[2] = {1, 1};
  if (!check_signature(jvp_kernel, "nb_jvp(loss, wrt kernel)", NB_F32, 5, lk_in, 2, l_out) ||
      !check_signature(jvp_x, "nb_jvp(loss, wrt x)", NB_F32, 5, lx_in, 2, l_out))
    goto done;
  const float t_kernel[2] = {1, 0}, t_x[4] = {0, 0, 0, 1};
  float lj[2];
  const void *lk_args[5] = {dx, kernel, bias, targets, t_kernel};
  const void *lx_args[5] = {dx, kernel, bias, targets, t_x};
  void *l_res[2] = {&lj[0], &lj[1]};
  if (nb_call(jvp_kernel, lk_args, l_res)) {
    rc = fail("nb_call(jvp(loss))");
    goto done;
  }
  const double seed_lk = 11.96414, seed_lx = 14.045405;
  show32("jvp along kernel", &lj[1], &seed_lk, 1, "seed");
  if (nb_call(jvp_x, lx_args, l_res)) {
    rc = fail("nb_call(jvp(loss))");
    goto done;
  }
  show32("jvp along x", &lj[1], &seed_lx, 1, "seed");
  rc = 0;

done:
  nb_fn_free(jvp_x);
  nb_fn_free(jvp_kernel);
  nb_fn_free(vjp);
  nb_fn_free(jvp);
  nb_fn_free(jacr);
  nb_fn_free(jacf);
  nb_fn_free(loss);
  nb_fn_free(fn);
  if (rc == 0 && !all_ok) {
    fprintf(stderr, "error: some values differ from the expected ones\n");
    rc = 1;
  }
  return rc;
}
