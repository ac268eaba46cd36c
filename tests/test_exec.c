/* The executor: nb_call (a plan made once: fused elementwise groups run block by
 * block with block-sized temporaries, caller buffers as homes of inputs and
 * outputs, workspace slots reused by liveness, in-place elementwise over a dying
 * operand, OpenBLAS matmul, libmvec vector math) against nb__call_reference (node
 * by node on whole arrays: no fusion, no slot reuse, no BLAS).
 *
 * Comparisons are exact (bit for bit, any NaN matching any NaN) unless vector
 * math is involved (a value may take a vector lane in one evaluator and a scalar
 * remainder in the other: 1e-13 relative for f64, 1e-6 for f32) or BLAS is
 * (1e-12 / 1e-5 relative to the sum of |terms| of each product, obtained by
 * evaluating the same multilinear function on |inputs| with the reference, or
 * computed by hand).
 *
 * Covered: every public operation (a table) in f64 and f32 at 0, 1, 7, 511, 512,
 * 513, 1025 and 5000 elements; long fused chains with broadcasts, fills, casts
 * f32<->f64 and selects with a condition of the other dtype inside groups;
 * outputs that are intermediates of a group, the same node twice, inputs,
 * reshapes/transposes of intermediates; groups of different sizes interleaved;
 * in-place chains with casts; random graphs; groups large enough to be split
 * over the thread pool; broadcasts computed block by block inside groups (rows,
 * columns, 3-D, scalars, stretched axes, runs just below and at 64, several runs
 * in one group, split over threads, read outside their group, the gradient of a
 * bias added by broadcast); derivative functions (vjp, value_and_grad, hessian,
 * jacrev, vmap_sized of grad); BLAS-sized matmuls (2-D, batched, broadcast,
 * 1-D) and their jvps/vjps (masked products), with inf/NaN in the branch of
 * nb_where not taken; repeated calls, no allocation after the first call, calls
 * from 2 and 4 threads, workspace sizes (printed); reductions as sinks of fused
 * groups (over every axis and over some axes, NaN, inf and signed zeros, readers
 * of sinks, the plan and its partials, gradients, 1 and 2 threads, and another
 * pool size in a child process). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__GLIBC__) || defined(__linux__)
#include <malloc.h>
#endif

#include "fixture.h"

#include "../src/exec/exec.h"

enum { MAXIO = 16, NSIZES = 8 };

/* every test size as a rank-3 shape: 0, 1, 7, 511, 512, 513, 1025, 5000 elements */
static const int64_t SHAPES[NSIZES][3] = {{2, 0, 3},   {1, 1, 1}, {1, 7, 1},  {7, 1, 73},
                                          {8, 8, 8},   {3, 9, 19}, {5, 5, 41}, {10, 20, 25}};
/* the same sizes as rank-2 shapes */
static const int64_t SHAPES2[NSIZES][2] = {{0, 5},   {1, 1},   {7, 1},   {7, 73},
                                           {16, 32}, {27, 19}, {25, 41}, {50, 100}};
/* fused groups of at least NB__PARALLEL_MIN (2^18) elements are split over the
 * thread pool, each part with its own temporaries: just below and above */
enum { NLARGE = 2 };
static const int64_t LARGE[NLARGE][3] = {{1, 1023, 256}, {1, 1024, 257}};
_Static_assert(1023 * 256 < NB__PARALLEL_MIN && 1024 * 257 > NB__PARALLEL_MIN, "LARGE straddles the threshold");
static const nb_dtype DTYPES[2] = {NB_F64, NB_F32};

/* buffers, random inputs, comparisons and check_fn: fixture.h */

/* ---- the operation table ---------------------------------------------------------- */
typedef nb_expr *(*un_fn)(nb_expr *);
typedef nb_expr *(*bin_fn)(nb_expr *, nb_expr *);
typedef struct oprow {
  const char *name;
  un_fn       u; /* unary: outputs op(x), op(y/2)*x */
  bin_fn      b; /* binary: op(x,y), op(y,x)+x, op(x, broadcast), op(scalar, x) */
  bin_fn      c; /* custom: one output */
  int         dom, mode;
} oprow;

static nb_graph       *GR(nb_expr *x) { return nb_expr_graph(x); }
static nb_dtype        DT(nb_expr *x) { return nb_expr_dtype(x); }
static const int64_t  *SH(nb_expr *x) { return nb_expr_shape(x); }
static nb_expr        *S0(nb_expr *x) { return nb_scalar(GR(x), 0.0); }

static nb_expr *c_sum_all(nb_expr *x, nb_expr *y) { (void)y; return nb_sum(x, 0, NULL, false); }
static nb_expr *c_sum_ax1(nb_expr *x, nb_expr *y) { return nb_sum(nb_mul(x, y), 1, (int[]){1}, false); }
static nb_expr *c_mean(nb_expr *x, nb_expr *y) { (void)y; return nb_mean(x, 2, (int[]){0, 2}, true); }
static nb_expr *c_prod(nb_expr *x, nb_expr *y) { (void)y; return nb_prod(x, 1, (int[]){2}, false); }
static nb_expr *c_max(nb_expr *x, nb_expr *y) { return nb_max(nb_add(x, y), 1, (int[]){-1}, false); }
static nb_expr *c_min(nb_expr *x, nb_expr *y) { (void)y; return nb_min(x, 1, (int[]){0}, true); }
static nb_expr *c_lse(nb_expr *x, nb_expr *y) { (void)y; return nb_logsumexp(x, 1, (int[]){2}, false); }
static nb_expr *c_lse_all(nb_expr *x, nb_expr *y) { return nb_logsumexp(nb_mul(x, y), 0, NULL, false); }
static nb_expr *c_reshape(nb_expr *x, nb_expr *y) {
  return nb_reshape(nb_add(x, y), 2, (int64_t[]){SH(x)[0] * SH(x)[1], SH(x)[2]});
}
static nb_expr *c_transpose(nb_expr *x, nb_expr *y) { return nb_transpose(nb_mul(x, y), (int[]){2, 0, 1}); }
static nb_expr *c_broadcast_to(nb_expr *x, nb_expr *y) {
  return nb_add(nb_broadcast_to(nb_sum(x, 1, (int[]){0}, true), 3, SH(y)), y);
}
static nb_expr *c_slice(nb_expr *x, nb_expr *y) { return nb_slice(nb_add(x, y), 2, 0, INT64_MAX, 2); }
static nb_expr *c_slice_neg(nb_expr *x, nb_expr *y) { return nb_slice(nb_sub(x, y), 2, -1, INT64_MIN, -2); }
static nb_expr *c_index(nb_expr *x, nb_expr *y) { return nb_index(nb_mul(x, y), 0, -1); }
static nb_expr *c_take(nb_expr *x, nb_expr *y) {
  return nb_take(nb_add(x, y), 2, 4, (int64_t[]){-1, 0, 0, SH(x)[2] / 2});
}
static nb_expr *c_concat(nb_expr *x, nb_expr *y) { return nb_concat(2, (nb_expr *[]){x, nb_neg(y)}, 1); }
static nb_expr *c_stack(nb_expr *x, nb_expr *y) { return nb_stack(2, (nb_expr *[]){nb_add(x, y), x}, -1); }
static nb_expr *c_matmul(nb_expr *x, nb_expr *y) { return nb_matmul(x, nb_transpose(y, (int[]){0, 2, 1})); }
static nb_expr *c_matmul2d(nb_expr *x, nb_expr *y) {
  int64_t k = SH(x)[2];
  return nb_matmul(nb_reshape(x, 2, (int64_t[]){-1, k}), nb_transpose(nb_reshape(y, 2, (int64_t[]){-1, k}), NULL));
}
static nb_expr *c_matvec(nb_expr *x, nb_expr *y) {
  return nb_matmul(nb_reshape(x, 2, (int64_t[]){-1, SH(x)[2]}), nb_sum(y, 2, (int[]){0, 1}, false));
}
static nb_expr *c_vecmat(nb_expr *x, nb_expr *y) {
  return nb_matmul(nb_sum(y, 2, (int[]){1, 2}, false), nb_reshape(x, 2, (int64_t[]){SH(x)[0], -1}));
}
static nb_expr *c_softmax(nb_expr *x, nb_expr *y) { return nb_softmax(nb_add(x, y), -1); }
static nb_expr *c_log_softmax(nb_expr *x, nb_expr *y) { (void)y; return nb_log_softmax(x, 1); }
static nb_expr *c_where(nb_expr *x, nb_expr *y) { return nb_where(nb_gt(x, y), x, nb_mul(y, y)); }
static nb_expr *c_where_xdt(nb_expr *x, nb_expr *y) {
  return nb_where(nb_cast(nb_gt(x, y), other_dt(DT(x))), nb_add(x, y), nb_neg(x));
}
static nb_expr *c_where_scalar(nb_expr *x, nb_expr *y) {
  (void)y;
  return nb_where(nb_lt(x, S0(x)), nb_scalar(GR(x), 0.5), x);
}
static nb_expr *c_cast_out(nb_expr *x, nb_expr *y) { return nb_cast(nb_add(x, y), other_dt(DT(x))); }
static nb_expr *c_cast_rt(nb_expr *x, nb_expr *y) {
  nb_dtype o = other_dt(DT(x));
  return nb_cast(nb_mul(nb_cast(x, o), nb_cast(y, o)), DT(x));
}
static nb_expr *c_adds(nb_expr *x, nb_expr *y) { return nb_adds(nb_mul(x, y), 2.5); }
static nb_expr *c_muls(nb_expr *x, nb_expr *y) { return nb_muls(nb_sub(x, y), -3); }
static nb_expr *c_pows2(nb_expr *x, nb_expr *y) { (void)y; return nb_pows(x, 2); }
static nb_expr *c_pows3(nb_expr *x, nb_expr *y) { return nb_pows(nb_add(x, y), 3.0); }
static nb_expr *c_pows_half(nb_expr *x, nb_expr *y) { (void)y; return nb_pows(x, 0.5); }
static nb_expr *c_full(nb_expr *x, nb_expr *y) {
  (void)y;
  return nb_add(x, nb_full(GR(x), DT(x), 3, SH(x), 1.25));
}
static nb_expr *c_scalar(nb_expr *x, nb_expr *y) { (void)y; return nb_mul(nb_scalar(GR(x), -2), x); }
static nb_expr *c_const(nb_expr *x, nb_expr *y) {
  (void)y;
  int64_t n = nb_expr_size(x);
  void   *data = malloc((size_t)(n ? n : 1) * esize(DT(x)));
  if (!data) return NULL;
  for (int64_t i = 0; i < n; i++) {
    if (DT(x) == NB_F32) ((float *)data)[i] = (float)sin(0.37 * (double)i);
    else ((double *)data)[i] = sin(0.37 * (double)i);
  }
  nb_expr *c = nb_const(GR(x), DT(x), 3, SH(x), data);
  free(data);
  return nb_sub(nb_mul(c, x), c);
}
static nb_expr *c_input(nb_expr *x, nb_expr *y) { (void)y; return x; }

#define U_(f, d, m) {#f, nb_##f, NULL, NULL, d, m}
#define B_(f, d, m) {#f, NULL, nb_##f, NULL, d, m}
#define C_(f, d, m) {#f, NULL, NULL, c_##f, d, m}
static const oprow OPS[] = {
    U_(neg, D_SPEC, EXACT),   U_(abs, D_SPEC, EXACT),     U_(sign, D_SPEC, EXACT),
    U_(exp, D_SPEC, VM),      U_(expm1, D_SPEC, VM),      U_(log, D_POS, VM),
    U_(log1p, D_POS, VM),     U_(sqrt, D_SPEC, EXACT),    U_(rsqrt, D_POS, EXACT),
    U_(square, D_SPEC, EXACT), U_(reciprocal, D_SPEC, EXACT), U_(sin, D_SPEC, VM),
    U_(cos, D_SPEC, VM),      U_(tan, D_SPEC, VM),        U_(asin, D_UNIT, VM),
    U_(acos, D_UNIT, VM),     U_(atan, D_SPEC, VM),       U_(sinh, D_SPEC, VM),
    U_(cosh, D_SPEC, VM),     U_(tanh, D_SPEC, VM),       U_(sigmoid, D_SPEC, VM),
    U_(relu, D_SPEC, EXACT),  U_(softplus, D_SPEC, VM),   U_(erf, D_SPEC, VM),
    U_(floor, D_GRID, EXACT), U_(ceil, D_GRID, EXACT),    U_(round, D_GRID, EXACT),
    B_(add, D_SPEC, EXACT),   B_(sub, D_SPEC, EXACT),     B_(mul, D_SPEC, EXACT),
    B_(div, D_SPEC, EXACT),   B_(pow, D_SPEC, VM),        B_(atan2, D_SPEC, VM),
    B_(maximum, D_GRID, EXACT), B_(minimum, D_SPEC, EXACT), B_(lt, D_GRID, EXACT),
    B_(le, D_GRID, EXACT),    B_(gt, D_SPEC, EXACT),      B_(ge, D_GRID, EXACT),
    B_(eq, D_GRID, EXACT),    B_(ne, D_GRID, EXACT),
    C_(adds, D_SPEC, EXACT),  C_(muls, D_SPEC, EXACT),    C_(pows2, D_SPEC, VM),
    C_(pows3, D_ANY, VM),     C_(pows_half, D_POS, VM),   C_(where, D_SPEC, EXACT),
    C_(where_xdt, D_SPEC, EXACT), C_(where_scalar, D_SPEC, EXACT), C_(cast_out, D_SPEC, EXACT),
    C_(cast_rt, D_SPEC, EXACT), C_(full, D_SPEC, EXACT),  C_(scalar, D_SPEC, EXACT),
    C_(const, D_SPEC, EXACT), C_(input, D_SPEC, EXACT),
    C_(sum_all, D_ANY, EXACT), C_(sum_ax1, D_ANY, EXACT), C_(mean, D_ANY, EXACT),
    C_(prod, D_ANY, EXACT),   C_(max, D_SPEC, EXACT),     C_(min, D_SPEC, EXACT),
    C_(lse, D_ANY, VM),       C_(lse_all, D_ANY, VM),
    C_(reshape, D_SPEC, EXACT), C_(transpose, D_SPEC, EXACT), C_(broadcast_to, D_ANY, EXACT),
    C_(slice, D_SPEC, EXACT), C_(slice_neg, D_SPEC, EXACT), C_(index, D_SPEC, EXACT),
    C_(take, D_SPEC, EXACT),  C_(concat, D_SPEC, EXACT),  C_(stack, D_SPEC, EXACT),
    C_(matmul, D_ANY, MM),    C_(matmul2d, D_ANY, MM),    C_(matvec, D_ANY, MM),
    C_(vecmat, D_ANY, MM),    C_(softmax, D_ANY, VM),     C_(log_softmax, D_ANY, VM),
};
#undef U_
#undef B_
#undef C_

static void test_ops_table(void) {
  int nrows = (int)(sizeof OPS / sizeof OPS[0]), nfns = 0;
  for (int r = 0; r < nrows; r++)
    for (int d = 0; d < 2; d++)
      for (int s = 0; s < NSIZES; s++) {
        const oprow *row = &OPS[r];
        nb_dtype     dt = DTYPES[d];
        char         what[96];
        snprintf(what, sizeof what, "%s %s n=%lld", row->name, dtname(dt),
                 (long long)(SHAPES[s][0] * SHAPES[s][1] * SHAPES[s][2]));
        nb_graph *g = nb_graph_new();
        nb_expr  *x = nb_input(g, "x", dt, 3, SHAPES[s]);
        nb_expr  *y = nb_input(g, "y", dt, 3, SHAPES[s]);
        nb_expr  *o[4];
        int       no = 1;
        if (row->u) {
          o[0] = row->u(x);
          o[1] = nb_mul(row->u(nb_muls(y, 0.5)), x);
          no = 2;
        } else if (row->b) {
          o[0] = row->b(x, y);
          o[1] = nb_add(row->b(y, x), x);
          o[2] = row->b(x, nb_mean(y, 1, (int[]){0}, true));
          o[3] = row->b(nb_scalar(g, 0.75), x);
          no = 4;
        } else {
          o[0] = row->c(x, y);
        }
        nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, no, o);
        nb_graph_free(g);
        check_fn(what, f, row->dom, row->mode, 1000u * (unsigned)r + 10u * (unsigned)s + (unsigned)d);
        nb_fn_free(f);
        nfns++;
      }
  printf("  exec: %d operation rows, %d functions compared\n", nrows, nfns);
}

/* what a plan does (counted over the functions of a test, printed) */
typedef struct plan_stats {
  int64_t groups, members, temps, inplace, in_caller, parallel;
} plan_stats;

static int32_t root_node(const nb_fn *f, int32_t i) {
  while (nb__prims[f->nodes[i].n.op]->flags & NB__ALIAS) i = f->nodes[i].src[0];
  return i;
}

