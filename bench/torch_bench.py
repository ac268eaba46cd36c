#!/usr/bin/env python3
"""PyTorch side of `make bench`: the workloads B1..B6 written the idiomatic way, timed with
1 and 2 threads. Reads the inputs and the checked values that the C driver (bench/main.c)
wrote to DIR, checks torch's values against them before timing, and writes DIR/torch.tsv
(same line format as the C driver's c.tsv).

    python3 bench/torch_bench.py DIR [ADBENCH_DIR]

Run it with GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=17179869184
(bench/run.sh does): torch allocates per call, and fresh pages are expensive on this VM.
Environment: NB_BENCH_MIN_TIME (seconds per sample, 0.2), NB_BENCH_SAMPLES (5),
NB_BENCH_ONLY (e.g. "B2,B5"), NB_BENCH_TORCH_THREADS (thread counts, "1,2"),
NB_BENCH_TORCH_OUT (result file in DIR, torch.tsv).
"""
import ctypes
import math
import os
import sys
import time

try:
    import torch
    import torch.autograd.forward_ad as fwAD
    import torch.nn.functional as F
except ImportError as e:  # the run script checks first; this is for direct use
    print(f"torch is not installed: {e}", file=sys.stderr)
    sys.exit(3)

DIR = sys.argv[1] if len(sys.argv) > 1 else "."
ADBENCH = sys.argv[2] if len(sys.argv) > 2 else "../shared/data/adbench"
MIN_SAMPLE = float(os.environ.get("NB_BENCH_MIN_TIME") or 0.2)
NSAMPLES = int(os.environ.get("NB_BENCH_SAMPLES") or 5)
ONLY = [s.strip() for s in (os.environ.get("NB_BENCH_ONLY") or "").replace(" ", ",").split(",") if s.strip()]
THREADS = tuple(int(t) for t in (os.environ.get("NB_BENCH_TORCH_THREADS") or "1,2").split(","))
OUT = os.environ.get("NB_BENCH_TORCH_OUT") or "torch.tsv"

out = open(os.path.join(DIR, OUT), "w")


def selected(wid):
    return not ONLY or wid in ONLY


# ---- threads: torch's intra-op pool and OpenBLAS's own pool -----------------------
_openblas = None


def find_openblas():
    """the loaded BLAS library if it is OpenBLAS (for openblas_set_num_threads)"""
    global _openblas
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))  # loads the BLAS
    try:
        with open("/proc/self/maps") as fp:
            libs = {line.split()[-1] for line in fp if "blas" in line.lower() and "/" in line}
    except OSError:
        libs = set()
    for lib in sorted(libs):
        try:
            h = ctypes.CDLL(lib)
            h.openblas_set_num_threads
            _openblas = h
            return lib
        except (OSError, AttributeError):
            continue
    return ", ".join(sorted(libs)) or "none found"


def set_threads(n):
    torch.set_num_threads(n)
    if _openblas is not None:
        _openblas.openblas_set_num_threads(n)


