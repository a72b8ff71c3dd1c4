import pytest
import torch
from torch import nn

from ganlab.config import DCGANConfig, SAGANConfig
from ganlab.models import MODELS, build_discriminator, build_generator
from ganlab.nn.layers import SelfAttention
from tests.conftest import tiny_params


def _cfg(name: str, **overrides):
    p = tiny_params()[name]
    p.update(overrides)
    return MODELS[name].config(**p)


@pytest.mark.parametrize("name, conditional", [("dcgan", False), ("sagan", True), ("sagan", False)])
def test_shapes(name, conditional):
    cfg = _cfg(name, **({"conditional": conditional} if name == "sagan" else {}))
    G = build_generator(name, cfg, num_classes=10, resolution=32)
    D = build_discriminator(name, cfg, num_classes=10, resolution=32)
    assert G.num_classes == (10 if conditional else 0)
    z = torch.randn(5, cfg.z_dim)
    y = torch.randint(10, (5,)) if conditional else None
    x = G(z, y)
    assert x.shape == (5, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert D(x, y).shape == (5,)


@pytest.mark.parametrize("res, g_size, d_size", [(16, 16, 16), (8, 8, 8), (0, None, None)])
def test_attention_placed_at_resolution(res, g_size, d_size):
    cfg = _cfg("sagan", attention_res=res)
    G, D = (
        build_generator("sagan", cfg, num_classes=10, resolution=32),
        build_discriminator("sagan", cfg, num_classes=10, resolution=32),
    )
    seen = {}
    for net, key in ((G, "g"), (D, "d")):
        for m in net.modules():
            if isinstance(m, SelfAttention):
                m.register_forward_hook(lambda mod, inp, out, key=key: seen.__setitem__(key, out.shape[-1]))
    x = G(torch.randn(2, cfg.z_dim), torch.tensor([1, 2]))
    D(x, torch.tensor([1, 2]))
    assert seen.get("g") == g_size and seen.get("d") == d_size


def _weighted_layers(net: nn.Module):
    return [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear, nn.Embedding))]


def test_sagan_spectral_norm_everywhere():
    cfg = _cfg("sagan")
    for net in (
        build_generator("sagan", cfg, num_classes=10, resolution=32),
        build_discriminator("sagan", cfg, num_classes=10, resolution=32),
    ):
        layers = _weighted_layers(net)
        assert len(layers) > 10
        for layer in layers:
            assert torch.nn.utils.parametrize.is_parametrized(layer, "weight"), layer
        # Each training forward runs one power iteration per layer.
        net.train()
        for _ in range(30):
            if hasattr(net, "z_dim"):
                net(torch.randn(4, cfg.z_dim), torch.randint(10, (4,)))
            else:
                net(torch.randn(4, 3, 32, 32), torch.randint(10, (4,)))
        net.eval()
        for layer in layers:
            w = layer.weight.detach()
            sigma = torch.linalg.matrix_norm(w.reshape(w.shape[0], -1), ord=2)
            assert sigma.item() == pytest.approx(1.0, abs=0.05), layer


def test_attention_identity_at_init_and_rows_sum_to_one():
    torch.manual_seed(0)
    attn = SelfAttention(channels=16)
    x = torch.randn(2, 16, 8, 8)
    assert attn.gamma.item() == 0.0
    assert torch.equal(attn(x), x)
    amap = attn.attention_map(x)
    assert amap.shape == (2, 64, 64)
    torch.testing.assert_close(amap.sum(-1), torch.ones(2, 64))
    # With γ ≠ 0 the output is x + γ·(map @ h(x)), computed here without SDPA.
    with torch.no_grad():
        attn.gamma.fill_(0.7)
    v = attn.h(x).flatten(2).transpose(1, 2)
    expected = x + 0.7 * (amap @ v).transpose(1, 2).reshape(x.shape)
    torch.testing.assert_close(attn(x), expected, rtol=1e-4, atol=1e-5)


def test_model_registry_config_classes():
    assert MODELS["dcgan"].config is DCGANConfig and MODELS["sagan"].config is SAGANConfig


@pytest.mark.parametrize("upsample", ["deconv", "upconv"])
def test_dcgan_upsampling_variants(upsample):
    cfg = _cfg("dcgan", upsample=upsample)
    G = build_generator("dcgan", cfg, num_classes=10, resolution=32)
    x = G(torch.randn(3, cfg.z_dim))
    assert x.shape == (3, 3, 32, 32)
    transposed = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    # upconv keeps only the 1×1 -> 4×4 projection as a transposed conv; the ×2 steps are
    # nearest upsampling followed by a 3×3 conv.
    assert len(transposed) == (4 if upsample == "deconv" else 1)
    assert sum(isinstance(m, nn.Upsample) for m in G.modules()) == (0 if upsample == "deconv" else 3)
    x.mean().backward()
    assert all(p.grad is not None for p in G.parameters())


