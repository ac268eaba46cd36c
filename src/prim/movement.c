/* Movement primitives: broadcast_in_dim, reshape, transpose, rev, slice,
 * pad, concatenate, gather and scatter_add. All values move through one
 * strided-copy kernel. */
#include <string.h>

#include "../transform/ad.h"

/* ---- the strided copy ---- */
#define NB__STRIDED(T)                                                                   \
  static void strided_##T(int rank, const int64_t *shape, T *o, const nb__view *ov,      \
                          const T *a, const nb__view *av) {                              \
    int64_t idx[NB_MAX_RANK] = {0};                                                      \
    int64_t oo = ov->off, ao = av->off;                                                  \
    int     last = rank - 1;                                                             \
    int64_t n = shape[last], os = ov->str[last], as = av->str[last];                     \
    for (;;) {                                                                           \
      for (int64_t i = 0; i < n; i++) o[oo + i * os] = a[ao + i * as];                   \
      int d = last - 1;                                                                  \
      for (; d >= 0; d--) {                                                              \
        oo += ov->str[d], ao += av->str[d];                                              \
        if (++idx[d] < shape[d]) break;                                                  \
        oo -= ov->str[d] * shape[d], ao -= av->str[d] * shape[d];                        \
        idx[d] = 0;                                                                      \
      }                                                                                  \
      if (d < 0) return;                                                                 \
    }                                                                                    \
  }
NB__STRIDED(uint32_t)
NB__STRIDED(uint64_t)

/* out[ov] = in[av] over shape; elements are copied as bits */
static void strided_copy(size_t esz, const nb__copy *c, void *out, const void *in) {
  for (int d = 0; d < c->rank; d++)
    if (c->shape[d] == 0) return;
  if (c->rank == 0) {
    memcpy((char *)out + c->out.off * (int64_t)esz, (const char *)in + c->in.off * (int64_t)esz, esz);
    return;
  }
  if (esz == 8) strided_uint64_t(c->rank, c->shape, out, &c->out, in, &c->in);
  else strided_uint32_t(c->rank, c->shape, out, &c->out, in, &c->in);
}

static nb__view dense_view(int rank, const int64_t *shape) {
  nb__view v = {0};
  nb__dense_strides(rank, shape, v.str);
  return v;
}

/* a copy over the index space of shape, both sides dense to start with */
static nb__copy dense_copy(int rank, const int64_t *shape, const nb__node *x) {
  nb__copy c = {.rank = rank};
  memcpy(c.shape, shape, sizeof c.shape);
  c.out = dense_view(rank, shape);
  c.in = dense_view(x->rank, x->shape);
  return c;
}

/* every movement row's kernel: its copies, one per operand */
static void eval_copies(const nb__node *n, const nb__node *const *s, void *out,
                        const void *const *in) {
  const nb__prim *row = nb__prims[n->op];
  for (int k = 0; k < n->nsrc; k++) {
    nb__copy c;
    row->copy(n, s, k, &c);
    if (c.zero_first) memset(out, 0, (size_t)n->size * nb__dtype_size((nb_dtype)n->dtype));
    strided_copy(nb__dtype_size((nb_dtype)n->dtype), &c, out, in[k]);
  }
}

#define TRANSPOSE(name) \
  static void name(nb__ad *ad, nb_expr *y, nb_expr *ct, const bool *lin, nb_expr **cts)

static size_t esize(const nb__node *n) { return nb__dtype_size((nb_dtype)n->dtype); }

static void copy_dtype(nb__node *out, const nb__node *x) {
  out->dtype = x->dtype;
  out->weak = x->weak;
}

/* ---- broadcast_in_dim: p.i[k] is the output axis of operand axis k; the
 *      output shape is given ---- */
