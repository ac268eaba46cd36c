/* model_products.c — derivatives of a small model with respect to its parameters
 * (the seeds' torch_secorder model_jvp / model_vjp / full_jacobian and the
 * TensorFlow Dense example) in nabla.
 *
 * The model is an MLP with one hidden layer and a softmax cross-entropy loss:
 *     logits = tanh(x·W1 + b1)·W2 + b2
 *     loss   = mean over the examples of -sum(y * log_softmax(logits))
 * on a mini-batch of B = 5 examples (D = 4 features, H = 5 hidden units, C = 3
 * classes). Shown, each checked here against central differences:
 *   1. the parameter gradient: nb_vjp(loss) with wrt = the parameters
 *   2. the JVP of the logits along a parameter direction: nb_jvp(logits) with wrt
 *   3. a batch of K parameter VJPs of the logits in one call: nb_batch_vjp_sized
 *   4. per-example gradients: nb_vmap_sized(nb_grad(loss of one example)), the
 *      examples mapped and the parameters unmapped — one batched graph, no loop
 *   5. the full Jacobian of the logits with respect to W2: nb_jacfwd with wrt
 *      (and nb_jacrev, which must agree)
 * Every line prints the derivative, the finite-difference value and ok/MISMATCH;
 * the program exits with 1 on a mismatch. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "example.h"

enum { B = 5, D = 4, H = 5, C = 3, K = 4 };

/* the parameters live in one flat vector theta: W1 (D,H), b1 (H), W2 (H,C), b2 (C) */
enum { OFF_W1 = 0, OFF_B1 = D * H, OFF_W2 = OFF_B1 + H, OFF_B2 = OFF_W2 + H * C, NP = OFF_B2 + C };
static const char   *pname[4] = {"W1", "b1", "W2", "b2"};
static const int     poff[5] = {OFF_W1, OFF_B1, OFF_W2, OFF_B2, NP};
static const int64_t pshape[4][2] = {{D, H}, {H, 0}, {H, C}, {C, 0}};
static const int     prank[4] = {2, 1, 2, 1};

#define FD_STEP 1e-6
#define TOL 1e-7 /* |AD - FD| <= TOL * (1 + |FD|): central differences in f64 */


/* "label  AD [a0 a1 a2 ...]  FD [f0 f1 f2 ...]  max |AD - FD| = e  ok" */
static void report(const char *label, const double *ad, const double *fd, int n) {
  double worst = 0;
  bool   ok = true;
  for (int i = 0; i < n; i++) {
    double e = fabs(ad[i] - fd[i]);
    worst = e > worst ? e : worst;
    ok = ok && e <= TOL * (1 + fabs(fd[i]));
  }
  printf("  %-28s AD [", label);
  for (int i = 0; i < n && i < 3; i++) printf(i ? " %+.9f" : "%+.9f", ad[i]);
  printf(n > 3 ? " ...]  FD [" : "]  FD [");
  for (int i = 0; i < n && i < 3; i++) printf(i ? " %+.9f" : "%+.9f", fd[i]);
  printf(n > 3 ? " ...]" : "]");
  printf("  (%d values) max |AD-FD| = %.1e  %s\n", n, worst, ok ? "ok" : "MISMATCH");
  all_ok = all_ok && ok;
}


/* ---- the functions ----------------------------------------------------------- */

/* inputs: x (rows, D) or (D), then W1 b1 W2 b2 (in[first..first+3]) */
static nb_expr *logits_of(nb_expr *x, nb_expr *const *p) {
  return nb_add(nb_matmul(nb_tanh(nb_add(nb_matmul(x, p[0]), p[1])), p[2]), p[3]);
}

/* -sum(y * log_softmax(logits)) over the last axis: one cross-entropy per example */
static nb_expr *cross_entropy(nb_expr *logits, nb_expr *y) {
  const int last[1] = {-1};
  return nb_neg(nb_sum(nb_mul(y, nb_log_softmax(logits, -1)), 1, last, false));
}

static void param_inputs(nb_graph *g, nb_expr **p) {
  for (int k = 0; k < 4; k++) p[k] = nb_input(g, pname[k], NB_F64, prank[k], pshape[k]);
}

/* (X (B,D), W1, b1, W2, b2) -> logits (B,C) */
static nb_fn *build_logits(void) {
  nb_graph     *g = nb_graph_new();
  const int64_t sx[2] = {B, D};
  nb_expr      *in[5];
  in[0] = nb_input(g, "X", NB_F64, 2, sx);
  param_inputs(g, in + 1);
  nb_expr *y = logits_of(in[0], in + 1);
  nb_fn   *f = nb_fn_new(g, 5, in, 1, &y);
  nb_graph_free(g);
  return f;
}

