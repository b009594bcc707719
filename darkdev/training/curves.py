"""The training log (log.jsonl: one JSON line per logged step or validation) and its curves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

LOG_NAME = "log.jsonl"


def append_log(path: Path, record: dict[str, Any]) -> None:
    with open(path, "a") as log:
        log.write(json.dumps(record) + "\n")


def read_log(path: Path, up_to_step: int) -> list[dict]:
    if not path.exists():
        return []
    entries = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [entry for entry in entries if entry.get("step", 0) <= up_to_step]


def write_log(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries))


def truncate_log(path: Path, step: int) -> None:
    """Drop log lines written after `step`, so the log matches a restored checkpoint."""
    write_log(path, read_log(path, step))


def plot_curves(log_path: Path, image_path: Path, classical_psnr: float | None) -> None:
    """Training loss and validation PSNR against step (matplotlib, imported lazily)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    entries = read_log(log_path, 1 << 62)
    losses = [(e["step"], e["loss"]) for e in entries if "loss" in e]
    scores = [(e["step"], e["val_psnr"]) for e in entries if "val_psnr" in e]
    figure, (loss_axis, psnr_axis) = plt.subplots(1, 2, figsize=(10, 4))
    if losses:
        loss_axis.plot(*zip(*losses, strict=True), lw=0.8)
    loss_axis.set_xlabel("step")
    loss_axis.set_ylabel("training loss (L1 sum + beta TV)")
    loss_axis.set_yscale("log")
    if scores:
        psnr_axis.plot(*zip(*scores, strict=True), marker="o", label="network")
    if classical_psnr is not None:
        psnr_axis.axhline(
            classical_psnr, color="gray", ls="--", label="classical (linear + LibRaw)"
        )
    psnr_axis.set_xlabel("step")
    psnr_axis.set_ylabel("validation PSNR (dB)")
    psnr_axis.legend()
    figure.tight_layout()
    figure.savefig(image_path, dpi=100)
    plt.close(figure)
