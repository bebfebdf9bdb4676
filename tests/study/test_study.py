"""pegasus-study end to end: a missing data set is skipped with a note, two tiny runs make the
table and the side-by-side grid."""
import csv
import os
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from pegasus_lab.cli.study import (_check_settings, _fid_overrides, _shared, planned_jobs,
                                   require_the_same_study)
from pegasus_lab.errors import ConfigError, DataError
from pegasus_lab.overrides import override
from pegasus_lab.sweep import jobs, parse_override
from tests import warm_cli
from tests.conftest import CONF, ROOT, compose_config, run_cli


def test_study_table_from_two_tiny_runs(tmp_path):
    # in folders whose names Hydra would misread unquoted (the study passes them on to its
    # training multirun): an accent or a bracket was a syntax error, a comma a sweep
    base = tmp_path / "Jane's runs, ü (1)"
    sweep = base / "sweep"
    result = run_cli("pegasus_lab.cli.study", "models=[study_vae,study_gan]",
                     "datasets=[synthetic,mnist]", override("sweep_dir", sweep),
                     "overrides=['trainer=smoke','trainer.max_epochs=2','data.image_size=16',"
                     "'data.download=false','data.cache_dir=null']",
                     override("paths.log_dir", base), override("paths.data_dir", base / "data"),
                     cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "note: mnist skipped" in result.stdout  # visible, not silent
    rows = list(csv.DictReader(open(sweep / "study.csv")))
    assert {(r["dataset"], r["model"]) for r in rows} == {("synthetic", "study_vae"),
                                                          ("synthetic", "study_gan")}
    assert all(r["status"] == "ok" and float(r["wall_seconds"]) > 0 and r["epochs"] == "2"
               for r in rows)
    table = (sweep / "study.md").read_text()
    assert "| synthetic | study_gan |" in table and "mnist skipped" in table
    grid = Image.open(sweep / "samples_synthetic.png")
    assert grid.width > grid.height  # two panels side by side


def _seeded_study(tmp_path, epochs: int, *args: str):
    return run_cli("pegasus_lab.cli.study", "models=[study_vae]", "datasets=[synthetic]",
                   f"sweep_dir={tmp_path / 'sweep'}",
                   "overrides=['trainer=smoke','trainer.max_epochs=%d','data.image_size=16',"
                   "'data.cache_dir=null']" % epochs, "measure_fid=false",
                   f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path / 'data'}",
                   *args, cwd=ROOT)


def test_seeds_train_each_pair_once_per_seed_and_a_study_run_again_goes_on(tmp_path):
    sweep = tmp_path / "sweep"
    result = _seeded_study(tmp_path, 1, "seeds=[1,2]")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader(open(sweep / "study.csv")))
    assert sorted(r["seed"] for r in rows) == ["1", "2"]
    assert all(r["status"] == "ok" and r["steps"] == "3" for r in rows)
    assert "| synthetic | study_vae | 2/2 |" in (sweep / "study.md").read_text()
    grid = Image.open(sweep / "samples_synthetic.png")
    assert grid.width < 2 * grid.height  # one panel for the model, not one per seed
    # job N is the plan's Nth pair, as the study's check of a folder run again assumes
    assert [tuple(dict(parse_override(o) for o in overrides).get(key)
                  for key in ("model", "paper4_data", "seed")) for _, overrides, _ in
            jobs(sweep)] == planned_jobs(["study_vae"], ["synthetic"], [1, 2])
    # run again in its folder with a second epoch: each run goes on from its last.ckpt
    result = _seeded_study(tmp_path, 2, "seeds=[1,2]")
    assert result.returncode == 0, result.stderr[-3000:]
    rows = list(csv.DictReader(open(sweep / "study.csv")))
    assert all(r["status"] == "ok" and r["epochs"] == "2" and r["steps"] == "6" for r in rows)
    assert not list(sweep.glob("*/earlier"))  # continued, not started again
    # seeds in another order would make job 0 continue seed 1's model as seed 2's: refused
    before = (sweep / "study.csv").read_text()
    result = _seeded_study(tmp_path, 2, "seeds=[2,1]")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (f"error: {sweep} holds a study with other runs: its job 0 is study_vae on "
            "synthetic seed 1, and this study's would be study_vae on synthetic seed 2"
            ) in result.stderr
    assert (sweep / "study.csv").read_text() == before


