/* Reductions as sinks of fused groups (exec.h, nb__group): a reduction whose
 * operand is a member of an open fused group joins that group and folds the
 * group's blocks as they are made. Here the sinks with accumulators (a double
 * per output element: reductions over some axes), which join only groups too
 * small to be split over threads; the sinks with one partial per block
 * (reductions to one element over trailing axes) are in test_exec.c and
 * test_emit.c.
 *
 * The interpreter's sinks fold in the reference kernels' order (trailing
 * reductions in pieces cut at the operand's multiples of the block, others in
 * index order), so nb_call must match the reference evaluator bit for bit
 * (EXACT) in f64 and f32: sum, max, prod and the composites mean, min and
 * logsumexp (its sinks exact; its log on the small result VM, as vector math
 * lanes may differ there with or without sinks) over middle, first and last
 * axes (rows crossing block edges, short rows), several adjacent or
 * non-adjacent axes, unit axes, kept axes, in one block and in many; inf, NaN
 * and signed zeros (max keeps the first zero it meets), prod with zeros;
 * several sinks of one group, sinks that are outputs next to their operand,
 * operands also read outside the group; readers of a sink of the group's size
 * (row normalisation, a softmax by hand, broadcasts and elementwise nodes
 * reading a sink directly), which must not join the sink's group; a group
 * above NB__PARALLEL_MIN, where a row reduction stays a step of its own (the
 * plan is inspected); gradients and vjps of losses made of such reductions.
 * Generated code (nb_fn_compile) folds the block arrays in rows: RSUM for
 * sums and products, EXACT for max and min; its text has the rows loop, and
 * accumulators set before the block loop. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"

#include "../src/exec/exec.h"

/* ---- the plan's sinks ---------------------------------------------------------------- */

typedef struct sink_stats {
  int  reductions; /* reduction nodes of f */
  int  sinks;      /* of them, members of a fused group */
  int  accs;       /* of those, sinks with accumulators */
  int  nsink;      /* the groups' nsink, summed */
  bool readers_ok; /* no member of a sink's group depends on the sink */
} sink_stats;

/* per node: the fused group (a step of 2 or more members) holding it, or -1 */
static int32_t *groups_of(nb_fn *f, int *nsink) {
  nb__plan *p = f ? nb__plan_get(f) : NULL;
  int32_t  *grp = p ? malloc((size_t)f->nnodes * sizeof *grp) : NULL;
  if (!grp) return NULL;
  for (int32_t i = 0; i < f->nnodes; i++) grp[i] = -1;
  *nsink = 0;
  for (int32_t s = 0; s < p->nsteps; s++) {
    int32_t g = p->steps[s].group;
    if (g < 0) continue;
    *nsink += p->groups[g].nsink;
    for (int32_t k = 0; k < p->groups[g].count; k++) grp[p->members[p->groups[g].first + k]] = g;
  }
  return grp;
}

static sink_stats stats_of_(const char *file, int line, const char *what, nb_fn *f) {
  sink_stats st = {0, 0, 0, 0, true};
  if (!f) return st;
  int      nsink = 0;
  int32_t *grp = groups_of(f, &nsink);
  bool    *dep = malloc((size_t)f->nnodes);
  if (!grp || !dep) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: no plan\n", file, line, th_current, what);
    free(grp), free(dep);
    return st;
  }
  st.nsink = nsink;
  for (int32_t r = 0; r < f->nnodes; r++) {
    const nb__node *n = &f->nodes[r].n;
    if (!nb__is_reduction(n->op)) continue;
    st.reductions++;
    if (grp[r] < 0) continue;
    st.sinks++;
    st.accs += !nb__sink_partials(n, &f->nodes[f->nodes[r].src[0]].n);
    /* every node reading r, directly or not, is outside r's group */
    memset(dep, 0, (size_t)f->nnodes);
    for (int32_t j = r + 1; j < f->nnodes; j++) {
      for (int s = 0; s < f->nodes[j].n.nsrc && !dep[j]; s++)
        dep[j] = f->nodes[j].src[s] == r || dep[f->nodes[j].src[s]];
      if (dep[j] && grp[j] == grp[r]) st.readers_ok = false;
    }
  }
  free(grp), free(dep);
  return st;
}
#define stats_of(what, f) stats_of_(__FILE__, __LINE__, what, f)

/* every reduction of f is a sink (accs of them with accumulators), and no
 * sink's reader is in its group */
static void check_all_sinks_(const char *file, int line, const char *what, nb_fn *f, int accs) {
  if (!f) return;
  sink_stats st = stats_of_(file, line, what, f);
  if (st.reductions && st.sinks == st.reductions && st.nsink == st.sinks && st.accs == accs && st.readers_ok)
    return;
  th_failed_checks++;
  fprintf(stderr,
          "  %s:%d: %s: %s: %d reductions, %d sinks (nsink %d), %d with accumulators (want %d)%s\n",
          file, line, th_current, what, st.reductions, st.sinks, st.nsink, st.accs, accs,
          st.readers_ok ? "" : ", a reader of a sink in its group");
}
#define check_all_sinks(what, f, accs) check_all_sinks_(__FILE__, __LINE__, what, f, accs)

