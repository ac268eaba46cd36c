/* A first-fit allocator of offsets in one workspace: buffers whose values
 * are dead are reused, so peak memory stays close to the live set. */
#include "exec.h"

static int64_t round_up(int64_t n) { return (n + NB__ALIGN - 1) / NB__ALIGN * NB__ALIGN; }

bool nb__slots_alloc(nb__slots *s, int64_t bytes, int64_t *off) {
  bytes = round_up(bytes ? bytes : 1);
  int32_t best = -1;
  for (int32_t i = 0; i < s->n; i++)
    if (s->len[i] >= bytes && (best < 0 || s->len[i] < s->len[best])) best = i;
  if (best >= 0) {
    *off = s->off[best];
    s->off[best] += bytes, s->len[best] -= bytes;
    if (s->len[best] == 0) {
      for (int32_t i = best; i + 1 < s->n; i++) s->off[i] = s->off[i + 1], s->len[i] = s->len[i + 1];
      s->n--;
    }
    return true;
  }
  if (s->top > INT64_MAX / 2 - bytes) return false;
  *off = s->top;
  s->top += bytes;
  return true;
}

bool nb__slots_free(nb__slots *s, int64_t off, int64_t bytes) {
  bytes = round_up(bytes ? bytes : 1);
  if (s->n == s->cap) {
    int32_t  cap = s->cap ? 2 * s->cap : 16;
    int64_t *o = nb__realloc(s->off, (size_t)cap * sizeof *o);
    if (!o) return false;
    s->off = o;
    int64_t *l = nb__realloc(s->len, (size_t)cap * sizeof *l);
    if (!l) return false;
    s->len = l;
    s->cap = cap;
  }
  int32_t at = 0;
  while (at < s->n && s->off[at] < off) at++;
  for (int32_t i = s->n; i > at; i--) s->off[i] = s->off[i - 1], s->len[i] = s->len[i - 1];
  s->off[at] = off, s->len[at] = bytes, s->n++;
  /* merge with the neighbours */
  if (at + 1 < s->n && s->off[at] + s->len[at] == s->off[at + 1]) {
    s->len[at] += s->len[at + 1];
    for (int32_t i = at + 1; i + 1 < s->n; i++) s->off[i] = s->off[i + 1], s->len[i] = s->len[i + 1];
    s->n--;
  }
  if (at > 0 && s->off[at - 1] + s->len[at - 1] == s->off[at]) {
    s->len[at - 1] += s->len[at];
    for (int32_t i = at; i + 1 < s->n; i++) s->off[i] = s->off[i + 1], s->len[i] = s->len[i + 1];
    s->n--;
  }
  return true;
}

void nb__slots_done(nb__slots *s) {
  nb__free(s->off);
  nb__free(s->len);
  s->off = s->len = NULL;
  s->n = s->cap = 0;
}
