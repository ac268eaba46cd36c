/* The transformations as a whole: the seeds' exact values (the R^4 -> R^3
 * polynomial, archimedes, jax), output order and shapes of every transformation
 * per API.md (wrt subsets, naux), one-element outputs of any shape, exact zeros
 * for outputs that do not depend on a wrt input, third-order nesting, hvp and
 * hessian against analytic Hessians, every error path, nb_check_grads, an MLP
 * loss against its hand-written backward pass, and node counts (printed). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

#define MAXEL 256
#define NA(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define SH(...) ((const int64_t[]){__VA_ARGS__})

static const nb_dtype DTS[2] = {NB_F64, NB_F32};
#define FOR_DT for (int dt_i_ = 0; dt_i_ < 2 && (set_dt(DTS[dt_i_]), 1); dt_i_++)

static nb_dtype CUR;
static double   RT, AT;
static void     set_dt(nb_dtype dt) {
  CUR = dt;
  RT = dt == NB_F64 ? 1e-13 : 1e-5;
  AT = dt == NB_F64 ? 1e-13 : 1e-5;
}
/* CHECK_NEAR as an expression (so several can share one statement) */
static void near_(double got, double want, double rt, double at, const char *expr, int line) {
  if (th_near(got, want, rt, at)) return;
  th_failed_checks++;
  fprintf(stderr, "  %s:%d: %s: %s = %.17g, want %.17g\n", __FILE__, line, th_current, expr, got,
          want);
}
#define NEAR(got, want) near_((got), (want), RT, AT, #got, __LINE__)
/* exactly zero (no tolerance): outputs that do not depend on a wrt input */
#define ZERO(got) near_((got), 0.0, 0, 0, #got, __LINE__)

/* the signature of input (out = false) or output i */
static void sig_(nb_fn *f, bool out, int i, nb_dtype dt, int rank, const int64_t *shape, int line) {
  if (!f) return;
  int            before = th_failed_checks;
  int            r = out ? nb_fn_out_rank(f, i) : nb_fn_in_rank(f, i);
  const int64_t *s = out ? nb_fn_out_shape(f, i) : nb_fn_in_shape(f, i);
  nb_dtype       d = out ? nb_fn_out_dtype(f, i) : nb_fn_in_dtype(f, i);
  CHECK(d == dt);
  CHECK(r == rank);
  if (r == rank && s)
    for (int k = 0; k < rank; k++) CHECK(s[k] == shape[k]);
  CHECK(s != NULL);
  if (th_failed_checks > before)
    fprintf(stderr, "    ^ signature of %s %d, line %d\n", out ? "output" : "input", i, line);
}
#define SIG_IN(f, i, rank, shape) sig_((f), false, (i), CUR, (rank), (shape), __LINE__)
#define SIG_OUT(f, i, rank, shape) sig_((f), true, (i), CUR, (rank), (shape), __LINE__)
#define COUNTS(f, nin, nout)                                                             \
  do {                                                                                   \
    if (f) {                                                                             \
      CHECK(nb_fn_nin(f) == (nin));                                                      \
      CHECK(nb_fn_nout(f) == (nout));                                                    \
    }                                                                                    \
  } while (0)

static nb_expr *cst(nb_expr *like, int rank, const int64_t *shape, const double *v) {
  float   fv[MAXEL];
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= shape[d];
  for (int64_t k = 0; k < n && k < MAXEL; k++) fv[k] = (float)v[k];
  nb_dtype dt = nb_expr_dtype(like);
  return nb_const(nb_expr_graph(like), dt, rank, shape, dt == NB_F32 ? (const void *)fv : (const void *)v);
}

static nb_fn *close_fn(nb_graph *g, int nin, nb_expr *const *in, int nout, nb_expr *const *out) {
  nb_fn *f = nb_fn_new(g, nin, in, nout, out);
  if (!f) fprintf(stderr, "  %s: building f failed: %s\n", th_current, nb_errmsg());
  CHECK(f != NULL);
  nb_graph_free(g);
  return f;
}

/* ======================================================================== */
/* The seed polynomial u(x) = [x0^6 x1^4 x2^9 x3^2, x0^2 x1^3 x2^5 x3^3, x0^5 x1^7 x2^7 x3^6] */

static const int    POLY_P[3][4] = {{6, 4, 9, 2}, {2, 3, 5, 3}, {5, 7, 7, 6}};
static const double POLY_X[4] = {1, 0.5, 1.5, 2};
static const double POLY_V[4] = {0.2, 0.3, 0.4, 0.8};
static const double POLY_W[3] = {0.5, 0.8, 1};
/* the seed's printed values */
static const double SEED_JVP[3] = {65.353714, 35.943752, 80.87344};
static const double SEED_VJP[4] = {83.697365, 194.49492, 88.94971, 39.546825};
static const double SEED_JAC[3][4] = {{57.66504, 76.88672, 57.66504, 9.61084},
                                      {15.1875, 45.5625, 25.3125, 11.390625},
                                      {42.714844, 119.60156, 39.867188, 25.628906}};

static nb_expr *poly_row(nb_expr *const *xs, int i) {
  nb_expr *r = NULL;
  for (int j = 0; j < 4; j++) {
    nb_expr *p = nb_pows(xs[j], POLY_P[i][j]);
    r = r ? nb_mul(r, p) : p;
  }
  return r;
}
/* one input x[4], one output u[3] */
static nb_fn *poly_vec(nb_dtype dt) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, 1, SH(4));
  nb_expr  *xs[4], *us[3];
  for (int j = 0; j < 4; j++) xs[j] = nb_index(x, 0, j);
  for (int i = 0; i < 3; i++) us[i] = poly_row(xs, i);
  nb_expr *u = nb_stack(3, us, 0);
  return close_fn(g, 1, &x, 1, &u);
}
/* four rank-0 inputs, three rank-0 outputs */
static nb_fn *poly_scalars(nb_dtype dt) {
  nb_graph   *g = nb_graph_new();
  nb_expr    *xs[4], *us[3];
  const char *names[4] = {"x0", "x1", "x2", "x3"};
  for (int j = 0; j < 4; j++) xs[j] = nb_input(g, names[j], dt, 0, NULL);
  for (int i = 0; i < 3; i++) us[i] = poly_row(xs, i);
  return close_fn(g, 4, xs, 3, us);
}
/* s = w . u(x) */
static nb_fn *poly_dot(nb_dtype dt) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, 1, SH(4));
  nb_expr  *xs[4], *us[3];
  for (int j = 0; j < 4; j++) xs[j] = nb_index(x, 0, j);
  for (int i = 0; i < 3; i++) us[i] = poly_row(xs, i);
  nb_expr *s = nb_sum(nb_mul(nb_stack(3, us, 0), cst(x, 1, SH(3), POLY_W)), 0, NULL, false);
  return close_fn(g, 1, &x, 1, &s);
}

static void poly_exact(double u[3], double J[3][4], double H[3][4][4]) {
  for (int i = 0; i < 3; i++) {
    u[i] = 1;
    for (int j = 0; j < 4; j++) u[i] *= pow(POLY_X[j], POLY_P[i][j]);
    for (int j = 0; j < 4; j++) J[i][j] = POLY_P[i][j] * u[i] / POLY_X[j];
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 4; k++)
        H[i][j][k] = u[i] * POLY_P[i][j] * (POLY_P[i][k] - (j == k)) / (POLY_X[j] * POLY_X[k]);
  }
}

