"""Loading a configuration: safe YAML, validation against the JSON schema that ships in this package,
the defaults of each kind of study filled in, and the cross-references the schema cannot express.

Snakemake calls :func:`load_config` at parse time, so an invalid configuration fails before any job
starts, with a message that names the offending key. What each kind of study is (its schema part,
defaults and checks) is asked of the registry, :mod:`hptransfer.studies`.
"""

from __future__ import annotations

import copy
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .. import studies
from ..parametrization.tables import BUILTIN_TABLES
from . import defaults
from .defaults import deep_merge
from .errors import ConfigError

SCHEMA_PATH = Path(__file__).resolve().parent / "schema.yaml"


@cache
def _schema() -> dict:
    return yaml.safe_load(SCHEMA_PATH.read_text())


def load_schema() -> dict:
    return copy.deepcopy(_schema())


def load_config(config: dict) -> dict:
    """Validate a raw config (as Snakemake hands it over) and return it with defaults filled in."""
    schema = _schema()
    _validate(config, schema, "")
    for name, study in config["studies"].items():
        sub = {"$ref": f"#/$defs/{studies.KINDS[study['kind']].schema}", "$defs": schema["$defs"]}
        _validate(study, sub, f"studies.{name}")
    full = {
        "corpora": {n: deep_merge(defaults.CORPORA[c["source"]], c) for n, c in config["corpora"].items()},
        "parametrizations": {**BUILTIN_TABLES, **config.get("parametrizations", {})},
        "studies": {n: deep_merge(studies.KINDS[s["kind"]].defaults, s) for n, s in config["studies"].items()},
        "figures": copy.deepcopy(config.get("figures", {})),
        "threads": {**defaults.THREADS, **config.get("threads", {})},
        "device": config.get("device", defaults.DEVICE),
        "slurm": {**defaults.SLURM, **config.get("slurm", {})},
    }
    _check_references(full)
    return full


def _validate(instance: Any, schema: dict, prefix: str) -> None:
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        raise ConfigError("invalid config:\n" + "\n".join(_describe(e, prefix) for e in errors))


def _describe(error: jsonschema.ValidationError, prefix: str) -> str:
    path = _key_path(prefix, error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        patterns = list(error.schema.get("patternProperties", {}))
        unknown = (
            sorted(k for k in error.instance if k not in allowed and not any(re.search(p, k) for p in patterns))
            if isinstance(error.instance, dict)
            else []
        )
        keys = ", ".join(_key_path(path, [k]) for k in unknown) or path
        allowed += [f"/{p}/" for p in patterns]
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"  {keys}: unknown key{hint}"
    if error.validator == "minItems" and error.validator_value == 1:
        return f"  {path}: must not be empty"
    return f"  {path or '<top level>'}: {error.message}"


def _key_path(prefix: str, parts) -> str:
    out = prefix
    for p in parts:
        out = f"{out}[{p}]" if isinstance(p, int) else (f"{out}.{p}" if out else str(p))
    return out


def _check_references(cfg: dict) -> None:
    """Cross-references the schema cannot express: each kind's own checks (the registry's)."""
    problems = []
    for name, study in cfg["studies"].items():
        problems += studies.KINDS[study["kind"]].problems(cfg, f"studies.{name}", study)
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(problems))


class _SafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads 1e-8 (no dot) as a float, as YAML 1.2 and JSON do."""


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def read_config_file(path: str | Path) -> dict:
    """Read a YAML or JSON config safely (never constructs arbitrary objects)."""
    with open(path) as fh:
        return yaml.load(fh, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader subclass
