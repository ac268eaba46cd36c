/* matmul: a[..., M, K] x b[..., K, N] -> [..., M, N] with equal batch
 * dimensions (the ops layer promotes 1-D operands and broadcasts batches).
 * p.i[0] = 1 makes it "masked": a term with a zero factor is zero even when
 * the other factor is inf or NaN — the contraction form of dmul, used by
 * every derivative rule so a zero (co)tangent stays exactly zero. */
#include <math.h>
#include <string.h>

#include "../exec/exec.h"
#include "../transform/ad.h"
#include "gemm.h"

#if defined(NB_HAVE_CBLAS)
#include <cblas.h>
#endif

static nb_status infer_matmul(const char *api, nb__node *out, const nb__node *const *src) {
  const nb__node *a = src[0], *b = src[1];
  char            sa[NB__SHAPE_STR], sb[NB__SHAPE_STR];
  if (a->dtype != b->dtype)
    return nb__fail(NB_ERR_DTYPE, "%s: dtype mismatch %s and %s", api, nb__dtype_name(a->dtype),
                    nb__dtype_name(b->dtype));
  int r = a->rank;
  if (r < 2 || b->rank != r || a->shape[r - 1] != b->shape[r - 2] ||
      (r > 2 && memcmp(a->shape, b->shape, (size_t)(r - 2) * sizeof *a->shape)))
    return nb__fail(NB_ERR_SHAPE, "%s: shapes %s and %s do not fit", api,
                    nb__shape_str(sa, a->rank, a->shape), nb__shape_str(sb, b->rank, b->shape));
  out->rank = (uint8_t)r;
  memcpy(out->shape, a->shape, sizeof out->shape);
  out->shape[r - 1] = b->shape[r - 1];
  out->dtype = a->dtype;
  out->weak = 0;
  return NB_OK;
}

/* The shape of one product and where its operands' elements are: A[i, l]
 * of batch item q at a[q * m * k + i * ar + l * ac], B[l, j] likewise; an
 * operand read as the transpose of its buffer has its strides swapped. */
typedef struct mm_dims {
  int64_t batch, m, nn, k;
  int64_t ar, ac, br, bc;
  bool    masked;
} mm_dims;

static mm_dims dims_of(const nb__node *n, const nb__node *const *s, const bool swap[2]) {
  int     r = n->rank;
  mm_dims d = {1, n->shape[r - 2], n->shape[r - 1], s[0]->shape[r - 1], 0, 0, 0, 0, n->p.i[0] != 0};
  for (int x = 0; x < r - 2; x++) d.batch *= n->shape[x];
  nb__matmul_strides(d.m, d.k, swap[0], &d.ar, &d.ac);
  nb__matmul_strides(d.k, d.nn, swap[1], &d.br, &d.bc);
  return d;
}

/* the i-l-j order: the innermost loop runs along B's rows, which vectorizes
 * when they are contiguous */
#define NB__MATMUL_LOOP(T)                                                               \
  do {                                                                                   \
    T       *c = out;                                                                    \
    const T *pa = in[0], *pb = in[1];                                                    \
    for (int64_t q = 0; q < d.batch; q++, c += d.m * d.nn, pa += d.m * d.k, pb += d.k * d.nn) \
      for (int64_t i = 0; i < d.m; i++) {                                                \
        T *ci = c + i * d.nn;                                                            \
        for (int64_t j = 0; j < d.nn; j++) ci[j] = 0;                                    \
        for (int64_t l = 0; l < d.k; l++) {                                              \
          T        ail = pa[i * d.ar + l * d.ac];                                        \
          const T *bl = pb + l * d.br;                                                   \
          if (d.bc != 1)                                                                 \
            for (int64_t j = 0; j < d.nn; j++) ci[j] += d.masked && (ail == 0 || bl[j * d.bc] == 0) ? 0 : ail * bl[j * d.bc]; \
          else if (!d.masked)                                                            \
            for (int64_t j = 0; j < d.nn; j++) ci[j] += ail * bl[j];                     \
          else if (ail != 0)                                                             \
            for (int64_t j = 0; j < d.nn; j++) ci[j] += bl[j] == 0 ? 0 : ail * bl[j];    \
        }                                                                                \
      }                                                                                  \
  } while (0)

/* the blocked kernel (prim/gemm.h), instantiated for both dtypes */
#if defined(NB_VECTOR_MATH)
#define NB_SIMD _Pragma("omp simd")
#else
#define NB_SIMD
#endif
NB__GEMM_KERNEL(double, uint64_t, UINT64_C(0x7ff0000000000000), f64, NB__GEMM_MR, NB__GEMM_NR64, NB__GEMM_KC,
                NB__GEMM_NC64)