static void add_stats(plan_stats *st, nb_fn *f) {
  if (!f || nb_fn_workspace_bytes(f) < 0 || !f->plan) return;
  const nb__plan *p = f->plan;
  for (int32_t k = 0; k < p->nsteps; k++) {
    nb__step step = p->steps[k];
    if (step.group >= 0) {
      st->groups++;
      st->members += p->groups[step.group].count;
      st->temps += p->groups[step.group].ntemp;
      st->parallel += p->groups[step.group].parts > 1;
      continue;
    }
    int32_t i = step.node;
    if (p->home[i].kind != NB__HOME_WS) continue;
    for (int a = 0; a < f->nodes[i].n.nsrc; a++) {
      int32_t r = root_node(f, f->nodes[i].src[a]);
      if (p->home[r].kind == NB__HOME_WS && p->home[r].offset == p->home[i].offset) {
        st->inplace++;
        break;
      }
    }
  }
  for (int32_t i = 0; i < f->nnodes; i++) st->in_caller += p->home[i].kind == NB__HOME_OUT;
}

static void print_stats(const char *what, const plan_stats *st) {
  printf("  exec: %s: %lld fused groups (%lld members, %lld block temporaries, %lld split over "
         "threads), %lld in-place nodes, %lld nodes computed in the caller's output buffers\n",
         what, (long long)st->groups, (long long)st->members, (long long)st->temps,
         (long long)st->parallel, (long long)st->inplace, (long long)st->in_caller);
}

/* ---- fusion ------------------------------------------------------------------------ */

/* A chain of 20+ elementwise nodes over x, y, z (shape S) and a bias b (shape
 * [S2], broadcast), with fills, casts to the other dtype and back, a select whose
 * condition has the other dtype, intermediates used inside and outside their
 * group, reductions reading group members, and outputs of every kind. vm: use
 * transcendental functions too. */
static int fusion_chain(nb_graph *g, nb_expr *x, nb_expr *y, nb_expr *z, nb_expr *b, bool vm,
                        nb_expr **o) {
  nb_dtype dt = DT(x), od = other_dt(dt);
  int      rank = nb_expr_rank(x);
  nb_expr *a1 = nb_mul(x, y);
  nb_expr *a2 = nb_add(a1, b); /* broadcast */
  nb_expr *a3 = vm ? nb_sin(a2) : nb_sub(a2, nb_muls(z, 0.5));
  nb_expr *a4 = nb_maximum(nb_muls(a3, 2), nb_full(g, dt, rank, SH(x), -0.25));
  nb_expr *a5 = nb_div(nb_sub(a4, z), nb_adds(nb_abs(y), 1));
  nb_expr *a6 = nb_where(nb_gt(a5, x), a5, nb_neg(a1)); /* a1 again, inside the group */
  nb_expr *a7 = vm ? nb_tanh(nb_square(a6)) : nb_square(a6);
  nb_expr *a8 = nb_minimum(a7, nb_adds(a3, 2));
  nb_expr *c1 = nb_cast(a8, od);                      /* dt -> other */
  nb_expr *c2 = nb_mul(c1, nb_cast(x, od));           /* computed in the other dtype */
  nb_expr *c3 = nb_cast(nb_add(c2, nb_cast(a5, od)), dt); /* and back */
  nb_expr *s1 = nb_where(nb_lt(c2, nb_scalar(g, 0.5)), c3, a2); /* cond of the other dtype */
  nb_expr *a9 = vm ? nb_exp(nb_muls(s1, 0.25)) : nb_floor(nb_muls(s1, 4));
  nb_expr *a10 = nb_add(nb_mul(a9, a5), nb_reciprocal(nb_adds(nb_square(a1), 1)));
  nb_expr *r1 = nb_sum(a10, 1, (int[]){rank - 1}, true); /* a10 read outside its group */
  nb_expr *a11 = nb_sub(a10, r1);                         /* broadcast of the reduction */
  nb_expr *a12 = nb_mul(nb_add(a11, a1), nb_cast(c2, dt)); /* a1, c2 read by a later group */
  int      n = 0;
  o[n++] = a12;
  o[n++] = a5;                   /* an intermediate of the first group */
  o[n++] = a5;                   /* the same node twice */
  o[n++] = x;                    /* an input */
  o[n++] = nb_reshape(a7, 1, (int64_t[]){-1}); /* a reshape of an intermediate */
  o[n++] = nb_transpose(a8, NULL);              /* a transpose of an intermediate */
  o[n++] = a1;                   /* used inside and outside its group */
  o[n++] = c2;                   /* other dtype, intermediate */
  o[n++] = r1;
  o[n++] = nb_reshape(y, 1, (int64_t[]){-1}); /* a reshape of an input */
  o[n++] = s1;
  return n;
}

static void test_fusion_chains(void) {
  plan_stats st = {0};
  for (int vm = 0; vm < 2; vm++)
    for (int d = 0; d < 2; d++)
      for (int s = 0; s < NSIZES + NLARGE; s++) {
        if (s >= NSIZES && vm == d) continue; /* large: f64 exact and f32 vm */
        nb_dtype       dt = DTYPES[d];
        const int64_t *shape = s < NSIZES ? SHAPES[s] : LARGE[s - NSIZES];
        char           what[96];
        snprintf(what, sizeof what, "chain%s %s n=%lld", vm ? " vm" : "", dtname(dt),
                 (long long)(shape[0] * shape[1] * shape[2]));
        nb_graph *g = nb_graph_new();
        nb_expr  *x = nb_input(g, "x", dt, 3, shape);
        nb_expr  *y = nb_input(g, "y", dt, 3, shape);
        nb_expr  *z = nb_input(g, "z", dt, 3, shape);
        nb_expr  *b = nb_input(g, "b", dt, 1, &shape[2]);
        nb_expr  *o[MAXIO];
        int       no = fusion_chain(g, x, y, z, b, vm, o);
        nb_fn    *f = make_fn(what, g, 4, (nb_expr *[]){x, y, z, b}, no, o);
        nb_graph_free(g);
        check_fn(what, f, D_ANY, vm ? VM : EXACT, 77u + (unsigned)s);
        add_stats(&st, f);
        nb_fn_free(f);
      }
  print_stats("fusion chains", &st);
}

/* two chains of different sizes (or one size, different shapes) interleaved
 * node by node, crossing through reductions, with casts in both */
static void test_groups_interleaved(void) {
  static const int64_t pairs[][2] = {{513, 5000}, {7, 1025}, {512, 511}, {0, 513}, {1, 2}, {5000, 1}};
  for (int d = 0; d < 2; d++)
    for (int p = 0; p < (int)(sizeof pairs / sizeof pairs[0]) + 1; p++) {
      nb_dtype dt = DTYPES[d], od = other_dt(dt);
      bool     same = p == (int)(sizeof pairs / sizeof pairs[0]); /* 512 as [512] and [8,64] */
      int64_t  n = same ? 512 : pairs[p][0], m = same ? 512 : pairs[p][1];
      char     what[96];
      snprintf(what, sizeof what, "interleaved %s %lld/%lld%s", dtname(dt), (long long)n,
               (long long)m, same ? " (two shapes)" : "");
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, 1, &n);
      nb_expr  *u = same ? nb_input(g, "u", dt, 2, (int64_t[]){8, 64}) : nb_input(g, "u", dt, 1, &m);
      nb_expr  *x1 = nb_muls(x, 1.5), *u1 = nb_adds(u, -0.5);
      nb_expr  *x2 = nb_mul(x1, x), *u2 = nb_mul(u1, u1);
      nb_expr  *su = nb_sum(u2, 0, NULL, false);
      nb_expr  *x3 = nb_add(x2, su);
      nb_expr  *sx = nb_sum(x1, 0, NULL, false);
      nb_expr  *u3 = nb_sub(u2, sx);
      nb_expr  *x4 = nb_div(x3, nb_adds(nb_abs(x2), 1));
      nb_expr  *u4 = nb_maximum(u3, u1);
      nb_expr  *x5 = nb_where(nb_gt(x4, S0(x4)), x4, x1);
      nb_expr  *u5 = nb_cast(u4, od);
      nb_expr  *x6 = nb_cast(nb_mul(nb_cast(x5, od), nb_cast(x2, od)), dt);
      nb_expr  *u6 = nb_cast(nb_mul(u5, u5), dt);
      nb_expr  *x7 = nb_add(x6, nb_max(u6, 0, NULL, false));
      nb_expr  *u7 = nb_sub(u6, nb_min(x6, 0, NULL, false));
      nb_expr  *o[] = {x7, u7, x2, u3, su, sx, u5, x5};
      nb_fn    *f = make_fn(what, g, 2, (nb_expr *[]){x, u}, 8, o);
      nb_graph_free(g);
      check_fn(what, f, D_ANY, EXACT, 500u + (unsigned)p);
      nb_fn_free(f);
    }
}

/* elementwise nodes separated by transposes run alone, in place over their
 * dying operand; casts change the element size along the way */
static void test_inplace_chain(void) {
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < NSIZES; s++) {
      nb_dtype dt = DTYPES[d], od = other_dt(dt);
      char     what[96];
      snprintf(what, sizeof what, "in-place %s [%lld,%lld]", dtname(dt), (long long)SHAPES2[s][0],
               (long long)SHAPES2[s][1]);
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, 2, SHAPES2[s]);
      nb_expr  *y = nb_input(g, "y", dt, 2, SHAPES2[s]);
      nb_expr  *t = x, *keep = NULL;
      for (int rep = 0; rep < 6; rep++) {
        nb_expr *t1 = nb_neg(nb_transpose(t, NULL));
        nb_expr *t2 = nb_cast(nb_transpose(t1, NULL), od);      /* f64 <-> f32 */
        nb_expr *t3 = nb_square(nb_transpose(t2, NULL));        /* other dtype, in place */
        nb_expr *t4 = nb_cast(nb_transpose(t3, NULL), dt);      /* back */
        nb_expr *t5 = nb_sub(nb_transpose(t4, NULL), nb_transpose(y, NULL));
        t = nb_mul(nb_transpose(t5, NULL), nb_muls(x, 0.5));
        if (rep == 2) keep = t2;
      }
      nb_expr *o[] = {t, keep, nb_transpose(t, NULL)};
      nb_fn   *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 3, o);
      nb_graph_free(g);
      check_fn(what, f, D_ANY, EXACT, 900u + (unsigned)s);
      nb_fn_free(f);
    }
}

/* outputs of every kind around one group: inputs (twice), intermediates read
 * inside and outside, the same node twice, reshapes and transposes of
 * intermediates and inputs, fills and constants */
static void test_output_kinds(void) {
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < NSIZES; s++) {
      nb_dtype dt = DTYPES[d];
      char     what[96];
      snprintf(what, sizeof what, "outputs %s n=%lld", dtname(dt),
               (long long)(SHAPES[s][0] * SHAPES[s][1] * SHAPES[s][2]));
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, 3, SHAPES[s]);
      nb_expr  *y = nb_input(g, "y", dt, 3, SHAPES[s]);
      nb_expr  *a = nb_add(x, y);
      nb_expr  *b = nb_mul(a, x);
      nb_expr  *c = nb_sub(b, y);
      nb_expr  *sb = nb_sum(b, 0, NULL, false);
      nb_expr  *dd = nb_add(c, sb);
      double    cd[2] = {1.5, -2.5};
      nb_expr  *o[] = {x,
                       a,
                       nb_reshape(a, 1, (int64_t[]){-1}),
                       b,
                       b,
                       nb_transpose(c, (int[]){2, 1, 0}),
                       y,
                       dd,
                       nb_reshape(x, 2, (int64_t[]){SHAPES[s][0], -1}),
                       sb,
                       nb_full(g, dt, 3, SHAPES[s], 2.0),
                       c,
                       x,
                       nb_const(g, NB_F64, 1, (int64_t[]){2}, cd),
                       nb_reshape(dd, 1, (int64_t[]){-1})};
      nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 15, o);
      nb_graph_free(g);
      check_fn(what, f, D_SPEC, EXACT, 1300u + (unsigned)s);
      nb_fn_free(f);
      /* only inputs, in another order, and nothing computed */
      g = nb_graph_new();
      x = nb_input(g, "x", dt, 3, SHAPES[s]);
      y = nb_input(g, "y", dt, 3, SHAPES[s]);
      nb_expr *o2[] = {y, x, nb_transpose(y, NULL), y};
      f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 4, o2);
      nb_graph_free(g);
      check_fn(what, f, D_SPEC, EXACT, 1400u + (unsigned)s);
      nb_fn_free(f);
    }
}

/* ---- broadcasts inside fused groups --------------------------------------------------
 * A broadcast whose operand is read in affine runs of at least 64 elements is
 * computed block by block inside its group (exec/call.c, nb__broadcast_block:
 * blocks of 512 cross the runs' ends, runs cross the blocks'); shorter runs are
 * made whole as before. The cases (FX_BCASES, fixture.c) in a chain, with the
 * broadcast a block temporary or an output, then several runs in one group, a
 * group split over the thread pool, broadcasts read outside their group (a
 * product, an output, a reduction), pads read by a broadcast (made) or not
 * (read through a guard), broadcasts of reductions (softmax, centring), and
 * the gradient of an MLP layer. Each checks which broadcasts the plan fused. */

/* the broadcast nodes of f that are members of fused groups */
static int fused_broadcasts(nb_fn *f) {
  int n = 0;
  for (int32_t i = 0; f && i < f->nnodes; i++) n += f->nodes[i].n.op == NB_OP_BROADCAST && fx_group_of(f, i) >= 0;
  return n;
}

static void test_broadcast_cases(void) {
  plan_stats st = {0};
  for (int d = 0; d < 2; d++)
    for (int c = 0; c < FX_NBCASES; c++)
      for (int as_out = 0; as_out < 2; as_out++) {
        const fx_bcase *k = &FX_BCASES[c];
        nb_dtype        dt = DTYPES[d];
        char            what[128];
        snprintf(what, sizeof what, "%s %s%s", k->what, dtname(dt), as_out ? ", an output" : "");
        nb_graph *g = nb_graph_new();
        nb_expr  *in[2], *o[2];
        int       nin = 0, no = 0;
        fx_bcase_put(g, dt, k, as_out, in, &nin, o, &no);
        nb_fn *f = make_fn(what, g, nin, in, no, o);
        nb_graph_free(g);
        check_bcase(what, f, k);
        int32_t i = f ? fx_bcase_node(f, k) : -1;
        /* fused: a block temporary of its group, or computed into the caller's buffer */
        if (i >= 0 && k->fused && f->plan->home[i].kind != (as_out ? NB__HOME_OUT : NB__HOME_TEMP))
          FAILF("%s: the broadcast's home is %d, want %d", what, f->plan->home[i].kind,
                as_out ? NB__HOME_OUT : NB__HOME_TEMP);
        check_fn(what, f, D_ANY, EXACT, 9000u + 10u * (unsigned)c + (unsigned)as_out);
        add_stats(&st, f);
        nb_fn_free(f);
      }
  print_stats("broadcast cases", &st);
}

/* the chains of cases k[0, n) over reshapes of one input x of `size` elements */
static nb_fn *fn_runs(nb_dtype dt, const fx_bcase *k, int n, int64_t size) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[MAXIO], *o[MAXIO];
  int       nin = 0, no = 0;
  fx_runs_put(g, dt, k, n, size, in, &nin, o, &no);
  nb_fn *f = make_fn("runs", g, nin, in, no, o);
  nb_graph_free(g);
  return f;
}

/* every case's broadcast is a member of one and the same group */
static bool one_group(const char *what, nb_fn *f, const fx_bcase *k, int n) {
  int32_t g0 = f ? fx_group_of(f, fx_bcase_node(f, &k[0])) : -1;
  for (int c = 0; f && c < n; c++) {
    check_bcase(what, f, &k[c]);
    if (g0 < 0 || fx_group_of(f, fx_bcase_node(f, &k[c])) != g0) {
      FAILF("%s: %s is not in the group of %s", what, k[c].what, k[0].what);
      return false;
    }
  }
  return f != NULL;
}

static void test_broadcast_runs(void) {
  for (int d = 0; d < 2; d++) {
    char what[64];
    snprintf(what, sizeof what, "several runs in one group %s", dtname(DTYPES[d]));
    nb_fn *f = fn_runs(DTYPES[d], FX_RUNS, FX_NRUNS, FX_RUNS_N);
    one_group(what, f, FX_RUNS, FX_NRUNS);
    check_fn(what, f, D_ANY, EXACT, 9300u + (unsigned)d);
    nb_fn_free(f);
  }
}

/* The group of FX_LARGE_N elements (above NB__PARALLEL_MIN; fixture.h) split
 * over the thread pool in ranges of blocks whose ends fall inside runs; then
 * the same group on one thread, and from 2 callers. */
