/* Derivative conventions at non-smooth and extreme points, as exact tests with
 * hand-computed expectations, in f64 and f32, through every first-order mode
 * (nb_grad, nb_value_and_grad, nb_vjp, nb_jvp) and every second-order
 * composition (nb_hvp, jvp(grad), vjp(grad), jvp(vjp), vjp(vjp), jvp(jvp),
 * grad(grad) for scalars), and third order for the NaN-safe where:
 *   d|x| = sign(x) (0 at 0), relu'(0) = 0, maximum/minimum ties 0.5/0.5, max/min
 *   reductions split evenly among ties, sqrt'(0) = +inf (0 for a 0 tangent),
 *   integer powers of negative bases, x^0, d/dy x^y at x = 0, prod with zeros,
 *   stable logsumexp/softplus/sigmoid/log_softmax/softmax at +-1000 (stop-gradient
 *   shifts), all -inf logsumexp slices, zero derivative of floor/ceil/round/sign and
 *   comparisons, and nb_where never leaking NaN or inf from the branch not taken. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

#define MAXIO 16
#define MAXEL 64
#define NA(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const nb_dtype DTS[2] = {NB_F64, NB_F32};
#define FOR_DT(dt) for (int dt_i_ = 0; dt_i_ < 2 && (set_dt(DTS[dt_i_]), 1); dt_i_++)

/* ---- tolerances: exact tests use atol 0, so an expected 0 must be exactly 0 ---- */
static nb_dtype CUR;
static double   RT, AT;
static void     set_dt(nb_dtype dt) {
  CUR = dt;
  RT = dt == NB_F64 ? 1e-13 : 1e-5;
  AT = 0;
}
/* closed forms computed in double: allow rounding noise around 0 */
static void loose(void) { AT = CUR == NB_F64 ? 1e-13 : 1e-6; }
static const char *dtn(void) { return CUR == NB_F64 ? "f64" : "f32"; }

#define NEAR(got, want) CHECK_NEAR((got), (want), RT, AT)

/* prints where a failing helper was called from */
static void ctx(int before, const char *mode, int line) {
  if (th_failed_checks > before)
    fprintf(stderr, "    ^ in %s (%s), case at line %d\n", mode, dtn(), line);
}

/* ---- building functions ---- */
static nb_expr *cst(nb_expr *like, int rank, const int64_t *shape, const double *v) {
  float   fv[MAXEL];
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= shape[d];
  for (int64_t k = 0; k < n && k < MAXEL; k++) fv[k] = (float)v[k];
  nb_dtype dt = nb_expr_dtype(like);
  return nb_const(nb_expr_graph(like), dt, rank, shape, dt == NB_F32 ? (const void *)fv : (const void *)v);
}
static nb_expr *cst0(nb_expr *like, double v) { return cst(like, 0, NULL, &v); }

typedef nb_expr *(*build1)(nb_expr *x);
typedef nb_expr *(*build2)(nb_expr *x, nb_expr *y);

static nb_fn *mk1(int rank, const int64_t *shape, build1 b) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", CUR, rank, shape);
  nb_expr  *y = b(x);
  nb_fn    *f = nb_fn_new(g, 1, &x, 1, &y);
  nb_graph_free(g);
  if (!f) fprintf(stderr, "  %s: building f failed: %s\n", th_current, nb_errmsg());
  CHECK(f != NULL);
  return f;
}
static nb_fn *mk2(int r0, const int64_t *s0, int r1, const int64_t *s1, build2 b) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x[2] = {nb_input(g, "x", CUR, r0, s0), nb_input(g, "y", CUR, r1, s1)};
  nb_expr  *y = b(x[0], x[1]);
  nb_fn    *f = nb_fn_new(g, 2, x, 1, &y);
  nb_graph_free(g);
  if (!f) fprintf(stderr, "  %s: building f failed: %s\n", th_current, nb_errmsg());
  CHECK(f != NULL);
  return f;
}

/* ---- layout of the (flattened, concatenated) inputs ---- */
typedef struct layout {
  int     nin;
  int64_t size[MAXIO], off[MAXIO], n;
} layout;

static void layout_of(nb_fn *f, layout *L) {
  L->nin = nb_fn_nin(f);
  L->n = 0;
  for (int i = 0; i < L->nin; i++) {
    L->size[i] = nb_fn_in_size(f, i);
    L->off[i] = L->n;
    L->n += L->size[i];
  }
}
/* buf[i] = 0 everywhere except a 1 at flat position b (b < 0: all zero) */
static void basis(const layout *L, int64_t b, double buf[][MAXEL]) {
  for (int i = 0; i < L->nin; i++) {
    for (int64_t k = 0; k < L->size[i]; k++) buf[i][k] = 0;
    if (b >= L->off[i] && b < L->off[i] + L->size[i]) buf[i][b - L->off[i]] = 1;
  }
}

/* ---- first order: f has one output of one element; g[i] = df/dx_i ---- */
static void cmp_grads(const layout *L, double got[][MAXEL], const double *const *g, double s) {
  for (int i = 0; i < L->nin; i++)
    for (int64_t k = 0; k < L->size[i]; k++) NEAR(got[i][k], s == 0 ? 0.0 : s * g[i][k]);
}

static void check_first(nb_fn *f, const double *const *x, const double *const *g, int line) {
  if (!f) return;
  layout L;
  layout_of(f, &L);
  int           nin = L.nin, before;
  double        got[MAXIO + 2][MAXEL], y[MAXEL], dy[MAXEL], tang[MAXIO][MAXEL];
  double       *outs[2 * MAXIO + 2];
  const double *ins[2 * MAXIO + 2];

  /* nb_grad */
  before = th_failed_checks;
  nb_fn *t = nb_grad(f, NULL);
  for (int i = 0; i < nin; i++) outs[i] = got[i];
  if (fx_run(t, "nb_grad", x, outs)) {
    CHECK(nb_fn_nout(t) == nin);
    cmp_grads(&L, got, g, 1);
  }
  nb_fn_free(t);
  ctx(before, "nb_grad", line);

  /* nb_value_and_grad */
  before = th_failed_checks;
  t = nb_value_and_grad(f, NULL);
  outs[0] = y;
  for (int i = 0; i < nin; i++) outs[1 + i] = got[i];
  if (fx_run(t, "nb_value_and_grad", x, outs)) cmp_grads(&L, got, g, 1);
  nb_fn_free(t);
  ctx(before, "nb_value_and_grad", line);

  /* nb_vjp with cotangents 1, 2 and 0 (0 gives exact zeros even where a partial is inf) */
  before = th_failed_checks;
  t = nb_vjp(f, NULL);
  if (fx_made(t, "nb_vjp")) {
    static const double cts[3] = {1, 2, 0};
    for (int c = 0; c < 3; c++) {
      for (int i = 0; i < nin; i++) ins[i] = x[i];
      ins[nin] = &cts[c];
      outs[0] = y;
      for (int i = 0; i < nin; i++) outs[1 + i] = got[i];
      if (fx_run(t, "nb_vjp", ins, outs)) cmp_grads(&L, got, g, cts[c]);
    }
  }
  nb_fn_free(t);
  ctx(before, "nb_vjp", line);

  /* nb_jvp along each basis direction, and along 0 */
  before = th_failed_checks;
  t = nb_jvp(f, NULL);
  if (fx_made(t, "nb_jvp")) {
    for (int64_t b = -1; b < L.n; b++) {
      basis(&L, b, tang);
      for (int i = 0; i < nin; i++) ins[i] = x[i], ins[nin + i] = tang[i];
      outs[0] = y, outs[1] = dy;
      if (!fx_run(t, "nb_jvp", ins, outs)) break;
      if (b < 0) {
        NEAR(dy[0], 0.0);
      } else {
        int i = 0;
        while (b >= L.off[i] + L.size[i]) i++;
        NEAR(dy[0], g[i][b - L.off[i]]);
      }
    }
  }
  nb_fn_free(t);
  ctx(before, "nb_jvp", line);
}

