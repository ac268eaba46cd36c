/* Reductions: nb_sum nb_mean nb_prod nb_max nb_min nb_logsumexp — all axes, single and
 * several axes, negative axes, keepdims, rank 0, empty axes, stability, error paths.
 * Expected values are hand-computed or come from plain reference loops below. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* ---- helpers shared (by copy) by test_reduce.c, test_shape.c, test_linalg.c ---- */
/* ---- end of shared helpers ---- */

/* ---- reference reductions (plain loops over the input) ---- */
enum { OP_SUM, OP_MEAN, OP_PROD, OP_MAX, OP_MIN, OP_LSE, NOPS };
static const char *const op_names[NOPS] = {"sum", "mean", "prod", "max", "min", "logsumexp"};

static nb_expr *apply_op(int op, nb_expr *x, int naxes, const int *axes, bool kd) {
  switch (op) {
  case OP_SUM: return nb_sum(x, naxes, axes, kd);
  case OP_MEAN: return nb_mean(x, naxes, axes, kd);
  case OP_PROD: return nb_prod(x, naxes, axes, kd);
  case OP_MAX: return nb_max(x, naxes, axes, kd);
  case OP_MIN: return nb_min(x, naxes, axes, kd);
  default: return nb_logsumexp(x, naxes, axes, kd);
  }
}

/* reduces the axes in mask; out must hold the output (the product of the non-zero dims) */
static want ref_reduce(int op, int rank, const int64_t *shape, const double *x, unsigned mask,
                       bool kd, double *out) {
  want    w;
  int64_t ostr[NB_MAX_RANK], idx[NB_MAX_RANK];
  memset(&w, 0, sizeof w);
  for (int d = 0; d < rank; d++) {
    if (mask >> d & 1u) {
      if (kd) w.shape[w.rank++] = 1;
    } else {
      w.shape[w.rank++] = shape[d];
    }
  }
  int64_t on = 1, cnt = 1;
  for (int d = rank - 1; d >= 0; d--) {
    if (mask >> d & 1u) {
      ostr[d] = 0;
      cnt *= shape[d];
    } else {
      ostr[d] = on;
      on *= shape[d];
    }
  }
  double init = op == OP_SUM || op == OP_MEAN ? 0.0
                : op == OP_PROD                ? 1.0
                : op == OP_MIN                 ? INFINITY
                                               : -INFINITY;
  for (int64_t o = 0; o < on; o++) out[o] = init;
  int64_t n = numel(rank, shape);
  for (int pass = 0; pass < (op == OP_LSE ? 2 : 1); pass++) {
    double *s = NULL;
    if (pass == 1) s = calloc((size_t)(on > 0 ? on : 1), sizeof *s);
    for (int64_t k = 0; k < n; k++) {
      int64_t r = k, o = 0;
      for (int d = rank - 1; d >= 0; d--) {
        idx[d] = r % shape[d];
        r /= shape[d];
        o += idx[d] * ostr[d];
      }
      double v = x[k];
      if (pass == 1) {
        if (isfinite(out[o])) s[o] += exp(v - out[o]);
        continue;
      }
      switch (op) {
      case OP_SUM:
      case OP_MEAN: out[o] += v; break;
      case OP_PROD: out[o] *= v; break;
      case OP_MIN:
        if (v < out[o]) out[o] = v;
        break;
      default:
        if (v > out[o]) out[o] = v;
        break;
      }
    }
    if (pass == 1) {
      for (int64_t o = 0; o < on; o++)
        if (isfinite(out[o])) out[o] += log(s[o]);
      free(s);
    }
  }
  if (op == OP_MEAN)
    for (int64_t o = 0; o < on; o++) out[o] = out[o] / (double)cnt; /* 0/0: NaN */
  w.v = out;
  return w;
}

/* ---- tests ---- */

