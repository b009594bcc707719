"""Developing one frame: decode -> pack -> RIMEF -> network (or LibRaw) -> oriented sRGB image."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from darkdev import cfa, rimef
from darkdev.ensemble import check_ensemble_size, default_ensemble_size, ensemble_output
from darkdev.errors import ParameterError
from darkdev.exposure import estimate_ratio
from darkdev.inference import (
    DEFAULT_TILE_OVERLAP_PX,
    DEFAULT_TILE_SIZE_PX,
    check_precision,
    validate_tiling,
)
from darkdev.network_input import InputConvention, network_input
from darkdev.raw import RawFrame, develop_with_libraw
from darkdev.render import orient
from darkdev.white_balance import (
    AS_SHOT,
    apply_white_balance,
    missing_white_balance_warning,
    parse_white_balance,
)

CLASSICAL = "classical"
COLOUR_MODES = ("auto", "guided", "network")
GPU_TILES_PER_BATCH = 8  # a GPU is only busy with several tiles at once; a CPU gains nothing
AUTO = "auto"


@dataclass(frozen=True)
class DevelopOptions:
    ratio: float | None = None  # None: estimate from the raw
    hdr: bool = False
    lam: float | None = None
    alpha: float | None = None
    lower_bound: float = 1.0
    model: str = AUTO  # 'auto' (bundled default), 'classical', or an architecture / file name
    weights_path: Path | None = None
    device: str = "auto"
    precision: str = "auto"  # inference.PRECISIONS
    tile_size_px: int = DEFAULT_TILE_SIZE_PX
    tile_overlap_px: int = DEFAULT_TILE_OVERLAP_PX
    # 'guided': chroma from smoothed LibRaw (colour.py); 'network': as is; 'auto': what the
    # checkpoint's manifest entry measured better (network for a file given by --weights).
    colour: str = "auto"
    dark_frame_path: Path | None = None  # a dark raw subtracted from every frame
    profile_path: Path | None = None  # a camera profile: master dark at the frame's ISO
    # Views of the raw the network's outputs are averaged over (ensemble.py); None: auto,
    # by device and precision (ensemble.default_ensemble_size; N times the network time).
    ensemble: int | None = None
    # 'as-shot' (the file's; grey world when it records none), 'auto', 'daylight' or 'R,G,B'.
    white_balance: str = AS_SHOT

    def __post_init__(self) -> None:
        parse_white_balance(self.white_balance)
        if self.dark_frame_path is not None and self.profile_path is not None:
            raise ParameterError(
                "--dark-frame and --profile exclude each other (a profile has its master darks)"
            )
        validate_tiling(self.tile_size_px, self.tile_overlap_px)
        check_precision(self.precision)
        if self.ensemble is not None:
            check_ensemble_size(self.ensemble)
        if self.colour not in COLOUR_MODES:
            raise ParameterError(
                f"colour must be one of {', '.join(COLOUR_MODES)}, got {self.colour!r}"
            )
        if self.weights_path is None and self.model.lower() != CLASSICAL:
            from darkdev import manifest

            # A misspelt --model or $DARKDEV_WEIGHTS_DIR is a usage error before any loading.
            manifest.check_model_name(self.model, (AUTO, CLASSICAL))
        # Resolving validates ratio, lambda, alpha and lower bound before any file is read.
        self.rimef_params(self.ratio if self.ratio is not None else max(1.0, self.lower_bound))

    def rimef_params(self, ratio: float) -> rimef.RimefParams:
        return rimef.hdr_params(ratio, self.lam, self.alpha, self.lower_bound, self.hdr)


@dataclass
class DevelopResult:
    image: np.ndarray  # (H, W, 3) float32 sRGB in [0, 1], oriented
    ratio: float
    ratio_estimated: bool
    model: str  # what actually developed the frame
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # Why the classical pipeline developed the frame when a network was wanted (None otherwise).
    model_reason: str | None = None
    white_balance: tuple[float, float, float] = (1.0, 1.0, 1.0)  # R, G, B gains it used
    white_balance_source: str = "as shot"


def other_camera_warning(tuned_for: dict | None, frame: RawFrame) -> list[str]:
    """One line when the weights were fine-tuned for another camera than the raw's."""
    if tuned_for is None:
        return []

    def name(make: str, model: str) -> str:
        return f"{make} {model}".strip()

    expected = name(tuned_for.get("make", ""), tuned_for.get("model", ""))
    actual = name(frame.camera.make, frame.camera.model)
    if expected.casefold() == actual.casefold():
        return []
    return [
        f"the weights were fine-tuned for {expected or 'an unnamed camera'}, this raw is from "
        f"{actual or 'an unnamed camera'}: its noise and colour may not match"
    ]


