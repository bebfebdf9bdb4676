"""The pegasus_lab benchmark: paper-2 generator iterations per second, paper-0 and paper-3
seconds per epoch, and FID throughput, each timed through the real Trainer and the method's
LightningModule with the experiment's own config; the plain-PyTorch yardstick
(../shared/bench/plain_acwgangp.py) runs in the same process, and one table gives the ratios.

    python -m bench.run                      # on a GPU: everything, about 3 minutes
    python -m bench.run --ablate             # + paper-2 with each speed switch off in turn,
                                             #   and without the critic's layer norm
    python -m bench.run --fid-weights PATH   # the FID row (the TorchScript Inception weights)
    python -m bench.run --smoke              # seconds on the CPU: checks the script itself
    python -m bench.run --only host          # the loop's host time per step, iteration empty
    python -m bench.run --only paper0_host   # the same for paper-0 (its budget: 4.5 ms a step)
    python -m bench.run --only optimizers    # paper-2's Adam steps: for-loop, foreach, fused

Data: generated images of each experiment's size and count (the timing does not depend on
pixel values; the data path is the same fast path), so the benchmark needs no download;
--real uses the experiments' own data sets instead. Progress bars are off; everything else
(loggers, checkpoints, image grids, divergence checks) runs as configured.
Results: the table on stdout, and every number as JSON (--out, default bench-results.json).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `python bench/run.py` as well as `python -m bench.run`
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from hydra import compose, initialize_config_dir  # noqa: E402
from hydra.core.global_hydra import GlobalHydra  # noqa: E402
from omegaconf import DictConfig, open_dict  # noqa: E402

from bench.timing import EpochTimer, IterationTimer, synchronize  # noqa: E402
from pegasus_lab.methods.vaegan import VAEGAN  # noqa: E402
from pegasus_lab.methods.wgan import WGAN  # noqa: E402
from pegasus_lab.provenance import describe, without_diff  # noqa: E402
from pegasus_lab.speed import SWITCHES  # noqa: E402

DEFAULT_YARDSTICK = ROOT.parent / "shared" / "bench" / "plain_acwgangp.py"
# --ablate also times paper-2 with these changes to its networks (not speed switches): how
# much of the gap to the yardstick is architecture (its critic has no normalisation)
VARIANTS = {"critic_norm_none": (["model.critic.norm=none"],
                                 "paper-2, critic without layer norm (as the yardstick)")}
# what --only can pick, in the order they run
ROWS = ("yardstick", "paper2", "fid", "host", "optimizers", "paper0_host", "paper0", "paper3")
TARGETS = {"paper2_it_per_s": 83.0, "paper2_vs_yardstick": 9.0, "paper0_minutes_250": 5.0,
           "fid_50k_seconds": 5.0}

# Generated stand-ins for each experiment's data: the same image size and number of images.
SYNTHETIC = {
    "paper2": ["data=synthetic", "data.source.num_classes=8", "data.source.per_class=6250",
               "model.generator.num_classes=8"],   # 50,000 images; 8 classes (the paper: 10)
    "paper0": ["data=synthetic", "data.source.num_classes=3", "data.source.per_class=3000",
               "data.classes=null"],               # 18,000 images (both splits)
    "paper3": ["data=synthetic", "data.source.num_classes=8", "data.source.per_class=625"],
}
SMOKE = {  # tiny widths and counts: the whole script in seconds on a CPU
    "paper2": ["data.source.per_class=10", "model.generator.width=8", "model.critic.width=8",
               "model.critic_batch_size=4", "model.generator_batch_size=8", "data.batch_size=20"],
    "paper0": ["data.source.per_class=20", "model.encoder.width=8", "model.encoder.latent_dim=8",
               "model.discriminator.width=8", "model.discriminator.hidden_dim=16",
               "data.batch_size=16"],
    "paper3": ["data.source.per_class=8", "model.generator.width=8",
               "model.generator.latent_dim=8", "model.discriminator.width=8",
               "data.batch_size=16", "data.image_size=32"],
}


def compose_experiment(experiment: str, overrides: list[str], workdir: Path) -> DictConfig:
    """pegasus-train's config for `experiment`, run folders under `workdir`."""
    from pegasus_lab.config_groups import config_dir
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
        cfg = compose(config_name="train", overrides=[f"experiment={experiment}", *overrides])
    with open_dict(cfg):
        cfg.paths.log_dir = str(workdir / "outputs")
        cfg.paths.output_dir = str(workdir / experiment / f"run-{time.monotonic_ns()}")
    return cfg


