"""Where paper-2's iteration spends its time: torch.profiler over a few generator iterations
in steady state, through the real Trainer, printing the operators and kernels that take the
most device time (and writing a Chrome trace).

    python -m bench.profile_paper2                                   # the default (fast) switches
    python -m bench.profile_paper2 --override speed=plain            # the unoptimised path
    python -m bench.profile_paper2 --override speed.cuda_graphs=false  # kernels one by one

Inside a replayed CUDA graph the profiler sees the replay, not its kernels: profile with
speed.cuda_graphs=false to see the kernels the graph holds. `--smoke` runs it on the CPU.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from lightning.pytorch.callbacks import Callback  # noqa: E402

from bench.run import bench_overrides, fit_experiment, paper2_steps  # noqa: E402


class ProfileWindow(Callback):
    """torch.profiler from global step `start` for `steps` training steps."""

    def __init__(self, start: int, steps: int) -> None:
        self.start, self.steps = start, steps
        self.profiler: torch.profiler.profile | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if trainer.global_step == self.start and self.profiler is None:
            activities = [torch.profiler.ProfilerActivity.CPU]
            if pl_module.device.type == "cuda":
                activities.append(torch.profiler.ProfilerActivity.CUDA)
            self.profiler = torch.profiler.profile(activities=activities)
            self.profiler.__enter__()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.profiler is not None and trainer.global_step == self.start + self.steps:
            if pl_module.device.type == "cuda":
                torch.cuda.synchronize()
            self.profiler.__exit__(None, None, None)
            trainer.should_stop = True


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rows", type=int, default=30)
    p.add_argument("--trace", default="paper2-trace.json", help="Chrome trace ('' for none)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--override", action="append", default=[])
    return p.parse_args(argv)


def main(argv=None) -> str:
    args = parse_args(argv)
    args.real = False  # generated data of CIFAR-10's size, as the benchmark
    overrides = bench_overrides(args, "paper2", [*paper2_steps(args.warmup + args.steps),
                                                 "logger=none"])
    window = ProfileWindow(args.warmup, args.steps)
    with tempfile.TemporaryDirectory(prefix="pegasus-profile-") as tmp:
        model, trainer = fit_experiment("paper2_cifar10", overrides, Path(tmp), window)
    if window.profiler is None:
        raise SystemExit("the run ended before the profiled steps")
    cuda = model.device.type == "cuda"
    table = window.profiler.key_averages().table(
        sort_by="self_cuda_time_total" if cuda else "self_cpu_time_total", row_limit=args.rows)
    print(f"{args.steps} paper-2 iterations after {args.warmup}, switches: "
          f"{', '.join(model.speed.enabled()) or 'none'}, precision {trainer.precision}")
    print(table, flush=True)
    if args.trace:
        window.profiler.export_chrome_trace(args.trace)
    return table


if __name__ == "__main__":
    main()