/* ---- reductions over some axes, each alone on an elementwise chain -------------------- */

typedef nb_expr *(*reduce_fn)(nb_expr *, int, const int *, bool);
/* sum(exp(x - max(x))): logsumexp's sinks without its log */
static nb_expr *sum_exp_shifted(nb_expr *x, int naxes, const int *axes, bool keep) {
  return nb_sum(nb_exp(nb_sub(x, nb_max(x, naxes, axes, true))), naxes, axes, keep);
}
typedef struct red_op {
  const char *name;
  reduce_fn   fn;
  int         reductions; /* the reduction primitives it lowers to */
  int         mode;       /* against the reference */
} red_op;
/* logsumexp's log runs on the small result, where one evaluator may take a vector
 * math lane and the other scalar libm (VM); its sinks are exact (sumexp) */
static const red_op OPS[] = {{"sum", nb_sum, 1, EXACT},   {"max", nb_max, 1, EXACT},
                             {"prod", nb_prod, 1, EXACT}, {"mean", nb_mean, 1, EXACT},
                             {"min", nb_min, 1, EXACT},   {"logsumexp", nb_logsumexp, 2, VM},
                             {"sumexp", sum_exp_shifted, 2, EXACT}};
enum { NOPS = sizeof OPS / sizeof *OPS, OP_SUM = 0, OP_MAX = 1, OP_PROD = 2, OP_MEAN = 3, OP_MIN = 4, OP_SUMEXP = 6 };

typedef struct ax_case {
  const char *what;
  int         rank;
  int64_t     shape[3];
  int         naxes, axes[2];
  bool        keep;
} ax_case;

static const ax_case AX[] = {
    {"axis 1 of [3,6,7]", 3, {3, 6, 7}, 1, {1}, false}, /* one block of 126 */
    {"axis 1 of [3,6,7], kept", 3, {3, 6, 7}, 1, {1}, true},
    {"axis 0 of [3,6,7]", 3, {3, 6, 7}, 1, {0}, false},
    {"axes 0,2 of [3,6,7]", 3, {3, 6, 7}, 2, {0, 2}, false},
    {"axes 0,2 of [3,6,7], kept", 3, {3, 6, 7}, 2, {0, 2}, true},
    {"axis 1 of [3,5,7]", 3, {3, 5, 7}, 1, {1}, false}, /* 105 */
    {"axis 1 of [4,700]", 2, {4, 700}, 1, {1}, false},  /* rows across block edges */
    {"axis 1 of [4,700], kept", 2, {4, 700}, 1, {1}, true},
    {"axis 0 of [4,700]", 2, {4, 700}, 1, {0}, false},
    {"axis 1 of [1000,5]", 2, {1000, 5}, 1, {1}, false}, /* short rows */
    {"axis 0 of [600,9]", 2, {600, 9}, 1, {0}, false},
    {"axis 0 of [600,9], kept", 2, {600, 9}, 1, {0}, true},
    {"axes 1,2 of [5,200,3]", 3, {5, 200, 3}, 2, {1, 2}, false},
    {"axes 0,2 of [5,200,3]", 3, {5, 200, 3}, 2, {0, 2}, false},
    {"axis 1 of [5,200,3], kept", 3, {5, 200, 3}, 1, {1}, true},
    {"unit axis 1 of [50,1,7]", 3, {50, 1, 7}, 1, {1}, false},
    {"axis 1 of [5,23,1]", 3, {5, 23, 1}, 1, {1}, false}, /* a kept last axis of 1 */
    {"unit axis 1 of [7,1]", 2, {7, 1}, 1, {1}, false},  /* 7 elements */
    {"axis 1 of [1,7], kept", 2, {1, 7}, 1, {1}, true},
    {"unit axis 0 of [1,7]", 2, {1, 7}, 1, {0}, false},
};
enum { NAX = sizeof AX / sizeof *AX };

/* a reduction over every axis but unit ones: one element, partials */
static bool to_one(const ax_case *c) {
  int64_t out = 1;
  for (int d = 0; d < c->rank; d++) {
    bool red = false;
    for (int k = 0; k < c->naxes; k++) red = red || c->axes[k] == d;
    if (!red) out *= c->shape[d];
  }
  return out == 1;
}

/* sin(x) y + 1/2, or 1 + sin(x) y / 10 for products (factors near 1) */
static nb_expr *chain(nb_graph *g, nb_expr *x, nb_expr *y, bool prod) {
  nb_expr *t = nb_mul(nb_sin(x), y);
  return prod ? nb_add(nb_scalar(g, 1.0), nb_mul(t, nb_scalar(g, 0.1))) : nb_add(t, nb_scalar(g, 0.5));
}

