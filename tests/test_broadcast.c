/* Broadcasting: every pattern of numpy broadcasting for the binary ops and nb_where,
 * weakly typed scalars, and the broadcast / dtype / graph errors. Expected values are
 * written out by hand or computed here with an independent index-mapping reference. */
#include <stdint.h>
#include <stdlib.h>

#include "fixture.h"

void suite_broadcast(void);

#define MAXN 512


static const nb_dtype DTYPES[2] = {NB_F64, NB_F32};
static const int64_t  NOSHAPE[1] = {0}; /* a non-NULL shape pointer for rank 0 */


static void shape_str(char *buf, size_t cap, int rank, const int64_t *shape) {
  size_t len = 0;
  len += (size_t)snprintf(buf + len, cap - len, "(");
  for (int k = 0; k < rank && len < cap; k++)
    len += (size_t)snprintf(buf + len, cap - len, k ? ",%lld" : "%lld", (long long)shape[k]);
  if (len < cap) snprintf(buf + len, cap - len, ")");
}

/* the expression has this dtype and shape (checked with nb_expr_shape) */
static int check_shape(const char *file, int line, const nb_expr *e, nb_dtype dt, int rank,
                       const int64_t *shape) {
  if (!e) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: expression is NULL: %s \"%s\"\n", file, line, th_current,
            nb_status_str(nb_errcode()), nb_errmsg());
    return 0;
  }
  int            ok = nb_expr_dtype(e) == dt && nb_expr_rank(e) == rank;
  const int64_t *s = nb_expr_shape(e);
  for (int k = 0; ok && k < rank; k++) ok = s != NULL && s[k] == shape[k];
  if (ok) ok = nb_expr_size(e) == numel(rank, shape);
  if (!ok) {
    char want[128], got[128] = "?";
    shape_str(want, sizeof want, rank, shape);
    if (s || nb_expr_rank(e) == 0) shape_str(got, sizeof got, nb_expr_rank(e), s);
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: expression is %s %s, want %s %s\n", file, line, th_current,
            dtname(nb_expr_dtype(e)), got, dtname(dt), want);
  }
  return ok;
}
#define CHECK_SHAPE(e, dt, rank, shape) check_shape(__FILE__, __LINE__, (e), (dt), (rank), (shape))

/* Independent reference for broadcasting: the flat index into an operand of shape ishape
 * (rank irank, right-aligned) that feeds output element flat of shape oshape. */
static int64_t bcast_index(int orank, const int64_t *oshape, int64_t flat, int irank,
                           const int64_t *ishape) {
  int64_t idx[NB_MAX_RANK];
  for (int k = orank - 1; k >= 0; k--) {
    idx[k] = flat % oshape[k];
    flat /= oshape[k];
  }
  int64_t off = 0;
  for (int k = 0; k < irank; k++) {
    int64_t i = idx[orank - irank + k];
    off = off * ishape[k] + (ishape[k] == 1 ? 0 : i);
  }
  return off;
}

/* ---- ops used with every pattern -------------------------------------------------------- */

static double r_add(double a, double b) { return a + b; }
static double r_sub(double a, double b) { return a - b; }
static double r_mul(double a, double b) { return a * b; }
static double r_div(double a, double b) { return a / b; }
static double r_max(double a, double b) { return a > b ? a : b; } /* no NaN in the data */
static double r_min(double a, double b) { return a < b ? a : b; }
static double r_lt(double a, double b) { return a < b; }
static double r_le(double a, double b) { return a <= b; }
static double r_gt(double a, double b) { return a > b; }
static double r_ge(double a, double b) { return a >= b; }
static double r_eq(double a, double b) { return a == b; }
static double r_ne(double a, double b) { return a != b; }

static const struct binop {
  const char *name;
  nb_expr *(*op)(nb_expr *, nb_expr *);
  double (*ref)(double, double);
} OPS[] = {
    {"nb_add", nb_add, r_add},         {"nb_sub", nb_sub, r_sub},
    {"nb_mul", nb_mul, r_mul},         {"nb_div", nb_div, r_div},
    {"nb_pow", nb_pow, pow},           {"nb_atan2", nb_atan2, atan2},
    {"nb_maximum", nb_maximum, r_max}, {"nb_minimum", nb_minimum, r_min},
    {"nb_lt", nb_lt, r_lt},            {"nb_le", nb_le, r_le},
    {"nb_gt", nb_gt, r_gt},            {"nb_ge", nb_ge, r_ge},
    {"nb_eq", nb_eq, r_eq},            {"nb_ne", nb_ne, r_ne},
};
#define NOPS ((int)(sizeof OPS / sizeof OPS[0]))

