"""Training darkdev's networks, readable top to bottom (nanoGPT-like), one module per concern.

- photos: clean photographs (listing, cache, split into training/validation, photo packs)
- unprocessing: LibRaw's colour pipeline and its inverse (camera matrices, tone curve, DN)
- noise: the ELD physics-based noise model (sampling its parameters, applying it)
- synthetic: batched synthetic pairs in torch on the training device (the GPU data path)
- libraw_pairs: the same pairs through LibRaw (reference targets, classical baseline)
- sid: the See-in-the-Dark dataset loader
- validation: fixed validation sets (all ISO, high ISO)
- loss, loop, checkpoints, distributed: the training itself
- evaluation, publishing: scores and bundled checkpoints

The develop path never imports this package.
"""
