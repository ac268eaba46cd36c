/* The C emitter's fused loops: a group of elementwise nodes is one loop
 * whose members are scalars; cheap elementwise work on the inputs is
 * recomputed where a pad or a reduction reads it; a loop that would hold sin
 * and cos of one value is split into loops over blocks; large loops become
 * functions the entry point may run on threads. */
#include "c_emit.h"

/* where a guarded pad's operand lies in the pad: [*lo, *hi) */
static void pad_run(const emitter *e, int32_t i, int64_t *lo, int64_t *hi) {
  const nb__node *n = node(e, i);
  *lo = n->p.i[1];
  for (int d = (int)n->p.i[0] + 1; d < n->rank; d++) *lo *= n->shape[d];
  *hi = *lo + node(e, src_of(e, i, 0))->size;
}

/* writes `dst = (m's formula over the operands' texts);` */
static void put_compute(const emitter *e, int32_t m, const char *dst, char (*refs)[REF_LEN]) {
  FILE           *o = e->o;
  const nb__node *n = node(e, m);
  const nb__prim *row = nb__prims[n->op];
  int             k;
  if (n->op == NB_OP_BROADCAST) { /* its operand at the row's offset (open_rows) */
    int64_t ext[NB_MAX_RANK], str[NB_MAX_RANK];
    int     last = nb__broadcast_levels(n, node(e, src_of(e, m, 0)), ext, str) - 1;
    fprintf(o, "    %s = v%d[o%d + (i - r0) * %lld];\n", dst, src_of(e, m, 0), m, (long long)str[last]);
  } else if (n->op == NB_OP_FILL) {
    fprintf(o, "    %s = ", dst);
    nb__c_number(o, n->p.d, (nb_dtype)n->dtype);
    fprintf(o, ";\n");
  } else if (n->op == NB_OP_POW && nb__powi_exponent(node(e, src_of(e, m, 1)), &k)) {
    fprintf(o, "    %s = nb_powi%s(%s, %d);\n", dst, n->dtype == NB_F64 ? "64" : "32", refs[0], k);
  } else {
    static const char *const names[3][3] = {{"x"}, {"a", "b"}, {"c", "a", "b"}};
    fprintf(o, "    {");
    for (int s = 0; s < n->nsrc; s++)
      fprintf(o, " const %s %s = %s;", ctype(node(e, src_of(e, m, s))), names[n->nsrc - 1][s], refs[s]);
    fprintf(o, " %s = (%s)(%s); }\n", dst, ctype(n), n->dtype == NB_F64 ? row->c64 : row->c32);
  }
}

static void remat(emitter *e, int32_t i, int64_t lo);

/* operand j of a recomputed node, at index i - lo */
void nb__c_remat_ref(emitter *e, int32_t j, int64_t lo, char *buf) {
  if (e->rec[j]) {
    remat(e, j, lo);
    snprintf(buf, REF_LEN, "r%d_%lld", j, (long long)lo);
  } else {
    snprintf(buf, REF_LEN, "v%d[i - %lld]", j, (long long)lo);
  }
}

/* Recomputes node i at index i - lo inside the current loop, once per loop:
 * a pad's operand that is cheap elementwise work on the inputs is computed
 * where the pad is read rather than stored and read back. */
static bool memo_room(emitter *e) {
  if (e->nmemo < e->memo_cap) return true;
  int32_t  cap = 2 * e->memo_cap + 16;
  int32_t *nodes = nb__realloc(e->memo_node, (size_t)cap * sizeof *nodes);
  if (nodes) e->memo_node = nodes;
  int64_t *offs = nodes ? nb__realloc(e->memo_off, (size_t)cap * sizeof *offs) : NULL;
  if (offs) e->memo_off = offs, e->memo_cap = cap;
  return offs != NULL;
}

static void remat(emitter *e, int32_t i, int64_t lo) {
  if (e->memo_loop != e->loop) e->nmemo = 0, e->memo_loop = e->loop;
  for (int32_t k = 0; k < e->nmemo; k++)
    if (e->memo_node[k] == i && e->memo_off[k] == lo) return;
  char refs[3][REF_LEN], dst[REF_LEN];
  for (int s = 0; s < node(e, i)->nsrc; s++) nb__c_remat_ref(e, src_of(e, i, s), lo, refs[s]);
  snprintf(dst, sizeof dst, "r%d_%lld", i, (long long)lo);
  fprintf(e->o, "    %s %s;\n", ctype(node(e, i)), dst);
  put_compute(e, i, dst, refs);
  if (memo_room(e)) e->memo_node[e->nmemo] = i, e->memo_off[e->nmemo++] = lo;
  else e->failed = true;
}