static void test_broadcast_threads(void) {
  for (int d = 0; d < 2; d++) {
    char what[64];
    snprintf(what, sizeof what, "broadcasts split over threads %s", dtname(DTYPES[d]));
    nb_fn *f = fn_runs(DTYPES[d], FX_LARGE, FX_NLARGE, FX_LARGE_N);
    if (!one_group(what, f, FX_LARGE, FX_NLARGE)) {
      nb_fn_free(f);
      continue;
    }
    nb__group *gr = &f->plan->groups[fx_group_of(f, fx_bcase_node(f, &FX_LARGE[0]))];
    CHECK(gr->size == FX_LARGE_N && gr->parts == nb__pool_threads());
    check_fn(what, f, D_ANY, EXACT, 9400u + (unsigned)d);
    int modes[FX_NLARGE] = {EXACT, EXACT, EXACT, EXACT, EXACT};
    check_threads(what, f, 2, true, modes, 9410u + (unsigned)d);
    int parts = gr->parts;
    gr->parts = 1; /* on the calling thread alone */
    snprintf(what, sizeof what, "broadcasts on one thread %s", dtname(DTYPES[d]));
    check_fn(what, f, D_ANY, EXACT, 9420u + (unsigned)d);
    gr->parts = parts;
    nb_fn_free(f);
  }
}

/* the pad node of f with lo zeros before its operand, or -1 */
static int32_t pad_node(const nb_fn *f, int64_t lo) {
  for (int32_t i = 0; i < f->nnodes; i++)
    if (f->nodes[i].n.op == NB_OP_PAD && f->nodes[i].n.p.i[1] == lo) return i;
  return -1;
}

/* broadcasts read outside their group, pads read by broadcasts, broadcasts of
 * reductions (fx_outside_put, fixture.h) */
static void test_broadcast_outside(void) {
  for (int d = 0; d < 2; d++)
    for (int as_out = 0; as_out < 2; as_out++) {
      nb_dtype dt = DTYPES[d];
      char     what[96];
      snprintf(what, sizeof what, "broadcasts read outside their group %s%s", dtname(dt), as_out ? ", an output" : "");
      nb_graph *g = nb_graph_new();
      nb_expr  *in[MAXIO], *o[MAXIO];
      int       modes[MAXIO], nin = 0, no = 0;
      fx_outside_put(g, dt, as_out, in, &nin, o, modes, &no);
      nb_fn *f = make_fn(what, g, nin, in, no, o);
      nb_graph_free(g);
      if (!f) continue;
      check_bcase(what, f, &FX_ROW64);
      check_bcase(what, f, &FX_PADB);
      check_bcase(what, f, &FX_ROW2);
      int32_t i = fx_bcase_node(f, &FX_ROW64), p = pad_node(f, 32), q = pad_node(f, 40);
      CHECK(i >= 0 && f->plan->home[i].kind == (as_out ? NB__HOME_OUT : NB__HOME_WS));
      CHECK(p >= 0 && f->plan->through[p] == 0);                 /* read by a broadcast: made */
      CHECK(q >= 0 && f->plan->through[q] == NB__THROUGH_GUARD); /* read through a guard */
      /* FX_ROW64's group holds 4 (of an input, a constant, a reshape, a view);
       * the softmax's [40,1] -> [40,700] (twice) and the centring's scalar */
      int32_t gb = fx_group_of(f, i), in_gb = 0;
      for (int32_t j = 0; j < f->nnodes; j++) in_gb += f->nodes[j].n.op == NB_OP_BROADCAST && fx_group_of(f, j) == gb;
      CHECK(gb >= 0 && in_gb == 4);
      for (int32_t j = 0; j < f->nnodes; j++) /* the view: row 1 of c, in place */
        if (f->nodes[j].n.op == NB_OP_SLICE)
          CHECK(f->plan->home[j].kind == NB__HOME_ALIAS && f->plan->home[j].offset == 64 * (int64_t)esize(dt));
      CHECK(fused_broadcasts(f) >= 9);
      check_fn_io(what, f, NULL, modes, 9500u + (unsigned)(2 * d + as_out));
      nb_fn_free(f);
    }
}

/* the gradient of an MLP layer's loss (fx_mlp_layer, fixture.h): the bias's
 * broadcast is fused forward, the vjp's cotangent is a fused scalar
 * broadcast, and the bias's gradient a sum over rows. Against the reference,
 * and in f64 against central differences of the loss */
static void test_broadcast_grads(void) {
  static const int   wrt[2] = {1, 2};
  const nb_diff_opts wb = {2, wrt, 0};
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = DTYPES[d];
    char     what[64];
    nb_fn   *l = fx_mlp_layer(dt);
    nb_fn   *gr = l ? nb_grad(l, &wb) : NULL, *v = l ? nb_vjp(l, NULL) : NULL;
    snprintf(what, sizeof what, "grad of an MLP layer %s", dtname(dt));
    if (l && derived_ok(what, gr)) {
      CHECK(fused_broadcasts(gr) >= 1); /* the bias (the cotangent is a fill) */
      check_fn(what, gr, D_UNIT, RSUM, 9600u + (unsigned)d);
      if (dt == NB_F64) {
        bufs in;
        if (bufs_make(&in, gr, true)) {
          bufs_random(&in, NULL, D_UNIT, 9610u);
          if (fx_mlp_fd_check(l, gr, &in)) FAILF("%s: gradient and central differences differ", what);
        }
        bufs_free(&in);
      }
    }
    snprintf(what, sizeof what, "vjp of an MLP layer %s", dtname(dt));
    if (l && derived_ok(what, v)) {
      CHECK(fused_broadcasts(v) >= 2); /* the bias forward, the cotangent back */
      check_fn(what, v, D_UNIT, RSUM, 9620u + (unsigned)d);
    }
    nb_fn_free(v);
    nb_fn_free(gr);
    nb_fn_free(l);
  }
}

/* ---- random graphs ------------------------------------------------------------------ */

/* Random DAGs, first without vector math (exact comparison): unary and binary
 * elementwise nodes, fills and scalars, selects (conditions of either dtype),
 * casts, transposes, reshapes (aliases), reductions broadcast back, over 1-3
 * sizes at once; outputs are random nodes (inputs, aliases and duplicates
 * included); then "rich" ones with vector math, concat + slice, broadcast_to
 * and softmax too. The seed of a failing graph is printed. */
static bool same_shape(nb_expr *a, nb_expr *b) {
  int r = nb_expr_rank(a);
  return r == nb_expr_rank(b) && !memcmp(SH(a), SH(b), (size_t)r * sizeof(int64_t));
}

static int rnd(uint64_t *s, int n) { return (int)(mix64(s) % (uint64_t)n); }

/* a random pool entry of a's shape, in a's dtype (a itself if none) */
static nb_expr *pick_like(uint64_t *s, nb_expr **pool, int n, nb_expr *a) {
  int cand[256], nc = 0;
  for (int i = 0; i < n && nc < 256; i++)
    if (same_shape(pool[i], a)) cand[nc++] = i;
  nb_expr *b = nc ? pool[cand[rnd(s, nc)]] : a;
  return DT(b) == DT(a) ? b : nb_cast(b, DT(a));
}

static nb_expr *random_node(uint64_t *s, nb_graph *g, nb_expr **pool, int n, bool rich) {
  nb_expr *a = pool[n - 1 - rnd(s, n < 6 ? n : 6)]; /* mostly recent nodes: long chains */
  if (rnd(s, 4) == 0) a = pool[rnd(s, n)];
  nb_expr *b = pick_like(s, pool, n, a);
  int      r = nb_expr_rank(a);
  /* rich: vector math and more movement (concat + slice, broadcast_to, softmax) */
  if (rich && rnd(s, 3) == 0) switch (rnd(s, 6)) {
    case 0: return nb_exp(nb_muls(nb_minimum(a, nb_scalar(g, 3)), 0.5));
    case 1: return nb_sin(nb_add(a, b));
    case 2:
      if (r == 2 && SH(a)[0] > 0)
        return nb_slice(nb_concat(2, (nb_expr *[]){a, b}, 0), 0, SH(a)[0] / 2, SH(a)[0] / 2 + SH(a)[0], 1);
      return nb_neg(a);
    case 3: return r == 2 ? nb_mul(a, nb_broadcast_to(nb_sum(b, 1, (int[]){0}, true), 2, SH(a))) : a;
    case 4: return nb_tanh(nb_mul(a, nb_cast(nb_sigmoid(b), DT(a))));
    default: return r == 2 ? nb_softmax(a, -1) : nb_abs(a);
    }
  switch (rnd(s, 16)) {
  case 0: return nb_neg(a);
  case 1: return nb_abs(a);
  case 2: return nb_square(nb_minimum(a, nb_scalar(g, 4)));
  case 3: return nb_floor(nb_muls(a, 3));
  case 4: return nb_sqrt(nb_abs(a));
  case 5: return nb_reciprocal(nb_adds(nb_abs(a), 1));
  case 6: return nb_relu(nb_sub(a, b));
  case 7: {
    switch (rnd(s, 6)) {
    case 0: return nb_add(a, b);
    case 1: return nb_sub(a, b);
    case 2: return nb_mul(a, b);
    case 3: return nb_maximum(a, b);
    case 4: return nb_minimum(b, a);
    default: return nb_div(a, nb_adds(nb_abs(b), 0.5));
    }
  }
  case 8: {
    nb_expr *c = rnd(s, 2) ? nb_gt(a, b) : nb_le(b, nb_scalar(g, 0.25));
    if (rnd(s, 2)) c = nb_cast(c, other_dt(DT(c)));
    return nb_where(c, pick_like(s, pool, n, a), rnd(s, 2) ? b : nb_scalar(g, -1));
  }
  case 9: return nb_cast(a, other_dt(DT(a)));
  case 10: return r == 2 ? nb_transpose(a, NULL) : nb_neg(a);
  case 11: return r == 2 ? nb_reshape(a, 2, (int64_t[]){SH(a)[1], SH(a)[0]}) : nb_abs(a);
  case 12: return r == 2 ? nb_add(a, nb_sum(b, 1, (int[]){1}, true)) : nb_add(a, b);
  case 13: return r == 2 ? nb_sub(a, nb_max(a, 1, (int[]){0}, true)) : nb_sub(a, b);
  case 14: return nb_maximum(nb_minimum(a, nb_full(g, DT(a), r, SH(a), 8.0)), nb_scalar(g, -8));
  default: return nb_mul(nb_adds(a, 0.5), nb_cast(b, DT(a)));
  }
}

static void test_random_graphs(void) {
  enum { NGRAPHS = 300, NRICH = 150, MAXPOOL = 96 };
  int        built = 0;
  plan_stats st = {0};
  for (int gi = 0; gi < NGRAPHS + NRICH; gi++) {
    bool rich = gi >= NGRAPHS;
    uint64_t  s = 0xC0FFEEu + (uint64_t)gi * 7777u, seed = s;
    nb_graph *g = nb_graph_new();
    nb_expr  *pool[MAXPOOL], *ins[8];
    int       n = 0, nin = 0, ncls = 1 + rnd(&s, 3);
    for (int c = 0; c < ncls; c++) {
      const int64_t *shape = SHAPES2[1 + rnd(&s, NSIZES - 1)];
      if (rnd(&s, 12) == 0) shape = SHAPES2[0]; /* sometimes empty */
      if (gi % 30 == 3 && c == 0) shape = &LARGE[1][1]; /* [1024,257]: split over threads */
      int k = 1 + rnd(&s, 2);
      for (int i = 0; i < k; i++) {
        nb_expr *x = nb_input(g, "x", DTYPES[rnd(&s, 2)], 2, shape);
        ins[nin++] = pool[n++] = x;
      }
    }
    int len = 15 + rnd(&s, 50);
    for (int k = 0; k < len && n < MAXPOOL; k++) {
      nb_expr *e = random_node(&s, g, pool, n, rich);
      if (!e) break;
      pool[n++] = e;
    }
    nb_expr *outs[8];
    int      nout = 1 + rnd(&s, 6);
    outs[0] = pool[n - 1];
    for (int j = 1; j < nout; j++) outs[j] = pool[rnd(&s, n)];
    char what[64];
    snprintf(what, sizeof what, "random graph %d (seed %llu, %d nodes)", gi, (unsigned long long)seed, n);
    nb_fn *f = make_fn(what, g, nin, ins, nout, outs);
    nb_graph_free(g);
    check_fn(what, f, D_ANY, rich ? VM : EXACT, seed);
    add_stats(&st, f);
    built += f != NULL;
    nb_fn_free(f);
  }
  printf("  exec: %d random graphs compared\n", built);
  print_stats("random graphs", &st);
}

/* ---- derivative functions ---------------------------------------------------------- */

/* F(x, y) = [sum(softplus(x y) + sin(x) y), tanh(x) exp(-y^2) + where(x > 0, sqrt x, x^2)] */
static nb_fn *fn_smooth(nb_dtype dt, int rank, const int64_t *shape) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, rank, shape);
  nb_expr  *y = nb_input(g, "y", dt, rank, shape);
  nb_expr  *o0 = nb_sum(nb_add(nb_softplus(nb_mul(x, y)), nb_mul(nb_sin(x), y)), 0, NULL, false);
  nb_expr  *o1 = nb_add(nb_mul(nb_tanh(x), nb_exp(nb_neg(nb_square(y)))),
                        nb_where(nb_gt(x, S0(x)), nb_sqrt(x), nb_square(x)));
  nb_fn    *f = make_fn("smooth", g, 2, (nb_expr *[]){x, y}, 2, (nb_expr *[]){o0, o1});
  nb_graph_free(g);
  return f;
}

/* the same without vector math: exact comparisons */
static nb_fn *fn_plain(nb_dtype dt, int rank, const int64_t *shape) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, rank, shape);
  nb_expr  *y = nb_input(g, "y", dt, rank, shape);
  nb_expr  *o0 = nb_sum(nb_sub(nb_mul(nb_maximum(x, y), x), nb_div(y, nb_adds(nb_abs(x), 1))), 0,
                        NULL, false);
  nb_expr  *o1 = nb_add(nb_where(nb_gt(x, y), nb_mul(nb_square(x), y), nb_muls(y, 3)),
                        nb_relu(nb_adds(nb_mul(x, x), -0.5)));
  nb_fn    *f = make_fn("plain", g, 2, (nb_expr *[]){x, y}, 2, (nb_expr *[]){o0, o1});
  nb_graph_free(g);
  return f;
}

/* scalar h(x) = sum(log1p(x^2) cos x + x^3/6) (vm), or sum(max(x,.5) x^2 + x/(|x|+1)) */
static nb_fn *fn_scalar1(nb_dtype dt, int64_t n, bool vm) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, 1, &n);
  nb_expr  *e = vm ? nb_add(nb_mul(nb_log1p(nb_square(x)), nb_cos(x)), nb_muls(nb_pows(x, 3), 1.0 / 6))
                   : nb_add(nb_mul(nb_maximum(x, nb_scalar(g, 0.5)), nb_square(x)),
                            nb_div(x, nb_adds(nb_abs(x), 1)));
  nb_expr  *o = nb_sum(e, 0, NULL, false);
  nb_fn    *f = make_fn("scalar1", g, 1, &x, 1, &o);
  nb_graph_free(g);
  return f;
}

