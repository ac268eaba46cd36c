/* Closed functions: nb_fn_new (unused inputs, outputs that are inputs, constants,
 * repeated outputs, nout 0, graph freed or growing afterwards), the signature
 * queries, nb_trace, repeated nb_call, printing, node counts, version and status
 * strings, and the seed R^4 -> R^3 polynomial. */
#include <stdint.h>
#include <stdlib.h>

#include "fixture.h"

#define NB_ARRLEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* ---- nb_fn_new ----------------------------------------------------------------- */

static void test_fn_unused_input(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){3});
  nb_expr  *y = nb_input(g, "y", NB_F64, 2, (int64_t[]){2, 2});
  nb_expr  *s = nb_sin(x);
  nb_fn    *f = nb_fn_new(g, 2, (nb_expr *[]){x, y}, 1, &s);
  nb_fn    *f2 = nb_fn_new(g, 2, (nb_expr *[]){y, x}, 1, &s); /* order is the caller's */
  CHECK(f != NULL);
  CHECK(f2 != NULL);
  nb_graph_free(g);
  if (!f || !f2) { nb_fn_free(f); nb_fn_free(f2); return; }
  CHECK(nb_fn_nin(f) == 2);
  CHECK(nb_fn_nout(f) == 1);
  CHECK(nb_fn_in_rank(f, 0) == 1);
  CHECK(nb_fn_in_rank(f, 1) == 2);
  CHECK(nb_fn_in_size(f, 1) == 4);
  CHECK(nb_fn_in_rank(f2, 0) == 2);
  CHECK(nb_fn_in_rank(f2, 1) == 1);
  double xv[3] = {0.5, -1.0, 2.0}, yv[4] = {9, 9, 9, 9}, out[3] = {0}, out2[3] = {0};
  CHECK(nb_call(f, (const void *[]){xv, yv}, (void *[]){out}) == NB_OK);
  CHECK(nb_call(f2, (const void *[]){yv, xv}, (void *[]){out2}) == NB_OK);
  for (int i = 0; i < 3; i++) {
    CHECK_NEAR(out[i], sin(xv[i]), 1e-15, 0);
    CHECK_NEAR(out2[i], sin(xv[i]), 1e-15, 0);
  }
  nb_fn_free(f);
  nb_fn_free(f2);
}

static void test_fn_output_is_input(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){4});
  nb_expr  *n = nb_neg(x);
  nb_fn    *f = nb_fn_new(g, 1, &x, 2, (nb_expr *[]){x, n});
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  CHECK(nb_fn_out_rank(f, 0) == 1);
  CHECK(nb_fn_out_size(f, 0) == 4);
  double xv[4] = {1.5, -2.25, 0.0, 1e300}, o0[4] = {0}, o1[4] = {0};
  CHECK(nb_call(f, (const void *[]){xv}, (void *[]){o0, o1}) == NB_OK);
  for (int i = 0; i < 4; i++) {
    CHECK(o0[i] == xv[i]);
    CHECK(o1[i] == -xv[i]);
  }
  nb_fn_free(f);
}

static void test_fn_constant_output(void) {
  nb_graph    *g = nb_graph_new();
  nb_expr     *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){2});
  const double cd[4] = {1, 2, 3, 4};
  nb_expr     *c = nb_const(g, NB_F64, 2, (int64_t[]){2, 2}, cd);
  nb_expr     *fu = nb_full(g, NB_F32, 1, (int64_t[]){3}, 2.5);
  nb_expr     *sc = nb_scalar(g, 4.25);
  nb_fn       *f = nb_fn_new(g, 1, &x, 3, (nb_expr *[]){c, fu, sc});
  nb_fn       *f0 = nb_fn_new(g, 0, (nb_expr *[]){x}, 1, &c); /* no inputs at all */
  nb_graph_free(g);
  CHECK(f != NULL);
  CHECK(f0 != NULL);
  if (f) {
    CHECK(nb_fn_out_dtype(f, 0) == NB_F64);
    CHECK(nb_fn_out_dtype(f, 1) == NB_F32);
    CHECK(nb_fn_out_dtype(f, 2) == NB_F64); /* weak scalar alone is f64 */
    CHECK(nb_fn_out_rank(f, 2) == 0);
    CHECK(nb_fn_out_size(f, 2) == 1);
    double xv[2] = {7, 8}, o0[4] = {0}, o2 = 0;
    float  o1[3] = {0};
    CHECK(nb_call(f, (const void *[]){xv}, (void *[]){o0, o1, &o2}) == NB_OK);
    for (int i = 0; i < 4; i++) CHECK(o0[i] == cd[i]);
    for (int i = 0; i < 3; i++) CHECK(o1[i] == 2.5f);
    CHECK(o2 == 4.25);
  }
  if (f0) {
    CHECK(nb_fn_nin(f0) == 0);
    CHECK(nb_fn_nout(f0) == 1);
    double      o[4] = {0};
    const void *noin[1] = {NULL};
    CHECK(nb_call(f0, noin, (void *[]){o}) == NB_OK);
    for (int i = 0; i < 4; i++) CHECK(o[i] == cd[i]);
    CHECK(nb_fn_node_count(f0) == 1);
  }
  nb_fn_free(f);
  nb_fn_free(f0);
}

