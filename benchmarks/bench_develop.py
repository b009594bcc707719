"""Seconds per frame by stage and peak memory, for synthetic 12 MP and 42 MP raws.

    python benchmarks/bench_develop.py                       # 12 MP and 42 MP, default model
    python benchmarks/bench_develop.py --sizes 12 --tile-sizes 128 256 512   # memory vs tile size
    python benchmarks/bench_develop.py --sizes 12 --cfa xtrans               # an X-Trans raw
    python benchmarks/bench_develop.py --sizes 12 --precisions full auto     # float32 vs half
    python benchmarks/bench_develop.py --sizes 12 --ensembles 1 2            # views averaged

Each measurement runs in a fresh child process so its peak RSS is its own. Compare numbers as
ratios within one run: shared machines are noisy.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from darkdev.inference import DEFAULT_TILE_SIZE_PX

SIZES = {12: (2832, 4240), 42: (5304, 7952)}  # Sony A7S II and A7R III visible sizes


def make_raw(path: Path, height: int, width: int, cfa: str) -> None:
    from darkdev.cfa import PERIOD
    from darkdev.dng import DngMetadata, write_cfa_dng
    from darkdev.training.unprocessing import PATTERN_FOR_KIND

    height, width = height - height % PERIOD[cfa], width - width % PERIOD[cfa]
    rng = np.random.default_rng(0)
    rows = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    cols = np.linspace(0, 1, width, dtype=np.float32)[None, :]
    signal = 512 + 150 * (rows + cols) + rng.normal(0, 8, (height, width)).astype(np.float32)
    mosaic = np.clip(signal, 0, 16383).astype(np.uint16)
    write_cfa_dng(path, mosaic, PATTERN_FOR_KIND[cfa], DngMetadata())


def child(
    raw_path: str,
    model: str,
    device: str,
    tile_size: int,
    threads: int,
    precision: str,
    ensemble: str,
) -> dict:
    """One frame, stage by stage, in this process."""
    import torch

    from darkdev.develop import Developer, DevelopOptions
    from darkdev.files import write_atomic
    from darkdev.raw import read_raw
    from darkdev.render import encode

    torch.set_num_threads(threads)
    weights_path = Path(model) if model.endswith((".safetensors", ".pt")) else None
    developer = Developer(
        DevelopOptions(
            ratio=100,
            model=model,
            weights_path=weights_path,
            device=device,
            tile_size_px=tile_size,
            precision=precision,
            ensemble=None if ensemble == "auto" else int(ensemble),
        )
    )
    start = time.perf_counter()
    frame = read_raw(raw_path)
    decode_s = time.perf_counter() - start
    developer._network(frame.layout.kind)  # load weights outside the timed frame, as in a batch
    result = developer.develop(frame)
    start = time.perf_counter()
    payload = encode(result.image, "png", camera=frame.camera)
    render_s = time.perf_counter() - start
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        write_atomic(Path(folder) / "out.png", payload)
    write_s = time.perf_counter() - start
    stages = {"decode": decode_s, **result.seconds, "render": render_s, "write": write_s}
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    views = re.search(r"(\d+)-view ensemble", result.model)
    return {
        "model": result.model,
        "views": int(views.group(1)) if views else 1,
        "stages_s": stages,
        "total_s": sum(stages.values()),
        "peak_rss_gib": peak_kib / 2**20,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[12, 42], choices=sorted(SIZES))
    parser.add_argument(
        "--tile-sizes", type=int, nargs="+", default=[DEFAULT_TILE_SIZE_PX], help="packed px"
    )
    parser.add_argument(
        "--model", default="auto", help="auto, classical, a bundled name or a weights file"
    )
    parser.add_argument(
        "--devices", nargs="+", default=None, help="default: cpu, and cuda if present"
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--cfa", choices=("bayer", "xtrans"), default="bayer")
    parser.add_argument("--precisions", nargs="+", default=["auto"], help="auto, full, half")
    parser.add_argument(
        "--ensembles", nargs="+", default=["auto"], help="views: auto (develop's), 1, 2, 4, 8"
    )
    parser.add_argument("--child", nargs=7, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        raw_path, model, device, tile_size, threads, precision, ensemble = arguments.child
        record = child(raw_path, model, device, int(tile_size), int(threads), precision, ensemble)
        print(json.dumps(record))
        return
    devices = arguments.devices
    if devices is None:
        import torch

        devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"python {platform.python_version()}, threads {arguments.threads}, {arguments.cfa} raws"
    )
    header = (
        f"{'size':>5} {'device':>6} {'tile':>5} {'prec.':>5} {'views':>5} {'model':>28} {'decode':>7} {'pack':>6} {'rimef':>6} "
        f"{'network':>8} {'colour':>6} {'render':>7} {'write':>6} {'total s':>8} {'peak GiB':>9}"
    )
    print(header)
    with tempfile.TemporaryDirectory() as folder:
        for megapixels in arguments.sizes:
            raw_path = Path(folder) / f"synthetic_{megapixels}mp.dng"
            make_raw(raw_path, *SIZES[megapixels], arguments.cfa)
            for device, tile_size, precision, ensemble in itertools.product(
                devices, arguments.tile_sizes, arguments.precisions, arguments.ensembles
            ):
                command = [
                    sys.executable,
                    __file__,
                    "--child",
                    str(raw_path),
                    arguments.model,
                    device,
                    str(tile_size),
                    str(arguments.threads),
                    precision,
                    ensemble,
                ]
                completed = subprocess.run(command, capture_output=True, text=True)
                if completed.returncode != 0:
                    print(
                        f"{megapixels:>4}MP {device:>6} {tile_size:>5} {precision:>5} failed: "
                        f"{completed.stderr.strip().splitlines()[-1:]}"
                    )
                    continue
                record = json.loads(completed.stdout.strip().splitlines()[-1])
                stages = record["stages_s"]
                print(
                    f"{megapixels:>4}MP {device:>6} {tile_size:>5} {precision:>5} "
                    f"{record['views']:>5} {record['model'][:28]:>28} "
                    f"{stages['decode']:7.2f} {stages['pack']:6.2f} {stages['rimef']:6.2f} "
                    f"{stages['network']:8.2f} {stages.get('colour', 0.0):6.2f} "
                    f"{stages['render']:7.2f} {stages['write']:6.2f} "
                    f"{record['total_s']:8.2f} {record['peak_rss_gib']:9.2f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