static void test_derivatives(void) {
  plan_stats st = {0};
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = DTYPES[d];
    char     what[96];
    /* vjp of both functions at several sizes (rank 3 and rank 1) */
    for (int s = 0; s < NSIZES; s++) {
      for (int vm = 0; vm < 2; vm++) {
        nb_fn *f = vm ? fn_smooth(dt, 3, SHAPES[s]) : fn_plain(dt, 3, SHAPES[s]);
        nb_fn *v = f ? nb_vjp(f, NULL) : NULL;
        snprintf(what, sizeof what, "vjp %s %s n=%lld", vm ? "smooth" : "plain", dtname(dt),
                 (long long)nb_fn_in_size(f, 0));
        if (f && derived_ok(what, v)) check_fn(what, v, D_ANY, vm ? VM : EXACT, 2000u + (unsigned)s);
        add_stats(&st, v);
        nb_fn_free(v);
        /* value_and_grad of the scalar output, wrt y only */
        nb_diff_opts o = {1, (int[]){1}, 1};
        nb_fn *vg = f ? nb_value_and_grad(f, &o) : NULL;
        snprintf(what, sizeof what, "value_and_grad %s %s", vm ? "smooth" : "plain", dtname(dt));
        if (f && derived_ok(what, vg)) check_fn(what, vg, D_ANY, vm ? VM : EXACT, 2100u + (unsigned)s);
        nb_fn_free(vg);
        nb_fn_free(f);
      }
    }
    { /* vjp with groups split over the thread pool (smooth in f64, plain in f32) */
      bool   vm = d == 0;
      nb_fn *f = vm ? fn_smooth(dt, 3, LARGE[1]) : fn_plain(dt, 3, LARGE[1]);
      nb_fn *v = f ? nb_vjp(f, NULL) : NULL;
      snprintf(what, sizeof what, "vjp %s %s n=263168", vm ? "smooth" : "plain", dtname(dt));
      if (f && derived_ok(what, v)) check_fn(what, v, D_ANY, vm ? VM : EXACT, 2050u);
      add_stats(&st, v);
      nb_fn_free(v);
      nb_fn_free(f);
    }
    /* hessians (output n x n: sizes crossing the block size) */
    static const int64_t hsizes[] = {1, 7, 23, 60, 130};
    for (int k = 0; k < 5; k++)
      for (int vm = 0; vm < 2; vm++) {
        nb_fn *f = fn_scalar1(dt, hsizes[k], vm);
        nb_fn *h = f ? nb_hessian(f, NULL) : NULL;
        snprintf(what, sizeof what, "hessian %s %s n=%lld", vm ? "vm" : "plain", dtname(dt),
                 (long long)hsizes[k]);
        if (f && derived_ok(what, h)) check_fn(what, h, D_ANY, vm ? VM : EXACT, 2200u + (unsigned)k);
        add_stats(&st, h);
        nb_fn_free(h);
        nb_fn_free(f);
      }
    /* Jacobians in reverse mode */
    static const int64_t jshapes[][3] = {{1, 1, 1}, {1, 7, 1}, {2, 4, 5}, {2, 5, 13}};
    for (int k = 0; k < 4; k++)
      for (int vm = 0; vm < 2; vm++) {
        nb_fn *f = vm ? fn_smooth(dt, 3, jshapes[k]) : fn_plain(dt, 3, jshapes[k]);
        nb_fn *j = f ? nb_jacrev(f, NULL) : NULL;
        snprintf(what, sizeof what, "jacrev %s %s n=%lld", vm ? "smooth" : "plain", dtname(dt),
                 (long long)nb_fn_in_size(f, 0));
        if (f && derived_ok(what, j)) check_fn(what, j, D_ANY, vm ? VM : EXACT, 2300u + (unsigned)k);
        add_stats(&st, j);
        nb_fn_free(j);
        nb_fn_free(f);
      }
    /* per-example gradients: vmap_sized(grad(f)) with x batched and y shared */
    static const int64_t vb[][2] = {{1, 1}, {7, 1}, {7, 73}, {9, 57}, {10, 500}};
    for (int k = 0; k < 5; k++)
      for (int vm = 0; vm < 2; vm++) {
        int64_t batch = vb[k][0], n = vb[k][1];
        nb_fn *f = vm ? fn_smooth(dt, 1, &n) : fn_plain(dt, 1, &n);
        nb_diff_opts o = {0, NULL, 1}; /* the second output is auxiliary */
        nb_fn *gr = f ? nb_grad(f, &o) : NULL;
        nb_fn *vg = gr ? nb_vmap_sized(gr, batch, (int[]){0, NB_UNMAPPED}, NULL) : NULL;
        snprintf(what, sizeof what, "vmap(grad) %s %s %lldx%lld", vm ? "smooth" : "plain",
                 dtname(dt), (long long)batch, (long long)n);
        if (f && derived_ok(what, gr) && derived_ok(what, vg))
          check_fn(what, vg, D_ANY, vm ? VM : EXACT, 2400u + (unsigned)k);
        add_stats(&st, vg);
        nb_fn_free(vg);
        nb_fn_free(gr);
        nb_fn_free(f);
      }
  }
  print_stats("derivatives", &st);
}

/* ---- matmul with BLAS-sized operands ----------------------------------------------- */
typedef struct mmcase {
  int     ra, rb;
  int64_t a[3], b[3];
  int     transpose_a; /* a given transposed: matmul(transpose(A), B) */
} mmcase;

static const mmcase MMCASES[] = {
    {2, 2, {64, 96}, {96, 80}, 0},      {3, 3, {3, 40, 50}, {3, 50, 60}, 0},
    {3, 2, {3, 40, 50}, {50, 60}, 0},   {1, 2, {200}, {200, 300}, 0},
    {2, 1, {300, 200}, {200}, 0},       {1, 1, {40000}, {40000}, 0},
    {2, 2, {96, 64}, {96, 80}, 1},      {2, 2, {31, 33}, {33, 32}, 0}, /* just below */
    {2, 2, {32, 32}, {32, 32}, 0},      /* exactly at the threshold */
};

static nb_fn *fn_matmul(nb_dtype dt, const mmcase *c) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = nb_input(g, "a", dt, c->ra, c->a);
  nb_expr  *b = nb_input(g, "b", dt, c->rb, c->b);
  nb_expr  *o = nb_matmul(c->transpose_a ? nb_transpose(a, NULL) : a, b);
  nb_fn    *f = make_fn("matmul", g, 2, (nb_expr *[]){a, b}, 1, &o);
  nb_graph_free(g);
  return f;
}

static void mm_name(char *buf, size_t n, const char *kind, nb_dtype dt, const mmcase *c) {
  char sa[40], sb[40];
  if (c->ra == 1) snprintf(sa, sizeof sa, "[%lld]", (long long)c->a[0]);
  else if (c->ra == 2) snprintf(sa, sizeof sa, "[%lld,%lld]", (long long)c->a[0], (long long)c->a[1]);
  else snprintf(sa, sizeof sa, "[%lld,%lld,%lld]", (long long)c->a[0], (long long)c->a[1], (long long)c->a[2]);
  if (c->rb == 1) snprintf(sb, sizeof sb, "[%lld]", (long long)c->b[0]);
  else if (c->rb == 2) snprintf(sb, sizeof sb, "[%lld,%lld]", (long long)c->b[0], (long long)c->b[1]);
  else snprintf(sb, sizeof sb, "[%lld,%lld,%lld]", (long long)c->b[0], (long long)c->b[1], (long long)c->b[2]);
  snprintf(buf, n, "%s %s %s%s@%s", kind, dtname(dt), sa, c->transpose_a ? "^T" : "", sb);
}

static void test_matmul_blas(void) {
  for (int d = 0; d < 2; d++)
    for (int k = 0; k < (int)(sizeof MMCASES / sizeof MMCASES[0]); k++) {
      nb_dtype dt = DTYPES[d];
      char     what[128];
      nb_fn   *f = fn_matmul(dt, &MMCASES[k]);
      mm_name(what, sizeof what, "matmul", dt, &MMCASES[k]);
      check_fn(what, f, D_ANY, MM, 3000u + (unsigned)k);
      /* the vjp: masked products (BLAS when no factor is inf/NaN); multilinear */
      nb_fn *v = f ? nb_vjp(f, NULL) : NULL;
      mm_name(what, sizeof what, "vjp(matmul)", dt, &MMCASES[k]);
      if (f && derived_ok(what, v)) check_fn(what, v, D_ANY, MM, 3100u + (unsigned)k);
      nb_fn_free(v);
      /* the jvp too (masked products of a tangent with a primal) */
      nb_fn *j = f ? nb_jvp(f, NULL) : NULL;
      mm_name(what, sizeof what, "jvp(matmul)", dt, &MMCASES[k]);
      if (f && derived_ok(what, j)) check_fn(what, j, D_ANY, MM, 3200u + (unsigned)k);
      nb_fn_free(j);
      nb_fn_free(f);
    }
}

/* Plain (unmasked) products keep IEEE semantics whichever kernel runs:
 * inf * 0 is NaN, NaN propagates. a: [m,k] with a[0][0] = inf, a[1][3] = NaN,
 * b's row 0 all zeros (so row 0 of the product is inf*0 + ... = NaN). */
static void test_matmul_nonfinite(void) {
  static const mmcase cases[] = {{2, 2, {64, 96}, {96, 80}, 0}, {1, 2, {200}, {200, 300}, 0},
                                 {2, 1, {300, 200}, {200}, 0}};
  for (int d = 0; d < 2; d++)
    for (int k = 0; k < 3; k++) {
      nb_dtype dt = DTYPES[d];
      char     what[128];
      mm_name(what, sizeof what, "matmul inf*0", dt, &cases[k]);
      nb_fn *f = fn_matmul(dt, &cases[k]);
      bufs   in, out, ref, sc;
      if (!f || !bufs_make(&in, f, true)) {
        nb_fn_free(f);
        continue;
      }
      bufs_random(&in, NULL, D_ANY, 3300u + (unsigned)k);
      int64_t kk = cases[k].ra == 1 ? cases[k].a[0] : cases[k].a[1];
      int64_t nn = cases[k].rb == 1 ? 1 : cases[k].b[1];
      setv(&in, 0, 0, INFINITY); /* a[0][0] */
      if (in.size[0] > kk + 3) setv(&in, 0, kk + 3, NAN); /* a[1][3] */
      else setv(&in, 0, 2, -INFINITY);
      for (int64_t j = 0; j < nn; j++) setv(&in, 1, j, 0.0); /* b[0][:] */
      bool ok = bufs_make(&out, f, false) && bufs_make(&ref, f, false) && scale_of(f, &in, &sc);
      CHECK(ok);
      if (ok) {
        CHECK(call_fast(f, &in, &out) == NB_OK);
        CHECK(call_ref(f, &in, &ref) == NB_OK);
        CHECK(isnan(getv(&ref, 0, 0)));
        compare_bufs(what, &out, &ref, NULL, MM, &sc, false);
      }
      bufs_free(&in), bufs_free(&out), bufs_free(&ref), bufs_free(&sc);
      nb_fn_free(f);
    }
}

/* sum of |a_il b_lj| over the terms a masked product keeps (no zero factor) */
static double masked_term_sum(const double *a, int64_t sa_i, int64_t sa_l, const double *b,
                              int64_t sb_l, int64_t sb_j, int64_t i, int64_t j, int64_t k) {
  double s = 0;
  for (int64_t l = 0; l < k; l++) {
    double x = a[i * sa_i + l * sa_l], y = b[l * sb_l + j * sb_j];
    if (x != 0 && y != 0) s += fabs(x * y);
  }
  return s;
}

/* where(x > 0, matmul(log x, W), 0) (rows: `cols` == 0) or where(x > 0, matmul(W,
 * log x), 0) (columns), with whole rows (columns) of x <= 0: log x is -inf or NaN
 * there, in the branch not taken. The vjp's masked products must keep the
 * gradient exactly 0 at those entries and NaN out of dW, with BLAS used for the
 * products whose factors are finite. */
static void test_masked_where(void) {
  const int64_t M = 64, K = 96;
  for (int d = 0; d < 2; d++)
    for (int cols = 0; cols < 2; cols++) {
      nb_dtype dt = DTYPES[d];
      char     what[96];
      snprintf(what, sizeof what, "vjp where/log/matmul %s %s", cols ? "columns" : "rows",
               dtname(dt));
      int64_t   xs[2] = {cols ? K : M, cols ? M : K}; /* x: [M,K] or [K,M]; W: [K,K] */
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, 2, xs);
      nb_expr  *w = nb_input(g, "w", dt, 2, (int64_t[]){K, K});
      nb_expr  *lx = nb_log(x);
      nb_expr  *y = nb_where(nb_gt(x, S0(x)), cols ? nb_matmul(w, lx) : nb_matmul(lx, w), S0(x));
      nb_fn    *f = make_fn(what, g, 2, (nb_expr *[]){x, w}, 1, &y);
      nb_graph_free(g);
      nb_fn *v = f ? nb_vjp(f, NULL) : NULL; /* (x, w, ct) -> (y, dx, dw) */
      if (!f || !derived_ok(what, v)) {
        nb_fn_free(f);
        continue;
      }
      bufs in, out, out2, ref, sc;
      bool ok = bufs_make(&in, v, true) && bufs_make(&out, v, false) && bufs_make(&out2, v, false) &&
                bufs_make(&ref, v, false) && bufs_make(&sc, v, false);
      CHECK(ok);
      if (ok) {
        uint64_t s = 4242u + (uint64_t)(2 * d + cols);
        static const double bad[4] = {0.0, -0.0, -1.5, -0.25};
        for (int64_t r = 0; r < xs[0]; r++)
          for (int64_t c = 0; c < xs[1]; c++) {
            int64_t line = cols ? c : r; /* the row (column) this entry belongs to */
            double  val = line % 4 == 1 ? bad[(r + c) % 4] : 0.2 + 2.8 * unif(&s);
            setv(&in, 0, r * xs[1] + c, val);
          }
        for (int64_t k = 0; k < in.size[1]; k++) setv(&in, 1, k, -1 + 2 * unif(&s));
        for (int64_t k = 0; k < in.size[2]; k++) setv(&in, 2, k, k % 7 == 3 ? 0.0 : -1 + 2 * unif(&s));
        CHECK(call_fast(v, &in, &out) == NB_OK);
        CHECK(call_fast(v, &in, &out2) == NB_OK);
        CHECK(call_ref(v, &in, &ref) == NB_OK);
        CHECK(bufs_same_bits(&out, &out2));
        /* sums of |terms| by hand, in double */
        int64_t nx = in.size[0], nw = in.size[1], nc = in.size[2];
        double *X = malloc((size_t)nx * 8), *L = malloc((size_t)nx * 8), *W = malloc((size_t)nw * 8),
               *C = malloc((size_t)nc * 8);
        CHECK(X && L && W && C);
        if (X && L && W && C) {
          for (int64_t k = 0; k < nx; k++) X[k] = getv(&in, 0, k), L[k] = log(X[k]);
          for (int64_t k = 0; k < nw; k++) W[k] = getv(&in, 1, k);
          for (int64_t k = 0; k < nc; k++) C[k] = X[k] > 0 ? getv(&in, 2, k) : 0; /* ct where taken */
          /* y, ct and x share one shape ([M,K] or [K,M]) */
          for (int64_t r = 0; r < xs[0]; r++)
            for (int64_t c = 0; c < xs[1]; c++) {
              int64_t e = r * xs[1] + c;
              /* y = L W (rows) or W L (columns): unmasked, finite where taken */
              double sy = 0;
              if (X[e] > 0)
                for (int64_t l = 0; l < K; l++)
                  sy += cols ? fabs(W[r * K + l] * L[l * xs[1] + c]) : fabs(L[r * K + l] * W[l * K + c]);
              setv(&sc, 0, e, sy);
              /* dL = C W^T (rows) or W^T C (columns), then dx = dL / x */
              double sl = cols ? masked_term_sum(W, 1, K, C, xs[1], 1, r, c, K)
                               : masked_term_sum(C, xs[1], 1, W, 1, K, r, c, K);
              setv(&sc, 1, e, X[e] > 0 ? sl / X[e] : 0);
            }
          /* dW = L^T C (rows) or C L^T (columns) */
          for (int64_t r = 0; r < K; r++)
            for (int64_t c = 0; c < K; c++)
              setv(&sc, 2, r * K + c,
                   cols ? masked_term_sum(C, xs[1], 1, L, 1, xs[1], r, c, xs[1])
                        : masked_term_sum(L, 1, xs[1], C, xs[1], 1, r, c, xs[0]));
          compare_bufs(what, &out, &ref, NULL, MM, &sc, false);
          /* exact zeros at the entries whose line is <= 0, in both evaluators */
          int64_t nonzero = 0, nonfinite = 0, lines = 0;
          for (int64_t r = 0; r < xs[0]; r++)
            for (int64_t c = 0; c < xs[1]; c++) {
              int64_t e = r * xs[1] + c;
              if ((cols ? c : r) % 4 != 1) continue;
              lines++;
              nonzero += getv(&out, 1, e) != 0 || getv(&ref, 1, e) != 0;
              nonzero += getv(&out, 0, e) != 0;
            }
          for (int64_t k = 0; k < nw; k++) nonfinite += !isfinite(getv(&out, 2, k)) || !isfinite(getv(&ref, 2, k));
          for (int64_t k = 0; k < nx; k++) nonfinite += !isfinite(getv(&out, 1, k)) || !isfinite(getv(&out, 0, k));
          CHECK(lines > 0);
          CHECK(nonzero == 0);
          CHECK(nonfinite == 0);
          if (nonzero || nonfinite)
            fprintf(stderr, "    %s: %lld nonzero gradients where x <= 0, %lld non-finite values\n",
                    what, (long long)nonzero, (long long)nonfinite);
        }
        free(X), free(L), free(W), free(C);
      }
      bufs_free(&in), bufs_free(&out), bufs_free(&out2), bufs_free(&ref), bufs_free(&sc);
      nb_fn_free(v);
      nb_fn_free(f);
    }
}

/* ---- repeated calls --------------------------------------------------------------- */

/* two functions called in turn, each with alternating inputs and fresh output
 * buffers: every result equals the first one computed for the same inputs */
