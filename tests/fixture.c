/* Helpers shared by several test suites (see fixture.h). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fixture.h"

#include "../src/exec/exec.h"

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
  void   *ib[8] = {0};
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
    ib[i] = malloc((size_t)(sz > 0 ? sz : 1) * sizeof(double));
    if (!ib[i]) goto done;
    for (int64_t j = 0; j < sz; j++) store(dt, ib[i], j, vals[i][j]);
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
  nb_status st = nb_call(f, (const void *const *)ib, &obuf);
  if (st != NB_OK) {
    FAILF("nb_call failed: %s \"%s\"", nb_status_str(st), nb_errmsg());
    goto done;
  }
  for (int64_t j = 0; j < osz; j++) res[j] = load(odt, obuf, j);
  n = osz;
done:
  for (int i = 0; i < 8; i++) free(ib[i]);
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

/* ---- a function's nb_call against the reference evaluator ---------------------------- */

uint64_t mix64(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}
double unif(uint64_t *s) { return (double)(mix64(s) >> 11) * 0x1p-53; }

static double draw(uint64_t *s, int dom, int64_t i) {
  double u = unif(s);
  switch (dom) {
  case D_POS: return 0.1 + 2.9 * u;
  case D_UNIT: return -0.95 + 1.9 * u;
  case D_GRID: return floor(u * 25) / 4 - 3; /* quarters: ties for round, equal pairs */
  case D_SPEC:
    if (i % 23 == 5) {
      static const double sp[8] = {0.0, -0.0, INFINITY, -INFINITY, NAN, 0.5, -2.5, 1.5};
      return sp[(i / 23) % 8];
    }
    return -3 + 6 * u;
  default: return -3 + 6 * u;
  }
}

size_t nbytes(const bufs *b, int i) { return (size_t)b->size[i] * esize(b->dt[i]); }

void bufs_free(bufs *b) {
  for (int i = 0; i < b->n; i++) free(b->p[i]);
  memset(b, 0, sizeof *b);
}

/* buffers shaped like f's inputs (in) or outputs; filled with a 0xA5 pattern */
bool bufs_make(bufs *b, const nb_fn *f, bool in) {
  memset(b, 0, sizeof *b);
  int n = in ? nb_fn_nin(f) : nb_fn_nout(f);
  if (n > FX_MAXBUFS) return false;
  b->n = n;
  for (int i = 0; i < n; i++) {
    b->dt[i] = in ? nb_fn_in_dtype(f, i) : nb_fn_out_dtype(f, i);
    b->size[i] = in ? nb_fn_in_size(f, i) : nb_fn_out_size(f, i);
    size_t nb = nbytes(b, i);
    if (!nb) continue;
    if (!(b->p[i] = malloc(nb))) return false;
    memset(b->p[i], 0xA5, nb);
  }
  return true;
}

bool bufs_clone(bufs *dst, const bufs *src) {
  *dst = *src;
  for (int i = 0; i < src->n; i++) {
    dst->p[i] = NULL;
    size_t nb = nbytes(src, i);
    if (!nb) continue;
    if (!(dst->p[i] = malloc(nb))) return false;
    memcpy(dst->p[i], src->p[i], nb);
  }
  return true;
}

double getv(const bufs *b, int i, int64_t k) {
  return b->dt[i] == NB_F32 ? (double)((const float *)b->p[i])[k] : ((const double *)b->p[i])[k];
}
void setv(bufs *b, int i, int64_t k, double v) {
  if (b->dt[i] == NB_F32) ((float *)b->p[i])[k] = (float)v;
  else ((double *)b->p[i])[k] = v;
}

void bufs_random(bufs *b, const int *doms, int dom, uint64_t seed) {
  uint64_t s = seed * 0x2545F4914F6CDD1Dull + 12345;
  for (int i = 0; i < b->n; i++)
    for (int64_t k = 0; k < b->size[i]; k++) setv(b, i, k, draw(&s, doms ? doms[i] : dom, k));
}

void bufs_abs(bufs *b) {
  for (int i = 0; i < b->n; i++)
    for (int64_t k = 0; k < b->size[i]; k++) setv(b, i, k, fabs(getv(b, i, k)));
}

bool bufs_same_bits(const bufs *a, const bufs *b) {
  for (int i = 0; i < a->n; i++)
    if (nbytes(a, i) && memcmp(a->p[i], b->p[i], nbytes(a, i))) return false;
  return true;
}

nb_status call_fast(nb_fn *f, const bufs *in, bufs *out) {
  return nb_call(f, (const void *const *)in->p, out->p);
}
nb_status call_ref(nb_fn *f, const bufs *in, bufs *out) {
  return nb__call_reference(f, (const void *const *)in->p, out->p);
}

