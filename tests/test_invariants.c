/* Structural invariants of the primitive table (DESIGN.md §2): every
 * primitive has a derivative rule and a batching rule, so jvp(vjp(f)),
 * jacfwd(grad(f)) and vmap of anything compose without special cases. */
#include "../src/internal.h"
#include "harness.h"
#include "suites.h"

static void test_every_primitive_has_rules(void) {
  for (int op = 0; op < NB_OP_COUNT; op++) {
    const nb__prim *row = nb__prims[op];
    CHECK(row != NULL);
    if (!row) continue;
    bool leaf = (row->flags & NB__LEAF) != 0;
    if (!(leaf || row->partial || row->jvp)) fprintf(stderr, "  no jvp rule: %s\n", row->name);
    CHECK(leaf || row->partial || row->jvp);
    if (!(leaf || row->batch)) fprintf(stderr, "  no batch rule: %s\n", row->name);
    CHECK(leaf || row->batch);
    CHECK(row->infer != NULL);
    /* a row evaluates, or aliases its operand, or is a leaf the executor points at */
    CHECK(row->eval || (row->flags & NB__ALIAS) || op == NB_OP_INPUT || op == NB_OP_CONST);
  }
}

/* the primitives a jvp rule may leave depending on a tangent are exactly
 * the ones with a transpose rule: check the list against the table */
static void test_linear_rows_have_transposes(void) {
  static const int linear[] = {NB_OP_NEG,       NB_OP_ADD,         NB_OP_SUB,        NB_OP_MUL,
                               NB_OP_DIV,       NB_OP_DMUL,        NB_OP_SELECT,     NB_OP_CAST,
                               NB_OP_BROADCAST, NB_OP_RESHAPE,     NB_OP_TRANSPOSE,  NB_OP_REV,
                               NB_OP_SLICE,     NB_OP_PAD,         NB_OP_CONCAT,     NB_OP_GATHER,
                               NB_OP_SCATTER_ADD, NB_OP_REDUCE_SUM, NB_OP_MATMUL};
  for (size_t i = 0; i < sizeof linear / sizeof *linear; i++) {
    if (!nb__prims[linear[i]]->transpose) fprintf(stderr, "  no transpose: %s\n", nb__prims[linear[i]]->name);
    CHECK(nb__prims[linear[i]]->transpose != NULL);
  }
}

void suite_invariants(void) {
  RUN(test_every_primitive_has_rules);
  RUN(test_linear_rows_have_transposes);
}
