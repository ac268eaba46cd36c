/* Emission-time simplification: constant folding of uniform (fill)
 * operands and IEEE-valid identities only — never x*0 -> 0 or x-x -> 0,
 * which are wrong for inf and NaN. Runs inside nb__emit, so graphs built by
 * users and by transformations alike stay small. */
#include <math.h>
#include <string.h>

#include "../internal.h"

static bool is_fill(const nb_expr *e) { return e->n.op == NB_OP_FILL; }
static bool is_fill_of(const nb_expr *e, double v) { return is_fill(e) && e->n.p.d == v; }

/* e can stand for the node n: same dtype, shape and weakness */
static bool fits(const nb__node *n, const nb_expr *e) {
  return e->n.dtype == n->dtype && e->n.weak == n->weak &&
         nb__same_shape(e->n.rank, e->n.shape, n->rank, n->shape);
}

static nb_expr *fill_for(const char *api, nb_graph *g, const nb__node *n, double v) {
  return nb__fill(api, g, (nb_dtype)n->dtype, n->rank, n->shape, v, n->weak);
}

/* an elementwise primitive of uniform operands: evaluate one element */
static nb_expr *fold(const char *api, nb_graph *g, const nb__node *n, nb_expr *const *src) {
  enum { MAXARG = 3 };
  const nb__node *sn[MAXARG];
  double          d[MAXARG], out64;
  float           f[MAXARG], out32;
  const void     *in[MAXARG];
  for (int i = 0; i < n->nsrc; i++) {
    sn[i] = &src[i]->n;
    d[i] = src[i]->n.p.d;
    f[i] = (float)d[i];
    in[i] = src[i]->n.dtype == NB_F64 ? (const void *)&d[i] : (const void *)&f[i];
  }
  nb__node one = *n;
  one.size = 1;
  nb__prims[n->op]->eval(&one, sn, n->dtype == NB_F64 ? (void *)&out64 : (void *)&out32, in);
  return fill_for(api, g, n, n->dtype == NB_F64 ? out64 : (double)out32);
}

static bool foldable(const nb__node *n, nb_expr *const *src) {
  const nb__prim *row = nb__prims[n->op];
  if (!(row->flags & NB__ELEMENTWISE) || !row->eval || n->nsrc > 3 || n->nsrc < 1) return false;
  for (int i = 0; i < n->nsrc; i++)
    if (!is_fill(src[i])) return false;
  return true;
}

/* movement of a uniform tensor is the same uniform tensor */
static bool moves_values(int op) {
  return op == NB_OP_BROADCAST || op == NB_OP_RESHAPE || op == NB_OP_TRANSPOSE ||
         op == NB_OP_REV || op == NB_OP_SLICE || op == NB_OP_GATHER || op == NB_OP_STOP_GRADIENT;
}

static int64_t reduced_count(const nb__node *x, int64_t mask) {
  int64_t c = 1;
  for (int d = 0; d < x->rank; d++)
    if ((mask >> d) & 1) c *= x->shape[d];
  return c;
}

static bool identity_perm(const nb__node *n) {
  for (int k = 0; k < n->rank; k++)
    if (n->p.i[k] != k) return false;
  return true;
}

/* an operand that equals the result, or NULL */
static nb_expr *identity(const nb__node *n, nb_expr *const *src) {
  nb_expr *a = src[0], *b = n->nsrc > 1 ? src[1] : NULL;
  switch (n->op) {
  case NB_OP_ADD: return is_fill_of(b, 0) ? a : is_fill_of(a, 0) ? b : NULL;
  case NB_OP_SUB: return is_fill_of(b, 0) ? a : NULL;
  case NB_OP_MUL: return is_fill_of(b, 1) ? a : is_fill_of(a, 1) ? b : NULL;
  case NB_OP_DIV:
  case NB_OP_POW:
  case NB_OP_DMUL: return is_fill_of(b, 1) ? a : NULL;
  case NB_OP_NEG: return a->n.op == NB_OP_NEG ? a->src[0] : NULL;
  case NB_OP_SELECT:
    if (src[1] == src[2]) return src[1];
    return is_fill(a) ? (a->n.p.d != 0 ? src[1] : src[2]) : NULL;
  case NB_OP_STOP_GRADIENT: return a->n.op == NB_OP_STOP_GRADIENT ? a : NULL;
  case NB_OP_CAST:
  case NB_OP_RESHAPE:
  case NB_OP_BROADCAST: return a;
  case NB_OP_TRANSPOSE: return identity_perm(n) ? a : NULL;
  case NB_OP_SLICE: return n->p.i[1] == 0 && n->p.i[3] == 1 ? a : NULL;
  case NB_OP_REDUCE_SUM:
  case NB_OP_REDUCE_MAX:
  case NB_OP_REDUCE_PROD: return n->p.i[0] == 0 ? a : NULL;
  default: return NULL;
  }
}

bool nb__simplify(const char *api, nb_graph *g, const nb__node *n, nb_expr *const *src,
                  nb_expr **out) {
  if (n->nsrc == 0) return false;
  nb_expr *same = identity(n, src);
  if (same && fits(n, same)) return *out = same, true;
  if (n->size == 0) return *out = fill_for(api, g, n, 0), true; /* no values to compute */
  if (foldable(n, src)) return *out = fold(api, g, n, src), true;
  nb_expr *a = src[0];
  if (moves_values(n->op) && is_fill(a)) return *out = fill_for(api, g, n, a->n.p.d), true;
  if (n->op == NB_OP_DMUL && is_fill_of(a, 0)) return *out = fill_for(api, g, n, 0), true;
  if ((n->op == NB_OP_REDUCE_SUM || n->op == NB_OP_REDUCE_MAX) && is_fill(a)) {
    /* an empty reduction gives the identity whatever the (absent) values */
    int64_t count = reduced_count(&a->n, n->p.i[0]);
    double  v = n->op == NB_OP_REDUCE_MAX ? (count ? a->n.p.d : -INFINITY)
                                          : (count ? a->n.p.d * (double)count : 0.0);
    return *out = fill_for(api, g, n, v), true;
  }
  if (n->op == NB_OP_RESHAPE && a->n.op == NB_OP_RESHAPE) {
    nb__node m = *n;
    return *out = nb__emit(api, g, &m, 1, a->src), true;
  }
  return false;
}
