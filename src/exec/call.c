/* nb_call: a plan built once at the first call (under the function's lock),
 * then workspaces checked out of a pool so concurrent callers never share
 * scratch memory and no call after the first allocates. */
#include <string.h>

#include "../internal.h"

enum { ALIGN = 64 };

struct nb__plan {
  int64_t         *offset; /* per node: byte offset in the workspace, -1 if it owns none */
  int32_t         *input_of; /* per node: its position among the inputs, or -1 */
  const nb__node **srcs;   /* all nodes' operand nodes, back to back */
  int32_t         *first;  /* per node: where its operands start in srcs */
  size_t           bytes;  /* workspace size */
  int32_t          max_src;
};

struct nb__workspace {
  nb__workspace *next;
  unsigned char *mem;
  const void   **buf;  /* per node: where its value is during a call */
  const void   **args; /* operand buffers of the node being run */
};

static void plan_free(nb__plan *p) {
  if (!p) return;
  nb__free(p->offset);
  nb__free(p->input_of);
  nb__free(p->srcs);
  nb__free(p->first);
  nb__free(p);
}

static bool owns_buffer(const nb__node *n) {
  return n->op != NB_OP_INPUT && n->op != NB_OP_CONST && !(nb__prims[n->op]->flags & NB__ALIAS);
}

static nb__plan *plan_new(const nb_fn *f) {
  nb__plan *p = nb__calloc(1, sizeof *p);
  if (!p) return NULL;
  int32_t n = f->nnodes, total = 0;
  for (int32_t i = 0; i < n; i++) total += f->nodes[i].n.nsrc;
  p->offset = nb__calloc((size_t)n + 1, sizeof *p->offset);
  p->input_of = nb__calloc((size_t)n + 1, sizeof *p->input_of);
  p->first = nb__calloc((size_t)n + 1, sizeof *p->first);
  p->srcs = nb__calloc((size_t)total + 1, sizeof *p->srcs);
  if (!p->offset || !p->input_of || !p->first || !p->srcs) {
    plan_free(p);
    return NULL;
  }
  size_t at = 0;
  for (int32_t i = 0, k = 0; i < n; i++) {
    const nb__fnode *node = &f->nodes[i];
    p->input_of[i] = -1;
    p->first[i] = k;
    for (int s = 0; s < node->n.nsrc; s++) p->srcs[k++] = &f->nodes[node->src[s]].n;
    if (node->n.nsrc > p->max_src) p->max_src = node->n.nsrc;
    p->offset[i] = -1;
    if (owns_buffer(&node->n)) {
      /* sizes were checked when the node was made; the sum is checked here */
      size_t bytes = (size_t)node->n.size * nb__dtype_size((nb_dtype)node->n.dtype);
      bytes = (bytes + ALIGN - 1) / ALIGN * ALIGN;
      if (bytes > SIZE_MAX / 2 - at) {
        plan_free(p);
        return NULL;
      }
      p->offset[i] = (int64_t)at;
      at += bytes;
    }
  }
  for (int i = 0; i < f->nin; i++) p->input_of[f->in[i]] = i;
  p->bytes = at;
  return p;
}

static void workspace_free(nb__workspace *w) {
  if (!w) return;
  nb__free(w->mem);
  nb__free(w->buf);
  nb__free(w->args);
  nb__free(w);
}

static nb__workspace *workspace_new(const nb_fn *f, const nb__plan *p) {
  nb__workspace *w = nb__calloc(1, sizeof *w);
  if (!w) return NULL;
  w->mem = nb__malloc(p->bytes + ALIGN);
  w->buf = nb__calloc((size_t)f->nnodes + 1, sizeof *w->buf);
  w->args = nb__calloc((size_t)p->max_src + 1, sizeof *w->args);
  if (!w->mem || !w->buf || !w->args) {
    workspace_free(w);
    return NULL;
  }
  return w;
}

