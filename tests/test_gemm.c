/* The blocked matrix product (src/prim/gemm.h): B packed in blocks of KC
 * rows and strips of NR columns, MR x NR register tiles, NC columns at a
 * time; the interpreter runs it when there is no BLAS (make test-noblas;
 * with BLAS, OpenBLAS runs instead), generated code for every product of
 * nb__matmul_blocked size; both split packing and tiles over threads from
 * NB__GEMM_PARALLEL_WORK multiply-adds.
 *
 * The kernel's text, instantiated here with every tile width the library
 * picks on some CPU (NR 4/8/32 for f64, 8/16/64 for f32) and small KC and NC,
 * on random shapes and strides (transposed, padded rows), its packing and
 * tile rows split into random ranges run in any order: against naive sums,
 * every element of C written, no write past the packed B; the finite test
 * on inf, NaN, the largest and the smallest numbers.
 *
 * Through the library, one function per kind holding both dtypes (so one
 * compile each, the three on threads at once): products at and around the
 * edges (m not a multiple of 6, columns not a multiple of NR and crossing
 * NC, terms crossing KC so the "add to C" pass runs), batched, with operands
 * read through transposes (left, right from 32 rows, both), above the
 * threaded size; the vjp of products (masked products), finite (the kernel)
 * and with inf and NaN where the cotangent is zero, in A and in B, in one
 * batch item only (the loops), and NaN against a nonzero cotangent; the
 * gradient of a two-layer perceptron against central differences. Each runs
 * interpreted (nb_call) and natively (nb_fn_compile, then nb_call on the
 * pool; the entry point without a runner = one thread; with runners that
 * split each loop into 2 parts on 2 threads, or 3 uneven parts run last
 * first), against the reference evaluator (naive loops): the same class
 * (NaN, +-inf) and |got - want| <= 8 eps sqrt(k) S, S the sum of |terms|
 * (the reference on |inputs|; an exact 0 where S is 0). The interpreter also
 * runs in a child process (this binary, this suite, stdout discarded) with
 * NB_NUM_THREADS 1 or 2, whichever this process's pool is not. The generated
 * text calls the kernel for every blocked product, and never for sizes just
 * below the threshold. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"

#include "../src/exec/exec.h"
#include "../src/prim/gemm.h"

/* set in the child processes that run the interpreter with another pool size */
#define CHILD_ENV "NB_TEST_GEMM_CHILD"