static nb_status infer_broadcast(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  char            sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  if (x->rank > out->rank) goto bad;
  for (int k = 0; k < x->rank; k++) {
    int64_t d = out->p.i[k];
    if (d < 0 || d >= out->rank || (k && d <= out->p.i[k - 1])) goto bad;
    if (x->shape[k] != 1 && x->shape[k] != out->shape[d]) goto bad;
  }
  copy_dtype(out, x);
  return NB_OK;
bad:
  return nb__fail(NB_ERR_SHAPE, "%s: cannot broadcast %s to %s", api,
                  nb__shape_str(sa, x->rank, x->shape), nb__shape_str(sb, out->rank, out->shape));
}

/* per output axis, the operand's stride: its own axes placed, the others
 * (and its stretched axes of length 1) read with stride 0 */
static void broadcast_strides(const nb__node *n, const nb__node *x, int64_t *str) {
  int64_t s = 1;
  memset(str, 0, NB_MAX_RANK * sizeof *str);
  for (int d = x->rank - 1; d >= 0; s *= x->shape[d--])
    if (x->shape[d] != 1) str[n->p.i[d]] = s;
}

static void copy_broadcast(const nb__node *n, const nb__node *const *s, int k, nb__copy *c) {
  *c = dense_copy(n->rank, n->shape, s[k]);
  broadcast_strides(n, s[k], c->in.str);
}
/* Its value as nested runs of the operand, outermost first: level k has
 * ext[k] elements read with stride str[k]; adjacent axes along which the
 * operand's index stays affine form one level. Returns the number of levels. */
int nb__broadcast_levels(const nb__node *n, const nb__node *x, int64_t *ext, int64_t *str) {
  int64_t axis[NB_MAX_RANK];
  int     k = 0;
  broadcast_strides(n, x, axis);
  for (int d = 0; d < n->rank; d++) {
    if (n->shape[d] == 1) continue;
    if (k && str[k - 1] == axis[d] * n->shape[d]) {
      ext[k - 1] *= n->shape[d], str[k - 1] = axis[d];
      continue;
    }
    ext[k] = n->shape[d], str[k++] = axis[d];
  }
  if (k == 0) ext[0] = 1, str[0] = 0, k = 1;
  return k;
}

#define NB__RUN(T)                                                                     \
  static void run_##T(T *o, const T *a, int64_t stride, int64_t n) {                   \
    if (stride == 0)                                                                   \
      for (int64_t i = 0; i < n; i++) o[i] = a[0];                                     \
    else                                                                               \
      for (int64_t i = 0; i < n; i++) o[i] = a[i * stride];                            \
  }
NB__RUN(uint32_t)
NB__RUN(uint64_t)

void nb__walk_runs(int levels, const int64_t *ext, const int64_t *str, int64_t at, int64_t len,
                   nb__run_fn visit, void *ctx) {
  int64_t idx[NB_MAX_RANK], off = 0;
  int     last = levels - 1;
  for (int k = last; k >= 0; k--) idx[k] = at % ext[k], at /= ext[k], off += idx[k] * str[k];
  while (len > 0) {
    int64_t run = ext[last] - idx[last] < len ? ext[last] - idx[last] : len;
    visit(ctx, off, str[last], run);
    len -= run, off += run * str[last], idx[last] += run;
    for (int k = last; k > 0 && idx[k] == ext[k]; k--) /* carry into the outer levels */
      off += str[k - 1] - ext[k] * str[k], idx[k] = 0, idx[k - 1]++;
  }
}

typedef struct block_copy {
  const void *in;
  char       *out;
  size_t      esz;
} block_copy;

static void copy_run(void *ctx, int64_t off, int64_t stride, int64_t count) {
  block_copy *c = ctx;
  if (c->esz == 8) run_uint64_t((uint64_t *)c->out, (const uint64_t *)c->in + off, stride, count);
  else run_uint32_t((uint32_t *)c->out, (const uint32_t *)c->in + off, stride, count);
  c->out += count * (int64_t)c->esz;
}

