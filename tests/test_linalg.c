/* Linear algebra and NN helpers: nb_matmul (numpy semantics: 1-D promotion, batch
 * broadcast, size 0), nb_softmax and nb_log_softmax along any axis, stability, errors.
 * Expected values are hand-computed or come from plain reference loops. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* ---- helpers shared (by copy) by test_reduce.c, test_shape.c, test_linalg.c ---- */
/* ---- end of shared helpers ---- */

/* out (m,n) = a (m,k) @ b (k,n), plain loops */
static void mm2(const double *a, const double *b, int m, int k, int n, double *out) {
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int p = 0; p < k; p++) s += a[i * k + p] * b[p * n + j];
      out[i * n + j] = s;
    }
}

static void gen_a(double *v, int n) {
  for (int k = 0; k < n; k++) v[k] = ((k * 5) % 7 - 3) * 0.5;
}
static void gen_b(double *v, int n) {
  for (int k = 0; k < n; k++) v[k] = ((k * 3) % 11 - 5) * 0.25;
}

/* ---- matmul ---- */

static void test_matmul_hand(void) {
  const double a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, ab[4] = {19, 22, 43, 50};
  const double u[3] = {1, 2, 3}, v[3] = {4, 5, 6}, uv = 32;
  /* (2,3) x (3) : [[1,2,3],[4,5,6]] . [4,5,6] = [32, 77] */
  const double m23[6] = {1, 2, 3, 4, 5, 6}, mv[2] = {32, 77};
  /* (3) x (3,2): [1,2,3] . [[1,2],[3,4],[5,6]] = [22, 28] */
  const double m32[6] = {1, 2, 3, 4, 5, 6}, vm[2] = {22, 28};
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *A = inp(g, "a", dt, 2, (int64_t[]){2, 2});
    nb_expr  *B = inp(g, "b", dt, 2, (int64_t[]){2, 2});
    nb_expr  *U = inp(g, "u", dt, 1, (int64_t[]){3});
    nb_expr  *V = inp(g, "v", dt, 1, (int64_t[]){3});
    nb_expr  *M = inp(g, "m", dt, 2, (int64_t[]){2, 3});
    nb_expr  *N = inp(g, "n", dt, 2, (int64_t[]){3, 2});
    nb_expr  *ins[6] = {A, B, U, V, M, N};
    const double *xs[6] = {a, b, u, v, m23, m32};
    nb_expr *outs[4] = {nb_matmul(A, B), nb_matmul(U, V), nb_matmul(M, V), nb_matmul(U, N)};
    want     w[4] = {W(2, (int64_t[]){2, 2}, ab), W(0, NULL, &uv), W(1, (int64_t[]){2}, mv),
                     W(1, (int64_t[]){2}, vm)};
    RUN_FN(g, dt, 6, ins, xs, 4, outs, w);
    nb_graph_free(g);
  }
}