static nb_fn *fn_case(nb_dtype dt, const ax_case *c, const red_op *op, const char *what) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, c->rank, c->shape), *y = nb_input(g, "y", dt, c->rank, c->shape);
  nb_expr  *o = op->fn(chain(g, x, y, op->fn == nb_prod), c->naxes, c->axes, c->keep);
  nb_fn    *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 1, &o);
  nb_graph_free(g);
  return f;
}

static void test_sink_axes(void) {
  FOR_DTYPES(dt) {
    for (int c = 0; c < NAX; c++)
      for (int k = 0; k < NOPS; k++) {
        char what[96];
        snprintf(what, sizeof what, "%s over %s %s", OPS[k].name, AX[c].what, dtname(dt));
        nb_fn *f = fn_case(dt, &AX[c], &OPS[k], what);
        check_all_sinks(what, f, to_one(&AX[c]) ? 0 : OPS[k].reductions);
        check_fn(what, f, D_ANY, OPS[k].mode, 1000u + 50u * (unsigned)c + (unsigned)k + 3000u * (dt == NB_F32));
        nb_fn_free(f);
      }
  }
}

/* ---- inf, NaN, signed zeros, zeros in products ----------------------------------------- */

enum { SP_NAN, SP_ZEROS, SP_PROD0, NSP };
/* SP_NAN: x y + x with inf, NaN and ±0 (D_SPEC); SP_ZEROS: min(x, 0) relu(y): negative,
 * -0 and +0, so max and min take the first zero they meet; SP_PROD0: floor(x) / 2 + 1,
 * a sixth of it +0, with negative factors (-0 products) */
static nb_expr *special(nb_graph *g, int kind, nb_expr *x, nb_expr *y) {
  if (kind == SP_NAN) return nb_add(nb_mul(x, y), x);
  if (kind == SP_ZEROS) return nb_mul(nb_minimum(x, nb_scalar(g, 0.0)), nb_relu(y));
  return nb_add(nb_mul(nb_floor(x), nb_scalar(g, 0.5)), nb_scalar(g, 1.0));
}

static void test_sink_special_values(void) {
  static const int cases[] = {0, 3, 6, 8, 9, 10, 13, 16}; /* in AX */
  static const struct {
    int kind, op, dom;
  } sp[] = {{SP_NAN, OP_SUM, D_SPEC},   {SP_NAN, OP_MAX, D_SPEC},   {SP_ZEROS, OP_MAX, D_ANY},
            {SP_ZEROS, OP_MIN, D_ANY},  {SP_ZEROS, OP_MAX, D_SPEC}, {SP_PROD0, OP_PROD, D_ANY},
            {SP_PROD0, OP_MAX, D_ANY}};
  FOR_DTYPES(dt) {
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++)
      for (size_t k = 0; k < sizeof sp / sizeof *sp; k++) {
        const ax_case *a = &AX[cases[c]];
        char           what[112];
        snprintf(what, sizeof what, "%s over %s (%s) %s", OPS[sp[k].op].name, a->what,
                 sp[k].kind == SP_NAN ? "inf, NaN" : sp[k].kind == SP_ZEROS ? "signed zeros" : "zeros", dtname(dt));
        nb_graph *g = nb_graph_new();
        nb_expr  *x = nb_input(g, "x", dt, a->rank, a->shape), *y = nb_input(g, "y", dt, a->rank, a->shape);
        nb_expr  *o = OPS[sp[k].op].fn(special(g, sp[k].kind, x, y), a->naxes, a->axes, a->keep);
        nb_fn    *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 1, &o);
        nb_graph_free(g);
        check_all_sinks(what, f, 1);
        check_fn(what, f, sp[k].dom, EXACT, 5000u + 20u * (unsigned)c + (unsigned)k + 1000u * (dt == NB_F32));
        nb_fn_free(f);
      }
  }
}

/* ---- several sinks, sinks as outputs, operands read outside ---------------------------- */

/* the node of f that is output j, through reshapes */
static int32_t out_node(const nb_fn *f, int j) {
  int32_t i = f->out[j];
  while (f->nodes[i].n.op == NB_OP_RESHAPE) i = f->nodes[i].src[0];
  return i;
}