bool scale_of(nb_fn *f, const bufs *in, bufs *scale) {
  bufs ain;
  bool ok = bufs_clone(&ain, in) && bufs_make(scale, f, false);
  if (ok) {
    bufs_abs(&ain);
    ok = call_ref(f, &ain, scale) == NB_OK;
  }
  bufs_free(&ain);
  return ok;
}

static bool elem_ok(const bufs *got, const bufs *want, int i, int64_t k, int mode,
                    const bufs *scale, double outmax) {
  nb_dtype dt = want->dt[i];
  double   g = getv(got, i, k), w = getv(want, i, k);
  if (mode == EXACT) {
    size_t e = esize(dt);
    if (!memcmp((const char *)got->p[i] + k * e, (const char *)want->p[i] + k * e, e)) return true;
    return isnan(g) && isnan(w);
  }
  if (isnan(g) || isnan(w)) return isnan(g) && isnan(w);
  if (isinf(g) || isinf(w)) return g == w;
  double tol = rtol_vm(dt) * fabs(w);
  if (mode == MM && scale) tol += (rtol_mm(dt) + rtol_vm(dt)) * fabs(getv(scale, i, k));
  if (mode == RSUM) tol += rtol_mm(dt) * outmax;
  return fabs(g - w) <= tol;
}

static const char *mode_name(int md) {
  return md == EXACT ? " (exact)" : md == VM ? " (vm)" : md == MM ? " (blas)" : " (sum)";
}

int64_t compare_(const char *file, int line, const char *what, const bufs *got, const bufs *want,
                 const int *modes, int mode, const bufs *scale, bool quiet) {
  int64_t bad = 0;
  int     shown = 0;
  for (int i = 0; i < want->n; i++) {
    int    md = modes ? modes[i] : mode;
    double outmax = 0; /* RSUM: the largest finite |value| of the output */
    for (int64_t k = 0; md == RSUM && k < want->size[i]; k++)
      if (isfinite(getv(want, i, k))) outmax = fmax(outmax, fabs(getv(want, i, k)));
    for (int64_t k = 0; k < want->size[i]; k++) {
      if (elem_ok(got, want, i, k, md, scale, outmax)) continue;
      bad++;
      if (!quiet && shown++ < 4)
        fprintf(stderr, "  %s:%d: %s: %s: output %d [%lld] = %.17g, reference %.17g%s\n", file,
                line, th_current, what, i, (long long)k, getv(got, i, k), getv(want, i, k),
                mode_name(md));
    }
  }
  if (bad && !quiet) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: %lld elements differ\n", file, line, th_current, what,
            (long long)bad);
  }
  return bad;
}

nb_fn *make_fn_(const char *file, int line, const char *what, nb_graph *g, int nin,
                nb_expr *const *in, int nout, nb_expr *const *out) {
  for (int j = 0; j < nout; j++)
    if (!out[j]) {
      th_failed_checks++;
      fprintf(stderr, "  %s:%d: %s: %s: building output %d failed: %s\n", file, line, th_current,
              what, j, nb_errmsg());
      return NULL;
    }
  nb_fn *f = nb_fn_new(g, nin, in, nout, out);
  if (!f) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: nb_fn_new failed: %s\n", file, line, th_current, what,
            nb_errmsg());
  }
  return f;
}

bool derived_ok_(const char *file, int line, const char *what, const nb_fn *f) {
  if (f) return true;
  th_failed_checks++;
  fprintf(stderr, "  %s:%d: %s: %s: transformation failed: %s\n", file, line, th_current, what,
          nb_errmsg());
  return false;
}

static bool any_mm(const nb_fn *f, const int *modes, int mode) {
  if (!modes) return mode == MM;
  for (int j = 0; j < nb_fn_nout(f); j++)
    if (modes[j] == MM) return true;
  return false;
}

