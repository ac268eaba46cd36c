/* Shape and indexing: nb_reshape nb_transpose nb_broadcast_to nb_slice nb_index nb_take
 * nb_concat nb_stack, compositions on strided data, error paths. Expected values are
 * hand-computed or come from plain index loops. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"

/* ---- helpers shared (by copy) by test_reduce.c, test_shape.c, test_linalg.c ---- */
/* ---- end of shared helpers ---- */

/* x[k] = k + 1 + 0.5 (distinct, exact in f32) */
static void iota(double *v, int64_t n) {
  for (int64_t k = 0; k < n; k++) v[k] = (double)k + 1.5;
}

/* ---- reshape ---- */

static void test_reshape(void) {
  double x[6];
  iota(x, 6);
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, 2, (int64_t[]){2, 3});
    const double *xs[1] = {x};
    nb_expr      *outs[7] = {
        nb_reshape(xi, 2, (int64_t[]){3, 2}),     nb_reshape(xi, 2, (int64_t[]){-1, 2}),
        nb_reshape(xi, 1, (int64_t[]){6}),        nb_reshape(xi, 1, (int64_t[]){-1}),
        nb_reshape(xi, 4, (int64_t[]){1, 2, 1, 3}), nb_reshape(xi, 3, (int64_t[]){2, -1, 1}),
        nb_reshape(xi, 2, (int64_t[]){2, 3}),
    };
    want w[7] = {W(2, (int64_t[]){3, 2}, x),       W(2, (int64_t[]){3, 2}, x),
                 W(1, (int64_t[]){6}, x),          W(1, (int64_t[]){6}, x),
                 W(4, (int64_t[]){1, 2, 1, 3}, x), W(3, (int64_t[]){2, 3, 1}, x),
                 W(2, (int64_t[]){2, 3}, x)};
    RUN_FN(g, dt, 1, &xi, xs, 7, outs, w);
    nb_graph_free(g);
  }
}

static void test_reshape_rank0_and_size0(void) {
  const double v[1] = {-7.25};
  double       dummy[1] = {0};
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *s = inp(g, "s", dt, 0, NULL);
    nb_expr  *one = inp(g, "one", dt, 1, (int64_t[]){1});
    nb_expr  *ones = inp(g, "ones", dt, 3, (int64_t[]){1, 1, 1});
    nb_expr  *ins[3] = {s, one, ones};
    const double *xs[3] = {v, v, v};
    nb_expr *outs[5] = {
        nb_reshape(s, 1, (int64_t[]){1}),  nb_reshape(s, 1, (int64_t[]){-1}),
        nb_reshape(one, 0, NULL),          nb_reshape(ones, 0, NULL),
        nb_reshape(s, 2, (int64_t[]){1, 1}),
    };
    want w[5] = {W(1, (int64_t[]){1}, v), W(1, (int64_t[]){1}, v), W(0, NULL, v), W(0, NULL, v),
                 W(2, (int64_t[]){1, 1}, v)};
    RUN_FN(g, dt, 3, ins, xs, 5, outs, w);
    nb_graph_free(g);

    g = nb_graph_new();
    nb_expr *z = inp(g, "z", dt, 2, (int64_t[]){0, 3});
    nb_expr *z2 = inp(g, "z2", dt, 3, (int64_t[]){2, 0, 5});
    nb_expr *zins[2] = {z, z2};
    const double *zxs[2] = {dummy, dummy};
    nb_expr *zouts[5] = {nb_reshape(z, 2, (int64_t[]){3, 0}), nb_reshape(z, 2, (int64_t[]){-1, 3}),
                         nb_reshape(z, 1, (int64_t[]){0}), nb_reshape(z2, 2, (int64_t[]){0, 7}),
                         nb_reshape(z2, 3, (int64_t[]){5, -1, 2})};
    want zw[5] = {W(2, (int64_t[]){3, 0}, NULL), W(2, (int64_t[]){0, 3}, NULL),
                  W(1, (int64_t[]){0}, NULL), W(2, (int64_t[]){0, 7}, NULL),
                  W(3, (int64_t[]){5, 0, 2}, NULL)};
    RUN_FN(g, dt, 2, zins, zxs, 5, zouts, zw);
    nb_graph_free(g);
  }
}

static void test_reshape_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = inp(g, "x", NB_F64, 2, (int64_t[]){2, 3});
  nb_expr  *s = inp(g, "s", NB_F64, 0, NULL);
  CHECK_FAILS(nb_reshape(x, 2, (int64_t[]){4, 2}), NB_ERR_SHAPE,
              "nb_reshape: cannot reshape [2,3] to [4,2]");
  CHECK_FAILS(nb_reshape(x, 1, (int64_t[]){5}), NB_ERR_SHAPE, "nb_reshape: cannot reshape [2,3] to [5]");
  CHECK_FAILS(nb_reshape(s, 1, (int64_t[]){2}), NB_ERR_SHAPE, "nb_reshape: cannot reshape");
  CHECK_FAILS(nb_reshape(x, 2, (int64_t[]){-1, 4}), NB_ERR_SHAPE, "nb_reshape:");
  CHECK_FAILS(nb_reshape(x, 2, (int64_t[]){-1, -1}), NB_ERR_ARG, "nb_reshape:");
  CHECK_FAILS(nb_reshape(x, 2, (int64_t[]){-2, -3}), NB_ERR_ARG, "nb_reshape:");
  CHECK_FAILS(nb_reshape(x, 2, (int64_t[]){-3, 2}), NB_ERR_ARG, "nb_reshape:");
  CHECK_FAILS(nb_reshape(NULL, 1, (int64_t[]){6}), NB_ERR_ARG, "nb_reshape: NULL argument");
  nb_graph_free(g);
}

/* ---- transpose ---- */