static void test_tr_seed_polynomial(void) {
  double u[3], J[3][4], H[3][4][4], Jv[3], wJ[4];
  poly_exact(u, J, H);
  for (int i = 0; i < 3; i++) {
    Jv[i] = 0;
    for (int j = 0; j < 4; j++) Jv[i] += J[i][j] * POLY_V[j];
  }
  for (int j = 0; j < 4; j++) {
    wJ[j] = 0;
    for (int i = 0; i < 3; i++) wJ[j] += POLY_W[i] * J[i][j];
  }
  /* the analytic values are the seed's */
  for (int i = 0; i < 3; i++) CHECK_NEAR(Jv[i], SEED_JVP[i], 1e-6, 0);
  for (int j = 0; j < 4; j++) CHECK_NEAR(wJ[j], SEED_VJP[j], 1e-6, 0);
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 4; j++) CHECK_NEAR(J[i][j], SEED_JAC[i][j], 1e-6, 0);

  FOR_DT {
    double seed_rt = CUR == NB_F64 ? 1e-6 : 1e-5;
    nb_fn *f = poly_vec(CUR);
    double y[3], d[4], jac[16];
    /* jvp: (x, v) -> (u, J v) */
    nb_fn *t = nb_jvp(f, NULL);
    COUNTS(t, 2, 2);
    if (fx_run(t, "nb_jvp", (const double *[]){POLY_X, POLY_V}, (double *[]){y, d}))
      for (int i = 0; i < 3; i++) {
        NEAR(y[i], u[i]);
        NEAR(d[i], Jv[i]);
        CHECK_NEAR(d[i], SEED_JVP[i], seed_rt, 0);
      }
    nb_fn_free(t);
    /* vjp: (x, w) -> (u, w^T J) */
    t = nb_vjp(f, NULL);
    COUNTS(t, 2, 2);
    if (fx_run(t, "nb_vjp", (const double *[]){POLY_X, POLY_W}, (double *[]){y, d})) {
      for (int i = 0; i < 3; i++) NEAR(y[i], u[i]);
      for (int j = 0; j < 4; j++) {
        NEAR(d[j], wJ[j]);
        CHECK_NEAR(d[j], SEED_VJP[j], seed_rt, 0);
      }
    }
    nb_fn_free(t);
    /* the Jacobian three ways: x -> J [3, 4] */
    nb_fn *(*jacs[3])(const nb_fn *, const nb_diff_opts *) = {nb_jacfwd, nb_jacrev, nb_jacobian};
    const char *jn[3] = {"nb_jacfwd", "nb_jacrev", "nb_jacobian"};
    for (int k = 0; k < 3; k++) {
      t = jacs[k](f, NULL);
      COUNTS(t, 1, 1);
      SIG_OUT(t, 0, 2, SH(3, 4));
      if (fx_run(t, jn[k], (const double *[]){POLY_X}, (double *[]){jac}))
        for (int i = 0; i < 3; i++)
          for (int j = 0; j < 4; j++) {
            NEAR(jac[i * 4 + j], J[i][j]);
            CHECK_NEAR(jac[i * 4 + j], SEED_JAC[i][j], seed_rt, 0);
          }
      nb_fn_free(t);
    }
    nb_fn_free(f);

    /* the same with four scalar inputs and three scalar outputs */
    f = poly_scalars(CUR);
    const double *xs[8], *ws[7];
    double        o[16][1];
    double       *os[16];
    for (int k = 0; k < 16; k++) os[k] = o[k];
    for (int j = 0; j < 4; j++) xs[j] = &POLY_X[j], xs[4 + j] = &POLY_V[j], ws[j] = &POLY_X[j];
    for (int i = 0; i < 3; i++) ws[4 + i] = &POLY_W[i];
    t = nb_jvp(f, NULL);
    COUNTS(t, 8, 6);
    for (int k = 0; k < 8; k++) SIG_IN(t, k, 0, NULL);
    if (fx_run(t, "nb_jvp", xs, os))
      for (int i = 0; i < 3; i++) NEAR(o[i][0], u[i]), NEAR(o[3 + i][0], Jv[i]);
    nb_fn_free(t);
    t = nb_vjp(f, NULL);
    COUNTS(t, 7, 7);
    if (fx_run(t, "nb_vjp", ws, os)) {
      for (int i = 0; i < 3; i++) NEAR(o[i][0], u[i]);
      for (int j = 0; j < 4; j++) NEAR(o[3 + j][0], wJ[j]);
    }
    nb_fn_free(t);
    for (int k = 0; k < 3; k++) {
      t = jacs[k](f, NULL);
      COUNTS(t, 4, 12);
      for (int q = 0; q < 12 && t && nb_fn_nout(t) == 12; q++) SIG_OUT(t, q, 0, NULL);
      if (fx_run(t, jn[k], xs, os)) /* i outer, j inner */
        for (int i = 0; i < 3; i++)
          for (int j = 0; j < 4; j++) NEAR(o[i * 4 + j][0], J[i][j]);
      nb_fn_free(t);
    }
    /* subsets: wrt {1, 3}, the last output auxiliary */
    nb_diff_opts so = {2, (int[]){1, 3}, 1};
    t = nb_jacfwd(f, &so);
    COUNTS(t, 4, 4);
    if (fx_run(t, "nb_jacfwd wrt {1,3} naux 1", xs, os)) {
      NEAR(o[0][0], J[0][1]), NEAR(o[1][0], J[0][3]);
      NEAR(o[2][0], J[1][1]), NEAR(o[3][0], J[1][3]);
    }
    nb_fn_free(t);
    t = nb_jvp(f, &so);
    COUNTS(t, 6, 5);
    {
      const double *in[6] = {xs[0], xs[1], xs[2], xs[3], &POLY_V[1], &POLY_V[3]};
      if (fx_run(t, "nb_jvp wrt {1,3} naux 1", in, os)) {
        for (int i = 0; i < 3; i++) NEAR(o[i][0], u[i]);
        for (int i = 0; i < 2; i++) NEAR(o[3 + i][0], J[i][1] * POLY_V[1] + J[i][3] * POLY_V[3]);
      }
    }
    nb_fn_free(t);
    nb_fn_free(f);

    /* second order: the Hessian of w . u */
    double Hs[16];
    for (int j = 0; j < 4; j++)
      for (int k = 0; k < 4; k++) {
        Hs[j * 4 + k] = 0;
        for (int i = 0; i < 3; i++) Hs[j * 4 + k] += POLY_W[i] * H[i][j][k];
      }
    f = poly_dot(CUR);
    t = nb_hessian(f, NULL);
    COUNTS(t, 1, 1);
    SIG_OUT(t, 0, 2, SH(4, 4));
    if (fx_run(t, "nb_hessian", (const double *[]){POLY_X}, (double *[]){jac}))
      for (int q = 0; q < 16; q++) NEAR(jac[q], Hs[q]);
    nb_fn_free(t);
    t = nb_hvp(f, NULL);
    COUNTS(t, 2, 1);
    if (fx_run(t, "nb_hvp", (const double *[]){POLY_X, POLY_V}, (double *[]){d}))
      for (int j = 0; j < 4; j++) {
        double want = 0;
        for (int k = 0; k < 4; k++) want += Hs[j * 4 + k] * POLY_V[k];
        NEAR(d[j], want);
      }
    nb_fn_free(t);
    t = nb_grad(f, NULL);
    if (fx_run(t, "nb_grad", (const double *[]){POLY_X}, (double *[]){d}))
      for (int j = 0; j < 4; j++) NEAR(d[j], wJ[j]);
    nb_fn_free(t);
    nb_fn_free(f);
  }
}

/* archimedes: f(x) = [x0^2, x0 x1, exp(x1)] at [2, 1], w = [1, 0.5, 2] -> [4.5, 6.43656366] */
static void test_tr_seed_archimedes(void) {
  FOR_DT {
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", CUR, 1, SH(2));
    nb_expr  *x0 = nb_index(x, 0, 0), *x1 = nb_index(x, 0, 1);
    nb_expr  *parts[3] = {nb_mul(x0, x0), nb_mul(x0, x1), nb_exp(x1)};
    nb_expr  *y = nb_stack(3, parts, 0);
    nb_fn    *f = close_fn(g, 1, &x, 1, &y);
    double    xv[2] = {2, 1}, w[3] = {1, 0.5, 2}, yv[3], gv[2], jac[6];
    nb_fn    *t = nb_vjp(f, NULL);
    COUNTS(t, 2, 2);
    SIG_IN(t, 1, 1, SH(3));
    SIG_OUT(t, 1, 1, SH(2));
    if (fx_run(t, "nb_vjp", (const double *[]){xv, w}, (double *[]){yv, gv})) {
      NEAR(yv[0], 4), NEAR(yv[1], 2), NEAR(yv[2], exp(1.0));
      NEAR(gv[0], 4.5);
      NEAR(gv[1], 1 + 2 * exp(1.0));
      CHECK_NEAR(gv[1], 6.43656366, CUR == NB_F64 ? 1e-8 : 1e-6, 0);
    }
    nb_fn_free(t);
    t = nb_jacobian(f, NULL);
    if (fx_run(t, "nb_jacobian", (const double *[]){xv}, (double *[]){jac})) {
      double want[6] = {4, 0, 1, 2, 0, exp(1.0)};
      for (int q = 0; q < 6; q++) NEAR(jac[q], want[q]);
      ZERO(jac[1]), ZERO(jac[4]);
    }
    nb_fn_free(t);
    nb_fn_free(f);
  }
}

/* jax: f(x, y) = (sin x, cos y) at (0.5, 1.0), cotangents (-0.7, 0.3) */
static void test_tr_seed_jax(void) {
  FOR_DT {
    nb_graph *g = nb_graph_new();
    nb_expr  *in[2] = {nb_input(g, "x", CUR, 0, NULL), nb_input(g, "y", CUR, 0, NULL)};
    nb_expr  *out[2] = {nb_sin(in[0]), nb_cos(in[1])};
    nb_fn    *f = close_fn(g, 2, in, 2, out);
    double    x = 0.5, y = 1.0, cx = -0.7, cy = 0.3, o[8];
    double   *os[8] = {&o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7]};
    nb_fn    *t = nb_vjp(f, NULL);
    COUNTS(t, 4, 4);
    if (fx_run(t, "nb_vjp", (const double *[]){&x, &y, &cx, &cy}, os)) {
      NEAR(o[0], sin(0.5)), NEAR(o[1], cos(1.0));
      NEAR(o[2], -0.7 * cos(0.5));
      NEAR(o[3], -0.3 * sin(1.0));
    }
    nb_fn_free(t);
    t = nb_jvp(f, NULL);
    COUNTS(t, 4, 4);
    if (fx_run(t, "nb_jvp", (const double *[]){&x, &y, &cx, &cy}, os)) {
      NEAR(o[2], -0.7 * cos(0.5));
      NEAR(o[3], -0.3 * sin(1.0));
    }
    nb_fn_free(t);
    t = nb_jacobian(f, NULL);
    COUNTS(t, 2, 4);
    if (fx_run(t, "nb_jacobian", (const double *[]){&x, &y}, os)) {
      NEAR(o[0], cos(0.5));
      ZERO(o[1]);
      ZERO(o[2]);
      NEAR(o[3], -sin(1.0));
    }
    nb_fn_free(t);
    nb_fn_free(f);
  }
}

/* ======================================================================== */
/* Output order and shapes. f(a[2], B[2,3], c[]) = (y0 = c (a @ B) [3], y1 = c sum(a^2) [],
 * aux = B + 1 [2,3]); fs(a, B, c) = (s = c sum(a @ B) + c^2 sum(a^2), aux1 = a @ B [3],
 * aux2 = exp(c)). */

static const double A_[2] = {0.5, -1.5};
static const double B_[6] = {1, 2, 3, -1, 0.5, 2};
static const double C_ = 0.75;

