#!/usr/bin/env bash
# `make bench`: builds nabla and the benchmark programs, runs every workload (B1..B6 of
# issue 5) for nabla, hand-written C, ADOL-C and PyTorch, and prints one table.
#
# Environment:
#   BUILD=build              nabla's build directory (the results go to $BUILD/bench)
#   NB_ADBENCH_DIR=DIR       the ADBench data (default ../shared/data/adbench)
#   NB_BENCH_ONLY=B1,B5      run only these workloads
#   NB_BENCH_MIN_TIME=0.2    seconds per timing sample (at least)
#   NB_BENCH_SAMPLES=5       samples per median
#   NB_BENCH_INSTALL=0       never install the peers (default: as root, when missing)
#   NB_BENCH_SKIP=torch,adolc,1t   leave out PyTorch, ADOL-C, or the pass that times
#                            nabla on one thread
#   NB_BENCH_KEEP=1          keep the data files exchanged with PyTorch (about 300 MB)
#   CC, CXX, PYTHON          compilers and the Python that has torch
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
OUT=$ROOT/$BUILD/bench
RUN=$OUT/run
ADB=${NB_ADBENCH_DIR:-../shared/data/adbench}
CC=${CC:-cc}
CXX=${CXX:-g++}
MAKE=${MAKE:-make}
TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
T0=$(date +%s)

say() { printf '\n== %s\n' "$*"; }
# percent of CPU time the whole machine spent busy over one second
cpu_busy() {
  local a b
  read -r _ u1 n1 s1 i1 w1 q1 r1 t1 _ </proc/stat
  sleep 1
  read -r _ u2 n2 s2 i2 w2 q2 r2 t2 _ </proc/stat
  a=$(( (u2 + n2 + s2 + i2 + w2 + q2 + r2 + t2) - (u1 + n1 + s1 + i1 + w1 + q1 + r1 + t1) ))
  b=$(( (i2 + w2) - (i1 + w1) ))
  echo $(( a > 0 ? 100 * (a - b) / a : 0 ))
}
# "busy total" clock ticks of the machine, and the CPU ticks of this script's children
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat; }
child_ticks() { awk '{print $16+$17}' "/proc/$$/stat"; }
die() { echo "bench: $*" >&2; exit 1; }