def test_no_data_set_present_is_one_clear_error(tmp_path):
    result = run_cli("pegasus_lab.cli.study", "datasets=[mnist]", f"sweep_dir={tmp_path}/s",
                     "overrides=['data.download=false']", f"paths.data_dir={tmp_path}",
                     f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and "none of the data sets is present" in result.stderr


@pytest.mark.parametrize("args,says", [
    (["models=[study_vae,nope]"], "unknown models ['nope']; valid choices: ["),
    (["datasets=[mnist,svhn]"], "unknown datasets ['svhn']; valid choices: ["),
    (["fid_samples=1"], "fid_samples must be an integer of at least 2, got 1"),
    (["stability_epochs=0"], "stability_epochs must be a positive integer, got 0"),
    (["measure_fid=maybe"], "measure_fid must be auto, true or false, got 'maybe'"),
    (["seeds=3"], "seeds must be a list of seeds, e.g. [1,2,3], got 3"),
    (["seeds=[1,-1]"], "each of seeds must be an integer from 0 to 4294967295, got -1"),
    (["seeds=[1,1]"], "seeds repeat: [1, 1]"),
    (["seeds=[1,2]", "overrides=['seed=3']"], "seeds given twice"),
    # a training setting given to the study, not to its runs: it would change nothing
    (["debug=smoke", "trainer.max_epochs=1"], "trainer.max_epochs=1 is a training setting "
     "given to the study itself, which passes it to no run: give it as "
     "overrides=['trainer.max_epochs=1']"),
    (["+model.latent_dim=8"], "overrides=['+model.latent_dim=8']"),
    # a value of the wrong kind for every run: the study's error, not a data set skipped
    (["datasets=[synthetic]", "overrides=['data.val_fraction=abc']"],
     "data.val_fraction='abc': ImageDataModule takes a number for val_fraction"),
])
def test_bad_settings_are_one_clear_error(tmp_path, args, says):
    result = run_cli("pegasus_lab.cli.study", *args, f"sweep_dir={tmp_path}/s",
                     f"paths.data_dir={tmp_path}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2 and says in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("args,says", [
    (["models=[study_vae,study_gan,study_vae]"],
     "models repeat: ['study_vae', 'study_gan', 'study_vae']"),
    (["datasets=[mnist,mnist]"], "datasets repeat: ['mnist', 'mnist']"),
    (["models=study_vae"], "models must be a list of names (models=[study_vae]), got 'study_vae'"),
    (["datasets=null"], "datasets must be a list of names, got None"),
    (["overrides='trainer.max_epochs=1'"], "overrides must be a list of the training runs' "
     "overrides (\"overrides=['trainer.max_epochs=1']\"), got 'trainer.max_epochs=1'"),
])
def test_models_data_sets_and_overrides_are_lists_without_repeats(tmp_path, args, says):
    """A repeated name would train the pair twice into one table (seeds=[…] is the way to
    repeat); a bare string would be read letter by letter."""
    cfg = compose_config("study", args, tmp_path)
    with pytest.raises(ConfigError) as err:
        _check_settings(cfg)
    assert str(err.value).startswith(says)


def test_measure_fid_1_is_not_taken_for_true(tmp_path):
    """Python finds 1 == True: `measure_fid=1` was let through and then meant auto."""
    with pytest.raises(ConfigError, match="measure_fid must be auto, true or false, got 1"):
        _check_settings(compose_config("study", ["measure_fid=1"], tmp_path))


