/* Elementwise operations: every unary op, every binary op, the scalar helpers, comparisons,
 * nb_where and nb_cast, in f64 and f32, including rank-0 and size-0 operands.
 * Expected values come from libm (evaluated in double at the float-rounded input for f32)
 * or are written out by hand; never from the library itself. */
#include <stdint.h>
#include <stdlib.h>

#include "fixture.h"

void suite_elementwise(void);

#define END 7.77e77 /* terminates the point lists of the tables below */
#define F64_RTOL 1e-13
#define F64_ATOL 1e-300
#define F32_RTOL 2e-6
#define F32_ATOL 1e-40
#define MAXN 64


static const nb_dtype DTYPES[2] = {NB_F64, NB_F32};
static const int64_t  NOSHAPE[1] = {0}; /* a non-NULL shape pointer for rank 0 */



/* compares got with want at the dtype's tolerance; zsign: the sign of a zero must match too */
static void check_val(const char *file, int line, const char *what, nb_dtype dt, int i,
                      double got, double want, int zsign) {
  double rtol = dt == NB_F32 ? F32_RTOL : F64_RTOL;
  double atol = dt == NB_F32 ? F32_ATOL : F64_ATOL;
  int    ok = th_near(got, want, rtol, atol);
  if (ok && zsign && want == 0 && got == 0 && !signbit(got) != !signbit(want)) ok = 0;
  if (!ok) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s [%s] element %d = %.17g, want %.17g\n", file, line,
            th_current, what, dtname(dt), i, got, want);
  }
}
#define CHECK_VAL(what, dt, i, got, want, zsign)                                        \
  check_val(__FILE__, __LINE__, (what), (dt), (i), (got), (want), (zsign))

/* the expression has this dtype, rank and shape */
static void check_shape(const char *file, int line, const nb_expr *e, nb_dtype dt, int rank,
                        const int64_t *shape) {
  if (!e) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: expression is NULL: %s \"%s\"\n", file, line, th_current,
            nb_status_str(nb_errcode()), nb_errmsg());
    return;
  }
  int ok = nb_expr_dtype(e) == dt && nb_expr_rank(e) == rank;
  int64_t size = 1;
  const int64_t *s = nb_expr_shape(e);
  for (int k = 0; ok && k < rank; k++) {
    ok = s != NULL && s[k] == shape[k];
    size *= shape[k];
  }
  if (ok) ok = nb_expr_size(e) == size;
  if (!ok) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: expression has dtype %d rank %d size %lld, want %s rank %d\n",
            file, line, th_current, (int)nb_expr_dtype(e), nb_expr_rank(e),
            (long long)nb_expr_size(e), dtname(dt), rank);
  }
}
#define CHECK_SHAPE(e, dt, rank, shape) check_shape(__FILE__, __LINE__, (e), (dt), (rank), (shape))

static int count_points(const double *x) {
  int n = 0;
  while (x[n] != END) n++;
  return n;
}

/* ---- unary ------------------------------------------------------------------------------ */

static double r_neg(double x) { return -x; }
static double r_sign(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; }
static double r_rsqrt(double x) { return 1.0 / sqrt(x); }
static double r_square(double x) { return x * x; }
static double r_recip(double x) { return 1.0 / x; }
static double r_sigmoid(double x) { return x >= 0 ? 1.0 / (1.0 + exp(-x)) : exp(x) / (1.0 + exp(x)); }
static double r_relu(double x) { return x > 0 ? x : 0.0; }
static double r_softplus(double x) {
  return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); /* NaN takes the second branch */
}

typedef struct unrow {
  const char *test;
  nb_expr *(*op)(nb_expr *);
  double (*ref)(double);
  int    zsign; /* the sign of a zero result is specified (IEEE / libm) and checked */
  double x[24]; /* input points, terminated by END */
} unrow;