void check_fn_(const char *file, int line, const char *what, nb_fn *f, const int *doms, int dom,
               const int *modes, int mode, uint64_t seed) {
  if (!f) return;
  bufs in[2], keep[2], out[3], ref[2], sc[2];
  memset(in, 0, sizeof in), memset(keep, 0, sizeof keep), memset(out, 0, sizeof out);
  memset(ref, 0, sizeof ref), memset(sc, 0, sizeof sc);
  bool ok = true, mm = any_mm(f, modes, mode);
  for (int r = 0; r < 2 && ok; r++) {
    ok = bufs_make(&in[r], f, true);
    if (ok) bufs_random(&in[r], doms, dom, seed + 7919u * (uint64_t)r);
    ok = ok && bufs_clone(&keep[r], &in[r]) && bufs_make(&ref[r], f, false);
    ok = ok && (!mm || scale_of(f, &in[r], &sc[r]));
  }
  for (int c = 0; c < 3 && ok; c++) ok = bufs_make(&out[c], f, false);
  if (!ok) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: out of memory or too many outputs\n", file, line,
            th_current, what);
    goto done;
  }
  for (int c = 0; c < 3; c++) {
    nb_status st = call_fast(f, &in[c % 2 ? 1 : 0], &out[c]);
    if (st != NB_OK) {
      th_failed_checks++;
      fprintf(stderr, "  %s:%d: %s: %s: nb_call failed: %s\n", file, line, th_current, what,
              nb_errmsg());
      goto done;
    }
  }
  for (int r = 0; r < 2; r++) {
    if (call_ref(f, &in[r], &ref[r]) != NB_OK) {
      th_failed_checks++;
      fprintf(stderr, "  %s:%d: %s: %s: reference failed: %s\n", file, line, th_current, what,
              nb_errmsg());
      goto done;
    }
    compare_(file, line, what, &out[r], &ref[r], modes, mode, mm ? &sc[r] : NULL, false);
  }
  if (!bufs_same_bits(&out[2], &out[0])) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: a repeated call gave different bits\n", file, line,
            th_current, what);
  }
  if (!bufs_same_bits(&in[0], &keep[0]) || !bufs_same_bits(&in[1], &keep[1])) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: nb_call wrote into an input buffer\n", file, line,
            th_current, what);
  }
done:
  for (int r = 0; r < 2; r++) bufs_free(&in[r]), bufs_free(&keep[r]), bufs_free(&ref[r]), bufs_free(&sc[r]);
  for (int c = 0; c < 3; c++) bufs_free(&out[c]);
}

/* ---- threads ---- */
enum { TH_ITERS = 3 };

typedef struct tjob {
  nb_fn             *f;
  const bufs        *in, *ref, *scale;
  const int         *modes;
  pthread_barrier_t *start;
  int64_t            bad_values, bad_status;
} tjob;

static void *tworker(void *arg) {
  tjob *j = arg;
  pthread_barrier_wait(j->start);
  for (int it = 0; it < TH_ITERS; it++) {
    bufs out;
    if (!bufs_make(&out, j->f, false)) {
      j->bad_status++;
      continue;
    }
    if (call_fast(j->f, j->in, &out) != NB_OK) j->bad_status++;
    else j->bad_values += compare_(NULL, 0, "", &out, j->ref, j->modes, VM, j->scale, true);
    bufs_free(&out);
  }
  return NULL;
}

void check_threads_(const char *file, int line, const char *what, nb_fn *f, int nt, bool warm,
                    const int *modes, uint64_t seed) {
  if (!f || nt < 1 || nt > FX_MAX_THREADS) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: no function or bad thread count %d\n", file, line,
            th_current, what, nt);
    return;
  }
  bufs in[FX_MAX_THREADS], ref[FX_MAX_THREADS], sc[FX_MAX_THREADS];
  memset(in, 0, sizeof in), memset(ref, 0, sizeof ref), memset(sc, 0, sizeof sc);
  bool ok = true;
  for (int t = 0; t < nt; t++) {
    ok = ok && bufs_make(&in[t], f, true) && bufs_make(&ref[t], f, false);
    if (ok) bufs_random(&in[t], NULL, D_ANY, seed + (unsigned)t);
    ok = ok && call_ref(f, &in[t], &ref[t]) == NB_OK && scale_of(f, &in[t], &sc[t]);
  }
  CHECK(ok);
  if (ok && warm) { /* the plan exists before the threads start */
    bufs out;
    CHECK(bufs_make(&out, f, false) && call_fast(f, &in[0], &out) == NB_OK);
    CHECK(compare_(file, line, what, &out, &ref[0], modes, VM, &sc[0], false) == 0);
    bufs_free(&out);
  }
  pthread_t         th[FX_MAX_THREADS];
  tjob              jobs[FX_MAX_THREADS];
  pthread_barrier_t bar;
  int               started = 0;
  if (ok) {
    pthread_barrier_init(&bar, NULL, (unsigned)nt);
    for (int t = 0; t < nt; t++) {
      jobs[t] = (tjob){f, &in[t], &ref[t], &sc[t], modes, &bar, 0, 0};
      if (pthread_create(&th[t], NULL, tworker, &jobs[t]) == 0) started++;
    }
    if (started != nt) {
      fprintf(stderr, "  pthread_create failed\n");
      exit(EXIT_FAILURE); /* the started threads would wait forever */
    }
    for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
    pthread_barrier_destroy(&bar);
    for (int t = 0; t < started; t++)
      if (jobs[t].bad_status || jobs[t].bad_values) {
        th_failed_checks++;
        fprintf(stderr, "  %s:%d: %s: %s: %d threads (%s), thread %d: %lld failed calls, %lld wrong values\n",
                file, line, th_current, what, nt, warm ? "warm" : "cold", t,
                (long long)jobs[t].bad_status, (long long)jobs[t].bad_values);
      }
  }
  for (int t = 0; t < nt; t++) bufs_free(&in[t]), bufs_free(&ref[t]), bufs_free(&sc[t]);
}