/* operand i inside loop `loop`: its scalar when this loop computed it, its
 * block copy when an earlier loop of the same group did, a guarded pad's
 * operand (read, or recomputed), else its buffer */
static void ref_text(emitter *e, int32_t loop, int32_t i, char *buf) {
  const char *t = ctype(node(e, i));
  if (guarded_pad(e, i)) {
    int64_t lo, hi;
    int32_t x = src_of(e, i, 0);
    bool    seg = e->seg_hi > e->seg_lo;
    pad_run(e, i, &lo, &hi);
    if (seg && (e->seg_lo >= hi || e->seg_hi <= lo)) snprintf(buf, REF_LEN, "(%s)0", t);
    else if (seg && e->through[i] == NB__THROUGH_REMAT) nb__c_remat_ref(e, x, lo, buf);
    else if (seg) snprintf(buf, REF_LEN, "v%d[i - %lld]", x, (long long)lo);
    else
      snprintf(buf, REF_LEN, "(i >= %lld && i < %lld ? v%d[i - %lld] : (%s)0)", (long long)lo, (long long)hi, x,
               (long long)lo, t);
  } else if (e->mark[i] == loop) {
    snprintf(buf, REF_LEN, "s%d", i);
  } else if (e->cross[i]) {
    snprintf(buf, REF_LEN, "b%d[j]", i);
  } else {
    snprintf(buf, REF_LEN, "v%d[i]", i);
  }
}

/* a member as a scalar of the loop (sinks are folded after it) */
static void put_member(emitter *e, int32_t loop, int32_t m) {
  char refs[3][REF_LEN], dst[REF_LEN];
  if (!e->needed[m] || nb__is_reduction(node(e, m)->op)) return;
  for (int s = 0; s < node(e, m)->nsrc; s++) ref_text(e, loop, src_of(e, m, s), refs[s]);
  snprintf(dst, sizeof dst, "s%d", m);
  fprintf(e->o, "    %s %s;\n", ctype(node(e, m)), dst);
  put_compute(e, m, dst, refs);
  e->mark[m] = loop;
  if (e->p->home[m].kind != NB__HOME_TEMP) fprintf(e->o, "    v%d[i] = s%d;\n", m, m);
}

/* Members [from, k) form the current loop: would member k put sin and cos of
 * one value into it? gcc would merge them into one scalar sincos call and
 * the loop would not vectorize, so k then starts a new loop. */
static bool splits(const emitter *e, const int32_t *members, int32_t from, int32_t k) {
  int op = node(e, members[k])->op;
  if (op != NB_OP_SIN && op != NB_OP_COS) return false;
  for (int32_t q = from; q < k; q++) {
    int other = node(e, members[q])->op;
    if ((other == NB_OP_SIN || other == NB_OP_COS) && other != op &&
        src_of(e, members[q], 0) == src_of(e, members[k], 0))
      return true;
  }
  return false;
}

static bool reads_broadcast(const emitter *e, int32_t m) {
  return node(e, m)->op == NB_OP_BROADCAST && e->needed[m];
}

/* A loop over [lo, hi) whose members read broadcasts is cut into rows
 * [r0, r1), along each of which every broadcast reads its operand at
 * o<m> + (i - r0) * stride: each row ends where some broadcast's run of
 * affine reads ends, and starts with the broadcasts' offsets at r0. Opens
 * the rows' loop and returns true, or returns false when there is no
 * broadcast. */
/* the run of broadcast member m: its innermost level */
static int64_t run_of(const emitter *e, int32_t m) {
  int64_t ext[NB_MAX_RANK], str[NB_MAX_RANK];
  return ext[nb__broadcast_levels(node(e, m), node(e, src_of(e, m, 0)), ext, str) - 1];
}

static bool open_rows(const emitter *e, const int32_t *members, int32_t count, const char *lo, const char *hi) {
  FILE *o = e->o;
  bool  any = false;
  for (int32_t k = 0; k < count; k++) {
    if (!reads_broadcast(e, members[k])) continue;
    if (!any) fprintf(o, "  for (int64_t r0 = %s, r1; r0 < %s; r0 = r1) {\n  r1 = %s;\n", lo, hi, hi);
    any = true;
    long long run = (long long)run_of(e, members[k]);
    bool      seen = run >= node(e, members[k])->size; /* one run: no cut */
    for (int32_t q = 0; q < k && !seen; q++) seen = reads_broadcast(e, members[q]) && run_of(e, members[q]) == run;
    if (!seen) fprintf(o, "  if (r1 > (r0 / %lld + 1) * %lld) r1 = (r0 / %lld + 1) * %lld;\n", run, run, run, run);
  }
  for (int32_t k = 0; k < count; k++) {
    int32_t m = members[k];
    if (!reads_broadcast(e, m)) continue;
    int64_t ext[NB_MAX_RANK], str[NB_MAX_RANK];
    char    name[24];
    snprintf(name, sizeof name, "o%d", m);
    nb__c_level_offset(o, name, nb__broadcast_levels(node(e, m), node(e, src_of(e, m, 0)), ext, str), ext, str);
  }
  return any;
}