static void test_reduce_all_axes(void) {
  const double x[6] = {1, 2, 3, 4, 5, 6};
  const double lse = log(exp(1) + exp(2) + exp(3) + exp(4) + exp(5) + exp(6));
  const double want_v[NOPS] = {21, 3.5, 720, 6, 1, lse};
  FOR_DTYPES(dt) {
    for (int kd = 0; kd < 2; kd++) {
      nb_graph *g = nb_graph_new();
      nb_expr  *xi = inp(g, "x", dt, 2, (int64_t[]){2, 3});
      nb_expr  *outs[NOPS];
      want      w[NOPS];
      for (int op = 0; op < NOPS; op++) {
        outs[op] = apply_op(op, xi, 0, NULL, kd);
        w[op] = kd ? W(2, (int64_t[]){1, 1}, &want_v[op]) : W(0, NULL, &want_v[op]);
      }
      const double *xs[1] = {x};
      RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
      /* all axes listed explicitly, in any order, negative or not: the same result */
      int ax[2] = {-1, 0};
      for (int op = 0; op < NOPS; op++) outs[op] = apply_op(op, xi, 2, ax, kd);
      RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
      nb_graph_free(g);
    }
  }
}

static void test_reduce_single_axis(void) {
  /* [[1, -2, 3], [-4, 5, 0.5]] */
  const double x[6] = {1, -2, 3, -4, 5, 0.5};
  const double sum0[3] = {-3, 3, 3.5}, sum1[2] = {2, 1.5};
  const double mean0[3] = {-1.5, 1.5, 1.75}, mean1[2] = {2.0 / 3.0, 0.5};
  const double prod0[3] = {-4, -10, 1.5}, prod1[2] = {-6, -10};
  const double max0[3] = {1, 5, 3}, max1[2] = {3, 5};
  const double min0[3] = {-4, -2, 0.5}, min1[2] = {-2, -4};
  const double lse0[3] = {log(exp(1) + exp(-4)), log(exp(-2) + exp(5)), log(exp(3) + exp(0.5))};
  const double lse1[2] = {log(exp(1) + exp(-2) + exp(3)), log(exp(-4) + exp(5) + exp(0.5))};
  const double *per0[NOPS] = {sum0, mean0, prod0, max0, min0, lse0};
  const double *per1[NOPS] = {sum1, mean1, prod1, max1, min1, lse1};
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, 2, (int64_t[]){2, 3});
    const double *xs[1] = {x};
    /* axis 0 written as 0 and as -2; axis 1 as 1 and -1; keepdims false and true */
    for (int variant = 0; variant < 8; variant++) {
      int  axis = (variant & 1) ? 1 : 0;
      int  neg = (variant >> 1) & 1;
      bool kd = (variant >> 2) & 1;
      int  a = neg ? axis - 2 : axis;
      nb_expr *outs[NOPS];
      want     w[NOPS];
      for (int op = 0; op < NOPS; op++) {
        outs[op] = apply_op(op, xi, 1, &a, kd);
        const double *v = axis ? per1[op] : per0[op];
        if (axis == 0)
          w[op] = kd ? W(2, (int64_t[]){1, 3}, v) : W(1, (int64_t[]){3}, v);
        else
          w[op] = kd ? W(2, (int64_t[]){2, 1}, v) : W(1, (int64_t[]){2}, v);
      }
      RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
    }
    nb_graph_free(g);
  }
}

/* every subset of axes of a few shapes, axes given positive / negative / in reverse order,
 * keepdims both ways, compared with the reference loops */
