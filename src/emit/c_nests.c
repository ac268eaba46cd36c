/* The C emitter's loop nests: movement rows' strided copies, gather and
 * scatter_add, reductions, matmul and iota, with their sizes and strides as
 * constants. */
#include "c_emit.h"
#include "../prim/gemm.h"

/* drops unit axes and merges axes that are contiguous on both sides */
static void simplify_copy(nb__copy *c) {
  int r = 0;
  for (int d = 0; d < c->rank; d++) {
    if (c->shape[d] == 1) continue;
    if (r && c->out.str[r - 1] == c->out.str[d] * c->shape[d] && c->in.str[r - 1] == c->in.str[d] * c->shape[d]) {
      c->shape[r - 1] *= c->shape[d];
      c->out.str[r - 1] = c->out.str[d], c->in.str[r - 1] = c->in.str[d];
      continue;
    }
    c->shape[r] = c->shape[d], c->out.str[r] = c->out.str[d], c->in.str[r] = c->in.str[d];
    r++;
  }
  c->rank = r;
}

static void put_index(FILE *o, int64_t off, int rank, const int64_t *str) {
  fprintf(o, "%lld", (long long)off);
  for (int d = 0; d < rank; d++)
    if (str[d]) fprintf(o, " + i%d * %lld", d, (long long)str[d]);
}

/* the loops over axes [from, rank) */
static void put_loops_from(FILE *o, int from, int rank, const int64_t *shape) {
  for (int d = from; d < rank; d++)
    fprintf(o, "  %*sfor (int64_t i%d = 0; i%d < %lld; i%d++)\n", 2 * d, "", d, d, (long long)shape[d], d);
}
static void put_loops(FILE *o, int rank, const int64_t *shape) { put_loops_from(o, 0, rank, shape); }

static void put_copies(const emitter *e, int32_t i) {
  FILE           *o = e->o;
  const nb__node *n = node(e, i);
  const nb__prim *row = nb__prims[n->op];
  const nb__node *const *s = e->p->srcs + e->p->first[i];
  for (int k = 0; k < n->nsrc; k++) {
    nb__copy c;
    row->copy(n, s, k, &c);
    if (c.zero_first) fprintf(o, "  memset(v%d, 0, %lld);\n", i, (long long)(n->size * (int64_t)nb__dtype_size((nb_dtype)n->dtype)));
    bool empty = false;
    for (int d = 0; d < c.rank; d++) empty = empty || c.shape[d] == 0;
    if (empty) continue;
    simplify_copy(&c);
    put_loops(o, c.rank, c.shape);
    fprintf(o, "  %*sv%d[", 2 * c.rank, "", i);
    put_index(o, c.out.off, c.rank, c.out.str);
    fprintf(o, "] = v%d[", src_of(e, i, k));
    put_index(o, c.in.off, c.rank, c.in.str);
    fprintf(o, "];\n");
  }
}

static void put_gather(const emitter *e, int32_t i, bool scatter) {
  FILE           *o = e->o;
  const nb__node *n = node(e, i), *x = node(e, src_of(e, i, 0));
  int             axis = (int)n->p.i[0];
  int64_t         outer, inner, k = (int64_t)(n->p.nbytes / sizeof(int64_t));
  int64_t         len = scatter ? n->shape[axis] : x->shape[axis];
  nb__split_at(n->rank, n->shape, axis, &outer, &inner);
  if (scatter) fprintf(o, "  memset(v%d, 0, %lld);\n", i, (long long)(n->size * (int64_t)nb__dtype_size((nb_dtype)n->dtype)));
  fprintf(o, "  for (int64_t q = 0; q < %lld; q++)\n    for (int64_t j = 0; j < %lld; j++)\n", (long long)outer,
          (long long)k);
  fprintf(o, "      for (int64_t r = 0; r < %lld; r++)\n", (long long)inner);
  const char *xs = "(q * %lld + j) * %lld + r", *ys = "(q * %lld + %s_x%d[j]) * %lld + r";
  fprintf(o, "        v%d[", i);
  if (scatter) fprintf(o, ys, (long long)len, e->name, i, (long long)inner);
  else fprintf(o, xs, (long long)k, (long long)inner);
  fprintf(o, scatter ? "] += v%d[" : "] = v%d[", src_of(e, i, 0));
  if (scatter) fprintf(o, xs, (long long)k, (long long)inner);
  else fprintf(o, ys, (long long)len, e->name, i, (long long)inner);
  fprintf(o, "];\n");
}