static void test_fn_repeated_output(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){3});
  nb_expr  *s = nb_exp(x);
  nb_fn    *f = nb_fn_new(g, 1, &x, 3, (nb_expr *[]){s, x, s});
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  CHECK(nb_fn_nout(f) == 3);
  double xv[3] = {0, 1, -2}, a[3] = {0}, b[3] = {0}, c[3] = {0};
  CHECK(nb_call(f, (const void *[]){xv}, (void *[]){a, b, c}) == NB_OK);
  for (int i = 0; i < 3; i++) {
    CHECK_NEAR(a[i], exp(xv[i]), 1e-15, 0);
    CHECK(c[i] == a[i]);
    CHECK(b[i] == xv[i]);
  }
  nb_fn_free(f);
}

static void test_fn_nout0(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){3});
  nb_expr  *dummy[1] = {x};
  nb_fn    *f = nb_fn_new(g, 1, &x, 0, dummy);
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  CHECK(nb_fn_nin(f) == 1);
  CHECK(nb_fn_nout(f) == 0);
  double xv[3] = {1, 2, 3};
  void  *noout[1] = {NULL};
  CHECK(nb_call(f, (const void *[]){xv}, noout) == NB_OK);
  CHECK(nb_call(f, (const void *[]){xv}, noout) == NB_OK);
  nb_fn_free(f);
}

static void test_fn_graph_freed(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 2, (int64_t[]){2, 3});
  nb_expr  *w = nb_const(g, NB_F64, 1, (int64_t[]){3}, (double[]){1, 2, 3});
  nb_expr  *y = nb_sum(nb_mul(nb_cos(x), w), 1, (int[]){1}, false);
  nb_fn    *f = nb_fn_new(g, 1, &x, 1, &y);
  nb_graph_free(g); /* everything f needs has been copied */
  CHECK(f != NULL);
  if (!f) return;
  double xv[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, o[2] = {0};
  CHECK(nb_call(f, (const void *[]){xv}, (void *[]){o}) == NB_OK);
  for (int i = 0; i < 2; i++) {
    double want = 0;
    for (int j = 0; j < 3; j++) want += cos(xv[i * 3 + j]) * (j + 1);
    CHECK_NEAR(o[i], want, 1e-14, 0);
  }
  nb_fn_free(f);
}

static void test_fn_graph_grows(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){4});
  nb_expr  *y1 = nb_adds(nb_sin(x), 1.0);
  nb_fn    *f1 = nb_fn_new(g, 1, &x, 1, &y1);
  CHECK(f1 != NULL);
  int64_t nc1 = nb_fn_node_count(f1);
  /* grow the graph well past any initial capacity */
  nb_expr *e = nb_cos(x);
  for (int i = 0; i < 3000; i++) e = nb_adds(e, 1.0);
  nb_expr *big = nb_full(g, NB_F64, 2, (int64_t[]){50, 4}, 0.25);
  nb_expr *z = nb_sum(nb_add(big, e), 1, (int[]){0}, false);
  CHECK(e != NULL);
  CHECK(z != NULL);
  nb_fn *f2 = nb_fn_new(g, 1, &x, 2, (nb_expr *[]){e, z});
  CHECK(f2 != NULL);
  nb_graph_free(g);
  double xv[4] = {0, 0.5, 1, -3}, o1[4] = {0}, o2[4] = {0}, o3[4] = {0};
  if (f1) {
    CHECK(nb_fn_node_count(f1) == nc1);
    CHECK(nb_call(f1, (const void *[]){xv}, (void *[]){o1}) == NB_OK);
    for (int i = 0; i < 4; i++) CHECK_NEAR(o1[i], sin(xv[i]) + 1, 1e-15, 0);
  }
  if (f2) {
    CHECK(nb_call(f2, (const void *[]){xv}, (void *[]){o2, o3}) == NB_OK);
    for (int i = 0; i < 4; i++) {
      CHECK_NEAR(o2[i], cos(xv[i]) + 3000, 1e-12, 0);
      CHECK_NEAR(o3[i], 50 * (cos(xv[i]) + 3000.25), 1e-12, 0);
    }
  }
  nb_fn_free(f1);
  nb_fn_free(f2);
}

