/* Public shape and indexing operations (python semantics for negative
 * numbers). Negative-step slices, index and stack are composites. */
#include <string.h>

#include "ops.h"

nb_expr *nb_reshape(nb_expr *x, int rank, const int64_t *shape) {
  const char *api = "nb_reshape";
  char        sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  if (!x) return nb__null_arg(api), NULL;
  if (rank < 0 || rank > NB_MAX_RANK)
    return nb__fail(NB_ERR_ARG, "%s: rank %d out of range [0, %d]", api, rank, NB_MAX_RANK), NULL;
  if (rank && !shape) return nb__fail(NB_ERR_ARG, "%s: shape is NULL", api), NULL;
  int64_t s[NB_MAX_RANK], known = 1;
  int     hole = -1;
  for (int d = 0; d < rank; d++) {
    s[d] = shape[d];
    if (s[d] == -1 && hole < 0) {
      hole = d;
      continue;
    }
    if (s[d] < 0)
      return nb__fail(NB_ERR_ARG, "%s: invalid dimension %lld in %s (one -1 allowed)", api,
                      (long long)s[d], nb__shape_str(sa, rank, shape)), NULL;
    if (!nb__mul_ok(known, s[d], &known)) known = -1;
  }
  if (hole >= 0) {
    if (known <= 0 || x->n.size % known)
      return nb__fail(NB_ERR_SHAPE, "%s: cannot reshape %s to %s", api,
                      nb__shape_str(sa, x->n.rank, x->n.shape), nb__shape_str(sb, rank, shape)), NULL;
    s[hole] = x->n.size / known;
  } else if (known != x->n.size) {
    return nb__fail(NB_ERR_SHAPE, "%s: cannot reshape %s to %s", api,
                    nb__shape_str(sa, x->n.rank, x->n.shape), nb__shape_str(sb, rank, shape)), NULL;
  }
  return nb__reshape(api, x, rank, s);
}

nb_expr *nb_transpose(nb_expr *x, const int *perm) {
  const char *api = "nb_transpose";
  if (!x) return nb__null_arg(api), NULL;
  nb__node n = {.op = NB_OP_TRANSPOSE};
  unsigned seen = 0;
  for (int k = 0; k < x->n.rank; k++) {
    int a = perm ? perm[k] : x->n.rank - 1 - k;
    if (a < 0 || a >= x->n.rank || (seen & (1u << a)))
      return nb__fail(NB_ERR_ARG, "%s: invalid permutation", api), NULL;
    seen |= 1u << a;
    n.p.i[k] = a;
  }
  return nb__emit(api, NULL, &n, 1, &x);
}

nb_expr *nb_broadcast_to(nb_expr *x, int rank, const int64_t *shape) {
  const char *api = "nb_broadcast_to";
  char        sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  int64_t     size;
  if (!x) return nb__null_arg(api), NULL;
  if (nb__check_shape(api, (nb_dtype)x->n.dtype, rank, shape, &size)) return NULL;
  bool fits = x->n.rank <= rank;
  for (int k = 0; fits && k < x->n.rank; k++) {
    int64_t d = x->n.shape[k], t = shape[k + rank - x->n.rank];
    fits = d == t || d == 1;
  }
  if (!fits)
    return nb__fail(NB_ERR_SHAPE, "%s: cannot broadcast %s to %s", api,
                    nb__shape_str(sa, x->n.rank, x->n.shape), nb__shape_str(sb, rank, shape)), NULL;
  return nb__broadcast(api, x, rank, shape);
}

static nb_expr *slice_prim(const char *api, nb_expr *x, int axis, int64_t start, int64_t count,
                           int64_t step) {
  nb__params p = {.i = {axis, 0, 0, 1}};
  if (count > 0) p.i[1] = start, p.i[2] = start + (count - 1) * step + 1, p.i[3] = step;
  return nb__op1(api, NB_OP_SLICE, x, &p);
}

