/* Unary elementwise primitives: one row each, with the scalar formula for
 * f64 and f32 and the partial derivative dy/dx built from x and y. The
 * kernels are plain loops the compiler can vectorize. */
#include <math.h>

#include "scalar.h"
#include "vmath.h"

#include "../transform/ad.h"

static nb_status infer_unary(const char *api, nb__node *out, const nb__node *const *src) {
  return nb__infer_same(api, out, src, 1);
}

const char nb__scalar_text[] = NB__STR(NB__SCALAR_HELPERS);

/* ---- partial derivatives (x the operand, y the result) ---- */
#define FILL(v) nb__fill_like(ad->api, x, (v))
#define OP1(op, a) nb__ad1(ad, NB_OP_##op, (a))
#define OP2(op, a, b) nb__ad2(ad, NB_OP_##op, (a), (b))

/* d|x| = sign(x): 0 at 0 */
static nb_expr *d_abs(nb__ad *ad, nb_expr *x, nb_expr *y) { (void)y; return OP1(SIGN, x); }
static nb_expr *d_exp(nb__ad *ad, nb_expr *x, nb_expr *y) { (void)ad, (void)x; return y; }
static nb_expr *d_expm1(nb__ad *ad, nb_expr *x, nb_expr *y) { return OP2(ADD, y, FILL(1)); }
static nb_expr *d_log(nb__ad *ad, nb_expr *x, nb_expr *y) { (void)y; return nb__ad_recip(ad, x); }
static nb_expr *d_log1p(nb__ad *ad, nb_expr *x, nb_expr *y) {
  (void)y;
  return nb__ad_recip(ad, OP2(ADD, x, FILL(1)));
}
/* 0.5 / sqrt(x): +inf at 0 */
static nb_expr *d_sqrt(nb__ad *ad, nb_expr *x, nb_expr *y) { return OP2(DIV, FILL(0.5), y); }
static nb_expr *d_sin(nb__ad *ad, nb_expr *x, nb_expr *y) { (void)y; return OP1(COS, x); }
static nb_expr *d_cos(nb__ad *ad, nb_expr *x, nb_expr *y) { (void)y; return OP1(NEG, OP1(SIN, x)); }
static nb_expr *d_tan(nb__ad *ad, nb_expr *x, nb_expr *y) { return OP2(ADD, FILL(1), OP2(MUL, y, y)); }
static nb_expr *one_minus_sq_rsqrt(nb__ad *ad, nb_expr *x) {
  return nb__ad_recip(ad, OP1(SQRT, OP2(SUB, FILL(1), OP2(MUL, x, x))));
}
static nb_expr *d_asin(nb__ad *ad, nb_expr *x, nb_expr *y) { (void)y; return one_minus_sq_rsqrt(ad, x); }
static nb_expr *d_acos(nb__ad *ad, nb_expr *x, nb_expr *y) {
  (void)y;
  return OP1(NEG, one_minus_sq_rsqrt(ad, x));
}
static nb_expr *d_atan(nb__ad *ad, nb_expr *x, nb_expr *y) {
  (void)y;
  return nb__ad_recip(ad, OP2(ADD, FILL(1), OP2(MUL, x, x)));
}
static nb_expr *d_sinh(nb__ad *ad, nb_expr *x, nb_expr *y) { (void)y; return OP1(COSH, x); }
static nb_expr *d_cosh(nb__ad *ad, nb_expr *x, nb_expr *y) { (void)y; return OP1(SINH, x); }
static nb_expr *d_tanh(nb__ad *ad, nb_expr *x, nb_expr *y) { return OP2(SUB, FILL(1), OP2(MUL, y, y)); }
/* 2/sqrt(pi) exp(-x^2) */
static nb_expr *d_erf(nb__ad *ad, nb_expr *x, nb_expr *y) {
  (void)y;
  return OP2(MUL, FILL(1.1283791670955126), OP1(EXP, OP1(NEG, OP2(MUL, x, x))));
}
static nb_expr *d_logistic(nb__ad *ad, nb_expr *x, nb_expr *y) {
  return OP2(MUL, y, OP2(SUB, FILL(1), y));
}
/* piecewise constant: a zero partial (NULL is an exact zero) */
static nb_expr *d_none(nb__ad *ad, nb_expr *x, nb_expr *y) {
  (void)ad, (void)x, (void)y;
  return NULL;
}