static void test_repeat_calls(void) {
  nb_fn *f[2] = {NULL, NULL};
  {
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", NB_F64, 3, SHAPES[7]);
    nb_expr  *y = nb_input(g, "y", NB_F64, 3, SHAPES[7]);
    nb_expr  *z = nb_input(g, "z", NB_F64, 3, SHAPES[7]);
    nb_expr  *b = nb_input(g, "b", NB_F64, 1, &SHAPES[7][2]);
    nb_expr  *o[MAXIO];
    int       no = fusion_chain(g, x, y, z, b, true, o);
    f[0] = make_fn("repeat chain", g, 4, (nb_expr *[]){x, y, z, b}, no, o);
    nb_graph_free(g);
  }
  f[1] = fn_matmul(NB_F32, &MMCASES[1]);
  for (int k = 0; k < 2; k++) {
    if (!f[k]) continue;
    bufs in[2], first[2], ref[2];
    bool ok = true;
    for (int r = 0; r < 2 && ok; r++) {
      ok = bufs_make(&in[r], f[k], true) && bufs_make(&first[r], f[k], false) &&
           bufs_make(&ref[r], f[k], false);
      if (ok) bufs_random(&in[r], NULL, D_ANY, 5000u + 10u * (unsigned)k + (unsigned)r);
      ok = ok && call_fast(f[k], &in[r], &first[r]) == NB_OK && call_ref(f[k], &in[r], &ref[r]) == NB_OK;
    }
    CHECK(ok);
    int differ = 0;
    for (int it = 0; ok && it < 12; it++) {
      bufs out;
      if (!bufs_make(&out, f[k], false)) break;
      CHECK(call_fast(f[k], &in[it % 2], &out) == NB_OK);
      differ += !bufs_same_bits(&out, &first[it % 2]);
      bufs_free(&out);
      /* the other function in between */
      if (f[1 - k]) {
        bufs in2, out2;
        if (bufs_make(&in2, f[1 - k], true) && bufs_make(&out2, f[1 - k], false)) {
          bufs_random(&in2, NULL, D_ANY, (uint64_t)it);
          CHECK(call_fast(f[1 - k], &in2, &out2) == NB_OK);
          bufs_free(&out2);
        }
        bufs_free(&in2);
      }
    }
    CHECK(differ == 0);
    for (int r = 0; ok && r < 2; r++) {
      static const int modes_mm[] = {MM};
      bufs sc = {0};
      if (k == 1) CHECK(scale_of(f[k], &in[r], &sc));
      compare_bufs(k ? "repeat matmul" : "repeat chain", &first[r], &ref[r],
               k ? modes_mm : NULL, VM, k ? &sc : NULL, false);
      bufs_free(&sc);
    }
    for (int r = 0; r < 2; r++) bufs_free(&in[r]), bufs_free(&first[r]), bufs_free(&ref[r]);
  }
  nb_fn_free(f[0]);
  nb_fn_free(f[1]);
}

/* "later calls allocate nothing": every allocation of the library goes
 * through the hook, counted here from the second call on */
static long alloc_count;
static void *count_alloc(void *u, size_t n) { (void)u; alloc_count++; return malloc(n); }
static void *count_realloc(void *u, void *p, size_t n) { (void)u; alloc_count++; return realloc(p, n); }
static void  count_free(void *u, void *p) { (void)u; free(p); }

static void test_no_alloc_after_first_call(void) {
  static const nb_allocator counting = {count_alloc, count_realloc, count_free, NULL};
  nb_set_allocator(&counting);
  nb_fn *f[3] = {NULL, NULL, NULL};
  {
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", NB_F32, 3, LARGE[1]); /* a group split over threads */
    nb_expr  *y = nb_input(g, "y", NB_F32, 3, LARGE[1]);
    nb_expr  *z = nb_input(g, "z", NB_F32, 3, LARGE[1]);
    nb_expr  *b = nb_input(g, "b", NB_F32, 1, &LARGE[1][2]);
    nb_expr  *o[MAXIO];
    int       no = fusion_chain(g, x, y, z, b, true, o);
    f[0] = make_fn("no-alloc chain", g, 4, (nb_expr *[]){x, y, z, b}, no, o);
    nb_graph_free(g);
  }
  f[1] = fn_matmul(NB_F64, &MMCASES[1]);
  nb_fn *s = fn_smooth(NB_F64, 3, SHAPES[7]);
  f[2] = s ? nb_vjp(s, NULL) : NULL;
  nb_fn_free(s);
  for (int k = 0; k < 3; k++) {
    if (!f[k]) continue;
    bufs in, out;
    bool ok = bufs_make(&in, f[k], true) && bufs_make(&out, f[k], false);
    CHECK(ok);
    if (ok) {
      bufs_random(&in, NULL, D_ANY, 8000u + (unsigned)k);
      CHECK(call_fast(f[k], &in, &out) == NB_OK);
      long before = alloc_count;
      for (int it = 0; it < 3; it++) CHECK(call_fast(f[k], &in, &out) == NB_OK);
      CHECK(alloc_count == before);
      if (alloc_count != before)
        fprintf(stderr, "    function %d: %ld allocations in 3 later calls\n", k, alloc_count - before);
    }
    bufs_free(&in), bufs_free(&out);
    nb_fn_free(f[k]);
  }
  nb_set_allocator(NULL);
}

/* ---- threads ----------------------------------------------------------------------- */

/* f(a, b, x, y, z, bias) = [a @ b, the fused vm chain of x, y, z, bias...] */
static nb_fn *fn_threads(int *modes) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = nb_input(g, "a", NB_F64, 2, (int64_t[]){64, 96});
  nb_expr  *b = nb_input(g, "b", NB_F64, 2, (int64_t[]){96, 80});
  nb_expr  *x = nb_input(g, "x", NB_F64, 3, SHAPES[7]);
  nb_expr  *y = nb_input(g, "y", NB_F64, 3, SHAPES[7]);
  nb_expr  *z = nb_input(g, "z", NB_F64, 3, SHAPES[7]);
  nb_expr  *bias = nb_input(g, "bias", NB_F64, 1, &SHAPES[7][2]);
  nb_expr  *big = nb_input(g, "big", NB_F32, 2, (int64_t[]){256, 257}); /* split over the pool */
  nb_expr  *o[MAXIO];
  o[0] = nb_matmul(a, b);
  int no = 1 + fusion_chain(g, x, y, z, bias, true, o + 1);
  for (int k = 0; k < no; k++) modes[k] = k ? VM : MM;
  nb_expr *t = big;
  for (int k = 0; k < 6; k++) t = nb_maximum(nb_sub(nb_mul(t, big), nb_muls(t, 0.5)), nb_scalar(g, -4));
  modes[no] = EXACT, o[no++] = t;
  modes[no] = VM, o[no++] = nb_softmax(nb_reshape(x, 2, (int64_t[]){200, 25}), -1);
  nb_fn *f = make_fn("threads", g, 7, (nb_expr *[]){a, b, x, y, z, bias, big}, no, o);
  nb_graph_free(g);
  return f;
}

static void test_threads(void) {
  for (int nt = 2; nt <= FX_MAX_THREADS; nt += 2)
    for (int warm = 0; warm < 2; warm++) {
      int    modes[MAXIO];
      nb_fn *f = fn_threads(modes);
      if (!f) return;
      check_threads("threads", f, nt, warm, modes, 6000u);
      nb_fn_free(f);
    }
}

/* ---- workspace size -------------------------------------------------------------- */

/* what the reference allocates: one buffer per computed node */
static int64_t no_reuse_bytes(const nb_fn *f) {
  int64_t total = 0;
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__node *n = &f->nodes[i].n;
    if (n->op == NB_OP_INPUT || n->op == NB_OP_CONST || (nb__prims[n->op]->flags & NB__ALIAS)) continue;
    total += n->size * (int64_t)esize((nb_dtype)n->dtype);
  }
  return total;
}

/* x [n,n] -> L times: t = transpose(t); t = t * -1 + 0.5 (or a fused chain of L
 * nodes without transposes); output sum or the last value */
static nb_fn *fn_long_chain(int64_t n, int len, bool transposes, bool scalar_out) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 2, (int64_t[]){n, n});
  nb_expr  *t = x;
  for (int k = 0; k < len; k++) {
    if (transposes) t = nb_transpose(t, NULL);
    switch (k % 4) {
    case 0: t = nb_adds(nb_neg(t), 0.5); break;
    case 1: t = nb_div(t, nb_adds(nb_abs(t), 1)); break;
    case 2: t = nb_add(nb_mul(t, x), t); break;
    default: t = nb_maximum(t, nb_muls(x, 0.25)); break;
    }
  }
  nb_expr *o = scalar_out ? nb_sum(nb_mul(t, t), 0, NULL, false) : t;
  nb_fn   *f = make_fn("long chain", g, 1, &x, 1, &o);
  nb_graph_free(g);
  return f;
}

static void test_workspace(void) {
  const int64_t n = 256, N = n * n, NB = N * 8; /* one f64 value of the chain */
  int64_t       ws[2][2], total[2][2];
  static const int lens[2] = {12, 48};
  for (int tr = 0; tr < 2; tr++)
    for (int k = 0; k < 2; k++) {
      nb_fn *f = fn_long_chain(n, lens[k], tr, false);
      ws[tr][k] = f ? nb_fn_workspace_bytes(f) : -1;
      total[tr][k] = f ? no_reuse_bytes(f) : -1;
      printf("  exec: workspace of a %s chain of %d steps on %lld f64: %lld bytes (%.2f x N*8; "
             "no reuse: %.1f x N*8)\n",
             tr ? "transposed" : "fused", lens[k], (long long)N, (long long)ws[tr][k],
             (double)ws[tr][k] / (double)NB, (double)total[tr][k] / (double)NB);
      CHECK(ws[tr][k] >= 0);
      /* O(N), not O(length x N). Live at once in the transposed chain: the
       * transpose's result and the group's, muls(x, 0.25) (shared by every
       * fourth step) and the fills 0.5, 1 and 0.25 that CSE shares between
       * groups, which are materialized whole: 6 x N*8. The fused chain is one
       * group: its block temporaries, one set per thread when it is split */
      CHECK(ws[tr][k] <= (tr ? 8 : 3 * nb__pool_threads()) * NB);
      nb_fn_free(f);
      if (k == 1) { /* the values, on a smaller instance */
        char what[64];
        snprintf(what, sizeof what, "long %s chain", tr ? "transposed" : "fused");
        f = fn_long_chain(40, lens[k], tr, false);
        check_fn(what, f, D_ANY, EXACT, 7000u + (unsigned)tr);
        nb_fn_free(f);
      }
    }
  CHECK(ws[1][1] <= ws[1][0] + 64 * 1024); /* does not grow with the length */
  /* fused: every member of the group that stays inside it has its own block
   * (temporaries are not reused within a group) */
  printf("  exec: fused chain: %.0f bytes more per step (%d-byte blocks, %d threads)\n",
         (double)(ws[0][1] - ws[0][0]) / (lens[1] - lens[0]), NB__BLOCK * 8, nb__pool_threads());
  /* vjp of the chains: every forward value is a residual, yet it stays below
   * what one buffer per node takes */
  for (int tr = 0; tr < 2; tr++) {
    nb_fn *f = fn_long_chain(n, 24, tr, true);
    nb_fn *v = f ? nb_vjp(f, NULL) : NULL;
    if (f && derived_ok("vjp of a long chain", v)) {
      int64_t w = nb_fn_workspace_bytes(v), t = no_reuse_bytes(v);
      printf("  exec: workspace of vjp(%s chain of 24 steps) on %lld f64: %lld bytes (%.2f x N*8;"
             " no reuse: %.1f x N*8; %lld nodes)\n",
             tr ? "transposed" : "fused", (long long)N, (long long)w, (double)w / (double)NB,
             (double)t / (double)NB, (long long)nb_fn_node_count(v));
      CHECK(w >= 0);
      CHECK(w <= t / 2);
      CHECK(w <= (2 * 24 + 4) * NB); /* about two residuals per step at most */
    }
    nb_fn_free(v);
    nb_fn_free(f);
    f = fn_long_chain(40, 24, tr, true); /* the values, on a smaller instance */
    v = f ? nb_vjp(f, NULL) : NULL;
    if (f && derived_ok("vjp of a long chain", v))
      check_fn(tr ? "vjp transposed chain" : "vjp fused chain", v, D_ANY, EXACT, 7100u + (unsigned)tr);
    nb_fn_free(v);
    nb_fn_free(f);
  }
  /* the functions of this suite: the smooth vjp at 5000 elements */
  nb_fn *f = fn_smooth(NB_F64, 3, SHAPES[7]);
  nb_fn *v = f ? nb_vjp(f, NULL) : NULL;
  if (f && derived_ok("vjp smooth", v)) {
    int64_t w = nb_fn_workspace_bytes(v), t = no_reuse_bytes(v);
    printf("  exec: workspace of vjp(smooth) on 5000 f64: %lld bytes (no reuse: %lld, %lld nodes)\n",
           (long long)w, (long long)t, (long long)nb_fn_node_count(v));
    CHECK(w >= 0 && w <= t);
  }
  nb_fn_free(v);
  nb_fn_free(f);
}

/* ---- reductions as sinks of fused groups ----------------------------------------------
 * A reduction whose operand is a member of an open fused group joins that group
 * as a sink (exec/exec.h, plan.c). Over all trailing axes to one element: each
 * block of the operand folds into a double partial in the workspace, the
 * partials fold in block order after the group (exec/call.c); the reference
 * folds contiguous runs in pieces cut at the same multiples of 512. Any other
 * reduction joins only groups below NB__PARALLEL_MIN, folding the blocks in
 * order into accumulators (a double per output element). Either way sinks must
 * match the reference bit for bit at every size and thread count, NaN, inf and
 * signed zeros included. Checked: the plan (which reductions are sinks, nsink,
 * where the partials live and that they overlap nothing live, that no member of
 * a group reads its sinks, that the operand becomes a block temporary unless
 * something else needs it whole), values against the reference (sum, max,
 * prod, mean, min over every axis and over some axes, several sinks per group,
 * readers of sinks, broadcasts, pads, slices, reversals, transposes,
 * gradients), the workspace, and the same sums on 1 and 2 threads (in-process
 * with the group's parts forced to 1, and in a child process with another
 * NB_NUM_THREADS). */

enum { NSINK_SIZES = 9 };
/* sizes 1 (never a sink), 2 .. 5000, and 300000 (above NB__PARALLEL_MIN: split
 * over the pool); each as a shape of rank 1 to 3 */
static const int     SINK_RANK[NSINK_SIZES] = {1, 1, 3, 2, 3, 2, 2, 3, 2};
static const int64_t SINK_SHAPE[NSINK_SIZES][3] = {{1},        {2},        {1, 7, 1},   {7, 73},    {8, 8, 8},
                                                   {27, 19},   {25, 41},   {10, 20, 25}, {300, 1000}};
enum { SINK_LARGE = 300000 };
_Static_assert((long)SINK_LARGE >= (long)NB__PARALLEL_MIN, "the large size is split over the pool");

enum { SK_SUM, SK_MAX, SK_PROD, SK_MEAN, SK_MIN, NSK };
static const char *const SK_NAME[NSK] = {"sum", "max", "prod", "mean", "min"};

/* t = sin(x) y + 0.5, the chain every reduction reads */
static nb_expr *sink_chain(nb_expr *x, nb_expr *y) { return nb_adds(nb_mul(nb_sin(x), y), 0.5); }

/* reduction k of t over every axis (naxes 0, or every axis listed when list);
 * prod reads 0.01 t + 0.995 (its product neither overflows nor underflows at
 * 300000 elements, so the order of the folds shows in its bits) */
static nb_expr *sink_reduce(int k, nb_expr *t, bool keep, bool list) {
  int rank = t ? nb_expr_rank(t) : 0, axes[NB_MAX_RANK];
  for (int d = 0; d < rank; d++) axes[d] = list ? d - rank : d; /* negative when listed */
  int n = list ? rank : 0;
  switch (k) {
  case SK_SUM: return nb_sum(t, n, axes, keep);
  case SK_MAX: return nb_max(t, n, axes, keep);
  case SK_PROD: return nb_prod(nb_adds(nb_muls(t, 0.01), 0.995), n, axes, keep);
  case SK_MEAN: return nb_mean(t, n, axes, keep);
  default: return nb_min(t, n, axes, keep);
  }
}

/* Checks the plan's sinks and returns how many there are: in every group, nsink
 * is the number of reduction members, each reading a member of the group's
 * size, with partials (nb__sink_partials) when the group is split over the
 * pool; no member reads a sink of its own group; a sink's home is never a
 * block temporary; the partials (nb__sink_doubles each) lie inside the
 * workspace and overlap no buffer live during the group's step. The members
 * reading sinks of other groups are counted in *readers. */
