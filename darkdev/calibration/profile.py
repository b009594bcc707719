"""Camera profiles: the JSON `darkdev calibrate` writes, its master darks, reading them back.

numpy only. Two files, each written atomically (files.write_atomic), the master darks first:

mycamera.json (format "darkdev camera profile", format_version 1):
  camera: make, model, cfa_kind, cfa_pattern (LibRaw colour indices of the top-left period),
      visible_size_px [H, W], black_level_per_channel, white_level (the files' own levels),
      rgb_xyz_matrix (4x3, XYZ -> camera) and color_matrix (3x4, camera -> sRGB) as LibRaw
      reports them for one calibration raw, dng_color_matrix_x10000 (XYZ -> camera as DNG
      ColorMatrix1 integers for darkdev.dng.DngMetadata.color_matrix: rgb_xyz_matrix rows 0-2,
      or derived from color_matrix where LibRaw leaves that at zero, e.g. for DNGs) and
      dng_color_matrix_source.
  dn_to_14bit_scale: (16383 - 512) / (white - black): multiplies this camera's DN into the 14-bit
      range of ELD's calibration and darkdev's synthetic raws (same share of full scale).
  isos: one entry per calibrated ISO, ascending; every value in the camera's own DN after black
      subtraction, null where the frames for it were not given:
      iso, dark_frames, flat_pairs, exposure_time_s (median of the darks),
      black_level_error_dn {R, G, B[, G2]}: dark mean minus the file's black level, per CFA
          channel (LibRaw colour 0 R, 1 G, 2 B, 3 second G);
      read_sigma_dn: Gaussian read-noise sigma (ELD g_scale), read_noise_variance_dn2 (plain),
      tukey_lambda and tukey_scale_dn: Tukey-lambda shape and scale (ELD G_shape, G_scale),
      read_noise_better_fit: "gaussian" or "tukey-lambda", probability_plot_correlation,
      row_sigma_dn: sigma of a per-row offset (ELD R_scale),
      system_gain_dn_per_electron: K (ELD's K), joint photon-transfer fit over the channels;
      system_gain_per_channel, photon_transfer_points [[channel, mean DN, variance DN^2], ...],
      photon_transfer_intercept_dn2,
      master_dark: key of its array in the master-darks file.
      Noise is temporal noise after dark-frame subtraction (darks.py): what develop --profile
      leaves in an image.
  fits (camera DN, natural logs, ELD's form): log_k_vs_log_iso, log_read_sigma_vs_log_k,
      log_tukey_scale_vs_log_k, log_row_sigma_vs_log_k: {slope, bias, residual_sigma, points,
      slope_fixed}; null without data.
  noise_params: a drop-in for darkdev/noise_params.json (same keys and meaning: Kmin, Kmax,
      g_scale, G_scale, R_scale {slope, bias, sigma}, G_shape_tukey_lambda, color_bias), scaled
      to 14-bit DN by dn_to_14bit_scale; color_bias has COLOR_BIAS_ROWS rows over K bins in
      packed order R, G1, B, G2 (X-Trans: R, G, B, G). null without flats (no K).
  master_darks: {file (beside the JSON), sha256, format_version}.

For fine-tuning (darkdev finetune, darkdev.training.camera.camera_from_profile) the profile gives:
noise_params, a drop-in for noise.noise_parameters() (ELD-style sampling around this camera's
lines); the fits, for K at one ISO (--iso); camera.dng_color_matrix_x10000 and make/model for
dng.DngMetadata, so synthetic raws develop with this camera's colour in LibRaw.
camera_profile.CameraProfile.noise_at_iso(iso, reference_14bit=True).noise_sample_fields(...)
gives the fields of darkdev.training.noise.NoiseSample for one ISO.

mycamera.darks.npz (np.savez_compressed, read with allow_pickle=False): format_version (int),
  camera (str), iso_<ISO>: (H, W) float16 master dark minus the file's black level, in DN.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from darkdev.calibration.calibrate import CalibrationResult, IsoCalibration
from darkdev.calibration.fits import (
    GAIN_PER_ISO_SLOPE,
    LogLine,
    eld_slopes,
    fit_log_line,
    interpolate_in_log,
)
from darkdev.calibration.frames import CHANNEL_NAMES
from darkdev.colour import XYZ_FROM_LINEAR_SRGB
from darkdev.errors import OutputError
from darkdev.files import write_atomic

FORMAT = "darkdev camera profile"
FORMAT_VERSION = 1
MASTER_DARKS_VERSION = 1
REFERENCE_BLACK_DN, REFERENCE_WHITE_DN = 512, 16383  # ELD's Sony A7S II and darkdev's synthesis
COLOR_BIAS_ROWS = 8
SIGMA_FITS = {  # fit name -> (per-ISO key, ELD noise_params key)
    "log_read_sigma_vs_log_k": ("read_sigma_dn", "g_scale"),
    "log_tukey_scale_vs_log_k": ("tukey_scale_dn", "G_scale"),
    "log_row_sigma_vs_log_k": ("row_sigma_dn", "R_scale"),
}


def master_darks_path(profile_path: str | Path) -> Path:
    path = Path(profile_path)
    return path.with_name(path.stem + ".darks.npz")


def _by_name(values: dict[int, float]) -> dict[str, float]:
    return {CHANNEL_NAMES[channel]: round(value, 4) for channel, value in sorted(values.items())}


def iso_entry(calibration: IsoCalibration) -> dict:
    dark, gain = calibration.dark, calibration.gain
    entry: dict = {"iso": calibration.iso, "dark_frames": 0, "flat_pairs": 0}
    entry["exposure_time_s"] = dark.exposure_time_s if dark else None
    entry["black_level_error_dn"] = _by_name(dark.black_level_error_dn) if dark else None
    read = dark.read_noise if dark else None
    entry.update(
        read_sigma_dn=read.gaussian_sigma_dn if read else None,
        read_noise_variance_dn2=dark.read_variance_dn2 if dark else None,
        tukey_lambda=read.tukey_lambda if read else None,
        tukey_scale_dn=read.tukey_scale_dn if read else None,
        read_noise_better_fit=read.better_fit if read else None,
        probability_plot_correlation=(
            {"gaussian": read.gaussian_correlation, "tukey_lambda": read.tukey_correlation}
            if read
            else None
        ),
        row_sigma_dn=dark.row_sigma_dn if dark else None,
        system_gain_dn_per_electron=gain.system_gain_dn_per_electron if gain else None,
        system_gain_per_channel=_by_name(gain.gain_per_channel) if gain else None,
        photon_transfer_points=[list(point) for point in gain.points] if gain else None,
        photon_transfer_intercept_dn2=gain.intercept_dn2 if gain else None,
        master_dark=f"iso_{calibration.iso}" if dark else None,
    )
    if dark:
        entry["dark_frames"] = dark.frame_count
    if gain:
        entry["flat_pairs"] = gain.pair_count
    return entry


def fit_relations(entries: list[dict], scale: float = 1.0) -> dict[str, LogLine | None]:
    """ELD's log-linear relations over the per-ISO entries, DN multiplied by scale."""
    with_gain = [e for e in entries if e["system_gain_dn_per_electron"] is not None]
    fits = {
        "log_k_vs_log_iso": fit_log_line(
            [e["iso"] for e in with_gain],
            [e["system_gain_dn_per_electron"] * scale for e in with_gain],
            GAIN_PER_ISO_SLOPE,
        )
    }
    slopes = eld_slopes()
    for name, (key, eld_name) in SIGMA_FITS.items():
        both = [e for e in with_gain if e[key] is not None]
        fits[name] = fit_log_line(
            [e["system_gain_dn_per_electron"] * scale for e in both],
            [e[key] * scale for e in both],
            slopes[eld_name],
        )
    return fits