/* ---- signature ----------------------------------------------------------------- */

static void test_fn_signature(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F32, 2, (int64_t[]){2, 3});
  nb_expr  *y = nb_input(g, "y", NB_F64, 0, NULL);
  nb_expr  *z = nb_input(g, "z", NB_F32, 2, (int64_t[]){0, 4});
  nb_expr  *o[4] = {nb_mul(x, x), nb_muls(y, 2), nb_sum(x, 1, (int[]){0}, false),
                    nb_sum(z, 1, (int[]){1}, true)};
  nb_fn    *f = nb_fn_new(g, 3, (nb_expr *[]){x, y, z}, 4, o);
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  CHECK(nb_fn_nin(f) == 3);
  CHECK(nb_fn_nout(f) == 4);
  CHECK(nb_fn_in_dtype(f, 0) == NB_F32);
  CHECK(nb_fn_in_dtype(f, 1) == NB_F64);
  CHECK(nb_fn_in_dtype(f, 2) == NB_F32);
  CHECK(nb_fn_in_rank(f, 0) == 2);
  CHECK(nb_fn_in_rank(f, 1) == 0);
  CHECK(nb_fn_in_rank(f, 2) == 2);
  const int64_t *s = nb_fn_in_shape(f, 0);
  CHECK(s && s[0] == 2 && s[1] == 3);
  s = nb_fn_in_shape(f, 2);
  CHECK(s && s[0] == 0 && s[1] == 4);
  CHECK(nb_fn_in_size(f, 0) == 6);
  CHECK(nb_fn_in_size(f, 1) == 1);
  CHECK(nb_fn_in_size(f, 2) == 0);

  CHECK(nb_fn_out_dtype(f, 0) == NB_F32);
  CHECK(nb_fn_out_dtype(f, 1) == NB_F64);
  CHECK(nb_fn_out_dtype(f, 2) == NB_F32);
  CHECK(nb_fn_out_dtype(f, 3) == NB_F32);
  CHECK(nb_fn_out_rank(f, 0) == 2);
  CHECK(nb_fn_out_rank(f, 1) == 0);
  CHECK(nb_fn_out_rank(f, 2) == 1);
  CHECK(nb_fn_out_rank(f, 3) == 2);
  s = nb_fn_out_shape(f, 0);
  CHECK(s && s[0] == 2 && s[1] == 3);
  s = nb_fn_out_shape(f, 2);
  CHECK(s && s[0] == 3);
  s = nb_fn_out_shape(f, 3);
  CHECK(s && s[0] == 0 && s[1] == 1);
  CHECK(nb_fn_out_size(f, 0) == 6);
  CHECK(nb_fn_out_size(f, 1) == 1);
  CHECK(nb_fn_out_size(f, 2) == 3);
  CHECK(nb_fn_out_size(f, 3) == 0);

  float  xv[6] = {1, 2, 3, 4, 5, 6}, zv[1] = {0}, o0[6] = {0}, o2[3] = {0}, o3[1] = {0};
  double yv = 1.25, o1 = 0;
  CHECK(nb_call(f, (const void *[]){xv, &yv, zv}, (void *[]){o0, &o1, o2, o3}) == NB_OK);
  for (int i = 0; i < 6; i++) CHECK(o0[i] == xv[i] * xv[i]);
  CHECK(o1 == 2.5);
  for (int j = 0; j < 3; j++) CHECK(o2[j] == xv[j] + xv[3 + j]);
  nb_fn_free(f);
}

/* ---- nb_trace ------------------------------------------------------------------ */

