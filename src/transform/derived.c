/* Transformations composed from the others: hvp = jvp(grad). Jacobians,
 * Hessians and batching need the batching rules of the vmap issue and fail
 * cleanly until then. */
#include "transform.h"

nb_fn *nb_hvp(const nb_fn *f, const nb_diff_opts *o) {
  const char *api = "nb_hvp";
  nb__wrt     w;
  if (nb__wrt_init(api, f, o, &w)) return NULL;
  nb_diff_opts go = {w.nwrt, w.wrt, f->nout - w.ny};
  nb_fn       *grad = nb_grad(f, &go);
  nb_fn       *hv = NULL, *r = NULL;
  if (grad) {
    nb_diff_opts jo = {w.nwrt, w.wrt, 0};
    hv = nb_jvp(grad, &jo);
  }
  if (hv) r = nb__fn_outputs(api, hv, w.nwrt, w.nwrt);
  nb_fn_free(grad);
  nb_fn_free(hv);
  nb__wrt_free(&w);
  return r;
}

static nb_fn *pending(const char *api, const nb_fn *f) {
  if (!f) return nb__null_arg(api), NULL;
  return nb__fail(NB_ERR_ARG, "%s: not implemented yet", api), NULL;
}

#define NB__PENDING(name) \
  nb_fn *nb_##name(const nb_fn *f, const nb_diff_opts *o) { (void)o; return pending("nb_" #name, f); }
NB__PENDING(jacfwd)
NB__PENDING(jacrev)
NB__PENDING(jacobian)
NB__PENDING(hessian)
NB__PENDING(batch_jvp)
NB__PENDING(batch_vjp)

nb_fn *nb_vmap(const nb_fn *f, const int *in_axes, const int *out_axes) {
  (void)in_axes, (void)out_axes;
  return pending("nb_vmap", f);
}