def _black_errors_at(entries: list[dict], iso: float) -> dict[str, float] | None:
    with_darks = [e for e in entries if e["black_level_error_dn"] is not None]
    if not with_darks:
        return None
    names = list(with_darks[0]["black_level_error_dn"])
    isos = [e["iso"] for e in with_darks]
    return {
        name: interpolate_in_log(isos, [e["black_level_error_dn"][name] for e in with_darks], iso)
        for name in names
    }


def eld_noise_params(document: dict) -> dict | None:
    """The profile's noise in the form of darkdev/noise_params.json, in 14-bit DN."""
    entries, scale = document["isos"], document["dn_to_14bit_scale"]
    fits = fit_relations(entries, scale)
    gain_line = fits["log_k_vs_log_iso"]
    if gain_line is None or any(fits[name] is None for name in SIGMA_FITS):
        return None
    gains = [
        e["system_gain_dn_per_electron"] * scale
        for e in entries
        if e["system_gain_dn_per_electron"] is not None
    ]
    k_min, k_max = min(gains), max(gains)
    rows = []
    for row in range(COLOR_BIAS_ROWS):
        k_centre = k_min + (row + 0.5) * (k_max - k_min) / COLOR_BIAS_ROWS
        iso = gain_line.inverse(k_centre) if abs(gain_line.slope) > 1e-9 else entries[0]["iso"]
        errors = _black_errors_at(entries, iso) or {}
        packed = [errors.get(name, errors.get("G", 0.0)) for name in CHANNEL_NAMES]
        rows.append([round(value * scale, 4) for value in packed])
    params = {
        "source": f"darkdev calibrate: {document['camera']['make']} {document['camera']['model']}",
        "meaning": "as darkdev/noise_params.json; 14-bit DN (camera DN x dn_to_14bit_scale)",
        "camera": f"{document['camera']['make']} {document['camera']['model']}".strip(),
        "Kmin": k_min,
        "Kmax": k_max,
        "G_shape_tukey_lambda": [
            e["tukey_lambda"] for e in entries if e["tukey_lambda"] is not None
        ],
        "color_bias": rows,
    }
    for name, (_, eld_name) in SIGMA_FITS.items():
        line = fits[name]
        assert line is not None  # every sigma fit was checked above
        params[eld_name] = {"bias": line.bias, "sigma": line.residual_sigma, "slope": line.slope}
    return params