typedef struct trace_params {
  double scale;
  int    axis;
  int    ncalls;
  void  *self;
} trace_params;

static nb_status build_scaled(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  trace_params *p = user;
  p->ncalls++;
  p->self = user;
  if (!g) return NB_ERR_ARG;
  out[0] = nb_add(nb_muls(in[0], p->scale), nb_sin(in[1]));
  out[1] = nb_sum(in[0], 1, &p->axis, false);
  return out[0] && out[1] ? NB_OK : nb_errcode();
}

static void test_fn_trace_user(void) {
  nb_spec specs[2] = {{"x", NB_F64, 2, {2, 3}}, {"y", NB_F64, 1, {3}}};
  trace_params p1 = {2.0, 0, 0, NULL}, p2 = {-0.5, 1, 0, NULL};
  nb_fn       *f1 = nb_trace(build_scaled, &p1, 2, specs, 2);
  nb_fn       *f2 = nb_trace(build_scaled, &p2, 2, specs, 2);
  CHECK(f1 != NULL);
  CHECK(f2 != NULL);
  CHECK(p1.ncalls == 1 && p1.self == &p1);
  CHECK(p2.ncalls == 1 && p2.self == &p2);
  if (!f1 || !f2) { nb_fn_free(f1); nb_fn_free(f2); return; }
  CHECK(nb_fn_nin(f1) == 2);
  CHECK(nb_fn_nout(f1) == 2);
  CHECK(nb_fn_in_rank(f1, 0) == 2 && nb_fn_in_rank(f1, 1) == 1);
  CHECK(nb_fn_in_size(f1, 0) == 6 && nb_fn_in_size(f1, 1) == 3);
  CHECK(nb_fn_in_dtype(f1, 1) == NB_F64);
  CHECK(nb_fn_out_size(f1, 0) == 6);
  CHECK(nb_fn_out_size(f1, 1) == 3);
  CHECK(nb_fn_out_size(f2, 1) == 2);
  double x[6] = {1, 2, 3, 4, 5, 6}, y[3] = {0.1, 0.2, 0.3};
  double a0[6], a1[3], b0[6], b1[2];
  CHECK(nb_call(f1, (const void *[]){x, y}, (void *[]){a0, a1}) == NB_OK);
  CHECK(nb_call(f2, (const void *[]){x, y}, (void *[]){b0, b1}) == NB_OK);
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++) {
      CHECK_NEAR(a0[i * 3 + j], 2.0 * x[i * 3 + j] + sin(y[j]), 1e-15, 0);
      CHECK_NEAR(b0[i * 3 + j], -0.5 * x[i * 3 + j] + sin(y[j]), 1e-15, 0);
    }
  for (int j = 0; j < 3; j++) CHECK(a1[j] == x[j] + x[3 + j]);
  for (int i = 0; i < 2; i++) CHECK(b1[i] == x[3 * i] + x[3 * i + 1] + x[3 * i + 2]);
  nb_fn_free(f1);
  nb_fn_free(f2);
}

static nb_status build_poly32(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)user;
  (void)g;
  out[0] = nb_adds(nb_mul(in[0], in[0]), 1.0); /* weak scalar stays f32 */
  return out[0] ? NB_OK : nb_errcode();
}

static void test_fn_trace_f32_scalar(void) {
  nb_spec spec = {"s", NB_F32, 0, {0}};
  nb_fn  *f = nb_trace(build_poly32, NULL, 1, &spec, 1);
  CHECK(f != NULL);
  if (!f) return;
  CHECK(nb_fn_in_dtype(f, 0) == NB_F32);
  CHECK(nb_fn_in_rank(f, 0) == 0);
  CHECK(nb_fn_out_dtype(f, 0) == NB_F32);
  CHECK(nb_fn_out_rank(f, 0) == 0);
  float x = 1.5f, y = 0;
  CHECK(nb_call(f, (const void *[]){&x}, (void *[]){&y}) == NB_OK);
  CHECK(y == 3.25f);
  nb_fn_free(f);
}

/* ---- nb_call ------------------------------------------------------------------- */

