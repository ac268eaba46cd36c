/* Standalone C and native code: nb_fn_emit_c and nb_fn_compile.
 *
 * Native code (nb_fn_compile, then nb_call) against the reference evaluator
 * (nb__call_reference) with check_fn (fixture.c): every public operation in
 * one multi-output function per dtype (elementwise unary and binary with inf,
 * NaN, ±0 and ties, integer and other powers, broadcasting, selects with a
 * condition of the other dtype, casts, comparisons, reductions over every kind
 * of axis list, movement, gathers, concat/stack, matmuls of every rank,
 * softmax, constants, size-0 and rank-0 tensors, outputs that are inputs,
 * repeated or reshaped); derivative functions of two composites (vjp, jvp,
 * grad, hessian, jacfwd, jacrev, hvp, vmap_sized of grad: pads, reversals,
 * scatter-adds, masked products, iotas), and a check that every primitive was
 * among the compiled nodes. Products that read a transpose's operand with
 * swapped strides instead of making it: case by case in the text (which
 * transposes are read through, which form each product takes), and all
 * together natively and interpreted; the vjp and grad of sum((Q X)^2) (the
 * GMM pattern) and their masked products, also with inf and NaN where the
 * cotangent is zero; reductions that keep the last axis (omp simd only where
 * the innermost steps write distinct outputs); broadcasts fused into loops cut
 * into rows at their runs (plain loops, loops split into blocks, loops run on
 * threads; in the text case by case, all of them natively on the pool and on
 * the calling thread alone) and the gradient of a bias added by broadcast; reductions as sinks of
 * fused groups in the groups' blocked form (partials and accumulators at the plan's offsets in the
 * text; natively with NaN, inf and signed zeros, on threads and alone). Comparisons are exact where
 * both evaluators run the same formula, VM where libmvec may serve one of
 * them, MM for products, RSUM where sums run in another order (fixture.h).
 *
 * The emitted file alone: compiled with cc -std=c11 -Wall -Wextra -Werror,
 * linked into a shared object and called through dlsym: its signature
 * functions against nb_fn_*, its values against nb_call, no write outside its
 * buffers, a workspace aligned to 16 bytes only, no dependence on the
 * workspace's contents. Native calls from 4 threads, compiles from 4 threads;
 * every error path of both functions. The allocation-failure sweeps are in
 * test_alloc.c. test_emit_regressions keeps the emitter bugs these tests found
 * fixed.
 *
 * One compile of a function of a few hundred nodes takes seconds (-O3, omp
 * simd): the functions are few, and compiled on 4 threads at once. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"

#include "../src/exec/exec.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int    n_compiled; /* functions compiled by this suite */
static double t_compile;  /* seconds spent in nb_fn_compile (wall) */

/* ---- compiling ------------------------------------------------------------------------ */

/* the primitives (and kinds of masked product) of the functions compiled, to
 * check that every one reaches native code (test_every_primitive_native) */
static bool seen_op[NB_OP_COUNT], seen_masked[2];

static void note_ops(const nb_fn *f) {
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__node *n = &f->nodes[i].n;
    seen_op[n->op] = true;
    if (n->op == NB_OP_MATMUL && n->p.i[0]) seen_masked[n->shape[n->rank - 1] >= 8] = true;
  }
}

typedef struct compile_jobs {
  nb_fn         **fs;
  int             n, next;
  pthread_mutex_t mu;
  nb_status       st[32];
  char            msg[32][200];
} compile_jobs;

static void *compile_worker(void *arg) {
  compile_jobs *j = arg;
  for (;;) {
    pthread_mutex_lock(&j->mu);
    int i = j->next++;
    pthread_mutex_unlock(&j->mu);
    if (i >= j->n) return NULL;
    if (!j->fs[i]) continue;
    j->st[i] = nb_fn_compile(j->fs[i]);
    snprintf(j->msg[i], sizeof j->msg[i], "%s", j->st[i] ? nb_errmsg() : "");
  }
}

/* compiles fs[0..n) (NULL entries skipped) on up to 4 threads: the compiler runs
 * for several functions at once, and nb_fn_compile must allow that */
static void compile_all_(const char *file, int line, const char *what, nb_fn **fs, int n) {
  compile_jobs j;
  memset(&j, 0, sizeof j);
  j.fs = fs, j.n = n;
  CHECK(n <= 32);
  if (n > 32) return;
  pthread_mutex_init(&j.mu, NULL);
  pthread_t th[4];
  int       nt = n < 4 ? n : 4, started = 0;
  double    t0 = now();
  for (int t = 0; t < nt; t++) started += pthread_create(&th[t], NULL, compile_worker, &j) == 0;
  if (!started) compile_worker(&j);
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  t_compile += now() - t0;
  pthread_mutex_destroy(&j.mu);
  for (int i = 0; i < n; i++) {
    if (!fs[i]) continue;
    n_compiled++;
    if (j.st[i] == NB_OK && fs[i]->native) {
      note_ops(fs[i]);
      continue;
    }
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s [%d]: nb_fn_compile: %s \"%s\"%s\n", file, line, th_current,
            what, i, nb_status_str(j.st[i]), j.msg[i], fs[i]->native ? "" : " (no native code)");
  }
}
#define compile_all(what, fs, n) compile_all_(__FILE__, __LINE__, what, fs, n)

/* nb_fn_compile succeeds and nb_call then runs native code */
static bool compile_one_(const char *file, int line, const char *what, nb_fn *f) {
  if (!f) return false;
  double    t0 = now();
  nb_status st = nb_fn_compile(f);
  t_compile += now() - t0;
  n_compiled++;
  if (st == NB_OK && f->native) {
    note_ops(f);
    return true;
  }
  th_failed_checks++;
  fprintf(stderr, "  %s:%d: %s: %s: nb_fn_compile: %s \"%s\"%s\n", file, line, th_current, what,
          nb_status_str(st), st ? nb_errmsg() : "", f->native ? "" : " (no native code)");
  return false;
}
#define compile_one(what, f) compile_one_(__FILE__, __LINE__, what, f)

/* ---- every operation in one function per dtype ---------------------------------------- */

enum { MAXOUT = FX_MAXBUFS };
static const int64_t S3[3] = {3, 5, 7}; /* 105 elements: odd, no vector length divides it */

enum { IN_S, IN_T, IN_A, IN_B, IN_P, IN_U, IN_GQ, IN_GR, IN_BC, IN_ROW, IN_W, IN_V, IN_OC, IN_E, IN_Z, NIN_OPS };
static const int OPS_DOMS[NIN_OPS] = {D_SPEC, D_SPEC, D_ANY, D_ANY, D_POS,  D_UNIT, D_GRID, D_GRID,
                                      D_ANY,  D_ANY,  D_ANY, D_ANY, D_SPEC, D_ANY,  D_ANY};

typedef struct outs {
  nb_expr *o[MAXOUT];
  int      mode[MAXOUT];
  int      n;
} outs;

static void put(outs *O, int mode, nb_expr *e) {
  if (O->n >= MAXOUT) {
    CHECK(O->n < MAXOUT);
    return;
  }
  O->o[O->n] = e;
  O->mode[O->n++] = mode;
}

/* a constant: plain numbers and (special) inf, NaN, -0, a subnormal and 1e30 */
static nb_expr *const_of(nb_graph *g, nb_dtype dt, int rank, const int64_t *shape, bool special) {
  int64_t n = numel(rank, shape);
  void   *data = malloc((size_t)(n ? n : 1) * esize(dt));
  if (!data) return NULL;
  static const double sp[6] = {INFINITY, -INFINITY, NAN, -0.0, 0x1p-140, 1e30};
  for (int64_t i = 0; i < n; i++) {
    double v = special && i % 17 == 3 ? sp[(i / 17) % 6] : sin(0.37 * (double)i) * 3;
    if (dt == NB_F32) ((float *)data)[i] = (float)v;
    else ((double *)data)[i] = v;
  }
  nb_expr *c = nb_const(g, dt, rank, shape, data);
  free(data);
  return c;
}

static nb_fn *fn_ops(nb_dtype dt, outs *O) {
  nb_dtype  od = other_dt(dt);
  nb_graph *g = nb_graph_new();
  nb_expr  *in[NIN_OPS];
  static const char *names[NIN_OPS] = {"s", "t", "a", "b", "p", "u", "gq", "gr", "bc", "row", "w", "v", "oc", "e", "z"};
  for (int i = 0; i < NIN_OPS; i++) {
    nb_dtype idt = i == IN_OC ? od : dt;
    int      rank = 3;
    int64_t  shape[3] = {S3[0], S3[1], S3[2]};
    switch (i) {
    case IN_BC: rank = 2, shape[0] = 5, shape[1] = 1; break;
    case IN_ROW: rank = 1, shape[0] = 7; break;
    case IN_W: rank = 2, shape[0] = 7, shape[1] = 4; break;
    case IN_V: rank = 1, shape[0] = 7; break;
    case IN_E: rank = 2, shape[0] = 0, shape[1] = 7; break;
    case IN_Z: rank = 0; break;
    default: break;
    }
    in[i] = nb_input(g, names[i], idt, rank, shape);
  }
  nb_expr *s = in[IN_S], *t = in[IN_T], *a = in[IN_A], *b = in[IN_B], *p = in[IN_P], *u = in[IN_U];
  nb_expr *gq = in[IN_GQ], *gr = in[IN_GR], *bc = in[IN_BC], *row = in[IN_ROW], *w = in[IN_W];
  nb_expr *v = in[IN_V], *oc = in[IN_OC], *e = in[IN_E], *z = in[IN_Z];
  memset(O, 0, sizeof *O);
  /* elementwise unary: the same formula in both evaluators, or libm against libmvec */
  static nb_expr *(*const exact1[])(nb_expr *) = {nb_neg,    nb_abs,        nb_sign,  nb_sqrt,
                                                  nb_square, nb_reciprocal, nb_relu,  nb_floor,
                                                  nb_ceil,   nb_round};
  for (size_t k = 0; k < sizeof exact1 / sizeof *exact1; k++) put(O, EXACT, exact1[k](s));
  put(O, EXACT, nb_floor(gq));
  put(O, EXACT, nb_ceil(gq));
  put(O, EXACT, nb_round(gq)); /* halves: ties to even */
  put(O, EXACT, nb_rsqrt(p));
  static nb_expr *(*const vm1[])(nb_expr *) = {nb_exp,  nb_expm1, nb_sin,  nb_cos,     nb_tan,
                                               nb_atan, nb_sinh,  nb_cosh, nb_tanh,    nb_sigmoid,
                                               nb_softplus, nb_erf};
  for (size_t k = 0; k < sizeof vm1 / sizeof *vm1; k++) put(O, VM, vm1[k](s));
  put(O, VM, nb_log(p));
  put(O, VM, nb_log1p(p));
  put(O, VM, nb_asin(u));
  put(O, VM, nb_acos(u));
  /* elementwise binary */
  static nb_expr *(*const exact2[])(nb_expr *, nb_expr *) = {nb_add, nb_sub, nb_mul, nb_div,
                                                             nb_maximum, nb_minimum};
  for (size_t k = 0; k < sizeof exact2 / sizeof *exact2; k++) {
    put(O, EXACT, exact2[k](s, t)); /* inf, NaN, ±0 */
    put(O, EXACT, exact2[k](gq, gr)); /* equal pairs: ties of maximum/minimum */
  }
  static nb_expr *(*const cmp[])(nb_expr *, nb_expr *) = {nb_lt, nb_le, nb_gt, nb_ge, nb_eq, nb_ne};
  for (size_t k = 0; k < sizeof cmp / sizeof *cmp; k++) {
    put(O, EXACT, cmp[k](gq, gr));
    put(O, EXACT, cmp[k](s, t));
  }
  /* powers: small integer exponents by repeated squaring (exact in both), others by pow */
  put(O, EXACT, nb_pows(s, 2));
  put(O, EXACT, nb_pows(s, -3));
  put(O, EXACT, nb_pows(a, 16));
  put(O, EXACT, nb_pows(a, -1));
  put(O, EXACT, nb_pow(gq, nb_full(g, dt, 3, S3, 3.0)));
  put(O, VM, nb_pows(a, 17));
  put(O, VM, nb_pows(p, 0.5));
  put(O, VM, nb_pows(p, -1.5));
  put(O, VM, nb_pow(p, s));
  put(O, VM, nb_pow(s, gq)); /* negative bases, integral exponents from an input */
  put(O, VM, nb_atan2(s, t));
  put(O, VM, nb_atan2(a, gq)); /* x / 0 */
  /* broadcasting, scalars, fills */
  put(O, EXACT, nb_add(a, bc));            /* [3,5,7] + [5,1] */
  put(O, EXACT, nb_mul(row, a));           /* [7] * [3,5,7] */
  put(O, EXACT, nb_div(bc, row));          /* [5,1] / [7] -> [5,7] */
  put(O, EXACT, nb_sub(z, a));             /* rank 0 - [3,5,7] */
  put(O, EXACT, nb_adds(nb_mul(a, b), 2.5));
  put(O, EXACT, nb_muls(nb_sub(a, b), -3));
  put(O, EXACT, nb_mul(nb_scalar(g, 0.75), s));
  put(O, EXACT, nb_add(s, nb_full(g, dt, 3, S3, 1.25)));
  put(O, EXACT, nb_full(g, dt, 2, (int64_t[]){2, 3}, -0.5));
  /* selects (conditions of either dtype: nonzero, NaN included, is true) and casts */
  put(O, EXACT, nb_where(nb_gt(s, t), s, t));
  put(O, EXACT, nb_where(oc, a, b));
  put(O, EXACT, nb_where(nb_cast(nb_lt(a, b), od), nb_mul(a, b), nb_scalar(g, -1)));
  put(O, EXACT, nb_where(nb_ge(gq, nb_scalar(g, 0)), nb_scalar(g, 0.5), bc));
  put(O, EXACT, nb_cast(s, od));
  put(O, EXACT, nb_cast(oc, dt));
  put(O, EXACT, nb_cast(nb_mul(nb_cast(a, od), nb_cast(b, od)), dt));
  put(O, EXACT, nb_mul(nb_cast(oc, dt), s));
  /* reductions: all axes, one, several, negative, listed in full, keepdims; empty */
  put(O, RSUM, nb_sum(a, 0, NULL, false));
  put(O, RSUM, nb_sum(a, 1, (int[]){1}, true));
  put(O, RSUM, nb_sum(nb_mul(a, b), 2, (int[]){0, 2}, false));
  put(O, RSUM, nb_sum(a, 1, (int[]){-1}, false));
  put(O, RSUM, nb_sum(a, 3, (int[]){0, 1, 2}, true));
  put(O, RSUM, nb_sum(nb_cast(a, od), 1, (int[]){0}, false)); /* the other dtype */
  put(O, RSUM, nb_sum(s, 1, (int[]){2}, false));              /* inf, NaN */
  put(O, RSUM, nb_mean(a, 1, (int[]){2}, true));
  put(O, RSUM, nb_mean(a, 2, (int[]){0, 1}, false));
  put(O, RSUM, nb_prod(u, 2, (int[]){0, 1}, false));
  put(O, RSUM, nb_prod(nb_adds(a, 0.5), 1, (int[]){2}, true));
  put(O, EXACT, nb_max(s, 1, (int[]){2}, false)); /* NaN wins */
  put(O, EXACT, nb_max(gq, 1, (int[]){0}, true));
  put(O, EXACT, nb_min(a, 1, (int[]){1}, true));
  put(O, EXACT, nb_min(s, 0, NULL, false));
  put(O, EXACT, nb_max(a, 2, (int[]){0, 2}, false));
  put(O, RSUM, nb_logsumexp(a, 1, (int[]){1}, false));
  put(O, RSUM, nb_logsumexp(a, 0, NULL, false));
  put(O, RSUM, nb_logsumexp(s, 1, (int[]){2}, true));
  put(O, EXACT, nb_sum(e, 0, NULL, false));          /* 0 */
  put(O, EXACT, nb_sum(e, 1, (int[]){0}, false));    /* zeros [7] */
  put(O, EXACT, nb_max(e, 1, (int[]){0}, false));    /* -inf */
  put(O, EXACT, nb_prod(e, 1, (int[]){0}, true));    /* ones */
  put(O, EXACT, nb_mean(e, 1, (int[]){0}, false));   /* NaN */
  put(O, EXACT, nb_sum(z, 0, NULL, false));
  /* movement */
  put(O, EXACT, nb_reshape(a, 2, (int64_t[]){15, 7})); /* a reshape of an input */
  put(O, EXACT, nb_reshape(nb_add(a, b), 2, (int64_t[]){3, 35}));
  put(O, EXACT, nb_transpose(nb_mul(a, b), (int[]){2, 0, 1}));
  put(O, EXACT, nb_transpose(s, NULL));
  put(O, EXACT, nb_slice(a, 2, 1, 7, 2));
  put(O, EXACT, nb_slice(a, 0, -1, INT64_MIN, -2));  /* reversed */
  put(O, EXACT, nb_slice(nb_mul(a, b), 2, 5, 1, -1)); /* reversed, partial */
  put(O, EXACT, nb_slice(a, 1, 1, 4, 1));
  put(O, EXACT, nb_slice(a, 0, 1, 3, 1));  /* contiguous: a view at an offset */
  put(O, EXACT, nb_slice(a, 1, 3, 3, 1));  /* empty */
  put(O, EXACT, nb_index(a, 1, -2));
  put(O, EXACT, nb_index(nb_add(a, b), 0, 0));
  put(O, EXACT, nb_take(a, 2, 6, (int64_t[]){-1, 0, 0, 3, -7, 6}));
  put(O, EXACT, nb_take(nb_sub(a, b), 1, 3, (int64_t[]){4, 4, 0}));
  put(O, EXACT, nb_take(a, 0, 0, NULL));
  put(O, EXACT, nb_concat(3, (nb_expr *[]){a, nb_neg(b), s}, 1));
  put(O, EXACT, nb_concat(2, (nb_expr *[]){e, nb_reshape(a, 2, (int64_t[]){15, 7})}, 0));
  put(O, EXACT, nb_stack(2, (nb_expr *[]){nb_add(a, b), a}, -1));
  put(O, EXACT, nb_stack(3, (nb_expr *[]){z, nb_neg(z), z}, 0));
  put(O, EXACT, nb_broadcast_to(bc, 3, S3));
  put(O, EXACT, nb_broadcast_to(z, 2, (int64_t[]){2, 3}));
  put(O, RSUM, nb_add(nb_broadcast_to(row, 2, (int64_t[]){5, 7}), nb_sum(a, 1, (int[]){0}, false)));
  /* products of every rank (operands are inputs or their views: MM scales hold) */
  put(O, MM, nb_matmul(a, w));                             /* batched, w broadcast */
  put(O, MM, nb_matmul(a, v));                             /* 3-D @ 1-D */
  put(O, MM, nb_matmul(v, w));                             /* 1-D @ 2-D */
  put(O, MM, nb_matmul(v, v));                             /* rank 0 */
  put(O, MM, nb_matmul(e, w));                             /* [0,4] */
  put(O, MM, nb_matmul(a, nb_transpose(b, (int[]){0, 2, 1}))); /* [3,5,5] */
  put(O, MM, nb_matmul(nb_reshape(a, 2, (int64_t[]){15, 7}), w));
  put(O, MM, nb_matmul(nb_reshape(a, 2, (int64_t[]){15, 7}), nb_reshape(b, 2, (int64_t[]){7, 15}))); /* wide */
  put(O, RSUM, nb_softmax(a, -1));
  put(O, RSUM, nb_softmax(a, 0));
  put(O, RSUM, nb_log_softmax(s, 1));
  /* constants */
  nb_expr *c = const_of(g, dt, 3, S3, true);
  put(O, EXACT, c);
  put(O, EXACT, nb_sub(nb_mul(c, a), c));
  put(O, EXACT, const_of(g, od, 1, (int64_t[]){20}, true));
  /* size 0 and rank 0 */
  put(O, EXACT, e);
  put(O, EXACT, nb_add(e, e));
  put(O, VM, nb_exp(e));
  put(O, EXACT, z);
  put(O, EXACT, nb_adds(nb_mul(z, z), 1));
  put(O, VM, nb_exp(z));
  /* inputs and repeated nodes as outputs */
  nb_expr *st = nb_add(s, t);
  put(O, EXACT, st);
  put(O, EXACT, st);
  put(O, EXACT, s);
  put(O, EXACT, oc);
  put(O, EXACT, nb_reshape(st, 1, (int64_t[]){-1}));
  char what[32];
  snprintf(what, sizeof what, "ops %s", dtname(dt));
  nb_fn *f = make_fn(what, g, NIN_OPS, in, O->n, O->o);
  nb_graph_free(g);
  return f;
}

