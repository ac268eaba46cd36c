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

nb_status nb__vmap_emit(nb__ad *ad, nb_graph *g, const nb_fn *f, int64_t b,
                        nb_expr *const *args, const bool *bin, nb_expr **vals, bool *bat) {
  int32_t maxsrc = 1;
  for (int32_t i = 0; i < f->nnodes; i++)
    if (f->nodes[i].n.nsrc > maxsrc) maxsrc = f->nodes[i].n.nsrc;
  nb_expr **x = nb__calloc((size_t)maxsrc, sizeof *x);
  bool     *bx = nb__calloc((size_t)maxsrc, sizeof *bx);
  int32_t  *input_of = nb__calloc((size_t)f->nnodes + 1, sizeof *input_of);
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

/* ---- the public vmap ---- */

/* x (batch leading) with its batch axis moved to `axis` */
static nb_expr *batch_to(nb__ad *ad, nb_expr *x, int axis) {
  if (!x || axis == 0) return x;
  nb__params p = {0};
  for (int k = 0, src = 1; k < x->n.rank; k++) p.i[k] = k == axis ? 0 : src++;
  return nb__adp(ad, NB_OP_TRANSPOSE, x, &p);
}

/* x with its axis `axis` moved to the front */
static nb_expr *batch_from(nb__ad *ad, nb_expr *x, int axis) {
  if (!x || axis == 0) return x;
  nb__params p = {.i = {axis}};
  for (int k = 1, src = 0; k < x->n.rank; k++, src++) p.i[k] = src == axis ? ++src : src;
  return nb__adp(ad, NB_OP_TRANSPOSE, x, &p);
}

static nb_status check_axes(const char *api, const nb_fn *f, const int *in_axes,
                            const int *out_axes, int *in, int *out) {
  bool mapped = false;
  for (int i = 0; i < f->nin; i++) {
    int a = in_axes ? in_axes[i] : 0, r = f->nodes[f->in[i]].n.rank;
    if (a != NB_UNMAPPED && !nb__norm_axis(&a, r + 1))
      return nb__fail(NB_ERR_ARG, "%s: in_axes[%d] = %d out of range for a batched rank %d", api,
                      i, in_axes[i], r + 1);
    if (a != NB_UNMAPPED && r + 1 > NB_MAX_RANK)
      return nb__fail(NB_ERR_SHAPE, "%s: batching input %d exceeds rank %d", api, i, NB_MAX_RANK);
    in[i] = a;
    mapped = mapped || a != NB_UNMAPPED;
  }
  if (!mapped) return nb__fail(NB_ERR_ARG, "%s: no input is mapped", api);
  for (int j = 0; j < f->nout; j++) {
    int a = out_axes ? out_axes[j] : 0, r = f->nodes[f->out[j]].n.rank;
    if (a == NB_UNMAPPED || !nb__norm_axis(&a, r + 1))
      return nb__fail(NB_ERR_ARG, "%s: out_axes[%d] = %d out of range for a batched rank %d", api,
                      j, out_axes ? out_axes[j] : 0, r + 1);
    out[j] = a;
  }
  return NB_OK;
}

nb_fn *nb_vmap_sized(const nb_fn *f, int64_t batch, const int *in_axes, const int *out_axes) {
  const char *api = "nb_vmap_sized";
  nb__ad      ad = {api};
  uint64_t    mark = nb__fail_count();
  if (!f) return nb__null_arg(api), NULL;
  if (batch < 0) return nb__fail(NB_ERR_ARG, "%s: negative batch size %lld", api, (long long)batch), NULL;
  size_t    nin = (size_t)f->nin, nout = (size_t)f->nout, nn = (size_t)f->nnodes;
  int      *axes = nb__calloc(nin + nout + 1, sizeof *axes);
  nb_expr **ins = nb__calloc(2 * nin + nout + 1, sizeof *ins), **args = ins + nin, **outs = args + nin;
  bool     *bin = nb__calloc(nin + nn + 1, sizeof *bin), *bat = bin + nin;
  nb_expr **vals = nb__calloc(nn + 1, sizeof *vals);
  nb_graph *g = NULL;
  nb_fn    *r = NULL;
  if (!axes || !ins || !bin || !vals) nb__nomem(api);
  else if (!check_axes(api, f, in_axes, out_axes, axes, axes + nin) && (g = nb_graph_new())) {
    for (int i = 0; i < f->nin; i++) {
      const nb__node *x = &f->nodes[f->in[i]].n;
      nb__node        b = *x;
      bin[i] = axes[i] != NB_UNMAPPED;
      if (bin[i]) {
        b.rank = (uint8_t)(x->rank + 1);
        for (int d = 0, k = 0; d < b.rank; d++) b.shape[d] = d == axes[i] ? batch : x->shape[k++];
      }
      ins[i] = nb__input_like(api, g, "", &b, nb__input_name(f, i));
      args[i] = bin[i] ? batch_from(&ad, ins[i], axes[i]) : ins[i];
    }
    if (nb__fail_count() == mark && !nb__vmap_emit(&ad, g, f, batch, args, bin, vals, bat)) {
      for (int j = 0; j < f->nout; j++) {
        nb_expr *y = vals[f->out[j]];
        outs[j] = batch_to(&ad, bat[f->out[j]] ? y : nb__batch_expand(&ad, y, batch), axes[nin + j]);
      }
      r = nb__finish(api, g, mark, f->nin, ins, f->nout, outs);
    }
  }
  nb_graph_free(g);
  nb__free(axes);
  nb__free(ins);
  nb__free(bin);
  nb__free(vals);
  return r;
}

/* batch_jvp / batch_vjp: the jvp or vjp of f with its tangent (cotangent)
 * inputs batched along a leading axis; primal work stays unbatched */
static nb_fn *batch_product(const char *api, const nb_fn *f, int64_t batch, const nb_diff_opts *o,
                            bool reverse) {
  nb__ad   ad = {api};
  uint64_t mark = nb__fail_count();
  if (!f) return nb__null_arg(api), NULL;
  if (batch < 0) return nb__fail(NB_ERR_ARG, "%s: negative batch size %lld", api, (long long)batch), NULL;
  nb__wrt w; /* the options are checked here so messages name this function */
  if (nb__wrt_init(api, f, o, &w)) return NULL;
  nb__wrt_free(&w);
  nb_fn *t = reverse ? nb_vjp(f, o) : nb_jvp(f, o);
  if (!t) return NULL;
  size_t    nin = (size_t)t->nin, nout = (size_t)t->nout, nn = (size_t)t->nnodes;
  nb_expr **ins = nb__calloc(nin + nout + 1, sizeof *ins), **outs = ins ? ins + nin : NULL;
  bool     *bin = nb__calloc(nin + nn + 1, sizeof *bin), *bat = bin ? bin + nin : NULL;
  nb_expr **vals = nb__calloc(nn + 1, sizeof *vals);
  nb_graph *g = ins && bin && vals ? nb_graph_new() : NULL;
  nb_fn    *r = NULL;
  if (!ins || !bin || !vals) nb__nomem(api);
  if (g) {
    for (int i = 0; i < t->nin; i++) {
      nb__node b = t->nodes[t->in[i]].n;
      bin[i] = i >= f->nin; /* the tangents or cotangents */
      if (bin[i] && b.rank + 1 > NB_MAX_RANK) {
        nb__fail(NB_ERR_SHAPE, "%s: batching input %d exceeds rank %d", api, i, NB_MAX_RANK);
        break;
      }
      if (bin[i]) {
        for (int d = b.rank; d > 0; d--) b.shape[d] = b.shape[d - 1];
        b.shape[0] = batch, b.rank++;
      }
      ins[i] = nb__input_like(api, g, "", &b, nb__input_name(t, i));
    }
    if (nb__fail_count() == mark && !nb__vmap_emit(&ad, g, t, batch, ins, bin, vals, bat)) {
      for (int j = 0; j < t->nout; j++) {
        nb_expr *y = vals[t->out[j]];
        outs[j] = j < f->nout || bat[t->out[j]] ? y : nb__batch_expand(&ad, y, batch);
      }
      r = nb__finish(api, g, mark, t->nin, ins, t->nout, outs);
    }
  }
  nb_graph_free(g);
  nb_fn_free(t);
  nb__free(ins);
  nb__free(bin);
  nb__free(vals);
  return r;
}

nb_fn *nb_batch_jvp_sized(const nb_fn *f, int64_t batch, const nb_diff_opts *o) {
  return batch_product("nb_batch_jvp_sized", f, batch, o, false);
}
nb_fn *nb_batch_vjp_sized(const nb_fn *f, int64_t batch, const nb_diff_opts *o) {
  return batch_product("nb_batch_vjp_sized", f, batch, o, true);
}

/* Without a batch size the signature of the result cannot be fixed. */
static nb_fn *unsized(const char *api, const nb_fn *f) {
  if (!f) return nb__null_arg(api), NULL;
  return nb__fail(NB_ERR_ARG, "%s: the batch size is unknown: use %s_sized", api, api), NULL;
}

nb_fn *nb_vmap(const nb_fn *f, const int *in_axes, const int *out_axes) {
  (void)in_axes, (void)out_axes;
  return unsized("nb_vmap", f);
}
nb_fn *nb_batch_jvp(const nb_fn *f, const nb_diff_opts *o) {
  (void)o;
  return unsized("nb_batch_jvp", f);
}
nb_fn *nb_batch_vjp(const nb_fn *f, const nb_diff_opts *o) {
  (void)o;
  return unsized("nb_batch_vjp", f);
}
