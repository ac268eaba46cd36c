/* Forward mode: re-emit every node with its tangent. A NULL tangent is an
 * exact zero and short-circuits, so nodes that do not depend on the seeded
 * inputs cost nothing. */
#include <string.h>

#include "transform.h"

/* the tangent of y = n(x...) by n's rule */
static nb_expr *rule(nb__ad *ad, const nb__node *n, nb_expr *const *x, nb_expr *y,
                     nb_expr *const *t) {
  const nb__prim *row = nb__prims[n->op];
  if (row->partial) {
    if (!t[0]) return NULL;
    nb_expr *d = row->partial(ad, x[0], y);
    return d ? nb__t_scale(ad, t[0], d) : NULL;
  }
  if (row->jvp) return row->jvp(ad, n, x, y, t);
  return nb__fail(NB_ERR_ARG, "%s: no derivative rule for %s", ad->api, row->name), NULL;
}

static nb_expr *reemit(nb__ad *ad, nb_graph *g, const nb__node *n, nb_expr *const *x) {
  nb__node proto = *n;
  return nb__emit(ad->api, g, &proto, n->nsrc, x);
}

nb_status nb__jvp_emit(nb__ad *ad, nb_graph *g, const nb_fn *f, nb_expr *const *args, nb_expr *const *targs,
                       nb_expr **vals, nb_expr **tans) {
  int32_t maxsrc = 1;
  for (int32_t i = 0; i < f->nnodes; i++)
    if (f->nodes[i].n.nsrc > maxsrc) maxsrc = f->nodes[i].n.nsrc;
  nb_expr **x = nb__calloc(2 * (size_t)maxsrc, sizeof *x), **t = x + maxsrc;
  int32_t  *input_of = nb__calloc((size_t)f->nnodes + 1, sizeof *input_of);
  nb_status st = (!x || !input_of) ? nb__nomem(ad->api) : NB_OK;
  if (!st) {
    for (int k = 0; k < f->nin; k++) input_of[f->in[k]] = k + 1;
    for (int32_t i = 0; i < f->nnodes && !st; i++) {
      const nb__fnode *node = &f->nodes[i];
      bool             any = false;
      if (tans) tans[i] = NULL;
      if (node->n.op == NB_OP_INPUT) {
        vals[i] = args[input_of[i] - 1];
        if (tans && targs) tans[i] = targs[input_of[i] - 1];
        continue;
      }
      for (int s = 0; s < node->n.nsrc; s++) {
        x[s] = vals[node->src[s]];
        t[s] = tans ? tans[node->src[s]] : NULL;
        any = any || t[s];
      }
      if (!(vals[i] = reemit(ad, g, &node->n, x))) st = nb_errcode();
      else if (any) tans[i] = rule(ad, &node->n, x, vals[i], t);
    }
  }
  nb__free(x);
  nb__free(input_of);
  return st;
}

nb_fn *nb_jvp(const nb_fn *f, const nb_diff_opts *o) {
  const char *api = "nb_jvp";
  nb__ad      ad = {api};
  nb__wrt     w;
  uint64_t    mark = nb__fail_count();
  if (nb__wrt_init(api, f, o, &w)) return NULL;
  size_t    nin = (size_t)f->nin, nout = (size_t)f->nout;
  nb_expr **args = nb__calloc(2 * nin + 1, sizeof *args), **targs = args ? args + nin : NULL;
  nb_expr **vals = nb__calloc(2 * (size_t)f->nnodes + 1, sizeof *vals);
  nb_expr **outs = nb__calloc(nout + (size_t)w.ny + 1, sizeof *outs);
  nb_expr **ins = nb__calloc(nin + (size_t)w.nwrt + 1, sizeof *ins);
  nb_graph *g = args && vals && outs && ins ? nb__graph_like(api, f, args) : NULL;
  nb_fn    *r = NULL;
  if (!args || !vals || !outs || !ins) nb__nomem(api);
  if (g) {
    int k = 0;
    for (int i = 0; i < f->nin; i++) ins[k++] = args[i];
    for (int i = 0; i < w.nwrt; i++)
      ins[k++] = targs[w.wrt[i]] =
          nb__input_like(api, g, "tangent_", &f->nodes[f->in[w.wrt[i]]].n, nb__input_name(f, w.wrt[i]));
    nb_expr **tans = vals + f->nnodes;
    if (!nb__jvp_emit(&ad, g, f, args, targs, vals, tans)) {
      for (int j = 0; j < f->nout; j++) outs[j] = vals[f->out[j]];
      for (int j = 0; j < w.ny; j++)
        outs[f->nout + j] = nb__t_zeros(&ad, tans[f->out[j]], vals[f->out[j]]);
      r = nb__finish(api, g, mark, k, ins, f->nout + w.ny, outs);
    }
  }
  nb_graph_free(g);
  nb__free(args);
  nb__free(vals);
  nb__free(outs);
  nb__free(ins);
  nb__wrt_free(&w);
  return r;
}