/* ---- second order: H is the Hessian over the flattened inputs (row-major n x n) ---- */
static double hess_at(const layout *L, const double *H, int64_t r, int64_t c) {
  return H[r * L->n + c];
}
/* got (per input) against column col of H (or row, H being symmetric or not) */
static void cmp_col(const layout *L, double got[][MAXEL], const double *H, int64_t b, bool row) {
  for (int i = 0; i < L->nin; i++)
    for (int64_t k = 0; k < L->size[i]; k++) {
      int64_t q = L->off[i] + k;
      NEAR(got[i][k], row ? hess_at(L, H, b, q) : hess_at(L, H, q, b));
    }
}

static void check_second(nb_fn *f, const double *const *x, const double *H, int line) {
  if (!f) return;
  layout L;
  layout_of(f, &L);
  int           nin = L.nin, before;
  double        got[MAXIO][MAXEL], ign[2 * MAXIO + 4][MAXEL], e[MAXIO][MAXEL], e2[MAXIO][MAXEL];
  double        zero[MAXIO][MAXEL], one = 1, zero1 = 0;
  double       *outs[4 * MAXIO + 4];
  const double *ins[4 * MAXIO + 4];
  memset(zero, 0, sizeof zero);

  /* nb_hvp: (x, v) -> H v */
  before = th_failed_checks;
  nb_fn *t = nb_hvp(f, NULL);
  if (fx_made(t, "nb_hvp"))
    for (int64_t b = 0; b < L.n; b++) {
      basis(&L, b, e);
      for (int i = 0; i < nin; i++) ins[i] = x[i], ins[nin + i] = e[i], outs[i] = got[i];
      if (!fx_run(t, "nb_hvp", ins, outs)) break;
      cmp_col(&L, got, H, b, false);
    }
  nb_fn_free(t);
  ctx(before, "nb_hvp", line);

  /* jvp(grad f): (x, t) -> (g, H t) */
  before = th_failed_checks;
  nb_fn *gr = nb_grad(f, NULL);
  t = gr ? nb_jvp(gr, NULL) : NULL;
  if (fx_made(t, "nb_jvp(nb_grad)"))
    for (int64_t b = 0; b < L.n; b++) {
      basis(&L, b, e);
      for (int i = 0; i < nin; i++)
        ins[i] = x[i], ins[nin + i] = e[i], outs[i] = ign[i], outs[nin + i] = got[i];
      if (!fx_run(t, "nb_jvp(nb_grad)", ins, outs)) break;
      cmp_col(&L, got, H, b, false);
    }
  nb_fn_free(t);
  ctx(before, "nb_jvp(nb_grad)", line);

  /* vjp(grad f): (x, c) -> (g, H^T c) */
  before = th_failed_checks;
  t = gr ? nb_vjp(gr, NULL) : NULL;
  if (fx_made(t, "nb_vjp(nb_grad)"))
    for (int64_t b = 0; b < L.n; b++) {
      basis(&L, b, e);
      for (int i = 0; i < nin; i++)
        ins[i] = x[i], ins[nin + i] = e[i], outs[i] = ign[i], outs[nin + i] = got[i];
      if (!fx_run(t, "nb_vjp(nb_grad)", ins, outs)) break;
      cmp_col(&L, got, H, b, true);
    }
  nb_fn_free(t);
  ctx(before, "nb_vjp(nb_grad)", line);

  /* grad(grad f) for a function of one element */
  if (L.n == 1) {
    before = th_failed_checks;
    t = gr ? nb_grad(gr, NULL) : NULL;
    outs[0] = got[0];
    if (fx_run(t, "nb_grad(nb_grad)", x, outs)) NEAR(got[0][0], H[0]);
    nb_fn_free(t);
    ctx(before, "nb_grad(nb_grad)", line);
  }
  nb_fn_free(gr);

  /* jvp(vjp f): (x, cy, tx, tcy) -> (y, g, ty, H tx cy + g' tcy) */
  before = th_failed_checks;
  nb_fn *vj = nb_vjp(f, NULL);
  t = vj ? nb_jvp(vj, NULL) : NULL;
  if (fx_made(t, "nb_jvp(nb_vjp)"))
    for (int64_t b = 0; b < L.n; b++) {
      basis(&L, b, e);
      int k = 0;
      for (int i = 0; i < nin; i++) ins[k++] = x[i];
      ins[k++] = &one;
      for (int i = 0; i < nin; i++) ins[k++] = e[i];
      ins[k++] = &zero1;
      k = 0;
      outs[k++] = ign[0];
      for (int i = 0; i < nin; i++) outs[k++] = ign[1 + i];
      outs[k++] = ign[nin + 1];
      for (int i = 0; i < nin; i++) outs[k++] = got[i];
      if (!fx_run(t, "nb_jvp(nb_vjp)", ins, outs)) break;
      cmp_col(&L, got, H, b, false);
    }
  nb_fn_free(t);
  ctx(before, "nb_jvp(nb_vjp)", line);

  /* vjp(vjp f): (x, cy, c_y, c_g) -> (y, g, H^T c_g cy + g c_y, g . c_g) */
  before = th_failed_checks;
  t = vj ? nb_vjp(vj, NULL) : NULL;
  if (fx_made(t, "nb_vjp(nb_vjp)"))
    for (int64_t b = 0; b < L.n; b++) {
      basis(&L, b, e);
      int k = 0;
      for (int i = 0; i < nin; i++) ins[k++] = x[i];
      ins[k++] = &one;
      ins[k++] = &zero1;
      for (int i = 0; i < nin; i++) ins[k++] = e[i];
      k = 0;
      outs[k++] = ign[0];
      for (int i = 0; i < nin; i++) outs[k++] = ign[1 + i];
      for (int i = 0; i < nin; i++) outs[k++] = got[i];
      outs[k++] = ign[nin + 1];
      if (!fx_run(t, "nb_vjp(nb_vjp)", ins, outs)) break;
      cmp_col(&L, got, H, b, true);
    }
  nb_fn_free(t);
  nb_fn_free(vj);
  ctx(before, "nb_vjp(nb_vjp)", line);

  /* jvp(jvp f): (x, t, sx, st) -> (y, dy, dy_s, t^T H sx + g . st) */
  before = th_failed_checks;
  nb_fn *jv = nb_jvp(f, NULL);
  t = jv ? nb_jvp(jv, NULL) : NULL;
  if (fx_made(t, "nb_jvp(nb_jvp)"))
    for (int64_t a = 0; a < L.n; a++)
      for (int64_t b = 0; b < L.n; b++) {
        basis(&L, a, e);
        basis(&L, b, e2);
        int k = 0;
        for (int i = 0; i < nin; i++) ins[k++] = x[i];
        for (int i = 0; i < nin; i++) ins[k++] = e[i];
        for (int i = 0; i < nin; i++) ins[k++] = e2[i];
        for (int i = 0; i < nin; i++) ins[k++] = zero[i];
        outs[0] = ign[0], outs[1] = ign[1], outs[2] = ign[2], outs[3] = got[0];
        if (!fx_run(t, "nb_jvp(nb_jvp)", ins, outs)) goto jj_done;
        NEAR(got[0][0], hess_at(&L, H, a, b));
      }
jj_done:
  nb_fn_free(t);
  nb_fn_free(jv);
  ctx(before, "nb_jvp(nb_jvp)", line);
}

