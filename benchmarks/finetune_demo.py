"""Fine-tuning demonstration (issue 12, README "Your own camera"): a camera unlike the A7S II.

The camera: ELD's Sony A7S II noise with the system gain K three times higher at every ISO (read
noise following ELD's relation to K), row noise twice as strong, a 3 DN black offset in every
channel, the A7S II's colour matrix (so only the noise differs). The black offset is corrected by
`develop --profile` before the network sees a raw, so neither model meets it (training.camera).

    python benchmarks/finetune_demo.py --minutes 10 --out runs/finetune-demo [--threads 2]

writes OUT/demo-camera.json (the profile), fine-tunes the bundled Bayer network on it
(= darkdev finetune --profile OUT/demo-camera.json --minutes M -o OUT/demo-tuned.safetensors
--work OUT/demo.finetune, on the photos and 40 dead leaves, or --dead-leaves N) and prints the
bundled and the tuned network's validation scores on 16 crops (512 px) a split of held-out
photos with that camera's noise; OUT/finetune_demo.json keeps them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPOSITORY))

from darkdev.training.config import DEFAULT_PHOTOS  # noqa: E402
from darkdev.training.finetune import (  # noqa: E402
    DEAD_LEAVES,
    FinetuneOptions,
    describe_scores,
    finetune,
)
from tests.synthetic_camera import write_eld_camera_profile  # noqa: E402

GAIN_FACTOR, ROW_NOISE_FACTOR, BLACK_OFFSET_DN = 3.0, 2.0, 3.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="fine-tuning time")
    parser.add_argument("--out", default="runs/finetune-demo")
    parser.add_argument("--photos", default=DEFAULT_PHOTOS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--dead-leaves", type=int, default=DEAD_LEAVES, help="beside the photos (0: photos alone)"
    )
    parser.add_argument("--resume", action="store_true")
    arguments = parser.parse_args()
    out = Path(arguments.out)
    out.mkdir(parents=True, exist_ok=True)
    profile = write_eld_camera_profile(
        out / "demo-camera.json",
        gain_factor=GAIN_FACTOR,
        row_noise_factor=ROW_NOISE_FACTOR,
        black_offset_dn=BLACK_OFFSET_DN,
        make="Demo",
        model="A7S II, K x3, row noise x2",
    )
    options = FinetuneOptions(
        profile=profile,
        output=out / "demo-tuned.safetensors",
        minutes=arguments.minutes,
        work=out / "demo.finetune",
        resume=arguments.resume,
        overwrite=True,
        photos=arguments.photos,
        dead_leaves=arguments.dead_leaves,
        threads=arguments.threads,
        command="python benchmarks/finetune_demo.py " + " ".join(sys.argv[1:]),
    )
    result = finetune(options, report=lambda line: print(line, flush=True))
    record = {
        "command": options.command,
        "camera": f"ELD Sony A7S II with K x{GAIN_FACTOR:g}, row noise x{ROW_NOISE_FACTOR:g}, "
        f"{BLACK_OFFSET_DN:g} DN black offset (corrected as develop --profile does)",
        "bundled": result.bundled_file,
        "steps": result.steps,
        "training_minutes": round(result.training_minutes, 2),
        "machine": f"{platform.machine()} {os.cpu_count()} cpus, {arguments.threads} threads",
        "validation_crops_per_split": result.validation_crops,
        "training_photos": result.training_photos,
        "classical": result.classical,
        "before": result.before,
        "after": result.after,
    }
    (out / "finetune_demo.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"classical:           {describe_scores(result.classical)}")
    print(f"bundled ({result.bundled_file}): {describe_scores(result.before)}")
    print(f"tuned ({result.steps} steps, {result.training_minutes:.1f} min): "
          + describe_scores(result.after))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
