/* nb_call: the plan is built once at the first call (under the function's
 * lock); workspaces are checked out of a pool, so concurrent callers never
 * share scratch memory and no call after the first allocates. */
#include <string.h>

#include "exec.h"

struct nb__workspace {
  nb__workspace *next;
  unsigned char *mem;
  void         **buf;  /* per node: where its value is during a call */
  const void   **args; /* operand buffers of the node being run */
};

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
  w->mem = nb__malloc(p->bytes + NB__ALIGN);
  w->buf = nb__calloc((size_t)f->nnodes + 1, sizeof *w->buf);
  w->args = nb__calloc((size_t)p->max_src + 1, sizeof *w->args);
  if (!w->mem || !w->buf || !w->args) {
    workspace_free(w);
    return NULL;
  }
  return w;
}

void nb__exec_destroy(nb_fn *f) {
  workspace_free(atomic_exchange(&f->ready, NULL));
  for (nb__workspace *w = f->idle, *next; w; w = next) {
    next = w->next;
    workspace_free(w);
  }
  f->idle = NULL;
  nb__native_unload(f);
  nb__plan_free(f->plan);
  f->plan = NULL;
}

/* the plan, made at the first need; the caller holds f->lock */
static nb__plan *plan_locked(nb_fn *f) {
  if (!f->plan) f->plan = nb__plan_new(f);
  return f->plan;
}

nb__plan *nb__plan_get(nb_fn *f) {
  pthread_mutex_lock(&f->lock);
  nb__plan *p = plan_locked(f);
  pthread_mutex_unlock(&f->lock);
  return p;
}

int64_t nb_fn_workspace_bytes(nb_fn *f) {
  if (!f) return nb__null_arg("nb_fn_workspace_bytes"), -1;
  nb__plan *p = nb__plan_get(f);
  if (!p) return nb__nomem("nb_fn_workspace_bytes"), -1;
  return (int64_t)p->bytes;
}

/* Takes a workspace (making the plan and the workspace when needed), and
 * tells whether native code runs the function. A workspace in f->ready
 * needs no lock: it exists only once the plan does, and taking it (acquire)
 * sees everything done before it was given back (release). */
static nb__workspace *checkout(nb_fn *f, nb__native_fn *native) {
  nb__workspace *w = atomic_exchange_explicit(&f->ready, NULL, memory_order_acquire);
  *native = atomic_load_explicit(&f->native, memory_order_acquire);
  if (w) return w;
  pthread_mutex_lock(&f->lock);
  if (plan_locked(f)) {
    w = f->idle;
    if (w) f->idle = w->next;
    else w = workspace_new(f, f->plan);
  }
  pthread_mutex_unlock(&f->lock);
  return w;
}

static void checkin(nb_fn *f, nb__workspace *w) {
  nb__workspace *none = NULL;
  if (atomic_compare_exchange_strong_explicit(&f->ready, &none, w, memory_order_release, memory_order_relaxed))
    return;
  pthread_mutex_lock(&f->lock);
  w->next = f->idle;
  f->idle = w;
  pthread_mutex_unlock(&f->lock);
}

/* every node's buffer for this call (temporaries have none) */
static void bind(const nb_fn *f, const nb__plan *p, nb__workspace *w, unsigned char *base,
                 const void *const *inputs, void *const *outputs) {
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__home *h = &p->home[i];
    switch (h->kind) {
    case NB__HOME_WS: w->buf[i] = base + h->offset; break;
    case NB__HOME_IN: w->buf[i] = (void *)inputs[h->index]; break;
    case NB__HOME_OUT: w->buf[i] = outputs[h->index]; break;
    case NB__HOME_CONST: w->buf[i] = (void *)f->nodes[i].n.p.data; break;
    case NB__HOME_ALIAS: /* an alias, or a view at an offset */
      w->buf[i] = w->buf[f->nodes[i].src[0]] ? (unsigned char *)w->buf[f->nodes[i].src[0]] + h->offset : NULL;
      break;
    default: w->buf[i] = NULL; break;
    }
  }
}

/* a transpose read through by products is not run: its buffer is its
 * operand's, which the products read with swapped strides */
static void run_node(const nb_fn *f, const nb__plan *p, nb__workspace *w, unsigned char *base, int32_t i) {
  const nb__fnode *node = &f->nodes[i];
  if (p->through[i] == NB__THROUGH_SWAP) return;
  for (int s = 0; s < node->n.nsrc; s++) w->args[s] = w->buf[node->src[s]];
  const nb__node *const *srcs = p->srcs + p->first[i];
  if (node->n.op == NB_OP_MATMUL) {
    bool swap[2] = {p->through[node->src[0]] == NB__THROUGH_SWAP, p->through[node->src[1]] == NB__THROUGH_SWAP};
    void *scratch = p->scratch[i] >= 0 ? base + p->scratch[i] : NULL;
    nb__matmul_swapped(&node->n, srcs, w->buf[i], w->args, swap, scratch);
    return;
  }
  nb__prims[node->n.op]->eval(&node->n, srcs, w->buf[i], w->args);
}

typedef struct group_run {
  const nb_fn         *f;
  const nb__plan      *p;
  const nb__workspace *w;
  unsigned char       *base;
  const nb__group     *g;
} group_run;

