"""Quality checks for the speed switches, on paper-2's AC-WGAN-GP with its real data.

    # FID after a fixed number of generator iterations, the fast path beside the plain one
    # (same seed; the paper's learning-rate schedule, stopped early)
    python -m bench.quality --iterations 5000 --speeds fast,plain --fid-weights PATH
    # … and the fast path again with another seed: the spread of training itself
    python -m bench.quality --iterations 5000 --speeds fast,plain,fast@1 --fid-weights PATH
    # time to quality: FID after 7 minutes of training (wall clock of the training loop)
    python -m bench.quality --minutes 7 --speeds fast --fid-weights PATH
    # … with the paper's schedule fitted to the 7 minutes (rates reach 0 as the run ends)
    python -m bench.quality --minutes 7 --lr-horizon run --speeds fast --fid-weights PATH
    # … and, from the same run, the FID of an average of the generator's weights
    python -m bench.quality --minutes 7 --speeds fast --fid-weights PATH \
        --override model.ema_decay=0.999
    # … and the FID every 2 minutes on the way (the clock stops while it is measured)
    python -m bench.quality --minutes 7 --curve-minutes 2 --speeds fast --fid-weights PATH

FID: `--samples` generated images (default 10,000) against the features of all training
images (CIFAR-10: 50,000), the TF-Inception weights given. Extra Hydra overrides
(`--override data=cifar10_folder …`) pick where the data comes from. Prints one table and
writes the numbers as JSON (--out).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lightning.pytorch.callbacks import Callback, Timer  # noqa: E402

from bench.run import compose_experiment, machine, text_table  # noqa: E402


# a timed run reports how long its first iterations took: compiling and recording are in them
STARTUP_STEPS = 10


class TrainingClock(Timer):
    """Stops training once the training loop has run for `seconds` of wall time, the time
    spent inside `paused()` (measurements along the way) not counted. A Lightning Timer, so a
    run told to decay its learning rates over its time budget (model.lr_decay_over=time)
    decays them over this clock."""

    def __init__(self, seconds: float, clock=time.perf_counter) -> None:
        super().__init__(duration=timedelta(seconds=seconds), verbose=False)
        self.seconds, self.clock = seconds, clock
        self.start, self.stop, self.excluded = None, None, 0.0
        self.startup: float | None = None  # seconds to the end of step STARTUP_STEPS

    def on_train_start(self, trainer, pl_module) -> None:
        self.start, self.stop, self.excluded = self.clock(), None, 0.0

    def on_train_end(self, trainer, pl_module) -> None:
        self.stop = self.clock()

    def elapsed(self) -> float:
        if self.start is None:
            return 0.0
        now = self.clock() if self.stop is None else self.stop
        return now - self.start - self.excluded

    def time_elapsed(self, stage: str = "train") -> float:
        return self.elapsed() if stage == "train" else super().time_elapsed(stage)

    @contextlib.contextmanager
    def paused(self):
        stopped = self.clock()
        try:
            yield
        finally:
            self.excluded += self.clock() - stopped

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        if trainer.global_step == STARTUP_STEPS:  # compiling and recording are in these
            self.startup = self.elapsed()
        if self.elapsed() >= self.seconds:
            trainer.should_stop = True


class FidCurve(Callback):
    """`measure()` (FIDs) after every `every` seconds of the clock's training time, the clock
    paused meanwhile: a curve of quality against training time from one run."""

    def __init__(self, clock: TrainingClock, every: float, measure) -> None:
        self.clock, self.every, self.measure = clock, every, measure
        self.points: list[dict] = []

    def on_train_batch_end(self, trainer, pl_module, *args) -> None:
        mark = (len(self.points) + 1) * self.every
        if self.clock.elapsed() < mark or mark >= self.clock.seconds:
            return  # the last point is the run's own final measurement
        with self.clock.paused():
            point = self.measure()
        self.points.append({"minutes": mark / 60, "iterations": trainer.global_step, **point})
        print(json.dumps({"curve": self.points[-1]}), flush=True)


def schedule_overrides(horizon: str, minutes: float | None) -> list[str]:
    """The learning-rate decay's span: the paper's 100k generator iterations, stopped early
    ("paper"), or the run itself ("run": over its iterations, or over its minutes by the
    training clock), so that the rates reach 0 as the run ends, as in the paper's own run."""
    if horizon == "paper":
        return ["model.lr_decay_steps=100000"]
    return ["model.lr_decay_over=time"] if minutes else ["model.lr_decay_steps=null"]


