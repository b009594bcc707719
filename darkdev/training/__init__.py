"""Training darkdev's networks, readable top to bottom (nanoGPT-like), one module per concern.

- photos: clean photographs (listing, cache, split into training/validation, photo packs)
- unprocessing: LibRaw's colour pipeline and its inverse (camera matrices, tone curve, DN)
- noise: the ELD physics-based noise model (sampling its parameters, applying it)
- camera: the camera pairs are made with (default, or a camera profile's noise and colour)
- synthetic: batched synthetic pairs in torch on the training device (the GPU data path)
- sid: the See-in-the-Dark dataset loader
- validation: fixed validation sets (all ISO, high ISO) with LibRaw's SID-style targets and the
  classical baseline
- config: a run's settings (TrainConfig) and their command line
- batches: training batches from (seed, step) alone, prefetching, the run's validation sets
- loss: SPEC.md's loss and the learning-rate schedules
- state: a run's state (built, resumed, saved to last.pt); loop: steps, validation, stopping
- checkpoints: last.pt, --init-from, exported weights (also as shards under 16 MiB)
- distributed: data-parallel ranks (torchrun); curves: the training log and its plot
- evaluation, crop_sheet, publishing: scores, the evaluation table, a picture of validation
  crops, bundled checkpoints (publish_scores: a published checkpoint scored on a validation
  folder, its colour mode chosen)
- throughput, session: crops/s and frames/s; the prepared GPU session (scripts/train_on_gpu.sh)
- cli: `python -m darkdev.train` / `darkdev train`, `darkdev evaluate` and `darkdev publish`
- finetune: `darkdev finetune`, the bundled network continued on a camera profile's pairs

The develop path never imports this package.
"""
