"""The benchmark script end to end in its smoke mode (tiny networks, CPU): every row is
measured through the real Trainer and written out. No timing is asserted."""
import json
import time
import warnings

import lightning as L
import pytest
import torch
from hydra.utils import instantiate
from lightning.pytorch.demos.boring_classes import BoringModel

from bench.run import ROWS, HostOnlyVAEGAN, HostOnlyWGAN, main, parse_args, table
from bench.timing import EpochTimer, SyncCount
from tests.conftest import compose_config, smoke


def test_smoke_run_fills_every_row(tmp_path, tiny_fid_weights, capsys):
    weights, sha = tiny_fid_weights
    out = tmp_path / "results.json"
    results = main(["--smoke", "--out", str(out), "--fid-weights", str(weights),
                    "--fid-sha256", sha, "--fid-samples", "24", "--fid-batch-size", "12",
                    "--yardstick", str(tmp_path / "absent.py")])
    assert results["paper2"]["it_per_s"] > 0 and results["paper2"]["iters"] == 3
    assert results["host"]["ms_per_step"] > 0 and results["host"]["iters"] == 3
    host0 = results["paper0_host"]
    assert host0["ms_per_step"] > 0 and host0["batches_per_epoch"] == 3
    assert host0["budget_ms_per_step"] == pytest.approx(300_000 / (250 * 3))
    assert results["paper0"]["seconds_per_epoch"] > 0
    assert results["paper0"]["first_epoch_seconds"] > 0
    assert results["paper2"]["startup_seconds"] > 0
    assert results["paper3"]["seconds_per_epoch"] > 0
    assert all(results["optimizers"][f"{v}_ms"] > 0 for v in ("for_loop", "foreach", "fused"))
    assert results["optimizers"]["steps_per_iteration"] == 6  # 5 critic steps, 1 generator
    assert results["fid"]["samples"] == 24 and results["fid"]["images_per_s"] > 0
    made = results["machine"]  # where the figures came from: libraries, device, code
    assert made["packages"]["torch"] and made["device"] == "cpu" and "commit" in made["code"]
    assert "diff" not in made["code"] and made["cpu_count"] >= 1
    assert results["fid"]["statistics_seconds"] > 0
    assert results["fid"]["manifold_seconds"] > 0 and results["fid"]["manifold_samples"] == 24
    assert "skipped" in results["yardstick"]
    assert results["paper2"]["host_syncs"] is None  # counted on CUDA only
    # printed as measured, in ROWS' order: FID straight after the paper-2 run it samples, so
    # that a call cut off later (the ablation, the epochs) still has it
    printed = [line.split(":")[0].removeprefix("[bench] ")
               for line in capsys.readouterr().out.splitlines() if line.startswith("[bench] ")]
    assert printed == list(ROWS) and printed.index("fid") == printed.index("paper2") + 1
    written = json.loads(out.read_text())
    assert written["table"] == results["table"]
    for row in ("paper-2 generator iterations", "paper-2 loop, host only",
                "paper-0 loop, host only", "paper-0 250 epochs",
                "paper-3 DCGAN epoch", "FID of 24 samples", "of which statistics",
                "Adam steps per iteration, fused", "SMOKE RUN"):
        assert row in results["table"]


def test_table_gives_ratios_against_the_yardstick():
    results = {"paper2": {"it_per_s": 90.0}, "yardstick": {"it_per_s": 9.0},
               "ablation": {"plain": {"it_per_s": 10.0}},
               "paper0": {"seconds_per_epoch": 1.2}, "host": {"ms_per_step": 2.5},
               "paper0_host": {"ms_per_step": 4.0, "budget_ms_per_step": 4.49},
               "fid": {"seconds": 4.0, "samples": 50000, "images_per_s": 12500.0}}
    text = table(results)
    line = next(r for r in text.splitlines() if r.startswith("paper-2 generator"))
    assert "90.00" in line and "10.00" in line and line.rstrip().endswith("yes")  # 10× ≥ 9×
    assert "speed=plain" in text and "9.00" in text  # fast ÷ plain
    assert next(r for r in text.splitlines() if "250 epochs" in r).rstrip().endswith("yes")
    assert next(r for r in text.splitlines() if "paper-2 loop, host only" in r
                ).rstrip().endswith("yes")
    host0 = next(r for r in text.splitlines() if "paper-0 loop, host only" in r)
    assert "< 4.5" in host0 and host0.rstrip().endswith("yes")
    results["paper0_host"]["ms_per_step"] = 4.6  # over paper-0's 4.49 ms a step
    assert next(r for r in table(results).splitlines() if "paper-0 loop, host only" in r
                ).rstrip().endswith("no")
    assert next(r for r in text.splitlines() if "FID of 50000" in r).rstrip().endswith("yes")


def test_the_projections_include_the_start_up_users_wait_for():
    # paper-0: a 100-s first epoch (compiling) and 1.0 s each after: 100 + 249 = 349 s > 300
    results = {"paper0": {"seconds_per_epoch": 1.0, "first_epoch_seconds": 100.0},
               "paper2": {"it_per_s": 100.0, "warmup": 50, "startup_seconds": 90.0}}
    lines = table(results).splitlines()
    p0 = next(r for r in lines if "250 epochs" in r)
    assert "5.82" in p0 and p0.rstrip().endswith("no")
    p2 = next(r for r in lines if "100k iterations" in r)
    assert f"{(90 + 99950 / 100) / 60:.2f}" in p2  # 18.16 min