static void test_fn_call_repeat(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 2, (int64_t[]){8, 16});
  nb_expr  *w = nb_input(g, "w", NB_F64, 2, (int64_t[]){16, 4});
  nb_expr  *h = nb_tanh(nb_matmul(x, w));
  nb_expr  *o[3] = {nb_softmax(h, 1), nb_logsumexp(nb_mul(x, x), 0, NULL, false),
                    nb_exp(nb_slice(x, 1, 0, INT64_MAX, 3))};
  nb_fn    *f = nb_fn_new(g, 2, (nb_expr *[]){x, w}, 3, o);
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  double xa[128], xb[128], wv[64];
  for (int i = 0; i < 128; i++) { xa[i] = sin(i * 0.37); xb[i] = cos(i * 1.1) * 2; }
  for (int i = 0; i < 64; i++) wv[i] = 0.1 * ((i * 7) % 13) - 0.6;
  double first[3][48], r[3][48], other[3][48];
  memset(first, 0, sizeof first);
  CHECK(nb_fn_out_size(f, 0) == 32 && nb_fn_out_size(f, 1) == 1 && nb_fn_out_size(f, 2) == 48);
  CHECK(nb_call(f, (const void *[]){xa, wv}, (void *[]){first[0], first[1], first[2]}) == NB_OK);
  for (int rep = 0; rep < 5; rep++) {
    memset(r, 0xff, sizeof r);
    CHECK(nb_call(f, (const void *[]){xa, wv}, (void *[]){r[0], r[1], r[2]}) == NB_OK);
    CHECK(memcmp(r[0], first[0], 32 * sizeof(double)) == 0);
    CHECK(memcmp(r[1], first[1], 1 * sizeof(double)) == 0);
    CHECK(memcmp(r[2], first[2], 48 * sizeof(double)) == 0);
    /* different inputs in between must not leave state behind */
    CHECK(nb_call(f, (const void *[]){xb, wv}, (void *[]){other[0], other[1], other[2]}) ==
          NB_OK);
    CHECK(memcmp(other[1], first[1], sizeof(double)) != 0);
  }
  /* spot-check values */
  double lse = -INFINITY, m = -INFINITY;
  for (int i = 0; i < 128; i++) m = fmax(m, xa[i] * xa[i]);
  lse = 0;
  for (int i = 0; i < 128; i++) lse += exp(xa[i] * xa[i] - m);
  lse = m + log(lse);
  CHECK_NEAR(first[1][0], lse, 1e-13, 0);
  for (int i = 0; i < 8; i++)
    for (int j = 0; j < 6; j++) CHECK_NEAR(first[2][i * 6 + j], exp(xa[i * 16 + 3 * j]), 1e-15, 0);
  for (int i = 0; i < 8; i++) {
    double hrow[4], mx = -INFINITY, den = 0;
    for (int k = 0; k < 4; k++) {
      double acc = 0;
      for (int j = 0; j < 16; j++) acc += xa[i * 16 + j] * wv[j * 4 + k];
      hrow[k] = tanh(acc);
      mx = fmax(mx, hrow[k]);
    }
    for (int k = 0; k < 4; k++) den += exp(hrow[k] - mx);
    for (int k = 0; k < 4; k++) CHECK_NEAR(first[0][i * 4 + k], exp(hrow[k] - mx) / den, 1e-13, 1e-16);
  }
  nb_fn_free(f);
}

/* outputs that are views of inputs, constants or other outputs must still be written
 * to the caller's buffers */
static void test_fn_call_view_outputs(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 2, (int64_t[]){2, 3});
  nb_expr  *r = nb_reshape(x, 2, (int64_t[]){3, 2});
  nb_expr  *tt = nb_transpose(nb_transpose(x, NULL), NULL);
  nb_expr  *fl = nb_reshape(nb_full(g, NB_F64, 1, (int64_t[]){6}, 1.5), 2, (int64_t[]){2, 3});
  nb_expr  *s = nb_sin(x);
  nb_expr  *rs = nb_reshape(s, 1, (int64_t[]){6});
  nb_expr  *sl = nb_slice(x, 1, 0, INT64_MAX, 1); /* the whole axis */
  nb_expr  *o[7] = {r, x, tt, fl, rs, s, sl};
  nb_fn    *f = nb_fn_new(g, 1, &x, 7, o);
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  double xv[6] = {1, 2, 3, 4, 5, 6}, out[7][6];
  for (int k = 0; k < 7; k++)
    for (int i = 0; i < 6; i++) out[k][i] = NAN;
  CHECK(nb_call(f, (const void *[]){xv}, (void *[]){out[0], out[1], out[2], out[3], out[4],
                                                    out[5], out[6]}) == NB_OK);
  for (int i = 0; i < 6; i++) {
    CHECK(out[0][i] == xv[i]);
    CHECK(out[1][i] == xv[i]);
    CHECK(out[2][i] == xv[i]);
    CHECK(out[3][i] == 1.5);
    CHECK_NEAR(out[4][i], sin(xv[i]), 1e-15, 0);
    CHECK_NEAR(out[5][i], sin(xv[i]), 1e-15, 0);
    CHECK(out[6][i] == xv[i]);
  }
  /* the inputs were not written */
  for (int i = 0; i < 6; i++) CHECK(xv[i] == i + 1);
  nb_fn_free(f);
}