/* out[o] = x[i] with i[perm[d]] = o[d] */
static want ref_transpose(int rank, const int64_t *shape, const int *perm, const double *x,
                          double *out) {
  int64_t oshape[NB_MAX_RANK], o[NB_MAX_RANK], istr[NB_MAX_RANK];
  int     p[NB_MAX_RANK];
  for (int d = 0; d < rank; d++) p[d] = perm ? perm[d] : rank - 1 - d;
  for (int d = 0; d < rank; d++) oshape[d] = shape[p[d]];
  int64_t st = 1;
  for (int d = rank - 1; d >= 0; d--) {
    istr[d] = st;
    st *= shape[d];
  }
  int64_t n = numel(rank, shape);
  for (int64_t k = 0; k < n; k++) {
    int64_t r = k, off = 0;
    for (int d = rank - 1; d >= 0; d--) {
      o[d] = r % oshape[d];
      r /= oshape[d];
    }
    for (int d = 0; d < rank; d++) off += o[d] * istr[p[d]];
    out[k] = x[off];
  }
  return W(rank, oshape, out);
}

static void test_transpose(void) {
  double x6[6], x24[24];
  iota(x6, 6);
  iota(x24, 24);
  /* hand-computed (2,3) transpose */
  const double t6[6] = {x6[0], x6[3], x6[1], x6[4], x6[2], x6[5]};
  /* (2,3,4) with perm {1,2,0}: out[a][b][c] = x[c][a][b] (shape (3,4,2)); two entries by hand */
  double r1[24], r2[24], r3[24], r4[24];
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *a = inp(g, "a", dt, 2, (int64_t[]){2, 3});
    nb_expr      *b = inp(g, "b", dt, 3, (int64_t[]){2, 3, 4});
    nb_expr      *ins[2] = {a, b};
    const double *xs[2] = {x6, x24};
    int           p120[3] = {1, 2, 0}, p201[3] = {2, 0, 1}, p012[3] = {0, 1, 2}, p021[3] = {0, 2, 1};
    nb_expr *outs[6] = {nb_transpose(a, NULL),       nb_transpose(b, NULL),
                        nb_transpose(b, p120),       nb_transpose(b, p201),
                        nb_transpose(b, p012),       nb_transpose(b, p021)};
    want w[6] = {W(2, (int64_t[]){3, 2}, t6), ref_transpose(3, (int64_t[]){2, 3, 4}, NULL, x24, r1),
                 ref_transpose(3, (int64_t[]){2, 3, 4}, p120, x24, r2),
                 ref_transpose(3, (int64_t[]){2, 3, 4}, p201, x24, r3),
                 W(3, (int64_t[]){2, 3, 4}, x24),
                 ref_transpose(3, (int64_t[]){2, 3, 4}, p021, x24, r4)};
    /* sanity of the reference against hand values */
    CHECK(w[1].shape[0] == 4 && w[1].shape[1] == 3 && w[1].shape[2] == 2);
    CHECK(w[2].shape[0] == 3 && w[2].shape[1] == 4 && w[2].shape[2] == 2);
    CHECK(r2[1] == x24[12]);             /* out[0][0][1] = x[1][0][0] */
    CHECK(r2[2 * 8 + 3 * 2 + 1] == x24[1 * 12 + 2 * 4 + 3]); /* out[2][3][1] = x[1][2][3] */
    CHECK(r1[1] == x24[12] && r1[2] == x24[4]); /* out[0][0][1]=x[1][0][0], out[0][1][0]=x[0][1][0] */
    RUN_FN(g, dt, 2, ins, xs, 6, outs, w);
    nb_graph_free(g);
  }
}

static void test_transpose_small_ranks(void) {
  const double v[3] = {4.5, -1, 2};
  double       dummy[1] = {0};
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *s = inp(g, "s", dt, 0, NULL);
    nb_expr  *r = inp(g, "r", dt, 1, (int64_t[]){3});
    nb_expr  *z = inp(g, "z", dt, 2, (int64_t[]){0, 3});
    nb_expr  *ins[3] = {s, r, z};
    const double *xs[3] = {v, v, dummy};
    int       p0[1] = {0}, p10[2] = {1, 0};
    nb_expr  *outs[5] = {nb_transpose(s, NULL), nb_transpose(r, NULL), nb_transpose(r, p0),
                         nb_transpose(z, NULL), nb_transpose(z, p10)};
    want      w[5] = {W(0, NULL, v), W(1, (int64_t[]){3}, v), W(1, (int64_t[]){3}, v),
                      W(2, (int64_t[]){3, 0}, NULL), W(2, (int64_t[]){3, 0}, NULL)};
    RUN_FN(g, dt, 3, ins, xs, 5, outs, w);
    nb_graph_free(g);
  }
}

static void test_transpose_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = inp(g, "x", NB_F64, 3, (int64_t[]){2, 3, 4});
  CHECK_FAILS(nb_transpose(x, (int[]){0, 0, 1}), NB_ERR_ARG, "nb_transpose: invalid permutation");
  CHECK_FAILS(nb_transpose(x, (int[]){0, 1, 3}), NB_ERR_ARG, "nb_transpose: invalid permutation");
  CHECK_FAILS(nb_transpose(x, (int[]){2, 1, 2}), NB_ERR_ARG, "nb_transpose: invalid permutation");
  CHECK_FAILS(nb_transpose(NULL, NULL), NB_ERR_ARG, "nb_transpose: NULL argument");
  nb_graph_free(g);
}

/* ---- broadcast_to ---- */