static uint64_t mix(uint64_t *s) { /* splitmix64 */
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
static double  unit(uint64_t *s) { return (double)(mix(s) >> 11) * 0x1p-53; }
static int64_t below(uint64_t *s, int64_t n) { return (int64_t)(mix(s) % (uint64_t)n); }
static double  eps_of(nb_dtype dt) { return dt == NB_F32 ? FLT_EPSILON : DBL_EPSILON; }
static const char *dtn(nb_dtype dt) { return dt == NB_F32 ? "f32" : "f64"; }

/* ---- the kernel's text, instantiated here --------------------------------------------- */
#define NB_SIMD
#define EXP64 UINT64_C(0x7ff0000000000000)
#define EXP32 UINT32_C(0x7f800000)
/* every NR of some CPU, with small KC and NC (a multiple of NR) so small
 * products cross both; and the test build's own parameters */
NB__GEMM_KERNEL(double, uint64_t, EXP64, d4, 6, 4, 8, 8)
NB__GEMM_KERNEL(double, uint64_t, EXP64, d8, 6, 8, 7, 24)
NB__GEMM_KERNEL(double, uint64_t, EXP64, d32, 6, 32, 16, 64)
NB__GEMM_KERNEL(double, uint64_t, EXP64, dlib, NB__GEMM_MR, NB__GEMM_NR64, NB__GEMM_KC, NB__GEMM_NC64)
NB__GEMM_KERNEL(float, uint32_t, EXP32, s8, 6, 8, 8, 16)
NB__GEMM_KERNEL(float, uint32_t, EXP32, s16, 6, 16, 5, 48)
NB__GEMM_KERNEL(float, uint32_t, EXP32, s64, 6, 64, 16, 128)
NB__GEMM_KERNEL(float, uint32_t, EXP32, slib, NB__GEMM_MR, NB__GEMM_NR32, NB__GEMM_KC, NB__GEMM_NC32)

/* C = A B through one instantiation, packing and tile rows each split into
 * parts random ranges run in random order (as threads may), A [m, k] and B
 * [k, n] at arbitrary strides; returns the elements off the naive sum
 * (computed in double) by more than 2 (k + 2) eps sum|terms|, and fails on
 * an element not written or a write past the packed scratch. */
#define KCHECK(T, S, NR, KC, NC)                                                           \
  static int64_t kcheck_##S(uint64_t *sd, int64_t m, int64_t n, int64_t k, bool ta, bool tb, int parts) { \
    int64_t pad = below(sd, 3), ar = ta ? 1 : k + pad, ac = ta ? m + pad : 1;          \
    int64_t br = tb ? 1 : n + pad, bc = tb ? k + pad : 1;                              \
    int64_t na = ta ? k * (m + pad) : m * (k + pad), nbb = tb ? n * (k + pad) : k * (n + pad); \
    int64_t strips = nb_gemm_strips_##S(n), np = strips * NR, rows = (m + 5) / 6, bad = 0; \
    T      *a = malloc(sizeof(T) * (size_t)na), *b = malloc(sizeof(T) * (size_t)nbb);  \
    T      *c = malloc(sizeof(T) * (size_t)(m * n)), *bp = malloc(sizeof(T) * (size_t)(k * np + 16)); \
    if (!a || !b || !c || !bp) {                                                       \
      FAILF("out of memory");                                                          \
      free(a), free(b), free(c), free(bp);                                             \
      return 1;                                                                        \
    }                                                                                  \
    for (int64_t i = 0; i < na; i++) a[i] = (T)(2 * unit(sd) - 1);                     \
    for (int64_t i = 0; i < nbb; i++) b[i] = (T)(2 * unit(sd) - 1);                    \
    for (int64_t i = 0; i < m * n; i++) c[i] = (T)NAN;                                 \
    for (int64_t i = 0; i < k * np + 16; i++) bp[i] = (T)12345;                        \
    int64_t se[5] = {0}, re[5] = {0};                                                  \
    se[parts] = strips, re[parts] = rows;                                              \
    for (int p = 1; p < parts; p++) se[p] = below(sd, strips + 1), re[p] = below(sd, rows + 1); \
    for (int p = 1; p < parts; p++) /* sorted */                                       \
      for (int q = p + 1; q < parts; q++) {                                            \
        if (se[q] < se[p]) { int64_t t = se[p]; se[p] = se[q], se[q] = t; }            \
        if (re[q] < re[p]) { int64_t t = re[p]; re[p] = re[q], re[q] = t; }            \
      }                                                                                \
    int first = (int)below(sd, parts);                                                 \
    for (int x = 0; x < parts; x++) {                                                  \
      int p = (first + x) % parts;                                                     \
      nb_gemm_pack_##S(k, n, b, br, bc, bp, se[p], se[p + 1]);                         \
    }                                                                                  \
    for (int64_t i = k * np; i < k * np + 16; i++)                                     \
      if (bp[i] != (T)12345) {                                                         \
        bad++;                                                                         \
        FAILF(#S ": pack wrote past k * np (m %lld n %lld k %lld)", (long long)m, (long long)n, (long long)k); \
      }                                                                                \
    for (int x = 0; x < parts; x++) {                                                  \
      int     p = (first + parts - x) % parts;                                         \
      int64_t i0 = re[p] * 6, i1 = re[p + 1] * 6 < m ? re[p + 1] * 6 : m;              \
      if (i0 < i1) nb_gemm_##S(i0, i1, n, k, a, ar, ac, bp, c);                        \
    }                                                                                  \
    for (int64_t i = 0; i < m; i++)                                                    \
      for (int64_t j = 0; j < n; j++) {                                                \
        double s = 0, sa = 0;                                                          \
        for (int64_t l = 0; l < k; l++) {                                              \
          double t = (double)a[i * ar + l * ac] * (double)b[l * br + j * bc];          \
          s += t, sa += fabs(t);                                                       \
        }                                                                              \
        double got = (double)c[i * n + j];                                             \
        if (!(fabs(got - s) <= 2.0 * (double)(k + 2) * eps_of(sizeof(T) == 4 ? NB_F32 : NB_F64) * sa)) { \
          if (bad++ < 3)                                                               \
            FAILF(#S ": m %lld n %lld k %lld ta %d tb %d parts %d: C[%lld, %lld] = %.9g, want %.9g", \
                  (long long)m, (long long)n, (long long)k, ta, tb, parts, (long long)i, (long long)j, got, s); \
        }                                                                              \
      }                                                                                \
    free(a), free(b), free(c), free(bp);                                               \
    return bad;                                                                        \
  }
KCHECK(double, d4, 4, 8, 8)
KCHECK(double, d8, 8, 7, 24)
KCHECK(double, d32, 32, 16, 64)
KCHECK(double, dlib, NB__GEMM_NR64, NB__GEMM_KC, NB__GEMM_NC64)
KCHECK(float, s8, 8, 8, 16)
KCHECK(float, s16, 16, 5, 48)
KCHECK(float, s64, 64, 16, 128)
KCHECK(float, slib, NB__GEMM_NR32, NB__GEMM_KC, NB__GEMM_NC32)

typedef int64_t (*kcheck_fn)(uint64_t *, int64_t, int64_t, int64_t, bool, bool, int);
typedef struct kinst {
  const char *name;
  kcheck_fn   fn;
  int64_t     nr, kc, nc;
} kinst;

static void test_gemm_kernel_text(void) {
  static const kinst K[] = {{"d4", kcheck_d4, 4, 8, 8},    {"d8", kcheck_d8, 8, 7, 24},
                            {"d32", kcheck_d32, 32, 16, 64}, {"s8", kcheck_s8, 8, 8, 16},
                            {"s16", kcheck_s16, 16, 5, 48}, {"s64", kcheck_s64, 64, 16, 128}};
  uint64_t seed = 17;
  for (size_t q = 0; q < sizeof K / sizeof *K; q++) {
    const kinst *ki = &K[q];
    int64_t      bad = 0;
    /* the edges: 1 row, a tile and one, one column past a strip and past a
     * column block, one term past a block of terms */
    const int64_t edges[][3] = {{1, 1, 1},
                                {6, ki->nr, ki->kc},
                                {7, ki->nr + 1, ki->kc + 1},
                                {5, ki->nc, 2 * ki->kc},
                                {13, ki->nc + 1, 2 * ki->kc + 1},
                                {12, 2 * ki->nc + ki->nr - 1, ki->kc - 1}};
    for (size_t e = 0; e < sizeof edges / sizeof *edges; e++)
      for (int parts = 1; parts <= 3; parts++)
        bad += ki->fn(&seed, edges[e][0], edges[e][1], edges[e][2], parts & 1, parts == 2, parts);
    for (int r = 0; r < 40; r++) {
      int64_t m = 1 + below(&seed, 20), n = 1 + below(&seed, 2 * ki->nc + ki->nr + 2);
      int64_t k = 1 + below(&seed, 3 * ki->kc + 2);
      bad += ki->fn(&seed, m, n, k, below(&seed, 2), below(&seed, 2), 1 + (int)below(&seed, 4));
    }
    if (bad) FAILF("kernel %s: %lld wrong elements", ki->name, (long long)bad);
  }
  /* the build's own parameters, crossing KC and NC once */
  CHECK(kcheck_dlib(&seed, 13, NB__GEMM_NC64 + 3, NB__GEMM_KC + 5, true, false, 2) == 0);
  CHECK(kcheck_slib(&seed, 8, NB__GEMM_NC32 + 1, NB__GEMM_KC + 1, false, true, 3) == 0);
  /* the scratch of one product holds the packed B of any NR */
  for (int64_t n = 1; n <= 700; n++)
    for (int64_t nr = 4; nr <= 64; nr *= 2) {
      int64_t need = (n + nr - 1) / nr * nr * 300;
      if (nb__gemm_scratch(300, n, 8) < need * 8 || nb__gemm_scratch(300, n, 4) < need * 4)
        FAILF("nb__gemm_scratch(300, %lld) is below %lld elements (NR %lld)", (long long)n, (long long)need,
              (long long)nr);
    }
}

static void test_gemm_finite(void) {
  double d[37];
  float  f[37];
  for (int i = 0; i < 37; i++) d[i] = f[i] = (float)(i - 18) * 0.5f;
  d[3] = DBL_MAX, d[4] = -DBL_MAX, d[5] = DBL_MIN / 4, d[6] = -0.0;
  f[3] = FLT_MAX, f[4] = -FLT_MAX, f[5] = FLT_MIN / 4, f[6] = -0.0f;
  CHECK(nb_gemm_finite_d4(d, 37) && nb_gemm_finite_s8(f, 37));
  CHECK(nb_gemm_finite_d4(d, 0) && nb_gemm_finite_s8(f, 0));
  const double bad64[] = {INFINITY, -INFINITY, NAN, -NAN};
  const float  bad32[] = {INFINITY, -INFINITY, NAN, -NAN};
  for (int b = 0; b < 4; b++)
    for (int at = 0; at < 37; at += 12) {
      double sd = d[at];
      float  sf = f[at];
      d[at] = bad64[b], f[at] = bad32[b];
      CHECK(!nb_gemm_finite_d4(d, 37) && !nb_gemm_finite_s8(f, 37));
      CHECK(nb_gemm_finite_d4(d, at) && nb_gemm_finite_s8(f, at)); /* only the first at */
      d[at] = sd, f[at] = sf;
    }
  /* every instantiation has the same test */
  for (int n = 0; n <= 37; n += 37) {
    int d4 = nb_gemm_finite_d4(d, n), s8 = nb_gemm_finite_s8(f, n);
    CHECK(nb_gemm_finite_d8(d, n) == d4 && nb_gemm_finite_d32(d, n) == d4 && nb_gemm_finite_dlib(d, n) == d4);
    CHECK(nb_gemm_finite_s16(f, n) == s8 && nb_gemm_finite_s64(f, n) == s8 && nb_gemm_finite_slib(f, n) == s8);
  }
}

/* ---- a function's buffers --------------------------------------------------------------- */
enum { MAXB = 64 };
typedef struct io {
  int      n;
  nb_dtype dt[MAXB];
  int64_t  size[MAXB];
  void    *p[MAXB];
} io;

static void io_free(io *b) {
  for (int i = 0; i < b->n; i++) free(b->p[i]);
  b->n = 0;
}
static bool io_make(io *b, const nb_fn *f, bool in) {
  memset(b, 0, sizeof *b);
  int n = in ? nb_fn_nin(f) : nb_fn_nout(f);
  if (n > MAXB) return false;
  for (int i = 0; i < n; i++, b->n++) {
    b->dt[i] = in ? nb_fn_in_dtype(f, i) : nb_fn_out_dtype(f, i);
    b->size[i] = in ? nb_fn_in_size(f, i) : nb_fn_out_size(f, i);
    b->p[i] = calloc((size_t)(b->size[i] ? b->size[i] : 1), b->dt[i] == NB_F32 ? 4 : 8);
    if (!b->p[i]) return false;
  }
  return true;
}
static double io_get(const io *b, int i, int64_t k) {
  return b->dt[i] == NB_F32 ? (double)((const float *)b->p[i])[k] : ((const double *)b->p[i])[k];
}
static void io_set(io *b, int i, int64_t k, double v) {
  if (b->dt[i] == NB_F32) ((float *)b->p[i])[k] = (float)v;
  else ((double *)b->p[i])[k] = v;
}
/* a copy of b with every value's magnitude */
static bool io_abs(io *dst, const io *b) {
  memset(dst, 0, sizeof *dst);
  for (int i = 0; i < b->n; i++, dst->n++) {
    dst->dt[i] = b->dt[i], dst->size[i] = b->size[i];
    dst->p[i] = calloc((size_t)(b->size[i] ? b->size[i] : 1), b->dt[i] == NB_F32 ? 4 : 8);
    if (!dst->p[i]) return false;
    for (int64_t k = 0; k < b->size[i]; k++) io_set(dst, i, k, fabs(io_get(b, i, k)));
  }
  return true;
}
static void io_random(io *b, uint64_t seed, double half) {
  for (int i = 0; i < b->n; i++)
    for (int64_t k = 0; k < b->size[i]; k++) io_set(b, i, k, half * (2 * unit(&seed) - 1));
}

static nb_status io_call_fast(nb_fn *f, const io *in, io *out) {
  return nb_call(f, (const void *const *)in->p, out->p);
}
static nb_status io_call_ref(nb_fn *f, const io *in, io *out) {
  return nb__call_reference(f, (const void *const *)in->p, out->p);
}

/* ---- runners for native loops: the pool's part, deterministically --------------------- */
typedef struct par_ctx {
  int  parts;   /* 2: halves on two threads; 3: uneven parts, run last first */
  long calls;   /* loops run through it */
} par_ctx;
typedef struct part_job {
  nb__loop_fn        loop;
  const void *const *in;
  void *const       *out;
  char              *ws;
  int64_t            lo, hi;
} part_job;

static void *part_run(void *arg) {
  part_job *j = arg;
  if (j->lo < j->hi) j->loop(j->in, j->out, j->ws, j->lo, j->hi);
  return NULL;
}

static void par_split(void *ctx, nb__loop_fn loop, const void *const *in, void *const *out, char *ws, int64_t lo,
                      int64_t hi) {
  par_ctx *c = ctx;
  c->calls++;
  if (c->parts == 2) {
    int64_t   mid = lo + (hi - lo + 1) / 2;
    part_job  j[2] = {{loop, in, out, ws, lo, mid}, {loop, in, out, ws, mid, hi}};
    pthread_t t;
    bool      started = pthread_create(&t, NULL, part_run, &j[1]) == 0;
    part_run(&j[0]);
    if (started) pthread_join(t, NULL);
    else part_run(&j[1]);
    return;
  }
  /* one element, two thirds of the rest, the last third; the last first */
  int64_t  a = lo + 1 < hi ? lo + 1 : hi, b = a + (hi - a) * 2 / 3;
  part_job j[3] = {{loop, in, out, ws, lo, a}, {loop, in, out, ws, a, b}, {loop, in, out, ws, b, hi}};
  for (int p = 2; p >= 0; p--) part_run(&j[p]);
}

/* the native entry point called directly: par NULL runs every loop in one call */
static nb_status call_native(nb_fn *f, const io *in, io *out, par_ctx *par) {
  int64_t bytes = nb_fn_workspace_bytes(f);
  if (bytes < 0 || !f->native) return NB_ERR_ARG;
  void *work = aligned_alloc(64, (size_t)(bytes + 64) / 64 * 64);
  if (!work) return NB_ERR_NOMEM;
  memset(work, 0xA5, (size_t)bytes); /* generated code must not rely on its contents */
  int rc = f->native((const void *const *)in->p, out->p, work, par ? par_split : NULL, par);
  free(work);
  return rc ? NB_ERR_ARG : NB_OK;
}

/* ---- comparisons ------------------------------------------------------------------------ */
static int cls(double v) { return isnan(v) ? 3 : isinf(v) ? (v > 0 ? 1 : 2) : 0; }

/* got against want, output by output: the same class (NaN, +inf, -inf) and
 * |g - w| <= rt[o] * scale, scale the sum of |terms| (S, when given) or
 * |w| + the largest finite |want| of that output; returns the elements off */
static int64_t compare(const char *what, int line, const io *got, const io *want, const io *S, const double *rt) {
  int64_t off = 0;
  for (int o = 0; o < want->n; o++) {
    double mx = 0;
    for (int64_t k = 0; k < want->size[o]; k++)
      if (isfinite(io_get(want, o, k)) && fabs(io_get(want, o, k)) > mx) mx = fabs(io_get(want, o, k));
    int64_t here = 0;
    for (int64_t k = 0; k < want->size[o]; k++) {
      double g = io_get(got, o, k), w = io_get(want, o, k);
      double tol = rt[o] * (S ? io_get(S, o, k) : fabs(w) + mx);
      bool   ok = cls(g) == cls(w) && (cls(w) || fabs(g - w) <= tol);
      if (ok) continue;
      if (here++ < 3)
        fprintf(stderr, "  %s:%d: %s: %s: output %d (%s) [%lld] = %.17g, want %.17g (tol %.3g)\n", __FILE__, line,
                th_current, what, o, dtn(want->dt[o]), (long long)k, g, w, tol);
    }
    if (here) th_failed_checks++, off += here;
  }
  return off;
}

/* ---- the products ------------------------------------------------------------------------ */
/* [batch..., m, k] x [batch..., k, n]; batch 0: rank 2; ta/tb: the operand is
 * nb_transpose of an input of the swapped shape */
typedef struct prod {
  int64_t  batch, m, n, k;
  bool     ta, tb;
  nb_dtype dt;
} prod;

/* every one in f64 and f32 */
static const prod PRODS[] = {
    {0, 8, 16, 512, 0, 0, NB_F64},    /* exactly the threshold, 65536; two blocks of terms */
    {0, 13, 17, 300, 0, 0, NB_F64},   /* a tile and a partial one, a partial strip, k past KC */
    {0, 30, 65, 255, 1, 0, NB_F64},   /* left read through a transpose */
    {0, 12, 513, 16, 0, 1, NB_F64},   /* right transposed, 16 rows: made, not read through; n past NC */
    {0, 9, 600, 40, 0, 1, NB_F64},    /* right read through (40 rows); n past NC (both dtypes) */
    {3, 9, 33, 256, 0, 0, NB_F64},    /* batched, k exactly KC */
    {2, 16, 70, 257, 1, 1, NB_F64},   /* batched, both read through */
    {0, 257, 40, 257, 0, 0, NB_F64},  /* threaded (2.6e6); 257 rows = 42 tiles + 5 */
    {0, 64, 600, 64, 1, 1, NB_F64},   /* threaded, both through, n past NC */
    {2, 100, 100, 220, 0, 1, NB_F64}, /* batched and threaded (2.2e6 per item), right through */
    /* below the threshold in one way each: the loops (not compiled: test_emit's) */
    {0, 7, 64, 256, 0, 0, NB_F64},    /* 7 rows */
    {0, 8, 15, 600, 0, 0, NB_F64},    /* 15 columns */
    {0, 8, 16, 511, 0, 0, NB_F64},    /* 65408 multiply-adds */
    {0, 64, 64, 15, 1, 0, NB_F64},    /* 15 terms */
};
enum { NPROD = sizeof PRODS / sizeof *PRODS, NBELOW = 4, MAXP = 2 * NPROD };

/* the primals of a vjp (masked products dA = G B^T, dB = A^T G, for the
 * operands in wrt: 1 A, 2 B, 3 both): fin, no inf or NaN; else inf and NaN
 * in rows of A and columns of B where the cotangent is zero (in batch item
 * bad only), and a NaN of A against a nonzero cotangent */
typedef struct mprod {
  prod p;
  bool fin;
  int  bad, wrt;
} mprod;
static const mprod MPRODS[] = {
    /* dA 24x40 (k 100, B^T read through), dB 40x100 (k 24, A^T through) */
    {{0, 24, 100, 40, 0, 0, NB_F64}, 1, 0, 3},
    {{0, 24, 100, 40, 0, 0, NB_F32}, 1, 0, 3},
    /* batched, A transposed; inf and NaN in item 1 only (in A for dB, in
     * B for dA): the loops */
    {{2, 20, 70, 48, 1, 0, NB_F64}, 0, 1, 3},
    {{2, 20, 70, 48, 1, 0, NB_F32}, 0, 1, 3},
    /* the same, finite: dB = A G, A read as it is */
    {{2, 20, 70, 48, 1, 0, NB_F32}, 1, 0, 2},
    /* threaded forward and backward (dA = G B, B read as it is) */
    {{0, 128, 160, 128, 0, 1, NB_F64}, 1, 0, 1},
};
enum { NM = sizeof MPRODS / sizeof *MPRODS };

static bool blocked(const prod *p) { return nb__matmul_blocked(p->m, p->n, p->k); }
static bool threaded(const prod *p) { return blocked(p) && p->m * p->n * p->k >= NB__GEMM_PARALLEL_WORK; }

/* PRODS in f64, then in f32: which 0 all, 1 the blocked ones, 2 the others */
static int all_prods(prod *ps, int which) {
  int n = 0;
  for (int d = 0; d < 2; d++)
    for (int q = 0; q < NPROD; q++)
      if (!which || (which == 1) == blocked(&PRODS[q])) ps[n] = PRODS[q], ps[n++].dt = d ? NB_F32 : NB_F64;
  return n;
}

/* an input of the operand's shape, or of the swapped one under a transpose
 * of the last two axes (*input: the nb_input) */
static nb_expr *operand(nb_graph *g, nb_dtype dt, int64_t batch, int64_t r, int64_t c, bool t, nb_expr **input) {
  int64_t sh[3];
  int     rank = 0;
  if (batch) sh[rank++] = batch;
  sh[rank++] = t ? c : r, sh[rank++] = t ? r : c;
  nb_expr *x = *input = nb_input(g, t ? "t" : "x", dt, rank, sh);
  if (t) x = nb_transpose(x, rank == 3 ? (int[]){0, 2, 1} : (int[]){1, 0});
  return x;
}

/* the operand's element (q, i, l) in its input's buffer */
static int64_t at(int64_t r, int64_t c, bool t, int64_t q, int64_t i, int64_t l) {
  return q * r * c + (t ? l * r + i : i * c + l);
}

/* f: inputs A and B of each of ps (the operands, or what is transposed into
 * them), an output A B each */
static nb_fn *products_fn(const prod *ps, int np) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[2 * MAXP], *out[MAXP];
  if (!g || np > MAXP) return NULL;
  for (int q = 0; q < np; q++) {
    const prod *p = &ps[q];
    nb_expr    *a = operand(g, p->dt, p->batch, p->m, p->k, p->ta, &in[2 * q]);
    nb_expr    *b = operand(g, p->dt, p->batch, p->k, p->n, p->tb, &in[2 * q + 1]);
    out[q] = nb_matmul(a, b);
  }
  nb_fn *f = nb_fn_new(g, 2 * np, in, np, out);
  if (!f) FAILF("products_fn: %s", nb_errmsg());
  nb_graph_free(g);
  return f;
}