void nb__c_level_offset(FILE *o, const char *name, int levels, const int64_t *ext, const int64_t *str) {
  int64_t div = 1;
  fprintf(o, "  const int64_t %s = 0", name);
  for (int l = levels - 1; l >= 0; div *= ext[l--])
    if (str[l]) fprintf(o, " + (r0 / %lld %% %lld) * %lld", (long long)div, (long long)ext[l], (long long)str[l]);
  fprintf(o, ";\n");
}

/* one loop over members [from, to) of a blocked group, at i = i0 + j */
static void put_part(emitter *e, const int32_t *members, int32_t from, int32_t to) {
  int32_t loop = ++e->loop;
  bool    rows = open_rows(e, members + from, to - from, "i0", "i0 + len");
  fprintf(e->o, "    NB_SIMD\n    for (int64_t j = %s; j < %s; j++) {\n    const int64_t i = i0 + j;\n",
          rows ? "r0 - i0" : "0", rows ? "r1 - i0" : "len");
  for (int32_t k = from; k < to; k++) {
    put_member(e, loop, members[k]);
    if (e->cross[members[k]]) fprintf(e->o, "    b%d[j] = s%d;\n", members[k], members[k]);
  }
  fprintf(e->o, "    }\n%s", rows ? "  }\n" : "");
}

/* the edges of the guarded pads the members read, sorted, in (0, size);
 * -1 when there are more than NB__MAX_EDGES */
static int32_t pad_edges(const emitter *e, const int32_t *members, int32_t count, int64_t size, int64_t *edge) {
  int32_t n = 0;
  for (int32_t k = 0; k < count; k++)
    for (int s = 0; s < node(e, members[k])->nsrc; s++) {
      int64_t run[2];
      if (!guarded_pad(e, src_of(e, members[k], s))) continue;
      if (n + 2 > NB__MAX_EDGES) return -1;
      pad_run(e, src_of(e, members[k], s), &run[0], &run[1]);
      for (int r = 0; r < 2; r++) {
        int32_t at = n;
        while (at > 0 && edge[at - 1] > run[r]) at--;
        if (run[r] <= 0 || run[r] >= size || (at > 0 && edge[at - 1] == run[r])) continue;
        memmove(edge + at + 1, edge + at, (size_t)(n - at) * sizeof *edge);
        edge[at] = run[r], n++;
      }
    }
  return n;
}

/* A large loop becomes a function of its range [lo, hi), which the entry
 * point runs through NB_RUN: on the caller's threads when it is given a
 * parallel runner (nb_fn_compile gives nabla's thread pool), else in one
 * call. Opens that function (writing goes there until nb__c_close_loop_fn) and
 * returns the entry point's stream. */
FILE *nb__c_open_loop_fn(emitter *e, int64_t lo, int64_t hi) {
  FILE *body = e->o;
  fprintf(body, "  NB_RUN(%s_loop%d, %lld, %lld);\n", e->name, e->nfns, (long long)lo, (long long)hi);
  fprintf(e->fns, "static void %s_loop%d(const void *const *in, void *const *out, char *ws, int64_t lo, "
                  "int64_t hi) {\n  (void)in, (void)out, (void)ws;\n", e->name, e->nfns++);
  e->o = e->fns;
  nb__c_pointers(e);
  return body;
}

void nb__c_close_loop_fn(emitter *e, FILE *body) {
  fprintf(e->o, "}\n\n");
  e->o = body;
}

/* one loop computing the members for i in [lo, hi) (C expressions) */
static void put_loop(emitter *e, const int32_t *members, int32_t count, const char *lo, const char *hi) {
  int32_t loop = ++e->loop;
  bool    rows = open_rows(e, members, count, lo, hi);
  fprintf(e->o, "  NB_SIMD\n  for (int64_t i = %s; i < %s; i++) {\n", rows ? "r0" : lo, rows ? "r1" : hi);
  for (int32_t k = 0; k < count; k++) put_member(e, loop, members[k]);
  fprintf(e->o, "  }\n%s", rows ? "  }\n" : "");
}