static void test_broadcast_to(void) {
  const double v3[3] = {1, 2, 3}, v2[2] = {-1, 5}, s[1] = {0.25};
  const double w23a[6] = {1, 2, 3, 1, 2, 3}, w23b[6] = {-1, -1, -1, 5, 5, 5};
  const double w22[4] = {0.25, 0.25, 0.25, 0.25};
  double       w234[24];
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 4; c++) w234[a * 12 + b * 4 + c] = v3[b]; /* from (3,1) */
  double w2_3[6];
  for (int a = 0; a < 2; a++)
    for (int c = 0; c < 3; c++) w2_3[a * 3 + c] = v3[c];
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *a = inp(g, "a", dt, 1, (int64_t[]){3});
    nb_expr  *b = inp(g, "b", dt, 2, (int64_t[]){2, 1});
    nb_expr  *c = inp(g, "c", dt, 2, (int64_t[]){3, 1});
    nb_expr  *d = inp(g, "d", dt, 0, NULL);
    nb_expr  *e = inp(g, "e", dt, 2, (int64_t[]){1, 3});
    nb_expr  *ins[5] = {a, b, c, d, e};
    const double *xs[5] = {v3, v2, v3, s, v3};
    nb_expr *outs[8] = {
        nb_broadcast_to(a, 2, (int64_t[]){2, 3}),       nb_broadcast_to(b, 2, (int64_t[]){2, 3}),
        nb_broadcast_to(c, 3, (int64_t[]){2, 3, 4}),    nb_broadcast_to(d, 2, (int64_t[]){2, 2}),
        nb_broadcast_to(a, 1, (int64_t[]){3}),          nb_broadcast_to(e, 3, (int64_t[]){2, 1, 3}),
        nb_broadcast_to(e, 2, (int64_t[]){0, 3}),       nb_broadcast_to(d, 1, (int64_t[]){0}),
    };
    want w[8] = {W(2, (int64_t[]){2, 3}, w23a),  W(2, (int64_t[]){2, 3}, w23b),
                 W(3, (int64_t[]){2, 3, 4}, w234), W(2, (int64_t[]){2, 2}, w22),
                 W(1, (int64_t[]){3}, v3),       W(3, (int64_t[]){2, 1, 3}, w2_3),
                 W(2, (int64_t[]){0, 3}, NULL),  W(1, (int64_t[]){0}, NULL)};
    RUN_FN(g, dt, 5, ins, xs, 8, outs, w);
    nb_graph_free(g);

    /* size 0 input: (0,3) -> (2,0,3); (1) -> (4,0) */
    g = nb_graph_new();
    nb_expr *z = inp(g, "z", dt, 2, (int64_t[]){0, 3});
    nb_expr *o = inp(g, "o", dt, 1, (int64_t[]){1});
    nb_expr *zins[2] = {z, o};
    const double *zxs[2] = {s, s};
    nb_expr *zouts[2] = {nb_broadcast_to(z, 3, (int64_t[]){2, 0, 3}),
                         nb_broadcast_to(o, 2, (int64_t[]){4, 0})};
    want zw[2] = {W(3, (int64_t[]){2, 0, 3}, NULL), W(2, (int64_t[]){4, 0}, NULL)};
    RUN_FN(g, dt, 2, zins, zxs, 2, zouts, zw);
    nb_graph_free(g);
  }
}

static void test_broadcast_to_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = inp(g, "a", NB_F64, 1, (int64_t[]){3});
  nb_expr  *b = inp(g, "b", NB_F64, 2, (int64_t[]){2, 3});
  nb_expr  *c = inp(g, "c", NB_F64, 1, (int64_t[]){2});
  CHECK_FAILS(nb_broadcast_to(a, 1, (int64_t[]){4}), NB_ERR_SHAPE,
              "nb_broadcast_to: cannot broadcast [3] to [4]");
  CHECK_FAILS(nb_broadcast_to(b, 1, (int64_t[]){3}), NB_ERR_SHAPE,
              "nb_broadcast_to: cannot broadcast [2,3] to [3]");
  CHECK_FAILS(nb_broadcast_to(b, 2, (int64_t[]){4, 3}), NB_ERR_SHAPE,
              "nb_broadcast_to: cannot broadcast [2,3] to [4,3]");
  CHECK_FAILS(nb_broadcast_to(c, 2, (int64_t[]){3, 0}), NB_ERR_SHAPE,
              "nb_broadcast_to: cannot broadcast [2] to [3,0]");
  CHECK_FAILS(nb_broadcast_to(NULL, 1, (int64_t[]){3}), NB_ERR_ARG,
              "nb_broadcast_to: NULL argument");
  nb_graph_free(g);
}

/* ---- slice ---- */

typedef struct slice_case {
  int64_t start, stop, step;
  int     n;        /* expected length */
  int     idx[8];   /* expected source indices */
} slice_case;

static void test_slice_1d(void) {
  /* length 6; python semantics, hand-computed index lists */
  static const slice_case cs[] = {
      {1, 4, 1, 3, {1, 2, 3}},
      {0, INT64_MAX, 2, 3, {0, 2, 4}},
      {-2, INT64_MAX, 1, 2, {4, 5}},
      {-4, -1, 1, 3, {2, 3, 4}},
      {5, INT64_MIN, -1, 6, {5, 4, 3, 2, 1, 0}},
      {10, INT64_MIN, -2, 3, {5, 3, 1}},
      {-1, INT64_MIN, -1, 6, {5, 4, 3, 2, 1, 0}},
      {-1, -4, -1, 3, {5, 4, 3}},
      {4, 1, -2, 2, {4, 2}},
      {-100, 100, 1, 6, {0, 1, 2, 3, 4, 5}},
      {100, 200, 1, 0, {0}},
      {3, 3, 1, 0, {0}},
      {4, 1, 1, 0, {0}},
      {1, 4, -1, 0, {0}},
      {0, INT64_MAX, 7, 1, {0}},
      {-100, INT64_MIN, -1, 0, {0}},
      {0, -100, -1, 1, {0}},
      {INT64_MIN, INT64_MAX, 1, 6, {0, 1, 2, 3, 4, 5}},
      {INT64_MAX, INT64_MIN, -1, 6, {5, 4, 3, 2, 1, 0}},
      {0, INT64_MAX, -1, 0, {0}},
      {5, INT64_MIN, -10, 1, {5}},
      {1, INT64_MAX, INT64_MAX, 1, {1}},
      {-1, INT64_MIN, INT64_MIN + 1, 1, {5}},
      {2, -1, 2, 2, {2, 4}},
      {-3, 6, 1, 3, {3, 4, 5}},
  };
  enum { NC = sizeof cs / sizeof cs[0] };
  double x[6];
  iota(x, 6);
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *xi = inp(g, "x", dt, 1, (int64_t[]){6});
    for (int c = 0; c < NC; c++) {
      double want_v[8];
      for (int k = 0; k < cs[c].n; k++) want_v[k] = x[cs[c].idx[k]];
      int before = th_failed_checks;
      RUN1(g, dt, xi, x, nb_slice(xi, 0, cs[c].start, cs[c].stop, cs[c].step), 1,
           (int64_t[]){cs[c].n}, want_v);
      /* the same through axis -1 */
      RUN1(g, dt, xi, x, nb_slice(xi, -1, cs[c].start, cs[c].stop, cs[c].step), 1,
           (int64_t[]){cs[c].n}, want_v);
      if (th_failed_checks != before)
        fprintf(stderr, "    slice case %d: start %lld stop %lld step %lld\n", c,
                (long long)cs[c].start, (long long)cs[c].stop, (long long)cs[c].step);
    }
    nb_graph_free(g);
  }
}