#define INF INFINITY
static const unrow UNARY[] = {
    {"unary_neg", nb_neg, r_neg, 1, {0, -0.0, 1.5, -2, 1e300, INF, -INF, NAN, END}},
    {"unary_abs", nb_abs, fabs, 1, {0, -0.0, -1.5, 2, -1e-300, -INF, INF, NAN, END}},
    {"unary_sign", nb_sign, r_sign, 0, {0, -0.0, 3, -3, 1e-300, -1e-300, 0.25, INF, -INF, NAN, END}},
    {"unary_exp", nb_exp, exp, 0,
     {0, -0.0, 1, -1, 0.5, 10, -10, 80, 700, 1000, -1000, INF, -INF, NAN, END}},
    {"unary_expm1", nb_expm1, expm1, 1,
     {0, -0.0, 1e-10, -1e-10, 1e-5, 1, -1, 20, -1000, 1000, INF, -INF, NAN, END}},
    {"unary_log", nb_log, log, 0,
     {1, 2, 0.5, 10, 1e-300, 1e300, 0, -0.0, -1, INF, -INF, NAN, END}},
    {"unary_log1p", nb_log1p, log1p, 1,
     {0, -0.0, 1e-10, -1e-10, 1, -0.5, -1, -2, 1e10, INF, NAN, END}},
    {"unary_sqrt", nb_sqrt, sqrt, 1, {0, -0.0, 1, 2, 0.25, 1e10, -1, INF, -INF, NAN, END}},
    {"unary_rsqrt", nb_rsqrt, r_rsqrt, 0, {1, 4, 0.25, 2, 1e10, 0, -1, INF, NAN, END}},
    {"unary_square", nb_square, r_square, 1, {0, -0.0, 3, -3, 1.5, 1e-3, 1e200, -INF, NAN, END}},
    {"unary_reciprocal", nb_reciprocal, r_recip, 1,
     {1, -2, 4, 3, 1e-3, 0, -0.0, INF, -INF, NAN, END}},
    {"unary_sin", nb_sin, sin, 1, {0, -0.0, 0.5, -1, 2, 3, 10, INF, NAN, END}},
    {"unary_cos", nb_cos, cos, 0, {0, -0.0, 0.5, -1, 2, 3, 10, -INF, NAN, END}},
    {"unary_tan", nb_tan, tan, 1, {0, -0.0, 0.5, -1, 1.2, 3, -INF, NAN, END}},
    {"unary_asin", nb_asin, asin, 1, {0, -0.0, 0.5, -0.5, 1, -1, 0.99, 2, -2, NAN, END}},
    {"unary_acos", nb_acos, acos, 0, {0, -0.0, 0.5, -0.5, 1, -1, 0.99, 2, -2, NAN, END}},
    {"unary_atan", nb_atan, atan, 1, {0, -0.0, 0.5, -1, 10, 1e10, INF, -INF, NAN, END}},
    {"unary_sinh", nb_sinh, sinh, 1,
     {0, -0.0, 1e-10, 0.5, -1, 10, -10, 1000, -1000, INF, -INF, NAN, END}},
    {"unary_cosh", nb_cosh, cosh, 0, {0, -0.0, 0.5, -1, 10, -10, 1000, -1000, INF, -INF, NAN, END}},
    {"unary_tanh", nb_tanh, tanh, 1,
     {0, -0.0, 1e-10, 0.5, -1, 5, -5, 20, 1000, -1000, INF, -INF, NAN, END}},
    {"unary_sigmoid", nb_sigmoid, r_sigmoid, 0,
     {0, -0.0, 0.5, -1, 5, -5, 20, -20, 1000, -1000, INF, -INF, NAN, END}},
    {"unary_relu", nb_relu, r_relu, 0, {0, -0.0, 2.5, -2.5, 1e-300, -1e-300, INF, -INF, NAN, END}},
    {"unary_softplus", nb_softplus, r_softplus, 0,
     {0, -0.0, 1, -1, 20, -20, 50, -50, 1000, -1000, INF, -INF, NAN, END}},
    {"unary_erf", nb_erf, erf, 1, {0, -0.0, 0.5, -0.5, 1e-10, 2, -3, 10, INF, -INF, NAN, END}},
    {"unary_floor", nb_floor, floor, 1,
     {0, -0.0, 1.5, -1.5, 2, -0.5, 0.5, -2.25, 1e300, 4503599627370497.0, INF, -INF, NAN, END}},
    {"unary_ceil", nb_ceil, ceil, 1,
     {0, -0.0, 1.5, -1.5, 2, -0.5, 0.5, -2.25, 1e300, INF, -INF, NAN, END}},
    {"unary_round", nb_round, nearbyint, 1,
     {0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, -0.25, 0.49999999999999994, 3.7, -3.7, 0, -0.0,
      4503599627370497.0, 1e300, INF, -INF, NAN, END}},
};
#define NUNARY ((int)(sizeof UNARY / sizeof UNARY[0]))

static const unrow *cur_unary;

static void run_unary(void) {
  const unrow *r = cur_unary;
  int          n = count_points(r->x);
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    int64_t   shape[1] = {n};
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", dt, 1, shape);
    nb_expr  *y = r->op(x);
    CHECK_SHAPE(y, dt, 1, shape);
    const double *vals[1] = {r->x};
    double        res[MAXN];
    int64_t       m = fx_eval(g, 1, &x, vals, y, res, MAXN);
    if (m != n) {
      FAILF("%s [%s]: output size %lld, want %d", r->test, dtname(dt), (long long)m, n);
      continue;
    }
    for (int i = 0; i < n; i++) {
      double xi = as_dt(dt, r->x[i]);
      double want = as_dt(dt, r->ref(xi));
      char   what[96];
      snprintf(what, sizeof what, "%s(%.17g)", r->test + 6, xi);
      CHECK_VAL(what, dt, i, res[i], want, r->zsign);
    }
  }
}