/* ---- third order of a function of one scalar ---- */
static void check_third(nb_fn *f, double x, double d3, int line) {
  if (!f) return;
  int           before = th_failed_checks;
  double        got[8], ign[8][1];
  const double *xs[1] = {&x};
  double       *outs[8];
  nb_fn        *g1 = nb_grad(f, NULL), *g2 = g1 ? nb_grad(g1, NULL) : NULL;
  nb_fn        *g3 = g2 ? nb_grad(g2, NULL) : NULL;
  outs[0] = got;
  if (fx_run(g3, "nb_grad^3", xs, outs)) NEAR(got[0], d3);
  nb_fn_free(g1), nb_fn_free(g2), nb_fn_free(g3);
  ctx(before, "nb_grad(nb_grad(nb_grad))", line);

  /* jvp(vjp(vjp f)): inputs (x, cy, c_y, c_g, tx, tcy, tc_y, tc_g); output 6 is
   * d/dtx (f' c_y + f'' cy c_g) = f''' with cy = c_g = 1, c_y = 0 */
  before = th_failed_checks;
  nb_fn *v1 = nb_vjp(f, NULL), *v2 = v1 ? nb_vjp(v1, NULL) : NULL;
  nb_fn *j3 = v2 ? nb_jvp(v2, NULL) : NULL;
  if (fx_made(j3, "nb_jvp(nb_vjp(nb_vjp))")) {
    double        one = 1, zero = 0;
    const double *in[8] = {&x, &one, &zero, &one, &one, &zero, &zero, &zero};
    for (int k = 0; k < 8; k++) outs[k] = ign[k];
    outs[6] = got;
    if (fx_run(j3, "nb_jvp(nb_vjp(nb_vjp))", in, outs)) NEAR(got[0], d3);
  }
  nb_fn_free(v1), nb_fn_free(v2), nb_fn_free(j3);
  ctx(before, "nb_jvp(nb_vjp(nb_vjp))", line);

  /* jvp(jvp(jvp f)): inputs (x, t, sx, st, rx, rt, rsx, rst); output 7 = f''' */
  before = th_failed_checks;
  nb_fn *a1 = nb_jvp(f, NULL), *a2 = a1 ? nb_jvp(a1, NULL) : NULL;
  nb_fn *a3 = a2 ? nb_jvp(a2, NULL) : NULL;
  if (fx_made(a3, "nb_jvp^3")) {
    double        one = 1, zero = 0;
    const double *in[8] = {&x, &one, &one, &zero, &one, &zero, &zero, &zero};
    for (int k = 0; k < 8; k++) outs[k] = ign[k];
    outs[7] = got;
    if (fx_run(a3, "nb_jvp^3", in, outs)) NEAR(got[0], d3);
  }
  nb_fn_free(a1), nb_fn_free(a2), nb_fn_free(a3);
  ctx(before, "nb_jvp(nb_jvp(nb_jvp))", line);
}

/* f of one rank-0 input: f'(x) = d1, f''(x) = d2 */
static void scalar_case_(nb_fn *f, double x, double d1, double d2, int line) {
  const double *xs[1] = {&x}, *gs[1] = {&d1};
  check_first(f, xs, gs, line);
  check_second(f, xs, &d2, line);
}
#define SCALAR(f, x, d1, d2) scalar_case_((f), (x), (d1), (d2), __LINE__)
static void scalar1_(nb_fn *f, double x, double d1, int line) {
  const double *xs[1] = {&x}, *gs[1] = {&d1};
  check_first(f, xs, gs, line);
}
#define SCALAR1(f, x, d1) scalar1_((f), (x), (d1), __LINE__)

/* ======================================================================== */

static nb_expr *b_abs(nb_expr *x) { return nb_abs(x); }
static nb_expr *b_sum_abs(nb_expr *x) { return nb_sum(nb_abs(x), 0, NULL, false); }

static void test_conv_abs(void) {
  FOR_DT(dt) {
    nb_fn *f = mk1(0, NULL, b_abs);
    SCALAR(f, 0.0, 0.0, 0.0);
    SCALAR(f, -0.0, 0.0, 0.0);
    SCALAR(f, -2.0, -1.0, 0.0);
    SCALAR(f, 3.0, 1.0, 0.0);
    nb_fn_free(f);
    f = mk1(1, (int64_t[]){3}, b_sum_abs);
    double x[3] = {-1, 0, 2}, g[3] = {-1, 0, 1}, H[9] = {0};
    check_first(f, (const double *[]){x}, (const double *[]){g}, __LINE__);
    check_second(f, (const double *[]){x}, H, __LINE__);
    nb_fn_free(f);
  }
}

static nb_expr *b_relu(nb_expr *x) { return nb_relu(x); }
static nb_expr *b_sum_relu(nb_expr *x) { return nb_sum(nb_relu(x), 0, NULL, false); }

