"""The command line around Hydra's reading of it (cli/command_line.py): Hydra's flags moved
before the overrides, nulls refused, and the hints after Hydra refused a key or option."""
import pytest

from pegasus_lab.cli.command_line import closest_key, hydra_flags_first, refuse_nulls
from pegasus_lab.errors import ConfigError
from tests.conftest import ROOT, run_cli


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
    ("train", ["model=dcgan", "model.encoder.widht=3"], None),  # no model has that key
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
def test_a_group_or_block_of_settings_given_as_null_is_one_error(config, arg, says):
    """Hydra stopped on `callbacks=null` with its traceback; evaluate read `manifold.k` of
    null with one (the command's line and exit status 2: test_reliability)."""
    with pytest.raises(ConfigError) as refused:
        refuse_nulls(["seed=1", arg], config)
    assert str(refused.value).startswith(says)


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
def test_the_null_check_reads_the_primary_config_named_on_the_command_line(args):
    """`pegasus-train --config-name evaluate` composes evaluate.yaml, whose `manifold` block
    train.yaml does not have; such runs skipped the check."""
    with pytest.raises(ConfigError, match="manifold is a block of settings"):
        refuse_nulls(args, "train")