static void test_matmul_shapes(void) {
  double a23[6], b34[12], a3[3], b3[3], a223[12], a4[12], b5[60], bb[24];
  double r0[8], r1[4], r2[2], r3, r4[16], r5[80], r6[8], r7[4];
  gen_a(a23, 6);
  gen_b(b34, 12);
  gen_a(a3, 3);
  gen_b(b3, 3);
  for (int k = 0; k < 12; k++) a223[k] = a4[k] = ((k * 5) % 9 - 4) * 0.5;
  gen_b(b5, 60);
  gen_b(bb, 24);
  mm2(a23, b34, 2, 3, 4, r0);                          /* (2,3)x(3,4) */
  mm2(a3, b34, 1, 3, 4, r1);                           /* (3)x(3,4) -> (4) */
  mm2(a23, b3, 2, 3, 1, r2);                           /* (2,3)x(3) -> (2) */
  mm2(a3, b3, 1, 3, 1, &r3);                           /* (3)x(3) -> () */
  for (int p = 0; p < 2; p++) mm2(a223 + p * 6, b34, 2, 3, 4, r4 + p * 8); /* (2,2,3)x(3,4) */
  for (int p = 0; p < 2; p++)                          /* (2,1,2,3)x(5,3,4) -> (2,5,2,4) */
    for (int q = 0; q < 5; q++) mm2(a4 + p * 6, b5 + q * 12, 2, 3, 4, r5 + (p * 5 + q) * 8);
  for (int p = 0; p < 2; p++) mm2(a3, bb + p * 12, 1, 3, 4, r6 + p * 4); /* (3)x(2,3,4) -> (2,4) */
  mm2(a223, b3, 4, 3, 1, r7);                          /* (2,2,3)x(3) -> (2,2) */
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *A23 = inp(g, "a23", dt, 2, (int64_t[]){2, 3});
    nb_expr  *B34 = inp(g, "b34", dt, 2, (int64_t[]){3, 4});
    nb_expr  *A3 = inp(g, "a3", dt, 1, (int64_t[]){3});
    nb_expr  *B3 = inp(g, "b3", dt, 1, (int64_t[]){3});
    nb_expr  *A223 = inp(g, "a223", dt, 3, (int64_t[]){2, 2, 3});
    nb_expr  *A4 = inp(g, "a4", dt, 4, (int64_t[]){2, 1, 2, 3});
    nb_expr  *B5 = inp(g, "b5", dt, 3, (int64_t[]){5, 3, 4});
    nb_expr  *BB = inp(g, "bb", dt, 3, (int64_t[]){2, 3, 4});
    nb_expr  *ins[8] = {A23, B34, A3, B3, A223, A4, B5, BB};
    const double *xs[8] = {a23, b34, a3, b3, a223, a4, b5, bb};
    nb_expr *outs[8] = {nb_matmul(A23, B34), nb_matmul(A3, B34), nb_matmul(A23, B3),
                        nb_matmul(A3, B3),   nb_matmul(A223, B34), nb_matmul(A4, B5),
                        nb_matmul(A3, BB),   nb_matmul(A223, B3)};
    want w[8] = {W(2, (int64_t[]){2, 4}, r0),       W(1, (int64_t[]){4}, r1),
                 W(1, (int64_t[]){2}, r2),          W(0, NULL, &r3),
                 W(3, (int64_t[]){2, 2, 4}, r4),    W(4, (int64_t[]){2, 5, 2, 4}, r5),
                 W(2, (int64_t[]){2, 4}, r6),       W(2, (int64_t[]){2, 2}, r7)};
    RUN_FN(g, dt, 8, ins, xs, 8, outs, w);
    nb_graph_free(g);
  }
}

static void test_matmul_batch_broadcast(void) {
  double a[24], b[16], c[6], d[24];
  double r0[12], r1[16], r2[16];
  gen_a(a, 24);
  gen_b(b, 16);
  gen_a(c, 6);
  gen_b(d, 24);
  /* (2,3,4) x (2,4,2) -> (2,3,2): batch by batch */
  for (int p = 0; p < 2; p++) mm2(a + p * 12, b + p * 8, 3, 4, 2, r0 + p * 6);
  /* (1,2,3) x (4,3,2) -> (4,2,2): a's batch 1 broadcast */
  for (int q = 0; q < 4; q++) mm2(c, d + q * 6, 2, 3, 2, r1 + q * 4);
  /* (4,2,3) x (1,3,2) -> (4,2,2): b's batch 1 broadcast (use d as (4,2,3), c as (1,3,2)) */
  for (int q = 0; q < 4; q++) mm2(d + q * 6, c, 2, 3, 2, r2 + q * 4);
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *A = inp(g, "a", dt, 3, (int64_t[]){2, 3, 4});
    nb_expr  *B = inp(g, "b", dt, 3, (int64_t[]){2, 4, 2});
    nb_expr  *C = inp(g, "c", dt, 3, (int64_t[]){1, 2, 3});
    nb_expr  *D = inp(g, "d", dt, 3, (int64_t[]){4, 3, 2});
    nb_expr  *D2 = inp(g, "d2", dt, 3, (int64_t[]){4, 2, 3});
    nb_expr  *C2 = inp(g, "c2", dt, 3, (int64_t[]){1, 3, 2});
    nb_expr  *ins[6] = {A, B, C, D, D2, C2};
    const double *xs[6] = {a, b, c, d, d, c};
    nb_expr *outs[3] = {nb_matmul(A, B), nb_matmul(C, D), nb_matmul(D2, C2)};
    want w[3] = {W(3, (int64_t[]){2, 3, 2}, r0), W(3, (int64_t[]){4, 2, 2}, r1),
                 W(3, (int64_t[]){4, 2, 2}, r2)};
    RUN_FN(g, dt, 6, ins, xs, 3, outs, w);
    nb_graph_free(g);
  }
}