static int check_sinks_(const char *file, int line, const char *what, nb_fn *f, int *readers) {
  if (readers) *readers = 0;
  if (!f) return 0;
  int64_t ws = nb_fn_workspace_bytes(f);
  const nb__plan *p = nb__plan_get(f);
  if (ws < 0 || !p) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: no plan\n", file, line, th_current, what);
    return 0;
  }
  /* per node: its group, the step computing it, and (per buffer root) the
   * last step reading it, as plan.c's liveness */
  size_t   nn = (size_t)f->nnodes + 1;
  int32_t *group = malloc(nn * sizeof *group), *step = malloc(nn * sizeof *step), *last = malloc(nn * sizeof *last);
  int32_t *root = malloc(nn * sizeof *root);
  int      total = 0, bad = 0;
  if (!group || !step || !last || !root) {
    free(group), free(step), free(last), free(root);
    return 0;
  }
  for (int32_t i = 0; i < f->nnodes; i++) {
    group[i] = step[i] = last[i] = -1;
    root[i] = i;
    while (p->home[root[i]].kind == NB__HOME_ALIAS && f->nodes[root[i]].n.nsrc) root[i] = f->nodes[root[i]].src[0];
  }
  for (int32_t s = 0; s < p->nsteps; s++) {
    int32_t g = p->steps[s].group;
    if (g < 0) step[p->steps[s].node] = s;
    for (int32_t k = 0; g >= 0 && k < p->groups[g].count; k++) {
      group[p->members[p->groups[g].first + k]] = g;
      step[p->members[p->groups[g].first + k]] = s;
    }
  }
  for (int32_t i = 0; i < f->nnodes; i++)
    for (int k = 0; step[i] >= 0 && k < f->nodes[i].n.nsrc; k++) {
      int32_t src = f->nodes[i].src[k], r = root[src];
      if (step[i] > last[r]) last[r] = step[i];
      if (p->through[src] && f->nodes[src].n.nsrc && step[i] > last[root[f->nodes[src].src[0]]])
        last[root[f->nodes[src].src[0]]] = step[i];
    }
  for (int j = 0; j < f->nout; j++) last[root[f->out[j]]] = p->nsteps;
  for (int32_t g = 0; g < p->ngroups; g++) {
    const nb__group *gr = &p->groups[g];
    bool             stepped = false;
    for (int32_t s = 0; s < p->nsteps; s++) stepped = stepped || p->steps[s].group == g;
    if (!stepped) continue;
    int     nred = 0;
    int64_t doubles = 0;
    for (int32_t k = 0; k < gr->count; k++) {
      int32_t          m = p->members[gr->first + k];
      const nb__fnode *node = &f->nodes[m];
      if (nb__is_reduction(node->n.op)) {
        nred++;
        int32_t x = node->src[0];
        bool    partials = nb__sink_partials(&node->n, &f->nodes[x].n);
        doubles += nb__sink_doubles(&node->n, &f->nodes[x].n);
        if (group[x] != g || f->nodes[x].n.size != gr->size || gr->size < 2 ||
            (gr->size >= NB__PARALLEL_MIN && !partials)) {
          bad++;
          fprintf(stderr, "  %s:%d: %s: %s: sink %d (size %lld) reads node %d (size %lld, group %d) in group %d of %lld\n",
                  file, line, th_current, what, m, (long long)node->n.size, x, (long long)f->nodes[x].n.size,
                  group[x], g, (long long)gr->size);
        }
        if (p->home[m].kind == NB__HOME_TEMP) {
          bad++;
          fprintf(stderr, "  %s:%d: %s: %s: sink %d is a block temporary\n", file, line, th_current, what, m);
        }
      }
      for (int s = 0; s < node->n.nsrc; s++) {
        int32_t src = node->src[s];
        if (group[src] == g && nb__is_reduction(f->nodes[src].n.op)) {
          bad++;
          fprintf(stderr, "  %s:%d: %s: %s: member %d (%s) reads sink %d of its own group %d\n", file, line,
                  th_current, what, m, nb__prims[node->n.op]->name, src, g);
        }
      }
    }
    if (nred != gr->nsink) {
      bad++;
      fprintf(stderr, "  %s:%d: %s: %s: group %d has %d reductions, nsink %d\n", file, line, th_current, what, g,
              nred, (int)gr->nsink);
    }
    if (gr->nsink && (gr->partials < 0 || gr->partials + doubles * 8 > ws)) {
      bad++;
      fprintf(stderr, "  %s:%d: %s: %s: group %d's partials at %lld (%lld doubles) outside %lld bytes\n", file,
              line, th_current, what, g, (long long)gr->partials, (long long)doubles, (long long)ws);
    }
    /* the partials overlap no buffer live during the group: its temporaries,
     * the workspace slots computed at or before its step and read at or after it */
    int64_t lo = gr->partials, hi = lo + doubles * 8;
    int64_t tlo = gr->temp_offset, thi = tlo + (int64_t)gr->ntemp * NB__BLOCK * 8 * gr->parts;
    if (gr->nsink && gr->ntemp && lo < thi && tlo < hi) {
      bad++;
      fprintf(stderr, "  %s:%d: %s: %s: group %d's partials [%lld, %lld) overlap its temporaries [%lld, %lld)\n", file,
              line, th_current, what, g, (long long)lo, (long long)hi, (long long)tlo, (long long)thi);
    }
    int32_t gs = -1; /* the group's step */
    for (int32_t st = 0; st < p->nsteps; st++) gs = p->steps[st].group == g ? st : gs;
    for (int32_t j = 0; gr->nsink && j < f->nnodes; j++) {
      if (root[j] != j || p->home[j].kind != NB__HOME_WS || step[j] < 0 || step[j] > gs || last[j] < gs) continue;
      int64_t a = p->home[j].offset, z = a + f->nodes[j].n.size * (int64_t)esize((nb_dtype)f->nodes[j].n.dtype);
      if (a < hi && lo < z) {
        bad++;
        fprintf(stderr, "  %s:%d: %s: %s: group %d's partials [%lld, %lld) overlap node %d's slot [%lld, %lld), live "
                "from step %d to %d\n", file, line, th_current, what, g, (long long)lo, (long long)hi, j, (long long)a,
                (long long)z, step[j], last[j]);
      }
    }
    total += gr->nsink;
  }
  for (int32_t i = 0; readers && i < f->nnodes; i++)
    for (int s = 0; s < f->nodes[i].n.nsrc; s++) {
      int32_t src = f->nodes[i].src[s];
      if (group[src] >= 0 && nb__is_reduction(f->nodes[src].n.op) && f->nodes[i].n.size > 1) {
        (*readers)++;
        break;
      }
    }
  if (bad) th_failed_checks++;
  free(group), free(step), free(last), free(root);
  return total;
}
#define check_sinks(what, f, readers) check_sinks_(__FILE__, __LINE__, what, f, readers)

/* the first node of f with operation op, or -1 */
static int32_t node_of_op(const nb_fn *f, int op) {
  for (int32_t i = 0; f && i < f->nnodes; i++)
    if (f->nodes[i].n.op == op) return i;
  return -1;
}

/* node i's group (fx_group_of) is a group with node i as a sink */
static bool is_sink(nb_fn *f, int32_t i) {
  return f && i >= 0 && nb__is_reduction(f->nodes[i].n.op) && fx_group_of(f, i) >= 0 &&
         f->plan->groups[fx_group_of(f, i)].nsink >= 1;
}

/* every reduction alone, then all five in one function, at every size, over
 * every axis (keepdims or not, axes omitted or listed), in both dtypes */
static void test_sink_every_axis(void) {
  int fns = 0, sinks = 0;
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < NSINK_SIZES; s++) {
      nb_dtype       dt = DTYPES[d];
      int            rank = SINK_RANK[s];
      const int64_t *shape = SINK_SHAPE[s];
      int64_t        n = numel(rank, shape);
      for (int k = 0; k <= NSK; k++) {
        char what[96];
        snprintf(what, sizeof what, "%s of sin(x) y + 0.5 %s n=%lld", k < NSK ? SK_NAME[k] : "all five", dtname(dt),
                 (long long)n);
        nb_graph *g = nb_graph_new();
        nb_expr  *x = nb_input(g, "x", dt, rank, shape), *y = nb_input(g, "y", dt, rank, shape);
        nb_expr  *t = sink_chain(x, y), *o[2 * NSK];
        int       no = 0;
        if (k < NSK) {
          o[no++] = sink_reduce(k, t, s % 2, s % 3 == 1);
        } else {
          /* (the mean's division reads its sum, and keepdims reshapes a sink:
           * each closes the group, so they come last) */
          for (int j = 0; j < NSK; j++) o[no++] = sink_reduce(j, t, false, false);
          for (int j = 0; j < NSK; j++) o[no++] = sink_reduce(j, t, true, true);
        }
        nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, no, o);
        nb_graph_free(g);
        if (!f) continue;
        int ns = check_sinks(what, f, NULL);
        sinks += ns;
        if (n >= 2 && ns < 1) FAILF("%s: no reduction is a sink", what);
        if (n < 2 && ns) FAILF("%s: a group of one element has %d sinks", what, ns);
        if (k < NSK && n >= 2) {
          /* the reduction (min's and prod's of a negation or an affine map of t)
           * is a sink of t's group, t a block temporary there */
          int32_t r = node_of_op(f, k == SK_SUM || k == SK_MEAN ? NB_OP_REDUCE_SUM
                                      : k == SK_PROD             ? NB_OP_REDUCE_PROD
                                                                 : NB_OP_REDUCE_MAX);
          int32_t tn = node_of_op(f, NB_OP_SIN);
          if (!is_sink(f, r)) FAILF("%s: the reduction is not a sink", what);
          else if (fx_group_of(f, tn) != fx_group_of(f, r)) FAILF("%s: sin(x) is not in the sink's group", what);
          if (tn >= 0 && f->plan->home[tn].kind != NB__HOME_TEMP) FAILF("%s: sin(x) is stored whole", what);
          if (n >= NB__PARALLEL_MIN && is_sink(f, r) && f->plan->groups[fx_group_of(f, r)].parts != nb__pool_threads())
            FAILF("%s: the group is not split over the pool", what);
        }
        if (k == NSK && n >= 2) {
          /* sum and max of t and prod of its affine map in t's group: three sinks at least */
          int32_t tn = node_of_op(f, NB_OP_SIN), gt = fx_group_of(f, tn), in_t = 0;
          for (int32_t i = 0; i < f->nnodes; i++) in_t += nb__is_reduction(f->nodes[i].n.op) && fx_group_of(f, i) == gt;
          if (gt < 0 || in_t < 3) FAILF("%s: %d sinks in the group of t, want 3 or more", what, in_t);
        }
        check_fn(what, f, D_ANY, EXACT, 11000u + 100u * (unsigned)s + 10u * (unsigned)k + (unsigned)d);
        fns++;
        nb_fn_free(f);
      }
    }
  printf("  exec: sinks: %d functions over every axis, %d sinks\n", fns, sinks);
}

/* Reductions over some axes of a member: sinks with accumulators in groups
 * below NB__PARALLEL_MIN (the blocks fold in order through the operand's
 * nested runs), no sinks in groups split over the pool; so are reductions to
 * one element over axes that leave unit axes ([n,1] over axis 0: accumulators,
 * not partials). Sum, max (kept axes), prod, then mean and min, over the
 * leading, middle and trailing axes, two axes apart, rows crossing blocks;
 * EXACT, on plain inputs and on inputs with inf, NaN and signed zeros. */
typedef struct sa_case {
  int     rank;
  int64_t shape[3];
  int     naxes, axes[2];
} sa_case;
static const sa_case SA_CASES[] = {
    {2, {7, 73}, 1, {0}},        {2, {7, 73}, 1, {1}},         {3, {10, 20, 25}, 1, {1}},
    {3, {10, 20, 25}, 2, {0, 2}}, {3, {10, 20, 25}, 2, {1, 2}}, {3, {4, 129, 3}, 1, {0}},
    {2, {5000, 1}, 1, {0}},      {3, {1, 5000, 1}, 2, {0, 1}}, {2, {1563, 64}, 1, {0}},
    {2, {64, 1563}, 1, {1}},     {3, {3, 1563, 21}, 1, {1}},
    {2, {4700, 64}, 1, {0}},     {2, {SINK_LARGE, 1}, 1, {0}}, {2, {64, 4700}, 1, {1}}, /* >= 2^18 */
};
enum { NSA = sizeof SA_CASES / sizeof *SA_CASES };

static void test_sink_some_axes(void) {
  int sinks = 0;
  for (int d = 0; d < 2; d++)
    for (int c = 0; c < NSA; c++) {
      const sa_case *k = &SA_CASES[c];
      nb_dtype       dt = DTYPES[d];
      int64_t        n = numel(k->rank, k->shape);
      char           what[128];
      snprintf(what, sizeof what, "reductions over %d of %d axes (axis %d) %s n=%lld", k->naxes, k->rank, k->axes[0],
               dtname(dt), (long long)n);
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, k->rank, k->shape), *y = nb_input(g, "y", dt, k->rank, k->shape);
      nb_expr  *t = sink_chain(x, y), *u = nb_mul(x, y), *o[7];
      o[0] = nb_sum(t, k->naxes, k->axes, false);
      o[1] = nb_max(t, k->naxes, k->axes, true);
      o[2] = nb_prod(nb_adds(nb_muls(t, 0.01), 0.995), k->naxes, k->axes, false);
      o[3] = nb_max(u, k->naxes, k->axes, false); /* exact: inf, NaN, signed zeros */
      o[4] = nb_sum(u, k->naxes, k->axes, false);
      o[5] = nb_mean(t, k->naxes, k->axes, true);
      o[6] = nb_min(u, k->naxes, k->axes, false);
      nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 7, o);
      nb_graph_free(g);
      if (!f) continue;
      int ns = check_sinks(what, f, NULL);
      sinks += ns;
      bool large = n >= NB__PARALLEL_MIN;
      for (int32_t i = 0, seen = 0; i < f->nnodes && seen < 3; i++)
        if (nb__is_reduction(f->nodes[i].n.op) && ++seen && is_sink(f, i) == large)
          FAILF("%s: reduction %d (%s) is %sa sink", what, i, nb__prims[f->nodes[i].n.op]->name, large ? "" : "not ");
      check_fn(what, f, D_ANY, EXACT, 11500u + 10u * (unsigned)c + (unsigned)d);
      check_fn(what, f, D_SPEC, EXACT, 11700u + 10u * (unsigned)c + (unsigned)d);
      nb_fn_free(f);
    }
  printf("  exec: sinks: %d over some axes\n", sinks);
  /* columns of [40,64] (5 blocks) into 64 accumulators: in column c, -0 in row
   * 1 then +0 in row 30 (max -0, the first), +0 then -0 (max +0), NaN late
   * after 1e30 early (max, min, sum NaN), +inf then -inf (sum NaN) */
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    int64_t   shape[2] = {40, 64};
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", dt, 2, shape), *y = nb_input(g, "y", dt, 2, shape);
    nb_expr  *u = nb_mul(x, y), *o[4];
    o[0] = nb_max(u, 1, (int[]){0}, false);
    o[1] = nb_sum(u, 1, (int[]){0}, false);
    o[2] = nb_prod(u, 1, (int[]){0}, false);
    o[3] = nb_min(u, 1, (int[]){0}, false);
    nb_fn *f = make_fn("columns", g, 2, (nb_expr *[]){x, y}, 4, o);
    nb_graph_free(g);
    bufs in, out, ref;
    memset(&in, 0, sizeof in), memset(&out, 0, sizeof out), memset(&ref, 0, sizeof ref);
    bool ok = f && bufs_make(&in, f, true) && bufs_make(&out, f, false) && bufs_make(&ref, f, false);
    if (ok) {
      uint64_t sd = 11900u + (unsigned)d;
      for (int64_t i = 0; i < 40 * 64; i++) setv(&in, 0, i, -2 + 1.5 * unif(&sd)), setv(&in, 1, i, 1.0);
      setv(&in, 0, 1 * 64 + 3, -0.0), setv(&in, 0, 30 * 64 + 3, 0.0);
      setv(&in, 0, 2 * 64 + 4, 0.0), setv(&in, 0, 31 * 64 + 4, -0.0);
      setv(&in, 0, 0 * 64 + 5, 1e30), setv(&in, 0, 38 * 64 + 5, NAN);
      setv(&in, 0, 3 * 64 + 6, INFINITY), setv(&in, 0, 39 * 64 + 6, -INFINITY);
      ok = call_fast(f, &in, &out) == NB_OK && call_ref(f, &in, &ref) == NB_OK;
    }
    if (!ok) FAILF("columns %s: out of memory or a call failed: %s", dtname(dt), nb_errmsg());
    if (ok) {
      if (check_sinks("columns", f, NULL) != 4) FAILF("columns %s: the reductions are not all sinks", dtname(dt));
      compare_bufs("columns", &out, &ref, NULL, EXACT, NULL, false);
      double m3 = getv(&out, 0, 3), m4 = getv(&out, 0, 4);
      if (m3 != 0 || !signbit(m3) || m4 != 0 || signbit(m4))
        FAILF("columns %s: max of -0 then +0 is %g (sign %d), of +0 then -0 %g (sign %d)", dtname(dt), m3,
              signbit(m3) != 0, m4, signbit(m4) != 0);
      if (!isnan(getv(&out, 0, 5)) || !isnan(getv(&out, 3, 5)) || !isnan(getv(&out, 1, 5)) || !isnan(getv(&out, 1, 6)))
        FAILF("columns %s: NaN after 1e30: max %g, min %g, sum %g; inf - inf: sum %g", dtname(dt), getv(&out, 0, 5),
              getv(&out, 3, 5), getv(&out, 1, 5), getv(&out, 1, 6));
    }
    bufs_free(&in), bufs_free(&out), bufs_free(&ref);
    nb_fn_free(f);
  }
}

