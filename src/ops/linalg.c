/* matmul with numpy semantics, softmax and log_softmax. */
#include <string.h>

#include "ops.h"

nb_expr *nb_matmul(nb_expr *a, nb_expr *b) {
  const char *api = "nb_matmul";
  char        sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  nb_expr    *xs[2] = {a, b};
  if (!nb__operands(api, 2, xs)) return NULL;
  if (a->n.dtype != b->n.dtype)
    return nb__fail(NB_ERR_DTYPE, "%s: dtype mismatch %s and %s", api, nb__dtype_name(a->n.dtype),
                    nb__dtype_name(b->n.dtype)), NULL;
  int ra = a->n.rank, rb = b->n.rank;
  if (ra == 0 || rb == 0)
    return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s do not fit (rank-0 operand)", api,
                    nb__shape_str(sa, ra, a->n.shape), nb__shape_str(sb, rb, b->n.shape)), NULL;
  /* 1-D operands become a row (left) or a column (right) */
  int64_t as[NB_MAX_RANK], bs[NB_MAX_RANK];
  int     pa = ra == 1 ? 2 : ra, pb = rb == 1 ? 2 : rb;
  if (ra == 1) as[0] = 1, as[1] = a->n.shape[0];
  else memcpy(as, a->n.shape, (size_t)ra * sizeof *as);
  if (rb == 1) bs[0] = b->n.shape[0], bs[1] = 1;
  else memcpy(bs, b->n.shape, (size_t)rb * sizeof *bs);
  int     r = pa > pb ? pa : pb;
  int64_t batch[NB_MAX_RANK], ta[NB_MAX_RANK], tb[NB_MAX_RANK], out[NB_MAX_RANK];
  bool    fits = as[pa - 1] == bs[pb - 2];
  for (int d = 0; fits && d < r - 2; d++) {
    int64_t da = d < r - pa ? 1 : as[d - (r - pa)], db = d < r - pb ? 1 : bs[d - (r - pb)];
    fits = da == db || da == 1 || db == 1;
    batch[d] = da == 1 ? db : da;
  }
  if (!fits)
    return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s do not fit", api,
                    nb__shape_str(sa, ra, a->n.shape), nb__shape_str(sb, rb, b->n.shape)), NULL;
  memcpy(ta, batch, sizeof batch);
  memcpy(tb, batch, sizeof batch);
  ta[r - 2] = as[pa - 2], ta[r - 1] = as[pa - 1];
  tb[r - 2] = bs[pb - 2], tb[r - 1] = bs[pb - 1];
  nb_expr *a2 = nb__broadcast(api, nb__reshape(api, a, pa, as), r, ta);
  nb_expr *b2 = a2 ? nb__broadcast(api, nb__reshape(api, b, pb, bs), r, tb) : NULL;
  nb_expr *c = b2 ? nb__op2(api, NB_OP_MATMUL, a2, b2) : NULL;
  if (!c) return NULL;
  /* drop the promoted axes again */
  int ro = 0;
  for (int d = 0; d < r - 2; d++) out[ro++] = batch[d];
  if (ra > 1) out[ro++] = as[pa - 2];
  if (rb > 1) out[ro++] = bs[pb - 1];
  return nb__reshape(api, c, ro, out);
}

static bool softmax_axis(const char *api, nb_expr *x, int axis, int64_t *mask) {
  if (!x) return nb__null_arg(api), false;
  int a = axis;
  if (!nb__norm_axis(&a, x->n.rank))
    return nb__fail(NB_ERR_ARG, "%s: axis %d out of range for rank %d", api, axis, x->n.rank), false;
  *mask = (int64_t)1 << a;
  return true;
}

/* softmax = exp(x - m) / sum(exp(x - m)) with the stable shift m */
nb_expr *nb_softmax(nb_expr *x, int axis) {
  const char *api = "nb_softmax";
  int64_t     mask;
  if (!softmax_axis(api, x, axis, &mask)) return NULL;
  nb_expr *mb = nb__unreduce(api, nb__stable_shift(api, x, mask), &x->n, mask);
  nb_expr *e = nb__op1(api, NB_OP_EXP, nb__op2(api, NB_OP_SUB, x, mb), NULL);
  nb_expr *sb = nb__unreduce(api, nb__reduce(api, NB_OP_REDUCE_SUM, e, mask), &x->n, mask);
  return nb__op2(api, NB_OP_DIV, e, sb);
}

/* log_softmax = (x - m) - log(sum(exp(x - m))): subtracting the shift first
 * keeps f32 results accurate for large x */
nb_expr *nb_log_softmax(nb_expr *x, int axis) {
  const char *api = "nb_log_softmax";
  int64_t     mask;
  if (!softmax_axis(api, x, axis, &mask)) return NULL;
  nb_expr *z = nb__op2(api, NB_OP_SUB, x, nb__unreduce(api, nb__stable_shift(api, x, mask), &x->n, mask));
  nb_expr *s = nb__reduce(api, NB_OP_REDUCE_SUM, nb__op1(api, NB_OP_EXP, z, NULL), mask);
  return nb__op2(api, NB_OP_SUB, z, nb__unreduce(api, nb__op1(api, NB_OP_LOG, s, NULL), &x->n, mask));
}
