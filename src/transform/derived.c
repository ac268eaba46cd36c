/* Transformations composed from the others. Jacobians push an identity
 * seed, made on the fly from iota, through a batched jvp (forward) or vjp
 * (reverse): one batched graph per wrt input or per output, never a loop
 * over rows. hessian = jacfwd(grad), hvp = jvp(grad). */
#include <string.h>

#include "transform.h"

/* the identity as a batch of n one-hot tensors shaped like `like` */
static nb_expr *identity_seed(nb__ad *ad, nb_graph *g, const nb__node *like) {
  int64_t  n = like->size;
  nb__node a = {.op = NB_OP_IOTA, .dtype = like->dtype, .rank = 2, .shape = {n, n}};
  nb__node b = a;
  b.p.i[0] = 1;
  nb_expr *eye = nb__ad2(ad, NB_OP_EQ, nb__emit(ad->api, g, &a, 0, NULL), nb__emit(ad->api, g, &b, 0, NULL));
  int64_t shape[NB_MAX_RANK + 1] = {n};
  if (like->rank + 1 > NB_MAX_RANK)
    return nb__fail(NB_ERR_SHAPE, "%s: batching a rank-%d input exceeds rank %d", ad->api,
                    like->rank, NB_MAX_RANK), NULL;
  memcpy(shape + 1, like->shape, (size_t)like->rank * sizeof *shape);
  return nb__reshape(ad->api, eye, like->rank + 1, shape);
}

/* r, a batch of n values shaped like y (batch leading), as the Jacobian
 * block y.shape ++ x.shape: when the batch indexes x (forward mode) it moves
 * to the end first; otherwise (reverse mode) it indexes y already */
static nb_expr *to_jacobian(nb__ad *ad, nb_expr *r, bool batched, int64_t n, const nb__node *y,
                            const nb__node *x, bool batch_is_x) {
  if (!r) return NULL;
  if (!batched) r = nb__batch_expand(ad, r, n);
  if (!r) return NULL;
  if (y->rank + x->rank > NB_MAX_RANK)
    return nb__fail(NB_ERR_SHAPE, "%s: a Jacobian block of rank %d exceeds rank %d", ad->api,
                    y->rank + x->rank, NB_MAX_RANK), NULL;
  if (batch_is_x) {
    nb__params p = {0};
    for (int k = 0; k < r->n.rank; k++) p.i[k] = (k + 1) % r->n.rank;
    r = nb__adp(ad, NB_OP_TRANSPOSE, r, &p);
  }
  int64_t shape[2 * NB_MAX_RANK];
  memcpy(shape, y->shape, (size_t)y->rank * sizeof *shape);
  memcpy(shape + y->rank, x->shape, (size_t)x->rank * sizeof *shape);
  return nb__reshape(ad->api, r, y->rank + x->rank, shape);
}

typedef struct jac_ctx {
  nb__ad    ad;
  const nb_fn *f;
  nb__wrt   w;
  nb_graph *g;
  nb_expr **args, **bargs, **outs, **vals;
  bool     *bin, *bat;
} jac_ctx;

static void jac_free(jac_ctx *c) {
  nb_graph_free(c->g);
  nb__free(c->args);
  nb__free(c->bargs);
  nb__free(c->outs);
  nb__free(c->vals);
  nb__free(c->bin);
  nb__free(c->bat);
  nb__wrt_free(&c->w);
}

static nb_status jac_init(jac_ctx *c, const char *api, const nb_fn *f, const nb_diff_opts *o) {
  memset(c, 0, sizeof *c);
  c->ad.api = api, c->f = f;
  if (nb__wrt_init(api, f, o, &c->w)) return nb_errcode();
  size_t nin = (size_t)f->nin, nout = (size_t)f->nout;
  c->args = nb__calloc(nin + 1, sizeof *c->args);
  c->bargs = nb__calloc(nin + nout + 1, sizeof *c->bargs);
  c->bin = nb__calloc(nin + nout + 1, sizeof *c->bin);
  c->outs = nb__calloc((size_t)c->w.ny * (size_t)c->w.nwrt + 1, sizeof *c->outs);
  if (!c->args || !c->bargs || !c->bin || !c->outs) return nb__nomem(api);
  if (!(c->g = nb__graph_like(api, f, c->args))) return nb_errcode();
  return NB_OK;
}

/* emits the batched function t over bargs into the context's graph */
static nb_status jac_emit(jac_ctx *c, const nb_fn *t, int64_t n) {
  nb__free(c->vals), nb__free(c->bat);
  c->vals = nb__calloc((size_t)t->nnodes + 1, sizeof *c->vals);
  c->bat = nb__calloc((size_t)t->nnodes + 1, sizeof *c->bat);
  if (!c->vals || !c->bat) return nb__nomem(c->ad.api);
  return nb__vmap_emit(&c->ad, c->g, t, n, c->bargs, c->bin, c->vals, c->bat);
}

static nb_fn *jac_finish(jac_ctx *c, uint64_t mark) {
  return nb__finish(c->ad.api, c->g, mark, c->f->nin, c->args, c->w.ny * c->w.nwrt, c->outs);
}