static void test_ops_native(void) {
  nb_fn *f[2];
  outs   O[2];
  f[0] = fn_ops(NB_F64, &O[0]);
  f[1] = fn_ops(NB_F32, &O[1]);
  compile_all("ops", f, 2);
  for (int d = 0; d < 2; d++) {
    if (!f[d] || !f[d]->native) continue;
    char what[48];
    snprintf(what, sizeof what, "native ops %s (%d outputs)", dtname(nb_fn_in_dtype(f[d], 0)), O[d].n);
    check_fn_io(what, f[d], OPS_DOMS, O[d].mode, 100u + (unsigned)d);
    /* from 4 threads at once, the plan and a workspace already made */
    check_threads(what, f[d], 4, true, O[d].mode, 150u + (unsigned)d);
  }
  printf("  emit: %d + %d operations compiled natively\n", O[0].n, O[1].n);
  nb_fn_free(f[0]);
  nb_fn_free(f[1]);
}

/* ---- derivative functions ----------------------------------------------------------- */

static nb_expr *SUM(nb_expr *x) { return nb_sum(x, 0, NULL, false); }

/* C1(x [2,3], w [3,9]): a constant, a product (9 columns: the emitter's
 * row-at-a-time form; the accumulator form below 8), a gather with a repeated
 * and a negative index, a reversed and a strided slice (reversals and pads in its
 * derivatives), a leading-axis slice (its pad is read through a guard), concat,
 * logsumexp, softmax, max, sin and cos of one value (loops split in blocks); a
 * scalar and a [3] vector */
static nb_fn *fn_c1(nb_dtype dt) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, 2, (int64_t[]){2, 3});
  nb_expr  *w = nb_input(g, "w", dt, 2, (int64_t[]){3, 9});
  nb_expr  *h = nb_tanh(nb_add(nb_matmul(x, w), const_of(g, dt, 1, (int64_t[]){9}, false))); /* [2,9] */
  nb_expr  *gt = nb_take(h, 1, 3, (int64_t[]){-1, 0, 0});                                     /* [2,3] */
  nb_expr  *r = nb_slice(x, 1, -1, INT64_MIN, -1);                                            /* [2,3] */
  nb_expr  *s = nb_slice(nb_concat(2, (nb_expr *[]){gt, r}, 0), 0, 0, 4, 2);                  /* [2,3] */
  nb_expr  *l = nb_logsumexp(s, 1, (int[]){1}, false);                                        /* [2] */
  nb_expr  *y0 = nb_add(SUM(l), SUM(nb_mul(nb_softmax(h, 1), h)));
  y0 = nb_add(y0, nb_add(SUM(nb_mul(nb_sin(x), nb_cos(x))), SUM(nb_muls(nb_slice(x, 0, 1, 2, 1), 3))));
  nb_expr *y1 = nb_add(nb_max(gt, 1, (int[]){0}, false), nb_index(r, 0, 1)); /* [3] */
  nb_fn   *f = make_fn("c1", g, 2, (nb_expr *[]){x, w}, 2, (nb_expr *[]){y0, y1});
  nb_graph_free(g);
  return f;
}

/* C2(x [5], y [5]): a select, an integer power, atan2, maximum and minimum, a cast
 * through the other dtype, prod, pow with a varying exponent, broadcast_to and
 * mean; scalar */
static nb_fn *fn_c2(nb_dtype dt) {
  nb_dtype  od = other_dt(dt);
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, 1, (int64_t[]){5});
  nb_expr  *y = nb_input(g, "y", dt, 1, (int64_t[]){5});
  nb_expr  *a = nb_where(nb_gt(x, y), nb_pows(x, 3), nb_atan2(x, y));
  nb_expr  *d = nb_div(nb_square(nb_maximum(x, y)), nb_adds(nb_square(y), 1));
  nb_expr  *e = nb_cast(nb_mul(nb_cast(x, od), nb_cast(nb_minimum(x, nb_muls(y, 2)), od)), dt);
  nb_expr  *f = nb_pow(nb_adds(nb_abs(y), 0.5), nb_muls(x, 0.3));
  nb_expr  *p = nb_prod(nb_adds(nb_muls(x, 0.25), 1.5), 0, NULL, false);
  nb_expr  *bt = nb_broadcast_to(nb_reshape(nb_sigmoid(x), 2, (int64_t[]){1, 5}), 2, (int64_t[]){3, 5});
  nb_expr  *k = nb_mean(nb_mul(bt, nb_erf(y)), 0, NULL, false);
  nb_expr  *o = nb_add(nb_add(SUM(nb_add(nb_add(a, d), nb_add(e, f))), p), k);
  nb_fn    *fn = make_fn("c2", g, 2, (nb_expr *[]){x, y}, 1, &o);
  nb_graph_free(g);
  return fn;
}

/* vjp of f(x [3]) = sum(2 sin x): sin and cos of one value in one group, the sin
 * read only by the sum (recomputed there): no block copy of it may remain */
static nb_fn *fn_vjp_sin(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){3});
  nb_expr  *y = SUM(nb_muls(nb_sin(x), 2));
  nb_fn    *f = make_fn("sum 2 sin", g, 1, &x, 1, &y);
  nb_graph_free(g);
  nb_fn *v = f ? nb_vjp(f, NULL) : NULL;
  nb_fn_free(f);
  return v;
}

/* vjp of a large stencil, (sum(sin(b - a^2) cos a + (1 - a)^2), sin x cos x) with
 * a = x[:-1], b = x[1:] on N elements, an odd number above NB__PARALLEL_MIN
 * (299593 for 2^18): loops large enough to run as functions of their range on
 * the thread pool (checked in the text), pads recomputed at their offsets, a
 * sum that recomputes its operand */
enum { STENCIL_N = NB__PARALLEL_MIN + NB__PARALLEL_MIN / 7 };
static nb_fn *fn_vjp_stencil(void) {
  enum { N = STENCIL_N };
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){N});
  nb_expr  *a = nb_slice(x, 0, 0, N - 1, 1), *b = nb_slice(x, 0, 1, N, 1);
  nb_expr  *t = nb_add(nb_mul(nb_sin(nb_sub(b, nb_square(a))), nb_cos(a)), nb_square(nb_adds(nb_neg(a), 1)));
  nb_expr  *ys[2] = {SUM(t), nb_mul(nb_sin(x), nb_cos(x))};
  nb_fn    *f = make_fn("stencil", g, 1, &x, 2, ys);
  nb_graph_free(g);
  nb_fn *v = f ? nb_vjp(f, NULL) : NULL;
  nb_fn_free(f);
  return v;
}

enum { ND = 10 };

static void test_derivatives_native(void) {
  nb_fn       *c1[2] = {fn_c1(NB_F64), fn_c1(NB_F32)}, *c2[2] = {fn_c2(NB_F64), fn_c2(NB_F32)};
  nb_fn       *d[ND] = {NULL}, *gr = NULL;
  nb_diff_opts wrt0 = {1, (int[]){0}, 0}, aux1 = {0, NULL, 1};
  static const char *const names[ND] = {"vjp c1 f64", "jvp c1 f32",  "jacrev c1 f64", "vmap_sized(grad) c1 f32",
                                        "grad c2 f64", "hessian c2 f64", "hvp c2 f32", "jacfwd c2 f32",
                                        "vjp sum(2 sin x)", "vjp of a large stencil"};
  if (c1[0] && c1[1] && c2[0] && c2[1]) {
    gr = nb_grad(c1[1], &aux1); /* the vector output is auxiliary */
    d[0] = nb_vjp(c1[0], NULL);
    d[1] = nb_jvp(c1[1], NULL);
    d[2] = nb_jacrev(c1[0], &wrt0);
    d[3] = gr ? nb_vmap_sized(gr, 3, (int[]){0, NB_UNMAPPED}, NULL) : NULL;
    d[4] = nb_grad(c2[0], NULL);
    d[5] = nb_hessian(c2[0], NULL);
    d[6] = nb_hvp(c2[1], NULL);
    d[7] = nb_jacfwd(c2[1], NULL);
    d[8] = fn_vjp_sin();
    d[9] = fn_vjp_stencil();
    for (int k = 0; k < ND; k++) derived_ok(names[k], d[k]);
    char *text = fx_emit_text(d[9], "stencil"); /* its loops run through NB_RUN */
    if (text && !strstr(text, "NB_RUN(stencil_loop0, "))
      FAILF("%s (%d elements): no loop is a function of its range (NB__PARALLEL_MIN %d)", names[9], STENCIL_N,
            NB__PARALLEL_MIN);
    free(text);
  }
  compile_all("derivatives", d, ND);
  for (int k = 0; k < ND; k++) {
    if (!d[k] || !d[k]->native) continue;
    int modes[FX_MAXBUFS];
    for (int j = 0; j < nb_fn_nout(d[k]); j++) modes[j] = RSUM;
    /* the hessian first from 4 threads, before any call made a workspace */
    if (k == 5) check_threads(names[k], d[k], 4, false, modes, 250u);
    check_fn_io(names[k], d[k], NULL, modes, 200u + (unsigned)k);
  }
  for (int k = 0; k < ND; k++) nb_fn_free(d[k]);
  for (int k = 0; k < 2; k++) nb_fn_free(c1[k]), nb_fn_free(c2[k]);
  nb_fn_free(gr);
}

