"""The arithmetic of paper-2's generator iteration and of paper-0's epochs, counted rather
than estimated: the multiply-adds of every convolution and matrix product (forward, backward,
the gradient penalty's double backward) that each method's own `iteration` runs, on
shape-only ("meta") tensors, so it needs no GPU and takes seconds.

    python -m bench.flops                    # paper-2: plain layers vs the exact rewrites,
                                             #   ± layer norm; paper-0's 250 epochs
    python -m bench.flops --tflops 200,400   # it/s those sustained rates would allow
    python -m bench.flops --fid-weights PATH # + the FID extractor's arithmetic for 50k samples

Elementwise work, reductions and the optimizers' updates are not counted: their cost is memory
traffic and launches, which the benchmark (bench.run) measures instead. The counts come from
torch.utils.flop_counter's formulas (2 FLOP per multiply-add). Beside the FLOP, the table
counts the operators that compute (views left out): roughly the kernels one iteration runs,
the long tail a GPU pays per kernel whatever its arithmetic.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from hydra.utils import instantiate  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils.flop_counter import flop_registry  # noqa: E402

from bench.run import compose_experiment, text_table  # noqa: E402

# what is compared: (name, overrides of paper-2's model config)
VARIANTS = [
    ("plain layers", ["model.generator.fused_upsample=false",
                      "model.critic.fused_downsample=false"]),
    ("rewrites (speed.fused_layers)", ["model.generator.fused_upsample=true",
                                       "model.critic.fused_downsample=true"]),
    ("rewrites + layer_norm kernel (speed.fused_norms)", [
        "model.generator.fused_upsample=true", "model.critic.fused_downsample=true",
        "model.critic.fused_norm=true"]),
    ("rewrites, critic without layer norm", ["model.generator.fused_upsample=true",
                                             "model.critic.fused_downsample=true",
                                             "model.critic.norm=none"]),
]
TINY = ["model.generator.width=8", "model.critic.width=8", "model.critic_batch_size=4",
        "model.generator_batch_size=8"]
TINY_PAPER0 = ["model.encoder.width=8", "model.encoder.latent_dim=8",
               "model.discriminator.width=8", "model.discriminator.hidden_dim=16"]


# operators that only describe a tensor differently (no kernel runs)
VIEW_OPS = frozenset({"view", "_unsafe_view", "reshape", "expand", "permute", "detach", "t",
                      "transpose", "unsqueeze", "squeeze", "alias", "as_strided", "slice",
                      "select", "unbind", "split", "chunk", "narrow", "lift_fresh"})


class FlopCount(TorchDispatchMode):
    """Adds up torch's FLOP formulas (torch.utils.flop_counter's registry) for every operator
    run inside it, and counts the operators that compute (`ops`: views left out).
    (FlopCounterMode itself tracks modules with hooks that autograd.grad, used by the gradient
    penalty, does not allow.)"""

    def __init__(self) -> None:
        super().__init__()
        self.flops = 0
        self.ops = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        if func._overloadpacket.__name__ not in VIEW_OPS:
            self.ops += 1
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.flops += formula(*args, **kwargs, out_val=out)
        return out


def experiment_model(experiment: str, overrides: list[str], workdir: Path):
    cfg = compose_experiment(experiment, overrides, workdir)
    return instantiate(cfg.model), cfg


def iteration_count(model, networks: list[str], *inputs: torch.Tensor) -> FlopCount:
    """The count of one `model.iteration(*inputs)` on meta tensors; `networks` in the order the
    method's optimizers come (each stepped here by a no-op SGD: no Trainer needed)."""
    optimizers = [torch.optim.SGD(getattr(model, n).parameters(), lr=0.0) for n in networks]
    model.optimizers = lambda: optimizers
    with FlopCount() as count:
        model.iteration(*inputs)
    return count


def count_paper2_iteration(model, channels: int, side: int) -> dict[str, float]:
    """FLOP of one paper-2 generator iteration (its n_critic critic updates and the generator
    update) for images of channels × side × side, split into the two phases."""
    model = model.to("meta")
    n = model.n_critic * model.critic_batch_size
    images = torch.empty(n, channels, side, side, device="meta")
    labels = torch.zeros(n, dtype=torch.long, device="meta")
    count = iteration_count(model, ["generator", "critic"], images, labels)
    total = float(count.flops)
    # the generator step alone: the same losses and backward as the iteration's last update
    with FlopCount() as generator_step:
        out = model.generator_losses(model.generator_batch_size)
        out["generator"].backward(inputs=list(model.generator.parameters()))
    generator = float(generator_step.flops)
    return {"total": total, "generator_step": generator,
            "critic_step": (total - generator) / model.n_critic, "ops": count.ops}


