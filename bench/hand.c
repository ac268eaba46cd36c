/* Hand-written C: each workload's plain function and hand-derived derivatives, the way
 * one would write them for speed in plain C (fused loops, no temporaries beyond what
 * the math needs). Compiled -O3 -march=native -fopenmp-simd with glibc's vector math
 * (libmvec) declared below, and -fno-builtin-sin -fno-builtin-cos so that gcc does not
 * merge sin and cos of one argument into the scalar sincos. */
#include <math.h>
#include <string.h>

#include "hand.h"

/* glibc's vector variants (libmvec), as <math.h> declares them under -ffast-math */
#pragma omp declare simd notinbranch
extern double sin(double);
#pragma omp declare simd notinbranch
extern double cos(double);
#pragma omp declare simd notinbranch
extern double exp(double);
#pragma omp declare simd notinbranch
extern double log(double);
#pragma omp declare simd notinbranch
extern double tanh(double);
#pragma omp declare simd notinbranch
extern float tanhf(float);
#pragma omp declare simd notinbranch
extern float expf(float);

/* ============================================================ B1: seed polynomial */

static inline double ipow(double x, int p) {
  double r = 1;
  for (int k = 0; k < p; k++) r *= x;
  return r;
}

void hand_poly_f(const double *x, double *y) {
  for (int i = 0; i < 3; i++) {
    double r = 1;
    for (int j = 0; j < 4; j++) r *= ipow(x[j], hand_poly_pow[i][j]);
    y[i] = r;
  }
}

/* y and J, J[i][j] = P_ij x_j^(P_ij - 1) prod_{k != j} x_k^P_ik */
static inline void poly_jac(const double *x, double *y, double J[3][4]) {
  for (int i = 0; i < 3; i++) {
    double pw[4], dp[4];
    for (int j = 0; j < 4; j++) {
      int p = hand_poly_pow[i][j];
      dp[j] = p * ipow(x[j], p - 1);
      pw[j] = ipow(x[j], p);
    }
    double a01 = pw[0] * pw[1], a23 = pw[2] * pw[3];
    y[i] = a01 * a23;
    J[i][0] = dp[0] * pw[1] * a23;
    J[i][1] = dp[1] * pw[0] * a23;
    J[i][2] = dp[2] * pw[3] * a01;
    J[i][3] = dp[3] * pw[2] * a01;
  }
}

void hand_poly_vjp(const double *x, const double *ct, double *y, double *xbar) {
  double J[3][4];
  poly_jac(x, y, J);
  for (int j = 0; j < 4; j++) xbar[j] = ct[0] * J[0][j] + ct[1] * J[1][j] + ct[2] * J[2][j];
}

void hand_poly_jvp(const double *x, const double *t, double *y, double *ydot) {
  double J[3][4];
  poly_jac(x, y, J);
  for (int i = 0; i < 3; i++)
    ydot[i] = J[i][0] * t[0] + J[i][1] * t[1] + J[i][2] * t[2] + J[i][3] * t[3];
}

void hand_poly_jac(const double *x, double *J) {
  double y[3];
  poly_jac(x, y, (double(*)[4])J);
}

/* ========================================================= B2: x^2 + sin(x^2) */

void hand_sqsin_f(int64_t n, const double *restrict x, double *restrict y) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    double t = x[i] * x[i];
    y[i] = t + sin(t);
  }
}

void hand_sqsin_vjp(int64_t n, const double *restrict x, const double *restrict ct,
                    double *restrict y, double *restrict xbar) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) {
    double t = x[i] * x[i];
    y[i] = t + sin(t);
    xbar[i] = ct[i] * 2 * x[i] * (1 + cos(t));
  }
}

/* =================================================================== B3: MLP */