void nb__exec_destroy(nb_fn *f) {
  for (nb__workspace *w = f->idle, *next; w; w = next) {
    next = w->next;
    workspace_free(w);
  }
  f->idle = NULL;
  plan_free(f->plan);
  f->plan = NULL;
}

static nb__plan *get_plan(nb_fn *f) {
  pthread_mutex_lock(&f->lock);
  if (!f->plan) f->plan = plan_new(f);
  nb__plan *p = f->plan;
  pthread_mutex_unlock(&f->lock);
  return p;
}

int64_t nb_fn_workspace_bytes(nb_fn *f) {
  if (!f) return nb__null_arg("nb_fn_workspace_bytes"), -1;
  nb__plan *p = get_plan(f);
  if (!p) return nb__nomem("nb_fn_workspace_bytes"), -1;
  return (int64_t)p->bytes;
}

/* Takes a workspace (making the plan and the workspace when needed). */
static nb__workspace *checkout(nb_fn *f) {
  pthread_mutex_lock(&f->lock);
  if (!f->plan) f->plan = plan_new(f);
  nb__workspace *w = NULL;
  if (f->plan) {
    w = f->idle;
    if (w) f->idle = w->next;
    else w = workspace_new(f, f->plan);
  }
  pthread_mutex_unlock(&f->lock);
  return w;
}

static void checkin(nb_fn *f, nb__workspace *w) {
  pthread_mutex_lock(&f->lock);
  w->next = f->idle;
  f->idle = w;
  pthread_mutex_unlock(&f->lock);
}

static void run(const nb_fn *f, const nb__plan *p, nb__workspace *w, const void *const *inputs) {
  unsigned char *base = (unsigned char *)(((uintptr_t)w->mem + ALIGN - 1) / ALIGN * ALIGN);
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__fnode *node = &f->nodes[i];
    const nb__node  *n = &node->n;
    if (n->op == NB_OP_INPUT) {
      w->buf[i] = p->input_of[i] >= 0 ? inputs[p->input_of[i]] : NULL;
      continue;
    }
    if (n->op == NB_OP_CONST) {
      w->buf[i] = n->p.data;
      continue;
    }
    if (p->offset[i] < 0) { /* an alias of its operand */
      w->buf[i] = w->buf[node->src[0]];
      continue;
    }
    void *out = base + p->offset[i];
    w->buf[i] = out;
    for (int s = 0; s < n->nsrc; s++) w->args[s] = w->buf[node->src[s]];
    nb__prims[n->op]->eval(n, p->srcs + p->first[i], out, w->args);
  }
}

static nb_status check_buffers(const char *api, const nb_fn *f, const void *const *inputs,
                               void *const *outputs) {
  if ((f->nin && !inputs) || (f->nout && !outputs))
    return nb__fail(NB_ERR_ARG, "%s: %s array is NULL", api, !inputs && f->nin ? "inputs" : "outputs");
  for (int i = 0; i < f->nin; i++)
    if (!inputs[i] && f->nodes[f->in[i]].n.size > 0)
      return nb__fail(NB_ERR_ARG, "%s: input buffer %d is NULL", api, i);
  for (int i = 0; i < f->nout; i++)
    if (!outputs[i] && f->nodes[f->out[i]].n.size > 0)
      return nb__fail(NB_ERR_ARG, "%s: output buffer %d is NULL", api, i);
  return NB_OK;
}

nb_status nb_call(nb_fn *f, const void *const *inputs, void *const *outputs) {
  const char *api = "nb_call";
  if (!f) return nb__null_arg(api);
  if (check_buffers(api, f, inputs, outputs)) return NB_ERR_ARG;
  nb__workspace *w = checkout(f);
  if (!w) return nb__nomem(api);
  run(f, f->plan, w, inputs);
  for (int j = 0; j < f->nout; j++) {
    const nb__node *n = &f->nodes[f->out[j]].n;
    size_t          bytes = (size_t)n->size * nb__dtype_size((nb_dtype)n->dtype);
    if (bytes) memcpy(outputs[j], w->buf[f->out[j]], bytes);
  }
  checkin(f, w);
  return NB_OK;
}