/* One loop per stretch between pads' edges, where each pad is either all
 * operand or all zero: no guard is left in a loop, so every loop vectorizes.
 * With too many pads, one loop reads each pad through a guard. */
static void put_segments(emitter *e, const int32_t *members, int32_t count, int64_t size) {
  int64_t edge[NB__MAX_EDGES + 2];
  int32_t n = pad_edges(e, members, count, size, edge + 1);
  bool    guards = n < 0;
  n = guards ? 0 : n;
  edge[0] = 0, edge[n + 1] = size;
  for (int32_t g = 0; g <= n; g++) {
    char lo[24], hi[24];
    e->seg_lo = guards ? 0 : edge[g], e->seg_hi = guards ? 0 : edge[g + 1];
    if (edge[g + 1] - edge[g] >= NB__PARALLEL_MIN) {
      FILE *body = nb__c_open_loop_fn(e, edge[g], edge[g + 1]);
      put_loop(e, members, count, "lo", "hi");
      nb__c_close_loop_fn(e, body);
      continue;
    }
    snprintf(lo, sizeof lo, "%lld", (long long)edge[g]);
    snprintf(hi, sizeof hi, "%lld", (long long)edge[g + 1]);
    put_loop(e, members, count, lo, hi);
  }
  e->seg_lo = e->seg_hi = 0;
}

/* The blocked form of a group: a loop over its blocks, each block one loop
 * per part (e->part) at i = i0 + j, the values that cross from one part to
 * a later one, or that a sink reads, in block-sized local arrays. With
 * sinks, the loop runs over block indices, so threads get whole blocks and
 * each sink's partials are the same whatever the split; without, over
 * element ranges (measured a few percent faster on two threads, B2's vjp). */
static void put_blocks(emitter *e, const int32_t *members, int32_t count, int64_t size, int64_t partials,
                       bool sinks) {
  FILE          *body = NULL;
  const int32_t *part = e->part;
  int64_t        range = sinks ? nb__blocks(size) : size;
  nb__c_sinks(e, members, count, partials, NB__SINKS_START);
  if (size >= NB__PARALLEL_MIN) body = nb__c_open_loop_fn(e, 0, range);
  else fprintf(e->o, "  {\n  const int64_t lo = 0, hi = %lld;\n", (long long)range);
  FILE *o = e->o;
  if (sinks) {
    fprintf(o, "  for (int64_t bk = lo; bk < hi; bk++) {\n");
    fprintf(o, "    const int64_t i0 = bk * %d, len = %lld - i0 < %d ? %lld - i0 : %d;\n", NB__BLOCK,
            (long long)size, NB__BLOCK, (long long)size, NB__BLOCK);
  } else {
    fprintf(o, "  for (int64_t i0 = lo; i0 < hi; i0 += %d) {\n", NB__BLOCK);
    fprintf(o, "    const int64_t len = hi - i0 < %d ? hi - i0 : %d;\n", NB__BLOCK, NB__BLOCK);
  }
  for (int32_t k = 0; k < count; k++) {
    if (!e->needed[members[k]]) continue;
    if (nb__c_block_sink(e, members[k])) e->cross[src_of(e, members[k], 0)] = 1;
    for (int s = 0; s < node(e, members[k])->nsrc; s++)
      for (int32_t q = 0; q < k; q++)
        if (members[q] == src_of(e, members[k], s) && part[q] < part[k]) e->cross[members[q]] = 1;
  }
  for (int32_t k = 0; k < count; k++)
    if (e->cross[members[k]]) fprintf(o, "    %s b%d[%d];\n", ctype(node(e, members[k])), members[k], NB__BLOCK);
  for (int32_t k = 0, from = 0; k <= count; k++)
    if (k == count || part[k] != part[from]) put_part(e, members, from, k), from = k;
  nb__c_sinks(e, members, count, partials, NB__SINKS_BLOCK);
  fprintf(o, "  }\n");
  if (body) nb__c_close_loop_fn(e, body);
  else fprintf(o, "  }\n");
  nb__c_sinks(e, members, count, partials, NB__SINKS_FINISH);
  for (int32_t k = 0; k < count; k++) e->cross[members[k]] = 0;
}

/* A fused group: one loop with every member a scalar; or, when it must be
 * split into several loops or has sinks, its blocked form. Sinks that
 * recompute their operand come after it. */
