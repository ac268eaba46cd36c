/* Planning a function's execution: fusing elementwise runs into groups,
 * choosing where each value lives, and reusing workspace slots by liveness.
 * Caller buffers are used directly for inputs and outputs. */
#include <string.h>

#include "exec.h"

typedef struct builder {
  const nb_fn *f;
  nb__plan    *p;
  int32_t     *group_of; /* per node: its group, or -1 */
  int32_t     *open;     /* groups not yet emitted */
  int32_t      nopen;
  int32_t     *root;     /* per node: the node owning its buffer (through aliases) */
  int32_t     *step_of;  /* per node: the step computing it */
  int32_t     *last_use; /* per root: the last step reading it */
  int32_t     *next;     /* per node: the next member of its group, or -1 */
  int32_t     *tail;     /* per group: its last member */
  bool        *outside;  /* per node: read by something outside its group */
} builder;

static bool is_alias(const nb__node *n) { return (nb__prims[n->op]->flags & NB__ALIAS) != 0; }

/* a slice that is one contiguous run of its operand (step 1, every axis
 * before the sliced one of length 1) is a view: its operand's buffer at an
 * offset, with no copy */
static bool is_view(const nb_fn *f, int32_t i, int64_t *offset) {
  const nb__node *n = &f->nodes[i].n;
  if (n->op != NB_OP_SLICE || n->p.i[3] != 1) return false;
  const nb__node *x = &f->nodes[f->nodes[i].src[0]].n;
  int64_t         inner = 1, axis = n->p.i[0];
  for (int d = 0; d < axis; d++)
    if (x->shape[d] != 1) return false;
  for (int d = (int)axis + 1; d < x->rank; d++) inner *= x->shape[d];
  *offset = n->p.i[1] * inner * (int64_t)nb__dtype_size((nb_dtype)x->dtype);
  return true;
}

/* aliases and views own no buffer */
static bool shares_buffer(const nb_fn *f, int32_t i) {
  int64_t off;
  return is_alias(&f->nodes[i].n) || is_view(f, i, &off);
}
static bool is_leaf_data(const nb__node *n) { return n->op == NB_OP_INPUT || n->op == NB_OP_CONST; }

/* A broadcast whose operand's index is affine along runs of at least
 * NB__BROADCAST_RUN elements is computed block by block inside a group (a
 * fill or copy per run in the interpreter; an index of one multiply-add per
 * element, and a few divisions per run, in generated code). */
static bool fusible_broadcast(const nb_fn *f, int32_t i) {
  const nb__node *n = &f->nodes[i].n;
  int64_t         ext[NB_MAX_RANK], str[NB_MAX_RANK];
  if (n->op != NB_OP_BROADCAST) return false;
  const nb__node *x = &f->nodes[f->nodes[i].src[0]].n;
  if (x->size >= n->size) return false;
  return ext[nb__broadcast_levels(n, x, ext, str) - 1] >= NB__BROADCAST_RUN;
}

/* elementwise nodes with a kernel fuse; so do fills and broadcasts
 * (computed per block) */
static bool fusible(const nb_fn *f, int32_t i) {
  const nb__node *n = &f->nodes[i].n;
  const nb__prim *row = nb__prims[n->op];
  return n->op == NB_OP_FILL || fusible_broadcast(f, i) ||
         ((row->flags & NB__ELEMENTWISE) && row->eval && !is_alias(n));
}

/* Pads whose value is one contiguous run inside zeros (no interior padding,
 * only unit axes before the padded one), read only by fused elementwise
 * nodes and not an output: generated code reads their operand with a guard
 * instead of making the padded copy (emit/c_fused.c). */
static bool guardable_pad(const nb__node *n) {
  bool ok = n->op == NB_OP_PAD && n->p.i[3] == 0;
  for (int d = 0; ok && d < n->p.i[0]; d++) ok = n->shape[d] == 1;
  return ok;
}