def test_dcgan_spectral_norm_discriminator_drops_batchnorm():
    cfg = _cfg("dcgan", spectral_norm=True)
    D = build_discriminator("dcgan", cfg, num_classes=10, resolution=32)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 4 and all(torch.nn.utils.parametrize.is_parametrized(c, "weight") for c in convs)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in D.modules())
    plain = build_discriminator("dcgan", _cfg("dcgan"), num_classes=10, resolution=32)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in plain.modules()) == 2
    out = D(torch.randn(4, 3, 32, 32))
    assert out.shape == (4,)
    out.sum().backward()
    assert all(p.grad is not None for p in D.parameters())


def test_32_pixel_layouts_are_unchanged():
    """The networks at 32 pixels have the same parameter names and shapes as before 64 and 128
    pixels existed, so older checkpoints load (signatures taken from commit 229ed56)."""
    import hashlib

    from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator
    from ganlab.models.sagan import SAGANDiscriminator, SAGANGenerator

    def signature(net):
        return hashlib.sha256(repr([(k, tuple(v.shape)) for k, v in net.state_dict().items()]).encode()).hexdigest()

    assert signature(DCGANGenerator(z_dim=100, g_ch=64)).startswith("e8d8bca3214395f0")
    assert signature(DCGANDiscriminator(d_ch=64)).startswith("33dbf0e1dcb9ce75")
    assert signature(DCGANDiscriminator(d_ch=64, spectral_norm=True)).startswith("e648baa9a23f4c6e")
    assert signature(SAGANGenerator(z_dim=128, g_ch=32, num_classes=10, attention_res=16)).startswith(
        "68107829dba291e1"
    )
    assert signature(SAGANDiscriminator(d_ch=32, num_classes=10, attention_res=16)).startswith("4b023835c0f8e8a8")


def test_dcgan_at_64_is_radford_et_al():
    from ganlab.models.dcgan import DCGANDiscriminator, DCGANGenerator

    G, D = DCGANGenerator(z_dim=100, g_ch=64, resolution=64), DCGANDiscriminator(d_ch=64, resolution=64)
    convs = [m for m in G.net if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(100, 512), (512, 256), (256, 128), (128, 64), (64, 3)]
    convs = [m for m in D.net if isinstance(m, torch.nn.Conv2d)]
    assert [(m.in_channels, m.out_channels) for m in convs] == [(3, 64), (64, 128), (128, 256), (256, 512), (512, 1)]
    assert G(torch.randn(2, 100)).shape == (2, 3, 64, 64) and D(torch.zeros(2, 3, 64, 64)).shape == (2,)


@pytest.mark.parametrize("resolution", [64, 128])
def test_sagan_follows_biggan_layouts_and_checks_attention_res(resolution):
    from ganlab.errors import GanlabError
    from ganlab.models.sagan import SAGANDiscriminator, SAGANGenerator

    G = SAGANGenerator(z_dim=8, g_ch=64, num_classes=3, attention_res=32, resolution=resolution)
    D = SAGANDiscriminator(d_ch=128, num_classes=3, attention_res=32, resolution=resolution)
    # G halves its width at every doubling, D doubles it at every halving, as in BigGAN.
    g_widths = [b.conv2.out_channels for b in G.blocks]
    d_widths = [b.conv2.out_channels for b in D.blocks]
    assert g_widths == {64: [64, 32, 16, 8], 128: [64, 32, 16, 8, 4]}[resolution]
    assert d_widths == {64: [8, 16, 32, 64, 128], 128: [8, 16, 32, 64, 128, 128]}[resolution]
    y = torch.tensor([0, 2])
    x = G(torch.randn(2, 8), y)
    assert x.shape == (2, 3, resolution, resolution) and D(x, y).shape == (2,)
    with pytest.raises(GanlabError, match=rf"attention_res=128: at data.resolution={resolution}, G and D both"):
        SAGANGenerator(z_dim=8, g_ch=64, num_classes=3, attention_res=128, resolution=resolution)


def _parametrized(layer: nn.Module) -> bool:
    return torch.nn.utils.parametrize.is_parametrized(layer, "weight")