static nb_fn *mk_f3(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[3] = {nb_input(g, "a", CUR, 1, SH(2)), nb_input(g, "B", CUR, 2, SH(2, 3)),
                     nb_input(g, "c", CUR, 0, NULL)};
  nb_expr  *ab = nb_matmul(in[0], in[1]);
  nb_expr  *out[3] = {nb_mul(in[2], ab), nb_mul(in[2], nb_sum(nb_mul(in[0], in[0]), 0, NULL, false)),
                      nb_adds(in[1], 1)};
  return close_fn(g, 3, in, 3, out);
}
static nb_fn *mk_fs(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[3] = {nb_input(g, "a", CUR, 1, SH(2)), nb_input(g, "B", CUR, 2, SH(2, 3)),
                     nb_input(g, "c", CUR, 0, NULL)};
  nb_expr  *a = in[0], *c = in[2], *ab = nb_matmul(a, in[1]);
  nb_expr  *s = nb_add(nb_mul(c, nb_sum(ab, 0, NULL, false)),
                       nb_mul(nb_mul(c, c), nb_sum(nb_mul(a, a), 0, NULL, false)));
  nb_expr  *out[3] = {s, ab, nb_exp(c)};
  return close_fn(g, 3, in, 3, out);
}

typedef struct f3ref {
  double ab[3], sa2, sab;
} f3ref;
static f3ref f3_ref(void) {
  f3ref r = {{0}, 0, 0};
  for (int k = 0; k < 3; k++) {
    for (int i = 0; i < 2; i++) r.ab[k] += A_[i] * B_[i * 3 + k];
    r.sab += r.ab[k];
  }
  r.sa2 = A_[0] * A_[0] + A_[1] * A_[1];
  return r;
}

static void test_tr_order_shapes_vector(void) {
  FOR_DT {
    f3ref        R = f3_ref();
    const double c = C_;
    nb_fn       *f = mk_f3();
    nb_diff_opts o = {2, (int[]){0, 2}, 1};
    double       out[10][MAXEL];
    double      *os[10];
    for (int k = 0; k < 10; k++) os[k] = out[k];
    const double ta[2] = {0.3, -0.8}, tc = 1.25, w0[3] = {0.4, -1, 2}, w1 = -0.6;

    /* jvp: (a, B, c, ta, tc) -> (y0, y1, aux, ty0, ty1) */
    nb_fn *t = nb_jvp(f, &o);
    COUNTS(t, 5, 5);
    SIG_IN(t, 0, 1, SH(2)), SIG_IN(t, 1, 2, SH(2, 3)), SIG_IN(t, 2, 0, NULL);
    SIG_IN(t, 3, 1, SH(2)), SIG_IN(t, 4, 0, NULL);
    SIG_OUT(t, 0, 1, SH(3)), SIG_OUT(t, 1, 0, NULL), SIG_OUT(t, 2, 2, SH(2, 3));
    SIG_OUT(t, 3, 1, SH(3)), SIG_OUT(t, 4, 0, NULL);
    if (fx_run(t, "nb_jvp", (const double *[]){A_, B_, &c, ta, &tc}, os)) {
      for (int k = 0; k < 3; k++) {
        NEAR(out[0][k], c * R.ab[k]);
        double tab = ta[0] * B_[k] + ta[1] * B_[3 + k];
        NEAR(out[3][k], c * tab + tc * R.ab[k]);
      }
      NEAR(out[1][0], c * R.sa2);
      for (int q = 0; q < 6; q++) NEAR(out[2][q], B_[q] + 1);
      NEAR(out[4][0], 2 * c * (A_[0] * ta[0] + A_[1] * ta[1]) + tc * R.sa2);
    }
    nb_fn_free(t);

    /* vjp: (a, B, c, w0, w1) -> (y0, y1, aux, ga, gc) */
    t = nb_vjp(f, &o);
    COUNTS(t, 5, 5);
    SIG_IN(t, 3, 1, SH(3)), SIG_IN(t, 4, 0, NULL);
    SIG_OUT(t, 2, 2, SH(2, 3)), SIG_OUT(t, 3, 1, SH(2)), SIG_OUT(t, 4, 0, NULL);
    if (fx_run(t, "nb_vjp", (const double *[]){A_, B_, &c, w0, &w1}, os)) {
      for (int q = 0; q < 6; q++) NEAR(out[2][q], B_[q] + 1);
      for (int i = 0; i < 2; i++) {
        double want = w1 * 2 * c * A_[i];
        for (int k = 0; k < 3; k++) want += c * w0[k] * B_[i * 3 + k];
        NEAR(out[3][i], want);
      }
      double gc = w1 * R.sa2;
      for (int k = 0; k < 3; k++) gc += w0[k] * R.ab[k];
      NEAR(out[4][0], gc);
    }
    nb_fn_free(t);

    /* vjp wrt {1} only: (a, B, c, w0, w1) -> (y0, y1, aux, gB); y1 does not depend on B */
    nb_diff_opts ob = {1, (int[]){1}, 1};
    t = nb_vjp(f, &ob);
    COUNTS(t, 5, 4);
    SIG_OUT(t, 3, 2, SH(2, 3));
    if (fx_run(t, "nb_vjp wrt {1}", (const double *[]){A_, B_, &c, w0, &w1}, os))
      for (int i = 0; i < 2; i++)
        for (int k = 0; k < 3; k++) NEAR(out[3][i * 3 + k], c * A_[i] * w0[k]);
    nb_fn_free(t);

    /* the Jacobians: (a, B, c) -> (dy0/da [3,2], dy0/dc [3], dy1/da [2], dy1/dc []) */
    nb_fn *(*jacs[3])(const nb_fn *, const nb_diff_opts *) = {nb_jacfwd, nb_jacrev, nb_jacobian};
    const char *jn[3] = {"nb_jacfwd", "nb_jacrev", "nb_jacobian"};
    for (int j = 0; j < 3; j++) {
      t = jacs[j](f, &o);
      COUNTS(t, 3, 4);
      SIG_OUT(t, 0, 2, SH(3, 2)), SIG_OUT(t, 1, 1, SH(3)), SIG_OUT(t, 2, 1, SH(2));
      SIG_OUT(t, 3, 0, NULL);
      if (fx_run(t, jn[j], (const double *[]){A_, B_, &c}, os)) {
        for (int k = 0; k < 3; k++) {
          for (int i = 0; i < 2; i++) NEAR(out[0][k * 2 + i], c * B_[i * 3 + k]);
          NEAR(out[1][k], R.ab[k]);
        }
        for (int i = 0; i < 2; i++) NEAR(out[2][i], 2 * c * A_[i]);
        NEAR(out[3][0], R.sa2);
      }
      nb_fn_free(t);
      /* all inputs: 6 blocks, dy1/dB exactly zero */
      nb_diff_opts oa = {0, NULL, 1};
      t = jacs[j](f, &oa);
      COUNTS(t, 3, 6);
      SIG_OUT(t, 0, 2, SH(3, 2)), SIG_OUT(t, 1, 3, SH(3, 2, 3)), SIG_OUT(t, 2, 1, SH(3));
      SIG_OUT(t, 3, 1, SH(2)), SIG_OUT(t, 4, 2, SH(2, 3)), SIG_OUT(t, 5, 0, NULL);
      if (fx_run(t, jn[j], (const double *[]){A_, B_, &c}, os)) {
        for (int k = 0; k < 3; k++)
          for (int i = 0; i < 2; i++)
            for (int m = 0; m < 3; m++) {
              double want = m == k ? c * A_[i] : 0;
              if (want == 0) ZERO(out[1][(k * 2 + i) * 3 + m]);
              else NEAR(out[1][(k * 2 + i) * 3 + m], want);
            }
        for (int q = 0; q < 6; q++) ZERO(out[4][q]);
        NEAR(out[5][0], R.sa2);
      }
      nb_fn_free(t);
    }
    nb_fn_free(f);
  }
}