/* ---- the emitted file alone ------------------------------------------------------------ */

static void show_file(const char *path, int max_lines) {
  FILE *in = fopen(path, "r");
  char  line[400];
  for (int k = 0; in && k < max_lines && fgets(line, sizeof line, in); k++) fprintf(stderr, "    | %s", line);
  if (in) fclose(in);
}

typedef int (*entry_fn)(const void *const *in, void *const *out, void *work);
typedef size_t (*bytes_fn)(void);
typedef int (*count_fn)(void);
typedef int64_t (*size_fn)(int i);

enum { GUARD = 64 };

/* what the file promises: the six functions, only <math.h>, <stdint.h> and
 * <string.h>, no globals that change, no allocation */
static void check_text(const char *what, const char *text, const char *name) {
  char want[256];
  const char *sigs[] = {"int %s(const void *const *in, void *const *out, void *work)",
                        "size_t %s_work_bytes(void)", "int %s_nin(void)", "int %s_nout(void)",
                        "int64_t %s_in_size(int i)", "int64_t %s_out_size(int i)"};
  for (int k = 0; k < 6; k++) {
    snprintf(want, sizeof want, sigs[k], name);
    if (!strstr(text, want)) FAILF("%s: the file does not define %s", what, want);
  }
  for (const char *p = text; (p = strstr(p, "#include")); p++)
    if (strncmp(p, "#include <math.h>", 17) && strncmp(p, "#include <stdint.h>", 19) &&
        strncmp(p, "#include <string.h>", 19))
      FAILF("%s: unexpected %.30s", what, p);
  for (const char *p = text; (p = strstr(p, "static ")); p++)
    if (strncmp(p, "static const ", 13) && strncmp(p, "static inline ", 14))
      FAILF("%s: mutable static: %.40s", what, p);
  if (strstr(text, "malloc") || strstr(text, "calloc") || strstr(text, "free("))
    FAILF("%s: the file allocates", what);
}

/* Emits f as NAME into a private directory, compiles it with cc -std=c11 -Wall
 * -Wextra -Werror (and extra flags), links it as a shared object and checks it
 * through dlsym: the signature functions against nb_fn_*, and the values against
 * nb_call (modes per output, RSUM when NULL) with guard bytes after every output
 * and after exactly NAME_work_bytes() of workspace; a second call with a
 * workspace full of other bytes must give the same bits. */
static void standalone_(const char *file, int line, const char *what, nb_fn *f, const char *name,
                        const int *doms, const int *modes, uint64_t seed) {
  if (!f) return;
  char dir[400];
  if (!tmpdir_make(dir, sizeof dir)) return;
  char src[512], obj[512], so[512], log[512], cmd[4096];
  snprintf(src, sizeof src, "%s/%s.c", dir, name);
  snprintf(obj, sizeof obj, "%s/%s.o", dir, name);
  snprintf(so, sizeof so, "%s/%s.so", dir, name);
  snprintf(log, sizeof log, "%s/cc.log", dir);
  void  *lib = NULL, *work[2] = {NULL, NULL}, *gout[FX_MAXBUFS] = {0};
  bufs   in, ref, got[2];
  memset(&in, 0, sizeof in), memset(&ref, 0, sizeof ref), memset(got, 0, sizeof got);
  FILE  *o = fopen(src, "w");
  if (!o) {
    FAILF("%s: cannot write %s", what, src);
    goto done;
  }
  nb_status st = nb_fn_emit_c(f, name, o);
  fclose(o);
  if (st != NB_OK) {
    FAILF("%s: nb_fn_emit_c: %s \"%s\" (%s:%d)", what, nb_status_str(st), nb_errmsg(), file, line);
    goto done;
  }
  o = fopen(src, "r");
  char *text = o ? slurp(o) : NULL;
  if (o) fclose(o);
  if (text) check_text(what, text, name);
  else FAILF("%s: cannot read back %s", what, src);
  free(text);
  snprintf(cmd, sizeof cmd,
           "cc -std=c11 -Wall -Wextra -Werror -fPIC -c '%s' -o '%s' > '%s' 2>&1 && "
           "cc -shared -o '%s' '%s' -lm >> '%s' 2>&1",
           src, obj, log, so, obj, log);
  double t0 = now();
  int    rc = system(cmd);
  t_compile += now() - t0;
  if (rc != 0) {
    FAILF("%s: the emitted file does not compile cleanly (status %d, %s:%d):", what, rc, file, line);
    show_file(log, 12);
    goto done;
  }
  lib = dlopen(so, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    FAILF("%s: dlopen: %s", what, dlerror());
    goto done;
  }
  char     sym[128];
  entry_fn entry;
  bytes_fn work_bytes;
  count_fn nin, nout;
  size_fn  in_size, out_size;
#define SYM(var, suffix)                                                                  \
  snprintf(sym, sizeof sym, "%s%s", name, suffix);                                        \
  *(void **)&var = dlsym(lib, sym);                                                       \
  if (!var) {                                                                             \
    FAILF("%s: no symbol %s", what, sym);                                                 \
    goto done;                                                                            \
  }
  SYM(entry, "")
  SYM(work_bytes, "_work_bytes")
  SYM(nin, "_nin")
  SYM(nout, "_nout")
  SYM(in_size, "_in_size")
  SYM(out_size, "_out_size")
#undef SYM
  int ni = nb_fn_nin(f), no = nb_fn_nout(f);
  CHECK(nin() == ni);
  CHECK(nout() == no);
  for (int i = -1; i <= ni; i++) CHECK(in_size(i) == (i >= 0 && i < ni ? nb_fn_in_size(f, i) : -1));
  for (int j = -1; j <= no; j++) CHECK(out_size(j) == (j >= 0 && j < no ? nb_fn_out_size(f, j) : -1));
  size_t wb = work_bytes();
  CHECK((int64_t)wb == nb_fn_workspace_bytes(f));
  if (!bufs_make(&in, f, true) || !bufs_make(&ref, f, false) || !bufs_make(&got[0], f, false) ||
      !bufs_make(&got[1], f, false)) {
    FAILF("%s: out of memory", what);
    goto done;
  }
  bufs_random(&in, doms, D_ANY, seed);
  if (call_fast(f, &in, &ref) != NB_OK) {
    FAILF("%s: nb_call failed: %s", what, nb_errmsg());
    goto done;
  }
  /* the workspace at an address 16-byte aligned and no more, as promised */
  size_t         wsize = (wb + GUARD + 15) / 16 * 16;
  unsigned char *ws[2];
  for (int c = 0; c < 2; c++) {
    if (!(work[c] = aligned_alloc(64, wsize + 64))) goto done;
    ws[c] = (unsigned char *)work[c] + 16;
    memset(ws[c], c ? 0xFF : 0xA5, wsize); /* NaNs in both dtypes, or other garbage */
    for (int j = 0; j < no; j++) {
      size_t nb = nbytes(&got[c], j);
      free(gout[j]);
      if (!(gout[j] = malloc(nb + GUARD))) goto done;
      memset(gout[j], 0x5A, nb + GUARD);
    }
    CHECK(entry((const void *const *)in.p, gout, ws[c]) == 0);
    for (size_t k = wb; k < wsize; k++)
      if (ws[c][k] != (c ? 0xFF : 0xA5)) {
        FAILF("%s: write after the %zu bytes of workspace (byte %zu)", what, wb, k);
        break;
      }
    for (int j = 0; j < no; j++) {
      size_t nb = nbytes(&got[c], j);
      for (size_t k = nb; k < nb + GUARD; k++)
        if (((unsigned char *)gout[j])[k] != 0x5A) {
          FAILF("%s: write after the end of output %d (byte %zu)", what, j, k);
          break;
        }
      if (nb) memcpy(got[c].p[j], gout[j], nb);
    }
  }
  int mm[FX_MAXBUFS];
  for (int j = 0; j < no; j++) mm[j] = modes && modes[j] != MM ? modes[j] : RSUM; /* no MM scales */
  compare_(file, line, what, &got[0], &ref, mm, RSUM, NULL, false);
  compare_(file, line, what, &got[1], &ref, mm, RSUM, NULL, false);
  if (!bufs_same_bits(&got[0], &got[1]))
    FAILF("%s: the result depends on the workspace's previous contents (%s:%d)", what, file, line);
done:
  if (lib) dlclose(lib);
  free(work[0]), free(work[1]);
  for (int j = 0; j < FX_MAXBUFS; j++) free(gout[j]);
  bufs_free(&in), bufs_free(&ref), bufs_free(&got[0]), bufs_free(&got[1]);
  remove(src), remove(obj), remove(so), remove(log);
  if (rmdir(dir)) FAILF("%s: %s is not empty", what, dir);
}
#define standalone(what, f, name, doms, modes, seed) \
  standalone_(__FILE__, __LINE__, what, f, name, doms, modes, seed)

static void test_standalone(void) {
  /* a derivative with constants, gathers (and their scatter-adds), pads, reversals */
  nb_fn *c = fn_c1(NB_F64);
  nb_fn *v = c ? nb_vjp(c, NULL) : NULL;
  if (c && derived_ok("vjp c1", v)) standalone("vjp c1 f64", v, "c1_vjp", NULL, NULL, 1);
  nb_fn_free(v);
  nb_fn_free(c);
  /* iotas; f32; a name of the longest length allowed, 64 characters */
  c = fn_c1(NB_F32);
  v = c ? nb_jacfwd(c, NULL) : NULL;
  if (c && derived_ok("jacfwd c1", v))
    standalone("jacfwd c1 f32", v, "n123456789_123456789_123456789_123456789_123456789_123456789_123",
               NULL, NULL, 2);
  nb_fn_free(v);
  nb_fn_free(c);
  /* every operation, as compiled and run natively above */
  for (int d = 0; d < 2; d++) {
    outs O;
    nb_fn *f = fn_ops(d ? NB_F32 : NB_F64, &O);
    standalone(d ? "ops f32" : "ops f64", f, d ? "ops32" : "ops64", OPS_DOMS, O.mode, 3u + (unsigned)d);
    nb_fn_free(f);
  }
  /* no inputs, and outputs that are only constants and fills */
  nb_graph *g = nb_graph_new();
  nb_expr  *o[3] = {const_of(g, NB_F64, 1, (int64_t[]){40}, true), nb_full(g, NB_F32, 0, NULL, 2.5),
                    nb_exp(const_of(g, NB_F32, 2, (int64_t[]){2, 3}, true))};
  nb_fn    *k = make_fn("constants", g, 0, NULL, 3, o);
  nb_graph_free(g);
  static const int kmodes[3] = {EXACT, EXACT, VM};
  standalone("constants only", k, "constants", NULL, kmodes, 4);
  nb_fn_free(k);
}

/* ---- products read through transposes ----------------------------------------------
 * A transpose of the last two axes that only products read (as the left
 * operand, or as a right operand of at least SWAP_MIN_ROWS rows) and that is
 * no output is never made (the plan's NB__THROUGH_SWAP): the products read its
 * operand with the two strides swapped, and the file says so in a comment.
 * The forms of a product in the file, told apart by a text only each has: a
 * right operand read through as dot products, 4 columns at a time and the
 * rest one by one (DOTS); a contiguous right operand of fewer than 8 columns,
 * a row of accumulators (ROW); of at most 16 rows and unmasked, each output
 * element's sum in a vector lane (LANE); else the i-l-j order (ILJ). The left
 * operand may be read through in each. The sizes of the cases below sit on
 * both sides of these bounds (SWAP_MIN_ROWS: exec/plan.c, reads_through; the
 * forms: emit/c_nests.c, put_matmul). */
enum { SWAP_MIN_ROWS = 32 };

static const char SWAP_NOTE[] = "read by the products below with swapped strides";
enum { F_DOTS, F_ROW, F_LANE, F_ILJ, NFORMS };
static const char *const FORM_TEXT[NFORMS] = {"j + 4 <= ", "double acc[", "double acc = 0;", " ail = ai["};
/* the masked forms DOTS, ROW and ILJ (there is no masked LANE) */
static const char *const MASKED_TEXT[3] = {"acc0 += x == 0 || y == 0 ? 0 : x * y;",
                                           "acc[j] += x == 0 || y == 0 ? 0 : x * y;", "if (ail != 0)"};
static const int64_t MM_BATCH[2] = {3, 2}; /* batch axes, when there are any */

/* x with its last two axes swapped */
static nb_expr *swap_last(nb_expr *x) {
  int p[NB_MAX_RANK], r = x ? nb_expr_rank(x) : 0;
  if (r < 2) return NULL;
  for (int d = 0; d < r; d++) p[d] = d;
  p[r - 2] = r - 1, p[r - 1] = r - 2;
  return nb_transpose(x, p);
}

/* [MM_BATCH[0, nbatch)..., rows, cols] in s; returns its rank */
static int mat_shape(int64_t *s, int nbatch, int64_t rows, int64_t cols) {
  for (int d = 0; d < nbatch; d++) s[d] = MM_BATCH[d];
  s[nbatch] = rows, s[nbatch + 1] = cols;
  return nbatch + 2;
}

/* an input named <side><id> */
static nb_expr *named_input(nb_graph *g, nb_dtype dt, char side, int id, int rank, const int64_t *shape) {
  char name[16];
  snprintf(name, sizeof name, "%c%d", side, id);
  return nb_input(g, name, dt, rank, shape);
}

/* what else reads a case's transpose (its right operand's, else its left's) */
enum {
  X_NONE,
  X_NEG,   /* a neg: the transpose is made */
  X_OUT,   /* it is also an output: made */
  X_TWICE, /* it is also the left operand of a second product */
  X_EXP,   /* not an input's transpose: the transpose of exp(input), in the workspace */
  X_BCAST, /* the right operand is 2-D and the left batched: the transpose is broadcast, made */
  X_PERM   /* the right operand's transpose also swaps the two batch axes: made */
};

/* left [batch.., m, k] times right [batch.., k, nn], each an input or (tl, tr)
 * an input's transpose; nswap transposes read through; form of the product */
typedef struct mm_case {
  const char *what;
  int         nbatch;
  int64_t     m, k, nn;
  bool        tl, tr;
  int         extra, form, nswap;
} mm_case;