/* the tolerance per output of products_fn (relative to the sum of |terms|) */
static void products_rt(const prod *ps, int np, double *rt) {
  for (int q = 0; q < np; q++) rt[q] = 8 * eps_of(ps[q].dt) * sqrt((double)ps[q].k);
}

/* a function's reference results on random inputs: in, want and S (the sum of
 * |terms|: the reference on |in|; the function must be multilinear) */
typedef struct expect {
  io in, want, S;
} expect;

static void expect_free(expect *e) { io_free(&e->in), io_free(&e->want), io_free(&e->S); }

static bool expect_make(expect *e, nb_fn *f, uint64_t seed, void (*poke)(io *in)) {
  io a;
  memset(e, 0, sizeof *e);
  memset(&a, 0, sizeof a);
  if (!f || !io_make(&e->in, f, true) || !io_make(&e->want, f, false) || !io_make(&e->S, f, false)) return false;
  io_random(&e->in, seed, 1.0);
  if (poke) poke(&e->in);
  bool ok = io_abs(&a, &e->in) && io_call_ref(f, &e->in, &e->want) == NB_OK && io_call_ref(f, &a, &e->S) == NB_OK;
  io_free(&a);
  if (!ok) FAILF("the reference evaluator failed: %s", nb_errmsg());
  return ok;
}

