/* Closed functions: nb_fn_new copies the nodes the outputs need, in
 * topological order, into a self-contained array. */
#include <string.h>

#include "../internal.h"

static nb_status check_inputs(const char *api, nb_graph *g, int nin, nb_expr *const *inputs) {
  for (int i = 0; i < nin; i++) {
    nb_expr *x = inputs[i];
    if (!x) return nb__null_arg(api);
    if (x->g != g) return nb__fail(NB_ERR_ARG, "%s: input %d belongs to another graph", api, i);
    if (x->n.op != NB_OP_INPUT)
      return nb__fail(NB_ERR_ARG, "%s: input %d is not an nb_input expression", api, i);
    for (int j = 0; j < i; j++)
      if (inputs[j] == x)
        return nb__fail(NB_ERR_ARG, "%s: input %d repeats input %d", api, i, j);
  }
  return NB_OK;
}

static nb_status check_outputs(const char *api, nb_graph *g, int nout, nb_expr *const *outputs) {
  for (int i = 0; i < nout; i++) {
    if (!outputs[i]) return nb__null_arg(api);
    if (outputs[i]->g != g)
      return nb__fail(NB_ERR_ARG, "%s: output %d belongs to another graph", api, i);
  }
  return NB_OK;
}

/* Marks what the outputs need (ids are topological, so one backward scan)
 * and checks that every input they reach is listed. */
static nb_status mark_needed(const char *api, nb_graph *g, uint8_t *mark, int nin,
                             nb_expr *const *inputs, int nout, nb_expr *const *outputs) {
  for (int i = 0; i < nout; i++) mark[outputs[i]->id] = 1;
  for (uint32_t id = g->nnodes; id-- > 0;) {
    nb_expr *e = g->nodes[id];
    if (!mark[id]) continue;
    for (int s = 0; s < e->n.nsrc; s++) mark[e->src[s]->id] = 1;
  }
  for (int i = 0; i < nin; i++) mark[inputs[i]->id] |= 2;
  for (uint32_t id = 0; id < g->nnodes; id++) {
    nb_expr *e = g->nodes[id];
    if (mark[id] == 1 && e->n.op == NB_OP_INPUT)
      return nb__fail(NB_ERR_ARG, "%s: an output depends on input \"%s\", which is not among the inputs",
                      api, (const char *)e->n.p.data);
  }
  return NB_OK;
}

static nb_status copy_nodes(nb_fn *f, nb_graph *g, const uint8_t *mark, int32_t *map) {
  int32_t n = 0;
  for (uint32_t id = 0; id < g->nnodes; id++)
    if (mark[id]) map[id] = n++;
  f->nodes = nb__arena_alloc(&f->arena, (size_t)n * sizeof *f->nodes);
  if (!f->nodes) return NB_ERR_NOMEM;
  f->nnodes = n;
  for (uint32_t id = 0; id < g->nnodes; id++) {
    if (!mark[id]) continue;
    nb_expr   *e = g->nodes[id];
    nb__fnode *d = &f->nodes[map[id]];
    d->n = e->n;
    d->src = NULL;
    if (e->n.nsrc) {
      d->src = nb__arena_alloc(&f->arena, (size_t)e->n.nsrc * sizeof *d->src);
      if (!d->src) return NB_ERR_NOMEM;
      for (int s = 0; s < e->n.nsrc; s++) d->src[s] = map[e->src[s]->id];
    }
    if (e->n.p.nbytes && !(d->n.p.data = nb__arena_dup(&f->arena, e->n.p.data, e->n.p.nbytes)))
      return NB_ERR_NOMEM;
  }
  return NB_OK;
}

nb_fn *nb_fn_new(nb_graph *g, int nin, nb_expr *const *inputs, int nout, nb_expr *const *outputs) {
  const char *api = "nb_fn_new";
  if (!g) return nb__null_arg(api), NULL;
  if (nin < 0 || nout < 0 || (nin && !inputs) || (nout && !outputs))
    return nb__fail(NB_ERR_ARG, "%s: invalid input/output lists (nin %d, nout %d)", api, nin, nout), NULL;
  if (check_inputs(api, g, nin, inputs) || check_outputs(api, g, nout, outputs)) return NULL;
  uint8_t *mark = nb__calloc(g->nnodes ? g->nnodes : 1, 1);
  int32_t *map = nb__calloc(g->nnodes ? g->nnodes : 1, sizeof *map);
  nb_fn   *f = nb__calloc(1, sizeof *f);
  nb_status st = (!mark || !map || !f) ? nb__nomem(api) : NB_OK;
  if (!st) st = mark_needed(api, g, mark, nin, inputs, nout, outputs);
  if (!st) {
    f->nin = nin, f->nout = nout;
    f->in = nb__arena_alloc(&f->arena, (size_t)nin * sizeof *f->in);
    f->out = nb__arena_alloc(&f->arena, (size_t)nout * sizeof *f->out);
    if (!f->in || !f->out || copy_nodes(f, g, mark, map)) st = nb__nomem(api);
  }
  if (!st) {
    for (int i = 0; i < nin; i++) f->in[i] = map[inputs[i]->id];
    for (int i = 0; i < nout; i++) f->out[i] = map[outputs[i]->id];
    atomic_init(&f->ready, NULL);
    atomic_init(&f->native, NULL);
    if (pthread_mutex_init(&f->lock, NULL)) st = nb__nomem(api);
  }
  nb__free(mark);
  nb__free(map);
  if (st && f) {
    nb__arena_free(&f->arena);
    nb__free(f);
    return NULL;
  }
  return f;
}