def fit_experiment(experiment: str, overrides: list[str], workdir: Path, callback):
    """Build `experiment` as pegasus-train does, add `callback` (a timer), fit:
    (model, trainer)."""
    from pegasus_lab.cli.train import build
    datamodule, model, trainer = build(compose_experiment(experiment, overrides, workdir))
    trainer.callbacks.append(callback)
    trainer.fit(model, datamodule=datamodule)
    return model, trainer


def paper2_steps(total: int) -> list[str]:
    """Run paper-2 for `total` generator iterations on the paper's learning-rate schedule."""
    return ["trainer.max_epochs=-1", f"trainer.max_steps={total}", "model.lr_decay_steps=100000"]


def bench_overrides(args, paper: str, extra: list[str]) -> list[str]:
    """Every timed run: no progress bar, no download; generated data unless args.real; tiny
    on the CPU with args.smoke; then `extra` and the user's --override's."""
    out = ["+trainer.enable_progress_bar=false", "~callbacks.progress_bar", "data.download=false"]
    if not args.real:
        out += SYNTHETIC[paper] + ["data.cache_dir=null"]
    if args.smoke:
        out += SMOKE[paper] + ["trainer.accelerator=cpu"]
    return out + extra + list(args.override)


def graph_state(model) -> str:
    """Whether the iteration ran as a replayed CUDA graph, and for a WGAN whether its critic
    update ran compiled (the timing depends on both)."""
    runner = getattr(model, "_graphed", None)
    if runner is None:
        state = "eager"
    else:
        state = "recording failed: eager" if runner.failed else (
            "replayed" if runner.recorded else "not recorded")
    if isinstance(model, WGAN) and model.speed.compile_critic_step:
        state += ", critic update " + {
            True: "compiled", False: "through autograd (compiling failed: see the warning)",
            None: "not compiled"}[model.critic_update_compiled]
    return state


def time_paper2(args, workdir: Path, extra: list[str] = ()) -> dict:
    """Generator iterations per second of paper-2's AC-WGAN-GP in steady state."""
    timer = IterationTimer(args.warmup, args.iters)
    overrides = bench_overrides(args, "paper2",
                                [*paper2_steps(args.warmup + args.iters), *extra])
    model, trainer = fit_experiment("paper2_cifar10", overrides, workdir, timer)
    if timer.per_second is None:
        raise RuntimeError("paper-2 stopped before the timed iterations ended")
    return {"it_per_s": timer.per_second, "iters": args.iters, "warmup": args.warmup,
            "startup_seconds": timer.startup, "host_syncs": timer.syncs.count,
            "steps_waiting": timer.syncs.steps, "log_every_n_steps": trainer.log_every_n_steps,
            "precision": str(trainer.precision), "speed": model.speed.enabled(),
            "graph": graph_state(model), "model": model}


