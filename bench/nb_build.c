/* The workloads written with nabla operations, as a user would write them. */
#include <stdlib.h>

#include "hand.h"
#include "nb_build.h"

/* closes g into a function and frees g */
static nb_fn *close_fn(nb_graph *g, int nin, nb_expr *const *in, int nout, nb_expr *const *out) {
  nb_fn *f = g ? nb_fn_new(g, nin, in, nout, out) : NULL;
  nb_graph_free(g);
  return f;
}

nb_fn *nbw_poly(void) {
  nb_graph     *g = nb_graph_new();
  const int64_t s4[1] = {4};
  nb_expr      *x = nb_input(g, "x", NB_F64, 1, s4), *rows[3];
  for (int i = 0; i < 3; i++) {
    rows[i] = nb_pows(nb_index(x, 0, 0), hand_poly_pow[i][0]);
    for (int j = 1; j < 4; j++) rows[i] = nb_mul(rows[i], nb_pows(nb_index(x, 0, j), hand_poly_pow[i][j]));
  }
  nb_expr *y = nb_stack(3, rows, 0);
  return close_fn(g, 1, &x, 1, &y);
}

nb_fn *nbw_sqsin(int64_t n) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, &n);
  nb_expr  *t = nb_square(x);
  nb_expr  *y = nb_add(t, nb_sin(t));
  return close_fn(g, 1, &x, 1, &y);
}

nb_fn *nbw_mlp(int B, int IN, int H, int OUT) {
  nb_graph     *g = nb_graph_new();
  const int64_t sW1[2] = {IN, H}, sH[1] = {H}, sW2[2] = {H, H}, sW3[2] = {H, OUT}, sO[1] = {OUT};
  const int64_t sX[2] = {B, IN}, sY[2] = {B, OUT};
  nb_expr *in[8] = {nb_input(g, "W1", NB_F32, 2, sW1), nb_input(g, "b1", NB_F32, 1, sH),
                    nb_input(g, "W2", NB_F32, 2, sW2), nb_input(g, "b2", NB_F32, 1, sH),
                    nb_input(g, "W3", NB_F32, 2, sW3), nb_input(g, "b3", NB_F32, 1, sO),
                    nb_input(g, "X", NB_F32, 2, sX),   nb_input(g, "Y", NB_F32, 2, sY)};
  nb_expr *h1 = nb_tanh(nb_add(nb_matmul(in[6], in[0]), in[1]));
  nb_expr *h2 = nb_tanh(nb_add(nb_matmul(h1, in[2]), in[3]));
  nb_expr *logits = nb_add(nb_matmul(h2, in[4]), in[5]);
  nb_expr *loss = nb_muls(nb_sum(nb_mul(in[7], nb_log_softmax(logits, 1)), 0, NULL, false), -1.0 / B);
  return close_fn(g, 8, in, 1, &loss);
}

nb_fn *nbw_rosen(int64_t n) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, &n);
  nb_expr  *a = nb_slice(x, 0, 0, n - 1, 1), *b = nb_slice(x, 0, 1, n, 1);
  nb_expr  *t = nb_add(nb_muls(nb_square(nb_sub(b, nb_square(a))), 100.0),
                       nb_square(nb_adds(nb_neg(a), 1.0)));
  nb_expr  *f = nb_sum(t, 0, NULL, false);
  return close_fn(g, 1, &x, 1, &f);
}

/* The GMM objective as tests/test_adbench.c builds it (variant 0: Q through nb_concat +
 * nb_take; variant 1: through constant scatter matrices and nb_matmul). */
nb_fn *nbw_gmm(const gmm_data *D, int variant) {
  int       d = D->d, K = D->K, n = D->n, T = D->T;
  nb_graph *g = nb_graph_new();
  int64_t   sa[1] = {K}, sm[2] = {K, d}, si[2] = {K, T};
  nb_expr  *alpha = nb_input(g, "alpha", NB_F64, 1, sa);
  nb_expr  *means = nb_input(g, "means", NB_F64, 2, sm);
  nb_expr  *icf = nb_input(g, "icf", NB_F64, 2, si);
  nb_expr  *q = nb_slice(icf, 1, 0, d, 1), *l = nb_slice(icf, 1, d, T, 1), *eq = nb_exp(q);
  nb_expr  *Qflat;
  int64_t  *pos = malloc((size_t)(d * d) * sizeof *pos);
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
  return close_fn(g, 3, ins, 1, &F);
}

nb_fn *nbw_mlp6(void) {
  nb_graph     *g = nb_graph_new();
  const int64_t sx[1] = {M6_IN}, sW1[2] = {M6_H, M6_IN}, sb1[1] = {M6_H};
  const int64_t sW2[2] = {M6_OUT, M6_H}, sb2[1] = {M6_OUT};
  nb_expr *in[5] = {nb_input(g, "x", NB_F64, 1, sx), nb_input(g, "W1", NB_F64, 2, sW1),
                    nb_input(g, "b1", NB_F64, 1, sb1), nb_input(g, "W2", NB_F64, 2, sW2),
                    nb_input(g, "b2", NB_F64, 1, sb2)};
  nb_expr *h = nb_tanh(nb_add(nb_matmul(in[1], in[0]), in[2]));
  nb_expr *y = nb_add(nb_matmul(in[3], h), in[4]);
  return close_fn(g, 5, in, 1, &y);
}
