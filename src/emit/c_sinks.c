/* The C emitter's sinks: reductions of a fused group's member (exec.h)
 * folded block by block inside the group's block loop, from the block array
 * b<operand> the loop keeps the operand in. A sink with partials writes one
 * per block and folds them in block order after the loop; a sink with
 * accumulators folds each block into them (the group then never runs on
 * threads) and converts them to its value after the loop. */
#include "c_emit.h"

/* a sink folded from its operand's blocks, not recomputing the operand in a
 * loop of its own (put_fused_reduce) */
bool nb__c_block_sink(const emitter *e, int32_t m) {
  return nb__is_reduction(node(e, m)->op) && !e->fused[m];
}

static void put_partial(const emitter *e, int32_t i, int64_t at) {
  FILE *o = e->o;
  int   op = node(e, i)->op;
  fprintf(o, "    {\n    double acc = %s;\n", nb__c_identity(op));
  nb__c_simd_fold(o, op, 4);
  fprintf(o, "    for (int64_t j = 0; j < len; j++) {\n    const double v = b%d[j];\n    ", src_of(e, i, 0));
  nb__c_fold(o, op, "acc", "v");
  fprintf(o, "    }\n    ((double *)(ws + %lld))[bk] = acc;\n    }\n", (long long)at);
}

static void fold_partials(const emitter *e, int32_t i, int64_t at, int64_t blocks) {
  FILE *o = e->o;
  int   op = node(e, i)->op;
  fprintf(o, "  {\n  double acc = %s;\n  for (int64_t bk = 0; bk < %lld; bk++) {\n", nb__c_identity(op),
          (long long)blocks);
  fprintf(o, "    const double v = ((const double *)(ws + %lld))[bk];\n    ", (long long)at);
  nb__c_fold(o, op, "acc", "v");
  fprintf(o, "  }\n  v%d[0] = (%s)acc;\n  }\n", i, ctype(node(e, i)));
}

/* The block [i0, i0 + len) in rows that end where the operand's innermost
 * run does: along a row the accumulators' index is o + (i - r0) (a kept
 * inner axis) or o (a reduced one, folded in a local first). */
static void fold_rows(const emitter *e, int32_t i, int64_t at) {
  FILE           *o = e->o;
  const nb__node *n = node(e, i);
  int64_t         ext[NB_MAX_RANK], str[NB_MAX_RANK];
  int             levels = nb__reduce_levels(n, node(e, src_of(e, i, 0)), ext, str);
  long long       run = (long long)ext[levels - 1];
  fprintf(o, "  for (int64_t r0 = i0, r1; r0 < i0 + len; r0 = r1) {\n");
  fprintf(o, "  r1 = (r0 / %lld + 1) * %lld < i0 + len ? (r0 / %lld + 1) * %lld : i0 + len;\n", run, run, run, run);
  nb__c_level_offset(o, "o", levels, ext, str);
  fprintf(o, "  double *a = (double *)(ws + %lld) + o;\n", (long long)at);
  if (str[levels - 1]) {
    fprintf(o, "    NB_SIMD\n    for (int64_t i = r0; i < r1; i++) {\n    const double v = b%d[i - i0];\n    ",
            src_of(e, i, 0));
    nb__c_fold(o, n->op, "a[i - r0]", "v");
    fprintf(o, "    }\n");
  } else {
    fprintf(o, "    double acc = %s;\n", nb__c_identity(n->op));
    nb__c_simd_fold(o, n->op, 4);
    fprintf(o, "    for (int64_t i = r0; i < r1; i++) {\n    const double v = b%d[i - i0];\n    ", src_of(e, i, 0));
    nb__c_fold(o, n->op, "acc", "v");
    fprintf(o, "    }\n    ");
    nb__c_fold(o, n->op, "a[0]", "acc");
  }
  fprintf(o, "  }\n");
}

static void put_sink(const emitter *e, int32_t i, int64_t at, nb__sinks_phase phase) {
  const nb__node *n = node(e, i), *x = node(e, src_of(e, i, 0));
  bool            partials = nb__sink_partials(n, x);
  FILE           *o = e->o;
  switch (phase) {
  case NB__SINKS_START:
    if (!partials)
      fprintf(o, "  for (int64_t q = 0; q < %lld; q++) ((double *)(ws + %lld))[q] = %s;\n", (long long)n->size,
              (long long)at, nb__c_identity(n->op));
    break;
  case NB__SINKS_BLOCK:
    if (partials) put_partial(e, i, at);
    else fold_rows(e, i, at);
    break;
  case NB__SINKS_FINISH:
    if (partials) fold_partials(e, i, at, nb__blocks(x->size));
    else
      fprintf(o, "  for (int64_t q = 0; q < %lld; q++) v%d[q] = (%s)((const double *)(ws + %lld))[q];\n",
              (long long)n->size, i, ctype(n), (long long)at);
    break;
  }
}

void nb__c_sinks(const emitter *e, const int32_t *members, int32_t count, int64_t partials, nb__sinks_phase phase) {
  int64_t at = partials;
  for (int32_t k = 0; k < count; k++) {
    int32_t m = members[k];
    if (!nb__is_reduction(node(e, m)->op)) continue;
    if (nb__c_block_sink(e, m) && e->needed[m]) put_sink(e, m, at, phase);
    at += nb__sink_doubles(node(e, m), node(e, src_of(e, m, 0))) * 8;
  }
}
