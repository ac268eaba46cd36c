/* Inference shared by the elementwise rows. */
#include "../internal.h"

/* All n operands have one dtype and one shape; the result has them too and is
 * weakly typed only if every operand is. */
nb_status nb__infer_same(const char *api, nb__node *out, const nb__node *const *src, int n) {
  char sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  bool weak = true;
  for (int i = 0; i < n; i++) {
    const nb__node *a = src[0], *b = src[i];
    if (a->dtype != b->dtype)
      return nb__fail(NB_ERR_DTYPE, "%s: dtype mismatch %s and %s", api, nb__dtype_name(a->dtype),
                      nb__dtype_name(b->dtype));
    if (!nb__same_shape(a->rank, a->shape, b->rank, b->shape))
      return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s differ", api,
                      nb__shape_str(sa, a->rank, a->shape), nb__shape_str(sb, b->rank, b->shape));
    weak = weak && b->weak;
  }
  out->dtype = src[0]->dtype;
  out->rank = src[0]->rank;
  for (int i = 0; i < out->rank; i++) out->shape[i] = src[0]->shape[i];
  out->weak = weak;
  return NB_OK;
}
