"""Overrides the code writes for Hydra, and commands it tells the user to type: any path reads
back as itself (Hydra's grammar would reject an accent or a bracket, and sweep over a comma)."""
import shlex

from pegasus_lab import resume
from pegasus_lab.overrides import override, shell_line, typed
from tests.conftest import compose_config, compose_with_hydra

AWKWARD = ["/Users/Jane Doe/pegasus_lab/data", "/home/josé/data", "/work/Projects (old)/data",
           "/data,v2/x", "/runs/[best]/x", "/a/b=c", "/Jane's Mac/data", "C:\\Users\\me\\",
           "/x/${not_an_interpolation}/y", "/x/$HOME/y", '/x/"q"/y', "/x/!bang", "/x/`cmd`",
           "~/data", "/x/{a,b}", "",
           "2024", "1.5", "1e5", "+5", "-inf", "nan", "true", "False", "null"]  # not as strings


def test_a_value_reads_back_as_itself_in_hydra_and_through_a_shell():
    values = [*AWKWARD, "/plain/path-1.2_x"]
    written = [override(f"+awkward.v{i}", value) for i, value in enumerate(values)]
    for i, value in enumerate(values):
        typed_words = shlex.split(typed(f"+awkward.s{i}", value))
        assert len(typed_words) == 1  # one shell word
        written += typed_words
    cfg = compose_config("train", written)  # one composition: each value as its own key
    assert [cfg.awkward[f"v{i}"] for i in range(len(values))] == values
    assert [cfg.awkward[f"s{i}"] for i in range(len(values))] == values


def test_plain_values_are_written_as_they_are():
    assert override("hydra.run.dir", "outputs/paper2/run-1") == "hydra.run.dir=outputs/paper2/run-1"
    assert typed("seed", 3) == "seed=3" and override("lr", 0.5) == "lr=0.5"
    assert override("name", "3") == "name='3'"  # the string, not the number
    assert typed("hydra.run.dir", "/my runs/x") == "\"hydra.run.dir='/my runs/x'\""
    words = ["/opt/my env/bin/python", "-m", "pegasus_lab.cli.train", override("x", "/a b/c")]
    assert shlex.split(shell_line(words)) == [words[0], "-m", "pegasus_lab.cli.train",
                                              "x='/a b/c'"]


def test_the_command_said_after_ctrl_c_can_be_typed_as_it_is(tmp_path, monkeypatch):
    import torch
    run = tmp_path / "Jane Doe's runs (1)" / "vae"
    last = run / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"global_step": 40}, last)
    monkeypatch.setattr(resume, "_sweep_dir", lambda: None)
    said = resume.after_interrupt(52, last, str(run))
    command = said.split("as the same command with ", 1)[1].removesuffix(
        " (a recipe: make it again)")
    where, again = shlex.split(command)
    assert compose_with_hydra([where]).hydra.run.dir == str(run) and again == "resume=true"