/* a reduction over trailing axes: its operand in runs of *run elements */
bool nb__c_trailing_runs(const emitter *e, int32_t i, int64_t *run) {
  const nb__node *x = node(e, src_of(e, i, 0));
  return nb__trailing_axes(x->rank, x->shape, node(e, i)->p.i[0], run);
}

/* what a reduction starts from, and `acc = acc (op) v` as a statement; sums
 * and products vectorize reassociated (NB_SIMD_SUM, NB_SIMD_PROD) */
const char *nb__c_identity(int op) {
  return op == NB_OP_REDUCE_SUM ? "0" : op == NB_OP_REDUCE_PROD ? "1" : "-INFINITY";
}
void nb__c_fold(FILE *o, int op, const char *acc, const char *v) {
  if (op == NB_OP_REDUCE_SUM) fprintf(o, "%s += %s;\n", acc, v);
  else if (op == NB_OP_REDUCE_PROD) fprintf(o, "%s *= %s;\n", acc, v);
  else fprintf(o, "if (%s > %s || %s != %s) %s = %s;\n", v, acc, v, v, acc, v);
}
void nb__c_simd_fold(FILE *o, int op, int indent) {
  if (op != NB_OP_REDUCE_MAX) fprintf(o, "%*sNB_SIMD_%s\n", indent, "", op == NB_OP_REDUCE_SUM ? "SUM" : "PROD");
}

/* A reduction over trailing axes of a value generated code can recompute:
 * the value is computed inside the reduction's loop and never stored. */
static void put_fused_reduce(emitter *e, int32_t i) {
  FILE           *o = e->o;
  const nb__node *n = node(e, i);
  int64_t         run;
  char            ref[REF_LEN];
  nb__c_trailing_runs(e, i, &run);
  fprintf(o, "  for (int64_t q = 0; q < %lld; q++) {\n    double acc = %s;\n", (long long)n->size,
          nb__c_identity(n->op));
  nb__c_simd_fold(o, n->op, 4);
  fprintf(o, "    for (int64_t i = q * %lld; i < (q + 1) * %lld; i++) {\n", (long long)run, (long long)run);
  e->loop++;
  nb__c_remat_ref(e, src_of(e, i, 0), 0, ref);
  fprintf(o, "    const double v = %s;\n    ", ref);
  nb__c_fold(o, n->op, "acc", "v");
  fprintf(o, "    }\n    v%d[q] = (%s)acc;\n  }\n", i, ctype(n));
}

/* When the operand's last axis is kept: the output starts at the identity
 * and the operand is walked in its own order, each element folded into its
 * output element, so the innermost loop runs along both arrays (vectorizes). */
static void put_reduce_along(const emitter *e, int32_t i) {
  FILE           *o = e->o;
  const nb__node *n = node(e, i), *x = node(e, src_of(e, i, 0));
  nb__copy        c = {.rank = x->rank};
  int64_t         ostr[NB_MAX_RANK], at = 0;
  nb__dense_strides(n->rank, n->shape, ostr);
  nb__dense_strides(x->rank, x->shape, c.in.str);
  for (int d = 0; d < x->rank; d++) {
    c.shape[d] = x->shape[d];
    c.out.str[d] = (n->p.i[0] >> d) & 1 ? 0 : ostr[at++];
  }
  simplify_copy(&c);
  const char *t = ctype(n);
  fprintf(o, "  for (int64_t q = 0; q < %lld; q++) v%d[q] = (%s)%s;\n", (long long)n->size, i, t, nb__c_identity(n->op));
  int inner = c.rank ? c.rank - 1 : 0;
  put_loops(o, inner, c.shape);
  if (c.rank && c.out.str[inner]) /* each innermost step folds into its own output element */
    fprintf(o, "  %*sNB_SIMD\n", 2 * inner, "");
  put_loops_from(o, inner, c.rank, c.shape);
  fprintf(o, "  %*s{ %s *acc = &v%d[", 2 * c.rank, "", t, i);
  put_index(o, 0, c.rank, c.out.str);
  fprintf(o, "]; const %s v = v%d[", t, src_of(e, i, 0));
  put_index(o, 0, c.rank, c.in.str);
  fprintf(o, "]; ");
  nb__c_fold(o, n->op, "*acc", "v");
  fprintf(o, "  %*s}\n", 2 * c.rank, "");
}

