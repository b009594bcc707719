"""Dark-frame subtraction for develop: a dark raw, or a profile's master dark for the image's ISO.

numpy only. The offset (dark minus black level, per pixel, in DN) is taken off the image's raw
digital numbers before normalisation, so values below the file's black level count and nothing
is amplified yet. A profile without a master dark at the image's ISO corrects the per-channel
black-level error only (interpolated in log ISO), and says so.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from darkdev import raw
from darkdev.calibration.camera_profile import CameraProfile
from darkdev.calibration.darks import check_dark
from darkdev.calibration.frames import CHANNEL_NAMES, CameraIdentity, identity_of
from darkdev.errors import CalibrationError

EXPOSURE_MISMATCH = 2.0  # dark and image exposure times further apart than this get a warning


def subtract_offset(frame: raw.RawFrame, offset_dn: np.ndarray) -> raw.RawFrame:
    """The frame with offset_dn (H, W) taken off its raw values, normalised as raw.decode does."""
    if offset_dn.shape != (frame.height, frame.width):
        raise CalibrationError(
            f"{frame.source}: dark offset {offset_dn.shape} does not match the image "
            f"{(frame.height, frame.width)}"
        )
    dn = raw.visible_dn(frame).astype(np.float32)
    black_map = np.asarray(frame.black_level_per_channel, dtype=np.float32)[frame.colour_map]
    mosaic = (dn - offset_dn - black_map) / (frame.white_level - black_map)
    mosaic[dn >= frame.white_level] = 1.0  # clipped highlights stay clipped
    np.minimum(mosaic, 1.0, out=mosaic)  # below black is kept, as raw.decode keeps it
    return replace(frame, mosaic=mosaic)


def _exposure_warning(dark_s: float | None, image_s: float | None, what: str) -> list[str]:
    if not dark_s or not image_s:
        return []
    if max(dark_s, image_s) / min(dark_s, image_s) <= EXPOSURE_MISMATCH:
        return []
    return [
        f"{what} exposed {dark_s:g} s, the image {image_s:g} s: amp glow and dark current grow "
        "with exposure; shoot darks at the image's shutter speed"
    ]


def _check_camera(expected: CameraIdentity, what: str, frame: raw.RawFrame) -> None:
    actual = identity_of(frame)
    if actual != expected:
        raise CalibrationError(
            f"{frame.source}: {actual.describe()}, but {what} is {expected.describe()}"
        )


class DarkSubtraction:
    """One dark frame or one profile, loaded once and applied to every frame of a batch."""

    def __init__(self) -> None:
        self._dark_offset: np.ndarray | None = None
        self._dark_identity: CameraIdentity | None = None
        self._dark_source = ""
        self._dark_exposure_s: float | None = None
        self._profile: CameraProfile | None = None
        self._profile_identity: CameraIdentity | None = None

    @classmethod
    def from_dark_frame(cls, path: str | Path) -> DarkSubtraction:
        frame = raw.read_raw(path)
        dn = raw.visible_dn(frame).astype(np.float32)
        black_map = np.asarray(frame.black_level_per_channel, dtype=np.float32)[frame.colour_map]
        offset = dn - black_map
        check_dark(frame.source, offset, frame.white_level - max(frame.black_level_per_channel))
        subtraction = cls()
        subtraction._dark_offset = offset
        subtraction._dark_identity = identity_of(frame)
        subtraction._dark_source = f"the dark frame {frame.source}"
        subtraction._dark_exposure_s = frame.camera.exposure_time_s
        return subtraction

    @classmethod
    def from_profile(cls, path: str | Path) -> DarkSubtraction:
        subtraction = cls()
        profile = CameraProfile.load(path)
        camera = profile.camera
        subtraction._profile = profile
        subtraction._profile_identity = CameraIdentity(
            make=camera["make"],
            model=camera["model"],
            height=int(camera["visible_size_px"][0]),
            width=int(camera["visible_size_px"][1]),
            cfa_kind=camera["cfa_kind"],
            cfa_pattern=tuple(tuple(int(v) for v in row) for row in camera["cfa_pattern"]),
        )
        return subtraction

    def apply(self, frame: raw.RawFrame) -> tuple[raw.RawFrame, list[str]]:
        """(the corrected frame, warnings for the report)."""
        if self._dark_offset is not None and self._dark_identity is not None:
            _check_camera(self._dark_identity, self._dark_source, frame)
            warnings = _exposure_warning(
                self._dark_exposure_s, frame.camera.exposure_time_s, "the dark frame"
            )
            return subtract_offset(frame, self._dark_offset), warnings
        if self._profile is None or self._profile_identity is None:
            return frame, []
        profile = self._profile
        _check_camera(self._profile_identity, f"the profile {profile.path.name}", frame)
        iso = frame.camera.iso
        if iso is None:
            return frame, [
                "no ISO in the image's metadata: the profile's dark correction is skipped"
            ]
        offset = profile.master_dark_offset(iso)
        if offset is not None:
            entry = profile.entry(iso) or {}
            warnings = _exposure_warning(
                entry.get("exposure_time_s"), frame.camera.exposure_time_s, "the master dark"
            )
            return subtract_offset(frame, offset), warnings
        errors = profile.black_level_error_at_iso(iso)
        if errors is None:
            return frame, [f"the profile has no dark frames: nothing to correct at ISO {iso}"]
        per_channel = np.array(
            [errors.get(name, errors.get("G", 0.0)) for name in CHANNEL_NAMES], dtype=np.float32
        )
        warnings = [
            f"no master dark at ISO {iso} in the profile (calibrated: "
            f"{', '.join(map(str, profile.isos))}): corrected the black level only"
        ]
        return subtract_offset(frame, per_channel[frame.colour_map]), warnings