static const mm_case MM_CASES[] = {
    /* the right operand read through: dot products, columns not a multiple of 4 */
    {"right^T, 1 column, SWAP_MIN_ROWS rows", 0, 3, SWAP_MIN_ROWS, 1, false, true, X_NONE, F_DOTS, 1},
    {"right^T, 3 columns, batched", 1, 5, SWAP_MIN_ROWS + 3, 3, false, true, X_NONE, F_DOTS, 1},
    {"right^T, 4 columns, one row", 0, 1, SWAP_MIN_ROWS + 5, 4, false, true, X_NONE, F_DOTS, 1},
    {"right^T, 5 columns, 2 batch axes", 2, 4, SWAP_MIN_ROWS + 1, 5, false, true, X_NONE, F_DOTS, 1},
    {"right^T, 9 columns", 1, 6, SWAP_MIN_ROWS + 5, 9, false, true, X_NONE, F_DOTS, 1},
    /* the left operand read through, the right one contiguous */
    {"left^T, 3 columns", 1, 5, 6, 3, true, false, X_NONE, F_ROW, 1},
    {"left^T, 9 columns, k 16", 0, 7, 16, 9, true, false, X_NONE, F_LANE, 1},
    {"left^T, 10 columns, k 17", 1, 3, 17, 10, true, false, X_NONE, F_ILJ, 1},
    {"left^T, k 1", 0, 4, 1, 9, true, false, X_NONE, F_LANE, 1},
    {"left^T, one row, one column", 1, 1, 5, 1, true, false, X_NONE, F_ROW, 1},
    /* both read through */
    {"both^T, 5 columns", 1, 5, SWAP_MIN_ROWS + 1, 5, true, true, X_NONE, F_DOTS, 2},
    {"both^T, 4 columns, SWAP_MIN_ROWS rows, 2 batch axes", 2, 3, SWAP_MIN_ROWS, 4, true, true, X_NONE, F_DOTS, 2},
    /* a right operand of fewer rows is made */
    {"right^T of SWAP_MIN_ROWS - 1 rows", 1, 4, SWAP_MIN_ROWS - 1, 5, false, true, X_NONE, F_ROW, 0},
    {"left^T and right^T of 3 rows", 0, 4, 3, 9, true, true, X_NONE, F_LANE, 1},
    /* no transpose: the contiguous forms */
    {"7 columns, k 20", 0, 3, 20, 7, false, false, X_NONE, F_ROW, 0},
    {"8 columns, k 16", 1, 5, 16, 8, false, false, X_NONE, F_LANE, 0},
    {"8 columns, k 17", 1, 3, 17, 8, false, false, X_NONE, F_ILJ, 0},
    /* transposes something else reads are made */
    {"right^T also negated", 1, 3, SWAP_MIN_ROWS + 1, 5, false, true, X_NEG, F_ROW, 0},
    {"left^T also negated", 0, 4, 6, 9, true, false, X_NEG, F_LANE, 0},
    {"right^T also an output", 1, 2, SWAP_MIN_ROWS + 2, 3, false, true, X_OUT, F_ROW, 0},
    {"left^T also an output", 0, 3, 20, 9, true, false, X_OUT, F_ILJ, 0},
    {"right^T also a left operand", 1, 3, SWAP_MIN_ROWS + 1, 5, false, true, X_TWICE, F_DOTS, 1},
    {"right^T of 6 rows also a left operand", 0, 3, 6, 5, false, true, X_TWICE, F_ROW, 0},
    {"right^T broadcast to a batch", 1, 4, SWAP_MIN_ROWS + 1, 5, false, true, X_BCAST, F_ROW, 0},
    {"right transposed across batch axes", 2, 3, SWAP_MIN_ROWS + 1, 5, false, true, X_PERM, F_ROW, 0},
    /* operands in the workspace, which must live until the product reads them */
    {"both^T of exp", 1, 4, SWAP_MIN_ROWS + 1, 9, true, true, X_EXP, F_DOTS, 2},
    {"left^T of exp, k 19", 0, 5, 19, 11, true, false, X_EXP, F_ILJ, 1},
};
enum { NMM = sizeof MM_CASES / sizeof *MM_CASES };

/* case c's right operand (its input appended to in) */
static nb_expr *mm_right(nb_graph *g, nb_dtype dt, const mm_case *c, int id, nb_expr **in, int *nin) {
  int64_t s[NB_MAX_RANK];
  if (c->extra == X_PERM) { /* [2, 3, nn, k] -> [3, 2, k, nn] */
    int64_t ps[4] = {MM_BATCH[1], MM_BATCH[0], c->nn, c->k};
    return nb_transpose(in[(*nin)++] = named_input(g, dt, 'b', id, 4, ps), (int[]){1, 0, 3, 2});
  }
  int      r = mat_shape(s, c->extra == X_BCAST ? 0 : c->nbatch, c->tr ? c->nn : c->k, c->tr ? c->k : c->nn);
  nb_expr *b = in[(*nin)++] = named_input(g, dt, 'b', id, r, s);
  if (c->extra == X_EXP) b = nb_exp(b);
  return c->tr ? swap_last(b) : b;
}

/* case c's inputs (appended to in) and outputs (put in O) */
static void mm_case_put(nb_graph *g, nb_dtype dt, const mm_case *c, int id, nb_expr **in, int *nin, outs *O) {
  int64_t  s[NB_MAX_RANK];
  int      r = mat_shape(s, c->nbatch, c->tl ? c->k : c->m, c->tl ? c->m : c->k);
  nb_expr *a = in[(*nin)++] = named_input(g, dt, 'a', id, r, s);
  if (c->extra == X_EXP) a = nb_exp(a);
  nb_expr *A = c->tl ? swap_last(a) : a, *B = mm_right(g, dt, c, id, in, nin);
  nb_expr *t = c->tr ? B : A;
  put(O, c->extra == X_EXP ? RSUM : MM, nb_matmul(A, B));
  if (c->extra == X_NEG) put(O, EXACT, nb_neg(t));
  if (c->extra == X_OUT) put(O, EXACT, t);
  if (c->extra == X_TWICE) { /* t [batch.., k, nn] times w [batch.., nn, 2] */
    r = mat_shape(s, c->nbatch, c->nn, 2);
    put(O, MM, nb_matmul(t, in[(*nin)++] = named_input(g, dt, 'w', id, r, s)));
  }
}

/* the cases [first, first + count) in one function (no input shared between cases) */
static nb_fn *fn_mm(nb_dtype dt, int first, int count, outs *O) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[FX_MAXBUFS];
  int       nin = 0;
  memset(O, 0, sizeof *O);
  for (int c = first; c < first + count; c++) mm_case_put(g, dt, &MM_CASES[c], c, in, &nin, O);
  char what[96];
  snprintf(what, sizeof what, "%s %s", count == 1 ? MM_CASES[first].what : "products", dtname(dt));
  nb_fn *f = make_fn(what, g, nin, in, O->n, O->o);
  nb_graph_free(g);
  return f;
}

/* each case alone: the transposes read through, and the product's form */
static void test_matmul_forms_text(void) {
  int total = 0;
  for (int c = 0; c < NMM; c++) {
    const mm_case *k = &MM_CASES[c];
    outs           O;
    nb_fn         *f = fn_mm(NB_F64, c, 1, &O);
    char          *text = fx_emit_text(f, "mm");
    if (text && fx_count_of(text, SWAP_NOTE) != k->nswap)
      FAILF("%s: %d transposes read through, want %d", k->what, fx_count_of(text, SWAP_NOTE), k->nswap);
    if (text && !strstr(text, FORM_TEXT[k->form])) FAILF("%s: no product with \"%s\"", k->what, FORM_TEXT[k->form]);
    total += k->nswap;
    free(text);
    nb_fn_free(f);
  }
  outs   O;
  nb_fn *f = fn_mm(NB_F32, 0, NMM, &O);
  char  *text = fx_emit_text(f, "mm_all");
  if (text && fx_count_of(text, SWAP_NOTE) != total)
    FAILF("every case in one f32 function: %d transposes read through, want %d", fx_count_of(text, SWAP_NOTE), total);
  free(text);
  nb_fn_free(f);
}

/* every case in one function per dtype: interpreted (the interpreter reads
 * the same transposes through), native, and the f32 one as a file alone */
static void test_matmul_forms_native(void) {
  outs   O[2];
  nb_fn *f[2] = {fn_mm(NB_F64, 0, NMM, &O[0]), fn_mm(NB_F32, 0, NMM, &O[1])};
  char   what[2][64];
  for (int d = 0; d < 2; d++) {
    snprintf(what[d], sizeof what[d], "products %s (%d outputs)", d ? "f32" : "f64", O[d].n);
    check_fn_io(what[d], f[d], NULL, O[d].mode, 290u + (unsigned)d);
  }
  compile_all("products", f, 2);
  for (int d = 0; d < 2; d++) {
    if (!f[d] || !f[d]->native) continue;
    check_fn_io(what[d], f[d], NULL, O[d].mode, 300u + (unsigned)d);
    if (d) standalone(what[d], f[d], "mm32", NULL, O[d].mode, 310u); /* -Wall -Wextra -Werror */
  }
  nb_fn_free(f[0]);
  nb_fn_free(f[1]);
}

/* ---- masked products: derivatives of the GMM pattern ------------------------------
 * sum((Q X)^2) with Q [batch.., d, d] and X [batch.., d, n]: its vjp has the
 * masked products Q^T ct (Q^T read through; ct's n columns: ILJ, or ROW below
 * 8) and ct X^T (d columns; X^T read through as dot products when n >=
 * SWAP_MIN_ROWS, else made: ILJ, or ROW below 8 columns) */
typedef struct qx_term {
  int     nbatch;
  int64_t d, n;
} qx_term;

static const qx_term QX_TERMS[] = {{1, 10, 37},
                                   {0, 4, SWAP_MIN_ROWS},
                                   {1, 1, SWAP_MIN_ROWS + 1},
                                   {2, 3, SWAP_MIN_ROWS + 3},
                                   {1, 5, 9},
                                   {0, 9, 5}};
enum { NQX = sizeof QX_TERMS / sizeof *QX_TERMS };

/* transposes the vjp of the terms reads through */
static int qx_swaps(const qx_term *t, int n) {
  int swaps = 0;
  for (int k = 0; k < n; k++) swaps += 1 + (t[k].n >= SWAP_MIN_ROWS);
  return swaps;
}

/* the row and column of Q X that a mask drops (fn_qx) */
enum { ZROW = 1, ZCOL = 2 };

/* where(mask, y, 0), the mask 0 on row ZROW and column ZCOL of every matrix */
static nb_expr *drop_row_col(nb_graph *g, nb_expr *y) {
  if (!y) return NULL;
  int            r = nb_expr_rank(y);
  const int64_t *s = nb_expr_shape(y);
  int64_t        n = numel(r, s), rows = s[r - 2], cols = s[r - 1];
  double        *m = malloc((size_t)n * sizeof *m);
  if (!m) return NULL;
  for (int64_t i = 0; i < n; i++) m[i] = (i / cols) % rows == ZROW || i % cols == ZCOL ? 0 : 1;
  nb_expr *c = nb_const(g, NB_F64, r, s, m);
  free(m);
  return nb_where(c, y, nb_scalar(g, 0));
}

/* (q0, x0, q1, x1, ...) -> sum over the terms of sum(P^2), P = Q X, or (drop)
 * P = Q X with a row and a column dropped */
static nb_fn *fn_qx(nb_dtype dt, const qx_term *terms, int nterms, bool drop) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[2 * NQX], *y = nb_scalar(g, 0);
  int64_t   s[NB_MAX_RANK];
  for (int k = 0; k < nterms && k < NQX; k++) {
    const qx_term *t = &terms[k];
    int            r = mat_shape(s, t->nbatch, t->d, t->d);
    in[2 * k] = named_input(g, dt, 'q', k, r, s);
    r = mat_shape(s, t->nbatch, t->d, t->n);
    in[2 * k + 1] = named_input(g, dt, 'x', k, r, s);
    nb_expr *p = nb_matmul(in[2 * k], in[2 * k + 1]);
    y = nb_add(y, SUM(nb_square(drop ? drop_row_col(g, p) : p)));
  }
  nb_fn *f = make_fn(drop ? "sum((Q X)^2), dropped" : "sum((Q X)^2)", g, 2 * nterms, in, 1, &y);
  nb_graph_free(g);
  return f;
}

/* the vjp in f32 and the grad in f64 (test_masked_products_nonfinite has the
 * other two) against the reference; the transposes they read through */
static void test_matmul_derivatives_native(void) {
  enum { NQD = 2 };
  static const char *const names[NQD] = {"vjp of sum((Q X)^2) f32", "grad of sum((Q X)^2) f64"};
  nb_fn *p[2] = {fn_qx(NB_F32, QX_TERMS, NQX, false), fn_qx(NB_F64, QX_TERMS, NQX, false)};
  nb_fn *d[NQD] = {NULL};
  if (p[0] && p[1]) {
    d[0] = nb_vjp(p[0], NULL), d[1] = nb_grad(p[1], NULL);
    for (int k = 0; k < NQD; k++) derived_ok(names[k], d[k]);
  }
  for (int k = 0; k < NQD; k++) {
    char *text = fx_emit_text(d[k], "qx");
    if (text && fx_count_of(text, SWAP_NOTE) != qx_swaps(QX_TERMS, NQX))
      FAILF("%s: %d transposes read through, want %d", names[k], fx_count_of(text, SWAP_NOTE), qx_swaps(QX_TERMS, NQX));
    for (int form = 0; text && form < 3; form++)
      if (!strstr(text, MASKED_TEXT[form])) FAILF("%s: no masked product with \"%s\"", names[k], MASKED_TEXT[form]);
    free(text);
  }
  int modes[FX_MAXBUFS];
  for (int j = 0; j < FX_MAXBUFS; j++) modes[j] = RSUM;
  for (int pass = 0; pass < 2; pass++) { /* interpreted, then native */
    if (pass) compile_all("products' derivatives", d, NQD);
    for (int k = 0; k < NQD; k++) {
      if (!d[k] || (pass && !d[k]->native)) continue;
      char what[80];
      snprintf(what, sizeof what, "%s, %s", names[k], pass ? "native" : "interpreted");
      check_fn_io(what, d[k], NULL, modes, 400u + (unsigned)k);
    }
  }
  for (int k = 0; k < NQD; k++) nb_fn_free(d[k]);
  nb_fn_free(p[0]), nb_fn_free(p[1]);
}

/* The dropped row and column of P = Q X get a zero cotangent, so the masked
 * products of the vjp must give zero terms there even where Q or X is inf or
 * NaN: of the rank-3 GMM shape (DOTS and ILJ) and of a rank-2 one of 6
 * columns (ROW, X^T made). */
static const qx_term QX_DROP[] = {{1, 10, 37}, {0, 5, 6}};
enum { NQX_DROP = sizeof QX_DROP / sizeof *QX_DROP };

