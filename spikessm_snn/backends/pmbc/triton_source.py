"""The Triton source of PMBC's kernels (``kernels.py`` launches them); imported only when used."""

import triton
import triton.language as tl


@triton.jit
def combine(a1, b1, a2, b2):
    return a1 * a2, b1 * a2 + b2


@triton.jit
def scan_kernel(rate, b, y0, y, rows, cols, rate_row, rate_col, b_row, b_col,
                BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    col = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    col_ok = col < cols
    carry = tl.load(y0 + col, mask=col_ok, other=0.0)
    for start in range(0, rows, BLOCK_R):
        row = start + tl.arange(0, BLOCK_R)
        ok = (row[:, None] < rows) & col_ok[None, :]
        r = tl.load(rate + row[:, None] * rate_row + col[None, :] * rate_col, mask=ok, other=0.0)
        v = tl.load(b + row[:, None] * b_row + col[None, :] * b_col, mask=ok, other=0.0)
        decay, local = tl.associative_scan((tl.exp(-r), v), 0, combine)
        out = local + decay * carry[None, :]
        tl.store(y + row[:, None] * cols + col[None, :], out, mask=ok)
        last = tl.minimum(rows - start, BLOCK_R) - 1
        carry = tl.sum(tl.where(tl.arange(0, BLOCK_R)[:, None] == last, out, 0.0), axis=0)


@triton.jit
def finish_kernel(base, gap, guard, log_tau, threshold, log_tau_r, refractory, fires, in_band, rows, cols,
                  BLOCK_C: tl.constexpr):  # fmt: skip
    col = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    ok = col < cols
    lt = tl.load(log_tau + col, mask=ok, other=0.0)
    ltr = tl.load(log_tau_r + col, mask=ok, other=0.0)
    u = tl.load(threshold + col, mask=ok, other=0.0)
    c = tl.load(refractory + col, mask=ok, other=0.0)
    acc_v = tl.zeros([BLOCK_C], dtype=tl.float64)
    acc_r = tl.zeros([BLOCK_C], dtype=tl.float64)
    band = tl.zeros([BLOCK_C], dtype=tl.int8)
    for k in range(rows):
        m0 = tl.load(base + k * cols + col, mask=ok, other=-float("inf"))
        g = tl.load(gap + k * cols + col, mask=ok, other=1.0)
        bound = tl.load(guard + k * cols + col, mask=ok, other=0.0)
        decay_v, decay_r = tl.exp(g * lt), tl.exp(g * ltr)
        decay_r1 = tl.exp((g - 1.0) * ltr)  # log decays are finite (kernels.finish): tau_r^0 = 1 for tau_r = 0
        margin = m0 - u * decay_v * acc_v - c * decay_r1 * acc_r
        fired = margin >= 0
        band = band | ((tl.abs(margin) < bound) & (m0 > -float("inf"))).to(tl.int8)
        tl.store(fires + k * cols + col, fired.to(tl.int8), mask=ok)
        spike = fired.to(tl.float64)
        acc_v = decay_v * acc_v + spike
        acc_r = decay_r * acc_r + spike
    tl.store(in_band + col, band, mask=ok)


@triton.jit
def earlier_sums_kernel(gap, weight, log_tau, threshold, log_tau_r, refractory, out, rows, cols, gap_row, gap_col,
                        w_row, w_col, BLOCK_R: tl.constexpr, BLOCK_C: tl.constexpr):  # fmt: skip
    # E[k] = tau^g_k (E[k-1] + w[k-1]),  Z[k] = tau_r^g_k Z[k-1] + tau_r^(g_k - 1) w[k-1],  out = U E + c Z
    col = tl.program_id(0) * BLOCK_C + tl.arange(0, BLOCK_C)
    col_ok = col < cols
    lt = tl.load(log_tau + col, mask=col_ok, other=0.0)
    ltr = tl.load(log_tau_r + col, mask=col_ok, other=0.0)
    u = tl.load(threshold + col, mask=col_ok, other=0.0)
    c = tl.load(refractory + col, mask=col_ok, other=0.0)
    carry_v = tl.zeros([BLOCK_C], dtype=tl.float64)
    carry_r = tl.zeros([BLOCK_C], dtype=tl.float64)
    for start in range(0, rows, BLOCK_R):
        row = start + tl.arange(0, BLOCK_R)
        ok = (row[:, None] < rows) & col_ok[None, :]
        g = tl.load(gap + row[:, None] * gap_row + col[None, :] * gap_col, mask=ok, other=1.0)
        w_prev = tl.load(weight + (row[:, None] - 1) * w_row + col[None, :] * w_col, mask=ok & (row[:, None] >= 1),
                         other=0).to(tl.float64)  # fmt: skip
        decay_v, decay_r = tl.exp(g * lt[None, :]), tl.exp(g * ltr[None, :])
        decay_v_all, e = tl.associative_scan((decay_v, decay_v * w_prev), 0, combine)
        decay_r_all, z = tl.associative_scan((decay_r, tl.exp((g - 1.0) * ltr[None, :]) * w_prev), 0, combine)
        e = e + decay_v_all * carry_v[None, :]
        z = z + decay_r_all * carry_r[None, :]
        tl.store(out + row[:, None] * cols + col[None, :], u[None, :] * e + c[None, :] * z, mask=ok)
        last = tl.arange(0, BLOCK_R)[:, None] == tl.minimum(rows - start, BLOCK_R) - 1
        carry_v = tl.sum(tl.where(last, e, 0.0), axis=0)
        carry_r = tl.sum(tl.where(last, z, 0.0), axis=0)
