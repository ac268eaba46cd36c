/* Every error path: NULL propagation keeping the first message, NULL graph / expr /
 * fn arguments, dtype and graph mismatches, ranks, dimensions, overflowing shapes,
 * axes, shape operations, nb_fn_new, nb_call, signature queries, nb_trace, the
 * not-yet-implemented transformations, and usability after an error. */
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"

#define NB_ARRLEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef nb_expr *(*un_op)(nb_expr *);
typedef nb_expr *(*bin_op)(nb_expr *, nb_expr *);
typedef nb_expr *(*red_op)(nb_expr *, int, const int *, bool);

#define OP(f) {#f, f}
static const struct { const char *name; un_op fn; } UN[] = {
    OP(nb_neg),     OP(nb_abs),   OP(nb_sign),    OP(nb_exp),    OP(nb_expm1), OP(nb_log),
    OP(nb_log1p),   OP(nb_sqrt),  OP(nb_rsqrt),   OP(nb_square), OP(nb_reciprocal),
    OP(nb_sin),     OP(nb_cos),   OP(nb_tan),     OP(nb_asin),   OP(nb_acos),  OP(nb_atan),
    OP(nb_sinh),    OP(nb_cosh),  OP(nb_tanh),    OP(nb_sigmoid), OP(nb_relu), OP(nb_softplus),
    OP(nb_erf),     OP(nb_floor), OP(nb_ceil),    OP(nb_round)};
static const struct { const char *name; bin_op fn; } BIN[] = {
    OP(nb_add), OP(nb_sub), OP(nb_mul), OP(nb_div), OP(nb_pow), OP(nb_atan2), OP(nb_maximum),
    OP(nb_minimum), OP(nb_lt), OP(nb_le), OP(nb_gt), OP(nb_ge), OP(nb_eq), OP(nb_ne)};
static const struct { const char *name; red_op fn; } RED[] = {
    OP(nb_sum), OP(nb_mean), OP(nb_prod), OP(nb_max), OP(nb_min), OP(nb_logsumexp)};

/* the last failure has code and message prefix "<name>: <rest>" */
#define CHECK_ERRF(code, name, rest)                                                   \
  do {                                                                                 \
    char th_buf_[256];                                                                 \
    snprintf(th_buf_, sizeof th_buf_, "%s: %s", (name), (rest));                       \
    CHECK_ERR((code), th_buf_);                                                        \
  } while (0)

static nb_expr *in64(nb_graph *g, int rank, const int64_t *shape) {
  return nb_input(g, "in", NB_F64, rank, shape);
}
static nb_expr *in32(nb_graph *g, int rank, const int64_t *shape) {
  return nb_input(g, "in", NB_F32, rank, shape);
}

/* ---- NULL propagation -------------------------------------------------------------- */

static const char *FIRST = "nb_add: cannot broadcast shapes [3,2] and [4]";