/* elements [at, at + len) of the broadcast into out (a fused group's block) */
void nb__broadcast_block(const nb__node *n, const nb__node *x, const void *in, void *out, int64_t at,
                         int64_t len) {
  int64_t    ext[NB_MAX_RANK], str[NB_MAX_RANK];
  block_copy c = {in, out, esize(n)};
  nb__walk_runs(nb__broadcast_levels(n, x, ext, str), ext, str, at, len, copy_run, &c);
}

/* transpose: sum over the axes the broadcast created or stretched */
TRANSPOSE(transpose_broadcast) {
  const nb__node *x = &y->src[0]->n;
  int64_t         mask = ((int64_t)1 << y->n.rank) - 1;
  if (!lin[0] || !ct) return;
  for (int k = 0; k < x->rank; k++)
    if (x->shape[k] == y->n.shape[y->n.p.i[k]]) mask &= ~((int64_t)1 << y->n.p.i[k]);
  nb__params p = {.i = {mask}};
  nb_expr   *s = mask ? nb__adp(ad, NB_OP_REDUCE_SUM, ct, &p) : ct;
  cts[0] = nb__reshape(ad->api, s, x->rank, x->shape);
}
/* batching: the batch axis leads the output and maps to itself */
static nb_expr *batch_broadcast(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                                const bool *bx) {
  (void)bx;
  nb__node m = *n;
  m.rank = (uint8_t)(n->rank + 1);
  m.shape[0] = b;
  for (int d = 0; d < n->rank && d + 1 < NB_MAX_RANK; d++) m.shape[d + 1] = n->shape[d];
  m.p.i[0] = 0;
  for (int k = 0; k < x[0]->n.rank - 1; k++) m.p.i[k + 1] = n->p.i[k] + 1;
  return n->rank + 1 > NB_MAX_RANK ? nb__fail(NB_ERR_SHAPE, "%s: batching exceeds rank %d", ad->api, NB_MAX_RANK), NULL
                                   : nb__emit(ad->api, NULL, &m, 1, x);
}
const nb__prim nb__row_BROADCAST = {"broadcast_in_dim", 1, 0, infer_broadcast, eval_copies,
                                    NULL, nb__jvp_linear1, transpose_broadcast, batch_broadcast,
                                    .copy = copy_broadcast};

/* ---- reshape: the output shape is given; the buffer is an alias ---- */
static nb_status infer_reshape(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  char            sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  int64_t         size = 1;
  for (int d = 0; d < out->rank; d++)
    if (!nb__mul_ok(size, out->shape[d], &size)) size = -1;
  if (size != x->size)
    return nb__fail(NB_ERR_SHAPE, "%s: cannot reshape %s to %s", api,
                    nb__shape_str(sa, x->rank, x->shape), nb__shape_str(sb, out->rank, out->shape));
  copy_dtype(out, x);
  return NB_OK;
}
TRANSPOSE(transpose_reshape) {
  const nb__node *x = &y->src[0]->n;
  if (lin[0]) cts[0] = nb__reshape(ad->api, ct, x->rank, x->shape);
}
static nb_expr *batch_reshape(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                              const bool *bx) {
  (void)bx;
  if (n->rank + 1 > NB_MAX_RANK)
    return nb__fail(NB_ERR_SHAPE, "%s: batching exceeds rank %d", ad->api, NB_MAX_RANK), NULL;
  nb__node m = *n;
  m.rank = (uint8_t)(n->rank + 1);
  m.shape[0] = b;
  for (int d = 0; d < n->rank; d++) m.shape[d + 1] = n->shape[d];
  return nb__emit(ad->api, NULL, &m, 1, x);
}
const nb__prim nb__row_RESHAPE = {"reshape", 1, NB__ALIAS, infer_reshape, NULL,
                                  NULL, nb__jvp_linear1, transpose_reshape, batch_reshape, NULL, NULL, NULL};