def test_an_override_no_run_can_take_is_one_clear_error_before_anything_starts(tmp_path):
    # the override fits the experiment's default model (the VAE), not study_gan: the
    # training multirun refused its first job ("stopped before its first run"); now the
    # study's own check says why, before it starts the multirun or writes anything
    result = run_cli("pegasus_lab.cli.study", "models=[study_gan]", "datasets=[synthetic]",
                     f"sweep_dir={tmp_path}/s", "overrides=['model.encoder.width=8']",
                     f"paths.data_dir={tmp_path}", f"paths.log_dir={tmp_path}", cwd=ROOT)
    assert result.returncode == 2, result.stderr[-2000:]
    assert ("error: the study gives overrides=['model.encoder.width=8'] to every run, and its "
            "runs cannot take them: Key 'encoder' is not in struct") in result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "s").exists()


def test_a_multirun_refused_at_once_is_one_clear_error(tmp_path, monkeypatch):
    """A training multirun that exits before its first job (nothing to tabulate) is an error
    pointing at its message, not an empty table."""
    from pegasus_lab.cli import study
    monkeypatch.setattr(study, "_train", lambda command: 1)
    cfg = compose_config("study", ["models=[study_gan]", "datasets=[synthetic]"], tmp_path)
    (tmp_path / "s").mkdir()
    with pytest.raises(ConfigError, match=r"^the training multirun stopped before its first "
                                          r"run \(status 1\): its message is above; check "
                                          r"overrides"):
        study._study_in_folder(cfg, tmp_path / "s", ["synthetic"], [])
    assert not (tmp_path / "s" / "study.md").exists()


def test_a_failed_run_is_a_row_and_the_study_exits_as_its_multirun_did(tmp_path):
    """The other runs still train and are tabulated; then the command fails, as `pegasus-train
    -m` does, so a script going on after `make reproduce-paper-4` does not take the study for
    finished. `++model.discriminator.width` is a key the GAN has and the VAE does not take."""
    sweep = tmp_path / "sweep"
    result = run_cli("pegasus_lab.cli.study", "models=[study_vae,study_gan]",
                     "datasets=[synthetic]", f"sweep_dir={sweep}", "measure_fid=false",
                     "overrides=['trainer=smoke','trainer.max_epochs=1','data.image_size=16',"
                     "'data.cache_dir=null','++model.discriminator.width=8']",
                     f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path / 'data'}",
                     cwd=ROOT)
    assert result.returncode == 2, result.stderr[-3000:]
    refused = "VAE.__init__() got an unexpected keyword argument 'discriminator'"
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: the training multirun exited with status 2: 1 of its 2 runs finished "
        f"(table: {sweep / 'study.md'}); the others' errors are above and in "
        f"{sweep / '0' / 'paper4.log'}")
    assert "Traceback" not in result.stderr
    rows = {r["model"]: r for r in csv.DictReader(open(sweep / "study.csv"))}
    assert rows["study_gan"]["status"] == "ok" and rows["study_gan"]["epochs"] == "1"
    assert rows["study_vae"]["status"].startswith("failed: ") and refused in rows["study_vae"][
        "status"]
    assert "the multirun exited with status 2" in (sweep / "study.md").read_text()
    assert (sweep / "samples_synthetic.png").is_file()


def _job(sweep, number, *overrides):
    (sweep / str(number) / ".hydra").mkdir(parents=True)
    (sweep / str(number) / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in ["experiment=paper4", *overrides, "resume=auto"]))


def test_a_study_run_again_must_plan_the_same_jobs(tmp_path):
    planned = planned_jobs(["study_vae", "study_gan"], ["mnist", "cifar10"], None)
    assert planned == [("study_vae", "mnist", None), ("study_vae", "cifar10", None),
                       ("study_gan", "mnist", None), ("study_gan", "cifar10", None)]
    sweep = tmp_path / "sweep"
    assert require_the_same_study(sweep, planned) == 0  # a new folder
    _job(sweep, 0, "model=study_vae", "+paper4_data=mnist")
    _job(sweep, 1, "model=study_vae", "+paper4_data=cifar10")
    assert require_the_same_study(sweep, planned) == 2  # killed before job 2: it goes on
    # cifar10 skipped then, found now: job 1 would continue cifar10's run as mnist's
    with pytest.raises(ConfigError, match=r"its job 1 is study_vae on cifar10, and this "
                                          r"study's would be study_gan on mnist"):
        require_the_same_study(sweep, planned_jobs(["study_vae", "study_gan"], ["mnist"],
                                                   None))
    with pytest.raises(ConfigError, match=r"its job 1 is study_vae on cifar10, and this "
                                          r"study's would be none \(it has fewer jobs\)"):
        require_the_same_study(sweep, planned[:1])
    (sweep / "1" / ".hydra" / "overrides.yaml").write_text("- model=study_vae\n- [")
    with pytest.raises(DataError, match=r"1/\.hydra/overrides\.yaml cannot be read: "):
        require_the_same_study(sweep, planned)  # a damaged file: job 1's settings unknown


