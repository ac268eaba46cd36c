/* Readable IR (one line per node, like a jaxpr) and Graphviz DOT. */
#include <string.h>

#include "../internal.h"

static void print_type(FILE *out, const nb__node *n) {
  char s[NB__SHAPE_STR];
  fprintf(out, "%s%s%s", n->weak ? "weak " : "", nb__dtype_name(n->dtype),
          nb__shape_str(s, n->rank, n->shape));
}

static void print_axes(FILE *out, const char *key, int64_t mask, int rank) {
  fprintf(out, "%s=(", key);
  for (int d = 0, first = 1; d < rank; d++)
    if ((mask >> d) & 1) fprintf(out, first ? "%d" : ",%d", d), first = 0;
  fprintf(out, ")");
}

static void print_list(FILE *out, const char *key, const int64_t *v, int n) {
  fprintf(out, "%s=(", key);
  for (int i = 0; i < n; i++) fprintf(out, i ? ",%lld" : "%lld", (long long)v[i]);
  fprintf(out, ")");
}

/* the parameters that matter for each primitive, in brackets */
static void print_params(FILE *out, const nb__fnode *nodes, const nb__fnode *f) {
  const nb__node *n = &f->n;
  const int64_t  *i = n->p.i;
  int             srank = n->nsrc ? nodes[f->src[0]].n.rank : 0;
  fprintf(out, "[");
  switch (n->op) {
  case NB_OP_INPUT: fprintf(out, "\"%s\"", (const char *)n->p.data); break;
  case NB_OP_FILL: fprintf(out, "%.17g", n->p.d); break;
  case NB_OP_IOTA: fprintf(out, "axis=%lld", (long long)i[0]); break;
  case NB_OP_CAST: fprintf(out, "%s", nb__dtype_name((int)i[0])); break;
  case NB_OP_BROADCAST: print_list(out, "dims", i, srank); break;
  case NB_OP_TRANSPOSE: print_list(out, "perm", i, n->rank); break;
  case NB_OP_REV: print_axes(out, "axes", i[0], n->rank); break;
  case NB_OP_REDUCE_SUM:
  case NB_OP_REDUCE_MAX:
  case NB_OP_REDUCE_PROD: print_axes(out, "axes", i[0], srank); break;
  case NB_OP_SLICE:
    fprintf(out, "axis=%lld start=%lld stop=%lld step=%lld", (long long)i[0], (long long)i[1],
            (long long)i[2], (long long)i[3]);
    break;
  case NB_OP_PAD:
    fprintf(out, "axis=%lld lo=%lld hi=%lld interior=%lld", (long long)i[0], (long long)i[1],
            (long long)i[2], (long long)i[3]);
    break;
  case NB_OP_CONCAT: fprintf(out, "axis=%lld", (long long)i[0]); break;
  case NB_OP_MATMUL:
    if (i[0]) fprintf(out, "masked");
    break;
  case NB_OP_GATHER:
  case NB_OP_SCATTER_ADD: {
    size_t k = n->p.nbytes / sizeof(int64_t), shown = k < 8 ? k : 8;
    fprintf(out, "axis=%lld ", (long long)i[0]);
    print_list(out, "indices", n->p.data, (int)shown);
    if (shown < k) fprintf(out, "...%zu", k);
    break;
  }
  case NB_OP_CONST:
    if (n->size > 0)
      fprintf(out, "%.17g%s", n->dtype == NB_F64 ? ((const double *)n->p.data)[0]
                                                 : (double)((const float *)n->p.data)[0],
              n->size > 1 ? ",..." : "");
    break;
  default: break;
  }
  fprintf(out, "]");
}

nb_status nb_fn_print(const nb_fn *f, FILE *out) {
  const char *api = "nb_fn_print";
  if (!f) return nb__null_arg(api);
  if (!out) return nb__fail(NB_ERR_ARG, "%s: stream is NULL", api);
  fprintf(out, "fn(");
  for (int i = 0; i < f->nin; i++) fprintf(out, i ? ", %%%d" : "%%%d", f->in[i]);
  fprintf(out, ") {\n");
  for (int32_t k = 0; k < f->nnodes; k++) {
    const nb__fnode *node = &f->nodes[k];
    fprintf(out, "  %%%d : ", k);
    print_type(out, &node->n);
    fprintf(out, " = %s", nb__prims[node->n.op]->name);
    if (node->n.nsrc == 0 || node->n.op >= NB_OP_BROADCAST || node->n.op == NB_OP_CAST)
      print_params(out, f->nodes, node);
    for (int s = 0; s < node->n.nsrc; s++) fprintf(out, " %%%d", node->src[s]);
    fprintf(out, "\n");
  }
  fprintf(out, "  return");
  for (int j = 0; j < f->nout; j++) fprintf(out, j ? ", %%%d" : " %%%d", f->out[j]);
  fprintf(out, "\n}\n");
  if (ferror(out)) return nb__fail(NB_ERR_IO, "%s: writing the stream failed", api);
  return NB_OK;
}

nb_status nb_fn_dot(const nb_fn *f, FILE *out) {
  const char *api = "nb_fn_dot";
  if (!f) return nb__null_arg(api);
  if (!out) return nb__fail(NB_ERR_ARG, "%s: stream is NULL", api);
  char s[NB__SHAPE_STR];
  fprintf(out, "digraph nabla {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\"];\n");
  for (int32_t k = 0; k < f->nnodes; k++) {
    const nb__node *n = &f->nodes[k].n;
    fprintf(out, "  n%d [label=\"%%%d %s\\n%s%s\"%s];\n", k, k, nb__prims[n->op]->name,
            nb__dtype_name(n->dtype), nb__shape_str(s, n->rank, n->shape),
            n->op == NB_OP_INPUT ? ", style=filled, fillcolor=lightblue" : "");
    for (int i = 0; i < n->nsrc; i++) fprintf(out, "  n%d -> n%d;\n", f->nodes[k].src[i], k);
  }
  for (int j = 0; j < f->nout; j++)
    fprintf(out, "  out%d [label=\"output %d\", shape=ellipse];\n  n%d -> out%d;\n", j, j,
            f->out[j], j);
  fprintf(out, "}\n");
  if (ferror(out)) return nb__fail(NB_ERR_IO, "%s: writing the stream failed", api);
  return NB_OK;
}
