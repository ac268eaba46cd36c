/* Batching (issue 4): nb_vmap_sized, nb_batch_jvp_sized, nb_batch_vjp_sized and their
 * composition with the differentiation transforms.
 *
 * One table row per public operation (plus a few composites); one generic driver
 * checks, for every row, shape case, dtype (f64, f32), batch size (0, 1, 3) and axis
 * configuration (in_axes 0 / last / negative / a middle axis / some operands
 * NB_UNMAPPED; out_axes 0 / last / negative / middle), that nb_vmap_sized(f) equals
 * the loop of f over the batch: each batch item is sliced out of the batched
 * inputs, f is called on it, and its outputs are placed at out_axes. Results must
 * agree to 1e-12 (f64) or 1e-4 (f32), relative and absolute: vector math (libmvec)
 * is accurate to a few ulp, and a value may take a vector lane in one run and
 * the scalar remainder loop in the other.
 *
 * The same table then drives:
 *   - nb_batch_jvp_sized / nb_batch_vjp_sized == loops of nb_jvp / nb_vjp
 *   - per-example gradients nb_vmap_sized(nb_grad(s)) == loop of nb_grad(s), where
 *     s is a scalar version of the row (sum of squares of its outputs)
 *   - nb_vmap_sized of nb_jvp, nb_vjp and nb_hvp == their loops
 *   - nb_jacfwd == nb_jacrev == nb_jacobian == the stacked rows of one-hot nb_vjp
 *     == nb_batch_vjp_sized with identity cotangents
 * and a few functions check nested vmap, nb_jacfwd/nb_jacrev/nb_vjp/nb_grad of a
 * vmapped function, work on unmapped inputs done once, the error paths and an
 * allocation-failure sweep. */
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "suites.h"

#define MAXT 16 /* inputs or outputs of a tested function */
#define MAXCASE 8
#define TOL_F64 1e-12
#define TOL_F32 1e-4

/* ---- reporting ------------------------------------------------------------------ */
static void failf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  th_failed_checks++;
  fprintf(stderr, "  %s: ", th_current);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
}

