/* Internal types shared by every layer: nodes, primitive rows, graphs and
 * functions. Nothing here is public; names use the nb__ / NB__ prefix. */
#ifndef NB_INTERNAL_H
#define NB_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>

#include "nabla.h"

#if defined(__GNUC__)
#define NB__PRINTF(f, a) __attribute__((format(printf, f, a)))
#else
#define NB__PRINTF(f, a)
#endif

/* ---- errors (core/error.c) ------------------------------------------------- */
/* Records a failure for this thread and returns its code. */
nb_status nb__fail(nb_status code, const char *fmt, ...) NB__PRINTF(2, 3);
/* A NULL operand: keeps an earlier failure's record (sticky), returns NB_ERR_ARG. */
nb_status nb__null_arg(const char *api);
nb_status nb__nomem(const char *api);
/* How many failures this thread has recorded: transformations compare it
 * before and after, since inside them NULL means "zero", not "failed". */
uint64_t nb__fail_count(void);

/* ---- memory (core/alloc.c) --------------------------------------------------- */
void *nb__malloc(size_t n);
void *nb__calloc(size_t count, size_t size); /* checked product */
void *nb__realloc(void *p, size_t n);
void  nb__free(void *p);

/* A chunked bump allocator: pointers stay valid until nb__arena_free. */
typedef struct nb__chunk nb__chunk;
typedef struct nb__arena {
  nb__chunk *head;
} nb__arena;
void *nb__arena_alloc(nb__arena *a, size_t n); /* 16-byte aligned, NULL on failure */
void *nb__arena_dup(nb__arena *a, const void *src, size_t n);
void  nb__arena_free(nb__arena *a);

/* ---- shapes and checked arithmetic (core/shape.c) ---------------------------- */
#define NB__SHAPE_STR 192
/* bytes per element; 0 for an invalid dtype (inline: kernels call it often) */
static inline size_t nb__dtype_size(nb_dtype dt) { return dt == NB_F32 ? 4 : dt == NB_F64 ? 8 : 0; }
const char *nb__dtype_name(int dt);
bool        nb__valid_dtype(int dt);
bool        nb__mul_ok(int64_t a, int64_t b, int64_t *out);
/* Validates rank, dimensions and the element/byte count; fails with api's name. */
nb_status nb__check_shape(const char *api, nb_dtype dt, int rank, const int64_t *shape, int64_t *size);
char     *nb__shape_str(char *buf, int rank, const int64_t *shape); /* "[3,2]" */
bool      nb__same_shape(int ra, const int64_t *a, int rb, const int64_t *b);
/* Normalizes an axis (negative counts from the end); false if out of range. */
bool nb__norm_axis(int *axis, int rank);
void nb__dense_strides(int rank, const int64_t *shape, int64_t *strides);
/* the sizes around an axis: outer x shape[axis] x inner */
void nb__split_at(int rank, const int64_t *shape, int axis, int64_t *outer, int64_t *inner);
/* Is the axes bit mask exactly the trailing axes (maybe none)? Then the
 * reduced elements lie in contiguous runs of *run. */
bool nb__trailing_axes(int rank, const int64_t *shape, int64_t mask, int64_t *run);

/* ---- primitives ----------------------------------------------------------- */
/* The primitive set (DESIGN.md §2). Public operations not listed here are
 * composites built in src/ops/. */
#define NB__PRIMS(X)                                                                     \
  X(INPUT) X(CONST) X(FILL) X(IOTA)                                                      \
  X(NEG) X(ABS) X(SIGN) X(EXP) X(EXPM1) X(LOG) X(LOG1P) X(SQRT) X(SIN) X(COS) X(TAN)     \
  X(ASIN) X(ACOS) X(ATAN) X(SINH) X(COSH) X(TANH) X(ERF) X(LOGISTIC) X(FLOOR) X(CEIL)    \
  X(ROUND) X(STOP_GRADIENT)                                                              \
  X(ADD) X(SUB) X(MUL) X(DIV) X(POW) X(ATAN2) X(MAX) X(MIN) X(DMUL)                      \
  X(LT) X(LE) X(GT) X(GE) X(EQ) X(NE)                                                    \
  X(SELECT) X(CAST)                                                                      \
  X(BROADCAST) X(RESHAPE) X(TRANSPOSE) X(REV) X(SLICE) X(PAD) X(CONCAT) X(GATHER)        \
  X(SCATTER_ADD)                                                                         \
  X(REDUCE_SUM) X(REDUCE_MAX) X(REDUCE_PROD)                                             \
  X(MATMUL)

typedef enum nb__op {
#define NB__OP_ENUM(id) NB_OP_##id,
  NB__PRIMS(NB__OP_ENUM)
#undef NB__OP_ENUM
  NB_OP_COUNT
} nb__op;

/* Parameters of a node; their meaning depends on the primitive (see its row). */
typedef struct nb__params {
  int64_t     i[NB_MAX_RANK];
  double      d;      /* FILL: the value */
  size_t      nbytes; /* size of data */
  const void *data;   /* CONST: elements; GATHER/SCATTER_ADD: int64 indices; INPUT: name */
} nb__params;

