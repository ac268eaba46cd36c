/* Public elementwise operations: dtype unification (weak scalars),
 * numpy broadcasting, and the composites written on the primitives. */
#include <math.h>
#include <string.h>

#include "ops.h"

/* ---- broadcasting and weak types ---- */
static nb_status result_shape(const char *api, int ra, const int64_t *a, int rb,
                              const int64_t *b, int *r, int64_t *out) {
  char    sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  int64_t res[NB_MAX_RANK]; /* out may be a or b */
  int     rr = ra > rb ? ra : rb;
  for (int i = 0; i < rr; i++) {
    int64_t da = i < rr - ra ? 1 : a[i - (rr - ra)];
    int64_t db = i < rr - rb ? 1 : b[i - (rr - rb)];
    if (da != db && da != 1 && db != 1)
      return nb__fail(NB_ERR_SHAPE, "%s: cannot broadcast shapes %s and %s", api,
                      nb__shape_str(sa, ra, a), nb__shape_str(sb, rb, b));
    res[i] = da == 1 ? db : da;
  }
  for (int i = 0; i < rr; i++) out[i] = res[i];
  *r = rr;
  return NB_OK;
}

nb_expr *nb__broadcast(const char *api, nb_expr *x, int rank, const int64_t *shape) {
  if (!x) return NULL; /* an earlier failure is already recorded */
  nb__node n = {.op = NB_OP_BROADCAST, .rank = (uint8_t)rank};
  memcpy(n.shape, shape, (size_t)rank * sizeof *shape);
  for (int k = 0; k < x->n.rank; k++) n.p.i[k] = k + rank - x->n.rank;
  return nb__emit(api, NULL, &n, 1, &x);
}

nb_expr *nb__adopt(const char *api, nb_expr *x, nb_dtype dt) {
  nb__params p = {.i = {dt}};
  return nb__op1(api, NB_OP_CAST, x, &p);
}

nb_status nb__unify(const char *api, int n, nb_expr **xs) {
  if (!nb__operands(api, n, xs)) return NB_ERR_ARG;
  int dt = 0;
  for (int i = 0; i < n; i++) {
    if (xs[i]->n.weak) continue;
    if (dt && dt != xs[i]->n.dtype)
      return nb__fail(NB_ERR_DTYPE, "%s: dtype mismatch %s and %s", api, nb__dtype_name(dt),
                      nb__dtype_name(xs[i]->n.dtype));
    dt = xs[i]->n.dtype;
  }
  int     rank = 0;
  int64_t shape[NB_MAX_RANK] = {0};
  for (int i = 0; i < n; i++)
    if (result_shape(api, rank, shape, xs[i]->n.rank, xs[i]->n.shape, &rank, shape))
      return nb_errcode();
  for (int i = 0; i < n; i++) {
    if (dt && xs[i]->n.dtype != dt && !(xs[i] = nb__adopt(api, xs[i], (nb_dtype)dt)))
      return nb_errcode();
    if (!(xs[i] = nb__broadcast(api, xs[i], rank, shape))) return nb_errcode();
  }
  return NB_OK;
}

/* ---- binary operations ---- */
static nb_expr *binary(const char *api, int op, nb_expr *a, nb_expr *b) {
  nb_expr *xs[2] = {a, b};
  if (nb__unify(api, 2, xs)) return NULL;
  return nb__op2(api, op, xs[0], xs[1]);
}

#define NB__BINARY_API(name, op) \
  nb_expr *nb_##name(nb_expr *a, nb_expr *b) { return binary("nb_" #name, NB_OP_##op, a, b); }
NB__BINARY_API(add, ADD)
NB__BINARY_API(sub, SUB)
NB__BINARY_API(mul, MUL)
NB__BINARY_API(div, DIV)
NB__BINARY_API(pow, POW)
NB__BINARY_API(atan2, ATAN2)
NB__BINARY_API(maximum, MAX)
NB__BINARY_API(minimum, MIN)
NB__BINARY_API(lt, LT)
NB__BINARY_API(le, LE)
NB__BINARY_API(gt, GT)
NB__BINARY_API(ge, GE)
NB__BINARY_API(eq, EQ)
NB__BINARY_API(ne, NE)

static nb_expr *with_scalar(const char *api, int op, nb_expr *x, double s) {
  if (!x) return nb__null_arg(api), NULL;
  nb_expr *c = nb__fill(api, x->g, NB_F64, 0, NULL, s, true);
  return c ? binary(api, op, x, c) : NULL;
}

nb_expr *nb_adds(nb_expr *x, double s) { return with_scalar("nb_adds", NB_OP_ADD, x, s); }
nb_expr *nb_muls(nb_expr *x, double s) { return with_scalar("nb_muls", NB_OP_MUL, x, s); }
nb_expr *nb_pows(nb_expr *x, double p) { return with_scalar("nb_pows", NB_OP_POW, x, p); }

