/* The graph builder: node creation through one funnel (nb__emit), with
 * interning (hash-consing) so equal expressions are created once. */
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

nb_graph *nb_graph_new(void) {
  nb_graph *g = nb__calloc(1, sizeof *g);
  if (!g) nb__nomem("nb_graph_new");
  return g;
}

void nb_graph_free(nb_graph *g) {
  if (!g) return;
  nb__arena_free(&g->arena);
  nb__free(g->nodes);
  nb__free(g->htab);
  nb__free(g);
}

/* ---- interning ---- */
static uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
  return h;
}

static uint64_t hash_node(const nb__node *n, nb_expr *const *src) {
  uint64_t h = mix(n->op, ((uint64_t)n->dtype << 16) | ((uint64_t)n->rank << 8) | n->weak);
  for (int i = 0; i < n->rank; i++) h = mix(h, (uint64_t)n->shape[i]);
  for (int i = 0; i < NB_MAX_RANK; i++) h = mix(h, (uint64_t)n->p.i[i]);
  uint64_t d;
  memcpy(&d, &n->p.d, sizeof d);
  h = mix(h, d);
  const unsigned char *bytes = n->p.data;
  for (size_t i = 0; i < n->p.nbytes; i++) h = mix(h, bytes[i]);
  for (int i = 0; i < n->nsrc; i++) h = mix(h, src[i]->id);
  return h;
}

static bool same_node(const nb_expr *e, const nb__node *n, nb_expr *const *src) {
  const nb__node *m = &e->n;
  if (m->op != n->op || m->dtype != n->dtype || m->weak != n->weak || m->nsrc != n->nsrc ||
      !nb__same_shape(m->rank, m->shape, n->rank, n->shape) ||
      memcmp(m->p.i, n->p.i, sizeof n->p.i) || memcmp(&m->p.d, &n->p.d, sizeof n->p.d) ||
      m->p.nbytes != n->p.nbytes || (n->p.nbytes && memcmp(m->p.data, n->p.data, n->p.nbytes)))
    return false;
  for (int i = 0; i < n->nsrc; i++)
    if (e->src[i] != src[i]) return false;
  return true;
}

/* Grows the table; on allocation failure interning just becomes less
 * effective, which is still correct. */
static void grow_table(nb_graph *g) {
  uint32_t  cap = g->hcap ? g->hcap * 2 : 256;
  nb_expr **t = nb__calloc(cap, sizeof *t);
  if (!t) return;
  for (uint32_t i = 0; i < g->hcap; i++) {
    for (nb_expr *e = g->htab[i], *next; e; e = next) {
      next = e->hnext;
      uint64_t h = hash_node(&e->n, e->src) & (cap - 1);
      e->hnext = t[h];
      t[h] = e;
    }
  }
  nb__free(g->htab);
  g->htab = t;
  g->hcap = cap;
}

static bool reserve_node(nb_graph *g) {
  if (g->nnodes < g->cap) return true;
  if (g->cap >= UINT32_MAX / 2) return false;
  uint32_t  cap = g->cap ? g->cap * 2 : 64;
  nb_expr **n = nb__realloc(g->nodes, (size_t)cap * sizeof *n);
  if (!n) return false;
  g->nodes = n;
  g->cap = cap;
  return true;
}

nb_graph *nb__operands(const char *api, int n, nb_expr *const *xs) {
  if (!xs) return nb__null_arg(api), NULL;
  for (int i = 0; i < n; i++)
    if (!xs[i]) return nb__null_arg(api), NULL;
  for (int i = 1; i < n; i++)
    if (xs[i]->g != xs[0]->g)
      return nb__fail(NB_ERR_ARG, "%s: operands belong to different graphs", api), NULL;
  return n ? xs[0]->g : NULL;
}

