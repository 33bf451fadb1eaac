import pytest
import torch

from tui_gan.errors import ConfigError
from tui_gan.models import ARCH_NAMES, ARCHS, count_params, get_arch


def test_the_architectures_are_registered():
    assert ARCH_NAMES == ["mlp", "dcgan", "simple", "relu-mlp", "mlp-bn-dropout", "progan"]


@pytest.mark.parametrize("name", ARCH_NAMES)
def test_shapes_and_ranges(name):
    torch.manual_seed(0)
    G, D = ARCHS[name].build(100)
    z = torch.randn(8, 100) * 3
    images = G(z)
    assert images.shape == (8, 1, 28, 28)
    logits = D(images)
    assert logits.shape == (8, 1)
    assert torch.isfinite(logits).all()
    G.eval()
    assert G(z[:1]).shape == (1, 1, 28, 28)  # a single sample works in eval mode (BatchNorm)
    drawn = G(z)  # what sampling shows: Tanh's range (progan's linear output clamped to it)
    assert drawn.min() >= -1 and drawn.max() <= 1


@pytest.mark.parametrize("z_dim", [16, 128])
def test_latent_size_is_configurable(z_dim):
    for spec in ARCHS.values():
        G, _ = spec.build(z_dim)
        assert G(torch.randn(2, z_dim)).shape == (2, 1, 28, 28)


def test_documented_layer_sizes():
    G, D = get_arch("mlp").build(100)
    linear = [m for m in G.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [
        (100, 256),
        (256, 512),
        (512, 1024),
        (1024, 784),
    ]
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules()) == 3
    linear = [m for m in D.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linear] == [
        (784, 1024),
        (1024, 512),
        (512, 256),
        (256, 1),
    ]

    G, D = get_arch("simple").build(100)
    assert [(m.in_features, m.out_features) for m in G.modules() if isinstance(m, torch.nn.Linear)] == [
        (100, 256),
        (256, 784),
    ]
    assert [(m.in_features, m.out_features) for m in D.modules() if isinstance(m, torch.nn.Linear)] == [
        (784, 256),
        (256, 1),
    ]

    G, D = get_arch("relu-mlp").build(100)
    assert any(isinstance(m, torch.nn.ReLU) for m in G.modules()) and not any(
        isinstance(m, torch.nn.LeakyReLU) for m in D.modules()
    )

    _, D = get_arch("mlp-bn-dropout").build(100)
    assert sum(isinstance(m, torch.nn.Dropout) for m in D.modules()) == 3

    G, D = get_arch("dcgan").build(100)
    convt = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(m.in_channels, m.out_channels, m.kernel_size, m.stride) for m in convt] == [
        (100, 256, (4, 4), (2, 2)),
        (256, 128, (4, 4), (2, 2)),
        (128, 1, (3, 3), (1, 1)),
    ]
    assert [m.out_features for m in D.modules() if isinstance(m, torch.nn.Linear)] == [1]
    assert count_params(G) > 0 and count_params(D) > 0


def test_unknown_architecture_lists_valid_ones():
    with pytest.raises(ConfigError, match="mlp, dcgan, simple"):
        get_arch("resnet")
