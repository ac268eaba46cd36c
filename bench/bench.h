/* nabla benchmark suite: shared declarations of the C driver (timing, results, data
 * files for the Python side, value checks). See bench/README.md. */
#ifndef NB_BENCH_H
#define NB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- timing ------------------------------------------------------------------
 * bench_time: a warm-up, then samples of `reps` calls each, reps chosen so that a
 * sample takes at least the minimum sample time (0.2 s unless NB_BENCH_MIN_TIME says
 * otherwise); at least NB_BENCH_SAMPLES (5) samples; returns the median seconds per
 * call, or a negative value when a call failed. The body returns 0 on success. */
typedef int (*bench_body)(void *ctx);
double bench_time(bench_body body, void *ctx);
double bench_now(void);
void   bench_config(void); /* reads NB_BENCH_MIN_TIME and NB_BENCH_SAMPLES */

/* ---- results -----------------------------------------------------------------
 * Lines of DIR/c.tsv, read by the report (bench/report.c):
 *   T  id  case  op  impl  seconds      a median time
 *   N  id  case  impl  text             a note: skipped, mismatch (the impl is "-" for all)
 *   M  id  case  text                   a memory line
 *   I  who  text                        a line of information for the table's header */
bool bench_open(const char *dir, const char *file);
void bench_close(void);
void res_time(const char *id, const char *cs, const char *op, const char *impl, double sec);
void res_note(const char *id, const char *cs, const char *impl, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void res_mem(const char *id, const char *cs, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void res_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *bench_dir(void);

/* ---- data files for the Python side: raw little-endian arrays in DIR ------------ */
bool save_f64(const char *name, const double *v, int64_t n);
bool save_f32(const char *name, const float *v, int64_t n);

/* ---- deterministic inputs ----------------------------------------------------- */
typedef struct rng { uint64_t s; } rng;
double rng_uniform(rng *r, double lo, double hi);

/* ---- checks --------------------------------------------------------------------
 * normwise relative difference max|a-b| / max|b| (NaN anywhere: +inf) */
double rel_err_f64(const double *a, const double *b, int64_t n);
double rel_err_f32(const float *a, const float *b, int64_t n);
/* prints "  check ... ok (err)" or a MISMATCH line; returns whether err <= tol */
bool check_close(const char *id, const char *cs, const char *what, double err, double tol);

/* ---- allocation helpers (abort on failure: this is a benchmark program) -------- */
void *xmalloc(size_t bytes);
double *dalloc(int64_t n); /* 64-byte aligned, zeroed */
float  *falloc(int64_t n);

/* workload selection: NB_BENCH_ONLY="B1,B5" runs only those */
bool bench_selected(const char *id);

#endif