/* ---- broadcasts inside fused groups ---- */

const fx_bcase FX_BCASES[FX_NBCASES] = {
    {"row [512] -> [256,512]", 1, 2, {512}, {256, 512}, {1}, 2, {256, 512}, {0, 1}, true},
    {"column [256] -> [256,512]", 1, 2, {256}, {256, 512}, {0}, 2, {256, 512}, {1, 0}, true},
    {"row of 700 [700] -> [9,700]", 1, 2, {700}, {9, 700}, {1}, 2, {9, 700}, {0, 1}, true},
    {"column of 1000 [13] -> [13,1000]", 1, 2, {13}, {13, 1000}, {0}, 2, {13, 1000}, {1, 0}, true},
    {"GMM [25,10] -> [25,10,1000]", 2, 3, {25, 10}, {25, 10, 1000}, {0, 1}, 2, {250, 1000}, {1, 0}, true},
    {"GMM [10,1000] -> [25,10,1000]", 2, 3, {10, 1000}, {25, 10, 1000}, {1, 2}, 2, {25, 10000}, {0, 1}, true},
    {"scalar [] -> [1000]", 0, 1, {0}, {1000}, {0}, 1, {1000}, {0}, true},
    {"scalar [] -> [7,300]", 0, 2, {0}, {7, 300}, {0}, 1, {2100}, {0}, true},
    {"stretched [1,512] -> [7,512]", 2, 2, {1, 512}, {7, 512}, {0, 1}, 2, {7, 512}, {0, 1}, true},
    {"stretched [7,1] -> [7,100]", 2, 2, {7, 1}, {7, 100}, {0, 1}, 2, {7, 100}, {1, 0}, true},
    {"stretched middle [5,1,70] -> [5,9,70]", 3, 3, {5, 1, 70}, {5, 9, 70}, {0, 1, 2}, 3, {5, 9, 70}, {70, 0, 1}, true},
    {"three levels [3,97] -> [3,5,97]", 2, 3, {3, 97}, {3, 5, 97}, {0, 2}, 3, {3, 5, 97}, {97, 0, 1}, true},
    {"unit axes [64] -> [1,5,1,64]", 1, 4, {64}, {1, 5, 1, 64}, {3}, 2, {5, 64}, {0, 1}, true},
    {"merged [2,3,128] -> [5,2,3,128]", 3, 4, {2, 3, 128}, {5, 2, 3, 128}, {1, 2, 3}, 2, {5, 768}, {0, 1}, true},
    {"merged across a unit axis [3,1,64] -> [2,3,1,64]", 3, 4, {3, 1, 64}, {2, 3, 1, 64}, {1, 2, 3}, 2, {2, 192}, {0, 1}, true},
    {"stretched [1] -> [100]", 1, 1, {1}, {100}, {0}, 1, {100}, {0}, true},
    {"row run 63 [63] -> [40,63]", 1, 2, {63}, {40, 63}, {1}, 2, {40, 63}, {0, 1}, false},
    {"row run 64 [64] -> [40,64]", 1, 2, {64}, {40, 64}, {1}, 2, {40, 64}, {0, 1}, true},
    {"column run 63 [40] -> [40,63]", 1, 2, {40}, {40, 63}, {0}, 2, {40, 63}, {1, 0}, false},
    {"column run 64 [40] -> [40,64]", 1, 2, {40}, {40, 64}, {0}, 2, {40, 64}, {1, 0}, true},
    {"scalar run 63 [] -> [63]", 0, 1, {0}, {63}, {0}, 1, {63}, {0}, false},
    {"scalar run 64 [] -> [64]", 0, 1, {0}, {64}, {0}, 1, {64}, {0}, true},
    {"short rows [3] -> [1000,3]", 1, 2, {3}, {1000, 3}, {1}, 2, {1000, 3}, {0, 1}, false},
};

