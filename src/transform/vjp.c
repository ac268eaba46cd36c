/* The reverse-mode transformations: vjp, grad and value_and_grad. */
#include "transform.h"

typedef enum { WANT_VJP, WANT_GRAD, WANT_VALUE_AND_GRAD } want;

/* grad and value_and_grad differentiate exactly one output, of one element */
nb_status nb__check_scalar(const char *api, const nb_fn *f, const nb__wrt *w) {
  if (w->ny != 1)
    return nb__fail(NB_ERR_ARG, "%s: needs exactly one differentiated output, got %d", api, w->ny);
  const nb__node *y = &f->nodes[f->out[0]].n;
  char            s[NB__SHAPE_STR];
  if (y->size != 1)
    return nb__fail(NB_ERR_SHAPE, "%s: output 0 has shape %s, not exactly one element", api,
                    nb__shape_str(s, y->rank, y->shape));
  return NB_OK;
}

static nb_fn *reverse(const char *api, want kind, const nb_fn *f, const nb_diff_opts *o) {
  nb__ad   ad = {api};
  nb__wrt  w;
  uint64_t mark = nb__fail_count();
  if (nb__wrt_init(api, f, o, &w)) return NULL;
  if (kind != WANT_VJP && nb__check_scalar(api, f, &w)) return nb__wrt_free(&w), NULL;
  size_t    nin = (size_t)f->nin, nout = (size_t)f->nout, ny = (size_t)w.ny;
  nb_expr **ins = nb__calloc(nin + ny + 1, sizeof *ins);
  nb_expr **cts = nb__calloc(ny + 1, sizeof *cts);
  nb_expr **outs = nb__calloc(nout + (size_t)w.nwrt + 1, sizeof *outs);
  nb_graph *g = ins && cts && outs ? nb__graph_like(api, f, ins) : NULL;
  nb_fn    *r = NULL;
  if (!ins || !cts || !outs) nb__nomem(api);
  if (g) {
    int nins = f->nin;
    for (int j = 0; j < w.ny; j++) {
      const nb__node *y = &f->nodes[f->out[j]].n;
      if (kind == WANT_VJP) {
        char name[32];
        snprintf(name, sizeof name, "%d", j);
        cts[j] = ins[nins++] = nb__input_like(api, g, "cotangent_", y, name);
      } else {
        cts[j] = nb__fill(api, g, (nb_dtype)y->dtype, y->rank, y->shape, 1.0, false);
      }
    }
    nb_expr **grads = outs + f->nout;
    if (nb__fail_count() == mark && !nb__vjp_emit(&ad, g, f, &w, ins, cts, outs, grads)) {
      int first = kind == WANT_GRAD ? f->nout : 0;
      r = nb__finish(api, g, mark, nins, ins, f->nout + w.nwrt - first, outs + first);
    }
  }
  nb_graph_free(g);
  nb__free(ins);
  nb__free(cts);
  nb__free(outs);
  nb__wrt_free(&w);
  return r;
}

nb_fn *nb_vjp(const nb_fn *f, const nb_diff_opts *o) { return reverse("nb_vjp", WANT_VJP, f, o); }
nb_fn *nb_grad(const nb_fn *f, const nb_diff_opts *o) { return reverse("nb_grad", WANT_GRAD, f, o); }
nb_fn *nb_value_and_grad(const nb_fn *f, const nb_diff_opts *o) {
  return reverse("nb_value_and_grad", WANT_VALUE_AND_GRAD, f, o);
}
