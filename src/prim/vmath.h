/* Vector math: when the build found glibc's vector math library (libmvec),
 * these declarations tell the compiler that SIMD versions of the libm
 * functions exist, so the elementwise kernels' plain loops are vectorized
 * with them (CMake checks that they link; see NB_VECTOR_MATH). Without it,
 * the same loops call the scalar functions. */
#ifndef NB_VMATH_H
#define NB_VMATH_H

#include <math.h>

/* the libm functions that have SIMD versions (the C emitter lists them too) */
#define NB__VMATH_UNARY(X)                                                                 \
  X(exp) X(expm1) X(log) X(log1p) X(sin) X(cos) X(tan) X(asin) X(acos) X(atan) X(sinh)    \
  X(cosh) X(tanh) X(erf)
#define NB__VMATH_BINARY(X) X(pow) X(atan2)

#if defined(NB_VECTOR_MATH)
#define NB__SIMD(decl) _Pragma("omp declare simd notinbranch") decl;
#define NB__SIMD_BOTH(fn)                                                                  \
  NB__SIMD(double fn(double))                                                              \
  NB__SIMD(float fn##f(float))
#define NB__SIMD_BOTH2(fn)                                                                 \
  NB__SIMD(double fn(double, double))                                                      \
  NB__SIMD(float fn##f(float, float))
NB__VMATH_UNARY(NB__SIMD_BOTH)
NB__VMATH_BINARY(NB__SIMD_BOTH2)
#undef NB__SIMD_BOTH
#undef NB__SIMD_BOTH2
#undef NB__SIMD
#endif

#endif