/* Transposes of the last two axes read only by matmuls, as the left operand
 * or as a right operand of at least 32 rows (generated code then writes the
 * product as dot products along the operand's rows), and not an output: they
 * are never made, the products read their operand with the two strides
 * swapped (exec/call.c, emit/c_nests.c). */
static bool swaps_last_two(const nb__node *n) {
  bool ok = n->op == NB_OP_TRANSPOSE && n->rank >= 2;
  for (int d = 0; ok && d < n->rank - 2; d++) ok = n->p.i[d] == d;
  return ok && n->p.i[n->rank - 2] == n->rank - 1 && n->p.i[n->rank - 1] == n->rank - 2;
}

static bool reads_through(const nb_fn *f, uint8_t kind, int32_t reader, int s) {
  const nb__node *n = &f->nodes[reader].n, *x = &f->nodes[f->nodes[reader].src[s]].n;
  if (kind == NB__THROUGH_GUARD) return (nb__prims[n->op]->flags & NB__ELEMENTWISE) && fusible(f, reader);
  return n->op == NB_OP_MATMUL && (s == 0 || x->shape[x->rank - 2] >= 32);
}

/* the nodes generated code reads through (plan->through); the plan keeps
 * their operands alive as long as their readers */
static void mark_through(const nb_fn *f, uint8_t *mark) {
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__node *n = &f->nodes[i].n;
    mark[i] = guardable_pad(n) ? NB__THROUGH_GUARD : swaps_last_two(n) ? NB__THROUGH_SWAP : 0;
  }
  for (int j = 0; j < f->nout; j++) mark[f->out[j]] = 0;
  for (int32_t i = 0; i < f->nnodes; i++)
    for (int s = 0; s < f->nodes[i].n.nsrc; s++) {
      int32_t src = f->nodes[i].src[s];
      if (mark[src] && !reads_through(f, mark[src], i, s)) mark[src] = 0;
    }
}

static int64_t bytes_of(const nb__node *n) { return n->size * (int64_t)nb__dtype_size((nb_dtype)n->dtype); }

static void emit_step(builder *b, int32_t node, int32_t group) {
  nb__plan *p = b->p;
  p->steps[p->nsteps++] = (nb__step){node, group};
}

/* emits an open group as a step (a lone member runs as a plain node) */
static void close_group(builder *b, int32_t g) {
  nb__plan  *p = b->p;
  nb__group *gr = &p->groups[g];
  for (int32_t k = 0; k < b->nopen; k++)
    if (b->open[k] == g) {
      b->open[k] = b->open[--b->nopen];
      break;
    }
  if (gr->count == 1) { /* before compaction, first is the member itself */
    b->group_of[gr->first] = -1;
    emit_step(b, gr->first, -1);
  } else {
    emit_step(b, -1, g);
  }
}

static bool is_open(const builder *b, int32_t g) {
  for (int32_t k = 0; k < b->nopen; k++)
    if (b->open[k] == g) return true;
  return false;
}

/* a reduction of a member of an open group (of at least two elements)
 * joins that group as a sink (exec.h): its group, or -1 */
static int32_t sink_group(const builder *b, int32_t i) {
  const nb__fnode *node = &b->f->nodes[i];
  if (!nb__is_reduction(node->n.op)) return -1;
  int32_t g = b->group_of[node->src[0]];
  if (g < 0 || !is_open(b, g)) return -1;
  const nb__node *x = &b->f->nodes[node->src[0]].n;
  int64_t         size = b->p->groups[g].size;
  bool            splits = size >= NB__PARALLEL_MIN && !nb__sink_partials(&node->n, x);
  return size >= 2 && x->size == size && !splits ? g : -1;
}

/* a sink's value exists only once its whole group has run */
static bool reads_sink_of(const builder *b, int32_t i, int32_t g) {
  const nb__fnode *node = &b->f->nodes[i];
  for (int s = 0; s < node->n.nsrc; s++)
    if (b->group_of[node->src[s]] == g && nb__is_reduction(b->f->nodes[node->src[s]].n.op)) return true;
  return false;
}

