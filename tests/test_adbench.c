/* ADBench problems built with nabla operations: the GMM objective (PROBLEMS.md 1.1) and the
 * diagonal LSTM (1.4) against ADBench's golden values, and a small MLP loss. Gradients are
 * checked against golden values, central differences and each other; GMM and MLP Hessians
 * against jacfwd/jacrev of the gradient and differences of the gradient.
 * Data: tests/data/adbench (MIT, from microsoft/ADBench; see the README there). */
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "../bench/gmm_nabla.h"
#include "harness.h"
#include "suites.h"

#ifndef NB_TEST_DATA_DIR
#define NB_TEST_DATA_DIR "tests/data"
#endif
#define ADB_DIR NB_TEST_DATA_DIR "/adbench/"

static double now_s(void) {
  struct timespec ts;
  timespec_get(&ts, TIME_UTC);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* a function with any number of inputs and outputs, called with double buffers */
static nb_status call_fn(nb_fn *f, const double *const *in, double *const *out) {
  return nb_call(f, (const void *const *)in, (void *const *)out);
}

/* ============================================================================ GMM */

/* the shared reader (bench/gmm.h), reporting a failure */
static int read_gmm(const char *path, gmm_data *D) {
  char err[256];
  if (gmm_read(path, D, err, sizeof err)) return 1;
  fprintf(stderr, "  %s\n", err);
  return 0;
}

static double gmm_value(nb_fn *f, const double *const *in) {
  double y = NAN, *out[1] = {&y};
  CHECK(call_fn(f, in, out) == NB_OK);
  return y;
}

/* the flat gradient [alpha | means | icf] from a function whose outputs skip..skip+2 are it */
static int gmm_flat_grad(nb_fn *f, const gmm_data *D, int skip, const double *const *in,
                         double *gflat) {
  double  y[8];
  double *out[8];
  int     sizes[3] = {D->K, D->K * D->d, D->K * D->T}, off = 0;
  for (int j = 0; j < skip; j++) out[j] = &y[j];
  for (int j = 0; j < 3; j++) out[skip + j] = gflat + off, off += sizes[j];
  nb_status st = call_fn(f, in, out);
  CHECK(st == NB_OK);
  return st == NB_OK;
}

static void test_gmm_test_txt(void) {
  gmm_data D;
  if (!read_gmm(ADB_DIR "gmm/test.txt", &D)) {
    CHECK(!"gmm/test.txt readable");
    return;
  }
  CHECK(D.d == 2 && D.K == 3 && D.n == 1 && D.gamma == 1 && D.m == 0);
  int64_t nw;
  double *want = gmm_read_numbers(ADB_DIR "expected/gmm_test_gradient.txt", &nw);
  CHECK(want && nw == 18);
  const double *in[3] = {D.alpha, D.means, D.icf};
  for (int variant = 0; variant < 2; variant++) {
    nb_fn *F = gmm_nabla(&D, variant);
    CHECK(F != NULL);
    if (!F) continue;
    CHECK_NEAR(gmm_value(F, in), 8.07380408004975791, 1e-12, 0);
    nb_fn *gr = nb_grad(F, NULL), *vg = nb_value_and_grad(F, NULL), *vj = nb_vjp(F, NULL);
    CHECK(gr && vg && vj);
    if (gr && vg && vj && want && nw == 18) {
      double g1[18], g2[18], g3[18], g4[18];
      CHECK(nb_fn_nout(gr) == 3 && nb_fn_nout(vg) == 4 && nb_fn_nin(vj) == 4 && nb_fn_nout(vj) == 4);
      gmm_flat_grad(gr, &D, 0, in, g1);
      gmm_flat_grad(vg, &D, 1, in, g2);
      double        ct = 1.0, ct2 = -2.5, val[2];
      const double *vin[4] = {D.alpha, D.means, D.icf, &ct};
      double       *vout[4] = {&val[0], g3, g3 + 3, g3 + 9};
      CHECK(call_fn(vj, vin, vout) == NB_OK);
      vin[3] = &ct2, vout[0] = &val[1], vout[1] = g4, vout[2] = g4 + 3, vout[3] = g4 + 9;
      CHECK(call_fn(vj, vin, vout) == NB_OK);
      for (int k = 0; k < 18; k++) {
        CHECK_NEAR(g1[k], want[k], 0, 1e-8);
        CHECK_NEAR(g2[k], want[k], 0, 1e-8);
        CHECK_NEAR(g3[k], want[k], 0, 1e-8);
        CHECK_NEAR(g4[k], -2.5 * want[k], 0, 2.5e-8);
      }
      /* value_and_grad's value and vjp's primal output are F */
      {
        double  yv, gg[18];
        double *o[4] = {&yv, gg, gg + 3, gg + 9};
        CHECK(call_fn(vg, in, o) == NB_OK);
        CHECK_NEAR(yv, 8.07380408004975791, 1e-12, 0);
      }
      CHECK_NEAR(val[0], 8.07380408004975791, 1e-12, 0);
      CHECK_NEAR(val[1], 8.07380408004975791, 1e-12, 0);
    }
    double err = -1;
    CHECK(nb_check_grads(F, (const void *const *)in, 2, &err) == NB_OK);
    CHECK(err >= 0 && err < 1e-6);
    nb_fn_free(gr);
    nb_fn_free(vg);
    nb_fn_free(vj);
    nb_fn_free(F);
  }
  free(want);
  free(D.all);
}

/* the Hessian as an 18x18 matrix from a function whose 9 outputs are the blocks (j outer) */
static int gmm_flat_hessian(nb_fn *f, const gmm_data *D, const double *const *in, double *H) {
  int     sizes[3] = {D->K, D->K * D->d, D->K * D->T}, N = sizes[0] + sizes[1] + sizes[2];
  double *blk[9];
  for (int b = 0; b < 9; b++) blk[b] = malloc((size_t)sizes[b / 3] * sizes[b % 3] * sizeof(double));
  nb_status st = call_fn(f, in, blk);
  CHECK(st == NB_OK);
  for (int j = 0, oj = 0; j < 3; oj += sizes[j++])
    for (int k = 0, ok = 0; k < 3; ok += sizes[k++])
      for (int a = 0; a < sizes[j]; a++)
        for (int b = 0; b < sizes[k]; b++) H[(oj + a) * N + ok + b] = blk[j * 3 + k][a * sizes[k] + b];
  for (int b = 0; b < 9; b++) free(blk[b]);
  return st == NB_OK;
}

static void test_gmm_hessian(void) {
  gmm_data D;
  if (!read_gmm(ADB_DIR "gmm/test.txt", &D)) {
    CHECK(!"gmm/test.txt readable");
    return;
  }
  enum { N = 18 };
  const double *in[3] = {D.alpha, D.means, D.icf};
  nb_fn        *F = gmm_nabla(&D, 0), *gr = nb_grad(F, NULL), *H = nb_hessian(F, NULL);
  nb_fn        *Hf = nb_jacfwd(gr, NULL), *Hr = nb_jacrev(gr, NULL), *Hj = nb_jacobian(gr, NULL);
  CHECK(F && gr && H && Hf && Hr && Hj);
  if (F && gr && H && Hf && Hr && Hj) {
    CHECK(nb_fn_nout(H) == 9 && nb_fn_nout(Hf) == 9 && nb_fn_nout(Hr) == 9);
    CHECK(nb_fn_out_rank(H, 5) == 4 && nb_fn_out_shape(H, 5)[0] == 3 && nb_fn_out_shape(H, 5)[1] == 2 &&
          nb_fn_out_shape(H, 5)[2] == 3 && nb_fn_out_shape(H, 5)[3] == 3);
    static double h0[N * N], h1[N * N], h2[N * N], h3[N * N], fd[N * N];
    gmm_flat_hessian(H, &D, in, h0);
    gmm_flat_hessian(Hf, &D, in, h1);
    gmm_flat_hessian(Hr, &D, in, h2);
    gmm_flat_hessian(Hj, &D, in, h3);
    /* central differences of the gradient */
    double x[N], gp[N], gm[N];
    memcpy(x, D.alpha, 3 * sizeof *x), memcpy(x + 3, D.means, 6 * sizeof *x);
    memcpy(x + 9, D.icf, 9 * sizeof *x);
    for (int c = 0; c < N; c++) {
      double xs[N], h = 1e-5 * (1 + fabs(x[c]));
      const double *xin[3] = {xs, xs + 3, xs + 9};
      memcpy(xs, x, sizeof xs);
      xs[c] = x[c] + h;
      gmm_flat_grad(gr, &D, 0, xin, gp);
      xs[c] = x[c] - h;
      gmm_flat_grad(gr, &D, 0, xin, gm);
      for (int r = 0; r < N; r++) fd[r * N + c] = (gp[r] - gm[r]) / (2 * h);
    }
    double scale = 0;
    for (int k = 0; k < N * N; k++) scale = fmax(scale, fabs(h0[k]));
    CHECK(scale > 0.1);
    for (int r = 0; r < N; r++)
      for (int c = 0; c < N; c++) {
        double v = h0[r * N + c];
        CHECK_NEAR(h0[c * N + r], v, 1e-12, 1e-12 * scale);
        CHECK_NEAR(h1[r * N + c], v, 1e-12, 1e-12 * scale);
        CHECK_NEAR(h2[r * N + c], v, 1e-12, 1e-12 * scale);
        CHECK_NEAR(h3[r * N + c], v, 1e-12, 1e-12 * scale);
        CHECK_NEAR(fd[r * N + c], v, 1e-6, 1e-7 * scale);
      }
    /* hvp agrees with H v */
    nb_fn *hv = nb_hvp(F, NULL);
    CHECK(hv != NULL);
    if (hv) {
      double v[N], Hv[N];
      for (int k = 0; k < N; k++) v[k] = sin(1.0 + k);
      const double *hin[6] = {D.alpha, D.means, D.icf, v, v + 3, v + 9};
      double       *hout[3] = {Hv, Hv + 3, Hv + 9};
      CHECK(call_fn(hv, hin, hout) == NB_OK);
      for (int r = 0; r < N; r++) {
        double s = 0;
        for (int c = 0; c < N; c++) s += h0[r * N + c] * v[c];
        CHECK_NEAR(Hv[r], s, 1e-12, 1e-12 * scale);
      }
    }
    nb_fn_free(hv);
  }
  nb_fn_free(F), nb_fn_free(gr), nb_fn_free(H), nb_fn_free(Hf), nb_fn_free(Hr), nb_fn_free(Hj);
  free(D.all);
}

static void test_gmm_1k_d2_K5(void) {
  gmm_data D;
  if (!read_gmm(ADB_DIR "gmm/1k/gmm_d2_K5.txt", &D)) {
    CHECK(!"gmm/1k/gmm_d2_K5.txt readable");
    return;
  }
  CHECK(D.d == 2 && D.K == 5 && D.n == 1000 && D.gamma == 1 && D.m == 0);
  enum { N = 30 };
  nb_fn *F = gmm_nabla(&D, 0), *F1 = gmm_nabla(&D, 1), *gr = nb_grad(F, NULL), *gr1 = nb_grad(F1, NULL);
  CHECK(F && F1 && gr && gr1);
  if (F && F1 && gr && gr1) {
    const double *in[3] = {D.alpha, D.means, D.icf};
    CHECK_NEAR(gmm_value(F, in), -5240.590562549581, 1e-12, 0);
    CHECK_NEAR(gmm_value(F1, in), -5240.590562549581, 1e-12, 0);
    double g[N], g1[N], x[N];
    gmm_flat_grad(gr, &D, 0, in, g);
    gmm_flat_grad(gr1, &D, 0, in, g1);
    memcpy(x, D.alpha, 5 * sizeof *x), memcpy(x + 5, D.means, 10 * sizeof *x);
    memcpy(x + 15, D.icf, 15 * sizeof *x);
    double gscale = 0;
    for (int k = 0; k < N; k++) gscale = fmax(gscale, fabs(g[k]));
    for (int c = 0; c < N; c++) {
      double xs[N], h = 1e-6 * (1 + fabs(x[c]));
      const double *xin[3] = {xs, xs + 5, xs + 15};
      memcpy(xs, x, sizeof xs);
      xs[c] = x[c] + h;
      double fp = gmm_value(F, xin);
      xs[c] = x[c] - h;
      double fm = gmm_value(F, xin);
      CHECK_NEAR(g[c], (fp - fm) / (2 * h), 1e-6, 1e-6 * gscale);
      CHECK_NEAR(g1[c], g[c], 1e-12, 1e-12 * gscale);
    }
    double err = -1;
    CHECK(nb_check_grads(F, (const void *const *)in, 1, &err) == NB_OK);
    CHECK(err >= 0 && err < 1e-6);
  }
  nb_fn_free(F), nb_fn_free(F1), nb_fn_free(gr), nb_fn_free(gr1);
  free(D.all);
}

/* =========================================================================== LSTM */

typedef struct lstm_data {
  int     l, c, b;
  double *main, *extra, *state, *seq, *all;
} lstm_data;

static int lstm_read(const char *path, lstm_data *D) {
  int64_t cnt;
  memset(D, 0, sizeof *D);
  double *v = gmm_read_numbers(path, &cnt);
  if (!v || cnt < 3) return free(v), 0;
  D->l = (int)v[0], D->c = (int)v[1], D->b = (int)v[2];
  int64_t l = D->l, b = D->b, need = 3 + 2 * l * 4 * b + 3 * b + 2 * l * b + (int64_t)D->c * b;
  if (cnt != need) {
    fprintf(stderr, "  %s: %lld numbers, want %lld\n", path, (long long)cnt, (long long)need);
    return free(v), 0;
  }
  D->all = v, D->main = v + 3, D->extra = D->main + 8 * l * b, D->state = D->extra + 3 * b;
  D->seq = D->state + 2 * l * b;
  return 1;
}

/* the loss over the first `steps` transitions (c - 1 for ADBench's objective);
 * inputs main_params [2l, 4b], extra_params [3, b] */
static nb_fn *lstm_fn(const lstm_data *D, int steps) {
  int       l = D->l, b = D->b;
  nb_graph *g = nb_graph_new();
  int64_t   sm[2] = {2 * l, 4 * b}, se[2] = {3, b}, sb[1] = {b};
  nb_expr  *mp = nb_input(g, "main_params", NB_F64, 2, sm);
  nb_expr  *ep = nb_input(g, "extra_params", NB_F64, 2, se);
  nb_expr  *in_w = nb_index(ep, 0, 0), *out_w = nb_index(ep, 0, 1), *out_b = nb_index(ep, 0, 2);
  nb_expr  *W[8][4], *B[8][4], *h[8], *cell[8];
  for (int ly = 0; ly < l && ly < 8; ly++) {
    nb_expr *wr = nb_index(mp, 0, 2 * ly), *br = nb_index(mp, 0, 2 * ly + 1);
    for (int k = 0; k < 4; k++) {
      W[ly][k] = nb_slice(wr, 0, k * b, (k + 1) * b, 1);
      B[ly][k] = nb_slice(br, 0, k * b, (k + 1) * b, 1);
    }
    h[ly] = nb_const(g, NB_F64, 1, sb, D->state + (2 * ly) * b);
    cell[ly] = nb_const(g, NB_F64, 1, sb, D->state + (2 * ly + 1) * b);
  }
  nb_expr *total = NULL;
  for (int t = 0; t < steps; t++) {
    nb_expr *x = nb_mul(nb_const(g, NB_F64, 1, sb, D->seq + (int64_t)t * b), in_w);
    for (int ly = 0; ly < l; ly++) {
      nb_expr *f = nb_sigmoid(nb_add(nb_mul(x, W[ly][0]), B[ly][0]));
      nb_expr *i = nb_sigmoid(nb_add(nb_mul(h[ly], W[ly][1]), B[ly][1]));
      nb_expr *o = nb_sigmoid(nb_add(nb_mul(x, W[ly][2]), B[ly][2]));
      nb_expr *gg = nb_tanh(nb_add(nb_mul(h[ly], W[ly][3]), B[ly][3]));
      cell[ly] = nb_add(nb_mul(cell[ly], f), nb_mul(i, gg));
      h[ly] = nb_mul(o, nb_tanh(cell[ly]));
      x = h[ly];
    }
    nb_expr *y = nb_add(nb_mul(x, out_w), out_b);
    nb_expr *lse = nb_log(nb_adds(nb_sum(nb_exp(y), 0, NULL, false), 2.0));
    nb_expr *gold = nb_const(g, NB_F64, 1, sb, D->seq + (int64_t)(t + 1) * b);
    nb_expr *term = nb_sum(nb_mul(gold, nb_sub(y, lse)), 0, NULL, false);
    total = total ? nb_add(total, term) : term;
  }
  nb_expr *loss = nb_muls(total, -1.0 / ((double)steps * b));
  nb_expr *ins[2] = {mp, ep};
  nb_fn   *fn = nb_fn_new(g, 2, ins, 1, &loss);
  if (!fn) fprintf(stderr, "  lstm_fn: %s\n", nb_errmsg());
  nb_graph_free(g);
  return fn;
}

/* the same loss in plain C (ADBench's lstm_objective), for the short-sequence checks */
static double lstm_ref(const lstm_data *D, int steps, const double *mp, const double *ep) {
  int    l = D->l, b = D->b;
  double st[2 * 8 * 32], x[32], y[32], total = 0;
  if (l > 8 || b > 32) return NAN;
  memcpy(st, D->state, (size_t)(2 * l * b) * sizeof *st);
  for (int t = 0; t < steps; t++) {
    const double *s = D->seq + t * b;
    for (int j = 0; j < b; j++) x[j] = s[j] * ep[j];
    for (int ly = 0; ly < l; ly++) {
      const double *w = mp + 2 * ly * 4 * b, *bi = w + 4 * b;
      double       *hh = st + 2 * ly * b, *cc = hh + b;
      for (int j = 0; j < b; j++) {
        double f = 1 / (1 + exp(-(x[j] * w[j] + bi[j])));
        double i = 1 / (1 + exp(-(hh[j] * w[b + j] + bi[b + j])));
        double o = 1 / (1 + exp(-(x[j] * w[2 * b + j] + bi[2 * b + j])));
        double gg = tanh(hh[j] * w[3 * b + j] + bi[3 * b + j]);
        cc[j] = cc[j] * f + i * gg;
        hh[j] = o * tanh(cc[j]);
        x[j] = hh[j];
      }
    }
    double se = 0;
    for (int j = 0; j < b; j++) y[j] = x[j] * ep[b + j] + ep[2 * b + j], se += exp(y[j]);
    double lse = log(se + 2);
    for (int j = 0; j < b; j++) total += s[b + j] * (y[j] - lse);
  }
  return -total / ((double)steps * b);
}

static void test_lstm_short(void) {
  lstm_data D;
  if (!lstm_read(ADB_DIR "lstm/lstm_l2_c1024.txt", &D)) {
    CHECK(!"lstm/lstm_l2_c1024.txt readable");
    return;
  }
  CHECK(D.l == 2 && D.c == 1024 && D.b == 14);
  enum { STEPS = 4, NM = 2 * 2 * 4 * 14, NE = 3 * 14, N = NM + NE };
  nb_fn *f = lstm_fn(&D, STEPS), *gr = nb_grad(f, NULL);
  CHECK(f && gr);
  if (f && gr) {
    double        y = NAN, g[N], x[N];
    double       *out[1] = {&y}, *gout[2] = {g, g + NM};
    const double *in[2] = {D.main, D.extra};
    CHECK(call_fn(f, in, out) == NB_OK);
    CHECK_NEAR(y, lstm_ref(&D, STEPS, D.main, D.extra), 1e-13, 0);
    CHECK(call_fn(gr, in, gout) == NB_OK);
    memcpy(x, D.main, NM * sizeof *x), memcpy(x + NM, D.extra, NE * sizeof *x);
    double gscale = 0;
    for (int k = 0; k < N; k++) gscale = fmax(gscale, fabs(g[k]));
    CHECK(gscale > 1e-3);
    for (int c = 0; c < N; c++) {
      double xs[N], h = 1e-6 * (1 + fabs(x[c]));
      memcpy(xs, x, sizeof xs);
      xs[c] = x[c] + h;
      double fp = lstm_ref(&D, STEPS, xs, xs + NM);
      xs[c] = x[c] - h;
      double fm = lstm_ref(&D, STEPS, xs, xs + NM);
      CHECK_NEAR(g[c], (fp - fm) / (2 * h), 1e-6, 1e-8 * gscale);
    }
    double err = -1;
    CHECK(nb_check_grads(f, (const void *const *)in, 2, &err) == NB_OK);
    CHECK(err >= 0 && err < 1e-6);
  }
  nb_fn_free(f), nb_fn_free(gr);
  free(D.all);
}

static void test_lstm_full(void) {
  lstm_data D;
  if (!lstm_read(ADB_DIR "lstm/lstm_l2_c1024.txt", &D)) {
    CHECK(!"lstm/lstm_l2_c1024.txt readable");
    return;
  }
  enum { NM = 2 * 2 * 4 * 14, NE = 3 * 14, N = NM + NE };
  int64_t nw;
  double *want = gmm_read_numbers(ADB_DIR "expected/lstm_l2_c1024_gradient.txt", &nw);
  CHECK(want && nw == N);
  double t0 = now_s();
  nb_fn *f = lstm_fn(&D, D.c - 1);
  double t1 = now_s();
  nb_fn *vg = f ? nb_value_and_grad(f, NULL) : NULL;
  double t2 = now_s(), t3 = t2, t4 = t2;
  CHECK(f && vg);
  if (f && vg) {
    double        y = NAN, y2 = NAN, g[N];
    double       *out[1] = {&y}, *gout[3] = {&y2, g, g + NM};
    const double *in[2] = {D.main, D.extra};
    CHECK(call_fn(f, in, out) == NB_OK);
    t3 = now_s();
    CHECK(call_fn(vg, in, gout) == NB_OK);
    t4 = now_s();
    CHECK_NEAR(y, 0.6666651795588522, 1e-12, 0);
    CHECK_NEAR(y2, 0.6666651795588522, 1e-12, 0);
    CHECK_NEAR(y, lstm_ref(&D, D.c - 1, D.main, D.extra), 1e-13, 0);
    if (want && nw == N)
      for (int k = 0; k < N; k++) CHECK_NEAR(g[k], want[k], 1e-9, 1e-12); /* seen: 1e-14 */
    printf("  lstm l2 c1024: %lld nodes, value_and_grad %lld nodes; build %.3f s, "
           "value_and_grad transform %.3f s, first call f %.3f s, value_and_grad %.3f s\n",
           (long long)nb_fn_node_count(f), (long long)nb_fn_node_count(vg), t1 - t0, t2 - t1,
           t3 - t2, t4 - t3);
  }
  nb_fn_free(f), nb_fn_free(vg);
  free(want);
  free(D.all);
}

/* ============================================================================ MLP */

enum { MB = 8, MI = 5, MH = 16, MO = 3 };

/* loss(x [8,5], W1 [5,16], b1 [16], W2 [16,3], b2 [3]) with constant one-hot labels */
static nb_fn *mlp_fn(const int *labels) {
  nb_graph *g = nb_graph_new();
  int64_t   sx[2] = {MB, MI}, s1[2] = {MI, MH}, sb1[1] = {MH}, s2[2] = {MH, MO}, sb2[1] = {MO};
  nb_expr  *x = nb_input(g, "x", NB_F64, 2, sx), *W1 = nb_input(g, "W1", NB_F64, 2, s1);
  nb_expr  *b1 = nb_input(g, "b1", NB_F64, 1, sb1), *W2 = nb_input(g, "W2", NB_F64, 2, s2);
  nb_expr  *b2 = nb_input(g, "b2", NB_F64, 1, sb2);
  double    oh[MB * MO] = {0};
  for (int i = 0; i < MB; i++) oh[i * MO + labels[i]] = 1;
  int64_t  so[2] = {MB, MO};
  int      ax1[1] = {1};
  nb_expr *hid = nb_tanh(nb_add(nb_matmul(x, W1), b1));
  nb_expr *logits = nb_add(nb_matmul(hid, W2), b2);
  nb_expr *nll = nb_neg(nb_sum(nb_mul(nb_const(g, NB_F64, 2, so, oh), nb_log_softmax(logits, 1)), 1,
                               ax1, false));
  nb_expr *loss = nb_mean(nll, 0, NULL, false);
  nb_expr *ins[5] = {x, W1, b1, W2, b2};
  nb_fn   *f = nb_fn_new(g, 5, ins, 1, &loss);
  nb_graph_free(g);
  return f;
}

static double mlp_ref(const int *lab, const double *x, const double *W1, const double *b1,
                      const double *W2, const double *b2) {
  double total = 0;
  for (int i = 0; i < MB; i++) {
    double h[MH], z[MO], mx = -INFINITY, s = 0;
    for (int j = 0; j < MH; j++) {
      double a = b1[j];
      for (int k = 0; k < MI; k++) a += x[i * MI + k] * W1[k * MH + j];
      h[j] = tanh(a);
    }
    for (int o = 0; o < MO; o++) {
      z[o] = b2[o];
      for (int j = 0; j < MH; j++) z[o] += h[j] * W2[j * MO + o];
      mx = fmax(mx, z[o]);
    }
    for (int o = 0; o < MO; o++) s += exp(z[o] - mx);
    total -= z[lab[i]] - mx - log(s);
  }
  return total / MB;
}

static void mlp_data(double *p) { /* deterministic values in [-1, 1) */
  uint64_t s = 0x853c49e6748fea9bull;
  for (int k = 0; k < MB * MI + MI * MH + MH + MH * MO + MO; k++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    p[k] = (double)(s >> 11) / 9007199254740992.0 * 2 - 1;
  }
}

static void test_mlp(void) {
  enum { NX = MB * MI, N1 = MI * MH, NP = MI * MH + MH + MH * MO + MO };
  static const int lab[MB] = {0, 2, 1, 1, 0, 2, 2, 1};
  double           all[NX + NP];
  mlp_data(all);
  double       *x = all, *W1 = x + NX, *b1 = W1 + N1, *W2 = b1 + MH, *b2 = W2 + MH * MO;
  nb_fn        *f = mlp_fn(lab);
  int           wrt[4] = {1, 2, 3, 4};
  nb_diff_opts  o = {4, wrt, 0};
  nb_fn        *gr = nb_grad(f, &o);
  CHECK(f && gr);
  if (f && gr) {
    const double *in[5] = {x, W1, b1, W2, b2};
    double        y = NAN, g[NP], *out[1] = {&y};
    double       *gout[4] = {g, g + N1, g + N1 + MH, g + N1 + MH + MH * MO};
    CHECK(call_fn(f, in, out) == NB_OK);
    CHECK_NEAR(y, mlp_ref(lab, x, W1, b1, W2, b2), 1e-13, 0);
    CHECK(nb_fn_nout(gr) == 4 && nb_fn_out_size(gr, 0) == N1 && nb_fn_out_size(gr, 3) == MO);
    CHECK(call_fn(gr, in, gout) == NB_OK);
    double gscale = 0;
    for (int k = 0; k < NP; k++) gscale = fmax(gscale, fabs(g[k]));
    CHECK(gscale > 1e-3);
    for (int c = 0; c < NP; c++) {
      double  p[NX + NP];
      memcpy(p, all, sizeof p);
      double *pc = p + NX + c, v = *pc, h = 1e-6 * (1 + fabs(v));
      *pc = v + h;
      double fp = mlp_ref(lab, p, p + NX, p + NX + N1, p + NX + N1 + MH, p + NX + N1 + MH + MH * MO);
      *pc = v - h;
      double fm = mlp_ref(lab, p, p + NX, p + NX + N1, p + NX + N1 + MH, p + NX + N1 + MH + MH * MO);
      CHECK_NEAR(g[c], (fp - fm) / (2 * h), 1e-6, 1e-8 * gscale);
    }
    double err = -1;
    CHECK(nb_check_grads(f, (const void *const *)in, 2, &err) == NB_OK);
    CHECK(err >= 0 && err < 1e-6);
    /* the Hessian wrt W2 only: [16,3,16,3], symmetric, equal to jacfwd(grad) */
    int          w2[1] = {3};
    nb_diff_opts o2 = {1, w2, 0};
    nb_fn       *H = nb_hessian(f, &o2), *g2 = nb_grad(f, &o2), *Hf = g2 ? nb_jacfwd(g2, &o2) : NULL;
    CHECK(H && g2 && Hf);
    if (H && g2 && Hf) {
      enum { M = MH * MO };
      CHECK(nb_fn_nout(H) == 1 && nb_fn_out_rank(H, 0) == 4 && nb_fn_out_size(H, 0) == M * M);
      static double hh[M * M], hf[M * M];
      double       *ho[1] = {hh}, *hfo[1] = {hf};
      CHECK(call_fn(H, in, ho) == NB_OK);
      CHECK(call_fn(Hf, in, hfo) == NB_OK);
      double scale = 0;
      for (int k = 0; k < M * M; k++) scale = fmax(scale, fabs(hh[k]));
      CHECK(scale > 1e-3);
      for (int r = 0; r < M; r++)
        for (int c = 0; c < M; c++) {
          CHECK_NEAR(hh[c * M + r], hh[r * M + c], 1e-12, 1e-13 * scale);
          CHECK_NEAR(hf[r * M + c], hh[r * M + c], 1e-12, 1e-13 * scale);
        }
    }
    nb_fn *vj = nb_vjp(f, &o);
    printf("  MLP loss: %lld nodes, vjp %lld, hessian wrt W2 %lld\n", (long long)nb_fn_node_count(f),
           (long long)nb_fn_node_count(vj), (long long)nb_fn_node_count(H));
    CHECK(vj && nb_fn_node_count(f) > 0 && nb_fn_node_count(vj) > nb_fn_node_count(f));
    nb_fn_free(vj), nb_fn_free(H), nb_fn_free(g2), nb_fn_free(Hf);
  }
  nb_fn_free(f), nb_fn_free(gr);
}

static void test_gmm_node_counts(void) {
  gmm_data D;
  if (!read_gmm(ADB_DIR "gmm/test.txt", &D)) {
    CHECK(!"gmm/test.txt readable");
    return;
  }
  for (int variant = 0; variant < 2; variant++) {
    nb_fn *F = gmm_nabla(&D, variant), *vj = nb_vjp(F, NULL), *H = nb_hessian(F, NULL);
    CHECK(F && vj && H);
    printf("  GMM test.txt (Q via %s): F %lld nodes, vjp(F) %lld, hessian(F) %lld\n",
           variant ? "scatter matmul" : "concat+take", (long long)nb_fn_node_count(F),
           (long long)nb_fn_node_count(vj), (long long)nb_fn_node_count(H));
    CHECK(nb_fn_node_count(F) > 0 && nb_fn_node_count(vj) > nb_fn_node_count(F));
    nb_fn_free(F), nb_fn_free(vj), nb_fn_free(H);
  }
  free(D.all);
}

void suite_adbench(void) {
  RUN(test_gmm_test_txt);
  RUN(test_gmm_hessian);
  RUN(test_gmm_1k_d2_K5);
  RUN(test_gmm_node_counts);
  RUN(test_lstm_short);
  RUN(test_lstm_full);
  RUN(test_mlp);
}
