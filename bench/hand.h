/* Hand-written C for every workload: the plain function and its hand-derived
 * derivatives, compiled -O3 -march=native with glibc's vector math (bench/hand.c). */
#ifndef NB_BENCH_HAND_H
#define NB_BENCH_HAND_H

#include <stdint.h>

#include "gmm.h"

/* B1: y_i = prod_j x_j^P[i][j], R^4 -> R^3 */
static const int hand_poly_pow[3][4] = {{6, 4, 9, 2}, {2, 3, 5, 3}, {5, 7, 7, 6}};
void hand_poly_f(const double *x, double *y);
void hand_poly_vjp(const double *x, const double *ct, double *y, double *xbar);
void hand_poly_jvp(const double *x, const double *t, double *y, double *ydot);
void hand_poly_jac(const double *x, double *J); /* [3][4] */

/* B2: y = x^2 + sin(x^2) */
void hand_sqsin_f(int64_t n, const double *x, double *y);
void hand_sqsin_vjp(int64_t n, const double *x, const double *ct, double *y, double *xbar);

/* B3: MLP IN-H-H-OUT, tanh, softmax cross-entropy averaged over the batch, f32.
 * W1 [IN,H], W2 [H,H], W3 [H,OUT] (x @ W + b); Y one-hot [B,OUT]. */
typedef struct hand_mlp {
  int          B, IN, H, OUT;
  const float *W1, *b1, *W2, *b2, *W3, *b3, *X, *Y;
  float       *A1, *A2, *Z3, *G1, *G2, *G3; /* scratch, allocated once by the caller */
} hand_mlp;
float hand_mlp_loss(hand_mlp *m);
/* returns the loss; g holds dW1 db1 dW2 db2 dW3 db3 */
float hand_mlp_grad(hand_mlp *m, float *const g[6]);

/* B4: Rosenbrock sum_{i<n-1} 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2 */
double hand_rosen_f(int64_t n, const double *x);
void   hand_rosen_grad(int64_t n, const double *x, double *g);
void   hand_rosen_hvp(int64_t n, const double *x, const double *v, double *hv);

/* B5: ADBench GMM objective and gradient; scratch holds hand_gmm_scratch(D) doubles and
 * is set up once by hand_gmm_prepare (the data points, transposed) */
int64_t hand_gmm_scratch(const gmm_data *D);
void    hand_gmm_prepare(const gmm_data *D, double *scratch);
double  hand_gmm_f(const gmm_data *D, const double *alpha, const double *means, const double *icf,
                   double *scratch);
double  hand_gmm_grad(const gmm_data *D, const double *alpha, const double *means,
                      const double *icf, double *galpha, double *gmeans, double *gicf,
                      double *scratch);

/* B6: y = W2 tanh(W1 x + b1) + b2, 3 -> 64 -> 5, f64; W1 [64,3], W2 [5,64] */
enum { M6_IN = 3, M6_H = 64, M6_OUT = 5 };
void hand_mlp6_f(const double *x, const double *W1, const double *b1, const double *W2,
                 const double *b2, double *y);
void hand_mlp6_jac(const double *x, const double *W1, const double *b1, const double *W2,
                   double *J); /* [5][3] */

#endif
