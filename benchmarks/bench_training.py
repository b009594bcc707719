"""Training throughput on this machine: crops/s of the synthetic data path alone and of whole
training steps (data + forward + backward + Adam), per model, as the GPU session measures them.

    python benchmarks/bench_training.py [--device cpu|cuda] [--models lts:16 rmcn-3:32]
        [--crop 256] [--batch 2] [--steps 2] [--photos ~/.cache/darkdev/photos]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from darkdev.training import photos, synthetic, throughput  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", nargs="+", default=["lts:16", "rmcn-3:32"])
    parser.add_argument("--cfa", default="bayer")
    parser.add_argument("--crop", type=int, default=256, help="packed px (256: 512 px Bayer)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--photos", default=str(photos.DEFAULT_PHOTOS))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--precision", default="auto", help="auto, full or half, as darkdev.train's"
    )
    arguments = parser.parse_args()
    torch.set_num_threads(arguments.threads)
    device = torch.device(arguments.device)
    names = photos.split_names(photos.list_photo_names(arguments.photos))[0]
    bank = synthetic.PhotoBank(photos.load_photos(arguments.photos, names=names[:8]), device)
    rate = throughput.data_path_crops_per_second(
        bank, arguments.cfa, arguments.crop, arguments.batch
    )
    print(f"{device.type}: data path {rate:.2f} crops/s ({arguments.crop} packed px)")
    for spec in arguments.models:
        name, width = spec.split(":")
        result = throughput.training_crops_per_second(
            bank,
            arguments.cfa,
            name,
            int(width),
            arguments.crop,
            arguments.batch,
            arguments.steps,
            precision=arguments.precision,
        )
        print(
            f"{device.type}: {name} w{width} training {result['crops_per_second']:.3f} crops/s "
            f"({result['seconds_per_step']:.2f} s per step of {arguments.batch})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