static void test_slice_nd(void) {
  double x12[12], x24[24];
  iota(x12, 12); /* (4,3) */
  iota(x24, 24); /* (2,3,4) */
  double r0[12], r1[12], r2[12], r3[12], r5[24], r6[24];
  int    n;
  /* axis 0, 3::-2 -> rows 3, 1 */
  n = 0;
  for (int i = 3; i >= 0; i -= 2)
    for (int j = 0; j < 3; j++) r0[n++] = x12[i * 3 + j];
  /* axis -2, 1: -> rows 1..3 */
  n = 0;
  for (int i = 1; i < 4; i++)
    for (int j = 0; j < 3; j++) r1[n++] = x12[i * 3 + j];
  /* axis 1, ::-1 */
  n = 0;
  for (int i = 0; i < 4; i++)
    for (int j = 2; j >= 0; j--) r2[n++] = x12[i * 3 + j];
  /* axis -1, ::2 -> cols 0, 2 */
  n = 0;
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j += 2) r3[n++] = x12[i * 3 + j];
  /* (2,3,4) axis 1, 2:0:-1 -> [2, 1] */
  n = 0;
  for (int a = 0; a < 2; a++)
    for (int b = 2; b > 0; b--)
      for (int c = 0; c < 4; c++) r5[n++] = x24[a * 12 + b * 4 + c];
  /* (2,3,4) axis 0, -1:: -> a = 1 only, keeps the axis */
  n = 0;
  for (int b = 0; b < 3; b++)
    for (int c = 0; c < 4; c++) r6[n++] = x24[12 + b * 4 + c];
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *a = inp(g, "a", dt, 2, (int64_t[]){4, 3});
    nb_expr      *b = inp(g, "b", dt, 3, (int64_t[]){2, 3, 4});
    nb_expr      *ins[2] = {a, b};
    const double *xs[2] = {x12, x24};
    nb_expr *outs[8] = {
        nb_slice(a, 0, 3, INT64_MIN, -2), nb_slice(a, -2, 1, INT64_MAX, 1),
        nb_slice(a, 1, -1, INT64_MIN, -1), nb_slice(a, -1, 0, INT64_MAX, 2),
        nb_slice(a, 0, 5, 10, 1),          nb_slice(b, 1, 2, 0, -1),
        nb_slice(b, 0, -1, INT64_MAX, 1),  nb_slice(b, 2, 1, 1, 1),
    };
    want w[8] = {W(2, (int64_t[]){2, 3}, r0),    W(2, (int64_t[]){3, 3}, r1),
                 W(2, (int64_t[]){4, 3}, r2),    W(2, (int64_t[]){4, 2}, r3),
                 W(2, (int64_t[]){0, 3}, NULL),  W(3, (int64_t[]){2, 2, 4}, r5),
                 W(3, (int64_t[]){1, 3, 4}, r6), W(3, (int64_t[]){2, 3, 0}, NULL)};
    RUN_FN(g, dt, 2, ins, xs, 8, outs, w);
    nb_graph_free(g);
  }
}

static void test_slice_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = inp(g, "x", NB_F64, 2, (int64_t[]){4, 3});
  nb_expr  *s = inp(g, "s", NB_F64, 0, NULL);
  CHECK_FAILS(nb_slice(x, 0, 0, 2, 0), NB_ERR_ARG, "nb_slice: step must not be 0");
  CHECK_FAILS(nb_slice(x, 2, 0, 2, 1), NB_ERR_ARG, "nb_slice:");
  CHECK_FAILS(nb_slice(x, -3, 0, 2, 1), NB_ERR_ARG, "nb_slice:");
  CHECK_FAILS(nb_slice(s, 0, 0, 1, 1), NB_ERR_ARG, "nb_slice:");
  CHECK_FAILS(nb_slice(NULL, 0, 0, 1, 1), NB_ERR_ARG, "nb_slice: NULL argument");
  nb_graph_free(g);
}

/* ---- index ---- */

static void test_index(void) {
  double x12[12], x24[24], r5[8];
  iota(x12, 12); /* (3,4) */
  iota(x24, 24); /* (2,3,4) */
  const double row2[4] = {x12[8], x12[9], x12[10], x12[11]};
  const double col1[3] = {x12[1], x12[5], x12[9]};
  const double col0[3] = {x12[0], x12[4], x12[8]};
  const double row0[4] = {x12[0], x12[1], x12[2], x12[3]};
  const double v3[3] = {7, 8, 9};
  int          n = 0;
  for (int a = 0; a < 2; a++)
    for (int c = 0; c < 4; c++) r5[n++] = x24[a * 12 + 1 * 4 + c]; /* axis 1, i = -2 -> 1 */
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *a = inp(g, "a", dt, 2, (int64_t[]){3, 4});
    nb_expr      *b = inp(g, "b", dt, 3, (int64_t[]){2, 3, 4});
    nb_expr      *c = inp(g, "c", dt, 1, (int64_t[]){3});
    nb_expr      *ins[3] = {a, b, c};
    const double *xs[3] = {x12, x24, v3};
    nb_expr *outs[8] = {nb_index(a, 0, -1), nb_index(a, 1, 1),  nb_index(a, -1, -4),
                        nb_index(a, -2, 0), nb_index(b, 1, -2), nb_index(c, 0, 1),
                        nb_index(c, -1, -3), nb_index(nb_index(b, 0, 1), 1, 3)};
    want w[8] = {W(1, (int64_t[]){4}, row2), W(1, (int64_t[]){3}, col1), W(1, (int64_t[]){3}, col0),
                 W(1, (int64_t[]){4}, row0), W(2, (int64_t[]){2, 4}, r5), W(0, NULL, &v3[1]),
                 W(0, NULL, &v3[0]),         W(1, (int64_t[]){3}, NULL)};
    /* b[1][:, 3] = x24[12 + 4k + 3] */
    const double b1c3[3] = {x24[15], x24[19], x24[23]};
    w[7].v = b1c3;
    RUN_FN(g, dt, 3, ins, xs, 8, outs, w);
    nb_graph_free(g);
  }
}