/* operand data: small positive values with repeats, so that pow stays small and the
 * comparisons see equal elements */
static void fill_a(double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) v[i] = (double)(i % 4) + 1 + (i % 8 >= 4 ? 0.5 : 0);
}
static void fill_b(double *v, int64_t n) {
  for (int64_t i = 0; i < n; i++) v[i] = (double)(i % 3) + 1;
}

/* a (ra, sa) OP b (rb, sb) must have shape (ro, so); checks every op, in both dtypes,
 * in both operand orders, shape via nb_expr_shape and values via nb_call */
static void bcast_case(int ra, const int64_t *sa, int rb, const int64_t *sb, int ro,
                       const int64_t *so) {
  int64_t na = numel(ra, sa), nb = numel(rb, sb), no = numel(ro, so);
  double  a[MAXN], b[MAXN], res[MAXN];
  if (na > MAXN || nb > MAXN || no > MAXN) {
    FAILF("case too large");
    return;
  }
  fill_a(a, na);
  fill_b(b, nb);
  char sha[64], shb[64];
  shape_str(sha, sizeof sha, ra, sa);
  shape_str(shb, sizeof shb, rb, sb);
  for (int d = 0; d < 2; d++)
    for (int k = 0; k < NOPS; k++)
      for (int swap = 0; swap < 2; swap++) {
        nb_dtype  dt = DTYPES[d];
        nb_graph *g = nb_graph_new();
        nb_expr  *ins[2] = {nb_input(g, "a", dt, ra, ra ? sa : NOSHAPE),
                            nb_input(g, "b", dt, rb, rb ? sb : NOSHAPE)};
        nb_expr  *y = swap ? OPS[k].op(ins[1], ins[0]) : OPS[k].op(ins[0], ins[1]);
        if (!CHECK_SHAPE(y, dt, ro, ro ? so : NOSHAPE)) {
          fprintf(stderr, "    (%s of %s and %s, %s)\n", OPS[k].name, swap ? shb : sha,
                  swap ? sha : shb, dtname(dt));
          nb_graph_free(g);
          continue;
        }
        const double *vals[2] = {a, b};
        if (fx_eval(g, 2, ins, vals, y, res, MAXN) != no) {
          FAILF("%s of %s and %s, %s: wrong output size", OPS[k].name, swap ? shb : sha,
                swap ? sha : shb, dtname(dt));
          continue;
        }
        for (int64_t i = 0; i < no; i++) {
          double ai = as_dt(dt, a[bcast_index(ro, so, i, ra, sa)]);
          double bi = as_dt(dt, b[bcast_index(ro, so, i, rb, sb)]);
          double want = as_dt(dt, swap ? OPS[k].ref(bi, ai) : OPS[k].ref(ai, bi));
          double rtol = dt == NB_F32 ? 2e-6 : 1e-14;
          if (!th_near(res[i], want, rtol, 0)) {
            FAILF("%s of %s and %s, %s: element %lld = %.17g, want %.17g", OPS[k].name,
                  swap ? shb : sha, swap ? sha : shb, dtname(dt), (long long)i, res[i], want);
            break;
          }
        }
      }
}

/* ---- patterns --------------------------------------------------------------------------- */

static void test_col_row(void) { /* (3,1) x (1,4) -> (3,4) */
  int64_t sa[2] = {3, 1}, sb[2] = {1, 4}, so[2] = {3, 4};
  bcast_case(2, sa, 2, sb, 2, so);
  /* written out: a = [1,2,3]^T, b = [10,20,30,40] */
  static const double a[] = {1, 2, 3}, b[] = {10, 20, 30, 40};
  static const double add[] = {11, 21, 31, 41, 12, 22, 32, 42, 13, 23, 33, 43};
  static const double sub[] = {-9, -19, -29, -39, -8, -18, -28, -38, -7, -17, -27, -37};
  static const double rsub[] = {9, 19, 29, 39, 8, 18, 28, 38, 7, 17, 27, 37};
  for (int d = 0; d < 2; d++)
    for (int k = 0; k < 3; k++) {
      nb_dtype  dt = DTYPES[d];
      nb_graph *g = nb_graph_new();
      nb_expr  *ins[2] = {nb_input(g, "a", dt, 2, sa), nb_input(g, "b", dt, 2, sb)};
      nb_expr  *y = k == 0 ? nb_add(ins[0], ins[1]) : k == 1 ? nb_sub(ins[0], ins[1])
                                                             : nb_sub(ins[1], ins[0]);
      const double *want = k == 0 ? add : k == 1 ? sub : rsub;
      const double *vals[2] = {a, b};
      double        res[12];
      if (fx_eval(g, 2, ins, vals, y, res, 12) == 12)
        for (int i = 0; i < 12; i++) CHECK(res[i] == want[i]);
    }
}

