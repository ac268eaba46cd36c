/* Shapes, dtypes and checked arithmetic for element counts and byte sizes. */
#include <stdio.h>
#include <string.h>

#include "../internal.h"

bool nb__valid_dtype(int dt) { return dt == NB_F32 || dt == NB_F64; }

const char *nb__dtype_name(int dt) {
  return dt == NB_F32 ? "f32" : dt == NB_F64 ? "f64" : "invalid";
}

bool nb__mul_ok(int64_t a, int64_t b, int64_t *out) {
  if (a < 0 || b < 0) return false;
  if (a != 0 && b > INT64_MAX / a) return false;
  *out = a * b;
  return true;
}

char *nb__shape_str(char *buf, int rank, const int64_t *shape) {
  size_t len = 0, cap = NB__SHAPE_STR;
  buf[len++] = '[';
  for (int i = 0; i < rank && len < cap - 24; i++)
    len += (size_t)snprintf(buf + len, cap - len, i ? ",%lld" : "%lld", (long long)shape[i]);
  snprintf(buf + len, cap - len, "]");
  return buf;
}

nb_status nb__check_shape(const char *api, nb_dtype dt, int rank, const int64_t *shape,
                          int64_t *size) {
  char s[NB__SHAPE_STR];
  if (rank < 0 || rank > NB_MAX_RANK)
    return nb__fail(NB_ERR_ARG, "%s: rank %d out of range [0, %d]", api, rank, NB_MAX_RANK);
  if (rank > 0 && !shape) return nb__fail(NB_ERR_ARG, "%s: shape is NULL", api);
  for (int i = 0; i < rank; i++)
    if (shape[i] < 0)
      return nb__fail(NB_ERR_ARG, "%s: negative dimension in shape %s", api,
                      nb__shape_str(s, rank, shape));
  int64_t n = 1;
  for (int i = 0; i < rank; i++)
    if (!nb__mul_ok(n, shape[i], &n)) n = -1;
  /* element count, its byte size, and the size_t range must all fit (an
     invalid dtype is checked by the caller; count it as 8 bytes here) */
  int64_t bytes, esz = nb__dtype_size(dt) ? (int64_t)nb__dtype_size(dt) : 8;
  if (n < 0 || !nb__mul_ok(n, esz, &bytes) || (uint64_t)bytes > SIZE_MAX / 2)
    return nb__fail(NB_ERR_SHAPE, "%s: shape %s is too large", api, nb__shape_str(s, rank, shape));
  *size = n;
  return NB_OK;
}

bool nb__same_shape(int ra, const int64_t *a, int rb, const int64_t *b) {
  return ra == rb && (ra == 0 || memcmp(a, b, (size_t)ra * sizeof *a) == 0);
}

bool nb__norm_axis(int *axis, int rank) {
  int a = *axis;
  if (a < -rank || a >= rank) return false;
  *axis = a < 0 ? a + rank : a;
  return true;
}

void nb__dense_strides(int rank, const int64_t *shape, int64_t *strides) {
  int64_t s = 1;
  for (int i = rank - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
}

void nb__split_at(int rank, const int64_t *shape, int axis, int64_t *outer, int64_t *inner) {
  *outer = *inner = 1;
  for (int d = 0; d < axis; d++) *outer *= shape[d];
  for (int d = axis + 1; d < rank; d++) *inner *= shape[d];
}

bool nb__trailing_axes(int rank, const int64_t *shape, int64_t mask, int64_t *run) {
  int first = rank;
  *run = 1;
  while (first > 0 && (mask >> (first - 1)) & 1) *run *= shape[--first];
  return mask == (((int64_t)1 << rank) - 1) - (((int64_t)1 << first) - 1);
}