static void reduce_generic(int rank, const int64_t *shape) {
  int64_t n = numel(rank, shape), cap = 1; /* cap: room for any output, even of an empty input */
  for (int d = 0; d < rank; d++) cap *= shape[d] > 0 ? shape[d] : 1;
  double *x = malloc((size_t)cap * sizeof *x);
  double *ref[NOPS];
  for (int op = 0; op < NOPS; op++) ref[op] = malloc((size_t)cap * sizeof(double));
  FOR_DTYPES(dt) {
    for (int64_t k = 0; k < n; k++) x[k] = RD(dt, (double)((k * 37) % 17 - 8) * 0.25 + 0.125);
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, rank, shape);
    const double *xs[1] = {x};
    for (unsigned mask = 0; mask < (1u << rank); mask++) {
      for (int variant = 0; variant < 3; variant++) {
        int axes[NB_MAX_RANK], na = 0;
        for (int d = 0; d < rank; d++)
          if (mask >> d & 1u) axes[na++] = d;
        if (variant == 1) /* negative spelling of every other axis */
          for (int i = 0; i < na; i += 2) axes[i] -= rank;
        if (variant == 2) /* reversed order, all negative */
          for (int i = 0; i < na / 2; i++) {
            int t = axes[i];
            axes[i] = axes[na - 1 - i];
            axes[na - 1 - i] = t;
          }
        if (variant == 2)
          for (int i = 0; i < na; i++) axes[i] -= rank;
        unsigned rmask = na == 0 ? (1u << rank) - 1u : mask; /* naxes 0: all axes */
        for (int kd = 0; kd < 2; kd++) {
          nb_expr *outs[NOPS];
          want     w[NOPS];
          for (int op = 0; op < NOPS; op++) {
            outs[op] = apply_op(op, xi, na, axes, kd);
            w[op] = ref_reduce(op, rank, shape, x, rmask, kd, ref[op]);
          }
          int before = th_failed_checks;
          RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
          if (th_failed_checks != before) {
            fprintf(stderr, "    rank %d mask 0x%x variant %d keepdims %d; axes", rank, mask,
                    variant, kd);
            for (int i = 0; i < na; i++) fprintf(stderr, " %d", axes[i]);
            fprintf(stderr, "; ops:");
            for (int op = 0; op < NOPS; op++) fprintf(stderr, " %s", op_names[op]);
            fprintf(stderr, "\n");
          }
        }
      }
    }
    nb_graph_free(g);
  }
  for (int op = 0; op < NOPS; op++) free(ref[op]);
  free(x);
}

static void test_reduce_generic_rank1(void) { reduce_generic(1, (int64_t[]){5}); }
static void test_reduce_generic_rank3(void) { reduce_generic(3, (int64_t[]){2, 3, 4}); }
static void test_reduce_generic_rank4(void) { reduce_generic(4, (int64_t[]){2, 1, 3, 2}); }
static void test_reduce_generic_size0(void) { reduce_generic(3, (int64_t[]){2, 0, 3}); }

static void test_reduce_several_axes_hand(void) {
  /* x[a][b][c] = 100a + 10b + c, shape (2,3,2) */
  double x[12];
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 2; c++) x[a * 6 + b * 2 + c] = 100 * a + 10 * b + c;
  /* sum over axes {0, 2}: for b: (0+1+100+101) + 4*10b = 202 + 40b */
  const double s02[3] = {202, 242, 282};
  /* max over axes {-1, -3}: 101 + 10b; min: 10b */
  const double mx[3] = {101, 111, 121}, mn[3] = {0, 10, 20};
  /* mean over {1, 2}: a*100 + (0+10+20)/3 + 0.5 = 100a + 10.5 */
  const double me[2] = {10.5, 110.5};
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, 3, (int64_t[]){2, 3, 2});
    const double *xs[1] = {x};
    int           a02[2] = {0, 2}, am[2] = {-1, -3}, a12[2] = {2, 1};
    nb_expr      *outs[5] = {nb_sum(xi, 2, a02, false), nb_max(xi, 2, am, true),
                             nb_min(xi, 2, am, false), nb_mean(xi, 2, a12, true),
                             nb_sum(xi, 2, a12, false)};
    const double  s12[2] = {0 + 1 + 10 + 11 + 20 + 21, 600 + 63};
    want          w[5] = {W(1, (int64_t[]){3}, s02), W(3, (int64_t[]){1, 3, 1}, mx),
                          W(1, (int64_t[]){3}, mn), W(3, (int64_t[]){2, 1, 1}, me),
                          W(1, (int64_t[]){2}, s12)};
    RUN_FN(g, dt, 1, &xi, xs, 5, outs, w);
    nb_graph_free(g);
  }
}