static void test_conv_relu(void) {
  FOR_DT(dt) {
    nb_fn *f = mk1(0, NULL, b_relu);
    SCALAR(f, 0.0, 0.0, 0.0);
    SCALAR(f, 2.0, 1.0, 0.0);
    SCALAR(f, -1.0, 0.0, 0.0);
    nb_fn_free(f);
    f = mk1(1, (int64_t[]){3}, b_sum_relu);
    double x[3] = {-1, 0, 2}, g[3] = {0, 0, 1}, H[9] = {0};
    check_first(f, (const double *[]){x}, (const double *[]){g}, __LINE__);
    check_second(f, (const double *[]){x}, H, __LINE__);
    nb_fn_free(f);
  }
}

static nb_expr *b_maximum(nb_expr *x, nb_expr *y) { return nb_maximum(x, y); }
static nb_expr *b_minimum(nb_expr *x, nb_expr *y) { return nb_minimum(x, y); }
static nb_expr *b_max_self(nb_expr *x) { return nb_maximum(x, x); }
static nb_expr *b_min_self(nb_expr *x) { return nb_minimum(x, x); }
static nb_expr *b_max_zero(nb_expr *x) { return nb_maximum(x, nb_scalar(nb_expr_graph(x), 0)); }
static nb_expr *b_sum_maximum(nb_expr *x, nb_expr *y) { return nb_sum(nb_maximum(x, y), 0, NULL, false); }
static nb_expr *b_sum_minimum(nb_expr *x, nb_expr *y) { return nb_sum(nb_minimum(x, y), 0, NULL, false); }

/* binary maximum(x, y) at (a, b): gradients (ga, gb), Hessian 0 */
static void pair_case_(nb_fn *f, double a, double b, double ga, double gb, int line) {
  const double *xs[2] = {&a, &b}, *gs[2] = {&ga, &gb};
  double        H[4] = {0};
  check_first(f, xs, gs, line);
  check_second(f, xs, H, line);
}
#define PAIR(f, a, b, ga, gb) pair_case_((f), (a), (b), (ga), (gb), __LINE__)

static void test_conv_maximum_minimum_ties(void) {
  FOR_DT(dt) {
    nb_fn *f = mk2(0, NULL, 0, NULL, b_maximum);
    PAIR(f, 1, 1, 0.5, 0.5);
    PAIR(f, 0, 0, 0.5, 0.5);
    PAIR(f, -3, -3, 0.5, 0.5);
    PAIR(f, 2, 1, 1, 0);
    PAIR(f, 1, 2, 0, 1);
    nb_fn_free(f);
    f = mk2(0, NULL, 0, NULL, b_minimum);
    PAIR(f, 1, 1, 0.5, 0.5);
    PAIR(f, 2, 1, 0, 1);
    PAIR(f, 1, 2, 1, 0);
    nb_fn_free(f);
    /* maximum(x, x) = x: the two halves add up to 1 */
    f = mk1(0, NULL, b_max_self);
    SCALAR(f, 1.5, 1, 0);
    nb_fn_free(f);
    f = mk1(0, NULL, b_min_self);
    SCALAR(f, -1.5, 1, 0);
    nb_fn_free(f);
    /* maximum(x, 0) at 0 splits (unlike relu) */
    f = mk1(0, NULL, b_max_zero);
    SCALAR(f, 0, 0.5, 0);
    SCALAR(f, 1, 1, 0);
    SCALAR(f, -1, 0, 0);
    nb_fn_free(f);
    /* broadcast ties: each tie gives half to y */
    double x[3] = {1, 2, 1}, y = 1, H[16] = {0};
    f = mk2(1, (int64_t[]){3}, 0, NULL, b_sum_maximum);
    double gx[3] = {0.5, 1, 0.5}, gy = 1;
    check_first(f, (const double *[]){x, &y}, (const double *[]){gx, &gy}, __LINE__);
    check_second(f, (const double *[]){x, &y}, H, __LINE__);
    nb_fn_free(f);
    f = mk2(1, (int64_t[]){3}, 0, NULL, b_sum_minimum);
    double hx[3] = {0.5, 0, 0.5}, hy = 2;
    check_first(f, (const double *[]){x, &y}, (const double *[]){hx, &hy}, __LINE__);
    check_second(f, (const double *[]){x, &y}, H, __LINE__);
    nb_fn_free(f);
  }
}

static nb_expr *b_max_all(nb_expr *x) { return nb_max(x, 0, NULL, false); }
static nb_expr *b_min_all(nb_expr *x) { return nb_min(x, 0, NULL, false); }
/* sum(w * max(X, axis 1)), w = [1, 2] */
static nb_expr *b_max_rows(nb_expr *x) {
  double w[2] = {1, 2};
  return nb_sum(nb_mul(nb_max(x, 1, (int[]){1}, false), cst(x, 1, (int64_t[]){2}, w)), 0, NULL,
                false);
}
/* sum(min(X, axis 0, keepdims)) */
static nb_expr *b_min_cols(nb_expr *x) {
  return nb_sum(nb_min(x, 1, (int[]){0}, true), 0, NULL, false);
}

static void vec_case_(nb_fn *f, const double *x, const double *g, const double *H, int line) {
  check_first(f, (const double *[]){x}, (const double *[]){g}, line);
  if (H) check_second(f, (const double *[]){x}, H, line);
}
#define VEC(f, x, g, H) vec_case_((f), (x), (g), (H), __LINE__)

static void test_conv_max_min_reduction_ties(void) {
  static const double Z[36] = {0};
  const double        t = 1.0 / 3.0;
  FOR_DT(dt) {
    nb_fn *f = mk1(1, (int64_t[]){3}, b_max_all);
    VEC(f, ((double[]){1, 3, 3}), ((double[]){0, 0.5, 0.5}), Z);
    VEC(f, ((double[]){3, 3, 3}), ((double[]){t, t, t}), Z);
    VEC(f, ((double[]){3, 1, 3}), ((double[]){0.5, 0, 0.5}), Z);
    VEC(f, ((double[]){3, 1, 2}), ((double[]){1, 0, 0}), Z);
    VEC(f, ((double[]){-5, -5, -7}), ((double[]){0.5, 0.5, 0}), Z);
    nb_fn_free(f);
    f = mk1(1, (int64_t[]){3}, b_min_all);
    VEC(f, ((double[]){1, 1, 3}), ((double[]){0.5, 0.5, 0}), Z);
    VEC(f, ((double[]){2, 2, 2}), ((double[]){t, t, t}), Z);
    VEC(f, ((double[]){3, 1, 2}), ((double[]){0, 1, 0}), Z);
    nb_fn_free(f);
    /* four-way tie over all axes of a matrix */
    f = mk1(2, (int64_t[]){2, 2}, b_max_all);
    VEC(f, ((double[]){7, 7, 7, 7}), ((double[]){0.25, 0.25, 0.25, 0.25}), Z);
    nb_fn_free(f);
    /* per-row ties */
    f = mk1(2, (int64_t[]){2, 3}, b_max_rows);
    VEC(f, ((double[]){1, 3, 3, 5, 5, 5}), ((double[]){0, 0.5, 0.5, 2 * t, 2 * t, 2 * t}), Z);
    nb_fn_free(f);
    f = mk1(2, (int64_t[]){2, 3}, b_min_cols);
    VEC(f, ((double[]){1, 3, 3, 1, 2, 5}), ((double[]){0.5, 0, 1, 0.5, 1, 0}), Z);
    nb_fn_free(f);
  }
}

