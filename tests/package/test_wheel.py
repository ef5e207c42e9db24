"""The package stands on its own: a wheel built from the checkout installs into a fresh environment
and loads the default config and every preset (the schema ships inside the package)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHECK = """
import sys
from pathlib import Path
import hptransfer
from hptransfer.config.load import load_config, read_config_file
where = Path(hptransfer.__file__).resolve()
assert "site-packages" in where.parts and not where.is_relative_to({repo!r}), where
for path in sys.argv[1:]:
    cfg = load_config(read_config_file(path), check_data=False)  # the paper's corpora need not be here
    print(path, len(cfg["studies"]))
"""


def test_wheel_installs_into_a_fresh_venv_and_loads_every_config(tmp_path):
    # built from a copy of what the wheel is made of, so the build leaves nothing in the checkout
    source = tmp_path / "source"
    shutil.copytree(
        REPO / "workflow" / "hptransfer",
        source / "workflow" / "hptransfer",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO / name, source / name)
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(wheels),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = wheels.glob("hptransfer-*.whl")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=False)
    python = env_dir / "bin" / "python"
    site = Path(
        subprocess.run(
            [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        check=True,
        capture_output=True,
        text=True,
    )
    # the dependencies (numpy, jsonschema, …) from this environment, read as a plain path: its
    # editable install of the checkout is a .pth hook that a plain path entry does not run
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    configs = [REPO / "config.yaml", *sorted((REPO / "workflow" / "presets").glob("*.yaml"))]
    out = subprocess.run(
        [python, "-c", CHECK.format(repo=str(REPO)), *map(str, configs)], cwd=tmp_path, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.splitlines()) == len(configs) >= 4