/* f run by how (0 nb_call, 1 native in one call, 2 native on 2 threads, 3
 * native in 3 uneven parts) against e; loops: some loop must run through
 * the runner */
static int64_t check_run(nb_fn *f, const expect *e, const double *rt, int how, bool loops, const char *what,
                         int line) {
  io      got;
  par_ctx par = {how, 0};
  if (!io_make(&got, f, false)) {
    FAILF("out of memory");
    return 1;
  }
  for (int o = 0; o < got.n; o++) /* stale values must not survive */
    for (int64_t k = 0; k < got.size[o]; k++) io_set(&got, o, k, NAN);
  nb_status st = how ? call_native(f, &e->in, &got, how == 1 ? NULL : &par) : io_call_fast(f, &e->in, &got);
  int64_t   off = 1;
  char      name[96];
  static const char *const hows[] = {"nb_call", "native, one call", "native, 2 threads", "native, 3 parts"};
  snprintf(name, sizeof name, "%s, %s", what, hows[how]);
  if (st) FAILF("%s: status %s %s", name, nb_status_str(st), nb_errmsg());
  else off = compare(name, line, &got, &e->want, e->S.n ? &e->S : NULL, rt);
  if (how >= 2 && loops && !par.calls) FAILF("%s: no loop ran through the runner", name);
  io_free(&got);
  return off;
}