/* ---- deterministic data ----------------------------------------------------------- */
static uint64_t rng_state = 12345;
static double   u01(void) {
  uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

typedef struct samp {
  int    k; /* 0: default, 1: uniform [lo, hi], 2: integer in [lo, hi], 3: |x| in [lo, hi] */
  double lo, hi;
} samp;
#define SU(a, b) {1, a, b}
#define SI(a, b) {2, a, b}
#define SA(a, b) {3, a, b}
#define SU_DEF SU(-2, 2) /* the default sampling, as an initializer */
static const samp S_DEF = SU_DEF, S_TAN = SU(-1, 1);

static double draw(samp s) {
  switch (s.k) {
  case 2: return s.lo + floor(u01() * (s.hi - s.lo + 1));
  case 3: {
    double m = s.lo + (s.hi - s.lo) * u01();
    return u01() < 0.5 ? -m : m;
  }
  default: return s.lo + (s.hi - s.lo) * u01();
  }
}

/* the sampler of input i: s[i], else s[0], else the default; inputs past ns
 * (tangents, cotangents, hvp directions) are uniform in [-1, 1] */
static samp samp_for(const samp *s, int ns, int i) {
  if (!s || i >= ns) return i >= ns ? S_TAN : S_DEF;
  if (s[i].k) return s[i];
  return s[0].k ? s[0] : S_DEF;
}

/* ---- signatures, buffers, calls ----------------------------------------------------- */
typedef struct sig {
  nb_dtype dt;
  int      rank;
  int64_t  shape[NB_MAX_RANK];
  int64_t  size;
} sig;

static sig sig_of(const nb_fn *f, int i, bool out) {
  sig s = {0};
  s.dt = out ? nb_fn_out_dtype(f, i) : nb_fn_in_dtype(f, i);
  s.rank = out ? nb_fn_out_rank(f, i) : nb_fn_in_rank(f, i);
  s.size = out ? nb_fn_out_size(f, i) : nb_fn_in_size(f, i);
  const int64_t *sh = out ? nb_fn_out_shape(f, i) : nb_fn_in_shape(f, i);
  for (int d = 0; d < s.rank && d < NB_MAX_RANK && sh; d++) s.shape[d] = sh[d];
  return s;
}

/* v is u with a batch axis of length b inserted at `axis` (NB_UNMAPPED: v == u) */
static bool sig_inserted(const sig *v, const sig *u, int axis, int64_t b) {
  if (v->dt != u->dt) return false;
  if (axis == NB_UNMAPPED) {
    if (v->rank != u->rank) return false;
    for (int d = 0; d < u->rank; d++)
      if (v->shape[d] != u->shape[d]) return false;
    return true;
  }
  if (v->rank != u->rank + 1 || axis < 0 || axis > u->rank || v->shape[axis] != b) return false;
  for (int d = 0, k = 0; d < v->rank; d++)
    if (d != axis && v->shape[d] != u->shape[k++]) return false;
  return true;
}

static bool has_f32(const nb_fn *f) {
  for (int i = 0; i < nb_fn_nin(f); i++)
    if (nb_fn_in_dtype(f, i) == NB_F32) return true;
  for (int j = 0; j < nb_fn_nout(f); j++)
    if (nb_fn_out_dtype(f, j) == NB_F32) return true;
  return false;
}

/* how much was checked, printed at the end of the suite */
static long n_vmap, n_items, n_products, n_jac, n_elems;

static double *dbuf(int64_t n) { return calloc((size_t)n + 1, sizeof(double)); }

static void fill(double *x, int64_t n, samp s) {
  for (int64_t i = 0; i < n; i++) x[i] = draw(s);
}

/* nb_call with every buffer held as double (converted for f32 signatures) */
static bool callf(const char *ctx, nb_fn *f, double *const *in, double *const *out) {
  int   nin = nb_fn_nin(f), nout = nb_fn_nout(f);
  void *bi[MAXT], *bo[MAXT];
  bool  ok = nin <= MAXT && nout <= MAXT;
  for (int i = 0; ok && i < nin; i++) {
    int64_t n = nb_fn_in_size(f, i);
    bi[i] = in[i];
    if (nb_fn_in_dtype(f, i) == NB_F32) {
      float *p = calloc((size_t)n + 1, sizeof *p);
      for (int64_t k = 0; k < n; k++) p[k] = (float)in[i][k];
      bi[i] = p;
    }
  }
  for (int j = 0; ok && j < nout; j++)
    bo[j] = nb_fn_out_dtype(f, j) == NB_F32 ? calloc((size_t)nb_fn_out_size(f, j) + 1, sizeof(float))
                                            : (void *)out[j];
  nb_status st = ok ? nb_call(f, (const void *const *)bi, bo) : NB_ERR_ARG;
  for (int j = 0; ok && j < nout; j++)
    if (nb_fn_out_dtype(f, j) == NB_F32) {
      const float *p = bo[j];
      for (int64_t k = 0; k < nb_fn_out_size(f, j); k++) out[j][k] = p[k];
      free(bo[j]);
    }
  for (int i = 0; ok && i < nin; i++)
    if (nb_fn_in_dtype(f, i) == NB_F32) free(bi[i]);
  if (st) failf("%s: nb_call failed: %s", ctx, ok ? nb_errmsg() : "too many inputs/outputs");
  return st == NB_OK;
}

/* got == want within the tolerance of the dtype class (scaled); reports the first
 * differing element */
static bool compare(const char *ctx, const char *what, int j, const double *got,
                    const double *want, int64_t n, bool f32, double scale) {
  double  tol = (f32 ? TOL_F32 : TOL_F64) * scale;
  int64_t bad = 0, first = -1;
  n_elems += n;
  for (int64_t i = 0; i < n; i++)
    if (!th_near(got[i], want[i], tol, tol)) {
      if (first < 0) first = i;
      bad++;
    }
  if (bad)
    failf("%s: %s %d: %lld of %lld elements differ, first [%lld] = %.17g, want %.17g", ctx, what,
          j, (long long)bad, (long long)n, (long long)first, got[first], want[first]);
  return bad == 0;
}

/* the item b of a batched buffer (axis `axis` of `shape` is the batch) to or from a
 * dense item buffer */
static void item_io(double *batched, double *item, int rank, const int64_t *shape, int axis,
                    int64_t b, bool put) {
  int64_t outer = 1, inner = 1, nb = shape[axis];
  for (int d = 0; d < axis; d++) outer *= shape[d];
  for (int d = axis + 1; d < rank; d++) inner *= shape[d];
  for (int64_t o = 0; o < outer; o++)
    for (int64_t k = 0; k < inner; k++) {
      int64_t src = (o * nb + b) * inner + k;
      if (put) batched[src] = item[o * inner + k];
      else item[o * inner + k] = batched[src];
    }
}

static void free_bufs(double **b, int n) {
  for (int i = 0; i < n; i++) free(b[i]), b[i] = NULL;
}

/* ---- the core check: vmap(f) == the loop of f ------------------------------------ */
static void check_vmap(const char *ctx, const nb_fn *f, int64_t B, const int *in_axes,
                       const int *out_axes, const samp *s, int ns) {
  if (!f) return;
  int nin = nb_fn_nin(f), nout = nb_fn_nout(f);
  if (nin > MAXT || nout > MAXT) {
    failf("%s: too many inputs or outputs", ctx);
    return;
  }
  nb_errclear();
  nb_fn *vf = nb_vmap_sized(f, B, in_axes, out_axes);
  n_vmap++, n_items += B;
  if (!vf) {
    failf("%s: nb_vmap_sized failed: %s \"%s\"", ctx, nb_status_str(nb_errcode()), nb_errmsg());
    return;
  }
  bool f32 = has_f32(f);
  int  ia[MAXT], oa[MAXT];
  bool ok = nb_fn_nin(vf) == nin && nb_fn_nout(vf) == nout;
  for (int i = 0; ok && i < nin; i++) {
    sig u = sig_of(f, i, false), v = sig_of(vf, i, false);
    int a = in_axes ? in_axes[i] : 0;
    if (a != NB_UNMAPPED && a < 0) a += u.rank + 1;
    ia[i] = a;
    ok = sig_inserted(&v, &u, a, B);
    if (!ok) failf("%s: input %d of the vmapped function has the wrong signature", ctx, i);
  }
  for (int j = 0; ok && j < nout; j++) {
    sig u = sig_of(f, j, true), v = sig_of(vf, j, true);
    int a = out_axes ? out_axes[j] : 0;
    if (a < 0) a += u.rank + 1;
    oa[j] = a;
    ok = sig_inserted(&v, &u, a, B);
    if (!ok) failf("%s: output %d of the vmapped function has the wrong signature", ctx, j);
  }
  double *X[MAXT] = {0}, *xi[MAXT] = {0}, *xin[MAXT] = {0}, *Y[MAXT] = {0}, *W[MAXT] = {0},
         *yi[MAXT] = {0};
  if (ok) {
    for (int i = 0; i < nin; i++) {
      X[i] = dbuf(nb_fn_in_size(vf, i));
      xi[i] = dbuf(nb_fn_in_size(f, i));
      fill(X[i], nb_fn_in_size(vf, i), samp_for(s, ns, i));
    }
    for (int j = 0; j < nout; j++) {
      Y[j] = dbuf(nb_fn_out_size(vf, j));
      W[j] = dbuf(nb_fn_out_size(vf, j));
      yi[j] = dbuf(nb_fn_out_size(f, j));
    }
    if (callf(ctx, vf, X, Y)) {
      bool called = true;
      for (int64_t b = 0; called && b < B; b++) {
        for (int i = 0; i < nin; i++) {
          xin[i] = X[i];
          if (ia[i] != NB_UNMAPPED) {
            sig v = sig_of(vf, i, false);
            item_io(X[i], xi[i], v.rank, v.shape, ia[i], b, false);
            xin[i] = xi[i];
          }
        }
        called = callf(ctx, (nb_fn *)f, xin, yi);
        for (int j = 0; called && j < nout; j++) {
          sig v = sig_of(vf, j, true);
          item_io(W[j], yi[j], v.rank, v.shape, oa[j], b, true);
        }
      }
      for (int j = 0; called && j < nout; j++)
        compare(ctx, "output", j, Y[j], W[j], nb_fn_out_size(vf, j), f32, 1);
    }
  }
  free_bufs(X, nin), free_bufs(xi, nin), free_bufs(Y, nout), free_bufs(W, nout);
  free_bufs(yi, nout);
  nb_fn_free(vf);
}

/* ---- batch_jvp / batch_vjp == loops of jvp / vjp ----------------------------------- */
static void check_batch_product(const char *ctx, const nb_fn *f, int64_t B, bool reverse,
                                const nb_diff_opts *o, const samp *s, int ns) {
  if (!f) return;
  nb_errclear();
  nb_fn *t = reverse ? nb_vjp(f, o) : nb_jvp(f, o);
  nb_fn *bt = reverse ? nb_batch_vjp_sized(f, B, o) : nb_batch_jvp_sized(f, B, o);
  const char *name = reverse ? "nb_batch_vjp_sized" : "nb_batch_jvp_sized";
  n_products++;
  int         fin = nb_fn_nin(f), fout = nb_fn_nout(f);
  double     *X[MAXT] = {0}, *xi[MAXT] = {0}, *Y[MAXT] = {0}, *yi[MAXT] = {0}, *yf[MAXT] = {0};
  bool        f32 = has_f32(f), ok = t && bt;
  if (!ok) failf("%s: %s failed: %s \"%s\"", ctx, t ? name : (reverse ? "nb_vjp" : "nb_jvp"),
                 nb_status_str(nb_errcode()), nb_errmsg());
  int nin = ok ? nb_fn_nin(t) : 0, nout = ok ? nb_fn_nout(t) : 0;
  if (ok && (nin > MAXT || nout > MAXT)) ok = false, failf("%s: too many inputs", ctx);
  ok = ok && nb_fn_nin(bt) == nin && nb_fn_nout(bt) == nout;
  for (int i = 0; ok && i < nin; i++) {
    sig u = sig_of(t, i, false), v = sig_of(bt, i, false);
    ok = sig_inserted(&v, &u, i < fin ? NB_UNMAPPED : 0, B);
    if (!ok) failf("%s: %s input %d has the wrong signature", ctx, name, i);
  }
  for (int j = 0; ok && j < nout; j++) {
    sig u = sig_of(t, j, true), v = sig_of(bt, j, true);
    ok = sig_inserted(&v, &u, j < fout ? NB_UNMAPPED : 0, B);
    if (!ok) failf("%s: %s output %d has the wrong signature", ctx, name, j);
  }
  if (ok) {
    for (int i = 0; i < nin; i++) {
      X[i] = dbuf(nb_fn_in_size(bt, i));
      fill(X[i], nb_fn_in_size(bt, i), samp_for(s, ns, i));
      xi[i] = i < fin ? X[i] : NULL;
    }
    for (int j = 0; j < nout; j++) Y[j] = dbuf(nb_fn_out_size(bt, j)), yi[j] = dbuf(nb_fn_out_size(t, j));
    for (int j = 0; j < fout; j++) yf[j] = dbuf(nb_fn_out_size(f, j));
    if (callf(ctx, bt, X, Y) && callf(ctx, (nb_fn *)f, X, yf)) {
      for (int j = 0; j < fout; j++)
        compare(ctx, "primal output", j, Y[j], yf[j], nb_fn_out_size(f, j), f32, 1);
      for (int64_t b = 0; b < B; b++) {
        for (int i = fin; i < nin; i++) xi[i] = X[i] + b * nb_fn_in_size(t, i);
        if (!callf(ctx, t, xi, yi)) break;
        for (int j = fout; j < nout; j++) {
          char what[64];
          snprintf(what, sizeof what, "batch item %lld, output", (long long)b);
          compare(ctx, what, j, Y[j] + b * nb_fn_out_size(t, j), yi[j], nb_fn_out_size(t, j), f32, 1);
        }
      }
    }
  }
  free_bufs(X, nin), free_bufs(Y, nout), free_bufs(yi, nout), free_bufs(yf, fout);
  nb_fn_free(t);
  nb_fn_free(bt);
}

/* ---- jacfwd == jacrev == jacobian == one-hot vjp rows == batch_vjp(identity) ------- */
static void check_jacobians(const char *ctx, const nb_fn *f, const samp *s, int ns) {
  if (!f) return;
  nb_errclear();
  int    nin = nb_fn_nin(f), nout = nb_fn_nout(f);
  nb_fn *jf = nb_jacfwd(f, NULL), *jr = nb_jacrev(f, NULL), *jj = nb_jacobian(f, NULL);
  nb_fn *v = nb_vjp(f, NULL);
  n_jac++;
  if (!jf || !jr || !jj || !v) {
    failf("%s: a jacobian transform failed: %s \"%s\"", ctx, nb_status_str(nb_errcode()), nb_errmsg());
    goto out;
  }
  if (nin + nout > MAXT || nin * nout > MAXT) goto out;
  bool    f32 = has_f32(f);
  double *X[MAXT] = {0}, *Jf[MAXT] = {0}, *Jr[MAXT] = {0}, *Jj[MAXT] = {0}, *R[MAXT] = {0};
  double *vin[MAXT] = {0}, *vout[MAXT] = {0};
  for (int i = 0; i < nin; i++) X[i] = dbuf(nb_fn_in_size(f, i)), fill(X[i], nb_fn_in_size(f, i), samp_for(s, ns, i));
  bool ok = nb_fn_nout(jf) == nin * nout && nb_fn_nout(jr) == nin * nout && nb_fn_nout(jj) == nin * nout;
  for (int k = 0; ok && k < nin * nout; k++) {
    int64_t n = nb_fn_out_size(f, k / nin) * nb_fn_in_size(f, k % nin);
    ok = nb_fn_out_size(jf, k) == n && nb_fn_out_size(jr, k) == n && nb_fn_out_size(jj, k) == n;
    Jf[k] = dbuf(n), Jr[k] = dbuf(n), Jj[k] = dbuf(n), R[k] = dbuf(n);
  }
  if (!ok) failf("%s: jacobian signatures are wrong", ctx);
  ok = ok && callf(ctx, jf, X, Jf) && callf(ctx, jr, X, Jr) && callf(ctx, jj, X, Jj);
  /* one-hot vjp rows */
  for (int i = 0; i < nin; i++) vin[i] = X[i];
  for (int j = 0; j < nout; j++) vin[nin + j] = dbuf(nb_fn_out_size(f, j)), vout[j] = dbuf(nb_fn_out_size(f, j));
  for (int i = 0; i < nin; i++) vout[nout + i] = dbuf(nb_fn_in_size(f, i));
  for (int j = 0; ok && j < nout; j++)
    for (int64_t e = 0; ok && e < nb_fn_out_size(f, j); e++) {
      vin[nin + j][e] = 1;
      ok = callf(ctx, v, vin, vout);
      vin[nin + j][e] = 0;
      for (int i = 0; ok && i < nin; i++) {
        int64_t ni = nb_fn_in_size(f, i);
        memcpy(R[j * nin + i] + e * ni, vout[nout + i], (size_t)ni * sizeof(double));
      }
    }
  for (int k = 0; ok && k < nin * nout; k++) {
    int64_t n = nb_fn_out_size(jf, k);
    compare(ctx, "jacrev vs one-hot vjp rows, block", k, Jr[k], R[k], n, f32, 1);
    compare(ctx, "jacobian vs one-hot vjp rows, block", k, Jj[k], R[k], n, f32, 100);
    compare(ctx, "jacfwd vs one-hot vjp rows, block", k, Jf[k], R[k], n, f32, 100);
  }
  /* batch_vjp with identity cotangents for output j (zeros for the others) */
  for (int j = 0; ok && j < nout; j++) {
    int64_t m = nb_fn_out_size(f, j);
    nb_fn  *bv = nb_batch_vjp_sized(f, m, NULL);
    if (!bv) {
      failf("%s: nb_batch_vjp_sized failed: %s", ctx, nb_errmsg());
      break;
    }
    double *bi[MAXT] = {0}, *bo[MAXT] = {0};
    for (int i = 0; i < nin; i++) bi[i] = X[i];
    for (int q = 0; q < nout; q++) bi[nin + q] = dbuf(m * nb_fn_out_size(f, q));
    for (int64_t e = 0; e < m; e++) bi[nin + j][e * m + e] = 1;
    for (int q = 0; q < nb_fn_nout(bv); q++) bo[q] = dbuf(nb_fn_out_size(bv, q));
    if (callf(ctx, bv, bi, bo))
      for (int i = 0; i < nin; i++)
        compare(ctx, "batch_vjp(identity) vs one-hot vjp rows, block", j * nin + i, bo[nout + i],
                R[j * nin + i], m * nb_fn_in_size(f, i), f32, 1);
    for (int q = 0; q < nout; q++) free(bi[nin + q]);
    free_bufs(bo, nb_fn_nout(bv));
    nb_fn_free(bv);
  }
  free_bufs(X, nin);
  for (int k = 0; k < nin * nout; k++) free(Jf[k]), free(Jr[k]), free(Jj[k]), free(R[k]);
  for (int j = 0; j < nout; j++) free(vin[nin + j]), free(vout[j]);
  for (int i = 0; i < nin; i++) free(vout[nout + i]);
out:
  nb_fn_free(jf), nb_fn_free(jr), nb_fn_free(jj), nb_fn_free(v);
}

/* ---- rows ------------------------------------------------------------------------- */
typedef int (*build_fn)(nb_expr *const *x, nb_expr **y, nb_dtype dt);

typedef struct row {
  const char *name;
  build_fn    build;
  samp        s[6];
  const char *cases[MAXCASE]; /* input shapes "(2,3)x(3)"; "()" is a scalar */
} row;

#define OTHER(dt) ((dt) == NB_F64 ? NB_F32 : NB_F64)
#define GR(x) nb_expr_graph(x)
#define B1(nm, expr)                                               \
  static int b_##nm(nb_expr *const *x, nb_expr **y, nb_dtype dt) { \
    (void)dt;                                                      \
    y[0] = (expr);                                                 \
    return 1;                                                      \
  }
