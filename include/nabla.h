/* nabla — automatic differentiation of tensor expression graphs in C.
 * The public contract; see docs/API.md for the reference. */
#ifndef NABLA_H
#define NABLA_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* the library is built with hidden symbols; exactly these are exported */
#if defined(NB_BUILDING_LIBRARY) && defined(__GNUC__)
#pragma GCC visibility push(default)
#endif

#define NB_VERSION_MAJOR 0
#define NB_VERSION_MINOR 1
#define NB_VERSION_PATCH 0

typedef enum nb_dtype { NB_F32 = 1, NB_F64 = 2 } nb_dtype;
#define NB_MAX_RANK 8

typedef struct nb_graph nb_graph; /* a graph under construction: owns its expressions */
typedef struct nb_expr nb_expr;   /* a symbolic tensor inside one graph */
typedef struct nb_fn nb_fn;       /* a closed function: typed inputs -> outputs */

typedef enum nb_status {
  NB_OK = 0,
  NB_ERR_ARG,    /* invalid argument (NULL, out of range, wrong input count, ...) */
  NB_ERR_SHAPE,  /* shapes do not fit (broadcast, matmul, reshape, cotangent...)  */
  NB_ERR_DTYPE,  /* dtypes do not fit                                              */
  NB_ERR_NOMEM,  /* allocation failed                                              */
  NB_ERR_PARSE,  /* expression text could not be parsed                            */
  NB_ERR_IO,     /* reading or writing a file or stream failed                     */
  NB_ERR_COMPILE, /* generating, compiling or loading native code failed           */
  NB_ERR_CHECK    /* extension: nb_check_grads found derivatives that disagree       */
} nb_status;

/* ---- errors ---------------------------------------------------------------- */
const char *nb_status_str(nb_status s);
const char *nb_errmsg(void);   /* thread-local: the most recent failure on this thread */
nb_status   nb_errcode(void);
void        nb_errclear(void); /* extension: forget the recorded failure */

/* ---- allocation hook (extension) --------------------------------------------
 * Every allocation of the library goes through these three functions. Install
 * before creating any object (objects must be freed by the allocator that made
 * them). NULL restores malloc/realloc/free. */
typedef struct nb_allocator {
  void *(*alloc)(void *user, size_t size);
  void *(*realloc)(void *user, void *ptr, size_t size);
  void (*free)(void *user, void *ptr);
  void *user;
} nb_allocator;
void nb_set_allocator(const nb_allocator *a);

/* ---- building graphs ------------------------------------------------------- */
nb_graph *nb_graph_new(void);
void      nb_graph_free(nb_graph *g); /* frees every expression of g; NULL ok */

nb_expr *nb_input(nb_graph *g, const char *name, nb_dtype dt, int rank, const int64_t *shape);
nb_expr *nb_const(nb_graph *g, nb_dtype dt, int rank, const int64_t *shape, const void *data);
nb_expr *nb_full(nb_graph *g, nb_dtype dt, int rank, const int64_t *shape, double value);
nb_expr *nb_scalar(nb_graph *g, double value); /* weakly typed: takes the other operand's dtype */

nb_dtype       nb_expr_dtype(const nb_expr *x);
int            nb_expr_rank(const nb_expr *x);
const int64_t *nb_expr_shape(const nb_expr *x);
int64_t        nb_expr_size(const nb_expr *x);
nb_graph      *nb_expr_graph(const nb_expr *x);

/* elementwise unary */
nb_expr *nb_neg(nb_expr *x);
nb_expr *nb_abs(nb_expr *x);
nb_expr *nb_sign(nb_expr *x);
nb_expr *nb_exp(nb_expr *x);
nb_expr *nb_expm1(nb_expr *x);
nb_expr *nb_log(nb_expr *x);
nb_expr *nb_log1p(nb_expr *x);
nb_expr *nb_sqrt(nb_expr *x);
nb_expr *nb_rsqrt(nb_expr *x);
nb_expr *nb_square(nb_expr *x);
nb_expr *nb_reciprocal(nb_expr *x);
nb_expr *nb_sin(nb_expr *x);
nb_expr *nb_cos(nb_expr *x);
nb_expr *nb_tan(nb_expr *x);
nb_expr *nb_asin(nb_expr *x);
nb_expr *nb_acos(nb_expr *x);
nb_expr *nb_atan(nb_expr *x);
nb_expr *nb_sinh(nb_expr *x);
nb_expr *nb_cosh(nb_expr *x);
nb_expr *nb_tanh(nb_expr *x);
nb_expr *nb_sigmoid(nb_expr *x);
nb_expr *nb_relu(nb_expr *x);
nb_expr *nb_softplus(nb_expr *x);
nb_expr *nb_erf(nb_expr *x);
nb_expr *nb_floor(nb_expr *x);
nb_expr *nb_ceil(nb_expr *x);
nb_expr *nb_round(nb_expr *x); /* half to even */

