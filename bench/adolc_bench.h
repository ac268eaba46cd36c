/* ADOL-C side of the benchmark (bench/adolc_bench.cpp, built only when ADOL-C is
 * installed: NB_HAVE_ADOLC). Each ad_record_* records a tape once at the given point and
 * returns its tag (negative on failure); the ad_* drivers replay it. They return a
 * negative value when ADOL-C reports a failure. */
#ifndef NB_BENCH_ADOLC_H
#define NB_BENCH_ADOLC_H

#include <stdint.h>

#include "gmm.h"

#ifdef __cplusplus
extern "C" {
#endif

int ad_record_poly(const double *x);
int ad_record_sqsin(int64_t n, const double *x);
int ad_record_rosen(int64_t n, const double *x);
int ad_record_gmm(const gmm_data *D, const double *alpha, const double *means, const double *icf);
int ad_record_mlp6(const double *x, const double *W1, const double *b1, const double *W2,
                   const double *b2);
/* operations on the tape (for the report) */
int64_t ad_tape_ops(int tag);
void    ad_remove(int tag);

int ad_function(int tag, int m, int n, const double *x, double *y);
int ad_vjp(int tag, int m, int n, const double *x, const double *u, double *y, double *xbar);
int ad_jvp(int tag, int m, int n, const double *x, const double *t, double *y, double *ydot);
int ad_jacobian(int tag, int m, int n, const double *x, double **J);
int ad_gradient(int tag, int n, const double *x, double *g);
int ad_hess_vec(int tag, int n, const double *x, const double *v, double *w);

#ifdef __cplusplus
}
#endif
#endif