/* ---- transpose: output axis k is operand axis p.i[k] ---- */
static nb_status infer_transpose(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  unsigned        seen = 0;
  for (int k = 0; k < x->rank; k++) {
    int64_t a = out->p.i[k];
    if (a < 0 || a >= x->rank || (seen & (1u << a)))
      return nb__fail(NB_ERR_ARG, "%s: invalid permutation", api);
    seen |= 1u << a;
    out->shape[k] = x->shape[a];
  }
  out->rank = x->rank;
  copy_dtype(out, x);
  return NB_OK;
}

static void copy_transpose(const nb__node *n, const nb__node *const *s, int k, nb__copy *c) {
  *c = dense_copy(n->rank, n->shape, s[k]);
  nb__view xv = c->in;
  for (int d = 0; d < n->rank; d++) c->in.str[d] = xv.str[n->p.i[d]];
}
TRANSPOSE(transpose_transpose) { /* the inverse permutation */
  nb__params p = {0};
  for (int k = 0; k < y->n.rank; k++) p.i[y->n.p.i[k]] = k;
  if (lin[0] && ct) cts[0] = nb__adp(ad, NB_OP_TRANSPOSE, ct, &p);
}
static nb_expr *batch_transpose(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                                const bool *bx) {
  (void)b, (void)bx;
  nb__params p = {0};
  for (int k = 0; k < n->rank && k + 1 < NB_MAX_RANK; k++) p.i[k + 1] = n->p.i[k] + 1;
  return nb__adp(ad, NB_OP_TRANSPOSE, x[0], &p);
}
const nb__prim nb__row_TRANSPOSE = {"transpose", 1, 0, infer_transpose, eval_copies,
                                    NULL, nb__jvp_linear1, transpose_transpose, batch_transpose,
                                    .copy = copy_transpose};

/* ---- rev: reverses the axes in the bit mask p.i[0] ---- */
static nb_status infer_same_shape(const char *api, nb__node *out, const nb__node *const *src) {
  return nb__infer_same(api, out, src, 1);
}

static void copy_rev(const nb__node *n, const nb__node *const *s, int k, nb__copy *c) {
  *c = dense_copy(n->rank, n->shape, s[k]);
  for (int d = 0; d < n->rank; d++)
    if (n->p.i[0] & (1 << d)) {
      c->in.off += (n->shape[d] - 1) * c->in.str[d];
      c->in.str[d] = -c->in.str[d];
    }
}
TRANSPOSE(transpose_rev) {
  if (lin[0] && ct) cts[0] = nb__adp(ad, NB_OP_REV, ct, &y->n.p);
}
const nb__prim nb__row_REV = {"rev", 1, 0, infer_same_shape, eval_copies,
                              NULL, nb__jvp_linear1, transpose_rev, nb__batch_mask,
                              .copy = copy_rev};

/* ---- slice: p.i = {axis, start, stop, step}, 0 <= start <= stop <= len, step > 0 ---- */
static nb_status infer_slice(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  int64_t axis = out->p.i[0], start = out->p.i[1], stop = out->p.i[2], step = out->p.i[3];
  if (axis < 0 || axis >= x->rank || step <= 0 || start < 0 || start > stop ||
      stop > x->shape[axis])
    return nb__fail(NB_ERR_ARG, "%s: invalid slice %lld:%lld:%lld of axis %lld", api,
                    (long long)start, (long long)stop, (long long)step, (long long)axis);
  out->rank = x->rank;
  memcpy(out->shape, x->shape, sizeof out->shape);
  out->shape[axis] = stop > start ? (stop - start - 1) / step + 1 : 0;
  copy_dtype(out, x);
  return NB_OK;
}