static nb_expr *create(const char *api, nb_graph *g, const nb__node *n, nb_expr *const *src,
                       uint64_t h) {
  if (!reserve_node(g)) return nb__nomem(api), NULL;
  nb_expr *e = nb__arena_alloc(&g->arena, sizeof *e);
  nb_expr **s = n->nsrc ? nb__arena_dup(&g->arena, src, (size_t)n->nsrc * sizeof *src) : NULL;
  void *data = n->p.nbytes ? nb__arena_dup(&g->arena, n->p.data, n->p.nbytes) : NULL;
  if (!e || (n->nsrc && !s) || (n->p.nbytes && !data)) return nb__nomem(api), NULL;
  e->n = *n;
  e->n.p.data = data;
  e->g = g;
  e->src = s;
  e->id = g->nnodes;
  g->nodes[g->nnodes++] = e;
  e->hnext = NULL;
  if (!(nb__prims[n->op]->flags & NB__NO_INTERN)) {
    if (g->hcount >= g->hcap / 2) grow_table(g);
    if (g->hcap) {
      uint32_t b = (uint32_t)(h & (g->hcap - 1));
      e->hnext = g->htab[b];
      g->htab[b] = e;
      g->hcount++;
    }
  }
  return e;
}

enum { SMALL_ARITY = 16 };

nb_expr *nb__emit(const char *api, nb_graph *g, const nb__node *proto, int nsrc,
                  nb_expr *const *src) {
  if (nsrc > 0) {
    nb_graph *sg = nb__operands(api, nsrc, src);
    if (!sg) return NULL;
    if (g && g != sg)
      return nb__fail(NB_ERR_ARG, "%s: operands belong to different graphs", api), NULL;
    g = sg;
  }
  if (!g) return nb__null_arg(api), NULL;
  const nb__prim *row = nb__prims[proto->op];
  nb__node        n = *proto;
  n.nsrc = nsrc;
  const nb__node *small[SMALL_ARITY] = {0}, **sn = small;
  if (nsrc > SMALL_ARITY && !(sn = nb__calloc((size_t)nsrc, sizeof *sn)))
    return nb__nomem(api), NULL;
  for (int i = 0; i < nsrc; i++) sn[i] = &src[i]->n;
  nb_status st = row->infer(api, &n, sn);
  if (sn != small) nb__free(sn);
  if (st) return NULL;
  if (nb__check_shape(api, n.dtype, n.rank, n.shape, &n.size)) return NULL;
  nb_expr *simpler;
  if (nb__simplify(api, g, &n, src, &simpler)) return simpler;
  uint64_t h = hash_node(&n, src);
  if (!(row->flags & NB__NO_INTERN) && g->hcap)
    for (nb_expr *e = g->htab[h & (g->hcap - 1)]; e; e = e->hnext)
      if (same_node(e, &n, src)) return e;
  return create(api, g, &n, src, h);
}

nb_expr *nb__op1(const char *api, int op, nb_expr *x, const nb__params *p) {
  nb__node n = {.op = (uint16_t)op};
  if (p) n.p = *p;
  return nb__emit(api, NULL, &n, 1, &x);
}

nb_expr *nb__op2(const char *api, int op, nb_expr *a, nb_expr *b) {
  nb__node n = {.op = (uint16_t)op};
  nb_expr *s[2] = {a, b};
  return nb__emit(api, NULL, &n, 2, s);
}

/* ---- leaves ---- */
static nb_expr *leaf(const char *api, nb_graph *g, nb__node *n, int dt, int rank,
                     const int64_t *shape) {
  if (!g) return nb__null_arg(api), NULL;
  if (!nb__valid_dtype(dt)) return nb__fail(NB_ERR_ARG, "%s: invalid dtype %d", api, dt), NULL;
  int64_t size;
  if (nb__check_shape(api, (nb_dtype)dt, rank, shape, &size)) return NULL;
  n->dtype = (uint8_t)dt;
  n->rank = (uint8_t)rank;
  if (rank) memcpy(n->shape, shape, (size_t)rank * sizeof *shape);
  return nb__emit(api, g, n, 0, NULL);
}

