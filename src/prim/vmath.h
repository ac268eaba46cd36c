/* Vector math: when the build found glibc's vector math library (libmvec),
 * these declarations tell the compiler that SIMD versions of the libm
 * functions exist, so the elementwise kernels' plain loops are vectorized
 * with them (CMake checks that they link; see NB_VECTOR_MATH). Without it,
 * the same loops call the scalar functions. */
#ifndef NB_VMATH_H
#define NB_VMATH_H

#include <math.h>

#if defined(NB_VECTOR_MATH)
#define NB__SIMD(decl) _Pragma("omp declare simd notinbranch") decl;
#define NB__SIMD_BOTH(fn)                                                                  \
  NB__SIMD(double fn(double))                                                              \
  NB__SIMD(float fn##f(float))
#define NB__SIMD_BOTH2(fn)                                                                 \
  NB__SIMD(double fn(double, double))                                                      \
  NB__SIMD(float fn##f(float, float))
NB__SIMD_BOTH(exp)
NB__SIMD_BOTH(expm1)
NB__SIMD_BOTH(log)
NB__SIMD_BOTH(log1p)
NB__SIMD_BOTH(sin)
NB__SIMD_BOTH(cos)
NB__SIMD_BOTH(tan)
NB__SIMD_BOTH(asin)
NB__SIMD_BOTH(acos)
NB__SIMD_BOTH(atan)
NB__SIMD_BOTH(sinh)
NB__SIMD_BOTH(cosh)
NB__SIMD_BOTH(tanh)
NB__SIMD_BOTH(erf)
NB__SIMD_BOTH2(pow)
NB__SIMD_BOTH2(atan2)
#undef NB__SIMD_BOTH
#undef NB__SIMD_BOTH2
#undef NB__SIMD
#endif

#endif