@dataclass(frozen=True)
class LoadedNetwork:
    model: Any
    label: str
    convention: InputConvention  # how to feed it: as it was trained
    colour: str  # the colour mode --colour auto uses with it
    tuned_for: dict | None = None  # the camera `darkdev finetune` tuned it for


class Developer:
    """Develops frames with one set of options; networks are loaded once and reused across a batch."""

    def __init__(self, options: DevelopOptions) -> None:
        self.options = options
        self._networks: dict[str, LoadedNetwork | None] = {}
        self._device: Any = None  # a torch.device once a network runs (torch imported lazily)
        self._dark_subtraction = None
        # Loaded once here, so a batch reads its dark frame or master darks once.
        if options.dark_frame_path is not None or options.profile_path is not None:
            from darkdev.calibration.darkframe import DarkSubtraction

            if options.dark_frame_path is not None:
                self._dark_subtraction = DarkSubtraction.from_dark_frame(options.dark_frame_path)
            elif options.profile_path is not None:
                self._dark_subtraction = DarkSubtraction.from_profile(options.profile_path)

    def _network(self, cfa_kind: str):
        """(model, label, white-balanced input, camera it was fine-tuned for or None) for a CFA
        kind, or None for the classical pipeline."""
        if cfa_kind in self._networks:
            return self._networks[cfa_kind]
        from darkdev import manifest, weights

        options = self.options
        network = None
        if options.weights_path is not None:
            model, meta = weights.load_checkpoint(options.weights_path, expected_cfa_kind=cfa_kind)
            label = f"{meta.architecture} ({Path(options.weights_path).name})"
            network = LoadedNetwork(model, label, meta.input_convention, "network", meta.tuned_for)
        elif options.model.lower() != CLASSICAL:
            if options.model.lower() == AUTO:
                # The best bundled network for this device (on a CPU: one fast enough).
                entry = manifest.default_entry(cfa_kind, device_type=self._select_device().type)
            else:
                entry = manifest.require_entry(options.model, cfa_kind)
            if entry is not None:
                model, meta = weights.load_entry(entry)
                # A network must see its input prepared as in training (meta's convention).
                label = f"{entry.architecture} ({entry.file})"
                network = LoadedNetwork(model, label, meta.input_convention, entry.colour)
        self._networks[cfa_kind] = network
        return network

    def _select_device(self):
        if self._device is None:
            from darkdev.inference import select_device

            self._device = select_device(self.options.device)
        return self._device

    def _run_network(self, network, frame: RawFrame, packed, params, on_tile):
        """(visible (H, W, 3) image, label) of the network on a frame, over its ensemble views."""
        from darkdev.inference import autocast_dtype, native_half_dtype, run_network

        self._device = self._select_device()
        half_dtype = autocast_dtype(self._device, self.options.precision)
        size = self.options.ensemble
        if size is None:
            native = half_dtype is not None and half_dtype == native_half_dtype(self._device)
            size = default_ensemble_size(self._device.type, native)
        amplified = network_input(
            packed,
            frame.layout.kind,
            frame.camera_whitebalance,
            network.convention,
            params,
        )
        passes = iter(range(size))

        def run(view: np.ndarray) -> np.ndarray:
            done_passes = next(passes)

            def progress(done: int, total: int) -> None:  # one bar across every view's tiles
                if on_tile is not None:
                    on_tile(done_passes * total + done, size * total)

            return run_network(
                network.model,
                view,
                frame.layout.block_size,
                self._device,
                self.options.tile_size_px,
                self.options.tile_overlap_px,
                precision=self.options.precision,
                tiles_per_batch=GPU_TILES_PER_BATCH if self._device.type != "cpu" else 1,
                on_tile=progress,
            )

        image = ensemble_output(amplified, frame.layout.kind, size, run)
        image = cfa.place_output(image, frame.layout, frame.height, frame.width)
        label = network.label + (f", {size}-view ensemble" if size > 1 else "")
        if half_dtype is not None:
            label += f", {str(half_dtype).removeprefix('torch.')}"
        return image, label

    def develop(self, frame: RawFrame, on_tile=None) -> DevelopResult:
        """on_tile(done, total) is called as network tiles finish (a progress bar's feed)."""
        options = self.options
        seconds: dict[str, float] = {}
        warnings: list[str] = []
        if self._dark_subtraction is not None:
            start = time.perf_counter()
            frame, notes = self._dark_subtraction.apply(frame)  # before any amplification
            warnings += notes
            seconds["dark"] = time.perf_counter() - start
        start = time.perf_counter()
        packed = cfa.pack(frame.mosaic, frame.layout)
        seconds["pack"] = time.perf_counter() - start
        white_balance = parse_white_balance(options.white_balance)
        if white_balance == AS_SHOT:
            warnings += missing_white_balance_warning(frame)
        frame = apply_white_balance(frame, white_balance)

        ratio_estimated = options.ratio is None
        ratio = estimate_ratio(packed) if options.ratio is None else float(options.ratio)
        if ratio < options.lower_bound:  # only an estimate can be: a given one is refused
            warnings.append(
                f"estimated ratio {ratio:.4g} is below --lower-bound {options.lower_bound:g}; "
                f"used {options.lower_bound:g}"
            )
            ratio = options.lower_bound
        params = options.rimef_params(ratio)
        start = time.perf_counter()
        gain = rimef.gain_map(packed, params)
        seconds["rimef"] = time.perf_counter() - start

        network = self._network(frame.layout.kind)
        model_reason = None
        if network is None:
            if options.model.lower() == AUTO:
                model_reason = (
                    f"no trained {frame.layout.kind} network is installed (see `darkdev models`); "
                    "the classical pipeline is noisier"
                )
            start = time.perf_counter()
            amplified = cfa.amplify_mosaic(frame.mosaic, frame.layout, gain)
            image = develop_with_libraw(frame, amplified)
            seconds["network"] = time.perf_counter() - start
            label = CLASSICAL
        else:
            warnings += other_camera_warning(network.tuned_for, frame)
            start = time.perf_counter()
            image, label = self._run_network(network, frame, packed, params, on_tile)
            seconds["network"] = time.perf_counter() - start
            colour = network.colour if options.colour == "auto" else options.colour
            balanced = network.convention.white_balance
            if white_balance != AS_SHOT and colour == "network" and not balanced:
                warnings.append(
                    f"{network.label} was not trained on white-balanced input: "
                    "--white-balance does not change its colour (--colour guided does)"
                )
            if colour == "guided":
                from darkdev.colour import guided_colour

                start = time.perf_counter()
                # The guide goes through LibRaw, which white-balances by itself.
                amplified_mosaic = cfa.amplify_mosaic(frame.mosaic, frame.layout, gain)
                guide = develop_with_libraw(frame, amplified_mosaic, half_size=True)
                image = guided_colour(image, guide)
                seconds["colour"] = time.perf_counter() - start
                label += ", guided colour"
        image = np.ascontiguousarray(orient(image, frame.flip), dtype=np.float32)
        return DevelopResult(
            image,
            ratio,
            ratio_estimated,
            label,
            warnings,
            seconds,
            model_reason=model_reason,
            white_balance=frame.camera_whitebalance,
            white_balance_source=frame.white_balance_source,
        )