static void test_scalar_vector(void) { /* () x (5) and (5) x () */
  int64_t s[1] = {5};
  bcast_case(0, NOSHAPE, 1, s, 1, s);
  bcast_case(1, s, 0, NOSHAPE, 1, s);
  bcast_case(0, NOSHAPE, 0, NOSHAPE, 0, NOSHAPE);
  /* written out: 2 - [1,2,3,4,5] and [1,2,3,4,5] / 2 */
  static const double two[] = {2}, v[] = {1, 2, 3, 4, 5};
  static const double w1[] = {1, 0, -1, -2, -3}, w2[] = {0.5, 1, 1.5, 2, 2.5};
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = DTYPES[d];
    for (int k = 0; k < 2; k++) {
      nb_graph *g = nb_graph_new();
      nb_expr  *ins[2] = {nb_input(g, "s", dt, 0, NOSHAPE), nb_input(g, "v", dt, 1, s)};
      nb_expr  *y = k == 0 ? nb_sub(ins[0], ins[1]) : nb_div(ins[1], ins[0]);
      CHECK_SHAPE(y, dt, 1, s);
      const double *vals[2] = {two, v};
      double        res[5];
      if (fx_eval(g, 2, ins, vals, y, res, 5) == 5)
        for (int i = 0; i < 5; i++) CHECK(res[i] == (k == 0 ? w1 : w2)[i]);
    }
  }
}

static void test_leading_dims(void) { /* (4) x (2,3,4) -> (2,3,4) */
  int64_t sa[1] = {4}, sb[3] = {2, 3, 4};
  bcast_case(1, sa, 3, sb, 3, sb);
  int64_t sc[2] = {3, 4}, sd[4] = {2, 1, 3, 4}, so[4] = {2, 1, 3, 4};
  bcast_case(2, sc, 4, sd, 4, so);
  int64_t se[1] = {1}, s1[2] = {1, 1}, s13[2] = {1, 3}, s3[1] = {3};
  bcast_case(1, se, 3, sb, 3, sb); /* (1) x (2,3,4) */
  bcast_case(2, s1, 1, s3, 2, s13); /* (1,1) x (3) -> (1,3) */
  /* written out: [1,2,3,4] * ones(2,3,4)*k */
  static const double a[] = {1, 2, 3, 4};
  double              b[24], want[24];
  for (int i = 0; i < 24; i++) {
    b[i] = i / 4 + 1;
    want[i] = (i % 4 + 1) * (i / 4 + 1);
  }
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    nb_graph *g = nb_graph_new();
    nb_expr  *ins[2] = {nb_input(g, "a", dt, 1, sa), nb_input(g, "b", dt, 3, sb)};
    nb_expr  *y = nb_mul(ins[0], ins[1]);
    const double *vals[2] = {a, b};
    double        res[24];
    if (fx_eval(g, 2, ins, vals, y, res, 24) == 24)
      for (int i = 0; i < 24; i++) CHECK(res[i] == want[i]);
  }
}