nb_expr *nb_input(nb_graph *g, const char *name, nb_dtype dt, int rank, const int64_t *shape) {
  nb__node n = {.op = NB_OP_INPUT};
  const char *nm = name ? name : "";
  n.p.data = nm;
  n.p.nbytes = strlen(nm) + 1;
  if (g) n.p.i[0] = g->ninputs;
  nb_expr *e = leaf("nb_input", g, &n, (int)dt, rank, shape);
  if (e) g->ninputs++;
  return e;
}

nb_expr *nb_const(nb_graph *g, nb_dtype dt, int rank, const int64_t *shape, const void *data) {
  const char *api = "nb_const";
  int64_t     size;
  if (!g) return nb__null_arg(api), NULL;
  if (!nb__valid_dtype((int)dt)) return nb__fail(NB_ERR_ARG, "%s: invalid dtype %d", api, (int)dt), NULL;
  if (nb__check_shape(api, dt, rank, shape, &size)) return NULL;
  if (!data && size > 0) return nb__fail(NB_ERR_ARG, "%s: data is NULL", api), NULL;
  nb__node n = {.op = NB_OP_CONST};
  n.p.data = data;
  n.p.nbytes = (size_t)size * nb__dtype_size(dt);
  return leaf(api, g, &n, (int)dt, rank, shape);
}

nb_expr *nb__fill(const char *api, nb_graph *g, nb_dtype dt, int rank, const int64_t *shape,
                  double v, bool weak) {
  nb__node n = {.op = NB_OP_FILL, .weak = weak};
  n.p.d = v;
  return leaf(api, g, &n, (int)dt, rank, shape);
}

nb_expr *nb_full(nb_graph *g, nb_dtype dt, int rank, const int64_t *shape, double value) {
  return nb__fill("nb_full", g, dt, rank, shape, value, false);
}

nb_expr *nb_scalar(nb_graph *g, double value) {
  return nb__fill("nb_scalar", g, NB_F64, 0, NULL, value, true);
}

nb_expr *nb__fill_like(const char *api, const nb_expr *x, double v) {
  if (!x) return NULL;
  return nb__fill(api, x->g, (nb_dtype)x->n.dtype, x->n.rank, x->n.shape, v, x->n.weak);
}

nb_expr *nb__reshape(const char *api, nb_expr *x, int rank, const int64_t *shape) {
  if (!x) return NULL;
  nb__node n = {.op = NB_OP_RESHAPE, .rank = (uint8_t)rank};
  if (rank) memcpy(n.shape, shape, (size_t)rank * sizeof *shape);
  return nb__emit(api, NULL, &n, 1, &x);
}

nb_expr *nb__unreduce(const char *api, nb_expr *r, const nb__node *x, int64_t mask) {
  if (!r) return NULL;
  nb__node n = {.op = NB_OP_BROADCAST, .rank = x->rank};
  memcpy(n.shape, x->shape, sizeof n.shape);
  for (int d = 0, k = 0; d < x->rank; d++)
    if (!((mask >> d) & 1)) n.p.i[k++] = d;
  return nb__emit(api, NULL, &n, 1, &r);
}

/* ---- queries ---- */
nb_dtype nb_expr_dtype(const nb_expr *x) {
  if (!x) return nb__null_arg("nb_expr_dtype"), (nb_dtype)0;
  return (nb_dtype)x->n.dtype;
}

int nb_expr_rank(const nb_expr *x) {
  if (!x) return nb__null_arg("nb_expr_rank"), -1;
  return x->n.rank;
}

const int64_t *nb_expr_shape(const nb_expr *x) {
  if (!x) return nb__null_arg("nb_expr_shape"), NULL;
  return x->n.shape;
}

int64_t nb_expr_size(const nb_expr *x) {
  if (!x) return nb__null_arg("nb_expr_size"), -1;
  return x->n.size;
}

nb_graph *nb_expr_graph(const nb_expr *x) {
  if (!x) return nb__null_arg("nb_expr_graph"), NULL;
  return x->g;
}