/* elementwise binary, numpy broadcasting */
nb_expr *nb_add(nb_expr *a, nb_expr *b);
nb_expr *nb_sub(nb_expr *a, nb_expr *b);
nb_expr *nb_mul(nb_expr *a, nb_expr *b);
nb_expr *nb_div(nb_expr *a, nb_expr *b);
nb_expr *nb_pow(nb_expr *a, nb_expr *b);
nb_expr *nb_atan2(nb_expr *a, nb_expr *b);
nb_expr *nb_maximum(nb_expr *a, nb_expr *b);
nb_expr *nb_minimum(nb_expr *a, nb_expr *b);

nb_expr *nb_adds(nb_expr *x, double s);
nb_expr *nb_muls(nb_expr *x, double s);
nb_expr *nb_pows(nb_expr *x, double p);

/* comparisons: 1 where true, 0 where false, in the operands' dtype */
nb_expr *nb_lt(nb_expr *a, nb_expr *b);
nb_expr *nb_le(nb_expr *a, nb_expr *b);
nb_expr *nb_gt(nb_expr *a, nb_expr *b);
nb_expr *nb_ge(nb_expr *a, nb_expr *b);
nb_expr *nb_eq(nb_expr *a, nb_expr *b);
nb_expr *nb_ne(nb_expr *a, nb_expr *b);
nb_expr *nb_where(nb_expr *cond, nb_expr *a, nb_expr *b);
nb_expr *nb_cast(nb_expr *x, nb_dtype dt);

/* reductions */
nb_expr *nb_sum(nb_expr *x, int naxes, const int *axes, bool keepdims);
nb_expr *nb_mean(nb_expr *x, int naxes, const int *axes, bool keepdims);
nb_expr *nb_prod(nb_expr *x, int naxes, const int *axes, bool keepdims);
nb_expr *nb_max(nb_expr *x, int naxes, const int *axes, bool keepdims);
nb_expr *nb_min(nb_expr *x, int naxes, const int *axes, bool keepdims);
nb_expr *nb_logsumexp(nb_expr *x, int naxes, const int *axes, bool keepdims);

/* shape and indexing */
nb_expr *nb_reshape(nb_expr *x, int rank, const int64_t *shape);
nb_expr *nb_transpose(nb_expr *x, const int *perm);
nb_expr *nb_broadcast_to(nb_expr *x, int rank, const int64_t *shape);
nb_expr *nb_slice(nb_expr *x, int axis, int64_t start, int64_t stop, int64_t step);
nb_expr *nb_index(nb_expr *x, int axis, int64_t i);
nb_expr *nb_take(nb_expr *x, int axis, int64_t n, const int64_t *indices);
nb_expr *nb_concat(int n, nb_expr *const *xs, int axis);
nb_expr *nb_stack(int n, nb_expr *const *xs, int axis);

/* linear algebra and neural-network helpers */
nb_expr *nb_matmul(nb_expr *a, nb_expr *b);
nb_expr *nb_softmax(nb_expr *x, int axis);
nb_expr *nb_log_softmax(nb_expr *x, int axis);

/* ---- functions --------------------------------------------------------------- */
nb_fn *nb_fn_new(nb_graph *g, int nin, nb_expr *const *inputs, int nout, nb_expr *const *outputs);
void   nb_fn_free(nb_fn *f);

