/* Public reductions: axes handling, keepdims, and the composites (mean,
 * min, logsumexp) written on reduce_sum / reduce_max / reduce_prod. */
#include <math.h>
#include <string.h>

#include "ops.h"

nb_status nb__axes_mask(const char *api, int rank, int naxes, const int *axes, int64_t *mask) {
  if (naxes < 0 || (naxes > 0 && !axes))
    return nb__fail(NB_ERR_ARG, "%s: invalid axes list (naxes %d)", api, naxes);
  if (naxes == 0) {
    *mask = ((int64_t)1 << rank) - 1;
    return NB_OK;
  }
  *mask = 0;
  for (int i = 0; i < naxes; i++) {
    int a = axes[i];
    if (!nb__norm_axis(&a, rank))
      return nb__fail(NB_ERR_ARG, "%s: axis %d out of range for rank %d", api, axes[i], rank);
    if (*mask & ((int64_t)1 << a)) return nb__fail(NB_ERR_ARG, "%s: duplicate axis %d", api, a);
    *mask |= (int64_t)1 << a;
  }
  return NB_OK;
}

nb_expr *nb__reduce(const char *api, int op, nb_expr *x, int64_t mask) {
  nb__params p = {.i = {mask}};
  return nb__op1(api, op, x, &p);
}

nb_expr *nb__keepdims(const char *api, nb_expr *r, const nb_expr *x, int64_t mask) {
  if (!r) return NULL;
  int64_t shape[NB_MAX_RANK];
  for (int d = 0; d < x->n.rank; d++) shape[d] = (mask >> d) & 1 ? 1 : x->n.shape[d];
  return nb__reshape(api, r, x->n.rank, shape);
}

typedef nb_expr *(*reducer)(const char *api, nb_expr *x, int64_t mask);

/* validates, reduces, and restores the reduced axes when keepdims */
static nb_expr *reduction(const char *api, reducer red, nb_expr *x, int naxes, const int *axes,
                          bool keepdims) {
  int64_t mask;
  if (!x) return nb__null_arg(api), NULL;
  if (nb__axes_mask(api, x->n.rank, naxes, axes, &mask)) return NULL;
  nb_expr *r = red(api, x, mask);
  return keepdims ? nb__keepdims(api, r, x, mask) : r;
}

static nb_expr *red_sum(const char *api, nb_expr *x, int64_t mask) {
  return nb__reduce(api, NB_OP_REDUCE_SUM, x, mask);
}
static nb_expr *red_prod(const char *api, nb_expr *x, int64_t mask) {
  return nb__reduce(api, NB_OP_REDUCE_PROD, x, mask);
}
static nb_expr *red_max(const char *api, nb_expr *x, int64_t mask) {
  return nb__reduce(api, NB_OP_REDUCE_MAX, x, mask);
}
/* min(x) = -max(-x) */
static nb_expr *red_min(const char *api, nb_expr *x, int64_t mask) {
  if (mask == 0) return x;
  return nb__op1(api, NB_OP_NEG, red_max(api, nb__op1(api, NB_OP_NEG, x, NULL), mask), NULL);
}
/* mean = sum / count; an empty reduction gives 0/0 = NaN as in numpy */
static nb_expr *red_mean(const char *api, nb_expr *x, int64_t mask) {
  double count = 1;
  for (int d = 0; d < x->n.rank; d++)
    if ((mask >> d) & 1) count *= (double)x->n.shape[d];
  nb_expr *s = red_sum(api, x, mask);
  if (!s) return NULL;
  return nb__op2(api, NB_OP_DIV, s, nb__fill_like(api, s, count));
}

nb_expr *nb__stable_shift(const char *api, nb_expr *x, int64_t mask) {
  nb_expr *m = red_max(api, x, mask);
  if (!m) return NULL;
  nb_expr *finite = nb__op2(api, NB_OP_LT, nb__op1(api, NB_OP_ABS, m, NULL),
                            nb__fill_like(api, m, INFINITY));
  nb_expr *s[3] = {finite, m, nb__fill_like(api, m, 0.0)};
  nb__node n = {.op = NB_OP_SELECT};
  return nb__op1(api, NB_OP_STOP_GRADIENT, nb__emit(api, NULL, &n, 3, s), NULL);
}

/* logsumexp = log(sum(exp(x - m))) + m with m the finite max. A slice that
 * is all -inf (or empty) has sum 0: it gives -inf through a select, so its
 * derivative is 0 rather than 0 * inf */
static nb_expr *red_logsumexp(const char *api, nb_expr *x, int64_t mask) {
  nb_expr *m = nb__stable_shift(api, x, mask);
  nb_expr *mb = nb__unreduce(api, m, &x->n, mask);
  if (!mb) return NULL;
  nb_expr *e = nb__op1(api, NB_OP_EXP, nb__op2(api, NB_OP_SUB, x, mb), NULL);
  nb_expr *s = red_sum(api, e, mask);
  if (!s) return NULL;
  nb_expr *empty = nb__op2(api, NB_OP_EQ, s, nb__fill_like(api, s, 0.0));
  nb_expr *safe[3] = {empty, nb__fill_like(api, s, 1.0), s};
  nb__node sel = {.op = NB_OP_SELECT};
  nb_expr *l = nb__op2(api, NB_OP_ADD, nb__op1(api, NB_OP_LOG, nb__emit(api, NULL, &sel, 3, safe), NULL), m);
  nb_expr *r[3] = {empty, nb__fill_like(api, s, -INFINITY), l};
  return nb__emit(api, NULL, &sel, 3, r);
}

nb_expr *nb_sum(nb_expr *x, int naxes, const int *axes, bool keepdims) {
  return reduction("nb_sum", red_sum, x, naxes, axes, keepdims);
}
nb_expr *nb_mean(nb_expr *x, int naxes, const int *axes, bool keepdims) {
  return reduction("nb_mean", red_mean, x, naxes, axes, keepdims);
}
nb_expr *nb_prod(nb_expr *x, int naxes, const int *axes, bool keepdims) {
  return reduction("nb_prod", red_prod, x, naxes, axes, keepdims);
}
nb_expr *nb_max(nb_expr *x, int naxes, const int *axes, bool keepdims) {
  return reduction("nb_max", red_max, x, naxes, axes, keepdims);
}
nb_expr *nb_min(nb_expr *x, int naxes, const int *axes, bool keepdims) {
  return reduction("nb_min", red_min, x, naxes, axes, keepdims);
}
nb_expr *nb_logsumexp(nb_expr *x, int naxes, const int *axes, bool keepdims) {
  return reduction("nb_logsumexp", red_logsumexp, x, naxes, axes, keepdims);
}