static void test_index_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = inp(g, "x", NB_F64, 1, (int64_t[]){3});
  nb_expr  *m = inp(g, "m", NB_F64, 2, (int64_t[]){3, 4});
  nb_expr  *z = inp(g, "z", NB_F64, 2, (int64_t[]){0, 3});
  nb_expr  *s = inp(g, "s", NB_F64, 0, NULL);
  CHECK_FAILS(nb_index(x, 0, 5), NB_ERR_ARG, "nb_index: index 5 out of range for axis 0 of length 3");
  CHECK_FAILS(nb_index(x, 0, 3), NB_ERR_ARG, "nb_index: index 3 out of range for axis 0 of length 3");
  CHECK_FAILS(nb_index(x, 0, -4), NB_ERR_ARG, "nb_index: index -4 out of range for axis 0 of length 3");
  CHECK_FAILS(nb_index(m, 1, 4), NB_ERR_ARG, "nb_index: index 4 out of range for axis 1 of length 4");
  CHECK_FAILS(nb_index(z, 0, 0), NB_ERR_ARG, "nb_index: index 0 out of range for axis 0 of length 0");
  CHECK_FAILS(nb_index(m, 2, 0), NB_ERR_ARG, "nb_index:");
  CHECK_FAILS(nb_index(m, -3, 0), NB_ERR_ARG, "nb_index:");
  CHECK_FAILS(nb_index(s, 0, 0), NB_ERR_ARG, "nb_index:");
  CHECK_FAILS(nb_index(NULL, 0, 0), NB_ERR_ARG, "nb_index: NULL argument");
  nb_graph_free(g);
}

/* ---- take ---- */

static void test_take(void) {
  const double x4[4] = {10, 11, 12, 13};
  double       x24[24], r1[32], r2[12], r3[36];
  iota(x24, 24); /* (2,3,4) */
  const int64_t i1d[5] = {3, -1, 0, 0, -4};
  const double  w1d[5] = {13, 13, 10, 10, 10};
  const int64_t iax1[4] = {2, 0, -3, 2}; /* -> 2, 0, 0, 2 */
  const int     eax1[4] = {2, 0, 0, 2};
  const int64_t ilast[2] = {-1, 1};      /* -> 3, 1 */
  const int64_t iax0[3] = {1, 1, -1};    /* -> 1, 1, 1 */
  int n = 0;
  for (int a = 0; a < 2; a++)
    for (int j = 0; j < 4; j++)
      for (int c = 0; c < 4; c++) r1[n++] = x24[a * 12 + eax1[j] * 4 + c];
  n = 0;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 3; b++) {
      r2[n++] = x24[a * 12 + b * 4 + 3];
      r2[n++] = x24[a * 12 + b * 4 + 1];
    }
  n = 0;
  for (int j = 0; j < 3; j++)
    for (int k = 0; k < 12; k++) r3[n++] = x24[12 + k];
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *a = inp(g, "a", dt, 1, (int64_t[]){4});
    nb_expr      *b = inp(g, "b", dt, 3, (int64_t[]){2, 3, 4});
    nb_expr      *ins[2] = {a, b};
    const double *xs[2] = {x4, x24};
    int64_t       idx[5];
    memcpy(idx, i1d, sizeof idx);
    nb_expr *t0 = nb_take(a, 0, 5, idx);
    for (int k = 0; k < 5; k++) idx[k] = 0; /* indices are copied */
    nb_expr *outs[7] = {t0,
                        nb_take(a, 0, 0, idx),
                        nb_take(b, 1, 4, iax1),
                        nb_take(b, -1, 2, ilast),
                        nb_take(b, 0, 3, iax0),
                        nb_take(b, 1, 0, iax1),
                        nb_take(a, -1, 1, (int64_t[]){-2})};
    const double w12 = 12;
    want w[7] = {W(1, (int64_t[]){5}, w1d),       W(1, (int64_t[]){0}, NULL),
                 W(3, (int64_t[]){2, 4, 4}, r1),  W(3, (int64_t[]){2, 3, 2}, r2),
                 W(3, (int64_t[]){3, 3, 4}, r3),  W(3, (int64_t[]){2, 0, 4}, NULL),
                 W(1, (int64_t[]){1}, &w12)};
    RUN_FN(g, dt, 2, ins, xs, 7, outs, w);
    nb_graph_free(g);
  }
}