/* Q[last item, ZROW, 3] and X[first item, 4, ZCOL] not finite */
static void put_nonfinite(bufs *in) {
  for (int t = 0; t < NQX_DROP; t++) {
    const qx_term *q = &QX_DROP[t];
    int64_t        items = numel(q->nbatch, MM_BATCH);
    setv(in, 2 * t, (items - 1) * q->d * q->d + ZROW * q->d + 3, t ? -INFINITY : NAN);
    setv(in, 2 * t + 1, 4 * q->n + ZCOL, t ? NAN : INFINITY);
  }
}

/* nb_call of f (a derivative of fn_qx(.., QX_DROP, .., true)) against the
 * reference, whose outputs must all be finite, on inputs with put_nonfinite */
static void check_nonfinite(const char *what, nb_fn *f, uint64_t seed) {
  bufs in, got, ref;
  memset(&in, 0, sizeof in), memset(&got, 0, sizeof got), memset(&ref, 0, sizeof ref);
  bool ok = bufs_make(&in, f, true) && bufs_make(&got, f, false) && bufs_make(&ref, f, false);
  if (ok) {
    bufs_random(&in, NULL, D_ANY, seed);
    put_nonfinite(&in);
    ok = call_fast(f, &in, &got) == NB_OK && call_ref(f, &in, &ref) == NB_OK;
  }
  if (!ok) FAILF("%s: out of memory or a call failed: %s", what, nb_errmsg());
  for (int j = 0; ok && j < ref.n; j++)
    for (int64_t k = 0; k < ref.size[j]; k++)
      if (!isfinite(getv(&ref, j, k))) {
        FAILF("%s: the reference's output %d [%lld] is %g", what, j, (long long)k, getv(&ref, j, k));
        break;
      }
  if (ok) compare_bufs(what, &got, &ref, NULL, RSUM, NULL, false);
  bufs_free(&in), bufs_free(&got), bufs_free(&ref);
}

/* the vjp in f64 and the grad in f32 */
static void test_masked_products_nonfinite(void) {
  static const char *const names[2] = {"vjp, inf and NaN dropped, f64", "grad, inf and NaN dropped, f32"};
  nb_fn *p[2] = {fn_qx(NB_F64, QX_DROP, NQX_DROP, true), fn_qx(NB_F32, QX_DROP, NQX_DROP, true)};
  nb_fn *d[2] = {NULL};
  if (p[0] && p[1]) {
    d[0] = nb_vjp(p[0], NULL), d[1] = nb_grad(p[1], NULL);
    for (int k = 0; k < 2; k++) derived_ok(names[k], d[k]);
  }
  int swaps = qx_swaps(QX_DROP, NQX_DROP);
  for (int k = 0; k < 2; k++) {
    char *text = fx_emit_text(d[k], "qx_drop");
    if (text && fx_count_of(text, SWAP_NOTE) != swaps)
      FAILF("%s: %d transposes read through, want %d", names[k], fx_count_of(text, SWAP_NOTE), swaps);
    free(text);
  }
  int modes[FX_MAXBUFS];
  for (int j = 0; j < FX_MAXBUFS; j++) modes[j] = RSUM;
  for (int pass = 0; pass < 2; pass++) { /* interpreted, then native */
    if (pass) compile_all("masked products", d, 2);
    for (int k = 0; k < 2; k++) {
      if (!d[k] || (pass && !d[k]->native)) continue;
      char what[80];
      snprintf(what, sizeof what, "%s, %s", names[k], pass ? "native" : "interpreted");
      check_nonfinite(what, d[k], 500u + (unsigned)k);
      check_fn_io(what, d[k], NULL, modes, 510u + (unsigned)k);
    }
  }
  for (int k = 0; k < 2; k++) nb_fn_free(d[k]);
  nb_fn_free(p[0]), nb_fn_free(p[1]);
}

/* ---- reductions that keep the operand's last axis ---------------------------------
 * The operand is walked in its own order, each element folded into its output
 * element; the innermost loop carries omp simd when its steps write distinct
 * output elements, and must not when they all fold into one (a kept last axis
 * of length 1). A reduction of a fused group's member does the same from the
 * group's blocks, as a sink. */
enum { RA_A, RA_S, RA_U, RA_C, RA_CS, RA_W, RA_V, NRA };
static const struct {
  const char *name;
  int         rank;
  int64_t     shape[4];
  int         dom;
} RA_IN[NRA] = {{"a", 3, {3, 6, 7}, D_ANY},      {"s", 3, {3, 6, 7}, D_SPEC},
                {"u", 3, {3, 6, 7}, D_UNIT},     {"c", 3, {4, 6, 1}, D_ANY},
                {"cs", 3, {5, 23, 1}, D_SPEC},   {"w", 4, {2, 5, 1, 3}, D_ANY},
                {"v", 2, {6, 7}, D_ANY}}; /* s: inf, -inf and NaN; cs: NaN in row 4 */

typedef nb_expr *(*reduce_fn)(nb_expr *, int, const int *, bool);
static nb_expr *sum_of_exp(nb_expr *x, int naxes, const int *axes, bool keep) {
  return nb_sum(nb_exp(x), naxes, axes, keep);
}

typedef struct ra_case {
  const char *what;
  reduce_fn   op;
  int         in, naxes, axes[2];
  bool        keep;
  int         mode, simd; /* omp simd loops in the function of this case alone */
} ra_case;

static const ra_case RA_CASES[] = {
    {"sum over the middle axis", nb_sum, RA_A, 1, {1}, false, RSUM, 1},
    {"sum over the first axis, kept", nb_sum, RA_A, 1, {0}, true, RSUM, 1},
    {"sum over the first two axes", nb_sum, RA_A, 2, {0, 1}, false, RSUM, 1},
    {"sum over a matrix's rows", nb_sum, RA_V, 1, {0}, false, RSUM, 1},
    {"sum over the middle axis, inf and NaN", nb_sum, RA_S, 1, {1}, false, RSUM, 1},
    {"max over the middle axis, inf and NaN", nb_max, RA_S, 1, {1}, false, EXACT, 1},
    {"max over the first two axes, kept", nb_max, RA_A, 2, {0, 1}, true, EXACT, 1},
    {"prod over the middle axis", nb_prod, RA_U, 1, {1}, false, RSUM, 1},
    {"sum over axis 1 of [2,5,1,3]", nb_sum, RA_W, 1, {1}, false, RSUM, 1},
    {"prod over axes 0 and 2 of [2,5,1,3]", nb_prod, RA_W, 2, {0, 2}, false, RSUM, 1},
    {"sum of exp over the middle axis", sum_of_exp, RA_A, 1, {1}, false, RSUM, 2},
    /* a kept last axis of length 1: every innermost step folds into one element */
    {"sum over the middle axis, last axis 1", nb_sum, RA_C, 1, {1}, false, RSUM, 0},
    {"max over the middle axis, last axis 1, kept", nb_max, RA_CS, 1, {1}, true, EXACT, 0},
    {"prod over the middle axis, last axis 1", nb_prod, RA_C, 1, {1}, false, RSUM, 0},
    {"sum over the first two axes, last axis 1", nb_sum, RA_C, 2, {0, 1}, false, RSUM, 0},
};
enum { NRC = sizeof RA_CASES / sizeof *RA_CASES };

/* the cases [first, first + count) of dtype dt, their modes in modes */
static nb_fn *fn_ra(nb_dtype dt, int first, int count, int *modes) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[NRA], *o[NRC];
  for (int i = 0; i < NRA; i++) in[i] = nb_input(g, RA_IN[i].name, dt, RA_IN[i].rank, RA_IN[i].shape);
  for (int c = first; c < first + count; c++) {
    const ra_case *r = &RA_CASES[c];
    modes[c - first] = r->mode;
    o[c - first] = r->op(in[r->in], r->naxes, r->axes, r->keep);
  }
  nb_fn *f = make_fn(count == 1 ? RA_CASES[first].what : "reductions", g, NRA, in, count, o);
  nb_graph_free(g);
  return f;
}

static void test_reduce_along_native(void) {
  int modes[NRC], doms[NRA];
  for (int c = 0; c < NRC; c++) { /* alone: omp simd where the steps write distinct outputs */
    nb_fn *f = fn_ra(NB_F64, c, 1, modes);
    char  *text = fx_emit_text(f, "ra");
    /* exp(a) is a fused group: the sum joins it as a sink, folding exp's blocks */
    const char *along = RA_CASES[c].op == sum_of_exp ? "double *a = (double *)(ws + " : " *acc = &v";
    if (text && !strstr(text, along)) FAILF("%s: not written along the operand", RA_CASES[c].what);
    if (text && fx_count_of(text, "  NB_SIMD\n") != RA_CASES[c].simd)
      FAILF("%s: %d omp simd loops, want %d", RA_CASES[c].what, fx_count_of(text, "  NB_SIMD\n"), RA_CASES[c].simd);
    free(text);
    nb_fn_free(f);
  }
  nb_fn *f[2] = {fn_ra(NB_F64, 0, NRC, modes), fn_ra(NB_F32, 0, NRC, modes)};
  compile_all("reductions", f, 2);
  for (int i = 0; i < NRA; i++) doms[i] = RA_IN[i].dom;
  for (int d = 0; d < 2; d++)
    if (f[d] && f[d]->native)
      check_fn_io(d ? "reductions f32" : "reductions f64", f[d], doms, modes, 600u + (unsigned)d);
  nb_fn_free(f[0]);
  nb_fn_free(f[1]);
}

/* ---- broadcasts inside fused loops -------------------------------------------------
 * A broadcast fused into a group (plan.c: its operand read in affine runs of at
 * least 64 elements) is read in the group's loop at o<m> + (i - r0) * stride,
 * the loop cut into rows [r0, r1) at every multiple of each broadcast's run
 * (emit/c_fused.c, open_rows): in plain loops, in loops split into blocks of
 * NB__BLOCK (sin and cos of one value in one group), and in loops of at least
 * NB__PARALLEL_MIN elements that become functions of a range [lo, hi) run on
 * threads, where lo falls inside a run. The cases of test_exec (FX_BCASES and
 * the others in fixture.c) alone in the text; all in one function per dtype
 * natively, on the thread pool and on the calling thread alone; the gradient
 * of an MLP layer (a bias added by broadcast). */
enum { BP_RUNS = FX_NBCASES, BP_LARGE, BP_BLOCKED, BP_BLOCKED_LARGE, BP_OUTSIDE, NBP };

static const char ROWS_TEXT[] = "for (int64_t r0 = "; /* a loop cut into rows */
static const char CUT_TEXT[] = "  if (r1 > (r0 / ";   /* a row ends at a multiple of a run */
static const char BLOCK_ROWS_TEXT[] = "for (int64_t r0 = i0, r1; r0 < i0 + len; r0 = r1)";
static const char RANGE_ROWS_TEXT[] = "for (int64_t r0 = lo, r1; r0 < hi; r0 = r1)";
static const char GUARD_NOTE[] = "read by the loops below through a guard";

/* The blocked piece: x [r,c], b1 [c], b2 [r]: sin(v) cos(v) (B2 + x) with v = x B1
 * (B1 = b1 in rows, B2 = b2 in columns): its loop is split into blocks between
 * the sin and the cos, B1 read in the first part, B2 in the second */
static const fx_bcase BL[2][2] = {
    {{"[150] -> [7,150]", 1, 2, {150}, {7, 150}, {1}, 2, {7, 150}, {0, 1}, true},
     {"[7] -> [7,150]", 1, 2, {7}, {7, 150}, {0}, 2, {7, 150}, {1, 0}, true}},
    {{"[600] -> [451,600]", 1, 2, {600}, {451, 600}, {1}, 2, {451, 600}, {0, 1}, true},
     {"[451] -> [451,600]", 1, 2, {451}, {451, 600}, {0}, 2, {451, 600}, {1, 0}, true}},
};
_Static_assert(451 * 600 >= NB__PARALLEL_MIN && (451 * 600 + 1) / 2 % 600 != 0, "a run straddles the split");
static const char *const BP_NAMES[NBP - FX_NBCASES] = {"several runs", "large", "blocked", "large blocked",
                                                       "read outside"};

/* piece k: inputs appended to in, outputs to O */
static void bc_put(nb_graph *g, nb_dtype dt, int k, nb_expr **in, int *nin, outs *O) {
  nb_expr *o[16];
  int      no = 0;
  if (k < FX_NBCASES) fx_bcase_put(g, dt, &FX_BCASES[k], k % 2, in, nin, o, &no);
  if (k == BP_RUNS) fx_runs_put(g, dt, FX_RUNS, FX_NRUNS, FX_RUNS_N, in, nin, o, &no);
  if (k == BP_LARGE) fx_runs_put(g, dt, FX_LARGE, FX_NLARGE, FX_LARGE_N, in, nin, o, &no);
  for (int j = 0; j < no; j++) put(O, EXACT, o[j]);
  if (k == BP_BLOCKED || k == BP_BLOCKED_LARGE) {
    const fx_bcase *c = BL[k == BP_BLOCKED_LARGE];
    nb_expr        *x = in[(*nin)++] = nb_input(g, "x", dt, 2, c[0].shape);
    nb_expr        *b1 = in[(*nin)++] = nb_input(g, "b1", dt, 1, c[0].x);
    nb_expr        *b2 = in[(*nin)++] = nb_input(g, "b2", dt, 1, c[1].x);
    nb_expr        *v = nb_mul(x, fx_broadcast_in_dim(b1, 2, c[0].shape, c[0].dims));
    nb_expr        *sc = nb_mul(nb_sin(v), nb_cos(v));
    put(O, VM, nb_mul(sc, nb_add(fx_broadcast_in_dim(b2, 2, c[1].shape, c[1].dims), x)));
  }
  if (k == BP_OUTSIDE) {
    nb_expr *o2[16];
    int      m2[16], n2 = 0;
    fx_outside_put(g, dt, true, in, nin, o2, m2, &n2);
    for (int j = 0; j < n2; j++) put(O, m2[j], o2[j]);
  }
}

/* pieces [first, first + count) in one function */
static nb_fn *fn_bc(nb_dtype dt, int first, int count, outs *O) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[FX_MAXBUFS];
  int       nin = 0;
  memset(O, 0, sizeof *O);
  for (int k = first; k < first + count; k++) bc_put(g, dt, k, in, &nin, O);
  char what[96];
  snprintf(what, sizeof what, "broadcast pieces [%d, %d) %s", first, first + count, dtname(dt));
  nb_fn *f = make_fn(what, g, nin, in, O->n, O->o);
  nb_graph_free(g);
  return f;
}

/* each piece alone: rows where a broadcast is fused, cut at its runs, and
 * none where it is not */