static void test_both_sides(void) { /* (2,1,4) x (3,1) -> (2,3,4) */
  int64_t sa[3] = {2, 1, 4}, sb[2] = {3, 1}, so[3] = {2, 3, 4};
  bcast_case(3, sa, 2, sb, 3, so);
  int64_t sc[4] = {1, 3, 1, 2}, sd[3] = {3, 5, 1}, so2[4] = {1, 3, 5, 2};
  bcast_case(4, sc, 3, sd, 4, so2);
  int64_t se[3] = {5, 1, 1}, sf[3] = {1, 1, 3}, so3[3] = {5, 1, 3};
  bcast_case(3, se, 3, sf, 3, so3);
  /* rank 8 */
  int64_t sg[8] = {2, 1, 1, 1, 1, 1, 1, 2}, sh[2] = {1, 2}, so4[8] = {2, 1, 1, 1, 1, 1, 1, 2};
  bcast_case(8, sg, 2, sh, 8, so4);
  int64_t si[8] = {2, 1, 1, 1, 1, 1, 3, 1}, sj[2] = {1, 2}, so5[8] = {2, 1, 1, 1, 1, 1, 3, 2};
  bcast_case(8, si, 2, sj, 8, so5);
  /* written out: a[i][0][k] + b[j][0], a = [[1,2,3,4],[5,6,7,8]], b = [100,200,300] */
  static const double a[] = {1, 2, 3, 4, 5, 6, 7, 8}, b[] = {100, 200, 300};
  double              want[24];
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 3; j++)
      for (int k = 0; k < 4; k++) want[i * 12 + j * 4 + k] = a[i * 4 + k] + b[j];
  CHECK(want[0] == 101 && want[5] == 202 && want[13] == 106 && want[23] == 308);
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    nb_graph *g = nb_graph_new();
    nb_expr  *ins[2] = {nb_input(g, "a", dt, 3, sa), nb_input(g, "b", dt, 2, sb)};
    nb_expr  *y = nb_add(ins[0], ins[1]);
    const double *vals[2] = {a, b};
    double        res[24];
    if (fx_eval(g, 2, ins, vals, y, res, 24) == 24)
      for (int i = 0; i < 24; i++) CHECK(res[i] == want[i]);
  }
}

static void test_same_shape(void) {
  int64_t s[2] = {2, 3};
  bcast_case(2, s, 2, s, 2, s);
}

static void test_size0(void) {
  int64_t s0[1] = {0}, s1[1] = {1}, s03[2] = {0, 3}, s3[1] = {3}, s20[2] = {2, 0},
          s11[2] = {1, 1}, s01[2] = {0, 1}, s14[2] = {1, 4}, s04[2] = {0, 4};
  bcast_case(1, s0, 1, s1, 1, s0);          /* (0) x (1) -> (0) */
  bcast_case(2, s03, 1, s3, 2, s03);        /* (0,3) x (3) -> (0,3) */
  bcast_case(2, s20, 2, s11, 2, s20);       /* (2,0) x (1,1) -> (2,0) */
  bcast_case(1, s0, 0, NOSHAPE, 1, s0);     /* (0) x () -> (0) */
  bcast_case(1, s0, 1, s0, 1, s0);          /* (0) x (0) -> (0) */
  bcast_case(2, s01, 2, s14, 2, s04);       /* (0,1) x (1,4) -> (0,4) */
  bcast_case(2, s20, 1, s0, 2, s20);        /* (2,0) x (0) -> (2,0) */
}

/* nb_where broadcasts its three operands together; cond may have the other dtype */
static void test_where(void) {
  int64_t sc[3] = {2, 1, 1}, sa[3] = {1, 3, 1}, sb[2] = {1, 4}, so[3] = {2, 3, 4};
  static const double c[] = {1, 0}, a[] = {1, 2, 3}, b[] = {-1, -2, -3, -4};
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d], ct = DTYPES[1 - d];
    nb_graph *g = nb_graph_new();
    nb_expr  *ins[3] = {nb_input(g, "c", ct, 3, sc), nb_input(g, "a", dt, 3, sa),
                        nb_input(g, "b", dt, 2, sb)};
    nb_expr  *y = nb_where(ins[0], ins[1], ins[2]);
    if (!CHECK_SHAPE(y, dt, 3, so)) {
      nb_graph_free(g);
      continue;
    }
    const double *vals[3] = {c, a, b};
    double        res[24];
    if (fx_eval(g, 3, ins, vals, y, res, 24) == 24)
      for (int i = 0; i < 2; i++)
        for (int j = 0; j < 3; j++)
          for (int k = 0; k < 4; k++) CHECK(res[i * 12 + j * 4 + k] == (i == 0 ? a[j] : b[k]));
  }
  /* cond () picks everywhere; cond larger than both values */
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    int64_t   s23[2] = {2, 3}, s3[1] = {3};
    nb_graph *g = nb_graph_new();
    nb_expr  *ins[3] = {nb_input(g, "c", dt, 2, s23), nb_input(g, "a", dt, 0, NOSHAPE),
                        nb_input(g, "b", dt, 1, s3)};
    nb_expr  *y = nb_where(ins[0], ins[1], ins[2]);
    CHECK_SHAPE(y, dt, 2, s23);
    static const double cv[] = {1, 0, 1, 0, 0, 1}, av[] = {7}, bv[] = {1, 2, 3};
    static const double want[] = {7, 2, 7, 1, 2, 7};
    const double *vals[3] = {cv, av, bv};
    double        res[6];
    if (fx_eval(g, 3, ins, vals, y, res, 6) == 6)
      for (int i = 0; i < 6; i++) CHECK(res[i] == want[i]);
  }
  /* size 0 */
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    int64_t   s0[2] = {0, 1}, s1[1] = {2}, so0[2] = {0, 2};
    nb_graph *g = nb_graph_new();
    nb_expr  *ins[3] = {nb_input(g, "c", dt, 2, s0), nb_input(g, "a", dt, 1, s1),
                        nb_input(g, "b", dt, 0, NOSHAPE)};
    nb_expr  *y = nb_where(ins[0], ins[1], ins[2]);
    CHECK_SHAPE(y, dt, 2, so0);
    static const double z[2] = {0, 0};
    const double *vals[3] = {z, z, z};
    double        res[1];
    CHECK(fx_eval(g, 3, ins, vals, y, res, 1) == 0);
  }
}