/* hand-computed values, independent of libm, for the ops whose edge cases are specified */
static void test_unary_hand(void) {
  static const struct {
    nb_expr *(*op)(nb_expr *);
    const char *name;
    int         n, zsign;
    double      x[8], want[8];
  } rows[] = {
      {nb_round, "round", 8, 1, {0.5, 1.5, 2.5, -0.5, -2.5, -1.5, 1000.5, -0.0},
       {0, 2, 2, -0.0, -2, -2, 1000, -0.0}},
      {nb_floor, "floor", 8, 1, {0.5, 1.5, 2.5, -0.5, -2.5, 1000, -1000, -0.0},
       {0, 1, 2, -1, -3, 1000, -1000, -0.0}},
      {nb_ceil, "ceil", 8, 1, {0.5, 1.5, 2.5, -0.5, -2.5, 1000, -1000, -0.0},
       {1, 2, 3, -0.0, -2, 1000, -1000, -0.0}},
      {nb_sigmoid, "sigmoid", 5, 0, {1000, -1000, 0, INF, -INF}, {1, 0, 0.5, 1, 0}},
      {nb_tanh, "tanh", 5, 0, {1000, -1000, 0, INF, -INF}, {1, -1, 0, 1, -1}},
      {nb_softplus, "softplus", 5, 0, {1000, -1000, 0, INF, -INF},
       {1000, 0, 0.69314718055994531, INF, 0}},
      {nb_relu, "relu", 6, 0, {0.5, -0.5, 0, 1000, -1000, INF}, {0.5, 0, 0, 1000, 0, INF}},
      {nb_sign, "sign", 7, 0, {2.5, -0.5, 0, 1000, -1000, INF, NAN}, {1, -1, 0, 1, -1, 1, NAN}},
      {nb_abs, "abs", 6, 1, {0.5, -0.5, -0.0, 1000, -1000, -INF}, {0.5, 0.5, 0, 1000, 1000, INF}},
      {nb_neg, "neg", 4, 1, {0.5, -0.5, 0, -0.0}, {-0.5, 0.5, -0.0, 0}},
      {nb_square, "square", 5, 1, {0.5, -1.5, -0.0, 1000, -1000}, {0.25, 2.25, 0, 1e6, 1e6}},
      {nb_reciprocal, "reciprocal", 5, 1, {0.5, -4, 0, -0.0, -INF}, {2, -0.25, INF, -INF, -0.0}},
      {nb_rsqrt, "rsqrt", 4, 0, {0.25, 4, 0, INF}, {2, 0.5, INF, 0}},
      {nb_sqrt, "sqrt", 4, 1, {0.25, 4, -0.0, -1}, {0.5, 2, -0.0, NAN}},
  };
  for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
    for (int d = 0; d < 2; d++) {
      nb_dtype  dt = DTYPES[d];
      int64_t   shape[1] = {rows[k].n};
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 1, shape);
      nb_expr  *y = rows[k].op(in);
      const double *vals[1] = {rows[k].x};
      double        res[8];
      if (fx_eval(g, 1, &in, vals, y, res, 8) != rows[k].n) continue;
      for (int i = 0; i < rows[k].n; i++)
        CHECK_VAL(rows[k].name, dt, i, res[i], rows[k].want[i], rows[k].zsign);
    }
}

/* ---- binary ----------------------------------------------------------------------------- */

static double r_add(double a, double b) { return a + b; }
static double r_sub(double a, double b) { return a - b; }
static double r_mul(double a, double b) { return a * b; }
static double r_div(double a, double b) { return a / b; }
static double r_max(double a, double b) { return isnan(a) || isnan(b) ? NAN : a > b ? a : b; }
static double r_min(double a, double b) { return isnan(a) || isnan(b) ? NAN : a < b ? a : b; }

typedef struct binrow {
  const char *test;
  nb_expr *(*op)(nb_expr *, nb_expr *);
  double (*ref)(double, double);
  int    zsign;
  double ab[24][2]; /* operand pairs, terminated by a = END */
} binrow;

static const binrow BINARY[] = {
    {"binary_add", nb_add, r_add, 1,
     {{1, 2}, {-1.5, 0.25}, {0.1, 0.2}, {1e300, 1e300}, {INF, -INF}, {INF, 1}, {NAN, 1}, {1, NAN},
      {-0.0, -0.0}, {0, -0.0}, {3, -3}, {END, 0}}},
    {"binary_sub", nb_sub, r_sub, 1,
     {{5, 3}, {3, 5}, {0.3, 0.1}, {INF, INF}, {-INF, INF}, {-0.0, 0}, {0, 0}, {NAN, 1}, {1, NAN},
      {END, 0}}},
    {"binary_mul", nb_mul, r_mul, 1,
     {{2, 3}, {-2, 3}, {-2, -3}, {0.1, 3}, {0, INF}, {-0.0, 5}, {1e200, 1e200}, {-INF, 2}, {NAN, 0},
      {1, NAN}, {END, 0}}},
    {"binary_div", nb_div, r_div, 1,
     {{1, 2}, {-3, 4}, {1, 3}, {1, 0}, {-1, 0}, {1, -0.0}, {0, 0}, {INF, INF}, {1, INF}, {-1, INF},
      {NAN, 1}, {1, NAN}, {END, 0}}},
    {"binary_pow", nb_pow, pow, 1,
     {{2, 3},    {2, -1},      {2, 0.5},  {-2, 3},     {-2, 2},   {-2, -1},   {-3, 5},
      {-8, 1.0 / 3}, {-2, 0.5}, {0, 0},  {0, -1},     {0, 2},    {NAN, 0},   {4, 0.5},
      {10, 400}, {1.5, 2.5},   {-INF, 3}, {NAN, 2},    {2, NAN},  {INF, -1},  {END, 0}}},
    {"binary_atan2", nb_atan2, atan2, 1,
     {{1, 1}, {-1, -1}, {0, -1}, {-0.0, -1}, {0, 0}, {-0.0, 0}, {1, 0}, {-1, 0}, {INF, INF},
      {2, -3}, {NAN, 1}, {1, NAN}, {END, 0}}},
    {"binary_maximum", nb_maximum, r_max, 0,
     {{1, 2}, {2, 1}, {-1, -3}, {NAN, 1}, {1, NAN}, {NAN, NAN}, {-INF, 3}, {INF, 3}, {NAN, INF},
      {-INF, NAN}, {2.5, 2.5}, {END, 0}}},
    {"binary_minimum", nb_minimum, r_min, 0,
     {{1, 2}, {2, 1}, {-1, -3}, {NAN, 1}, {1, NAN}, {NAN, NAN}, {-INF, 3}, {INF, 3}, {NAN, -INF},
      {INF, NAN}, {2.5, 2.5}, {END, 0}}},
};
#define NBINARY ((int)(sizeof BINARY / sizeof BINARY[0]))