static void test_take_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = inp(g, "x", NB_F64, 3, (int64_t[]){2, 3, 4});
  nb_expr  *s = inp(g, "s", NB_F64, 0, NULL);
  CHECK_FAILS(nb_take(x, 1, 2, (int64_t[]){0, 3}), NB_ERR_ARG,
              "nb_take: index 3 out of range for axis 1 of length 3");
  CHECK_FAILS(nb_take(x, 1, 1, (int64_t[]){-4}), NB_ERR_ARG,
              "nb_take: index -4 out of range for axis 1 of length 3");
  CHECK_FAILS(nb_take(x, -1, 1, (int64_t[]){4}), NB_ERR_ARG,
              "nb_take: index 4 out of range for axis 2 of length 4");
  CHECK_FAILS(nb_take(x, 0, -1, (int64_t[]){0}), NB_ERR_ARG, "nb_take:");
  CHECK_FAILS(nb_take(x, 0, 2, NULL), NB_ERR_ARG, "nb_take:");
  CHECK_FAILS(nb_take(x, 3, 1, (int64_t[]){0}), NB_ERR_ARG, "nb_take:");
  CHECK_FAILS(nb_take(x, -4, 1, (int64_t[]){0}), NB_ERR_ARG, "nb_take:");
  CHECK_FAILS(nb_take(s, 0, 1, (int64_t[]){0}), NB_ERR_ARG, "nb_take:");
  CHECK_FAILS(nb_take(NULL, 0, 1, (int64_t[]){0}), NB_ERR_ARG, "nb_take: NULL argument");
  nb_graph_free(g);
}

/* ---- concat ---- */

static void test_concat(void) {
  double va[6], vb[3], vc[4], vr[3];
  for (int k = 0; k < 6; k++) va[k] = k + 1;   /* a (2,3) */
  for (int k = 0; k < 3; k++) vb[k] = 100 + k; /* b (1,3) */
  for (int k = 0; k < 4; k++) vc[k] = -1 - k;  /* c (2,2) */
  for (int k = 0; k < 3; k++) vr[k] = 0.5 * k; /* r (3) */
  const double dummy[1] = {0};
  const double ab[9] = {1, 2, 3, 4, 5, 6, 100, 101, 102};
  const double ba[9] = {100, 101, 102, 1, 2, 3, 4, 5, 6};
  const double ac[10] = {1, 2, 3, -1, -2, 4, 5, 6, -3, -4};
  const double ca[10] = {-1, -2, 1, 2, 3, -3, -4, 4, 5, 6};
  const double aba[15] = {1, 2, 3, 4, 5, 6, 100, 101, 102, 1, 2, 3, 4, 5, 6};
  const double rr[6] = {0, 0.5, 1, 0, 0.5, 1};
  const double bb[6] = {100, 101, 102, 100, 101, 102};
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *a = inp(g, "a", dt, 2, (int64_t[]){2, 3});
    nb_expr  *b = inp(g, "b", dt, 2, (int64_t[]){1, 3});
    nb_expr  *c = inp(g, "c", dt, 2, (int64_t[]){2, 2});
    nb_expr  *e = inp(g, "e", dt, 2, (int64_t[]){0, 3});
    nb_expr  *f = inp(g, "f", dt, 2, (int64_t[]){2, 0});
    nb_expr  *r = inp(g, "r", dt, 1, (int64_t[]){3});
    nb_expr  *ins[6] = {a, b, c, e, f, r};
    const double *xs[6] = {va, vb, vc, dummy, dummy, vr};
    nb_expr *outs[13] = {
        nb_concat(2, (nb_expr *[]){a, b}, 0),    nb_concat(2, (nb_expr *[]){b, a}, -2),
        nb_concat(2, (nb_expr *[]){a, c}, 1),    nb_concat(2, (nb_expr *[]){c, a}, -1),
        nb_concat(3, (nb_expr *[]){a, e, b}, 0), nb_concat(3, (nb_expr *[]){e, a, e}, 0),
        nb_concat(2, (nb_expr *[]){f, a}, 1),    nb_concat(1, (nb_expr *[]){a}, 0),
        nb_concat(3, (nb_expr *[]){a, b, a}, 0), nb_concat(2, (nb_expr *[]){e, e}, 0),
        nb_concat(2, (nb_expr *[]){r, r}, 0),    nb_concat(1, (nb_expr *[]){f}, -1),
        nb_concat(2, (nb_expr *[]){b, b}, 1), /* after a unit axis: back to back */
    };
    want w[13] = {W(2, (int64_t[]){3, 3}, ab),  W(2, (int64_t[]){3, 3}, ba),
                  W(2, (int64_t[]){2, 5}, ac),  W(2, (int64_t[]){2, 5}, ca),
                  W(2, (int64_t[]){3, 3}, ab),  W(2, (int64_t[]){2, 3}, va),
                  W(2, (int64_t[]){2, 3}, va),  W(2, (int64_t[]){2, 3}, va),
                  W(2, (int64_t[]){5, 3}, aba), W(2, (int64_t[]){0, 3}, NULL),
                  W(1, (int64_t[]){6}, rr),     W(2, (int64_t[]){2, 0}, NULL),
                  W(2, (int64_t[]){1, 6}, bb)};
    RUN_FN(g, dt, 6, ins, xs, 13, outs, w);
    nb_graph_free(g);
  }
}

static void test_concat_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_graph *h = nb_graph_new();
  nb_expr  *a = inp(g, "a", NB_F64, 2, (int64_t[]){2, 3});
  nb_expr  *c = inp(g, "c", NB_F64, 2, (int64_t[]){2, 2});
  nb_expr  *r = inp(g, "r", NB_F64, 1, (int64_t[]){3});
  nb_expr  *a32 = inp(g, "a32", NB_F32, 2, (int64_t[]){2, 3});
  nb_expr  *ah = inp(h, "ah", NB_F64, 2, (int64_t[]){2, 3});
  CHECK_FAILS(nb_concat(0, (nb_expr *[]){a}, 0), NB_ERR_ARG, "nb_concat:");
  CHECK_FAILS(nb_concat(-1, (nb_expr *[]){a}, 0), NB_ERR_ARG, "nb_concat:");
  CHECK_FAILS(nb_concat(2, (nb_expr *[]){a, c}, 0), NB_ERR_SHAPE, "nb_concat:");
  CHECK_FAILS(nb_concat(2, (nb_expr *[]){a, r}, 0), NB_ERR_SHAPE, "nb_concat:");
  CHECK_FAILS(nb_concat(2, (nb_expr *[]){a, a32}, 0), NB_ERR_DTYPE, "nb_concat:");
  CHECK_FAILS(nb_concat(2, (nb_expr *[]){a, a}, 2), NB_ERR_ARG, "nb_concat:");
  CHECK_FAILS(nb_concat(2, (nb_expr *[]){a, a}, -3), NB_ERR_ARG, "nb_concat:");
  CHECK_FAILS(nb_concat(2, (nb_expr *[]){a, ah}, 0), NB_ERR_ARG, "nb_concat:");
  CHECK_FAILS(nb_concat(2, (nb_expr *[]){a, NULL}, 0), NB_ERR_ARG, "nb_concat:");
  CHECK_FAILS(nb_concat(2, NULL, 0), NB_ERR_ARG, "nb_concat:");
  nb_graph_free(g);
  nb_graph_free(h);
}

