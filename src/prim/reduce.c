/* Reductions over the axes in the bit mask p.i[0]; reduced axes are dropped
 * (keepdims is a reshape in the ops layer). Sums and products accumulate in
 * double for both dtypes. */
#include <math.h>
#include <string.h>

#include "../exec/exec.h"
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

/* max keeps the first NaN it meets */
static double fold_max(double acc, double v) { return v > acc || v != v ? v : acc; }
static double combine(red_kind k, double acc, double v) {
  return k == RED_SUM ? acc + v : k == RED_PROD ? acc * v : fold_max(acc, v);
}
static double identity_of(red_kind k) { return k == RED_SUM ? 0.0 : k == RED_PROD ? 1.0 : -INFINITY; }

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
      double  acc = identity_of(kind);                                                   \
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
              acc = fold_max(acc, p[i * rinstr]);                                        \
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

/* A reduction over trailing axes folds each run of the operand in pieces
 * cut at the operand's multiples of NB__BLOCK, and the pieces' values in
 * order: the order in which it folds as a sink of its operand's fused group
 * (exec.h), block by block. In a piece, a sum runs eight independent partial
 * sums (vectorizable, and more accurate than one). */
#define NB__BLOCK_FOLD(T, name)                                                          \
  static double name(red_kind kind, const T *a, int64_t len) {                          \
    double acc = identity_of(kind);                                                      \
    if (kind == RED_SUM) {                                                               \
      double  lane[8] = {0};                                                             \
      int64_t i = 0;                                                                     \
      for (; i + 8 <= len; i += 8)                                                       \
        for (int l = 0; l < 8; l++) lane[l] += a[i + l];                                 \
      for (; i < len; i++) lane[0] += a[i];                                              \
      acc = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7])); \
    } else if (kind == RED_PROD) {                                                       \
      for (int64_t i = 0; i < len; i++) acc *= a[i];                                     \
    } else {                                                                             \
      for (int64_t i = 0; i < len && acc == acc; i++) acc = fold_max(acc, a[i]);        \
    }                                                                                    \
    return acc;                                                                          \
  }
NB__BLOCK_FOLD(double, block_fold64)
NB__BLOCK_FOLD(float, block_fold32)

#define NB__TRAILING_RUNS(T, block_fold)                                                 \
  do {                                                                                   \
    T *o = out;                                                                          \
    const T *a = in[0];                                                                  \
    for (int64_t r = 0; r < n->size; r++) {                                              \
      double acc = identity_of(kind);                                                    \
      for (int64_t s = r * run, end = s + run, e; s < end; s = e) {                      \
        e = (s / NB__BLOCK + 1) * NB__BLOCK < end ? (s / NB__BLOCK + 1) * NB__BLOCK : end; \
        acc = combine(kind, acc, block_fold(kind, a + s, e - s));                        \
      }                                                                                  \
      o[r] = (T)acc;                                                                     \
    }                                                                                    \
  } while (0)

static bool reduce_trailing(red_kind kind, const nb__node *n, const nb__node *x, void *out,
                            const void *const *in) {
  int64_t run;
  if (!n->p.i[0] || !nb__trailing_axes(x->rank, x->shape, n->p.i[0], &run)) return false;
  if (n->dtype == NB_F64) NB__TRAILING_RUNS(double, block_fold64);
  else NB__TRAILING_RUNS(float, block_fold32);
  return true;
}