/* Nodes are visited in topological order; each group keeps its members
 * as a list (b->next), turned into ranges of p->members afterwards. */
static void form_groups(builder *b) {
  const nb_fn *f = b->f;
  nb__plan    *p = b->p;
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__fnode *node = &f->nodes[i];
    const nb__node  *n = &node->n;
    b->group_of[i] = -1, b->next[i] = -1;
    if (is_leaf_data(n)) continue;
    /* a consumer outside an open group closes it, unless it joins it */
    int32_t join = -1;
    if (fusible(f, i))
      for (int32_t k = 0; k < b->nopen && join < 0; k++)
        if (p->groups[b->open[k]].size == n->size && !reads_sink_of(b, i, b->open[k])) join = b->open[k];
    bool sink = join < 0 && (join = sink_group(b, i)) >= 0;
    for (int s = 0; s < n->nsrc; s++) {
      int32_t g = b->group_of[node->src[s]];
      if (g >= 0 && g != join && is_open(b, g)) close_group(b, g);
    }
    if (join >= 0 && !is_open(b, join)) join = -1;
    if (shares_buffer(f, i)) continue;
    if (!fusible(f, i) && !sink) {
      emit_step(b, i, -1);
      continue;
    }
    if (join < 0) {
      join = p->ngroups++;
      p->groups[join] = (nb__group){.first = i, .size = n->size};
      b->open[b->nopen++] = join;
    } else {
      b->next[b->tail[join]] = i;
    }
    b->tail[join] = i;
    p->groups[join].count++;
    p->groups[join].nsink += sink;
    b->group_of[i] = join;
  }
  while (b->nopen) close_group(b, b->open[b->nopen - 1]);
}

/* turns each group's member list into a range of p->members */
static void compact_members(builder *b) {
  nb__plan *p = b->p;
  int32_t   at = 0;
  for (int32_t g = 0; g < p->ngroups; g++) {
    nb__group *gr = &p->groups[g];
    int32_t    m = gr->first;
    gr->first = at;
    for (; m >= 0; m = b->next[m]) p->members[at++] = m;
  }
}

/* the node owning the buffer i lives in (through aliases and views) */
static int32_t root_of(const builder *b, int32_t i) {
  const nb_fn *f = b->f;
  while (shares_buffer(f, i)) i = f->nodes[i].src[0];
  return i;
}

/* the same through aliases only: a buffer of exactly i's bytes */
static int32_t whole_root_of(const builder *b, int32_t i) {
  const nb_fn *f = b->f;
  while (is_alias(&f->nodes[i].n)) i = f->nodes[i].src[0];
  return i;
}

/* marks the nodes read by a node of another group (or by an alias) */
static void mark_outside(builder *b) {
  const nb_fn *f = b->f;
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__fnode *node = &f->nodes[i];
    for (int s = 0; s < node->n.nsrc; s++) {
      int32_t m = node->src[s];
      if (b->group_of[m] < 0 || b->group_of[i] != b->group_of[m] || shares_buffer(f, i))
        b->outside[m] = true;
    }
  }
}

/* Temporaries of a group share block buffers by liveness: a temporary's
 * block is free again after the last member that reads it. (b->step_of is
 * borrowed as scratch: it is filled later by liveness().) */