/* (X (B,D), Y (B,C), W1, b1, W2, b2) -> mean cross-entropy, or (x (D), y (C), ...) ->
 * the cross-entropy of one example */
static nb_fn *build_loss(bool one_example) {
  nb_graph     *g = nb_graph_new();
  const int64_t sx[2] = {B, D}, sy[2] = {B, C};
  nb_expr      *in[6];
  in[0] = nb_input(g, "X", NB_F64, one_example ? 1 : 2, one_example ? sx + 1 : sx);
  in[1] = nb_input(g, "Y", NB_F64, one_example ? 1 : 2, one_example ? sy + 1 : sy);
  param_inputs(g, in + 2);
  nb_expr *ce = cross_entropy(logits_of(in[0], in + 2), in[1]);
  nb_expr *l = one_example ? ce : nb_mean(ce, 0, NULL, false);
  nb_fn   *f = nb_fn_new(g, 6, in, 1, &l);
  nb_graph_free(g);
  return f;
}

/* ---- data and finite differences ------------------------------------------------ */
static double X[B][D], Y[B][C], theta[NP];
static nb_fn *f_logits, *f_loss, *f_loss1;

static bool eval_logits(const double *th, double *out) {
  const void *in[5] = {X, th + OFF_W1, th + OFF_B1, th + OFF_W2, th + OFF_B2};
  void       *o[1] = {out};
  return nb_call(f_logits, in, o) == NB_OK;
}
static bool eval_loss(nb_fn *f, const double *x, const double *y, const double *th, double *out) {
  const void *in[6] = {x, y, th + OFF_W1, th + OFF_B1, th + OFF_W2, th + OFF_B2};
  void       *o[1] = {out};
  return nb_call(f, in, o) == NB_OK;
}

/* Jfd[i][p] = d logits_i / d theta_p by central differences */
static double Jfd[B * C][NP];
static bool   fd_logits_jacobian(void) {
  double th[NP], up[B * C], dn[B * C];
  memcpy(th, theta, sizeof th);
  for (int p = 0; p < NP; p++) {
    th[p] = theta[p] + FD_STEP;
    if (!eval_logits(th, up)) return false;
    th[p] = theta[p] - FD_STEP;
    if (!eval_logits(th, dn)) return false;
    th[p] = theta[p];
    for (int i = 0; i < B * C; i++) Jfd[i][p] = (up[i] - dn[i]) / (2 * FD_STEP);
  }
  return true;
}

/* g[p] = d loss(x, y, theta) / d theta_p by central differences */
static bool fd_loss_gradient(nb_fn *f, const double *x, const double *y, double *g) {
  double th[NP], up, dn;
  memcpy(th, theta, sizeof th);
  for (int p = 0; p < NP; p++) {
    th[p] = theta[p] + FD_STEP;
    if (!eval_loss(f, x, y, th, &up)) return false;
    th[p] = theta[p] - FD_STEP;
    if (!eval_loss(f, x, y, th, &dn)) return false;
    th[p] = theta[p];
    g[p] = (up - dn) / (2 * FD_STEP);
  }
  return true;
}

