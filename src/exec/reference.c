/* The reference evaluator: every node on whole arrays, one after the other,
 * no fusion, no slot reuse and no BLAS. Tests compare nb_call's fast paths
 * with it; it allocates per call and is not for users. */
#include <string.h>

#include "exec.h"

_Thread_local bool nb__reference_mode;

nb_status nb__call_reference(const nb_fn *f, const void *const *inputs, void *const *outputs) {
  const char *api = "nb__call_reference";
  void      **buf = nb__calloc((size_t)f->nnodes + 1, sizeof *buf);
  void      **own = nb__calloc((size_t)f->nnodes + 1, sizeof *own);
  const void **args = nb__calloc((size_t)f->nnodes + 1, sizeof *args);
  const nb__node **srcs = nb__calloc((size_t)f->nnodes + 1, sizeof *srcs);
  nb_status   st = buf && own && args && srcs ? NB_OK : nb__nomem(api);
  nb__reference_mode = true;
  for (int32_t i = 0; !st && i < f->nnodes; i++) {
    const nb__fnode *node = &f->nodes[i];
    const nb__node  *n = &node->n;
    if (n->op == NB_OP_INPUT) {
      for (int k = 0; k < f->nin; k++)
        if (f->in[k] == i) buf[i] = (void *)inputs[k];
      continue;
    }
    if (n->op == NB_OP_CONST) {
      buf[i] = (void *)n->p.data;
      continue;
    }
    if (nb__prims[n->op]->flags & NB__ALIAS) {
      buf[i] = buf[node->src[0]];
      continue;
    }
    if (!(own[i] = buf[i] = nb__malloc((size_t)n->size * nb__dtype_size((nb_dtype)n->dtype) + 1))) {
      st = nb__nomem(api);
      break;
    }
    for (int s = 0; s < n->nsrc; s++) args[s] = buf[node->src[s]], srcs[s] = &f->nodes[node->src[s]].n;
    nb__prims[n->op]->eval(n, srcs, buf[i], args);
  }
  nb__reference_mode = false;
  for (int j = 0; !st && j < f->nout; j++) {
    const nb__node *n = &f->nodes[f->out[j]].n;
    size_t          bytes = (size_t)n->size * nb__dtype_size((nb_dtype)n->dtype);
    if (bytes) memcpy(outputs[j], buf[f->out[j]], bytes);
  }
  for (int32_t i = 0; own && i < f->nnodes; i++) nb__free(own[i]);
  nb__free(buf);
  nb__free(own);
  nb__free(args);
  nb__free(srcs);
  return st;
}
