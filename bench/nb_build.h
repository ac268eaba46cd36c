/* The benchmark workloads as nabla functions (bench/nb_build.c). NULL on failure, with
 * the reason in nb_errmsg(). */
#ifndef NB_BENCH_BUILD_H
#define NB_BENCH_BUILD_H

#include <nabla.h>

#include "gmm.h"

nb_fn *nbw_poly(void);           /* B1: x f64[4] -> y f64[3] */
nb_fn *nbw_sqsin(int64_t n);     /* B2: x f64[n] -> x^2 + sin(x^2) */
nb_fn *nbw_mlp(int B, int IN, int H, int OUT); /* B3: (W1 b1 W2 b2 W3 b3 X Y) -> loss f32[] */
nb_fn *nbw_rosen(int64_t n);     /* B4: x f64[n] -> f64[] */
nb_fn *nbw_gmm(const gmm_data *D, int variant); /* B5: (alpha, means, icf) -> F */
nb_fn *nbw_mlp6(void);           /* B6: (x[3], W1[64,3], b1[64], W2[5,64], b2[5]) -> y[5] */

#endif