def test_class_embedding_variants():
    from ganlab.nn.layers import ConditionalBatchNorm2d

    def build(kind):
        return build_generator("sagan", _cfg("sagan", class_embedding=kind), num_classes=10, resolution=32)

    shared_sn, shared, per_class = build("shared_sn"), build("shared"), build("per_class")
    assert _parametrized(shared_sn.embed) and not _parametrized(shared.embed) and per_class.embed is None
    for G, sn in ((shared_sn, True), (shared, True), (per_class, False)):
        norms = [m for m in G.modules() if isinstance(m, ConditionalBatchNorm2d)]
        assert norms and all(_parametrized(m.gain) == sn and _parametrized(m.bias) == sn for m in norms)
    # SNGAN's per-class γ/β start at γ = 1, β = 0: at init the label changes nothing...
    torch.testing.assert_close(per_class.class_embedding(torch.tensor([2])), torch.eye(10)[[2]])
    z = torch.randn(6, per_class.z_dim)
    per_class.eval()
    torch.testing.assert_close(per_class(z, torch.zeros(6, dtype=torch.long)), per_class(z, torch.full((6,), 7)))
    # ...and after one optimizer step on one class's rows, only that class's output moves.
    per_class.train()
    opt = torch.optim.SGD(per_class.parameters(), lr=1.0)
    per_class(z, torch.full((6,), 3)).square().mean().backward()
    opt.step()
    per_class.eval()
    y0, y3 = torch.zeros(6, dtype=torch.long), torch.full((6,), 3)
    assert not torch.allclose(per_class(z, y0), per_class(z, y3))
    # Mixed embeddings (class interpolation) work for every variant.
    for G in (shared_sn, shared, per_class):
        G.eval()
        mix = 0.5 * G.class_embedding(torch.tensor([1])) + 0.5 * G.class_embedding(torch.tensor([4]))
        assert G(torch.randn(1, G.z_dim), embedding=mix).shape == (1, 3, 32, 32)


def test_g_spectral_norm_switches_every_generator_layer_but_the_embedding():
    def sn_layers(net):
        return {name for name, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and _parametrized(m)}

    def plain_layers(net):
        return {
            name for name, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear)) and not _parametrized(m)
        }

    for g_sn in (True, False):
        cfg = _cfg("sagan", g_spectral_norm=g_sn, attention_res=16)
        G = build_generator("sagan", cfg, num_classes=10, resolution=32)
        D = build_discriminator("sagan", cfg, num_classes=10, resolution=32)
        layers = sn_layers(G) | plain_layers(G)
        # conv and linear layers of the input, the blocks (convs, shortcuts, BN gains and biases),
        # attention (f, g, h) and the output
        assert {"linear", "to_rgb", "attention.f", "blocks.0.conv1", "blocks.2.bn2.gain"} <= layers
        assert (sn_layers(G), plain_layers(G)) == ((layers, set()) if g_sn else (set(), layers))
        assert _parametrized(G.embed)  # class_embedding shared_sn decides the embedding
        assert not plain_layers(D) and _parametrized(D.embed)  # D keeps SN either way
        assert G(torch.randn(3, cfg.z_dim), torch.tensor([0, 4, 9])).shape == (3, 3, 32, 32)


def test_hierarchical_z_feeds_one_chunk_per_block():
    cfg = _cfg("sagan", hierarchical_z=True, z_dim=16)  # 32 px: 3 blocks, so 4 chunks of 4
    G = build_generator("sagan", cfg, num_classes=10, resolution=32).eval()
    assert G.linear.in_features == 4
    z, y = torch.randn(2, 16), torch.tensor([1, 2])
    base = G(z, y)
    for chunk in range(4):  # every chunk reaches the output
        changed = z.clone()
        changed[:, 4 * chunk : 4 * chunk + 4] += 1.0
        assert not torch.allclose(G(changed, y), base), chunk
    unconditional = build_generator(
        "sagan", _cfg("sagan", hierarchical_z=True, z_dim=16, conditional=False), num_classes=10, resolution=32
    )
    assert unconditional(z).shape == (2, 3, 32, 32)


@pytest.mark.parametrize(
    "overrides, message",
    [
        (
            {"hierarchical_z": True, "z_dim": 18},
            r"sagan.z_dim=18: hierarchical_z splits z into 4 equal chunks .* multiple of 4",
        ),
        (
            {"hierarchical_z": True, "class_embedding": "per_class"},
            r"sagan.hierarchical_z needs a shared class embedding",
        ),
    ],
)
def test_hierarchical_z_errors_name_the_keys(overrides, message):
    from ganlab.errors import GanlabError

    with pytest.raises(GanlabError, match=message):
        build_generator("sagan", _cfg("sagan", **overrides), num_classes=10, resolution=32)