static void test_broadcast_rows_text(void) {
  for (int k = 0; k < NBP; k++) {
    outs           O;
    nb_fn         *f = fn_bc(NB_F64, k, 1, &O);
    char          *text = fx_emit_text(f, "bc");
    const fx_bcase *c = k < FX_NBCASES ? &FX_BCASES[k] : NULL;
    const char    *what = c ? c->what : BP_NAMES[k - FX_NBCASES];
    char           cut[96];
    if (!text) {
      nb_fn_free(f);
      continue;
    }
    int rows = fx_count_of(text, ROWS_TEXT), cuts = fx_count_of(text, CUT_TEXT);
    if (c) {
      check_bcase(what, f, c);
      int64_t run = c->ext[c->nlev - 1];
      snprintf(cut, sizeof cut, "%s%lld + 1) * %lld) ", CUT_TEXT, (long long)run, (long long)run);
      if (rows != (c->fused ? 1 : 0)) FAILF("%s: %d loops cut into rows, want %d", what, rows, c->fused ? 1 : 0);
      if (cuts != (c->fused && c->nlev > 1)) FAILF("%s: %d cuts, want %d", what, cuts, c->fused && c->nlev > 1);
      if (c->fused && c->nlev > 1 && !strstr(text, cut)) FAILF("%s: no row ends at multiples of %lld", what, (long long)run);
    }
    /* runs of 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536 and 2048 (a run
       of the whole size cuts nothing) */
    if (k == BP_RUNS && (rows != 1 || cuts != 11))
      FAILF("%s: %d loops cut into rows at %d runs, want 1 and 11", what, rows, cuts);
    bool fns = strstr(text, "NB_RUN(bc_loop0, ") != NULL; /* a loop is a function of its range */
    if (k == BP_LARGE && (!fns || fx_count_of(text, RANGE_ROWS_TEXT) != 1 || cuts != 2))
      FAILF("%s: %d loops of a range cut into rows at %d runs, want 1 and 2", what, fx_count_of(text, RANGE_ROWS_TEXT), cuts);
    if (k == BP_BLOCKED && (fns || fx_count_of(text, BLOCK_ROWS_TEXT) != 2))
      FAILF("%s: %d parts of blocks cut into rows, want 2", what, fx_count_of(text, BLOCK_ROWS_TEXT));
    if (k == BP_BLOCKED_LARGE && (!fns || fx_count_of(text, BLOCK_ROWS_TEXT) != 2))
      FAILF("%s: %d parts of blocks cut into rows in a function of a range, want 2", what,
            fx_count_of(text, BLOCK_ROWS_TEXT));
    /* the pad a broadcast reads is made, the other is read through a guard by
     * loops cut at its edges (40 and 104), and in rows at multiples of 64 */
    if (k == BP_OUTSIDE && (fx_count_of(text, "/* pad */\n") != 1 || fx_count_of(text, GUARD_NOTE) != 1 ||
                            !strstr(text, "for (int64_t r0 = 40, r1; r0 < 104; r0 = r1)")))
      FAILF("%s: %d pads made, %d read through a guard, want 1 and 1, in rows between the edges", what,
            fx_count_of(text, "/* pad */\n"), fx_count_of(text, GUARD_NOTE));
    free(text);
    nb_fn_free(f);
  }
}

/* f's native code on the calling thread alone (no parallel runner: its
 * large loops run whole) against the reference */
static void check_serial(const char *what, nb_fn *f, const int *modes, int dom, uint64_t seed) {
  if (!f || !f->native) return;
  bufs    in, out, ref;
  int64_t wb = nb_fn_workspace_bytes(f);
  void   *ws = wb >= 0 ? aligned_alloc(64, ((size_t)wb + 64) / 64 * 64) : NULL;
  memset(&in, 0, sizeof in), memset(&out, 0, sizeof out), memset(&ref, 0, sizeof ref);
  if (ws && bufs_make(&in, f, true) && bufs_make(&out, f, false) && bufs_make(&ref, f, false)) {
    bufs_random(&in, NULL, dom, seed);
    CHECK(f->native((const void *const *)in.p, out.p, ws, NULL, NULL) == 0);
    CHECK(call_ref(f, &in, &ref) == NB_OK);
    compare_bufs(what, &out, &ref, modes, EXACT, NULL, false);
  } else {
    FAILF("%s: out of memory", what);
  }
  free(ws);
  bufs_free(&in), bufs_free(&out), bufs_free(&ref);
}

static void test_broadcast_native(void) {
  static const int wrt[2] = {1, 2};
  const nb_diff_opts wb = {2, wrt, 0};
  outs               O[2];
  nb_fn             *l = fx_mlp_layer(NB_F64);
  nb_fn *f[3] = {fn_bc(NB_F64, 0, NBP, &O[0]), fn_bc(NB_F32, 0, NBP, &O[1]), l ? nb_grad(l, &wb) : NULL};
  static const char *const names[3] = {"broadcasts f64", "broadcasts f32", "grad of an MLP layer f64"};
  int rsum[FX_MAXBUFS];
  for (int j = 0; j < FX_MAXBUFS; j++) rsum[j] = RSUM;
  if (l && derived_ok(names[2], f[2])) {
    char *text = fx_emit_text(f[2], "mlp");
    if (text && !strstr(text, ROWS_TEXT)) FAILF("%s: no loop cut into rows (the bias)", names[2]);
    free(text);
  }
  compile_all("broadcasts", f, 3);
  for (int k = 0; k < 3; k++) {
    if (!f[k] || !f[k]->native) continue;
    const int *modes = k < 2 ? O[k].mode : rsum;
    int        dom = k < 2 ? D_ANY : D_UNIT;
    for (int c = 0; k < 2 && c < FX_NBCASES; c++) check_bcase(names[k], f[k], &FX_BCASES[c]);
    check_fn_(__FILE__, __LINE__, names[k], f[k], NULL, dom, modes, EXACT, 700u + (unsigned)k);
    check_serial(names[k], f[k], modes, dom, 710u + (unsigned)k);
    if (k == 2) {
      bufs in;
      if (bufs_make(&in, f[k], true)) {
        bufs_random(&in, NULL, D_UNIT, 720u);
        if (fx_mlp_fd_check(l, f[k], &in)) FAILF("%s: gradient and central differences differ", names[k]);
      }
      bufs_free(&in);
    }
  }
  for (int k = 0; k < 3; k++) nb_fn_free(f[k]);
  nb_fn_free(l);
}

/* ---- reductions to one element as sinks of fused groups ---------------------------
 * A sink (exec.h) whose operand cannot be recomputed from the inputs (it reads
 * a slice of step 2, a reversal, a transpose, a broadcast) is written in the
 * group's blocked form: a loop over blocks bk (NB_RUN over blocks from
 * NB__PARALLEL_MIN elements), the operand kept in a block array b<id>[512],
 * each block's partial stored in the workspace at the group's partials (one
 * row of blocks per sink, in member order), then the partials folded in block
 * order (emit/c_fused.c put_blocks, put_sinks; c_nests.c nb__c_sink_block,
 * nb__c_sink_fold); one whose operand can be recomputed (sum(sin x) of an
 * input) recomputes it in a loop of its own. In the text case by case (the
 * offsets of the partials against the plan's), and natively in one function
 * per dtype: every reduction of both kinds, several sinks of one group, mixed
 * with recomputed ones, readers of sinks, a broadcast, a pad and a transpose
 * read in the group, NaN, inf and signed zeros in late blocks, split over
 * threads and on the calling thread alone; sums and products RSUM, max and
 * min of exact operands exact. */

static const char SINK_LOOP[] = "for (int64_t bk = lo; bk < hi; bk++)";

/* a pad of x along axis 0 (lo zeros before, hi after) */
static nb_expr *sink_pad(nb_expr *x, int64_t lo, int64_t hi) {
  if (!x) return NULL;
  nb__node n = {.op = NB_OP_PAD, .p.i = {0, lo, hi, 0}};
  return nb__emit("sink_pad", NULL, &n, 1, &x);
}

/* the n elements of w [2n] of even index: a slice of step 2, never recomputed */
static nb_expr *evens(nb_expr *w) { return nb_slice(w, 0, 0, nb_expr_shape(w)[0], 2); }
static nb_expr *sin_cos(nb_expr *u) { return nb_mul(nb_sin(u), nb_cos(u)); }

enum { SN_N = 5000, SN_LARGE = 300000, SN_ROWS = 4700 };
_Static_assert((long)SN_LARGE >= (long)NB__PARALLEL_MIN && (long)SN_ROWS * 64 >= (long)NB__PARALLEL_MIN,
               "split over threads");
/* the inputs of fn_sink_native: the three exact chains' operands get the
 * special values of sn_special */
enum { SN_X, SN_Y, SN_W, SN_V, SN_XT, SN_XB, SN_B, SN_WL, SN_P, SN_Z1, SN_Z2, SN_Z3, SN_W2, SN_Z4, NSN_IN };

/* the outputs of the exact chains q_k = -(z_k[::2]) */
typedef struct sn_outs {
  outs O;
  int  q[3];   /* sum, max, prod of each exact chain from here */
  int  qmin[3]; /* their min */
  int  cols;   /* the max over axis 0 of q4 = -(z4[:, ::2]) [100,50] */
} sn_outs;

static nb_fn *fn_sink_native(nb_dtype dt, sn_outs *S) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[NSN_IN];
  int64_t   n = SN_N, n2 = 2 * SN_N, l2 = 2 * (int64_t)SN_LARGE, nt = SN_N + 3;
  in[SN_X] = nb_input(g, "x", dt, 1, &nt); /* a group of its own (test_sink_split_recomputed) */
  in[SN_Y] = nb_input(g, "y", dt, 1, &nt);
  in[SN_W] = nb_input(g, "w", dt, 1, &n2);
  in[SN_V] = nb_input(g, "v", dt, 1, &n);
  in[SN_XT] = nb_input(g, "xt", dt, 2, (int64_t[]){64, 80});
  in[SN_XB] = nb_input(g, "xb", dt, 2, (int64_t[]){SN_ROWS, 64});
  in[SN_B] = nb_input(g, "b", dt, 1, (int64_t[]){64});
  in[SN_WL] = nb_input(g, "wl", dt, 1, &l2);
  in[SN_P] = nb_input(g, "p", dt, 1, (int64_t[]){SN_N - 96});
  in[SN_Z1] = nb_input(g, "z1", dt, 1, &n2);
  in[SN_Z2] = nb_input(g, "z2", dt, 1, &n2);
  in[SN_Z3] = nb_input(g, "z3", dt, 1, &n2);
  in[SN_W2] = nb_input(g, "w2", dt, 2, (int64_t[]){100, 100});
  in[SN_Z4] = nb_input(g, "z4", dt, 2, (int64_t[]){100, 100});
  outs *O = &S->O;
  memset(S, 0, sizeof *S);
  nb_expr *t = nb_adds(nb_mul(nb_sin(in[SN_X]), in[SN_Y]), 0.5); /* recomputed */
  /* the chains of SN_N elements, one group: */
  nb_expr *u = evens(in[SN_W]), *sc = sin_cos(u);                                    /* blocks */
  nb_expr *r = nb_slice(in[SN_V], 0, -1, INT64_MIN, -1), *sr = sin_cos(r);           /* reversed */
  nb_expr *pw = nb_add(sc, nb_mul(sink_pad(in[SN_P], 32, 64), u));                   /* a pad */
  nb_expr *q[3];
  for (int k = 0; k < 3; k++) q[k] = nb_neg(evens(in[SN_Z1 + k])); /* exact */
  /* [100,50] (SN_N elements too): reductions over one axis, accumulators */
  nb_expr *sc2 = sin_cos(nb_slice(in[SN_W2], 1, 0, 100, 2)), *q4 = nb_neg(nb_slice(in[SN_Z4], 1, 0, 100, 2));
  /* sinks, in an order that keeps the group open (readers of sinks last) */
  put(O, RSUM, nb_sum(t, 0, NULL, false));
  put(O, VM, nb_max(t, 0, NULL, false));
  put(O, RSUM, nb_prod(nb_adds(nb_muls(t, 0.01), 0.995), 0, NULL, false));
  put(O, RSUM, nb_sum(sc, 0, NULL, false));
  put(O, VM, nb_max(sc, 0, NULL, false));
  put(O, RSUM, nb_prod(nb_adds(nb_muls(sc, 0.01), 1), 0, NULL, false));
  put(O, VM, nb_muls(sc, 2)); /* a member output next to the sinks */
  put(O, RSUM, nb_sum(sr, 0, NULL, false));
  put(O, VM, nb_max(sr, 0, NULL, false));
  put(O, RSUM, nb_sum(pw, 0, NULL, false));
  put(O, VM, nb_max(pw, 0, NULL, false));
  for (int k = 0; k < 3; k++) {
    S->q[k] = O->n;
    put(O, RSUM, nb_sum(q[k], 0, NULL, false));
    put(O, EXACT, nb_max(q[k], 0, NULL, false));
    put(O, RSUM, nb_prod(q[k], 0, NULL, false));
  }
  put(O, RSUM, nb_sum(sc2, 1, (int[]){1}, false));
  put(O, VM, nb_max(sc2, 1, (int[]){0}, false));
  S->cols = O->n;
  put(O, EXACT, nb_max(q4, 1, (int[]){0}, false));
  put(O, RSUM, nb_sum(q4, 1, (int[]){1}, false));
  put(O, RSUM, nb_prod(q4, 1, (int[]){0}, false));
  /* what reads sinks: min (a negation of a max), mean (a division of a sum) */
  for (int k = 0; k < 3; k++) S->qmin[k] = O->n, put(O, EXACT, nb_min(q[k], 0, NULL, false));
  put(O, RSUM, nb_mean(t, 0, NULL, false));
  put(O, VM, nb_min(sc, 0, NULL, false));
  put(O, RSUM, nb_mean(sr, 0, NULL, false));
  put(O, RSUM, nb_div(sc, nb_sum(sc, 0, NULL, false))); /* x / sum(x) */
  nb_expr *e = nb_exp(nb_sub(sc, nb_max(sc, 0, NULL, false)));
  put(O, RSUM, nb_div(e, nb_sum(e, 0, NULL, false))); /* softmax-like */
  /* a transpose read in a group of 5120 */
  nb_expr *st = sin_cos(nb_transpose(in[SN_XT], NULL));
  put(O, RSUM, nb_sum(st, 0, NULL, false));
  put(O, VM, nb_min(st, 0, NULL, false));
  /* split over threads: a [4700,64] chain reading a broadcast [64] bias (exact),
   * sin cos of a slice of step 2 */
  nb_expr *tb = nb_add(nb_mul(in[SN_XB], fx_broadcast_in_dim(in[SN_B], 2, (int64_t[]){SN_ROWS, 64}, (int[]){1})),
                       in[SN_XB]);
  put(O, RSUM, nb_sum(tb, 0, NULL, false));
  put(O, EXACT, nb_max(tb, 0, NULL, false));
  put(O, RSUM, nb_sum(tb, 1, (int[]){0}, false)); /* no sink: the group is split over threads */
  nb_expr *scl = sin_cos(evens(in[SN_WL]));
  put(O, RSUM, nb_sum(scl, 0, NULL, false));
  put(O, VM, nb_max(scl, 0, NULL, false));
  put(O, RSUM, nb_prod(nb_adds(nb_muls(scl, 0.01), 1), 0, NULL, false));
  put(O, RSUM, nb_mean(scl, 0, NULL, false));
  char what[32];
  snprintf(what, sizeof what, "sinks %s", dtname(dt));
  nb_fn *f = make_fn(what, g, NSN_IN, in, O->n, O->o);
  nb_graph_free(g);
  return f;
}

