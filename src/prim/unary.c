/* Unary elementwise primitives: one row each, with the scalar formula for
 * f64 and f32. The kernels are plain loops the compiler can vectorize. */
#include <math.h>

#include "../internal.h"

static nb_status infer_unary(const char *api, nb__node *out, const nb__node *const *src) {
  return nb__infer_same(api, out, src, 1);
}

/* sign keeps 0, -0 and NaN as they are */
static inline double sign64(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; }
static inline float  sign32(float x) { return x > 0 ? 1.0f : x < 0 ? -1.0f : x; }
/* the logistic function without overflow for large |x| */
static inline double logistic64(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}
static inline float logistic32(float x) {
  if (x >= 0) return 1.0f / (1.0f + expf(-x));
  float e = expf(x);
  return e / (1.0f + e);
}

/*  id        name       f64 formula      f32 formula (x is the element) */
#define NB__UNARY_ROWS(X)                                                 \
  X(NEG,      "neg",      -x,             -x)                             \
  X(ABS,      "abs",      fabs(x),        fabsf(x))                       \
  X(SIGN,     "sign",     sign64(x),      sign32(x))                      \
  X(EXP,      "exp",      exp(x),         expf(x))                        \
  X(EXPM1,    "expm1",    expm1(x),       expm1f(x))                      \
  X(LOG,      "log",      log(x),         logf(x))                        \
  X(LOG1P,    "log1p",    log1p(x),       log1pf(x))                      \
  X(SQRT,     "sqrt",     sqrt(x),        sqrtf(x))                       \
  X(SIN,      "sin",      sin(x),         sinf(x))                        \
  X(COS,      "cos",      cos(x),         cosf(x))                        \
  X(TAN,      "tan",      tan(x),         tanf(x))                        \
  X(ASIN,     "asin",     asin(x),        asinf(x))                       \
  X(ACOS,     "acos",     acos(x),        acosf(x))                       \
  X(ATAN,     "atan",     atan(x),        atanf(x))                       \
  X(SINH,     "sinh",     sinh(x),        sinhf(x))                       \
  X(COSH,     "cosh",     cosh(x),        coshf(x))                       \
  X(TANH,     "tanh",     tanh(x),        tanhf(x))                       \
  X(ERF,      "erf",      erf(x),         erff(x))                        \
  X(LOGISTIC, "logistic", logistic64(x),  logistic32(x))                  \
  X(FLOOR,    "floor",    floor(x),       floorf(x))                      \
  X(CEIL,     "ceil",     ceil(x),        ceilf(x))                       \
  X(ROUND,    "round",    nearbyint(x),   nearbyintf(x)) /* half to even */

#define NB__UNARY_DEFINE(ID, NAME, F64, F32)                                             \
  static void eval_##ID(const nb__node *n, const nb__node *const *s, void *out,          \
                        const void *const *in) {                                         \
    (void)s;                                                                             \
    if (n->dtype == NB_F64) {                                                            \
      double *o = out;                                                                   \
      const double *a = in[0];                                                           \
      for (int64_t i = 0; i < n->size; i++) {                                            \
        double x = a[i];                                                                 \
        o[i] = (F64);                                                                    \
      }                                                                                  \
    } else {                                                                             \
      float *o = out;                                                                    \
      const float *a = in[0];                                                            \
      for (int64_t i = 0; i < n->size; i++) {                                            \
        float x = a[i];                                                                  \
        o[i] = (F32);                                                                    \
      }                                                                                  \
    }                                                                                    \
  }                                                                                      \
  const nb__prim nb__row_##ID = {NAME, 1, NB__ELEMENTWISE, infer_unary, eval_##ID};

NB__UNARY_ROWS(NB__UNARY_DEFINE)

/* stop_gradient: the identity for values (an alias of its operand's buffer),
 * zero for derivatives */
const nb__prim nb__row_STOP_GRADIENT = {"stop_gradient", 1, NB__ELEMENTWISE | NB__ALIAS,
                                        infer_unary, NULL};