static const binrow *cur_binary;

static void run_binary(void) {
  const binrow *r = cur_binary;
  int           n = 0;
  double        a[24], b[24];
  while (r->ab[n][0] != END) {
    a[n] = r->ab[n][0];
    b[n] = r->ab[n][1];
    n++;
  }
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    int64_t   shape[1] = {n};
    nb_graph *g = nb_graph_new();
    nb_expr  *ins[2] = {nb_input(g, "a", dt, 1, shape), nb_input(g, "b", dt, 1, shape)};
    nb_expr  *y = r->op(ins[0], ins[1]);
    CHECK_SHAPE(y, dt, 1, shape);
    const double *vals[2] = {a, b};
    double        res[MAXN];
    if (fx_eval(g, 2, ins, vals, y, res, MAXN) != n) continue;
    for (int i = 0; i < n; i++) {
      double ai = as_dt(dt, a[i]), bi = as_dt(dt, b[i]);
      double want = as_dt(dt, r->ref(ai, bi));
      char   what[128];
      snprintf(what, sizeof what, "%s(%.17g, %.17g)", r->test + 7, ai, bi);
      CHECK_VAL(what, dt, i, res[i], want, r->zsign);
    }
  }
}

/* hand-computed: pow of a negative base with integer exponents, NaN in maximum/minimum */
static void test_binary_hand(void) {
  static const double a[] = {-2, -2, -2, -3, -0.5, -8, 2, NAN, 1};
  static const double b[] = {3, 2, -1, 0, 3, 1.0 / 3, 10, 0, NAN};
  static const double pw[] = {-8, 4, -0.5, 1, -0.125, NAN, 1024, 1, 1};
  static const double mx[] = {3, 2, -1, 0, 3, 1.0 / 3, 10, NAN, NAN};
  static const double mn[] = {-2, -2, -2, -3, -0.5, -8, 2, NAN, NAN};
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = DTYPES[d];
    int64_t  shape[1] = {9};
    struct {
      nb_expr *(*op)(nb_expr *, nb_expr *);
      const double *want;
      const char   *name;
    } rows[3] = {{nb_pow, pw, "pow"}, {nb_maximum, mx, "maximum"}, {nb_minimum, mn, "minimum"}};
    for (int k = 0; k < 3; k++) {
      nb_graph *g = nb_graph_new();
      nb_expr  *ins[2] = {nb_input(g, "a", dt, 1, shape), nb_input(g, "b", dt, 1, shape)};
      nb_expr  *y = rows[k].op(ins[0], ins[1]);
      const double *vals[2] = {a, b};
      double        res[9];
      if (fx_eval(g, 2, ins, vals, y, res, 9) != 9) continue;
      /* pow(1, NaN) = 1 (C99 F.9.4.4); maximum/minimum(1, NaN) = NaN */
      for (int i = 0; i < 9; i++) CHECK_VAL(rows[k].name, dt, i, res[i], as_dt(dt, rows[k].want[i]), 0);
    }
  }
}

/* ---- scalar helpers --------------------------------------------------------------------- */

static void test_scalar_helpers(void) {
  static const double x[] = {-2, -0.5, 0, 1, 3, 0.1, NAN, INF, -INF};
  enum { NX = 9 };
  static const struct {
    int    kind; /* 0 adds, 1 muls, 2 pows */
    double s;
  } rows[] = {{0, 2.5}, {0, -1}, {0, 0.1}, {0, 0}, {1, -3}, {1, 0.5}, {1, 0}, {1, 1e300},
              {2, 2}, {2, 3}, {2, 0.5}, {2, -1}, {2, 0}, {2, 1}, {2, -2}};
  for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++)
    for (int d = 0; d < 2; d++) {
      nb_dtype  dt = DTYPES[d];
      int64_t   shape[1] = {NX};
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 1, shape);
      double    s = rows[k].s;
      nb_expr  *y = rows[k].kind == 0 ? nb_adds(in, s) : rows[k].kind == 1 ? nb_muls(in, s)
                                                                           : nb_pows(in, s);
      CHECK_SHAPE(y, dt, 1, shape); /* the scalar takes x's dtype */
      const double *vals[1] = {x};
      double        res[NX];
      if (fx_eval(g, 1, &in, vals, y, res, NX) != NX) continue;
      for (int i = 0; i < NX; i++) {
        double xi = as_dt(dt, x[i]), si = as_dt(dt, s);
        double want = rows[k].kind == 0 ? xi + si : rows[k].kind == 1 ? xi * si : pow(xi, si);
        char   what[96];
        snprintf(what, sizeof what, "%s(%.17g, %.17g)",
                 rows[k].kind == 0 ? "adds" : rows[k].kind == 1 ? "muls" : "pows", xi, s);
        CHECK_VAL(what, dt, i, res[i], as_dt(dt, want), 0);
      }
    }
}