static void test_sink_several(void) {
  static const int64_t S[2] = {40, 60}, S3[3] = {8, 30, 25}; /* 2400, 6000 elements */
  FOR_DTYPES(dt) {
    /* five sinks of two members t and u: over axis 0, axis 1 (max), every axis and
     * axis 1 again, kept (created last: the reshape of a kept reduction closes the
     * group), and a prod of the later member u */
    {
      const char *what = dt == NB_F32 ? "five sinks of one group f32" : "five sinks of one group f64";
      nb_graph   *g = nb_graph_new();
      nb_expr    *a = nb_input(g, "a", dt, 2, S), *b = nb_input(g, "b", dt, 2, S);
      nb_expr    *t = nb_sub(nb_mul(a, b), a);
      nb_expr    *u = nb_add(nb_scalar(g, 1.0), nb_mul(nb_scalar(g, 0.05), t));
      nb_expr    *o[5];
      o[0] = nb_sum(t, 1, (int[]){0}, false), o[1] = nb_max(t, 1, (int[]){1}, false);
      o[2] = nb_sum(t, 0, NULL, false), o[3] = nb_prod(u, 1, (int[]){0}, false);
      o[4] = nb_sum(t, 1, (int[]){1}, true);
      nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){a, b}, 5, o);
      nb_graph_free(g);
      check_all_sinks(what, f, 4);
      int32_t g0 = f ? fx_group_of(f, out_node(f, 0)) : -1;
      for (int j = 1; f && j < 5; j++)
        if (g0 < 0 || fx_group_of(f, out_node(f, j)) != g0) FAILF("%s: output %d not a sink of t's group", what, j);
      check_fn(what, f, D_ANY, EXACT, 7000u + (unsigned)dt);
      nb_fn_free(f);
    }
    /* a sink that is an output next to its operand t, t also read by a member after
     * the sink (w) and by a node outside the group (a transpose): t is stored */
    {
      const char *what = dt == NB_F32 ? "sinks next to their stored operand f32" : "sinks next to their stored operand f64";
      nb_graph   *g = nb_graph_new();
      nb_expr    *a = nb_input(g, "a", dt, 3, S3), *b = nb_input(g, "b", dt, 3, S3);
      nb_expr    *t = nb_add(nb_mul(nb_sin(a), b), nb_scalar(g, 0.25));
      nb_expr    *w = nb_mul(t, a);
      nb_expr    *o[6] = {t, nb_sum(t, 1, (int[]){1}, false), nb_max(t, 2, (int[]){0, 2}, true), w,
                          nb_min(w, 1, (int[]){2}, false), nb_transpose(t, NULL)};
      nb_fn      *f = make_fn(what, g, 2, (nb_expr *[]){a, b}, 6, o);
      nb_graph_free(g);
      check_all_sinks(what, f, 3);
      nb__plan *p = f ? nb__plan_get(f) : NULL;
      if (p && p->home[out_node(f, 0)].kind == NB__HOME_TEMP) FAILF("%s: t lives in a temporary", what);
      check_fn(what, f, D_ANY, EXACT, 7100u + (unsigned)dt);
      nb_fn_free(f);
    }
    /* an operand t read only by its sink and by a strided slice outside the group: t is
     * stored */
    {
      const char *what = dt == NB_F32 ? "operand read by its sink and a slice f32" : "operand read by its sink and a slice f64";
      nb_graph   *g = nb_graph_new();
      nb_expr    *a = nb_input(g, "a", dt, 2, S), *b = nb_input(g, "b", dt, 2, S);
      nb_expr    *t = nb_mul(nb_add(a, b), b);
      nb_expr    *s = nb_sum(t, 1, (int[]){0}, true); /* [1,60] */
      nb_expr    *r = nb_slice(t, 0, 3, 40, 2);       /* a strided slice of t: a step of its own */
      nb_expr    *o[2] = {nb_add(r, nb_broadcast_to(s, 2, (int64_t[]){19, 60})), s};
      nb_fn      *f = make_fn(what, g, 2, (nb_expr *[]){a, b}, 2, o);
      nb_graph_free(g);
      check_all_sinks(what, f, 1);
      nb__plan *p = f ? nb__plan_get(f) : NULL;
      if (p && p->home[f->nodes[out_node(f, 1)].src[0]].kind == NB__HOME_TEMP) FAILF("%s: t lives in a temporary", what);
      check_fn(what, f, D_ANY, EXACT, 7200u + (unsigned)dt);
      nb_fn_free(f);
    }
  }
}

/* ---- readers of a sink of the group's size ------------------------------------------- */