#define I64(...) ((const int64_t[]){__VA_ARGS__})
#define AX(...) ((const int[]){__VA_ARGS__})

/* unary */
#define B1_UNARY(nm) B1(nm, nb_##nm(x[0]))
FX_UNARY_OPS(B1_UNARY)
B1(adds, nb_adds(x[0], 1.5))
B1(muls, nb_muls(x[0], -2.5))
B1(pows3, nb_pows(x[0], 3.0))
B1(pows_frac, nb_pows(x[0], -1.5))
B1(weak, nb_add(nb_mul(x[0], nb_scalar(GR(x[0]), -0.75)), nb_scalar(GR(x[0]), 0.25)))
B1(cast_other, nb_cast(x[0], OTHER(dt)))
B1(cast_same, nb_cast(x[0], dt))

/* x (.., 3) * const [0.5, -1, 2] + full 0.25 */
static int b_const(nb_expr *const *x, nb_expr **y, nb_dtype dt) {
  const double  d[3] = {0.5, -1, 2};
  const float   s[3] = {0.5f, -1, 2};
  const int64_t three[1] = {3};
  nb_expr      *c = nb_const(GR(x[0]), dt, 1, three, dt == NB_F64 ? (const void *)d : (const void *)s);
  y[0] = nb_add(nb_mul(x[0], c), nb_full(GR(x[0]), dt, 0, NULL, 0.25));
  return 1;
}

/* binary, comparisons, where */
B1(add, nb_add(x[0], x[1]))
B1(sub, nb_sub(x[0], x[1]))
B1(mul, nb_mul(x[0], x[1]))
B1(div, nb_div(x[0], x[1]))
B1(pow, nb_pow(x[0], x[1]))
B1(atan2, nb_atan2(x[0], x[1]))
B1(maximum, nb_maximum(x[0], x[1]))
B1(minimum, nb_minimum(x[0], x[1]))
B1(lt, nb_lt(x[0], x[1]))
B1(le, nb_le(x[0], x[1]))
B1(gt, nb_gt(x[0], x[1]))
B1(ge, nb_ge(x[0], x[1]))
B1(eq, nb_eq(x[0], x[1]))
B1(ne, nb_ne(x[0], x[1]))
B1(where, nb_where(x[0], x[1], x[2]))
B1(where_castcond, nb_where(nb_cast(x[0], OTHER(dt)), x[1], x[2]))