/* ---- comparisons ------------------------------------------------------------------------ */

static int c_lt(double a, double b) { return a < b; }
static int c_le(double a, double b) { return a <= b; }
static int c_gt(double a, double b) { return a > b; }
static int c_ge(double a, double b) { return a >= b; }
static int c_eq(double a, double b) { return a == b; }
static int c_ne(double a, double b) { return a != b; }

static void test_compare(void) {
  static const double a[] = {1, 2, 2, NAN, 1, NAN, -0.0, INF, -INF, 3, 0.1, INF};
  static const double b[] = {2, 1, 2, 1, NAN, NAN, 0, INF, 1, -INF, 0.1, NAN};
  enum { N = 12 };
  /* hand-written truth tables, checked against C's operators below */
  static const struct {
    const char *name;
    nb_expr *(*op)(nb_expr *, nb_expr *);
    int (*ref)(double, double);
    double want[N];
  } rows[] = {
      {"lt", nb_lt, c_lt, {1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0}},
      {"le", nb_le, c_le, {1, 0, 1, 0, 0, 0, 1, 1, 1, 0, 1, 0}},
      {"gt", nb_gt, c_gt, {0, 1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0}},
      {"ge", nb_ge, c_ge, {0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 1, 0}},
      {"eq", nb_eq, c_eq, {0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1, 0}},
      {"ne", nb_ne, c_ne, {1, 1, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1}},
  };
  for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
    for (int i = 0; i < N; i++) CHECK(rows[k].ref(a[i], b[i]) == (int)rows[k].want[i]);
    for (int d = 0; d < 2; d++) {
      nb_dtype  dt = DTYPES[d];
      int64_t   shape[1] = {N};
      nb_graph *g = nb_graph_new();
      nb_expr  *ins[2] = {nb_input(g, "a", dt, 1, shape), nb_input(g, "b", dt, 1, shape)};
      nb_expr  *y = rows[k].op(ins[0], ins[1]);
      CHECK_SHAPE(y, dt, 1, shape); /* result in the operands' dtype */
      const double *vals[2] = {a, b};
      double        res[N];
      if (fx_eval(g, 2, ins, vals, y, res, N) != N) continue;
      for (int i = 0; i < N; i++) {
        char what[96];
        snprintf(what, sizeof what, "%s(%g, %g)", rows[k].name, a[i], b[i]);
        if (res[i] != rows[k].want[i]) /* exactly 1 or 0 */
          FAILF("%s [%s] element %d = %.17g, want %g", what, dtname(dt), i, res[i], rows[k].want[i]);
      }
    }
  }
}

/* ---- where ------------------------------------------------------------------------------ */

/* cond != 0 picks a, else b; cond in each dtype combined with a/b in each dtype */
static void test_where(void) {
  static const double c[] = {1, 0, 2, -1, 0, NAN, -0.0, 1e-300, INF};
  static const double a[] = {1, NAN, 3, 4, INF, 6, -INF, 8, 9};
  static const double b[] = {-1, -2, NAN, -4, -5, -6, -7, -8, -9};
  static const double want[] = {1, -2, 3, 4, -5, 6, -7, 8, 9};
  enum { N = 9 };
  for (int dc = 0; dc < 2; dc++)
    for (int dv = 0; dv < 2; dv++) {
      nb_dtype  ct = DTYPES[dc], vt = DTYPES[dv];
      int64_t   shape[1] = {N};
      nb_graph *g = nb_graph_new();
      nb_expr  *ins[3] = {nb_input(g, "c", ct, 1, shape), nb_input(g, "a", vt, 1, shape),
                          nb_input(g, "b", vt, 1, shape)};
      nb_expr  *y = nb_where(ins[0], ins[1], ins[2]);
      CHECK_SHAPE(y, vt, 1, shape);
      const double *vals[3] = {c, a, b};
      double        res[N];
      if (fx_eval(g, 3, ins, vals, y, res, N) != N) continue;
      for (int i = 0; i < N; i++) {
        /* 1e-300 is 0 in f32 */
        double w = (ct == NB_F32 && i == 7) ? b[i] : want[i];
        CHECK_VAL(ct == NB_F32 ? "where(cond f32)" : "where(cond f64)", vt, i, res[i], as_dt(vt, w), 0);
      }
    }
}