/* where node i's elements from b0 on are: its temporary, or its buffer */
static void *block_of(const group_run *r, unsigned char *temps, int32_t i, int64_t b0) {
  const nb__home *h = &r->p->home[i];
  size_t          esz = nb__dtype_size((nb_dtype)r->f->nodes[i].n.dtype);
  return h->kind == NB__HOME_TEMP ? (void *)(temps + (size_t)h->index * NB__BLOCK * 8)
                                  : (void *)((unsigned char *)r->w->buf[i] + (size_t)b0 * esz);
}

/* block b of a sink's operand x: its partial, or folded into its accumulators */
static void sink_block(const nb__node *n, const nb__node *x, const void *block, int64_t b, int64_t len,
                       double *sink) {
  if (nb__sink_partials(n, x)) sink[b] = nb__reduce_block(n, block, len);
  else nb__reduce_rows(n, x, block, b * NB__BLOCK, len, sink);
}

/* before a group (start) or after it: each sink's accumulators, or its value */
static void sinks_around(const nb_fn *f, const nb__plan *p, const nb__workspace *w, unsigned char *base,
                         const nb__group *g, bool start) {
  double *sink = (double *)(base + g->partials);
  for (int32_t k = 0; k < g->count && g->nsink; k++) {
    int32_t         m = p->members[g->first + k];
    const nb__node *n = &f->nodes[m].n, *x = p->srcs[p->first[m]];
    if (!nb__is_reduction(n->op)) continue;
    if (nb__sink_partials(n, x)) {
      if (!start) nb__reduce_partials(n, sink, nb__blocks(x->size), w->buf[m]);
    } else if (start) {
      nb__reduce_start(n, sink);
    } else {
      nb__reduce_finish(n, sink, w->buf[m]);
    }
    sink += nb__sink_doubles(n, x);
  }
}

/* blocks [lo, hi) of a fused group; each part has its own temporaries */
static void group_blocks(void *ctx, int part, int64_t lo, int64_t hi) {
  const group_run *r = ctx;
  const nb__group *g = r->g;
  const nb__plan  *p = r->p;
  unsigned char   *temps = r->base + g->temp_offset + (size_t)part * g->ntemp * NB__BLOCK * 8;
  const void      *args[3];
  for (int64_t b = lo; b < hi; b++) {
    int64_t b0 = b * NB__BLOCK, len = g->size - b0 < NB__BLOCK ? g->size - b0 : NB__BLOCK;
    double *sinks = (double *)(r->base + g->partials);
    for (int32_t k = 0; k < g->count; k++) {
      int32_t          m = p->members[g->first + k];
      const nb__fnode *node = &r->f->nodes[m];
      if (nb__is_reduction(node->n.op)) {
        sink_block(&node->n, p->srcs[p->first[m]], block_of(r, temps, node->src[0], b0), b, len, sinks);
        sinks += nb__sink_doubles(&node->n, p->srcs[p->first[m]]);
        continue;
      }
      if (node->n.op == NB_OP_BROADCAST) { /* read from its operand's whole buffer */
        nb__broadcast_block(&node->n, p->srcs[p->first[m]], r->w->buf[node->src[0]],
                            block_of(r, temps, m, b0), b0, len);
        continue;
      }
      for (int s = 0; s < node->n.nsrc; s++) args[s] = block_of(r, temps, node->src[s], b0);
      void *out = block_of(r, temps, m, b0);
      if (len == node->n.size) { /* a one-block group: no copy of the node */
        nb__prims[node->n.op]->eval(&node->n, p->srcs + p->first[m], out, args);
        continue;
      }
      nb__node blk = node->n;
      blk.size = len;
      nb__prims[blk.op]->eval(&blk, p->srcs + p->first[m], out, args);
    }
  }
}

/* a fused group, block by block: temporaries live in L1-sized blocks */
static void run_group(const nb_fn *f, const nb__plan *p, nb__workspace *w, unsigned char *base,
                      const nb__group *g) {
  group_run r = {f, p, w, base, g};
  int64_t   blocks = (g->size + NB__BLOCK - 1) / NB__BLOCK;
  sinks_around(f, p, w, base, g, true);
  if (g->parts > 1) nb__parallel_for(blocks, group_blocks, &r);
  else group_blocks(&r, 0, 0, blocks);
  sinks_around(f, p, w, base, g, false);
}

static unsigned char *aligned_base(const nb__workspace *w) {
  return (unsigned char *)(((uintptr_t)w->mem + NB__ALIGN - 1) / NB__ALIGN * NB__ALIGN);
}

static void run(const nb_fn *f, const nb__plan *p, nb__workspace *w, const void *const *inputs,
                void *const *outputs) {
  unsigned char *base = aligned_base(w);
  bind(f, p, w, base, inputs, outputs);
  for (int32_t s = 0; s < p->nsteps; s++) {
    nb__step st = p->steps[s];
    if (st.node >= 0) run_node(f, p, w, base, st.node);
    else run_group(f, p, w, base, &p->groups[st.group]);
  }
  /* outputs that did not live in the caller's buffer */
  for (int j = 0; j < f->nout; j++) {
    const nb__node *n = &f->nodes[f->out[j]].n;
    size_t          bytes = (size_t)n->size * nb__dtype_size((nb_dtype)n->dtype);
    if (bytes && w->buf[f->out[j]] != outputs[j]) memcpy(outputs[j], w->buf[f->out[j]], bytes);
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
  nb__native_fn  native;
  nb__workspace *w = checkout(f, &native);
  if (!w) return nb__nomem(api);
  if (native) native(inputs, outputs, aligned_base(w), nb__native_par, NULL);
  else run(f, f->plan, w, inputs, outputs);
  checkin(f, w);
  return NB_OK;
}