/* C[M,N] = A B + bias, A(i,k) = A[i*sai + k*sak], B row-major [K,N]; 4 rows at a time */
static void gemm_nn(int M, int N, int K, const float *A, int64_t sai, int64_t sak,
                    const float *B, const float *bias, float *C) {
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    float *restrict c0 = C + (int64_t)i * N, *restrict c1 = c0 + N, *restrict c2 = c1 + N,
                    *restrict c3 = c2 + N;
    for (int j = 0; j < N; j++) c0[j] = c1[j] = c2[j] = c3[j] = bias ? bias[j] : 0.0f;
    for (int k = 0; k < K; k++) {
      const float *restrict b = B + (int64_t)k * N;
      const float a0 = A[i * sai + k * sak], a1 = A[(i + 1) * sai + k * sak];
      const float a2 = A[(i + 2) * sai + k * sak], a3 = A[(i + 3) * sai + k * sak];
#pragma omp simd
      for (int j = 0; j < N; j++) {
        c0[j] += a0 * b[j];
        c1[j] += a1 * b[j];
        c2[j] += a2 * b[j];
        c3[j] += a3 * b[j];
      }
    }
  }
  for (; i < M; i++) {
    float *restrict c0 = C + (int64_t)i * N;
    for (int j = 0; j < N; j++) c0[j] = bias ? bias[j] : 0.0f;
    for (int k = 0; k < K; k++) {
      const float *restrict b = B + (int64_t)k * N;
      const float a0 = A[i * sai + k * sak];
#pragma omp simd
      for (int j = 0; j < N; j++) c0[j] += a0 * b[j];
    }
  }
}

/* C[M,N] = A W^T, A [M,K], W [N,K] */
static void gemm_nt(int M, int N, int K, const float *A, const float *W, float *C) {
  for (int i = 0; i < M; i++) {
    const float *restrict a = A + (int64_t)i * K;
    for (int j = 0; j < N; j++) {
      const float *restrict w = W + (int64_t)j * K;
      float s = 0;
#pragma omp simd reduction(+ : s)
      for (int k = 0; k < K; k++) s += a[k] * w[k];
      C[(int64_t)i * N + j] = s;
    }
  }
}

static void tanh_inplace(int64_t n, float *restrict v) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) v[i] = tanhf(v[i]);
}

/* forward pass; leaves A1, A2, Z3; returns the loss */
static float mlp_forward(hand_mlp *m) {
  int B = m->B, IN = m->IN, H = m->H, OUT = m->OUT;
  gemm_nn(B, H, IN, m->X, IN, 1, m->W1, m->b1, m->A1);
  tanh_inplace((int64_t)B * H, m->A1);
  gemm_nn(B, H, H, m->A1, H, 1, m->W2, m->b2, m->A2);
  tanh_inplace((int64_t)B * H, m->A2);
  gemm_nn(B, OUT, H, m->A2, H, 1, m->W3, m->b3, m->Z3);
  double loss = 0;
  for (int b = 0; b < B; b++) {
    const float *z = m->Z3 + (int64_t)b * OUT, *y = m->Y + (int64_t)b * OUT;
    float mx = z[0], s = 0, ys = 0, yz = 0;
    for (int o = 1; o < OUT; o++) mx = z[o] > mx ? z[o] : mx;
    for (int o = 0; o < OUT; o++) s += expf(z[o] - mx), ys += y[o], yz += y[o] * z[o];
    loss += (double)((mx + logf(s)) * ys - yz);
  }
  return (float)(loss / B);
}

float hand_mlp_loss(hand_mlp *m) { return mlp_forward(m); }

/* g *= tanh'(z) for a = tanh(z): 1 - a^2 */
static void times_dtanh(int64_t n, float *restrict g, const float *restrict a) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) g[i] *= 1 - a[i] * a[i];
}

static void col_sums(int B, int N, const float *G, float *out) {
  for (int j = 0; j < N; j++) out[j] = 0;
  for (int b = 0; b < B; b++) {
    const float *restrict g = G + (int64_t)b * N;
#pragma omp simd
    for (int j = 0; j < N; j++) out[j] += g[j];
  }
}