const fx_bcase FX_RUNS[FX_NRUNS] = {
    {"[96] -> [128,96]", 1, 2, {96}, {128, 96}, {1}, 2, {128, 96}, {0, 1}, true},
    {"[128] -> [96,128]", 1, 2, {128}, {96, 128}, {1}, 2, {96, 128}, {0, 1}, true},
    {"[96] -> [96,128], a column", 1, 2, {96}, {96, 128}, {0}, 2, {96, 128}, {1, 0}, true},
    {"[4,1,96] -> [4,32,96]", 3, 3, {4, 1, 96}, {4, 32, 96}, {0, 1, 2}, 3, {4, 32, 96}, {96, 0, 1}, true},
    {"[64] -> [192,64]", 1, 2, {64}, {192, 64}, {1}, 2, {192, 64}, {0, 1}, true},
    {"[] -> [3,4096]", 0, 2, {0}, {3, 4096}, {0}, 1, {FX_RUNS_N}, {0}, true},
    {"[6,1] -> [6,2048]", 2, 2, {6, 1}, {6, 2048}, {0, 1}, 2, {6, 2048}, {1, 0}, true},
    {"[192] -> [64,192]", 1, 2, {192}, {64, 192}, {1}, 2, {64, 192}, {0, 1}, true},
    {"[256] -> [48,256]", 1, 2, {256}, {48, 256}, {1}, 2, {48, 256}, {0, 1}, true},
    {"[384] -> [32,384]", 1, 2, {384}, {32, 384}, {1}, 2, {32, 384}, {0, 1}, true},
    {"[512] -> [24,512]", 1, 2, {512}, {24, 512}, {1}, 2, {24, 512}, {0, 1}, true},
    {"[768] -> [16,768]", 1, 2, {768}, {16, 768}, {1}, 2, {16, 768}, {0, 1}, true},
    {"[1024] -> [12,1024]", 1, 2, {1024}, {12, 1024}, {1}, 2, {12, 1024}, {0, 1}, true},
    {"[1536] -> [8,1536]", 1, 2, {1536}, {8, 1536}, {1}, 2, {8, 1536}, {0, 1}, true},
};

_Static_assert((long)FX_LARGE_N > (long)NB__PARALLEL_MIN && (FX_LARGE_N + 511) / 512 * 256 % 700 != 0 &&
                   (FX_LARGE_N + 1) / 2 % 700 != 0 && (FX_LARGE_N + 1) / 2 % 9100 != 0,
               "on 2 threads, runs straddle the split (in blocks, or as a native range)");
const fx_bcase FX_LARGE[FX_NLARGE] = {
    {"[700] -> [377,700]", 1, 2, {700}, {377, 700}, {1}, 2, {377, 700}, {0, 1}, true},
    {"[377] -> [377,700], a column", 1, 2, {377}, {377, 700}, {0}, 2, {377, 700}, {1, 0}, true},
    {"[29,1,700] -> [29,13,700]", 3, 3, {29, 1, 700}, {29, 13, 700}, {0, 1, 2}, 3, {29, 13, 700}, {700, 0, 1}, true},
    {"[9100] -> [29,9100]", 1, 2, {9100}, {29, 9100}, {1}, 2, {29, 9100}, {0, 1}, true},
    {"[] -> [263900]", 0, 1, {0}, {FX_LARGE_N}, {0}, 1, {FX_LARGE_N}, {0}, true},
};

nb_expr *fx_broadcast_in_dim(nb_expr *x, int rank, const int64_t *shape, const int *dims) {
  if (!x) return NULL;
  nb__node n = {.op = NB_OP_BROADCAST, .rank = (uint8_t)rank};
  memcpy(n.shape, shape, (size_t)rank * sizeof *shape);
  for (int k = 0; k < x->n.rank; k++) n.p.i[k] = dims[k];
  return nb__emit("fx_broadcast_in_dim", NULL, &n, 1, &x);
}

void fx_bcase_put(nb_graph *g, nb_dtype dt, const fx_bcase *c, bool as_output, nb_expr **in, int *nin,
                  nb_expr **out, int *nout) {
  nb_expr *x = in[(*nin)++] = nb_input(g, "x", dt, c->rank, c->shape);
  nb_expr *b = in[(*nin)++] = nb_input(g, "b", dt, c->xrank, c->x);
  nb_expr *B = fx_broadcast_in_dim(b, c->rank, c->shape, c->dims);
  nb_expr *t = nb_maximum(nb_sub(nb_mul(x, B), B), nb_square(x));
  out[(*nout)++] = nb_add(nb_mul(t, B), x);
  if (as_output) out[(*nout)++] = B;
}

void fx_runs_put(nb_graph *g, nb_dtype dt, const fx_bcase *k, int n, int64_t size, nb_expr **in, int *nin,
                 nb_expr **out, int *nout) {
  nb_expr *x = in[(*nin)++] = nb_input(g, "x", dt, 1, &size);
  for (int c = 0; c < n; c++) {
    nb_expr *xc = nb_reshape(x, k[c].rank, k[c].shape);
    nb_expr *b = in[(*nin)++] = nb_input(g, "b", dt, k[c].xrank, k[c].x);
    nb_expr *B = fx_broadcast_in_dim(b, k[c].rank, k[c].shape, k[c].dims);
    out[(*nout)++] = nb_add(nb_mul(nb_maximum(nb_sub(nb_mul(xc, B), B), nb_square(xc)), B), xc);
  }
}

const fx_bcase FX_ROW64 = {"[64] -> [96,64]", 1, 2, {64}, {96, 64}, {1}, 2, {96, 64}, {0, 1}, true};
const fx_bcase FX_PADB = {"pad [128] -> [50,128]", 1, 2, {128}, {50, 128}, {1}, 2, {50, 128}, {0, 1}, true};
const fx_bcase FX_ROW2 = {"[64] -> [2,64]", 1, 2, {64}, {2, 64}, {1}, 2, {2, 64}, {0, 1}, true};