static void number_temps(builder *b, nb__group *gr) {
  const nb_fn *f = b->f;
  nb__plan    *p = b->p;
  int32_t     *last = b->step_of, *free_list = b->last_use, nfree = 0;
  for (int32_t k = 0; k < gr->count; k++) {
    const nb__fnode *node = &f->nodes[p->members[gr->first + k]];
    for (int s = 0; s < node->n.nsrc; s++) last[node->src[s]] = k;
  }
  for (int32_t k = 0; k < gr->count; k++) {
    int32_t m = p->members[gr->first + k];
    if (p->home[m].kind == NB__HOME_TEMP)
      p->home[m].index = nfree ? free_list[--nfree] : gr->ntemp++;
    /* operands whose last reader is this member give their block back;
       after the member's own block is taken, since it writes while reading */
    const nb__fnode *node = &f->nodes[m];
    for (int s = 0; s < node->n.nsrc; s++) {
      int32_t src = node->src[s];
      bool    seen = false;
      for (int t = 0; t < s; t++) seen = seen || node->src[t] == src;
      if (!seen && p->home[src].kind == NB__HOME_TEMP && last[src] == k)
        free_list[nfree++] = p->home[src].index;
    }
  }
}

/* homes: inputs, constants and aliases first, then outputs take the
 * caller's buffer, then group members that stay inside become temporaries */
static bool assign_homes(builder *b) {
  const nb_fn *f = b->f;
  nb__plan    *p = b->p;
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__node *n = &f->nodes[i].n;
    p->home[i] = (nb__home){NB__HOME_WS, -1, -1};
    if (n->op == NB_OP_INPUT) p->home[i].kind = NB__HOME_NONE;
    if (n->op == NB_OP_CONST) p->home[i].kind = NB__HOME_CONST;
    if (shares_buffer(f, i) || p->through[i] == NB__THROUGH_SWAP) { /* a swap: read in place */
      p->home[i].kind = NB__HOME_ALIAS;
      p->home[i].offset = 0;
      is_view(f, i, &p->home[i].offset);
    }
  }
  for (int k = 0; k < f->nin; k++) p->home[f->in[k]] = (nb__home){NB__HOME_IN, k, -1};
  for (int j = 0; j < f->nout; j++) {
    int32_t r = whole_root_of(b, f->out[j]);
    if (p->home[r].kind == NB__HOME_WS && p->home[r].index < 0) p->home[r] = (nb__home){NB__HOME_OUT, j, -1};
  }
  bool *is_out = nb__calloc((size_t)f->nnodes + 1, 1);
  if (!is_out) return false;
  for (int j = 0; j < f->nout; j++) is_out[f->out[j]] = true;
  for (int32_t g = 0; g < p->ngroups; g++) {
    nb__group *gr = &p->groups[g];
    if (gr->count < 2) continue;
    for (int32_t k = 0; k < gr->count; k++) {
      int32_t m = p->members[gr->first + k];
      if (p->home[m].kind == NB__HOME_WS && !is_out[m] && !b->outside[m] && !nb__is_reduction(f->nodes[m].n.op))
        p->home[m] = (nb__home){NB__HOME_TEMP, -1, -1};
    }
    number_temps(b, gr);
  }
  nb__free(is_out);
  return true;
}

/* the step that computes each node, and the last step that reads each buffer */
static void liveness(builder *b) {
  const nb_fn *f = b->f;
  nb__plan    *p = b->p;
  for (int32_t i = 0; i < f->nnodes; i++) b->step_of[i] = -1, b->last_use[i] = -1;
  for (int32_t s = 0; s < p->nsteps; s++) {
    nb__step st = p->steps[s];
    if (st.node >= 0) b->step_of[st.node] = s;
    else
      for (int32_t k = 0; k < p->groups[st.group].count; k++)
        b->step_of[p->members[p->groups[st.group].first + k]] = s;
  }
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__fnode *node = &f->nodes[i];
    int32_t          s = b->step_of[i];
    if (s < 0) continue;
    for (int k = 0; k < node->n.nsrc; k++) {
      int32_t src = node->src[k], r = root_of(b, src);
      if (s > b->last_use[r]) b->last_use[r] = s;
      if (p->through[src] && s > b->last_use[(r = root_of(b, f->nodes[src].src[0]))]) b->last_use[r] = s;
    }
  }
  /* outputs left in the workspace are copied out after the last step */
  for (int j = 0; j < f->nout; j++) b->last_use[root_of(b, f->out[j])] = p->nsteps;
}