static void test_tr_order_shapes_scalar(void) {
  FOR_DT {
    f3ref        R = f3_ref();
    const double c = C_;
    nb_fn       *f = mk_fs();
    nb_diff_opts o = {2, (int[]){0, 2}, 2};
    double       out[10][MAXEL];
    double      *os[10];
    for (int k = 0; k < 10; k++) os[k] = out[k];
    double ga[2], gB[6], gc = R.sab + 2 * c * R.sa2;
    for (int i = 0; i < 2; i++) {
      ga[i] = 2 * c * c * A_[i];
      for (int k = 0; k < 3; k++) ga[i] += c * B_[i * 3 + k], gB[i * 3 + k] = c * A_[i];
    }
    double s = c * R.sab + c * c * R.sa2;

    /* grad: (a, B, c) -> (ga, gc) */
    nb_fn *t = nb_grad(f, &o);
    COUNTS(t, 3, 2);
    SIG_OUT(t, 0, 1, SH(2)), SIG_OUT(t, 1, 0, NULL);
    if (fx_run(t, "nb_grad", (const double *[]){A_, B_, &c}, os)) {
      NEAR(out[0][0], ga[0]), NEAR(out[0][1], ga[1]);
      NEAR(out[1][0], gc);
    }
    nb_fn_free(t);
    /* all inputs (aux still declared) */
    nb_diff_opts oa = {0, NULL, 2};
    t = nb_grad(f, &oa);
    COUNTS(t, 3, 3);
    SIG_OUT(t, 0, 1, SH(2)), SIG_OUT(t, 1, 2, SH(2, 3)), SIG_OUT(t, 2, 0, NULL);
    if (fx_run(t, "nb_grad all", (const double *[]){A_, B_, &c}, os)) {
      for (int q = 0; q < 6; q++) NEAR(out[1][q], gB[q]);
      NEAR(out[2][0], gc);
    }
    nb_fn_free(t);

    /* value_and_grad: (a, B, c) -> (s, aux1, aux2, ga, gc) */
    t = nb_value_and_grad(f, &o);
    COUNTS(t, 3, 5);
    SIG_OUT(t, 0, 0, NULL), SIG_OUT(t, 1, 1, SH(3)), SIG_OUT(t, 2, 0, NULL);
    SIG_OUT(t, 3, 1, SH(2)), SIG_OUT(t, 4, 0, NULL);
    if (fx_run(t, "nb_value_and_grad", (const double *[]){A_, B_, &c}, os)) {
      NEAR(out[0][0], s);
      for (int k = 0; k < 3; k++) NEAR(out[1][k], R.ab[k]);
      NEAR(out[2][0], exp(C_));
      NEAR(out[3][0], ga[0]), NEAR(out[3][1], ga[1]);
      NEAR(out[4][0], gc);
    }
    nb_fn_free(t);

    /* Hessian blocks over (a, c): Haa = 2c^2 I, Hac = Hca = rowsum(B) + 4 c a, Hcc = 2 sum(a^2) */
    double Hac[2];
    for (int i = 0; i < 2; i++) Hac[i] = B_[i * 3] + B_[i * 3 + 1] + B_[i * 3 + 2] + 4 * c * A_[i];
    t = nb_hessian(f, &o);
    COUNTS(t, 3, 4);
    SIG_OUT(t, 0, 2, SH(2, 2)), SIG_OUT(t, 1, 1, SH(2)), SIG_OUT(t, 2, 1, SH(2));
    SIG_OUT(t, 3, 0, NULL);
    if (fx_run(t, "nb_hessian", (const double *[]){A_, B_, &c}, os)) {
      NEAR(out[0][0], 2 * c * c), ZERO(out[0][1]), ZERO(out[0][2]), NEAR(out[0][3], 2 * c * c);
      for (int i = 0; i < 2; i++) NEAR(out[1][i], Hac[i]), NEAR(out[2][i], Hac[i]);
      NEAR(out[3][0], 2 * R.sa2);
    }
    nb_fn_free(t);
    /* all inputs: 9 blocks, j outer */
    t = nb_hessian(f, &oa);
    COUNTS(t, 3, 9);
    SIG_OUT(t, 0, 2, SH(2, 2)), SIG_OUT(t, 1, 3, SH(2, 2, 3)), SIG_OUT(t, 2, 1, SH(2));
    SIG_OUT(t, 3, 3, SH(2, 3, 2)), SIG_OUT(t, 4, 4, SH(2, 3, 2, 3)), SIG_OUT(t, 5, 2, SH(2, 3));
    SIG_OUT(t, 6, 1, SH(2)), SIG_OUT(t, 7, 2, SH(2, 3)), SIG_OUT(t, 8, 0, NULL);
    if (fx_run(t, "nb_hessian all", (const double *[]){A_, B_, &c}, os)) {
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 2; j++)
          for (int k = 0; k < 3; k++) {
            double want = i == j ? c : 0; /* d2 s / da_i dB_jk = c delta_ij */
            NEAR(out[1][(i * 2 + j) * 3 + k], want);
            NEAR(out[3][(j * 3 + k) * 2 + i], want);
          }
      for (int q = 0; q < 36; q++) ZERO(out[4][q]);
      for (int j = 0; j < 2; j++)
        for (int k = 0; k < 3; k++) NEAR(out[5][j * 3 + k], A_[j]), NEAR(out[7][j * 3 + k], A_[j]);
      for (int i = 0; i < 2; i++) NEAR(out[2][i], Hac[i]), NEAR(out[6][i], Hac[i]);
      NEAR(out[8][0], 2 * R.sa2);
    }
    nb_fn_free(t);

    /* hvp: (a, B, c, va, vc) -> ((Hv)_a, (Hv)_c) */
    const double va[2] = {0.6, -0.2}, vc = 1.5;
    t = nb_hvp(f, &o);
    COUNTS(t, 5, 2);
    SIG_IN(t, 3, 1, SH(2)), SIG_IN(t, 4, 0, NULL);
    SIG_OUT(t, 0, 1, SH(2)), SIG_OUT(t, 1, 0, NULL);
    if (fx_run(t, "nb_hvp", (const double *[]){A_, B_, &c, va, &vc}, os)) {
      for (int i = 0; i < 2; i++) NEAR(out[0][i], 2 * c * c * va[i] + Hac[i] * vc);
      NEAR(out[1][0], Hac[0] * va[0] + Hac[1] * va[1] + 2 * R.sa2 * vc);
    }
    nb_fn_free(t);

    /* jacfwd(grad) and jacrev(grad) are Hessians too */
    nb_fn *gr = nb_grad(f, &o);
    for (int k = 0; k < 2; k++) {
      nb_diff_opts go = {2, (int[]){0, 2}, 0};
      t = gr ? (k ? nb_jacrev(gr, &go) : nb_jacfwd(gr, &go)) : NULL;
      COUNTS(t, 3, 4);
      if (fx_run(t, k ? "nb_jacrev(nb_grad)" : "nb_jacfwd(nb_grad)", (const double *[]){A_, B_, &c}, os)) {
        NEAR(out[0][0], 2 * c * c), ZERO(out[0][1]), ZERO(out[0][2]), NEAR(out[0][3], 2 * c * c);
        for (int i = 0; i < 2; i++) NEAR(out[1][i], Hac[i]), NEAR(out[2][i], Hac[i]);
        NEAR(out[3][0], 2 * R.sa2);
      }
      nb_fn_free(t);
    }
    nb_fn_free(gr);
    nb_fn_free(f);
  }
}

/* grad of an output with one element but rank 1, 2 or 3 */
static void test_tr_one_element_output(void) {
  const int64_t shapes[3][3] = {{1, 0, 0}, {1, 1, 0}, {1, 1, 1}};
  FOR_DT {
    for (int r = 1; r <= 3; r++) {
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", CUR, 1, SH(3));
      nb_expr  *y = nb_reshape(nb_sum(nb_mul(x, x), 0, NULL, false), r, shapes[r - 1]);
      nb_fn    *f = close_fn(g, 1, &x, 1, &y);
      double    xv[3] = {1, -2, 0.5}, v[3] = {0.5, 1, -1}, o[2][MAXEL];
      nb_fn    *t = nb_grad(f, NULL);
      if (fx_run(t, "nb_grad", (const double *[]){xv}, (double *[]){o[0]}))
        for (int k = 0; k < 3; k++) NEAR(o[0][k], 2 * xv[k]);
      nb_fn_free(t);
      t = nb_value_and_grad(f, NULL);
      SIG_OUT(t, 0, r, shapes[r - 1]);
      if (fx_run(t, "nb_value_and_grad", (const double *[]){xv}, (double *[]){o[0], o[1]})) {
        NEAR(o[0][0], 5.25);
        for (int k = 0; k < 3; k++) NEAR(o[1][k], 2 * xv[k]);
      }
      nb_fn_free(t);
      t = nb_hvp(f, NULL);
      if (fx_run(t, "nb_hvp", (const double *[]){xv, v}, (double *[]){o[0]}))
        for (int k = 0; k < 3; k++) NEAR(o[0][k], 2 * v[k]);
      nb_fn_free(t);
      t = nb_hessian(f, NULL);
      SIG_OUT(t, 0, 2, SH(3, 3));
      if (fx_run(t, "nb_hessian", (const double *[]){xv}, (double *[]){o[0]}))
        for (int q = 0; q < 9; q++) NEAR(o[0][q], q % 4 == 0 ? 2 : 0);
      nb_fn_free(t);
      /* the Jacobian keeps the output's unit axes: shape [1...] ++ [3] */
      t = nb_jacobian(f, NULL);
      {
        int64_t js[4] = {1, 1, 1, 1};
        js[r] = 3;
        SIG_OUT(t, 0, r + 1, js);
      }
      if (fx_run(t, "nb_jacobian", (const double *[]){xv}, (double *[]){o[0]}))
        for (int k = 0; k < 3; k++) NEAR(o[0][k], 2 * xv[k]);
      nb_fn_free(t);
      nb_fn_free(f);
    }
  }
}

/* outputs that do not depend on a wrt input get exact zeros, even when their
 * value is NaN; outputs may be inputs, constants, or repeated */
