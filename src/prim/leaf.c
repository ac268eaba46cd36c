/* Leaves: input (the caller's buffer), const (a copied block), fill (one
 * value everywhere) and iota (the index along one axis). The builder sets
 * their dtype and shape; inference has nothing to add. */
#include "../transform/ad.h"

static nb_status infer_leaf(const char *api, nb__node *out, const nb__node *const *src) {
  (void)api, (void)out, (void)src;
  return NB_OK;
}

/* input and const are never evaluated: the executor points at their memory.
 * An input's tangent is whatever the transformation seeds it with. */
const nb__prim nb__row_INPUT = {"input", 0, NB__LEAF | NB__NO_INTERN, infer_leaf, NULL,
                                NULL, NULL, NULL, NULL, NULL, NULL, NULL};
const nb__prim nb__row_CONST = {"const", 0, NB__LEAF, infer_leaf, NULL,
                                NULL, nb__jvp_zero, NULL, NULL, NULL, NULL, NULL};

/* FILL: p.d is the value */
static void eval_fill(const nb__node *n, const nb__node *const *s, void *out,
                      const void *const *in) {
  (void)s, (void)in;
  if (n->dtype == NB_F64) {
    double *o = out;
    for (int64_t i = 0; i < n->size; i++) o[i] = n->p.d;
  } else {
    float *o = out, v = (float)n->p.d;
    for (int64_t i = 0; i < n->size; i++) o[i] = v;
  }
}
const nb__prim nb__row_FILL = {"fill", 0, NB__LEAF, infer_leaf, eval_fill,
                               NULL, nb__jvp_zero, NULL, NULL, NULL, NULL, NULL};

/* IOTA: p.i[0] is the axis whose index each element holds */
static void eval_iota(const nb__node *n, const nb__node *const *s, void *out,
                      const void *const *in) {
  (void)s, (void)in;
  int     axis = (int)n->p.i[0];
  int64_t inner = 1;
  for (int d = axis + 1; d < n->rank; d++) inner *= n->shape[d];
  int64_t len = n->rank ? n->shape[axis] : 1;
  for (int64_t i = 0; i < n->size; i++) {
    double v = (double)((i / inner) % len);
    if (n->dtype == NB_F64) ((double *)out)[i] = v;
    else ((float *)out)[i] = (float)v;
  }
}
static nb_status infer_iota(const char *api, nb__node *out, const nb__node *const *src) {
  (void)src;
  if (out->rank == 0 || out->p.i[0] < 0 || out->p.i[0] >= out->rank)
    return nb__fail(NB_ERR_ARG, "%s: iota axis %lld out of range for rank %d", api,
                    (long long)out->p.i[0], out->rank);
  return NB_OK;
}
const nb__prim nb__row_IOTA = {"iota", 0, NB__LEAF, infer_iota, eval_iota,
                               NULL, nb__jvp_zero, NULL, NULL, NULL, NULL, NULL};
