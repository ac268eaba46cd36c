/* Derivative rules of every public operation, OpInfo style: one table row per
 * operation (a builder, the shapes to try, an input sampler matched to the
 * operation's domain that keeps away from kinks), and one generic driver that
 * runs, for every row, shape case and dtype (f64 and f32):
 *
 *   1. jvp against central finite differences in a random direction
 *   2. vjp against central differences projected on a random cotangent:
 *      <w, (f(x+ht) - f(x-ht)) / 2h>  vs  <vjp(w), t>
 *   3. the dot-product test <w, J t> = <J^T w, t> between nb_jvp and nb_vjp
 *   4. second order: jvp(vjp(f)) and vjp(vjp(f)) against central differences
 *      of the first derivatives (of nb_vjp's outputs), and their dot-product test
 *   5. jacfwd == jacrev (== jacobian), and J t equal to the jvp; counted as
 *      skipped while nb_jacfwd is not implemented, required once it is
 *   plus nb_check_grads(f, x, 2) and the primal outputs of every transform.
 *
 * Finite differences are always taken on an all-f64 copy of the row's graph
 * (the builder runs again with f64 inputs; casts then target f64), so f32
 * derivatives are compared with accurate references, at f32 tolerances.
 * Everything is deterministic: the data of a row case come from a fixed seed.
 *
 * A case string is "SHAPE x SHAPE ... ; P,P,..." e.g. "(3,1)x(1,4)" or
 * "(2,3,4);1,0,-1": the input shapes, then integer parameters whose meaning
 * each builder documents ("E" is INT64_MAX and "-E" INT64_MIN). */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

#define MAXT 16    /* tensors in a tensor list (inputs or outputs of a function) */
#define MAXCASE 12 /* shape cases of a row */

/* ---- tolerances --------------------------------------------------------------- */
/* The f32 class applies when any input or output of the tested function is f32. */
typedef struct tols {
  double fd;    /* derivatives vs central differences (relative to the max norm) */
  double dot;   /* dot-product tests (relative to the sum of |terms|)            */
  double tight; /* equal quantities computed two ways (primal, jacobians)        */
} tols;
static const tols TOL_F64 = {1e-6, 1e-12, 1e-12};
static const tols TOL_F32 = {5e-5, 1e-5, 1e-5};
#define FD_REL_STEP 1e-6 /* h = FD_REL_STEP * max(1, max |x|), on the f64 copy */

/* ---- rows ---------------------------------------------------------------------- */
typedef nb_expr *(*build_fn)(nb_expr *const *x, int nin, const int64_t *p, int np,
                             nb_dtype other);

typedef enum skind {
  S_DEFAULT = 0, /* use the row's sampler 0 */
  S_U,           /* uniform in [lo, hi] */
  S_AWAY,        /* random sign, |x| uniform in [lo, hi]: away from 0 */
  S_FRAC,        /* integer in [-3, 3] plus a fraction in [0.1, 0.4]: away from integers and halves */
  S_GRID,        /* distinct values 0.2 apart (shuffled), input i offset by 0.1 i: every
                    pair of values, within an input or across inputs, is >= 0.08 apart */
  S_ZERO         /* uniform in [lo, hi] with the first nzero elements exactly 0 */
} skind;

typedef struct samp {
  skind  k;
  double lo, hi;
  int    nzero;
} samp;

typedef struct row {
  const char *name;
  build_fn    build;
  samp        s[3]; /* per input (S_DEFAULT: as input 0) */
  const char *cases[MAXCASE];
} row;

#define U(a, b) {S_U, a, b, 0}
#define AWAY(a, b) {S_AWAY, a, b, 0}
#define FRAC {S_FRAC, 0, 0, 0}
#define GRID {S_GRID, 0, 0, 0}
#define ZERO(a, b, n) {S_ZERO, a, b, n}

/* ---- builders ---- */
#define BUILDER(name) \
  static nb_expr *name(nb_expr *const *x, int nin, const int64_t *p, int np, nb_dtype other)
#define UNUSED_ARGS (void)x, (void)nin, (void)p, (void)np, (void)other
#define B1(nm, expr) \
  BUILDER(b_##nm) {  \
    UNUSED_ARGS;     \
    return expr;     \
  }

#define B1_UNARY(nm) B1(nm, nb_##nm(x[0]))
FX_UNARY_OPS(B1_UNARY)
B1(adds, nb_adds(x[0], 1.5))
B1(muls, nb_muls(x[0], -2.5))
B1(pows3, nb_pows(x[0], 3.0))
B1(pows2, nb_pows(x[0], 2.0))
B1(pows2_5, nb_pows(x[0], 2.5))
B1(pows0_5, nb_pows(x[0], 0.5))
B1(pows_m1_5, nb_pows(x[0], -1.5))
B1(pows0, nb_pows(x[0], 0.0))
B1(cast, nb_cast(x[0], other))
B1(scalar, nb_add(nb_mul(x[0], nb_scalar(nb_expr_graph(x[0]), -0.75)),
                  nb_scalar(nb_expr_graph(x[0]), 0.25)))

B1(add, nb_add(x[0], x[1]))
B1(sub, nb_sub(x[0], x[1]))
B1(mul, nb_mul(x[0], x[1]))
B1(div, nb_div(x[0], x[1]))
B1(pow, nb_pow(x[0], x[1]))
B1(atan2, nb_atan2(x[0], x[1]))
B1(maximum, nb_maximum(x[0], x[1]))
B1(minimum, nb_minimum(x[0], x[1]))
/* a comparison alone has a zero derivative: multiply it by an operand */
B1(lt, nb_mul(nb_lt(x[0], x[1]), x[0]))
B1(le, nb_mul(nb_le(x[0], x[1]), x[0]))
B1(gt, nb_mul(nb_gt(x[0], x[1]), x[0]))
B1(ge, nb_mul(nb_ge(x[0], x[1]), x[0]))
B1(eq, nb_add(nb_mul(nb_eq(x[0], x[1]), x[0]), x[1]))
B1(ne, nb_mul(nb_ne(x[0], x[1]), x[0]))
/* where(c > 0, a, b); the second form gives the condition the other dtype */
B1(where, nb_where(nb_gt(x[0], nb_scalar(nb_expr_graph(x[0]), 0.0)), x[1], x[2]))
B1(where_cast, nb_where(nb_cast(nb_gt(x[0], nb_scalar(nb_expr_graph(x[0]), 0.0)), other),
                        x[1], x[2]))