NB__GEMM_KERNEL(float, uint32_t, UINT32_C(0x7f800000), f32, NB__GEMM_MR, NB__GEMM_NR32, NB__GEMM_KC, NB__GEMM_NC32)

/* no factor of a masked product is inf or NaN: then a zero factor already
 * gives a zero term, and the product may run unmasked */
static bool all_finite(const nb__node *n, mm_dims d, const void *const *in) {
  int64_t na = d.batch * d.m * d.k, nb = d.batch * d.k * d.nn;
  if (n->dtype == NB_F64) return nb_gemm_finite_f64(in[0], na) && nb_gemm_finite_f64(in[1], nb);
  return nb_gemm_finite_f32(in[0], na) && nb_gemm_finite_f32(in[1], nb);
}

int64_t nb__matmul_scratch(const nb__node *n, const nb__node *const *s) {
  mm_dims d = dims_of(n, s, (const bool[2]){false, false});
  if (!nb__matmul_blocked(d.m, d.nn, d.k)) return 0;
  return d.batch * nb__gemm_scratch(d.k, d.nn, (int64_t)nb__dtype_size((nb_dtype)n->dtype));
}

/* one blocked product: B packed strip by strip, then C tile row by tile
 * row, each step over the thread pool when the product is large */
typedef struct gemm_run {
  const nb__node *n;
  mm_dims         d;
  void           *out, *bp;
  const void     *a, *b;
} gemm_run;

static void pack_strips(void *ctx, int part, int64_t lo, int64_t hi) {
  const gemm_run *g = ctx;
  (void)part;
  if (g->n->dtype == NB_F64) nb_gemm_pack_f64(g->d.k, g->d.nn, g->b, g->d.br, g->d.bc, g->bp, lo, hi);
  else nb_gemm_pack_f32(g->d.k, g->d.nn, g->b, g->d.br, g->d.bc, g->bp, lo, hi);
}

static void tile_rows(void *ctx, int part, int64_t lo, int64_t hi) {
  const gemm_run *g = ctx;
  int64_t         i0 = lo * NB__GEMM_MR, i1 = hi * NB__GEMM_MR < g->d.m ? hi * NB__GEMM_MR : g->d.m;
  (void)part;
  if (g->n->dtype == NB_F64) nb_gemm_f64(i0, i1, g->d.nn, g->d.k, g->a, g->d.ar, g->d.ac, g->bp, g->out);
  else nb_gemm_f32(i0, i1, g->d.nn, g->d.k, g->a, g->d.ar, g->d.ac, g->bp, g->out);
}

static void blocked_matmul(const nb__node *n, mm_dims d, void *out, const void *const *in, void *scratch) {
  size_t  esz = nb__dtype_size((nb_dtype)n->dtype);
  int64_t strips = n->dtype == NB_F64 ? nb_gemm_strips_f64(d.nn) : nb_gemm_strips_f32(d.nn);
  int64_t rows = (d.m + NB__GEMM_MR - 1) / NB__GEMM_MR;
  bool    threads = d.m * d.nn * d.k >= NB__GEMM_PARALLEL_WORK;
  for (int64_t q = 0; q < d.batch; q++) {
    gemm_run g = {n, d, (char *)out + (size_t)(q * d.m * d.nn) * esz, scratch,
                  (const char *)in[0] + (size_t)(q * d.m * d.k) * esz, (const char *)in[1] + (size_t)(q * d.k * d.nn) * esz};
    if (threads) nb__parallel_for(strips, pack_strips, &g), nb__parallel_for(rows, tile_rows, &g);
    else pack_strips(&g, 0, 0, strips), tile_rows(&g, 0, 0, rows);
  }
}

#if defined(NB_HAVE_CBLAS)
/* below this many multiply-adds the built-in loop beats a BLAS call */
enum { BLAS_MIN_WORK = 32768 };

/* one gemm per batch item (a swapped operand is BLAS's transposed one) */
#define NB__BLAS_MATMUL(T, GEMM)                                                         \
  do {                                                                                   \
    const T *a = in[0], *b = in[1];                                                      \
    for (int64_t q = 0; q < d.batch; q++)                                                \
      GEMM(CblasRowMajor, d.ac != 1 ? CblasTrans : CblasNoTrans, d.bc != 1 ? CblasTrans : CblasNoTrans, \
           (int)d.m, (int)d.nn, (int)d.k, 1, a + q * sa, (int)(d.ac != 1 ? d.ac : d.ar), b + q * sb, \
           (int)(d.bc != 1 ? d.bc : d.br), 0, (T *)out + q * sc, (int)d.nn);            \
  } while (0)

