"""What the entry points share: an output path checked before the work that ends in it."""
import os
import sys

import pytest

from pegasus_lab.cli.common import (check_writable, closest_key, hydra_flags_first,
                                    refuse_nulls)
from pegasus_lab.errors import ConfigError
from tests.conftest import ROOT, run_cli


def test_a_path_in_folders_not_yet_made_is_fine_and_nothing_is_created(tmp_path):
    out = tmp_path / "new" / "deeper" / "fid.json"
    assert check_writable(out, "out") == out
    assert os.listdir(tmp_path) == []


def test_a_folder_is_not_a_file_name(tmp_path):
    with pytest.raises(ConfigError, match=r"out=.* is a folder: give a file name in it"):
        check_writable(tmp_path, "out")


def test_a_file_in_the_way_of_the_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ConfigError, match=r"notes.txt is a file, not a folder"):
        check_writable(tmp_path / "notes.txt" / "figures" / "grid.png", "out")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root writes into read-only folders")
def test_a_folder_that_takes_no_new_file(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    try:
        with pytest.raises(ConfigError, match="no new file can be made in"):
            check_writable(locked / "grid.png", "out")
    finally:
        locked.chmod(0o700)


def test_library_notices_are_quiet_and_others_are_not():
    import warnings
    from pegasus_lab.cli.common import LIBRARY_NOTICES, quiet_library_notices
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        quiet_library_notices()
        for module, category, message in LIBRARY_NOTICES:
            warnings.warn_explicit(f"{message} old API", category, "lib.py", 1, module=module)
        warnings.warn_explicit("old API", FutureWarning, "mine.py", 1, module="pegasus_lab.x")
        warnings.warn_explicit("other", UserWarning, "lib.py", 2,
                               module="lightning.pytorch.utilities._pytree")
        warnings.warn_explicit("Metric `FID` is slow", UserWarning, "lib.py", 3,
                               module="torchmetrics.utilities.prints")  # another message
    assert [(w.filename, w.lineno) for w in seen] == [("mine.py", 1), ("lib.py", 2),
                                                      ("lib.py", 3)]


def test_lightning_s_adverts_are_quiet_and_its_other_messages_are_not(caplog):
    import logging
    from lightning.pytorch.utilities.rank_zero import rank_zero_info
    from pegasus_lab.cli.common import quiet_library_notices
    quiet_library_notices()
    quiet_library_notices()  # every command calls it; once or twice, the same
    with caplog.at_level(logging.INFO):
        rank_zero_info("💡 Tip: For seamless cloud logging, try installing [litlogger]")
        rank_zero_info("GPU available: False, used: False")
    assert [r.getMessage() for r in caplog.records] == ["GPU available: False, used: False"]
    assert len(logging.getLogger("lightning.pytorch.utilities.rank_zero").filters) == 1


@pytest.mark.parametrize("user,other,status", [(1, 0, 2), (2, 1, 1), (0, 1, 1), (0, 0, 1)])
def test_a_multirun_whose_jobs_failed_on_user_errors_only_exits_with_2(user, other, status,
                                                                        monkeypatch):
    from pegasus_lab.cli import common

    def hydra_main():  # Hydra's status when a multirun's job failed
        raise SystemExit(1)
    monkeypatch.setattr(common, "_failed_jobs", {"user": user, "other": other})
    monkeypatch.setattr(sys, "argv", ["pegasus-train", "-m", "seed=1,2"])
    with pytest.raises(SystemExit) as stop:
        common.run_command(hydra_main, "train")
    assert stop.value.code == status


@pytest.mark.parametrize("args,expected", [
    (["seed=1", "-m", "lr=1,2"], ["-m", "seed=1", "lr=1,2"]),
    (["a=1", "--multirun"], ["--multirun", "a=1"]),
    (["-m", "a=1,2"], ["-m", "a=1,2"]),
    (["--cfg", "job", "a=1"], ["--cfg", "job", "a=1"]),  # in front already: as given
    (["a=1", "--cfg", "job", "b=2"], ["--cfg", "job", "a=1", "b=2"]),  # with its value
    (["a=1", "--cfg=job", "-p", "model", "b=2", "--resolve"],
     ["--cfg=job", "-p", "model", "--resolve", "a=1", "b=2"]),
    (["a=1", "--info", "b=2"], ["--info", "a=1", "b=2"]),  # its value is optional:
    (["a=1", "--info", "defaults", "b=2"], ["--info", "defaults", "a=1", "b=2"]),  # a choice
    (["a=1", "-cn", "sample", "ckpt=x"], ["-cn", "sample", "a=1", "ckpt=x"]),
    (["a=1", "--cfg"], ["--cfg", "a=1"]),  # no value left: Hydra's parser says so
])
def test_hydra_s_flags_go_before_the_overrides(args, expected):
    assert hydra_flags_first(args) == expected


def test_a_flag_with_its_value_after_the_overrides_runs(tmp_path):
    """`--cfg job` among the overrides stopped with Hydra's usage message and
    "unrecognized arguments: data=mnist"."""
    result = run_cli("pegasus_lab.cli.train", "model=dcgan", "--cfg", "job", "data=mnist",
                     "-p", "data", cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "unrecognized arguments" not in result.stderr
    assert "# @package data" in result.stdout and "MnistSource" in result.stdout


def test_a_multirun_flag_among_the_overrides_runs_the_multirun(tmp_path):
    """Hydra's parser stopped `… ckpt=… -m seed=1,2` with its usage message and
    "unrecognized arguments: seed=1,2"."""
    result = run_cli("pegasus_lab.cli.sample", f"ckpt={tmp_path / 'none.ckpt'}", "-m",
                     "seed=1,2", f"hydra.sweep.dir={tmp_path / 'sweep'}", cwd=ROOT)
    assert "unrecognized arguments" not in result.stderr
    assert result.returncode == 2 and result.stderr.count("checkpoint not found") >= 2
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == ["0", "1"]


@pytest.mark.parametrize("config,args,hint", [
    ("train", ["model.encoder.widht=16"], "model.encoder.widht: did you mean model.encoder.width?"),
    ("train", ["trainr.max_epochs=3"], "trainr.max_epochs: did you mean trainer.max_epochs?"),
    ("train", ["data=synthetic", "trainer.max_epoch=3"],
     "trainer.max_epoch: did you mean trainer.max_epochs?"),
    ("train", ["sed=1"], "sed: did you mean seed?"),
    ("sample", ["ckpt=x.ckpt", "num_sample=4"], "num_sample: did you mean num_samples?"),
    ("train", ["model=dcgan", "model.encoder.width=3"],         # dcgan has no encoder: which do
     "model.encoder.width: a setting of model=study_cvae, study_vae, vae_conv, vae_pixel, "
     "vaegan only"),
    ("train", ["model.encoder.zzzz=1"], None),                  # close to it: no guess
    ("train", ["model.encoder.width=16"], None),                # composes: nothing to say
    ("train", ["-m", "model.encoder.widht=1,2", "seed=1,2"],     # a multirun: its first job
     "model.encoder.widht: did you mean model.encoder.width?"),
    ("train", ["-m", "data=choice(synthetic,mnist)", "trainer.max_epoch=range(1,3)"],
     "trainer.max_epoch: did you mean trainer.max_epochs?"),
    # a setting of other models: which, where difflib would guess the VAE-GAN's gamma
    ("train", ["model=vaegan", "model.r1_gamma=1"], "model.r1_gamma: a setting of "
     "model=cdcgan, dcgan, study_acgan, study_gan, study_gan_transposed only"),
    ("train", ["model=dcgan", "model.kl_weight=2"], "model.kl_weight: a setting of "
     "model=study_cvae, study_vae, vae_conv, vae_pixel, vaegan only"),
])
def test_a_key_in_no_config_is_followed_by_the_closest_one(config, args, hint):
    assert closest_key(args, config) == hint


@pytest.mark.parametrize("config,args,hint", [
    ("train", ["model=vae_cnov"], "model=vae_cnov: did you mean model=vae_conv?"),
    ("train", ["model=dcgan", "speed=fats"], "speed=fats: did you mean speed=fast?"),
    ("train", ["experiment=paper4", "+paper4_data=mnsit"],
     "+paper4_data=mnsit: did you mean +paper4_data=mnist?"),
    ("evaluate", ["data@candidate=cifar1"], "data@candidate=cifar1: did you mean "
     "data@candidate=cifar10?"),
    ("train", ["-m", "model=vae_cnov,dcgan"], "model=vae_cnov: did you mean model=vae_conv?"),
    ("train", ["data=_datamodul"], None),  # a shared base is no option
    ("train", ["model=zzz"], None),        # close to none: Hydra's list of options alone
])
def test_a_group_option_in_no_file_is_followed_by_the_closest_one(config, args, hint):
    assert closest_key(args, config) == hint


def test_a_misspelt_group_option_on_the_command_line_gets_its_hint(tmp_path):
    result = run_cli("pegasus_lab.cli.train", "model=vae_cnov",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=ROOT)
    assert result.returncode == 1 and "Could not find 'model/vae_cnov'" in result.stderr
    assert result.stderr.rstrip().endswith("model=vae_cnov: did you mean model=vae_conv?")


def test_a_misspelt_key_on_the_command_line_gets_its_hint(tmp_path):
    """Hydra's message suggests `+model.encoder.widht=16`, adding the misspelt key."""
    result = run_cli("pegasus_lab.cli.train", "data=synthetic", "model.encoder.widht=16",
                     f"hydra.run.dir={tmp_path / 'run'}", cwd=ROOT)
    assert result.returncode == 1 and "Could not override 'model.encoder.widht'" in \
        result.stderr
    assert result.stderr.rstrip().endswith("model.encoder.widht: did you mean "
                                           "model.encoder.width?")


@pytest.mark.parametrize("config,arg,says", [
    ("train", "callbacks=null", "callbacks=null: callbacks is a config group, which takes one "
     "of its options (default, early_stopping, fid, gan, interpolation, study, study_fid, "
     "vaegan), or ~callbacks to leave it out"),
    ("train", "+debug=null", "+debug=null: debug is a config group"),
    ("evaluate", "data@reference=null", "data@reference=null: data is a config group, which "
     "takes one of its options (celeba, "),
    ("evaluate", "manifold=null", "manifold=null: manifold is a block of settings, not one "
     "value: set its keys one by one (manifold.<name>=…)"),
    ("sample", "data=null", "data=null: data is a block of settings"),  # not a group there
    # one value of a multirun: Hydra's ValueError traceback once its sweep reached it
    ("train", "data=mnist,null", "data=mnist,null: data is a config group"),
    ("train", "callbacks=choice(gan,null)", "callbacks=choice(gan,null): callbacks is a "),
    ("evaluate", "manifold=null,null", "manifold=null,null: manifold is a block"),
])
def test_a_group_or_block_of_settings_given_as_null_is_one_error(config, arg, says, capsys):
    """Hydra stopped on `callbacks=null` with its traceback; evaluate read `manifold.k` of
    null with one."""
    with pytest.raises(SystemExit) as stop:
        refuse_nulls(["seed=1", arg], config)
    assert stop.value.code == 2 and capsys.readouterr().err.startswith(f"error: {says}")


@pytest.mark.parametrize("config,args", [
    ("train", ["model.encoder=null", "callbacks=gan", "seed=null", "-m", "data=mnist,cifar10",
               "callbacks=[default,fid]", "trainer.max_epochs=null,5", "seed=choice(1,null)"]),
    ("sample", ["ckpt=null", "interpolation=horse_to_bird"]),
    # a primary config kept elsewhere: Hydra reads it
    ("train", ["--config-name", "mine", "callbacks=null"]),
    ("train", ["--config-dir", "/elsewhere", "--config-name", "train", "callbacks=null"]),
    ("train", ["-cp", "/elsewhere", "callbacks=null"]),
])
def test_values_and_choices_pass_the_null_check(config, args):
    refuse_nulls(args, config)


@pytest.mark.parametrize("args", [["--config-name", "evaluate", "manifold=null"],
                                  ["--config-name=evaluate.yaml", "manifold=null"],
                                  ["-cn", "evaluate", "manifold=null"]])
def test_the_null_check_reads_the_primary_config_named_on_the_command_line(args, capsys):
    """`pegasus-train --config-name evaluate` composes evaluate.yaml, whose `manifold` block
    train.yaml does not have; such runs skipped the check."""
    with pytest.raises(SystemExit) as stop:
        refuse_nulls(args, "train")
    assert stop.value.code == 2 and "manifold is a block of settings" in capsys.readouterr().err


def test_a_draw_other_than_the_default_says_how_in_its_name():
    from pegasus_lab.cli.common import draw_label
    from tests.conftest import compose_config
    label = lambda *args: draw_label(compose_config("sample", ["ckpt=x.ckpt", *args]))
    assert label() == "" and label("truncation=0.5") == "_truncation0.5"
    assert label("average=false") == "_no-average"
    assert label("average=false", "truncation=0.5") == "_truncation0.5_no-average"
    assert draw_label(compose_config("evaluate", ["average=false"])) == "_no-average"


def test_average_false_samples_from_the_trained_weights(tmp_path):
    from hydra.utils import instantiate

    from pegasus_lab.cli.common import use_average
    from pegasus_lab.methods.ema import from_average
    from tests.conftest import compose_config, smoke
    model = instantiate(compose_config("train", [*smoke("cdcgan"), "model.ema_decay=0.5"],
                                       tmp_path).model)
    use_average(model, True, "x.ckpt")
    assert from_average(model)
    use_average(model, False, "x.ckpt")
    assert not model.sample_from_average and not from_average(model)
    plain = instantiate(compose_config("train", smoke("cdcgan"), tmp_path).model)
    assert not from_average(plain)
    with pytest.raises(ConfigError, match=r"^average=false: the conditional DCGAN of x.ckpt "
                                          r"keeps no average of generator weights"):
        use_average(plain, False, "x.ckpt")