B1(matmul, nb_matmul(x[0], x[1]))

/* x * full(-1.5) + 0.25 */
BUILDER(b_full) {
  UNUSED_ARGS;
  nb_graph *g = nb_expr_graph(x[0]);
  nb_expr  *c = nb_full(g, nb_expr_dtype(x[0]), nb_expr_rank(x[0]), nb_expr_shape(x[0]), -1.5);
  return nb_add(nb_mul(x[0], c), nb_scalar(g, 0.25));
}
/* x * const (a ramp) */
BUILDER(b_const) {
  UNUSED_ARGS;
  double  d[64];
  float   f[64];
  int64_t n = nb_expr_size(x[0]);
  if (n > 64) return NULL;
  for (int64_t i = 0; i < n; i++) d[i] = 0.25 * (double)i - 1.0, f[i] = (float)d[i];
  nb_dtype dt = nb_expr_dtype(x[0]);
  nb_expr *c = nb_const(nb_expr_graph(x[0]), dt, nb_expr_rank(x[0]), nb_expr_shape(x[0]),
                        dt == NB_F64 ? (const void *)d : (const void *)f);
  return nb_mul(x[0], c);
}

/* reductions: p = {keepdims, axes...} (no axes: all) */
typedef nb_expr *(*reduce_fn)(nb_expr *, int, const int *, bool);
static nb_expr *reduce_with(reduce_fn fn, nb_expr *x, const int64_t *p, int np) {
  int axes[NB_MAX_RANK];
  if (np < 1 || np - 1 > NB_MAX_RANK) return NULL;
  for (int k = 0; k < np - 1; k++) axes[k] = (int)p[k + 1];
  return fn(x, np - 1, axes, p[0] != 0);
}
#define BRED(nm)                              \
  BUILDER(b_##nm) {                           \
    UNUSED_ARGS;                              \
    return reduce_with(nb_##nm, x[0], p, np); \
  }
BRED(sum)
BRED(mean)
BRED(prod)
BRED(max)
BRED(min)
BRED(logsumexp)

/* p = the target shape */
BUILDER(b_reshape) {
  UNUSED_ARGS;
  return nb_reshape(x[0], np, p);
}
/* p = the permutation (none: NULL, reverse) */
BUILDER(b_transpose) {
  UNUSED_ARGS;
  int perm[NB_MAX_RANK];
  for (int k = 0; k < np && k < NB_MAX_RANK; k++) perm[k] = (int)p[k];
  return nb_transpose(x[0], np ? perm : NULL);
}
/* p = the target shape */
BUILDER(b_broadcast_to) {
  UNUSED_ARGS;
  return nb_broadcast_to(x[0], np, p);
}
/* p = {axis, start, stop, step} */
BUILDER(b_slice) {
  UNUSED_ARGS;
  return np == 4 ? nb_slice(x[0], (int)p[0], p[1], p[2], p[3]) : NULL;
}
/* p = {axis, i} */
BUILDER(b_index) {
  UNUSED_ARGS;
  return np == 2 ? nb_index(x[0], (int)p[0], p[1]) : NULL;
}
/* p = {axis, indices...} */
BUILDER(b_take) {
  UNUSED_ARGS;
  return np >= 1 ? nb_take(x[0], (int)p[0], np - 1, p + 1) : NULL;
}
/* p = {axis}; every input is an operand */
BUILDER(b_concat) {
  UNUSED_ARGS;
  return np == 1 ? nb_concat(nin, x, (int)p[0]) : NULL;
}
BUILDER(b_stack) {
  UNUSED_ARGS;
  return np == 1 ? nb_stack(nin, x, (int)p[0]) : NULL;
}
/* p = {axis} */
BUILDER(b_softmax) {
  UNUSED_ARGS;
  return np == 1 ? nb_softmax(x[0], (int)p[0]) : NULL;
}
BUILDER(b_log_softmax) {
  UNUSED_ARGS;
  return np == 1 ? nb_log_softmax(x[0], (int)p[0]) : NULL;
}

/* ---- the table ---- */
#define C_UNARY {"()", "(7)", "(2,3)", "(0)", "(2,0,3)"}
#define C_BINARY \
  {"()x()", "(5)x(5)", "(3,1)x(1,4)", "()x(4)", "(2,3)x(3)", "(2,3)x()", "(2,1,3)x(4,1)", \
   "(0)x(1)", "(0,3)x(3)"}
#define C_WHERE                                                                             \
  {"()x()x()", "(5)x(5)x(5)", "()x(4)x(4)", "(3,1)x(1,4)x()", "(2,3)x(3)x(2,1)", "(4)x()x()", \
   "(0)x(0)x(1)", "(2,0)x(1)x()"}
/* reductions that are defined on an empty slice (sum 0, prod 1) */
#define C_REDUCE_ALL                                                                      \
  {"();0", "(5);0", "(2,3);0,1", "(2,3);1,0", "(2,3);0,-1", "(2,3,4);1,0,-1", "(2,3,4);0,-2", \
   "(2,3,4);0,0,1,2", "(0,3);0,1", "(0);0", "(2,0);1,1"}
/* reductions whose empty slices give -inf or NaN: only empty kept axes */
#define C_REDUCE                                                                          \
  {"();0", "(5);0", "(2,3);0,1", "(2,3);1,0", "(2,3);0,-1", "(2,3,4);1,0,-1", "(2,3,4);0,-2", \
   "(2,3,4);0,0,1,2", "(0,3);0,1", "(0,3);1,-1"}
#define C_SOFTMAX {"(5);0", "(2,3);1", "(2,3);-2", "(2,3,4);1", "(0,3);1", "(1);0", "(3,0);0"}

static const row rows[] = {
    /* unary elementwise, including the composites */
    {"neg", b_neg, {U(-2, 2)}, C_UNARY},
    {"abs", b_abs, {AWAY(0.2, 2)}, C_UNARY},
    {"sign", b_sign, {AWAY(0.2, 2)}, C_UNARY},
    {"exp", b_exp, {U(-2, 2)}, C_UNARY},
    {"expm1", b_expm1, {U(-2, 2)}, C_UNARY},
    {"log", b_log, {U(0.5, 2)}, C_UNARY},
    {"log1p", b_log1p, {U(-0.5, 2)}, C_UNARY},
    {"sqrt", b_sqrt, {U(0.5, 2)}, C_UNARY},
    {"rsqrt", b_rsqrt, {U(0.5, 2)}, C_UNARY},
    {"square", b_square, {U(-2, 2)}, C_UNARY},
    {"reciprocal", b_reciprocal, {AWAY(0.5, 2)}, C_UNARY},
    {"sin", b_sin, {U(-3, 3)}, C_UNARY},
    {"cos", b_cos, {U(-3, 3)}, C_UNARY},
    {"tan", b_tan, {U(-1.2, 1.2)}, C_UNARY},
    {"asin", b_asin, {U(-0.9, 0.9)}, C_UNARY},
    {"acos", b_acos, {U(-0.9, 0.9)}, C_UNARY},
    {"atan", b_atan, {U(-3, 3)}, C_UNARY},
    {"sinh", b_sinh, {U(-2, 2)}, C_UNARY},
    {"cosh", b_cosh, {U(-2, 2)}, C_UNARY},
    {"tanh", b_tanh, {U(-2, 2)}, C_UNARY},
    {"sigmoid", b_sigmoid, {U(-4, 4)}, C_UNARY},
    {"relu", b_relu, {AWAY(0.2, 2)}, C_UNARY},
    {"softplus", b_softplus, {U(-4, 4)}, C_UNARY},
    {"erf", b_erf, {U(-2, 2)}, C_UNARY},
    {"floor", b_floor, {FRAC}, C_UNARY},
    {"ceil", b_ceil, {FRAC}, C_UNARY},
    {"round", b_round, {FRAC}, C_UNARY},
    /* right-hand scalar helpers, weak scalars, leaves */
    {"adds", b_adds, {U(-2, 2)}, C_UNARY},
    {"muls", b_muls, {U(-2, 2)}, C_UNARY},
    {"pows(3)", b_pows3, {U(-2, 2)}, C_UNARY},
    {"pows(2)", b_pows2, {U(-2, 2)}, C_UNARY},
    {"pows(2.5)", b_pows2_5, {U(0.5, 2)}, C_UNARY},
    {"pows(0.5)", b_pows0_5, {U(0.5, 2)}, C_UNARY},
    {"pows(-1.5)", b_pows_m1_5, {U(0.5, 2)}, C_UNARY},
    {"pows(0)", b_pows0, {U(-2, 2)}, C_UNARY},
    {"scalar", b_scalar, {U(-2, 2)}, C_UNARY},
    {"full", b_full, {U(-2, 2)}, C_UNARY},
    {"const", b_const, {U(-2, 2)}, C_UNARY},
    {"cast", b_cast, {U(-2, 2)}, C_UNARY},
    /* binary elementwise with broadcasting */
    {"add", b_add, {U(-2, 2)}, C_BINARY},
    {"sub", b_sub, {U(-2, 2)}, C_BINARY},
    {"mul", b_mul, {U(-2, 2)}, C_BINARY},
    {"div", b_div, {U(-2, 2), AWAY(0.5, 2)}, C_BINARY},
    {"pow", b_pow, {U(0.5, 2), U(-2, 2)}, C_BINARY},
    {"atan2", b_atan2, {AWAY(0.3, 2), U(-2, 2)}, C_BINARY},
    {"maximum", b_maximum, {GRID}, C_BINARY},
    {"minimum", b_minimum, {GRID}, C_BINARY},
    /* comparisons (times an operand), where, cast */
    {"lt", b_lt, {GRID}, C_BINARY},
    {"le", b_le, {GRID}, C_BINARY},
    {"gt", b_gt, {GRID}, C_BINARY},
    {"ge", b_ge, {GRID}, C_BINARY},
    {"eq", b_eq, {GRID}, C_BINARY},
    {"ne", b_ne, {GRID}, C_BINARY},
    {"where", b_where, {AWAY(0.2, 2), U(-2, 2), U(-2, 2)}, C_WHERE},
    {"where(cond other dtype)", b_where_cast, {AWAY(0.2, 2), U(-2, 2), U(-2, 2)}, C_WHERE},
    /* reductions: p = {keepdims, axes...} */
    {"sum", b_sum, {U(-2, 2)}, C_REDUCE_ALL},
    {"mean", b_mean, {U(-2, 2)}, C_REDUCE},
    {"prod", b_prod, {AWAY(0.5, 1.5)}, C_REDUCE_ALL},
    {"prod(one zero)", b_prod, {ZERO(-1.5, 1.5, 1)}, {"(5);0", "(2,3);0,1", "(2,3);0", "(4);1"}},
    {"prod(two zeros)", b_prod, {ZERO(-1.5, 1.5, 2)}, {"(5);0", "(2,3);0", "(3,2);0,1"}},
    {"max", b_max, {GRID}, C_REDUCE},
    {"min", b_min, {GRID}, C_REDUCE},
    {"logsumexp", b_logsumexp, {U(-3, 3)}, C_REDUCE},
    {"logsumexp(large)", b_logsumexp, {U(99, 101)}, {"(5);0", "(2,3);1,-1", "(2,3,4);0,0,2"}},
    /* shape and indexing */
    {"reshape", b_reshape, {U(-2, 2)},
     {"(2,3);3,2", "(2,3);-1", "(6);2,-1,1", "();1,1", "(1,1);", "(0,3);3,0", "(2,3,4);4,-1"}},
    {"transpose", b_transpose, {U(-2, 2)},
     {"(2,3)", "(2,3,4)", "(2,3,4);1,2,0", "(2,3,4);2,0,1", "()", "(0,2);1,0", "(5);0"}},
    {"broadcast_to", b_broadcast_to, {U(-2, 2)},
     {"();3", "(3);2,3", "(3,1);2,3,4", "(1);0", "(2,1);2,0", "(2,3);2,3", "();"}},
    {"slice", b_slice, {U(-2, 2)},
     {"(7);0,1,5,1", "(7);0,1,E,2", "(7);0,-1,-E,-1", "(7);0,5,1,-2", "(3,6);1,-2,0,-1",
      "(3,6);-2,0,E,2", "(0,4);1,0,2,1", "(5);0,3,3,1", "(4,3);0,-10,10,1", "(4,3);0,10,-10,-3",
      "(1);0,0,1,-1"}},
    {"index", b_index, {U(-2, 2)},
     {"(5);0,2", "(5);0,-1", "(2,3,4);1,-2", "(3,0);0,1", "(4,2);-1,0", "(2,3);0,0"}},
    {"take", b_take, {U(-2, 2)},
     {"(5);0,0,4,4,-1,2", "(3,4);1,3,3,0", "(3,4);-2,2", "(5);0", "(2,0);0,1,1,0",
      "(3,2);0,-3,-3,-3"}},
    {"concat", b_concat, {U(-2, 2)},
     {"(2,3)x(4,3);0", "(2,3)x(2,1)x(2,2);1", "(2,3)x(2,1)x(2,2);-1", "(0,3)x(2,3);0",
      "(3)x(0);-1", "(2,3);0", "(1)x(1)x(1);0"}},
    {"stack", b_stack, {U(-2, 2)},
     {"(2,3)x(2,3);0", "(2,3)x(2,3)x(2,3);-1", "()x();0", "(0)x(0);1", "(3);0", "(2)x(2);1"}},
    /* linear algebra and nn helpers */
    {"matmul", b_matmul, {U(-1, 1)},
     {"(2,3)x(3,4)", "(3)x(3)", "(3)x(3,4)", "(2,3)x(3)", "(2,2,3)x(3,4)", "(2,1,2,3)x(3,3,2)",
      "(0,3)x(3,2)", "(2,0)x(0,3)", "(3)x(2,3,4)", "(2,3,4)x(4)", "(1)x(1)"}},
    {"softmax", b_softmax, {U(-2, 2)}, C_SOFTMAX},
    {"log_softmax", b_log_softmax, {U(-2, 2)}, C_SOFTMAX},
    {"softmax(large)", b_softmax, {U(99, 101)}, {"(5);0", "(2,3);-1"}},
    {"log_softmax(large)", b_log_softmax, {U(99, 101)}, {"(5);0", "(2,3);-1"}},
};
#define NROWS ((int)(sizeof rows / sizeof rows[0]))

/* ---- case strings ---------------------------------------------------------------- */
typedef struct tcase {
  int     nin;
  int     rank[4];
  int64_t shape[4][NB_MAX_RANK];
  int     np;
  int64_t p[16];
} tcase;

static bool parse_case(const char *s, tcase *c) {
  memset(c, 0, sizeof *c);
  for (;;) {
    if (*s != '(' || c->nin == 4) return false;
    s++;
    int r = 0;
    while (*s != ')') {
      char *end;
      if (r == NB_MAX_RANK) return false;
      c->shape[c->nin][r++] = strtoll(s, &end, 10);
      if (end == s) return false;
      s = end;
      if (*s == ',') s++;
    }
    c->rank[c->nin++] = r;
    s++;
    if (*s == 'x') {
      s++;
      continue;
    }
    break;
  }
  if (*s == ';') {
    s++;
    while (*s) {
      if (c->np == 16) return false;
      if (!strncmp(s, "-E", 2)) c->p[c->np++] = INT64_MIN, s += 2;
      else if (*s == 'E') c->p[c->np++] = INT64_MAX, s++;
      else {
        char *end;
        c->p[c->np++] = strtoll(s, &end, 10);
        if (end == s) return false;
        s = end;
      }
      if (*s == ',') s++;
    }
  }
  return *s == 0;
}

/* ---- deterministic random numbers (splitmix64) ----------------------------------- */
static uint64_t rng_next(uint64_t *s) {
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double rng_u(uint64_t *s) { return (double)(rng_next(s) >> 11) * 0x1p-53; }
static double rng_in(uint64_t *s, double lo, double hi) { return lo + (hi - lo) * rng_u(s); }
static double rnd(nb_dtype dt, double v) { return dt == NB_F32 ? (double)(float)v : v; }

/* ---- tensor lists (values kept as doubles) ---------------------------------------- */
typedef struct tl {
  int     n;
  int64_t size[MAXT];
  double *d[MAXT];
} tl;

/* one row case: what to report, and the buffers to free */
typedef struct ctx {
  const row  *r;
  const char *cs;
  nb_dtype    dt;
  bool        f32; /* tolerance class */
  tols        tol;
  uint64_t    seed;
  void       *mem[512];
  int         nmem;
} ctx;

static double *cx_alloc(ctx *c, int64_t n) {
  double *p = calloc((size_t)n + 1, sizeof *p);
  if (!p || c->nmem == (int)(sizeof c->mem / sizeof c->mem[0])) {
    fprintf(stderr, "test_diff_rules: out of test buffers\n");
    abort();
  }
  return c->mem[c->nmem++] = p;
}
static void cx_free(ctx *c) {
  for (int i = 0; i < c->nmem; i++) free(c->mem[i]);
  c->nmem = 0;
}


static void fail_msg(const ctx *c, const char *check, const char *fmt, double a, double b) {
  th_failed_checks++;
  fprintf(stderr, "  diff_rules: op %s, check %s, case \"%s\", %s: ", c->r->name, check, c->cs,
          dtname(c->dt));
  fprintf(stderr, fmt, a, b);
  fputc('\n', stderr);
}

/* ---- the worst error seen per check and tolerance class (printed at the end) ---- */
enum {
  K_PRIMAL, K_JVP_FD, K_VJP_FD, K_DOT, K_JVPVJP_FD, K_VJPVJP_FD, K_DOT2, K_CHECK_GRADS,
  K_JAC, K_COUNT
};
static const char *const knames[K_COUNT] = {"primal", "jvp~fd", "vjp~fd", "dot", "jvp(vjp)~fd",
                                            "vjp(vjp)~fd", "dot2", "check_grads", "jac"};
static double worst[K_COUNT][2];

/* An error is |difference| / max(scale, FLOOR): relative to the size of the
 * quantities compared, but absolute below FLOOR, so a derivative that is
 * exactly zero (prod with two zeros, softmax of one element) is not judged
 * by the rounding noise of the finite differences. Inputs, tangents and
 * cotangents are O(1), so are the derivatives of every row. */
#define FLOOR 1e-2
typedef struct err {
  double abs, scale;
} err;

static void expect(ctx *c, int k, err e, double tol) {
  int    cls = c->f32;
  double rel = e.abs / fmax(e.scale, FLOOR);
  if (isnan(e.abs)) rel = INFINITY;
  if (!(rel <= worst[k][cls])) worst[k][cls] = rel;
  if (!(rel <= tol)) {
    th_failed_checks++;
    fprintf(stderr,
            "  diff_rules: op %s, check %s, case \"%s\", %s: error %.3g > tol %.1g "
            "(|difference| %.3g, scale %.3g)\n",
            c->r->name, knames[k], c->cs, dtname(c->dt), rel, tol, e.abs, e.scale);
  }
}

/* max |a - b| and max(|a|, |b|) over n tensors; NaN or inf anywhere: NaN */
static err vec_err(const tl *a, int a0, const tl *b, int b0, int n) {
  err e = {0, 0};
  for (int j = 0; j < n; j++)
    for (int64_t k = 0; k < a->size[a0 + j]; k++) {
      double u = a->d[a0 + j][k], v = b->d[b0 + j][k];
      if (!isfinite(u) || !isfinite(v)) return (err){NAN, 0};
      e.abs = fmax(e.abs, fabs(u - v));
      e.scale = fmax(e.scale, fmax(fabs(u), fabs(v)));
    }
  return e;
}

/* <a, b> over n tensors; *abs_sum += sum |a_k b_k| */
static double dot(const tl *a, int a0, const tl *b, int b0, int n, double *abs_sum) {
  double s = 0;
  for (int j = 0; j < n; j++)
    for (int64_t k = 0; k < a->size[a0 + j]; k++) {
      double v = a->d[a0 + j][k] * b->d[b0 + j][k];
      s += v, *abs_sum += fabs(v);
    }
  return s;
}

static err scalar_err(double a, double b, double scale) {
  if (!isfinite(a) || !isfinite(b)) return (err){NAN, 0};
  return (err){fabs(a - b), scale};
}

/* a tensor list of the sizes of f's inputs [i0, i0+n) or outputs */
static tl tl_like(ctx *c, const nb_fn *f, bool inputs, int i0, int n) {
  tl t = {0};
  t.n = n;
  for (int j = 0; j < n; j++) {
    t.size[j] = inputs ? nb_fn_in_size(f, i0 + j) : nb_fn_out_size(f, i0 + j);
    t.d[j] = cx_alloc(c, t.size[j]);
  }
  return t;
}

static tl tl_cat(tl a, const tl *b) {
  for (int j = 0; j < b->n && a.n < MAXT; j++) a.size[a.n] = b->size[j], a.d[a.n++] = b->d[j];
  return a;
}

/* uniform [-1, 1] values rounded to the dtypes of f's inputs/outputs [i0, i0+n) */
static tl tl_random(ctx *c, const nb_fn *f, bool inputs, int i0, int n) {
  tl t = tl_like(c, f, inputs, i0, n);
  for (int j = 0; j < n; j++) {
    nb_dtype dt = inputs ? nb_fn_in_dtype(f, i0 + j) : nb_fn_out_dtype(f, i0 + j);
    for (int64_t k = 0; k < t.size[j]; k++) t.d[j][k] = rnd(dt, rng_in(&c->seed, -1, 1));
  }
  return t;
}

/* x + s h t */
static tl tl_axpy(ctx *c, const tl *x, double s, const tl *t) {
  tl r = *x;
  for (int j = 0; j < x->n; j++) {
    r.d[j] = cx_alloc(c, x->size[j]);
    for (int64_t k = 0; k < x->size[j]; k++) r.d[j][k] = x->d[j][k] + s * t->d[j][k];
  }
  return r;
}

static double tl_maxabs(const tl *x) {
  double m = 0;
  for (int j = 0; j < x->n; j++)
    for (int64_t k = 0; k < x->size[j]; k++) m = fmax(m, fabs(x->d[j][k]));
  return m;
}

/* (a - b) / (2h) */
static tl tl_central(ctx *c, const tl *a, const tl *b, double h) {
  tl r = *a;
  for (int j = 0; j < a->n; j++) {
    r.d[j] = cx_alloc(c, a->size[j]);
    for (int64_t k = 0; k < a->size[j]; k++) r.d[j][k] = (a->d[j][k] - b->d[j][k]) / (2 * h);
  }
  return r;
}

static void *typed_copy(nb_dtype dt, const double *d, int64_t n) {
  void *p = calloc((size_t)n + 1, 8);
  if (!p) abort();
  for (int64_t k = 0; k < n; k++) {
    if (dt == NB_F64) ((double *)p)[k] = d[k];
    else ((float *)p)[k] = (float)d[k];
  }
  return p;
}

/* Calls f on `in` (converted to f's input dtypes); the outputs come back as doubles. */
static bool callf(ctx *c, nb_fn *f, const char *what, const tl *in, tl *out) {
  int   nin = nb_fn_nin(f), nout = nb_fn_nout(f);
  void *ib[MAXT] = {0}, *ob[MAXT] = {0};
  bool  ok = nin == in->n && nin <= MAXT && nout <= MAXT;
  for (int i = 0; ok && i < nin; i++) ok = nb_fn_in_size(f, i) == in->size[i];
  if (!ok) {
    fail_msg(c, what, "signature does not fit the test's buffers (%g inputs, %g given)", nin, in->n);
    return false;
  }
  for (int i = 0; i < nin; i++) ib[i] = typed_copy(nb_fn_in_dtype(f, i), in->d[i], in->size[i]);
  *out = tl_like(c, f, false, 0, nout);
  for (int j = 0; j < nout; j++) ob[j] = calloc((size_t)out->size[j] + 1, 8);
  nb_status st = nb_call(f, (const void *const *)ib, ob);
  for (int j = 0; j < nout; j++) {
    for (int64_t k = 0; k < out->size[j]; k++)
      out->d[j][k] = nb_fn_out_dtype(f, j) == NB_F64 ? ((double *)ob[j])[k] : ((float *)ob[j])[k];
    free(ob[j]);
  }
  for (int i = 0; i < nin; i++) free(ib[i]);
  if (st) {
    th_failed_checks++;
    fprintf(stderr, "  diff_rules: op %s, check %s, case \"%s\", %s: nb_call failed: %s\n",
            c->r->name, what, c->cs, dtname(c->dt), nb_errmsg());
  }
  return st == NB_OK;
}

static nb_fn *need(ctx *c, const char *what, nb_fn *f) {
  if (!f) {
    th_failed_checks++;
    fprintf(stderr, "  diff_rules: op %s, check %s, case \"%s\", %s: %s returned NULL: %s\n",
            c->r->name, what, c->cs, dtname(c->dt), what, nb_errmsg());
  }
  return f;
}

/* builds the row's function for dtype dt; casts target `other` */
static nb_fn *build(ctx *c, const tcase *tc, nb_dtype dt, nb_dtype other) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x[4] = {0}, *y = NULL;
  nb_fn    *f = NULL;
  static const char *const names[4] = {"x0", "x1", "x2", "x3"};
  for (int i = 0; g && i < tc->nin; i++) x[i] = nb_input(g, names[i], dt, tc->rank[i], tc->shape[i]);
  if (g) y = c->r->build(x, tc->nin, tc->p, tc->np, other);
  if (y) f = nb_fn_new(g, tc->nin, x, 1, &y);
  nb_graph_free(g);
  return need(c, "build", f);
}

/* samples the inputs of f for the row's samplers, rounded to dt */
static tl sample(ctx *c, const nb_fn *f, nb_dtype dt) {
  tl x = tl_like(c, f, true, 0, nb_fn_nin(f));
  for (int i = 0; i < x.n; i++) {
    samp    s = c->r->s[i < 3 ? i : 0];
    int64_t n = x.size[i];
    if (s.k == S_DEFAULT) s = c->r->s[0];
    if (s.k == S_GRID) { /* slots 0..n-1 shuffled */
      for (int64_t k = 0; k < n; k++) x.d[i][k] = (double)k;
      for (int64_t k = n - 1; k > 0; k--) {
        int64_t j = (int64_t)(rng_next(&c->seed) % (uint64_t)(k + 1));
        double  v = x.d[i][k];
        x.d[i][k] = x.d[i][j], x.d[i][j] = v;
      }
    }
    for (int64_t k = 0; k < n; k++) {
      double v = 0;
      switch (s.k) {
      case S_AWAY:
        v = rng_in(&c->seed, s.lo, s.hi) * (rng_u(&c->seed) < 0.5 ? -1 : 1);
        break;
      case S_FRAC:
        v = (double)((int)(rng_next(&c->seed) % 7) - 3) + rng_in(&c->seed, 0.1, 0.4);
        break;
      case S_GRID:
        v = (x.d[i][k] - (double)(n / 2)) * 0.2 + 0.1 * i + rng_in(&c->seed, 0, 0.02);
        break;
      case S_ZERO:
        v = k < s.nzero ? 0.0 : rng_in(&c->seed, s.lo, s.hi);
        break;
      default:
        v = rng_in(&c->seed, s.lo, s.hi);
        break;
      }
      x.d[i][k] = rnd(dt, v);
    }
  }
  return x;
}

/* ---- check 5: jacobians -------------------------------------------------------- */
static bool jac_ready;      /* nb_jacfwd works on a trivial function */
static bool jacobian_ready; /* nb_jacobian works on a trivial function */
static int  jac_skipped_cases, jac_skipped_rows, jacobian_skipped_cases;

/* the Jacobian of f at x from fn (jacfwd, jacrev or jacobian); J t must equal jt */
static bool jac_eval(ctx *c, nb_fn *jf, const char *what, const tl *x, const tl *t,
                     const tl *jt, tl *out) {
  if (!need(c, what, jf)) return false;
  if (!callf(c, jf, what, x, out)) return false;
  if (out->n != x->n) {
    fail_msg(c, what, "%g outputs, want %g", out->n, x->n);
    return false;
  }
  /* contraction: (J t)[i] = sum_j sum_k J_j[i, k] t_j[k] */
  tl     est = *jt;
  est.d[0] = cx_alloc(c, jt->size[0]);
  for (int j = 0; j < x->n; j++) {
    if (out->size[j] != jt->size[0] * x->size[j]) {
      fail_msg(c, what, "output size %g, want %g", (double)out->size[j],
               (double)(jt->size[0] * x->size[j]));
      return false;
    }
    for (int64_t i = 0; i < jt->size[0]; i++)
      for (int64_t k = 0; k < x->size[j]; k++)
        est.d[0][i] += out->d[j][i * x->size[j] + k] * t->d[j][k];
  }
  expect(c, K_JAC, vec_err(&est, 0, jt, 0, 1), c->tol.tight * 10);
  return true;
}

static void check_jacobians(ctx *c, const nb_fn *f, const tl *x, const tl *t, const tl *jt) {
  if (!jac_ready) {
    jac_skipped_cases++;
    return;
  }
  nb_fn *fw = nb_jacfwd(f, NULL), *rv = nb_jacrev(f, NULL);
  tl     a, b;
  bool   have_a = jac_eval(c, fw, "jacfwd", x, t, jt, &a);
  if (jac_eval(c, rv, "jacrev", x, t, jt, &b) && have_a)
    expect(c, K_JAC, vec_err(&a, 0, &b, 0, a.n), c->tol.tight);
  nb_fn_free(fw);
  nb_fn_free(rv);
  if (!jacobian_ready) {
    jacobian_skipped_cases++;
    return;
  }
  nb_fn *jc = nb_jacobian(f, NULL);
  if (jac_eval(c, jc, "jacobian", x, t, jt, &b) && have_a)
    expect(c, K_JAC, vec_err(&a, 0, &b, 0, a.n), c->tol.tight);
  nb_fn_free(jc);
}

/* ---- the driver --------------------------------------------------------------- */
static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull;
  while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
  return h;
}