/* f(x, y) = [sum, max, prod, mean, min] of t = x y: exact products, so the
 * inputs alone place NaN, inf and signed zeros in the blocks */
static nb_fn *fn_sink_plain(nb_dtype dt, int64_t n) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, 1, &n), *y = nb_input(g, "y", dt, 1, &n);
  nb_expr  *t = nb_mul(x, y), *o[NSK];
  /* in this order: the min's negation of the max closes t's group */
  o[0] = nb_sum(t, 0, NULL, false);
  o[1] = nb_max(t, 0, NULL, false);
  o[2] = nb_prod(t, 0, NULL, false);
  o[3] = nb_mean(t, 0, NULL, false);
  o[4] = nb_min(t, 0, NULL, false);
  nb_fn    *f = make_fn("sinks of x y", g, 2, (nb_expr *[]){x, y}, NSK, o);
  nb_graph_free(g);
  return f;
}

/* the input patterns of test_sink_nonfinite (x; y is 1 but where noted) */
enum {
  NF_NAN_LATE,   /* 1e30 in block 0, NaN in the last block: max, min, sum, prod NaN */
  NF_NAN_EARLY,  /* NaN in block 0, 1e30 in the last block: max NaN */
  NF_INF_BOTH,   /* +inf in block 1, -inf in the last block: sum NaN */
  NF_INF,        /* +inf in block 2 only: sum and max +inf */
  NF_ZERO_NEG,   /* all negative, -0 in block 0 then +0 in block 2: max -0 (the first) */
  NF_ZERO_POS,   /* the same with +0 first: max +0; within one block too */
  NF_PROD_ZERO,  /* near 1, one exact 0 in block 3: prod 0 (with its sign) */
  NF_PROD_OVER,  /* 1 but for 1e30 twice in each of blocks 0..5: prod overflows to +inf */
  NF_OVER_ZERO,  /* the same and a 0 in the last block: prod inf * 0 = NaN in block order */
  NNF
};
static const char *const NF_NAME[NNF] = {"NaN late", "NaN early", "+inf and -inf", "+inf", "-0 then +0",
                                         "+0 then -0", "prod with a zero", "prod overflowing",
                                         "prod overflowing, then a zero"};

static void nf_fill(bufs *in, int c, int64_t n, uint64_t seed) {
  uint64_t s = seed;
  int64_t  last = (n - 1) / NB__BLOCK * NB__BLOCK; /* the last block's first element */
  for (int64_t i = 0; i < n; i++) {
    double u = unif(&s), v;
    switch (c) {
    case NF_ZERO_NEG:
    case NF_ZERO_POS: v = -2 + 1.5 * u; break;           /* [-2, -0.5) */
    case NF_PROD_ZERO: v = (i % 7 == 3 ? -1 : 1) * (0.97 + 0.06 * u); break;
    case NF_PROD_OVER:
    case NF_OVER_ZERO: v = 1; break;
    default: v = -1 + 2 * u; break;
    }
    setv(in, 0, i, v);
    setv(in, 1, i, 1.0);
  }
  switch (c) {
  case NF_NAN_LATE: setv(in, 0, 3, 1e30), setv(in, 0, n - 2, NAN); break;
  case NF_NAN_EARLY: setv(in, 0, 3, NAN), setv(in, 0, n - 2, 1e30); break;
  case NF_INF_BOTH: setv(in, 0, NB__BLOCK + 9, INFINITY), setv(in, 0, n - 1, -INFINITY); break;
  case NF_INF: setv(in, 0, 2 * NB__BLOCK + 100, INFINITY); break;
  case NF_ZERO_NEG:
    setv(in, 0, 5, -0.0), setv(in, 0, 2 * NB__BLOCK + 1, 0.0), setv(in, 0, 2 * NB__BLOCK + 2, -0.0);
    break;
  case NF_ZERO_POS:
    setv(in, 0, 5, 0.0), setv(in, 0, 6, -0.0), setv(in, 0, 2 * NB__BLOCK + 1, -0.0);
    break;
  case NF_PROD_ZERO: setv(in, 0, 3 * NB__BLOCK + 17, 0.0); break;
  case NF_OVER_ZERO: setv(in, 0, last + (n - last) / 2, 0.0); /* fall through */
  case NF_PROD_OVER:
    for (int b = 0; b < 6; b++) setv(in, 0, b * NB__BLOCK + 1, 1e30), setv(in, 0, b * NB__BLOCK + 300, 1e30);
    break;
  }
}

/* NaN, inf and signed zeros in the operand of sinks, at 5000 elements (10
 * blocks) and split over the pool: bit for bit against the reference, and
 * the values IEEE arithmetic in block order gives */
static void test_sink_nonfinite(void) {
  static const int64_t sizes[2] = {5000, SINK_LARGE};
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < 2; s++) {
      nb_dtype dt = DTYPES[d];
      nb_fn   *f = fn_sink_plain(dt, sizes[s]);
      if (!f) continue;
      /* sum, max, prod (and mean's sum) in x y's group; min's max of -x y in its own */
      int ns = check_sinks("sinks of x y", f, NULL);
      if (ns < 4) FAILF("sinks of x y %s: %d sinks, want 4 or more", dtname(dt), ns);
      for (int c = 0; c < NNF; c++) {
        char what[96];
        snprintf(what, sizeof what, "sinks, %s, %s n=%lld", NF_NAME[c], dtname(dt), (long long)sizes[s]);
        bufs in, out, ref;
        memset(&in, 0, sizeof in), memset(&out, 0, sizeof out), memset(&ref, 0, sizeof ref);
        bool ok = bufs_make(&in, f, true) && bufs_make(&out, f, false) && bufs_make(&ref, f, false);
        if (ok) {
          nf_fill(&in, c, sizes[s], 12000u + (unsigned)(10 * c + s));
          ok = call_fast(f, &in, &out) == NB_OK && call_ref(f, &in, &ref) == NB_OK;
        }
        if (!ok) {
          FAILF("%s: out of memory or a call failed: %s", what, nb_errmsg());
        } else {
          compare_bufs(what, &out, &ref, NULL, EXACT, NULL, false);
          double sum = getv(&out, 0, 0), mx = getv(&out, 1, 0), pr = getv(&out, 2, 0), mn = getv(&out, 4, 0);
          bool   want = true;
          switch (c) {
          case NF_NAN_LATE: want = isnan(sum) && isnan(mx) && isnan(pr) && isnan(mn); break;
          case NF_NAN_EARLY: want = isnan(mx) && isnan(mn) && isnan(sum); break;
          case NF_INF_BOTH: want = isnan(sum) && mx == INFINITY && mn == -INFINITY; break;
          case NF_INF: want = sum == INFINITY && mx == INFINITY && isfinite(mn); break;
          case NF_ZERO_NEG: want = mx == 0 && signbit(mx); break;
          case NF_ZERO_POS: want = mx == 0 && !signbit(mx); break;
          case NF_PROD_ZERO: want = pr == 0; break;
          case NF_PROD_OVER: want = pr == INFINITY && mx == as_dt(dt, 1e30); break;
          case NF_OVER_ZERO: want = isnan(pr); break;
          }
          if (!want)
            FAILF("%s: sum %g, max %g, prod %g, min %g (signbit of max %d)", what, sum, mx, pr, mn, signbit(mx) != 0);
        }
        bufs_free(&in), bufs_free(&out), bufs_free(&ref);
      }
      nb_fn_free(f);
    }
}

/* the home of the first node of f with operation op */
static int home_of_op(const nb_fn *f, int op) {
  int32_t i = node_of_op(f, op);
  return i >= 0 && f->plan ? f->plan->home[i].kind : -1;
}

/* A sink's operand that must be stored whole: an output too, or read by a
 * node outside the group (a slice of step 2, a transpose); a sink that is
 * itself an output next to a member output */
static void test_sink_stored_operand(void) {
  static const int64_t sizes[3][2] = {{3, 171}, {50, 100}, {500, 600}}; /* 513, 5000, 300000 */
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < 3; s++)
      for (int c = 0; c < 4; c++) {
        nb_dtype       dt = DTYPES[d];
        const int64_t *shape = sizes[s];
        static const char *const names[4] = {"operand an output", "operand read outside", "sink next to a member output",
                                             "operand transposed outside"};
        char what[128];
        snprintf(what, sizeof what, "sinks, %s, %s n=%lld", names[c], dtname(dt), (long long)(shape[0] * shape[1]));
        nb_graph *g = nb_graph_new();
        nb_expr  *x = nb_input(g, "x", dt, 2, shape), *y = nb_input(g, "y", dt, 2, shape);
        nb_expr  *t = sink_chain(x, y), *o[4];
        int       no = 0, want_home = NB__HOME_TEMP;
        switch (c) {
        case 0: /* t is an output and the sinks' operand */
          o[no++] = nb_max(t, 0, NULL, false), o[no++] = t, o[no++] = nb_sum(t, 0, NULL, true);
          want_home = NB__HOME_OUT;
          break;
        case 1: /* t read by a slice of step 2 and by sinks */
          o[no++] = nb_sum(t, 0, NULL, false), o[no++] = nb_slice(t, 1, 1, INT64_MAX, 2);
          o[no++] = nb_prod(nb_adds(nb_muls(t, 0.01), 0.995), 0, NULL, false);
          want_home = NB__HOME_WS;
          break;
        case 2: /* the sinks and a member of their group are outputs; sin x stays a temporary */
          o[no++] = nb_sum(t, 0, NULL, false), o[no++] = nb_muls(t, 2), o[no++] = nb_max(t, 0, NULL, false);
          break;
        default: /* sin x read by a transpose and a later group: stored */
          o[no++] = nb_mean(t, 0, NULL, false);
          o[no++] = nb_mul(nb_transpose(nb_sin(x), NULL), nb_transpose(y, NULL));
          want_home = NB__HOME_WS;
          break;
        }
        nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, no, o);
        nb_graph_free(g);
        if (!f) continue;
        int ns = check_sinks(what, f, NULL);
        if (ns < 1) FAILF("%s: no sink", what);
        /* t's home (the add), or sin x's in the last case */
        int h = home_of_op(f, c == 3 ? NB_OP_SIN : NB_OP_ADD);
        if (c == 2) h = home_of_op(f, NB_OP_SIN);
        if (h != want_home) FAILF("%s: the operand's home is %d, want %d", what, h, want_home);
        check_fn(what, f, D_ANY, EXACT, 13000u + 100u * (unsigned)s + 10u * (unsigned)c + (unsigned)d);
        nb_fn_free(f);
      }
}

/* Several sinks in one group (sum and max of one member, sums of two members)
 * and nodes of the group's size that read sinks: t / sum(t), softmax-like
 * exp(t - max t) / sum(exp(t - max t)), centring t - mean t, and a sink read
 * by a product with a member of the group: none may join the sink's group */
static void test_sink_readers(void) {
  static const int64_t sizes[4][2] = {{1, 2}, {7, 73}, {50, 100}, {500, 600}};
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < 4; s++) {
      nb_dtype       dt = DTYPES[d];
      const int64_t *shape = sizes[s];
      char           what[96];
      snprintf(what, sizeof what, "readers of sinks %s n=%lld", dtname(dt), (long long)(shape[0] * shape[1]));
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, 2, shape), *y = nb_input(g, "y", dt, 2, shape);
      nb_expr  *t = sink_chain(x, y), *t2 = nb_mul(t, x);
      nb_expr  *st = nb_sum(t, 0, NULL, false), *mt = nb_max(t, 0, NULL, false), *st2 = nb_sum(t2, 0, NULL, false);
      nb_expr  *mt2 = nb_max(t2, 0, NULL, false);
      nb_expr  *e = nb_exp(nb_sub(t2, mt2)); /* reads a sink: closes t's group */
      nb_expr  *se = nb_sum(e, 0, NULL, false);
      nb_expr  *o[8];
      o[0] = st, o[1] = mt, o[2] = st2;
      o[3] = nb_div(e, se);                              /* softmax-like */
      o[4] = nb_div(t, st);                              /* x / sum(x) */
      o[5] = nb_sum(o[4], 0, NULL, false);               /* a sink of a reader's group */
      o[6] = nb_sub(t2, nb_mean(t2, 0, NULL, false));     /* centring */
      o[7] = nb_mul(nb_add(t, mt), nb_sub(st2, t2));     /* two sinks, two members */
      nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 8, o);
      nb_graph_free(g);
      if (!f) continue;
      int readers = 0, ns = check_sinks(what, f, &readers);
      /* sum t, max t, sum t2, max t2 in the first group; sum e, the mean's sum,
       * the last sum in later groups */
      if (ns < 6 || readers < 4)
        FAILF("%s: %d sinks and %d nodes reading sinks of other groups, want 6 and 4 or more", what, ns, readers);
      int32_t gt = fx_group_of(f, node_of_op(f, NB_OP_SIN)), in_t = 0;
      for (int32_t i = 0; i < f->nnodes; i++) in_t += nb__is_reduction(f->nodes[i].n.op) && fx_group_of(f, i) == gt;
      if (gt < 0 || in_t < 3) FAILF("%s: %d sinks in t's group, want 3 or more", what, in_t);
      check_fn(what, f, D_ANY, EXACT, 14000u + 10u * (unsigned)s + (unsigned)d);
      nb_fn_free(f);
    }
}

/* a pad of x along axis 0 (lo zeros before, hi after) */
static nb_expr *sink_pad(nb_expr *x, int64_t lo, int64_t hi) {
  if (!x) return NULL;
  nb__node n = {.op = NB_OP_PAD, .p.i = {0, lo, hi, 0}};
  return nb__emit("sink_pad", NULL, &n, 1, &x);
}

/* Sinks of groups that read broadcasts (a [rows,64] chain with a [64] bias),
 * of sin(u) cos(u) with u not recomputable from the inputs (a slice of step 2,
 * a reversal, a transpose: generated code keeps u's blocks), and of a group
 * reading a pad; rows 7 (one block), 80 and 4700 (split over the pool) */
static nb_fn *fn_sink_shapes(nb_dtype dt, int64_t rows, int *nout) {
  const int64_t n = rows * 64;
  nb_graph     *g = nb_graph_new();
  nb_expr      *x = nb_input(g, "x", dt, 2, (int64_t[]){rows, 64});
  nb_expr      *b = nb_input(g, "b", dt, 1, (int64_t[]){64});
  nb_expr      *w = nb_input(g, "w", dt, 1, (int64_t[]){2 * n});
  nb_expr      *v = nb_input(g, "v", dt, 1, (int64_t[]){n});
  nb_expr      *xt = nb_input(g, "xt", dt, 2, (int64_t[]){64, rows});
  nb_expr      *p = nb_input(g, "p", dt, 1, (int64_t[]){n - 96});
  nb_expr      *B = fx_broadcast_in_dim(b, 2, (int64_t[]){rows, 64}, (int[]){1});
  nb_expr      *tb = nb_add(nb_mul(x, B), x);                                  /* broadcast bias */
  nb_expr      *u1 = nb_slice(w, 0, 1, 2 * n, 2);                               /* step 2 */
  nb_expr      *u2 = nb_slice(v, 0, -1, INT64_MIN, -1);                         /* reversed */
  nb_expr      *u3 = nb_reshape(nb_transpose(xt, NULL), 1, (int64_t[]){n});     /* transposed */
  nb_expr      *sc1 = nb_mul(nb_sin(u1), nb_cos(u1)), *sc2 = nb_mul(nb_sin(u2), nb_cos(u2));
  nb_expr      *sc3 = nb_mul(nb_sin(u3), nb_cos(u3));
  nb_expr      *pv = nb_add(nb_mul(sink_pad(p, 32, 64), v), nb_muls(v, 0.5));  /* a pad read in the group */
  nb_expr      *o[10];
  /* in this order (one group of n elements: the min's negation, the mean's
   * division and the last product close it) */
  o[0] = nb_sum(tb, 0, NULL, false);
  o[1] = nb_max(tb, 0, NULL, false);
  o[2] = nb_sum(sc1, 0, NULL, false);
  o[3] = nb_max(sc1, 0, NULL, false);
  o[4] = nb_prod(nb_adds(nb_muls(sc2, 0.01), 1), 0, NULL, false);
  o[5] = nb_sum(pv, 0, NULL, false);
  o[6] = nb_max(pv, 0, NULL, false);
  o[7] = nb_mul(sc1, nb_sum(sc3, 0, NULL, false));
  o[8] = nb_min(sc2, 0, NULL, false);
  o[9] = nb_mean(sc3, 0, NULL, false);
  *nout = 10;
  nb_fn *f = make_fn("sink shapes", g, 6, (nb_expr *[]){x, b, w, v, xt, p}, *nout, o);
  nb_graph_free(g);
  return f;
}

