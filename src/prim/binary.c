/* Binary elementwise primitives (operands of one shape: the ops layer
 * inserts broadcasts), comparisons, select and cast. */
#include <math.h>

#include "scalar.h"
#include "vmath.h"
#include <string.h>

#include "../transform/ad.h"

static nb_status infer_binary(const char *api, nb__node *out, const nb__node *const *src) {
  return nb__infer_same(api, out, src, 2);
}

/* ---- derivative rules of the binary rows (x = {a, b}, y the result) ---- */
#define FILL(like, v) nb__fill_like(ad->api, (like), (v))
#define OP1(op, a) nb__ad1(ad, NB_OP_##op, (a))
#define OP2(op, a, b) nb__ad2(ad, NB_OP_##op, (a), (b))
#define JVP(name)                                                                        \
  static nb_expr *name(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,     \
                       nb_expr *const *t)
#define TRANSPOSE(name) \
  static void name(nb__ad *ad, nb_expr *y, nb_expr *ct, const bool *lin, nb_expr **cts)

JVP(jvp_add) {
  (void)n, (void)x, (void)y;
  return nb__t_add(ad, t[0], t[1]);
}
TRANSPOSE(transpose_add) {
  (void)ad, (void)y;
  if (lin[0]) cts[0] = ct;
  if (lin[1]) cts[1] = ct;
}

JVP(jvp_sub) {
  (void)n, (void)x, (void)y;
  return nb__t_sub(ad, t[0], t[1]);
}
TRANSPOSE(transpose_sub) {
  (void)y;
  if (lin[0]) cts[0] = ct;
  if (lin[1]) cts[1] = nb__t_neg(ad, ct);
}

JVP(jvp_mul) {
  (void)n, (void)y;
  return nb__t_add(ad, nb__t_scale(ad, t[0], x[1]), nb__t_scale(ad, t[1], x[0]));
}
TRANSPOSE(transpose_mul) {
  if (lin[0]) cts[0] = nb__t_scale(ad, ct, y->src[1]);
  if (lin[1]) cts[1] = nb__t_scale(ad, ct, y->src[0]);
}

/* d(a/b) = da / b - db * y / b */
JVP(jvp_div) {
  (void)n;
  nb_expr *ta = t[0] ? nb__t_scale(ad, t[0], nb__ad_recip(ad, x[1])) : NULL;
  nb_expr *tb = t[1] ? nb__t_scale(ad, t[1], OP1(NEG, OP2(DIV, y, x[1]))) : NULL;
  return nb__t_add(ad, ta, tb);
}
TRANSPOSE(transpose_div) { /* linear in the numerator only */
  if (lin[0]) cts[0] = nb__t_scale(ad, ct, nb__ad_recip(ad, y->src[1]));
}

/* d/da a^b = b a^(b-1), exactly 0 where b == 0 (so d/dx x^0 = 0 at x = 0);
 * integer b keeps negative bases finite. d/db a^b = log(a) y, 0 at a == 0. */
static bool is_fill(const nb_expr *e, double v) {
  return e->n.op == NB_OP_FILL && e->n.p.d == v;
}
JVP(jvp_pow) {
  (void)n;
  nb_expr *a = x[0], *b = x[1], *ta = NULL, *tb = NULL;
  if (t[0] && !is_fill(b, 0.0)) {
    nb_expr *da = OP2(MUL, b, OP2(POW, a, OP2(SUB, b, FILL(b, 1))));
    if (b->n.op != NB_OP_FILL) da = nb__ad_select(ad, OP2(EQ, b, FILL(b, 0)), FILL(b, 0), da);
    ta = nb__t_scale(ad, t[0], da);
  }
  if (t[1]) {
    nb_expr *db = OP2(MUL, OP1(LOG, a), y);
    tb = nb__t_scale(ad, t[1], nb__ad_select(ad, OP2(EQ, a, FILL(a, 0)), FILL(a, 0), db));
  }
  return nb__t_add(ad, ta, tb);
}

/* d atan2(a, b) = (b da - a db) / (a^2 + b^2) */
JVP(jvp_atan2) {
  (void)n, (void)y;
  nb_expr *r = t[0] || t[1] ? nb__ad_recip(ad, OP2(ADD, OP2(MUL, x[0], x[0]), OP2(MUL, x[1], x[1])))
                            : NULL;
  nb_expr *ta = t[0] ? nb__t_scale(ad, t[0], OP2(MUL, x[1], r)) : NULL;
  nb_expr *tb = t[1] ? nb__t_scale(ad, t[1], OP1(NEG, OP2(MUL, x[0], r))) : NULL;
  return nb__t_add(ad, ta, tb);
}