/* special values in z1, z2, z3 (q_k = -z_k[::2], element i at 2i): NaN in the
 * last block after 1e30 in the first (q1: max and min NaN); all positive with
 * -0 then +0 in later blocks (q2: max -0 first, then +0 ties in one block);
 * 1e30 twice in each of the first 6 blocks, then a 0 in the last (q3: prod
 * +inf, then inf * 0 = NaN in block order) */
static void sn_special(bufs *in) {
  uint64_t s = 77;
  int64_t  last = (SN_N - 1) / NB__BLOCK * NB__BLOCK;
  for (int64_t i = 0; i < 2 * SN_N; i++) {
    setv(in, SN_Z1, i, -1 + 2 * unif(&s));
    setv(in, SN_Z2, i, 0.5 + 1.5 * unif(&s)); /* q2 = -z2 < 0 */
    setv(in, SN_Z3, i, -1.0);                 /* q3 = 1 */
  }
  setv(in, SN_Z1, 2 * 3, -1e30), setv(in, SN_Z1, 2 * (SN_N - 2), NAN);
  setv(in, SN_Z2, 2 * (NB__BLOCK + 5), 0.0), setv(in, SN_Z2, 2 * (3 * NB__BLOCK + 1), -0.0);
  setv(in, SN_Z2, 2 * (3 * NB__BLOCK + 2), 0.0);
  for (int b = 0; b < 6; b++) setv(in, SN_Z3, 2 * (b * NB__BLOCK + 1), -1e30), setv(in, SN_Z3, 2 * (b * NB__BLOCK + 300), -1e30);
  setv(in, SN_Z3, 2 * (last + 3), 0.0);
  /* q4[r][c] = -z4[r][2c]: negative; column 3: -0 in row 1 (block 0), +0 in
   * row 30 (block 2); column 5: 1e30 in row 0, NaN in row 90 (block 8) */
  for (int64_t i = 0; i < 100 * 100; i++) setv(in, SN_Z4, i, 0.5 + 1.5 * unif(&s));
  setv(in, SN_Z4, 1 * 100 + 6, 0.0), setv(in, SN_Z4, 30 * 100 + 6, -0.0);
  setv(in, SN_Z4, 0 * 100 + 10, -1e30), setv(in, SN_Z4, 90 * 100 + 10, NAN);
}

/* f's values with sn_special against the reference, and what block order gives */
static void check_sn_special(const char *what, nb_fn *f, const sn_outs *S) {
  bufs in, got, ref;
  memset(&in, 0, sizeof in), memset(&got, 0, sizeof got), memset(&ref, 0, sizeof ref);
  bool ok = f && bufs_make(&in, f, true) && bufs_make(&got, f, false) && bufs_make(&ref, f, false);
  if (ok) {
    bufs_random(&in, NULL, D_ANY, 820u);
    sn_special(&in);
    ok = call_fast(f, &in, &got) == NB_OK && call_ref(f, &in, &ref) == NB_OK;
  }
  if (!ok) {
    FAILF("%s: out of memory or a call failed: %s", what, nb_errmsg());
  } else {
    compare_bufs(what, &got, &ref, S->O.mode, RSUM, NULL, false);
    const int *q = S->q; /* sum, max, prod of each */
    double     mx2 = getv(&got, q[1] + 1, 0);
    if (!isnan(getv(&got, q[0] + 1, 0)) || !isnan(getv(&got, S->qmin[0], 0)) || !isnan(getv(&got, q[0], 0)))
      FAILF("%s: NaN after 1e30: max %g, min %g, sum %g", what, getv(&got, q[0] + 1, 0), getv(&got, S->qmin[0], 0),
            getv(&got, q[0], 0));
    if (mx2 != 0 || !signbit(mx2)) FAILF("%s: max of -0 (first) and +0 is %g (sign %d)", what, mx2, signbit(mx2) != 0);
    if (getv(&got, q[2] + 2, 0) == getv(&got, q[2] + 2, 0))
      FAILF("%s: prod overflowing, then 0: %g, want NaN", what, getv(&got, q[2] + 2, 0));
    double c3 = getv(&got, S->cols, 3), c5 = getv(&got, S->cols, 5);
    if (c3 != 0 || !signbit(c3) || !isnan(c5) || !isnan(getv(&got, S->cols + 1, 90)))
      FAILF("%s: columns: max of -0 then +0 is %g (sign %d), of 1e30 then NaN %g; the row with NaN sums to %g", what,
            c3, signbit(c3) != 0, c5, getv(&got, S->cols + 1, 90));
  }
  bufs_free(&in), bufs_free(&got), bufs_free(&ref);
}

/* the groups of f with block sinks: the first one of size `size` */
static const nb__group *sink_group_of_size(nb_fn *f, int64_t size) {
  if (!f || nb_fn_workspace_bytes(f) < 0) return NULL;
  for (int32_t s = 0; s < f->plan->nsteps; s++) {
    int32_t g = f->plan->steps[s].group;
    if (g >= 0 && f->plan->groups[g].nsink && f->plan->groups[g].size == size) return &f->plan->groups[g];
  }
  return NULL;
}

/* text: a group of sinks of sin(u) cos(u) (u a slice of step 2, a reversal, a
 * transpose), of n elements: block loop, block array, partials at the plan's
 * offsets, folds; sum(sin x) of an input recomputes sin x; sin cos of u as
 * [n/64,64] summed over axis 1 (trailing) and maxed over axis 0 (kept inner
 * axis): accumulators at the plan's offsets below NB__PARALLEL_MIN, no sinks
 * above */
enum { SKT_SLICE, SKT_REV, SKT_TRANSPOSE, SKT_RECOMPUTED, SKT_ROWS, NSKT };
static nb_fn *fn_sink_text(int kind, int64_t n) {
  nb_graph *g = nb_graph_new();
  int64_t   n2 = 2 * n;
  nb_expr  *x = kind == SKT_SLICE || kind == SKT_ROWS ? nb_input(g, "w", NB_F64, 1, &n2)
                : kind == SKT_TRANSPOSE               ? nb_input(g, "xt", NB_F64, 2, (int64_t[]){n / 64, 64})
                                                      : nb_input(g, "x", NB_F64, 1, &n);
  nb_expr  *u = kind == SKT_SLICE || kind == SKT_ROWS ? evens(x)
                : kind == SKT_REV                     ? nb_slice(x, 0, -1, INT64_MIN, -1)
                : kind == SKT_TRANSPOSE               ? nb_reshape(nb_transpose(x, NULL), 1, &n)
                                                      : x;
  nb_expr  *o[2];
  int       no = 2;
  if (kind == SKT_RECOMPUTED) {
    o[0] = nb_sum(nb_sin(u), 0, NULL, false), no = 1;
  } else if (kind == SKT_ROWS) {
    nb_expr *sc = sin_cos(nb_reshape(u, 2, (int64_t[]){n / 64, 64}));
    o[0] = nb_sum(sc, 1, (int[]){1}, false), o[1] = nb_max(sc, 1, (int[]){0}, false);
  } else {
    nb_expr *sc = sin_cos(u);
    o[0] = nb_sum(sc, 0, NULL, false), o[1] = nb_max(sc, 0, NULL, false);
  }
  nb_fn *f = make_fn("sink text", g, 1, &x, no, o);
  nb_graph_free(g);
  return f;
}

static void test_sink_text(void) {
  static const char *const names[NSKT] = {"sum and max of sin cos of a slice of step 2", "the same of a reversal",
                                          "the same of a transpose", "sum(sin x) of an input",
                                          "sum over axis 1 and max over axis 0 of sin cos"};
  static const int64_t sizes[2] = {81 * 64, 4690 * 64}; /* not whole blocks */
  for (int kind = 0; kind < NSKT; kind++)
    for (int s = 0; s < 2; s++) {
      int64_t n = sizes[s], blocks = nb__blocks(n);
      bool    large = n >= NB__PARALLEL_MIN;
      char    what[128], want[200];
      snprintf(what, sizeof what, "%s, n=%lld", names[kind], (long long)n);
      nb_fn *f = fn_sink_text(kind, n);
      char  *text = fx_emit_text(f, "sk");
      if (!text) {
        nb_fn_free(f);
        continue;
      }
      const nb__group *gr = sink_group_of_size(f, n);
      int  loops = fx_count_of(text, SINK_LOOP), runs = fx_count_of(text, "NB_RUN(sk_loop");
      int  bk_partials = fx_count_of(text, "))[bk] = acc;"), rows = fx_count_of(text, "  double *a = (double *)(ws + ");
      snprintf(want, sizeof want, "for (int64_t bk = 0; bk < %lld; bk++) {\n", (long long)blocks);
      int folds = fx_count_of(text, want);
      /* the operand's block array: sin cos's product */
      int32_t m = -1;
      for (int32_t i = 0; i < f->nnodes; i++)
        if (f->nodes[i].n.op == NB_OP_REDUCE_SUM) m = f->nodes[i].src[0];
      if (kind < SKT_RECOMPUTED) {
        if (!gr || gr->nsink != 2) FAILF("%s: no group of 2 sinks", what);
        if (loops != 1 || folds != 2 || bk_partials != 2 || rows)
          FAILF("%s: %d block loops, %d folds of %lld partials, %d partials stored, %d folds into accumulators; want "
                "1, 2, 2, 0", what, loops, folds, (long long)blocks, bk_partials, rows);
        if (runs != large) FAILF("%s: %d loops run on threads, want %d", what, runs, large);
        for (int k = 0; gr && k < 2; k++) { /* the sum's row, then the max's */
          int64_t at = gr->partials + k * blocks * 8;
          snprintf(want, sizeof want, "((double *)(ws + %lld))[bk] = acc;", (long long)at);
          if (!strstr(text, want)) FAILF("%s: no partial stored at %lld (sink %d)", what, (long long)at, k);
          snprintf(want, sizeof want, "const double v = ((const double *)(ws + %lld))[bk];", (long long)at);
          if (!strstr(text, want)) FAILF("%s: no fold of the partials at %lld (sink %d)", what, (long long)at, k);
        }
        snprintf(want, sizeof want, "    double b%d[%d];\n", m, NB__BLOCK);
        if (m < 0 || !strstr(text, want)) FAILF("%s: the operand's block array b%d is missing", what, m);
        if (m >= 0 && f->plan->home[m].kind != NB__HOME_TEMP) FAILF("%s: the operand is stored whole", what);
      } else if (kind == SKT_RECOMPUTED) {
        /* no block loop, no partials: sin x recomputed in the sum's loop */
        if (loops || strstr(text, "bk") || rows || !gr || !strstr(text, "for (int64_t q = 0; q < 1; q++)") ||
            !strstr(text, "acc += v;"))
          FAILF("%s: sin x is not recomputed in the sum's loop (%d block loops; a sink in the plan: %d)", what, loops,
                gr != NULL);
      } else if (large) { /* too large for accumulators: no sinks, no block arrays */
        if (gr || bk_partials || rows) FAILF("%s: %d partials stored, %d folds into accumulators, want none", what,
                                             bk_partials, rows);
      } else { /* accumulators: n/64 for the sum, then 64 for the max */
        if (!gr || gr->nsink != 2 || bk_partials || folds || rows != 2 || loops != 1)
          FAILF("%s: %d block loops, %d folds into accumulators, %d partials; want 1, 2, 0", what, loops, rows,
                bk_partials);
        for (int k = 0; gr && k < 2; k++) {
          int64_t at = gr->partials + k * (n / 64) * 8, count = k ? 64 : n / 64;
          snprintf(want, sizeof want, "  double *a = (double *)(ws + %lld) + o;\n", (long long)at);
          if (!strstr(text, want)) FAILF("%s: no fold into accumulators at %lld (sink %d)", what, (long long)at, k);
          snprintf(want, sizeof want, "  for (int64_t q = 0; q < %lld; q++) ((double *)(ws + %lld))[q] = %s;\n",
                   (long long)count, (long long)at, k ? "-INFINITY" : "0");
          if (!strstr(text, want)) FAILF("%s: the accumulators at %lld do not start at the identity", what, (long long)at);
        }
        snprintf(want, sizeof want, "    double b%d[%d];\n", m, NB__BLOCK);
        if (m < 0 || !strstr(text, want)) FAILF("%s: the operand's block array b%d is missing", what, m);
      }
      free(text);
      nb_fn_free(f);
    }
}

/* natively: fn_sink_native in both dtypes, interpreted (exact) then compiled,
 * on the pool, on the calling thread alone, with special values */
static void test_sink_native(void) {
  sn_outs S[2];
  nb_fn  *f[2] = {fn_sink_native(NB_F64, &S[0]), fn_sink_native(NB_F32, &S[1])};
  int     exact[MAXOUT];
  for (int j = 0; j < MAXOUT; j++) exact[j] = EXACT;
  for (int d = 0; d < 2; d++) {
    char what[64];
    snprintf(what, sizeof what, "sinks %s, interpreted", dtname(d ? NB_F32 : NB_F64));
    if (!f[d]) continue;
    /* groups of SN_N + 3, SN_N, 5120, SN_ROWS x 64 and SN_LARGE elements with sinks */
    static const int64_t sizes[5] = {SN_N + 3, SN_N, 5120, SN_ROWS * 64, SN_LARGE};
    for (int k = 0; k < 5; k++)
      if (!sink_group_of_size(f[d], sizes[k])) FAILF("%s: no group of %lld elements with sinks", what, (long long)sizes[k]);
    const nb__group *gr = sink_group_of_size(f[d], SN_N);
    if (gr && gr->nsink < 17) FAILF("%s: %d sinks in the group of %d, want 17 or more", what, gr->nsink, SN_N);
    /* the reductions over one axis of [100,50] are sinks of that group */
    for (int j = S[d].cols; j < S[d].cols + 3; j++) {
      int32_t g = fx_group_of(f[d], f[d]->out[j]);
      if (g < 0 || f[d]->plan->groups[g].size != SN_N) FAILF("%s: output %d is not a sink of the group of %d", what, j, SN_N);
    }
    check_fn_io(what, f[d], NULL, exact, 800u + (unsigned)d);
    check_sn_special(what, f[d], &S[d]);
  }
  compile_all("sinks", f, 2);
  for (int d = 0; d < 2; d++) {
    if (!f[d] || !f[d]->native) continue;
    char what[64];
    snprintf(what, sizeof what, "sinks %s, native", dtname(d ? NB_F32 : NB_F64));
    check_fn_io(what, f[d], NULL, S[d].O.mode, 810u + (unsigned)d);
    check_serial(what, f[d], S[d].O.mode, D_ANY, 830u + (unsigned)d);
    check_sn_special(what, f[d], &S[d]);
  }
  nb_fn_free(f[0]);
  nb_fn_free(f[1]);
}