def _finite(value):
    """The document with NaN / infinity as null (JSON has neither)."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def xyz_to_camera(matrices: dict) -> tuple[np.ndarray, str]:
    """(3, 3) XYZ -> camera matrix and where it came from.

    LibRaw leaves rgb_xyz_matrix at zero for a DNG whose camera is not in its tables; then it is
    recovered from color_matrix (rgb_cam = inverse of cam_xyz @ xyz_rgb, rows normalised to 1),
    up to the row scale LibRaw normalises away again when it reads the matrix from a DNG.
    """
    reported = np.asarray(matrices["rgb_xyz_matrix"], dtype=np.float64)[:3]
    if np.any(reported):
        return reported, "libraw rgb_xyz_matrix"
    camera_from_srgb = np.linalg.inv(np.asarray(matrices["color_matrix"], dtype=np.float64)[:, :3])
    camera_from_xyz = camera_from_srgb @ np.linalg.inv(XYZ_FROM_LINEAR_SRGB)
    return camera_from_xyz, "derived from libraw color_matrix"


def build_document(result: CalibrationResult, master_darks: dict | None) -> dict:
    camera = result.camera
    matrices = result.colour_matrices
    dng_matrix, dng_matrix_source = xyz_to_camera(matrices)
    range_dn = result.white_level - max(result.black_level_per_channel)
    document: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "camera": {
            "make": camera.make,
            "model": camera.model,
            "cfa_kind": camera.cfa_kind,
            "cfa_pattern": [list(row) for row in camera.cfa_pattern],
            "visible_size_px": [camera.height, camera.width],
            "black_level_per_channel": list(result.black_level_per_channel),
            "white_level": result.white_level,
            "rgb_xyz_matrix": matrices["rgb_xyz_matrix"],
            "color_matrix": matrices["color_matrix"],
            "dng_color_matrix_x10000": [int(round(v * 10000)) for v in dng_matrix.ravel()],
            "dng_color_matrix_source": dng_matrix_source,
        },
        "units": "DN of this camera after black subtraction; K in DN per electron",
        "dn_to_14bit_scale": (REFERENCE_WHITE_DN - REFERENCE_BLACK_DN) / range_dn,
        "isos": [iso_entry(calibration) for calibration in result.isos],
    }
    fits = fit_relations(document["isos"])
    document["fits"] = {name: line.to_dict() if line else None for name, line in fits.items()}
    document["noise_params"] = eld_noise_params(document)
    document["master_darks"] = master_darks
    return document


def encode_master_darks(result: CalibrationResult) -> bytes | None:
    """The master darks of every ISO with dark frames as a compressed .npz (float16 offsets)."""
    arrays: dict[str, Any] = {
        f"iso_{calibration.iso}": calibration.dark.master_dark_offset_dn.astype(np.float16)
        for calibration in result.isos
        if calibration.dark is not None
    }
    if not arrays:
        return None
    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        format_version=np.array(MASTER_DARKS_VERSION),
        camera=np.array(result.camera.describe()),
        **arrays,
    )
    return buffer.getvalue()


def write_profile(result: CalibrationResult, path: str | Path, overwrite: bool = False) -> dict:
    """Write the master darks, then the profile JSON (each atomically); returns the document."""
    path = Path(path)
    darks_path = master_darks_path(path)
    if not overwrite:
        for target in (path, darks_path):
            if target.exists():
                raise OutputError(f"{target}: exists (use --overwrite to replace it)")
    payload = encode_master_darks(result)
    master_darks = None
    if payload is not None:
        master_darks = {
            "file": darks_path.name,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "format_version": MASTER_DARKS_VERSION,
        }
    document = build_document(result, master_darks)
    text = json.dumps(_finite(document), indent=1, allow_nan=False) + "\n"
    if payload is not None:
        write_atomic(darks_path, payload)
    try:
        write_atomic(path, text.encode())
    except OutputError:
        if payload is not None:
            darks_path.unlink(missing_ok=True)  # no master darks without the profile naming them
        raise
    return document