/* What every node carries, in a graph and in a function alike. */
typedef struct nb__node {
  uint16_t   op;
  uint8_t    dtype;
  uint8_t    rank;
  uint8_t    weak; /* weakly typed scalar expression: adopts the other operand's dtype */
  int32_t    nsrc;
  int64_t    size;
  int64_t    shape[NB_MAX_RANK];
  nb__params p;
} nb__node;

/* Shape/dtype inference and validation: src are the operands' nodes; fills
 * out's dtype, rank, shape and weak flag (params are already set). */
typedef nb_status (*nb__infer_fn)(const char *api, nb__node *out, const nb__node *const *src);
/* Reference kernel: computes out from the operands' dense buffers. */
typedef void (*nb__eval_fn)(const nb__node *n, const nb__node *const *src, void *out,
                            const void *const *in);

/* ---- derivative rules (the AD context is in transform/ad.h) ---- */
typedef struct nb__ad nb__ad;
/* d y / d x of a unary elementwise primitive, from x and y = op(x) */
typedef nb_expr *(*nb__partial_fn)(nb__ad *ad, nb_expr *x, nb_expr *y);
/* Tangent of y = op(x...) from the operands' tangents t (NULL: exact zero);
 * n carries the parameters. Returns NULL for a zero tangent. */
typedef nb_expr *(*nb__jvp_fn)(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                               nb_expr *const *t);
/* Transpose of y, linear in the operands flagged in lin: their cotangents
 * from y's cotangent ct (left NULL when zero). */
typedef void (*nb__transpose_fn)(nb__ad *ad, nb_expr *y, nb_expr *ct, const bool *lin,
                                 nb_expr **cts);
/* Batching: y = op(x...) where the operands flagged in bx carry a leading
 * batch axis of size b; returns y with that leading axis. */
typedef nb_expr *(*nb__batch_fn)(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                                 const bool *bx);

/* Movement rows describe their value as strided copies, one per operand:
 * over the index space shape, out[out.off + i·out.str] = operand[in.off + i·in.str]
 * (element offsets and strides). The kernels and the C emitter both walk them. */
typedef struct nb__view {
  int64_t off;
  int64_t str[NB_MAX_RANK];
} nb__view;
typedef struct nb__copy {
  int      rank;
  bool     zero_first; /* the output is zeroed before this copy (pad) */
  int64_t  shape[NB_MAX_RANK];
  nb__view out, in;
} nb__copy;
typedef void (*nb__copy_fn)(const nb__node *n, const nb__node *const *src, int k, nb__copy *c);

/* broadcast_in_dim computed piecewise (prim/movement.c): its levels of runs
 * along which the operand's index is affine (outermost first; returns their
 * count), and elements [at, at + len) of its value, for fused groups */
int  nb__broadcast_levels(const nb__node *n, const nb__node *x, int64_t *ext, int64_t *str);
void nb__broadcast_block(const nb__node *n, const nb__node *x, const void *in, void *out, int64_t at,
                         int64_t len);
/* visits elements [at, at + len) of such nested runs one run (or part of
 * one) at a time: off is the operand's index of its first element */
typedef void (*nb__run_fn)(void *ctx, int64_t off, int64_t stride, int64_t count);
void nb__walk_runs(int levels, const int64_t *ext, const int64_t *str, int64_t at, int64_t len,
                   nb__run_fn visit, void *ctx);

/* Reductions as sinks of their operand's fused group (prim/reduce.c).
 * Over every axis: one block of the operand folded into a double, and the
 * blocks' partials folded in block order into n's one element. Over some
 * axes: accumulators (a double per element of n) start at the identity,
 * elements [at, at + len) of x (in block) fold into them in order, and
 * they are stored as n's value; the levels are x's nested runs along which
 * the accumulator's index is affine (as nb__broadcast_levels). */
double nb__reduce_block(const nb__node *n, const void *x, int64_t len);
void   nb__reduce_partials(const nb__node *n, const double *partial, int64_t count, void *out);
int    nb__reduce_levels(const nb__node *n, const nb__node *x, int64_t *ext, int64_t *str);
void   nb__reduce_start(const nb__node *n, double *acc);
void   nb__reduce_rows(const nb__node *n, const nb__node *x, const void *block, int64_t at, int64_t len,
                       double *acc);
void   nb__reduce_finish(const nb__node *n, const double *acc, void *out);

enum {
  NB__ELEMENTWISE = 1u << 0, /* same-shape operands, output element i from elements i */
  NB__ALIAS = 1u << 1,       /* output is the operand's buffer (reshape, stop_gradient) */
  NB__LEAF = 1u << 2,
  NB__NO_INTERN = 1u << 3, /* never shared between two creations (inputs) */
};