static void test_sink_readers(void) {
  static const int64_t R[2] = {40, 700}, Q[2] = {30, 100};
  FOR_DTYPES(dt) {
    /* rows normalised: t / sum(t, 1, keep), t / max(t, 1, keep), and columns
     * centred: t - mean(t, 0, keep). Made so (order 0), the reshape of the first
     * kept sum closes t's group and the other two are steps of their own (only
     * one sink is required); with every reduction made before any of their
     * readers (order 1), all three are sinks. */
    for (int order = 0; order < 2; order++) {
      char what[64];
      snprintf(what, sizeof what, "rows normalised, order %d %s", order, dtname(dt));
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, 2, R), *y = nb_input(g, "y", dt, 2, R);
      nb_expr  *t = nb_add(nb_mul(x, x), nb_abs(y)), *o[3];
      if (order) {
        nb_expr *m = nb_max(t, 1, (int[]){1}, false), *s = nb_sum(t, 1, (int[]){1}, false);
        nb_expr *c = nb_sum(t, 1, (int[]){0}, false);
        o[0] = nb_div(t, nb_reshape(s, 2, (int64_t[]){40, 1}));
        o[1] = nb_div(t, nb_reshape(m, 2, (int64_t[]){40, 1}));
        o[2] = nb_sub(t, nb_div(c, nb_scalar(g, 40.0)));
      } else {
        o[0] = nb_div(t, nb_sum(t, 1, (int[]){1}, true));
        o[1] = nb_div(t, nb_max(t, 1, (int[]){1}, true));
        o[2] = nb_sub(t, nb_mean(t, 1, (int[]){0}, true));
      }
      nb_fn *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 3, o);
      nb_graph_free(g);
      if (order) check_all_sinks(what, f, 3);
      sink_stats st = stats_of(what, f);
      if (st.reductions != 3 || st.sinks < 1 || !st.readers_ok)
        FAILF("%s: %d reductions, %d sinks%s; want 3, at least 1", what, st.reductions, st.sinks,
              st.readers_ok ? "" : ", a reader of a sink in its group");
      check_fn(what, f, D_SPEC, EXACT, 7300u + 10u * (unsigned)order + (unsigned)dt);
      nb_fn_free(f);
    }
    /* readers of the group's size reading the sinks directly (no reshape between
     * them, which would close the group): broadcasts of a column sum and a row max
     * back to [40,700], and, for a sum over the unit axis of [40,1,700], elementwise
     * nodes of the group's size */
    {
      char what[64];
      snprintf(what, sizeof what, "direct readers of sinks %s", dtname(dt));
      static const int64_t U[3] = {40, 1, 700};
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, 2, R), *y = nb_input(g, "y", dt, 2, R), *u = nb_input(g, "u", dt, 3, U);
      nb_expr  *t = nb_add(nb_mul(x, x), nb_abs(y)), *v = nb_add(nb_mul(u, u), nb_scalar(g, 1.0));
      nb_expr  *cs = nb_sum(t, 1, (int[]){0}, false), *rm = nb_max(t, 1, (int[]){1}, false);
      nb_expr  *us = nb_sum(v, 1, (int[]){1}, false); /* [40,700], as many as v */
      nb_expr  *o[3] = {nb_div(t, fx_broadcast_in_dim(cs, 2, R, (int[]){1})),
                        nb_sub(t, fx_broadcast_in_dim(rm, 2, R, (int[]){0})),
                        nb_add(nb_mul(us, us), nb_mul(us, y))};
      nb_fn    *f = make_fn(what, g, 3, (nb_expr *[]){x, y, u}, 3, o);
      nb_graph_free(g);
      check_all_sinks(what, f, 3);
      check_fn(what, f, D_SPEC, EXACT, 7350u + (unsigned)dt);
      nb_fn_free(f);
    }
    /* a softmax by hand over rows of 100, and over columns */
    for (int ax = 0; ax < 2; ax++) {
      char what[64];
      snprintf(what, sizeof what, "softmax by hand over axis %d %s", ax, dtname(dt));
      nb_graph *g = nb_graph_new();
      nb_expr  *x = nb_input(g, "x", dt, 2, Q), *y = nb_input(g, "y", dt, 2, Q);
      nb_expr  *z = nb_mul(nb_add(x, y), y);
      nb_expr  *e = nb_exp(nb_sub(z, nb_max(z, 1, (int[]){ax}, true)));
      nb_expr  *o = nb_div(e, nb_sum(e, 1, (int[]){ax}, true));
      nb_fn    *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 1, &o);
      nb_graph_free(g);
      check_all_sinks(what, f, 2);
      check_fn(what, f, D_ANY, EXACT, 7400u + 10u * (unsigned)ax + (unsigned)dt);
      nb_fn_free(f);
    }
  }
}

/* ---- groups large enough to be split over threads ------------------------------------ */

static void test_sink_large_group(void) {
  static const int64_t BIG[2] = {512, 520}, SMALL[2] = {64, 520}; /* 266240 >= 2^18 > 33280 */
  CHECK(BIG[0] * BIG[1] >= NB__PARALLEL_MIN && SMALL[0] * SMALL[1] < NB__PARALLEL_MIN);
  FOR_DTYPES(dt) {
    for (int big = 0; big < 2; big++) {
      char what[64];
      snprintf(what, sizeof what, "row reductions of a %s group %s", big ? "large" : "small", dtname(dt));
      const int64_t *S = big ? BIG : SMALL;
      nb_graph      *g = nb_graph_new();
      nb_expr       *x = nb_input(g, "x", dt, 2, S), *y = nb_input(g, "y", dt, 2, S);
      nb_expr       *t = nb_add(nb_mul(x, y), x);
      /* every axis (partials), rows and columns (accumulators); in this order, as a
       * reduction that does not join the group closes it */
      nb_expr *o[3];
      o[2] = nb_sum(t, 0, NULL, false), o[0] = nb_sum(t, 1, (int[]){1}, false), o[1] = nb_max(t, 1, (int[]){0}, false);
      nb_fn   *f = make_fn(what, g, 2, (nb_expr *[]){x, y}, 3, o);
      nb_graph_free(g);
      if (!f) continue;
      sink_stats st = stats_of(what, f);
      int32_t    gt = fx_group_of(f, f->nodes[out_node(f, 2)].src[0]); /* t's group */
      nb__plan  *p = nb__plan_get(f);
      bool       own_step[2] = {false, false};
      for (int32_t s = 0; p && s < p->nsteps; s++)
        for (int j = 0; j < 2; j++) own_step[j] = own_step[j] || p->steps[s].node == out_node(f, j);
      if (gt < 0 || !p) FAILF("%s: t in no fused group", what);
      else if (big && (p->groups[gt].nsink != 1 || st.sinks != 1 || st.accs || !own_step[0] || !own_step[1]))
        FAILF("%s: nsink %d, %d sinks, %d with accumulators, row sum and column max steps %d %d; want 1, 1, 0, 1 1",
              what, p->groups[gt].nsink, st.sinks, st.accs, own_step[0], own_step[1]);
      else if (!big && (p->groups[gt].nsink != 3 || st.accs != 2 || own_step[0] || own_step[1]))
        FAILF("%s: nsink %d, %d with accumulators; want 3, 2", what, p->groups[gt].nsink, st.accs);
      if (big && p && gt >= 0 && p->groups[gt].parts != nb__pool_threads())
        FAILF("%s: on %d threads, want %d", what, p->groups[gt].parts, nb__pool_threads());
      check_fn(what, f, D_ANY, EXACT, 7500u + 10u * (unsigned)big + (unsigned)dt);
      nb_fn_free(f);
    }
  }
}