/* A group split into blocked parts (sin and cos of a slice u) that also holds
 * sinks recomputing their operand (sum, max of t = sin(x) y + 0.5, and prod
 * of an affine map of it, x and y inputs): the recomputed sinks run after the
 * block loop, so t must not be kept in a block array the loop never fills.
 * The emitted file alone, compiled with -Wall -Wextra -Werror, against nb_call */
static void test_sink_split_recomputed(void) {
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = d ? NB_F32 : NB_F64;
    int64_t   n = SN_N, n2 = 2 * SN_N;
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", dt, 1, &n), *y = nb_input(g, "y", dt, 1, &n), *w = nb_input(g, "w", dt, 1, &n2);
    nb_expr  *t = nb_adds(nb_mul(nb_sin(x), y), 0.5), *sc = sin_cos(evens(w)), *o[5];
    o[0] = nb_sum(t, 0, NULL, false);
    o[1] = nb_max(t, 0, NULL, false);
    o[2] = nb_sum(sc, 0, NULL, false);
    o[3] = nb_max(sc, 0, NULL, false);
    o[4] = nb_prod(nb_adds(nb_muls(t, 0.01), 0.995), 0, NULL, false);
    nb_fn *f = make_fn("split group with recomputed sinks", g, 3, (nb_expr *[]){x, y, w}, 5, o);
    nb_graph_free(g);
    const nb__group *gr = sink_group_of_size(f, n);
    if (f && (!gr || gr->nsink != 5)) FAILF("split group with recomputed sinks: the five sinks are not in one group");
    static const int modes[5] = {RSUM, VM, RSUM, VM, RSUM};
    standalone(d ? "split group with recomputed sinks f32" : "split group with recomputed sinks f64", f,
               d ? "split_sinks32" : "split_sinks64", NULL, modes, 840u + (unsigned)d);
    nb_fn_free(f);
  }
}

/* ---- native calls after failures, repeated compiles, compiles in threads --------------- */

/* a small function and its expected outputs computed here in double */
static nb_fn *fn_small(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){5});
  nb_expr  *o[2] = {nb_mul(nb_sin(x), x), nb_sum(nb_square(x), 0, NULL, false)};
  nb_fn    *f = make_fn("small", g, 1, &x, 2, o);
  nb_graph_free(g);
  return f;
}

static void check_small(nb_fn *f, const char *when) {
  static const double x[5] = {0.5, -1.25, 2, 0, 3.5};
  double              y[5] = {0}, s = 0, want_s = 0;
  nb_status           st = nb_call(f, (const void *[]){x}, (void *[]){y, &s});
  if (st != NB_OK) {
    FAILF("%s: nb_call: %s", when, nb_errmsg());
    return;
  }
  for (int i = 0; i < 5; i++) {
    CHECK_NEAR(y[i], sin(x[i]) * x[i], 1e-13, 1e-15);
    want_s += x[i] * x[i];
  }
  CHECK_NEAR(s, want_s, 1e-14, 0);
}

static void test_compile_failures(void) {
  saved_env cc = save_env("NB_CC"), tmp = save_env("TMPDIR");
  char      dir[400];
  if (!tmpdir_make(dir, sizeof dir)) return;
  setenv("TMPDIR", dir, 1); /* nb_fn_compile's files go here: it must leave none */
  nb_fn *f = fn_small(), *h = fn_small();
  if (!f || !h) goto done;
  CHECK(compile_one("before NB_CC changes", h));
  nb__native_fn h_native = h->native;
  /* a compiler that does not exist, one that fails, one that makes nothing */
  static const char *const bad[3] = {"/nonexistent/cc", "false", "true"};
  for (int k = 0; k < 3; k++) {
    setenv("NB_CC", bad[k], 1);
    nb_errclear();
    nb_status st = nb_fn_compile(f);
    CHECK(st == NB_ERR_COMPILE);
    CHECK_ERR(NB_ERR_COMPILE, "nb_fn_compile: ");
    if (k < 2) CHECK(strstr(nb_errmsg(), bad[k]) != NULL); /* names the compiler */
    CHECK(f->native == NULL);
    CHECK(dir_entries(dir) == 0);
    check_small(f, bad[k]); /* the interpreter still runs it */
    /* a function compiled before stays compiled: nothing is rebuilt */
    CHECK(nb_fn_compile(h) == NB_OK);
    CHECK(h->native == h_native);
    check_small(h, "compiled before");
  }
  setenv("NB_CC", "cc", 1); /* a compiler that works */
  CHECK(compile_one("NB_CC=cc", f));
  check_small(f, "after NB_CC=cc");
  restore_env(&cc);
  { /* no usable temporary directory */
    nb_fn *k = fn_small();
    setenv("TMPDIR", "/nonexistent/nabla-tmp", 1);
    nb_errclear();
    nb_status st = k ? nb_fn_compile(k) : NB_ERR_ARG;
    CHECK(st == NB_ERR_IO || st == NB_ERR_COMPILE);
    CHECK(nb_errcode() == st && !strncmp(nb_errmsg(), "nb_fn_compile: ", 15));
    if (k) CHECK(k->native == NULL);
    if (k) check_small(k, "no temporary directory");
    setenv("TMPDIR", dir, 1);
    CHECK(compile_one("after a failure", k)); /* and it can still be compiled */
    if (k) check_small(k, "compiled after a failure");
    nb_fn_free(k);
  }
  /* compiling twice, emitting after compiling */
  CHECK(nb_fn_compile(f) == NB_OK);
  CHECK(nb_fn_compile(f) == NB_OK);
  FILE *o = tmpfile();
  CHECK(o && nb_fn_emit_c(f, "after_compile", o) == NB_OK);
  if (o) fclose(o);
  check_small(f, "compiled twice");
  CHECK(dir_entries(dir) == 0);
done:
  restore_env(&cc);
  restore_env(&tmp);
  saved_env_free(&cc), saved_env_free(&tmp);
  nb_fn_free(f);
  nb_fn_free(h);
  if (rmdir(dir)) FAILF("nb_fn_compile left files in %s", dir);
}

/* 4 threads compile the same function at once: all succeed, one object stays */
typedef struct same_job {
  nb_fn             *f;
  pthread_barrier_t *start;
  nb_status          st;
} same_job;

static void *compile_same(void *arg) {
  same_job *j = arg;
  pthread_barrier_wait(j->start);
  j->st = nb_fn_compile(j->f);
  return NULL;
}

static void test_compile_same_fn_in_threads(void) {
  nb_fn *f = fn_small();
  if (!f) return;
  pthread_barrier_t bar;
  pthread_t         th[4];
  same_job          jobs[4];
  pthread_barrier_init(&bar, NULL, 4);
  int    started = 0;
  double t0 = now();
  for (int t = 0; t < 4; t++) {
    jobs[t] = (same_job){f, &bar, NB_ERR_ARG};
    started += pthread_create(&th[t], NULL, compile_same, &jobs[t]) == 0;
  }
  if (started != 4) {
    fprintf(stderr, "  pthread_create failed\n");
    exit(EXIT_FAILURE); /* the started threads would wait forever */
  }
  for (int t = 0; t < 4; t++) pthread_join(th[t], NULL);
  t_compile += now() - t0;
  n_compiled++;
  pthread_barrier_destroy(&bar);
  for (int t = 0; t < 4; t++) CHECK(jobs[t].st == NB_OK);
  CHECK(f->native != NULL);
  check_small(f, "compiled by 4 threads at once");
  nb_fn_free(f);
}

/* ---- errors --------------------------------------------------------------------------- */

static void test_emit_errors(void) {
  nb_fn *f = fn_small();
  FILE  *o = tmpfile();
  CHECK(o != NULL);
  if (!f || !o) goto done;
  /* NULL function: NB_ERR_ARG; an earlier failure's message stays */
  nb_errclear();
  CHECK(nb_fn_emit_c(NULL, "f", o) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_fn_emit_c: ");
  nb_errclear();
  CHECK(nb_fn_compile(NULL) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_fn_compile: ");
  CHECK(nb_reshape(NULL, 1, (int64_t[]){1}) == NULL); /* an earlier failure */
  char before[512];
  snprintf(before, sizeof before, "%s", nb_errmsg());
  CHECK(nb_fn_emit_c(NULL, "f", o) == NB_ERR_ARG);
  CHECK(nb_errcode() == NB_ERR_ARG && !strcmp(nb_errmsg(), before));
  CHECK(nb_fn_compile(NULL) == NB_ERR_ARG);
  CHECK(nb_errcode() == NB_ERR_ARG && !strcmp(nb_errmsg(), before));
  /* names that are not C identifiers of at most 64 characters: nothing is written */
  char long65[66];
  memset(long65, 'a', 65);
  long65[65] = 0;
  const char *bad[] = {"1abc", "a-b", "", NULL, long65, "a b", "f.c", "caf\xc3\xa9", "$x"};
  for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
    nb_errclear();
    CHECK(nb_fn_emit_c(f, bad[k], o) == NB_ERR_ARG);
    CHECK_ERR(NB_ERR_ARG, "nb_fn_emit_c: ");
    CHECK(ftell(o) == 0);
  }
  /* NULL stream; a stream that cannot be written */
  nb_errclear();
  CHECK(nb_fn_emit_c(f, "f", NULL) == NB_ERR_ARG);
  CHECK_ERR(NB_ERR_ARG, "nb_fn_emit_c: ");
  FILE *ro = fopen("/dev/null", "r");
  CHECK(ro != NULL);
  if (ro) {
    nb_errclear();
    CHECK(nb_fn_emit_c(f, "f", ro) == NB_ERR_IO);
    CHECK_ERR(NB_ERR_IO, "nb_fn_emit_c: ");
    fclose(ro);
  }
  /* valid names: underscores, digits after the first character, 64 characters */
  char long64[65];
  memset(long64, 'b', 64);
  long64[64] = 0;
  const char *good[] = {"f1", "a_b", "F", long64};
  for (size_t k = 0; k < sizeof good / sizeof *good; k++) {
    nb_errclear();
    CHECK(nb_fn_emit_c(f, good[k], o) == NB_OK);
    CHECK(nb_errcode() == NB_OK);
    CHECK(ftell(o) > 0);
    rewind(o);
  }
  /* the text: its six functions, the version; the same every time */
  char *text[2] = {fx_emit_text(f, "emit_f"), fx_emit_text(f, "emit_f")};
  CHECK(text[0] && text[1]);
  if (text[0] && text[1]) {
    check_text("emit_f", text[0], "emit_f");
    CHECK(strstr(text[0], "generated by nabla") && strstr(text[0], nb_version()));
    CHECK(!strcmp(text[0], text[1]));
  }
  free(text[0]), free(text[1]);
done:
  if (o) fclose(o);
  nb_fn_free(f);
}

/* every primitive, and masked products narrow and wide, ran natively in the
 * tests above (compared with the reference there) */
static void test_every_primitive_native(void) {
  for (int op = 0; op < NB_OP_COUNT; op++)
    if (!seen_op[op]) FAILF("no compiled function has a %s node", nb__prims[op]->name);
  if (!seen_masked[0] || !seen_masked[1])
    FAILF("no compiled function has a masked product of %s columns", seen_masked[0] ? "8 or more" : "fewer than 8");
}

/* ---- regressions: bugs these tests found in the emitter ------------------------------- */

/* f(x) = sum_k (k+1) x[2k]^2, k < 11: its vjp adds 11 pads of one element, each
 * read through a guard by one fused loop */
static nb_fn *fn_many_pads(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){24});
  nb_expr  *acc = nb_scalar(g, 0);
  for (int k = 0; k < 11; k++)
    acc = nb_add(acc, SUM(nb_muls(nb_square(nb_slice(x, 0, 2 * k, 2 * k + 1, 1)), k + 1)));
  nb_fn *f = make_fn("many pads", g, 1, &x, 1, &acc);
  nb_graph_free(g);
  nb_fn *v = f ? nb_vjp(f, NULL) : NULL;
  nb_fn_free(f);
  return v;
}

static void test_emit_regressions(void) {
  /* 1. x^2, x^-3 (integer powers of a fill): the fused loop set the exponent's
   * fill scalar and never read it; -Wall -Wextra -Werror rejected the file */
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){5});
  nb_expr  *o = nb_add(nb_pows(x, 2), nb_pows(x, -3));
  nb_fn    *f = make_fn("powers", g, 1, &x, 1, &o);
  nb_graph_free(g);
  standalone("integer powers", f, "powers", NULL, NULL, 5);
  nb_fn_free(f);
  /* 2. keywords and names the file uses are refused (they made files that did
   * not compile) */
  f = fn_small();
  FILE *out = tmpfile();
  static const char *const kw[] = {"int",  "for", "double", "return", "static", "_Bool", "while",
                                   "inline", "sin", "expf", "memcpy", "NAN", "nb_powi64", "_a1"};
  for (size_t k = 0; f && out && k < sizeof kw / sizeof *kw; k++) {
    nb_errclear();
    nb_status st = nb_fn_emit_c(f, kw[k], out);
    if (st != NB_ERR_ARG) FAILF("nb_fn_emit_c accepts the keyword \"%s\" as a name (%s)", kw[k], nb_status_str(st));
  }
  if (out) fclose(out);
  nb_fn_free(f);
  /* 3. more guarded pads in one fused loop than NB__MAX_EDGES / 2: the edges of
   * the others were dropped, so a loop read a pad's operand out of range
   * (dx[1] = -7.5e-127 with a workspace of 0xA5 bytes); now such a loop reads
   * every pad through a guard */
  f = fn_many_pads();
  standalone("vjp with 11 guarded pads", f, "many_pads", NULL, NULL, 6);
  nb_fn_free(f);
}

void suite_emit(void) {
  double t0 = now();
  RUN(test_emit_errors);
  RUN(test_ops_native);
  RUN(test_derivatives_native);
  RUN(test_standalone);
  RUN(test_matmul_forms_text);
  RUN(test_matmul_forms_native);
  RUN(test_matmul_derivatives_native);
  RUN(test_masked_products_nonfinite);
  RUN(test_reduce_along_native);
  RUN(test_broadcast_rows_text);
  RUN(test_broadcast_native);
  RUN(test_sink_text);
  RUN(test_sink_native);
  RUN(test_sink_split_recomputed);
  RUN(test_compile_failures);
  RUN(test_compile_same_fn_in_threads);
  RUN(test_every_primitive_native);
  RUN(test_emit_regressions);
  printf("  emit: %d functions compiled (%.2f s in the compiler), suite %.2f s\n", n_compiled,
         t_compile, now() - t0);
}