static void reduce(red_kind kind, const nb__node *n, const nb__node *x, void *out,
                   const void *const *in) {
  if (reduce_trailing(kind, n, x, out, in)) return;
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

/* ---- reductions as sinks of their operand's fused group (exec.h): the
 *      elements of each output fold in the order the kernels above use ---- */
static red_kind kind_of(int op) { return op == NB_OP_REDUCE_SUM ? RED_SUM : op == NB_OP_REDUCE_MAX ? RED_MAX : RED_PROD; }

double nb__reduce_block(const nb__node *n, const void *x, int64_t len) {
  red_kind kind = kind_of(n->op);
  return n->dtype == NB_F64 ? block_fold64(kind, x, len) : block_fold32(kind, x, len);
}


/* x's index maps to n's as the broadcast of n back to x's shape reads it */
int nb__reduce_levels(const nb__node *n, const nb__node *x, int64_t *ext, int64_t *str) {
  nb__node b = {.op = NB_OP_BROADCAST, .rank = x->rank, .size = x->size};
  memcpy(b.shape, x->shape, sizeof b.shape);
  for (int d = 0, k = 0; d < x->rank; d++)
    if (!((n->p.i[0] >> d) & 1)) b.p.i[k++] = d;
  return nb__broadcast_levels(&b, n, ext, str);
}

void nb__reduce_start(const nb__node *n, double *acc) {
  for (int64_t q = 0; q < n->size; q++) acc[q] = identity_of(kind_of(n->op));
}

void nb__reduce_finish(const nb__node *n, const double *acc, void *out) {
  for (int64_t q = 0; q < n->size; q++)
    if (n->dtype == NB_F64) ((double *)out)[q] = acc[q];
    else ((float *)out)[q] = (float)acc[q];
}

/* a run of count elements into accumulators: one each (stride 1), or one
 * for all, folded piece by piece for a trailing reduction (stride 0) */
#define NB__FOLD_INTO(T, name, block_fold)                                               \
  static void name(red_kind kind, bool trailing, const T *a, int64_t count, int64_t stride, double *acc) { \
    if (stride)                                                                          \
      for (int64_t i = 0; i < count; i++) acc[i] = combine(kind, acc[i], a[i]);          \
    else if (trailing)                                                                   \
      *acc = combine(kind, *acc, block_fold(kind, a, count));                            \
    else                                                                                 \
      for (int64_t i = 0; i < count; i++) *acc = combine(kind, *acc, a[i]);             \
  }
NB__FOLD_INTO(double, fold_into64, block_fold64)
NB__FOLD_INTO(float, fold_into32, block_fold32)

/* the partials, one element's accumulator folded in block order */
void nb__reduce_partials(const nb__node *n, const double *partial, int64_t count, void *out) {
  double acc;
  nb__reduce_start(n, &acc);
  fold_into64(kind_of(n->op), false, partial, count, 0, &acc);
  nb__reduce_finish(n, &acc, out);
}

typedef struct rows_fold {
  red_kind    kind;
  bool        trailing, f64;
  const char *block;
  double     *acc;
} rows_fold;

static void fold_run(void *ctx, int64_t off, int64_t stride, int64_t count) {
  rows_fold *r = ctx;
  if (r->f64) fold_into64(r->kind, r->trailing, (const double *)r->block, count, stride, r->acc + off);
  else fold_into32(r->kind, r->trailing, (const float *)r->block, count, stride, r->acc + off);
  r->block += count * (r->f64 ? 8 : 4);
}

void nb__reduce_rows(const nb__node *n, const nb__node *x, const void *block, int64_t at, int64_t len,
                     double *acc) {
  int64_t   ext[NB_MAX_RANK], str[NB_MAX_RANK], run;
  rows_fold r = {kind_of(n->op), n->p.i[0] && nb__trailing_axes(x->rank, x->shape, n->p.i[0], &run),
                 n->dtype == NB_F64, block, acc};
  nb__walk_runs(nb__reduce_levels(n, x, ext, str), ext, str, at, len, fold_run, &r);
}

/* ---- derivative rules ---- */
#define FILL(like, v) nb__fill_like(ad->api, (like), (v))
#define OP1(op, a) nb__ad1(ad, NB_OP_##op, (a))
#define OP2(op, a, b) nb__ad2(ad, NB_OP_##op, (a), (b))

static nb_expr *reduce_like(nb__ad *ad, int op, nb_expr *x, const nb__node *n) {
  return nb__adp(ad, op, x, &n->p);
}

static void transpose_sum(nb__ad *ad, nb_expr *y, nb_expr *ct, const bool *lin, nb_expr **cts) {
  if (lin[0]) cts[0] = nb__unreduce(ad->api, ct, &y->src[0]->n, y->n.p.i[0]);
}

/* the tangent is split evenly among the elements equal to the max */
static nb_expr *jvp_max(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                        nb_expr *const *t) {
  if (!t[0]) return NULL;
  int64_t  mask = n->p.i[0];
  nb_expr *hit = OP2(EQ, x[0], nb__unreduce(ad->api, y, &x[0]->n, mask));
  nb_expr *count = nb__unreduce(ad->api, reduce_like(ad, NB_OP_REDUCE_SUM, hit, n), &x[0]->n, mask);
  return reduce_like(ad, NB_OP_REDUCE_SUM, nb__t_scale(ad, t[0], OP2(DIV, hit, count)), n);
}

/* ---- prod: d prod / d x_i = the product of the others, computed as
 *      (exclusive prefix product) x (exclusive suffix product) along the
 *      reduced elements: no division, so zeros are exact and every order
 *      of derivative is right (the partials are polynomials) ---- */

/* y shifted by s along its last axis, ones filling in */
static nb_expr *shift_in_ones(nb__ad *ad, nb_expr *y, int64_t s) {
  int      last = y->n.rank - 1;
  int64_t  n = y->n.shape[last], shape[NB_MAX_RANK];
  memcpy(shape, y->n.shape, sizeof shape);
  shape[last] = s < n ? s : n;
  nb_expr   *ones = nb__fill(ad->api, y->g, (nb_dtype)y->n.dtype, y->n.rank, shape, 1, y->n.weak);
  nb__params p = {.i = {last, 0, n - shape[last], 1}};
  nb__node   c = {.op = NB_OP_CONCAT, .p.i = {last}};
  nb_expr   *parts[2] = {ones, nb__adp(ad, NB_OP_SLICE, y, &p)};
  return nb__emit(ad->api, NULL, &c, 2, parts);
}

/* exclusive prefix products along the last axis (Hillis-Steele scan) */
static nb_expr *exclusive_prefix_prod(nb__ad *ad, nb_expr *y) {
  int64_t n = y->n.shape[y->n.rank - 1];
  for (int64_t s = 1; y && s < n; s *= 2) y = OP2(MUL, y, shift_in_ones(ad, y, s));
  return y ? shift_in_ones(ad, y, 1) : NULL;
}

static nb_expr *product_of_others(nb__ad *ad, nb_expr *x, int64_t mask) {
  const nb__node *xn = &x->n;
  nb__params      perm = {0}, inv = {0};
  int64_t         flat[NB_MAX_RANK], n = 1;
  int             k = 0, nk = 0;
  for (int d = 0; d < xn->rank; d++)
    if (!((mask >> d) & 1)) perm.i[k++] = d, flat[nk++] = xn->shape[d];
  for (int d = 0; d < xn->rank; d++)
    if ((mask >> d) & 1) perm.i[k++] = d, n *= xn->shape[d];
  for (int d = 0; d < xn->rank; d++) inv.i[perm.i[d]] = d;
  flat[nk] = n;
  nb_expr *t = nb__adp(ad, NB_OP_TRANSPOSE, x, &perm);
  int64_t  tshape[NB_MAX_RANK];
  for (int d = 0; t && d < xn->rank; d++) tshape[d] = t->n.shape[d];
  nb_expr   *y = nb__reshape(ad->api, t, nk + 1, flat);
  nb__params last = {.i = {(int64_t)1 << nk}};
  nb_expr   *pre = y ? exclusive_prefix_prod(ad, y) : NULL;
  nb_expr   *suf = y ? nb__adp(ad, NB_OP_REV, exclusive_prefix_prod(ad, nb__adp(ad, NB_OP_REV, y, &last)), &last) : NULL;
  nb_expr   *others = OP2(MUL, pre, suf);
  return nb__adp(ad, NB_OP_TRANSPOSE, nb__reshape(ad->api, others, xn->rank, tshape), &inv);
}

static nb_expr *jvp_prod(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                         nb_expr *const *t) {
  (void)y;
  if (!t[0]) return NULL;
  nb_expr *partial = product_of_others(ad, x[0], n->p.i[0]);
  return reduce_like(ad, NB_OP_REDUCE_SUM, nb__t_scale(ad, t[0], partial), n);
}

const nb__prim nb__row_REDUCE_SUM = {"reduce_sum", 1, 0, infer_reduce, eval_sum,
                                     NULL, nb__jvp_linear1, transpose_sum, nb__batch_mask, NULL, NULL, NULL};
const nb__prim nb__row_REDUCE_MAX = {"reduce_max", 1, 0, infer_reduce, eval_max,
                                     NULL, jvp_max, NULL, nb__batch_mask, NULL, NULL, NULL};
const nb__prim nb__row_REDUCE_PROD = {"reduce_prod", 1, 0, infer_reduce, eval_prod,
                                      NULL, jvp_prod, NULL, nb__batch_mask, NULL, NULL, NULL};