static nb_expr *b_sqrt(nb_expr *x) { return nb_sqrt(x); }
static nb_expr *b_sqrt_vec(nb_expr *x) { return nb_sqrt(x); }

static void test_conv_sqrt_at_zero(void) {
  FOR_DT(dt) {
    nb_fn *f = mk1(0, NULL, b_sqrt);
    SCALAR1(f, 0.0, INFINITY); /* jvp along 0 and vjp of 0 give exactly 0 */
    SCALAR(f, 4.0, 0.25, -1.0 / 32);
    nb_fn_free(f);
    /* elementwise: tangent [0, 1, 1] at [0, 4, 0] -> [0, 0.25, inf] (jvp and vjp) */
    f = mk1(1, (int64_t[]){3}, b_sqrt_vec);
    nb_fn *j = nb_jvp(f, NULL), *v = nb_vjp(f, NULL);
    double x[3] = {0, 4, 0}, t[3] = {0, 1, 1}, y[3], d[3];
    if (fx_run(j, "nb_jvp", (const double *[]){x, t}, (double *[]){y, d})) {
      NEAR(d[0], 0);
      NEAR(d[1], 0.25);
      NEAR(d[2], INFINITY);
    }
    if (fx_run(v, "nb_vjp", (const double *[]){x, t}, (double *[]){y, d})) {
      NEAR(d[0], 0);
      NEAR(d[1], 0.25);
      NEAR(d[2], INFINITY);
    }
    nb_fn_free(j), nb_fn_free(v), nb_fn_free(f);
  }
}

static nb_expr *b_cube(nb_expr *x) { return nb_pows(x, 3); }
static nb_expr *b_square_p(nb_expr *x) { return nb_pows(x, 2); }
static nb_expr *b_pow_c3(nb_expr *x) { return nb_pow(x, cst0(x, 3)); }
static nb_expr *b_pow_c2(nb_expr *x) { return nb_pow(x, cst0(x, 2)); }
static nb_expr *b_pow_full3(nb_expr *x) {
  return nb_pow(x, nb_full(nb_expr_graph(x), nb_expr_dtype(x), 0, NULL, 3));
}
static nb_expr *b_inv_p(nb_expr *x) { return nb_pows(x, -1); }
static nb_expr *b_pow0(nb_expr *x) { return nb_pows(x, 0); }
static nb_expr *b_pow_c0(nb_expr *x) { return nb_pow(x, cst0(x, 0)); }
static nb_expr *b_pow_half(nb_expr *x) { return nb_pows(x, 0.5); }
static nb_expr *b_pow_xy(nb_expr *x, nb_expr *y) { return nb_pow(x, y); }

static void test_conv_pow(void) {
  build1 cubes[3] = {b_cube, b_pow_c3, b_pow_full3}, squares[2] = {b_square_p, b_pow_c2};
  FOR_DT(dt) {
    /* integer powers of negative bases are finite, at every order */
    for (int k = 0; k < 3; k++) {
      nb_fn *f = mk1(0, NULL, cubes[k]);
      SCALAR(f, -2.0, 12.0, -12.0);
      SCALAR(f, 0.0, 0.0, 0.0);
      SCALAR(f, 2.0, 12.0, 12.0);
      check_third(f, -2.0, 6.0, __LINE__);
      nb_fn_free(f);
    }
    for (int k = 0; k < 2; k++) {
      nb_fn *f = mk1(0, NULL, squares[k]);
      SCALAR(f, -3.0, -6.0, 2.0);
      SCALAR(f, 0.0, 0.0, 2.0);
      check_third(f, -3.0, 0.0, __LINE__);
      nb_fn_free(f);
    }
    nb_fn *f = mk1(0, NULL, b_inv_p);
    SCALAR(f, -2.0, -0.25, -0.25);
    nb_fn_free(f);
    /* d/dx x^0 = 0, also at 0 */
    build1 zeros[2] = {b_pow0, b_pow_c0};
    for (int k = 0; k < 2; k++) {
      f = mk1(0, NULL, zeros[k]);
      SCALAR(f, 0.0, 0.0, 0.0);
      SCALAR(f, 2.0, 0.0, 0.0);
      SCALAR(f, -1.5, 0.0, 0.0);
      nb_fn_free(f);
    }
    /* d/dx x^0.5 at 0 = +inf, like sqrt */
    f = mk1(0, NULL, b_pow_half);
    SCALAR1(f, 0.0, INFINITY);
    SCALAR1(f, 4.0, 0.25);
    nb_fn_free(f);

    /* x^y with both inputs: d/dy = 0 at x = 0 */
    f = mk2(0, NULL, 0, NULL, b_pow_xy);
    {
      double a = 0, b = 2, ga = 0, gb = 0, H[4] = {2, 0, 0, 0};
      check_first(f, (const double *[]){&a, &b}, (const double *[]){&ga, &gb}, __LINE__);
      check_second(f, (const double *[]){&a, &b}, H, __LINE__);
      b = 3, H[0] = 0;
      check_first(f, (const double *[]){&a, &b}, (const double *[]){&ga, &gb}, __LINE__);
      check_second(f, (const double *[]){&a, &b}, H, __LINE__);
      b = 0.5, ga = INFINITY;
      check_first(f, (const double *[]){&a, &b}, (const double *[]){&ga, &gb}, __LINE__);
      b = 0, ga = 0; /* x^0: d/dx = 0 (exponent 0), d/dy = 0 (base 0) */
      check_first(f, (const double *[]){&a, &b}, (const double *[]){&ga, &gb}, __LINE__);
    }
    /* negative base, integer exponent given as an input: finite wrt the base */
    {
      nb_diff_opts o = {1, (int[]){0}, 0};
      double       a = -2, b = 3, got = NAN, v = 1, ign[2];
      nb_fn       *g = nb_grad(f, &o), *h = nb_hvp(f, &o), *j = nb_jvp(f, &o), *vj = nb_vjp(f, &o);
      if (fx_run(g, "nb_grad wrt 0", (const double *[]){&a, &b}, (double *[]){&got})) NEAR(got, 12);
      if (fx_run(j, "nb_jvp wrt 0", (const double *[]){&a, &b, &v}, (double *[]){ign, &got}))
        NEAR(got, 12);
      if (fx_run(vj, "nb_vjp wrt 0", (const double *[]){&a, &b, &v}, (double *[]){ign, &got}))
        NEAR(got, 12);
      if (fx_run(h, "nb_hvp wrt 0", (const double *[]){&a, &b, &v}, (double *[]){&got}))
        NEAR(got, -12);
      nb_fn_free(g), nb_fn_free(h), nb_fn_free(j), nb_fn_free(vj);
      a = -3, b = 2;
      g = nb_grad(f, &o);
      if (fx_run(g, "nb_grad wrt 0", (const double *[]){&a, &b}, (double *[]){&got})) NEAR(got, -6);
      nb_fn_free(g);
    }
    nb_fn_free(f);
  }
}

