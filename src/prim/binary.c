/* Binary elementwise primitives (operands of one shape: the ops layer
 * inserts broadcasts), comparisons, select and cast. */
#include <math.h>
#include <string.h>

#include "../internal.h"

static nb_status infer_binary(const char *api, nb__node *out, const nb__node *const *src) {
  return nb__infer_same(api, out, src, 2);
}

/* type-generic libm calls, so one formula serves f32 and f64 */
#define POW(a, b) _Generic((a), float: powf, default: pow)(a, b)
#define ATAN2(a, b) _Generic((a), float: atan2f, default: atan2)(a, b)

/*  id     name      formula on a, b (comparisons give 1 or 0) */
#define NB__BINARY_ROWS(X)                                                  \
  X(ADD,   "add",    a + b)                                                 \
  X(SUB,   "sub",    a - b)                                                 \
  X(MUL,   "mul",    a * b)                                                 \
  X(DIV,   "div",    a / b)                                                 \
  X(POW,   "pow",    POW(a, b))                                             \
  X(ATAN2, "atan2",  ATAN2(a, b))                                           \
  X(MAX,   "max",    (a > b || a != a) ? a : b) /* NaN propagates */        \
  X(MIN,   "min",    (a < b || a != a) ? a : b)                             \
  X(DMUL,  "dmul",   a == 0 ? 0 : a * b) /* tangent a times partial b */ \
  X(LT,    "lt",     (a < b))                                            \
  X(LE,    "le",     (a <= b))                                           \
  X(GT,    "gt",     (a > b))                                            \
  X(GE,    "ge",     (a >= b))                                           \
  X(EQ,    "eq",     (a == b))                                           \
  X(NE,    "ne",     (a != b))

#define NB__BINARY_LOOP(T, EXPR)                                             \
  do {                                                                                   \
    T *o = out;                                                                          \
    const T *pa = in[0], *pb = in[1];                                                    \
    for (int64_t i = 0; i < n->size; i++) {                                              \
      T a = pa[i], b = pb[i];                                                            \
      o[i] = (EXPR);                                                                     \
    }                                                                                    \
  } while (0)

#define NB__BINARY_DEFINE(ID, NAME, EXPR)                                                \
  static void eval_##ID(const nb__node *n, const nb__node *const *s, void *out,          \
                        const void *const *in) {                                         \
    (void)s;                                                                             \
    if (n->dtype == NB_F64) NB__BINARY_LOOP(double, EXPR);                   \
    else NB__BINARY_LOOP(float, EXPR);                                     \
  }                                                                                      \
  const nb__prim nb__row_##ID = {NAME, 2, NB__ELEMENTWISE, infer_binary, eval_##ID};

NB__BINARY_ROWS(NB__BINARY_DEFINE)

/* ---- select(c, a, b): c != 0 ? a : b; c may have another dtype ---- */
static nb_status infer_select(const char *api, nb__node *out, const nb__node *const *src) {
  char sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  const nb__node *c = src[0];
  if (!nb__same_shape(c->rank, c->shape, src[1]->rank, src[1]->shape))
    return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s differ", api,
                    nb__shape_str(sa, c->rank, c->shape),
                    nb__shape_str(sb, src[1]->rank, src[1]->shape));
  return nb__infer_same(api, out, src + 1, 2);
}

#define NB__SELECT_LOOP(TC, T)                                                           \
  do {                                                                                   \
    T *o = out;                                                                          \
    const TC *c = in[0];                                                                 \
    const T *a = in[1], *b = in[2];                                                      \
    for (int64_t i = 0; i < n->size; i++) o[i] = c[i] != 0 ? a[i] : b[i];                \
  } while (0)

static void eval_select(const nb__node *n, const nb__node *const *s, void *out,
                        const void *const *in) {
  bool c64 = s[0]->dtype == NB_F64;
  if (n->dtype == NB_F64) {
    if (c64) NB__SELECT_LOOP(double, double);
    else NB__SELECT_LOOP(float, double);
  } else {
    if (c64) NB__SELECT_LOOP(double, float);
    else NB__SELECT_LOOP(float, float);
  }
}
const nb__prim nb__row_SELECT = {"select", 3, NB__ELEMENTWISE, infer_select, eval_select};

/* ---- cast: p.i[0] is the target dtype ---- */
static nb_status infer_cast(const char *api, nb__node *out, const nb__node *const *src) {
  if (!nb__valid_dtype((int)out->p.i[0]))
    return nb__fail(NB_ERR_ARG, "%s: invalid dtype %lld", api, (long long)out->p.i[0]);
  nb__infer_same(api, out, src, 1);
  out->dtype = (uint8_t)out->p.i[0];
  out->weak = 0;
  return NB_OK;
}

static void eval_cast(const nb__node *n, const nb__node *const *s, void *out,
                      const void *const *in) {
  if (n->dtype == s[0]->dtype) {
    memcpy(out, in[0], (size_t)n->size * nb__dtype_size((nb_dtype)n->dtype));
  } else if (n->dtype == NB_F32) {
    float        *o = out;
    const double *a = in[0];
    for (int64_t i = 0; i < n->size; i++) o[i] = (float)a[i];
  } else {
    double      *o = out;
    const float *a = in[0];
    for (int64_t i = 0; i < n->size; i++) o[i] = a[i];
  }
}
const nb__prim nb__row_CAST = {"cast", 1, NB__ELEMENTWISE, infer_cast, eval_cast};