static void test_tr_independent_outputs(void) {
  FOR_DT {
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", CUR, 1, SH(2)), *y = nb_input(g, "y", CUR, 1, SH(3));
    nb_expr  *in[2] = {x, y};
    nb_expr  *out[5] = {nb_sum(nb_sin(x), 0, NULL, false), nb_sqrt(y),
                        nb_full(g, CUR, 1, SH(2), 5.0), x, x};
    nb_fn    *f = close_fn(g, 2, in, 5, out);
    double    xv[2] = {0.5, -1}, yv[3] = {-1, 4, -9}, tx[2] = {2, 3};
    double    w0 = 1.5, w1[3] = {1, 1, 1}, w2[2] = {7, 7}, w3[2] = {0.25, -1}, w4[2] = {1, 2};
    double    o[12][MAXEL];
    double   *os[12];
    for (int k = 0; k < 12; k++) os[k] = o[k];
    nb_diff_opts o0 = {1, (int[]){0}, 0};

    /* jvp wrt x: (x, y, tx) -> (5 values, 5 tangents) */
    nb_fn *t = nb_jvp(f, &o0);
    COUNTS(t, 3, 10);
    SIG_OUT(t, 6, 1, SH(3)), SIG_OUT(t, 7, 1, SH(2));
    if (fx_run(t, "nb_jvp wrt {0}", (const double *[]){xv, yv, tx}, os)) {
      NEAR(o[5][0], cos(0.5) * 2 + cos(-1.0) * 3);
      for (int k = 0; k < 3; k++) ZERO(o[6][k]); /* sqrt(y) is NaN at y = -1, its tangent 0 */
      for (int k = 0; k < 2; k++) ZERO(o[7][k]);
      for (int k = 0; k < 2; k++) NEAR(o[8][k], tx[k]), NEAR(o[9][k], tx[k]);
    }
    nb_fn_free(t);

    /* vjp wrt x: (x, y, w0..w4) -> (values, gx); gx = cos(x) w0 + w3 + w4 */
    t = nb_vjp(f, &o0);
    COUNTS(t, 7, 6);
    if (fx_run(t, "nb_vjp wrt {0}", (const double *[]){xv, yv, &w0, w1, w2, w3, w4}, os))
      for (int k = 0; k < 2; k++) NEAR(o[5][k], cos(xv[k]) * w0 + w3[k] + w4[k]);
    nb_fn_free(t);

    /* Jacobians wrt x: d sqrt(y)/dx and d const/dx exactly 0, dx/dx = I */
    nb_fn *(*jacs[3])(const nb_fn *, const nb_diff_opts *) = {nb_jacfwd, nb_jacrev, nb_jacobian};
    for (int j = 0; j < 3; j++) {
      t = jacs[j](f, &o0);
      COUNTS(t, 2, 5);
      SIG_OUT(t, 0, 1, SH(2)), SIG_OUT(t, 1, 2, SH(3, 2)), SIG_OUT(t, 2, 2, SH(2, 2));
      if (fx_run(t, "jacobian wrt {0}", (const double *[]){xv, yv}, os)) {
        NEAR(o[0][0], cos(0.5)), NEAR(o[0][1], cos(-1.0));
        for (int q = 0; q < 6; q++) ZERO(o[1][q]);
        for (int q = 0; q < 4; q++) ZERO(o[2][q]);
        for (int q = 0; q < 4; q++) NEAR(o[3][q], q % 3 == 0 ? 1 : 0), NEAR(o[4][q], q % 3 == 0 ? 1 : 0);
      }
      nb_fn_free(t);
    }
    nb_fn_free(f);

    /* a constant scalar function: every derivative is an exact 0 */
    g = nb_graph_new();
    x = nb_input(g, "x", CUR, 1, SH(2));
    nb_expr *k5 = nb_sum(nb_full(g, CUR, 1, SH(2), 2.5), 0, NULL, false);
    f = close_fn(g, 1, &x, 1, &k5);
    t = nb_grad(f, NULL);
    if (fx_run(t, "nb_grad of a constant", (const double *[]){xv}, os)) ZERO(o[0][0]), ZERO(o[0][1]);
    nb_fn_free(t);
    t = nb_hessian(f, NULL);
    if (fx_run(t, "nb_hessian of a constant", (const double *[]){xv}, os))
      for (int q = 0; q < 4; q++) ZERO(o[0][q]);
    nb_fn_free(t);
    t = nb_jvp(f, NULL);
    if (fx_run(t, "nb_jvp of a constant", (const double *[]){xv, tx}, os)) NEAR(o[0][0], 5), ZERO(o[1][0]);
    nb_fn_free(t);
    nb_fn_free(f);
  }
}

/* functions without inputs, and with every output auxiliary */
static void test_tr_degenerate(void) {
  FOR_DT {
    nb_graph *g = nb_graph_new();
    nb_expr  *y = nb_sin(nb_full(g, CUR, 0, NULL, 0.5));
    nb_fn    *f = close_fn(g, 0, NULL, 1, &y);
    double    o[4][MAXEL], ct = 2;
    double   *os[4] = {o[0], o[1], o[2], o[3]};
    nb_fn    *t = nb_jvp(f, NULL);
    COUNTS(t, 0, 2);
    if (fx_run(t, "nb_jvp (no inputs)", NULL, os)) NEAR(o[0][0], sin(0.5)), ZERO(o[1][0]);
    nb_fn_free(t);
    t = nb_vjp(f, NULL);
    COUNTS(t, 1, 1);
    if (fx_run(t, "nb_vjp (no inputs)", (const double *[]){&ct}, os)) NEAR(o[0][0], sin(0.5));
    nb_fn_free(t);
    t = nb_grad(f, NULL);
    COUNTS(t, 0, 0);
    if (fx_run(t, "nb_grad (no inputs)", NULL, os)) CHECK(1);
    nb_fn_free(t);
    t = nb_value_and_grad(f, NULL);
    COUNTS(t, 0, 1);
    if (fx_run(t, "nb_value_and_grad (no inputs)", NULL, os)) NEAR(o[0][0], sin(0.5));
    nb_fn_free(t);
    t = nb_hessian(f, NULL);
    COUNTS(t, 0, 0);
    nb_fn_free(t);
    t = nb_jacobian(f, NULL);
    COUNTS(t, 0, 0);
    nb_fn_free(t);
    nb_fn_free(f);

    /* naux = nout: nothing is differentiated */
    g = nb_graph_new();
    nb_expr *x = nb_input(g, "x", CUR, 1, SH(2));
    nb_expr *outs[2] = {nb_exp(x), nb_sum(x, 0, NULL, false)};
    f = close_fn(g, 1, &x, 2, outs);
    nb_diff_opts all_aux = {0, NULL, 2};
    double       xv[2] = {0, 1}, tv[2] = {1, 1};
    t = nb_jvp(f, &all_aux);
    COUNTS(t, 2, 2);
    if (fx_run(t, "nb_jvp naux = nout", (const double *[]){xv, tv}, os)) NEAR(o[0][1], exp(1.0)), NEAR(o[1][0], 1);
    nb_fn_free(t);
    t = nb_vjp(f, &all_aux);
    COUNTS(t, 1, 3);
    if (fx_run(t, "nb_vjp naux = nout", (const double *[]){xv}, os)) ZERO(o[2][0]), ZERO(o[2][1]);
    nb_fn_free(t);
    t = nb_jacobian(f, &all_aux);
    COUNTS(t, 1, 0);
    nb_fn_free(t);
    nb_fn_free(f);
  }
}

/* a transformation result does not depend on its argument staying alive */
static void test_tr_result_outlives_f(void) {
  set_dt(NB_F64);
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, SH(2));
  nb_expr  *y = nb_sum(nb_mul(nb_sin(x), x), 0, NULL, false);
  nb_fn    *f = close_fn(g, 1, &x, 1, &y);
  nb_fn    *gr = nb_grad(f, NULL), *h = nb_hessian(f, NULL), *hv = nb_hvp(f, NULL);
  nb_fn    *jj = gr ? nb_jvp(gr, NULL) : NULL;
  nb_fn_free(f);
  double xv[2] = {0.3, -1.2}, v[2] = {1, 0}, o[2][4];
  if (fx_run(gr, "nb_grad", (const double *[]){xv}, (double *[]){o[0]}))
    for (int k = 0; k < 2; k++) NEAR(o[0][k], cos(xv[k]) * xv[k] + sin(xv[k]));
  if (fx_run(h, "nb_hessian", (const double *[]){xv}, (double *[]){o[0]})) {
    NEAR(o[0][0], 2 * cos(xv[0]) - xv[0] * sin(xv[0]));
    ZERO(o[0][1]), ZERO(o[0][2]);
    NEAR(o[0][3], 2 * cos(xv[1]) - xv[1] * sin(xv[1]));
  }
  if (fx_run(hv, "nb_hvp", (const double *[]){xv, v}, (double *[]){o[0]}))
    NEAR(o[0][0], 2 * cos(xv[0]) - xv[0] * sin(xv[0])), ZERO(o[0][1]);
  if (fx_run(jj, "nb_jvp(nb_grad)", (const double *[]){xv, v}, (double *[]){o[0], o[1]}))
    NEAR(o[1][0], 2 * cos(xv[0]) - xv[0] * sin(xv[0])), ZERO(o[1][1]);
  /* the transformed function transforms again */
  nb_fn *gg = jj ? nb_vjp(jj, NULL) : NULL;
  CHECK(gg != NULL);
  nb_fn_free(gr), nb_fn_free(h), nb_fn_free(hv), nb_fn_free(jj), nb_fn_free(gg);
}

/* mixed dtypes: each derivative has its input's dtype */
static void test_tr_mixed_dtypes(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = nb_input(g, "a", NB_F32, 1, SH(2)), *b = nb_input(g, "b", NB_F64, 0, NULL);
  nb_expr  *in[2] = {a, b};
  nb_expr  *y = nb_mul(nb_sum(nb_cast(nb_mul(a, a), NB_F64), 0, NULL, false), b);
  nb_fn    *f = close_fn(g, 2, in, 1, &y);
  set_dt(NB_F32);
  double av[2] = {1.5, -2}, bv = 0.5, ta[2] = {1, 1}, tb = 2, o[4][4];
  nb_fn *t = nb_grad(f, NULL);
  if (t) {
    sig_(t, true, 0, NB_F32, 1, SH(2), __LINE__);
    sig_(t, true, 1, NB_F64, 0, NULL, __LINE__);
  }
  if (fx_run(t, "nb_grad", (const double *[]){av, &bv}, (double *[]){o[0], o[1]})) {
    NEAR(o[0][0], 1.5), NEAR(o[0][1], -2);
    NEAR(o[1][0], 6.25);
  }
  nb_fn_free(t);
  t = nb_jvp(f, NULL);
  if (t) {
    sig_(t, false, 2, NB_F32, 1, SH(2), __LINE__);
    sig_(t, false, 3, NB_F64, 0, NULL, __LINE__);
    sig_(t, true, 1, NB_F64, 0, NULL, __LINE__);
  }
  if (fx_run(t, "nb_jvp", (const double *[]){av, &bv, ta, &tb}, (double *[]){o[0], o[1]}))
    NEAR(o[1][0], 1.5 - 2 + 6.25 * 2);
  nb_fn_free(t);
  t = nb_hvp(f, NULL);
  if (t) {
    sig_(t, false, 2, NB_F32, 1, SH(2), __LINE__);
    sig_(t, true, 0, NB_F32, 1, SH(2), __LINE__);
    sig_(t, true, 1, NB_F64, 0, NULL, __LINE__);
  }
  /* H = [[2b, 0, 2a0], [0, 2b, 2a1], [2a0, 2a1, 0]] */
  if (fx_run(t, "nb_hvp", (const double *[]){av, &bv, ta, &tb}, (double *[]){o[0], o[1]})) {
    NEAR(o[0][0], 1 + 2 * 1.5 * 2), NEAR(o[0][1], 1 - 2 * 2 * 2);
    NEAR(o[1][0], 3 - 4);
  }
  nb_fn_free(t);
  nb_fn_free(f);
}