static nb_expr *b_prod(nb_expr *x) { return nb_prod(x, 0, NULL, false); }
/* sum(w * prod(X, axis 1)), w = [1, 2] */
static nb_expr *b_prod_rows(nb_expr *x) {
  double w[2] = {1, 2};
  return nb_sum(nb_mul(nb_prod(x, 1, (int[]){1}, false), cst(x, 1, (int64_t[]){2}, w)), 0, NULL,
                false);
}

static void test_conv_prod_zeros(void) {
  FOR_DT(dt) {
    nb_fn *f = mk1(1, (int64_t[]){3}, b_prod);
    /* no zero */
    VEC(f, ((double[]){2, 5, 3}), ((double[]){15, 6, 10}),
        ((double[]){0, 3, 5, 3, 0, 2, 5, 2, 0}));
    /* one zero: only that element gets the product of the others; the Hessian is
     * still d2/dxi dxj = product of the remaining element */
    VEC(f, ((double[]){2, 0, 3}), ((double[]){0, 6, 0}),
        ((double[]){0, 3, 0, 3, 0, 2, 0, 2, 0}));
    VEC(f, ((double[]){0, 4, -1}), ((double[]){-4, 0, 0}),
        ((double[]){0, -1, 4, -1, 0, 0, 4, 0, 0}));
    /* two zeros: every partial is 0, but d2/dx0 dx1 = 3 */
    VEC(f, ((double[]){0, 0, 3}), ((double[]){0, 0, 0}),
        ((double[]){0, 3, 0, 3, 0, 0, 0, 0, 0}));
    /* three zeros */
    VEC(f, ((double[]){0, 0, 0}), ((double[]){0, 0, 0}), ((double[]){0, 0, 0, 0, 0, 0, 0, 0, 0}));
    nb_fn_free(f);
    f = mk1(2, (int64_t[]){2, 3}, b_prod_rows);
    VEC(f, ((double[]){2, 0, 3, 1, 2, 3}), ((double[]){0, 6, 0, 12, 6, 4}), NULL);
    VEC(f, ((double[]){0, 0, 3, 0, 2, 3}), ((double[]){0, 0, 0, 12, 0, 0}), NULL);
    nb_fn_free(f);
  }
}

/* ---- stability at +-1000 ---- */
static nb_expr *b_sigmoid(nb_expr *x) { return nb_sigmoid(x); }
static nb_expr *b_softplus(nb_expr *x) { return nb_softplus(x); }
static double   sig(double x) { return 1 / (1 + exp(-x)); }

static void test_conv_sigmoid_softplus_stable(void) {
  FOR_DT(dt) {
    nb_fn *f = mk1(0, NULL, b_sigmoid);
    SCALAR(f, 1000, 0, 0);
    SCALAR(f, -1000, 0, 0);
    SCALAR(f, 0, 0.25, 0);
    loose();
    double s = sig(2);
    SCALAR(f, 2, s * (1 - s), s * (1 - s) * (1 - 2 * s));
    s = sig(-3);
    SCALAR(f, -3, s * (1 - s), s * (1 - s) * (1 - 2 * s));
    nb_fn_free(f);
    set_dt(CUR);
    f = mk1(0, NULL, b_softplus);
    SCALAR(f, 1000, 1, 0);
    SCALAR(f, -1000, 0, 0);
    /* softplus is smooth: softplus' = sigmoid, softplus'' = sigmoid' (0.25 at 0) */
    SCALAR(f, 0, 0.5, 0.25);
    loose();
    s = sig(2);
    SCALAR(f, 2, s, s * (1 - s));
    s = sig(-3);
    SCALAR(f, -3, s, s * (1 - s));
    nb_fn_free(f);
  }
}

static nb_expr *b_lse(nb_expr *x) { return nb_logsumexp(x, 0, NULL, false); }
/* sum(logsumexp(X, axis 1)) */
static nb_expr *b_lse_rows(nb_expr *x) {
  return nb_sum(nb_logsumexp(x, 1, (int[]){1}, false), 0, NULL, false);
}
static double W3[3] = {1, 2, 3};
static double Wm[3] = {1, -2, 0.5};
static const double *WCUR = W3;
static nb_expr *b_wlogsm(nb_expr *x) {
  return nb_sum(nb_mul(cst(x, 1, (int64_t[]){3}, WCUR), nb_log_softmax(x, 0)), 0, NULL, false);
}
static nb_expr *b_wsm(nb_expr *x) {
  return nb_sum(nb_mul(cst(x, 1, (int64_t[]){3}, WCUR), nb_softmax(x, -1)), 0, NULL, false);
}
static nb_expr *b_wsm2(nb_expr *x) {
  double w[2] = {1, 0};
  return nb_sum(nb_mul(cst(x, 1, (int64_t[]){2}, w), nb_softmax(x, 0)), 0, NULL, false);
}

static void softmax_of(int n, const double *x, double *p) {
  double m = -INFINITY, s = 0;
  for (int i = 0; i < n; i++) m = fmax(m, x[i]);
  for (int i = 0; i < n; i++) s += (p[i] = exp(x[i] - m));
  for (int i = 0; i < n; i++) p[i] /= s;
}