static void run_case(const row *r, int ci, nb_dtype dt) {
  ctx   c0 = {.r = r, .cs = r->cases[ci], .dt = dt}, *c = &c0;
  tcase tc;
  c->seed = hash_str(r->name) ^ (uint64_t)(ci + 1) * 0x632be59bd9b4e019ull ^ (uint64_t)dt;
  if (!parse_case(c->cs, &tc)) {
    fail_msg(c, "parse", "bad case string (%g %g)", 0, 0);
    return;
  }
  nb_dtype other = dt == NB_F64 ? NB_F32 : NB_F64;
  nb_fn   *f = build(c, &tc, dt, other), *fr = build(c, &tc, NB_F64, NB_F64);
  nb_fn   *J = NULL, *V = NULL, *Vr = NULL, *JV = NULL, *VV = NULL;
  if (!f || !fr) goto done;
  J = need(c, "nb_jvp", nb_jvp(f, NULL));
  V = need(c, "nb_vjp", nb_vjp(f, NULL));
  Vr = need(c, "nb_vjp(f64 copy)", nb_vjp(fr, NULL));
  JV = V ? need(c, "nb_jvp(nb_vjp)", nb_jvp(V, NULL)) : NULL;
  VV = V ? need(c, "nb_vjp(nb_vjp)", nb_vjp(V, NULL)) : NULL;
  if (!J || !V || !Vr || !JV || !VV) goto done;

  c->f32 = nb_fn_out_dtype(f, 0) == NB_F32;
  for (int i = 0; i < nb_fn_nin(f); i++) c->f32 = c->f32 || nb_fn_in_dtype(f, i) == NB_F32;
  c->tol = c->f32 ? TOL_F32 : TOL_F64;
  int nin = nb_fn_nin(f);

  /* data: x, a tangent t, a cotangent w */
  tl x = sample(c, f, dt), t = tl_random(c, f, true, 0, nin), w = tl_random(c, f, false, 0, 1);
  tl y, yr, yp, ym, jo, vo;
  if (!callf(c, f, "f", &x, &y) || !callf(c, fr, "f64 copy", &x, &yr)) goto done;
  expect(c, K_PRIMAL, vec_err(&y, 0, &yr, 0, 1), c->tol.tight);

  /* 1. jvp vs central differences (on the f64 copy) */
  double h = FD_REL_STEP * fmax(1, tl_maxabs(&x));
  tl xp = tl_axpy(c, &x, h, &t), xm = tl_axpy(c, &x, -h, &t);
  if (!callf(c, fr, "f64 copy", &xp, &yp) || !callf(c, fr, "f64 copy", &xm, &ym)) goto done;
  tl fd = tl_central(c, &yp, &ym, h);
  tl jin = tl_cat(x, &t);
  if (!callf(c, J, "jvp", &jin, &jo)) goto done;
  expect(c, K_PRIMAL, vec_err(&jo, 0, &y, 0, 1), c->tol.tight);
  expect(c, K_JVP_FD, vec_err(&jo, 1, &fd, 0, 1), c->tol.fd);

  /* 2. vjp vs central differences projected on w */
  tl vin = tl_cat(x, &w);
  if (!callf(c, V, "vjp", &vin, &vo)) goto done;
  expect(c, K_PRIMAL, vec_err(&vo, 0, &y, 0, 1), c->tol.tight);
  double s_fd = 0, s_v = 0, s_j = 0;
  double wfd = dot(&w, 0, &fd, 0, 1, &s_fd), gt = dot(&vo, 1, &t, 0, nin, &s_v);
  expect(c, K_VJP_FD, scalar_err(wfd, gt, s_fd + s_v), c->tol.fd);

  /* 3. the dot-product test */
  double wjt = dot(&w, 0, &jo, 1, 1, &s_j);
  expect(c, K_DOT, scalar_err(wjt, gt, s_j + s_v), c->tol.dot);

  /* 4. second order: V(x, w) = (y, J^T w) in the direction (t, u) */
  {
    tl u = tl_random(c, f, false, 0, 1), tu = tl_cat(t, &u);
    double h2 = FD_REL_STEP * fmax(1, fmax(tl_maxabs(&x), tl_maxabs(&w)));
    tl vp_in = tl_axpy(c, &vin, h2, &tu), vm_in = tl_axpy(c, &vin, -h2, &tu), vp, vm, jvo, vvo;
    if (!callf(c, Vr, "vjp(f64 copy)", &vp_in, &vp) || !callf(c, Vr, "vjp(f64 copy)", &vm_in, &vm))
      goto done;
    tl fd2 = tl_central(c, &vp, &vm, h2); /* (dy, d(J^T w)) */
    tl jvin = tl_cat(vin, &tu);
    if (!callf(c, JV, "jvp(vjp)", &jvin, &jvo)) goto done;
    /* outputs: y, g..., ty, tg... */
    expect(c, K_PRIMAL, vec_err(&jvo, 0, &vo, 0, 1 + nin), c->tol.tight);
    expect(c, K_JVPVJP_FD, vec_err(&jvo, 1 + nin, &fd2, 0, 1 + nin), c->tol.fd);
    /* vjp(vjp): cotangents (cy, cg) for the outputs (y, g...) */
    tl cy = tl_random(c, V, false, 0, 1 + nin);
    tl vvin = tl_cat(vin, &cy);
    if (!callf(c, VV, "vjp(vjp)", &vvin, &vvo)) goto done;
    expect(c, K_PRIMAL, vec_err(&vvo, 0, &vo, 0, 1 + nin), c->tol.tight);
    double a1 = 0, a2 = 0, a3 = 0;
    double cfd = dot(&cy, 0, &fd2, 0, 1 + nin, &a1);
    double ctu = dot(&vvo, 1 + nin, &tu, 0, 1 + nin, &a2);
    expect(c, K_VJPVJP_FD, scalar_err(cfd, ctu, a1 + a2), c->tol.fd);
    double cjv = dot(&cy, 0, &jvo, 1 + nin, 1 + nin, &a3);
    expect(c, K_DOT2, scalar_err(cjv, ctu, a3 + a2), c->tol.dot);
  }

  /* the library's own checker, order 2 */
  {
    const void *xs[MAXT];
    double      err = -1;
    for (int i = 0; i < nin; i++) xs[i] = typed_copy(nb_fn_in_dtype(f, i), x.d[i], x.size[i]);
    nb_status st = nb_check_grads(f, xs, 2, &err);
    if (!(err <= worst[K_CHECK_GRADS][c->f32])) worst[K_CHECK_GRADS][c->f32] = err;
    if (st != NB_OK) {
      th_failed_checks++;
      fprintf(stderr, "  diff_rules: op %s, check check_grads, case \"%s\", %s: %s (error %.3g)\n",
              r->name, c->cs, dtname(dt), nb_errmsg(), err);
    }
    for (int i = 0; i < nin; i++) free((void *)xs[i]);
  }

  /* 5. jacfwd == jacrev */
  check_jacobians(c, f, &x, &t, &(tl){.n = 1, .size = {jo.size[1]}, .d = {jo.d[1]}});

done:
  nb_fn_free(f);
  nb_fn_free(fr);
  nb_fn_free(J);
  nb_fn_free(V);
  nb_fn_free(Vr);
  nb_fn_free(JV);
  nb_fn_free(VV);
  cx_free(c);
}