/* ======================================================================== */
/* third order: f(x) = x^3 sin x */
static nb_expr *cube_sin(nb_expr *x) { return nb_mul(nb_pows(x, 3), nb_sin(x)); }

static void test_tr_third_order(void) {
  const double x = 0.75, s = sin(x), c = cos(x);
  const double d1 = 3 * x * x * s + x * x * x * c;
  const double d2 = 6 * x * s + 6 * x * x * c - x * x * x * s;
  const double d3 = 6 * s + 18 * x * c - 9 * x * x * s - x * x * x * c;
  FOR_DT {
    nb_graph *g = nb_graph_new();
    nb_expr  *in = nb_input(g, "x", CUR, 0, NULL);
    nb_expr  *y = cube_sin(in);
    nb_fn    *f = close_fn(g, 1, &in, 1, &y);
    double    o[8];
    double   *os[8] = {&o[0], &o[1], &o[2], &o[3], &o[4], &o[5], &o[6], &o[7]};

    nb_fn *g1 = nb_grad(f, NULL), *g2 = g1 ? nb_grad(g1, NULL) : NULL;
    nb_fn *g3 = g2 ? nb_grad(g2, NULL) : NULL;
    if (fx_run(g1, "nb_grad", (const double *[]){&x}, os)) NEAR(o[0], d1);
    if (fx_run(g2, "nb_grad^2", (const double *[]){&x}, os)) NEAR(o[0], d2);
    if (fx_run(g3, "nb_grad^3", (const double *[]){&x}, os)) NEAR(o[0], d3);
    nb_fn_free(g1), nb_fn_free(g2), nb_fn_free(g3);

    /* jvp(vjp(vjp f)): inputs (x, cy, c_y, c_g, tx, tcy, tc_y, tc_g),
     * outputs (y, g = f' cy, dx = f' c_y + f'' cy c_g, dcy = f' c_g, ty, tg, tdx, tdcy) */
    nb_fn *v1 = nb_vjp(f, NULL), *v2 = v1 ? nb_vjp(v1, NULL) : NULL;
    nb_fn *j3 = v2 ? nb_jvp(v2, NULL) : NULL;
    COUNTS(j3, 8, 8);
    const double cy = 1.3, c_y = 0.4, c_g = -0.6, one = 1, zero = 0;
    if (fx_run(j3, "nb_jvp(nb_vjp(nb_vjp))",
            (const double *[]){&x, &cy, &c_y, &c_g, &one, &zero, &zero, &zero}, os)) {
      NEAR(o[1], d1 * cy);
      NEAR(o[2], d1 * c_y + d2 * cy * c_g);
      NEAR(o[3], d1 * c_g);
      NEAR(o[4], d1);
      NEAR(o[5], d2 * cy);
      NEAR(o[6], d2 * c_y + d3 * cy * c_g);
      NEAR(o[7], d2 * c_g);
    }
    /* the same seeded through the cotangent inputs: d/dcy of dx = f'' c_g */
    if (fx_run(j3, "nb_jvp(nb_vjp(nb_vjp))",
            (const double *[]){&x, &cy, &c_y, &c_g, &zero, &one, &zero, &zero}, os)) {
      ZERO(o[4]);
      NEAR(o[5], d1);
      NEAR(o[6], d2 * c_g);
      ZERO(o[7]);
    }
    nb_fn_free(v1), nb_fn_free(v2), nb_fn_free(j3);

    /* jvp^3 and the Jacobian of the Hessian */
    nb_fn *a1 = nb_jvp(f, NULL), *a2 = a1 ? nb_jvp(a1, NULL) : NULL;
    nb_fn *a3 = a2 ? nb_jvp(a2, NULL) : NULL;
    if (fx_run(a3, "nb_jvp^3", (const double *[]){&x, &one, &one, &zero, &one, &zero, &zero, &zero}, os))
      NEAR(o[7], d3);
    nb_fn_free(a1), nb_fn_free(a2), nb_fn_free(a3);
    nb_fn *h = nb_hessian(f, NULL), *jh = h ? nb_jacfwd(h, NULL) : NULL;
    nb_fn *rh = h ? nb_jacrev(h, NULL) : NULL;
    if (fx_run(h, "nb_hessian", (const double *[]){&x}, os)) NEAR(o[0], d2);
    if (fx_run(jh, "nb_jacfwd(nb_hessian)", (const double *[]){&x}, os)) NEAR(o[0], d3);
    if (fx_run(rh, "nb_jacrev(nb_hessian)", (const double *[]){&x}, os)) NEAR(o[0], d3);
    nb_fn_free(h), nb_fn_free(jh), nb_fn_free(rh);
    nb_fn_free(f);
  }
}

/* hvp and hessian against an analytic Hessian:
 * f(x) = x0^2 x1 + sin(x2) x0 + exp(x1 x2) */
static void test_tr_hvp_hessian_analytic(void) {
  const double x[3] = {0.5, -0.25, 1.25}, v[3] = {0.75, -1.5, 0.5};
  const double e = exp(x[1] * x[2]);
  const double H[9] = {2 * x[1],       2 * x[0],
                       cos(x[2]),      2 * x[0],
                       x[2] * x[2] * e, e + x[1] * x[2] * e,
                       cos(x[2]),      e + x[1] * x[2] * e,
                       -x[0] * sin(x[2]) + x[1] * x[1] * e};
  const double gx[3] = {2 * x[0] * x[1] + sin(x[2]), x[0] * x[0] + x[2] * e,
                        x[0] * cos(x[2]) + x[1] * e};
  FOR_DT {
    nb_graph *g = nb_graph_new();
    nb_expr  *in = nb_input(g, "x", CUR, 1, SH(3));
    nb_expr  *x0 = nb_index(in, 0, 0), *x1 = nb_index(in, 0, 1), *x2 = nb_index(in, 0, 2);
    nb_expr  *y = nb_add(nb_add(nb_mul(nb_mul(x0, x0), x1), nb_mul(nb_sin(x2), x0)),
                         nb_exp(nb_mul(x1, x2)));
    nb_fn    *f = close_fn(g, 1, &in, 1, &y);
    double    o[2][MAXEL];
    nb_fn    *t = nb_hvp(f, NULL);
    COUNTS(t, 2, 1);
    if (fx_run(t, "nb_hvp", (const double *[]){x, v}, (double *[]){o[0]}))
      for (int i = 0; i < 3; i++)
        NEAR(o[0][i], H[i * 3] * v[0] + H[i * 3 + 1] * v[1] + H[i * 3 + 2] * v[2]);
    nb_fn_free(t);
    t = nb_hessian(f, NULL);
    SIG_OUT(t, 0, 2, SH(3, 3));
    if (fx_run(t, "nb_hessian", (const double *[]){x}, (double *[]){o[0]}))
      for (int q = 0; q < 9; q++) NEAR(o[0][q], H[q]);
    nb_fn_free(t);
    t = nb_value_and_grad(f, NULL);
    if (fx_run(t, "nb_value_and_grad", (const double *[]){x}, (double *[]){o[0], o[1]}))
      for (int i = 0; i < 3; i++) NEAR(o[1][i], gx[i]);
    nb_fn_free(t);
    /* nb_jacobian(nb_grad) */
    nb_fn *gr = nb_grad(f, NULL);
    t = gr ? nb_jacobian(gr, NULL) : NULL;
    if (fx_run(t, "nb_jacobian(nb_grad)", (const double *[]){x}, (double *[]){o[0]}))
      for (int q = 0; q < 9; q++) NEAR(o[0][q], H[q]);
    nb_fn_free(t), nb_fn_free(gr);
    nb_fn_free(f);
  }
}

/* ======================================================================== */
/* error paths */
typedef nb_fn *(*tr_fn)(const nb_fn *, const nb_diff_opts *);
static const struct {
  const char *name;
  tr_fn       fn;
  bool        scalar; /* differentiates exactly one one-element output */
} TR[] = {{"nb_jvp", nb_jvp, false},        {"nb_vjp", nb_vjp, false},
          {"nb_grad", nb_grad, true},       {"nb_value_and_grad", nb_value_and_grad, true},
          {"nb_jacfwd", nb_jacfwd, false},  {"nb_jacrev", nb_jacrev, false},
          {"nb_jacobian", nb_jacobian, false}, {"nb_hessian", nb_hessian, true},
          {"nb_hvp", nb_hvp, true}};

static void expect_fail_(tr_fn fn, const nb_fn *f, const nb_diff_opts *o, nb_status code,
                         const char *name, const char *rest, int line) {
  char prefix[128];
  snprintf(prefix, sizeof prefix, "%s: %s", name, rest);
  nb_errclear();
  int    before = th_failed_checks;
  nb_fn *r = fn(f, o);
  CHECK(r == NULL);
  nb_fn_free(r);
  CHECK_ERR(code, prefix);
  if (th_failed_checks > before) fprintf(stderr, "    ^ %s, case at line %d\n", name, line);
}
#define EXPECT_FAIL(k, f, o, code, rest) expect_fail_(TR[k].fn, (f), (o), (code), TR[k].name, (rest), __LINE__)