static void test_conv_logsumexp_stable(void) {
  FOR_DT(dt) {
    nb_fn *f = mk1(1, (int64_t[]){3}, b_lse);
    VEC(f, ((double[]){1000, 1000, -1000}), ((double[]){0.5, 0.5, 0}),
        ((double[]){0.25, -0.25, 0, -0.25, 0.25, 0, 0, 0, 0}));
    VEC(f, ((double[]){-1000, -1000, -1000}), ((double[]){1.0 / 3, 1.0 / 3, 1.0 / 3}), NULL);
    VEC(f, ((double[]){1000, -1000, -1000}), ((double[]){1, 0, 0}),
        ((double[]){0, 0, 0, 0, 0, 0, 0, 0, 0}));
    /* closed form: grad = softmax, Hessian = diag(p) - p p^T; the max shift (with a
     * tie) is a stop-gradient and does not disturb either */
    loose();
    double xs[3][3] = {{0.5, -1, 2}, {2, 2, 1}, {-1000, -999, -1001}};
    for (int c = 0; c < 3; c++) {
      double p[3], H[9];
      softmax_of(3, xs[c], p);
      for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) H[i * 3 + j] = (i == j ? p[i] : 0) - p[i] * p[j];
      VEC(f, xs[c], p, H);
    }
    nb_fn_free(f);
    set_dt(CUR);
  }
}

static void test_conv_logsumexp_all_neg_inf(void) {
  const double I = INFINITY;
  FOR_DT(dt) {
    nb_fn *f = mk1(1, (int64_t[]){2}, b_lse);
    VEC(f, ((double[]){-I, -I}), ((double[]){0, 0}), NULL);
    VEC(f, ((double[]){-I, 0}), ((double[]){0, 1}), NULL);
    VEC(f, ((double[]){-I, 3}), ((double[]){0, 1}), ((double[]){0, 0, 0, 0}));
    nb_fn_free(f);
    f = mk1(1, (int64_t[]){1}, b_lse);
    VEC(f, ((double[]){-I}), ((double[]){0}), NULL);
    nb_fn_free(f);
    f = mk1(2, (int64_t[]){2, 2}, b_lse_rows);
    VEC(f, ((double[]){-I, -I, 0, 0}), ((double[]){0, 0, 0.5, 0.5}), NULL);
    nb_fn_free(f);
  }
}

static void test_conv_log_softmax_softmax(void) {
  FOR_DT(dt) {
    /* sum(w * log_softmax(x)), w = [1, 2, 3]: grad = w - softmax(x) sum(w),
     * Hessian = -sum(w) (diag(p) - p p^T) = 0 when p = [1, 0, 0] */
    WCUR = W3;
    nb_fn *f = mk1(1, (int64_t[]){3}, b_wlogsm);
    VEC(f, ((double[]){1000, -1000, 0}), ((double[]){-5, 2, 3}), ((double[]){0, 0, 0, 0, 0, 0, 0, 0, 0}));
    VEC(f, ((double[]){-1000, 1000, -1000}), ((double[]){1, -4, 3}), ((double[]){0, 0, 0, 0, 0, 0, 0, 0, 0}));
    loose();
    VEC(f, ((double[]){1000, 1000, 1000}), ((double[]){-1, 0, 1}),
        ((double[]){-4.0 / 3, 2.0 / 3, 2.0 / 3, 2.0 / 3, -4.0 / 3, 2.0 / 3, 2.0 / 3, 2.0 / 3, -4.0 / 3}));
    nb_fn_free(f);
    /* closed forms at a moderate point */
    double x[3] = {0.5, -1, 2}, p[3], g[3], H[9], S = 0, pw = 0;
    softmax_of(3, x, p);
    WCUR = Wm;
    for (int i = 0; i < 3; i++) S += Wm[i], pw += p[i] * Wm[i];
    for (int i = 0; i < 3; i++) g[i] = Wm[i] - p[i] * S;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++) H[i * 3 + j] = -S * ((i == j ? p[i] : 0) - p[i] * p[j]);
    f = mk1(1, (int64_t[]){3}, b_wlogsm);
    VEC(f, x, g, H);
    nb_fn_free(f);
    /* sum(w * softmax(x)): g_i = p_i (w_i - pw),
     * H_ij = p_i (d_ij - p_j)(w_i - pw) - p_i p_j (w_j - pw) */
    for (int i = 0; i < 3; i++) g[i] = p[i] * (Wm[i] - pw);
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 3; j++)
        H[i * 3 + j] = p[i] * ((i == j) - p[j]) * (Wm[i] - pw) - p[i] * p[j] * (Wm[j] - pw);
    f = mk1(1, (int64_t[]){3}, b_wsm);
    VEC(f, x, g, H);
    nb_fn_free(f);
    /* softmax at +1000 ties: p = [.5, .5], w = [1, 0] */
    f = mk1(1, (int64_t[]){2}, b_wsm2);
    VEC(f, ((double[]){1000, 1000}), ((double[]){0.25, -0.25}), ((double[]){0, 0, 0, 0}));
    VEC(f, ((double[]){1000, -1000}), ((double[]){0, 0}), ((double[]){0, 0, 0, 0}));
    nb_fn_free(f);
    set_dt(CUR);
  }
}

/* ---- piecewise constants ---- */
static nb_expr *b_floor(nb_expr *x) { return nb_floor(x); }
static nb_expr *b_ceil(nb_expr *x) { return nb_ceil(x); }
static nb_expr *b_round(nb_expr *x) { return nb_round(x); }
static nb_expr *b_sign(nb_expr *x) { return nb_sign(x); }
static nb_expr *b_x_floor(nb_expr *x) { return nb_mul(x, nb_floor(x)); }
static nb_expr *b_where_const(nb_expr *x) {
  nb_graph *g = nb_expr_graph(x);
  return nb_where(nb_gt(x, nb_scalar(g, 0)), nb_scalar(g, 1), nb_add(x, nb_scalar(g, 2)));
}
static nb_expr *b_cmp_all(nb_expr *x, nb_expr *y) {
  nb_expr *s = nb_add(nb_lt(x, y), nb_le(x, y));
  s = nb_add(s, nb_gt(x, y));
  s = nb_add(s, nb_ge(x, y));
  s = nb_add(s, nb_eq(x, y));
  return nb_add(s, nb_ne(x, y));
}
static nb_expr *b_cmp_lt(nb_expr *x, nb_expr *y) { return nb_lt(x, y); }
static nb_expr *b_cmp_eq(nb_expr *x, nb_expr *y) { return nb_eq(x, y); }
/* where(x > y, x, y): the condition carries no derivative, no split on ties */
static nb_expr *b_where_xy(nb_expr *x, nb_expr *y) { return nb_where(nb_gt(x, y), x, y); }

