/* nb_check_grads: jvp against central differences in a random direction,
 * and jvp against vjp by the dot-product test <w, J t> = <J^T w, t>.
 * Order 2 runs the same checks on vjp(f), whose derivative is second order. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "transform.h"

typedef struct tensor {
  nb_dtype dt;
  int64_t  n;
  void    *p;
} tensor;

static double get(const tensor *t, int64_t i) {
  return t->dt == NB_F64 ? ((double *)t->p)[i] : (double)((float *)t->p)[i];
}
static void set(tensor *t, int64_t i, double v) {
  if (t->dt == NB_F64) ((double *)t->p)[i] = v;
  else ((float *)t->p)[i] = (float)v;
}

/* a fixed-seed generator: checks are reproducible */
static double uniform(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return (double)(*s >> 11) / 9007199254740992.0 * 2.0 - 1.0;
}

/* all the buffers of one check, in one block */
typedef struct bufs {
  int     nin, nout;
  tensor *x, *t, *xp, *xm, *w, *yp, *ym, *yp2, *ym2, *jv, *vj, *ignore;
  void   *block;
} bufs;

static void bufs_free(bufs *b) {
  nb__free(b->block);
  nb__free(b->x);
}

static bool bufs_new(const nb_fn *f, bufs *b) {
  memset(b, 0, sizeof *b);
  b->nin = f->nin, b->nout = f->nout;
  size_t in = (size_t)f->nin, out = (size_t)f->nout;
  tensor *all = nb__calloc(5 * in + 7 * out + 1, sizeof *all);
  if (!all) return false;
  b->x = all, b->t = all + in, b->xp = all + 2 * in, b->xm = all + 3 * in, b->vj = all + 4 * in;
  b->w = all + 5 * in, b->yp = b->w + out, b->ym = b->w + 2 * out, b->jv = b->w + 3 * out;
  b->ignore = b->w + 4 * out, b->yp2 = b->w + 5 * out, b->ym2 = b->w + 6 * out;
  size_t bytes = 0;
  for (int i = 0; i < f->nin; i++) bytes += 5 * (size_t)f->nodes[f->in[i]].n.size * 8;
  for (int j = 0; j < f->nout; j++) bytes += 7 * (size_t)f->nodes[f->out[j]].n.size * 8;
  unsigned char *p = b->block = nb__malloc(bytes + 8);
  if (!p) return bufs_free(b), false;
  for (int i = 0; i < f->nin; i++) {
    const nb__node *n = &f->nodes[f->in[i]].n;
    tensor         *ts[5] = {&b->x[i], &b->t[i], &b->xp[i], &b->xm[i], &b->vj[i]};
    for (int k = 0; k < 5; k++, p += (size_t)n->size * 8) *ts[k] = (tensor){(nb_dtype)n->dtype, n->size, p};
  }
  for (int j = 0; j < f->nout; j++) {
    const nb__node *n = &f->nodes[f->out[j]].n;
    tensor *ts[7] = {&b->w[j], &b->yp[j], &b->ym[j], &b->jv[j], &b->ignore[j], &b->yp2[j], &b->ym2[j]};
    for (int k = 0; k < 7; k++, p += (size_t)n->size * 8) *ts[k] = (tensor){(nb_dtype)n->dtype, n->size, p};
  }
  return true;
}

/* f(a..., b...) -> (r1..., r2...); the pointer lists are made per call
 * (checking is not a hot path) */
static nb_status call(nb_fn *f, int na, const tensor *a, int nb, const tensor *b, int nr,
                      tensor *r1, int nr2, tensor *r2) {
  const void **in = nb__calloc((size_t)(na + nb) + 1, sizeof *in);
  void       **out = nb__calloc((size_t)(nr + nr2) + 1, sizeof *out);
  nb_status    st = in && out ? NB_OK : nb__nomem("nb_check_grads");
  for (int i = 0; !st && i < na; i++) in[i] = a[i].p;
  for (int i = 0; !st && i < nb; i++) in[na + i] = b[i].p;
  for (int i = 0; !st && i < nr; i++) out[i] = r1[i].p;
  for (int i = 0; !st && i < nr2; i++) out[nr + i] = r2[i].p;
  if (!st) st = nb_call(f, in, out);
  nb__free(in);
  nb__free(out);
  return st;
}

static double rel(double err, double scale) { return scale > 0 ? err / scale : err; }