void nb__c_group(emitter *e, const int32_t *members, int32_t count, int64_t size, int64_t partials) {
  int32_t *part = e->part, nparts = 1;
  bool     any = false, sinks = false;
  for (int32_t k = 0; k < count; k++) {
    any = any || (e->needed[members[k]] && !nb__is_reduction(node(e, members[k])->op));
    sinks = sinks || (e->needed[members[k]] && nb__c_block_sink(e, members[k]));
  }
  for (int32_t k = 0, from = 0; k < count; k++) {
    if (splits(e, members, from, k)) nparts++, from = k;
    part[k] = nparts - 1;
  }
  if (any && nparts == 1 && !sinks) put_segments(e, members, count, size);
  else if (any) put_blocks(e, members, count, size, partials, sinks);
  for (int32_t k = 0; k < count; k++)
    if (nb__is_reduction(node(e, members[k])->op) && e->fused[members[k]]) nb__c_node(e, members[k]);
}

/* a buffer that holds its value for the whole call: an input or a constant
 * (or a view of one) */
static bool stable(const emitter *e, int32_t j) {
  while (e->p->home[j].kind == NB__HOME_ALIAS) j = src_of(e, j, 0);
  return e->p->home[j].kind == NB__HOME_IN || e->p->home[j].kind == NB__HOME_CONST;
}

static bool any_split(const emitter *e, const int32_t *members, int32_t count) {
  for (int32_t k = 0; k < count; k++)
    if (splits(e, members, 0, k)) return true;
  return false;
}

/* a group whose loops read pads through dynamic guards: in its blocked form
 * (split, or with sinks), or reading too many pads to be cut into stretches
 * at their edges */
static bool dynamic_guards(const emitter *e, const int32_t *members, int32_t count, int64_t size, bool split) {
  int64_t edge[NB__MAX_EDGES];
  for (int32_t k = 0; k < count; k++)
    if (nb__c_block_sink(e, members[k])) return true;
  return split || pad_edges(e, members, count, size, edge) < 0;
}

/* Which nodes can be recomputed at any index (rec), which guarded pads are
 * read by recomputing their operand (not in a loop split into blocks, which
 * reads them through a dynamic guard), and which values must be made at all. */
void nb__c_analyse(emitter *e) {
  const nb_fn    *f = e->f;
  const nb__plan *p = e->p;
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__node *n = node(e, i);
    const nb__prim *row = nb__prims[n->op];
    bool ok = n->op == NB_OP_FILL || ((row->flags & NB__ELEMENTWISE) && row->c64 && !(row->flags & NB__ALIAS));
    for (int s = 0; ok && s < n->nsrc; s++) ok = e->rec[src_of(e, i, s)] || stable(e, src_of(e, i, s));
    e->rec[i] = ok;
    if (guarded_pad(e, i) && e->rec[src_of(e, i, 0)]) e->through[i] = NB__THROUGH_REMAT;
    int64_t run;
    e->fused[i] = (n->op == NB_OP_REDUCE_SUM || n->op == NB_OP_REDUCE_MAX || n->op == NB_OP_REDUCE_PROD) &&
                  e->rec[src_of(e, i, 0)] && nb__c_trailing_runs(e, i, &run);
  }
  for (int32_t g = 0; g < p->ngroups; g++) {
    const int32_t *members = p->members + p->groups[g].first;
    int32_t        count = p->groups[g].count;
    bool           split = any_split(e, members, count);
    /* a sink recomputing sin and cos of one value would get one scalar
       sincos call: in a group split there, it folds the group's blocks */
    for (int32_t k = 0; k < count && split; k++)
      if (nb__is_reduction(node(e, members[k])->op)) e->fused[members[k]] = 0;
    if (!dynamic_guards(e, members, count, p->groups[g].size, split)) continue;
    for (int32_t k = 0; k < count; k++)
      for (int s = 0; s < node(e, members[k])->nsrc; s++)
        if (guarded_pad(e, src_of(e, members[k], s))) e->through[src_of(e, members[k], s)] = NB__THROUGH_GUARD;
  }
  for (int j = 0; j < f->nout; j++) e->needed[f->out[j]] = 1;
  for (int32_t i = f->nnodes; i-- > 0;) {
    int k, nsrc = node(e, i)->nsrc;
    if (node(e, i)->op == NB_OP_POW && nb__powi_exponent(node(e, src_of(e, i, 1)), &k))
      nsrc = 1; /* the exponent is a literal in the code */
    if (e->needed[i] && e->through[i] != NB__THROUGH_REMAT && !e->fused[i])
      for (int s = 0; s < nsrc; s++) e->needed[src_of(e, i, s)] = 1;
  }
}