static void copy_slice(const nb__node *n, const nb__node *const *s, int k, nb__copy *c) {
  int axis = (int)n->p.i[0];
  *c = dense_copy(n->rank, n->shape, s[k]);
  c->in.off = n->p.i[1] * c->in.str[axis];
  c->in.str[axis] *= n->p.i[3];
}
/* transpose: zeros around and between the taken elements */
TRANSPOSE(transpose_slice) {
  int64_t axis = y->n.p.i[0], start = y->n.p.i[1], step = y->n.p.i[3];
  int64_t len = y->src[0]->n.shape[axis], count = y->n.shape[axis];
  if (!lin[0] || !ct) return;
  nb__params p = {.i = {axis, 0, len, 0}};
  if (count > 0) p.i[1] = start, p.i[2] = len - (start + (count - 1) * step + 1), p.i[3] = step - 1;
  cts[0] = nb__adp(ad, NB_OP_PAD, ct, &p);
}
const nb__prim nb__row_SLICE = {"slice", 1, 0, infer_slice, eval_copies,
                                NULL, nb__jvp_linear1, transpose_slice, nb__batch_axis,
                                .copy = copy_slice};

/* ---- pad with zeros: p.i = {axis, lo, hi, interior}; the transpose of slice ---- */
static nb_status infer_pad(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  int64_t axis = out->p.i[0], lo = out->p.i[1], hi = out->p.i[2], interior = out->p.i[3];
  if (axis < 0 || axis >= x->rank || lo < 0 || hi < 0 || interior < 0 || lo > INT64_MAX / 4 ||
      hi > INT64_MAX / 4 || interior > INT64_MAX / 4)
    return nb__fail(NB_ERR_ARG, "%s: invalid padding of axis %lld", api, (long long)axis);
  int64_t len = x->shape[axis], body = 0;
  if (len > 0 && (!nb__mul_ok(len - 1, interior + 1, &body) || body > INT64_MAX - 1 - lo - hi))
    return nb__fail(NB_ERR_SHAPE, "%s: padded axis too large", api);
  out->rank = x->rank;
  memcpy(out->shape, x->shape, sizeof out->shape);
  out->shape[axis] = lo + hi + (len > 0 ? body + 1 : 0);
  copy_dtype(out, x);
  return NB_OK;
}

/* zeros, then the operand at lo, interior apart */
static void copy_pad(const nb__node *n, const nb__node *const *s, int k, nb__copy *c) {
  const nb__node *x = s[k];
  int             axis = (int)n->p.i[0];
  *c = dense_copy(x->rank, x->shape, x);
  c->out = dense_view(n->rank, n->shape);
  c->out.off = n->p.i[1] * c->out.str[axis];
  c->out.str[axis] *= n->p.i[3] + 1;
  c->zero_first = true;
}
TRANSPOSE(transpose_pad) { /* the slice that picks the operand back out */
  int64_t axis = y->n.p.i[0], lo = y->n.p.i[1], interior = y->n.p.i[3];
  int64_t len = y->src[0]->n.shape[axis];
  if (!lin[0] || !ct) return;
  nb__params p = {.i = {axis, 0, 0, 1}};
  if (len > 0) p.i[1] = lo, p.i[2] = lo + (len - 1) * (interior + 1) + 1, p.i[3] = interior + 1;
  cts[0] = nb__adp(ad, NB_OP_SLICE, ct, &p);
}
const nb__prim nb__row_PAD = {"pad", 1, 0, infer_pad, eval_copies,
                              NULL, nb__jvp_linear1, transpose_pad, nb__batch_axis,
                              .copy = copy_pad};

