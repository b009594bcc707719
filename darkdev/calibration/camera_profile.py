"""Reading a camera profile back: noise at any ISO (measured or interpolated), master darks.

numpy only. The schema is documented in profile.py. A profile is validated when loaded, the
master darks (checked against the SHA-256 the profile records) when first needed.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np

from darkdev.calibration.fits import LogLine, interpolate_in_log
from darkdev.calibration.profile import FORMAT, FORMAT_VERSION, MASTER_DARKS_VERSION
from darkdev.errors import CalibrationError

DN_FIELDS = ("system_gain_dn_per_electron", "read_sigma_dn", "tukey_scale_dn", "row_sigma_dn")


@dataclass(frozen=True)
class NoiseAtIso:
    """A camera's noise at one ISO, in the units and meaning of darkdev/noise_params.json."""

    iso: float
    measured: bool  # a calibrated ISO (else from the fitted log-linear relations)
    system_gain_dn_per_electron: float | None
    read_sigma_dn: float | None  # Gaussian
    tukey_lambda: float | None
    tukey_scale_dn: float | None
    row_sigma_dn: float | None
    black_level_error_dn: dict[str, float] | None

    def scaled(self, factor: float) -> NoiseAtIso:
        """Every DN quantity times factor (e.g. dn_to_14bit_scale); the shape is unchanged."""
        values = {
            name: getattr(self, name) * factor
            for name in DN_FIELDS
            if getattr(self, name) is not None
        }
        if self.black_level_error_dn is not None:
            values["black_level_error_dn"] = {
                name: value * factor for name, value in self.black_level_error_dn.items()
            }
        return replace(self, **values)

    def noise_sample_fields(self, tukey: bool) -> dict:
        """The fields of darkdev.training.noise.NoiseSample (read_sigma_dn there is the Tukey scale when
        tukey_lambda is set), for synthesising this camera's noise."""
        if self.system_gain_dn_per_electron is None or self.row_sigma_dn is None:
            raise CalibrationError(f"ISO {self.iso:g}: the profile has no noise model here")
        read = self.tukey_scale_dn if tukey else self.read_sigma_dn
        return {
            "system_gain_dn_per_electron": self.system_gain_dn_per_electron,
            "read_sigma_dn": read,
            "row_sigma_dn": self.row_sigma_dn,
            "tukey_lambda": self.tukey_lambda if tukey else None,
        }

    def as_dict(self) -> dict:
        return {item.name: getattr(self, item.name) for item in fields(self)}