static void test_conv_piecewise_constant(void) {
  build1 ops[4] = {b_floor, b_ceil, b_round, b_sign};
  double pts[7] = {0, 0.5, 1, 2.5, -1.5, -0.25, 3.75};
  FOR_DT(dt) {
    for (int k = 0; k < 4; k++) {
      nb_fn *f = mk1(0, NULL, ops[k]);
      for (int p = 0; p < 7; p++) SCALAR(f, pts[p], 0, 0);
      nb_fn_free(f);
    }
    nb_fn *f = mk1(0, NULL, b_x_floor);
    SCALAR(f, 2.5, 2, 0);
    SCALAR(f, -1.5, -2, 0);
    nb_fn_free(f);
    f = mk1(0, NULL, b_where_const);
    SCALAR(f, 1, 0, 0);
    SCALAR(f, 0, 1, 0);
    nb_fn_free(f);
    build2 cmps[3] = {b_cmp_all, b_cmp_lt, b_cmp_eq};
    for (int k = 0; k < 3; k++) {
      f = mk2(0, NULL, 0, NULL, cmps[k]);
      PAIR(f, 1, 1, 0, 0);
      PAIR(f, 1, 2, 0, 0);
      PAIR(f, 2, 1, 0, 0);
      nb_fn_free(f);
    }
    f = mk2(0, NULL, 0, NULL, b_where_xy);
    PAIR(f, 1, 1, 0, 1);
    PAIR(f, 2, 1, 1, 0);
    nb_fn_free(f);
  }
}

/* ---- NaN-safe where ---- */
static nb_expr *zero_of(nb_expr *x) { return nb_scalar(nb_expr_graph(x), 0); }
static nb_expr *b_w_sqrt(nb_expr *x) { return nb_where(nb_gt(x, zero_of(x)), nb_sqrt(x), zero_of(x)); }
static nb_expr *b_w_sqrt_flip(nb_expr *x) {
  return nb_where(nb_le(x, zero_of(x)), zero_of(x), nb_sqrt(x));
}
static nb_expr *b_w_log(nb_expr *x) { return nb_where(nb_gt(x, zero_of(x)), nb_log(x), zero_of(x)); }
static nb_expr *b_w_recip(nb_expr *x) {
  return nb_where(nb_ne(x, zero_of(x)), nb_reciprocal(x), zero_of(x));
}
static nb_expr *b_w_div(nb_expr *x) {
  nb_expr *one = nb_scalar(nb_expr_graph(x), 1);
  return nb_where(nb_ne(x, zero_of(x)), nb_div(one, x), zero_of(x));
}
static nb_expr *b_w_pow15(nb_expr *x) {
  return nb_where(nb_gt(x, zero_of(x)), nb_pows(x, 1.5), zero_of(x));
}
/* where(x > 0, 3 sqrt(x), 0) + x */
static nb_expr *b_w_sqrt_plus(nb_expr *x) { return nb_add(nb_muls(b_w_sqrt(x), 3), x); }
/* where(x > 0, where(x > 1, log(x - 1), sqrt(x)), 0) */
static nb_expr *b_w_nested(nb_expr *x) {
  nb_expr *one = nb_scalar(nb_expr_graph(x), 1);
  nb_expr *in = nb_where(nb_gt(x, one), nb_log(nb_sub(x, one)), nb_sqrt(x));
  return nb_where(nb_gt(x, zero_of(x)), in, zero_of(x));
}
static nb_expr *b_w_sqrt_sum(nb_expr *x) { return nb_sum(b_w_sqrt(x), 0, NULL, false); }

static void test_conv_where_nan_safe(void) {
  FOR_DT(dt) {
    nb_fn *f = mk1(0, NULL, b_w_sqrt);
    SCALAR(f, -1, 0, 0);
    SCALAR(f, 0, 0, 0);
    SCALAR(f, 4, 0.25, -1.0 / 32);
    check_third(f, -1, 0, __LINE__);
    check_third(f, 0, 0, __LINE__);
    check_third(f, 4, 3.0 / 256, __LINE__);
    nb_fn_free(f);
    f = mk1(0, NULL, b_w_sqrt_flip);
    SCALAR(f, -1, 0, 0);
    SCALAR(f, 0, 0, 0);
    SCALAR(f, 4, 0.25, -1.0 / 32);
    check_third(f, -1, 0, __LINE__);
    nb_fn_free(f);
    f = mk1(0, NULL, b_w_log);
    SCALAR(f, 0, 0, 0);
    SCALAR(f, -1, 0, 0);
    SCALAR(f, 2, 0.5, -0.25);
    check_third(f, 0, 0, __LINE__);
    check_third(f, -1, 0, __LINE__);
    check_third(f, 2, 0.25, __LINE__);
    nb_fn_free(f);
    build1 recips[2] = {b_w_recip, b_w_div};
    for (int k = 0; k < 2; k++) {
      f = mk1(0, NULL, recips[k]);
      SCALAR(f, 0, 0, 0);
      SCALAR(f, 2, -0.25, 0.25);
      SCALAR(f, -2, -0.25, -0.25);
      check_third(f, 0, 0, __LINE__);
      check_third(f, 2, -0.375, __LINE__);
      nb_fn_free(f);
    }
    f = mk1(0, NULL, b_w_pow15);
    SCALAR(f, -1, 0, 0);
    SCALAR(f, 4, 3, 0.375);
    check_third(f, -1, 0, __LINE__);
    nb_fn_free(f);
    f = mk1(0, NULL, b_w_sqrt_plus);
    SCALAR(f, -1, 1, 0);
    SCALAR(f, 0, 1, 0);
    SCALAR(f, 4, 1.75, -3.0 / 32);
    nb_fn_free(f);
    f = mk1(0, NULL, b_w_nested);
    SCALAR(f, -1, 0, 0);
    SCALAR(f, 0, 0, 0);
    SCALAR(f, 0.25, 1, -2); /* sqrt branch: 0.5 x^-1/2, -0.25 x^-3/2 */
    SCALAR(f, 3, 0.5, -0.25); /* log(x - 1) branch */
    check_third(f, -1, 0, __LINE__);
    check_third(f, 0.25, 12, __LINE__); /* 3/8 x^-5/2 */
    nb_fn_free(f);
    f = mk1(1, (int64_t[]){3}, b_w_sqrt_sum);
    VEC(f, ((double[]){-1, 4, 0}), ((double[]){0, 0.25, 0}),
        ((double[]){0, 0, 0, 0, -1.0 / 32, 0, 0, 0, 0}));
    nb_fn_free(f);
  }
}

void suite_diff_conventions(void) {
  RUN(test_conv_abs);
  RUN(test_conv_relu);
  RUN(test_conv_maximum_minimum_ties);
  RUN(test_conv_max_min_reduction_ties);
  RUN(test_conv_sqrt_at_zero);
  RUN(test_conv_pow);
  RUN(test_conv_prod_zeros);
  RUN(test_conv_sigmoid_softplus_stable);
  RUN(test_conv_logsumexp_stable);
  RUN(test_conv_logsumexp_all_neg_inf);
  RUN(test_conv_log_softmax_softmax);
  RUN(test_conv_piecewise_constant);
  RUN(test_conv_where_nan_safe);
}