/* ---- derivatives --------------------------------------------------------------------- */

enum { GR_M = 30, GR_N = 50 };

/* L(W, X) = sum(log(sum(exp(W X), 1))) + sum(max(W - X, 0)) + sum(min(X W + W, 1) / 3)
 *         + sum(logsumexp(W X, 0)) + sum(mean(W * W, 0)) (elementwise products) */
static nb_fn *loss_fn(nb_dtype dt) {
  static const int64_t S[2] = {GR_M, GR_N};
  nb_graph *g = nb_graph_new();
  nb_expr  *w = nb_input(g, "W", dt, 2, S), *x = nb_input(g, "X", dt, 2, S);
  nb_expr  *wx = nb_mul(w, x);
  nb_expr  *l = nb_sum(nb_log(nb_sum(nb_exp(wx), 1, (int[]){1}, false)), 0, NULL, false);
  l = nb_add(l, nb_sum(nb_max(nb_sub(w, x), 1, (int[]){0}, false), 0, NULL, false));
  l = nb_add(l, nb_sum(nb_div(nb_min(nb_add(nb_mul(x, w), w), 1, (int[]){1}, true), nb_scalar(g, 3.0)), 0, NULL, false));
  l = nb_add(l, nb_sum(nb_logsumexp(wx, 1, (int[]){0}, false), 0, NULL, false));
  l = nb_add(l, nb_sum(nb_mean(nb_mul(w, w), 1, (int[]){0}, false), 0, NULL, false));
  nb_fn *f = make_fn("loss", g, 2, (nb_expr *[]){w, x}, 1, &l);
  nb_graph_free(g);
  return f;
}

/* v(W, X) = (logsumexp(W X + W, 1), max(W X, 0), prod(1 + W X / 10, 1, keep)) */
static nb_fn *vec_fn(nb_dtype dt) {
  static const int64_t S[2] = {GR_M, GR_N};
  nb_graph *g = nb_graph_new();
  nb_expr  *w = nb_input(g, "W", dt, 2, S), *x = nb_input(g, "X", dt, 2, S);
  nb_expr  *wx = nb_mul(w, x);
  nb_expr  *o[3] = {nb_logsumexp(nb_add(wx, w), 1, (int[]){1}, false), nb_max(wx, 1, (int[]){0}, false),
                    nb_prod(nb_add(nb_scalar(g, 1.0), nb_mul(wx, nb_scalar(g, 0.1))), 1, (int[]){1}, true)};
  nb_fn    *f = make_fn("v", g, 2, (nb_expr *[]){w, x}, 3, o);
  nb_graph_free(g);
  return f;
}

static void test_sink_gradients(void) {
  /* the loss and logsumexp's value pass through log on a small array (VM, as in
   * test_sink_axes); every derivative is exact */
  static const char *names[3] = {"grad of the loss", "vjp of v", "value_and_grad wrt W"};
  static const int   modes[3][5] = {{EXACT, EXACT}, {VM, EXACT, EXACT, EXACT, EXACT}, {VM, EXACT}};
  FOR_DTYPES(dt) {
    char   what[64];
    nb_fn *l = loss_fn(dt), *v = vec_fn(dt);
    nb_fn *d[3] = {l ? nb_grad(l, NULL) : NULL, v ? nb_vjp(v, NULL) : NULL,
                   l ? nb_value_and_grad(l, &(nb_diff_opts){1, (int[]){0}, 0}) : NULL};
    for (int k = 0; k < 3; k++) {
      snprintf(what, sizeof what, "%s %s", names[k], dtname(dt));
      if (!(k == 1 ? v : l) || !derived_ok(what, d[k])) continue;
      sink_stats st = stats_of(what, d[k]);
      if (st.accs < 3) FAILF("%s: %d sinks with accumulators, want at least 3", what, st.accs);
      if (!st.readers_ok) FAILF("%s: a reader of a sink in its group", what);
      check_fn_io(what, d[k], NULL, modes[k], 7600u + 10u * (unsigned)k + (unsigned)dt);
    }
    for (int k = 0; k < 3; k++) nb_fn_free(d[k]);
    nb_fn_free(l), nb_fn_free(v);
  }
}

