/* Batching: a function re-emitted with some inputs carrying a leading batch
 * axis. Each primitive's batch rule handles its batched operands at once (no
 * loop over batch items); nodes with no batched operand are re-emitted
 * unchanged, so work that does not depend on the batch is done once. */
#include <string.h>

#include "transform.h"

static bool rank_fits(nb__ad *ad, const nb__node *n) {
  if (n->rank + 1 <= NB_MAX_RANK) return true;
  nb__fail(NB_ERR_SHAPE, "%s: batching a rank-%d value exceeds rank %d", ad->api, n->rank,
           NB_MAX_RANK);
  return false;
}

nb_expr *nb__batch_expand(nb__ad *ad, nb_expr *x, int64_t b) {
  if (!x || !rank_fits(ad, &x->n)) return NULL;
  nb__node n = {.op = NB_OP_BROADCAST, .rank = (uint8_t)(x->n.rank + 1)};
  n.shape[0] = b;
  for (int d = 0; d < x->n.rank; d++) n.shape[d + 1] = x->n.shape[d], n.p.i[d] = d + 1;
  return nb__emit(ad->api, NULL, &n, 1, &x);
}

/* emits n over x with every operand batched */
static nb_expr *batched_op(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                           const bool *bx, const nb__params *p) {
  nb_expr *small[16], **xs = n->nsrc <= 16 ? small : nb__calloc((size_t)n->nsrc, sizeof *xs);
  if (!xs) return nb__nomem(ad->api), NULL;
  for (int i = 0; i < n->nsrc; i++) xs[i] = bx[i] ? x[i] : nb__batch_expand(ad, x[i], b);
  nb__node m = *n;
  m.p = *p;
  nb_expr *r = rank_fits(ad, n) ? nb__emit(ad->api, NULL, &m, n->nsrc, xs) : NULL;
  if (xs != small) nb__free(xs);
  return r;
}

nb_expr *nb__batch_elementwise(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                               const bool *bx) {
  return batched_op(ad, n, b, x, bx, &n->p);
}

nb_expr *nb__batch_axis(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                        const bool *bx) {
  nb__params p = n->p;
  p.i[0] += 1;
  return batched_op(ad, n, b, x, bx, &p);
}

nb_expr *nb__batch_mask(nb__ad *ad, const nb__node *n, int64_t b, nb_expr *const *x,
                        const bool *bx) {
  nb__params p = n->p;
  p.i[0] <<= 1;
  return batched_op(ad, n, b, x, bx, &p);
}

nb_status nb__vmap_emit(nb__ad *ad, const nb_fn *f, int64_t b, nb_expr *const *args,
                        const bool *bin, nb_expr **vals, bool *bat) {
  int32_t maxsrc = 1;
  for (int32_t i = 0; i < f->nnodes; i++)
    if (f->nodes[i].n.nsrc > maxsrc) maxsrc = f->nodes[i].n.nsrc;
  nb_expr **x = nb__calloc((size_t)maxsrc, sizeof *x);
  bool     *bx = nb__calloc((size_t)maxsrc, sizeof *bx);
  int32_t  *input_of = nb__calloc((size_t)f->nnodes + 1, sizeof *input_of);
  nb_graph *g = args[0]->g;
  nb_status st = (!x || !bx || !input_of) ? nb__nomem(ad->api) : NB_OK;
  if (!st)
    for (int k = 0; k < f->nin; k++) input_of[f->in[k]] = k + 1;
  for (int32_t i = 0; !st && i < f->nnodes; i++) {
    const nb__fnode *node = &f->nodes[i];
    bool             any = false;
    if (node->n.op == NB_OP_INPUT) {
      vals[i] = args[input_of[i] - 1], bat[i] = bin[input_of[i] - 1];
      continue;
    }
    for (int s = 0; s < node->n.nsrc; s++) {
      x[s] = vals[node->src[s]], bx[s] = bat[node->src[s]];
      any = any || bx[s];
    }
    nb__node proto = node->n;
    if (!any) vals[i] = nb__emit(ad->api, g, &proto, node->n.nsrc, x);
    else if (nb__prims[node->n.op]->batch) vals[i] = nb__prims[node->n.op]->batch(ad, &node->n, b, x, bx);
    else st = nb__fail(NB_ERR_ARG, "%s: no batching rule for %s", ad->api, nb__prims[node->n.op]->name);
    bat[i] = any;
    if (!st && !vals[i]) st = nb_errcode() ? nb_errcode() : NB_ERR_ARG;
  }
  nb__free(x);
  nb__free(bx);
  nb__free(input_of);
  return st;
}