static void test_reduce_rank0(void) {
  const double x[1] = {-2.5};
  FOR_DTYPES(dt) {
    for (int kd = 0; kd < 2; kd++) {
      nb_graph     *g = nb_graph_new();
      nb_expr      *xi = inp(g, "x", dt, 0, NULL);
      nb_expr      *outs[NOPS];
      want          w[NOPS];
      const double *xs[1] = {x};
      for (int op = 0; op < NOPS; op++) {
        outs[op] = apply_op(op, xi, 0, NULL, kd);
        w[op] = W(0, NULL, x); /* every reduction of one element is that element */
      }
      RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
      nb_graph_free(g);
    }
  }
}

static void test_reduce_empty(void) {
  const double empty_v[NOPS] = {0, NAN, 1, -INFINITY, INFINITY, -INFINITY};
  double       cols[NOPS][3];
  for (int op = 0; op < NOPS; op++)
    for (int j = 0; j < 3; j++) cols[op][j] = empty_v[op];
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, 2, (int64_t[]){0, 3});
    const double *xs[1] = {NULL};
    double        dummy = 0;
    xs[0] = &dummy;
    nb_expr *outs[NOPS];
    want     w[NOPS];
    /* all axes: rank 0 */
    for (int op = 0; op < NOPS; op++) {
      outs[op] = apply_op(op, xi, 0, NULL, false);
      w[op] = W(0, NULL, &empty_v[op]);
    }
    RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
    /* axis 0 (length 0): shape (3), every column empty */
    int a0 = 0, a1 = 1, am1 = -1;
    for (int op = 0; op < NOPS; op++) {
      outs[op] = apply_op(op, xi, 1, &a0, false);
      w[op] = W(1, (int64_t[]){3}, cols[op]);
    }
    RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
    /* keepdims: (1,3) */
    for (int op = 0; op < NOPS; op++) {
      outs[op] = apply_op(op, xi, 1, &a0, true);
      w[op] = W(2, (int64_t[]){1, 3}, cols[op]);
    }
    RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
    /* axis 1 of (0,3): shape (0), no values; keepdims (0,1) */
    for (int op = 0; op < NOPS; op++) {
      outs[op] = apply_op(op, xi, 1, (op & 1) ? &a1 : &am1, op >= 3);
      w[op] = op >= 3 ? W(2, (int64_t[]){0, 1}, NULL) : W(1, (int64_t[]){0}, NULL);
    }
    RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
    nb_graph_free(g);

    /* (2,0): reducing axis 1 gives 2 empty slices */
    g = nb_graph_new();
    xi = inp(g, "x", dt, 2, (int64_t[]){2, 0});
    for (int op = 0; op < NOPS; op++) {
      outs[op] = apply_op(op, xi, 1, &am1, op % 2 == 0);
      w[op] = op % 2 == 0 ? W(2, (int64_t[]){2, 1}, cols[op]) : W(1, (int64_t[]){2}, cols[op]);
    }
    RUN_FN(g, dt, 1, &xi, xs, NOPS, outs, w);
    nb_graph_free(g);
  }
}