/* cond (3,1) f64, a (1,4) f32, b () f32 -> (3,4) f32; and cond (4) with a (2,4), b (2,1) */
static void test_where_broadcast(void) {
  {
    int64_t   sc[2] = {3, 1}, sa[2] = {1, 4}, so[2] = {3, 4};
    nb_graph *g = nb_graph_new();
    nb_expr  *ins[3] = {nb_input(g, "c", NB_F64, 2, sc), nb_input(g, "a", NB_F32, 2, sa),
                        nb_input(g, "b", NB_F32, 0, NOSHAPE)};
    nb_expr  *y = nb_where(ins[0], ins[1], ins[2]);
    CHECK_SHAPE(y, NB_F32, 2, so);
    static const double c[] = {1, 0, -2}, a[] = {10, 20, 30, 40}, b[] = {-1};
    static const double want[] = {10, 20, 30, 40, -1, -1, -1, -1, 10, 20, 30, 40};
    const double *vals[3] = {c, a, b};
    double        res[12];
    if (fx_eval(g, 3, ins, vals, y, res, 12) == 12)
      for (int i = 0; i < 12; i++) CHECK_VAL("where (3,1)(1,4)()", NB_F32, i, res[i], want[i], 0);
  }
  {
    int64_t   sc[1] = {4}, sa[2] = {2, 4}, sb[2] = {2, 1};
    nb_graph *g = nb_graph_new();
    nb_expr  *ins[3] = {nb_input(g, "c", NB_F32, 1, sc), nb_input(g, "a", NB_F64, 2, sa),
                        nb_input(g, "b", NB_F64, 2, sb)};
    nb_expr  *y = nb_where(ins[0], ins[1], ins[2]);
    CHECK_SHAPE(y, NB_F64, 2, sa);
    static const double c[] = {0, 1, 1, 0}, a[] = {1, 2, 3, 4, 5, 6, 7, 8}, b[] = {-1, -2};
    static const double want[] = {-1, 2, 3, -1, -2, 6, 7, -2};
    const double *vals[3] = {c, a, b};
    double        res[8];
    if (fx_eval(g, 3, ins, vals, y, res, 8) == 8)
      for (int i = 0; i < 8; i++) CHECK_VAL("where (4)(2,4)(2,1)", NB_F64, i, res[i], want[i], 0);
  }
  {
    /* a and b of different dtypes are an error; cond's dtype is free */
    int64_t   s[1] = {2};
    nb_graph *g = nb_graph_new();
    nb_expr  *c = nb_input(g, "c", NB_F64, 1, s);
    nb_expr  *a = nb_input(g, "a", NB_F32, 1, s);
    nb_expr  *b = nb_input(g, "b", NB_F64, 1, s);
    CHECK(nb_where(c, a, b) == NULL);
    CHECK_ERR(NB_ERR_DTYPE, "nb_where: dtype mismatch f32 and f64");
    nb_graph_free(g);
  }
}

/* ---- cast ------------------------------------------------------------------------------- */

static void test_cast(void) {
  {
    /* f64 -> f32: round to nearest, overflow to inf, underflow to (signed) zero */
    static const double x[] = {1.0 / 3, 0.1, 1e300, -1e300, 1e-50, -1e-50, 16777217.0, 2.5,
                               NAN,     INF, -0.0,  3.4028235677973366e38};
    enum { N = 12 };
    int64_t   shape[1] = {N};
    nb_graph *g = nb_graph_new();
    nb_expr  *in = nb_input(g, "x", NB_F64, 1, shape);
    nb_expr  *y = nb_cast(in, NB_F32);
    CHECK_SHAPE(y, NB_F32, 1, shape);
    const double *vals[1] = {x};
    double        res[N];
    if (fx_eval(g, 1, &in, vals, y, res, N) == N) {
      CHECK(res[0] == (double)(1.0f / 3.0f));
      CHECK(res[1] == (double)0.1f);
      CHECK(res[2] == INF && res[3] == -INF);
      CHECK(res[4] == 0 && !signbit(res[4]));
      CHECK(res[5] == 0 && signbit(res[5]));
      CHECK(res[6] == 16777216.0);
      CHECK(res[7] == 2.5);
      CHECK(isnan(res[8]));
      CHECK(res[9] == INF);
      CHECK(res[10] == 0 && signbit(res[10]));
      CHECK(res[11] == (double)(float)3.4028235677973366e38);
    }
  }
  {
    /* f32 -> f64 is exact */
    static const double x[] = {(double)0.1f, (double)(1.0f / 3.0f), 3.4028234663852886e38,
                               1.4012984643248171e-45, NAN, -INF, -0.0};
    enum { N = 7 };
    int64_t   shape[1] = {N};
    nb_graph *g = nb_graph_new();
    nb_expr  *in = nb_input(g, "x", NB_F32, 1, shape);
    nb_expr  *y = nb_cast(in, NB_F64);
    CHECK_SHAPE(y, NB_F64, 1, shape);
    const double *vals[1] = {x};
    double        res[N];
    if (fx_eval(g, 1, &in, vals, y, res, N) == N) {
      for (int i = 0; i < N; i++)
        if (i != 4) CHECK(res[i] == x[i]);
      CHECK(isnan(res[4]));
      CHECK(signbit(res[6]));
    }
  }
  for (int d = 0; d < 2; d++) {
    /* cast to the same dtype is the identity; rank 2 keeps its shape */
    nb_dtype  dt = DTYPES[d];
    int64_t   shape[2] = {2, 2};
    nb_graph *g = nb_graph_new();
    nb_expr  *in = nb_input(g, "x", dt, 2, shape);
    nb_expr  *y = nb_cast(in, dt);
    CHECK_SHAPE(y, dt, 2, shape);
    static const double x[] = {1.25, -3, NAN, 7};
    const double *vals[1] = {x};
    double        res[4];
    if (fx_eval(g, 1, &in, vals, y, res, 4) == 4)
      for (int i = 0; i < 4; i++) CHECK_VAL("cast same dtype", dt, i, res[i], x[i], 0);
  }
  {
    /* a composite f32 -> f64 -> f32 round trip */
    int64_t   shape[1] = {3};
    nb_graph *g = nb_graph_new();
    nb_expr  *in = nb_input(g, "x", NB_F32, 1, shape);
    nb_expr  *y = nb_cast(nb_mul(nb_cast(in, NB_F64), nb_cast(in, NB_F64)), NB_F32);
    CHECK_SHAPE(y, NB_F32, 1, shape);
    static const double x[] = {3, -0.5, 1e20};
    const double *vals[1] = {x};
    double        res[3];
    if (fx_eval(g, 1, &in, vals, y, res, 3) == 3) {
      CHECK(res[0] == 9 && res[1] == 0.25);
      CHECK(res[2] == (double)(float)((double)1e20f * (double)1e20f)); /* finite in f64, inf in f32 */
    }
  }
  {
    int64_t   shape[1] = {2};
    nb_graph *g = nb_graph_new();
    nb_expr  *in = nb_input(g, "x", NB_F32, 1, shape);
    CHECK(nb_cast(in, (nb_dtype)7) == NULL);
    CHECK_ERR(NB_ERR_ARG, "nb_cast: invalid dtype");
    nb_graph_free(g);
  }
}