/* kept axes outside, reduced axes inside, accumulating in double */
static void put_reduce(const emitter *e, int32_t i) {
  FILE           *o = e->o;
  const nb__node *n = node(e, i), *x = node(e, src_of(e, i, 0));
  int64_t         str[NB_MAX_RANK], shape[NB_MAX_RANK], rstr[NB_MAX_RANK];
  int             nk = 0, nr = 0;
  nb__dense_strides(x->rank, x->shape, str);
  for (int d = 0; d < x->rank; d++)
    if (!(n->p.i[0] & (1 << d))) shape[nk] = x->shape[d], rstr[nk++] = str[d];
  for (int d = 0; d < x->rank; d++)
    if (n->p.i[0] & (1 << d)) shape[nk + nr] = x->shape[d], rstr[nk + nr++] = str[d];
  fprintf(o, "  {\n  int64_t o = 0;\n");
  put_loops(o, nk, shape);
  fprintf(o, "  %*s{\n  %*sdouble acc = %s;\n", 2 * nk, "", 2 * nk, "", nb__c_identity(n->op));
  for (int d = nk; d < nk + nr; d++) {
    if (d == nk + nr - 1) nb__c_simd_fold(o, n->op, 2 * d + 4);
    fprintf(o, "  %*sfor (int64_t i%d = 0; i%d < %lld; i%d++) {\n", 2 * d + 2, "", d, d, (long long)shape[d], d);
  }
  fprintf(o, "  %*sdouble v = v%d[", 2 * (nk + nr) + 2, "", src_of(e, i, 0));
  put_index(o, 0, nk + nr, rstr);
  fprintf(o, "];\n  %*s", 2 * (nk + nr) + 2, "");
  nb__c_fold(o, n->op, "acc", "v");
  for (int d = nk + nr - 1; d >= nk; d--) fprintf(o, "  %*s}\n", 2 * d + 2, "");
  fprintf(o, "  %*sv%d[o++] = (%s)acc;\n  %*s}\n  }\n", 2 * nk + 2, "", i, ctype(n), 2 * nk, "");
}

/* a matmul operand in the generated code: M[i, l] of batch item q is
 * v<buf>[q * batch + i * row + l * col]; a transpose read through is its
 * operand with the row and column strides swapped */
typedef struct mm_operand {
  int32_t buf;
  int64_t batch, row, col;
} mm_operand;

static mm_operand mm_operand_of(const emitter *e, int32_t x) {
  const nb__node *n = node(e, x);
  int64_t         rows = n->shape[n->rank - 2], cols = n->shape[n->rank - 1];
  bool            swapped = e->through[x] == NB__THROUGH_SWAP;
  mm_operand      m = {swapped ? src_of(e, x, 0) : x, rows * cols, 0, 0};
  nb__matmul_strides(rows, cols, swapped, &m.row, &m.col);
  return m;
}

/* C[i, j] for j in [j0, j0 + w) as w dot products walked together (w
 * independent sums keep the adder busy, and A's row is loaded once); in the
 * operands' type, as the i-l-j order accumulates */
