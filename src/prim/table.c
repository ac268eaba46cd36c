/* The primitive table: one row per primitive, defined in the file of its
 * family (leaf.c, unary.c, binary.c, movement.c, reduce.c, matmul.c). */
#include "../internal.h"

const nb__prim *const nb__prims[NB_OP_COUNT] = {
#define NB__ROW_REF(id) [NB_OP_##id] = &nb__row_##id,
    NB__PRIMS(NB__ROW_REF)
#undef NB__ROW_REF
};