static nb_fn *jac_forward(const char *api, const nb_fn *f, const nb_diff_opts *o) {
  jac_ctx  c;
  uint64_t mark = nb__fail_count();
  nb_fn   *r = NULL;
  if (jac_init(&c, api, f, o)) return jac_free(&c), NULL;
  nb_status st = NB_OK;
  for (int k = 0; !st && k < c.w.nwrt; k++) {
    const nb__node *x = &f->nodes[f->in[c.w.wrt[k]]].n;
    nb_diff_opts    jo = {1, &c.w.wrt[k], f->nout - c.w.ny};
    nb_fn          *jvp = nb_jvp(f, &jo);
    if (!jvp) {
      st = nb_errcode();
      break;
    }
    memcpy(c.bargs, c.args, (size_t)f->nin * sizeof *c.bargs);
    memset(c.bin, 0, (size_t)(f->nin + 1) * sizeof *c.bin);
    c.bargs[f->nin] = identity_seed(&c.ad, c.g, x);
    c.bin[f->nin] = true;
    st = c.bargs[f->nin] ? jac_emit(&c, jvp, x->size) : nb_errcode();
    for (int i = 0; !st && i < c.w.ny; i++) {
      int32_t id = jvp->out[f->nout + i];
      c.outs[i * c.w.nwrt + k] =
          to_jacobian(&c.ad, c.vals[id], c.bat[id], x->size, &f->nodes[f->out[i]].n, x, true);
    }
    nb_fn_free(jvp);
  }
  if (!st) r = jac_finish(&c, mark);
  jac_free(&c);
  return r;
}

static nb_fn *jac_reverse(const char *api, const nb_fn *f, const nb_diff_opts *o) {
  jac_ctx  c;
  uint64_t mark = nb__fail_count();
  nb_fn   *r = NULL, *vjp = NULL;
  if (jac_init(&c, api, f, o)) return jac_free(&c), NULL;
  nb_diff_opts vo = {c.w.nwrt, c.w.wrt, f->nout - c.w.ny};
  nb_status    st = (vjp = nb_vjp(f, &vo)) ? NB_OK : nb_errcode();
  for (int i = 0; !st && i < c.w.ny; i++) {
    const nb__node *y = &f->nodes[f->out[i]].n;
    memcpy(c.bargs, c.args, (size_t)f->nin * sizeof *c.bargs);
    memset(c.bin, 0, (size_t)(f->nin + c.w.ny) * sizeof *c.bin);
    for (int l = 0; l < c.w.ny; l++) {
      const nb__node *yl = &f->nodes[f->out[l]].n;
      c.bargs[f->nin + l] = l == i ? identity_seed(&c.ad, c.g, yl)
                                   : nb__fill(api, c.g, (nb_dtype)yl->dtype, yl->rank, yl->shape, 0, false);
      c.bin[f->nin + l] = l == i;
    }
    st = nb__fail_count() == mark ? jac_emit(&c, vjp, y->size) : nb_errcode();
    for (int k = 0; !st && k < c.w.nwrt; k++) {
      int32_t id = vjp->out[f->nout + k];
      c.outs[i * c.w.nwrt + k] = to_jacobian(&c.ad, c.vals[id], c.bat[id], y->size, y,
                                             &f->nodes[f->in[c.w.wrt[k]]].n, false);
    }
  }
  if (!st) r = jac_finish(&c, mark);
  nb_fn_free(vjp);
  jac_free(&c);
  return r;
}

nb_fn *nb_jacfwd(const nb_fn *f, const nb_diff_opts *o) { return jac_forward("nb_jacfwd", f, o); }
nb_fn *nb_jacrev(const nb_fn *f, const nb_diff_opts *o) { return jac_reverse("nb_jacrev", f, o); }

/* forward when the differentiated inputs are no larger than the outputs */
nb_fn *nb_jacobian(const nb_fn *f, const nb_diff_opts *o) {
  const char *api = "nb_jacobian";
  nb__wrt     w;
  if (nb__wrt_init(api, f, o, &w)) return NULL;
  int64_t nx = 0, ny = 0;
  for (int k = 0; k < w.nwrt; k++) nx += f->nodes[f->in[w.wrt[k]]].n.size;
  for (int i = 0; i < w.ny; i++) ny += f->nodes[f->out[i]].n.size;
  nb__wrt_free(&w);
  return nx <= ny ? jac_forward(api, f, o) : jac_reverse(api, f, o);
}

/* hessian = jacfwd(grad); hvp = jvp(grad), keeping only the products */
static nb_fn *of_grad(const char *api, const nb_fn *f, const nb_diff_opts *o, bool hessian) {
  nb__wrt w;
  if (nb__wrt_init(api, f, o, &w)) return NULL;
  nb_fn *grad = NULL, *d = NULL, *r = NULL;
  if (!nb__check_scalar(api, f, &w)) {
    nb_diff_opts go = {w.nwrt, w.wrt, f->nout - w.ny}, so = {w.nwrt, w.wrt, 0};
    grad = nb_grad(f, &go);
    if (grad) d = hessian ? jac_forward(api, grad, &so) : nb_jvp(grad, &so);
    r = hessian ? d : d ? nb__fn_outputs(api, d, w.nwrt, w.nwrt) : NULL;
  }
  nb_fn_free(grad);
  if (!hessian) nb_fn_free(d);
  nb__wrt_free(&w);
  return r;
}

nb_fn *nb_hessian(const nb_fn *f, const nb_diff_opts *o) { return of_grad("nb_hessian", f, o, true); }
nb_fn *nb_hvp(const nb_fn *f, const nb_diff_opts *o) { return of_grad("nb_hvp", f, o, false); }
