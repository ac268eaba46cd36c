/* nb_fn_compile: a function's C (emit/c.c) compiled by the system compiler
 * into a shared object in a private temporary directory, loaded with dlopen;
 * nb_call then runs it with a workspace from the function's pool. The files
 * are removed once the object is loaded. */
#define _POSIX_C_SOURCE 200809L
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "emit.h"

#ifndef NB_JIT_CC
#define NB_JIT_CC "cc"
#endif
#ifndef NB_JIT_FLAGS
#define NB_JIT_FLAGS "-O2"
#endif

typedef size_t (*bytes_fn)(void);

enum { DIR_LEN = 496, PATH_LEN = 512, CMD_LEN = 4096 };

typedef struct jit_files {
  char dir[DIR_LEN], src[PATH_LEN], lib[PATH_LEN], log[PATH_LEN];
} jit_files;

static const char *compiler(void) {
  const char *cc = getenv("NB_CC");
  if (cc && *cc) return cc;
  return access(NB_JIT_CC, X_OK) == 0 ? NB_JIT_CC : "cc";
}

static nb_status make_files(const char *api, jit_files *j) {
  const char *tmp = getenv("TMPDIR");
  if (!tmp || !*tmp || strchr(tmp, '\'')) tmp = "/tmp";
  if (snprintf(j->dir, DIR_LEN, "%s/nabla-XXXXXX", tmp) >= DIR_LEN || !mkdtemp(j->dir))
    return nb__fail(NB_ERR_IO, "%s: cannot make a temporary directory in %s", api, tmp);
  snprintf(j->src, PATH_LEN, "%s/fn.c", j->dir);
  snprintf(j->lib, PATH_LEN, "%s/fn.so", j->dir);
  snprintf(j->log, PATH_LEN, "%s/cc.log", j->dir);
  return NB_OK;
}

static void remove_files(const jit_files *j) {
  remove(j->src);
  remove(j->lib);
  remove(j->log);
  rmdir(j->dir);
}

static nb_status write_source(const char *api, nb_fn *f, const nb__plan *p, const jit_files *j) {
  FILE *out = fopen(j->src, "w");
  if (!out) return nb__fail(NB_ERR_IO, "%s: cannot write %s", api, j->src);
  nb_status s = nb__emit_c(api, f, p, "nabla_native", out);
  if (fclose(out) && !s) s = nb__fail(NB_ERR_IO, "%s: writing %s failed", api, j->src);
  return s;
}

/* the compiler's first line of complaint, for the message */
static void first_line(const char *path, char *buf, size_t n) {
  FILE *in = fopen(path, "r");
  buf[0] = 0;
  if (!in) return;
  if (!fgets(buf, (int)n, in)) buf[0] = 0;
  fclose(in);
  buf[strcspn(buf, "\n")] = 0;
}

static nb_status run_compiler(const char *api, const jit_files *j) {
  char cmd[CMD_LEN], why[256];
  int  len = snprintf(cmd, CMD_LEN, "%s -std=c11 %s -fPIC -shared -o '%s' '%s' -lm > '%s' 2>&1", compiler(),
                      NB_JIT_FLAGS, j->lib, j->src, j->log);
  if (len < 0 || len >= CMD_LEN) return nb__fail(NB_ERR_COMPILE, "%s: the compiler command is too long", api);
  int rc = system(cmd);
  if (rc == 0) return NB_OK;
  first_line(j->log, why, sizeof why);
  return nb__fail(NB_ERR_COMPILE, "%s: %s failed (status %d)%s%s", api, compiler(), rc, *why ? ": " : "", why);
}

/* loads the object and checks it is the code of this plan */
static nb_status load(const char *api, nb_fn *f, const nb__plan *p, const jit_files *j) {
  void *lib = dlopen(j->lib, RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char *why = dlerror();
    return nb__fail(NB_ERR_COMPILE, "%s: cannot load the compiled code: %s", api, why ? why : "dlopen failed");
  }
  nb__native_fn entry;
  bytes_fn  bytes;
  /* dlsym returns object pointers; POSIX guarantees they convert to functions */
  *(void **)&entry = dlsym(lib, "nabla_native_run");
  *(void **)&bytes = dlsym(lib, "nabla_native_work_bytes");
  if (!entry || !bytes || bytes() != p->bytes) {
    dlclose(lib);
    return nb__fail(NB_ERR_COMPILE, "%s: the compiled code does not match the function", api);
  }
  pthread_mutex_lock(&f->lock);
  bool first = !f->native_lib; /* a concurrent compile may have won */
  if (first) f->native_lib = lib, atomic_store_explicit(&f->native, entry, memory_order_release);
  pthread_mutex_unlock(&f->lock);
  if (!first) dlclose(lib);
  return NB_OK;
}

nb_status nb_fn_compile(nb_fn *f) {
  const char *api = "nb_fn_compile";
  if (!f) return nb__null_arg(api);
  nb__plan *p = nb__plan_get(f);
  if (!p) return nb__nomem(api);
  if (atomic_load_explicit(&f->native, memory_order_acquire)) return NB_OK;
  jit_files j;
  nb_status s = make_files(api, &j);
  if (s) return s;
  s = write_source(api, f, p, &j);
  if (!s) s = run_compiler(api, &j);
  if (!s) s = load(api, f, p, &j);
  remove_files(&j);
  return s;
}

typedef struct par_job {
  nb__loop_fn        loop;
  const void *const *in;
  void *const       *out;
  char              *ws;
  int64_t            lo;
} par_job;

static void par_range(void *ctx, int part, int64_t lo, int64_t hi) {
  const par_job *j = ctx;
  (void)part;
  j->loop(j->in, j->out, j->ws, j->lo + lo, j->lo + hi);
}

void nb__native_par(void *ctx, nb__loop_fn loop, const void *const *in, void *const *out, char *ws, int64_t lo,
                    int64_t hi) {
  par_job j = {loop, in, out, ws, lo};
  (void)ctx;
  nb__parallel_for(hi - lo, par_range, &j);
}

void nb__native_unload(nb_fn *f) {
  if (f->native_lib) dlclose(f->native_lib);
  f->native_lib = NULL;
  atomic_store(&f->native, NULL);
}
