/* Reductions over the axes in the bit mask p.i[0]; reduced axes are dropped
 * (keepdims is a reshape in the ops layer). Sums and products accumulate in
 * double for both dtypes. */
#include <math.h>
#include <string.h>

#include "../internal.h"

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

const nb__prim nb__row_REDUCE_SUM = {"reduce_sum", 1, 0, infer_reduce, eval_sum};
const nb__prim nb__row_REDUCE_MAX = {"reduce_max", 1, 0, infer_reduce, eval_max};
const nb__prim nb__row_REDUCE_PROD = {"reduce_prod", 1, 0, infer_reduce, eval_prod};