/* ---- generated code ------------------------------------------------------------------ */

static const char *ROWS_LOOP = "for (int64_t r0 = i0, r1;", *BLOCK_LOOP = "for (int64_t bk = lo; bk < hi; bk++)";

/* Sums of exp over axis 0 of [600,9] (a kept inner axis: each element into its own
 * accumulator) and over axes 0 and 2 of [5,200,3] (a reduced inner axis: rows of 3
 * folded in a local first): accumulators set before the block loop, the block
 * folded in rows inside it, the values stored after it. */
static void test_sink_text(void) {
  static const struct {
    const char *what;
    int         rank;
    int64_t     shape[3];
    int         naxes, axes[2];
    int64_t     out;
    const char *fold; /* how a row folds into the accumulators */
  } T[2] = {{"axis 0 of [600,9]", 2, {600, 9}, 1, {0}, 9, "a[i - r0] += v;"},
            {"axes 0,2 of [5,200,3]", 3, {5, 200, 3}, 2, {0, 2}, 200, "a[0] += acc;"}};
  for (int k = 0; k < 2; k++) {
    nb_graph *g = nb_graph_new();
    nb_expr  *x = nb_input(g, "x", NB_F64, T[k].rank, T[k].shape);
    nb_expr  *o = nb_sum(nb_exp(x), T[k].naxes, T[k].axes, false);
    nb_fn    *f = make_fn(T[k].what, g, 1, &x, 1, &o);
    nb_graph_free(g);
    check_all_sinks(T[k].what, f, 1);
    char *text = fx_emit_text(f, "sk");
    if (text) {
      char init[80], fin[80];
      snprintf(init, sizeof init, "for (int64_t q = 0; q < %lld; q++) ((double *)(ws + ", (long long)T[k].out);
      snprintf(fin, sizeof fin, "for (int64_t q = 0; q < %lld; q++) v", (long long)T[k].out);
      const char *a = strstr(text, init), *b = strstr(text, BLOCK_LOOP), *r = b ? strstr(b, ROWS_LOOP) : NULL;
      const char *fold = r ? strstr(r, T[k].fold) : NULL, *e = fold ? strstr(fold, fin) : NULL;
      if (!a || !b || !r || a > b || !fold || !e)
        FAILF("%s: accumulators set %s, block loop %s, rows loop inside it %s, \"%s\" %s, stored after %s", T[k].what,
              a ? (a < b ? "before it" : "after it") : "no", b ? "yes" : "no", r ? "yes" : "no", T[k].fold,
              fold ? "yes" : "no", e ? "yes" : "no");
      if (fx_count_of(text, ROWS_LOOP) != 1) FAILF("%s: %d rows loops, want 1", T[k].what, fx_count_of(text, ROWS_LOOP));
      if (getenv("NB_SINKS_DUMP")) fputs(text, stderr);
    }
    free(text);
    nb_fn_free(f);
  }
}

/* Every kind of sink in one function per dtype, compiled: reductions over some
 * axes (all six operations on one exact chain per input: several sinks of one
 * group), inf, NaN and signed zeros, zeros in products, softmaxes by hand, an
 * operand stored next to its sinks. Sums, products, means and logsumexps fold
 * in another order (RSUM), max and min exactly. */
enum { NV_A, NV_B, NV_C, NV_D, NV_E, NV_Z, NV_S, NV_Q, NNV };
static const struct {
  const char *name;
  int         rank;
  int64_t     shape[3];
  int         dom;
} NV_IN[NNV] = {{"a", 3, {3, 6, 7}, D_ANY},     {"b", 2, {4, 700}, D_ANY},  {"c", 2, {600, 9}, D_ANY},
                {"d", 3, {5, 200, 3}, D_ANY},   {"e", 2, {1000, 5}, D_ANY}, {"z", 3, {50, 1, 7}, D_ANY},
                {"s", 2, {4, 700}, D_SPEC},     {"q", 2, {30, 100}, D_ANY}};
static const struct {
  int  in, naxes, axes[2];
  bool keep;
} NV_RED[] = {{NV_A, 1, {1}, false}, {NV_A, 1, {0}, true},     {NV_A, 2, {0, 2}, false}, {NV_B, 1, {1}, false},
              {NV_B, 1, {0}, false}, {NV_C, 1, {0}, false},    {NV_D, 2, {1, 2}, false}, {NV_D, 2, {0, 2}, true},
              {NV_E, 1, {1}, false}, {NV_Z, 1, {1}, false}};