static nb_expr *pad_of(nb_expr *x, int64_t lo, int64_t hi) {
  nb__node n = {.op = NB_OP_PAD, .p.i = {0, lo, hi, 0}};
  return nb__emit("pad_of", NULL, &n, 1, &x);
}

void fx_outside_put(nb_graph *g, nb_dtype dt, bool as_output, nb_expr **in, int *nin, nb_expr **out, int *modes,
                    int *nout) {
  nb_expr *x = in[(*nin)++] = nb_input(g, "x", dt, 2, FX_ROW64.shape);
  nb_expr *b = in[(*nin)++] = nb_input(g, "b", dt, 1, FX_ROW64.x);
  nb_expr *w = in[(*nin)++] = nb_input(g, "w", dt, 2, (int64_t[]){64, 8});
  nb_expr *p = in[(*nin)++] = nb_input(g, "p", dt, 1, (int64_t[]){64});
  nb_expr *z = in[(*nin)++] = nb_input(g, "z", dt, 2, FX_PADB.shape);
  nb_expr *p2 = in[(*nin)++] = nb_input(g, "p2", dt, 1, (int64_t[]){64});
  nb_expr *z2 = in[(*nin)++] = nb_input(g, "z2", dt, 1, (int64_t[]){128});
  nb_expr *x2 = in[(*nin)++] = nb_input(g, "x2", dt, 2, FX_ROW2.shape);
  nb_expr *b2 = in[(*nin)++] = nb_input(g, "b2", dt, 1, FX_ROW2.x);
  nb_expr *s = in[(*nin)++] = nb_input(g, "s", dt, 2, (int64_t[]){40, 700});
  nb_expr *c = in[(*nin)++] = nb_input(g, "c", dt, 2, (int64_t[]){2, 64});
  nb_expr *B = fx_broadcast_in_dim(b, 2, FX_ROW64.shape, FX_ROW64.dims);
  nb_expr *P = pad_of(p, 32, 32), *Q = pad_of(p2, 40, 24);
  double   k[64];
  for (int i = 0; i < 64; i++) k[i] = 0.25 * (i % 9) - 1;
  modes[*nout] = EXACT, out[(*nout)++] = nb_add(nb_mul(x, B), x); /* B's group, closed by: */
  /* in B's group too, broadcasts of a constant, of a reshape of a value in the
   * workspace, of a view of an input at an offset (row 1 of c) */
  modes[*nout] = EXACT, out[(*nout)++] = nb_mul(x, nb_const(g, dt, 1, (int64_t[]){64}, k));
  modes[*nout] = VM, out[(*nout)++] = nb_mul(x, nb_reshape(nb_exp(b), 2, (int64_t[]){1, 64}));
  modes[*nout] = EXACT, out[(*nout)++] = nb_sub(x, nb_slice(c, 0, 1, 2, 1));
  modes[*nout] = RSUM, out[(*nout)++] = nb_matmul(B, w);
  modes[*nout] = RSUM, out[(*nout)++] = nb_sum(nb_sub(B, x), 1, (int[]){0}, false);
  modes[*nout] = EXACT, out[(*nout)++] = nb_sub(nb_mul(z, fx_broadcast_in_dim(P, 2, FX_PADB.shape, FX_PADB.dims)), z);
  modes[*nout] = EXACT, out[(*nout)++] = nb_mul(P, nb_square(P));
  modes[*nout] = EXACT, out[(*nout)++] = nb_sub(nb_mul(z2, Q), z2);
  modes[*nout] = EXACT, out[(*nout)++] = nb_mul(x2, fx_broadcast_in_dim(b2, 2, FX_ROW2.shape, FX_ROW2.dims));
  modes[*nout] = VM, out[(*nout)++] = nb_softmax(s, -1);
  modes[*nout] = RSUM, out[(*nout)++] = nb_sub(s, nb_mean(s, 0, NULL, false));
  if (as_output) modes[*nout] = EXACT, out[(*nout)++] = B;
}

nb_fn *fx_mlp_layer(nb_dtype dt) {
  nb_graph *g = nb_graph_new();
  nb_expr  *x = nb_input(g, "x", dt, 2, (int64_t[]){FX_MLP_N, FX_MLP_D});
  nb_expr  *w = nb_input(g, "W", dt, 2, (int64_t[]){FX_MLP_D, FX_MLP_H});
  nb_expr  *b = nb_input(g, "b", dt, 1, (int64_t[]){FX_MLP_H});
  nb_expr  *y = nb_input(g, "y", dt, 2, (int64_t[]){FX_MLP_N, FX_MLP_H});
  nb_expr  *l = nb_sum(nb_mul(nb_tanh(nb_add(nb_muls(nb_matmul(x, w), 0.25), b)), y), 0, NULL, false);
  nb_fn    *f = make_fn("mlp layer", g, 4, (nb_expr *[]){x, w, b, y}, 1, &l);
  nb_graph_free(g);
  return f;
}

