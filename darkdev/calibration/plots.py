"""`calibrate --plot`: the photon-transfer plot and the dark-noise histograms with their fits (PNG).

matplotlib is optional (test / train extras) and imported only here, only when plotting.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from darkdev.calibration.calibrate import CalibrationResult
from darkdev.calibration.distributions import sorted_tukey_differences
from darkdev.calibration.frames import CHANNEL_NAMES
from darkdev.files import write_atomic

CHANNEL_COLOURS = ("tab:red", "tab:green", "tab:blue", "tab:olive")


def matplotlib_missing() -> str | None:
    """None when plotting is possible, else the one line that says why not."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "--plot needs matplotlib (pip install matplotlib); no plots written"
    return None


def _figure(rows: int, columns: int, size: tuple[float, float]):
    import matplotlib

    matplotlib.use("Agg")  # files only; never a window
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(rows, columns, figsize=size, squeeze=False)
    return plt, figure, axes


def _png(plt, figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=100)
    plt.close(figure)
    return buffer.getvalue()


def photon_transfer_png(result: CalibrationResult) -> bytes | None:
    """Variance against mean of every flat pair and channel, with the fitted lines (log-log)."""
    gains = [calibration for calibration in result.isos if calibration.gain is not None]
    if not gains:
        return None
    plt, figure, axes = _figure(1, len(gains), (4.5 * len(gains), 4))
    for axis, calibration in zip(axes[0], gains, strict=True):
        gain = calibration.gain
        assert gain is not None
        for channel in sorted({row[0] for row in gain.points}):
            rows = [row for row in gain.points if row[0] == channel]
            axis.loglog(
                [mean for _, mean, _ in rows],
                [variance for _, _, variance in rows],
                "o",
                color=CHANNEL_COLOURS[channel],
                label=CHANNEL_NAMES[channel],
            )
        means = np.geomspace(
            max(min(r[1] for r in gain.points), 1e-3) / 2, max(r[1] for r in gain.points) * 2
        )
        axis.loglog(
            means,
            gain.system_gain_dn_per_electron * means + gain.intercept_dn2,
            "k-",
            label=f"K = {gain.system_gain_dn_per_electron:.3g} DN/e-",
        )
        axis.set(
            title=f"ISO {calibration.iso}: photon transfer",
            xlabel="mean above dark (DN)",
            ylabel="variance of pair difference / 2 (DN^2)",
        )
        axis.legend(fontsize=8)
    return _png(plt, figure)


def noise_histograms_png(result: CalibrationResult) -> bytes | None:
    """Dark pair differences (read noise) and their row means (row noise) with the fits."""
    darks = [calibration for calibration in result.isos if calibration.dark is not None]
    if not darks:
        return None
    plt, figure, axes = _figure(2, len(darks), (4.5 * len(darks), 7))
    for column, calibration in enumerate(darks):
        dark = calibration.dark
        assert dark is not None
        fit = dark.read_noise
        sample = dark.difference_sample_dn
        axis = axes[0, column]
        limit = float(np.percentile(np.abs(sample), 99.9))
        bins = np.linspace(-limit, limit, 81)
        axis.hist(sample, bins=bins, density=True, color="0.7", label="dark pair differences")
        centres = (bins[1:] + bins[:-1]) / 2
        sigma = np.sqrt(2) * fit.gaussian_sigma_dn
        axis.semilogy(
            centres,
            np.exp(-(centres**2) / (2 * sigma**2)) / (sigma * np.sqrt(2 * np.pi)),
            "b-",
            label=f"Gaussian, sigma {fit.gaussian_sigma_dn:.2f} DN",
        )
        simulated = fit.tukey_scale_dn * sorted_tukey_differences(round(fit.tukey_lambda, 4))
        density, _ = np.histogram(simulated, bins=bins, density=True)
        axis.semilogy(
            centres,
            np.maximum(density, 1e-9),
            "r--",
            label=f"Tukey-lambda {fit.tukey_lambda:.2f}, scale {fit.tukey_scale_dn:.2f} DN",
        )
        axis.set(title=f"ISO {calibration.iso}: read noise", xlabel="DN", ylim=(1e-5, None))
        axis.legend(fontsize=8)
        rows = dark.row_mean_sample_dn
        axis = axes[1, column]
        axis.hist(rows, bins=40, density=True, color="0.7", label="row means of differences")
        spread = np.sqrt(max(float(rows.var()), 1e-12))
        grid = np.linspace(rows.min(), rows.max(), 200)
        axis.plot(
            grid,
            np.exp(-(grid**2) / (2 * spread**2)) / (spread * np.sqrt(2 * np.pi)),
            "b-",
            label=f"row sigma {dark.row_sigma_dn:.2f} DN",
        )
        axis.set(title=f"ISO {calibration.iso}: row noise", xlabel="DN")
        axis.legend(fontsize=8)
    return _png(plt, figure)


def plot_paths(profile_path: str | Path) -> dict[str, Path]:
    path = Path(profile_path)
    return {
        "photon_transfer": path.with_name(path.stem + ".ptc.png"),
        "noise": path.with_name(path.stem + ".noise.png"),
    }


def write_plots(result: CalibrationResult, profile_path: str | Path) -> list[Path]:
    """Write the PNGs beside the profile (atomically); the paths written."""
    written = []
    paths = plot_paths(profile_path)
    for name, payload in (
        ("photon_transfer", photon_transfer_png(result)),
        ("noise", noise_histograms_png(result)),
    ):
        if payload is not None:
            write_atomic(paths[name], payload)
            written.append(paths[name])
    return written
