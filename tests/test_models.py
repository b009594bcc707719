import pytest
import torch

from darkdev.errors import ParameterError
from darkdev.models import REGISTRY, build_model, parameter_count

PAPER_PARAMS_M = {
    "rmcn-2": 16,
    "rmcn-3": 23,
    "rmcn-4": 31,
    "rmcn-5": 39,
    "dmcn-3": 42,
    "lts": 8,
    "bignet": 23,
    "resbignet": 23,
    "densebignet": 78,
}


@pytest.mark.parametrize("name", sorted(REGISTRY))
@pytest.mark.parametrize("kind,channels,scale", [("bayer", 4, 2), ("xtrans", 9, 3)])
def test_output_shapes(name, kind, channels, scale):
    model = build_model(name, kind, width=2)
    x = torch.rand(1, channels, 32, 48)
    outputs = model.forward_all(x)
    granulations = int(name.split("-")[1]) if "mcn" in name else 1
    assert len(outputs) == (granulations if granulations > 1 else 1)
    for output in outputs:
        assert output.shape == (1, 3, 32 * scale, 48 * scale)
    assert torch.equal(model(x), outputs[-1])


def test_parameter_counts_match_paper_table_2(capsys):
    rows = []
    for name, paper in PAPER_PARAMS_M.items():
        count = parameter_count(build_model(name, "bayer", 32)) / 1e6
        rows.append((name, count, paper))
        if name.startswith("rmcn"):
            assert abs(count - paper) / paper < 0.05, (name, count)
    with capsys.disabled():
        print("\nmodel        ours (M)  paper (M)")
        for name, count, paper in rows:
            print(f"{name:12s} {count:8.2f} {paper:9d}")
    counts = dict((name, count) for name, count, _ in rows)
    assert abs(counts["lts"] - 7.76) < 0.01  # SPEC: 7.76 M per SGN at w = 32
    assert abs(counts["dmcn-3"] - 42) / 42 < 0.05


def test_siamese_back_connection_shares_sgn1_weights():
    model = build_model("rmcn-3", "bayer", width=2)
    names = [name for name, _ in model.named_parameters()]
    assert not any("back" in name and "sgns" in name for name in names)
    # SGN-1's weights get gradient from the back-connection output alone (SGN-1 is unsupervised).
    x = torch.rand(1, 4, 16, 16)
    model.forward_all(x)[-1].mean().backward()
    assert model.sgns[0].head.weight.grad.abs().sum() > 0


def test_without_back_connection_outputs_y_n():
    model = build_model("dmcn-3-nobc", "xtrans", width=2)
    assert len(model.forward_all(torch.rand(1, 9, 16, 16))) == 3


def test_unknown_model_and_kind_refused():
    with pytest.raises(ParameterError, match="unknown model"):
        build_model("resnet")
    with pytest.raises(ParameterError, match="CFA kind"):
        build_model("lts", "foveon")


def test_lts_grows_into_rmcn_without_back_connection_exactly():
    from darkdev.models.growth import grow_from_single

    torch.manual_seed(0)
    lts = build_model("lts", "xtrans", 4)
    grown = build_model("rmcn-3-nobc", "xtrans", 4)
    grow_from_single(grown, lts)
    x = torch.rand(2, 9, 32, 32)
    with torch.no_grad():
        expected = lts(x)
        outputs = grown.forward_all(x)
    assert len(outputs) == 3
    for output in outputs:
        assert torch.equal(output, expected)
    # The zeroed convolutions still learn: gradient reaches them from the output down, a block
    # a step, so after a dozen steps every one of them has moved.
    target = torch.rand_like(expected)
    optimizer = torch.optim.Adam(grown.parameters(), lr=1e-3)
    for _ in range(12):
        optimizer.zero_grad()
        sum((o - target).abs().mean() for o in grown.forward_all(x)).backward()
        optimizer.step()
    for sgn in grown.sgns[1:]:
        assert all(torch.count_nonzero(block.rest[-1].weight) > 0 for block in sgn.blocks)


def test_growth_refuses_what_it_cannot_preserve():
    from darkdev.models.growth import grow_from_single

    lts = build_model("lts", "bayer", 4)
    for name in ("rmcn-3", "dmcn-3-nobc", "lts"):
        with pytest.raises(ParameterError, match="without back connection"):
            grow_from_single(build_model(name, "bayer", 4), lts)
    with pytest.raises(ParameterError, match="same width"):
        grow_from_single(build_model("rmcn-2-nobc", "bayer", 8), lts)
    with pytest.raises(ParameterError, match="LTS"):
        grow_from_single(build_model("rmcn-2-nobc", "bayer", 4), build_model("bignet", "bayer", 4))


@pytest.mark.parametrize(
    ("name", "kind"), [("lts", "bayer"), ("rmcn-3-nobc", "xtrans"), ("rmcn-2", "bayer")]
)
def test_widening_computes_the_narrow_network_exactly_then_learns(name, kind):
    from darkdev.cfa import network_shape
    from darkdev.models.growth import widen_from

    torch.manual_seed(0)
    narrow, wide = build_model(name, kind, 4), build_model(name, kind, 8)
    widen_from(wide, narrow)
    channels = network_shape(kind)[0]
    x = torch.rand(2, channels, 32, 32)
    with torch.no_grad():
        expected, outputs = narrow.forward_all(x), wide.forward_all(x)
    assert len(outputs) == len(expected)
    for output, reference in zip(outputs, expected, strict=True):
        assert torch.allclose(output, reference, atol=1e-6)
    # The new channels are not dead: after two steps the trained output channels read them.
    target = torch.rand_like(expected[-1])
    optimizer = torch.optim.Adam(wide.parameters(), lr=1e-3)
    for _ in range(2):
        optimizer.zero_grad()
        sum((o - target).abs().mean() for o in wide.forward_all(x)).backward()
        optimizer.step()
    sgns = [wide.sgn] if name == "lts" else list(wide.sgns)
    for sgn in sgns:
        assert torch.count_nonzero(sgn.head.weight[:, 4:]) > 0
        assert torch.count_nonzero(sgn.blocks[4].first.weight[:64, 32:]) > 0


def test_lts_grows_and_widens_into_a_wider_rmcn():
    from darkdev.models.growth import grow_from_single, widen_from

    torch.manual_seed(0)
    lts = build_model("lts", "bayer", 4)
    grown = build_model("rmcn-3-nobc", "bayer", 4)
    grow_from_single(grown, lts)
    wide = build_model("rmcn-3-nobc", "bayer", 8)
    widen_from(wide, grown)
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        assert torch.allclose(wide(x), lts(x), atol=1e-6)


@pytest.mark.parametrize(
    ("wide", "narrow", "message"),
    [
        (("lts", "bayer", 4), ("lts", "bayer", 8), "narrower"),
        (("rmcn-2", "bayer", 8), ("lts", "bayer", 4), "same kind"),
        (("dmcn-2", "bayer", 8), ("dmcn-2", "bayer", 4), "same kind"),
        (("rmcn-2", "bayer", 8), ("rmcn-2-nobc", "bayer", 4), "same architecture"),
        (("rmcn-2", "bayer", 8), ("dmcn-2", "bayer", 4), "same architecture"),
        (("rmcn-3", "bayer", 8), ("rmcn-2", "bayer", 4), "same architecture"),
        (("lts", "bayer", 8), ("lts", "xtrans", 4), "same architecture"),
    ],
)
def test_widening_refuses_what_it_cannot_preserve(wide, narrow, message):
    from darkdev.models.growth import widen_from

    with pytest.raises(ParameterError, match=message):
        widen_from(build_model(*wide), build_model(*narrow))