def count_paper0(overrides: list[str], workdir: Path, images: int) -> dict[str, float]:
    """FLOP of one paper-0 VAE-GAN iteration (encoder, decoder and discriminator updates on
    one batch), per epoch of `images` training images, and for the paper's 250 epochs."""
    model, cfg = experiment_model("paper0_vaegan", overrides, workdir)
    model = model.to("meta")
    side, batch = cfg.data.image_size, cfg.data.batch_size
    x = torch.empty(batch, cfg.data.channels, side, side, device="meta")
    count = iteration_count(model, ["encoder", "decoder", "discriminator"], x)
    per_iteration = float(count.flops)
    per_epoch = per_iteration * (images // batch)
    return {"per_iteration": per_iteration, "batch_size": batch, "images": images,
            "per_epoch": per_epoch, "epochs": 250, "total": 250 * per_epoch, "ops": count.ops}


def count_fid_extractor(weights: str, sha256: str | None, samples: int) -> dict[str, float]:
    """FLOP of the FID feature extractor (resizing to 299² included) per image, for two
    images run on the CPU (TorchScript modules do not move to shape-only tensors)."""
    from pegasus_lab.metrics.inception import FID_WEIGHTS_SHA256, InceptionFeatures
    extractor = InceptionFeatures(weights, sha256 or FID_WEIGHTS_SHA256)
    images = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    with torch.no_grad(), FlopCount() as count:
        extractor(images)
    per_image = count.flops / 2
    return {"per_image": per_image, "samples": samples, "total": per_image * samples}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tflops", default="200,400",
                   help="sustained rates (TFLOP/s) to turn the counts into iterations/s")
    p.add_argument("--paper0-images", type=int, default=17100,
                   help="paper-0's training images per epoch (18,000 less the 5%% validation)")
    p.add_argument("--fid-weights", default=None, help="the TorchScript Inception weights")
    p.add_argument("--fid-sha256", default=None)
    p.add_argument("--fid-samples", type=int, default=50000)
    p.add_argument("--smoke", action="store_true", help="tiny networks (tests)")
    p.add_argument("--out", default="flops-results.json")
    return p.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    rates = [float(r) for r in args.tflops.split(",")]
    rows = []
    with tempfile.TemporaryDirectory(prefix="pegasus-flops-") as tmp:
        for name, overrides in VARIANTS:
            model, cfg = experiment_model("paper2_cifar10",
                                          overrides + (TINY if args.smoke else []), Path(tmp))
            counts = count_paper2_iteration(model, cfg.data.channels, cfg.data.image_size)
            rows.append({"variant": name, "overrides": overrides, **counts,
                         "critic_batch_size": cfg.model.critic_batch_size,
                         "generator_batch_size": cfg.model.generator_batch_size,
                         "n_critic": cfg.model.n_critic, "width": cfg.model.critic.width})
        p0 = count_paper0(TINY_PAPER0 if args.smoke else [], Path(tmp), args.paper0_images)
    head = ["variant", "TFLOP/iteration", "critic step", "generator step"] + [
        f"it/s at {r:g} TFLOP/s" for r in rates] + ["ops/iteration"]
    body = [[r["variant"], f"{r['total'] / 1e12:.3f}", f"{r['critic_step'] / 1e12:.3f}",
             f"{r['generator_step'] / 1e12:.3f}"] + [f"{rate * 1e12 / r['total']:.0f}"
                                                     for rate in rates] + [str(r["ops"])]
            for r in rows]
    lines = text_table(head, body)
    results = {"rows": rows, "paper0": p0}
    lines.append(f"paper-0 VAE-GAN: {p0['per_iteration'] / 1e9:.1f} GFLOP and {p0['ops']} "
                 f"operators per iteration of "
                 f"{p0['batch_size']}, {p0['per_epoch'] / 1e12:.2f} TFLOP per epoch of "
                 f"{p0['images']} images, {p0['total'] / 1e15:.2f} PFLOP for 250 epochs: "
                 + ", ".join(f"{p0['total'] / (rate * 1e12):.0f} s at {rate:g} TFLOP/s"
                             for rate in rates))
    if args.fid_weights:
        fid = count_fid_extractor(args.fid_weights, args.fid_sha256, args.fid_samples)
        results["fid"] = fid
        lines.append(f"FID extractor: {fid['per_image'] / 1e9:.2f} GFLOP per image, "
                     f"{fid['total'] / 1e12:.0f} TFLOP for {fid['samples']} samples: " + ", ".join(
                         f"{fid['total'] / (rate * 1e12):.1f} s at {rate:g} TFLOP/s"
                         for rate in rates))
    text = "\n".join(lines)
    print(text, flush=True)
    results["table"] = text
    Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