typedef struct nb__prim {
  const char  *name;
  int          arity; /* -1: any number >= 1 */
  unsigned     flags;
  nb__infer_fn infer;
  nb__eval_fn  eval;
  /* derivatives: a unary elementwise row gives its partial, any other row
   * its jvp (nb__jvp_zero for piecewise-constant ones); linear rows give
   * their transpose */
  nb__partial_fn   partial;
  nb__jvp_fn       jvp;
  nb__transpose_fn transpose;
  nb__batch_fn     batch; /* leaves have none: they are never batched */
  /* the scalar formula of an elementwise row as C source, per dtype, over
   * x (unary) or a, b (binary); the C emitter pastes it (emit/c.c) */
  const char *c64, *c32;
  nb__copy_fn copy; /* movement rows: their value as strided copies */
} nb__prim;

extern const nb__prim *const nb__prims[NB_OP_COUNT];
#define NB__ROW_DECL(id) extern const nb__prim nb__row_##id;
NB__PRIMS(NB__ROW_DECL)
#undef NB__ROW_DECL

/* Shared inference helpers for rows (prim/infer.c). */
nb_status nb__infer_same(const char *api, nb__node *out, const nb__node *const *src, int n);

/* ---- graphs (graph/graph.c) -------------------------------------------------- */
struct nb_expr {
  nb__node   n;
  nb_graph  *g;
  uint32_t   id; /* creation order: sources always have smaller ids */
  nb_expr  **src;
  nb_expr   *hnext; /* interning chain */
};

struct nb_graph {
  nb__arena arena; /* nodes, source lists, parameter data */
  nb_expr **nodes; /* by id */
  uint32_t  nnodes, cap;
  nb_expr **htab; /* interning table, open hashing with chains */
  uint32_t  hcap, hcount;
  int64_t   ninputs;
};

/* Creates (or finds the interned twin of) a node: proto holds op, params and,
 * for leaves, dtype/rank/shape/weak. Validates operands (NULL, same graph)
 * and runs the row's inference. Parameter data is copied into the graph. */
nb_expr *nb__emit(const char *api, nb_graph *g, const nb__node *proto, int nsrc,
                  nb_expr *const *src);
/* Emission-time simplification (transform/simplify.c): returns true when
 * the node need not be created; *out is then the equal expression (NULL if
 * making it failed). */
bool nb__simplify(const char *api, nb_graph *g, const nb__node *n, nb_expr *const *src,
                  nb_expr **out);
/* Convenience forms used by the ops layer. */
nb_expr *nb__op1(const char *api, int op, nb_expr *x, const nb__params *p);
nb_expr *nb__op2(const char *api, int op, nb_expr *a, nb_expr *b);
nb_expr *nb__fill(const char *api, nb_graph *g, nb_dtype dt, int rank, const int64_t *shape,
                  double v, bool weak);
/* Builders shared by the ops layer and the derivative rules (graph/graph.c).
 * They emit plain primitives: identities and fills are the simplifier's job. */
nb_expr *nb__fill_like(const char *api, const nb_expr *x, double v); /* x's dtype, shape, weakness */
nb_expr *nb__reshape(const char *api, nb_expr *x, int rank, const int64_t *shape);
/* r, a reduction of a value shaped like x over the axes in mask, broadcast back */
nb_expr *nb__unreduce(const char *api, nb_expr *r, const nb__node *x, int64_t mask);
/* Checks a list of operands for NULL and for one graph; returns the graph. */
nb_graph *nb__operands(const char *api, int n, nb_expr *const *xs);

/* ---- functions (fn/fn.c, exec/) ---------------------------------------------- */
typedef struct nb__fnode {
  nb__node n;
  int32_t *src;
} nb__fnode;

typedef struct nb__plan nb__plan;
/* native code (emit/c.c writes it, emit/jit.c loads it): the entry point runs
 * its large loops through par when given one */
typedef void (*nb__loop_fn)(const void *const *in, void *const *out, char *ws, int64_t lo, int64_t hi);
typedef void (*nb__par_fn)(void *ctx, nb__loop_fn loop, const void *const *in, void *const *out, char *ws,
                           int64_t lo, int64_t hi);
typedef int (*nb__native_fn)(const void *const *in, void *const *out, void *work, nb__par_fn par, void *ctx);
typedef struct nb__workspace nb__workspace;

struct nb_fn {
  nb__arena  arena; /* nodes' source lists and parameter data */
  nb__fnode *nodes; /* topological order */
  int32_t    nnodes;
  int        nin, nout;
  int32_t   *in, *out; /* node indices */
  /* execution state, built at the first call (exec/call.c) */
  pthread_mutex_t lock;
  nb__plan       *plan;
  nb__workspace  *idle; /* workspaces not in use */
  /* one workspace not in use that a call takes and gives back without the
   * lock (the common case of one caller at a time) */
  _Atomic(nb__workspace *) ready;
  /* native code from nb_fn_compile (emit/jit.c): nb_call runs it when set */
  void                    *native_lib;
  _Atomic(nb__native_fn)   native;
};

void nb__exec_destroy(nb_fn *f);
void nb__native_unload(nb_fn *f); /* emit/jit.c */
/* runs a native loop over [lo, hi) on the thread pool (emit/jit.c) */
void nb__native_par(void *ctx, nb__loop_fn loop, const void *const *in, void *const *out, char *ws, int64_t lo,
                    int64_t hi);

#endif