def test_debug_smoke_makes_every_run_a_smoke_run_without_fid_unless_asked(tmp_path):
    """`make reproduce-paper-4 ARGS="debug=smoke"`, as the other recipes are smoke-tested: it
    was Hydra's "Could not override 'debug'" (the study had no debug group)."""
    cfg = compose_config("study", ["debug=smoke", "overrides=['trainer.max_epochs=1']"], tmp_path)
    run = compose_config("train", ["experiment=paper4", "+paper4_data=mnist", *_shared(cfg)])
    assert run.smoke_run is True and run.trainer.limit_train_batches == 3
    assert run.trainer.max_epochs == 1  # the study's overrides still come last
    notes = []
    assert _fid_overrides(cfg, notes) == [] and notes == [
        "FID not measured: a smoke study (measure_fid=true measures it)"]
    plain = compose_config("study", [], tmp_path)
    assert not plain.get("smoke_run") and "debug=smoke" not in _shared(plain)


def test_resume_is_auto_true_or_false(tmp_path):
    with pytest.raises(ConfigError, match="resume must be auto, true or false, got 1"):
        _check_settings(compose_config("study", ["resume=1"], tmp_path))


def test_ctrl_c_stops_the_run_in_training_and_the_study_still_writes_its_table(tmp_path):
    """Ctrl-C as a terminal sends it: SIGINT to the study and its training multirun alike
    (one process group of new interpreters, as a user's)."""
    sweep = tmp_path / "sweep"
    command = [sys.executable, "-m", "pegasus_lab.cli.study", "models=[study_vae]",
               "datasets=[synthetic]", f"sweep_dir={sweep}", "measure_fid=false",
               "overrides=['trainer=smoke','trainer.max_epochs=500','data.image_size=16',"
               "'data.cache_dir=null']",
               f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path / 'data'}"]
    with open(tmp_path / "out", "w") as out, open(tmp_path / "err", "w") as err:
        study = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err,
                                 env={**os.environ, "PEGASUS_ROOT": str(ROOT)},
                                 start_new_session=True,  # (a test worker may ignore SIGINT)
                                 preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.time() + 240
        while not (sweep / "0" / "checkpoints" / "last.ckpt").exists():
            assert study.poll() is None and time.time() < deadline, "no checkpoint came"
            time.sleep(0.1)
        os.killpg(study.pid, signal.SIGINT)
        status = study.wait(timeout=120)
    said, errors = (tmp_path / "out").read_text(), (tmp_path / "err").read_text()
    assert status == 130, errors[-3000:]
    assert "interrupted at step" in said and "Traceback" not in errors
    assert errors.strip().splitlines()[-1] == (
        f"error: the training multirun was interrupted: 0 of its 1 runs finished (table: "
        f"{sweep / 'study.md'}); the same command goes on, each run from its own last.ckpt")
    assert (sweep / "study.md").is_file()