float hand_mlp_grad(hand_mlp *m, float *const g[6]) {
  int   B = m->B, IN = m->IN, H = m->H, OUT = m->OUT;
  float loss = mlp_forward(m);
  /* G3 = (softmax(Z3) sum(Y) - Y) / B */
  for (int b = 0; b < B; b++) {
    const float *z = m->Z3 + (int64_t)b * OUT, *y = m->Y + (int64_t)b * OUT;
    float       *g3 = m->G3 + (int64_t)b * OUT, mx = z[0], s = 0, ys = 0;
    for (int o = 1; o < OUT; o++) mx = z[o] > mx ? z[o] : mx;
    for (int o = 0; o < OUT; o++) g3[o] = expf(z[o] - mx), s += g3[o], ys += y[o];
    for (int o = 0; o < OUT; o++) g3[o] = (g3[o] / s * ys - y[o]) / (float)B;
  }
  /* dW3 = A2^T G3, db3 = colsum G3, G2 = (G3 W3^T) (1 - A2^2) */
  gemm_nn(H, OUT, B, m->A2, 1, H, m->G3, NULL, g[4]);
  col_sums(B, OUT, m->G3, g[5]);
  gemm_nt(B, H, OUT, m->G3, m->W3, m->G2);
  times_dtanh((int64_t)B * H, m->G2, m->A2);
  /* dW2 = A1^T G2, db2, G1 = (G2 W2^T) (1 - A1^2) */
  gemm_nn(H, H, B, m->A1, 1, H, m->G2, NULL, g[2]);
  col_sums(B, H, m->G2, g[3]);
  gemm_nt(B, H, H, m->G2, m->W2, m->G1);
  times_dtanh((int64_t)B * H, m->G1, m->A1);
  /* dW1 = X^T G1, db1 */
  gemm_nn(IN, H, B, m->X, 1, IN, m->G1, NULL, g[0]);
  col_sums(B, H, m->G1, g[1]);
  return loss;
}

/* ============================================================= B4: Rosenbrock */

double hand_rosen_f(int64_t n, const double *restrict x) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n - 1; i++) {
    double a = x[i + 1] - x[i] * x[i], b = 1 - x[i];
    s += 100 * a * a + b * b;
  }
  return s;
}

void hand_rosen_grad(int64_t n, const double *restrict x, double *restrict g) {
  if (n < 2) {
    for (int64_t i = 0; i < n; i++) g[i] = 0;
    return;
  }
  g[0] = -400 * x[0] * (x[1] - x[0] * x[0]) - 2 * (1 - x[0]);
#pragma omp simd
  for (int64_t i = 1; i < n - 1; i++)
    g[i] = -400 * x[i] * (x[i + 1] - x[i] * x[i]) - 2 * (1 - x[i]) +
           200 * (x[i] - x[i - 1] * x[i - 1]);
  g[n - 1] = 200 * (x[n - 1] - x[n - 2] * x[n - 2]);
}

void hand_rosen_hvp(int64_t n, const double *restrict x, const double *restrict v,
                    double *restrict hv) {
  if (n < 2) {
    for (int64_t i = 0; i < n; i++) hv[i] = 0;
    return;
  }
  hv[0] = (1200 * x[0] * x[0] - 400 * x[1] + 2) * v[0] - 400 * x[0] * v[1];
#pragma omp simd
  for (int64_t i = 1; i < n - 1; i++)
    hv[i] = (1200 * x[i] * x[i] - 400 * x[i + 1] + 202) * v[i] - 400 * x[i] * v[i + 1] -
            400 * x[i - 1] * v[i - 1];
  hv[n - 1] = 200 * v[n - 1] - 400 * x[n - 2] * v[n - 2];
}

/* =================================================================== B5: GMM
 * Vectorized over the data points: x is kept transposed ([d][n], made once by
 * hand_gmm_prepare, as nabla keeps it as a constant), and every loop over points is a
 * simd loop. Scratch layout (doubles): Q [K d d], gQ [K d d], sumq [K], xT [d n],
 * Z [d n], Y [d n], beta [K n], lse [n], t [n], w [n]. */

typedef struct gmm_scr {
  double *Q, *gQ, *sumq, *xT, *Z, *Y, *beta, *lse, *t, *w;
} gmm_scr;

static gmm_scr gmm_layout(const gmm_data *D, double *s) {
  int64_t d = D->d, K = D->K, n = D->n;
  gmm_scr r;
  r.Q = s, r.gQ = r.Q + K * d * d, r.sumq = r.gQ + K * d * d, r.xT = r.sumq + K;
  r.Z = r.xT + d * n, r.Y = r.Z + d * n, r.beta = r.Y + d * n, r.lse = r.beta + K * n;
  r.t = r.lse + n, r.w = r.t + n;
  return r;
}

int64_t hand_gmm_scratch(const gmm_data *D) {
  int64_t d = D->d, K = D->K, n = D->n;
  return 2 * K * d * d + K + 3 * d * n + K * n + 3 * n;
}

void hand_gmm_prepare(const gmm_data *D, double *scratch) {
  gmm_scr s = gmm_layout(D, scratch);
  int     d = D->d, n = D->n;
  for (int i = 0; i < n; i++)
    for (int c = 0; c < d; c++) s.xT[(int64_t)c * n + i] = D->x[(int64_t)i * d + c];
}

