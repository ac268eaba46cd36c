/* Scalar helpers the elementwise formulas call. They are written once, as a
 * macro: the kernels instantiate it, and the C emitter pastes its text
 * (nb__scalar_text) into every generated file, so compiled and interpreted
 * functions compute with the same definitions. */
#ifndef NB_SCALAR_H
#define NB_SCALAR_H

#include <math.h>

#include "../internal.h"

/* sign keeps 0, -0 and NaN as they are; the logistic function does not
 * overflow for large |x|; x^k for a small integer k by repeated squaring
 * (exact in sign for negative bases, much cheaper than pow) */
#define NB__SCALAR_HELPERS                                                               \
  static inline double nb_sign64(double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : x; }    \
  static inline float  nb_sign32(float x) { return x > 0 ? 1.0f : x < 0 ? -1.0f : x; }   \
  static inline double nb_logistic64(double x) {                                         \
    if (x >= 0) return 1.0 / (1.0 + exp(-x));                                            \
    double e = exp(x);                                                                   \
    return e / (1.0 + e);                                                                \
  }                                                                                      \
  static inline float nb_logistic32(float x) {                                           \
    if (x >= 0) return 1.0f / (1.0f + expf(-x));                                         \
    float e = expf(x);                                                                   \
    return e / (1.0f + e);                                                               \
  }                                                                                      \
  static inline double nb_powi64(double x, int k) {                                      \
    double r = 1;                                                                        \
    for (int e = k < 0 ? -k : k; e; e >>= 1, x *= x)                                     \
      if (e & 1) r *= x;                                                                 \
    return k < 0 ? 1 / r : r;                                                            \
  }                                                                                      \
  static inline float nb_powi32(float x, int k) {                                        \
    float r = 1;                                                                         \
    for (int e = k < 0 ? -k : k; e; e >>= 1, x *= x)                                     \
      if (e & 1) r *= x;                                                                 \
    return k < 0 ? 1 / r : r;                                                            \
  }

/* the kernels' own copies: expanded here, in a header, so that a file
 * using only some of them draws no unused-function warning */
NB__SCALAR_HELPERS

/* the largest |k| for which x^k runs as repeated squaring */
enum { NB__POWI_MAX = 16 };
/* when b, the exponent of a pow, is such a fill: true, and its value in *k */
bool nb__powi_exponent(const nb__node *b, int *k);

#define NB__STR_(...) #__VA_ARGS__
#define NB__STR(...) NB__STR_(__VA_ARGS__)

/* the helpers' source text (emit/c.c) */
extern const char nb__scalar_text[];

#endif
