/* The execution plan of a function (built once, at its first call). */
#ifndef NB_EXEC_H
#define NB_EXEC_H

#include "../internal.h"

/* elements per block of a fused group: its temporaries stay in L1; groups
 * of at least NB__PARALLEL_MIN elements are split over the thread pool */
enum { NB__BLOCK = 512, NB__ALIGN = 64, NB__MAX_THREADS = 8, NB__PARALLEL_MIN = 1 << 18 };
/* broadcasts join fused groups when their operand is read in runs of at least this */
enum { NB__BROADCAST_RUN = 64 };

/* the thread pool (exec/pool.c): fn(ctx, part, lo, hi) over [0, n) in
 * nb__pool_threads() parts, part 0 on the calling thread */
typedef void (*nb__range_fn)(void *ctx, int part, int64_t lo, int64_t hi);
int  nb__pool_threads(void);
void nb__parallel_for(int64_t n, nb__range_fn fn, void *ctx);

/* where a node's value lives during a call */
typedef enum nb__home_kind {
  NB__HOME_WS,    /* a slot of the workspace */
  NB__HOME_IN,    /* the caller's input buffer */
  NB__HOME_OUT,   /* the caller's output buffer */
  NB__HOME_CONST, /* the node's constant data */
  NB__HOME_ALIAS, /* its operand's buffer (reshape, stop_gradient), or a part of it
                     at an offset (a contiguous slice) */
  NB__HOME_TEMP,  /* a block-sized temporary inside its fused group */
  NB__HOME_NONE   /* not needed (an unused input) */
} nb__home_kind;

typedef struct nb__home {
  uint8_t kind;
  int32_t index;  /* input/output position, or temporary number in its group */
  int64_t offset; /* workspace byte offset (WS), or offset in the operand (ALIAS) */
} nb__home;

/* plan->through: how generated code reads a node it never makes */
enum {
  NB__THROUGH_GUARD = 1, /* a pad: its operand through a guard (emit/c_fused.c) */
  NB__THROUGH_REMAT = 2, /* the same, the operand recomputed there (set by the emitter) */
  NB__THROUGH_SWAP = 3   /* a transpose of the last two axes read by matmuls: its
                            operand with those two strides swapped (emit/c_nests.c) */
};

/* A fused run of elementwise nodes of one size, executed block by block.
 * Reductions of a member join as sinks; nothing in the group reads them.
 * A reduction over all trailing axes to one element folds each block into a
 * partial (a double), and after the group the partials fold in block order,
 * so its value does not depend on how blocks were split over threads. Any
 * other reduction joins only groups too small to be split: the blocks fold
 * in order into accumulators, a double per element of the reduction. A node
 * reading a sink closes the group (it must run first), so a reduction made
 * after such a reader is a step of its own. */
typedef struct nb__group {
  int32_t first, count; /* its members in plan->members, in topological order */
  int64_t size;         /* elements of every member but its sinks */
  int32_t ntemp;
  int32_t parts;       /* threads it runs on (each has its own temporaries) */
  int64_t temp_offset; /* workspace offset of the temporaries' blocks */
  int32_t nsink;
  int64_t partials;    /* workspace offset of the sinks' partials or accumulators,
                          nb__sink_doubles each, in member order */
} nb__group;

static inline int64_t nb__blocks(int64_t size) { return (size + NB__BLOCK - 1) / NB__BLOCK; }
static inline bool    nb__is_reduction(int op) {
  return op == NB_OP_REDUCE_SUM || op == NB_OP_REDUCE_MAX || op == NB_OP_REDUCE_PROD;
}
/* a sink with a partial per block (else accumulators); x is its operand */
static inline bool nb__sink_partials(const nb__node *n, const nb__node *x) {
  int64_t run;
  return n->size == 1 && n->p.i[0] && nb__trailing_axes(x->rank, x->shape, n->p.i[0], &run);
}
static inline int64_t nb__sink_doubles(const nb__node *n, const nb__node *x) {
  return nb__sink_partials(n, x) ? nb__blocks(x->size) : n->size;
}

typedef struct nb__step {
  int32_t node;  /* a single node, or -1 */
  int32_t group; /* a fused group, or -1 */
} nb__step;

struct nb__plan {
  nb__step        *steps;
  int32_t          nsteps;
  nb__group       *groups;
  int32_t          ngroups;
  int32_t         *members;
  nb__home        *home;  /* per node */
  const nb__node **srcs;  /* every node's operand nodes, back to back */
  int32_t         *first; /* per node: where its operands start in srcs */
  int32_t          max_src;
  uint8_t         *through; /* per node: generated code never makes it and its readers
                               read its operand, which lives as long as they do
                               (NB__THROUGH_GUARD, NB__THROUGH_SWAP) */
  int64_t         *scratch; /* per node: workspace offset of a blocked product's
                               scratch (nb__matmul_scratch bytes), during its step;
                               -1 for every other node */
  size_t           bytes; /* workspace size */
};

/* the row and column strides of a [rows, cols] matmul operand, read as is
 * or (swapped) as the transpose of a [cols, rows] buffer: the interpreter's
 * kernel and generated code share them */
static inline void nb__matmul_strides(int64_t rows, int64_t cols, bool swapped, int64_t *row, int64_t *col) {
  *row = swapped ? 1 : cols;
  *col = swapped ? rows : 1;
}

/* products that run as the blocked kernel (prim/gemm.h) when there is no
 * BLAS, and in generated code; over the thread pool from NB__GEMM_PARALLEL_WORK
 * multiply-adds */
enum { NB__GEMM_PARALLEL_WORK = 1 << 21 };
static inline bool nb__matmul_blocked(int64_t m, int64_t n, int64_t k) {
  return m >= 8 && n >= 16 && k >= 16 && m * n * k >= 65536;
}

/* matmul with operand k read as the transpose of its last two axes when
 * swap[k] (prim/matmul.c); s are the operands as the node sees them;
 * scratch holds nb__matmul_scratch(n, s) bytes (the blocked kernel's
 * packed operand), or is NULL */
void    nb__matmul_swapped(const nb__node *n, const nb__node *const *s, void *out, const void *const *in,
                           const bool swap[2], void *scratch);
int64_t nb__matmul_scratch(const nb__node *n, const nb__node *const *s);

nb__plan *nb__plan_new(const nb_fn *f);
/* f's plan, made at the first need (under f's lock); NULL when out of memory */
nb__plan *nb__plan_get(nb_fn *f);

/* The reference evaluator (exec/reference.c): node by node on whole arrays,
 * for tests. While it runs, kernels skip their fast paths (BLAS). */
extern _Thread_local bool nb__reference_mode;
nb_status nb__call_reference(const nb_fn *f, const void *const *inputs, void *const *outputs);
void      nb__plan_free(nb__plan *p);

/* offsets in a virtual heap, reused by liveness (exec/slots.c) */
typedef struct nb__slots {
  int64_t *off, *len; /* free blocks, sorted by offset */
  int32_t  n, cap;
  int64_t  top;       /* high-water mark */
} nb__slots;
bool    nb__slots_alloc(nb__slots *s, int64_t bytes, int64_t *off);
bool    nb__slots_free(nb__slots *s, int64_t off, int64_t bytes);
void    nb__slots_done(nb__slots *s);

#endif