def test_the_first_epoch_includes_the_sanity_check(tmp_path):
    # what runs before the first training batch (the sanity check's validation, and all it
    # compiles) is part of the wait a user has, so part of the 250-epoch projection
    class SlowSanityCheck(L.Callback):
        def on_sanity_check_end(self, trainer, pl_module):
            time.sleep(0.5)

    timer = EpochTimer()
    trainer = L.Trainer(max_epochs=3, limit_train_batches=2, limit_val_batches=2,
                        num_sanity_val_steps=1, accelerator="cpu", logger=False,
                        enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=tmp_path,
                        callbacks=[SlowSanityCheck(), timer])
    trainer.fit(BoringModel())
    seconds = timer.epoch_seconds
    assert len(seconds) == 3
    assert seconds[0] >= 0.5 and max(seconds[1:]) < 0.5


def test_ablation_times_paper2_with_each_switch_off_and_the_yardsticks_critic(tmp_path, capsys):
    results = main(["--smoke", "--only", "paper2", "--ablate", "--switches", "bf16,cuda_graphs",
                    "--out", str(tmp_path / "r.json")])
    # each figure is printed as it is measured (a call cut off by a time limit keeps them)
    printed = [line for line in capsys.readouterr().out.splitlines()
               if line.startswith("[bench] ")]
    assert [line.split(":")[0] for line in printed] == [
        "[bench] paper2", "[bench] ablation plain", "[bench] ablation without_bf16",
        "[bench] ablation without_cuda_graphs", "[bench] ablation critic_norm_none"]
    assert json.loads(printed[1].split(": ", 1)[1])["it_per_s"] > 0
    assert set(results["ablation"]) == {"plain", "without_bf16", "without_cuda_graphs",
                                        "critic_norm_none"}
    assert all(r["it_per_s"] > 0 for r in results["ablation"].values())
    for label in ("paper-2, speed=plain", "paper-2, speed.bf16=false",
                  "critic without layer norm"):
        assert label in results["table"]


def test_the_table_gives_the_host_syncs_counted_on_a_gpu():
    results = {"paper2": {"it_per_s": 90.0, "iters": 500, "host_syncs": 30,
                          "steps_waiting": 5, "log_every_n_steps": 100, "graph": "replayed",
                          "precision": "bf16", "speed": ["cuda_graphs"]}}
    text = table(results)
    assert "paper-2: 5 of the 500 timed iterations waited for the GPU (30 host syncs" in text
    assert "about 5 expected" in text


def test_syncs_are_counted_between_start_and_stop_only_on_cuda():
    count = SyncCount()
    count.start(torch.device("cpu"))
    count.stop()
    assert count.count is None


def test_syncs_counted_are_the_warnings_torchs_debug_mode_gives(monkeypatch):
    modes = []
    monkeypatch.setattr(torch.cuda, "set_sync_debug_mode", modes.append)
    count = SyncCount()
    count.start(torch.device("cuda"))  # no GPU needed: the mode is stood in for
    for _ in range(2):  # the message torch's mode gives (c10/cuda), and another warning
        warnings.warn("called a synchronizing CUDA operation")
    warnings.warn("something else")
    count.step()  # a step with two syncs: one wait
    count.step()  # a step with none
    warnings.warn("called a synchronizing CUDA operation")
    count.stop()  # the last step's
    assert count.count == 3 and count.steps == 2 and modes == ["warn", "default"]


def test_an_unknown_row_is_refused_not_skipped(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--only", "paper2,paper0host"])
    assert "unknown --only rows ['paper0host']" in capsys.readouterr().err
    assert parse_args(["--only", "paper0_host,fid"]).only == "paper0_host,fid"


def test_the_empty_paper0_iteration_logs_what_the_real_one_logs(tmp_path):
    # the host row times the loop's logging too: the same values, so the same work
    cfg = compose_config("train", smoke("vaegan"), tmp_path)
    model = instantiate(cfg.model)
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    logged = set(model.losses(x)) - {"x_prior"}  # VAEGAN.training_step logs all but x_prior
    assert set(HostOnlyVAEGAN.iteration(model, x)) == logged


@pytest.mark.parametrize("name, extra", [("acwgan_gp", []), ("wgan_gp", []),
                                         ("acwgan_gp", ["model.gp_weight=0"])])
def test_the_empty_paper2_iteration_logs_what_the_real_one_logs(name, extra, tmp_path):
    model = instantiate(compose_config("train", [*smoke(name), *extra], tmp_path).model)
    real, fake = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    labels = torch.tensor([0, 1]) if model.num_classes else None
    returned = {*model.critic_losses(real, labels, fake), *model.generator_losses(2)}
    images, batch_labels = torch.zeros(20, 3, 16, 16), torch.zeros(20, dtype=torch.long)
    assert set(HostOnlyWGAN.iteration(model, images, batch_labels)) == returned