static const row *cur_row;

static void run_row(void) {
  int before = jac_skipped_cases;
  for (int ci = 0; ci < MAXCASE && cur_row->cases[ci]; ci++) {
    run_case(cur_row, ci, NB_F64);
    run_case(cur_row, ci, NB_F32);
  }
  if (jac_skipped_cases > before) jac_skipped_rows++;
}

/* every case string of the table parses */
static void test_table(void) {
  for (int i = 0; i < NROWS; i++)
    for (int ci = 0; ci < MAXCASE && rows[i].cases[ci]; ci++) {
      tcase tc;
      if (!parse_case(rows[i].cases[ci], &tc)) {
        th_failed_checks++;
        fprintf(stderr, "  diff_rules: row %s: bad case string \"%s\"\n", rows[i].name,
                rows[i].cases[ci]);
      }
    }
}

/* probes: do the Jacobian transforms exist yet? */
static bool probe(nb_fn *(*tr)(const nb_fn *, const nb_diff_opts *)) {
  nb_graph *g = nb_graph_new();
  int64_t   n = 2;
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, &n), *y = nb_sin(x);
  nb_fn    *f = nb_fn_new(g, 1, &x, 1, &y), *j = f ? tr(f, NULL) : NULL;
  bool      ok = j != NULL;
  nb_fn_free(j);
  nb_fn_free(f);
  nb_graph_free(g);
  nb_errclear();
  return ok;
}

