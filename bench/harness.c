/* Timing, result lines, data files and checks of the C driver. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench.h"

static double min_sample = 0.2;
static int    nsamples = 5;
static FILE  *out;
static char   dir[4096];

double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void bench_config(void) {
  const char *s = getenv("NB_BENCH_MIN_TIME");
  if (s && atof(s) > 0) min_sample = atof(s);
  s = getenv("NB_BENCH_SAMPLES");
  if (s && atoi(s) > 0) nsamples = atoi(s);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_time(bench_body body, void *ctx) {
  /* warm-up: at least three calls and half a sample (torch and ADOL-C allocate per call:
   * their heap must reach its steady size first) */
  double t0 = bench_now(), t1 = 0;
  int64_t calls = 0;
  do {
    if (body(ctx)) return -1;
    calls++;
    t1 = bench_now();
  } while (calls < 3 || t1 - t0 < 0.5 * min_sample);
  double per = (t1 - t0) / (double)calls;
  int64_t reps = per >= min_sample ? 1 : (int64_t)ceil(min_sample / per);
  double s[64];
  int ns = nsamples > 64 ? 64 : nsamples;
  for (int k = 0; k < ns; k++) {
    double a = bench_now();
    for (int64_t r = 0; r < reps; r++)
      if (body(ctx)) return -1;
    double b = bench_now();
    if (b - a < 0.5 * min_sample && reps < INT64_MAX / 4) { /* warm-up was misleading */
      reps = (int64_t)ceil((double)reps * min_sample / (b - a > 0 ? b - a : 1e-9));
      k--;
      continue;
    }
    s[k] = (b - a) / (double)reps;
  }
  qsort(s, (size_t)ns, sizeof *s, cmp_double);
  return ns % 2 ? s[ns / 2] : 0.5 * (s[ns / 2 - 1] + s[ns / 2]);
}

bool bench_open(const char *d, const char *file) {
  snprintf(dir, sizeof dir, "%s", d);
  char path[4200];
  snprintf(path, sizeof path, "%s/%s", d, file);
  out = fopen(path, "w");
  if (!out) fprintf(stderr, "bench: cannot write %s\n", path);
  return out != NULL;
}

void bench_close(void) {
  if (out) fclose(out);
  out = NULL;
}

const char *bench_dir(void) { return dir; }

void res_time(const char *id, const char *cs, const char *op, const char *impl, double sec) {
  if (sec < 0) {
    res_note(id, cs, impl, "%s: a call failed while timing", op);
    return;
  }
  fprintf(out, "T\t%s\t%s\t%s\t%s\t%.6e\n", id, cs, op, impl, sec);
  fflush(out);
  printf("  %-4s %-10s %-9s %-7s %12.3f us\n", id, cs, op, impl, sec * 1e6);
  fflush(stdout);
}

void res_note(const char *id, const char *cs, const char *impl, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '\t' || *p == '\n') *p = ' ';
  if (out) fprintf(out, "N\t%s\t%s\t%s\t%s\n", id, cs, impl, msg), fflush(out);
  printf("  %-4s %-10s %-7s NOTE: %s\n", id, cs, impl, msg);
  fflush(stdout);
}

void res_mem(const char *id, const char *cs, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (out) fprintf(out, "M\t%s\t%s\t%s\n", id, cs, msg), fflush(out);
  printf("  %-4s %-10s memory: %s\n", id, cs, msg);
}

void res_info(const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (out) fprintf(out, "I\tc\t%s\n", msg), fflush(out);
  printf("%s\n", msg);
}

static bool save_raw(const char *name, const void *v, size_t bytes) {
  char path[4400];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *fp = fopen(path, "wb");
  bool ok = fp && fwrite(v, 1, bytes, fp) == bytes;
  if (fp && fclose(fp)) ok = false;
  if (!ok) fprintf(stderr, "bench: cannot write %s\n", path);
  return ok;
}

bool save_f64(const char *name, const double *v, int64_t n) {
  return save_raw(name, v, (size_t)n * sizeof *v);
}

bool save_f32(const char *name, const float *v, int64_t n) {
  return save_raw(name, v, (size_t)n * sizeof *v);
}

double rng_uniform(rng *r, double lo, double hi) {
  /* splitmix64 */
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return lo + (hi - lo) * ((double)(z >> 11) * 0x1.0p-53);
}

double rel_err_f64(const double *a, const double *b, int64_t n) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i])) return INFINITY;
    d = fmax(d, fabs(a[i] - b[i]));
    m = fmax(m, fabs(b[i]));
  }
  return m > 0 ? d / m : d;
}

double rel_err_f32(const float *a, const float *b, int64_t n) {
  double d = 0, m = 0;
  for (int64_t i = 0; i < n; i++) {
    if (isnan(a[i]) || isnan(b[i])) return INFINITY;
    d = fmax(d, fabs((double)a[i] - (double)b[i]));
    m = fmax(m, fabs((double)b[i]));
  }
  return m > 0 ? d / m : d;
}

bool check_close(const char *id, const char *cs, const char *what, double err, double tol) {
  bool ok = err <= tol;
  if (!ok)
    res_note(id, cs, "-", "MISMATCH %s: relative difference %.3g above %.1g: workload aborted",
             what, err, tol);
  else
    printf("  %-4s %-10s check %-34s ok (%.1e)\n", id, cs, what, err);
  return ok;
}

void *xmalloc(size_t bytes) {
  void *p = NULL;
  if (posix_memalign(&p, 64, bytes ? (bytes + 63) / 64 * 64 : 64)) {
    fprintf(stderr, "bench: out of memory (%zu bytes)\n", bytes);
    exit(2);
  }
  memset(p, 0, bytes);
  return p;
}

double *dalloc(int64_t n) { return xmalloc((size_t)n * sizeof(double)); }
float  *falloc(int64_t n) { return xmalloc((size_t)n * sizeof(float)); }

bool bench_selected(const char *id) {
  const char *s = getenv("NB_BENCH_ONLY");
  if (!s || !*s) return true;
  size_t n = strlen(id);
  for (const char *p = s; (p = strstr(p, id)); p += n) {
    bool start = p == s || p[-1] == ',' || p[-1] == ' ';
    bool end = p[n] == 0 || p[n] == ',' || p[n] == ' ';
    if (start && end) return true;
  }
  return false;
}
