/* Reductions over the axes in the bit mask p.i[0]; reduced axes are dropped
 * (keepdims is a reshape in the ops layer). Sums and products accumulate in
 * double for both dtypes. */
#include <math.h>
#include <string.h>

#include "../transform/ad.h"

static nb_status infer_reduce(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  int64_t         mask = out->p.i[0];
  if (mask < 0 || mask >= ((int64_t)1 << x->rank))
    return nb__fail(NB_ERR_ARG, "%s: reduction axes out of range for rank %d", api, x->rank);
  int r = 0;
  for (int d = 0; d < x->rank; d++)
    if (!(mask & (1 << d))) out->shape[r++] = x->shape[d];
  out->rank = (uint8_t)r;
  out->dtype = x->dtype;
  out->weak = x->weak;
  return NB_OK;
}

typedef enum { RED_SUM, RED_MAX, RED_PROD } red_kind;

/* Walks the kept axes in output order and, for each output element, the
 * reduced axes; the innermost reduced axis is a tight loop. */
#define NB__REDUCE_LOOP(T)                                                               \
  do {                                                                                   \
    T *o = out;                                                                          \
    const T *a = in[0];                                                                  \
    for (int64_t oi = 0; oi < n->size; oi++) {                                           \
      int64_t base = 0, rem = oi;                                                        \
      for (int d = nk - 1; d >= 0; d--) {                                                \
        base += (rem % kshape[d]) * kstr[d];                                             \
        rem /= kshape[d];                                                                \
      }                                                                                  \
      double  acc = kind == RED_SUM ? 0.0 : kind == RED_PROD ? 1.0 : -INFINITY;          \
      int64_t idx[NB_MAX_RANK] = {0}, off = base;                                        \
      if (rcount > 0)                                                                    \
        for (;;) {                                                                       \
          const T *p = a + off;                                                          \
          if (kind == RED_SUM)                                                           \
            for (int64_t i = 0; i < rin; i++) acc += p[i * rinstr];                      \
          else if (kind == RED_PROD)                                                     \
            for (int64_t i = 0; i < rin; i++) acc *= p[i * rinstr];                      \
          else                                                                           \
            for (int64_t i = 0; i < rin; i++) {                                          \
              double v = p[i * rinstr];                                                  \
              if (v > acc || v != v) acc = v;                                            \
              if (acc != acc) break;                                                     \
            }                                                                            \
          int d = nr - 2;                                                                \
          for (; d >= 0; d--) {                                                          \
            off += rstr[d];                                                              \
            if (++idx[d] < rshape[d]) break;                                             \
            off -= rstr[d] * rshape[d];                                                  \
            idx[d] = 0;                                                                  \
          }                                                                              \
          if (d < 0) break;                                                              \
        }                                                                                \
      o[oi] = (T)acc;                                                                    \
    }                                                                                    \
  } while (0)

static void reduce(red_kind kind, const nb__node *n, const nb__node *x, void *out,
                   const void *const *in) {
  int64_t str[NB_MAX_RANK], kshape[NB_MAX_RANK], kstr[NB_MAX_RANK];
  int64_t rshape[NB_MAX_RANK], rstr[NB_MAX_RANK], rcount = 1;
  int     nk = 0, nr = 0;
  nb__dense_strides(x->rank, x->shape, str);
  for (int d = 0; d < x->rank; d++) {
    if (n->p.i[0] & (1 << d)) {
      rshape[nr] = x->shape[d], rstr[nr++] = str[d];
      rcount *= x->shape[d];
    } else {
      kshape[nk] = x->shape[d], kstr[nk++] = str[d];
    }
  }
  /* the innermost reduced axis (or a single element when none) */
  int64_t rin = nr ? rshape[nr - 1] : 1, rinstr = nr ? rstr[nr - 1] : 0;
  if (n->dtype == NB_F64) NB__REDUCE_LOOP(double);
  else NB__REDUCE_LOOP(float);
}

static void eval_sum(const nb__node *n, const nb__node *const *s, void *out,
                     const void *const *in) {
  reduce(RED_SUM, n, s[0], out, in);
}
static void eval_max(const nb__node *n, const nb__node *const *s, void *out,
                     const void *const *in) {
  reduce(RED_MAX, n, s[0], out, in);
}
static void eval_prod(const nb__node *n, const nb__node *const *s, void *out,
                      const void *const *in) {
  reduce(RED_PROD, n, s[0], out, in);
}

/* ---- derivative rules ---- */
#define FILL(like, v) nb__ad_fill(ad, (like), (v))
#define OP1(op, a) nb__ad1(ad, NB_OP_##op, (a))
#define OP2(op, a, b) nb__ad2(ad, NB_OP_##op, (a), (b))

static nb_expr *reduce_like(nb__ad *ad, int op, nb_expr *x, const nb__node *n) {
  return nb__adp(ad, op, x, &n->p);
}

static void transpose_sum(nb__ad *ad, nb_expr *y, nb_expr *ct, const bool *lin, nb_expr **cts) {
  if (lin[0]) cts[0] = nb__ad_unreduce(ad, ct, &y->src[0]->n, y->n.p.i[0]);
}

/* the tangent is split evenly among the elements equal to the max */
static nb_expr *jvp_max(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                        nb_expr *const *t) {
  if (!t[0]) return NULL;
  int64_t  mask = n->p.i[0];
  nb_expr *hit = OP2(EQ, x[0], nb__ad_unreduce(ad, y, &x[0]->n, mask));
  nb_expr *count = nb__ad_unreduce(ad, reduce_like(ad, NB_OP_REDUCE_SUM, hit, n), &x[0]->n, mask);
  return reduce_like(ad, NB_OP_REDUCE_SUM, nb__t_scale(ad, t[0], OP2(DIV, hit, count)), n);
}

/* d prod / d x_i = product of the others, without dividing by zero: with
 * no zero it is p / x_i, with one zero only that element gets the product
 * of the non-zeros, with more every partial is 0 */
static nb_expr *jvp_prod(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                         nb_expr *const *t) {
  (void)y;
  if (!t[0]) return NULL;
  int64_t  mask = n->p.i[0];
  nb_expr *a = x[0], *zero = OP2(EQ, a, FILL(a, 0)), *one = FILL(a, 1), *nil = FILL(a, 0);
  nb_expr *nonzero = nb__ad_select(ad, zero, one, a);
  nb_expr *p = nb__ad_unreduce(ad, reduce_like(ad, NB_OP_REDUCE_PROD, nonzero, n), &a->n, mask);
  nb_expr *zeros = nb__ad_unreduce(ad, reduce_like(ad, NB_OP_REDUCE_SUM, zero, n), &a->n, mask);
  nb_expr *lone = OP2(MUL, OP2(EQ, zeros, one), zero);
  nb_expr *partial = nb__ad_select(ad, OP2(EQ, zeros, nil), OP2(DIV, p, nonzero),
                                   nb__ad_select(ad, lone, p, nil));
  return reduce_like(ad, NB_OP_REDUCE_SUM, nb__t_scale(ad, t[0], partial), n);
}

const nb__prim nb__row_REDUCE_SUM = {"reduce_sum", 1, 0, infer_reduce, eval_sum,
                                     NULL, nb__jvp_linear1, transpose_sum, nb__batch_mask};
const nb__prim nb__row_REDUCE_MAX = {"reduce_max", 1, 0, infer_reduce, eval_max,
                                     NULL, jvp_max, NULL, nb__batch_mask};
const nb__prim nb__row_REDUCE_PROD = {"reduce_prod", 1, 0, infer_reduce, eval_prod,
                                      NULL, jvp_prod, NULL, nb__batch_mask};