void suite_diff_rules(void) {
  jac_ready = probe(nb_jacfwd);
  jacobian_ready = jac_ready && probe(nb_jacobian);
  jac_skipped_cases = jac_skipped_rows = jacobian_skipped_cases = 0;
  memset(worst, 0, sizeof worst);
  RUN(test_table);
  int ncases = 0;
  for (int i = 0; i < NROWS; i++) {
    cur_row = &rows[i];
    for (int ci = 0; ci < MAXCASE && rows[i].cases[ci]; ci++) ncases++;
    th_run(rows[i].name, run_row);
  }
  printf("  diff_rules: %d rows, %d shape cases x {f64, f32}\n", NROWS, ncases);
  for (int cls = 0; cls < 2; cls++) {
    printf("  diff_rules: worst %s errors:", cls ? "f32" : "f64");
    for (int k = 0; k < K_COUNT; k++) printf(" %s %.2g", knames[k], worst[k][cls]);
    printf("\n");
  }
  if (!jac_ready)
    printf("  diff_rules: nb_jacfwd not implemented yet: jacfwd==jacrev skipped for %d rows "
           "(%d row cases)\n",
           jac_skipped_rows, jac_skipped_cases);
  else if (!jacobian_ready)
    printf("  diff_rules: nb_jacobian not implemented yet: skipped for %d row cases\n",
           jacobian_skipped_cases);
}