/* ---- stack ---- */

static void test_stack(void) {
  double va[6], vb[6];
  for (int k = 0; k < 6; k++) va[k] = k + 1, vb[k] = -(k + 1) * 0.5; /* (2,3) each */
  double s0[12], s1[12], s2[12];
  int    n = 0;
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < 6; k++) s0[n++] = s ? vb[k] : va[k]; /* (2,2,3) [s][i][j] */
  n = 0;
  for (int i = 0; i < 2; i++)
    for (int s = 0; s < 2; s++)
      for (int j = 0; j < 3; j++) s1[n++] = s ? vb[i * 3 + j] : va[i * 3 + j]; /* [i][s][j] */
  n = 0;
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int s = 0; s < 2; s++) s2[n++] = s ? vb[i * 3 + j] : va[i * 3 + j]; /* [i][j][s] */
  const double sc[3] = {2.5, -1, 2.5};
  double       one[6];
  memcpy(one, va, sizeof one);
  FOR_DTYPES(dt) {
    nb_graph *g = nb_graph_new();
    nb_expr  *a = inp(g, "a", dt, 2, (int64_t[]){2, 3});
    nb_expr  *b = inp(g, "b", dt, 2, (int64_t[]){2, 3});
    nb_expr  *p = inp(g, "p", dt, 0, NULL);
    nb_expr  *q = inp(g, "q", dt, 0, NULL);
    nb_expr  *z = inp(g, "z", dt, 2, (int64_t[]){0, 3});
    nb_expr  *ins[5] = {a, b, p, q, z};
    const double *xs[5] = {va, vb, &sc[0], &sc[1], sc};
    nb_expr *outs[10] = {
        nb_stack(2, (nb_expr *[]){a, b}, 0),  nb_stack(2, (nb_expr *[]){a, b}, -3),
        nb_stack(2, (nb_expr *[]){a, b}, 1),  nb_stack(2, (nb_expr *[]){a, b}, -2),
        nb_stack(2, (nb_expr *[]){a, b}, 2),  nb_stack(2, (nb_expr *[]){a, b}, -1),
        nb_stack(3, (nb_expr *[]){p, q, p}, 0), nb_stack(1, (nb_expr *[]){a}, 0),
        nb_stack(2, (nb_expr *[]){z, z}, 1),  nb_stack(1, (nb_expr *[]){p}, -1),
    };
    want w[10] = {W(3, (int64_t[]){2, 2, 3}, s0), W(3, (int64_t[]){2, 2, 3}, s0),
                  W(3, (int64_t[]){2, 2, 3}, s1), W(3, (int64_t[]){2, 2, 3}, s1),
                  W(3, (int64_t[]){2, 3, 2}, s2), W(3, (int64_t[]){2, 3, 2}, s2),
                  W(1, (int64_t[]){3}, sc),       W(3, (int64_t[]){1, 2, 3}, one),
                  W(3, (int64_t[]){0, 2, 3}, NULL), W(1, (int64_t[]){1}, sc)};
    RUN_FN(g, dt, 5, ins, xs, 10, outs, w);
    nb_graph_free(g);
  }
}

static void test_stack_errors(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *a = inp(g, "a", NB_F64, 2, (int64_t[]){2, 3});
  nb_expr  *c = inp(g, "c", NB_F64, 2, (int64_t[]){3, 2});
  nb_expr  *a32 = inp(g, "a32", NB_F32, 2, (int64_t[]){2, 3});
  CHECK_FAILS(nb_stack(0, (nb_expr *[]){a}, 0), NB_ERR_ARG, "nb_stack:");
  CHECK_FAILS(nb_stack(2, (nb_expr *[]){a, c}, 0), NB_ERR_SHAPE, "nb_stack:");
  CHECK_FAILS(nb_stack(2, (nb_expr *[]){a, a32}, 0), NB_ERR_DTYPE, "nb_stack:");
  CHECK_FAILS(nb_stack(2, (nb_expr *[]){a, a}, 3), NB_ERR_ARG, "nb_stack:");
  CHECK_FAILS(nb_stack(2, (nb_expr *[]){a, a}, -4), NB_ERR_ARG, "nb_stack:");
  CHECK_FAILS(nb_stack(2, (nb_expr *[]){a, NULL}, 0), NB_ERR_ARG, "nb_stack:");
  nb_graph_free(g);
}

/* ---- movement ops composed on strided data ---- */