static void test_matmul_strided(void) {
  /* matmul of transposed / sliced operands: x^T x and x[:, ::-1] @ x^T */
  double x[12], r0[9], r1[16], xt[12], xr[12];
  for (int k = 0; k < 12; k++) x[k] = (k % 5) - 1.5; /* (4,3) */
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) {
      xt[j * 4 + i] = x[i * 3 + j];
      xr[i * 3 + j] = x[i * 3 + 2 - j];
    }
  mm2(xt, x, 3, 4, 3, r0);
  mm2(xr, xt, 4, 3, 4, r1);
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *X = inp(g, "x", dt, 2, (int64_t[]){4, 3});
    const double *xs[1] = {x};
    nb_expr      *outs[2] = {nb_matmul(nb_transpose(X, NULL), X),
                             nb_matmul(nb_slice(X, 1, INT64_MAX, INT64_MIN, -1),
                                       nb_transpose(X, NULL))};
    want w[2] = {W(2, (int64_t[]){3, 3}, r0), W(2, (int64_t[]){4, 4}, r1)};
    RUN_FN(g, dt, 1, &X, xs, 2, outs, w);
    nb_graph_free(g);
  }
}

static void test_matmul_size0(void) {
  const double zeros[6] = {0, 0, 0, 0, 0, 0};
  double       dummy[6] = {1, 2, 3, 4, 5, 6};
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *A = inp(g, "a", dt, 2, (int64_t[]){2, 0});
    nb_expr  *B = inp(g, "b", dt, 2, (int64_t[]){0, 3});
    nb_expr  *C = inp(g, "c", dt, 2, (int64_t[]){3, 2});
    nb_expr  *D = inp(g, "d", dt, 2, (int64_t[]){2, 3});
    nb_expr  *E = inp(g, "e", dt, 2, (int64_t[]){3, 0});
    nb_expr  *V = inp(g, "v", dt, 1, (int64_t[]){0});
    nb_expr  *ins[6] = {A, B, C, D, E, V};
    const double *xs[6] = {dummy, dummy, dummy, dummy, dummy, dummy};
    nb_expr *outs[5] = {nb_matmul(A, B), nb_matmul(B, C), nb_matmul(D, E), nb_matmul(V, V),
                        nb_matmul(A, V)};
    const double z = 0;
    want w[5] = {W(2, (int64_t[]){2, 3}, zeros), W(2, (int64_t[]){0, 2}, NULL),
                 W(2, (int64_t[]){2, 0}, NULL),  W(0, NULL, &z), W(1, (int64_t[]){2}, zeros)};
    RUN_FN(g, dt, 6, ins, xs, 5, outs, w);
    nb_graph_free(g);
  }
}

static void test_matmul_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_graph *h = nb_graph_new();
  nb_expr  *s = inp(g, "s", NB_F64, 0, NULL);
  nb_expr  *a23 = inp(g, "a23", NB_F64, 2, (int64_t[]){2, 3});
  nb_expr  *b42 = inp(g, "b42", NB_F64, 2, (int64_t[]){4, 2});
  nb_expr  *v3 = inp(g, "v3", NB_F64, 1, (int64_t[]){3});
  nb_expr  *v4 = inp(g, "v4", NB_F64, 1, (int64_t[]){4});
  nb_expr  *a223 = inp(g, "a223", NB_F64, 3, (int64_t[]){2, 2, 3});
  nb_expr  *b334 = inp(g, "b334", NB_F64, 3, (int64_t[]){3, 3, 4});
  nb_expr  *b34f = inp(g, "b34f", NB_F32, 2, (int64_t[]){3, 4});
  nb_expr  *b34h = inp(h, "b34h", NB_F64, 2, (int64_t[]){3, 4});
  CHECK_FAILS(nb_matmul(s, a23), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(v3, s), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(s, s), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(a23, b42), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(v3, v4), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(a23, v4), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(v4, a23), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(a23, a23), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(a223, b334), NB_ERR_SHAPE, "nb_matmul:");
  CHECK_FAILS(nb_matmul(a23, b34f), NB_ERR_DTYPE, "nb_matmul: dtype mismatch f64 and f32");
  CHECK_FAILS(nb_matmul(a23, b34h), NB_ERR_ARG, "nb_matmul: operands belong to different graphs");
  CHECK_FAILS(nb_matmul(NULL, a23), NB_ERR_ARG, "nb_matmul: NULL argument");
  CHECK_FAILS(nb_matmul(a23, NULL), NB_ERR_ARG, "nb_matmul: NULL argument");
  nb_graph_free(g);
  nb_graph_free(h);
}