/* ---- rank 0 ----------------------------------------------------------------------------- */

static void test_rank0(void) {
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = DTYPES[d];
    {
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 0, NOSHAPE);
      nb_expr  *y = nb_sigmoid(nb_exp(in));
      CHECK_SHAPE(y, dt, 0, NOSHAPE);
      static const double x[] = {-0.5};
      const double *vals[1] = {x};
      double        res[1];
      double        e = exp(as_dt(dt, -0.5));
      if (fx_eval(g, 1, &in, vals, y, res, 1) == 1)
        CHECK_VAL("sigmoid(exp(x)) rank 0", dt, 0, res[0], as_dt(dt, 1 / (1 + exp(-e))), 0);
    }
    {
      /* the ops in turn on two rank-0 operands */
      nb_expr *(*ops[])(nb_expr *, nb_expr *) = {nb_add, nb_sub, nb_mul, nb_div, nb_pow, nb_atan2,
                                                 nb_maximum, nb_minimum, nb_lt, nb_ge, nb_eq};
      static const double want[] = {4.5, -1.5, 4.5, 0.5, 1.5 * 1.5 * 1.5,
                                    0.46364760900080611 /* atan2(1.5,3) */, 3, 1.5, 1, 0, 0};
      for (int k = 0; k < 11; k++) {
        nb_graph *g = nb_graph_new();
        nb_expr  *ins[2] = {nb_input(g, "a", dt, 0, NOSHAPE), nb_input(g, "b", dt, 0, NOSHAPE)};
        nb_expr  *y = ops[k](ins[0], ins[1]);
        CHECK_SHAPE(y, dt, 0, NOSHAPE);
        static const double a[] = {1.5}, b[] = {3};
        const double *vals[2] = {a, b};
        double        res[1];
        if (fx_eval(g, 2, ins, vals, y, res, 1) == 1) CHECK_VAL("binary rank 0", dt, k, res[0], want[k], 0);
      }
    }
    {
      nb_graph *g = nb_graph_new();
      nb_expr  *ins[3] = {nb_input(g, "c", dt, 0, NOSHAPE), nb_input(g, "a", dt, 0, NOSHAPE),
                          nb_input(g, "b", dt, 0, NOSHAPE)};
      nb_expr  *y = nb_where(ins[0], ins[1], ins[2]);
      CHECK_SHAPE(y, dt, 0, NOSHAPE);
      static const double c[] = {0}, a[] = {1}, b[] = {2};
      const double *vals[3] = {c, a, b};
      double        res[1];
      if (fx_eval(g, 3, ins, vals, y, res, 1) == 1) CHECK_VAL("where rank 0", dt, 0, res[0], 2, 0);
    }
    {
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 0, NOSHAPE);
      nb_dtype  other = dt == NB_F32 ? NB_F64 : NB_F32;
      nb_expr  *y = nb_cast(nb_pows(nb_adds(in, 1), 2), other);
      CHECK_SHAPE(y, other, 0, NOSHAPE);
      static const double x[] = {2};
      const double *vals[1] = {x};
      double        res[1];
      if (fx_eval(g, 1, &in, vals, y, res, 1) == 1) CHECK_VAL("cast rank 0", other, 0, res[0], 9, 0);
    }
  }
}

/* ---- size 0 ----------------------------------------------------------------------------- */