# ---- peers: PyTorch, ADOL-C, OpenBLAS (optional) ----------------------------------
peers_missing() {
  local p
  for p in python3-torch libadolc-dev libopenblas-dev g++; do
    dpkg -s "$p" >/dev/null 2>&1 || return 0
  done
  return 1
}
installed=0
if [ "${NB_BENCH_INSTALL:-1}" != 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 &&
   command -v dpkg >/dev/null 2>&1 && peers_missing; then
  say "installing the peers (bench/install-peers.sh; NB_BENCH_INSTALL=0 skips this)"
  if bash bench/install-peers.sh; then installed=1; else echo "bench: could not install the peers; going on without them"; fi
fi

# ---- nabla ------------------------------------------------------------------------
say "building nabla ($BUILD)"
mkdir -p "$OUT"
if [ "$installed" = 1 ] && [ -f "$BUILD/CMakeCache.txt" ]; then
  # OpenBLAS may just have been installed: let CMake look for it again
  cmake -U NB_OPENBLAS_LIB -U NB_HAVE_CBLAS -S . -B "$BUILD" >/dev/null || true
fi
"$MAKE" --no-print-directory build BUILD="$BUILD" >"$OUT/build.log" 2>&1 || { tail -n 30 "$OUT/build.log"; die "building nabla failed"; }
[ -f "$BUILD/libnabla.so" ] || die "$BUILD/libnabla.so is missing"
blas=$(sed -n 's/^NB_HAVE_CBLAS:INTERNAL=\(.*\)/\1/p' "$BUILD/CMakeCache.txt" 2>/dev/null)
[ "$blas" = 1 ] && blas="OpenBLAS" || blas="no BLAS"

# ---- the benchmark programs ---------------------------------------------------------
say "building the benchmark programs ($OUT)"
mkdir -p "$OUT/obj"
WARN="-Wall -Wextra"
CFLAGS_DRIVER="-std=c11 -O2 $WARN -I$ROOT/include"
CFLAGS_HAND="-std=c11 -O3 -march=native -fopenmp-simd -fno-builtin-sin -fno-builtin-cos $WARN"
SKIP=",${NB_BENCH_SKIP:-},"
SKIP=${SKIP// /,}
skipped() { [[ "$SKIP" == *",$1,"* ]]; }
adolc=0
if skipped adolc; then
  :
elif command -v "$CXX" >/dev/null 2>&1 &&
   printf '#include <adolc/adolc.h>\nint main(void) { trace_on(1); trace_off(); return 0; }\n' |
     "$CXX" -x c++ - -o "$OUT/obj/adolc-probe" -ladolc >/dev/null 2>&1; then
  adolc=1
fi
set -e
$CC $CFLAGS_DRIVER -c bench/harness.c -o "$OUT/obj/harness.o"
$CC $CFLAGS_DRIVER -c bench/nb_build.c -o "$OUT/obj/nb_build.o"
$CC $CFLAGS_HAND -c bench/hand.c -o "$OUT/obj/hand.o"
$CC $CFLAGS_DRIVER -c bench/report.c -o "$OUT/obj/report.o"
$CC -o "$OUT/nbbench_report" "$OUT/obj/report.o" -lm
# a private copy of the library: a rebuild of $BUILD during the run changes nothing
mkdir -p "$OUT/lib"
rm -f "$OUT/lib/"libnabla.so*
for f in "$BUILD"/libnabla.so*; do cp -L "$f" "$OUT/lib/"; done
LIBS="-L$OUT/lib -lnabla -Wl,-rpath,$OUT/lib -lm"
if [ "$adolc" = 1 ]; then
  $CC $CFLAGS_DRIVER -DNB_HAVE_ADOLC -c bench/main.c -o "$OUT/obj/main.o"
  $CXX -O2 $WARN -c bench/adolc_bench.cpp -o "$OUT/obj/adolc_bench.o"
  $CXX -o "$OUT/nbbench" "$OUT/obj/main.o" "$OUT/obj/harness.o" "$OUT/obj/nb_build.o" \
    "$OUT/obj/hand.o" "$OUT/obj/adolc_bench.o" $LIBS -ladolc
else
  $CC $CFLAGS_DRIVER -c bench/main.c -o "$OUT/obj/main.o"
  $CC -o "$OUT/nbbench" "$OUT/obj/main.o" "$OUT/obj/harness.o" "$OUT/obj/nb_build.o" \
    "$OUT/obj/hand.o" $LIBS
fi
set +e

# ---- run ----------------------------------------------------------------------------
rm -rf "$RUN"
mkdir -p "$RUN"
ADB_ABS=$(cd "$ADB" 2>/dev/null && pwd) || case $ADB in /*) ADB_ABS=$ADB ;; *) ADB_ABS=$ROOT/$ADB ;; esac
{
  printf 'I\trun\tmachine: %s, %s processors; %s; nabla built with %s\n' \
    "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)" \
    "$(nproc 2>/dev/null || echo '?')" "$($CC --version | head -n 1)" "$blas"
  printf 'I\trun\ttiming: a warm-up (3 calls and half a sample at least), then %s samples of at least %s s each; the median per call\n' \
    "${NB_BENCH_SAMPLES:-5}" "${NB_BENCH_MIN_TIME:-0.2}"
  printf 'I\trun\tevery process runs with GLIBC_TUNABLES=%s\n' "$TUNABLES"
  busy=$(cpu_busy)
  printf 'I\trun\tthe machine was %s%% busy in the second before the run%s\n' "$busy" \
    "$([ "$busy" -gt 10 ] && echo ': other processes were running, the timings are unreliable')"
} >"$RUN/peers.tsv"

PY=""
if skipped torch; then
  printf 'N\t*\t*\ttorch\tskipped (NB_BENCH_SKIP)\n' >>"$RUN/peers.tsv"
else
  for p in ${PYTHON:-} /usr/bin/python3 python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import torch' >/dev/null 2>&1; then PY=$p; break; fi
  done
  [ -n "$PY" ] || printf 'N\t*\t*\ttorch\tskipped: PyTorch is not installed (bench/install-peers.sh installs python3-torch)\n' >>"$RUN/peers.tsv"
fi
if [ "$adolc" = 0 ]; then
  if skipped adolc; then
    printf 'N\t*\t*\tADOL-C\tskipped (NB_BENCH_SKIP)\n' >>"$RUN/peers.tsv"
  else
    printf 'N\t*\t*\tADOL-C\tskipped: ADOL-C is not installed or %s cannot link it (bench/install-peers.sh installs libadolc-dev and g++)\n' "$CXX" >>"$RUN/peers.tsv"
  fi
fi

status=0
read -r busy0 total0 < <(machine_ticks)
own0=$(child_ticks)
say "C side: nabla, hand-written C$([ "$adolc" = 1 ] && echo ', ADOL-C')"
(cd "$RUN" && GLIBC_TUNABLES=$TUNABLES "$OUT/nbbench" "$RUN" "$ADB_ABS") || { echo "bench: the C driver failed"; status=1; }
if ! skipped 1t; then
  say "nabla on one thread"
  (cd "$RUN" && GLIBC_TUNABLES=$TUNABLES NB_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NB_BENCH_NABLA_ONLY=1 \
    "$OUT/nbbench" "$RUN" "$ADB_ABS") || { echo "bench: the C driver failed (one thread)"; status=1; }
fi
if [ -n "$PY" ]; then
  say "PyTorch ($PY)"
  GLIBC_TUNABLES=$TUNABLES "$PY" bench/torch_bench.py "$RUN" "$ADB_ABS" || { echo "bench: the PyTorch script failed"; status=1; }
  # 2 threads again with passive OpenMP workers: with the default (spinning) policy they
  # compete with OpenBLAS's threads for the 2 cores; the table takes the better time
  say "PyTorch, 2 threads, OMP_WAIT_POLICY=PASSIVE"
  GLIBC_TUNABLES=$TUNABLES OMP_WAIT_POLICY=PASSIVE NB_BENCH_TORCH_THREADS=2 NB_BENCH_TORCH_OUT=torch-passive.tsv \
    "$PY" bench/torch_bench.py "$RUN" "$ADB_ABS" || { echo "bench: the PyTorch script failed (passive)"; status=1; }
fi

[ "${NB_BENCH_KEEP:-0}" != 0 ] || rm -f "$RUN"/*.f64 "$RUN"/*.f32

read -r busy1 total1 < <(machine_ticks)
own1=$(child_ticks)
other=$(( total1 > total0 ? 100 * ((busy1 - busy0) - (own1 - own0)) / (total1 - total0) : 0 ))
[ "$other" -lt 0 ] && other=0
printf 'I\trun\tother processes used %s%% of the machine during the run%s\n' "$other" \
  "$([ "$other" -gt 5 ] && echo ': the timings are unreliable, run again on a quiet machine')" >>"$RUN/peers.tsv"
"$OUT/nbbench_report" "$RUN" | tee "$OUT/report.txt"
echo
echo "bench: $(( $(date +%s) - T0 )) s; table in $BUILD/bench/report.txt, raw results in $BUILD/bench/run/"
if grep -q MISMATCH "$RUN"/*.tsv 2>/dev/null; then
  echo "bench: some values did not match (see Notes)"
  status=1
fi
exit $status