/* ---- softmax / log_softmax ---- */

/* along axis (non-negative) of a row-major tensor */
static void ref_softmax(int rank, const int64_t *shape, int axis, const double *x, bool lg,
                        double *out) {
  int64_t outer = 1, inner = 1, len = shape[axis];
  for (int d = 0; d < axis; d++) outer *= shape[d];
  for (int d = axis + 1; d < rank; d++) inner *= shape[d];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      double m = -INFINITY, s = 0;
      for (int64_t k = 0; k < len; k++) m = fmax(m, x[(o * len + k) * inner + i]);
      for (int64_t k = 0; k < len; k++) s += exp(x[(o * len + k) * inner + i] - m);
      for (int64_t k = 0; k < len; k++) {
        int64_t at = (o * len + k) * inner + i;
        out[at] = lg ? x[at] - m - log(s) : exp(x[at] - m) / s;
      }
    }
}

static void test_softmax_axes(void) {
  double x[12], y[12];
  for (int k = 0; k < 12; k++) x[k] = ((k * 7) % 13 - 6) * 0.5; /* (3,4) */
  for (int k = 0; k < 12; k++) y[k] = ((k * 5) % 11 - 5) * 0.75; /* (2,3,2) */
  const int64_t sx[2] = {3, 4}, sy[3] = {2, 3, 2};
  double s0[12], s1[12], l0[12], l1[12], sy1[12], ly1[12], sy0[12];
  ref_softmax(2, sx, 0, x, false, s0);
  ref_softmax(2, sx, 1, x, false, s1);
  ref_softmax(2, sx, 0, x, true, l0);
  ref_softmax(2, sx, 1, x, true, l1);
  ref_softmax(3, sy, 1, y, false, sy1);
  ref_softmax(3, sy, 1, y, true, ly1);
  ref_softmax(3, sy, 0, y, false, sy0);
  /* hand check of the reference: rank 1 [0, ln 3] -> [1/4, 3/4] */
  const double v2[2] = {0, log(3.0)}, sv2[2] = {0.25, 0.75}, lv2[2] = {log(0.25), log(0.75)};
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *X = inp(g, "x", dt, 2, sx);
    nb_expr  *Y = inp(g, "y", dt, 3, sy);
    nb_expr  *V = inp(g, "v", dt, 1, (int64_t[]){2});
    nb_expr  *ins[3] = {X, Y, V};
    const double *xs[3] = {x, y, v2};
    nb_expr *outs[14] = {
        nb_softmax(X, 0),      nb_softmax(X, -2),     nb_softmax(X, 1),      nb_softmax(X, -1),
        nb_log_softmax(X, 0),  nb_log_softmax(X, -2), nb_log_softmax(X, 1),  nb_log_softmax(X, -1),
        nb_softmax(Y, 1),      nb_log_softmax(Y, -2), nb_softmax(Y, -3),     nb_softmax(V, 0),
        nb_log_softmax(V, -1), nb_softmax(V, -1),
    };
    want w[14] = {W(2, sx, s0),  W(2, sx, s0),  W(2, sx, s1),  W(2, sx, s1),
                  W(2, sx, l0),  W(2, sx, l0),  W(2, sx, l1),  W(2, sx, l1),
                  W(3, sy, sy1), W(3, sy, ly1), W(3, sy, sy0), W(1, (int64_t[]){2}, sv2),
                  W(1, (int64_t[]){2}, lv2), W(1, (int64_t[]){2}, sv2)};
    double  got_s1[12], got_s0[12], got_l1[12];
    double *got[14] = {got_s0, NULL, got_s1, NULL, NULL, NULL, NULL, got_l1};
    run_(__LINE__, g, dt, 3, ins, xs, 14, outs, w, rtol_of(dt), atol_of(dt), got);
    /* rows sum to 1 (axis 1), columns sum to 1 (axis 0), exp(log_softmax) sums to 1 */
    for (int i = 0; i < 3; i++) {
      double s = 0, e = 0;
      for (int j = 0; j < 4; j++) s += got_s1[i * 4 + j], e += exp(got_l1[i * 4 + j]);
      CHECK_NEAR(s, 1.0, 4 * rtol_of(dt), 0);
      CHECK_NEAR(e, 1.0, 4 * rtol_of(dt), 0);
    }
    for (int j = 0; j < 4; j++) {
      double s = 0;
      for (int i = 0; i < 3; i++) s += got_s0[i * 4 + j];
      CHECK_NEAR(s, 1.0, 4 * rtol_of(dt), 0);
    }
    nb_graph_free(g);
  }
}