static bool same_bytes_operand(const builder *b, int32_t i, int32_t s, int32_t *reuse) {
  const nb_fn     *f = b->f;
  const nb__fnode *node = &f->nodes[i];
  if (!(nb__prims[node->n.op]->flags & NB__ELEMENTWISE)) return false;
  for (int k = 0; k < node->n.nsrc; k++) {
    int32_t r = whole_root_of(b, node->src[k]);
    if (r == root_of(b, node->src[k]) && b->p->home[r].kind == NB__HOME_WS && b->last_use[r] == s &&
        bytes_of(&f->nodes[r].n) == bytes_of(&node->n) && f->nodes[r].n.dtype == node->n.dtype) {
      *reuse = r;
      return true;
    }
  }
  return false;
}

static bool alloc_node(nb__slots *slots, nb__plan *p, const nb_fn *f, int32_t i) {
  return nb__slots_alloc(slots, bytes_of(&f->nodes[i].n), &p->home[i].offset);
}

/* a blocked product's scratch, for the duration of its step */
static bool scratch(nb__slots *slots, nb__plan *p, const nb_fn *f, int32_t i) {
  int64_t bytes = f->nodes[i].n.op == NB_OP_MATMUL ? nb__matmul_scratch(&f->nodes[i].n, p->srcs + p->first[i]) : 0;
  if (!bytes) return true; /* p->scratch[i] stays -1 */
  return nb__slots_alloc(slots, bytes, &p->scratch[i]) && nb__slots_free(slots, p->scratch[i], bytes);
}

/* workspace slots: allocated at their step, released after their last read
 * (a bucket of buffers per step); a single elementwise node may take over a
 * dying operand's slot */
static bool allocate(builder *b) {
  const nb_fn *f = b->f;
  nb__plan    *p = b->p;
  nb__slots    slots = {0};
  int32_t     *head = nb__calloc((size_t)p->nsteps + 2, sizeof *head);
  int32_t     *link = nb__calloc((size_t)f->nnodes + 1, sizeof *link);
  bool         ok = head && link;
  for (int32_t s = 0; ok && s <= p->nsteps; s++) head[s] = -1;
  for (int32_t i = 0; ok && i < f->nnodes; i++)
    if (p->home[i].kind == NB__HOME_WS && b->last_use[i] >= 0 && b->last_use[i] < p->nsteps)
      link[i] = head[b->last_use[i]], head[b->last_use[i]] = i;
  for (int32_t s = 0; s < p->nsteps && ok; s++) {
    nb__step st = p->steps[s];
    int32_t  reuse = -1;
    if (st.node >= 0 && p->home[st.node].kind == NB__HOME_WS) {
      if (same_bytes_operand(b, st.node, s, &reuse)) {
        p->home[st.node].offset = p->home[reuse].offset;
        b->last_use[reuse] = -2; /* handed over, not freed */
      } else {
        ok = alloc_node(&slots, p, f, st.node);
      }
    }
    if (st.node >= 0 && ok) ok = scratch(&slots, p, f, st.node);
    if (st.group >= 0) {
      nb__group *gr = &p->groups[st.group];
      gr->parts = gr->size >= NB__PARALLEL_MIN ? nb__pool_threads() : 1;
      int64_t temps = (int64_t)gr->ntemp * NB__BLOCK * 8 * gr->parts;
      int64_t partials = 0;
      for (int32_t k = 0; k < gr->count; k++) {
        const nb__fnode *m = &f->nodes[p->members[gr->first + k]];
        if (nb__is_reduction(m->n.op)) partials += nb__sink_doubles(&m->n, &f->nodes[m->src[0]].n) * 8;
      }
      if (gr->ntemp) ok = ok && nb__slots_alloc(&slots, temps, &gr->temp_offset);
      if (gr->nsink) ok = ok && nb__slots_alloc(&slots, partials, &gr->partials);
      for (int32_t k = 0; k < gr->count && ok; k++) {
        int32_t m = p->members[gr->first + k];
        if (p->home[m].kind == NB__HOME_WS) ok = alloc_node(&slots, p, f, m);
      }
      if (gr->ntemp) ok = ok && nb__slots_free(&slots, gr->temp_offset, temps);
      if (gr->nsink) ok = ok && nb__slots_free(&slots, gr->partials, partials);
    }
    for (int32_t i = head[s]; i >= 0 && ok; i = link[i])
      if (b->last_use[i] == s) ok = nb__slots_free(&slots, p->home[i].offset, bytes_of(&f->nodes[i].n));
  }
  p->bytes = (size_t)slots.top;
  nb__slots_done(&slots);
  nb__free(head);
  nb__free(link);
  return ok;
}