/* ---- concatenate along p.i[0] ---- */
static nb_status infer_concat(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  int64_t         axis = out->p.i[0], total = 0;
  char            sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  if (axis < 0 || axis >= x->rank)
    return nb__fail(NB_ERR_ARG, "%s: axis %lld out of range for rank %d", api, (long long)axis,
                    x->rank);
  for (int i = 0; i < out->nsrc; i++) {
    const nb__node *y = src[i];
    if (y->dtype != x->dtype)
      return nb__fail(NB_ERR_DTYPE, "%s: dtype mismatch %s and %s", api,
                      nb__dtype_name(x->dtype), nb__dtype_name(y->dtype));
    bool fits = y->rank == x->rank;
    for (int d = 0; fits && d < x->rank; d++) fits = d == axis || y->shape[d] == x->shape[d];
    if (!fits)
      return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s do not fit along axis %lld", api,
                      nb__shape_str(sa, x->rank, x->shape), nb__shape_str(sb, y->rank, y->shape),
                      (long long)axis);
    if (y->shape[axis] > INT64_MAX - total)
      return nb__fail(NB_ERR_SHAPE, "%s: result too large", api);
    total += y->shape[axis];
  }
  out->rank = x->rank;
  memcpy(out->shape, x->shape, sizeof out->shape);
  out->shape[axis] = total;
  out->dtype = x->dtype;
  out->weak = 0;
  return NB_OK;
}

/* operand k lands after the operands before it along the axis */
static void copy_concat(const nb__node *n, const nb__node *const *s, int k, nb__copy *c) {
  int axis = (int)n->p.i[0];
  *c = dense_copy(s[k]->rank, s[k]->shape, s[k]);
  c->out = dense_view(n->rank, n->shape);
  for (int i = 0; i < k; i++) c->out.off += s[i]->shape[axis] * c->out.str[axis];
}
static nb_expr *jvp_concat(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                           nb_expr *const *t) {
  (void)y;
  bool any = false;
  for (int i = 0; i < n->nsrc; i++) any = any || t[i];
  if (!any) return NULL;
  nb_expr *small[16], **ts = n->nsrc <= 16 ? small : nb__calloc((size_t)n->nsrc, sizeof *ts);
  if (!ts) return nb__nomem(ad->api), NULL;
  for (int i = 0; i < n->nsrc; i++) ts[i] = nb__t_zeros(ad, t[i], x[i]);
  nb__node m = *n;
  nb_expr *r = nb__emit(ad->api, NULL, &m, n->nsrc, ts);
  if (ts != small) nb__free(ts);
  return r;
}
TRANSPOSE(transpose_concat) { /* each operand's part of the cotangent */
  int64_t axis = y->n.p.i[0], off = 0;
  for (int i = 0; i < y->n.nsrc; i++) {
    int64_t len = y->src[i]->n.shape[axis];
    nb__params p = {.i = {axis, off, off + len, 1}};
    if (lin[i] && ct) cts[i] = nb__adp(ad, NB_OP_SLICE, ct, &p);
    off += len;
  }
}
/* with only axes of length 1 before the axis, the operands lie back to back */
static void eval_concat(const nb__node *n, const nb__node *const *s, void *out, const void *const *in) {
  for (int d = 0; d < n->p.i[0]; d++)
    if (n->shape[d] != 1) {
      eval_copies(n, s, out, in);
      return;
    }
  for (int k = 0; k < n->nsrc; k++) {
    size_t bytes = (size_t)s[k]->size * esize(n);
    if (bytes) memcpy(out, in[k], bytes);
    out = (char *)out + bytes;
  }
}
const nb__prim nb__row_CONCAT = {"concatenate", -1, 0, infer_concat, eval_concat,
                                 NULL, jvp_concat, transpose_concat, nb__batch_axis,
                                 .copy = copy_concat};

/* ---- gather / scatter_add along p.i[0] with fixed int64 indices in p.data;
 *      scatter_add's output axis length is p.i[1] ---- */
static nb_status check_indices(const char *api, const nb__node *out, int64_t len) {
  const int64_t *idx = out->p.data;
  size_t         n = out->p.nbytes / sizeof *idx;
  for (size_t j = 0; j < n; j++)
    if (idx[j] < 0 || idx[j] >= len)
      return nb__fail(NB_ERR_ARG, "%s: index %lld out of range for axis %lld of length %lld",
                      api, (long long)idx[j], (long long)out->p.i[0], (long long)len);
  return NB_OK;
}

