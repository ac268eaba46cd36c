/* The blocked product's text for generated code: NB_SIMD is left as it is
 * here (not defined), for the generated file's own definition. */
#include "gemm.h"

const char nb__gemm_text64[] =
    NB__STR(NB__GEMM_KERNEL(double, uint64_t, 0x7ff0000000000000u, f64, NB__GEMM_MR, NB__GEMM_NR64, NB__GEMM_KC, NB__GEMM_NC64));
const char nb__gemm_text32[] =
    NB__STR(NB__GEMM_KERNEL(float, uint32_t, 0x7f800000u, f32, NB__GEMM_MR, NB__GEMM_NR32, NB__GEMM_KC, NB__GEMM_NC32));