/* ---- masked products: the vjp of products ------------------------------------------------ */
/* the vjp's outputs: the products, then dA and/or dB of each (wrt) */
typedef struct mout {
  int q, which; /* MPRODS[q]; 0 the product, 1 dA, 2 dB */
} mout;
static int mouts(mout *o) {
  int n = 0;
  for (int q = 0; q < NM; q++) o[n++] = (mout){q, 0};
  for (int q = 0; q < NM; q++)
    for (int w = 1; w <= 2; w++)
      if (MPRODS[q].wrt & w) o[n++] = (mout){q, w};
  return n;
}

/* vjp inputs: A, B of each product, then the cotangents */
static void poke_masked(io *in) {
  for (int q = 0; q < NM; q++) {
    const prod *p = &MPRODS[q].p;
    int         ia = 2 * q, ib = 2 * q + 1, ig = 2 * NM + q;
    int64_t     m = p->m, n = p->n, k = p->k, c = MPRODS[q].bad;
    if (MPRODS[q].fin) { /* exact zeros in the cotangent: a zero row and a zero column */
      for (int64_t j = 0; j < n; j++) io_set(in, ig, at(m, n, 0, 0, 2, j), 0);
      for (int64_t i = 0; i < m; i++) io_set(in, ig, at(m, n, 0, 0, i, 5), 0);
      continue;
    }
    const double vals[] = {INFINITY, -INFINITY, NAN};
    int64_t      rows[] = {1, m - 1}, cols[] = {0, n - 2};
    for (int r = 0; r < 2; r++) {
      for (int v = 0; v < 3; v++) {
        io_set(in, ia, at(m, k, p->ta, c, rows[r], (3 * r + 7 * v) % k), vals[v]);
        io_set(in, ib, at(k, n, p->tb, c, (5 * r + 11 * v) % k, cols[r]), vals[v]);
      }
      for (int64_t j = 0; j < n; j++) io_set(in, ig, at(m, n, 0, c, rows[r], j), 0);
      for (int64_t i = 0; i < m; i++) io_set(in, ig, at(m, n, 0, c, i, cols[r]), 0);
    }
    /* a NaN of A against a nonzero cotangent: NaN in a row of dB */
    io_set(in, ia, at(m, k, p->ta, c, 2, 3), NAN);
  }
}

