"""The exact 3-spin loss and its gradient (n = 1024, d = 25) vs NumPy and vs Monte Carlo.

One command:  python benchmarks/bench_three_spin_loss.py  [--n 1024] [--d 25] [--repeats 5]

Prints, in one run, the time of one loss + Riemannian gradient evaluation for
1. mflab's closed form (``three_spin_landscape``: jit, custom-JVP Bessel recurrence),
   float64 and float32;
2. a plain NumPy/SciPy version of the same closed forms (``scipy.special.ive`` for the
   Bessel functions, the gradient written out by hand) — also checks the two agree;
3. a 10⁵-point Monte Carlo estimate of the same loss and gradient (fresh uniform points,
   jitted JAX, value and gradient in one pass; the gradient is the landscape's mini-batch
   oracle with batch 10⁵), with its error against the exact values (mean over 8 draws);
and the ratios, including the time Monte Carlo would need to reach the closed form's error
(its cost grows as 1/error²).
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special

from mflab.spherical import (
    init_kernel_params,
    kernel_network,
    matched_weight_scale,
    three_spin,
    three_spin_couplings,
    three_spin_landscape,
    uniform_sphere,
)


def numpy_loss_and_grad(a, c, z, alpha):
    """L and its Riemannian gradient by the closed forms of SPEC C7, in NumPy/SciPy.

    L = ½[E f² − (2/n) c·F + cᵀKc/n²];  ∂L/∂c = (Kc/n − F)/n;
    ∂L/∂z_i = P_i[−(c_i/n) ∇F(z_i) + (c_i/n²) d α² Σ_j c_j K_ij ρ_ij (z_i + z_j)],
    with K_ij = e^{−2αd} m_ν(s_ij), s_ij = α√d|z_i + z_j|, ρ = I_{ν+1}/(s I_ν), and
    F(z) = A₁ τ·z + A₃ b(z,z,z), ∇F = A₁ τ + 3 A₃ b(z,z,·).
    """
    n, d = z.shape
    nu = d / 2 - 1
    b = sum(np.transpose(a, p) for p in
            ((0, 1, 2), (0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))) / 6
    tau = np.einsum("ppr->r", b)
    second_moment = (6 * np.sum(b * b) + 9 * tau @ tau) / ((d + 2) * (d + 4))

    def log_m(s):  # log[Γ(ν+1)(2/s)^ν I_ν(s)]
        return special.gammaln(nu + 1) + nu * np.log(2 / s) + np.log(special.ive(nu, s)) + s

    s0 = alpha * d
    iv = [special.ive(nu + k, s0) for k in range(4)]
    rho0 = [iv[k + 1] / (s0 * iv[k]) for k in range(3)]
    scale = np.exp(log_m(s0) - s0)
    a1 = scale * 3 * d * alpha * rho0[0] * rho0[1]
    a3 = scale * d**2 * alpha**3 * rho0[0] * rho0[1] * rho0[2]
    bz = np.einsum("pqr,iq,ir->ip", b, z, z)  # b(z, z, ·)
    F = a1 * z @ tau + a3 * np.sum(bz * z, axis=1)
    grad_F = a1 * tau[None, :] + 3 * a3 * bz

    gram = z @ z.T
    s = alpha * np.sqrt(d) * np.sqrt(np.maximum(2 * d + 2 * gram, 0.0))
    s = np.maximum(s, 1e-300)
    K = np.exp(log_m(s) - 2 * alpha * d)
    rho = special.ive(nu + 1, s) / (s * special.ive(nu, s))

    loss = 0.5 * (second_moment - 2 * c @ F / n + c @ K @ c / n**2)
    grad_c = (K @ c / n - F) / n
    W = K * rho * np.outer(c, c)
    grad_z = (-(c / n)[:, None] * grad_F
              + d * alpha**2 / n**2 * (W.sum(1)[:, None] * z + W @ z))
    grad_z -= np.sum(grad_z * z, axis=1, keepdims=True) * z / d
    return loss, grad_c, grad_z


def best_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--d", type=int, default=25)
    ap.add_argument("--points", type=int, default=100_000, help="Monte Carlo points")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    jax.config.update("jax_enable_x64", True)
    n, d, m = args.n, args.d, args.points

    a = three_spin_couplings(jax.random.key(0), d)
    alpha = 5.0 / d
    c0 = float(matched_weight_scale(a, alpha))
    params = init_kernel_params(jax.random.key(1), n, d, c0)
    land = three_spin_landscape(a, n, alpha)
    print(f"n = {n}, d = {d}, alpha = 5/d, c0 = {c0:.4g}; best of {args.repeats} runs, "
          f"jax {jax.__version__} on {jax.devices()[0].platform}")

    # 1. mflab closed form
    exact_vg = jax.jit(jax.value_and_grad(land.value))
    value, grad = jax.block_until_ready(exact_vg(params))
    t_exact = best_time(lambda: exact_vg(params), args.repeats)
    params32 = jax.tree_util.tree_map(lambda x: x.astype(jnp.float32), params)
    land32 = three_spin_landscape(a.astype(jnp.float32), n, alpha)
    vg32 = jax.jit(jax.value_and_grad(land32.value))
    value32, _ = jax.block_until_ready(vg32(params32))
    t_exact32 = best_time(lambda: vg32(params32), args.repeats)

    # 2. NumPy/SciPy closed form
    a_np, c_np, z_np = (np.asarray(x) for x in (a, params.c, params.z))
    np_out = numpy_loss_and_grad(a_np, c_np, z_np, alpha)
    t_numpy = best_time(lambda: numpy_loss_and_grad(a_np, c_np, z_np, alpha),
                        max(1, args.repeats // 2))
    agree_value = abs(np_out[0] - float(value)) / float(value)
    grad_ref = np.concatenate([np_out[1], np_out[2].ravel()])
    grad_jax = np.concatenate([np.asarray(grad.c), np.asarray(grad.z).ravel()])
    agree_grad = np.linalg.norm(grad_jax - grad_ref) / np.linalg.norm(grad_ref)

    # 3. Monte Carlo with m fresh points: ½ mean (f − f_n)² and its gradient in one pass
    #    (the landscape's mini-batch oracle is the gradient of the same function)
    def mc_loss(p, key):
        x = uniform_sphere(key, m, d, p.c.dtype)
        r = three_spin(a, x) - kernel_network(land.retract(p), x, alpha)
        return 0.5 * jnp.mean(r * r)

    mc = jax.jit(lambda key, p: jax.value_and_grad(mc_loss)(p, key))
    jax.block_until_ready(mc(jax.random.key(2), params))
    t_mc = best_time(lambda: mc(jax.random.key(3), params), args.repeats)
    oracle = three_spin_landscape(a, n, alpha, batch_size=m).sample_grad(jax.random.key(3), params)
    same = np.allclose(np.asarray(oracle.z), np.asarray(mc(jax.random.key(3), params)[1].z))
    assert same, "the benchmark's Monte Carlo gradient must be the landscape's oracle"
    errs, grad_errs = [], []
    for i in range(8):
        est, g = mc(jax.random.key(10 + i), params)
        errs.append(abs(float(est) - float(value)) / float(value))
        g_flat = np.concatenate([np.asarray(g.c), np.asarray(g.z).ravel()])
        grad_errs.append(np.linalg.norm(g_flat - grad_jax) / np.linalg.norm(grad_jax))
    rel_err_mc, rel_grad_mc = float(np.sqrt(np.mean(np.square(errs)))), float(np.mean(grad_errs))
    err_exact = max(agree_value, 1e-16)
    grad_err_exact = max(agree_grad, 1e-16)
    if not (agree_value < 1e-10 and agree_grad < 1e-10):
        raise SystemExit(f"closed forms disagree: loss {agree_value:.1e}, "
                         f"gradient {agree_grad:.1e}")

    def mc_time_to(err):  # Monte Carlo cost ∝ points ∝ 1/error²
        return t_mc * (rel_grad_mc / err) ** 2

    print(f"loss L = {float(value):.10g} (float32: {float(value32):.8g}); E f²/2 = "
          f"{land.info['second_moment'] / 2:.6g}")
    print(f"closed forms agree: mflab vs NumPy, loss {agree_value:.1e}, gradient {agree_grad:.1e}"
          " (relative)")
    print()
    print("| implementation | time per loss + gradient | relative error (loss / gradient) |"
          " time / mflab float64 |")
    print("|---|---|---|---|")
    print(f"| mflab closed form, float64 | {t_exact * 1e3:.1f} ms | {err_exact:.0e} / "
          f"{grad_err_exact:.0e} (vs NumPy) | 1 |")
    print(f"| mflab closed form, float32 | {t_exact32 * 1e3:.1f} ms | "
          f"{abs(float(value32) - float(value)) / float(value):.0e} / — | "
          f"{t_exact32 / t_exact:.2f} |")
    print(f"| NumPy/SciPy closed form, float64 | {t_numpy * 1e3:.0f} ms | same formulas | "
          f"{t_numpy / t_exact:.1f} |")
    print(f"| Monte Carlo, {m:.0e} points, jit, float64 | {t_mc * 1e3:.0f} ms | "
          f"{rel_err_mc:.1e} / {rel_grad_mc:.1e} | {t_mc / t_exact:.1f} |")
    for err in (1e-2, grad_err_exact):
        print(f"| Monte Carlo to a gradient error of {err:.0e} (extrapolated, cost ∝ 1/error²) | "
              f"{mc_time_to(err):.2g} s | {err:.0e} | {mc_time_to(err) / t_exact:.2g} |")


if __name__ == "__main__":
    main()