def measure_fids(model, fid) -> dict:
    """The generator's FID and, where the run keeps an average of its weights
    (model.ema_decay), the average's; the model's sampling choice is left as it was."""
    average = None
    if getattr(model, "generator_ema", None) is not None:
        chosen = model.sample_from_average
        model.sample_from_average = True
        average = fid()["fid"]
        model.sample_from_average = False
        metrics = fid()
        model.sample_from_average = chosen
    else:
        metrics = fid()
    return {"fid": metrics["fid"], "fid_average": average, "num_real": metrics["num_real"],
            "num_generated": metrics["num_generated"]}


def parse_runs(speeds: str, seed: int) -> list[tuple[str, int]]:
    """`fast,plain,fast@7` → (speed preset, seed) per run; a run without `@` takes `seed`."""
    runs = []
    for entry in speeds.split(","):
        name, _, own = entry.strip().partition("@")
        if not (ROOT / "conf" / "speed" / f"{name}.yaml").exists():
            raise ValueError(f"--speeds: no speed preset {name!r} (conf/speed/)")
        try:
            runs.append((name, int(own) if own else seed))
        except ValueError:
            raise ValueError(f"--speeds: {entry!r}: a seed after @ is an integer") from None
    return runs


def train_and_measure(args, speed: str, seed: int, workdir: Path, extractor) -> dict:
    from pegasus_lab.cli.train import build
    from pegasus_lab.metrics.distances import Reference
    from pegasus_lab.metrics.evaluation import dataset_features, model_metrics
    overrides = [f"speed={speed}", f"seed={seed}", "trainer.max_epochs=-1", "logger=none"]
    overrides += ["trainer.max_steps=100000"] if args.minutes else [
        f"trainer.max_steps={args.iterations}"]
    overrides += schedule_overrides(args.lr_horizon, args.minutes)
    cfg = compose_experiment("paper2_cifar10", overrides + list(args.override), workdir)
    datamodule, model, trainer = build(cfg)
    real = {}

    def fid() -> dict:
        if not real:  # the training images' features (cached on disk where configured) and
            # their statistics, once: a run measures against them at every curve point and
            # twice at its end with an average of its weights
            real["features"], real["labels"] = dataset_features(
                extractor, datamodule, args.batch_size, cfg.fid.get("cache_dir"), model.device)
            real["reference"] = Reference.of(real["features"], device=model.device)
        return model_metrics(model, extractor, real["features"], real["labels"],
                             datamodule.classes, args.samples, args.batch_size, seed=seed,
                             per_class=False, with_kid=False, reference=real["reference"])

    curve = None
    if args.minutes:
        clock = TrainingClock(60 * args.minutes)
        trainer.callbacks.append(clock)
        if args.curve_minutes:
            curve = FidCurve(clock, 60 * args.curve_minutes, lambda: measure_fids(model, fid))
            trainer.callbacks.append(curve)
    started = time.perf_counter()
    trainer.fit(model, datamodule=datamodule)
    seconds = time.perf_counter() - started
    if curve is not None:  # the training time, without the measurements along the way
        seconds -= clock.excluded
    # the trained generator's FID (what fast and plain are compared by), and, where the run
    # kept an average of its weights, the average's from the same run
    model.eval()
    row = {"speed": speed, "seed": seed, "lr_horizon": args.lr_horizon,
           "iterations": trainer.global_step, "train_seconds": seconds,
           "it_per_s": trainer.global_step / seconds, **measure_fids(model, fid),
           "final_lrs": [float(o.param_groups[0]["lr"]) for o in trainer.optimizers],
           "precision": str(trainer.precision), "switches": model.speed.enabled()}
    if curve is not None:
        row["curve"] = curve.points
    if args.minutes:
        row["startup_seconds"] = clock.startup
    return row