nb_expr *nb_where(nb_expr *cond, nb_expr *a, nb_expr *b) {
  const char *api = "nb_where";
  nb_expr    *xs[3] = {cond, a, b};
  if (!nb__operands(api, 3, xs)) return NULL;
  /* cond keeps its own dtype: unify the values, then the shapes of all three */
  if (nb__unify(api, 2, xs + 1)) return NULL;
  nb_expr *c = cond;
  if (c->n.weak) c = nb__adopt(api, c, (nb_dtype)xs[1]->n.dtype);
  if (!c) return NULL;
  xs[0] = c;
  int     rank;
  int64_t shape[NB_MAX_RANK];
  if (result_shape(api, c->n.rank, c->n.shape, xs[1]->n.rank, xs[1]->n.shape, &rank, shape))
    return NULL;
  for (int i = 0; i < 3; i++)
    if (!(xs[i] = nb__broadcast(api, xs[i], rank, shape))) return NULL;
  nb__node n = {.op = NB_OP_SELECT};
  return nb__emit(api, NULL, &n, 3, xs);
}

nb_expr *nb_cast(nb_expr *x, nb_dtype dt) {
  const char *api = "nb_cast";
  if (!x) return nb__null_arg(api), NULL;
  if (!nb__valid_dtype((int)dt)) return nb__fail(NB_ERR_ARG, "%s: invalid dtype %d", api, (int)dt), NULL;
  return nb__adopt(api, x, dt);
}

/* ---- unary primitives ---- */
#define NB__UNARY_API(name, op) \
  nb_expr *nb_##name(nb_expr *x) { return nb__op1("nb_" #name, NB_OP_##op, x, NULL); }
NB__UNARY_API(neg, NEG)
NB__UNARY_API(abs, ABS)
NB__UNARY_API(sign, SIGN)
NB__UNARY_API(exp, EXP)
NB__UNARY_API(expm1, EXPM1)
NB__UNARY_API(log, LOG)
NB__UNARY_API(log1p, LOG1P)
NB__UNARY_API(sqrt, SQRT)
NB__UNARY_API(sin, SIN)
NB__UNARY_API(cos, COS)
NB__UNARY_API(tan, TAN)
NB__UNARY_API(asin, ASIN)
NB__UNARY_API(acos, ACOS)
NB__UNARY_API(atan, ATAN)
NB__UNARY_API(sinh, SINH)
NB__UNARY_API(cosh, COSH)
NB__UNARY_API(tanh, TANH)
NB__UNARY_API(erf, ERF)
NB__UNARY_API(sigmoid, LOGISTIC)
NB__UNARY_API(floor, FLOOR)
NB__UNARY_API(ceil, CEIL)
NB__UNARY_API(round, ROUND)

/* ---- unary composites ---- */
nb_expr *nb_square(nb_expr *x) { return nb__op2("nb_square", NB_OP_MUL, x, x); }

nb_expr *nb_reciprocal(nb_expr *x) {
  const char *api = "nb_reciprocal";
  if (!x) return nb__null_arg(api), NULL;
  return nb__op2(api, NB_OP_DIV, nb__fill_like(api, x, 1.0), x);
}

nb_expr *nb_rsqrt(nb_expr *x) {
  const char *api = "nb_rsqrt";
  if (!x) return nb__null_arg(api), NULL;
  return nb__op2(api, NB_OP_DIV, nb__fill_like(api, x, 1.0), nb__op1(api, NB_OP_SQRT, x, NULL));
}

/* relu(x) = x > 0 ? x : 0, so relu'(0) = 0 */
nb_expr *nb_relu(nb_expr *x) {
  const char *api = "nb_relu";
  if (!x) return nb__null_arg(api), NULL;
  nb_expr *zero = nb__fill_like(api, x, 0.0);
  nb_expr *s[3] = {nb__op2(api, NB_OP_GT, x, zero), x, zero};
  nb__node n = {.op = NB_OP_SELECT};
  return nb__emit(api, NULL, &n, 3, s);
}

/* softplus(x) = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)): no overflow at
 * either end, and both branches smooth, so every derivative order is right
 * at 0 (a |x| form would lose the second derivative there) */
nb_expr *nb_softplus(nb_expr *x) {
  const char *api = "nb_softplus";
  if (!x) return nb__null_arg(api), NULL;
  nb_expr *pos = nb__op2(api, NB_OP_ADD, x,
                         nb__op1(api, NB_OP_LOG1P,
                                 nb__op1(api, NB_OP_EXP, nb__op1(api, NB_OP_NEG, x, NULL), NULL), NULL));
  nb_expr *neg = nb__op1(api, NB_OP_LOG1P, nb__op1(api, NB_OP_EXP, x, NULL), NULL);
  nb_expr *s[3] = {nb__op2(api, NB_OP_GT, x, nb__fill_like(api, x, 0.0)), pos, neg};
  nb__node n = {.op = NB_OP_SELECT};
  return nb__emit(api, NULL, &n, 3, s);
}