/* One order-1 check of f at x; the worst relative error goes to *worst. */
static nb_status check1(const nb_fn *f, const void *const *x, double *worst, bool *f32) {
  const char *api = "nb_check_grads";
  bufs        b;
  nb_fn      *jvp = nb_jvp(f, NULL), *vjp = nb_vjp(f, NULL);
  nb_status   st = (!jvp || !vjp) ? nb_errcode() : NB_OK;
  if (!st && !bufs_new(f, &b)) st = nb__nomem(api);
  if (st) return nb_fn_free(jvp), nb_fn_free(vjp), st;
  uint64_t seed = 0x9e3779b97f4a7c15ull;
  double   xmax = 0;
  *f32 = false;
  for (int i = 0; i < f->nin; i++) {
    *f32 = *f32 || b.x[i].dt == NB_F32;
    memcpy(b.x[i].p, x[i], (size_t)b.x[i].n * nb__dtype_size(b.x[i].dt));
    for (int64_t k = 0; k < b.x[i].n; k++) {
      set(&b.t[i], k, uniform(&seed));
      if (fabs(get(&b.x[i], k)) > xmax) xmax = fabs(get(&b.x[i], k));
    }
  }
  for (int j = 0; j < f->nout; j++) {
    *f32 = *f32 || b.w[j].dt == NB_F32;
    for (int64_t k = 0; k < b.w[j].n; k++) set(&b.w[j], k, uniform(&seed));
  }
  /* step: about the cube root of the epsilon (smaller in f32, so inputs
     need keep less distance from kinks), scaled to the inputs */
  double h = (*f32 ? 1e-3 : 6.1e-6) * (1 + xmax), eps = *f32 ? FLT_EPSILON : DBL_EPSILON;
  nb_fn *fm = (nb_fn *)f; /* nb_call needs a mutable function; f itself is not changed */
  /* central differences at steps h and 2h: their gap estimates the
     truncation error, which is then not counted against the derivative */
  for (int step = 2; step >= 1 && !st; step--) {
    for (int i = 0; i < f->nin; i++)
      for (int64_t k = 0; k < b.x[i].n; k++) {
        double v = get(&b.x[i], k), d = step * h * get(&b.t[i], k);
        set(&b.xp[i], k, v + d), set(&b.xm[i], k, v - d);
      }
    st = call(fm, f->nin, b.xp, 0, NULL, f->nout, step == 2 ? b.yp2 : b.yp, 0, NULL);
    if (!st) st = call(fm, f->nin, b.xm, 0, NULL, f->nout, step == 2 ? b.ym2 : b.ym, 0, NULL);
  }
  if (!st) st = call(jvp, f->nin, b.x, f->nin, b.t, f->nout, b.ignore, f->nout, b.jv);
  if (!st) st = call(vjp, f->nin, b.x, f->nout, b.w, f->nout, b.ignore, f->nin, b.vj);
  if (!st) {
    double fd_err = 0, fd_scale = 0, wjt = 0, jtwt = 0, dot_scale = 0;
    for (int j = 0; j < f->nout; j++)
      for (int64_t k = 0; k < b.jv[j].n; k++) {
        double fd = (get(&b.yp[j], k) - get(&b.ym[j], k)) / (2 * h), jv = get(&b.jv[j], k);
        double fd2 = (get(&b.yp2[j], k) - get(&b.ym2[j], k)) / (4 * h);
        double noise = fabs(fd2 - fd) + 8 * eps * fmax(fabs(get(&b.yp[j], k)), fabs(get(&b.ym[j], k))) / h;
        fd_err = fmax(fd_err, fmax(0, fabs(fd - jv) - noise));
        if (isnan(fd) != isnan(jv)) fd_err = INFINITY;
        fd_scale = fmax(fd_scale, fmax(fabs(fd), fabs(jv)));
        wjt += get(&b.w[j], k) * jv, dot_scale += fabs(get(&b.w[j], k) * jv);
      }
    for (int i = 0; i < f->nin; i++)
      for (int64_t k = 0; k < b.vj[i].n; k++) {
        double v = get(&b.vj[i], k) * get(&b.t[i], k);
        jtwt += v, dot_scale += fabs(v);
      }
    double e_fd = rel(fd_err, fd_scale), e_dot = rel(fabs(wjt - jtwt), dot_scale);
    if (!(e_fd <= *worst)) *worst = e_fd;
    if (!(e_dot <= *worst)) *worst = e_dot;
  }
  bufs_free(&b);
  nb_fn_free(jvp);
  nb_fn_free(vjp);
  return st;
}

nb_status nb_check_grads(const nb_fn *f, const void *const *x, int order, double *max_rel_err) {
  const char *api = "nb_check_grads";
  if (!f) return nb__null_arg(api);
  if (f->nin && !x) return nb__fail(NB_ERR_ARG, "%s: x is NULL", api);
  for (int i = 0; i < f->nin; i++)
    if (!x[i]) return nb__fail(NB_ERR_ARG, "%s: input buffer %d is NULL", api, i);
  if (order != 1 && order != 2)
    return nb__fail(NB_ERR_ARG, "%s: order %d is not 1 or 2", api, order);
  double    worst = 0;
  bool      f32 = false;
  nb_status st = check1(f, x, &worst, &f32);
  if (!st && order == 2) {
    /* the vjp of f at (x, w) for a random w: its derivative is second order */
    nb_fn  *v = nb_vjp(f, NULL);
    bufs    b;
    bool    f32b = false;
    st = v ? NB_OK : nb_errcode();
    if (!st && !bufs_new(v, &b)) st = nb__nomem(api);
    if (!st) {
      const void **xs = nb__calloc((size_t)v->nin + 1, sizeof *xs);
      uint64_t     seed = 0x2545f4914f6cdd1dull;
      if (!xs) st = nb__nomem(api);
      for (int i = 0; !st && i < v->nin; i++) {
        if (i < f->nin) xs[i] = x[i];
        else {
          for (int64_t k = 0; k < b.x[i].n; k++) set(&b.x[i], k, uniform(&seed));
          xs[i] = b.x[i].p;
        }
      }
      if (!st) st = check1(v, xs, &worst, &f32b);
      nb__free(xs);
      bufs_free(&b);
    }
    nb_fn_free(v);
  }
  if (max_rel_err) *max_rel_err = worst;
  if (st) return st;
  double tol = f32 ? 2e-3 : 1e-6;
  if (!(worst <= tol))
    return nb__fail(NB_ERR_CHECK, "%s: derivatives disagree: relative error %.3g above %.0e",
                    api, worst, tol);
  return NB_OK;
}