def table(rows: list[dict], minutes: float | None) -> str:
    averaged = any(r.get("fid_average") is not None for r in rows)
    head = ["speed", "seed", "iterations", "train s", "it/s", "FID"] + ["FID (EMA)"] * averaged
    body = [[r["speed"], str(r.get("seed", "")), str(r["iterations"]),
             f"{r['train_seconds']:.0f}", f"{r['it_per_s']:.1f}", f"{r['fid']:.2f}"]
            + [_number(r.get("fid_average"))] * averaged for r in rows]
    lines = text_table(head, body)
    spans = {r.get("lr_horizon", "paper") for r in rows}
    lines.append("learning rates decayed linearly to 0 over " + " / ".join(
        "the run (they reach 0 as it ends)" if h == "run" else
        "the paper's 100k iterations (stopped early)" for h in sorted(spans)))
    seed = rows[0].get("seed")  # the comparison's seed: the first run's
    by_speed = {r["speed"]: r for r in rows if r.get("seed") == seed}
    if not minutes and {"fast", "plain"} <= set(by_speed):
        delta = by_speed["fast"]["fid"] - by_speed["plain"]["fid"]
        lines.append(f"FID fast − plain after {by_speed['fast']['iterations']} iterations "
                     f"(seed {seed}): {delta:+.2f} (target: within ±1)")
    for r in rows:
        if r.get("seed") != seed and r["speed"] in by_speed:
            lines.append(f"FID {r['speed']} seed {r['seed']} − seed {seed}: "
                         f"{r['fid'] - by_speed[r['speed']]['fid']:+.2f} (the spread of "
                         f"training itself: the same path, another seed)")
    if minutes:
        for r in rows:
            lines.append(f"FID after {minutes} min ({r['speed']}): {r['fid']:.2f} "
                         f"(target for paper-2's configuration: ≤ 18)")
            if r.get("fid_average") is not None:
                lines.append(f"  sampling from the weights' average (EMA): "
                             f"{r['fid_average']:.2f}")
            if r.get("startup_seconds") is not None:
                lines.append(f"  of the {minutes} min, the first {STARTUP_STEPS} iterations "
                             f"(compiling and recording included) took "
                             f"{r['startup_seconds']:.0f} s")
            for p in r.get("curve", []):
                average = "" if p.get("fid_average") is None else \
                    f", EMA {p['fid_average']:.2f}"
                lines.append(f"  on the way, after {p['minutes']:g} min ({p['iterations']} "
                             f"iterations): FID {p['fid']:.2f}{average}")
    return "\n".join(lines)


def _number(value) -> str:
    return "—" if value is None else f"{value:.2f}"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iterations", type=int, default=5000)
    p.add_argument("--minutes", type=float, default=None,
                   help="train for this long instead of --iterations")
    p.add_argument("--curve-minutes", type=float, default=None,
                   help="with --minutes: also the FID after every this many minutes of "
                        "training (not counted in the training time)")
    p.add_argument("--lr-horizon", choices=["paper", "run"], default="paper",
                   help="the learning rates decay linearly to 0 over the paper's 100k "
                        "iterations (paper: a short run ends at a high rate) or over this run "
                        "(its --iterations, or its --minutes by the training clock)")
    p.add_argument("--speeds", default="fast,plain",
                   help="speed presets (conf/speed/) to train, in order; name@SEED trains that "
                        "one with another seed (fast,plain,fast@1: fast − plain beside the "
                        "spread a change of seed alone makes)")
    p.add_argument("--samples", type=int, default=10000)
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--fid-weights", required=True)
    p.add_argument("--fid-sha256", default=None)
    p.add_argument("--fid-precision", default="tf32", choices=["tf32", "fp32"])
    p.add_argument("--out", default="quality-results.json")
    p.add_argument("--override", action="append", default=[])
    return p.parse_args(argv)


def main(argv=None) -> list[dict]:
    from pegasus_lab.metrics.inception import FID_WEIGHTS_SHA256, InceptionFeatures
    args = parse_args(argv)
    try:
        runs = parse_runs(args.speeds, args.seed)
    except ValueError as err:
        raise SystemExit(f"error: {err}") from None
    extractor = InceptionFeatures(args.fid_weights, args.fid_sha256 or FID_WEIGHTS_SHA256,
                                  precision=args.fid_precision)
    rows = []
    with tempfile.TemporaryDirectory(prefix="pegasus-quality-") as tmp:
        for speed, seed in runs:
            rows.append(train_and_measure(args, speed, seed, Path(tmp), extractor))
            print(json.dumps(rows[-1]), flush=True)
    text = table(rows, args.minutes)
    print(text, flush=True)
    Path(args.out).write_text(json.dumps({"machine": machine(), "command": " ".join(sys.argv),
                                          "rows": rows, "table": text}, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()
