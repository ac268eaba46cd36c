/* The helpers derivative rules are written with (see ad.h). */
#include <string.h>

#include "ad.h"

nb_expr *nb__ad1(nb__ad *ad, int op, nb_expr *x) { return nb__op1(ad->api, op, x, NULL); }
nb_expr *nb__ad2(nb__ad *ad, int op, nb_expr *a, nb_expr *b) { return nb__op2(ad->api, op, a, b); }
nb_expr *nb__adp(nb__ad *ad, int op, nb_expr *x, const nb__params *p) {
  return nb__op1(ad->api, op, x, p);
}

nb_expr *nb__ad_select(nb__ad *ad, nb_expr *c, nb_expr *a, nb_expr *b) {
  nb__node n = {.op = NB_OP_SELECT};
  nb_expr *s[3] = {c, a, b};
  return nb__emit(ad->api, NULL, &n, 3, s);
}

nb_expr *nb__ad_recip(nb__ad *ad, nb_expr *x) {
  return nb__ad2(ad, NB_OP_DIV, nb__fill_like(ad->api, x, 1.0), x);
}

nb_expr *nb__ad_swap_last(nb__ad *ad, nb_expr *x) {
  if (!x) return NULL;
  nb__params p = {0};
  int        r = x->n.rank;
  for (int d = 0; d < r; d++) p.i[d] = d;
  p.i[r - 2] = r - 1, p.i[r - 1] = r - 2;
  return nb__adp(ad, NB_OP_TRANSPOSE, x, &p);
}

/* ---- tangent algebra ---- */
nb_expr *nb__t_add(nb__ad *ad, nb_expr *a, nb_expr *b) {
  if (!a) return b;
  if (!b) return a;
  return nb__ad2(ad, NB_OP_ADD, a, b);
}

nb_expr *nb__t_neg(nb__ad *ad, nb_expr *t) { return t ? nb__ad1(ad, NB_OP_NEG, t) : NULL; }

nb_expr *nb__t_sub(nb__ad *ad, nb_expr *a, nb_expr *b) {
  if (!b) return a;
  if (!a) return nb__t_neg(ad, b);
  return nb__ad2(ad, NB_OP_SUB, a, b);
}

nb_expr *nb__t_scale(nb__ad *ad, nb_expr *t, nb_expr *d) {
  return t ? nb__ad2(ad, NB_OP_DMUL, t, d) : NULL;
}

nb_expr *nb__t_zeros(nb__ad *ad, nb_expr *t, const nb_expr *like) {
  if (t) return t;
  nb_expr *z = nb__fill_like(ad->api, like, 0.0);
  return z;
}

nb_expr *nb__t_same(nb__ad *ad, const nb__node *n, nb_expr *t) {
  if (!t) return NULL;
  nb__node m = *n;
  return nb__emit(ad->api, NULL, &m, 1, &t);
}

nb_expr *nb__jvp_zero(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                      nb_expr *const *t) {
  (void)ad, (void)n, (void)x, (void)y, (void)t;
  return NULL;
}

nb_expr *nb__jvp_linear1(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                         nb_expr *const *t) {
  (void)x, (void)y;
  return nb__t_same(ad, n, t[0]);
}
