/* The C emitter's shared state and the functions its three files share:
 * c.c writes the file (preamble, constants, signature, entry point),
 * c_fused.c the fused elementwise loops (and decides what is recomputed
 * where it is read), c_nests.c every other step as a loop nest. */
#ifndef NB_EMIT_C_EMIT_H
#define NB_EMIT_C_EMIT_H

#include <math.h>
#include <string.h>

#include "../exec/exec.h"
#include "../prim/scalar.h"
#include "../prim/vmath.h"
#include "emit.h"

enum { NB__MAX_EDGES = 16 }; /* pads' edges that split one fused loop, at most */

typedef struct emitter {
  const nb_fn    *f;
  const nb__plan *p;
  FILE           *o;
  const char     *name;
  int32_t        *mark;  /* per node: the loop that holds it as a scalar */
  uint8_t        *cross; /* per node: kept in a block array for a later loop of its group */
  int32_t        *part;  /* per member of the group being written: its loop */
  uint8_t        *through; /* per node: the plan's (exec.h), pads' NB__THROUGH_GUARD made
                              NB__THROUGH_REMAT where their operand is recomputed */
  uint8_t        *rec;     /* per node: elementwise work on inputs and constants only */
  uint8_t        *needed;  /* per node: some output needs its value made */
  uint8_t        *fused;   /* per node: a reduction that recomputes its operand */
  int32_t        *memo_node, nmemo, memo_cap, memo_loop; /* what remat() wrote in this loop */
  int64_t        *memo_off;
  bool            failed;  /* out of memory while writing */
  int32_t         loop;  /* loops written so far */
  int64_t         seg_lo, seg_hi; /* the range of i of the loop being written, when it
                                     is one segment of a group split at pads' edges */
  FILE           *fns;    /* the large loops, as functions the entry point runs */
  int32_t         nfns;
} emitter;

static inline const char *ctype(const nb__node *n) { return n->dtype == NB_F64 ? "double" : "float"; }
static inline const nb__node *node(const emitter *e, int32_t i) { return &e->f->nodes[i].n; }
static inline int32_t src_of(const emitter *e, int32_t i, int k) { return e->f->nodes[i].src[k]; }
/* a pad read through a guard */
static inline bool guarded_pad(const emitter *e, int32_t i) {
  return e->through[i] == NB__THROUGH_GUARD || e->through[i] == NB__THROUGH_REMAT;
}

enum { REF_LEN = 96 }; /* room for an operand's text */

/* c.c */
void nb__c_number(FILE *o, double v, nb_dtype dt);   /* an exact C literal of the dtype */
void nb__c_pointers(const emitter *e);                /* one pointer per buffer */
/* c_fused.c */
void nb__c_analyse(emitter *e);
/* members of a plan group, or one elementwise node; partials: the group's (exec.h) */
void nb__c_group(emitter *e, const int32_t *members, int32_t count, int64_t size, int64_t partials);
void nb__c_remat_ref(emitter *e, int32_t j, int64_t lo, char *buf);
FILE *nb__c_open_loop_fn(emitter *e, int64_t lo, int64_t hi); /* returns the entry point's stream */
void  nb__c_close_loop_fn(emitter *e, FILE *body);
/* `const int64_t <name> = ...;`: the offset, at element r0, of nested runs (levels) */
void  nb__c_level_offset(FILE *o, const char *name, int levels, const int64_t *ext, const int64_t *str);
/* c_nests.c */
bool nb__c_trailing_runs(const emitter *e, int32_t i, int64_t *run);
void nb__c_node(emitter *e, int32_t i);
/* a reduction's identity as C text, and `acc = acc (op) v;` (the simd
 * pragma for such a loop, none for max) */
const char *nb__c_identity(int op);
void        nb__c_fold(FILE *o, int op, const char *acc, const char *v);
void        nb__c_simd_fold(FILE *o, int op, int indent);
/* c_sinks.c: a group's sinks (exec.h) before its block loop, for block bk
 * inside it (the sinks' operands in block arrays), and after it */
typedef enum { NB__SINKS_START, NB__SINKS_BLOCK, NB__SINKS_FINISH } nb__sinks_phase;
bool nb__c_block_sink(const emitter *e, int32_t m);
void nb__c_sinks(const emitter *e, const int32_t *members, int32_t count, int64_t partials, nb__sinks_phase phase);

#endif