static void test_sink_shapes(void) {
  static const int64_t rows[3] = {7, 80, 4700};
  _Static_assert(4700 * 64 >= NB__PARALLEL_MIN, "split over the pool");
  for (int d = 0; d < 2; d++)
    for (int r = 0; r < 3; r++) {
      nb_dtype dt = DTYPES[d];
      int      no = 0;
      char     what[96];
      snprintf(what, sizeof what, "sinks of broadcasts, slices, pads %s n=%lld", dtname(dt), (long long)(rows[r] * 64));
      nb_fn *f = fn_sink_shapes(dt, rows[r], &no);
      if (!f) continue;
      int ns = check_sinks(what, f, NULL);
      if (ns < 9) FAILF("%s: %d sinks, want 9 or more", what, ns);
      /* the broadcast is fused into the sinks' group */
      int32_t bc = node_of_op(f, NB_OP_BROADCAST), gs = fx_group_of(f, node_of_op(f, NB_OP_REDUCE_SUM));
      if (bc < 0 || fx_group_of(f, bc) < 0 || fx_group_of(f, bc) != gs)
        FAILF("%s: the bias's broadcast is not in the group of the first sum", what);
      check_fn(what, f, D_ANY, EXACT, 15000u + 10u * (unsigned)r + (unsigned)d);
      nb_fn_free(f);
    }
}

/* The plan: sum(sin x) of 100000 f64 keeps only sin x's blocks and one
 * partial per block (no copy of sin x); reductions over some axes are sinks
 * only in groups below NB__PARALLEL_MIN; reductions of an input, or of a
 * group's member once the group is closed, are no sinks. */
static void test_sink_plan(void) {
  const int64_t n = 100000;
  nb_graph     *g = nb_graph_new();
  nb_expr      *x = nb_input(g, "x", NB_F64, 1, &n);
  nb_expr      *o = nb_sum(nb_sin(x), 0, NULL, false);
  nb_fn        *f = make_fn("sum(sin x)", g, 1, &x, 1, &o);
  nb_graph_free(g);
  if (f) {
    int64_t ws = nb_fn_workspace_bytes(f);
    int32_t r = node_of_op(f, NB_OP_REDUCE_SUM), sn = node_of_op(f, NB_OP_SIN), gi = fx_group_of(f, r);
    printf("  exec: workspace of sum(sin x) on %lld f64: %lld bytes\n", (long long)n, (long long)ws);
    CHECK(ws > 0 && ws <= NB__BLOCK * 8 + nb__blocks(n) * 8 + 2 * NB__ALIGN);
    CHECK(ws < n * 8 / 16);
    CHECK(gi >= 0 && fx_group_of(f, sn) == gi);
    if (gi >= 0) {
      const nb__group *gr = &f->plan->groups[gi];
      CHECK(gr->nsink == 1 && gr->count == 2 && gr->size == n && gr->partials >= 0);
      CHECK(gr->partials + nb__blocks(n) * 8 <= ws);
    }
    CHECK(sn >= 0 && f->plan->home[sn].kind == NB__HOME_TEMP);
    CHECK(r >= 0 && f->plan->home[r].kind == NB__HOME_OUT);
    check_sinks("sum(sin x)", f, NULL);
    check_fn("sum(sin x)", f, D_ANY, EXACT, 16000u);
  }
  nb_fn_free(f);
  /* [rows,64] (small, then split over the pool): over one axis, sinks with
   * accumulators only in the small group; never of an input, of a member read
   * after a node closed its group, in a group of one element; over every axis
   * a sink with partials in both */
  for (int d = 0; d < 2; d++)
    for (int large = 0; large < 2; large++) {
      nb_dtype dt = DTYPES[d];
      int64_t  rows = large ? 4700 : 300, one = 1;
      char     what[64];
      snprintf(what, sizeof what, "which reductions are sinks %s rows=%lld", dtname(dt), (long long)rows);
      g = nb_graph_new();
      nb_expr *a = nb_input(g, "a", dt, 2, (int64_t[]){rows, 64});
      nb_expr *c = nb_input(g, "c", dt, 1, &one);
      nb_expr *t = sink_chain(a, a), *outs[7];
      nb_expr *closed = nb_muls(t, 3);
      outs[1] = nb_sum(t, 1, (int[]){0}, false);
      outs[2] = nb_max(t, 1, (int[]){1}, true);
      outs[0] = nb_transpose(closed, NULL); /* reads closed: closes its group */
      outs[3] = nb_sum(a, 0, NULL, false);
      outs[4] = nb_prod(closed, 0, NULL, false);
      outs[5] = nb_sum(nb_sin(c), 0, NULL, false);
      outs[6] = nb_max(nb_cos(a), 0, NULL, false);
      f = make_fn(what, g, 2, (nb_expr *[]){a, c}, 7, outs);
      nb_graph_free(g);
      if (!f) continue;
      int ns = check_sinks(what, f, NULL), want[7] = {0, !large, !large, 0, 0, 0, 1};
      for (int j = 1; j < 7; j++)
        if (is_sink(f, root_node(f, f->out[j])) != want[j])
          FAILF("%s: output %d is %sa sink", what, j, want[j] ? "not " : "");
      if (ns != 1 + 2 * !large) FAILF("%s: %d sinks, want %d", what, ns, 1 + 2 * !large);
      check_fn(what, f, D_ANY, EXACT, 16100u + 10u * (unsigned)large + (unsigned)d);
      nb_fn_free(f);
    }
}

/* Gradients through sinks: value_and_grad of sum(sin(x) y + 0.5) max(x y)
 * (the value needs both sinks), grad of sum((e / sum e)^2) with e = exp(x -
 * max x) (the backward pass reads the sums), the vjp of [sum t, prod(0.01 t +
 * 0.995), mean t] of t = sin(x) y + 0.5; every derivative function has sinks */
static void test_sink_grads(void) {
  static const int64_t sizes[3] = {513, 5000, SINK_LARGE};
  for (int d = 0; d < 2; d++)
    for (int s = 0; s < 3; s++)
      for (int c = 0; c < 3; c++) {
        nb_dtype dt = DTYPES[d];
        int64_t  n = sizes[s];
        static const char *const names[3] = {"value_and_grad of sum(t) max(x y)", "grad of sum((e / sum e)^2)",
                                             "vjp of [sum t, prod, mean t]"};
        char what[128];
        snprintf(what, sizeof what, "%s %s n=%lld", names[c], dtname(dt), (long long)n);
        nb_graph *g = nb_graph_new();
        nb_expr  *x = nb_input(g, "x", dt, 1, &n), *y = nb_input(g, "y", dt, 1, &n);
        nb_expr  *t = sink_chain(x, y), *o[3];
        int       no = 1;
        if (c == 0) {
          nb_expr *st = nb_sum(t, 0, NULL, false);
          o[0] = nb_mul(st, nb_max(nb_mul(x, y), 0, NULL, false));
        } else if (c == 1) {
          nb_expr *xm = nb_max(x, 0, NULL, false); /* of an input: no sink */
          nb_expr *e = nb_exp(nb_sub(nb_muls(nb_mul(x, y), 0.5), xm));
          nb_expr *se = nb_sum(e, 0, NULL, false);
          o[0] = nb_sum(nb_square(nb_div(e, se)), 0, NULL, false);
        } else {
          o[0] = nb_sum(t, 0, NULL, false);
          o[1] = nb_prod(nb_adds(nb_muls(t, 0.01), 0.995), 0, NULL, false);
          o[2] = nb_mean(t, 0, NULL, false);
          no = 3;
        }
        nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, no, o);
        nb_graph_free(g);
        if (!f) continue;
        nb_fn *df = c == 0 ? nb_value_and_grad(f, NULL) : c == 1 ? nb_grad(f, NULL) : nb_vjp(f, NULL);
        if (derived_ok(what, df)) {
          int ns = check_sinks(what, df, NULL);
          if (ns < 1) FAILF("%s: no sinks in the derivative", what);
          check_fn(what, df, D_ANY, EXACT, 17000u + 100u * (unsigned)s + 10u * (unsigned)c + (unsigned)d);
        }
        nb_fn_free(df);
        nb_fn_free(f);
      }
}

/* ---- the same sums on 1 and 2 threads ---- */

/* set in the child process that runs test_sink_child with another pool size:
 * the file its results go to */
#define SINK_CHILD_ENV "NB_TEST_SINK_CHILD"

/* sinks of SINK_LARGE elements in both dtypes: [sum, max, prod, mean, min] of
 * t = sin(x) y + 0.5 and sum(sin(u) cos(u)) of a slice of step 2 */
static nb_fn *fn_sink_threads(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[6], *o[2 * (NSK + 1)];
  int       no = 0;
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = DTYPES[d];
    int64_t  n2 = 2 * SINK_LARGE;
    nb_expr *x = in[3 * d] = nb_input(g, "x", dt, 2, SINK_SHAPE[NSINK_SIZES - 1]);
    nb_expr *y = in[3 * d + 1] = nb_input(g, "y", dt, 2, SINK_SHAPE[NSINK_SIZES - 1]);
    nb_expr *w = in[3 * d + 2] = nb_input(g, "w", dt, 1, &n2);
    nb_expr *t = sink_chain(x, y), *u = nb_slice(w, 0, 0, n2, 2);
    for (int k = 0; k < NSK; k++) o[no++] = sink_reduce(k, t, false, false);
    o[no++] = nb_sum(nb_mul(nb_sin(u), nb_cos(u)), 0, NULL, false);
  }
  nb_fn *f = make_fn("sinks on threads", g, 6, in, no, o);
  nb_graph_free(g);
  return f;
}

/* f's outputs on fixed inputs (against the reference, bit for bit), in out */
static bool sink_threads_run(nb_fn *f, bufs *out) {
  bufs in, ref;
  bool ok = bufs_make(&in, f, true) && bufs_make(out, f, false) && bufs_make(&ref, f, false);
  if (ok) {
    bufs_random(&in, NULL, D_ANY, 18000u);
    ok = call_fast(f, &in, out) == NB_OK && call_ref(f, &in, &ref) == NB_OK;
  }
  if (ok) compare_bufs("sinks on threads", out, &ref, NULL, EXACT, NULL, false);
  else FAILF("sinks on threads: out of memory or a call failed: %s", nb_errmsg());
  bufs_free(&in), bufs_free(&ref);
  return ok;
}

/* the large groups' parts (they are split over the pool), forced to parts */
static int sink_parts(nb_fn *f, int parts) {
  int had = 0;
  for (int32_t g = 0; f && f->plan && g < f->plan->ngroups; g++)
    if (f->plan->groups[g].nsink && f->plan->groups[g].size >= NB__PARALLEL_MIN) {
      had = f->plan->groups[g].parts;
      if (parts) f->plan->groups[g].parts = parts;
    }
  return had;
}

/* The sums of fn_sink_threads on the pool, on the calling thread alone (the
 * groups' parts forced to 1), from 2 callers at once, and in a child process
 * with NB_NUM_THREADS 1 or 2 (whichever this process's pool is not, or 1):
 * the same bits everywhere */
static void test_sink_threads(void) {
  nb_fn *f = fn_sink_threads();
  bufs   pool, one, child;
  memset(&pool, 0, sizeof pool), memset(&one, 0, sizeof one), memset(&child, 0, sizeof child);
  if (!f || !sink_threads_run(f, &pool)) goto done;
  int parts = sink_parts(f, 0);
  if (parts != nb__pool_threads()) FAILF("sinks on threads: the groups run on %d threads, the pool has %d", parts, nb__pool_threads());
  sink_parts(f, 1);
  if (sink_threads_run(f, &one) && !bufs_same_bits(&pool, &one))
    FAILF("sinks on threads: %d threads and the calling thread alone give different bits", parts);
  sink_parts(f, parts);
  int modes[2 * (NSK + 1)];
  for (int j = 0; j < 2 * (NSK + 1); j++) modes[j] = EXACT;
  check_threads("sinks on threads", f, 2, true, modes, 18100u);
  /* the child: this binary, this suite, stdout discarded */
  char dir[400], path[512];
  if (!tmpdir_make(dir, sizeof dir)) goto done;
  snprintf(path, sizeof path, "%s/sinks", dir);
  int nt = nb__pool_threads() == 1 ? 2 : 1, st = fx_run_suite_child("exec", nt, SINK_CHILD_ENV, path);
  if (st < 0) goto cleanup;
  if (st) {
    FAILF("sinks with NB_NUM_THREADS=%d failed (status %d)", nt, st);
    goto cleanup;
  }
  FILE *in = fopen(path, "rb");
  bool  read_all = in && bufs_make(&child, f, false);
  for (int j = 0; read_all && j < child.n; j++) read_all = fread(child.p[j], 1, nbytes(&child, j), in) == nbytes(&child, j);
  if (in) fclose(in);
  if (!read_all) FAILF("sinks on threads: cannot read the child's results from %s", path);
  else if (!bufs_same_bits(&pool, &child)) {
    FAILF("sinks on threads: %d threads and NB_NUM_THREADS=%d give different bits", nb__pool_threads(), nt);
    compare_bufs("sinks on threads, the child's", &child, &pool, NULL, EXACT, NULL, false);
  }
cleanup:
  remove(path);
  if (rmdir(dir)) FAILF("sinks on threads: %s is not empty", dir);
done:
  bufs_free(&pool), bufs_free(&one), bufs_free(&child);
  nb_fn_free(f);
}

/* in the child: the sums on the pool size asked for, written to the file */
static void test_sink_child(void) {
  const char *want = getenv("NB_NUM_THREADS"), *path = getenv(SINK_CHILD_ENV);
  CHECK(want && nb__pool_threads() == atoi(want));
  nb_fn *f = fn_sink_threads();
  bufs   out;
  memset(&out, 0, sizeof out);
  if (f && sink_threads_run(f, &out)) {
    int parts = sink_parts(f, 0);
    CHECK(parts == nb__pool_threads());
    FILE *o = fopen(path, "wb");
    bool  ok = o != NULL;
    for (int j = 0; ok && j < out.n; j++) ok = fwrite(out.p[j], 1, nbytes(&out, j), o) == nbytes(&out, j);
    if (o && fclose(o)) ok = false;
    if (!ok) FAILF("cannot write %s", path);
  }
  bufs_free(&out);
  nb_fn_free(f);
}

void suite_exec(void) {
#if defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
  /* the reference evaluator allocates a buffer per node: keep freed memory
   * for reuse instead of mapping and faulting in fresh pages every time */
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_TRIM_THRESHOLD, 256 << 20);
#endif
  if (getenv(SINK_CHILD_ENV)) { /* test_sink_threads's child */
    RUN(test_sink_child);
    return;
  }
  RUN(test_ops_table);
  RUN(test_fusion_chains);
  RUN(test_groups_interleaved);
  RUN(test_inplace_chain);
  RUN(test_output_kinds);
  RUN(test_random_graphs);
  RUN(test_broadcast_cases);
  RUN(test_broadcast_runs);
  RUN(test_broadcast_threads);
  RUN(test_broadcast_outside);
  RUN(test_broadcast_grads);
  RUN(test_derivatives);
  RUN(test_matmul_blas);
  RUN(test_matmul_nonfinite);
  RUN(test_masked_where);
  RUN(test_repeat_calls);
  RUN(test_no_alloc_after_first_call);
  RUN(test_threads);
  RUN(test_workspace);
  RUN(test_sink_every_axis);
  RUN(test_sink_some_axes);
  RUN(test_sink_nonfinite);
  RUN(test_sink_stored_operand);
  RUN(test_sink_readers);
  RUN(test_sink_shapes);
  RUN(test_sink_plan);
  RUN(test_sink_grads);
  RUN(test_sink_threads);
}