static void test_logsumexp_stable(void) {
  /* rows: [1000, 1000, 999], [-1000, -1000, -1001], [-inf, -inf, -inf], [1, +inf, 3],
   *       [+inf, -inf, 0], [-inf, 0, -inf] */
  const double I = INFINITY;
  const double x[18] = {1000, 1000, 999, -1000, -1000, -1001, -I, -I, -I,
                        1,    I,    3,   I,     -I,    0,     -I, 0,  -I};
  const double c = log(2 + exp(-1));
  const double rows[6] = {1000 + c, -1000 + c, -I, I, I, 0};
  /* columns: [1000,-1000,-inf,1,+inf,-inf] -> +inf; [1000,-1000,-inf,inf,-inf,0] -> +inf;
   *          [999,-1001,-inf,3,0,-inf] -> 999 */
  const double cols[3] = {I, I, 999};
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, 2, (int64_t[]){6, 3});
    const double *xs[1] = {x};
    int           a1 = 1, a0 = -2;
    nb_expr      *outs[3] = {nb_logsumexp(xi, 1, &a1, false), nb_logsumexp(xi, 1, &a0, true),
                             nb_logsumexp(nb_slice(xi, 0, 0, 2, 1), 0, NULL, false)};
    /* all of the first two rows: 1000 + log(2 + e^-1 + e^-2000 ...) */
    const double all2 = 1000 + c;
    want w[3] = {W(1, (int64_t[]){6}, rows), W(2, (int64_t[]){1, 3}, cols), W(0, NULL, &all2)};
    RUN_FN(g, dt, 1, &xi, xs, 3, outs, w);
    nb_graph_free(g);
  }
}

static void test_prod_zeros(void) {
  /* [[2, 0, 3], [-1, 4, 0.5]] */
  const double x[6] = {2, 0, 3, -1, 4, 0.5};
  const double p1[2] = {0, -2}, p0[3] = {-2, 0, 1.5}, pall = 0;
  /* negative zero: prod of [-1, 0] is -0 (compares equal to 0, sign checked below) */
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, 2, (int64_t[]){2, 3});
    const double *xs[1] = {x};
    int           a1 = -1, a0 = 0;
    nb_expr      *outs[3] = {nb_prod(xi, 1, &a1, false), nb_prod(xi, 1, &a0, false),
                             nb_prod(xi, 0, NULL, true)};
    want w[3] = {W(1, (int64_t[]){2}, p1), W(1, (int64_t[]){3}, p0), W(2, (int64_t[]){1, 1}, &pall)};
    RUN_FN(g, dt, 1, &xi, xs, 3, outs, w);
    nb_graph_free(g);
  }
}

static void test_reduce_chained(void) {
  /* reductions of reductions and of strided (transposed / sliced) data */
  double x[12];
  for (int k = 0; k < 12; k++) x[k] = k - 5; /* (3,4): x[i][j] = 4i + j - 5 */
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, 2, (int64_t[]){3, 4});
    const double *xs[1] = {x};
    int           a0 = 0, a1 = 1;
    nb_expr      *t = nb_transpose(xi, NULL);                        /* (4,3) */
    nb_expr      *outs[4] = {
        nb_sum(t, 1, &a1, false),                                    /* column sums of x */
        nb_max(nb_slice(xi, 1, 3, INT64_MIN, -2), 1, &a0, false),    /* cols 3,1: max over rows */
        nb_sum(nb_max(xi, 1, &a1, false), 0, NULL, false),           /* sum of row maxima */
        nb_min(nb_transpose(xi, NULL), 1, &a0, true),                /* row minima, (1,3) */
    };
    const double rs[4] = {-5 - 1 + 3, -4 + 0 + 4, -3 + 1 + 5, -2 + 2 + 6};
    const double mx[2] = {6, 4};
    const double sm = -2 + 2 + 6;
    const double mn[3] = {-5, -1, 3};
    want w[4] = {W(1, (int64_t[]){4}, rs), W(1, (int64_t[]){2}, mx), W(0, NULL, &sm),
                 W(2, (int64_t[]){1, 3}, mn)};
    RUN_FN(g, dt, 1, &xi, xs, 4, outs, w);
    nb_graph_free(g);
  }
}