/* output buffers hold garbage on entry; reductions and matmul must not accumulate
 * into them; inputs at odd addresses and one buffer passed for two inputs are fine */
static void test_fn_call_dirty_outputs(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 2, (int64_t[]){5, 7});
  nb_expr  *y = nb_input(g, "y", NB_F64, 2, (int64_t[]){5, 7});
  nb_expr  *o[6] = {nb_sum(x, 1, (int[]){1}, false),
                    nb_max(x, 1, (int[]){0}, false),
                    nb_matmul(x, nb_transpose(y, NULL)),
                    nb_prod(nb_mul(x, y), 0, NULL, false),
                    nb_concat(2, (nb_expr *[]){x, y}, 1),
                    nb_mean(nb_logsumexp(x, 1, (int[]){1}, true), 0, NULL, false)};
  nb_fn    *f = nb_fn_new(g, 2, (nb_expr *[]){x, y}, 6, o);
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  double *mem = malloc(sizeof(double) * (35 + 1));
  if (!mem) { nb_fn_free(f); return; }
  double *xv = mem + 1; /* 8-byte aligned but not 16/32 */
  for (int i = 0; i < 35; i++) xv[i] = 0.9 + 0.01 * ((i * 5) % 11);
  double s[5], m[7], mm[25], p, cc[70], mlse;
  for (int rep = 0; rep < 2; rep++) {
    for (int i = 0; i < 5; i++) s[i] = rep ? NAN : 1e300;
    for (int i = 0; i < 7; i++) m[i] = rep ? NAN : 1e300;
    for (int i = 0; i < 25; i++) mm[i] = rep ? NAN : -7;
    for (int i = 0; i < 70; i++) cc[i] = NAN;
    p = rep ? NAN : 3;
    mlse = NAN;
    CHECK(nb_call(f, (const void *[]){xv, xv}, (void *[]){s, m, mm, &p, cc, &mlse}) == NB_OK);
    double wp = 1, wl = 0;
    for (int i = 0; i < 5; i++) {
      double ws = 0, mx = -INFINITY, den = 0;
      for (int j = 0; j < 7; j++) { ws += xv[i * 7 + j]; mx = fmax(mx, xv[i * 7 + j]); }
      for (int j = 0; j < 7; j++) den += exp(xv[i * 7 + j] - mx);
      wl += mx + log(den);
      CHECK_NEAR(s[i], ws, 1e-14, 0);
      for (int k = 0; k < 5; k++) {
        double acc = 0;
        for (int j = 0; j < 7; j++) acc += xv[i * 7 + j] * xv[k * 7 + j];
        CHECK_NEAR(mm[i * 5 + k], acc, 1e-14, 0);
      }
      for (int j = 0; j < 14; j++) CHECK(cc[i * 14 + j] == xv[i * 7 + j % 7]);
    }
    for (int j = 0; j < 7; j++) {
      double mx = -INFINITY;
      for (int i = 0; i < 5; i++) mx = fmax(mx, xv[i * 7 + j]);
      CHECK(m[j] == mx);
    }
    for (int i = 0; i < 35; i++) wp *= xv[i] * xv[i];
    CHECK_NEAR(p, wp, 1e-13, 0);
    CHECK_NEAR(mlse, wl / 5, 1e-14, 0);
  }
  free(mem);
  nb_fn_free(f);
}

/* ---- printing and node counts ---------------------------------------------------- */