/* ---- weak scalars ----------------------------------------------------------------------- */

static void test_weak_scalar_alone(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *s = nb_scalar(g, 2.5);
  CHECK_SHAPE(s, NB_F64, 0, NOSHAPE);
  double res[1];
  if (fx_eval(g, 0, NULL, NULL, s, res, 1) == 1) CHECK(res[0] == 2.5);

  /* two weak scalars give F64 */
  g = nb_graph_new();
  nb_expr *y = nb_add(nb_scalar(g, 2), nb_scalar(g, 0.1));
  CHECK_SHAPE(y, NB_F64, 0, NOSHAPE);
  if (fx_eval(g, 0, NULL, NULL, y, res, 1) == 1) CHECK(res[0] == 2.0 + 0.1);

  g = nb_graph_new();
  y = nb_pow(nb_scalar(g, 2), nb_scalar(g, 0.5));
  CHECK_SHAPE(y, NB_F64, 0, NOSHAPE);
  if (fx_eval(g, 0, NULL, NULL, y, res, 1) == 1) CHECK_NEAR(res[0], sqrt(2.0), 1e-15, 0);

  /* the scalar keeps its full f64 value when nothing makes it f32 */
  g = nb_graph_new();
  y = nb_muls(nb_scalar(g, 0.1), 3);
  CHECK_SHAPE(y, NB_F64, 0, NOSHAPE);
  if (fx_eval(g, 0, NULL, NULL, y, res, 1) == 1) CHECK(res[0] == 0.1 * 3);
}

/* a weak scalar takes the dtype of the other operand, on either side */
static void test_weak_scalar_binary(void) {
  static const double x[] = {1, -2, 0.5, 3, 0.1, 4};
  int64_t             shape[2] = {2, 3};
  for (int d = 0; d < 2; d++)
    for (int k = 0; k < NOPS; k++)
      for (int left = 0; left < 2; left++) {
        nb_dtype  dt = DTYPES[d];
        double    sv = 0.1;
        nb_graph *g = nb_graph_new();
        nb_expr  *in = nb_input(g, "x", dt, 2, shape);
        nb_expr  *s = nb_scalar(g, sv);
        nb_expr  *y = left ? OPS[k].op(s, in) : OPS[k].op(in, s);
        if (!CHECK_SHAPE(y, dt, 2, shape)) {
          fprintf(stderr, "    (%s, scalar %s, %s)\n", OPS[k].name, left ? "left" : "right",
                  dtname(dt));
          nb_graph_free(g);
          continue;
        }
        const double *vals[1] = {x};
        double        res[6];
        if (fx_eval(g, 1, &in, vals, y, res, 6) != 6) continue;
        for (int i = 0; i < 6; i++) {
          double xi = as_dt(dt, x[i]), si = as_dt(dt, sv);
          double want = as_dt(dt, left ? OPS[k].ref(si, xi) : OPS[k].ref(xi, si));
          if (!th_near(res[i], want, dt == NB_F32 ? 2e-6 : 1e-15, 0)) {
            FAILF("%s with weak scalar on the %s, %s: element %d = %.17g, want %.17g",
                  OPS[k].name, left ? "left" : "right", dtname(dt), i, res[i], want);
            break;
          }
        }
      }
}