/* max/min: the winner's tangent; ties split it 0.5/0.5 */
static nb_expr *select_jvp(nb__ad *ad, int win_a, int win_b, nb_expr *const *x,
                           nb_expr *const *t) {
  nb_expr *half = OP2(MUL, OP2(EQ, x[0], x[1]), FILL(x[0], 0.5));
  nb_expr *ta = t[0] ? nb__t_scale(ad, t[0], OP2(ADD, nb__ad2(ad, win_a, x[0], x[1]), half)) : NULL;
  nb_expr *tb = t[1] ? nb__t_scale(ad, t[1], OP2(ADD, nb__ad2(ad, win_b, x[0], x[1]), half)) : NULL;
  return nb__t_add(ad, ta, tb);
}
JVP(jvp_max) {
  (void)n, (void)y;
  return select_jvp(ad, NB_OP_GT, NB_OP_LT, x, t);
}
JVP(jvp_min) {
  (void)n, (void)y;
  return select_jvp(ad, NB_OP_LT, NB_OP_GT, x, t);
}

/* dmul(a, b) = a == 0 ? 0 : a b, linear in either operand */
JVP(jvp_dmul) {
  (void)n, (void)y;
  nb_expr *tb = t[1] ? OP2(DMUL, x[0], t[1]) : NULL;
  return nb__t_add(ad, nb__t_scale(ad, t[0], x[1]), tb);
}
TRANSPOSE(transpose_dmul) {
  if (lin[0]) cts[0] = nb__t_scale(ad, ct, y->src[1]);
  if (lin[1] && ct) cts[1] = OP2(DMUL, y->src[0], ct);
}

#define jvp_compare nb__jvp_zero

/*  id     name     f64 formula on a, b (comparisons give 1 or 0)   f32 formula     jvp, transpose */
#define NB__BINARY_ROWS(X)                                                                      \
  X(ADD,   "add",   a + b,                                  a + b,        jvp_add,     transpose_add)  \
  X(SUB,   "sub",   a - b,                                  a - b,        jvp_sub,     transpose_sub)  \
  X(MUL,   "mul",   a * b,                                  a * b,        jvp_mul,     transpose_mul)  \
  X(DIV,   "div",   a / b,                                  a / b,        jvp_div,     transpose_div)  \
  X(POW,   "pow",   pow(a, b),                              powf(a, b),   jvp_pow,     NULL)           \
  X(ATAN2, "atan2", atan2(a, b),                            atan2f(a, b), jvp_atan2,   NULL)           \
  X(MAX,   "max",   (a > b || a != a) ? a : b, /* NaN wins */ (a > b || a != a) ? a : b, jvp_max, NULL) \
  X(MIN,   "min",   (a < b || a != a) ? a : b,              (a < b || a != a) ? a : b, jvp_min, NULL)  \
  X(DMUL,  "dmul",  a == 0 ? 0 : a * b, /* a zero stays zero */ a == 0 ? 0 : a * b, jvp_dmul, transpose_dmul) \
  X(LT,    "lt",    (a < b),                                (a < b),      jvp_compare, NULL)           \
  X(LE,    "le",    (a <= b),                               (a <= b),     jvp_compare, NULL)           \
  X(GT,    "gt",    (a > b),                                (a > b),      jvp_compare, NULL)           \
  X(GE,    "ge",    (a >= b),                               (a >= b),     jvp_compare, NULL)           \
  X(EQ,    "eq",    (a == b),                               (a == b),     jvp_compare, NULL)           \
  X(NE,    "ne",    (a != b),                               (a != b),     jvp_compare, NULL)

#define NB__BINARY_LOOP(T, EXPR)                                             \
  do {                                                                                   \
    T *o = out;                                                                          \
    const T *pa = in[0], *pb = in[1];                                                    \
    for (int64_t i = 0; i < n->size; i++) {                                              \
      T a = pa[i], b = pb[i];                                                            \
      o[i] = (EXPR);                                                                     \
    }                                                                                    \
  } while (0)

/* x^k for a constant small integer k (the exponent is a fill) */
#define NB__POWI_LOOP(T, POWI)                                                           \
  do {                                                                                   \
    T *o = out;                                                                          \
    const T *a = in[0];                                                                  \
    for (int64_t i = 0; i < n->size; i++) o[i] = POWI(a[i], k);                          \
  } while (0)

/* the integer exponent of x^k when the repeated-squaring path applies */
bool nb__powi_exponent(const nb__node *b, int *k) {
  double d = b->p.d;
  if (b->op != NB_OP_FILL || d != (double)(int64_t)d || d > NB__POWI_MAX || d < -NB__POWI_MAX) return false;
  *k = (int)d;
  return true;
}

static bool powi(const nb__node *n, const nb__node *const *s, void *out, const void *const *in) {
  int k;
  if (!nb__powi_exponent(s[1], &k)) return false;
  if (n->dtype == NB_F64) NB__POWI_LOOP(double, nb_powi64);
  else NB__POWI_LOOP(float, nb_powi32);
  return true;
}