void nb_fn_free(nb_fn *f) {
  if (!f) return;
  nb__exec_destroy(f);
  pthread_mutex_destroy(&f->lock);
  nb__arena_free(&f->arena);
  nb__free(f);
}

int64_t nb_fn_node_count(const nb_fn *f) {
  if (!f) return nb__null_arg("nb_fn_node_count"), -1;
  return f->nnodes;
}

/* ---- signature ---- */
int nb_fn_nin(const nb_fn *f) {
  if (!f) return nb__null_arg("nb_fn_nin"), -1;
  return f->nin;
}

int nb_fn_nout(const nb_fn *f) {
  if (!f) return nb__null_arg("nb_fn_nout"), -1;
  return f->nout;
}

static const nb__node *port(const char *api, const nb_fn *f, int i, bool out) {
  if (!f) return nb__null_arg(api), NULL;
  int n = out ? f->nout : f->nin;
  if (i < 0 || i >= n)
    return nb__fail(NB_ERR_ARG, "%s: %s %d out of range [0, %d)", api, out ? "output" : "input",
                    i, n), NULL;
  return &f->nodes[out ? f->out[i] : f->in[i]].n;
}

#define NB__PORT_QUERIES(kind, isout)                                                    \
  nb_dtype nb_fn_##kind##_dtype(const nb_fn *f, int i) {                                 \
    const nb__node *n = port("nb_fn_" #kind "_dtype", f, i, isout);                      \
    return n ? (nb_dtype)n->dtype : (nb_dtype)0;                                         \
  }                                                                                      \
  int nb_fn_##kind##_rank(const nb_fn *f, int i) {                                       \
    const nb__node *n = port("nb_fn_" #kind "_rank", f, i, isout);                       \
    return n ? n->rank : -1;                                                             \
  }                                                                                      \
  const int64_t *nb_fn_##kind##_shape(const nb_fn *f, int i) {                           \
    const nb__node *n = port("nb_fn_" #kind "_shape", f, i, isout);                      \
    return n ? n->shape : NULL;                                                          \
  }                                                                                      \
  int64_t nb_fn_##kind##_size(const nb_fn *f, int i) {                                   \
    const nb__node *n = port("nb_fn_" #kind "_size", f, i, isout);                       \
    return n ? n->size : -1;                                                             \
  }
NB__PORT_QUERIES(in, false)
NB__PORT_QUERIES(out, true)

/* ---- tracing ---- */
nb_fn *nb_trace(nb_build build, void *user, int nin, const nb_spec *inputs, int nout) {
  const char *api = "nb_trace";
  if (!build || nin < 0 || nout < 0 || (nin && !inputs))
    return nb__fail(NB_ERR_ARG, "%s: invalid arguments (build %s, nin %d, nout %d)", api,
                    build ? "set" : "NULL", nin, nout), NULL;
  nb_graph *g = nb_graph_new();
  nb_expr **xs = nb__calloc((size_t)nin + 1, sizeof *xs);
  nb_expr **ys = nb__calloc((size_t)nout + 1, sizeof *ys);
  nb_fn    *f = NULL;
  if (!g || !xs || !ys) {
    nb__nomem(api);
    goto done;
  }
  for (int i = 0; i < nin; i++)
    if (!(xs[i] = nb_input(g, inputs[i].name, inputs[i].dtype, inputs[i].rank, inputs[i].shape)))
      goto done;
  nb_status st = build(g, xs, ys, user);
  if (st) {
    if (nb_errcode() != st) nb__fail(st, "%s: build callback failed (%s)", api, nb_status_str(st));
    goto done;
  }
  for (int i = 0; i < nout; i++)
    if (!ys[i]) {
      nb__fail(NB_ERR_ARG, "%s: build left output %d NULL", api, i);
      goto done;
    }
  f = nb_fn_new(g, nin, xs, nout, ys);
done:
  nb__free(xs);
  nb__free(ys);
  nb_graph_free(g);
  return f;
}