/*  id        name       f64 formula      f32 formula      dy/dx (x is the element) */
#define NB__UNARY_ROWS(X)                                                             \
  X(ABS,      "abs",      fabs(x),        fabsf(x),        d_abs)                     \
  X(SIGN,     "sign",     nb_sign64(x),   nb_sign32(x),    d_none)                    \
  X(EXP,      "exp",      exp(x),         expf(x),         d_exp)                     \
  X(EXPM1,    "expm1",    expm1(x),       expm1f(x),       d_expm1)                   \
  X(LOG,      "log",      log(x),         logf(x),         d_log)                     \
  X(LOG1P,    "log1p",    log1p(x),       log1pf(x),       d_log1p)                   \
  X(SQRT,     "sqrt",     sqrt(x),        sqrtf(x),        d_sqrt)                    \
  X(SIN,      "sin",      sin(x),         sinf(x),         d_sin)                     \
  X(COS,      "cos",      cos(x),         cosf(x),         d_cos)                     \
  X(TAN,      "tan",      tan(x),         tanf(x),         d_tan)                     \
  X(ASIN,     "asin",     asin(x),        asinf(x),        d_asin)                    \
  X(ACOS,     "acos",     acos(x),        acosf(x),        d_acos)                    \
  X(ATAN,     "atan",     atan(x),        atanf(x),        d_atan)                    \
  X(SINH,     "sinh",     sinh(x),        sinhf(x),        d_sinh)                    \
  X(COSH,     "cosh",     cosh(x),        coshf(x),        d_cosh)                    \
  X(TANH,     "tanh",     tanh(x),        tanhf(x),        d_tanh)                    \
  X(ERF,      "erf",      erf(x),         erff(x),         d_erf)                     \
  X(LOGISTIC, "logistic", nb_logistic64(x), nb_logistic32(x), d_logistic)             \
  X(FLOOR,    "floor",    floor(x),       floorf(x),       d_none)                    \
  X(CEIL,     "ceil",     ceil(x),        ceilf(x),        d_none)                    \
  X(ROUND,    "round",    nearbyint(x),   nearbyintf(x),   d_none) /* half to even */

/* one plain loop per dtype, which the compiler vectorizes (with the SIMD
 * math functions of vmath.h where they exist) */
#define NB__UNARY_KERNEL(ID, F64, F32)                                                   \
  static void loop64_##ID(double *o, const double *a, int64_t len) {                     \
    for (int64_t i = 0; i < len; i++) {                                                  \
      double x = a[i];                                                                   \
      o[i] = (F64);                                                                      \
    }                                                                                    \
  }                                                                                      \
  static void loop32_##ID(float *o, const float *a, int64_t len) {                       \
    for (int64_t i = 0; i < len; i++) {                                                  \
      float x = a[i];                                                                    \
      o[i] = (F32);                                                                      \
    }                                                                                    \
  }                                                                                      \
  static void eval_##ID(const nb__node *n, const nb__node *const *s, void *out,          \
                        const void *const *in) {                                         \
    (void)s;                                                                             \
    if (n->dtype == NB_F64) loop64_##ID(out, in[0], n->size);                            \
    else loop32_##ID(out, in[0], n->size);                                               \
  }

#define NB__UNARY_DEFINE(ID, NAME, F64, F32, PARTIAL)                                    \
  NB__UNARY_KERNEL(ID, F64, F32)                                                         \
  const nb__prim nb__row_##ID = {NAME, 1, NB__ELEMENTWISE, infer_unary, eval_##ID,       \
                                 PARTIAL, NULL, NULL, nb__batch_elementwise, .c64 = #F64, .c32 = #F32};

NB__UNARY_ROWS(NB__UNARY_DEFINE)

/* ---- neg: linear ---- */
NB__UNARY_KERNEL(NEG, -x, -x)
static nb_expr *jvp_neg(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                        nb_expr *const *t) {
  (void)n, (void)x, (void)y;
  return nb__t_neg(ad, t[0]);
}
static void transpose_neg(nb__ad *ad, nb_expr *y, nb_expr *ct, const bool *lin, nb_expr **cts) {
  (void)y, (void)lin;
  cts[0] = nb__t_neg(ad, ct);
}
const nb__prim nb__row_NEG = {"neg", 1, NB__ELEMENTWISE, infer_unary, eval_NEG,
                              NULL, jvp_neg, transpose_neg, nb__batch_elementwise, .c64 = "-x", .c32 = "-x"};

/* ---- stop_gradient: the identity for values (an alias of its operand's
 *      buffer), zero for derivatives ---- */
const nb__prim nb__row_STOP_GRADIENT = {"stop_gradient", 1, NB__ELEMENTWISE | NB__ALIAS,
                                        infer_unary, NULL, NULL, nb__jvp_zero, NULL,
                                        nb__batch_elementwise, NULL, NULL, NULL};