static int64_t clamp(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

nb_expr *nb_slice(nb_expr *x, int axis, int64_t start, int64_t stop, int64_t step) {
  const char *api = "nb_slice";
  if (!x) return nb__null_arg(api), NULL;
  int a = axis;
  if (!nb__norm_axis(&a, x->n.rank))
    return nb__fail(NB_ERR_ARG, "%s: axis %d out of range for rank %d", api, axis, x->n.rank), NULL;
  if (step == 0) return nb__fail(NB_ERR_ARG, "%s: step must not be 0", api), NULL;
  int64_t len = x->n.shape[a];
  if (step < -INT64_MAX) step = -INT64_MAX; /* same slice, and -step fits */
  if (start < 0) start += len;
  if (stop < 0 && !(step < 0 && stop == INT64_MIN)) stop += len;
  if (step > 0) {
    start = clamp(start, 0, len);
    stop = clamp(stop, 0, len);
    int64_t count = stop > start ? (stop - start - 1) / step + 1 : 0;
    return slice_prim(api, x, a, start, count, step);
  }
  /* negative step: reverse the axis, then slice forward */
  start = clamp(start, -1, len - 1);
  stop = stop == INT64_MIN ? -1 : clamp(stop, -1, len - 1);
  int64_t count = start > stop ? (start - stop - 1) / (-step) + 1 : 0;
  nb__params p = {.i = {(int64_t)1 << a}};
  nb_expr   *r = len > 1 ? nb__op1(api, NB_OP_REV, x, &p) : x;
  if (!r) return NULL;
  return slice_prim(api, r, a, count ? len - 1 - start : 0, count, -step);
}

nb_expr *nb_index(nb_expr *x, int axis, int64_t i) {
  const char *api = "nb_index";
  if (!x) return nb__null_arg(api), NULL;
  int a = axis;
  if (!nb__norm_axis(&a, x->n.rank))
    return nb__fail(NB_ERR_ARG, "%s: axis %d out of range for rank %d", api, axis, x->n.rank), NULL;
  int64_t len = x->n.shape[a], j = i < 0 ? i + len : i;
  if (j < 0 || j >= len)
    return nb__fail(NB_ERR_ARG, "%s: index %lld out of range for axis %d of length %lld", api,
                    (long long)i, a, (long long)len), NULL;
  int64_t shape[NB_MAX_RANK];
  for (int d = 0, r = 0; d < x->n.rank; d++)
    if (d != a) shape[r++] = x->n.shape[d];
  return nb__reshape(api, slice_prim(api, x, a, j, 1, 1), x->n.rank - 1, shape);
}

nb_expr *nb_take(nb_expr *x, int axis, int64_t n, const int64_t *indices) {
  const char *api = "nb_take";
  if (!x) return nb__null_arg(api), NULL;
  int a = axis;
  if (!nb__norm_axis(&a, x->n.rank))
    return nb__fail(NB_ERR_ARG, "%s: axis %d out of range for rank %d", api, axis, x->n.rank), NULL;
  if (n < 0 || (n > 0 && !indices) || (uint64_t)n > SIZE_MAX / sizeof(int64_t))
    return nb__fail(NB_ERR_ARG, "%s: invalid index list (n %lld)", api, (long long)n), NULL;
  int64_t len = x->n.shape[a];
  int64_t *idx = n ? nb__malloc((size_t)n * sizeof *idx) : NULL;
  if (n && !idx) return nb__nomem(api), NULL;
  for (int64_t j = 0; j < n; j++) {
    idx[j] = indices[j] < 0 ? indices[j] + len : indices[j];
    if (idx[j] < 0 || idx[j] >= len) {
      nb__free(idx);
      return nb__fail(NB_ERR_ARG, "%s: index %lld out of range for axis %d of length %lld", api,
                      (long long)indices[j], a, (long long)len), NULL;
    }
  }
  nb__params p = {.i = {a}, .data = idx, .nbytes = (size_t)n * sizeof *idx};
  nb_expr   *r = nb__op1(api, NB_OP_GATHER, x, &p);
  nb__free(idx);
  return r;
}

/* operands of concat/stack: non-NULL, one graph, one dtype */
static bool check_list(const char *api, int n, nb_expr *const *xs) {
  if (n < 1 || !xs) return nb__fail(NB_ERR_ARG, "%s: needs at least one operand (n %d)", api, n), false;
  if (!nb__operands(api, n, xs)) return false;
  for (int i = 1; i < n; i++)
    if (xs[i]->n.dtype != xs[0]->n.dtype)
      return nb__fail(NB_ERR_DTYPE, "%s: dtype mismatch %s and %s", api,
                      nb__dtype_name(xs[0]->n.dtype), nb__dtype_name(xs[i]->n.dtype)), false;
  return true;
}

static nb_expr *concat(const char *api, int n, nb_expr *const *xs, int axis) {
  nb__node c = {.op = NB_OP_CONCAT, .p.i = {axis}};
  return n == 1 ? xs[0] : nb__emit(api, NULL, &c, n, xs);
}

nb_expr *nb_concat(int n, nb_expr *const *xs, int axis) {
  const char *api = "nb_concat";
  if (!check_list(api, n, xs)) return NULL;
  int a = axis;
  if (!nb__norm_axis(&a, xs[0]->n.rank))
    return nb__fail(NB_ERR_ARG, "%s: axis %d out of range for rank %d", api, axis,
                    xs[0]->n.rank), NULL;
  return concat(api, n, xs, a);
}

nb_expr *nb_stack(int n, nb_expr *const *xs, int axis) {
  const char *api = "nb_stack";
  char        sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  if (!check_list(api, n, xs)) return NULL;
  int rank = xs[0]->n.rank, a = axis;
  if (rank + 1 > NB_MAX_RANK)
    return nb__fail(NB_ERR_ARG, "%s: rank %d out of range [0, %d]", api, rank + 1, NB_MAX_RANK), NULL;
  if (!nb__norm_axis(&a, rank + 1))
    return nb__fail(NB_ERR_ARG, "%s: axis %d out of range for rank %d", api, axis, rank + 1), NULL;
  for (int i = 1; i < n; i++)
    if (!nb__same_shape(rank, xs[0]->n.shape, xs[i]->n.rank, xs[i]->n.shape))
      return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s differ", api,
                      nb__shape_str(sa, rank, xs[0]->n.shape),
                      nb__shape_str(sb, xs[i]->n.rank, xs[i]->n.shape)), NULL;
  int64_t shape[NB_MAX_RANK];
  for (int d = 0, k = 0; d <= rank; d++) shape[d] = d == a ? 1 : xs[0]->n.shape[k++];
  nb_expr *small[16], **parts = n <= 16 ? small : nb__calloc((size_t)n, sizeof *parts);
  if (!parts) return nb__nomem(api), NULL;
  nb_expr *r = NULL;
  int      i = 0;
  for (; i < n; i++)
    if (!(parts[i] = nb__reshape(api, xs[i], rank + 1, shape))) break;
  if (i == n) r = concat(api, n, parts, a);
  if (parts != small) nb__free(parts);
  return r;
}