static void put_dots(FILE *o, mm_operand a, mm_operand b, int64_t k, const char *term, const char *j0, int w,
                     const char *t) {
  fprintf(o, "        %s acc0 = 0", t);
  for (int c = 1; c < w; c++) fprintf(o, ", acc%d = 0", c);
  fprintf(o, ";\n        NB_SIMD_SUM%d\n        for (int64_t l = 0; l < %lld; l++) {\n", w, (long long)k);
  fprintf(o, "          const %s x = ai[l * %lld];\n", t, (long long)a.col);
  for (int c = 0; c < w; c++)
    fprintf(o, "          { const %s y = bq[(%s + %d) * %lld + l]; acc%d += %s; }\n", t, j0, c, (long long)b.col, c,
            term);
  fprintf(o, "        }\n");
  for (int c = 0; c < w; c++) fprintf(o, "        ci[%s + %d] = (%s)acc%d;\n", j0, c, t, c);
}

/* A right operand read through a transpose: dot products along its
 * operand's rows, four at a time. A right operand with contiguous rows: for
 * few columns, a row of accumulators; for few rows (k) and no mask, each
 * output element's whole sum in one vector lane; else the i-l-j order, which
 * vectorizes over columns and skips a zero A[i, l] once for its whole row.
 * Masked: a zero factor makes a zero term. */
static void put_matmul_loops(const emitter *e, int32_t i) {
  FILE           *o = e->o;
  const nb__node *n = node(e, i);
  int             r = n->rank;
  int64_t         m = n->shape[r - 2], nn = n->shape[r - 1], k = node(e, src_of(e, i, 0))->shape[r - 1], batch = 1;
  const char     *t = ctype(n);
  mm_operand      a = mm_operand_of(e, src_of(e, i, 0)), b = mm_operand_of(e, src_of(e, i, 1));
  bool            masked = n->p.i[0] != 0;
  const char     *term = masked ? "x == 0 || y == 0 ? 0 : x * y" : "x * y";
  for (int d = 0; d < r - 2; d++) batch *= n->shape[d];
  fprintf(o, "  for (int64_t q = 0; q < %lld; q++)\n    for (int64_t i = 0; i < %lld; i++) {\n", (long long)batch,
          (long long)m);
  fprintf(o, "      %s *ci = v%d + (q * %lld + i) * %lld;\n", t, i, (long long)m, (long long)nn);
  fprintf(o, "      const %s *ai = v%d + q * %lld + i * %lld, *bq = v%d + q * %lld;\n", t, a.buf, (long long)a.batch,
          (long long)a.row, b.buf, (long long)b.batch);
  if (b.col != 1) {
    fprintf(o, "      int64_t j = 0;\n      for (; j + 4 <= %lld; j += 4) {\n", (long long)nn);
    put_dots(o, a, b, k, term, "j", 4, t);
    fprintf(o, "      }\n      for (; j < %lld; j++) {\n", (long long)nn);
    put_dots(o, a, b, k, term, "j", 1, t);
    fprintf(o, "      }\n    }\n");
    return;
  }
  if (nn < 8) { /* a row of accumulators in registers */
    fprintf(o, "      double acc[%lld] = {0};\n      for (int64_t l = 0; l < %lld; l++)\n", (long long)nn, (long long)k);
    fprintf(o, "        for (int64_t j = 0; j < %lld; j++) {\n", (long long)nn);
    fprintf(o, "          const double x = ai[l * %lld], y = bq[l * %lld + j];\n", (long long)a.col, (long long)b.row);
    fprintf(o, "          acc[j] += %s;\n        }\n", term);
    fprintf(o, "      for (int64_t j = 0; j < %lld; j++) ci[j] = (%s)acc[j];\n    }\n", (long long)nn, t);
    return;
  }
  if (k <= 16 && !masked) { /* each output element's whole sum in one vector lane */
    fprintf(o, "      NB_SIMD\n      for (int64_t j = 0; j < %lld; j++) {\n        double acc = 0;\n", (long long)nn);
    fprintf(o, "        for (int64_t l = 0; l < %lld; l++) acc += ai[l * %lld] * bq[l * %lld + j];\n", (long long)k,
            (long long)a.col, (long long)b.row);
    fprintf(o, "        ci[j] = (%s)acc;\n      }\n    }\n", t);
    return;
  }
  fprintf(o, "      for (int64_t j = 0; j < %lld; j++) ci[j] = 0;\n", (long long)nn);
  fprintf(o, "      for (int64_t l = 0; l < %lld; l++) {\n", (long long)k);
  fprintf(o, "        %s ail = ai[l * %lld];\n        const %s *bl = bq + l * %lld;\n", t, (long long)a.col, t,
          (long long)b.row);
  if (masked)
    fprintf(o, "        if (ail != 0)\n          for (int64_t j = 0; j < %lld; j++) ci[j] += bl[j] == 0 ? 0 : ail * bl[j];\n",
            (long long)nn);
  else fprintf(o, "        for (int64_t j = 0; j < %lld; j++) ci[j] += ail * bl[j];\n", (long long)nn);
  fprintf(o, "      }\n    }\n");
}