/* dense lower-triangular Q [K][d][d] and sum(q) [K] from icf */
static void gmm_build_q(const gmm_data *D, const double *icf, double *Q, double *sumq) {
  int d = D->d, K = D->K, T = D->T;
  memset(Q, 0, (size_t)K * d * d * sizeof *Q);
  for (int k = 0; k < K; k++) {
    const double *row = icf + (int64_t)k * T;
    double       *q = Q + (int64_t)k * d * d, s = 0;
    for (int j = 0; j < d; j++) q[j * d + j] = exp(row[j]), s += row[j];
    for (int c = 0, p = d; c < d; c++)
      for (int j = c + 1; j < d; j++) q[j * d + c] = row[p++];
    sumq[k] = s;
  }
}

static double lse(int n, const double *v) {
  double mx = v[0], s = 0;
  for (int k = 1; k < n; k++) mx = v[k] > mx ? v[k] : mx;
  for (int k = 0; k < n; k++) s += exp(v[k] - mx);
  return mx + log(s);
}

static double gmm_prior(const gmm_data *D, const double *icf) {
  int    d = D->d, K = D->K, T = D->T;
  double frob = 0, sq = 0;
  for (int k = 0; k < K; k++) {
    const double *row = icf + (int64_t)k * T;
    for (int j = 0; j < d; j++) frob += exp(2 * row[j]), sq += row[j];
    for (int p = d; p < T; p++) frob += row[p] * row[p];
  }
  return 0.5 * D->gamma * D->gamma * frob - D->m * sq;
}

/* Z = x - mu_k and Y = Q_k Z (all d rows), for component k */
static void gmm_zy(const gmm_data *D, const gmm_scr *s, int k, const double *means) {
  int64_t       d = D->d, n = D->n;
  const double *mu = means + k * d, *q = s->Q + k * d * d;
  for (int64_t c = 0; c < d; c++) {
    const double *restrict xt = s->xT + c * n;
    double *restrict z = s->Z + c * n;
    const double m = mu[c];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) z[i] = xt[i] - m;
  }
  for (int64_t j = 0; j < d; j++) {
    double *restrict y = s->Y + j * n;
    const double *restrict zj = s->Z + j * n;
    const double qjj = q[j * d + j];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) y[i] = qjj * zj[i];
    for (int64_t c = 0; c < j; c++) {
      const double *restrict zc = s->Z + c * n;
      const double qjc = q[j * d + c];
#pragma omp simd
      for (int64_t i = 0; i < n; i++) y[i] += qjc * zc[i];
    }
  }
}

/* beta [K n] and lse [n]; returns sum_i lse_i */
static double gmm_forward(const gmm_data *D, const gmm_scr *s, const double *alpha,
                          const double *means) {
  int64_t d = D->d, K = D->K, n = D->n;
  for (int k = 0; k < K; k++) {
    gmm_zy(D, s, k, means);
    double *restrict sq = s->t;
    for (int64_t i = 0; i < n; i++) sq[i] = 0;
    for (int64_t j = 0; j < d; j++) {
      const double *restrict y = s->Y + j * n;
#pragma omp simd
      for (int64_t i = 0; i < n; i++) sq[i] += y[i] * y[i];
    }
    double *restrict b = s->beta + k * n;
    const double base = alpha[k] + s->sumq[k];
#pragma omp simd
    for (int64_t i = 0; i < n; i++) b[i] = base - 0.5 * sq[i];
  }
  double *restrict mx = s->t, *restrict l = s->lse;
  for (int64_t i = 0; i < n; i++) mx[i] = s->beta[i], l[i] = 0;
  for (int64_t k = 1; k < K; k++) {
    const double *restrict b = s->beta + k * n;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) mx[i] = b[i] > mx[i] ? b[i] : mx[i];
  }
  for (int64_t k = 0; k < K; k++) {
    const double *restrict b = s->beta + k * n;
#pragma omp simd
    for (int64_t i = 0; i < n; i++) l[i] += exp(b[i] - mx[i]);
  }
  double total = 0;
#pragma omp simd reduction(+ : total)
  for (int64_t i = 0; i < n; i++) {
    l[i] = mx[i] + log(l[i]);
    total += l[i];
  }
  return total;
}