/* reductions: all axes, all keepdims, axis 1, axes (0,-1) keepdims, axis -1 */
#define RED(nm, fn)                                              \
  B1(nm##_all, fn(x[0], 0, NULL, false))                         \
  B1(nm##_allk, fn(x[0], 0, NULL, true))                         \
  B1(nm##_ax1, fn(x[0], 1, AX(1), false))                        \
  B1(nm##_ax0m1k, fn(x[0], 2, AX(0, -1), true))                  \
  B1(nm##_axm1, fn(x[0], 1, AX(-1), false))
RED(sum, nb_sum)
RED(mean, nb_mean)
RED(prod, nb_prod)
RED(max, nb_max)
RED(min, nb_min)
RED(lse, nb_logsumexp)

/* shape and indexing */
B1(reshape_32, nb_reshape(x[0], 2, I64(3, 2)))
B1(reshape_m1, nb_reshape(x[0], 2, I64(-1, 2)))
B1(reshape_up, nb_reshape(x[0], 2, I64(2, 3)))
B1(reshape_s11, nb_reshape(x[0], 2, I64(1, 1)))
B1(reshape_flat, nb_reshape(x[0], 1, I64(-1)))
B1(transpose_rev, nb_transpose(x[0], NULL))
B1(transpose_102, nb_transpose(x[0], AX(1, 0, 2)))
B1(transpose_201, nb_transpose(x[0], AX(2, 0, 1)))
B1(bcast_23, nb_broadcast_to(x[0], 2, I64(2, 3)))
B1(bcast_423, nb_broadcast_to(x[0], 3, I64(4, 2, 3)))
B1(slice_basic, nb_slice(x[0], 0, 1, 3, 1))
B1(slice_negstep, nb_slice(x[0], -1, -1, INT64_MIN, -2))
B1(slice_negstep2, nb_slice(x[0], 0, 3, 0, -1))
B1(slice_clamp, nb_slice(x[0], 1, -10, 10, 1))
B1(slice_step, nb_slice(x[0], 1, 1, INT64_MAX, 2))
B1(slice_empty, nb_slice(x[0], 1, 3, 3, 1))
B1(index_0, nb_index(x[0], 0, 1))
B1(index_m1, nb_index(x[0], -1, -1))
B1(take_0, nb_take(x[0], 0, 4, I64(2, 0, -1, 0)))
B1(take_m1, nb_take(x[0], -1, 2, I64(1, 1)))
B1(take_none, nb_take(x[0], 0, 0, I64(0)))
B1(concat_m1, nb_concat(2, x, -1))
B1(concat_0, nb_concat(3, x, 0))
B1(concat_one, nb_concat(1, x, 0))
B1(stack_0, nb_stack(2, x, 0))
B1(stack_m1, nb_stack(2, x, -1))
B1(stack3_1, nb_stack(3, x, 1))

/* linear algebra and nn helpers */
B1(matmul, nb_matmul(x[0], x[1]))
B1(softmax_m1, nb_softmax(x[0], -1))
B1(softmax_0, nb_softmax(x[0], 0))
B1(log_softmax_m1, nb_log_softmax(x[0], -1))
B1(log_softmax_0, nb_log_softmax(x[0], 0))

/* composites */
static nb_expr *mlp_logits(nb_expr *const *p) { /* p: x, W1, b1, W2, b2 */
  return nb_add(nb_matmul(nb_tanh(nb_add(nb_matmul(p[0], p[1]), p[2])), p[3]), p[4]);
}
B1(mlp, mlp_logits(x))
/* x, y (one-hot-ish), W1, b1, W2, b2 -> -sum(y * log_softmax(logits)) */
static int b_mlp_loss(nb_expr *const *x, nb_expr **y, nb_dtype dt) {
  (void)dt;
  nb_expr *p[5] = {x[0], x[2], x[3], x[4], x[5]};
  y[0] = nb_neg(nb_sum(nb_mul(x[1], nb_log_softmax(mlp_logits(p), -1)), 0, NULL, false));
  return 1;
}
/* outputs: an input itself, a constant, a function of x1 only, a function of both,
 * that one again, a weak scalar */
static int b_multi_out(nb_expr *const *x, nb_expr **y, nb_dtype dt) {
  y[0] = x[0];
  y[1] = nb_full(GR(x[0]), dt, 1, I64(2), 0.5);
  y[2] = nb_exp(x[1]);
  y[3] = nb_mul(nb_sin(x[0]), x[1]);
  y[4] = y[3];
  y[5] = nb_scalar(GR(x[0]), 2.5);
  return 6;
}
B1(unused_input, nb_sin(x[0]))
/* softmax cross-entropy over a batch of rows with a mean, a max and a gather */
B1(mixed, nb_add(nb_mean(nb_take(nb_log_softmax(nb_matmul(x[0], x[1]), -1), 1, 2, I64(0, 2)),
                         0, NULL, false),
                 nb_max(nb_transpose(nb_matmul(x[0], x[1]), NULL), 1, AX(-1), false)))

#define UN(nm, ...) {#nm, b_##nm, {__VA_ARGS__}, {"(2,3)", "()"}}
static const row unary_rows[] = {
    UN(neg),
    UN(abs),
    UN(sign),
    UN(exp),
    UN(expm1),
    UN(log, SU(0.1, 3)),
    UN(log1p, SU(-0.5, 3)),
    UN(sqrt, SU(0.1, 3)),
    UN(rsqrt, SU(0.1, 3)),
    UN(square),
    UN(reciprocal, SA(0.3, 2)),
    UN(sin),
    UN(cos),
    UN(tan, SU(-1.2, 1.2)),
    UN(asin, SU(-0.9, 0.9)),
    UN(acos, SU(-0.9, 0.9)),
    UN(atan),
    UN(sinh),
    UN(cosh),
    UN(tanh),
    UN(sigmoid, SU(-5, 5)),
    UN(relu, SA(0.1, 2)),
    UN(softplus, SU(-5, 5)),
    UN(erf),
    UN(floor, SU(-3, 3)),
    UN(ceil, SU(-3, 3)),
    UN(round, SU(-3, 3)),
    UN(adds),
    UN(muls),
    UN(pows3),
    UN(pows_frac, SU(0.2, 3)),
    UN(weak),
    UN(cast_other),
    UN(cast_same),
    {"const", b_const, {{0}}, {"(2,3)", "(3)"}},
};

#define BIN(nm, ...) \
  {#nm, b_##nm, {__VA_ARGS__}, {"(2,3)x(2,3)", "(2,3)x(3)", "(2,1)x(1,3)", "()x(2,3)"}}
#define CMP(nm) {#nm, b_##nm, {SI(-1, 1)}, {"(2,3)x(2,3)", "(3)x(2,3)"}}
static const row binary_rows[] = {
    BIN(add),
    BIN(sub),
    BIN(mul),
    BIN(div, SU_DEF, SA(0.5, 2)),
    BIN(pow, SU(0.5, 2), SU(-2, 2)),
    BIN(atan2),
    BIN(maximum),
    BIN(minimum),
    CMP(lt),
    CMP(le),
    CMP(gt),
    CMP(ge),
    CMP(eq),
    CMP(ne),
    {"where", b_where, {SI(-1, 1), SU(-2, 2), SU(-2, 2)}, {"(2,3)x(2,3)x(2,3)", "(3)x(2,1)x()"}},
    {"where_castcond", b_where_castcond, {SI(-1, 1), SU(-2, 2), SU(-2, 2)}, {"(2,3)x(2,3)x(2,3)"}},
};

#define REDROWS(nm, ...)                                                             \
  {#nm ".all", b_##nm##_all, {__VA_ARGS__}, {"(2,3,4)", "(4)", "()"}},               \
      {#nm ".all_keepdims", b_##nm##_allk, {__VA_ARGS__}, {"(2,3,4)", "(0,3)"}},     \
      {#nm ".axis1", b_##nm##_ax1, {__VA_ARGS__}, {"(2,3,4)", "(3,2)"}},             \
      {#nm ".axes0,-1_keepdims", b_##nm##_ax0m1k, {__VA_ARGS__}, {"(2,3,4)"}},       \
      {#nm ".axis-1", b_##nm##_axm1, {__VA_ARGS__}, {"(2,3,4)", "(5)", "(2,0)"}}
static const row reduce_rows[] = {
    REDROWS(sum), REDROWS(mean), REDROWS(prod, SU(0.5, 1.5)), REDROWS(max), REDROWS(min), REDROWS(lse),
};

#define SH(nm, ...) {#nm, b_##nm, {{0}}, {__VA_ARGS__}}
static const row shape_rows[] = {
    SH(reshape_32, "(2,3)"),
    SH(reshape_m1, "(2,3,2)"),
    SH(reshape_up, "(6)"),
    SH(reshape_s11, "()"),
    SH(reshape_flat, "(2,3)", "(1)"),
    SH(transpose_rev, "(2,3,4)", "(2,3)", "()"),
    SH(transpose_102, "(2,3,4)"),
    SH(transpose_201, "(2,3,4)"),
    SH(bcast_23, "(3)", "()", "(1,3)", "(2,1)"),
    SH(bcast_423, "(2,1)", "(1,3)"),
    SH(slice_basic, "(4,3)"),
    SH(slice_negstep, "(3,5)"),
    SH(slice_negstep2, "(5,2)"),
    SH(slice_clamp, "(3,5)"),
    SH(slice_step, "(3,5)"),
    SH(slice_empty, "(3,5)"),
    SH(index_0, "(3,4)", "(4)"),
    SH(index_m1, "(3,4)", "(4)"),
    SH(take_0, "(3,2)", "(3)"),
    SH(take_m1, "(2,3)"),
    SH(take_none, "(3,2)"),
    SH(concat_m1, "(2,3)x(2,2)", "(2)x(3)"),
    SH(concat_0, "(1,3)x(2,3)x(1,3)"),
    SH(concat_one, "(2,3)"),
    SH(stack_0, "(2,3)x(2,3)", "()x()"),
    SH(stack_m1, "(2,3)x(2,3)"),
    SH(stack3_1, "(2,3)x(2,3)x(2,3)"),
};

static const row linalg_rows[] = {
    SH(matmul, "(3)x(3)", "(2,3)x(3)", "(3)x(3,4)", "(2,3)x(3,4)", "(2,2,3)x(3,4)",
       "(2,2,3)x(2,3,4)", "(1,2,3)x(2,3,4)", "(3)x(2,3,4)"),
    SH(softmax_m1, "(2,3)", "(4)"),
    SH(softmax_0, "(2,3)"),
    SH(log_softmax_m1, "(2,3)", "(4)"),
    SH(log_softmax_0, "(2,3)"),
};

static const row composite_rows[] = {
    SH(mlp, "(4)x(4,3)x(3)x(3,2)x(2)", "(5,4)x(4,3)x(3)x(3,2)x(2)"),
    {"mlp_loss", b_mlp_loss, {SU_DEF, SU(0, 1)}, {"(4)x(2)x(4,3)x(3)x(3,2)x(2)"}},
    SH(multi_out, "(3)x(3)"),
    SH(unused_input, "(3)x(2)"),
    SH(mixed, "(2,4)x(4,3)"),
};

typedef struct table {
  const row *rows;
  int        n;
} table;
#define TABLE(t) ((table){t, (int)(sizeof t / sizeof t[0])})

/* ---- building a row's function ---------------------------------------------------- */
static int parse_shapes(const char *s, int *rank, int64_t (*shape)[NB_MAX_RANK]) {
  int n = 0;
  while (*s && n < MAXT) {
    if (*s != '(') {
      s++;
      continue;
    }
    s++;
    rank[n] = 0;
    while (*s && *s != ')') {
      if (*s == ',') {
        s++;
        continue;
      }
      char *end;
      shape[n][rank[n]++] = strtoll(s, &end, 10);
      s = end;
    }
    if (*s) s++;
    n++;
  }
  return n;
}

/* the row's function on case c; scalar: sum over its outputs of sum(y_j^2), in dt */
static nb_fn *build_row(const row *r, const char *c, nb_dtype dt, bool scalar) {
  int      rank[MAXT];
  int64_t  shape[MAXT][NB_MAX_RANK];
  int      nin = parse_shapes(c, rank, shape);
  nb_graph *g = nb_graph_new();
  nb_expr  *x[MAXT] = {0}, *y[MAXT] = {0};
  char      name[16];
  for (int i = 0; i < nin; i++) {
    snprintf(name, sizeof name, "x%d", i);
    x[i] = nb_input(g, name, dt, rank[i], shape[i]);
  }
  int nout = r->build(x, y, dt);
  if (scalar) {
    nb_expr *sum = NULL;
    for (int j = 0; j < nout; j++) {
      nb_expr *t = nb_cast(nb_sum(nb_square(y[j]), 0, NULL, false), dt);
      sum = sum ? nb_add(sum, t) : t;
    }
    y[0] = sum, nout = 1;
  }
  nb_fn *f = nb_fn_new(g, nin, x, nout, y);
  if (!f) failf("%s %s: building failed: %s", r->name, c, nb_errmsg());
  nb_graph_free(g);
  return f;
}

/* axis configurations for f: in_axes and out_axes */
typedef struct cfg {
  const char *name;
  int         in[MAXT], out[MAXT];
} cfg;

static int make_cfgs(const nb_fn *f, cfg *c) {
  int nin = nb_fn_nin(f), nout = nb_fn_nout(f), n = 0, maxr = 0;
  for (int i = 0; i < nin; i++) maxr = nb_fn_in_rank(f, i) > maxr ? nb_fn_in_rank(f, i) : maxr;
  c[n].name = "in 0, out 0";
  for (int i = 0; i < nin; i++) c[n].in[i] = 0;
  for (int j = 0; j < nout; j++) c[n].out[j] = 0;
  n++;
  c[n].name = "in last, out last";
  for (int i = 0; i < nin; i++) c[n].in[i] = nb_fn_in_rank(f, i);
  for (int j = 0; j < nout; j++) c[n].out[j] = nb_fn_out_rank(f, j);
  n++;
  c[n].name = "in -1, out -1";
  for (int i = 0; i < nin; i++) c[n].in[i] = -1;
  for (int j = 0; j < nout; j++) c[n].out[j] = -1;
  n++;
  if (maxr >= 2) {
    c[n].name = "in 1 (middle), out 1";
    for (int i = 0; i < nin; i++) c[n].in[i] = nb_fn_in_rank(f, i) >= 1 ? 1 : 0;
    for (int j = 0; j < nout; j++) c[n].out[j] = nb_fn_out_rank(f, j) >= 1 ? 1 : 0;
    n++;
  }
  if (nin >= 2) {
    c[n].name = "in (0, unmapped...), out -1";
    for (int i = 0; i < nin; i++) c[n].in[i] = i == 0 ? 0 : NB_UNMAPPED;
    for (int j = 0; j < nout; j++) c[n].out[j] = -1;
    n++;
    c[n].name = "in (unmapped, -1...), out 0";
    for (int i = 0; i < nin; i++) c[n].in[i] = i == 0 ? NB_UNMAPPED : -1;
    for (int j = 0; j < nout; j++) c[n].out[j] = 0;
    n++;
    c[n].name = "in (last, unmapped, 0, ...), out last";
    for (int i = 0; i < nin; i++) c[n].in[i] = i % 3 == 0 ? nb_fn_in_rank(f, i) : i % 3 == 1 ? NB_UNMAPPED : 0;
    for (int j = 0; j < nout; j++) c[n].out[j] = nb_fn_out_rank(f, j);
    n++;
  }
  return n;
}

static int count_cases(const row *r) {
  int n = 0;
  while (n < MAXCASE && r->cases[n]) n++;
  return n;
}

static const nb_dtype dtypes[2] = {NB_F64, NB_F32};

static void vmap_table(table t) {
  static const int64_t batches[3] = {0, 1, 3};
  for (int r = 0; r < t.n; r++) {
    const row *row = &t.rows[r];
    for (int c = 0; c < count_cases(row); c++)
      for (int d = 0; d < 2; d++) {
        nb_fn *f = build_row(row, row->cases[c], dtypes[d], false);
        if (!f) continue;
        cfg cf[8];
        int ncfg = make_cfgs(f, cf);
        for (int k = 0; k < ncfg; k++)
          for (int b = 0; b < 3; b++) {
            char ctx[160];
            snprintf(ctx, sizeof ctx, "vmap(%s) %s %s B=%lld [%s]", row->name, row->cases[c],
                     dtname(dtypes[d]), (long long)batches[b], cf[k].name);
            bool dflt = k == 0 && b == 2; /* NULL axes mean all 0 */
            check_vmap(ctx, f, batches[b], dflt ? NULL : cf[k].in, dflt ? NULL : cf[k].out, row->s,
                       nb_fn_nin(f));
          }
        nb_fn_free(f);
      }
  }
}

static void test_vmap_unary(void) { vmap_table(TABLE(unary_rows)); }
static void test_vmap_binary(void) { vmap_table(TABLE(binary_rows)); }
static void test_vmap_reduce(void) { vmap_table(TABLE(reduce_rows)); }
static void test_vmap_shape(void) { vmap_table(TABLE(shape_rows)); }
static void test_vmap_linalg(void) { vmap_table(TABLE(linalg_rows)); }
static void test_vmap_composite(void) { vmap_table(TABLE(composite_rows)); }

static const table *all_tables(int *n) {
  static table t[6];
  t[0] = TABLE(unary_rows), t[1] = TABLE(binary_rows), t[2] = TABLE(reduce_rows);
  t[3] = TABLE(shape_rows), t[4] = TABLE(linalg_rows), t[5] = TABLE(composite_rows);
  *n = 6;
  return t;
}

/* ---- derivative products over the whole table ----------------------------------------- */

/* runs fn on every row of every table */
static void each_row(void (*fn)(const row *)) {
  int          nt;
  const table *t = all_tables(&nt);
  for (int q = 0; q < nt; q++)
    for (int r = 0; r < t[q].n; r++) fn(&t[q].rows[r]);
}

/* batch_jvp / batch_vjp == loops of jvp / vjp: f64 with B = 0 and 3, f32 with B = 2 */
static void batch_products_row(const row *row) {
  for (int c = 0; c < count_cases(row); c++)
    for (int d = 0; d < 2; d++) {
      nb_fn *f = build_row(row, row->cases[c], dtypes[d], false);
      if (!f) continue;
      const int64_t bs[2] = {dtypes[d] == NB_F64 ? 0 : 2, 3};
      for (int b = 0; b < 2; b++)
        for (int rev = 0; rev < 2; rev++) {
          char ctx[160];
          snprintf(ctx, sizeof ctx, "%s(%s) %s %s B=%lld", rev ? "batch_vjp" : "batch_jvp",
                   row->name, row->cases[c], dtname(dtypes[d]), (long long)bs[b]);
          check_batch_product(ctx, f, bs[b], rev, NULL, row->s, nb_fn_nin(f));
        }
      nb_fn_free(f);
    }
}
static void test_batch_products_all(void) { each_row(batch_products_row); }

/* per-example gradients: vmap(grad(s)) == the loop of grad(s), every axis config, B = 3
 * (f64), B = 2 with in/out 0 (f32) */
static void per_example_grads_row(const row *row) {
  for (int c = 0; c < count_cases(row); c++)
    for (int d = 0; d < 2; d++) {
      nb_fn *s = build_row(row, row->cases[c], dtypes[d], true);
      if (!s) continue;
      nb_fn *g = nb_grad(s, NULL);
      if (!g) failf("grad(%s) %s: %s", row->name, row->cases[c], nb_errmsg());
      cfg cf[8];
      int ncfg = g ? make_cfgs(g, cf) : 0;
      for (int k = 0; k < ncfg && (dtypes[d] == NB_F64 || k == 0); k++) {
        char ctx[160];
        snprintf(ctx, sizeof ctx, "vmap(grad(%s)) %s %s [%s]", row->name, row->cases[c],
                 dtname(dtypes[d]), cf[k].name);
        check_vmap(ctx, g, dtypes[d] == NB_F64 ? 3 : 2, cf[k].in, cf[k].out, row->s, nb_fn_nin(s));
      }
      nb_fn_free(g);
      nb_fn_free(s);
    }
}
static void test_per_example_grads_all(void) { each_row(per_example_grads_row); }

/* vmap of jvp, vjp (tangents/cotangents mapped too) and hvp; f64 and f32, B = 2 */
static void vmap_of_derivatives_row(const row *row) {
  for (int c = 0; c < 2 * count_cases(row); c++) {
    nb_dtype dt = dtypes[c & 1];
    nb_fn   *f = build_row(row, row->cases[c / 2], dt, false);
    nb_fn   *s = build_row(row, row->cases[c / 2], dt, true);
    if (!f || !s) {
      nb_fn_free(f), nb_fn_free(s);
      continue;
    }
    nb_fn *d[3] = {nb_jvp(f, NULL), nb_vjp(f, NULL), nb_hvp(s, NULL)};
    const char *nm[3] = {"jvp", "vjp", "hvp"};
    for (int k = 0; k < 3; k++) {
      char ctx[160];
      snprintf(ctx, sizeof ctx, "vmap(%s(%s)) %s %s", nm[k], row->name, row->cases[c / 2], dtname(dt));
      if (!d[k]) {
        failf("%s: transform failed: %s", ctx, nb_errmsg());
        continue;
      }
      cfg cf[8];
      int ncfg = make_cfgs(d[k], cf);
      check_vmap(ctx, d[k], 2, cf[k % ncfg].in, cf[k % ncfg].out, row->s, nb_fn_nin(f));
      nb_fn_free(d[k]);
    }
    nb_fn_free(f);
    nb_fn_free(s);
  }
}
static void test_vmap_of_derivatives_all(void) { each_row(vmap_of_derivatives_row); }

/* jacfwd == jacrev == jacobian == one-hot vjp rows == batch_vjp(identity); f64 all
 * cases, f32 the first case */
static void jacobians_row(const row *row) {
  for (int c = 0; c < count_cases(row); c++)
    for (int d = 0; d < (c == 0 ? 2 : 1); d++) {
      nb_fn *f = build_row(row, row->cases[c], dtypes[d], false);
      char   ctx[160];
      snprintf(ctx, sizeof ctx, "jacobians(%s) %s %s", row->name, row->cases[c], dtname(dtypes[d]));
      check_jacobians(ctx, f, row->s, f ? nb_fn_nin(f) : 0);
      nb_fn_free(f);
    }
}
static void test_jacobians_all(void) { each_row(jacobians_row); }

/* ---- composition with selected functions ------------------------------------------------ */
static const row *find_row(const char *name) {
  int          nt;
  const table *t = all_tables(&nt);
  for (int q = 0; q < nt; q++)
    for (int r = 0; r < t[q].n; r++)
      if (!strcmp(t[q].rows[r].name, name)) return &t[q].rows[r];
  return NULL;
}

typedef struct pick {
  const char *row;
  int         c; /* case index */
} pick;
static const pick picks[] = {{"mlp", 0},    {"mlp", 1},      {"mlp_loss", 0},   {"matmul", 5},
                             {"multi_out", 0}, {"where", 1}, {"softmax_m1", 0}, {"sum.axis1", 0},
                             {"max.axis-1", 0}, {"slice_negstep", 0}, {"take_0", 0}, {"concat_m1", 0},
                             {"bcast_423", 0}, {"mixed", 0},  {"stack3_1", 0},   {"lse.all", 0}};
#define NPICKS ((int)(sizeof picks / sizeof picks[0]))

/* vmap(vmap(f)) == the loop of vmap(f) (itself checked against the loop of f) */
static void test_nested_vmap(void) {
  for (int p = 0; p < NPICKS; p++) {
    const row *r = find_row(picks[p].row);
    CHECK(r != NULL);
    if (!r) continue;
    for (int d = 0; d < 2; d++) {
      nb_fn *f = build_row(r, r->cases[picks[p].c], dtypes[d], false);
      if (!f) continue;
      cfg cf[8];
      int ncfg = make_cfgs(f, cf);
      for (int k = 0; k < ncfg; k++) {
        nb_fn *inner = nb_vmap_sized(f, 2, cf[k].in, cf[k].out);
        char   ctx[160];
        snprintf(ctx, sizeof ctx, "vmap(vmap(%s)) %s %s inner [%s]", r->name, r->cases[picks[p].c],
                 dtname(dtypes[d]), cf[k].name);
        if (!inner) {
          failf("%s: inner vmap failed: %s", ctx, nb_errmsg());
          continue;
        }
        check_vmap(ctx, inner, 2, cf[k].in, cf[k].out, r->s, nb_fn_nin(f)); /* inner vs loop */
        cfg co[8];
        int nco = make_cfgs(inner, co);
        for (int m = 0; m < nco; m++) {
          char ctx2[200];
          snprintf(ctx2, sizeof ctx2, "%s outer [%s]", ctx, co[m].name);
          check_vmap(ctx2, inner, 3, co[m].in, co[m].out, r->s, nb_fn_nin(f));
        }
        if (k == 0) check_vmap(ctx, inner, 0, NULL, NULL, r->s, nb_fn_nin(f)); /* outer B = 0 */
        /* three levels deep, all at 0 */
        nb_fn *outer = nb_vmap_sized(inner, 2, NULL, NULL);
        if (!outer) failf("%s: outer vmap failed: %s", ctx, nb_errmsg());
        else check_vmap(ctx, outer, 2, cf[k].in, cf[k].out, r->s, nb_fn_nin(f));
        nb_fn_free(outer);
        nb_fn_free(inner);
      }
      nb_fn_free(f);
    }
  }
}

/* jacfwd(vmap(f)) and jacrev(vmap(f)): block diagonal with blocks jac(f)(x_b) */
static void test_jacobian_of_vmap(void) {
  const int64_t B = 3;
  for (int p = 0; p < NPICKS; p++) {
    const row *r = find_row(picks[p].row);
    if (!r) continue;
    nb_fn *f = build_row(r, r->cases[picks[p].c], NB_F64, false);
    if (!f) continue;
    int    nin = nb_fn_nin(f), nout = nb_fn_nout(f);
    nb_fn *vf = nb_vmap_sized(f, B, NULL, NULL), *jf = vf ? nb_jacfwd(vf, NULL) : NULL;
    nb_fn *jr = vf ? nb_jacrev(vf, NULL) : NULL, *j0 = nb_jacrev(f, NULL);
    char   ctx[160];
    snprintf(ctx, sizeof ctx, "jac(vmap(%s)) %s", r->name, r->cases[picks[p].c]);
    if (!vf || !jf || !jr || !j0 || nin * nout > MAXT) {
      if (!(nin * nout > MAXT)) failf("%s: transform failed: %s", ctx, nb_errmsg());
      goto next;
    }
    double *X[MAXT] = {0}, *xi[MAXT] = {0}, *JF[MAXT] = {0}, *JR[MAXT] = {0}, *E[MAXT] = {0},
           *J0[MAXT] = {0};
    for (int i = 0; i < nin; i++) {
      X[i] = dbuf(nb_fn_in_size(vf, i)), xi[i] = dbuf(nb_fn_in_size(f, i));
      fill(X[i], nb_fn_in_size(vf, i), samp_for(r->s, nin, i));
    }
    for (int k = 0; k < nin * nout; k++) {
      JF[k] = dbuf(nb_fn_out_size(jf, k)), JR[k] = dbuf(nb_fn_out_size(jr, k));
      E[k] = dbuf(nb_fn_out_size(jf, k)), J0[k] = dbuf(nb_fn_out_size(j0, k));
      CHECK(nb_fn_out_size(jf, k) == B * B * nb_fn_out_size(j0, k));
    }
    bool ok = callf(ctx, jf, X, JF) && callf(ctx, jr, X, JR);
    for (int64_t b = 0; ok && b < B; b++) {
      for (int i = 0; i < nin; i++)
        item_io(X[i], xi[i], nb_fn_in_rank(vf, i), nb_fn_in_shape(vf, i), 0, b, false);
      ok = callf(ctx, j0, xi, J0);
      /* E[k] has shape (B, Y..., B, X...): block (b, b) = J0[k] */
      for (int k = 0; ok && k < nin * nout; k++) {
        int64_t no = nb_fn_out_size(f, k / nin), ni = nb_fn_in_size(f, k % nin);
        for (int64_t o = 0; o < no; o++)
          for (int64_t i = 0; i < ni; i++) E[k][((b * no + o) * B + b) * ni + i] = J0[k][o * ni + i];
      }
    }
    for (int k = 0; ok && k < nin * nout; k++) {
      compare(ctx, "jacfwd(vmap) block", k, JF[k], E[k], nb_fn_out_size(jf, k), false, 100);
      compare(ctx, "jacrev(vmap) block", k, JR[k], E[k], nb_fn_out_size(jr, k), false, 100);
    }
    free_bufs(X, nin), free_bufs(xi, nin);
    for (int k = 0; k < nin * nout; k++) free(JF[k]), free(JR[k]), free(E[k]), free(J0[k]);
  next:
    nb_fn_free(jf), nb_fn_free(jr), nb_fn_free(j0), nb_fn_free(vf), nb_fn_free(f);
  }
}

/* vjp(vmap(f)) == loop of vjp(f): mapped inputs get their item's cotangent, unmapped
 * inputs the sum over the batch */
static void test_vjp_of_vmap(void) {
  const int64_t B = 3;
  for (int p = 0; p < NPICKS; p++) {
    const row *r = find_row(picks[p].row);
    if (!r) continue;
    nb_fn *f = build_row(r, r->cases[picks[p].c], NB_F64, false);
    if (!f) continue;
    int nin = nb_fn_nin(f), nout = nb_fn_nout(f);
    cfg cf[8];
    int ncfg = make_cfgs(f, cf);
    nb_fn *v = nb_vjp(f, NULL);
    for (int k = 0; v && k < ncfg && nin + nout <= MAXT; k++) {
      char ctx[200];
      snprintf(ctx, sizeof ctx, "vjp(vmap(%s)) %s [%s]", r->name, r->cases[picks[p].c], cf[k].name);
      nb_fn *vf = nb_vmap_sized(f, B, cf[k].in, cf[k].out), *vv = vf ? nb_vjp(vf, NULL) : NULL;
      if (!vv) {
        failf("%s: transform failed: %s", ctx, nb_errmsg());
        nb_fn_free(vf);
        continue;
      }
      double *X[MAXT] = {0}, *O[MAXT] = {0}, *xi[MAXT] = {0}, *oi[MAXT] = {0}, *E[MAXT] = {0};
      int     ia[MAXT], oa[MAXT];
      for (int i = 0; i < nin; i++) {
        ia[i] = cf[k].in[i] < 0 && cf[k].in[i] != NB_UNMAPPED ? cf[k].in[i] + nb_fn_in_rank(f, i) + 1 : cf[k].in[i];
        X[i] = dbuf(nb_fn_in_size(vv, i));
        fill(X[i], nb_fn_in_size(vv, i), samp_for(r->s, nin, i));
        xi[i] = dbuf(nb_fn_in_size(f, i));
        E[i] = dbuf(nb_fn_in_size(vf, i));
      }
      for (int j = 0; j < nout; j++) {
        oa[j] = cf[k].out[j] < 0 ? cf[k].out[j] + nb_fn_out_rank(f, j) + 1 : cf[k].out[j];
        X[nin + j] = dbuf(nb_fn_in_size(vv, nin + j));
        fill(X[nin + j], nb_fn_in_size(vv, nin + j), S_TAN);
        xi[nin + j] = dbuf(nb_fn_in_size(v, nin + j));
      }
      for (int q = 0; q < nb_fn_nout(vv); q++) O[q] = dbuf(nb_fn_out_size(vv, q)), oi[q] = dbuf(nb_fn_out_size(v, q));
      bool ok = callf(ctx, vv, X, O);
      for (int64_t b = 0; ok && b < B; b++) {
        double *in[MAXT];
        for (int i = 0; i < nin; i++) {
          in[i] = X[i];
          if (ia[i] != NB_UNMAPPED)
            item_io(X[i], xi[i], nb_fn_in_rank(vf, i), nb_fn_in_shape(vf, i), ia[i], b, false), in[i] = xi[i];
        }
        for (int j = 0; j < nout; j++)
          item_io(X[nin + j], xi[nin + j], nb_fn_out_rank(vf, j), nb_fn_out_shape(vf, j), oa[j], b, false),
              in[nin + j] = xi[nin + j];
        ok = callf(ctx, v, in, oi);
        for (int i = 0; ok && i < nin; i++) {
          double *ct = oi[nout + i];
          if (ia[i] != NB_UNMAPPED) item_io(E[i], ct, nb_fn_in_rank(vf, i), nb_fn_in_shape(vf, i), ia[i], b, true);
          else
            for (int64_t e = 0; e < nb_fn_in_size(f, i); e++) E[i][e] += ct[e];
        }
      }
      for (int i = 0; ok && i < nin; i++)
        compare(ctx, "input cotangent", i, O[nout + i], E[i], nb_fn_in_size(vf, i), false, 100);
      free_bufs(X, nin + nout), free_bufs(xi, nin + nout), free_bufs(E, nin);
      free_bufs(O, nb_fn_nout(vv)), free_bufs(oi, nb_fn_nout(v));
      nb_fn_free(vv), nb_fn_free(vf);
    }
    nb_fn_free(v), nb_fn_free(f);
  }
}

/* grad of a vmapped function: vmap with B = 1 of a scalar function has one output
 * element, so nb_grad applies; each gradient is grad(f) with a leading axis of 1.
 * And vmap(hvp(s)) for the picks at every axis configuration. */
static void test_grad_and_hvp_of_vmap(void) {
  for (int p = 0; p < NPICKS; p++) {
    const row *r = find_row(picks[p].row);
    if (!r) continue;
    nb_fn *s = build_row(r, r->cases[picks[p].c], NB_F64, true);
    if (!s) continue;
    int    nin = nb_fn_nin(s);
    nb_fn *vs = nb_vmap_sized(s, 1, NULL, NULL), *gv = vs ? nb_grad(vs, NULL) : NULL;
    nb_fn *g = nb_grad(s, NULL), *h = nb_hvp(s, NULL);
    char   ctx[160];
    snprintf(ctx, sizeof ctx, "grad(vmap(%s)) %s", r->name, r->cases[picks[p].c]);
    if (!gv || !g || !h) failf("%s: transform failed: %s", ctx, nb_errmsg());
    else {
      double *X[MAXT] = {0}, *G1[MAXT] = {0}, *G2[MAXT] = {0};
      for (int i = 0; i < nin; i++) {
        X[i] = dbuf(nb_fn_in_size(s, i)), fill(X[i], nb_fn_in_size(s, i), samp_for(r->s, nin, i));
        G1[i] = dbuf(nb_fn_in_size(s, i)), G2[i] = dbuf(nb_fn_in_size(s, i));
        sig a = sig_of(gv, i, true), b = sig_of(g, i, true);
        CHECK(sig_inserted(&a, &b, 0, 1));
      }
      if (callf(ctx, gv, X, G1) && callf(ctx, g, X, G2))
        for (int i = 0; i < nin; i++) compare(ctx, "gradient", i, G1[i], G2[i], nb_fn_in_size(s, i), false, 1);
      free_bufs(X, nin), free_bufs(G1, nin), free_bufs(G2, nin);
      cfg cf[8];
      int ncfg = make_cfgs(h, cf);
      for (int k = 0; k < ncfg; k++) {
        snprintf(ctx, sizeof ctx, "vmap(hvp(%s)) %s [%s]", r->name, r->cases[picks[p].c], cf[k].name);
        check_vmap(ctx, h, 3, cf[k].in, cf[k].out, r->s, nin);
      }
    }
    nb_fn_free(vs), nb_fn_free(gv), nb_fn_free(g), nb_fn_free(h), nb_fn_free(s);
  }
}

/* nb_check_grads (central differences, orders 1 and 2) on vmapped functions and on
 * per-example gradients, at mixed axis configurations */
static void test_check_grads_of_vmap(void) {
  for (int p = 0; p < NPICKS; p++) {
    const row *r = find_row(picks[p].row);
    /* where's condition is integer-valued: differences across its jumps are not derivatives */
    if (!r || !strncmp(r->name, "where", 5)) continue;
    nb_fn *f = build_row(r, r->cases[picks[p].c], NB_F64, false);
    nb_fn *s = build_row(r, r->cases[picks[p].c], NB_F64, true);
    nb_fn *g = s ? nb_grad(s, NULL) : NULL;
    if (!f || !g) {
      failf("check_grads(vmap(%s)): building failed: %s", r->name, nb_errmsg());
      nb_fn_free(f), nb_fn_free(s), nb_fn_free(g);
      continue;
    }
    for (int which = 0; which < 2; which++) {
      cfg cf[8];
      int ncfg = make_cfgs(which ? g : f, cf);
      for (int k = 0; k < ncfg; k++) {
        nb_fn *vf = nb_vmap_sized(which ? g : f, 2, cf[k].in, cf[k].out);
        if (!vf) {
          failf("check_grads(vmap(%s)) [%s]: vmap failed: %s", r->name, cf[k].name, nb_errmsg());
          continue;
        }
        int     nin = nb_fn_nin(vf);
        double *X[MAXT] = {0};
        for (int i = 0; i < nin; i++)
          X[i] = dbuf(nb_fn_in_size(vf, i)), fill(X[i], nb_fn_in_size(vf, i), samp_for(r->s, nin, i));
        double    err = -1;
        nb_status st = nb_check_grads(vf, (const void *const *)X, which ? 1 : 2, &err);
        if (st != NB_OK)
          failf("check_grads(vmap(%s%s%s)) [%s]: %s, max rel err %g: %s", which ? "grad(" : "", r->name,
                which ? ")" : "", cf[k].name, nb_status_str(st), err, nb_errmsg());
        free_bufs(X, nin);
        nb_fn_free(vf);
      }
    }
    nb_fn_free(f), nb_fn_free(s), nb_fn_free(g);
  }
}

/* batch products with wrt and naux: an MLP's parameter products */
static void test_batch_products_wrt(void) {
  const row *r = find_row("mlp");
  const row *l = find_row("mlp_loss");
  for (int d = 0; d < 2; d++) {
    nb_fn *f = build_row(r, r->cases[1], dtypes[d], false);
    nb_fn *fl = build_row(l, l->cases[0], dtypes[d], false);
    const int params[4] = {1, 2, 3, 4}, lparams[4] = {2, 3, 4, 5}, w2[1] = {3};
    const nb_diff_opts o = {4, params, 0}, ol = {4, lparams, 0}, ow2 = {1, w2, 0};
    for (int rev = 0; rev < 2; rev++) {
      char ctx[120];
      snprintf(ctx, sizeof ctx, "%s(mlp, wrt params) %s", rev ? "batch_vjp" : "batch_jvp", dtname(dtypes[d]));
      check_batch_product(ctx, f, 4, rev, &o, r->s, 5);
      snprintf(ctx, sizeof ctx, "%s(mlp, wrt W2) %s", rev ? "batch_vjp" : "batch_jvp", dtname(dtypes[d]));
      check_batch_product(ctx, f, 2, rev, &ow2, r->s, 5);
      snprintf(ctx, sizeof ctx, "%s(mlp_loss, wrt params) %s", rev ? "batch_vjp" : "batch_jvp", dtname(dtypes[d]));
      check_batch_product(ctx, fl, 3, rev, &ol, l->s, 6);
    }
    /* naux: multi_out with its last two outputs auxiliary */
    const row   *m = find_row("multi_out");
    nb_fn       *fm = build_row(m, m->cases[0], dtypes[d], false);
    const nb_diff_opts oa = {0, NULL, 2};
    check_batch_product("batch_vjp(multi_out, naux 2)", fm, 3, true, &oa, m->s, 2);
    check_batch_product("batch_jvp(multi_out, naux 2)", fm, 3, false, &oa, m->s, 2);
    nb_fn_free(fm);
    nb_fn_free(f);
    nb_fn_free(fl);
  }
}

/* per-example gradients of the MLP loss with respect to the parameters only: x and y
 * mapped, the parameters unmapped; and the node counts of grad vs vmap(grad) */
static void test_per_example_mlp(void) {
  const row   *l = find_row("mlp_loss");
  nb_fn       *f = build_row(l, l->cases[0], NB_F64, false);
  const int    params[4] = {2, 3, 4, 5};
  const nb_diff_opts o = {4, params, 0};
  nb_fn       *g = f ? nb_grad(f, &o) : NULL;
  const int    in_axes[6] = {0, 0, NB_UNMAPPED, NB_UNMAPPED, NB_UNMAPPED, NB_UNMAPPED};
  const int    out0[4] = {0, 0, 0, 0}, outl[4] = {-1, 1, 1, -1};
  CHECK(g != NULL);
  if (!g) goto done;
  check_vmap("vmap(grad(mlp_loss, wrt params)) B=8", g, 8, in_axes, out0, l->s, 6);
  check_vmap("vmap(grad(mlp_loss, wrt params)) B=8 out last", g, 8, in_axes, outl, l->s, 6);
  nb_fn *vg = nb_vmap_sized(g, 8, in_axes, out0), *vg100 = nb_vmap_sized(g, 100, in_axes, out0);
  CHECK(vg && vg100);
  if (vg && vg100) {
    printf("  MLP loss (4-3-2, params W1 b1 W2 b2): f %lld nodes, grad %lld, vmap(grad) B=8 %lld, "
           "B=100 %lld\n",
           (long long)nb_fn_node_count(f), (long long)nb_fn_node_count(g),
           (long long)nb_fn_node_count(vg), (long long)nb_fn_node_count(vg100));
    /* one batched graph: the node count does not grow with the batch */
    CHECK(nb_fn_node_count(vg) == nb_fn_node_count(vg100));
    CHECK(nb_fn_node_count(vg) <= 2 * nb_fn_node_count(g));
  }
  nb_fn_free(vg), nb_fn_free(vg100);
done:
  nb_fn_free(g), nb_fn_free(f);
}

/* work that depends only on unmapped inputs is done once: exp(W) keeps W's shape in
 * the vmapped function's IR, and the node count does not depend on the batch size */
static void test_unmapped_work_once(void) {
  nb_graph     *g = nb_graph_new();
  const int64_t sw[2] = {3, 4}, sx[1] = {4};
  nb_expr      *in[2] = {nb_input(g, "W", NB_F64, 2, sw), nb_input(g, "x", NB_F64, 1, sx)};
  nb_expr      *y = nb_matmul(nb_exp(in[0]), in[1]);
  nb_fn        *f = nb_fn_new(g, 2, in, 1, &y);
  nb_graph_free(g);
  const int ia[2] = {NB_UNMAPPED, 0}, oa[1] = {0};
  nb_fn    *v3 = nb_vmap_sized(f, 3, ia, oa), *v7 = nb_vmap_sized(f, 7, ia, oa);
  CHECK(v3 && v7);
  if (v3 && v7) {
    CHECK(nb_fn_node_count(v3) == nb_fn_node_count(v7));
    FILE *tmp = tmpfile();
    CHECK(tmp != NULL);
    if (tmp) {
      CHECK(nb_fn_print(v7, tmp) == NB_OK);
      rewind(tmp);
      char line[512];
      int  exp_lines = 0, exp_unbatched = 0;
      while (fgets(line, sizeof line, tmp))
        if (strstr(line, "exp")) {
          exp_lines++;
          if (strstr(line, "[3,4]") && !strstr(line, "[7,3,4]")) exp_unbatched++;
        }
      CHECK(exp_lines == 1);
      CHECK(exp_unbatched == 1);
      if (exp_lines != 1 || exp_unbatched != 1) nb_fn_print(v7, stderr);
      fclose(tmp);
    }
  }
  check_vmap("exp(W) @ x, W unmapped", f, 3, ia, oa, NULL, 0);
  nb_fn_free(v3), nb_fn_free(v7), nb_fn_free(f);
}

/* f64 and f32 mixed in one function (a cast between them), mapped at different axes */
static void test_mixed_dtypes(void) {
  nb_graph     *g = nb_graph_new();
  const int64_t s[2] = {2, 3};
  nb_expr      *in[2] = {nb_input(g, "a", NB_F64, 2, s), nb_input(g, "b", NB_F32, 2, s)};
  nb_expr      *y[2] = {nb_mul(in[0], nb_cast(in[1], NB_F64)), nb_exp(in[1])};
  nb_fn        *f = nb_fn_new(g, 2, in, 2, y);
  nb_graph_free(g);
  const int ia[2] = {-1, 1}, oa[2] = {0, 2};
  for (int64_t b = 0; b < 4; b++) check_vmap("mixed f64/f32", f, b, ia, oa, NULL, 0);
  nb_fn_free(f);
}

/* ranks: a rank-7 input may be mapped (batched rank 8); rank 8 cannot be mapped
 * (NB_ERR_SHAPE) but may stay unmapped */
static void test_rank_limits(void) {
  nb_graph     *g = nb_graph_new();
  const int64_t s7[7] = {1, 2, 1, 1, 2, 1, 1}, s8[8] = {1, 1, 2, 1, 1, 1, 1, 1};
  nb_expr      *in[2] = {nb_input(g, "a", NB_F64, 7, s7), nb_input(g, "b", NB_F64, 8, s8)};
  nb_expr      *y[2] = {nb_sin(in[0]), nb_sum(nb_mul(in[1], in[1]), 0, NULL, false)};
  nb_fn        *f = nb_fn_new(g, 2, in, 2, y);
  nb_graph_free(g);
  const int ia[2] = {3, NB_UNMAPPED}, oa[2] = {-1, 0};
  check_vmap("rank 7 mapped, rank 8 unmapped", f, 2, ia, oa, NULL, 0);
  const int ib[2] = {0, 0};
  nb_errclear();
  CHECK(nb_vmap_sized(f, 2, ib, oa) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_vmap");
  /* a rank-8 output of a function of mapped inputs cannot be batched */
  g = nb_graph_new();
  nb_expr *a = nb_input(g, "a", NB_F64, 1, s8);
  nb_expr *z = nb_broadcast_to(a, 8, s8);
  nb_fn   *f2 = nb_fn_new(g, 1, &a, 1, &z);
  nb_graph_free(g);
  nb_errclear();
  CHECK(nb_vmap_sized(f2, 2, NULL, NULL) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_vmap");
  nb_fn_free(f2);
  nb_fn_free(f);
}

/* ---- errors ---------------------------------------------------------------------- */
static nb_fn *small_fn(void) { /* (x (3), w (2,3)) -> (w @ x, sum(x)) */
  nb_graph     *g = nb_graph_new();
  const int64_t sx[1] = {3}, sw[2] = {2, 3};
  nb_expr      *in[2] = {nb_input(g, "x", NB_F64, 1, sx), nb_input(g, "w", NB_F64, 2, sw)};
  nb_expr      *y[2] = {nb_matmul(in[1], in[0]), nb_sum(in[0], 0, NULL, false)};
  nb_fn        *f = nb_fn_new(g, 2, in, 2, y);
  nb_graph_free(g);
  return f;
}

static void test_errors_vmap(void) {
  nb_fn *f = small_fn();
  CHECK(f != NULL);
  const int ok_in[2] = {0, 0}, ok_out[2] = {0, 0};
  /* negative batch */
  nb_errclear();
  CHECK(nb_vmap_sized(f, -1, ok_in, ok_out) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_vmap");
  CHECK(strstr(nb_errmsg(), "negative batch size -1") != NULL);
  /* in_axes out of range (batched ranks 2 and 3: valid -2..1 and -3..2) */
  const int bad_in[4][2] = {{2, 0}, {-3, 0}, {0, 3}, {0, -4}};
  for (int k = 0; k < 4; k++) {
    nb_errclear();
    CHECK(nb_vmap_sized(f, 2, bad_in[k], ok_out) == NULL);
    CHECK_ERR(NB_ERR_ARG, "nb_vmap");
    CHECK(strstr(nb_errmsg(), "in_axes") != NULL);
  }
  /* out_axes out of range (batched ranks 2 and 1) or NB_UNMAPPED */
  const int bad_out[4][2] = {{2, 0}, {-3, 0}, {0, 1}, {0, NB_UNMAPPED}};
  for (int k = 0; k < 4; k++) {
    nb_errclear();
    CHECK(nb_vmap_sized(f, 2, ok_in, bad_out[k]) == NULL);
    CHECK_ERR(NB_ERR_ARG, "nb_vmap");
    CHECK(strstr(nb_errmsg(), "out_axes") != NULL);
  }
  /* the edges that are valid */
  const int edge_in[2] = {-2, 2}, edge_out[2] = {-2, -1};
  nb_fn    *e = nb_vmap_sized(f, 2, edge_in, edge_out);
  CHECK(e != NULL);
  nb_fn_free(e);
  /* a batch whose batched shapes are too large */
  nb_errclear();
  CHECK(nb_vmap_sized(f, INT64_MAX / 2, NULL, NULL) == NULL);
  CHECK(nb_errcode() == NB_ERR_SHAPE);
  if (strncmp(nb_errmsg(), "nb_vmap", 7))
    fprintf(stderr, "  note: nb_vmap_sized with a huge batch reports \"%s\"\n", nb_errmsg());
  nb_errclear();
  CHECK(nb_batch_vjp_sized(f, INT64_MAX / 2, NULL) == NULL);
  CHECK(nb_errcode() == NB_ERR_SHAPE);
  /* no mapped input */
  const int none[2] = {NB_UNMAPPED, NB_UNMAPPED};
  nb_errclear();
  CHECK(nb_vmap_sized(f, 2, none, ok_out) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_vmap");
  CHECK(strstr(nb_errmsg(), "no input is mapped") != NULL);
  /* a function without inputs has no mapped input either */
  nb_graph *g = nb_graph_new();
  nb_expr  *c = nb_full(g, NB_F64, 0, NULL, 1.0);
  nb_fn    *k0 = nb_fn_new(g, 0, NULL, 1, &c);
  nb_graph_free(g);
  nb_errclear();
  CHECK(k0 && nb_vmap_sized(k0, 2, NULL, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_vmap");
  nb_fn_free(k0);
  /* NULL f: NB_ERR_ARG; an earlier failure is not overwritten */
  nb_errclear();
  CHECK(nb_vmap_sized(NULL, 2, NULL, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_vmap");
  CHECK(strstr(nb_errmsg(), "NULL") != NULL);
  nb_errclear();
  nb_graph *g2 = nb_graph_new();
  const int64_t s32[2] = {3, 2}, s4[1] = {4};
  CHECK(nb_add(nb_input(g2, "a", NB_F64, 2, s32), nb_input(g2, "b", NB_F64, 1, s4)) == NULL);
  CHECK(nb_vmap_sized(NULL, 2, NULL, NULL) == NULL);
  CHECK(nb_batch_jvp_sized(NULL, 2, NULL) == NULL);
  CHECK(nb_batch_vjp_sized(NULL, 2, NULL) == NULL);
  CHECK(nb_vmap(NULL, NULL, NULL) == NULL);
  CHECK_ERR(NB_ERR_SHAPE, "nb_add: cannot broadcast shapes [3,2] and [4]");
  nb_graph_free(g2);
  /* plain nb_vmap / nb_batch_jvp / nb_batch_vjp point to the sized variants */
  nb_errclear();
  CHECK(nb_vmap(f, NULL, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_vmap: the batch size is unknown: use nb_vmap_sized");
  nb_errclear();
  CHECK(nb_batch_jvp(f, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_batch_jvp: the batch size is unknown: use nb_batch_jvp_sized");
  nb_errclear();
  CHECK(nb_batch_vjp(f, NULL) == NULL);
  CHECK_ERR(NB_ERR_ARG, "nb_batch_vjp: the batch size is unknown: use nb_batch_vjp_sized");
  /* the function stays usable after the failures */
  check_vmap("after errors", f, 2, ok_in, ok_out, NULL, 0);
  nb_fn_free(f);
}

static void test_errors_batch_products(void) {
  nb_fn *f = small_fn();
  for (int rev = 0; rev < 2; rev++) {
    const char *api = rev ? "nb_batch_vjp" : "nb_batch_jvp";
    nb_fn *(*fn)(const nb_fn *, int64_t, const nb_diff_opts *) =
        rev ? nb_batch_vjp_sized : nb_batch_jvp_sized;
    nb_errclear();
    CHECK(fn(f, -2, NULL) == NULL);
    CHECK_ERR(NB_ERR_ARG, api);
    CHECK(strstr(nb_errmsg(), "negative batch size -2") != NULL);
    nb_errclear();
    CHECK(fn(NULL, 2, NULL) == NULL);
    CHECK_ERR(NB_ERR_ARG, api);
    /* invalid differentiation options */
    const int          bad[1] = {5}, unsorted[2] = {1, 0};
    const nb_diff_opts o1 = {1, bad, 0}, o2 = {2, unsorted, 0}, o3 = {0, NULL, 3};
    const nb_diff_opts *os[3] = {&o1, &o2, &o3};
    for (int k = 0; k < 3; k++) {
      nb_errclear();
      CHECK(fn(f, 2, os[k]) == NULL);
      if (nb_errcode() != NB_ERR_ARG || strncmp(nb_errmsg(), api, strlen(api)))
        fprintf(stderr, "  note: %s with invalid opts %d reports \"%s\"\n", api, k, nb_errmsg());
      CHECK(nb_errcode() == NB_ERR_ARG);
    }
    /* batch 0 works: empty tangents, empty products, the primal computed */
    nb_fn *z = fn(f, 0, NULL);
    CHECK(z != NULL);
    nb_fn_free(z);
  }
  nb_fn_free(f);
}

/* ---- allocation failures ---------------------------------------------------------- */
static long al_live, al_calls, al_fail_at;
static int  al_armed;
static void *al_alloc(void *u, size_t n) {
  (void)u;
  if (al_armed && ++al_calls == al_fail_at) return NULL;
  void *p = malloc(n ? n : 1);
  if (p) al_live++;
  return p;
}
static void *al_realloc(void *u, void *p, size_t n) {
  (void)u;
  if (al_armed && ++al_calls == al_fail_at) return NULL;
  void *q = realloc(p, n ? n : 1);
  if (q && !p) al_live++;
  return q;
}
static void al_free(void *u, void *p) {
  (void)u;
  if (p) al_live--, free(p);
}

/* every allocation of nb_vmap_sized and nb_batch_vjp_sized fails in turn: NULL with
 * NB_ERR_NOMEM, nothing leaked, then success */
static void test_alloc_failures(void) {
  static const nb_allocator a = {al_alloc, al_realloc, al_free, NULL};
  al_live = 0;
  nb_set_allocator(&a);
  nb_fn *f = small_fn();
  CHECK(f != NULL);
  const int ia[2] = {-1, NB_UNMAPPED}, oa[2] = {1, 0};
  for (int which = 0; f && which < 2; which++) {
    long before = al_live, k;
    for (k = 1; k < 100000; k++) {
      al_calls = 0, al_fail_at = k, al_armed = 1;
      nb_errclear();
      nb_fn *r = which ? nb_batch_vjp_sized(f, 3, NULL) : nb_vmap_sized(f, 3, ia, oa);
      al_armed = 0;
      if (r) {
        nb_fn_free(r);
        break;
      }
      if (nb_errcode() != NB_ERR_NOMEM) {
        failf("%s: allocation %ld failed: %s \"%s\"", which ? "nb_batch_vjp_sized" : "nb_vmap_sized", k,
              nb_status_str(nb_errcode()), nb_errmsg());
        break;
      }
      if (al_live != before) {
        failf("%s: allocation %ld failed: %ld blocks leaked", which ? "nb_batch_vjp_sized" : "nb_vmap_sized",
              k, al_live - before);
        break;
      }
    }
    CHECK(al_live == before);
    if (which == 0) check_vmap("after the allocation sweep", f, 2, ia, oa, NULL, 0);
  }
  nb_fn_free(f);
  CHECK(al_live == 0);
  nb_set_allocator(NULL);
}

void suite_vmap(void) {
  RUN(test_vmap_unary);
  RUN(test_vmap_binary);
  RUN(test_vmap_reduce);
  RUN(test_vmap_shape);
  RUN(test_vmap_linalg);
  RUN(test_vmap_composite);
  RUN(test_mixed_dtypes);
  RUN(test_rank_limits);
  RUN(test_unmapped_work_once);
  RUN(test_batch_products_all);
  RUN(test_batch_products_wrt);
  RUN(test_per_example_grads_all);
  RUN(test_per_example_mlp);
  RUN(test_vmap_of_derivatives_all);
  RUN(test_jacobians_all);
  RUN(test_nested_vmap);
  RUN(test_jacobian_of_vmap);
  RUN(test_vjp_of_vmap);
  RUN(test_grad_and_hvp_of_vmap);
  RUN(test_check_grads_of_vmap);
  RUN(test_errors_vmap);
  RUN(test_errors_batch_products);
  RUN(test_alloc_failures);
  printf("  checked: %ld vmapped functions (%ld batch items looped), %ld batch products, "
         "%ld jacobian sets, %ld compared elements\n",
         n_vmap, n_items, n_products, n_jac, n_elems);
}