/* the masked products of blocked size of f, f64 and f32 */
static void masked_blocked(const nb_fn *f, int *count) {
  for (int32_t i = 0; f && i < f->nnodes; i++) {
    const nb__node *n = &f->nodes[i].n;
    int64_t         k = n->op == NB_OP_MATMUL ? f->nodes[f->nodes[i].src[0]].n.shape[n->rank - 1] : 0;
    if (n->op == NB_OP_MATMUL && n->p.i[0] && nb__matmul_blocked(n->shape[n->rank - 2], n->shape[n->rank - 1], k))
      count[n->dtype == NB_F32]++;
  }
}

/* the vjp of MPRODS (its primal in *primal), with the masked products of
 * blocked size it must have */
static nb_fn *masked_vjp(nb_fn **primal) {
  prod ps[NM];
  int  wrt[2 * NM], nwrt = 0, want[2] = {0, 0}, masked[2] = {0, 0};
  for (int q = 0; q < NM; q++) {
    ps[q] = MPRODS[q].p;
    for (int w = 0; w < 2; w++)
      if (MPRODS[q].wrt & (1 << w)) wrt[nwrt++] = 2 * q + w, want[ps[q].dt == NB_F32]++;
  }
  nb_fn       *f = *primal = products_fn(ps, NM);
  nb_diff_opts o = {nwrt, wrt, 0};
  nb_fn       *v = f ? nb_vjp(f, &o) : NULL;
  if (f && !v) FAILF("nb_vjp: %s", nb_errmsg());
  masked_blocked(v, masked);
  if (v && (masked[0] != want[0] || masked[1] != want[1]))
    FAILF("the vjp has %d and %d blocked masked products, want %d and %d", masked[0], masked[1], want[0], want[1]);
  return v;
}

static void masked_rt(double *rt) {
  mout o[3 * NM];
  int  n = mouts(o);
  for (int x = 0; x < n; x++) {
    const prod *p = &MPRODS[o[x].q].p;
    int64_t     k = o[x].which == 0 ? p->k : o[x].which == 1 ? p->n : p->m;
    rt[x] = 8 * eps_of(p->dt) * sqrt((double)k);
  }
}

/* the reference's cotangents: finite where inf and NaN meet zeros; NaN in
 * dB's row 3 where the cotangent's row 2 is nonzero */
static void check_masked_pattern(const expect *e) {
  mout o[3 * NM];
  int  n = mouts(o);
  for (int x = 0; x < n; x++) {
    const mprod *mp = &MPRODS[o[x].q];
    int64_t      bad = 0, want = o[x].which == 2 && !mp->fin ? mp->p.n - 2 : 0;
    if (!o[x].which) continue;
    for (int64_t y = 0; y < e->want.size[x]; y++) bad += !isfinite(io_get(&e->want, x, y));
    if (bad != want || (want && !isnan(io_get(&e->want, x, at(mp->p.k, mp->p.n, 0, mp->bad, 3, 1)))))
      FAILF("product %d: the reference's d%s has %lld non-finite values, want %lld", o[x].q, o[x].which == 1 ? "A" : "B",
            (long long)bad, (long long)want);
  }
}

/* ---- the gradient of a two-layer perceptron ---------------------------------------------- */
/* every product of the gradient with respect to W1 and W2 is blocked: X W1
 * and dW1 = X^T G1 76800 multiply-adds, the others 102400 */
enum { GM = 20, GK = 48, GH = 80, GN = 64 };

/* sum(tanh(tanh(X W1) W2)) in f64 plus the same in f32 (summed in f64):
 * inputs X, W1, W2 of f64, then of f32 */
static nb_fn *mlp_fn(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *in[6], *t[2];
  for (int d = 0; d < 2; d++) {
    nb_dtype dt = d ? NB_F32 : NB_F64;
    in[3 * d] = nb_input(g, "x", dt, 2, (int64_t[]){GM, GK});
    in[3 * d + 1] = nb_input(g, "w1", dt, 2, (int64_t[]){GK, GH});
    in[3 * d + 2] = nb_input(g, "w2", dt, 2, (int64_t[]){GH, GN});
    t[d] = nb_tanh(nb_matmul(nb_tanh(nb_matmul(in[3 * d], in[3 * d + 1])), in[3 * d + 2]));
    if (d) t[d] = nb_cast(t[d], NB_F64);
  }
  nb_expr *y = nb_add(nb_sum(t[0], 0, NULL, false), nb_sum(t[1], 0, NULL, false));
  nb_fn   *f = nb_fn_new(g, 6, in, 1, &y);
  if (!f) FAILF("mlp_fn: %s", nb_errmsg());
  nb_graph_free(g);
  return f;
}

/* nb_grad with respect to W1 and W2 of both dtypes */
static nb_fn *mlp_grad(const nb_fn *f) {
  static const int wrt[4] = {1, 2, 4, 5};
  nb_diff_opts     o = {4, wrt, 0};
  nb_fn           *gf = f ? nb_grad(f, &o) : NULL;
  int              masked[2] = {0, 0};
  if (f && !gf) FAILF("nb_grad: %s", nb_errmsg());
  masked_blocked(gf, masked);
  if (gf && (masked[0] != 3 || masked[1] != 3))
    FAILF("the gradient has %d and %d blocked masked products, want 3 each", masked[0], masked[1]);
  return gf;
}

/* ---- native code: the three functions compiled at once ---------------------------------- */
static struct {
  nb_fn *prod, *mprimal, *vjp, *mlp, *grad;
  bool   ok[3]; /* prod, vjp, grad native */
} nat;

static void native_free(void) {
  nb_fn_free(nat.prod), nb_fn_free(nat.mprimal), nb_fn_free(nat.vjp), nb_fn_free(nat.mlp), nb_fn_free(nat.grad);
  memset(&nat, 0, sizeof nat);
}

/* a compiler works: a tiny function compiles (else native code is not tested) */
static bool compiler_works(void) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", NB_F64, 1, (int64_t[]){4});
  nb_expr  *y = nb_exp(x);
  nb_fn    *f = nb_fn_new(g, 1, &x, 1, &y);
  nb_graph_free(g);
  bool ok = f && nb_fn_compile(f) == NB_OK;
  if (!ok) fprintf(stderr, "  %s: no C compiler works (%s): native code not tested\n", th_current, nb_errmsg());
  nb_fn_free(f);
  return ok;
}