/* the results of nb_adds / nb_muls / nb_pows keep x's dtype; a weak + weak result stays weak */
static void test_weak_scalar_helpers(void) {
  static const double x[] = {1, -2, 0.5, 3};
  int64_t             shape[1] = {4};
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = DTYPES[d];
    for (int k = 0; k < 3; k++) {
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 1, shape);
      nb_expr  *y = k == 0 ? nb_adds(in, 0.1) : k == 1 ? nb_muls(in, 0.1) : nb_pows(in, 2);
      CHECK_SHAPE(y, dt, 1, shape);
      const double *vals[1] = {x};
      double        res[4];
      if (fx_eval(g, 1, &in, vals, y, res, 4) != 4) continue;
      for (int i = 0; i < 4; i++) {
        double xi = as_dt(dt, x[i]), s = as_dt(dt, 0.1);
        double want = as_dt(dt, k == 0 ? xi + s : k == 1 ? xi * s : xi * xi);
        CHECK_NEAR(res[i], want, dt == NB_F32 ? 2e-6 : 1e-15, 0);
      }
    }
    {
      /* (2 * 3) is weak: combined with x it takes x's dtype; value 6 + x */
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 1, shape);
      nb_expr  *w = nb_mul(nb_scalar(g, 2), nb_scalar(g, 3));
      nb_expr  *y = nb_add(w, in);
      CHECK_SHAPE(y, dt, 1, shape);
      const double *vals[1] = {x};
      double        res[4];
      if (fx_eval(g, 1, &in, vals, y, res, 4) == 4)
        for (int i = 0; i < 4; i++) CHECK(res[i] == 6 + x[i]);
    }
    {
      /* a weak scalar with a rank-0 strong operand and with a size-0 operand */
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 0, NOSHAPE);
      nb_expr  *y = nb_sub(nb_scalar(g, 1), in);
      CHECK_SHAPE(y, dt, 0, NOSHAPE);
      static const double v[] = {0.25};
      const double *vals[1] = {v};
      double        res[1];
      if (fx_eval(g, 1, &in, vals, y, res, 1) == 1) CHECK(res[0] == 0.75);
      int64_t s0[2] = {3, 0};
      g = nb_graph_new();
      in = nb_input(g, "x", dt, 2, s0);
      y = nb_mul(in, nb_scalar(g, 2));
      CHECK_SHAPE(y, dt, 2, s0);
      CHECK(fx_eval(g, 1, &in, vals, y, res, 1) == 0);
    }
    {
      /* weak scalar as a branch of nb_where */
      nb_graph *g = nb_graph_new();
      nb_expr  *in = nb_input(g, "x", dt, 1, shape);
      nb_expr  *y = nb_where(nb_gt(in, nb_scalar(g, 0.75)), in, nb_scalar(g, -1));
      CHECK_SHAPE(y, dt, 1, shape);
      static const double want[] = {1, -1, -1, 3};
      const double *vals[1] = {x};
      double        res[4];
      if (fx_eval(g, 1, &in, vals, y, res, 4) == 4)
        for (int i = 0; i < 4; i++) CHECK(res[i] == want[i]);
    }
  }
  {
    /* the weak scalar rounds to f32 (1e300 overflows; 0.1 becomes 0.1f) */
    nb_graph *g = nb_graph_new();
    nb_expr  *in = nb_input(g, "x", NB_F32, 1, shape);
    nb_expr  *y = nb_add(nb_muls(in, 0), nb_scalar(g, 0.1));
    static const double v[] = {1, 2, 3, 4};
    const double *vals[1] = {v};
    double        res[4];
    if (fx_eval(g, 1, &in, vals, y, res, 4) == 4)
      for (int i = 0; i < 4; i++) CHECK(res[i] == (double)0.1f);
    g = nb_graph_new();
    in = nb_input(g, "x", NB_F32, 1, shape);
    y = nb_adds(in, 1e300);
    CHECK_SHAPE(y, NB_F32, 1, shape);
    if (fx_eval(g, 1, &in, vals, y, res, 4) == 4)
      for (int i = 0; i < 4; i++) CHECK(res[i] == INFINITY);
  }
}