@pytest.mark.skipif(not warm_cli.available(), reason="no fork server here")
def test_sigterm_to_the_study_alone_is_passed_on_to_its_run_in_training(tmp_path):
    """`kill <study pid>` (a script or a scheduler ending it): the run in training stops as
    SIGTERM stops one, and the study still writes its table (before, the run was orphaned)."""
    sweep = tmp_path / "sweep"
    study = warm_cli.Running(
        "pegasus_lab.cli.study",
        ["models=[study_vae]", "datasets=[synthetic]", f"sweep_dir={sweep}", "measure_fid=false",
         "overrides=['trainer=smoke','trainer.max_epochs=500','data.image_size=16',"
         "'data.cache_dir=null']", f"paths.log_dir={tmp_path}", f"paths.data_dir={tmp_path}"],
        ROOT, {**os.environ, "PEGASUS_ROOT": str(ROOT)})
    deadline = time.time() + 240
    while not (sweep / "0" / "checkpoints" / "last.ckpt").exists():
        assert study.poll() is None and time.time() < deadline, "no checkpoint came"
        time.sleep(0.1)
    study.send_signal(signal.SIGTERM)
    assert study.wait(timeout=120) == 143
    assert "terminated (SIGTERM) at step" in (sweep / "0" / "paper4.log").read_text()
    assert "the multirun exited with status 143" in (sweep / "study.md").read_text()


def _composing():
    """What the study's own checks compose in: Hydra initialised on the project's configs."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    GlobalHydra.instance().clear()
    return initialize_config_dir(config_dir=str(CONF), version_base="1.3")


def test_a_study_of_gans_takes_overrides_only_gans_have(tmp_path):
    """Its data check composed every data set with paper-4's default model, the VAE: a GAN
    study's overrides=['model.generator.width=8'] stopped there with Hydra's 'Key generator
    is not in struct'."""
    from pegasus_lab.cli.study import check_overrides_apply, present_datasets
    cfg = compose_config("study", [
        "models=[study_gan,study_wgan]", "datasets=[synthetic]",
        "overrides=['model.generator.width=8','model.diff_augment=[translation]']"], tmp_path)
    with _composing():
        check_overrides_apply(cfg)
        assert present_datasets(cfg) == (["synthetic"], [])


@pytest.mark.parametrize("models,overrides,says", [
    ("[study_vae,study_gan]", "['model.generator.width=8']",
     r"the study gives overrides=\['model.generator.width=8'\] to every run, and "
     r"model=study_vae does not take them \(Key 'generator' is not in struct\): study the "
     r"models that do \(models=\[study_gan\]\) and the others apart"),
    ("[study_gan]", "['trainer.max_epoch=2']",
     r"and its runs cannot take them: Key 'max_epoch' is not in struct \(trainer.max_epoch: "
     r"did you mean trainer.max_epochs\?\)$"),
    ("[study_vae,study_gan]", "['model.r1_gama=1']",  # all refuse it: the first one's hint
     r"cannot take them: Key 'r1_gama' is not in struct$"),
    ("[study_gan]", "['speed=fats']",
     r"cannot take them: In 'train': Could not find 'speed/fats' \(speed=fats: did you mean "
     r"speed=fast\?\)$"),
    ("[study_vae]", "['model.r1_gamma=1']",  # a setting of other models: which
     r"cannot take them: Key 'r1_gamma' is not in struct \(model.r1_gamma: a setting of "
     r"model=cdcgan, dcgan, study_acgan, study_gan, study_gan_transposed only\)$"),
    ("[study_gan,study_vae]", "['model.r1_gama=1']",
     r"cannot take them: Key 'r1_gama' is not in struct \(model.r1_gama: did you mean "
     r"model.r1_gamma\?\)$"),
    ("[study_gan]", "['model=dcgan']",
     r"overrides=\['model=dcgan'\]: the study chooses each run's model \(models=\[…\]\) "
     r"itself"),
    ("[study_gan]", "['+paper4_data=mnist']", r"chooses each run's data set \(datasets="),
])
def test_overrides_a_run_of_the_study_cannot_take_are_said_before_it_starts(tmp_path, models,
                                                                            overrides, says):
    from pegasus_lab.cli.study import check_overrides_apply
    cfg = compose_config("study", [f"models={models}", f"overrides={overrides}"], tmp_path)
    with _composing(), pytest.raises(ConfigError, match=says):
        check_overrides_apply(cfg)