#define NB__BINARY_DEFINE(ID, NAME, F64, F32, JVP_RULE, TRANSPOSE_RULE)                  \
  static void eval_##ID(const nb__node *n, const nb__node *const *s, void *out,          \
                        const void *const *in) {                                         \
    if (NB_OP_##ID == NB_OP_POW && powi(n, s, out, in)) return;                          \
    if (n->dtype == NB_F64) NB__BINARY_LOOP(double, F64);                                \
    else NB__BINARY_LOOP(float, F32);                                                    \
  }                                                                                      \
  const nb__prim nb__row_##ID = {NAME, 2, NB__ELEMENTWISE, infer_binary, eval_##ID,       \
                                 NULL, JVP_RULE, TRANSPOSE_RULE, nb__batch_elementwise,  \
                                 .c64 = #F64, .c32 = #F32};

NB__BINARY_ROWS(NB__BINARY_DEFINE)

/* ---- select(c, a, b): c != 0 ? a : b; c may have another dtype ---- */
static nb_status infer_select(const char *api, nb__node *out, const nb__node *const *src) {
  char sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  const nb__node *c = src[0];
  if (!nb__same_shape(c->rank, c->shape, src[1]->rank, src[1]->shape))
    return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s differ", api,
                    nb__shape_str(sa, c->rank, c->shape),
                    nb__shape_str(sb, src[1]->rank, src[1]->shape));
  return nb__infer_same(api, out, src + 1, 2);
}

#define NB__SELECT_LOOP(TC, T)                                                           \
  do {                                                                                   \
    T *o = out;                                                                          \
    const TC *c = in[0];                                                                 \
    const T *a = in[1], *b = in[2];                                                      \
    for (int64_t i = 0; i < n->size; i++) o[i] = c[i] != 0 ? a[i] : b[i];                \
  } while (0)

static void eval_select(const nb__node *n, const nb__node *const *s, void *out,
                        const void *const *in) {
  bool c64 = s[0]->dtype == NB_F64;
  if (n->dtype == NB_F64) {
    if (c64) NB__SELECT_LOOP(double, double);
    else NB__SELECT_LOOP(float, double);
  } else {
    if (c64) NB__SELECT_LOOP(double, float);
    else NB__SELECT_LOOP(float, float);
  }
}
/* the chosen branch's tangent; the other branch contributes an exact zero,
 * whatever its value, so NaN or inf there never leaks into a derivative */
JVP(jvp_select) {
  (void)n, (void)y;
  if (!t[1] && !t[2]) return NULL;
  return nb__ad_select(ad, x[0], nb__t_zeros(ad, t[1], x[1]), nb__t_zeros(ad, t[2], x[2]));
}
TRANSPOSE(transpose_select) {
  if (!ct) return;
  nb_expr *c = y->src[0], *zero = FILL(ct, 0);
  if (lin[1]) cts[1] = nb__ad_select(ad, c, ct, zero);
  if (lin[2]) cts[2] = nb__ad_select(ad, c, zero, ct);
}
const nb__prim nb__row_SELECT = {"select", 3, NB__ELEMENTWISE, infer_select, eval_select,
                                 NULL, jvp_select, transpose_select, nb__batch_elementwise,
                                 .c64 = "c != 0 ? a : b", .c32 = "c != 0 ? a : b"};

/* ---- cast: p.i[0] is the target dtype ---- */
static nb_status infer_cast(const char *api, nb__node *out, const nb__node *const *src) {
  if (!nb__valid_dtype((int)out->p.i[0]))
    return nb__fail(NB_ERR_ARG, "%s: invalid dtype %lld", api, (long long)out->p.i[0]);
  nb__infer_same(api, out, src, 1);
  out->dtype = (uint8_t)out->p.i[0];
  out->weak = 0;
  return NB_OK;
}

static void eval_cast(const nb__node *n, const nb__node *const *s, void *out,
                      const void *const *in) {
  if (n->dtype == s[0]->dtype) {
    memcpy(out, in[0], (size_t)n->size * nb__dtype_size((nb_dtype)n->dtype));
  } else if (n->dtype == NB_F32) {
    float        *o = out;
    const double *a = in[0];
    for (int64_t i = 0; i < n->size; i++) o[i] = (float)a[i];
  } else {
    double      *o = out;
    const float *a = in[0];
    for (int64_t i = 0; i < n->size; i++) o[i] = a[i];
  }
}
TRANSPOSE(transpose_cast) {
  nb__params p = {.i = {y->src[0]->n.dtype}};
  if (lin[0] && ct) cts[0] = nb__adp(ad, NB_OP_CAST, ct, &p);
}
const nb__prim nb__row_CAST = {"cast", 1, NB__ELEMENTWISE, infer_cast, eval_cast,
                               NULL, nb__jvp_linear1, transpose_cast, nb__batch_elementwise,
                               .c64 = "(double)x", .c32 = "(float)x"};