/* A large product runs as the blocked kernel (prim/gemm.h, pasted by
 * emit/c.c): B packed into the node's scratch, strip by strip, then C,
 * rows of tiles at a time; both steps as functions of their range, run on
 * threads from NB__GEMM_PARALLEL_WORK multiply-adds. [x / per] is a batch
 * item and [x % per] a strip or a row of tiles in it. */
typedef struct mm_blocked {
  mm_operand  a, b;
  int64_t     m, nn, k, batch, packed; /* packed: elements of one item's packed B */
  const char *s, *t;                   /* the kernel's suffix, the element type */
} mm_blocked;

static void put_pack(emitter *e, int32_t i, const mm_blocked *g, int64_t strips, const char *lo, const char *hi) {
  fprintf(e->o, "  for (int64_t x = %s; x < %s; x++)\n", lo, hi);
  fprintf(e->o, "    nb_gemm_pack_%s(%lld, %lld, v%d + x / %lld * %lld, %lld, %lld, (%s *)(ws + %lld) + x / %lld * %lld, "
                "x %% %lld, x %% %lld + 1);\n", g->s, (long long)g->k, (long long)g->nn, g->b.buf, (long long)strips,
          (long long)g->b.batch, (long long)g->b.row, (long long)g->b.col, g->t, (long long)e->p->scratch[i],
          (long long)strips, (long long)g->packed, (long long)strips, (long long)strips);
}

static void put_tiles(emitter *e, int32_t i, const mm_blocked *g, int64_t rows, const char *lo, const char *hi) {
  FILE *o = e->o;
  fprintf(o, "  for (int64_t x = %s, q, end; x < %s; x = end) {\n", lo, hi);
  fprintf(o, "    q = x / %lld, end = (q + 1) * %lld < %s ? (q + 1) * %lld : %s;\n", (long long)rows, (long long)rows, hi,
          (long long)rows, hi);
  fprintf(o, "    const int64_t i1 = (end - q * %lld) * %d;\n", (long long)rows, NB__GEMM_MR);
  fprintf(o, "    nb_gemm_%s((x - q * %lld) * %d, i1 < %lld ? i1 : %lld, %lld, %lld, v%d + q * %lld, %lld, %lld, "
             "(%s *)(ws + %lld) + q * %lld, v%d + q * %lld);\n  }\n", g->s, (long long)rows, NB__GEMM_MR,
          (long long)g->m, (long long)g->m, (long long)g->nn, (long long)g->k, g->a.buf, (long long)g->a.batch,
          (long long)g->a.row, (long long)g->a.col, g->t, (long long)e->p->scratch[i], (long long)g->packed, i,
          (long long)(g->m * g->nn));
}