int fx_mlp_fd_check(nb_fn *l, nb_fn *gr, const bufs *in) {
  bufs x, out, lo;
  int  bad = 0;
  memset(&x, 0, sizeof x), memset(&out, 0, sizeof out), memset(&lo, 0, sizeof lo);
  if (!bufs_clone(&x, in) || !bufs_make(&out, gr, false) || !bufs_make(&lo, l, false)) bad++;
  if (!bad && call_fast(gr, &x, &out) != NB_OK) bad++;
  static const int64_t bs[] = {0, 1, 63, 64, 100, FX_MLP_H - 1};
  static const int64_t ws[] = {0, 77, FX_MLP_H, FX_MLP_D * FX_MLP_H - 1};
  for (int k = 0; !bad && k < 10; k++) {
    int     which = k < 6 ? 2 : 1; /* input b, or W */
    int64_t e = k < 6 ? bs[k] : ws[k - 6];
    double  v = getv(&x, which, e), h = 1e-5, lp, lm;
    setv(&x, which, e, v + h);
    bad += call_fast(l, &x, &lo) != NB_OK;
    lp = getv(&lo, 0, 0);
    setv(&x, which, e, v - h);
    bad += call_fast(l, &x, &lo) != NB_OK;
    lm = getv(&lo, 0, 0);
    setv(&x, which, e, v);
    double fd = (lp - lm) / (2 * h), got = getv(&out, which - 1, e);
    if (fabs(got - fd) > 1e-6 * (1 + fabs(fd))) {
      fprintf(stderr, "    %s: d L / d %s[%lld] = %.12g, central difference %.12g\n", th_current,
              which == 2 ? "b" : "W", (long long)e, got, fd);
      bad++;
    }
  }
  bufs_free(&x), bufs_free(&out), bufs_free(&lo);
  return bad;
}

int32_t fx_bcase_node(const nb_fn *f, const fx_bcase *c) {
  for (int32_t i = 0; i < f->nnodes; i++) {
    const nb__node *n = &f->nodes[i].n, *x = n->op == NB_OP_BROADCAST ? &f->nodes[f->nodes[i].src[0]].n : NULL;
    if (x && n->rank == c->rank && x->rank == c->xrank &&
        !memcmp(n->shape, c->shape, (size_t)c->rank * sizeof *c->shape) &&
        !memcmp(x->shape, c->x, (size_t)c->xrank * sizeof *c->x))
      return i;
  }
  return -1;
}

int32_t fx_group_of(nb_fn *f, int32_t i) {
  if (nb_fn_workspace_bytes(f) < 0 || !f->plan) return -1;
  const nb__plan *p = f->plan;
  for (int32_t s = 0; s < p->nsteps; s++) {
    int32_t g = p->steps[s].group;
    for (int32_t k = 0; g >= 0 && k < p->groups[g].count; k++)
      if (p->members[p->groups[g].first + k] == i) return g;
  }
  return -1;
}

void check_bcase_(const char *file, int line, const char *what, nb_fn *f, const fx_bcase *c) {
  if (!f) return;
  int32_t i = fx_bcase_node(f, c);
  if (i < 0) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: %s: no such broadcast node\n", file, line, th_current, what, c->what);
    return;
  }
  int64_t ext[NB_MAX_RANK], str[NB_MAX_RANK];
  int     nlev = nb__broadcast_levels(&f->nodes[i].n, &f->nodes[f->nodes[i].src[0]].n, ext, str);
  bool    same = nlev == c->nlev;
  for (int k = 0; same && k < nlev; k++) same = ext[k] == c->ext[k] && str[k] == c->str[k];
  if (!same) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: %s: %d levels, the innermost %lld at stride %lld; want %d, %lld at %lld\n",
            file, line, th_current, what, c->what, nlev, (long long)ext[nlev - 1], (long long)str[nlev - 1],
            c->nlev, (long long)c->ext[c->nlev - 1], (long long)c->str[c->nlev - 1]);
  }
  int32_t g = fx_group_of(f, i);
  if ((g >= 0) != c->fused) {
    th_failed_checks++;
    fprintf(stderr, "  %s:%d: %s: %s: %s: %s a fused group, want %s\n", file, line, th_current, what, c->what,
            g >= 0 ? "in" : "not in", c->fused ? "in" : "not in");
  }
}

/* ---- files and the environment ------------------------------------------------------ */