/* typed rank-0 values are not weak */
static void test_strong_rank0(void) {
  int64_t   shape[1] = {3};
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F32, 1, shape);
  nb_expr  *f = nb_full(g, NB_F64, 0, NOSHAPE, 2.0);
  CHECK(nb_expr_dtype(f) == NB_F64 && nb_expr_rank(f) == 0);
  CHECK(nb_add(x, f) == NULL);
  CHECK_ERR(NB_ERR_DTYPE, "nb_add: dtype mismatch f32 and f64");
  nb_errclear();
  double   one = 1;
  nb_expr *c = nb_const(g, NB_F64, 0, NOSHAPE, &one);
  CHECK(nb_mul(c, x) == NULL);
  CHECK_ERR(NB_ERR_DTYPE, "nb_mul: dtype mismatch f64 and f32");
  nb_graph_free(g);
}

/* ---- errors ----------------------------------------------------------------------------- */

static void test_error_message(void) {
  for (int d = 0; d < 2; d++) {
    nb_dtype  dt = DTYPES[d];
    int64_t   s32[2] = {3, 2}, s4[1] = {4};
    nb_graph *g = nb_graph_new();
    nb_expr  *a = nb_input(g, "a", dt, 2, s32);
    nb_expr  *b = nb_input(g, "b", dt, 1, s4);
    nb_errclear();
    CHECK(nb_add(a, b) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_add: cannot broadcast shapes [3,2] and [4]");
    CHECK(strcmp(nb_errmsg(), "nb_add: cannot broadcast shapes [3,2] and [4]") == 0);
    /* NULL propagates without overwriting the record */
    CHECK(nb_sin(nb_add(a, b)) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_add: cannot broadcast shapes [3,2] and [4]");
    CHECK(nb_mul(nb_exp(nb_add(a, b)), a) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_add: cannot broadcast shapes [3,2] and [4]");
    nb_errclear();
    CHECK(nb_add(b, a) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, "nb_add: cannot broadcast shapes [4] and [3,2]");
    /* every binary op names itself */
    for (int k = 0; k < NOPS; k++) {
      char want[96];
      snprintf(want, sizeof want, "%s: cannot broadcast shapes [3,2] and [4]", OPS[k].name);
      nb_errclear();
      CHECK(OPS[k].op(a, b) == NULL);
      CHECK_ERR(NB_ERR_SHAPE, want);
    }
    /* the graph is still usable */
    int64_t  s2[1] = {2};
    nb_expr *c = nb_input(g, "c", dt, 1, s2);
    nb_expr *y = nb_add(a, c);
    CHECK_SHAPE(y, dt, 2, s32);
    static const double av[] = {1, 2, 3, 4, 5, 6}, bv[] = {10, 20, 30, 40}, cv[] = {10, 20};
    static const double want[] = {11, 22, 13, 24, 15, 26};
    nb_expr      *ins[3] = {a, b, c};
    const double *vals[3] = {av, bv, cv};
    double        res[6];
    if (fx_eval(g, 3, ins, vals, y, res, 6) == 6)
      for (int i = 0; i < 6; i++) CHECK(res[i] == want[i]);
  }
}

static void test_error_shapes(void) {
  static const struct {
    int     ra, rb;
    int64_t sa[3], sb[3];
    const char *msg;
  } rows[] = {
      {1, 1, {0}, {2}, "nb_add: cannot broadcast shapes [0] and [2]"},
      {1, 1, {3}, {2}, "nb_add: cannot broadcast shapes [3] and [2]"},
      {2, 2, {2, 3}, {3, 2}, "nb_add: cannot broadcast shapes [2,3] and [3,2]"},
      {3, 3, {2, 3, 4}, {3, 1, 4}, "nb_add: cannot broadcast shapes [2,3,4] and [3,1,4]"},
      {2, 1, {2, 0}, {3}, "nb_add: cannot broadcast shapes [2,0] and [3]"},
      {3, 2, {2, 1, 4}, {3, 5}, "nb_add: cannot broadcast shapes [2,1,4] and [3,5]"},
  };
  for (size_t k = 0; k < sizeof rows / sizeof rows[0]; k++) {
    nb_graph *g = nb_graph_new();
    nb_expr  *a = nb_input(g, "a", NB_F64, rows[k].ra, rows[k].sa);
    nb_expr  *b = nb_input(g, "b", NB_F64, rows[k].rb, rows[k].sb);
    nb_errclear();
    CHECK(nb_add(a, b) == NULL);
    CHECK_ERR(NB_ERR_SHAPE, rows[k].msg);
    nb_graph_free(g);
  }
  /* nb_where */
  int64_t   s3[1] = {3}, s4[1] = {4};
  nb_graph *g = nb_graph_new();
  nb_expr  *c = nb_input(g, "c", NB_F32, 1, s3);
  nb_expr  *a = nb_input(g, "a", NB_F32, 1, s4);
  nb_errclear();
  CHECK(nb_where(c, a, nb_scalar(g, 0)) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_where: cannot broadcast");
  nb_errclear();
  CHECK(nb_where(nb_scalar(g, 1), c, a) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_where: cannot broadcast");
  nb_graph_free(g);
}

static void test_error_dtype(void) {
  int64_t   s[1] = {3}, s23[2] = {2, 3};
  nb_graph *g = nb_graph_new();
  nb_expr  *a32 = nb_input(g, "a", NB_F32, 1, s);
  nb_expr  *b64 = nb_input(g, "b", NB_F64, 2, s23);
  for (int k = 0; k < NOPS; k++) {
    char want[96];
    snprintf(want, sizeof want, "%s: dtype mismatch f32 and f64", OPS[k].name);
    nb_errclear();
    CHECK(OPS[k].op(a32, b64) == NULL);
    CHECK_ERR(NB_ERR_DTYPE, want);
    snprintf(want, sizeof want, "%s: dtype mismatch f64 and f32", OPS[k].name);
    nb_errclear();
    CHECK(OPS[k].op(b64, a32) == NULL);
    CHECK_ERR(NB_ERR_DTYPE, want);
  }
  nb_errclear();
  CHECK(nb_where(b64, a32, b64) == NULL);
  CHECK_ERR(NB_ERR_DTYPE, "nb_where: dtype mismatch f32 and f64");
  /* NULL propagation keeps the dtype error */
  CHECK(nb_neg(nb_add(a32, b64)) == NULL);
  CHECK_ERR(NB_ERR_DTYPE, "nb_add: dtype mismatch f32 and f64");
  nb_graph_free(g);
}

static void test_error_graphs(void) {
  int64_t   s[1] = {3};
  nb_graph *g1 = nb_graph_new(), *g2 = nb_graph_new();
  nb_expr  *a = nb_input(g1, "a", NB_F64, 1, s);
  nb_expr  *b = nb_input(g2, "b", NB_F64, 1, s);
  CHECK(nb_expr_graph(a) == g1 && nb_expr_graph(b) == g2);
  for (int k = 0; k < NOPS; k++) {
    char want[96];
    snprintf(want, sizeof want, "%s: operands belong to different graphs", OPS[k].name);
    nb_errclear();
    CHECK(OPS[k].op(a, b) == NULL);
    CHECK_ERR(NB_ERR_ARG, want);
  }
  nb_errclear();
  CHECK(nb_add(a, nb_scalar(g2, 1)) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_add: operands belong to different graphs");
  nb_errclear();
  CHECK(nb_where(b, a, a) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_where: operands belong to different graphs");
  nb_errclear();
  CHECK(nb_where(a, a, b) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_where: operands belong to different graphs");
  /* NULL operand with a clear record */
  nb_errclear();
  CHECK(nb_add(NULL, a) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_add: NULL argument");
  nb_errclear();
  CHECK(nb_adds(NULL, 1) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_adds: NULL argument");
  /* both graphs still work */
  nb_expr *y = nb_add(a, a);
  CHECK(y != NULL && nb_expr_graph(y) == g1);
  CHECK(nb_expr_graph(nb_scalar(g2, 1)) == g2);
  nb_graph_free(g2);
  static const double av[] = {1, 2, 3};
  const double       *vals[1] = {av};
  double              res[3];
  if (fx_eval(g1, 1, &a, vals, y, res, 3) == 3) CHECK(res[0] == 2 && res[1] == 4 && res[2] == 6);
}

void suite_broadcast(void) {
  RUN(test_col_row);
  RUN(test_scalar_vector);
  RUN(test_leading_dims);
  RUN(test_both_sides);
  RUN(test_same_shape);
  RUN(test_size0);
  RUN(test_where);
  RUN(test_weak_scalar_alone);
  RUN(test_weak_scalar_binary);
  RUN(test_weak_scalar_helpers);
  RUN(test_strong_rank0);
  RUN(test_error_message);
  RUN(test_error_shapes);
  RUN(test_error_dtype);
  RUN(test_error_graphs);
}