class HostOnlyWGAN(WGAN):
    """Paper-2's module with an iteration that does no work: a step then costs only its host
    share (Lightning's loop, callbacks, schedulers, the batch gather, the graph replay)."""

    def iteration(self, images: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        # the values the real iteration returns, for the loop to log the same
        keys = ["wasserstein", "critic", "generator_wasserstein", "generator"]
        if self.gp_weight:
            keys.append("gradient_penalty")
        if self.num_classes:
            keys += ["aux_real", "aux_fake", "aux_real_accuracy", "generator_aux"]
        return dict.fromkeys(keys, images.new_zeros(()))


def time_host(args, workdir: Path) -> dict:
    """Milliseconds per paper-2 step of the loop around an empty iteration: the most steps per
    second the host can issue (a replayed graph runs asynchronously while it does)."""
    result = time_paper2(args, workdir, ["model._target_=bench.run.HostOnlyWGAN"])
    result.pop("model")
    return {**result, "ms_per_step": 1000 / result["it_per_s"]}


class HostOnlyVAEGAN(VAEGAN):
    """Paper-0's module with an iteration that does no work: its steps cost only their host
    share (the loop, its callbacks, three optimizers counted as one step, the graph replay)."""

    def iteration(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # the values the real iteration returns, for the loop to log the same
        return dict.fromkeys(("encoder", "decoder", "discriminator", "prior", "like",
                              "adversarial", "d_real", "d_rec", "d_prior"), x.new_zeros(()))


def time_paper0_host(args, workdir: Path) -> dict:
    """Milliseconds per paper-0 step of the loop around an empty iteration, validation off
    (it runs real networks): the host's share of the 4.5 ms a step that 250 epochs in 5
    minutes leave (66,750 steps in 300 s)."""
    result = time_epochs(args, workdir, "paper0", "paper0_vaegan",
                         ["model._target_=bench.run.HostOnlyVAEGAN",
                          "trainer.limit_val_batches=0",
                          # ranks checkpoints by validation, which is off here
                          "~callbacks.model_checkpoint"])
    steps = result["batches_per_epoch"]
    budget = TARGETS["paper0_minutes_250"] * 60 / (250 * steps)
    return {**result, "ms_per_step": 1000 * result["seconds_per_epoch"] / steps,
            "budget_ms_per_step": 1000 * budget}


def time_optimizers(args, workdir: Path) -> dict:
    """Paper-2's optimizer steps per iteration with Adam as a for-loop, foreach and fused
    (bench/optimizers.py), on its networks as configured (smoke: tiny), on the GPU if any."""
    from hydra.utils import instantiate

    from bench.optimizers import time_optimizer_steps
    cfg = compose_experiment("paper2_cifar10", bench_overrides(args, "paper2", []), workdir)
    device = "cuda" if torch.cuda.is_available() and not args.smoke else "cpu"
    networks = {n: instantiate(cfg.model[n]).to(device) for n in ("critic", "generator")}
    factories = {n: instantiate(cfg.model[f"{n}_optimizer"]) for n in networks}
    steps = ["critic"] * int(cfg.model.n_critic) + ["generator"]
    result = time_optimizer_steps(networks, factories, steps, iters=2 if args.smoke else 50)
    return {**result, "device": device}


def time_epochs(args, workdir: Path, paper: str, experiment: str,
                extra: list[str] = ()) -> dict:
    """Median seconds per epoch after the first (cuDNN autotuning, compilation) of `paper`."""
    epochs = ["trainer.max_epochs=%d" % (1 + args.epochs), "trainer.max_steps=-1"]
    if args.smoke:
        epochs += ["trainer.limit_train_batches=3", "trainer.limit_val_batches=2"]
    timer = EpochTimer()
    overrides = bench_overrides(args, paper, [*epochs, *extra])
    model, trainer = fit_experiment(experiment, overrides, workdir, timer)
    seconds = sorted(timer.epoch_seconds[1:]) or timer.epoch_seconds
    median = seconds[len(seconds) // 2]
    return {"seconds_per_epoch": median, "epochs_timed": len(seconds),
            "first_epoch_seconds": timer.epoch_seconds[0],
            "batches_per_epoch": trainer.num_training_batches,
            "precision": str(trainer.precision), "speed": model.speed.enabled(),
            "graph": graph_state(model)}


def time_fid(args, model) -> dict:
    """Seconds for FID of `--fid-samples` samples of `model`: generation, Inception features,
    statistics and matrix square root (the real set's features come from a cache in use)."""
    from pegasus_lab.metrics import distances
    from pegasus_lab.metrics.evaluation import model_metrics
    from pegasus_lab.metrics.inception import FID_WEIGHTS_SHA256, InceptionFeatures
    weights = Path(args.fid_weights) if args.fid_weights else None
    if weights is None or not weights.is_file():
        return {"skipped": f"no FID weights at {weights} (--fid-weights PATH)"}
    extractor = InceptionFeatures(weights, args.fid_sha256 or FID_WEIGHTS_SHA256,
                                  precision=args.fid_precision).to(model.device)
    num = args.fid_samples
    real = torch.randn(num, extractor.num_features)  # statistics only: FID's cost is the fakes
    labels = torch.zeros(num, dtype=torch.long)
    # warm-up: cuDNN's algorithm choice for the batch shape
    model_metrics(model, extractor, real[:1000], labels[:1000], [], min(num, 1000),
                  args.fid_batch_size, per_class=False, with_kid=False)
    synchronize(model.device)
    start = time.perf_counter()
    out = model_metrics(model, extractor, real, labels, [], num, args.fid_batch_size,
                        per_class=False, with_kid=False)
    synchronize(model.device)
    seconds = time.perf_counter() - start
    # of which the statistics and the matrix square root (two 2048-d feature sets)
    fake = torch.randn(num, extractor.num_features, device=model.device)
    synchronize(model.device)
    start = time.perf_counter()
    distances.fid(real, fake, device=model.device)
    synchronize(model.device)
    statistics = time.perf_counter() - start
    # pegasus-evaluate's k-NN precision, recall, density and coverage on its default 10k
    # features of each set (k 5)
    from pegasus_lab.metrics.manifold import precision_recall_density_coverage
    count = min(num, 10_000)
    start = time.perf_counter()
    precision_recall_density_coverage(real[:count], fake[:count], 5, device=model.device)
    synchronize(model.device)
    manifold = time.perf_counter() - start
    return {"seconds": seconds, "samples": num, "images_per_s": num / seconds,
            "statistics_seconds": statistics, "precision": args.fid_precision,
            "fid_against_noise": out["fid"], "manifold_seconds": manifold,
            "manifold_samples": count}


def report(name: str, result: dict) -> dict:
    """Print one measurement the moment it is taken: a run cut short (a time limit) still
    leaves what it measured in its output."""
    print(f"[bench] {name}: {json.dumps(result, default=str)}", flush=True)
    return result


def release_device_memory() -> None:
    """Free what a finished run held (its recorded graph's memory pool included)."""
    import gc
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def run_yardstick(path: Path, iters: int) -> dict:
    """The plain-PyTorch loop, imported from its file and run here (same process, same GPU)."""
    if not torch.cuda.is_available():
        return {"skipped": "the yardstick runs on CUDA only"}
    if not path.is_file():
        return {"skipped": f"yardstick not found at {path} (--yardstick PATH)"}
    spec = importlib.util.spec_from_file_location("plain_acwgangp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    runs = [module.run(iters, bench) for bench in (False, True)]
    torch.backends.cudnn.benchmark = False  # it leaves the flag set; the next run sets its own
    best = max(r["gen_iters_per_s"] for r in runs)
    return {"runs": runs, "it_per_s": best}


def text_table(head: list[str], body: list[list[str]]) -> list[str]:
    """Lines of a plain-text table: the head, a rule, then the body, columns aligned."""
    widths = [max(len(x) for x in col) for col in zip(head, *body)]
    lines = [" | ".join(c.ljust(w) for c, w in zip(r, widths)) for r in [head, *body]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return lines


def _row(name: str, value, unit: str, reference="", ratio="", target="", met="") -> list[str]:
    fmt = lambda v: f"{v:.2f}" if isinstance(v, float) else str(v)
    return [name, fmt(value), unit, fmt(reference), fmt(ratio), target, met]


def table(results: dict) -> str:
    rows = [["measure", "pegasus_lab", "unit", "yardstick", "ratio", "target", "met"]]
    p2, ys = results.get("paper2"), results.get("yardstick", {})
    if p2:
        ref = ys.get("it_per_s")
        ratio = p2["it_per_s"] / ref if ref else ""
        met = p2["it_per_s"] >= TARGETS["paper2_it_per_s"] and (
            ratio == "" or ratio >= TARGETS["paper2_vs_yardstick"])
        rows.append(_row("paper-2 generator iterations", p2["it_per_s"], "it/s", ref or "-",
                         ratio, f"≥ {TARGETS['paper2_it_per_s']:.0f} and ≥ 9×", "yes" if met
                         else "no"))
        # a run as users start it: its warm-up steps (compiling, recording) as measured,
        # then the rest at the measured rate
        startup = p2.get("startup_seconds") or 0.0
        rest = 100000 - (p2.get("warmup") or 0) if startup else 100000
        rows.append(_row("paper-2 100k iterations (start-up included)",
                         (startup + rest / p2["it_per_s"]) / 60, "min",
                         100000 / ref / 60 if ref else "-", "", "≤ 20"))
    labels = [("plain", "paper-2, speed=plain")]
    labels += [(f"without_{s}", f"paper-2, speed.{s}=false") for s in SWITCHES]
    labels += [(name, label) for name, (_, label) in VARIANTS.items()]
    for name, label in labels:
        if name in results.get("ablation", {}):
            r = results["ablation"][name]
            ratio = p2["it_per_s"] / r["it_per_s"] if p2 else ""
            rows.append(_row(label, r["it_per_s"], "it/s", "", ratio, "(fast ÷ this)"))
    if "host" in results:
        ms, budget = results["host"]["ms_per_step"], 1000 / TARGETS["paper2_it_per_s"]
        rows.append(_row("paper-2 loop, host only (empty iteration)", ms, "ms/step", "", "",
                         f"< {budget:.0f}", "yes" if ms < budget else "no"))
    if "paper0_host" in results:
        ms, budget = results["paper0_host"]["ms_per_step"], \
            results["paper0_host"]["budget_ms_per_step"]
        rows.append(_row("paper-0 loop, host only (empty iteration, no validation)", ms,
                         "ms/step", "", "", f"< {budget:.1f}", "yes" if ms < budget else "no"))
    if "optimizers" in results:
        opt = results["optimizers"]
        for variant, label in (("for_loop", "for-loop"), ("foreach", "foreach"),
                               ("fused", "fused (speed.fused_optimizers)")):
            rows.append(_row(f"paper-2 Adam steps per iteration, {label}", opt[f"{variant}_ms"],
                             "ms", "", opt["foreach_ms"] / opt[f"{variant}_ms"],
                             "(foreach ÷ this)"))
    if "paper0" in results:
        s = results["paper0"]["seconds_per_epoch"]
        first = results["paper0"].get("first_epoch_seconds", s)  # compiling, autotuning
        total = (first + 249 * s) / 60
        rows.append(_row("paper-0 VAE-GAN epoch", s, "s"))
        rows.append(_row("paper-0 first epoch (compiling included)", first, "s"))
        rows.append(_row("paper-0 250 epochs (first + 249 more)", total, "min", "", "", "≤ 5",
                         "yes" if total <= TARGETS["paper0_minutes_250"] else "no"))
    if "paper3" in results:
        rows.append(_row("paper-3 DCGAN epoch", results["paper3"]["seconds_per_epoch"], "s"))
    fid = results.get("fid", {})
    if "seconds" in fid:
        rows.append(_row(f"FID of {fid['samples']} samples", fid["seconds"], "s", "", "",
                         "≤ 5" if fid["samples"] == 50000 else "",
                         "yes" if fid["seconds"] <= 5 and fid["samples"] == 50000 else ""))
        rows.append(_row("FID feature throughput", fid["images_per_s"], "img/s"))
        if "statistics_seconds" in fid:
            rows.append(_row("  of which statistics and square root", fid["statistics_seconds"],
                             "s"))
        if "manifold_seconds" in fid:
            rows.append(_row(f"k-NN precision/recall/density/coverage, {fid['manifold_samples']}"
                             " of each", fid["manifold_seconds"], "s"))
    elif fid:
        rows.append(["FID", fid["skipped"], "", "", "", "", ""])
    if "skipped" in ys:
        rows.append(["yardstick", ys["skipped"], "", "", "", "", ""])
    if results.get("smoke"):  # tiny networks on a CPU: no verdict on the targets
        for r in rows[1:]:
            r[-1] = ""
    lines = text_table(rows[0], rows[1:])
    for key, label in (("paper2", "paper-2"), ("paper0", "paper-0"), ("paper3", "paper-3")):
        if key in results and "graph" in results[key]:
            r = results[key]
            lines.append(f"{label}: iteration {r['graph']}, precision {r['precision']}, "
                         f"switches {', '.join(r['speed']) or 'none'}")
    p2 = results.get("paper2", {})
    if p2.get("host_syncs") is not None:
        logged = p2["iters"] // max(int(p2.get("log_every_n_steps") or 1), 1)
        lines.append(f"paper-2: {p2['steps_waiting']} of the {p2['iters']} timed iterations "
                     f"waited for the GPU ({p2['host_syncs']} host syncs by torch's sync "
                     f"debug mode; about {logged} expected, the logging steps)")
    if results.get("smoke"):
        lines.insert(0, "SMOKE RUN: tiny networks on the CPU, a check of the script; "
                        "not benchmark figures")
    return "\n".join(lines)


def machine() -> dict:
    """The machine, libraries and code the figures came from (a run's provenance record),
    with the CPU count."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return {**without_diff(describe(device)), "cpu_count": os.cpu_count()}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--only", default=",".join(ROWS),
                   help=f"comma-separated subset of {','.join(ROWS)}")
    p.add_argument("--iters", type=int, default=None,
                   help="timed paper-2 iterations (default 500; smoke: 3)")
    p.add_argument("--warmup", type=int, default=None,
                   help="paper-2 iterations before timing (default 50; smoke: 2)")
    p.add_argument("--epochs", type=int, default=None,
                   help="timed epochs after a first one (paper-0, paper-3; default 3, smoke 1)")
    p.add_argument("--yardstick", default=str(DEFAULT_YARDSTICK))
    p.add_argument("--yardstick-iters", type=int, default=100)
    p.add_argument("--fid-weights", default=None)
    p.add_argument("--fid-sha256", default=None)
    p.add_argument("--fid-samples", type=int, default=50000)
    p.add_argument("--fid-batch-size", type=int, default=500)
    p.add_argument("--fid-precision", default="tf32", choices=["tf32", "fp32"])
    p.add_argument("--ablate", action="store_true",
                   help="also time paper-2 with speed=plain, with each switch off, and "
                        "with the yardstick's critic (no layer norm)")
    p.add_argument("--switches", default=",".join(SWITCHES),
                   help="the switches --ablate turns off one at a time (default: all)")
    p.add_argument("--real", action="store_true", help="the experiments' own data sets")
    p.add_argument("--smoke", action="store_true", help="tiny and on the CPU (tests)")
    p.add_argument("--out", default="bench-results.json")
    p.add_argument("--override", action="append", default=[],
                   help="an extra Hydra override for every run (repeatable)")
    args = p.parse_args(argv)
    unknown = [s for s in args.switches.split(",") if s not in SWITCHES]
    if unknown:
        p.error(f"unknown switches {unknown}; valid choices: {list(SWITCHES)}")
    unknown = [r for r in args.only.split(",") if r not in ROWS]
    if unknown:  # a misspelt row would otherwise be skipped without a word
        p.error(f"unknown --only rows {unknown}; valid choices: {list(ROWS)}")
    for name, full, smoke in (("iters", 500, 3), ("warmup", 50, 2), ("epochs", 3, 1)):
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    wanted = set(args.only.split(","))
    results: dict = {"machine": machine(), "command": " ".join(sys.argv), "smoke": args.smoke,
                     "data": "experiments' own" if args.real else "generated stand-ins"}
    with tempfile.TemporaryDirectory(prefix="pegasus-bench-") as tmp:
        workdir = Path(tmp)
        if "yardstick" in wanted:
            results["yardstick"] = report("yardstick", run_yardstick(Path(args.yardstick),
                                                                    args.yardstick_iters))
        if "paper2" in wanted or "fid" in wanted:
            results["paper2"] = time_paper2(args, workdir)
            model = results["paper2"].pop("model")
            report("paper2", results["paper2"])
            if "fid" in wanted:
                # right after paper-2, whose samples it measures: a call cut off by its time
                # limit during the ablation or the epochs below still has it; then the
                # model's memory (its recorded graph's pool) is freed for the runs after it
                results["fid"] = report("fid", time_fid(args, model.eval()))
            del model
            release_device_memory()
        if "host" in wanted:
            results["host"] = report("host", time_host(args, workdir))
            release_device_memory()
        if "optimizers" in wanted:
            results["optimizers"] = report("optimizers", time_optimizers(args, workdir))
            release_device_memory()
        if args.ablate:
            ablation = results["ablation"] = {}
            runs = [("plain", ["speed=plain"])]
            runs += [(f"without_{s}", [f"speed.{s}=false"]) for s in args.switches.split(",")]
            runs += [(name, overrides) for name, (overrides, _) in VARIANTS.items()]
            for name, overrides in runs:
                ablation[name] = time_paper2(args, workdir, overrides)
                ablation[name].pop("model")
                report(f"ablation {name}", ablation[name])
                release_device_memory()
        if "paper0_host" in wanted:
            results["paper0_host"] = report("paper0_host", time_paper0_host(args, workdir))
        if "paper0" in wanted:
            results["paper0"] = report("paper0", time_epochs(args, workdir, "paper0",
                                                             "paper0_vaegan"))
        if "paper3" in wanted:
            results["paper3"] = report("paper3", time_epochs(args, workdir, "paper3",
                                                             "paper3_stl10"))
    text = table(results)
    print(text, flush=True)
    results["table"] = text
    Path(args.out).write_text(json.dumps(results, indent=2, default=str) + "\n")
    return results


if __name__ == "__main__":
    main()
