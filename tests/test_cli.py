"""The command line answers a user's mistake with one line per problem (what is wrong, what is valid)
and exit status 2, never a traceback; a bug keeps its traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from tiny import REPO, raw_config

from hptransfer import cli
from hptransfer.config.errors import ConfigError

CONFIG = str(REPO / "config.yaml")
RUN = ["run-config", "--configfile", CONFIG, "--param", "mup", "--width", "64", "--value", "0.004"]


def _fails(capsys, argv: list[str]) -> str:
    """stderr of a command that must end with exit status 2 and no traceback."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    err = capsys.readouterr().err
    assert info.value.code == cli.USAGE_ERROR, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    "argv, expected",
    [
        (
            [*RUN, "--study", "nosuch"],
            "--study: no study 'nosuch' in {CONFIG} (studies with runs: llama_adam_lr, param_compare)",
        ),
        (
            [*RUN, "--study", "rf_ridge"],
            "--study: rf_ridge (kind rf_ridge) is trained without per-run configs"
            " (studies with runs: llama_adam_lr, param_compare)",
        ),
        (
            [*RUN[:-1], "0.005", "--study", "llama_adam_lr"],
            "--value: 0.005 is not one of llama_adam_lr's 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256",
        ),
        (
            [*RUN[:-3], "48", *RUN[-2:], "--study", "llama_adam_lr"],
            "--width: 48 is not one of llama_adam_lr's 16, 32, 64, 128",
        ),
        (["validate-config", "/no/such.yaml"], "No such file or directory: /no/such.yaml"),
        (
            ["train", "--config", "/no/run.json", "--data", "x", "--out", "y"],
            "No such file or directory: /no/run.json",
        ),
    ],
    ids=["unknown study", "study without runs", "value off the grid", "width not swept", "no file", "no run config"],
)
def test_a_mistake_is_one_line_with_what_is_valid(capsys, argv, expected):
    err = _fails(capsys, argv)
    assert err.strip() == f"hptransfer {argv[0]}: error: {expected.format(CONFIG=CONFIG)}"


def test_invalid_yaml_names_the_line(capsys, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("studies:\n  s: {kind: lm\n")
    assert f"{path}: not valid YAML or JSON at line 3" in _fails(capsys, ["validate-config", str(path)])


def test_an_invalid_config_is_one_line_per_problem(capsys, tmp_path):
    cfg = raw_config({"widths": [16, 0], "grid": [float("nan")]})
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    lines = _fails(capsys, ["validate-config", str(path)]).splitlines()
    assert lines[0] == "hptransfer validate-config: error: invalid config:"
    assert sorted(lines[1:]) == [
        "  studies.s.grid[0]: nan is not a finite number",
        "  studies.s.widths[1]: 0 is less than the minimum of 1",
    ]


def test_prepare_data_checks_the_corpus_before_reading_it(capsys, tmp_path):
    path = tmp_path / "corpus.yaml"
    path.write_text(yaml.safe_dump({"source": "wikitext103", "path": str(tmp_path / "nowhere")}))
    err = _fails(capsys, ["prepare-data", "--corpus-config", str(path), "--out", str(tmp_path / "out")])
    assert f"corpus.path: '{tmp_path / 'nowhere'}' has no wiki.train.raw or wiki.valid.raw" in err
    assert not (tmp_path / "out").exists()


def test_train_needs_a_prepared_corpus(capsys, tmp_path, make_run_config):
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(make_run_config().to_dict()))
    err = _fails(capsys, ["train", "--config", str(path), "--data", str(tmp_path), "--out", str(tmp_path / "r.nc")])
    assert "--data: " in err and "prepare-data" in err


def test_every_command_gets_it_and_a_bug_keeps_its_traceback(capsys, monkeypatch):
    """Handled once in cli.main: a command that raises a ConfigError (as new commands will) exits 2;
    anything else is a bug and propagates."""

    def raises(exc):
        def cmd(args):
            raise exc

        return cmd

    monkeypatch.setattr(cli, "cmd_validate", raises(ConfigError("invalid config:\n  a.b: wrong")))
    assert "a.b: wrong" in _fails(capsys, ["validate-config", "x.yaml"])
    monkeypatch.setattr(cli, "cmd_validate", raises(KeyError("a bug")))
    with pytest.raises(KeyError):
        cli.main(["validate-config", "x.yaml"])


def test_through_the_real_entry_point():
    proc = subprocess.run(
        [sys.executable, "-m", "hptransfer", *RUN, "--study", "nosuch"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("hptransfer run-config: error: --study: no study 'nosuch'")