static void test_tr_errors(void) {
  set_dt(NB_F64);
  /* f(a[2], b[], c[2]) = (s = sum(a) b, v = a c) */
  nb_graph *g = nb_graph_new();
  nb_expr  *in[3] = {nb_input(g, "a", NB_F64, 1, SH(2)), nb_input(g, "b", NB_F64, 0, NULL),
                     nb_input(g, "c", NB_F64, 1, SH(2))};
  nb_expr  *out[2] = {nb_mul(nb_sum(in[0], 0, NULL, false), in[1]), nb_mul(in[0], in[2])};
  nb_fn    *f = close_fn(g, 3, in, 2, out);
  /* v first: its differentiated output has two elements */
  g = nb_graph_new();
  nb_expr *in2[3] = {nb_input(g, "a", NB_F64, 1, SH(2)), nb_input(g, "b", NB_F64, 0, NULL),
                     nb_input(g, "c", NB_F64, 1, SH(2))};
  nb_expr *out2[2] = {nb_mul(in2[0], in2[2]), nb_mul(nb_sum(in2[0], 0, NULL, false), in2[1])};
  nb_fn   *fv = close_fn(g, 3, in2, 2, out2);
  if (!f || !fv) {
    nb_fn_free(f), nb_fn_free(fv);
    return;
  }

  for (int k = 0; k < NA(TR); k++) {
    nb_diff_opts ok = {0, NULL, 1};
    /* NULL function */
    EXPECT_FAIL(k, NULL, &ok, NB_ERR_ARG, "");
    EXPECT_FAIL(k, NULL, NULL, NB_ERR_ARG, "");
    /* wrt index out of range, negative */
    EXPECT_FAIL(k, f, (&(nb_diff_opts){2, (int[]){0, 3}, 1}), NB_ERR_ARG, "wrt index 3 out of range");
    EXPECT_FAIL(k, f, (&(nb_diff_opts){1, (int[]){-1}, 1}), NB_ERR_ARG, "wrt index -1 out of range");
    /* not ascending, repeated */
    EXPECT_FAIL(k, f, (&(nb_diff_opts){2, (int[]){2, 0}, 1}), NB_ERR_ARG, "wrt indices must be ascending");
    EXPECT_FAIL(k, f, (&(nb_diff_opts){2, (int[]){1, 1}, 1}), NB_ERR_ARG, "wrt indices must be ascending");
    /* negative nwrt, nwrt > 0 with NULL wrt, nwrt > nin */
    EXPECT_FAIL(k, f, (&(nb_diff_opts){-1, (int[]){0}, 1}), NB_ERR_ARG, "invalid wrt list");
    EXPECT_FAIL(k, f, (&(nb_diff_opts){2, NULL, 1}), NB_ERR_ARG, "invalid wrt list");
    EXPECT_FAIL(k, f, (&(nb_diff_opts){4, (int[]){0, 1, 2, 3}, 1}), NB_ERR_ARG, "");
    /* naux out of range */
    EXPECT_FAIL(k, f, (&(nb_diff_opts){0, NULL, 3}), NB_ERR_ARG, "naux 3 out of range");
    EXPECT_FAIL(k, f, (&(nb_diff_opts){0, NULL, -1}), NB_ERR_ARG, "naux -1 out of range");
    if (TR[k].scalar) {
      /* nout - naux != 1 */
      EXPECT_FAIL(k, f, NULL, NB_ERR_ARG, "needs exactly one differentiated output");
      EXPECT_FAIL(k, f, (&(nb_diff_opts){0, NULL, 2}), NB_ERR_ARG, "needs exactly one differentiated output");
      /* the differentiated output has two elements */
      EXPECT_FAIL(k, fv, (&(nb_diff_opts){0, NULL, 1}), NB_ERR_SHAPE, "output 0 has shape [2]");
      EXPECT_FAIL(k, fv, (&(nb_diff_opts){1, (int[]){2}, 1}), NB_ERR_SHAPE, "output 0 has shape [2]");
    }
    /* the valid call works, and f is untouched by the failures */
    nb_errclear();
    nb_fn *r = TR[k].fn(f, &ok);
    if (!r) fprintf(stderr, "  valid %s failed: %s\n", TR[k].name, nb_errmsg());
    CHECK(r != NULL);
    nb_fn_free(r);
  }
  double av[2] = {1, 2}, bv = 3, cv[2] = {4, 5}, s, vv[2];
  CHECK(nb_call(f, (const void *[]){av, &bv, cv}, (void *[]){&s, vv}) == NB_OK);
  CHECK(s == 9 && vv[0] == 4 && vv[1] == 10);
  nb_fn_free(f);
  nb_fn_free(fv);
}

/* ======================================================================== */
/* nb_check_grads */
static nb_expr *mlp_loss(nb_expr *const *in);
static nb_fn   *mk_mlp(nb_dtype dt);
static void     mlp_data(double *x, double *W1, double *b1, double *W2, double *b2, double *y);

static void test_tr_check_grads_ok(void) {
  double err;
  FOR_DT {
    double tol = CUR == NB_F64 ? 1e-6 : 2e-3;
    /* the seed polynomial */
    nb_fn      *f = poly_vec(CUR);
    float       xf[4];
    for (int j = 0; j < 4; j++) xf[j] = (float)POLY_X[j];
    const void *px[1] = {CUR == NB_F64 ? (const void *)POLY_X : (const void *)xf};
    for (int order = 1; order <= 2; order++) {
      err = -1;
      nb_status st = nb_check_grads(f, px, order, &err);
      if (st) fprintf(stderr, "  check_grads poly order %d: %s\n", order, nb_errmsg());
      CHECK(st == NB_OK);
      CHECK(err >= 0 && err <= tol);
    }
    CHECK(nb_check_grads(f, px, 1, NULL) == NB_OK);
    nb_fn_free(f);

    /* two inputs, two outputs, smooth */
    nb_graph *g = nb_graph_new();
    nb_expr  *in[2] = {nb_input(g, "x", CUR, 1, SH(3)), nb_input(g, "y", CUR, 2, SH(2, 3))};
    nb_expr  *out[2] = {nb_sum(nb_mul(nb_tanh(in[0]), in[1]), 1, (int[]){1}, false),
                        nb_logsumexp(nb_add(in[1], nb_sin(in[0])), 0, NULL, false)};
    f = close_fn(g, 2, in, 2, out);
    double xd[3] = {0.3, -0.7, 1.1}, yd[6] = {0.5, -1, 0.25, 2, -0.5, 0.1};
    float  xs[3], ys[6];
    for (int k = 0; k < 3; k++) xs[k] = (float)xd[k];
    for (int k = 0; k < 6; k++) ys[k] = (float)yd[k];
    const void *pin[2] = {CUR == NB_F64 ? (const void *)xd : (const void *)xs,
                          CUR == NB_F64 ? (const void *)yd : (const void *)ys};
    for (int order = 1; order <= 2; order++) {
      err = -1;
      nb_status st = nb_check_grads(f, pin, order, &err);
      if (st) fprintf(stderr, "  check_grads 2x2 order %d: %s\n", order, nb_errmsg());
      CHECK(st == NB_OK);
      CHECK(err >= 0 && err <= tol);
    }
    nb_fn_free(f);
  }
  /* the MLP loss (f64) */
  set_dt(NB_F64);
  nb_fn *f = mk_mlp(NB_F64);
  double x[12], W1[15], b1[5], W2[10], b2[2], y[8];
  mlp_data(x, W1, b1, W2, b2, y);
  const void *in[6] = {x, W1, b1, W2, b2, y};
  for (int order = 1; order <= 2; order++) {
    err = -1;
    nb_status st = nb_check_grads(f, in, order, &err);
    if (st) fprintf(stderr, "  check_grads mlp order %d: %s\n", order, nb_errmsg());
    CHECK(st == NB_OK);
    CHECK(err >= 0 && err <= 1e-6);
  }
  nb_fn_free(f);
}

