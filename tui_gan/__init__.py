"""tui-gan: train a GAN on MNIST-style digits and watch it in the terminal."""

__version__ = "0.1.0"