static void test_reduce_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = inp(g, "x", NB_F64, 2, (int64_t[]){2, 3});
  nb_expr  *s = inp(g, "s", NB_F64, 0, NULL);
  int       a3[1] = {3}, am3[1] = {-3}, a2[1] = {2}, a0[1] = {0};
  int       d11[2] = {1, 1}, d0m2[2] = {0, -2}, d3[3] = {0, 1, 0};
  CHECK_FAILS(nb_sum(x, 1, a3, false), NB_ERR_ARG, "nb_sum: axis 3 out of range for rank 2");
  CHECK_FAILS(nb_mean(x, 1, am3, true), NB_ERR_ARG, "nb_mean: axis -3 out of range");
  CHECK_FAILS(nb_prod(x, 1, a2, false), NB_ERR_ARG, "nb_prod: axis 2 out of range for rank 2");
  CHECK_FAILS(nb_max(x, 1, a3, true), NB_ERR_ARG, "nb_max: axis 3 out of range for rank 2");
  CHECK_FAILS(nb_min(x, 1, a2, false), NB_ERR_ARG, "nb_min: axis 2 out of range for rank 2");
  CHECK_FAILS(nb_logsumexp(x, 1, a2, false), NB_ERR_ARG,
              "nb_logsumexp: axis 2 out of range for rank 2");
  CHECK_FAILS(nb_sum(s, 1, a0, false), NB_ERR_ARG, "nb_sum: axis 0 out of range for rank 0");
  CHECK_FAILS(nb_sum(x, 2, d11, false), NB_ERR_ARG, "nb_sum: duplicate axis 1");
  CHECK_FAILS(nb_mean(x, 2, d11, false), NB_ERR_ARG, "nb_mean: duplicate axis 1");
  CHECK_FAILS(nb_prod(x, 2, d11, true), NB_ERR_ARG, "nb_prod: duplicate axis 1");
  CHECK_FAILS(nb_max(x, 3, d3, false), NB_ERR_ARG, "nb_max: duplicate axis 0");
  CHECK_FAILS(nb_min(x, 2, d0m2, false), NB_ERR_ARG, "nb_min: duplicate axis");
  CHECK_FAILS(nb_logsumexp(x, 2, d11, false), NB_ERR_ARG, "nb_logsumexp: duplicate axis 1");
  CHECK_FAILS(nb_sum(x, -1, a0, false), NB_ERR_ARG, "nb_sum:");
  CHECK_FAILS(nb_sum(x, 1, NULL, false), NB_ERR_ARG, "nb_sum:");
  CHECK_FAILS(nb_sum(NULL, 0, NULL, false), NB_ERR_ARG, "nb_sum: NULL argument");
  CHECK_FAILS(nb_logsumexp(NULL, 0, NULL, false), NB_ERR_ARG, "nb_logsumexp: NULL argument");
  /* a NULL operand does not overwrite an earlier failure */
  nb_errclear();
  CHECK(nb_mean(nb_sum(x, 1, a3, false), 0, NULL, false) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_sum: axis 3 out of range for rank 2");
  /* the graph stays usable after the failures */
  nb_errclear();
  const double  xv[6] = {1, 2, 3, 4, 5, 6}, want_v[3] = {5, 7, 9};
  int           a[1] = {-2};
  RUN1(g, NB_F64, x, xv, nb_sum(x, 1, a, false), 1, (int64_t[]){3}, want_v);
  nb_graph_free(g);
}

void suite_reduce(void) {
  RUN(test_reduce_all_axes);
  RUN(test_reduce_single_axis);
  RUN(test_reduce_several_axes_hand);
  RUN(test_reduce_generic_rank1);
  RUN(test_reduce_generic_rank3);
  RUN(test_reduce_generic_rank4);
  RUN(test_reduce_generic_size0);
  RUN(test_reduce_rank0);
  RUN(test_reduce_empty);
  RUN(test_logsumexp_stable);
  RUN(test_prod_zeros);
  RUN(test_reduce_chained);
  RUN(test_reduce_errors);
}