int main(void) {
  int    rc = 1;
  nb_fn *vjp = NULL, *jvp = NULL, *bvjp = NULL, *grad1 = NULL, *pex = NULL, *jf = NULL, *jr = NULL;
  static const int    params6[4] = {2, 3, 4, 5}, params5[4] = {1, 2, 3, 4}, w2[1] = {3};
  const nb_diff_opts  wrt_loss = {4, params6, 0}, wrt_logits = {4, params5, 0}, wrt_w2 = {1, w2, 0};
  char                label[64];

  printf("nabla %s — model products of an MLP (B=%d examples, %d-%d-%d, %d parameters)\n",
         nb_version(), B, D, H, C, NP);
  for (int i = 0; i < B; i++)
    for (int j = 0; j < D; j++) X[i][j] = normal();
  for (int i = 0; i < B; i++) Y[i][i % C] = 1.0; /* one-hot labels */
  for (int p = OFF_W1; p < OFF_B1; p++) theta[p] = normal() / sqrt((double)D);
  for (int p = OFF_B1; p < OFF_W2; p++) theta[p] = 0.1 * normal();
  for (int p = OFF_W2; p < OFF_B2; p++) theta[p] = normal() / sqrt((double)H);
  for (int p = OFF_B2; p < NP; p++) theta[p] = 0.1 * normal();

  f_logits = build_logits();
  f_loss = build_loss(false);
  f_loss1 = build_loss(true);
  if (!f_logits || !f_loss || !f_loss1) {
    rc = fail("building the model");
    goto done;
  }
  double loss;
  if (!eval_loss(f_loss, &X[0][0], &Y[0][0], theta, &loss) || !fd_logits_jacobian()) {
    rc = fail("nb_call");
    goto done;
  }
  printf("loss = %.12f\n", loss);

  /* ---- 1. the parameter gradient: vjp of the loss with wrt = the parameters ---- */
  printf("1. parameter gradient: nb_vjp(loss, wrt = W1 b1 W2 b2), cotangent 1\n");
  vjp = nb_vjp(f_loss, &wrt_loss); /* (X, Y, W1, b1, W2, b2, w) -> (loss, dW1, db1, dW2, db2) */
  if (!vjp) {
    rc = fail("nb_vjp");
    goto done;
  }
  {
    double      one = 1.0, l, grad[NP], gfd[NP];
    const void *in[7] = {X, Y, theta + OFF_W1, theta + OFF_B1, theta + OFF_W2, theta + OFF_B2, &one};
    void       *out[5] = {&l, grad + OFF_W1, grad + OFF_B1, grad + OFF_W2, grad + OFF_B2};
    if (nb_call(vjp, in, out) || !fd_loss_gradient(f_loss, &X[0][0], &Y[0][0], gfd)) {
      rc = fail("nb_call(vjp)");
      goto done;
    }
    for (int k = 0; k < 4; k++) {
      snprintf(label, sizeof label, "dloss/d%s", pname[k]);
      report(label, grad + poff[k], gfd + poff[k], poff[k + 1] - poff[k]);
    }
  }

  /* ---- 2. JVP of the logits along a parameter direction ---- */
  printf("2. JVP of the logits along a parameter direction t: nb_jvp(logits, wrt = params)\n");
  jvp = nb_jvp(f_logits, &wrt_logits); /* (X, W1..b2, tW1..tb2) -> (logits, J t) */
  if (!jvp) {
    rc = fail("nb_jvp");
    goto done;
  }
  {
    double t[NP], logits[B * C], jt[B * C], jtfd[B * C] = {0};
    for (int p = 0; p < NP; p++) t[p] = normal();
    const void *in[9] = {X,           theta + OFF_W1, theta + OFF_B1, theta + OFF_W2, theta + OFF_B2,
                         t + OFF_W1, t + OFF_B1,     t + OFF_W2,     t + OFF_B2};
    void       *out[2] = {logits, jt};
    if (nb_call(jvp, in, out)) {
      rc = fail("nb_call(jvp)");
      goto done;
    }
    for (int i = 0; i < B * C; i++)
      for (int p = 0; p < NP; p++) jtfd[i] += Jfd[i][p] * t[p];
    report("J_params(logits) t", jt, jtfd, B * C);
  }

  /* ---- 3. a batch of K parameter VJPs of the logits in one call ---- */
  printf("3. %d parameter VJPs of the logits in one call: nb_batch_vjp_sized(logits, %d, wrt)\n", K, K);
  bvjp = nb_batch_vjp_sized(f_logits, K, &wrt_logits); /* cotangents (K, B, C) -> (K, param) */
  if (!bvjp) {
    rc = fail("nb_batch_vjp_sized");
    goto done;
  }
  {
    static double w[K][B * C], logits[B * C], gW1[K][D * H], gb1[K][H], gW2[K][H * C], gb2[K][C];
    for (int k = 0; k < K; k++)
      for (int i = 0; i < B * C; i++) w[k][i] = normal();
    const void *in[6] = {X, theta + OFF_W1, theta + OFF_B1, theta + OFF_W2, theta + OFF_B2, w};
    void       *out[5] = {logits, gW1, gb1, gW2, gb2};
    if (nb_call(bvjp, in, out)) {
      rc = fail("nb_call(batch_vjp)");
      goto done;
    }
    for (int k = 0; k < K; k++) {
      double ad[NP], fd[NP] = {0};
      memcpy(ad + OFF_W1, gW1[k], sizeof gW1[k]);
      memcpy(ad + OFF_B1, gb1[k], sizeof gb1[k]);
      memcpy(ad + OFF_W2, gW2[k], sizeof gW2[k]);
      memcpy(ad + OFF_B2, gb2[k], sizeof gb2[k]);
      for (int p = 0; p < NP; p++)
        for (int i = 0; i < B * C; i++) fd[p] += w[k][i] * Jfd[i][p];
      snprintf(label, sizeof label, "w[%d]^T J_params(logits)", k);
      report(label, ad, fd, NP);
    }
  }

  /* ---- 4. per-example gradients: vmap(grad(loss of one example)) ---- */
  printf("4. per-example gradients: nb_vmap_sized(nb_grad(loss1, wrt = params), %d), x and y "
         "mapped, params unmapped\n", B);
  grad1 = nb_grad(f_loss1, &wrt_loss);
  const int in_axes[6] = {0, 0, NB_UNMAPPED, NB_UNMAPPED, NB_UNMAPPED, NB_UNMAPPED};
  pex = grad1 ? nb_vmap_sized(grad1, B, in_axes, NULL) : NULL; /* -> (B, param) per param */
  if (!pex) {
    rc = fail("nb_vmap_sized(nb_grad)");
    goto done;
  }
  printf("  nodes: grad of one example %lld, vmap(grad) over %d examples %lld (one batched graph)\n",
         (long long)nb_fn_node_count(grad1), B, (long long)nb_fn_node_count(pex));
  {
    static double gW1[B][D * H], gb1[B][H], gW2[B][H * C], gb2[B][C];
    const void   *in[6] = {X, Y, theta + OFF_W1, theta + OFF_B1, theta + OFF_W2, theta + OFF_B2};
    void         *out[4] = {gW1, gb1, gW2, gb2};
    double        mean[NP] = {0}, gfd[NP];
    if (nb_call(pex, in, out)) {
      rc = fail("nb_call(vmap(grad))");
      goto done;
    }
    for (int e = 0; e < B; e++) {
      double ad[NP], fd[NP];
      memcpy(ad + OFF_W1, gW1[e], sizeof gW1[e]);
      memcpy(ad + OFF_B1, gb1[e], sizeof gb1[e]);
      memcpy(ad + OFF_W2, gW2[e], sizeof gW2[e]);
      memcpy(ad + OFF_B2, gb2[e], sizeof gb2[e]);
      if (!fd_loss_gradient(f_loss1, X[e], Y[e], fd)) {
        rc = fail("nb_call(loss1)");
        goto done;
      }
      snprintf(label, sizeof label, "example %d: dloss_%d/dparams", e, e);
      report(label, ad, fd, NP);
      for (int p = 0; p < NP; p++) mean[p] += ad[p] / B;
    }
    if (!fd_loss_gradient(f_loss, &X[0][0], &Y[0][0], gfd)) {
      rc = fail("nb_call(loss)");
      goto done;
    }
    report("mean of per-example grads", mean, gfd, NP);
  }

  /* ---- 5. the full Jacobian of the logits with respect to W2 ---- */
  printf("5. Jacobian of the logits w.r.t. W2: nb_jacfwd / nb_jacrev(logits, wrt = W2), "
         "shape (%d,%d,%d,%d)\n", B, C, H, C);
  jf = nb_jacfwd(f_logits, &wrt_w2);
  jr = nb_jacrev(f_logits, &wrt_w2);
  if (!jf || !jr) {
    rc = fail("nb_jacfwd / nb_jacrev");
    goto done;
  }
  {
    static double Jf[B * C][H * C], Jr[B * C][H * C], fd[B * C][H * C];
    const void   *in[5] = {X, theta + OFF_W1, theta + OFF_B1, theta + OFF_W2, theta + OFF_B2};
    void         *ofw[1] = {Jf}, *orv[1] = {Jr};
    if (nb_fn_out_size(jf, 0) != B * C * H * C || nb_call(jf, in, ofw) || nb_call(jr, in, orv)) {
      rc = fail("nb_call(jacobian)");
      goto done;
    }
    for (int i = 0; i < B * C; i++)
      for (int q = 0; q < H * C; q++) fd[i][q] = Jfd[i][OFF_W2 + q];
    report("jacfwd dlogits/dW2", &Jf[0][0], &fd[0][0], B * C * H * C);
    report("jacrev dlogits/dW2", &Jr[0][0], &fd[0][0], B * C * H * C);
  }
  rc = 0;

done:
  nb_fn_free(jr);
  nb_fn_free(jf);
  nb_fn_free(pex);
  nb_fn_free(grad1);
  nb_fn_free(bvjp);
  nb_fn_free(jvp);
  nb_fn_free(vjp);
  nb_fn_free(f_loss1);
  nb_fn_free(f_loss);
  nb_fn_free(f_logits);
  if (rc == 0 && !all_ok) {
    fprintf(stderr, "error: some derivatives differ from the finite differences\n");
    rc = 1;
  }
  return rc;
}