static nb_status infer_gather(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  int64_t         axis = out->p.i[0];
  if (axis < 0 || axis >= x->rank)
    return nb__fail(NB_ERR_ARG, "%s: axis %lld out of range for rank %d", api, (long long)axis,
                    x->rank);
  if (check_indices(api, out, x->shape[axis])) return NB_ERR_ARG;
  out->rank = x->rank;
  memcpy(out->shape, x->shape, sizeof out->shape);
  out->shape[axis] = (int64_t)(out->p.nbytes / sizeof(int64_t));
  copy_dtype(out, x);
  return NB_OK;
}

static void eval_gather(const nb__node *n, const nb__node *const *s, void *out,
                        const void *const *in) {
  int            axis = (int)n->p.i[0];
  const int64_t *idx = n->p.data;
  int64_t        outer, inner, k = n->shape[axis], len = s[0]->shape[axis];
  nb__split_at(n->rank, n->shape, axis, &outer, &inner);
  size_t row = (size_t)inner * esize(n);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < k; j++)
      memcpy((char *)out + (size_t)(o * k + j) * row,
             (const char *)in[0] + (size_t)(o * len + idx[j]) * row, row);
}
TRANSPOSE(transpose_gather) {
  nb__params p = y->n.p;
  p.i[1] = y->src[0]->n.shape[p.i[0]];
  if (lin[0] && ct) cts[0] = nb__adp(ad, NB_OP_SCATTER_ADD, ct, &p);
}
const nb__prim nb__row_GATHER = {"gather", 1, 0, infer_gather, eval_gather,
                                 NULL, nb__jvp_linear1, transpose_gather, nb__batch_axis, NULL, NULL, NULL};

static nb_status infer_scatter(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *x = src[0];
  int64_t         axis = out->p.i[0];
  if (axis < 0 || axis >= x->rank || out->p.i[1] < 0 ||
      x->shape[axis] != (int64_t)(out->p.nbytes / sizeof(int64_t)))
    return nb__fail(NB_ERR_ARG, "%s: invalid scatter along axis %lld", api, (long long)axis);
  if (check_indices(api, out, out->p.i[1])) return NB_ERR_ARG;
  out->rank = x->rank;
  memcpy(out->shape, x->shape, sizeof out->shape);
  out->shape[axis] = out->p.i[1];
  copy_dtype(out, x);
  return NB_OK;
}

#define NB__SCATTER_LOOP(T)                                                              \
  do {                                                                                   \
    T *o = out;                                                                          \
    const T *a = in[0];                                                                  \
    for (int64_t i = 0; i < n->size; i++) o[i] = 0;                                      \
    for (int64_t q = 0; q < outer; q++)                                                  \
      for (int64_t j = 0; j < k; j++) {                                                  \
        T *dst = o + (q * len + idx[j]) * inner;                                         \
        const T *src = a + (q * k + j) * inner;                                          \
        for (int64_t e = 0; e < inner; e++) dst[e] += src[e];                            \
      }                                                                                  \
  } while (0)

static void eval_scatter(const nb__node *n, const nb__node *const *s, void *out,
                         const void *const *in) {
  int            axis = (int)n->p.i[0];
  const int64_t *idx = n->p.data;
  int64_t        outer, inner, k = s[0]->shape[axis], len = n->shape[axis];
  nb__split_at(n->rank, n->shape, axis, &outer, &inner);
  if (n->dtype == NB_F64) NB__SCATTER_LOOP(double);
  else NB__SCATTER_LOOP(float);
}
TRANSPOSE(transpose_scatter) {
  nb__params p = y->n.p;
  p.i[1] = 0;
  if (lin[0] && ct) cts[0] = nb__adp(ad, NB_OP_GATHER, ct, &p);
}
const nb__prim nb__row_SCATTER_ADD = {"scatter_add", 1, 0, infer_scatter, eval_scatter,
                                      NULL, nb__jvp_linear1, transpose_scatter, nb__batch_axis, NULL, NULL, NULL};
