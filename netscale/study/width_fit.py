"""RegNet's width fits (Radosavovic et al. 2020, sec. 3.3): a model's per-block widths
against the continuous line u_j = w0 + wa * j (eq. 2) and against the quantized linear
widths of eqs. 2-4, each with its e_fit. numpy/scipy only, no torch. The study's other
statistics (EDFs, KS, bootstrap, power laws) are in `netscale.study.statistics`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize

from netscale.families.regnet import regnet_block_widths
from netscale.study.statistics import AnalysisError, as_vector


@dataclass(frozen=True, slots=True)
class LinearWidthFit:
    """Continuous line u_j = w0 + wa * j through per-block widths (RegNet eq. 2)."""

    w0: float
    wa: float
    e_fit: float  # mean |log(u_j / w_j)| over blocks


@dataclass(frozen=True, slots=True)
class QuantizedWidthFit:
    """RegNet's quantized linear fit (eqs. 2-4) of per-block widths, and its e_fit."""

    w0: float
    wa: float
    wm: float
    e_fit: float  # mean |log(predicted / observed)| over blocks (RegNet sec. 3.3)
    widths: tuple[int, ...]  # predicted per-block widths


def _mean_log_ratio(pred: np.ndarray, w: np.ndarray) -> np.ndarray:
    return np.mean(np.abs(np.log(pred / w)), axis=-1)


def linear_width_fit(block_widths: ArrayLike) -> LinearWidthFit:
    """Fit u_j = w0 + wa * j (RegNet eq. 2, block index j from 0) to a model's per-block
    widths, minimizing the mean log-ratio |log(u_j / w_j)| (sec. 3.3's e_fit without the
    quantization): least squares start, then Nelder-Mead on the log-ratio loss."""
    w = as_vector("block_widths", block_widths, positive=True)
    if w.size == 1:
        return LinearWidthFit(float(w[0]), 0.0, 0.0)
    j = np.arange(w.size)

    def loss(p: np.ndarray) -> float:
        u = p[0] + p[1] * j
        return float(_mean_log_ratio(u, w)) if np.all(u > 0) else np.inf

    wa0, w00 = np.polyfit(j, w, 1)
    start = np.array([w00, wa0])
    if not np.isfinite(loss(start)):  # the least-squares line dips below zero
        start = np.array([float(np.exp(np.log(w).mean())), 0.0])
    res = optimize.minimize(loss, start, method="Nelder-Mead", options={"xatol": 1e-8})
    best = res.x if res.fun < loss(start) else start
    return LinearWidthFit(float(best[0]), float(best[1]), loss(best))


def _width_grid(w: np.ndarray, w0s, was, wms, quantum: int) -> QuantizedWidthFit:
    """Best point of a (w0, wa, wm) grid for RegNet eqs. 2-4 against widths `w`."""
    grid = np.meshgrid(w0s, was, wms, indexing="ij")  # (A, B, C) each
    pred = regnet_block_widths(w.size, *grid, quantum)  # eqs. 2-4, (A, B, C, d)
    err = _mean_log_ratio(pred, w)
    i = np.unravel_index(np.argmin(err), err.shape)
    return QuantizedWidthFit(
        w0=float(w0s[i[0]]),
        wa=float(was[i[1]]),
        wm=float(wms[i[2]]),
        e_fit=float(err[i]),
        widths=tuple(int(v) for v in pred[i]),
    )


def quantized_width_fit(
    block_widths: ArrayLike, *, quantum: int = 8, wm_range: tuple[float, float] = (1.5, 3.0)
) -> QuantizedWidthFit:
    """RegNet's fit (sec. 3.3): grid search over w0, wa, wm minimizing the mean log-ratio
    e_fit of predicted to observed per-block widths, where the prediction is eqs. 2-4:
    u_j = w0 + wa j, s_j = round(log(u_j / w0) / log(wm)), w_j = w0 wm^s_j rounded to a
    multiple of `quantum`. A coarse grid (w0: multiples of `quantum` within 2x of the first
    width; wa: 0 and 64 log-spaced values around the mean slope; wm: 31 values over
    `wm_range`), then a 10x finer grid around its best point."""
    w = as_vector("block_widths", block_widths, positive=True)
    if quantum < 1 or not 1.0 < wm_range[0] <= wm_range[1]:
        raise AnalysisError(
            f"need quantum >= 1 and 1 < wm_range[0] <= wm_range[1], got "
            f"quantum={quantum}, wm_range={wm_range}"
        )
    lo, hi = max(1, int(np.ceil(w[0] / 2 / quantum))), max(1, int(2 * w[0] // quantum))
    w0s = quantum * np.unique(np.linspace(lo, hi, min(hi - lo + 1, 24)).round())
    slope = max((w.max() - w0s.min()) / max(w.size - 1, 1), 1.0)
    was = np.concatenate([[0.0], np.geomspace(slope / 8, slope * 8, 64)])
    wm_step = (wm_range[1] - wm_range[0]) / 30
    coarse = _width_grid(w, w0s, was, np.linspace(*wm_range, 31), quantum)
    w0s = np.maximum(coarse.w0 + quantum * np.arange(-1, 2), quantum)
    was = [0.0]
    if coarse.wa > 0:
        was = np.concatenate([[0.0], np.geomspace(coarse.wa / 1.1, coarse.wa * 1.1, 41)])
    wms = np.linspace(coarse.wm - wm_step, coarse.wm + wm_step, 21).clip(*wm_range)
    fine = _width_grid(w, w0s, np.asarray(was), wms, quantum)
    return fine if fine.e_fit < coarse.e_fit else coarse
