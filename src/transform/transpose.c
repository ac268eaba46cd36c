/* Reverse mode as linearize + transpose: the jvp of f is emitted with
 * symbolic tangent inputs, the nodes that depend on them form a linear map,
 * and walking that map backwards with each linear primitive's transpose
 * rule gives the cotangents. Everything emitted is an ordinary primitive,
 * so the result can be differentiated again. */
#include <string.h>

#include "transform.h"

typedef struct lin_map {
  uint32_t  first, end; /* the graph ids of the linearization */
  bool     *lin;        /* per id - first: depends on a tangent input */
  nb_expr **ct;         /* per id - first: accumulated cotangent (NULL: zero) */
} lin_map;

static bool is_lin(const lin_map *m, const nb_expr *e) {
  return e->id >= m->first && e->id < m->end && m->lin[e->id - m->first];
}

static void accumulate(nb__ad *ad, lin_map *m, const nb_expr *e, nb_expr *ct) {
  if (ct && is_lin(m, e)) {
    nb_expr **slot = &m->ct[e->id - m->first];
    *slot = nb__t_add(ad, *slot, ct);
  }
}

static void mark_linear(nb_graph *g, lin_map *m, nb_expr *const *targs, int nt) {
  for (int k = 0; k < nt; k++)
    if (targs[k]) m->lin[targs[k]->id - m->first] = true;
  for (uint32_t id = m->first; id < m->end; id++) {
    nb_expr *e = g->nodes[id];
    for (int s = 0; s < e->n.nsrc && !m->lin[id - m->first]; s++)
      m->lin[id - m->first] = is_lin(m, e->src[s]);
  }
}

/* Walks the linear nodes from last to first, sending each one's cotangent
 * to its linear operands. */
static nb_status transpose_all(nb__ad *ad, nb_graph *g, lin_map *m) {
  bool     flags[64];
  nb_expr *cts[64];
  for (uint32_t id = m->end; id-- > m->first;) {
    nb_expr *e = g->nodes[id], *ct = m->ct[id - m->first];
    if (!ct || !m->lin[id - m->first] || e->n.op == NB_OP_INPUT) continue;
    const nb__prim *row = nb__prims[e->n.op];
    if (!row->transpose)
      return nb__fail(NB_ERR_ARG, "%s: %s is not linear but depends on a tangent", ad->api,
                      row->name);
    int  n = e->n.nsrc;
    bool big = n > 64;
    bool *lin = big ? nb__calloc((size_t)n, sizeof *lin) : flags;
    nb_expr **out = big ? nb__calloc((size_t)n, sizeof *out) : cts;
    if (!lin || !out) {
      if (big) nb__free(lin), nb__free(out);
      return nb__nomem(ad->api);
    }
    for (int s = 0; s < n; s++) lin[s] = is_lin(m, e->src[s]), out[s] = NULL;
    row->transpose(ad, e, ct, lin, out);
    for (int s = 0; s < n; s++) accumulate(ad, m, e->src[s], out[s]);
    if (big) nb__free(lin), nb__free(out);
  }
  return NB_OK;
}

nb_status nb__vjp_emit(nb__ad *ad, nb_graph *g, const nb_fn *f, const nb__wrt *w,
                       nb_expr *const *args, nb_expr *const *cts, nb_expr **vals, nb_expr **grads) {
  lin_map   m = {.first = g->nnodes};
  nb_expr **targs = nb__calloc((size_t)f->nin + 1, sizeof *targs);
  nb_expr **nv = nb__calloc(2 * (size_t)f->nnodes + 1, sizeof *nv), **nt = nv ? nv + f->nnodes : NULL;
  nb_status st = (!targs || !nv) ? nb__nomem(ad->api) : NB_OK;
  for (int k = 0; !st && k < w->nwrt; k++) {
    const nb__node *x = &f->nodes[f->in[w->wrt[k]]].n;
    if (!(targs[w->wrt[k]] = nb_input(g, "", (nb_dtype)x->dtype, x->rank, x->shape)))
      st = nb_errcode();
  }
  if (!st) st = nb__jvp_emit(ad, g, f, args, targs, nv, nt);
  if (!st) {
    m.end = g->nnodes;
    m.lin = nb__calloc((size_t)(m.end - m.first) + 1, sizeof *m.lin);
    m.ct = nb__calloc((size_t)(m.end - m.first) + 1, sizeof *m.ct);
    if (!m.lin || !m.ct) st = nb__nomem(ad->api);
  }
  if (!st) {
    mark_linear(g, &m, targs, f->nin);
    for (int j = 0; j < w->ny; j++)
      if (nt[f->out[j]]) accumulate(ad, &m, nt[f->out[j]], cts[j]);
    st = transpose_all(ad, g, &m);
  }
  if (!st) {
    for (int j = 0; j < f->nout; j++) vals[j] = nv[f->out[j]];
    for (int k = 0; k < w->nwrt; k++) {
      nb_expr *t = targs[w->wrt[k]];
      grads[k] = nb__t_zeros(ad, m.ct[t->id - m.first], args[w->wrt[k]]);
    }
  }
  nb__free(m.lin);
  nb__free(m.ct);
  nb__free(targs);
  nb__free(nv);
  return st;
}