/* products, the masked vjp and the gradient, compiled on 3 threads (a
 * compile takes 1-2 s) */
static void test_gemm_compile(void) {
  prod ps[MAXP];
  int  np = all_prods(ps, 1);
  nat.prod = products_fn(ps, np);
  nat.vjp = masked_vjp(&nat.mprimal);
  nat.mlp = mlp_fn();
  nat.grad = mlp_grad(nat.mlp);
  if (!nat.prod || !nat.vjp || !nat.grad || !compiler_works()) return;
  fx_compile_all("gemm", (nb_fn *[]){nat.prod, nat.vjp, nat.grad}, 3, nat.ok);
}

/* ---- the tests --------------------------------------------------------------------------- */
static void test_gemm_products_interp(void) {
  prod   ps[MAXP];
  int    np = all_prods(ps, 0);
  nb_fn *f = products_fn(ps, np);
  double rt[MAXP];
  products_rt(ps, np, rt);
  if (!f) return;
  /* two input sets: the second call reuses the workspace, its scratch stale */
  for (uint64_t seed = 1; seed <= 2; seed++) {
    expect e;
    if (expect_make(&e, f, seed, NULL)) check_run(f, &e, rt, 0, false, "products", __LINE__);
    expect_free(&e);
  }
  /* the plan gives each blocked product its scratch, inside the workspace */
  nb__plan *p = nb__plan_get(f);
  int       nblocked = 0, want = 0;
  for (int32_t i = 0; p && i < f->nnodes; i++) {
    const nb__node *n = &f->nodes[i].n;
    if (n->op != NB_OP_MATMUL) continue;
    int64_t bytes = nb__matmul_scratch(n, p->srcs + p->first[i]);
    int64_t k = f->nodes[f->nodes[i].src[0]].n.shape[n->rank - 1];
    CHECK((bytes > 0) == nb__matmul_blocked(n->shape[n->rank - 2], n->shape[n->rank - 1], k));
    if (bytes) {
      nblocked++;
      CHECK(p->scratch[i] >= 0 && p->scratch[i] + bytes <= (int64_t)p->bytes);
    }
  }
  for (int q = 0; q < np; q++) want += blocked(&ps[q]);
  CHECK(p && nblocked == want && want == np - 2 * NBELOW);
  nb_fn_free(f);
}

static void test_gemm_products_native(void) {
  prod   ps[MAXP];
  int    np = all_prods(ps, 1);
  double rt[MAXP];
  products_rt(ps, np, rt);
  if (!nat.ok[0]) return;
  for (uint64_t seed = 3; seed <= 4; seed++) {
    expect e;
    if (expect_make(&e, nat.prod, seed, NULL))
      for (int how = 0; how <= 3; how++) check_run(nat.prod, &e, rt, how, true, "products", __LINE__);
    expect_free(&e);
  }
}

static void test_gemm_masked_interp(void) {
  nb_fn *f, *v = masked_vjp(&f);
  double rt[3 * NM];
  masked_rt(rt);
  expect e;
  if (v && expect_make(&e, v, 5, poke_masked)) {
    check_masked_pattern(&e);
    check_run(v, &e, rt, 0, false, "masked vjp", __LINE__);
  }
  expect_free(&e);
  nb_fn_free(v), nb_fn_free(f);
}

static void test_gemm_masked_native(void) {
  double rt[3 * NM];
  masked_rt(rt);
  if (!nat.ok[1]) return;
  expect e;
  if (expect_make(&e, nat.vjp, 6, poke_masked)) {
    check_masked_pattern(&e);
    for (int how = 0; how <= 3; how++) check_run(nat.vjp, &e, rt, how, true, "masked vjp", __LINE__);
  }
  expect_free(&e);
}

/* the gradient got (of mlp_grad(f) at in) against central differences of f
 * at a few entries of W1 and W2 of f64, and the f32 gradient against the
 * f64 one (the f32 inputs are the f64 ones rounded) */
static void check_fd(nb_fn *f, const io *in, const io *got, const char *what) {
  io       x;
  double   y[2];
  uint64_t s = 99;
  if (!io_make(&x, f, true)) return;
  for (int i = 0; i < 6; i++) memcpy(x.p[i], in->p[i], (size_t)in->size[i] * (i < 3 ? 8 : 4));
  for (int w = 0; w < 2; w++)
    for (int r = 0; r < 6; r++) {
      int64_t k = below(&s, x.size[1 + w]);
      double  v = io_get(&x, 1 + w, k), h = 1e-5;
      for (int side = 0; side < 2; side++) {
        io_set(&x, 1 + w, k, v + (side ? -h : h));
        void *out[1] = {&y[side]};
        if (nb_call(f, (const void *const *)x.p, out)) FAILF("nb_call: %s", nb_errmsg());
      }
      io_set(&x, 1 + w, k, v);
      double fd = (y[0] - y[1]) / (2 * h), g = io_get(got, w, k);
      if (!(fabs(fd - g) <= 1e-6 * (1 + fabs(fd))))
        FAILF("%s: d/dW%d[%lld] = %.12g, central differences %.12g", what, 1 + w, (long long)k, g, fd);
    }
  for (int w = 0; w < 2; w++) {
    double  mx = 0;
    int64_t off = 0;
    for (int64_t k = 0; k < got->size[w]; k++) mx = fmax(mx, fabs(io_get(got, w, k)));
    for (int64_t k = 0; k < got->size[w]; k++) {
      double g64 = io_get(got, w, k), g32 = io_get(got, w + 2, k);
      if (!(fabs(g64 - g32) <= 1e-4 * (mx + fabs(g64))) && off++ < 3)
        FAILF("%s: f32 d/dW%d[%lld] = %.8g, f64 %.8g", what, 1 + w, (long long)k, g32, g64);
    }
  }
  io_free(&x);
}