static void put_blocked(emitter *e, int32_t i, const mm_blocked *g) {
  int64_t nr = node(e, i)->dtype == NB_F64 ? NB__GEMM_NR64 : NB__GEMM_NR32;
  int64_t strips = (g->nn + nr - 1) / nr, rows = (g->m + NB__GEMM_MR - 1) / NB__GEMM_MR;
  if (g->m * g->nn * g->k < NB__GEMM_PARALLEL_WORK) {
    char packs[24], tiles[24];
    snprintf(packs, sizeof packs, "%lld", (long long)(g->batch * strips));
    snprintf(tiles, sizeof tiles, "%lld", (long long)(g->batch * rows));
    put_pack(e, i, g, strips, "0", packs);
    put_tiles(e, i, g, rows, "0", tiles);
    return;
  }
  FILE *body = nb__c_open_loop_fn(e, 0, g->batch * strips);
  put_pack(e, i, g, strips, "lo", "hi");
  nb__c_close_loop_fn(e, body);
  body = nb__c_open_loop_fn(e, 0, g->batch * rows);
  put_tiles(e, i, g, rows, "lo", "hi");
  nb__c_close_loop_fn(e, body);
}

/* the blocked kernel for a large product (a masked one when no factor is
 * inf or NaN), else the loops above */
static void put_matmul(emitter *e, int32_t i) {
  const nb__node *n = node(e, i);
  int             r = n->rank;
  bool            f64 = n->dtype == NB_F64, masked = n->p.i[0] != 0;
  mm_blocked      g = {mm_operand_of(e, src_of(e, i, 0)), mm_operand_of(e, src_of(e, i, 1)), n->shape[r - 2],
                       n->shape[r - 1], node(e, src_of(e, i, 0))->shape[r - 1], 1, 0, f64 ? "f64" : "f32", ctype(n)};
  for (int d = 0; d < r - 2; d++) g.batch *= n->shape[d];
  if (e->p->scratch[i] < 0) { /* not a blocked product */
    put_matmul_loops(e, i);
    return;
  }
  g.packed = nb__gemm_scratch(g.k, g.nn, f64 ? 8 : 4) / (f64 ? 8 : 4);
  if (masked)
    fprintf(e->o, "  if (nb_gemm_finite_%s(v%d, %lld) && nb_gemm_finite_%s(v%d, %lld)) {\n", g.s, g.a.buf,
            (long long)(g.batch * g.a.batch), g.s, g.b.buf, (long long)(g.batch * g.b.batch));
  put_blocked(e, i, &g);
  if (!masked) return;
  fprintf(e->o, "  } else {\n");
  put_matmul_loops(e, i);
  fprintf(e->o, "  }\n");
}

static void put_iota(const emitter *e, int32_t i) {
  const nb__node *n = node(e, i);
  int             axis = (int)n->p.i[0];
  int64_t         inner = 1;
  for (int d = axis + 1; d < n->rank; d++) inner *= n->shape[d];
  fprintf(e->o, "  for (int64_t i = 0; i < %lld; i++) v%d[i] = (%s)((i / %lld) %% %lld);\n", (long long)n->size, i,
          ctype(n), (long long)inner, (long long)n->shape[axis]);
}

void nb__c_node(emitter *e, int32_t i) {
  const nb__node *n = node(e, i);
  if (e->through[i] || !e->needed[i]) return;
  switch (n->op) {
  case NB_OP_IOTA: put_iota(e, i); break;
  case NB_OP_GATHER: put_gather(e, i, false); break;
  case NB_OP_SCATTER_ADD: put_gather(e, i, true); break;
  case NB_OP_REDUCE_SUM:
  case NB_OP_REDUCE_MAX:
  case NB_OP_REDUCE_PROD:
    if (e->fused[i]) put_fused_reduce(e, i);
    else if (!((n->p.i[0] >> (node(e, src_of(e, i, 0))->rank - 1)) & 1)) put_reduce_along(e, i);
    else put_reduce(e, i);
    break;
  case NB_OP_MATMUL: put_matmul(e, i); break;
  default:
    if (nb__prims[n->op]->copy) put_copies(e, i);
    else nb__c_group(e, &i, 1, n->size, -1); /* a lone elementwise node or fill */
  }
}
