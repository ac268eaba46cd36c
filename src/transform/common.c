/* Option checking and the small pieces every transformation shares. */
#include <stdio.h>
#include <string.h>

#include "transform.h"

nb_status nb__wrt_init(const char *api, const nb_fn *f, const nb_diff_opts *o, nb__wrt *w) {
  static const nb_diff_opts defaults = {0, NULL, 0};
  memset(w, 0, sizeof *w);
  if (!f) return nb__null_arg(api);
  if (!o) o = &defaults;
  if (o->nwrt < 0 || o->nwrt > f->nin || (o->nwrt > 0 && !o->wrt))
    return nb__fail(NB_ERR_ARG, "%s: invalid wrt list (nwrt %d for %d inputs)", api, o->nwrt, f->nin);
  if (o->naux < 0 || o->naux > f->nout)
    return nb__fail(NB_ERR_ARG, "%s: naux %d out of range [0, %d]", api, o->naux, f->nout);
  for (int k = 0; k < o->nwrt; k++) {
    if (o->wrt[k] < 0 || o->wrt[k] >= f->nin)
      return nb__fail(NB_ERR_ARG, "%s: wrt index %d out of range [0, %d)", api, o->wrt[k], f->nin);
    if (k && o->wrt[k] <= o->wrt[k - 1])
      return nb__fail(NB_ERR_ARG, "%s: wrt indices must be ascending (%d after %d)", api,
                      o->wrt[k], o->wrt[k - 1]);
  }
  w->nwrt = o->nwrt ? o->nwrt : f->nin;
  w->ny = f->nout - o->naux;
  w->wrt = nb__calloc((size_t)w->nwrt + 1, sizeof *w->wrt);
  w->pos = nb__calloc((size_t)f->nin + 1, sizeof *w->pos);
  if (!w->wrt || !w->pos) {
    nb__wrt_free(w);
    return nb__nomem(api);
  }
  for (int i = 0; i < f->nin; i++) w->pos[i] = -1;
  for (int k = 0; k < w->nwrt; k++) {
    w->wrt[k] = o->nwrt ? o->wrt[k] : k;
    w->pos[w->wrt[k]] = k;
  }
  return NB_OK;
}

void nb__wrt_free(nb__wrt *w) {
  nb__free(w->wrt);
  nb__free(w->pos);
  w->wrt = w->pos = NULL;
}

const char *nb__input_name(const nb_fn *f, int i) { return f->nodes[f->in[i]].n.p.data; }

nb_expr *nb__input_like(const char *api, nb_graph *g, const char *prefix, const nb__node *like,
                        const char *name) {
  char    buf[96];
  int64_t size;
  if (nb__check_shape(api, (nb_dtype)like->dtype, like->rank, like->shape, &size)) return NULL;
  snprintf(buf, sizeof buf, "%s%s", prefix, name);
  nb_expr *x = nb_input(g, buf, (nb_dtype)like->dtype, like->rank, like->shape);
  if (!x && nb_errcode() == NB_ERR_NOMEM) nb__nomem(api);
  return x;
}

nb_graph *nb__graph_like(const char *api, const nb_fn *f, nb_expr **args) {
  nb_graph *g = nb_graph_new();
  if (!g) return nb__nomem(api), NULL;
  for (int i = 0; i < f->nin; i++) {
    args[i] = nb__input_like(api, g, "", &f->nodes[f->in[i]].n, nb__input_name(f, i));
    if (!args[i]) {
      nb_graph_free(g);
      return NULL;
    }
  }
  return g;
}

nb_fn *nb__finish(const char *api, nb_graph *g, uint64_t mark, int nin, nb_expr *const *in,
                  int nout, nb_expr *const *out) {
  if (nb__fail_count() != mark) return NULL;
  nb_fn *r = nb_fn_new(g, nin, in, nout, out);
  if (!r && nb_errcode() == NB_ERR_NOMEM) nb__nomem(api);
  return r;
}

nb_fn *nb__fn_outputs(const char *api, const nb_fn *f, int first, int count) {
  nb__ad    ad = {api};
  uint64_t  mark = nb__fail_count();
  nb_expr **args = nb__calloc((size_t)f->nin + 1, sizeof *args);
  nb_expr **vals = nb__calloc((size_t)f->nnodes + 1, sizeof *vals);
  nb_expr **outs = nb__calloc((size_t)count + 1, sizeof *outs);
  nb_graph *g = args && vals && outs ? nb__graph_like(api, f, args) : NULL;
  nb_fn    *r = NULL;
  if (!args || !vals || !outs) nb__nomem(api);
  if (g && !nb__jvp_emit(&ad, g, f, args, NULL, vals, NULL)) {
    for (int j = 0; j < count; j++) outs[j] = vals[f->out[first + j]];
    r = nb__finish(api, g, mark, f->nin, args, count, outs);
  }
  nb_graph_free(g);
  nb__free(args);
  nb__free(vals);
  nb__free(outs);
  return r;
}