static void test_movement_combinations(void) {
  double x[12], y[24];
  iota(x, 12); /* x (3,4): x[i][j] = x[4i + j] */
  iota(y, 24); /* y (2,3,4) */
  double r[10][48];
  int    n;
  /* 0: slice(transpose(x), axis 0, 3::-2): rows 3,1 of x^T -> out[r][j] = x[j][3 - 2r], (2,3) */
  n = 0;
  for (int rr = 0; rr < 2; rr++)
    for (int j = 0; j < 3; j++) r[0][n++] = x[j * 4 + 3 - 2 * rr];
  /* 1: reshape(transpose(x), (2,6)): row-major order of x^T */
  n = 0;
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) r[1][n++] = x[j * 4 + i];
  /* 2: transpose(slice(x, 1, ::-2)): x[:, [3,1]] is (3,2), transposed (2,3): out[c][i] = x[i][3-2c] */
  n = 0;
  for (int c = 0; c < 2; c++)
    for (int i = 0; i < 3; i++) r[2][n++] = x[i * 4 + 3 - 2 * c];
  /* 3: index(transpose(y, {2,0,1}), 0, -1): y^T[a][b][c] = y[b][c][a]; a = 3 -> out[b][c] = y[b][c][3] */
  n = 0;
  for (int b = 0; b < 2; b++)
    for (int c = 0; c < 3; c++) r[3][n++] = y[b * 12 + c * 4 + 3];
  /* 4: take(slice(x, 0, ::-1), 1, {0, -1}): rows reversed, cols 0 and 3 */
  n = 0;
  for (int i = 2; i >= 0; i--) {
    r[4][n++] = x[i * 4 + 0];
    r[4][n++] = x[i * 4 + 3];
  }
  /* 5: broadcast_to(slice(x, 1, 1, 2, 1), (2,3,4)): x[:, 1:2] is (3,1): out[a][b][c] = x[b][1] */
  n = 0;
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 3; b++)
      for (int c = 0; c < 4; c++) r[5][n++] = x[b * 4 + 1];
  /* 6: concat({transpose(x), slice(transpose(x), 0, 1, 3, 1)}, 0): (6,3) */
  n = 0;
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 3; j++) r[6][n++] = x[j * 4 + i];
  for (int i = 1; i < 3; i++)
    for (int j = 0; j < 3; j++) r[6][n++] = x[j * 4 + i];
  /* 7: stack({slice(x, 1, 0, 2, 1), slice(x, 1, INT64_MAX, 1, -1)}, -1): x[:, 0:2] and x[:, 3:1:-1]
   *    both (3,2) -> (3,2,2): out[i][k][s] */
  n = 0;
  for (int i = 0; i < 3; i++)
    for (int k = 0; k < 2; k++) {
      r[7][n++] = x[i * 4 + k];
      r[7][n++] = x[i * 4 + 3 - k];
    }
  /* 8: slice(slice(transpose(y), 1, 2, 0, -1), 0, 1, INT64_MAX, 2): y^T (4,3,2)[a][b][c] =
   *    y[c][b][a]; axis1 rows 2,1; axis0 a = 1, 3 -> (2,2,2) */
  n = 0;
  for (int a = 1; a < 4; a += 2)
    for (int b = 2; b > 0; b--)
      for (int c = 0; c < 2; c++) r[8][n++] = y[c * 12 + b * 4 + a];
  /* 9: transpose(reshape(slice(y, 2, ::-1), (6,4)), NULL): z[m][k] = y[m/3][m%3][3-k], out (4,6) [k][m] */
  n = 0;
  for (int k = 0; k < 4; k++)
    for (int m = 0; m < 6; m++) r[9][n++] = y[(m / 3) * 12 + (m % 3) * 4 + 3 - k];
  FOR_DTYPES(dt) {
    nb_graph     *g = nb_graph_new();
    nb_expr      *a = inp(g, "x", dt, 2, (int64_t[]){3, 4});
    nb_expr      *b = inp(g, "y", dt, 3, (int64_t[]){2, 3, 4});
    nb_expr      *ins[2] = {a, b};
    const double *xs[2] = {x, y};
    nb_expr      *at = nb_transpose(a, NULL);
    nb_expr *outs[10] = {
        nb_slice(at, 0, 3, INT64_MIN, -2),
        nb_reshape(at, 2, (int64_t[]){2, 6}),
        nb_transpose(nb_slice(a, 1, INT64_MAX, INT64_MIN, -2), NULL),
        nb_index(nb_transpose(b, (int[]){2, 0, 1}), 0, -1),
        nb_take(nb_slice(a, 0, INT64_MAX, INT64_MIN, -1), 1, 2, (int64_t[]){0, -1}),
        nb_broadcast_to(nb_slice(a, 1, 1, 2, 1), 3, (int64_t[]){2, 3, 4}),
        nb_concat(2, (nb_expr *[]){at, nb_slice(at, 0, 1, 3, 1)}, 0),
        nb_stack(2, (nb_expr *[]){nb_slice(a, 1, 0, 2, 1), nb_slice(a, 1, INT64_MAX, 1, -1)}, -1),
        nb_slice(nb_slice(nb_transpose(b, NULL), 1, 2, 0, -1), 0, 1, INT64_MAX, 2),
        nb_transpose(nb_reshape(nb_slice(b, 2, INT64_MAX, INT64_MIN, -1), 2, (int64_t[]){6, 4}),
                     NULL),
    };
    want w[10] = {W(2, (int64_t[]){2, 3}, r[0]),    W(2, (int64_t[]){2, 6}, r[1]),
                  W(2, (int64_t[]){2, 3}, r[2]),    W(2, (int64_t[]){2, 3}, r[3]),
                  W(2, (int64_t[]){3, 2}, r[4]),    W(3, (int64_t[]){2, 3, 4}, r[5]),
                  W(2, (int64_t[]){6, 3}, r[6]),    W(3, (int64_t[]){3, 2, 2}, r[7]),
                  W(3, (int64_t[]){2, 2, 2}, r[8]), W(2, (int64_t[]){4, 6}, r[9])};
    RUN_FN(g, dt, 2, ins, xs, 10, outs, w);
    nb_graph_free(g);
  }
}

void suite_shape(void) {
  RUN(test_reshape);
  RUN(test_reshape_rank0_and_size0);
  RUN(test_reshape_errors);
  RUN(test_transpose);
  RUN(test_transpose_small_ranks);
  RUN(test_transpose_errors);
  RUN(test_broadcast_to);
  RUN(test_broadcast_to_errors);
  RUN(test_slice_1d);
  RUN(test_slice_nd);
  RUN(test_slice_errors);
  RUN(test_index);
  RUN(test_index_errors);
  RUN(test_take);
  RUN(test_take_errors);
  RUN(test_concat);
  RUN(test_concat_errors);
  RUN(test_stack);
  RUN(test_stack_errors);
  RUN(test_movement_combinations);
}