static void test_tr_check_grads_errors(void) {
  set_dt(NB_F64);
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, SH(2));
  nb_expr  *y = nb_sum(nb_sin(x), 0, NULL, false);
  nb_fn    *f = close_fn(g, 1, &x, 1, &y);
  double    xv[2] = {0.1, 0.2}, err = 0;
  const void *in[1] = {xv}, *nul[1] = {NULL};
  nb_errclear();
  CHECK(nb_check_grads(NULL, in, 1, &err) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_check_grads: ");
  nb_errclear();
  CHECK(nb_check_grads(f, NULL, 1, &err) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_check_grads: ");
  nb_errclear();
  CHECK(nb_check_grads(f, nul, 1, &err) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_check_grads: ");
  nb_errclear();
  CHECK(nb_check_grads(f, in, 3, &err) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_check_grads: order 3");
  nb_errclear();
  CHECK(nb_check_grads(f, in, 0, &err) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_check_grads: order 0");
  nb_errclear();
  CHECK(nb_check_grads(f, in, 2, &err) == NB_OK);
  nb_fn_free(f);

  /* a jump: floor at an integer has derivative 0 by convention, but the central
   * difference sees the step, so the check reports a disagreement */
  g = nb_graph_new();
  x = nb_input(g, "x", NB_F64, 1, SH(1));
  y = nb_sum(nb_floor(x), 0, NULL, false);
  f = close_fn(g, 1, &x, 1, &y);
  double one[1] = {1.0};
  nb_errclear();
  err = 0;
  CHECK(nb_check_grads(f, (const void *[]){one}, 1, &err) == NB_ERR_CHECK);
  CHECK_ERR(NB_ERR_CHECK, "nb_check_grads: ");
  CHECK(err > 1e-6);
  nb_fn_free(f);
}

/* ======================================================================== */
/* an MLP loss: L = -mean_n sum_c y log_softmax(tanh(x W1 + b1) W2 + b2) */
#define MN 4
#define MD 3
#define MH 5
#define MC 2

static nb_expr *mlp_loss(nb_expr *const *in) {
  nb_expr *h = nb_tanh(nb_add(nb_matmul(in[0], in[1]), in[2]));
  nb_expr *z = nb_add(nb_matmul(h, in[3]), in[4]);
  nb_expr *l = nb_sum(nb_mul(in[5], nb_log_softmax(z, 1)), 0, NULL, false);
  return nb_muls(l, -1.0 / MN);
}
static nb_fn *mk_mlp(nb_dtype dt) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[6] = {nb_input(g, "x", dt, 2, SH(MN, MD)),  nb_input(g, "W1", dt, 2, SH(MD, MH)),
                     nb_input(g, "b1", dt, 1, SH(MH)),     nb_input(g, "W2", dt, 2, SH(MH, MC)),
                     nb_input(g, "b2", dt, 1, SH(MC)),     nb_input(g, "y", dt, 2, SH(MN, MC))};
  nb_expr  *l = mlp_loss(in);
  return close_fn(g, 6, in, 1, &l);
}
static void mlp_data(double *x, double *W1, double *b1, double *W2, double *b2, double *y) {
  for (int k = 0; k < MN * MD; k++) x[k] = sin(1.3 * k + 0.1);
  for (int k = 0; k < MD * MH; k++) W1[k] = 0.5 * cos(0.7 * k + 0.3);
  for (int k = 0; k < MH; k++) b1[k] = 0.1 * k - 0.2;
  for (int k = 0; k < MH * MC; k++) W2[k] = 0.4 * sin(0.9 * k + 1);
  for (int k = 0; k < MC; k++) b2[k] = 0.05 * (k + 1);
  for (int n = 0; n < MN; n++)
    for (int c = 0; c < MC; c++) y[n * MC + c] = (n % MC) == c;
}
/* the hand-written backward pass */
static double mlp_backward(const double *x, const double *W1, const double *b1, const double *W2,
                           const double *b2, const double *y, double *gW1, double *gb1,
                           double *gW2, double *gb2) {
  double h[MN][MH], z[MN][MC], dz[MN][MC], dh[MN][MH], L = 0;
  memset(gW1, 0, MD * MH * sizeof *gW1), memset(gb1, 0, MH * sizeof *gb1);
  memset(gW2, 0, MH * MC * sizeof *gW2), memset(gb2, 0, MC * sizeof *gb2);
  for (int n = 0; n < MN; n++) {
    for (int j = 0; j < MH; j++) {
      double a = b1[j];
      for (int d = 0; d < MD; d++) a += x[n * MD + d] * W1[d * MH + j];
      h[n][j] = tanh(a);
    }
    double m = -INFINITY, s = 0;
    for (int c = 0; c < MC; c++) {
      z[n][c] = b2[c];
      for (int j = 0; j < MH; j++) z[n][c] += h[n][j] * W2[j * MC + c];
      m = fmax(m, z[n][c]);
    }
    for (int c = 0; c < MC; c++) s += exp(z[n][c] - m);
    for (int c = 0; c < MC; c++) {
      double lp = z[n][c] - m - log(s);
      L -= y[n * MC + c] * lp / MN;
      dz[n][c] = (exp(lp) - y[n * MC + c]) / MN; /* sum_c y = 1 */
    }
  }
  for (int n = 0; n < MN; n++) {
    for (int c = 0; c < MC; c++) {
      gb2[c] += dz[n][c];
      for (int j = 0; j < MH; j++) gW2[j * MC + c] += h[n][j] * dz[n][c];
    }
    for (int j = 0; j < MH; j++) {
      dh[n][j] = 0;
      for (int c = 0; c < MC; c++) dh[n][j] += dz[n][c] * W2[j * MC + c];
      double da = dh[n][j] * (1 - h[n][j] * h[n][j]);
      gb1[j] += da;
      for (int d = 0; d < MD; d++) gW1[d * MH + j] += x[n * MD + d] * da;
    }
  }
  return L;
}

static void test_tr_mlp_gradient(void) {
  double x[MN * MD], W1[MD * MH], b1[MH], W2[MH * MC], b2[MC], y[MN * MC];
  double gW1[MD * MH], gb1[MH], gW2[MH * MC], gb2[MC];
  mlp_data(x, W1, b1, W2, b2, y);
  double L = mlp_backward(x, W1, b1, W2, b2, y, gW1, gb1, gW2, gb2);
  FOR_DT {
    if (CUR == NB_F32) RT = 2e-5, AT = 2e-6;
    nb_fn       *f = mk_mlp(CUR);
    nb_diff_opts params = {4, (int[]){1, 2, 3, 4}, 0};
    nb_fn       *t = nb_value_and_grad(f, &params);
    double       o[5][MAXEL];
    COUNTS(t, 6, 5);
    SIG_OUT(t, 1, 2, SH(MD, MH)), SIG_OUT(t, 2, 1, SH(MH)), SIG_OUT(t, 3, 2, SH(MH, MC));
    SIG_OUT(t, 4, 1, SH(MC));
    if (fx_run(t, "nb_value_and_grad", (const double *[]){x, W1, b1, W2, b2, y},
            (double *[]){o[0], o[1], o[2], o[3], o[4]})) {
      NEAR(o[0][0], L);
      for (int k = 0; k < MD * MH; k++) NEAR(o[1][k], gW1[k]);
      for (int k = 0; k < MH; k++) NEAR(o[2][k], gb1[k]);
      for (int k = 0; k < MH * MC; k++) NEAR(o[3][k], gW2[k]);
      for (int k = 0; k < MC; k++) NEAR(o[4][k], gb2[k]);
    }
    nb_fn_free(t);
    /* the same through nb_vjp with a cotangent of 2 */
    t = nb_vjp(f, &params);
    double two = 2;
    if (fx_run(t, "nb_vjp", (const double *[]){x, W1, b1, W2, b2, y, &two},
            (double *[]){o[0], o[1], o[2], o[3], o[4]})) {
      for (int k = 0; k < MD * MH; k++) NEAR(o[1][k], 2 * gW1[k]);
      for (int k = 0; k < MC; k++) NEAR(o[4][k], 2 * gb2[k]);
    }
    nb_fn_free(t);
    /* the model jvp along the gradient is |g|^2 */
    t = nb_jvp(f, &params);
    if (fx_run(t, "nb_jvp", (const double *[]){x, W1, b1, W2, b2, y, gW1, gb1, gW2, gb2},
            (double *[]){o[0], o[1]})) {
      double n2 = 0;
      for (int k = 0; k < MD * MH; k++) n2 += gW1[k] * gW1[k];
      for (int k = 0; k < MH; k++) n2 += gb1[k] * gb1[k];
      for (int k = 0; k < MH * MC; k++) n2 += gW2[k] * gW2[k];
      for (int k = 0; k < MC; k++) n2 += gb2[k] * gb2[k];
      NEAR(o[1][0], n2);
    }
    nb_fn_free(t);
    nb_fn_free(f);
  }
}

/* ======================================================================== */
static int64_t count_of(nb_fn *t) { return t ? nb_fn_node_count(t) : -1; }

static void test_tr_node_counts(void) {
  set_dt(NB_F64);
  nb_fn *f = poly_vec(NB_F64), *fd = poly_dot(NB_F64);
  nb_fn *v = f ? nb_vjp(f, NULL) : NULL, *jf = f ? nb_jacfwd(f, NULL) : NULL;
  nb_fn *jr = f ? nb_jacrev(f, NULL) : NULL, *hd = fd ? nb_hessian(fd, NULL) : NULL;
  nb_fn *gd = fd ? nb_grad(fd, NULL) : NULL;
  CHECK(v != NULL);
  printf("node counts, seed polynomial u: f %lld, nb_vjp %lld, nb_jacfwd %lld, nb_jacrev %lld; "
         "w.u: f %lld, nb_grad %lld, nb_hessian %lld\n",
         (long long)count_of(f), (long long)count_of(v), (long long)count_of(jf),
         (long long)count_of(jr), (long long)count_of(fd), (long long)count_of(gd),
         (long long)count_of(hd));
  nb_fn_free(f), nb_fn_free(fd), nb_fn_free(v), nb_fn_free(jf), nb_fn_free(jr), nb_fn_free(hd),
      nb_fn_free(gd);

  nb_fn       *m = mk_mlp(NB_F64);
  nb_diff_opts params = {4, (int[]){1, 2, 3, 4}, 0};
  nb_fn       *mv = m ? nb_vjp(m, NULL) : NULL, *mg = m ? nb_grad(m, &params) : NULL;
  nb_fn       *mh = m ? nb_hessian(m, &params) : NULL;
  CHECK(mv != NULL && mg != NULL);
  printf("node counts, MLP loss (x[%d,%d] W1[%d,%d] W2[%d,%d]): f %lld, nb_vjp %lld, "
         "nb_grad wrt params %lld, nb_hessian wrt params %lld\n",
         MN, MD, MD, MH, MH, MC, (long long)count_of(m), (long long)count_of(mv),
         (long long)count_of(mg), (long long)count_of(mh));
  fflush(stdout);
  nb_fn_free(m), nb_fn_free(mv), nb_fn_free(mg), nb_fn_free(mh);
}

void suite_diff_transforms(void) {
  RUN(test_tr_seed_polynomial);
  RUN(test_tr_seed_archimedes);
  RUN(test_tr_seed_jax);
  RUN(test_tr_order_shapes_vector);
  RUN(test_tr_order_shapes_scalar);
  RUN(test_tr_one_element_output);
  RUN(test_tr_independent_outputs);
  RUN(test_tr_degenerate);
  RUN(test_tr_result_outlives_f);
  RUN(test_tr_mixed_dtypes);
  RUN(test_tr_third_order);
  RUN(test_tr_hvp_hessian_analytic);
  RUN(test_tr_errors);
  RUN(test_tr_check_grads_ok);
  RUN(test_tr_check_grads_errors);
  RUN(test_tr_mlp_gradient);
  RUN(test_tr_node_counts);
}
