"""Engine throughput against a plain seed-style training loop, measured in the same run.

The plain loop is what the reference GANs do: a torchvision-style Dataset (PIL image ->
ToTensor -> Normalize) behind a DataLoader with shuffling, Sigmoid + BCELoss, default Adam,
label tensors made every step, one .item() per loss for the loss lists. Same models, same
batch (128), same data, same threads. The engine holds the data as one tensor and batches by
random index, uses BCE-with-logits, fused Adam, one D forward for real+fake when D has no
BatchNorm, and freezes D's weights during the G step.

    python benchmarks/throughput.py [--device cpu|cuda|cuda:N] [--precision fp32,bf16] [--compile]
                                    [--steps-mlp 150] [--steps-dcgan 12] [--repeats 2]

Prints, per architecture and engine precision, images/s for the engine and two plain variants
(see plain_loop; always fp32, as the seeds train) on the same device, the ratios, and the
engine's achieved GFLOP/s against a measured large-matmul peak of that device in that precision.
On a GPU the default step counts grow 20x (a step takes well under a millisecond there).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from PIL import Image
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from torchvision import transforms

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench_data import load_images  # noqa: E402 - benchmarks/ is sys.path[0]

from tui_gan.config import TrainConfig  # noqa: E402
from tui_gan.data import Dataset  # noqa: E402
from tui_gan.models import get_arch  # noqa: E402
from tui_gan.training.device import native_bf16  # noqa: E402
from tui_gan.training.engine import Engine  # noqa: E402

BATCH = 128
CPU = torch.device("cpu")


class SeedStyleMNIST(torch.utils.data.Dataset):
    """What torchvision.datasets.MNIST does per item: uint8 -> PIL image -> transform."""

    def __init__(self, images: torch.Tensor):
        self.data = images
        self.transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int):
        return self.transform(Image.fromarray(self.data[i].numpy(), mode="L")), 0


def plain_loop(
    arch: str,
    images: torch.Tensor,
    steps: int,
    warmup: int,
    fresh_fake: bool = False,
    device: torch.device = CPU,
) -> float:
    """fresh_fake: the G step draws new noise and runs G again, as seed 001's loop describes
    ("Train the Generator: generate fake images..."); otherwise it reuses the D step's fakes
    like pytorch/examples dcgan."""
    torch.manual_seed(0)
    G, D = get_arch(arch).build(100)
    G, D = G.to(device), D.to(device)
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    criterion = nn.BCELoss()
    loader = torch.utils.data.DataLoader(
        SeedStyleMNIST(images), batch_size=BATCH, shuffle=True, drop_last=True
    )
    d_losses, g_losses = [], []
    done, start = 0, None
    while done < steps + warmup:
        for real, _ in loader:
            if done == warmup:
                start = time.perf_counter()
            if done == steps + warmup:
                break
            b = real.size(0)
            real = real.to(device)
            ones, zeros = torch.ones(b, 1, device=device), torch.zeros(b, 1, device=device)
            opt_d.zero_grad()
            loss_real = criterion(torch.sigmoid(D(real)), ones)
            z = torch.randn(b, 100, device=device)
            fake = G(z)
            loss_fake = criterion(torch.sigmoid(D(fake.detach())), zeros)
            d_loss = loss_real + loss_fake
            d_loss.backward()
            opt_d.step()
            opt_g.zero_grad()
            if fresh_fake:
                fake = G(torch.randn(b, 100, device=device))
            g_loss = criterion(torch.sigmoid(D(fake)), ones)
            g_loss.backward()
            opt_g.step()
            d_losses.append(d_loss.item())
            g_losses.append(g_loss.item())
            done += 1
    return steps * BATCH / (time.perf_counter() - start)


def engine_run(
    arch: str,
    dataset: Dataset,
    steps: int,
    warmup: int,
    device: str = "cpu",
    precision: str = "fp32",
    compile: str = "off",
) -> tuple[float, float]:
    """Returns (images/s, FLOPs per step) for the real engine, events and sample grids included."""
    config = TrainConfig(
        arch=arch,
        dataset="mnist",
        batch_size=BATCH,
        max_steps=warmup,
        epochs=10_000,
        device=device,
        precision=precision,
        compile=compile,
    )
    engine = Engine(config, dataset=dataset, run_dir=False, exit_when_done=True)
    engine.run()  # warm-up: allocator, kernels, first epoch shuffle
    with FlopCounterMode(display=False) as counter:
        engine.train_step()
    flops = counter.get_total_flops()
    engine.config = engine.config.replace(max_steps=steps)
    engine.steps_this_run = 0
    start = time.perf_counter()
    engine.run()
    return steps * BATCH / (time.perf_counter() - start), flops


def matmul_peak(device: torch.device, precision: str, n: int = 2048, repeats: int = 8) -> float:
    """GFLOP/s of a large matmul in the engine's precision on the device (TF32 for fp32 on GPUs,
    as the engine sets it)."""
    dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    if device.type == "cuda":
        n *= 4
        torch.backends.cuda.matmul.allow_tf32 = True
    a, b = torch.randn(n, n, device=device, dtype=dtype), torch.randn(n, n, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    a @ b
    sync()
    best = 0.0
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        sync()
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best / 1e9


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    parser.add_argument(
        "--precision", default="fp32", help="engine precisions, comma-separated: fp32,bf16,fp16"
    )
    parser.add_argument(
        "--compile", nargs="?", const="default", default="off", help="torch.compile the engine's G and D"
    )
    parser.add_argument("--steps-mlp", type=int, help="timed steps (default 150 on a CPU, 3000 on a GPU)")
    parser.add_argument("--steps-dcgan", type=int, help="timed steps (default 12 on a CPU, 1000 on a GPU)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="alternate plain/engine this many times, keep the best"
    )
    args = parser.parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print(
            f"throughput.py: error: --device {args.device}, but PyTorch sees no CUDA GPU here",
            file=sys.stderr,
        )
        return 2
    precisions = args.precision.split(",")
    if "bf16" in precisions and not native_bf16(device):  # emulated: hours, and nothing learnt
        print("bf16 skipped: this device has no bf16 in hardware (no AMX or AVX512-BF16 on a CPU)")
        precisions.remove("bf16")
    if not precisions:
        return 0
    on_gpu = device.type == "cuda"
    steps_for = {
        "mlp": args.steps_mlp or (3000 if on_gpu else 150),
        "dcgan": args.steps_dcgan or (1000 if on_gpu else 12),
    }

    dataset = load_images()
    name = torch.cuda.get_device_name(device) if on_gpu else f"CPU, {torch.get_num_threads()} threads"
    print(
        f"torch {torch.__version__}, {name}, data: {dataset.source} ({len(dataset)} images), "
        f"compile {args.compile}"
    )
    peaks = {p: matmul_peak(device, p) for p in precisions}
    print("measured matmul peak: " + ", ".join(f"{p} {peak:,.0f} GFLOP/s" for p, peak in peaks.items()))
    print(
        "plain A reuses the D step's fakes in the G step (pytorch/examples dcgan); "
        "plain B draws fresh ones (seeds 001/003)"
    )
    print(
        f"{'arch':8} {'prec':5} {'plain A':>9} {'plain B':>9} {'engine':>9} {'vs A':>6} {'vs B':>6} "
        f"{'GFLOP/step':>11} "
        f"{'GFLOP/s':>8} {'of peak':>8}"
    )
    for arch, steps in steps_for.items():
        warmup = 20 if on_gpu else 3
        plain_a = plain_b = 0.0
        engine = {p: (0.0, 0.0) for p in precisions}
        for _ in range(args.repeats):
            plain_a = max(plain_a, plain_loop(arch, dataset.images, steps, warmup, device=device))
            plain_b = max(
                plain_b, plain_loop(arch, dataset.images, steps, warmup, fresh_fake=True, device=device)
            )
            for p in precisions:
                rate, flops = engine_run(arch, dataset, steps, warmup, args.device, p, args.compile)
                engine[p] = max(engine[p], (rate, flops))
        for p, (eng, flops) in engine.items():
            gflops = flops / 1e9 * eng / BATCH
            print(
                f"{arch:8} {p:5} {plain_a:9,.0f} {plain_b:9,.0f} {eng:9,.0f} {eng / plain_a:5.2f}x "
                f"{eng / plain_b:5.2f}x {flops / 1e9:11.2f} {gflops:8.1f} {gflops / peaks[p]:7.0%}"
            )
    return 0


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # each row as it is measured, into a pipe too
    raise SystemExit(main())