void nb__plan_free(nb__plan *p) {
  if (!p) return;
  nb__free(p->steps);
  nb__free(p->groups);
  nb__free(p->members);
  nb__free(p->home);
  nb__free(p->srcs);
  nb__free(p->first);
  nb__free(p->through);
  nb__free(p->scratch);
  nb__free(p);
}

static bool operand_lists(const nb_fn *f, nb__plan *p) {
  int32_t total = 0;
  for (int32_t i = 0; i < f->nnodes; i++) total += f->nodes[i].n.nsrc;
  p->first = nb__calloc((size_t)f->nnodes + 1, sizeof *p->first);
  p->srcs = nb__calloc((size_t)total + 1, sizeof *p->srcs);
  if (!p->first || !p->srcs) return false;
  for (int32_t i = 0, k = 0; i < f->nnodes; i++) {
    const nb__fnode *node = &f->nodes[i];
    p->first[i] = k;
    for (int s = 0; s < node->n.nsrc; s++) p->srcs[k++] = &f->nodes[node->src[s]].n;
    if (node->n.nsrc > p->max_src) p->max_src = node->n.nsrc;
  }
  return true;
}

nb__plan *nb__plan_new(const nb_fn *f) {
  size_t    n = (size_t)f->nnodes + 1;
  nb__plan *p = nb__calloc(1, sizeof *p);
  builder   b = {.f = f, .p = p};
  if (!p) return NULL;
  p->steps = nb__calloc(n, sizeof *p->steps);
  p->groups = nb__calloc(n, sizeof *p->groups);
  p->members = nb__calloc(n, sizeof *p->members);
  p->home = nb__calloc(n, sizeof *p->home);
  p->scratch = nb__calloc(n, sizeof *p->scratch);
  b.group_of = nb__calloc(n, sizeof *b.group_of);
  b.open = nb__calloc(n, sizeof *b.open);
  b.step_of = nb__calloc(n, sizeof *b.step_of);
  b.last_use = nb__calloc(n, sizeof *b.last_use);
  b.next = nb__calloc(n, sizeof *b.next);
  b.tail = nb__calloc(n, sizeof *b.tail);
  b.outside = nb__calloc(n, sizeof *b.outside);
  bool ok = p->steps && p->groups && p->members && p->home && p->scratch && b.group_of && b.open &&
            b.step_of && b.last_use && b.next && b.tail && b.outside && (p->through = nb__calloc(n, 1)) &&
            operand_lists(f, p);
  for (size_t i = 0; ok && i < n; i++) p->scratch[i] = -1;
  if (ok) {
    form_groups(&b);
    compact_members(&b);
    mark_outside(&b);
    mark_through(f, p->through);
    ok = assign_homes(&b);
  }
  if (ok) {
    liveness(&b);
    ok = allocate(&b);
  }
  nb__free(b.group_of);
  nb__free(b.open);
  nb__free(b.step_of);
  nb__free(b.last_use);
  nb__free(b.next);
  nb__free(b.tail);
  nb__free(b.outside);
  if (!ok) nb__plan_free(p), p = NULL;
  return p;
}
