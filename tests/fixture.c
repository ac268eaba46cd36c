/* Helpers shared by several test suites (see fixture.h). */
#include "fixture.h"

#define MAXIO 16

int64_t numel(int rank, const int64_t *shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= shape[d];
  return n;
}

want W(int rank, const int64_t *shape, const double *v) {
  want w;
  memset(&w, 0, sizeof w);
  w.rank = rank;
  for (int d = 0; d < rank; d++) w.shape[d] = shape[d];
  w.v = v;
  return w;
}

double rtol_of(nb_dtype dt) { return dt == NB_F32 ? 2e-5 : 1e-12; }
double atol_of(nb_dtype dt) { return dt == NB_F32 ? 1e-6 : 1e-14; }

nb_expr *inp(nb_graph *g, const char *name, nb_dtype dt, int rank, const int64_t *shape) {
  nb_expr *x = nb_input(g, name, dt, rank, shape);
  CHECK(x != NULL);
  return x;
}

/* Checks outs[j] against w[j] (dtype dt, rank, shape), builds f = (ins -> outs), calls it
 * with xs (converted to dt) and compares every output value. got (optional) receives the
 * outputs as doubles (got[j] must hold numel(w[j]) values). */
void run_(int line, nb_graph *g, nb_dtype dt, int nin, nb_expr *const *ins,
                 const double *const *xs, int nout, nb_expr *const *outs, const want *w,
                 double rtol, double atol, double *const *got) {
  int         before = th_failed_checks;
  void       *ib[MAXIO] = {0}, *ob[MAXIO] = {0};
  const void *cib[MAXIO] = {0};
  nb_fn      *f = NULL;
  CHECK(nin <= MAXIO && nout <= MAXIO);
  if (nin > MAXIO || nout > MAXIO) goto done;
  for (int j = 0; j < nout; j++) {
    if (!outs[j]) {
      CHECK(outs[j] != NULL);
      fprintf(stderr, "    output %d is NULL: %s \"%s\"\n", j, nb_status_str(nb_errcode()),
              nb_errmsg());
      goto done;
    }
  }
  for (int j = 0; j < nout; j++) {
    CHECK(nb_expr_dtype(outs[j]) == dt);
    CHECK(nb_expr_rank(outs[j]) == w[j].rank);
    if (nb_expr_rank(outs[j]) != w[j].rank) {
      fprintf(stderr, "    output %d: rank %d, want %d\n", j, nb_expr_rank(outs[j]), w[j].rank);
      goto done;
    }
    const int64_t *s = nb_expr_shape(outs[j]);
    for (int d = 0; d < w[j].rank; d++) {
      if (!s || s[d] != w[j].shape[d]) {
        CHECK(s && s[d] == w[j].shape[d]);
        fprintf(stderr, "    output %d: dim %d is %lld, want %lld\n", j, d,
                s ? (long long)s[d] : -1LL, (long long)w[j].shape[d]);
        goto done;
      }
    }
    CHECK(nb_expr_size(outs[j]) == numel(w[j].rank, w[j].shape));
  }
  f = nb_fn_new(g, nin, ins, nout, outs);
  CHECK(f != NULL);
  if (!f) {
    fprintf(stderr, "    nb_fn_new: %s \"%s\"\n", nb_status_str(nb_errcode()), nb_errmsg());
    goto done;
  }
  CHECK(nb_fn_nin(f) == nin && nb_fn_nout(f) == nout);
  for (int j = 0; j < nout; j++) {
    CHECK(nb_fn_out_dtype(f, j) == dt);
    CHECK(nb_fn_out_rank(f, j) == w[j].rank);
    CHECK(nb_fn_out_size(f, j) == numel(w[j].rank, w[j].shape));
    const int64_t *s = nb_fn_out_shape(f, j);
    for (int d = 0; d < w[j].rank && nb_fn_out_rank(f, j) == w[j].rank; d++)
      CHECK(s && s[d] == w[j].shape[d]);
  }
  size_t es = dt == NB_F32 ? sizeof(float) : sizeof(double);
  for (int i = 0; i < nin; i++) {
    int64_t n = nb_expr_size(ins[i]);
    ib[i] = malloc((size_t)(n > 0 ? n : 1) * es);
    for (int64_t k = 0; k < n; k++) {
      if (dt == NB_F32)
        ((float *)ib[i])[k] = (float)xs[i][k];
      else
        ((double *)ib[i])[k] = xs[i][k];
    }
    cib[i] = ib[i];
  }
  for (int j = 0; j < nout; j++) {
    int64_t n = numel(w[j].rank, w[j].shape);
    ob[j] = malloc((size_t)(n > 0 ? n : 1) * es);
    for (int64_t k = 0; k < n; k++) {
      if (dt == NB_F32)
        ((float *)ob[j])[k] = 12345.f;
      else
        ((double *)ob[j])[k] = 12345.;
    }
  }
  nb_status st = nb_call(f, cib, ob);
  CHECK(st == NB_OK);
  if (st != NB_OK) {
    fprintf(stderr, "    nb_call: %s \"%s\"\n", nb_status_str(nb_errcode()), nb_errmsg());
    goto done;
  }
  for (int j = 0; j < nout; j++) {
    int64_t n = numel(w[j].rank, w[j].shape);
    int     shown = 0;
    for (int64_t k = 0; k < n; k++) {
      double v = dt == NB_F32 ? (double)((float *)ob[j])[k] : ((double *)ob[j])[k];
      if (got && got[j]) got[j][k] = v;
      if (w[j].v && !th_near(v, w[j].v[k], rtol, atol)) {
        th_failed_checks++;
        if (shown++ < 6)
          fprintf(stderr, "  %s:%d: %s: output %d [%lld] = %.17g, want %.17g\n", __FILE__, line,
                  th_current, j, (long long)k, v, w[j].v[k]);
      }
    }
    if (shown > 6) fprintf(stderr, "    ... %d wrong values in output %d\n", shown, j);
  }
done:
  if (th_failed_checks != before)
    fprintf(stderr, "    (%s, checked at %s:%d)\n", dtname(dt), __FILE__, line);
  nb_fn_free(f);
  for (int i = 0; i < MAXIO; i++) free(ib[i]);
  for (int j = 0; j < MAXIO; j++) free(ob[j]);
}