static void test_softmax_stable(void) {
  const double I = INFINITY, l2 = log(2.0), l3 = log(3.0);
  /* (4,3) rows: [1000, 1000, -1000], [-1000, -1000, -1000], [0, 1000, -inf], [1000, 999, 998] */
  const double x[12] = {1000, 1000, -1000, -1000, -1000, -1000, 0, 1000, -I, 1000, 999, 998};
  const double s3 = 1 + exp(-1) + exp(-2);
  const double sm[12] = {0.5, 0.5, 0, 1. / 3, 1. / 3, 1. / 3, 0, 1, 0,
                         1 / s3, exp(-1) / s3, exp(-2) / s3};
  const double lsm[12] = {-l2, -l2, -2000 - l2, -l3, -l3, -l3, -1000, 0, -I,
                          -log(s3), -1 - log(s3), -2 - log(s3)};
  double s0[12], l0[12];
  ref_softmax(2, (int64_t[]){4, 3}, 0, x, false, s0);
  ref_softmax(2, (int64_t[]){4, 3}, 0, x, true, l0);
  /* hand check of the reference on column 0 [1000, -1000, 0, 1000]: [1/2, 0, 0, 1/2] */
  CHECK(s0[0] == 0.5 && s0[3] == 0 && s0[6] == 0 && s0[9] == 0.5);
  CHECK_NEAR(l0[0], -l2, 1e-15, 0);
  CHECK_NEAR(l0[6], -1000 - l2, 1e-15, 0);
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *X = inp(g, "x", dt, 2, (int64_t[]){4, 3});
    const double *xs[1] = {x};
    nb_expr      *outs[4] = {nb_softmax(X, -1), nb_log_softmax(X, 1), nb_softmax(X, 0),
                             nb_log_softmax(X, -2)};
    want w[4] = {W(2, (int64_t[]){4, 3}, sm), W(2, (int64_t[]){4, 3}, lsm),
                 W(2, (int64_t[]){4, 3}, s0), W(2, (int64_t[]){4, 3}, l0)};
    double  got_s[12];
    double *got[4] = {got_s, NULL, NULL, NULL};
    run_(__LINE__, g, dt, 1, &X, xs, 4, outs, w, rtol_of(dt), atol_of(dt), got);
    for (int i = 0; i < 4; i++) {
      double s = 0;
      for (int j = 0; j < 3; j++) {
        s += got_s[i * 3 + j];
        CHECK(!isnan(got_s[i * 3 + j]));
      }
      CHECK_NEAR(s, 1.0, 4 * rtol_of(dt), 0);
    }
    nb_graph_free(g);
  }
}

static void test_softmax_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = inp(g, "x", NB_F64, 2, (int64_t[]){3, 4});
  CHECK_FAILS(nb_softmax(x, 2), NB_ERR_ARG, "nb_softmax:");
  CHECK_FAILS(nb_softmax(x, -3), NB_ERR_ARG, "nb_softmax:");
  CHECK_FAILS(nb_log_softmax(x, 2), NB_ERR_ARG, "nb_log_softmax:");
  CHECK_FAILS(nb_log_softmax(x, -3), NB_ERR_ARG, "nb_log_softmax:");
  CHECK_FAILS(nb_softmax(NULL, 0), NB_ERR_ARG, "nb_softmax: NULL argument");
  CHECK_FAILS(nb_log_softmax(NULL, 0), NB_ERR_ARG, "nb_log_softmax: NULL argument");
  nb_graph_free(g);
}

void suite_linalg(void) {
  RUN(test_matmul_hand);
  RUN(test_matmul_shapes);
  RUN(test_matmul_batch_broadcast);
  RUN(test_matmul_strided);
  RUN(test_matmul_size0);
  RUN(test_matmul_errors);
  RUN(test_softmax_axes);
  RUN(test_softmax_stable);
  RUN(test_softmax_errors);
}