/* every public function taking an expr/fn, given NULL; the record must stay `FIRST` */
static void null_everything(nb_graph *g, nb_expr *a, nb_fn *f, int keep) {
#define EXPECT(name)                                                                   \
  do {                                                                                 \
    if (keep) {                                                                        \
      CHECK(nb_errcode() == NB_ERR_SHAPE);                                             \
      CHECK(strcmp(nb_errmsg(), FIRST) == 0);                                          \
    } else {                                                                           \
      CHECK_ERRF(NB_ERR_ARG, name, "NULL");                                            \
      nb_errclear();                                                                   \
    }                                                                                  \
  } while (0)
  for (int i = 0; i < NB_ARRLEN(UN); i++) {
    CHECK(UN[i].fn(NULL) == NULL);
    if (!keep) CHECK_ERRF(NB_ERR_ARG, UN[i].name, "NULL argument");
    EXPECT(UN[i].name);
  }
  for (int i = 0; i < NB_ARRLEN(BIN); i++) {
    CHECK(BIN[i].fn(NULL, a) == NULL);
    if (!keep) CHECK_ERRF(NB_ERR_ARG, BIN[i].name, "NULL argument");
    EXPECT(BIN[i].name);
    CHECK(BIN[i].fn(a, NULL) == NULL);
    EXPECT(BIN[i].name);
    CHECK(BIN[i].fn(NULL, NULL) == NULL);
    EXPECT(BIN[i].name);
  }
  for (int i = 0; i < NB_ARRLEN(RED); i++) {
    CHECK(RED[i].fn(NULL, 0, NULL, false) == NULL);
    EXPECT(RED[i].name);
    CHECK(RED[i].fn(NULL, 1, (int[]){0}, true) == NULL);
    EXPECT(RED[i].name);
  }
  CHECK(nb_adds(NULL, 1) == NULL); EXPECT("nb_adds");
  CHECK(nb_muls(NULL, 1) == NULL); EXPECT("nb_muls");
  CHECK(nb_pows(NULL, 2) == NULL); EXPECT("nb_pows");
  CHECK(nb_where(NULL, a, a) == NULL); EXPECT("nb_where");
  CHECK(nb_where(a, NULL, a) == NULL); EXPECT("nb_where");
  CHECK(nb_where(a, a, NULL) == NULL); EXPECT("nb_where");
  CHECK(nb_cast(NULL, NB_F32) == NULL); EXPECT("nb_cast");
  CHECK(nb_reshape(NULL, 1, (int64_t[]){6}) == NULL); EXPECT("nb_reshape");
  CHECK(nb_transpose(NULL, NULL) == NULL); EXPECT("nb_transpose");
  CHECK(nb_broadcast_to(NULL, 1, (int64_t[]){6}) == NULL); EXPECT("nb_broadcast_to");
  CHECK(nb_slice(NULL, 0, 0, 1, 1) == NULL); EXPECT("nb_slice");
  CHECK(nb_index(NULL, 0, 0) == NULL); EXPECT("nb_index");
  CHECK(nb_take(NULL, 0, 1, (int64_t[]){0}) == NULL); EXPECT("nb_take");
  CHECK(nb_concat(2, (nb_expr *[]){a, NULL}, 0) == NULL); EXPECT("nb_concat");
  CHECK(nb_concat(2, (nb_expr *[]){NULL, a}, 0) == NULL); EXPECT("nb_concat");
  CHECK(nb_stack(2, (nb_expr *[]){a, NULL}, 0) == NULL); EXPECT("nb_stack");
  CHECK(nb_stack(1, (nb_expr *[]){NULL}, 0) == NULL); EXPECT("nb_stack");
  CHECK(nb_matmul(NULL, a) == NULL); EXPECT("nb_matmul");
  CHECK(nb_matmul(a, NULL) == NULL); EXPECT("nb_matmul");
  CHECK(nb_softmax(NULL, 0) == NULL); EXPECT("nb_softmax");
  CHECK(nb_log_softmax(NULL, 0) == NULL); EXPECT("nb_log_softmax");

  /* NULL graph (the "keep the first message" rule is only promised for NULL exprs and
   * fns, so with a recorded failure only the result is checked here) */
  nb_status code0 = nb_errcode();
  CHECK(nb_input(NULL, "x", NB_F64, 1, (int64_t[]){2}) == NULL);
  if (!keep) { CHECK_ERR(NB_ERR_ARG, "nb_input: NULL"); nb_errclear(); }
  CHECK(nb_const(NULL, NB_F64, 1, (int64_t[]){2}, (double[]){1, 2}) == NULL);
  if (!keep) { CHECK_ERR(NB_ERR_ARG, "nb_const: NULL"); nb_errclear(); }
  CHECK(nb_full(NULL, NB_F64, 1, (int64_t[]){2}, 1) == NULL);
  if (!keep) { CHECK_ERR(NB_ERR_ARG, "nb_full: NULL"); nb_errclear(); }
  CHECK(nb_scalar(NULL, 1) == NULL);
  if (!keep) { CHECK_ERR(NB_ERR_ARG, "nb_scalar: NULL"); nb_errclear(); }
  CHECK(nb_fn_new(NULL, 1, &a, 1, &a) == NULL);
  if (!keep) { CHECK_ERR(NB_ERR_ARG, "nb_fn_new: NULL"); nb_errclear(); }
  if (keep) { /* put the first failure back for the checks below */
    CHECK(nb_errcode() == NB_ERR_ARG || nb_errcode() == code0);
    nb_expr *b4 = nb_input(g, "b", NB_F64, 1, (int64_t[]){4});
    nb_expr *a32 = nb_input(g, "a", NB_F64, 2, (int64_t[]){3, 2});
    CHECK(nb_add(a32, b4) == NULL);
    CHECK(strcmp(nb_errmsg(), FIRST) == 0);
  }

  /* expression queries */
  CHECK(nb_expr_dtype(NULL) == 0); EXPECT("nb_expr_dtype");
  CHECK(nb_expr_rank(NULL) == -1); EXPECT("nb_expr_rank");
  CHECK(nb_expr_shape(NULL) == NULL); EXPECT("nb_expr_shape");
  CHECK(nb_expr_size(NULL) == -1); EXPECT("nb_expr_size");
  CHECK(nb_expr_graph(NULL) == NULL); EXPECT("nb_expr_graph");

  /* NULL nb_fn */
  CHECK(nb_fn_nin(NULL) == -1); EXPECT("nb_fn_nin");
  CHECK(nb_fn_nout(NULL) == -1); EXPECT("nb_fn_nout");
  CHECK(nb_fn_in_dtype(NULL, 0) == 0); EXPECT("nb_fn_in_dtype");
  CHECK(nb_fn_in_rank(NULL, 0) == -1); EXPECT("nb_fn_in_rank");
  CHECK(nb_fn_in_shape(NULL, 0) == NULL); EXPECT("nb_fn_in_shape");
  CHECK(nb_fn_in_size(NULL, 0) == -1); EXPECT("nb_fn_in_size");
  CHECK(nb_fn_out_dtype(NULL, 0) == 0); EXPECT("nb_fn_out_dtype");
  CHECK(nb_fn_out_rank(NULL, 0) == -1); EXPECT("nb_fn_out_rank");
  CHECK(nb_fn_out_shape(NULL, 0) == NULL); EXPECT("nb_fn_out_shape");
  CHECK(nb_fn_out_size(NULL, 0) == -1); EXPECT("nb_fn_out_size");
  double      buf[8] = {0};
  const void *ins[2] = {buf, buf};
  void       *outs[2] = {buf, buf};
  CHECK(nb_call(NULL, ins, outs) == NB_ERR_ARG); EXPECT("nb_call");
  FILE *fp = tmpfile();
  CHECK(fp != NULL);
  if (fp) {
    CHECK(nb_fn_print(NULL, fp) == NB_ERR_ARG); EXPECT("nb_fn_print");
    CHECK(nb_fn_dot(NULL, fp) == NB_ERR_ARG); EXPECT("nb_fn_dot");
    fclose(fp);
  }
  CHECK(nb_fn_node_count(NULL) == -1); EXPECT("nb_fn_node_count");
  double err = 0;
  CHECK(nb_check_grads(NULL, ins, 1, &err) == NB_ERR_ARG); EXPECT("nb_check_grads");
  CHECK(nb_jvp(NULL, NULL) == NULL); EXPECT("nb_jvp");
  CHECK(nb_vjp(NULL, NULL) == NULL); EXPECT("nb_vjp");
  CHECK(nb_grad(NULL, NULL) == NULL); EXPECT("nb_grad");
  CHECK(nb_value_and_grad(NULL, NULL) == NULL); EXPECT("nb_value_and_grad");
  CHECK(nb_jacfwd(NULL, NULL) == NULL); EXPECT("nb_jacfwd");
  CHECK(nb_jacrev(NULL, NULL) == NULL); EXPECT("nb_jacrev");
  CHECK(nb_jacobian(NULL, NULL) == NULL); EXPECT("nb_jacobian");
  CHECK(nb_hessian(NULL, NULL) == NULL); EXPECT("nb_hessian");
  CHECK(nb_hvp(NULL, NULL) == NULL); EXPECT("nb_hvp");
  CHECK(nb_vmap(NULL, NULL, NULL) == NULL); EXPECT("nb_vmap");
  CHECK(nb_batch_jvp(NULL, NULL) == NULL); EXPECT("nb_batch_jvp");
  CHECK(nb_batch_vjp(NULL, NULL) == NULL); EXPECT("nb_batch_vjp");
  nb_fn_free(NULL); /* no-ops, no error */
  nb_graph_free(NULL);
  if (keep) EXPECT("nb_fn_free");
  else CHECK(nb_errcode() == NB_OK);
  (void)f;
#undef EXPECT
}

