/* ADBench GMM data (PROBLEMS.md 1.1): the reader and the additive constant, shared by
 * the nabla builder, the hand-written C, and the ADOL-C recording (so also valid C++).
 * tests/test_adbench.c reads its data with it too. */
#ifndef NB_BENCH_GMM_H
#define NB_BENCH_GMM_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GMM_PI 3.14159265359 /* the value ADBench's C++ uses */

typedef struct gmm_data {
  int     d, K, n, T; /* T = d(d+1)/2 */
  double *alpha, *means, *icf, *x, gamma;
  int     m;
  double *all; /* the numbers of the file; the pointers above point into it */
} gmm_data;

/* every whitespace-separated number of a text file; NULL if it cannot be read */
static inline double *gmm_read_numbers(const char *path, int64_t *count) {
  FILE *fp = fopen(path, "r");
  *count = 0;
  if (!fp) return NULL;
  int64_t cap = 1024, n = 0;
  double *v = (double *)malloc((size_t)cap * sizeof *v), x;
  while (v && fscanf(fp, "%lf", &x) == 1) {
    if (n == cap) {
      double *w = (double *)realloc(v, (size_t)(cap *= 2) * sizeof *v);
      if (!w) free(v);
      v = w;
      if (!v) break;
    }
    v[n++] = x;
  }
  fclose(fp);
  *count = n;
  return v;
}

/* 1 on success; 0 with a message in err otherwise */
static inline int gmm_read(const char *path, gmm_data *D, char *err, size_t errlen) {
  int64_t cnt;
  memset(D, 0, sizeof *D);
  double *v = gmm_read_numbers(path, &cnt);
  if (!v || cnt < 3) {
    snprintf(err, errlen, "cannot read %s", path);
    free(v);
    return 0;
  }
  D->d = (int)v[0], D->K = (int)v[1], D->n = (int)v[2], D->T = D->d * (D->d + 1) / 2;
  int64_t need = 3 + D->K + (int64_t)D->K * D->d + (int64_t)D->K * D->T + (int64_t)D->n * D->d + 2;
  if (cnt != need) {
    snprintf(err, errlen, "%s: %lld numbers, want %lld", path, (long long)cnt, (long long)need);
    free(v);
    return 0;
  }
  D->all = v;
  D->alpha = v + 3;
  D->means = D->alpha + D->K;
  D->icf = D->means + D->K * D->d;
  D->x = D->icf + D->K * D->T;
  D->gamma = D->x[D->n * D->d];
  D->m = (int)D->x[D->n * D->d + 1];
  return 1;
}

/* the additive constant of F: -(n d / 2) log(2 pi) - K C */
static inline double gmm_const(const gmm_data *D) {
  int    d = D->d, N = d + D->m + 1;
  double lgd = 0.25 * d * (d - 1) * log(GMM_PI);
  for (int j = 1; j <= d; j++) lgd += lgamma(0.5 * N + 0.5 * (1 - j));
  double C = N * d * (log(D->gamma) - 0.5 * log(2.0)) - lgd;
  return -D->n * d * 0.5 * log(2 * GMM_PI) - D->K * C;
}

/* position in the packed row [q | l] of Q[j][c]; -1 above the diagonal. l fills the
 * strict lower part column by column. pos has d*d entries. */
static inline void gmm_positions(int d, int64_t *pos) {
  for (int j = 0; j < d; j++)
    for (int c = 0; c < d; c++) pos[j * d + c] = -1;
  for (int j = 0; j < d; j++) pos[j * d + j] = j;
  for (int c = 0, p = d; c < d; c++)
    for (int j = c + 1; j < d; j++) pos[j * d + c] = p++;
}

#endif
