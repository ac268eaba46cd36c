/* The workloads written with nabla operations, as a user would write them. */
#include <stdlib.h>

#include "hand.h"
#include "gmm_nabla.h"
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

nb_fn *nbw_gmm(const gmm_data *D, int variant) { return gmm_nabla(D, variant); }

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
