/* The ADBench GMM objective built with nabla: shared by the benchmark
 * (bench/nb_build.c) and the tests (tests/test_adbench.c). */
#ifndef NB_BENCH_GMM_NABLA_H
#define NB_BENCH_GMM_NABLA_H

#include <nabla.h>

#include "gmm.h"

/* F(alpha [K], means [K,d], icf [K,T]) with nabla operations, as a user would
 * write it. Variant 0 builds Q through nb_concat + nb_take, variant 1 through
 * constant scatter matrices and nb_matmul. NULL on failure. */
static inline nb_fn *gmm_nabla(const gmm_data *D, int variant) {
  int       d = D->d, K = D->K, n = D->n, T = D->T;
  nb_graph *g = nb_graph_new();
  int64_t   sa[1] = {K}, sm[2] = {K, d}, si[2] = {K, T};
  nb_expr  *alpha = nb_input(g, "alpha", NB_F64, 1, sa);
  nb_expr  *means = nb_input(g, "means", NB_F64, 2, sm);
  nb_expr  *icf = nb_input(g, "icf", NB_F64, 2, si);
  nb_expr  *q = nb_slice(icf, 1, 0, d, 1), *l = nb_slice(icf, 1, d, T, 1), *eq = nb_exp(q);
  nb_expr  *Qflat;
  int64_t  *pos = (int64_t *)malloc((size_t)(d * d) * sizeof *pos);
  if (!pos) return nb_graph_free(g), NULL;
  gmm_positions(d, pos);
  if (variant == 0) {
    int64_t  sz[2] = {K, 1};
    nb_expr *parts[3] = {eq, l, nb_full(g, NB_F64, 2, sz, 0.0)};
    nb_expr *cat = nb_concat(3, parts, 1); /* [K, T+1], the last column is 0 */
    int64_t *idx = malloc((size_t)(d * d) * sizeof *idx);
    if (!idx) return free(pos), nb_graph_free(g), NULL;
    for (int k = 0; k < d * d; k++) idx[k] = pos[k] < 0 ? T : pos[k];
    Qflat = nb_take(cat, 1, d * d, idx);
    free(idx);
  } else {
    double *S = calloc((size_t)T * d * d, sizeof *S); /* [T, d*d] */
    if (!S) return free(pos), nb_graph_free(g), NULL;
    for (int k = 0; k < d * d; k++)
      if (pos[k] >= 0) S[pos[k] * d * d + k] = 1;
    int64_t  sd[2] = {d, d * d}, sl[2] = {T - d, d * d};
    nb_expr *Sd = nb_const(g, NB_F64, 2, sd, S), *Sl = nb_const(g, NB_F64, 2, sl, S + d * d * d);
    Qflat = nb_add(nb_matmul(eq, Sd), nb_matmul(l, Sl));
    free(S);
  }
  free(pos);
  int64_t  sQ[3] = {K, d, d}, sM[3] = {K, d, 1}, sX[3] = {1, d, n}, sK1[2] = {K, 1};
  nb_expr *Q = nb_reshape(Qflat, 3, sQ);
  double  *xT = malloc((size_t)n * d * sizeof *xT);
  if (!xT) return nb_graph_free(g), NULL;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < d; j++) xT[j * n + i] = D->x[i * d + j];
  nb_expr *xc = nb_const(g, NB_F64, 3, sX, xT);
  free(xT);
  int      ax0[1] = {0}, ax1[1] = {1};
  nb_expr *diff = nb_sub(xc, nb_reshape(means, 3, sM));                /* [K, d, n] */
  nb_expr *sq = nb_sum(nb_square(nb_matmul(Q, diff)), 1, ax1, false); /* [K, n] */
  nb_expr *sumq = nb_sum(q, 1, ax1, true);                            /* [K, 1] */
  nb_expr *beta = nb_sub(nb_add(nb_reshape(alpha, 2, sK1), sumq), nb_muls(sq, 0.5));
  nb_expr *ll = nb_sum(nb_logsumexp(beta, 1, ax0, false), 0, NULL, false);
  nb_expr *F = nb_sub(ll, nb_muls(nb_logsumexp(alpha, 0, NULL, false), n));
  nb_expr *frob = nb_add(nb_sum(nb_square(eq), 0, NULL, false), nb_sum(nb_square(l), 0, NULL, false));
  nb_expr *prior = nb_sub(nb_muls(frob, 0.5 * D->gamma * D->gamma),
                          nb_muls(nb_sum(q, 0, NULL, false), D->m));
  F = nb_adds(nb_add(F, prior), gmm_const(D));
  nb_expr *ins[3] = {alpha, means, icf};
  nb_fn   *f = nb_fn_new(g, 3, ins, 1, &F);
  nb_graph_free(g);
  return f;
}

#endif