/* interpreted, and natively when native (nat.grad compiled) */
static void grad_check(nb_fn *f, nb_fn *gf, bool native) {
  expect e;
  io     got;
  double rt[4] = {1e-12, 1e-12, 2e-5, 2e-5};
  memset(&got, 0, sizeof got);
  if (expect_make(&e, gf, 7, NULL) && io_make(&got, gf, false)) {
    for (int i = 0; i < 3; i++) /* moderate values; the f32 inputs the f64 ones rounded */
      for (int64_t k = 0; k < e.in.size[i]; k++) {
        io_set(&e.in, i, k, (double)(float)(0.3 * io_get(&e.in, i, k)));
        io_set(&e.in, i + 3, k, io_get(&e.in, i, k));
      }
    io_free(&e.S); /* not multilinear: compared with the largest |value| */
    if (io_call_ref(gf, &e.in, &e.want)) FAILF("reference: %s", nb_errmsg());
    if (!native) check_fd(f, &e.in, &e.want, "reference");
    for (int how = 0; how <= (native ? 3 : 0); how++) {
      check_run(gf, &e, rt, how, false, native ? "grad, native" : "grad", __LINE__);
      if (how >= 2) continue;
      nb_status st = how ? call_native(gf, &e.in, &got, NULL) : io_call_fast(gf, &e.in, &got);
      if (st) FAILF("grad: %s", nb_errmsg());
      else check_fd(f, &e.in, &got, native ? (how ? "native grad, one call" : "native grad") : "grad");
    }
  }
  io_free(&got);
  expect_free(&e);
}

static void test_gemm_grad_interp(void) {
  nb_fn *f = mlp_fn(), *gf = mlp_grad(f);
  if (gf) grad_check(f, gf, false);
  nb_fn_free(gf), nb_fn_free(f);
}
static void test_gemm_grad_native(void) {
  if (nat.ok[2]) grad_check(nat.mlp, nat.grad, true);
}

/* the generated text calls the kernel for each blocked product, packing and
 * tiles in loops of their own above the threaded size; a masked product
 * runs it behind a finite test; a file of products just below the
 * threshold has none of its text */
static int64_t count(const char *s, const char *w) {
  int64_t n = 0;
  for (const char *p = strstr(s, w); p; p = strstr(p + 1, w)) n++;
  return n;
}

static void test_gemm_text(void) {
  prod   ps[MAXP];
  int    np = all_prods(ps, 0);
  nb_fn *f = products_fn(ps, np);
  char  *t = fx_emit_text(f, "gemm"), w[160];
  for (int d = 0; t && d < 2; d++) {
    const char *s = d ? "f32" : "f64";
    int         nb = 0, nt = 0;
    for (int q = 0; q < np; q++) {
      const prod *p = &ps[q];
      if (p->dt != (d ? NB_F32 : NB_F64) || !blocked(p)) continue;
      nb++;
      snprintf(w, sizeof w, "nb_gemm_pack_%s(%lld, %lld, v", s, (long long)p->k, (long long)p->n);
      if (!strstr(t, w)) FAILF("no call \"%s\" for product %d", w, q);
      if (!threaded(p)) continue;
      nt++;
      snprintf(w, sizeof w, "x = lo; x < hi; x++)\n    nb_gemm_pack_%s(%lld, %lld, v", s, (long long)p->k,
               (long long)p->n);
      if (!strstr(t, w)) FAILF("product %d: the packing is not in a loop of its own", q);
    }
    /* call sites: every occurrence but the definition */
    snprintf(w, sizeof w, "nb_gemm_pack_%s(", s);
    int64_t packs = count(t, w) - 1;
    snprintf(w, sizeof w, " nb_gemm_%s(", s);
    int64_t tiles = count(t, w) - 1;
    if (packs != nb || tiles != nb)
      FAILF("%s: %lld packing and %lld tile calls for %d blocked products", s, (long long)packs, (long long)tiles, nb);
    snprintf(w, sizeof w, "static inline void nb_gemm_pack_%s(", s);
    CHECK(count(t, w) == 1 && nb == NPROD - NBELOW && nt == 3);
  }
  CHECK(t && count(t, "NB_RUN(") >= 12); /* packing and tiles of 3 threaded products, per dtype */
  free(t), nb_fn_free(f);
  /* a masked product: the kernel behind a finite test, in both dtypes */
  nb_fn *v, *mf;
  v = masked_vjp(&mf);
  t = fx_emit_text(v, "gemm");
  if (t && !(strstr(t, "if (nb_gemm_finite_f64(") && strstr(t, "if (nb_gemm_finite_f32(")))
    FAILF("no masked product runs the blocked kernel");
  free(t), nb_fn_free(v), nb_fn_free(mf);
  /* below the threshold in one way each: no kernel at all */
  np = all_prods(ps, 2);
  CHECK(np == 2 * NBELOW);
  f = products_fn(ps, np);
  t = fx_emit_text(f, "gemm");
  if (t && strstr(t, "nb_gemm")) FAILF("products below the threshold call the kernel");
  CHECK(t != NULL);
  free(t), nb_fn_free(f);
}

/* ---- the interpreter on 1 and 2 threads ------------------------------------------------- */
/* the pool's size is read once per process: the interpreted tests run again
 * in a child process (this binary, this suite, stdout discarded) with
 * NB_NUM_THREADS 1 or 2, whichever this process's pool is not */
static void test_gemm_pool_sizes(void) {
  for (int nt = 1; nt <= 2; nt++) {
    if (nt == nb__pool_threads()) continue;
    int st = fx_run_suite_child("gemm", nt, CHILD_ENV, "1");
    if (st == -2) return;
    if (st > 0) FAILF("the interpreted products with NB_NUM_THREADS=%d failed (status %d)", nt, st);
  }
}

/* in the child: the interpreted tests only, on the pool size asked for */
static void test_gemm_child_pool(void) {
  const char *want = getenv("NB_NUM_THREADS");
  CHECK(want && nb__pool_threads() == atoi(want));
}

void suite_gemm(void) {
  if (getenv(CHILD_ENV)) {
    RUN(test_gemm_child_pool);
    RUN(test_gemm_products_interp);
    RUN(test_gemm_masked_interp);
    RUN(test_gemm_grad_interp);
    return;
  }
  RUN(test_gemm_kernel_text);
  RUN(test_gemm_finite);
  RUN(test_gemm_products_interp);
  RUN(test_gemm_masked_interp);
  RUN(test_gemm_grad_interp);
  RUN(test_gemm_text);
  RUN(test_gemm_compile);
  RUN(test_gemm_products_native);
  RUN(test_gemm_masked_native);
  RUN(test_gemm_grad_native);
  native_free();
  RUN(test_gemm_pool_sizes);
}