static void test_size0(void) {
  static const double none[1] = {0};
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = DTYPES[d];
    /* every unary op on shape (0) and one on (2,0,3) */
    for (int k = 0; k < NUNARY; k++) {
      int64_t   s0[1] = {0};
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 1, s0);
      nb_expr  *y = UNARY[k].op(in);
      CHECK_SHAPE(y, dt, 1, s0);
      const double *vals[1] = {none};
      double        res[1];
      CHECK(fx_eval(g, 1, &in, vals, y, res, 1) == 0);
    }
    {
      int64_t   s[3] = {2, 0, 3};
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 3, s);
      nb_expr  *y = nb_exp(in);
      CHECK_SHAPE(y, dt, 3, s);
      const double *vals[1] = {none};
      double        res[1];
      CHECK(fx_eval(g, 1, &in, vals, y, res, 1) == 0);
    }
    /* every binary op and comparison on (0) x (0) and (3,0) x (3,0) */
    nb_expr *(*ops[])(nb_expr *, nb_expr *) = {nb_add, nb_sub, nb_mul, nb_div, nb_pow,
                                               nb_atan2, nb_maximum, nb_minimum, nb_lt, nb_le,
                                               nb_gt, nb_ge, nb_eq, nb_ne};
    for (int k = 0; k < 14; k++) {
      int64_t   s[2] = {3, 0};
      int       rank = 1 + (k & 1);
      nb_graph *g = nb_graph_new();
      nb_expr  *ins[2] = {nb_input(g, "a", dt, rank, rank == 1 ? s + 1 : s),
                          nb_input(g, "b", dt, rank, rank == 1 ? s + 1 : s)};
      nb_expr  *y = ops[k](ins[0], ins[1]);
      CHECK_SHAPE(y, dt, rank, rank == 1 ? s + 1 : s);
      const double *vals[2] = {none, none};
      double        res[1];
      CHECK(fx_eval(g, 2, ins, vals, y, res, 1) == 0);
    }
    {
      int64_t   s[1] = {0};
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 1, s);
      nb_expr  *y = nb_pows(nb_muls(nb_adds(in, 1), 2), 3);
      CHECK_SHAPE(y, dt, 1, s);
      const double *vals[1] = {none};
      double        res[1];
      CHECK(fx_eval(g, 1, &in, vals, y, res, 1) == 0);
    }
    {
      int64_t   s[1] = {0};
      nb_graph *g = nb_graph_new();
      nb_expr  *ins[3] = {nb_input(g, "c", dt, 1, s), nb_input(g, "a", NB_F32, 1, s),
                          nb_input(g, "b", NB_F32, 1, s)};
      nb_expr  *y = nb_where(ins[0], ins[1], ins[2]);
      CHECK_SHAPE(y, NB_F32, 1, s);
      const double *vals[3] = {none, none, none};
      double        res[1];
      CHECK(fx_eval(g, 3, ins, vals, y, res, 1) == 0);
    }
    {
      int64_t   s[2] = {0, 4};
      nb_dtype  other = dt == NB_F32 ? NB_F64 : NB_F32;
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 2, s);
      nb_expr  *y = nb_cast(in, other);
      CHECK_SHAPE(y, other, 2, s);
      const double *vals[1] = {none};
      double        res[1];
      CHECK(fx_eval(g, 1, &in, vals, y, res, 1) == 0);
    }
  }
}

/* ---- composite ------------------------------------------------------------------------- */

/* a chain of ops on one input, evaluated twice through the same function */
static void test_chain(void) {
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    int64_t   shape[2] = {2, 3};
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", dt, 2, shape);
    /* y = sqrt(square(x) + 1) * sign(x) - tanh(x) / exp(-|x|) */
    nb_expr *y = nb_sub(nb_mul(nb_sqrt(nb_adds(nb_square(x), 1)), nb_sign(x)),
                        nb_div(nb_tanh(x), nb_exp(nb_neg(nb_abs(x)))));
    CHECK_SHAPE(y, dt, 2, shape);
    nb_fn *f = y ? nb_fn_new(g, 1, &x, 1, &y) : NULL;
    nb_graph_free(g);
    CHECK(f != NULL);
    if (!f) continue;
    double x64[2][6] = {{-2, -1, 0, 0.5, 1, 3}, {0.25, -0.75, 2, -3, 4, -5}};
    for (int rep = 0; rep < 2; rep++) {
      float  x32[6], y32[6];
      double y64[6];
      for (int i = 0; i < 6; i++) x32[i] = (float)x64[rep][i];
      const void *in[1] = {dt == NB_F32 ? (const void *)x32 : (const void *)x64[rep]};
      void       *out[1] = {dt == NB_F32 ? (void *)y32 : (void *)y64};
      CHECK(nb_call(f, in, out) == NB_OK);
      for (int i = 0; i < 6; i++) {
        double v = as_dt(dt, x64[rep][i]);
        double s = v > 0 ? 1 : v < 0 ? -1 : 0;
        double want = sqrt(v * v + 1) * s - tanh(v) / exp(-fabs(v));
        double got = dt == NB_F32 ? (double)y32[i] : y64[i];
        /* f32 rounds at every step: allow a few more ulps */
        CHECK_NEAR(got, want, dt == NB_F32 ? 1e-5 : 1e-13, dt == NB_F32 ? 1e-6 : 1e-15);
      }
    }
    nb_fn_free(f);
  }
}

void suite_elementwise(void) {
  for (int k = 0; k < NUNARY; k++) {
    cur_unary = &UNARY[k];
    th_run(UNARY[k].test, run_unary);
  }
  RUN(test_unary_hand);
  for (int k = 0; k < NBINARY; k++) {
    cur_binary = &BINARY[k];
    th_run(BINARY[k].test, run_binary);
  }
  RUN(test_binary_hand);
  RUN(test_scalar_helpers);
  RUN(test_compare);
  RUN(test_where);
  RUN(test_where_broadcast);
  RUN(test_cast);
  RUN(test_rank0);
  RUN(test_size0);
  RUN(test_chain);
}