enum { NNV_RED = sizeof NV_RED / sizeof *NV_RED, NV_MAXOUT = NNV_RED * NOPS + 16 };

/* modes: native code against the reference; imodes: the interpreter */
static nb_fn *fn_native(nb_dtype dt, int *modes, int *imodes) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[NNV], *o[NV_MAXOUT];
  int       n = 0;
  for (int j = 0; j < NV_MAXOUT; j++) imodes[j] = EXACT;
  for (int i = 0; i < NNV; i++) in[i] = nb_input(g, NV_IN[i].name, dt, NV_IN[i].rank, NV_IN[i].shape);
  for (int r = 0; r < NNV_RED; r++)
    for (int k = 0; k < NOPS; k++) {
      if (k == OP_MEAN || k == OP_SUMEXP) continue; /* a sum then a division; logsumexp's sinks */
      nb_expr *x = in[NV_RED[r].in];
      nb_expr *t = k == OP_PROD ? nb_add(nb_mul(x, nb_scalar(g, 0.1)), nb_scalar(g, 1.0)) /* 0.7 .. 1.3 */
                                : nb_add(nb_mul(x, nb_sub(nb_mul(x, nb_scalar(g, 0.25)), nb_scalar(g, 1.0))),
                                         nb_scalar(g, 0.5));
      modes[n] = k == OP_MAX || k == OP_MIN ? EXACT : RSUM, imodes[n] = OPS[k].mode;
      o[n++] = OPS[k].fn(t, NV_RED[r].naxes, NV_RED[r].axes, NV_RED[r].keep);
    }
  nb_expr *s = in[NV_S], *c = in[NV_C], *q = in[NV_Q];
  nb_expr *sp = nb_add(nb_mul(s, s), s), *zs = nb_mul(nb_minimum(s, nb_scalar(g, 0.0)), nb_relu(s));
  nb_expr *p0 = nb_add(nb_mul(nb_floor(c), nb_scalar(g, 0.5)), nb_scalar(g, 1.0));
  modes[n] = RSUM, o[n++] = nb_sum(sp, 1, (int[]){0}, false);  /* inf, NaN */
  modes[n] = EXACT, o[n++] = nb_max(sp, 1, (int[]){0}, false);
  modes[n] = EXACT, o[n++] = nb_max(zs, 1, (int[]){0}, false); /* -0 and +0 only */
  modes[n] = EXACT, o[n++] = nb_min(zs, 1, (int[]){1}, true);
  modes[n] = RSUM, o[n++] = nb_prod(p0, 1, (int[]){0}, false); /* zeros */
  modes[n] = EXACT, o[n++] = p0;                               /* stored next to its sink */
  for (int ax = 0; ax < 2; ax++) {
    nb_expr *z = nb_mul(nb_add(q, nb_scalar(g, 0.5)), q);
    nb_expr *e = nb_exp(nb_sub(z, nb_max(z, 1, (int[]){ax}, true)));
    modes[n] = RSUM, o[n++] = nb_div(e, nb_sum(e, 1, (int[]){ax}, true));
  }
  nb_fn *f = make_fn(dtname(dt), g, NNV, in, n, o);
  nb_graph_free(g);
  return f;
}

static void test_sink_native(void) {
  int modes[2][NV_MAXOUT], imodes[2][NV_MAXOUT], doms[NNV];
  for (int i = 0; i < NNV; i++) doms[i] = NV_IN[i].dom;
  nb_fn      *f[2] = {fn_native(NB_F64, modes[0], imodes[0]), fn_native(NB_F32, modes[1], imodes[1])};
  for (int d = 0; d < 2; d++) { /* the interpreter first */
    const char *what = d ? "sinks f32 interpreted" : "sinks f64 interpreted";
    if (!f[d]) continue;
    sink_stats st = stats_of(what, f[d]);
    if (st.accs < 40 || !st.readers_ok)
      FAILF("%s: %d sinks with accumulators, want at least 40%s", what, st.accs,
            st.readers_ok ? "" : "; a reader of a sink in its group");
    check_fn_io(what, f[d], doms, imodes[d], 8000u + (unsigned)d);
  }
  /* both compiled at once (nb_fn_compile allows that, test_emit.c) */
  bool ok[2];
  fx_compile_all("native sinks", f, 2, ok);
  for (int d = 0; d < 2; d++) {
    const char *what = d ? "native sinks f32" : "native sinks f64";
    if (!ok[d]) continue;
    check_fn_io(what, f[d], doms, modes[d], 8100u + (unsigned)d);
  }
  nb_fn_free(f[0]);
  nb_fn_free(f[1]);
}

void suite_sinks(void) {
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  RUN(test_sink_axes);
  RUN(test_sink_special_values);
  RUN(test_sink_several);
  RUN(test_sink_readers);
  RUN(test_sink_large_group);
  RUN(test_sink_gradients);
  RUN(test_sink_text);
  RUN(test_sink_native);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  printf("  sinks: %.2f s\n", (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
}