static nb_fn *make_sin_plus_x(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){3});
  nb_expr  *y = nb_add(nb_sin(x), x);
  /* dead nodes: never part of the function */
  (void)nb_cos(x);
  (void)nb_exp(nb_mul(x, x));
  (void)nb_full(g, NB_F64, 1, (int64_t[]){7}, 1.0);
  nb_fn *f = nb_fn_new(g, 1, &x, 1, &y);
  nb_graph_free(g);
  return f;
}

static void test_fn_print_dot(void) {
  nb_fn *f = make_sin_plus_x();
  CHECK(f != NULL);
  if (!f) return;
  FILE *fp = tmpfile();
  CHECK(fp != NULL);
  if (!fp) { nb_fn_free(f); return; }
  CHECK(nb_fn_print(f, fp) == NB_OK);
  char *txt = slurp(fp);
  fclose(fp);
  CHECK(txt != NULL);
  if (txt) {
    CHECK(strlen(txt) > 0);
    CHECK(strstr(txt, "sin") != NULL);
    CHECK(strstr(txt, "add") != NULL);
    CHECK(strstr(txt, "cos") == NULL); /* dead code is not part of the function */
    free(txt);
  }
  fp = tmpfile();
  CHECK(fp != NULL);
  if (fp) {
    CHECK(nb_fn_dot(f, fp) == NB_OK);
    txt = slurp(fp);
    fclose(fp);
    CHECK(txt != NULL);
    if (txt) {
      CHECK(strstr(txt, "digraph") != NULL);
      CHECK(strstr(txt, "sin") != NULL);
      CHECK(strstr(txt, "->") != NULL);
      free(txt);
    }
  }
  nb_fn_free(f);
}

/* printing handles every kind of node; one line per node at least */
static void test_fn_print_all_ops(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F32, 2, (int64_t[]){4, 6});
  nb_expr  *c = nb_const(g, NB_F32, 1, (int64_t[]){6}, (float[]){1, 2, 3, 4, 5, 6});
  nb_expr  *e = nb_where(nb_gt(x, c), nb_tanh(x), nb_pows(x, 3));
  e = nb_add(e, nb_scalar(g, 0.5));
  nb_expr *r = nb_logsumexp(nb_reshape(e, 2, (int64_t[]){6, 4}), 1, (int[]){-1}, true);
  nb_expr *t = nb_take(nb_slice(nb_transpose(e, NULL), 0, -1, INT64_MIN, -2), 1, 2,
                       (int64_t[]){3, -1});
  nb_expr *m = nb_matmul(nb_softmax(e, 0), nb_broadcast_to(c, 2, (int64_t[]){6, 6}));
  nb_expr *st = nb_stack(2, (nb_expr *[]){nb_index(m, 1, 0), nb_cast(nb_index(x, 1, -1), NB_F32)}, 0);
  nb_expr *o[4] = {r, t, nb_concat(2, (nb_expr *[]){m, x}, 1), nb_cast(st, NB_F64)};
  CHECK(o[0] && o[1] && o[2] && o[3]);
  nb_fn *f = nb_fn_new(g, 1, &x, 4, o);
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  FILE *fp = tmpfile();
  if (fp) {
    CHECK(nb_fn_print(f, fp) == NB_OK);
    char *txt = slurp(fp);
    fclose(fp);
    if (txt) {
      int64_t lines = 0;
      for (char *q = txt; *q; q++) lines += *q == '\n';
      CHECK(lines >= nb_fn_node_count(f));
      CHECK(strstr(txt, "tanh") != NULL);
      free(txt);
    }
  }
  fp = tmpfile();
  if (fp) {
    CHECK(nb_fn_dot(f, fp) == NB_OK);
    char *txt = slurp(fp);
    fclose(fp);
    if (txt) {
      CHECK(strstr(txt, "digraph") != NULL);
      CHECK(strrchr(txt, '}') != NULL);
      free(txt);
    }
  }
  nb_fn_free(f);
}

static void test_fn_node_count(void) {
  nb_fn *f = make_sin_plus_x();
  CHECK(f != NULL);
  if (f) CHECK(nb_fn_node_count(f) == 3); /* input, sin, add */
  nb_fn_free(f);

  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){3});
  nb_fn    *id = nb_fn_new(g, 1, &x, 1, &x);
  nb_graph_free(g);
  CHECK(id != NULL);
  if (id) CHECK(nb_fn_node_count(id) == 1);
  nb_fn_free(id);
}

/* ---- version and status strings ---------------------------------------------------- */

