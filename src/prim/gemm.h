/* The blocked matrix product the compiler vectorizes, used when there is no
 * BLAS and by generated code. Written once, as a macro: prim/matmul.c
 * instantiates it, and the C emitter pastes its text into generated files
 * that hold a large product.
 *
 * C[i, j] = sum_l A[i, l] B[l, j], C dense [m, n], A[i, l] at a[i * ar + l * ac],
 * B[l, j] at b[l * br + j * bc]. In two steps, each a function of a range
 * that threads may split:
 *   pack:  B into bp, in blocks of KC rows, each block as strips of NR
 *          columns (zero-padded), so the innermost loop reads B contiguously
 *          whatever its strides (strips [s0, s1) of nb_gemm_strips);
 *   tiles: each MR x NR tile of C summed in registers over a block's KC
 *          terms, NC columns at a time so their packed blocks stay in L2
 *          (rows [i0, i1)).
 */
#ifndef NB_PRIM_GEMM_H
#define NB_PRIM_GEMM_H

#include <stdint.h>
#include <string.h>

#include "scalar.h"

/* KC x NC elements of packed B (512 KiB in both dtypes) stay in L2; macros,
 * so that the kernel's text (below) holds their values */
#define NB__GEMM_MR 6
#define NB__GEMM_KC 256
#define NB__GEMM_NC64 256
#define NB__GEMM_NC32 512

/* a tile row is four vectors where there are 32 vector registers, else two */
#if defined(__AVX512F__)
#define NB__GEMM_NR64 32
#define NB__GEMM_NR32 64
#elif defined(__AVX__)
#define NB__GEMM_NR64 8
#define NB__GEMM_NR32 16
#else
#define NB__GEMM_NR64 4
#define NB__GEMM_NR32 8
#endif

/* scratch bytes of one product's packed B (any NR up to 64 elements) */
static inline int64_t nb__gemm_scratch(int64_t k, int64_t n, int64_t esz) { return k * ((n + 63) / 64 * 64) * esz; }

/* T the element type, U the unsigned integer of its size and EXP its
 * exponent bits, S the functions' suffix, MR x NR the tile, KC x NC the
 * blocks (NC a multiple of NR); NB_SIMD is "omp simd" or nothing. finite:
 * no element is inf or NaN (integer tests, which vectorize). */
#define NB__GEMM_KERNEL(T, U, EXP, S, MR, NR, KC, NC)                                    \
  static inline int64_t nb_gemm_strips_##S(int64_t n) { return (n + NR - 1) / NR; }      \
  static inline int nb_gemm_finite_##S(const T *x, int64_t n) {                          \
    U bad = 0;                                                                           \
    for (int64_t i = 0; i < n; i++) {                                                    \
      U u;                                                                               \
      memcpy(&u, x + i, sizeof u);                                                       \
      bad |= (u & EXP) == EXP;                                                           \
    }                                                                                    \
    return !bad;                                                                         \
  }                                                                                      \
  static inline void nb_gemm_pack_##S(int64_t k, int64_t n, const T *b, int64_t br, int64_t bc, T *bp, int64_t s0, \
                               int64_t s1) {                                             \
    int64_t np = nb_gemm_strips_##S(n) * NR;                                             \
    for (int64_t pc = 0; pc < k; pc += KC) {                                             \
      int64_t kc = k - pc < KC ? k - pc : KC;                                            \
      for (int64_t s = s0; s < s1; s++) {                                                \
        T      *dst = bp + pc * np + s * NR * kc;                                        \
        int64_t nr = n - s * NR < NR ? n - s * NR : NR;                                  \
        for (int64_t l = 0; l < kc; l++)                                                 \
          for (int64_t j = 0; j < NR; j++) dst[l * NR + j] = j < nr ? b[(pc + l) * br + (s * NR + j) * bc] : 0; \
      }                                                                                  \
    }                                                                                    \
  }                                                                                      \
  static inline void nb_gemm_tile_##S(int64_t kc, const T *a, int64_t ar, int64_t ac, const T *bp, T *c, int64_t ldc, \
                               int64_t mr, int64_t nr, int first) {                      \
    T acc[MR][NR];                                                                       \
    for (int i = 0; i < MR; i++)                                                         \
      for (int j = 0; j < NR; j++) acc[i][j] = 0;                                        \
    if (mr == MR) {                                                                      \
      for (int64_t l = 0; l < kc; l++)                                                   \
        for (int i = 0; i < MR; i++) {                                                   \
          const T x = a[i * ar + l * ac];                                                \
          NB_SIMD for (int j = 0; j < NR; j++) acc[i][j] += x * bp[l * NR + j];          \
        }                                                                                \
    } else {                                                                             \
      for (int64_t l = 0; l < kc; l++)                                                   \
        for (int64_t i = 0; i < mr; i++) {                                               \
          const T x = a[i * ar + l * ac];                                                \
          NB_SIMD for (int j = 0; j < NR; j++) acc[i][j] += x * bp[l * NR + j];          \
        }                                                                                \
    }                                                                                    \
    for (int64_t i = 0; i < mr; i++)                                                     \
      for (int64_t j = 0; j < nr; j++) c[i * ldc + j] = first ? acc[i][j] : c[i * ldc + j] + acc[i][j]; \
  }                                                                                      \
  static inline void nb_gemm_##S(int64_t i0, int64_t i1, int64_t n, int64_t k, const T *a, int64_t ar, int64_t ac, \
                          const T *bp, T *c) {                                           \
    int64_t np = nb_gemm_strips_##S(n) * NR;                                             \
    for (int64_t jc = 0; jc < n; jc += NC)                                               \
      for (int64_t pc = 0; pc < k; pc += KC) {                                           \
        int64_t kc = k - pc < KC ? k - pc : KC;                                          \
        for (int64_t i = i0; i < i1; i += MR)                                            \
          for (int64_t j = jc; j < n && j < jc + NC; j += NR)                            \
            nb_gemm_tile_##S(kc, a + i * ar + pc * ac, ar, ac, bp + pc * np + j * kc, c + i * n + j, n, \
                             i1 - i < MR ? i1 - i : MR, n - j < NR ? n - j : NR, pc == 0); \
      }                                                                                  \
  }

/* the kernel's source text for each dtype, the tile sizes filled in
 * (prim/gemm.c; pasted by emit/c.c) */
extern const char nb__gemm_text64[], nb__gemm_text32[];

#endif