static void test_err_first_message_kept(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = in64(g, 2, (int64_t[]){3, 2});
  nb_expr  *b = in64(g, 1, (int64_t[]){4});
  nb_expr  *r = nb_sin(nb_add(a, b));
  CHECK(r == NULL);
  CHECK_ERR(NB_ERR_SHAPE, FIRST);
  CHECK(strcmp(nb_errmsg(), FIRST) == 0);
  /* longer chains through every family */
  r = nb_softmax(nb_matmul(nb_sum(nb_reshape(nb_exp(nb_add(a, b)), 1, (int64_t[]){6}), 0, NULL,
                                  false),
                           a),
                 0);
  CHECK(r == NULL);
  CHECK(strcmp(nb_errmsg(), FIRST) == 0);
  CHECK(nb_errcode() == NB_ERR_SHAPE);
  /* successful operations do not touch the record */
  nb_expr *ok = nb_mul(a, a);
  CHECK(ok != NULL);
  CHECK(strcmp(nb_errmsg(), FIRST) == 0);
  /* a later real failure does replace it */
  CHECK(nb_index(b, 0, 5) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: index 5 out of range for axis 0 of length 4");
  /* the full tour of NULL arguments, keeping the record */
  CHECK(nb_add(a, b) == NULL);
  CHECK(strcmp(nb_errmsg(), FIRST) == 0);
  nb_fn *f = nb_fn_new(g, 1, &a, 1, &ok);
  null_everything(g, a, f, 1);
  nb_fn_free(f);
  nb_graph_free(g);
}

static void test_err_null_clear_record(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = in64(g, 1, (int64_t[]){2});
  nb_fn    *f = nb_fn_new(g, 1, &a, 1, &a);
  nb_errclear();
  CHECK(nb_errcode() == NB_OK);
  CHECK(nb_errmsg() != NULL);
  CHECK(nb_sin(NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_sin: NULL argument");
  nb_errclear();
  null_everything(g, a, f, 0);
  nb_fn_free(f);
  nb_graph_free(g);
}

/* ---- dtypes and graphs ---------------------------------------------------------------- */

static void test_err_dtype_mismatch(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = in32(g, 1, (int64_t[]){3});
  nb_expr  *b = in64(g, 1, (int64_t[]){3});
  for (int i = 0; i < NB_ARRLEN(BIN); i++) {
    nb_errclear();
    CHECK(BIN[i].fn(a, b) == NULL);
    CHECK_ERRF(NB_ERR_DTYPE, BIN[i].name, "dtype mismatch f32 and f64");
    nb_errclear();
    CHECK(BIN[i].fn(b, a) == NULL);
    CHECK_ERRF(NB_ERR_DTYPE, BIN[i].name, "dtype mismatch f64 and f32");
  }
  nb_errclear();
  /* weak scalars adapt: no error */
  nb_expr *w = nb_add(a, nb_scalar(g, 2));
  CHECK(w != NULL && nb_expr_dtype(w) == NB_F32);
  CHECK(nb_errcode() == NB_OK);
  /* where: cond of any dtype, but the branches must agree */
  CHECK(nb_where(b, a, a) != NULL);
  CHECK(nb_where(a, a, b) == NULL);
  CHECK_ERR(NB_ERR_DTYPE, "nb_where: dtype mismatch");
  CHECK(nb_matmul(in32(g, 2, (int64_t[]){2, 3}), in64(g, 2, (int64_t[]){3, 2})) == NULL);
  CHECK_ERR(NB_ERR_DTYPE, "nb_matmul: dtype mismatch f32 and f64");
  CHECK(nb_concat(2, (nb_expr *[]){a, b}, 0) == NULL);
  CHECK_ERR(NB_ERR_DTYPE, "nb_concat: ");
  CHECK(nb_stack(2, (nb_expr *[]){b, a}, 0) == NULL);
  CHECK_ERR(NB_ERR_DTYPE, "nb_stack: ");
  nb_graph_free(g);
}

static void test_err_two_graphs(void) {
  nb_graph *g1 = nb_graph_new(), *g2 = nb_graph_new();
  nb_expr  *a = in64(g1, 1, (int64_t[]){3});
  nb_expr  *b = in64(g2, 1, (int64_t[]){3});
  for (int i = 0; i < NB_ARRLEN(BIN); i++) {
    nb_errclear();
    CHECK(BIN[i].fn(a, b) == NULL);
    CHECK_ERRF(NB_ERR_ARG, BIN[i].name, "operands belong to different graphs");
  }
  CHECK(nb_add(a, nb_scalar(g2, 1)) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_add: operands belong to different graphs");
  CHECK(nb_where(a, a, b) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_where: operands belong to different graphs");
  CHECK(nb_where(b, a, a) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_where: operands belong to different graphs");
  CHECK(nb_matmul(a, b) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_matmul: operands belong to different graphs");
  CHECK(nb_concat(2, (nb_expr *[]){a, b}, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_concat: operands belong to different graphs");
  CHECK(nb_stack(2, (nb_expr *[]){a, b}, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_stack: operands belong to different graphs");
  CHECK(nb_expr_graph(a) == g1 && nb_expr_graph(b) == g2);
  nb_graph_free(g1);
  nb_graph_free(g2);
}

/* ---- ranks, dimensions, sizes, dtypes ----------------------------------------------- */

static void test_err_rank_dims(void) {
  nb_graph *g = nb_graph_new();
  int64_t   s9[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CHECK(nb_input(g, "x", NB_F64, 9, s9) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_input: rank 9 out of range [0, 8]");
  CHECK(nb_input(g, "x", NB_F64, -1, s9) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_input: rank -1 out of range [0, 8]");
  CHECK(nb_full(g, NB_F64, 9, s9, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_full: rank 9 out of range [0, 8]");
  CHECK(nb_const(g, NB_F64, 9, s9, (double[]){1}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_const: rank 9 out of range [0, 8]");
  nb_expr *r8 = nb_input(g, "x", NB_F64, 8, s9);
  CHECK(r8 != NULL);
  CHECK(nb_input(g, "x", NB_F64, 2, (int64_t[]){2, -1}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_input: negative dimension in shape [2,-1]");
  CHECK(nb_full(g, NB_F64, 2, (int64_t[]){2, -1}, 1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_full: negative dimension in shape [2,-1]");
  CHECK(nb_const(g, NB_F64, 2, (int64_t[]){-3, 1}, (double[]){1}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_const: negative dimension in shape [-3,1]");
  nb_errclear();
  CHECK(nb_input(g, "x", NB_F64, 2, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_input: ");
  nb_errclear();
  CHECK(nb_const(g, NB_F64, 1, (int64_t[]){2}, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_const: ");
  nb_errclear();
  nb_expr *e0 = nb_const(g, NB_F64, 2, (int64_t[]){0, 3}, NULL); /* nothing to read */
  CHECK(e0 != NULL);
  CHECK(nb_input(g, "s", NB_F64, 0, NULL) != NULL); /* rank 0: shape may be NULL */
  CHECK(nb_errcode() == NB_OK);
  if (r8) {
    CHECK(nb_reshape(r8, 9, s9) == NULL);
    CHECK_ERR(NB_ERR_ARG, "nb_reshape: ");
    CHECK(nb_broadcast_to(r8, 9, s9) == NULL);
    CHECK_ERR(NB_ERR_ARG, "nb_broadcast_to: ");
    nb_errclear();
    CHECK(nb_stack(2, (nb_expr *[]){r8, r8}, 0) == NULL); /* result would have rank 9 */
    CHECK(nb_errcode() == NB_ERR_ARG || nb_errcode() == NB_ERR_SHAPE);
    CHECK(strncmp(nb_errmsg(), "nb_stack: ", 10) == 0);
    CHECK(nb_matmul(r8, r8) != NULL); /* batch [1]*6, 1x1 @ 1x1 */
  }
  nb_graph_free(g);
}

static void test_err_too_large(void) {
  nb_graph     *g = nb_graph_new();
  const int64_t big2[2] = {INT64_C(1) << 40, INT64_C(1) << 40}; /* 2^80 elements */
  const int64_t bytes2[2] = {INT64_C(1) << 31, INT64_C(1) << 31}; /* 2^62 f64 = 2^65 bytes */
  const int64_t bytes1[1] = {INT64_C(1) << 62};                  /* 2^62 f32 = 2^64 bytes */
  CHECK(nb_input(g, "x", NB_F64, 2, big2) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_input: shape [1099511627776,1099511627776] is too large");
  CHECK(nb_full(g, NB_F64, 2, big2, 0) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_full: shape [1099511627776,1099511627776] is too large");
  CHECK(nb_const(g, NB_F64, 2, big2, (double[]){1}) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_const: shape [1099511627776,1099511627776] is too large");
  CHECK(nb_input(g, "x", NB_F64, 2, bytes2) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_input: shape [2147483648,2147483648] is too large");
  CHECK(nb_full(g, NB_F32, 1, bytes1, 0) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_full: shape [4611686018427387904] is too large");
  CHECK(nb_input(g, "x", NB_F32, 3, (int64_t[]){INT64_C(1) << 32, INT64_C(1) << 32, 1 << 30}) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_input: shape [4294967296,4294967296,1073741824] is too large");
  nb_errclear();
  /* large but representable shapes are fine at build time (nothing is allocated) */
  nb_expr *col = nb_input(g, "c", NB_F64, 2, (int64_t[]){INT64_C(1) << 40, 1});
  nb_expr *row = nb_input(g, "r", NB_F64, 2, (int64_t[]){1, INT64_C(1) << 40});
  nb_expr *q = nb_input(g, "q", NB_F32, 2, (int64_t[]){INT64_C(1) << 29, INT64_C(1) << 30});
  CHECK(col && row && q);
  CHECK(nb_errcode() == NB_OK);
  if (col && row && q) {
    CHECK(nb_add(col, row) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_add: ");
    CHECK(nb_mul(row, col) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_mul: ");
    CHECK(nb_broadcast_to(col, 2, big2) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_broadcast_to: ");
    CHECK(nb_matmul(col, row) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
    /* 8 x 2^59 = 2^62 f32 elements: 2^64 bytes */
    CHECK(nb_concat(8, (nb_expr *[]){q, q, q, q, q, q, q, q}, 0) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_concat: ");
    CHECK(nb_stack(8, (nb_expr *[]){q, q, q, q, q, q, q, q}, 0) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_stack: ");
    nb_errclear();
    CHECK(nb_concat(2, (nb_expr *[]){col, col}, 0) != NULL);
    CHECK(nb_errcode() == NB_OK);
  }
  nb_graph_free(g);
}

static nb_status build_identity(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g;
  (void)user;
  out[0] = in[0];
  return NB_OK;
}

static void test_err_invalid_dtype(void) {
  nb_graph *g = nb_graph_new();
  CHECK(nb_input(g, "x", (nb_dtype)7, 1, (int64_t[]){2}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_input: invalid dtype 7");
  CHECK(nb_input(g, "x", (nb_dtype)0, 1, (int64_t[]){2}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_input: invalid dtype 0");
  CHECK(nb_full(g, (nb_dtype)3, 1, (int64_t[]){2}, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_full: invalid dtype 3");
  CHECK(nb_const(g, (nb_dtype)7, 1, (int64_t[]){1}, (double[]){1}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_const: invalid dtype 7");
  nb_expr *x = in64(g, 1, (int64_t[]){2});
  CHECK(nb_cast(x, (nb_dtype)7) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_cast: invalid dtype 7");
  CHECK(nb_cast(x, (nb_dtype)-1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_cast: invalid dtype -1");
  nb_errclear();
  nb_spec bad = {"x", (nb_dtype)7, 1, {2}};
  CHECK(nb_trace(build_identity, NULL, 1, &bad, 1) == NULL);
  CHECK(nb_errcode() == NB_ERR_ARG);
  nb_graph_free(g);
}

/* ---- axes ---------------------------------------------------------------------------- */

static void test_err_axes(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = in64(g, 2, (int64_t[]){2, 3});
  nb_expr  *s = in64(g, 0, NULL);
  for (int i = 0; i < NB_ARRLEN(RED); i++) {
    const char *n = RED[i].name;
    CHECK(RED[i].fn(x, 1, (int[]){3}, false) == NULL);
    CHECK_ERRF(NB_ERR_ARG, n, "axis 3 out of range for rank 2");
    CHECK(RED[i].fn(x, 1, (int[]){-3}, true) == NULL);
    CHECK_ERRF(NB_ERR_ARG, n, "axis -3 out of range for rank 2");
    CHECK(RED[i].fn(x, 2, (int[]){1, 1}, false) == NULL);
    CHECK_ERRF(NB_ERR_ARG, n, "duplicate axis 1");
    CHECK(RED[i].fn(x, 2, (int[]){-1, 1}, false) == NULL);
    CHECK_ERRF(NB_ERR_ARG, n, "duplicate axis");
    CHECK(RED[i].fn(x, 3, (int[]){0, 1, 0}, false) == NULL);
    CHECK_ERRF(NB_ERR_ARG, n, "duplicate axis 0");
    CHECK(RED[i].fn(s, 1, (int[]){0}, false) == NULL);
    CHECK_ERRF(NB_ERR_ARG, n, "axis 0 out of range for rank 0");
    nb_errclear();
    CHECK(RED[i].fn(x, -1, (int[]){0}, false) == NULL);
    CHECK_ERRF(NB_ERR_ARG, n, "");
    nb_errclear();
    CHECK(RED[i].fn(x, 1, NULL, false) == NULL);
    CHECK_ERRF(NB_ERR_ARG, n, "");
    nb_errclear();
    CHECK(RED[i].fn(x, 2, (int[]){-1, 0}, true) != NULL); /* fine */
    CHECK(RED[i].fn(s, 0, NULL, false) != NULL);          /* rank 0, all axes: fine */
    CHECK(nb_errcode() == NB_OK);
  }
  CHECK(nb_softmax(x, 2) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_softmax: axis 2 out of range for rank 2");
  CHECK(nb_softmax(x, -3) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_softmax: axis -3 out of range for rank 2");
  CHECK(nb_log_softmax(x, 2) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_log_softmax: axis 2 out of range for rank 2");
  CHECK(nb_slice(x, 2, 0, 1, 1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_slice: ");
  CHECK(nb_slice(x, -3, 0, 1, 1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_slice: ");
  CHECK(nb_index(x, 2, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: ");
  CHECK(nb_index(s, 0, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: ");
  CHECK(nb_take(x, 2, 1, (int64_t[]){0}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_take: ");
  CHECK(nb_take(x, -3, 1, (int64_t[]){0}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_take: ");
  CHECK(nb_concat(2, (nb_expr *[]){x, x}, 2) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_concat: ");
  CHECK(nb_concat(2, (nb_expr *[]){x, x}, -3) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_concat: ");
  CHECK(nb_stack(2, (nb_expr *[]){x, x}, 3) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_stack: ");
  CHECK(nb_stack(2, (nb_expr *[]){x, x}, -4) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_stack: ");
  nb_errclear();
  CHECK(nb_stack(2, (nb_expr *[]){x, x}, 2) != NULL);  /* new last axis */
  CHECK(nb_stack(2, (nb_expr *[]){x, x}, -3) != NULL); /* new first axis */
  CHECK(nb_concat(2, (nb_expr *[]){x, x}, -1) != NULL);
  CHECK(nb_errcode() == NB_OK);
  nb_graph_free(g);
}

/* ---- shape operations -------------------------------------------------------------- */

static void test_err_reshape_transpose_broadcast(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = in64(g, 2, (int64_t[]){2, 3});
  nb_expr  *v = in64(g, 1, (int64_t[]){3});
  CHECK(nb_reshape(x, 2, (int64_t[]){4, 2}) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_reshape: cannot reshape [2,3] to [4,2]");
  CHECK(nb_reshape(x, 2, (int64_t[]){-1, 4}) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_reshape: cannot reshape [2,3] to ");
  CHECK(nb_reshape(x, 0, NULL) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_reshape: cannot reshape [2,3] to []");
  CHECK(nb_reshape(x, 2, (int64_t[]){-1, -1}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_reshape: ");
  CHECK(nb_reshape(x, 2, (int64_t[]){-2, -3}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_reshape: ");
  CHECK(nb_reshape(x, 2, (int64_t[]){3, -2}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_reshape: ");
  nb_errclear();
  CHECK(nb_reshape(x, 2, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_reshape: ");
  CHECK(nb_reshape(x, -1, (int64_t[]){6}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_reshape: ");
  nb_errclear();
  CHECK(nb_reshape(x, 3, (int64_t[]){3, -1, 1}) != NULL);
  CHECK(nb_errcode() == NB_OK);

  CHECK(nb_transpose(x, (int[]){0, 0}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_transpose: invalid permutation");
  CHECK(nb_transpose(x, (int[]){0, 2}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_transpose: invalid permutation");
  CHECK(nb_transpose(x, (int[]){1, 5}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_transpose: invalid permutation");

  CHECK(nb_broadcast_to(v, 1, (int64_t[]){4}) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_broadcast_to: cannot broadcast [3] to [4]");
  CHECK(nb_broadcast_to(x, 1, (int64_t[]){3}) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_broadcast_to: cannot broadcast [2,3] to [3]");
  CHECK(nb_broadcast_to(v, 2, (int64_t[]){3, 2}) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_broadcast_to: cannot broadcast [3] to [3,2]");
  CHECK(nb_broadcast_to(v, 2, (int64_t[]){-1, 3}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_broadcast_to: ");
  nb_errclear();
  CHECK(nb_broadcast_to(v, 2, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_broadcast_to: ");
  nb_graph_free(g);
}

static void test_err_slice_index_take(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *v = in64(g, 1, (int64_t[]){3});
  nb_expr  *x = in64(g, 2, (int64_t[]){3, 2});
  nb_expr  *z = in64(g, 1, (int64_t[]){0});
  CHECK(nb_slice(v, 0, 0, 3, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_slice: step must not be 0");
  CHECK(nb_index(v, 0, 5) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: index 5 out of range for axis 0 of length 3");
  CHECK(nb_index(v, 0, 3) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: index 3 out of range for axis 0 of length 3");
  CHECK(nb_index(v, 0, -4) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: index -4 out of range for axis 0 of length 3");
  CHECK(nb_index(x, 1, 2) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: index 2 out of range for axis 1 of length 2");
  CHECK(nb_index(x, -1, -3) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: index -3 out of range for axis");
  CHECK(nb_index(z, 0, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_index: index 0 out of range for axis 0 of length 0");
  CHECK(nb_take(v, 0, 2, (int64_t[]){0, 5}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_take: index 5 out of range for axis 0 of length 3");
  CHECK(nb_take(v, 0, 3, (int64_t[]){-1, -3, -4}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_take: index -4 out of range for axis 0 of length 3");
  CHECK(nb_take(x, 1, 1, (int64_t[]){2}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_take: index 2 out of range for axis 1 of length 2");
  CHECK(nb_take(z, 0, 1, (int64_t[]){0}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_take: index 0 out of range for axis 0 of length 0");
  nb_errclear();
  CHECK(nb_take(v, 0, -1, (int64_t[]){0}) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_take: ");
  nb_errclear();
  CHECK(nb_take(v, 0, 2, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_take: ");
  nb_errclear();
  CHECK(nb_take(v, 0, 0, NULL) != NULL); /* n == 0: nothing to read */
  CHECK(nb_take(z, 0, 0, NULL) != NULL);
  CHECK(nb_slice(z, 0, 0, 5, 1) != NULL);
  CHECK(nb_errcode() == NB_OK);
  nb_graph_free(g);
}

static void test_err_concat_stack(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = in64(g, 2, (int64_t[]){2, 3});
  nb_expr  *b = in64(g, 2, (int64_t[]){2, 4});
  nb_expr  *v = in64(g, 1, (int64_t[]){3});
  nb_expr  *s = in64(g, 0, NULL);
  CHECK(nb_concat(0, (nb_expr *[]){a}, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_concat: ");
  CHECK(nb_concat(-1, (nb_expr *[]){a}, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_concat: ");
  nb_errclear();
  CHECK(nb_concat(2, NULL, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_concat: ");
  CHECK(nb_concat(2, (nb_expr *[]){a, b}, 0) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_concat: ");
  CHECK(nb_concat(2, (nb_expr *[]){a, v}, 0) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_concat: ");
  CHECK(nb_concat(2, (nb_expr *[]){v, a}, -1) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_concat: ");
  nb_errclear();
  CHECK(nb_concat(2, (nb_expr *[]){s, s}, 0) == NULL); /* no axis to join */
  CHECK(nb_errcode() == NB_ERR_ARG || nb_errcode() == NB_ERR_SHAPE);
  CHECK(strncmp(nb_errmsg(), "nb_concat: ", 11) == 0);
  nb_errclear();
  CHECK(nb_concat(2, (nb_expr *[]){a, b}, 1) != NULL); /* [2,7] */
  CHECK(nb_concat(1, (nb_expr *[]){a}, 0) != NULL);
  CHECK(nb_errcode() == NB_OK);

  CHECK(nb_stack(0, (nb_expr *[]){a}, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_stack: ");
  nb_errclear();
  CHECK(nb_stack(3, NULL, 0) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_stack: ");
  CHECK(nb_stack(2, (nb_expr *[]){a, b}, 0) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_stack: ");
  CHECK(nb_stack(2, (nb_expr *[]){a, in64(g, 2, (int64_t[]){3, 2})}, 1) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_stack: ");
  CHECK(nb_stack(2, (nb_expr *[]){v, s}, 0) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_stack: ");
  nb_errclear();
  CHECK(nb_stack(2, (nb_expr *[]){s, s}, 0) != NULL);
  CHECK(nb_errcode() == NB_OK);
  nb_graph_free(g);
}

static void test_err_matmul_where_broadcast(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *s = in64(g, 0, NULL);
  nb_expr  *m23 = in64(g, 2, (int64_t[]){2, 3});
  nb_expr  *m42 = in64(g, 2, (int64_t[]){4, 2});
  nb_expr  *v3 = in64(g, 1, (int64_t[]){3});
  nb_expr  *v4 = in64(g, 1, (int64_t[]){4});
  nb_expr  *b234 = in64(g, 3, (int64_t[]){2, 3, 4});
  nb_expr  *b542 = in64(g, 3, (int64_t[]){5, 4, 2});
  CHECK(nb_matmul(s, m23) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
  CHECK(nb_matmul(m23, s) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
  CHECK(nb_matmul(m23, m42) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
  CHECK(nb_matmul(v3, v4) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
  CHECK(nb_matmul(v3, m42) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
  CHECK(nb_matmul(m42, v3) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
  CHECK(nb_matmul(b234, b542) == NULL); /* batch 2 vs 5 */
  CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
  nb_errclear();
  CHECK(nb_matmul(m23, v3) != NULL);
  CHECK(nb_matmul(v3, m23) == NULL); /* [3] @ [2,3]: 3 != 2 */
  CHECK_ERR(NB_ERR_SHAPE, "nb_matmul: ");
  nb_errclear();
  CHECK(nb_matmul(b234, in64(g, 3, (int64_t[]){1, 4, 2})) != NULL);
  CHECK(nb_errcode() == NB_OK);

  nb_expr *m32 = in64(g, 2, (int64_t[]){3, 2});
  for (int i = 0; i < NB_ARRLEN(BIN); i++) {
    nb_errclear();
    CHECK(BIN[i].fn(m32, v4) == NULL);
    CHECK_ERRF(NB_ERR_SHAPE, BIN[i].name, "cannot broadcast shapes [3,2] and [4]");
  }
  CHECK(nb_where(v4, m32, m32) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_where: ");
  CHECK(nb_where(m32, v4, m32) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_where: ");
  CHECK(nb_where(m32, m32, v3) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_where: ");
  /* size 0 broadcasts only against 0 or 1 */
  nb_expr *z = in64(g, 1, (int64_t[]){0});
  CHECK(nb_add(z, v3) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_add: cannot broadcast shapes [0] and [3]");
  nb_errclear();
  CHECK(nb_add(z, in64(g, 1, (int64_t[]){1})) != NULL);
  CHECK(nb_errcode() == NB_OK);
  nb_graph_free(g);
}

/* ---- functions -------------------------------------------------------------------- */

static void test_err_fn_new(void) {
  nb_graph *g = nb_graph_new(), *g2 = nb_graph_new();
  nb_expr  *x = in64(g, 1, (int64_t[]){3});
  nb_expr  *y = in64(g, 1, (int64_t[]){3});
  nb_expr  *s = nb_sin(x);
  nb_expr  *t = nb_add(x, y);
  nb_expr  *c = nb_full(g, NB_F64, 1, (int64_t[]){3}, 1);
  nb_expr  *x2 = in64(g2, 1, (int64_t[]){3});
  nb_expr  *c2 = nb_full(g2, NB_F64, 1, (int64_t[]){3}, 1);
#define FN_FAILS(call)                                                                  \
  do {                                                                                  \
    nb_errclear();                                                                      \
    nb_fn *f_ = (call);                                                                 \
    CHECK(f_ == NULL);                                                                  \
    nb_fn_free(f_);                                                                     \
    CHECK_ERR(NB_ERR_ARG, "nb_fn_new: ");                                               \
  } while (0)
  FN_FAILS(nb_fn_new(g, 1, &s, 1, &s));                          /* not an input */
  FN_FAILS(nb_fn_new(g, 1, &c, 1, &c));                          /* a constant */
  FN_FAILS(nb_fn_new(g, 2, (nb_expr *[]){x, x}, 1, &s));         /* duplicate */
  FN_FAILS(nb_fn_new(g, 3, (nb_expr *[]){x, y, x}, 1, &t));      /* duplicate */
  FN_FAILS(nb_fn_new(g, 1, &x, 1, &t));                          /* y not listed */
  FN_FAILS(nb_fn_new(g, 1, &x, 2, (nb_expr *[]){s, y}));         /* y not listed */
  FN_FAILS(nb_fn_new(g, 0, &x, 1, &s));                          /* x not listed */
  FN_FAILS(nb_fn_new(g, 1, &x2, 1, &x2));                        /* input of g2 */
  FN_FAILS(nb_fn_new(g, 1, &x, 1, &c2));                         /* output of g2 */
  FN_FAILS(nb_fn_new(g2, 1, &x, 1, &x));                         /* all of g */
  FN_FAILS(nb_fn_new(g, -1, &x, 1, &s));
  FN_FAILS(nb_fn_new(g, 1, &x, -1, &s));
  FN_FAILS(nb_fn_new(g, 1, NULL, 1, &s));
  FN_FAILS(nb_fn_new(g, 1, &x, 1, NULL));
  FN_FAILS(nb_fn_new(g, 2, (nb_expr *[]){x, NULL}, 1, &s));
  FN_FAILS(nb_fn_new(g, 1, &x, 2, (nb_expr *[]){s, NULL}));
  FN_FAILS(nb_fn_new(NULL, 1, &x, 1, &s));
#undef FN_FAILS
  /* g is still fine */
  nb_fn *f = nb_fn_new(g, 2, (nb_expr *[]){x, y}, 2, (nb_expr *[]){t, s});
  CHECK(f != NULL);
  if (f) {
    double xv[3] = {1, 2, 3}, yv[3] = {10, 20, 30}, o0[3], o1[3];
    CHECK(nb_call(f, (const void *[]){xv, yv}, (void *[]){o0, o1}) == NB_OK);
    for (int i = 0; i < 3; i++) {
      CHECK(o0[i] == xv[i] + yv[i]);
      CHECK_NEAR(o1[i], sin(xv[i]), 1e-15, 0);
    }
  }
  nb_fn_free(f);
  nb_graph_free(g);
  nb_graph_free(g2);
}

static nb_fn *make_add_fn(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = in64(g, 1, (int64_t[]){3});
  nb_expr  *y = in64(g, 1, (int64_t[]){3});
  nb_expr  *t = nb_add(x, y);
  nb_fn    *f = nb_fn_new(g, 2, (nb_expr *[]){x, y}, 1, &t);
  nb_graph_free(g);
  return f;
}

static void test_err_call(void) {
  nb_fn *f = make_add_fn();
  CHECK(f != NULL);
  if (!f) return;
  double xv[3] = {1, 2, 3}, yv[3] = {4, 5, 6}, o[3] = {0};
  nb_errclear();
  CHECK(nb_call(NULL, (const void *[]){xv, yv}, (void *[]){o}) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_call: ");
  nb_errclear();
  CHECK(nb_call(f, NULL, (void *[]){o}) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_call: ");
  nb_errclear();
  CHECK(nb_call(f, (const void *[]){xv, yv}, NULL) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_call: ");
  nb_errclear();
  CHECK(nb_call(f, (const void *[]){xv, NULL}, (void *[]){o}) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_call: ");
  nb_errclear();
  CHECK(nb_call(f, (const void *[]){NULL, yv}, (void *[]){o}) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_call: ");
  nb_errclear();
  CHECK(nb_call(f, (const void *[]){xv, yv}, (void *[]){NULL}) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_call: ");
  nb_errclear();
  CHECK(o[0] == 0); /* nothing written by a refused call */
  CHECK(nb_call(f, (const void *[]){xv, yv}, (void *[]){o}) == NB_OK);
  for (int i = 0; i < 3; i++) CHECK(o[i] == xv[i] + yv[i]);
  /* refused calls after a successful one */
  CHECK(nb_call(f, (const void *[]){xv, NULL}, (void *[]){o}) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_call: ");
  CHECK(nb_call(f, (const void *[]){yv, yv}, (void *[]){o}) == NB_OK);
  for (int i = 0; i < 3; i++) CHECK(o[i] == 2 * yv[i]);
  nb_fn_free(f);
}

static void test_err_queries(void) {
  nb_fn *f = make_add_fn();
  CHECK(f != NULL);
  if (!f) return;
  const int bad[] = {2, -1, 1000, INT_MIN};
  for (int k = 0; k < NB_ARRLEN(bad); k++) {
    int i = bad[k];
    nb_errclear();
    CHECK(nb_fn_in_rank(f, i) == -1);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_in_rank: ");
    CHECK(nb_fn_in_size(f, i) == -1);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_in_size: ");
    CHECK(nb_fn_in_shape(f, i) == NULL);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_in_shape: ");
    CHECK(nb_fn_in_dtype(f, i) == 0);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_in_dtype: ");
  }
  const int badout[] = {1, -1, 7, INT_MAX};
  for (int k = 0; k < NB_ARRLEN(badout); k++) {
    int i = badout[k];
    CHECK(nb_fn_out_rank(f, i) == -1);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_out_rank: ");
    CHECK(nb_fn_out_size(f, i) == -1);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_out_size: ");
    CHECK(nb_fn_out_shape(f, i) == NULL);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_out_shape: ");
    CHECK(nb_fn_out_dtype(f, i) == 0);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_out_dtype: ");
  }
  nb_errclear();
  CHECK(nb_fn_in_rank(f, 1) == 1 && nb_fn_out_size(f, 0) == 3);
  CHECK(nb_errcode() == NB_OK);
  nb_fn_free(f);
}

/* ---- nb_trace -------------------------------------------------------------------- */

static nb_status build_bad_shapes(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g;
  (void)user;
  out[0] = nb_add(in[0], in[1]);
  return out[0] ? NB_OK : nb_errcode();
}
static nb_status build_returns_parse(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g;
  (void)user;
  out[0] = nb_sin(in[0]);
  return NB_ERR_PARSE;
}
static nb_status build_leaves_null(nb_graph *g, nb_expr *const *in, nb_expr **out, void *user) {
  (void)g;
  (void)user;
  out[0] = nb_sin(in[0]); /* out[1] left alone */
  return NB_OK;
}

static void test_err_trace(void) {
  nb_spec sp[2] = {{"a", NB_F64, 2, {3, 2}}, {"b", NB_F64, 1, {4}}};
  nb_errclear();
  CHECK(nb_trace(build_bad_shapes, NULL, 2, sp, 1) == NULL);
  CHECK(nb_errcode() == NB_ERR_SHAPE);
  CHECK(strncmp(nb_errmsg(), "nb_", 3) == 0);
  nb_errclear();
  CHECK(nb_trace(build_returns_parse, NULL, 1, sp, 1) == NULL);
  CHECK_ERR(NB_ERR_PARSE, "nb_trace: ");
  nb_errclear();
  CHECK(nb_trace(build_leaves_null, NULL, 1, sp, 2) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_trace: ");
  nb_errclear();
  CHECK(nb_trace(NULL, NULL, 1, sp, 1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_trace: ");
  nb_errclear();
  CHECK(nb_trace(build_identity, NULL, -1, sp, 1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_trace: ");
  nb_errclear();
  CHECK(nb_trace(build_identity, NULL, 1, sp, -1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_trace: ");
  nb_errclear();
  CHECK(nb_trace(build_identity, NULL, 1, NULL, 1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_trace: ");
  nb_spec r9 = {"x", NB_F64, 9, {1, 1, 1, 1, 1, 1, 1, 1}};
  nb_errclear();
  CHECK(nb_trace(build_identity, NULL, 1, &r9, 1) == NULL);
  CHECK(nb_errcode() == NB_ERR_ARG);
  nb_spec neg = {"x", NB_F64, 2, {2, -1}};
  nb_errclear();
  CHECK(nb_trace(build_identity, NULL, 1, &neg, 1) == NULL);
  CHECK(nb_errcode() == NB_ERR_ARG);
  /* still fine afterwards */
  nb_errclear();
  nb_fn *f = nb_trace(build_identity, NULL, 1, sp, 1);
  CHECK(f != NULL);
  if (f) {
    double a[6] = {1, 2, 3, 4, 5, 6}, o[6];
    CHECK(nb_call(f, (const void *[]){a}, (void *[]){o}) == NB_OK);
    CHECK(memcmp(a, o, sizeof a) == 0);
  }
  nb_fn_free(f);
}

/* ---- printing to a failing stream -------------------------------------------------- */

static void test_err_print_stream(void) {
  nb_fn *f = make_add_fn();
  CHECK(f != NULL);
  if (!f) return;
  nb_errclear();
  CHECK(nb_fn_print(f, NULL) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_fn_print: ");
  nb_errclear();
  CHECK(nb_fn_dot(f, NULL) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_fn_dot: ");
  FILE *ro = fopen("/dev/null", "r"); /* writes fail */
  if (ro) {
    nb_errclear();
    CHECK(nb_fn_print(f, ro) == NB_ERR_IO);
    CHECK_ERR(NB_ERR_IO, "nb_fn_print: ");
    clearerr(ro);
    nb_errclear();
    CHECK(nb_fn_dot(f, ro) == NB_ERR_IO);
    CHECK_ERR(NB_ERR_IO, "nb_fn_dot: ");
    fclose(ro);
  }
  nb_fn_free(f);
}

/* ---- status strings ---------------------------------------------------------------- */

/* nb_fn_workspace_bytes: NULL fails with NB_ERR_ARG; a function reports a
 * non-negative size, 0 when nothing needs scratch memory; a sum of sin(x)
 * folds sin(x) block by block and never stores all of it */
static void test_err_workspace_bytes(void) {
  CHECK(nb_fn_workspace_bytes(NULL) == -1);
  CHECK_ERR(NB_ERR_ARG, "nb_fn_workspace_bytes: NULL argument");
  nb_graph *g = nb_graph_new();
  int64_t   s[1] = {1000};
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, s);
  nb_expr  *y = nb_sum(nb_sin(x), 0, NULL, false);
  nb_fn    *f = nb_fn_new(g, 1, &x, 1, &y), *id = nb_fn_new(g, 1, &x, 1, &x);
  CHECK(f && id);
  CHECK(nb_fn_workspace_bytes(f) > 0 && nb_fn_workspace_bytes(f) < 1000 * 8);
  CHECK(nb_fn_workspace_bytes(id) == 0);
  nb_fn_free(f);
  nb_fn_free(id);
  nb_graph_free(g);
}

static void test_err_status_str(void) {
  for (int s = NB_OK; s <= NB_ERR_COMPILE; s++) {
    const char *t = nb_status_str((nb_status)s);
    CHECK(t != NULL && t[0] != 0);
    for (int u = NB_OK; u < s; u++) CHECK(strcmp(t, nb_status_str((nb_status)u)) != 0);
  }
  CHECK(nb_status_str((nb_status)1234) != NULL);
  CHECK(nb_status_str((nb_status)-5) != NULL);
}

/* ---- the graph and functions stay usable ----------------------------------------- */

static void test_err_usable_after_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = in64(g, 2, (int64_t[]){3, 2});
  nb_expr  *b = in64(g, 1, (int64_t[]){4});
  for (int rep = 0; rep < 50; rep++) { /* many failures in a row */
    CHECK(nb_add(x, b) == NULL);
    CHECK(nb_reshape(x, 1, (int64_t[]){7}) == NULL);
    CHECK(nb_sum(x, 1, (int[]){5}, false) == NULL);
    CHECK(nb_matmul(x, x) == NULL);
    CHECK(nb_take(b, 0, 1, (int64_t[]){9}) == NULL);
    CHECK(nb_input(g, "bad", NB_F64, 9, NULL) == NULL);
    CHECK(nb_concat(2, (nb_expr *[]){x, b}, 0) == NULL);
  }
  nb_expr *z = nb_add(nb_mul(nb_sin(x), x), nb_slice(b, 0, 0, 2, 1));
  CHECK(z != NULL);
  nb_fn *f = nb_fn_new(g, 2, (nb_expr *[]){x, b}, 1, &z);
  CHECK(f != NULL);
  nb_fn *bad = nb_fn_new(g, 1, &x, 1, &z); /* b not listed */
  CHECK(bad == NULL);
  nb_fn_free(bad);
  nb_expr *z2 = nb_sum(z, 0, NULL, false); /* grow more after failures */
  nb_fn   *f2 = nb_fn_new(g, 2, (nb_expr *[]){x, b}, 1, &z2);
  CHECK(f2 != NULL);
  nb_graph_free(g);
  double xv[6] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, bv[4] = {1, 2, 3, 4}, o[6], s = 0;
  if (f) {
    CHECK(nb_call(f, (const void *[]){xv, NULL}, (void *[]){o}) == NB_ERR_ARG);
    CHECK(nb_call(f, (const void *[]){xv, bv}, (void *[]){o}) == NB_OK);
    double want = 0;
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 2; j++) {
        double w = sin(xv[i * 2 + j]) * xv[i * 2 + j] + bv[j];
        want += w;
        CHECK_NEAR(o[i * 2 + j], w, 1e-15, 0);
      }
    if (f2) {
      CHECK(nb_call(f2, (const void *[]){xv, bv}, (void *[]){&s}) == NB_OK);
      CHECK_NEAR(s, want, 1e-14, 0);
    }
  }
  nb_fn_free(f);
  nb_fn_free(f2);
}

void suite_errors(void) {
  RUN(test_err_first_message_kept);
  RUN(test_err_null_clear_record);
  RUN(test_err_dtype_mismatch);
  RUN(test_err_two_graphs);
  RUN(test_err_rank_dims);
  RUN(test_err_too_large);
  RUN(test_err_invalid_dtype);
  RUN(test_err_axes);
  RUN(test_err_reshape_transpose_broadcast);
  RUN(test_err_slice_index_take);
  RUN(test_err_concat_stack);
  RUN(test_err_matmul_where_broadcast);
  RUN(test_err_fn_new);
  RUN(test_err_call);
  RUN(test_err_queries);
  RUN(test_err_trace);
  RUN(test_err_print_stream);
  RUN(test_err_workspace_bytes);
  RUN(test_err_status_str);
  RUN(test_err_usable_after_errors);
}