static void test_fn_version(void) {
  char want[64];
  snprintf(want, sizeof want, "%d.%d.%d", NB_VERSION_MAJOR, NB_VERSION_MINOR, NB_VERSION_PATCH);
  const char *v = nb_version();
  CHECK(v != NULL);
  if (v) CHECK(strcmp(v, want) == 0);
  CHECK(NB_VERSION_MAJOR == 0 && NB_VERSION_MINOR == 1 && NB_VERSION_PATCH == 0);
}

static void test_fn_status_str(void) {
  const nb_status codes[] = {NB_OK,        NB_ERR_ARG,   NB_ERR_SHAPE, NB_ERR_DTYPE,
                             NB_ERR_NOMEM, NB_ERR_PARSE, NB_ERR_IO,    NB_ERR_COMPILE};
  for (int i = 0; i < NB_ARRLEN(codes); i++) {
    const char *s = nb_status_str(codes[i]);
    CHECK(s != NULL);
    if (!s) continue;
    CHECK(s[0] != 0);
    for (int j = 0; j < i; j++) {
      const char *t = nb_status_str(codes[j]);
      CHECK(t == NULL || strcmp(s, t) != 0);
    }
  }
  const char *u = nb_status_str((nb_status)99);
  CHECK(u != NULL && u[0] != 0);
  u = nb_status_str((nb_status)-1);
  CHECK(u != NULL);
}

/* ---- the seed polynomial f: R^4 -> R^3 -------------------------------------------- */

static void test_fn_seed_polynomial(void) {
  static const double p[3][4] = {{6, 4, 9, 2}, {2, 3, 5, 3}, {5, 7, 7, 6}};
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){4});
  nb_expr  *xi[4], *u[3];
  for (int i = 0; i < 4; i++) xi[i] = nb_index(x, 0, i);
  for (int k = 0; k < 3; k++) {
    u[k] = nb_pows(xi[0], p[k][0]);
    for (int i = 1; i < 4; i++) u[k] = nb_mul(u[k], nb_pows(xi[i], p[k][i]));
  }
  nb_expr *y = nb_stack(3, u, 0);
  CHECK(y != NULL);
  CHECK(nb_expr_rank(y) == 1 && nb_expr_size(y) == 3);
  nb_fn *f = nb_fn_new(g, 1, &x, 1, &y);
  nb_graph_free(g);
  CHECK(f != NULL);
  if (!f) return;
  CHECK(nb_fn_out_rank(f, 0) == 1);
  CHECK(nb_fn_out_size(f, 0) == 3);
  const double xv[4] = {1, 0.5, 1.5, 2};
  double       out[3] = {0}, want[3];
  for (int k = 0; k < 3; k++) {
    want[k] = 1;
    for (int i = 0; i < 4; i++) want[k] *= pow(xv[i], p[k][i]);
  }
  CHECK_NEAR(want[0], 9.61084, 0, 1e-5);
  CHECK_NEAR(want[1], 7.59375, 0, 1e-12);
  CHECK_NEAR(want[2], 8.542969, 0, 1e-6);
  CHECK(nb_call(f, (const void *[]){xv}, (void *[]){out}) == NB_OK);
  for (int k = 0; k < 3; k++) CHECK_NEAR(out[k], want[k], 1e-14, 0);
  int64_t nc = nb_fn_node_count(f);
  CHECK(nc > 0);
  printf("  seed polynomial R^4->R^3: %lld nodes\n", (long long)nc);
  fflush(stdout);
  nb_fn_free(f);
}

void suite_fn(void) {
  RUN(test_fn_unused_input);
  RUN(test_fn_output_is_input);
  RUN(test_fn_constant_output);
  RUN(test_fn_repeated_output);
  RUN(test_fn_nout0);
  RUN(test_fn_graph_freed);
  RUN(test_fn_graph_grows);
  RUN(test_fn_signature);
  RUN(test_fn_trace_user);
  RUN(test_fn_trace_f32_scalar);
  RUN(test_fn_call_repeat);
  RUN(test_fn_call_view_outputs);
  RUN(test_fn_call_dirty_outputs);
  RUN(test_fn_print_dot);
  RUN(test_fn_print_all_ops);
  RUN(test_fn_node_count);
  RUN(test_fn_version);
  RUN(test_fn_status_str);
  RUN(test_fn_seed_polynomial);
}