# ---- timing: the C driver's method ------------------------------------------------
def bench_time(body):
    t0 = time.perf_counter()
    calls = 0
    while True:
        body()
        calls += 1
        t1 = time.perf_counter()
        if calls >= 3 and t1 - t0 >= 0.5 * MIN_SAMPLE:
            break
    per = (t1 - t0) / calls
    reps = 1 if per >= MIN_SAMPLE else math.ceil(MIN_SAMPLE / per)
    samples = []
    while len(samples) < NSAMPLES:
        a = time.perf_counter()
        for _ in range(reps):
            body()
        b = time.perf_counter()
        if b - a < 0.5 * MIN_SAMPLE:
            reps = math.ceil(reps * MIN_SAMPLE / max(b - a, 1e-9))
            continue
        samples.append((b - a) / reps)
    samples.sort()
    n = len(samples)
    return samples[n // 2] if n % 2 else 0.5 * (samples[n // 2 - 1] + samples[n // 2])


def res_time(wid, cs, op, impl, sec):
    out.write(f"T\t{wid}\t{cs}\t{op}\t{impl}\t{sec:.6e}\n")
    out.flush()
    print(f"  {wid:<4} {cs:<10} {op:<9} {impl:<8} {sec * 1e6:12.3f} us", flush=True)


def res_note(wid, cs, impl, msg):
    msg = msg.replace("\t", " ").replace("\n", " ")
    out.write(f"N\t{wid}\t{cs}\t{impl}\t{msg}\n")
    out.flush()
    print(f"  {wid:<4} {cs:<10} {impl:<8} NOTE: {msg}", flush=True)


def time_all(wid, cs, ops):
    """ops: list of (op name, body); each timed with 1 and 2 threads"""
    for op, body in ops:
        for nt in THREADS:
            set_threads(nt)
            res_time(wid, cs, op, f"torch-{nt}t", bench_time(body))
    set_threads(THREADS[0])


# ---- data and checks --------------------------------------------------------------
def load(name, dtype=torch.float64):
    with open(os.path.join(DIR, name), "rb") as fp:
        data = bytearray(fp.read())
    return torch.frombuffer(data, dtype=dtype).clone()


class Mismatch(Exception):
    pass


def rel_err(a, b):
    a = a.detach().reshape(-1).double()
    b = b.detach().reshape(-1).double()
    if torch.isnan(a).any() or torch.isnan(b).any():
        return math.inf
    m = b.abs().max().item() if b.numel() else 0.0
    d = (a - b).abs().max().item() if b.numel() else 0.0
    return d / m if m > 0 else d


def check(wid, cs, what, err, tol):
    if not err <= tol:
        raise Mismatch(f"MISMATCH torch {what}: relative difference {err:.3g} above {tol:.1g}: workload aborted")
    print(f"  {wid:<4} {cs:<10} check torch {what:<28} ok ({err:.1e})", flush=True)


def run(wid, cs, fn):
    try:
        fn(wid, cs)
    except Mismatch as e:
        res_note(wid, cs, "torch", str(e))
    except FileNotFoundError as e:
        res_note(wid, cs, "torch", f"skipped: no data from the C driver ({e.filename})")
    except Exception as e:  # a torch failure must not stop the other workloads
        res_note(wid, cs, "torch", f"failed: {type(e).__name__}: {e}")


# ============================================================ B1: seed polynomial
P = [[6, 4, 9, 2], [2, 3, 5, 3], [5, 7, 7, 6]]


def poly(x):
    return torch.stack([x[0] ** p[0] * x[1] ** p[1] * x[2] ** p[2] * x[3] ** p[3] for p in P])


def b1(wid, cs):
    x, t, ct = load("B1_x.f64"), load("B1_t.f64"), load("B1_ct.f64")

    def f():
        with torch.no_grad():
            return poly(x)

    def vjp():
        xr = x.detach().requires_grad_()
        return torch.autograd.grad(poly(xr), xr, ct)[0]

    def jvp():
        with fwAD.dual_level():
            y = fwAD.unpack_dual(poly(fwAD.make_dual(x, t)))
            return y.primal, y.tangent

    def jac():
        return torch.autograd.functional.jacobian(poly, x)

    check(wid, cs, "f vs hand", rel_err(f(), load("B1_y.f64")), 1e-14)
    check(wid, cs, "vjp vs hand", rel_err(vjp(), load("B1_vjp.f64")), 1e-13)
    check(wid, cs, "jvp vs hand", rel_err(jvp()[1], load("B1_jvp.f64")), 1e-13)
    check(wid, cs, "jacobian vs hand", rel_err(jac(), load("B1_jac.f64")), 1e-13)
    time_all(wid, cs, [("f", f), ("vjp", vjp), ("jvp", jvp), ("jacobian", jac)])


# ========================================================= B2: x^2 + sin(x^2)
def b2(tag):
    def go(wid, cs):
        x = load(f"B2_{tag}_x.f64")
        ones = torch.ones_like(x)

        def f():
            with torch.no_grad():
                t = x * x
                return t + torch.sin(t)

        def vjp():
            xr = x.detach().requires_grad_()
            t = xr * xr
            y = t + torch.sin(t)
            return y.detach(), torch.autograd.grad(y, xr, ones)[0]

        check(wid, cs, "f vs hand", rel_err(f(), load(f"B2_{tag}_y.f64")), 1e-14)
        y, g = vjp()
        check(wid, cs, "vjp vs hand", rel_err(g, load(f"B2_{tag}_xbar.f64")), 1e-14)
        del y, g
        time_all(wid, cs, [("f", f), ("vjp", vjp)])

    return go


# =================================================================== B3: MLP
def b3(wid, cs):
    names = ["W1", "b1", "W2", "b2", "W3", "b3"]
    shapes = [(784, 512), (512,), (512, 512), (512,), (512, 10), (10,)]
    params = [load(f"B3_{n}.f32", torch.float32).reshape(s) for n, s in zip(names, shapes)]
    X = load("B3_X.f32", torch.float32).reshape(256, 784)
    labels = load("B3_labels.f64").long()

    def loss_of(W1, b1, W2, b2, W3, b3):
        h1 = torch.tanh(torch.addmm(b1, X, W1))
        h2 = torch.tanh(torch.addmm(b2, h1, W2))
        return F.cross_entropy(torch.addmm(b3, h2, W3), labels)

    def loss():
        with torch.no_grad():
            return loss_of(*params)

    def grad():
        ps = [p.detach().requires_grad_() for p in params]
        return torch.autograd.grad(loss_of(*ps), ps)

    check(wid, cs, "loss vs hand", rel_err(loss(), load("B3_loss.f32", torch.float32)), 1e-5)
    err = max(rel_err(g, load(f"B3_g{n}.f32", torch.float32)) for g, n in zip(grad(), names))
    check(wid, cs, "gradient vs hand (per block)", err, 1e-4)
    time_all(wid, cs, [("loss", loss), ("grad", grad)])


# ============================================================ B4: Rosenbrock
def rosen(x):
    a, b = x[:-1], x[1:]
    return (100 * torch.square(b - a * a) + torch.square(1 - a)).sum()


def b4(wid, cs):
    x, v = load("B4_x.f64"), load("B4_v.f64")

    def f():
        with torch.no_grad():
            return rosen(x)

    def grad():
        xr = x.detach().requires_grad_()
        return torch.autograd.grad(rosen(xr), xr)[0]

    def hvp():  # reverse over reverse, as torch.autograd.functional.hvp, without its wrapping
        xr = x.detach().requires_grad_()
        (g,) = torch.autograd.grad(rosen(xr), xr, create_graph=True)
        return torch.autograd.grad(g, xr, v)[0]

    check(wid, cs, "f vs hand", rel_err(f(), load("B4_f.f64")), 1e-12)
    check(wid, cs, "grad vs hand", rel_err(grad(), load("B4_grad.f64")), 1e-13)
    check(wid, cs, "hvp vs hand", rel_err(hvp(), load("B4_hvp.f64")), 1e-13)
    time_all(wid, cs, [("f", f), ("grad", grad), ("hvp", hvp)])


# ==================================================================== B5: GMM
GMM_PI = 3.14159265359


def gmm_read(path):
    with open(path) as fp:
        v = [float(s) for s in fp.read().split()]
    d, K, n = int(v[0]), int(v[1]), int(v[2])
    T = d * (d + 1) // 2
    at = 3
    alpha = torch.tensor(v[at:at + K], dtype=torch.float64); at += K
    means = torch.tensor(v[at:at + K * d], dtype=torch.float64).reshape(K, d); at += K * d
    icf = torch.tensor(v[at:at + K * T], dtype=torch.float64).reshape(K, T); at += K * T
    x = torch.tensor(v[at:at + n * d], dtype=torch.float64).reshape(n, d); at += n * d
    gamma, m = v[at], int(v[at + 1])
    return d, K, n, alpha, means, icf, x, gamma, m


def gmm_const(d, K, n, gamma, m):
    N = d + m + 1
    lgd = 0.25 * d * (d - 1) * math.log(GMM_PI) + sum(math.lgamma(0.5 * N + 0.5 * (1 - j)) for j in range(1, d + 1))
    C = N * d * (math.log(gamma) - 0.5 * math.log(2.0)) - lgd
    return -n * d * 0.5 * math.log(2 * GMM_PI) - K * C


def b5(file, ref):
    def go(wid, cs):
        path = os.path.join(ADBENCH, "gmm", file)
        if not os.path.exists(path):
            res_note(wid, cs, "torch", f"skipped: {path} is missing")
            return
        d, K, n, alpha, means, icf, x, gamma, m = gmm_read(path)
        const = gmm_const(d, K, n, gamma, m)
        # Q's strict lower part, filled column by column, as flat indices into [d*d]
        lidx = torch.tensor([j * d + c for c in range(d) for j in range(c + 1, d)], dtype=torch.long)

        def objective(alpha, means, icf):
            q, l = icf[:, :d], icf[:, d:]
            Qd = torch.exp(q)
            Ls = torch.zeros(K, d * d, dtype=icf.dtype).index_copy(1, lidx, l).view(K, d, d)
            xc = x.unsqueeze(1) - means.unsqueeze(0)  # [n, K, d]
            Lx = Qd * xc + torch.einsum("kjc,nkc->nkj", Ls, xc)
            beta = alpha + q.sum(1) - 0.5 * (Lx * Lx).sum(2)  # [n, K]
            prior = 0.5 * gamma * gamma * ((Qd * Qd).sum() + (l * l).sum()) - m * q.sum()
            return const + torch.logsumexp(beta, 1).sum() - n * torch.logsumexp(alpha, 0) + prior

        def f():
            with torch.no_grad():
                return objective(alpha, means, icf)

        def grad():
            ps = [p.detach().requires_grad_() for p in (alpha, means, icf)]
            return torch.autograd.grad(objective(*ps), ps)

        check(wid, cs, "objective vs reference", abs(f().item() - ref) / abs(ref), 1e-12)
        g = torch.cat([t.reshape(-1) for t in grad()])
        check(wid, cs, "gradient vs hand", rel_err(g, load(f"B5_{cs}_grad.f64")), 1e-11)
        time_all(wid, cs, [("objective", f), ("gradient", grad)])

    return go


# ================================================ B6: Jacobian of a small MLP
def b6(wid, cs):
    x = load("B6_x.f64")
    W1, b1 = load("B6_W1.f64").reshape(64, 3), load("B6_b1.f64")
    W2, b2 = load("B6_W2.f64").reshape(5, 64), load("B6_b2.f64")

    def mlp(x):
        return W2 @ torch.tanh(W1 @ x + b1) + b2

    def f():
        with torch.no_grad():
            return mlp(x)

    def jac():
        return torch.autograd.functional.jacobian(mlp, x)

    check(wid, cs, "f vs hand", rel_err(f(), load("B6_y.f64")), 1e-14)
    check(wid, cs, "jacobian vs hand", rel_err(jac(), load("B6_jac.f64")), 1e-14)
    time_all(wid, cs, [("f", f), ("jacobian", jac)])


def main():
    blas = find_openblas()
    info = (f"torch {torch.__version__}, BLAS {blas}, threads {','.join(map(str, THREADS))}, "
            f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}")
    print(info, flush=True)
    out.write(f"I\ttorch\t{info}\n")
    torch.set_num_interop_threads(1)
    set_threads(THREADS[0])
    work = [
        ("B1", "R4->R3", b1),
        ("B2", "N=1e6", b2("1e6")),
        ("B2", "N=1e7", b2("1e7")),
        ("B3", "b256", b3),
        ("B4", "n=1e6", b4),
        ("B5", "d10K25n1k", b5("1k/gmm_d10_K25.txt", -25649.65262119733)),
        ("B5", "d2K5n10k", b5("10k/gmm_d2_K5.txt", -52512.30605452295)),
        ("B6", "3-64-5", b6),
    ]
    for wid, cs, fn in work:
        if selected(wid):
            print(f"{wid} {cs} (torch)", flush=True)
            run(wid, cs, fn)
    out.close()


if __name__ == "__main__":
    main()
