"""Training batches (synthetic pairs or SID) built from (seed, step) alone, and the fixed
validation sets of a run.

Synthetic pairs are made in torch on the training device (training.synthetic); SID batches in
numpy, optionally ahead of time in worker processes (Prefetcher).
"""

from __future__ import annotations

import signal
from collections import deque
from pathlib import Path

import torch

from darkdev.errors import ParameterError
from darkdev.files import write_atomic
from darkdev.training import photos as photo_files
from darkdev.training import synthetic
from darkdev.training.config import TrainConfig
from darkdev.training.sid import SidDataset
from darkdev.training.validation import (
    ALL_SPLITS,
    SPLITS,
    ValidationSet,
    build_split,
    load_validation_set,
    save_validation_set,
    validation_set_path,
)


class BatchSource:
    """Builds the batch of any step from (seed, step) alone.

    With world_size ranks, rank r builds items r*b .. r*b + b - 1 (b = batch / world_size) of the
    step's batch, so the ranks together train on exactly the batch one process would.
    """

    def __init__(
        self, config: TrainConfig, rank: int = 0, world_size: int = 1, device: str = "cpu"
    ) -> None:
        if config.batch % world_size:
            raise ParameterError(
                f"--batch {config.batch} must be a multiple of the number of ranks ({world_size})"
            )
        self.config = config
        self.rank = rank
        self.world_size = world_size
        self.items_per_rank = config.batch // world_size
        self.device = device
        self._bank: synthetic.PhotoBank | None = None
        self._sid: SidDataset | None = None

    def _setup(self) -> None:
        if self.config.sid_root is not None:
            if self._sid is None:
                self._sid = SidDataset(
                    self.config.sid_root,
                    self.config.sid_list or "",
                    Path(self.config.out) / "sid-cache",
                    self.config.crop,
                    self.config.input_convention,
                )
        elif self._bank is None:
            self._bank = synthetic.PhotoBank(training_photos(self.config), self.device)

    def __call__(self, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        self._setup()
        first_item = self.rank * self.items_per_rank
        if self._sid is not None:
            inputs, targets = self._sid.batch(
                self.items_per_rank, self.config.seed, step, first_item
            )
            return torch.from_numpy(inputs), torch.from_numpy(targets)
        assert self._bank is not None
        with torch.no_grad():
            batch = synthetic.synthetic_batch(
                self._bank,
                self.config.cfa,
                self.config.crop,
                self.items_per_rank,
                self.config.seed,
                step,
                self.config.augment(),
                first_item=first_item,
            )
        return batch.inputs, batch.targets

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_bank": None, "_sid": None}


def photo_cache_dir(config: TrainConfig) -> Path:
    """Prepared photos kept beside the run folders (or in config.photo_cache), shared by later
    runs (decoding is slow)."""
    if config.photo_cache is not None:
        return Path(config.photo_cache).expanduser()
    return Path(config.out).resolve().parent / "photo-cache"


def _photo_split(config: TrainConfig, validation: bool) -> list[photo_files.Photo]:
    names = config.photo_names or photo_files.list_photo_names(config.photos)
    chosen = photo_files.split_names(names)[1 if validation else 0]
    return photo_files.load_photos(config.photos, names=chosen, cache_dir=photo_cache_dir(config))


def training_photos(config: TrainConfig) -> list[photo_files.Photo]:
    """The run's training photos (never a validation photo); loads only those files."""
    return _photo_split(config, validation=False)


def validation_photos(config: TrainConfig) -> list[photo_files.Photo]:
    return _photo_split(config, validation=True)


_WORKER_SOURCE: BatchSource | None = None  # one per worker process, so photos load once


def _worker_init(source: BatchSource) -> None:
    global _WORKER_SOURCE
    # Ctrl-C reaches the whole process group: the main process decides when to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(1)  # the generator is numpy; keep the cores for the network
    _WORKER_SOURCE = source


def _worker_batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    assert _WORKER_SOURCE is not None
    return _WORKER_SOURCE(step)


CLOSE_WAIT_S = 60.0  # the longest a closing Prefetcher waits for one batch in flight


class Prefetcher:
    """Keeps `depth` future batches computing in worker processes (or computes inline)."""

    def __init__(self, source: BatchSource, first_step: int, workers: int, depth: int = 3) -> None:
        self.source = source
        self.next_step = first_step
        self.pool = None
        self.pending: deque = deque()
        if workers > 0:
            import multiprocessing

            self.pool = multiprocessing.get_context("spawn").Pool(
                workers, initializer=_worker_init, initargs=(source,)
            )
            for _ in range(depth):
                self._submit()

    def _submit(self) -> None:
        assert self.pool is not None
        # Only the step number travels: the worker keeps its own BatchSource (and loaded photos).
        self.pending.append(self.pool.apply_async(_worker_batch, (self.next_step,)))
        self.next_step += 1

    def get(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.pool is None:
            batch = self.source(self.next_step)
            self.next_step += 1
            return batch
        batch = self.pending.popleft().get()
        self._submit()
        return batch

    def close(self) -> None:
        if self.pool is not None:
            # Let the batches in flight finish first: terminating a pool with results still
            # pending can trip CPython's "Cannot have cache with result_handler not alive".
            for result in self.pending:
                result.wait(CLOSE_WAIT_S)
            self.pending.clear()
            self.pool.terminate()
            self.pool.join()
            self.pool = None


def copy_validation_set(folder: Path, path: Path) -> None:
    """--validation-set: the folder's set of this name, copied whole into the run folder (the
    run stays self-contained and resumable) or refused in one line if it has none."""
    source = folder / path.name
    try:
        payload = source.read_bytes()
    except OSError as error:
        raise ParameterError(
            f"{source}: --validation-set has no such set ({error.strerror or error}); build it "
            "with darkdev evaluate --save-validation-set, or leave out that split"
        ) from error
    write_atomic(path, payload)


def validation_sets(config: TrainConfig) -> dict[str, ValidationSet]:
    """The fixed validation crops of this CFA kind, per split (the detail set too with
    config.detail_validation), with the run's camera (cached in the run folder)."""
    result = {}
    photos = None
    for split in ALL_SPLITS if config.detail_validation else SPLITS:
        path = validation_set_path(Path(config.out), config.cfa, split)
        if config.validation_set is not None and not path.exists():
            copy_validation_set(Path(config.validation_set), path)
        if path.exists():
            result[split] = load_validation_set(path)
            continue
        if photos is None:
            photos = validation_photos(config)
        result[split] = build_split(
            photos,
            config.cfa,
            split,
            config.validation_count,
            packed_px=config.validation_packed_px,
            camera=config.synthetic_camera(),
        )
        save_validation_set(result[split], path)
    return result