class CameraProfile:
    """A loaded profile (the JSON document) and, on demand, its master darks."""

    def __init__(self, document: dict, path: Path) -> None:
        self.document = document
        self.path = path
        self._darks: dict[str, np.ndarray] | None = None

    @classmethod
    def load(cls, path: str | Path) -> CameraProfile:
        path = Path(path)
        try:
            document = json.loads(path.read_text())
        except FileNotFoundError:
            raise CalibrationError(f"{path}: no such profile") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise CalibrationError(f"{path}: not a readable profile ({error})") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise CalibrationError(f"{path}: not a darkdev camera profile")
        if document.get("format_version") != FORMAT_VERSION:
            raise CalibrationError(
                f"{path}: profile format version {document.get('format_version')!r}; this "
                f"darkdev reads version {FORMAT_VERSION} (run darkdev calibrate again)"
            )
        for key in ("camera", "isos", "fits", "dn_to_14bit_scale"):
            if key not in document:
                raise CalibrationError(f"{path}: profile has no {key!r}")
        return cls(document, path)

    @property
    def camera(self) -> dict:
        return self.document["camera"]

    @property
    def isos(self) -> list[int]:
        return [entry["iso"] for entry in self.document["isos"]]

    def entry(self, iso: float) -> dict | None:
        for entry in self.document["isos"]:
            if entry["iso"] == iso:
                return entry
        return None

    def fit(self, name: str) -> LogLine | None:
        return LogLine.from_dict(self.document["fits"].get(name))

    def _interpolated(self, key: str, iso: float) -> float | None:
        known = [e for e in self.document["isos"] if e.get(key) is not None]
        if not known:
            return None
        return interpolate_in_log([e["iso"] for e in known], [e[key] for e in known], iso)

    def black_level_error_at_iso(self, iso: float) -> dict[str, float] | None:
        """Per-channel black-level error (DN): measured, else interpolated in log ISO."""
        entry = self.entry(iso)
        if entry is not None and entry["black_level_error_dn"] is not None:
            return dict(entry["black_level_error_dn"])
        known = [e for e in self.document["isos"] if e["black_level_error_dn"] is not None]
        if not known:
            return None
        return {
            name: interpolate_in_log(
                [e["iso"] for e in known], [e["black_level_error_dn"][name] for e in known], iso
            )
            for name in known[0]["black_level_error_dn"]
        }

    def noise_at_iso(self, iso: float, reference_14bit: bool = False) -> NoiseAtIso:
        """Measured values at a calibrated ISO; otherwise K from log K ~ log ISO and the sigmas
        from log sigma ~ log K (ELD). reference_14bit: scaled by dn_to_14bit_scale."""
        if not iso > 0:
            raise CalibrationError(f"ISO must be positive, got {iso}")
        entry = self.entry(iso) or {}
        gain = entry.get("system_gain_dn_per_electron")
        gain_line = self.fit("log_k_vs_log_iso")
        if gain is None and gain_line is not None:
            gain = gain_line.at(iso)
        values = {}
        for key, fit_name in (
            ("read_sigma_dn", "log_read_sigma_vs_log_k"),
            ("tukey_scale_dn", "log_tukey_scale_vs_log_k"),
            ("row_sigma_dn", "log_row_sigma_vs_log_k"),
        ):
            value = entry.get(key)
            line = self.fit(fit_name)
            if value is None and gain is not None and line is not None:
                value = line.at(gain)
            values[key] = value
        lam = entry.get("tukey_lambda")
        noise = NoiseAtIso(
            iso=iso,
            measured=bool(entry),
            system_gain_dn_per_electron=gain,
            tukey_lambda=lam if lam is not None else self._interpolated("tukey_lambda", iso),
            black_level_error_dn=self.black_level_error_at_iso(iso),
            **values,
        )
        return noise.scaled(self.document["dn_to_14bit_scale"]) if reference_14bit else noise

    def _load_darks(self) -> dict[str, np.ndarray]:
        if self._darks is not None:
            return self._darks
        record = self.document.get("master_darks")
        if not record:
            self._darks = {}
            return self._darks
        darks_path = self.path.with_name(record["file"])
        try:
            payload = darks_path.read_bytes()
        except OSError as error:
            raise CalibrationError(
                f"{darks_path}: the profile's master darks cannot be read ({error.strerror})"
            ) from None
        if hashlib.sha256(payload).hexdigest() != record["sha256"]:
            raise CalibrationError(
                f"{darks_path}: does not match {self.path.name} (changed or from another run)"
            )
        with np.load(io.BytesIO(payload), allow_pickle=False) as archive:
            version = int(archive["format_version"])
            if version != MASTER_DARKS_VERSION:
                raise CalibrationError(f"{darks_path}: master-darks format version {version}")
            self._darks = {name: archive[name] for name in archive.files if name.startswith("iso_")}
        return self._darks

    def master_dark_offset(self, iso: float) -> np.ndarray | None:
        """(H, W) float32 master dark minus black (DN) for a calibrated ISO, else None."""
        entry = self.entry(iso)
        if entry is None or not entry.get("master_dark"):
            return None
        darks = self._load_darks()
        if entry["master_dark"] not in darks:
            raise CalibrationError(f"{self.path}: master dark {entry['master_dark']} is missing")
        return darks[entry["master_dark"]].astype(np.float32)
