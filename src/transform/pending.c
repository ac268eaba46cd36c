/* The transformations of API.md that have not landed yet: each fails
 * cleanly with a message naming the issue-tracked feature. */
#include "../internal.h"

static nb_fn *pending(const char *api, const nb_fn *f) {
  if (!f) return nb__null_arg(api), NULL;
  return nb__fail(NB_ERR_ARG, "%s: not implemented yet", api), NULL;
}

#define NB__PENDING(name) \
  nb_fn *nb_##name(const nb_fn *f, const nb_diff_opts *o) { (void)o; return pending("nb_" #name, f); }
NB__PENDING(jvp)
NB__PENDING(vjp)
NB__PENDING(grad)
NB__PENDING(value_and_grad)
NB__PENDING(jacfwd)
NB__PENDING(jacrev)
NB__PENDING(jacobian)
NB__PENDING(hessian)
NB__PENDING(hvp)
NB__PENDING(batch_jvp)
NB__PENDING(batch_vjp)

nb_fn *nb_vmap(const nb_fn *f, const int *in_axes, const int *out_axes) {
  (void)in_axes, (void)out_axes;
  return pending("nb_vmap", f);
}

nb_status nb_check_grads(const nb_fn *f, const void *const *x, int order, double *max_rel_err) {
  (void)x, (void)order, (void)max_rel_err;
  if (!f) return nb__null_arg("nb_check_grads");
  return nb__fail(NB_ERR_ARG, "nb_check_grads: not implemented yet");
}
