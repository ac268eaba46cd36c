// ADOL-C side of the benchmark: each workload recorded once as a tape (operator
// overloading on adouble, the way ADOL-C is used), then replayed through ADOL-C's
// drivers: function() / zos_forward, fos_forward, zos_forward + fos_reverse for a VJP,
// gradient(), jacobian(), hess_vec().
#include <adolc/adolc.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "adolc_bench.h"
#include "hand.h"

static short next_tag = 1;

// tape buffer sizes: large enough to keep the whole tape in memory (no tape files)
static unsigned bufsize(double est) {
  double lo = 524288.0, hi = 2147483647.0;
  return (unsigned)std::min(hi, std::max(lo, est * 1.25));
}

static short start(double est_ops) {
  short    tag = next_tag++;
  // taylor buffer: hess_vec keeps two values per operation
  trace_on(tag, 0, bufsize(est_ops), bufsize(3.0 * est_ops), bufsize(est_ops / 4),
           bufsize(3.0 * est_ops));
  return tag;
}

int ad_record_poly(const double *x) {
  short   tag = start(100);
  adouble ax[4];
  for (int j = 0; j < 4; j++) ax[j] <<= x[j];
  for (int i = 0; i < 3; i++) {
    adouble r = pow(ax[0], (double)hand_poly_pow[i][0]);
    for (int j = 1; j < 4; j++) r *= pow(ax[j], (double)hand_poly_pow[i][j]);
    double y;
    r >>= y;
  }
  trace_off();
  return tag;
}

int ad_record_sqsin(int64_t n, const double *x) {
  short tag = start(6.0 * (double)n);
  for (int64_t i = 0; i < n; i++) {
    adouble xi;
    xi <<= x[i];
    adouble t = xi * xi;
    adouble y = t + sin(t);
    double  yv;
    y >>= yv;
  }
  trace_off();
  return tag;
}

int ad_record_rosen(int64_t n, const double *x) {
  short   tag = start(12.0 * (double)n);
  adouble s = 0.0, prev;
  prev <<= x[0];
  for (int64_t i = 1; i < n; i++) {
    adouble xi;
    xi <<= x[i];
    adouble a = xi - prev * prev, b = 1.0 - prev;
    s += 100.0 * a * a + b * b;
    prev = xi;
  }
  double f;
  s >>= f;
  trace_off();
  return tag;
}

static adouble lse(const std::vector<adouble> &v) {
  // the shift is passive (as ADBench's ADOL-C module does): it cancels in value and
  // derivative, and a comparison of adoubles is not recorded anyway
  double mx = v[0].getValue();
  for (size_t k = 1; k < v.size(); k++) mx = std::max(mx, v[k].getValue());
  adouble s = 0.0;
  for (size_t k = 0; k < v.size(); k++) s += exp(v[k] - mx);
  return mx + log(s);
}

int ad_record_gmm(const gmm_data *D, const double *alpha, const double *means, const double *icf) {
  int   d = D->d, K = D->K, n = D->n, T = D->T;
  short tag = start((double)n * K * (2.0 * d * d + 4.0 * d + 8) + 10.0 * K * T);
  std::vector<adouble> a(K), mu((size_t)K * d), ic((size_t)K * T);
  for (int k = 0; k < K; k++) a[k] <<= alpha[k];
  for (int k = 0; k < K * d; k++) mu[k] <<= means[k];
  for (int k = 0; k < K * T; k++) ic[k] <<= icf[k];
  std::vector<adouble> eq((size_t)K * d), sumq(K), beta(K), z(d);
  for (int k = 0; k < K; k++) {
    sumq[k] = 0.0;
    for (int j = 0; j < d; j++) eq[k * d + j] = exp(ic[k * T + j]), sumq[k] += ic[k * T + j];
  }
  std::vector<int64_t> pos((size_t)d * d);
  gmm_positions(d, pos.data());
  adouble total = 0.0;
  for (int i = 0; i < n; i++) {
    const double *xi = D->x + (int64_t)i * d;
    for (int k = 0; k < K; k++) {
      for (int c = 0; c < d; c++) z[c] = xi[c] - mu[k * d + c];
      adouble sq = 0.0;
      for (int j = 0; j < d; j++) {
        adouble y = eq[k * d + j] * z[j];
        for (int c = 0; c < j; c++) y += ic[k * T + pos[j * d + c]] * z[c];
        sq += y * y;
      }
      beta[k] = a[k] + sumq[k] - 0.5 * sq;
    }
    total += lse(beta);
  }
  adouble frob = 0.0, qs = 0.0;
  for (int k = 0; k < K; k++) {
    for (int j = 0; j < d; j++) frob += eq[k * d + j] * eq[k * d + j], qs += ic[k * T + j];
    for (int p = d; p < T; p++) frob += ic[k * T + p] * ic[k * T + p];
  }
  adouble F = gmm_const(D) + total - (double)n * lse(a) + 0.5 * D->gamma * D->gamma * frob -
              (double)D->m * qs;
  double f;
  F >>= f;
  trace_off();
  return tag;
}

int ad_record_mlp6(const double *x, const double *W1, const double *b1, const double *W2,
                   const double *b2) {
  short   tag = start(2000);
  adouble ax[M6_IN], h[M6_H];
  for (int i = 0; i < M6_IN; i++) ax[i] <<= x[i];
  for (int j = 0; j < M6_H; j++) {
    adouble s = b1[j];
    for (int i = 0; i < M6_IN; i++) s += W1[j * M6_IN + i] * ax[i];
    h[j] = tanh(s);
  }
  for (int o = 0; o < M6_OUT; o++) {
    adouble s = b2[o];
    for (int j = 0; j < M6_H; j++) s += W2[o * M6_H + j] * h[j];
    double y;
    s >>= y;
  }
  trace_off();
  return tag;
}

int64_t ad_tape_ops(int tag) {
  size_t st[STAT_SIZE];
  tapestats((short)tag, st);
  return (int64_t)st[NUM_OPERATIONS];
}

void ad_remove(int tag) { removeTape((short)tag, ADOLC_REMOVE_COMPLETELY); }

int ad_function(int tag, int m, int n, const double *x, double *y) {
  return zos_forward((short)tag, m, n, 0, x, y);
}

int ad_vjp(int tag, int m, int n, const double *x, const double *u, double *y, double *xbar) {
  int rc = zos_forward((short)tag, m, n, 1, x, y);
  if (rc < 0) return rc;
  return fos_reverse((short)tag, m, n, const_cast<double *>(u), xbar);
}

int ad_jvp(int tag, int m, int n, const double *x, const double *t, double *y, double *ydot) {
  return fos_forward((short)tag, m, n, 0, const_cast<double *>(x), const_cast<double *>(t), y,
                     ydot);
}

int ad_jacobian(int tag, int m, int n, const double *x, double **J) {
  return jacobian((short)tag, m, n, x, J);
}

int ad_gradient(int tag, int n, const double *x, double *g) {
  return gradient((short)tag, n, x, g);
}

int ad_hess_vec(int tag, int n, const double *x, const double *v, double *w) {
  return hess_vec((short)tag, n, const_cast<double *>(x), const_cast<double *>(v), w);
}