static bool blas_matmul(const nb__node *n, mm_dims d, void *out, const void *const *in) {
  if (d.m * d.nn * d.k < BLAS_MIN_WORK || d.m > INT32_MAX || d.nn > INT32_MAX || d.k > INT32_MAX) return false;
  int64_t sa = d.m * d.k, sb = d.k * d.nn, sc = d.m * d.nn;
  if (n->dtype == NB_F64) NB__BLAS_MATMUL(double, cblas_dgemm);
  else NB__BLAS_MATMUL(float, cblas_sgemm);
  return true;
}
#endif

/* BLAS when there is one, else the blocked kernel (for the large products
 * the plan gives scratch), else the i-l-j loop; a masked product takes the first two
 * only when no factor is inf or NaN */
void nb__matmul_swapped(const nb__node *n, const nb__node *const *s, void *out, const void *const *in,
                        const bool swap[2], void *scratch) {
  mm_dims d = dims_of(n, s, swap);
  bool    fast = !nb__reference_mode && (!d.masked || all_finite(n, d, in));
#if defined(NB_HAVE_CBLAS)
  if (fast && blas_matmul(n, d, out, in)) return;
#endif
  if (fast && scratch) blocked_matmul(n, d, out, in, scratch);
  else if (n->dtype == NB_F64) NB__MATMUL_LOOP(double);
  else NB__MATMUL_LOOP(float);
}

static void eval_matmul(const nb__node *n, const nb__node *const *s, void *out, const void *const *in) {
  nb__matmul_swapped(n, s, out, in, (const bool[2]){false, false}, NULL);
}

/* n's matmul (masked or not) of a and b */
static nb_expr *matmul_like(nb__ad *ad, const nb__node *n, nb_expr *a, nb_expr *b) {
  nb__node m = {.op = NB_OP_MATMUL, .p = n->p};
  nb_expr *s[2] = {a, b};
  return nb__emit(ad->api, NULL, &m, 2, s);
}

static nb_expr *masked_matmul(nb__ad *ad, nb_expr *a, nb_expr *b) {
  nb__node n = {.p.i = {1}};
  return matmul_like(ad, &n, a, b);
}

static nb_expr *jvp_matmul(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                           nb_expr *const *t) {
  (void)n, (void)y;
  nb_expr *ta = t[0] ? masked_matmul(ad, t[0], x[1]) : NULL;
  nb_expr *tb = t[1] ? masked_matmul(ad, x[0], t[1]) : NULL;
  return nb__t_add(ad, ta, tb);
}

/* ct_a = ct b^T, ct_b = a^T ct */
static void transpose_matmul(nb__ad *ad, nb_expr *y, nb_expr *ct, const bool *lin,
                             nb_expr **cts) {
  if (!ct) return;
  if (lin[0]) cts[0] = masked_matmul(ad, ct, nb__ad_swap_last(ad, y->src[1]));
  if (lin[1]) cts[1] = masked_matmul(ad, nb__ad_swap_last(ad, y->src[0]), ct);
}

/* batching: when one operand is batched and the other is a plain matrix, one
 * larger product instead of a copy of the matrix per batch item:
 * a[B,M,K]·b[K,N] is a[B·M,K]·b, and a[M,K]·b[B,K,N] goes through b as [K,B·N] */
static nb_expr *batch_matmul(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                             const bool *bx) {
  if (n->rank != 2 || bx[0] == bx[1]) return nb__batch_elementwise(ad, n, b, x, bx);
  int64_t    m = n->shape[0], nn = n->shape[1], k = bx[0] ? x[0]->n.shape[2] : x[0]->n.shape[1];
  int64_t    out[3] = {b, m, nn};
  nb__params swap = {.i = {1, 0, 2}};
  if (bx[0]) {
    int64_t rows[2] = {b * m, k};
    return nb__reshape(ad->api, matmul_like(ad, n, nb__reshape(ad->api, x[0], 2, rows), x[1]), 3, out);
  }
  int64_t  cols[2] = {k, b * nn}, mbn[3] = {m, b, nn};
  nb_expr *bt = nb__reshape(ad->api, nb__adp(ad, NB_OP_TRANSPOSE, x[1], &swap), 2, cols);
  return nb__adp(ad, NB_OP_TRANSPOSE, nb__reshape(ad->api, matmul_like(ad, n, x[0], bt), 3, mbn), &swap);
}

const nb__prim nb__row_MATMUL = {"matmul", 2, 0, infer_matmul, eval_matmul,
                                 NULL, jvp_matmul, transpose_matmul, batch_matmul, NULL, NULL, NULL};