int            nb_fn_nin(const nb_fn *f);
int            nb_fn_nout(const nb_fn *f);
nb_dtype       nb_fn_in_dtype(const nb_fn *f, int i);
int            nb_fn_in_rank(const nb_fn *f, int i);
const int64_t *nb_fn_in_shape(const nb_fn *f, int i);
int64_t        nb_fn_in_size(const nb_fn *f, int i);
nb_dtype       nb_fn_out_dtype(const nb_fn *f, int i);
int            nb_fn_out_rank(const nb_fn *f, int i);
const int64_t *nb_fn_out_shape(const nb_fn *f, int i);
int64_t        nb_fn_out_size(const nb_fn *f, int i);

nb_status nb_call(nb_fn *f, const void *const *inputs, void *const *outputs);

typedef struct nb_spec {
  const char *name;
  nb_dtype    dtype;
  int         rank;
  int64_t     shape[NB_MAX_RANK];
} nb_spec;
typedef nb_status (*nb_build)(nb_graph *g, nb_expr *const *inputs, nb_expr **outputs, void *user);
nb_fn *nb_trace(nb_build build, void *user, int nin, const nb_spec *inputs, int nout);

/* ---- transformations ------------------------------------------------------- */
typedef struct nb_diff_opts {
  int        nwrt; /* number of inputs to differentiate with respect to; 0: all inputs */
  const int *wrt;  /* their indices, ascending */
  int        naux; /* the last naux outputs are auxiliary */
} nb_diff_opts;

#define NB_UNMAPPED INT_MIN
nb_fn *nb_jvp(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_vjp(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_grad(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_value_and_grad(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_jacfwd(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_jacrev(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_jacobian(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_hessian(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_hvp(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_vmap(const nb_fn *f, const int *in_axes, const int *out_axes);
nb_fn *nb_batch_jvp(const nb_fn *f, const nb_diff_opts *o);
nb_fn *nb_batch_vjp(const nb_fn *f, const nb_diff_opts *o);

/* Extensions: the same with the batch size given. nabla functions have
 * static shapes, so a batched function needs its batch size when it is made;
 * nb_vmap, nb_batch_jvp and nb_batch_vjp cannot know it and fail with a
 * message that points here. */
nb_fn *nb_vmap_sized(const nb_fn *f, int64_t batch, const int *in_axes, const int *out_axes);
nb_fn *nb_batch_jvp_sized(const nb_fn *f, int64_t batch, const nb_diff_opts *o);
nb_fn *nb_batch_vjp_sized(const nb_fn *f, int64_t batch, const nb_diff_opts *o);

/* ---- inspection and checking ----------------------------------------------- */
nb_status nb_fn_print(const nb_fn *f, FILE *out);
nb_status nb_fn_dot(const nb_fn *f, FILE *out);
int64_t   nb_fn_node_count(const nb_fn *f);
/* extension: bytes of scratch memory one call of f uses (its workspace),
 * not counting the caller's input and output buffers; -1 on failure */
int64_t   nb_fn_workspace_bytes(nb_fn *f);

/* extension: standalone C and native code.
 * nb_fn_emit_c writes f as one C11 file that needs only <math.h>, <stdint.h>
 * and <string.h>: `int NAME(const void *const *in, void *const *out, void *work)`
 * computes what nb_call computes (0 on success; reentrant, no globals, no
 * malloc), work being NAME_work_bytes() bytes of scratch memory, 16-byte
 * aligned; NAME_nin(), NAME_nout(), NAME_in_size(i) and NAME_out_size(i)
 * describe the signature. NAME must be a C identifier.
 * nb_fn_compile emits f, compiles it with the system C compiler ($NB_CC,
 * else the compiler nabla was built with, else cc) and loads it: from then
 * on nb_call runs the native code (large loops on nabla's thread pool). NB_ERR_COMPILE, with the
 * compiler's first words, when that fails; f then keeps working as before. */
nb_status nb_fn_emit_c(nb_fn *f, const char *name, FILE *out);
nb_status nb_fn_compile(nb_fn *f);
nb_status nb_check_grads(const nb_fn *f, const void *const *x, int order, double *max_rel_err);

const char *nb_version(void);

#if defined(NB_BUILDING_LIBRARY) && defined(__GNUC__)
#pragma GCC visibility pop
#endif

#ifdef __cplusplus
}
#endif
#endif