/* Builds the function ins -> out, frees g, calls it with vals[i] converted to input i's dtype
 * and stores the output as doubles in res (capacity cap). Returns the output size or -1. */
int64_t fx_eval(nb_graph *g, int nin, nb_expr *const *ins, const double *const *vals,
                    nb_expr *out, double *res, int64_t cap) {
  int64_t n = -1;
  nb_fn  *f = NULL;
  void   *bufs[8] = {0};
  void   *obuf = NULL;
  nb_expr *dummy[1] = {NULL};
  if (!ins) ins = dummy;
  if (!out) {
    FAILF("building the expression failed: %s \"%s\"", nb_status_str(nb_errcode()), nb_errmsg());
    goto done;
  }
  f = nb_fn_new(g, nin, ins, 1, &out);
  nb_graph_free(g);
  g = NULL;
  if (!f) {
    FAILF("nb_fn_new failed: %s \"%s\"", nb_status_str(nb_errcode()), nb_errmsg());
    goto done;
  }
  for (int i = 0; i < nin; i++) {
    int64_t  sz = nb_fn_in_size(f, i);
    nb_dtype dt = nb_fn_in_dtype(f, i);
    bufs[i] = malloc((size_t)(sz > 0 ? sz : 1) * sizeof(double));
    if (!bufs[i]) goto done;
    for (int64_t j = 0; j < sz; j++) store(dt, bufs[i], j, vals[i][j]);
  }
  int64_t  osz = nb_fn_out_size(f, 0);
  nb_dtype odt = nb_fn_out_dtype(f, 0);
  if (osz < 0 || osz > cap) {
    FAILF("output size %lld out of range (capacity %lld)", (long long)osz, (long long)cap);
    goto done;
  }
  obuf = malloc((size_t)(osz > 0 ? osz : 1) * sizeof(double));
  if (!obuf) goto done;
  for (int64_t j = 0; j < osz; j++) store(odt, obuf, j, -12345.0);
  nb_status st = nb_call(f, (const void *const *)bufs, &obuf);
  if (st != NB_OK) {
    FAILF("nb_call failed: %s \"%s\"", nb_status_str(st), nb_errmsg());
    goto done;
  }
  for (int64_t j = 0; j < osz; j++) res[j] = load(odt, obuf, j);
  n = osz;
done:
  for (int i = 0; i < 8; i++) free(bufs[i]);
  free(obuf);
  nb_fn_free(f);
  nb_graph_free(g);
  return n;
}

/* Calls f with double buffers whatever its dtypes (f32 values are converted). */
nb_status fx_call(nb_fn *f, const double *const *in, double *const *out) {
  int          nin = nb_fn_nin(f), nout = nb_fn_nout(f);
  const void **ip = calloc((size_t)nin + 1, sizeof *ip);
  void       **op = calloc((size_t)nout + 1, sizeof *op);
  void       **tmp = calloc((size_t)(nin + nout) + 1, sizeof *tmp);
  nb_status    st = ip && op && tmp ? NB_OK : NB_ERR_NOMEM;
  for (int i = 0; !st && i < nin; i++) {
    int64_t n = nb_fn_in_size(f, i);
    if (nb_fn_in_dtype(f, i) != NB_F32) {
      ip[i] = in[i];
      continue;
    }
    float *v = tmp[i] = malloc((size_t)(n > 0 ? n : 1) * sizeof *v);
    if (!v) st = NB_ERR_NOMEM;
    for (int64_t k = 0; v && k < n; k++) v[k] = (float)in[i][k];
    ip[i] = v;
  }
  for (int j = 0; !st && j < nout; j++) {
    int64_t n = nb_fn_out_size(f, j);
    op[j] = out[j];
    if (nb_fn_out_dtype(f, j) == NB_F32 && !(op[j] = tmp[nin + j] = malloc((size_t)(n > 0 ? n : 1) * sizeof(float))))
      st = NB_ERR_NOMEM;
  }
  if (!st) st = nb_call(f, ip, op);
  for (int j = 0; !st && j < nout; j++)
    if (nb_fn_out_dtype(f, j) == NB_F32)
      for (int64_t k = 0; k < nb_fn_out_size(f, j); k++) out[j][k] = ((float *)op[j])[k];
  for (int k = 0; tmp && k < nin + nout; k++) free(tmp[k]);
  free(tmp);
  free(ip);
  free(op);
  return st;
}

/* a transformation result must exist */
bool fx_made(nb_fn *t, const char *what) {
  if (t) return true;
  th_failed_checks++;
  fprintf(stderr, "  %s: %s returned NULL: %s \"%s\"\n", th_current, what,
          nb_status_str(nb_errcode()), nb_errmsg());
  return false;
}

/* ... and run */
bool fx_run(nb_fn *t, const char *what, const double *const *in, double *const *out) {
  if (!fx_made(t, what)) return false;
  nb_status st = fx_call(t, in, out);
  if (st == NB_OK) return true;
  th_failed_checks++;
  fprintf(stderr, "  %s: calling %s failed: %s \"%s\"\n", th_current, what, nb_status_str(st),
          nb_errmsg());
  return false;
}
