import pickle

import pytest
import torch

from darkdev import manifest, weights
from darkdev.errors import WeightsError
from darkdev.models import build_model


def test_round_trip_rebuilds_architecture(tmp_path):
    model = build_model("rmcn-2", "xtrans", width=2)
    digest = weights.save_checkpoint(
        tmp_path / "m.safetensors", model, "rmcn-2", {"width": 2}, "xtrans"
    )
    loaded, meta = weights.load_model(tmp_path / "m.safetensors", digest)
    assert meta == {
        "architecture": "rmcn-2",
        "arguments": {"width": 2},
        "cfa_kind": "xtrans",
        "white_balance_input": False,
        "below_black_input": False,
    }
    x = torch.rand(1, 9, 16, 16)
    assert torch.allclose(loaded(x), model.half().float()(x), atol=1e-5)


def test_the_input_convention_travels_with_the_weights(tmp_path):
    from darkdev.network_input import InputConvention

    path = tmp_path / "m.safetensors"
    model = build_model("lts", "bayer", 2)
    for convention in (InputConvention(True, True), InputConvention(False, True)):
        weights.save_checkpoint(path, model, "lts", {"width": 2}, "bayer", convention=convention)
        assert weights.load_checkpoint(path)[1].input_convention == convention
    weights.save_checkpoint(path, model, "lts", {"width": 2}, "bayer")
    assert "below_black_input" not in weights.read_safetensors(path)[1]  # old files unchanged
    state, metadata = weights.read_safetensors(path)
    weights.write_safetensors_atomically(path, state, {**metadata, "below_black_input": '"yes"'})
    with pytest.raises(WeightsError, match="below_black_input must be true or false"):
        weights.load_checkpoint(path)


def test_tampered_and_truncated_files_refused(tmp_path):
    path = tmp_path / "m.safetensors"
    digest = weights.save_checkpoint(
        path, build_model("lts", "bayer", 2), "lts", {"width": 2}, "bayer"
    )
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        weights.load_model(path, digest)
    path.write_bytes(bytes(data[:100]))
    with pytest.raises(WeightsError, match="safetensors"):
        weights.load_model(path)


def test_missing_and_mismatched(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        weights.load_model(tmp_path / "nothing.safetensors")
    path = tmp_path / "m.safetensors"
    weights.save_checkpoint(path, build_model("lts", "bayer", 2), "lts", {"width": 3}, "bayer")
    with pytest.raises(WeightsError, match="do not fit"):
        weights.load_model(path)
    weights.save_checkpoint(path, build_model("lts", "bayer", 2), "lts", {"width": 2}, "bayer")
    with pytest.raises(WeightsError, match="xtrans"):
        weights.load_model(path, expected_cfa_kind="xtrans")


class Exploit:
    def __reduce__(self):
        return (print, ("pickle code ran",))


def test_pickle_payload_never_executed(tmp_path):
    path = tmp_path / "evil.pt"
    with open(path, "wb") as handle:
        pickle.dump({"state_dict": Exploit(), "architecture": "lts", "cfa_kind": "bayer"}, handle)
    with pytest.raises(WeightsError, match="refused"):
        weights.load_model(path)


def test_weights_only_torch_file_accepted(tmp_path):
    model = build_model("lts", "bayer", 2)
    path = tmp_path / "plain.pt"
    torch.save(
        {
            "state_dict": model.state_dict(),
            "architecture": "lts",
            "arguments": {"width": 2},
            "cfa_kind": "bayer",
        },
        path,
    )
    loaded, meta = weights.load_model(path)
    assert meta["architecture"] == "lts"


def test_bundled_manifest_matches_files():
    """Every bundled checkpoint's sha256 matches its manifest entry and it loads."""
    for entry in manifest.read_manifest():
        assert weights.sha256_of(manifest.weights_dir() / entry.file) == entry.sha256
        model, _ = weights.load_entry(entry)
        assert entry.size_bytes < 30e6


def test_auto_picks_per_device_the_best_model_that_meets_the_speed_target(tmp_path):
    def entry(file, quality=None, cpu_seconds=None, default=False, kind="bayer"):
        return manifest.CheckpointEntry(
            file=file,
            sha256="0" * 64,
            architecture="lts",
            arguments={"width": 4},
            cfa_kind=kind,
            default=default,
            validation={} if quality is None else {"quality_psnr": quality},
            speed={} if cpu_seconds is None else {"cpu_2_cores_12mp_s": cpu_seconds},
        )

    entries = [
        entry("old.safetensors", default=True),  # scored on older sets: not comparable
        entry("fast.safetensors", quality=25.0, cpu_seconds=12.0),
        entry("best.safetensors", quality=26.0, cpu_seconds=95.0),
        entry("xtrans.safetensors", quality=30.0, cpu_seconds=5.0, kind="xtrans"),
    ]
    manifest.write_manifest(entries, tmp_path)
    assert manifest.default_entry("bayer", tmp_path, "cpu").file == "fast.safetensors"
    assert manifest.default_entry("bayer", tmp_path, "cuda").file == "best.safetensors"
    assert manifest.default_entry("xtrans", tmp_path, "mps").file == "xtrans.safetensors"
    manifest.write_manifest(entries[:1], tmp_path)  # nothing comparable: the default flag decides
    assert manifest.default_entry("bayer", tmp_path, "cpu").file == "old.safetensors"
    assert manifest.default_entry("xtrans", tmp_path, "cpu") is None


def test_colour_auto_follows_the_checkpoints_measured_choice(tmp_path, tiny_weights):
    from darkdev.develop import Developer, DevelopOptions
    from darkdev.raw import read_raw
    from tests.conftest import write_raw

    frame = read_raw(write_raw(tmp_path / "a.dng"))
    entries = manifest.read_manifest(tiny_weights)
    for measured, shows_guide in (("network", False), ("guided", True)):
        for entry in entries:
            entry.colour = measured
        manifest.write_manifest(entries, tiny_weights)
        result = Developer(DevelopOptions(ratio=4, device="cpu")).develop(frame)
        assert ("guided colour" in result.model) == shows_guide, result.model
    forced = Developer(DevelopOptions(ratio=4, device="cpu", colour="guided")).develop(frame)
    assert "guided colour" in forced.model  # an explicit --colour wins