double hand_gmm_f(const gmm_data *D, const double *alpha, const double *means, const double *icf,
                  double *scratch) {
  gmm_scr s = gmm_layout(D, scratch);
  gmm_build_q(D, icf, s.Q, s.sumq);
  double total = gmm_forward(D, &s, alpha, means);
  return gmm_const(D) + total - D->n * lse(D->K, alpha) + gmm_prior(D, icf);
}

double hand_gmm_grad(const gmm_data *D, const double *alpha, const double *means,
                     const double *icf, double *galpha, double *gmeans, double *gicf,
                     double *scratch) {
  int64_t d = D->d, K = D->K, n = D->n, T = D->T;
  gmm_scr s = gmm_layout(D, scratch);
  gmm_build_q(D, icf, s.Q, s.sumq);
  double total = gmm_forward(D, &s, alpha, means);
  double g2 = D->gamma * D->gamma, la = lse((int)K, alpha);
  for (int64_t k = 0; k < K; k++) {
    /* w = softmax over k of beta; d beta/d mu = Q^T y; d beta/d Q[j][c] = -y_j z_c */
    gmm_zy(D, &s, (int)k, means);
    const double *restrict b = s.beta + k * n, *restrict l = s.lse;
    double *restrict w = s.w;
    double sw = 0;
#pragma omp simd reduction(+ : sw)
    for (int64_t i = 0; i < n; i++) {
      w[i] = exp(b[i] - l[i]);
      sw += w[i];
    }
    const double *q = s.Q + k * d * d;
    double       *gq = s.gQ + k * d * d, *gm = gmeans + k * d, *gi = gicf + k * T;
    for (int64_t c = 0; c < d; c++) gm[c] = 0;
    for (int64_t j = 0; j < d; j++) {
      double *restrict y = s.Y + j * n;
      double r = 0;
#pragma omp simd reduction(+ : r)
      for (int64_t i = 0; i < n; i++) {
        y[i] *= w[i];
        r += y[i];
      }
      for (int64_t c = 0; c <= j; c++) {
        const double *restrict z = s.Z + c * n;
        double acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t i = 0; i < n; i++) acc += y[i] * z[i];
        gq[j * d + c] = -acc;
        gm[c] += q[j * d + c] * r;
      }
    }
    galpha[k] = sw - n * exp(alpha[k] - la);
    /* icf: Q's diagonal is exp(q), and sum(q) enters beta with weight sum_i w_ik; prior */
    const double *row = icf + k * T;
    for (int64_t j = 0; j < d; j++) {
      double e = q[j * d + j];
      gi[j] = sw + gq[j * d + j] * e + g2 * e * e - D->m;
    }
    for (int64_t c = 0, p = d; c < d; c++)
      for (int64_t j = c + 1; j < d; j++, p++) gi[p] = gq[j * d + c] + g2 * row[p];
  }
  return gmm_const(D) + total - n * la + gmm_prior(D, icf);
}

/* ========================================================= B6: small MLP jacobian */

void hand_mlp6_f(const double *x, const double *W1, const double *b1, const double *W2,
                 const double *b2, double *y) {
  double h[M6_H];
  for (int j = 0; j < M6_H; j++)
    h[j] = tanh(b1[j] + W1[j * 3] * x[0] + W1[j * 3 + 1] * x[1] + W1[j * 3 + 2] * x[2]);
  for (int o = 0; o < M6_OUT; o++) {
    double s = b2[o];
    for (int j = 0; j < M6_H; j++) s += W2[o * M6_H + j] * h[j];
    y[o] = s;
  }
}

void hand_mlp6_jac(const double *x, const double *W1, const double *b1, const double *W2,
                   double *J) {
  double dh[M6_H];
  for (int j = 0; j < M6_H; j++) {
    double h = tanh(b1[j] + W1[j * 3] * x[0] + W1[j * 3 + 1] * x[1] + W1[j * 3 + 2] * x[2]);
    dh[j] = 1 - h * h;
  }
  for (int o = 0; o < M6_OUT; o++) {
    double s0 = 0, s1 = 0, s2 = 0;
    for (int j = 0; j < M6_H; j++) {
      double a = W2[o * M6_H + j] * dh[j];
      s0 += a * W1[j * 3], s1 += a * W1[j * 3 + 1], s2 += a * W1[j * 3 + 2];
    }
    J[o * 3] = s0, J[o * 3 + 1] = s1, J[o * 3 + 2] = s2;
  }
}