bool tmpdir_make(char *path, size_t n) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp) tmp = "/tmp";
  if ((size_t)snprintf(path, n, "%s/nabla-test-XXXXXX", tmp) < n && mkdtemp(path)) return true;
  th_failed_checks++;
  fprintf(stderr, "  %s: cannot make a temporary directory in %s\n", th_current, tmp);
  return false;
}

int dir_entries(const char *path) {
  DIR *dir = opendir(path);
  if (!dir) return -1;
  int            n = 0;
  struct dirent *de;
  while ((de = readdir(dir)))
    if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) n++;
  closedir(dir);
  return n;
}

char *slurp(FILE *fp) {
  long n;
  if (fflush(fp) || fseek(fp, 0, SEEK_END) || (n = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET))
    return NULL;
  char *buf = malloc((size_t)n + 1);
  if (!buf) return NULL;
  size_t got = fread(buf, 1, (size_t)n, fp);
  buf[got] = 0;
  return buf;
}

saved_env save_env(const char *name) {
  const char *v = getenv(name);
  saved_env   s = {name, v ? strdup(v) : NULL};
  return s;
}

void restore_env(const saved_env *s) {
  if (s->value) setenv(s->name, s->value, 1);
  else unsetenv(s->name);
}

void saved_env_free(saved_env *s) {
  free(s->value);
  s->value = NULL;
}

extern char **environ;

int fx_run_suite_child(const char *suite, int threads, const char *name, const char *value) {
  char    self[4096], nthreads[32], var[700];
  ssize_t len = readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) {
    fprintf(stderr, "  %s: no /proc/self/exe: the pool sizes not tested\n", th_current);
    return -2;
  }
  self[len] = 0;
  int n = 0, e = 0;
  while (environ[n]) n++;
  char **env = calloc((size_t)n + 3, sizeof *env);
  if (!env) {
    FAILF("no memory for the child's environment");
    return -1;
  }
  for (int i = 0; i < n; i++)
    if (strncmp(environ[i], "NB_NUM_THREADS=", 15) && !(strncmp(environ[i], name, strlen(name)) == 0 && environ[i][strlen(name)] == '='))
      env[e++] = environ[i];
  snprintf(nthreads, sizeof nthreads, "NB_NUM_THREADS=%d", threads);
  snprintf(var, sizeof var, "%s=%s", name, value);
  env[e++] = nthreads, env[e++] = var, env[e] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  char *argv[] = {self, (char *)suite, NULL};
  pid_t pid;
  fflush(stdout), fflush(stderr);
  int rc = posix_spawn(&pid, self, &fa, NULL, argv, env), status = 0;
  posix_spawn_file_actions_destroy(&fa);
  free(env);
  if (rc) {
    FAILF("posix_spawn %s: %s", self, strerror(rc));
    return -1;
  }
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
    FAILF("the child running %s died (status %d)", suite, status);
    return -1;
  }
  return WEXITSTATUS(status);
}

char *fx_emit_text(nb_fn *f, const char *name) {
  if (!f) return NULL;
  FILE     *t = tmpfile();
  nb_status st = t ? nb_fn_emit_c(f, name, t) : NB_ERR_IO;
  char     *text = st == NB_OK ? slurp(t) : NULL;
  if (t) fclose(t);
  if (!text) FAILF("nb_fn_emit_c(%s): %s \"%s\"", name, nb_status_str(st), st ? nb_errmsg() : "");
  return text;
}

int fx_count_of(const char *text, const char *s) {
  int n = 0;
  for (const char *p = text; p && (p = strstr(p, s)); p += strlen(s)) n++;
  return n;
}

typedef struct compile_job {
  nb_fn    *f;
  nb_status st;
  char      msg[256];
} compile_job;

static void *compile_job_run(void *arg) {
  compile_job *j = arg;
  j->st = nb_fn_compile(j->f);
  snprintf(j->msg, sizeof j->msg, "%s", j->st ? nb_errmsg() : "");
  return NULL;
}

void fx_compile_all(const char *what, nb_fn *const *fs, int n, bool *ok) {
  compile_job j[FX_MAX_COMPILE];
  pthread_t   t[FX_MAX_COMPILE];
  bool        started[FX_MAX_COMPILE];
  for (int k = 0; k < n && k < FX_MAX_COMPILE; k++) {
    j[k] = (compile_job){fs[k], NB_OK, ""};
    started[k] = fs[k] && pthread_create(&t[k], NULL, compile_job_run, &j[k]) == 0;
  }
  for (int k = 0; k < n; k++) {
    ok[k] = false;
    if (k >= FX_MAX_COMPILE || !fs[k]) continue;
    if (started[k]) pthread_join(t[k], NULL);
    else compile_job_run(&j[k]);
    ok[k] = j[k].st == NB_OK && fs[k]->native;
    if (!ok[k]) FAILF("%s: function %d: nb_fn_compile: %s \"%s\"", what, k, nb_status_str(j[k].st), j[k].msg);
  }
}
