/* The one allocation hook (Lua-style): every allocation of the library goes
 * through it, so tests can fail the k-th one. Plus a chunked bump arena. */
#include <stdlib.h>
#include <string.h>

#include "../internal.h"

static void *std_alloc(void *u, size_t n) {
  (void)u;
  return malloc(n);
}
static void *std_realloc(void *u, void *p, size_t n) {
  (void)u;
  return realloc(p, n);
}
static void std_free(void *u, void *p) {
  (void)u;
  free(p);
}

static const nb_allocator std_allocator = {std_alloc, std_realloc, std_free, NULL};
static nb_allocator       current = {std_alloc, std_realloc, std_free, NULL};

void nb_set_allocator(const nb_allocator *a) {
  current = (a && a->alloc && a->realloc && a->free) ? *a : std_allocator;
}

void *nb__malloc(size_t n) { return current.alloc(current.user, n ? n : 1); }

void *nb__calloc(size_t count, size_t size) {
  if (size && count > SIZE_MAX / size) return NULL;
  void *p = nb__malloc(count * size);
  if (p) memset(p, 0, count * size);
  return p;
}

void *nb__realloc(void *p, size_t n) { return current.realloc(current.user, p, n ? n : 1); }

void nb__free(void *p) {
  if (p) current.free(current.user, p);
}

/* ---- arena ---- */
struct nb__chunk {
  nb__chunk *next;
  size_t     used, cap;
  _Alignas(16) unsigned char mem[];
};

enum { CHUNK_BYTES = 16384 };

void *nb__arena_alloc(nb__arena *a, size_t n) {
  n = (n + 15) & ~(size_t)15;
  if (n == 0) n = 16;
  nb__chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > CHUNK_BYTES ? n : CHUNK_BYTES;
    if (cap > SIZE_MAX - sizeof(nb__chunk)) return NULL;
    c = nb__malloc(sizeof(nb__chunk) + cap);
    if (!c) return NULL;
    c->used = 0;
    c->cap = cap;
    /* a big block gets its own chunk behind the current one, so the
       current chunk's free space is not wasted */
    if (a->head && n > CHUNK_BYTES) {
      c->next = a->head->next;
      a->head->next = c;
    } else {
      c->next = a->head;
      a->head = c;
    }
  }
  void *p = c->mem + c->used;
  c->used += n;
  return p;
}

void *nb__arena_dup(nb__arena *a, const void *src, size_t n) {
  void *p = nb__arena_alloc(a, n);
  if (p && n) memcpy(p, src, n);
  return p;
}

void nb__arena_free(nb__arena *a) {
  for (nb__chunk *c = a->head, *next; c; c = next) {
    next = c->next;
    nb__free(c);
  }
  a->head = NULL;
}
