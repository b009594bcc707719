"""The camera synthetic pairs are made with: its noise (ELD form) and its colour matrix.

AugmentConfig.camera None is the kind's modelled camera (Sony A7S II / Fujifilm X-T2 colour,
darkdev/noise_params.json noise), the default every bundled network was trained on. A camera
profile from `darkdev calibrate` gives another (camera_from_profile): its noise_params (14-bit
DN, a drop-in for noise_params.json), its DNG colour matrix as LibRaw knows it, make and model.

The profile's black-level error is not synthesised: `develop --profile` subtracts it (the master
dark, or the interpolated per-channel error) before the network sees the raw, so pairs are made
as develop --profile delivers them, corrected.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from darkdev.errors import CalibrationError

NOISE_KEYS = ("Kmin", "Kmax", "g_scale", "G_scale", "R_scale", "G_shape_tukey_lambda")
# --iso N: system gains within a third of a stop of that ISO's (cameras set ISO in thirds).
ISO_GAIN_SPREAD = 2 ** (1 / 3)


@dataclass(frozen=True)
class SyntheticCamera:
    make: str
    model: str
    cfa_kind: str
    camera_from_xyz_x10000: tuple[float, ...]  # DNG ColorMatrix1: XYZ -> camera, x1e4
    noise_params: dict[str, Any] = field(compare=False, hash=False)  # as noise_params.json
    profile_sha256: str = ""  # what identifies the camera (and its noise) in comparisons
    iso: float | None = None  # noise narrowed to this ISO (None: the calibrated ISO range)

    @property
    def name(self) -> str:
        return f"{self.make} {self.model}".strip() or "an unknown camera"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (a run's config.json), read back by from_dict."""
        return {
            "make": self.make,
            "model": self.model,
            "cfa_kind": self.cfa_kind,
            "camera_from_xyz_x10000": list(self.camera_from_xyz_x10000),
            "noise_params": self.noise_params,
            "profile_sha256": self.profile_sha256,
            "iso": self.iso,
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SyntheticCamera:
        return cls(**{**values, "camera_from_xyz_x10000": tuple(values["camera_from_xyz_x10000"])})


def narrowed_to_iso(noise_params: dict[str, Any], gain_dn_per_electron: float) -> dict[str, Any]:
    """The noise parameters with K drawn within ISO_GAIN_SPREAD of one ISO's gain."""
    return {
        **noise_params,
        "Kmin": gain_dn_per_electron / ISO_GAIN_SPREAD,
        "Kmax": gain_dn_per_electron * ISO_GAIN_SPREAD,
    }


def camera_from_profile(path: str | Path, iso: float | None = None) -> SyntheticCamera:
    """A camera profile's noise and colour for synthetic pairs; iso narrows K to that ISO's."""
    from darkdev.calibration.camera_profile import CameraProfile

    path = Path(path)
    profile = CameraProfile.load(path)
    camera, params = profile.camera, profile.document.get("noise_params")
    if not params or any(params.get(key) is None for key in NOISE_KEYS):
        raise CalibrationError(
            f"{path}: the profile has no noise model (calibrate with flat frames as well)"
        )
    if not params["G_shape_tukey_lambda"]:
        raise CalibrationError(f"{path}: the profile has no Tukey-lambda read-noise shape")
    matrix = camera.get("dng_color_matrix_x10000")
    if not matrix or len(matrix) != 9 or not any(matrix):
        raise CalibrationError(f"{path}: the profile has no colour matrix")
    if camera.get("cfa_kind") not in ("bayer", "xtrans"):
        raise CalibrationError(f"{path}: unknown CFA kind {camera.get('cfa_kind')!r}")
    noise_params = {key: params[key] for key in NOISE_KEYS}
    if iso is not None:
        gain = profile.noise_at_iso(iso, reference_14bit=True).system_gain_dn_per_electron
        if gain is None or not math.isfinite(gain) or gain <= 0:
            raise CalibrationError(f"{path}: no system gain K at ISO {iso:g}")
        noise_params = narrowed_to_iso(noise_params, gain)
    return SyntheticCamera(
        make=camera.get("make", ""),
        model=camera.get("model", ""),
        cfa_kind=camera["cfa_kind"],
        camera_from_xyz_x10000=tuple(matrix),
        noise_params=noise_params,
        profile_sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
        iso=iso,
    )
