"""Loading a configuration: safe YAML, validation against the JSON schema that ships in this package,
the defaults of each kind of study filled in, and the cross-references the schema cannot express.

Snakemake calls :func:`load_config` at parse time, so an invalid configuration fails before any job
starts, with a message that names the offending key. What each kind of study is (its schema part,
defaults and checks) is asked of the registry, :mod:`hptransfer.studies`.
"""

from __future__ import annotations

import copy
import difflib
import math
import re
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from .. import studies
from ..data.sources import SOURCE_KEYS, foreign_keys, missing_inputs
from ..figures.catalogue import all_figures
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


# No setting of this workflow needs a number beyond this magnitude; a larger one is a typo or a
# probe, and would overflow a path, an allocation or a float32 long after the config was read.
MAX_MAGNITUDE = 1e12
BUILTIN_TABLE_NAMES = tuple(BUILTIN_TABLES)


def load_config(config: dict, check_data: bool = True) -> dict:
    """Validate a raw config (as Snakemake hands it over) and return it with defaults filled in.

    ``check_data``: also check that the data files of enabled studies exist (corpus sources, image
    directories); False for tools that look at a config's structure alone, away from its data.
    """
    schema = _schema()
    top = _schema_problems(config, schema, "")
    problems = _value_problems(config, "") + top
    if not top:  # each study against its kind's part (the top level made sure it has a kind)
        for name, study in config["studies"].items():
            sub = {"$ref": f"#/$defs/{studies.KINDS[study['kind']].schema}", "$defs": schema["$defs"]}
            problems += _schema_problems(study, sub, f"studies.{name}")
        problems += _table_name_problems(config)
    _raise_if(problems)
    full = {
        "corpora": {n: deep_merge(defaults.CORPORA[c["source"]], c) for n, c in config["corpora"].items()},
        "parametrizations": {**BUILTIN_TABLES, **config.get("parametrizations", {})},
        "studies": {n: deep_merge(studies.KINDS[s["kind"]].defaults, s) for n, s in config["studies"].items()},
        "figures": copy.deepcopy(config.get("figures", {})),
        "threads": {**defaults.THREADS, **config.get("threads", {})},
        "device": config.get("device", defaults.DEVICE),
        "slurm": {**defaults.SLURM, **config.get("slurm", {})},
    }
    _raise_if(_check_references(full, check_data))
    return full


def load_corpus(block: dict) -> dict:
    """One corpus block as written under ``corpora:`` (``prepare-data --corpus-config``), checked as
    :func:`load_config` checks it (its data files included) and with its defaults filled in."""
    schema = _schema()
    sub = {"$ref": "#/$defs/corpus", "$defs": schema["$defs"]}
    _raise_if(_value_problems(block, "corpus") + _schema_problems(block, sub, "corpus"))
    corpus = deep_merge(defaults.CORPORA[block["source"]], block)
    _raise_if(_corpus_problems("corpus", corpus) + [f"  corpus.{k}: {what}" for k, what in missing_inputs(corpus)])
    return corpus


def _corpus_problems(where: str, corpus: dict) -> list[str]:
    reads = ", ".join(SOURCE_KEYS[corpus["source"]])
    return [
        f"  {where}.{key}: not read by source {corpus['source']!r} (it reads {reads})" for key in foreign_keys(corpus)
    ]


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise ConfigError("invalid config:\n" + "\n".join(dict.fromkeys(problems)))


_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    # an integer is an int: 16.0 would pass JSON Schema's integer and become the path n16.0, or fail
    # the typed run config long after loading
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool)
    ),
)


def _schema_problems(instance: Any, schema: dict, prefix: str) -> list[str]:
    errors = sorted(_VALIDATOR(schema).iter_errors(instance), key=lambda e: [str(p) for p in e.absolute_path])
    return [_describe(e, prefix) for e in errors]


def _value_problems(node: Any, path: str, parents: tuple = ()) -> list[str]:
    """What JSON Schema cannot say about values anywhere in the config: numbers are finite and at
    most MAX_MAGNITUDE in size, keys are strings, and no YAML alias makes a block contain itself (at
    once a ConfigError). The free ``x-`` blocks at the top are skipped (they only hold anchors)."""
    if isinstance(node, bool) or node is None:
        return []
    if isinstance(node, (int, float)):
        if not math.isfinite(node):
            return [f"  {path or '<top level>'}: {node} is not a finite number"]
        if abs(node) > MAX_MAGNITUDE:
            return [f"  {path or '<top level>'}: {node!r} is beyond the largest magnitude allowed ({MAX_MAGNITUDE:g})"]
        return []
    if not isinstance(node, (dict, list)):
        return []
    if any(node is p for p in parents):  # nothing else can be checked: validating it would never end
        _raise_if([f"  {path or '<top level>'}: contains itself (a recursive YAML alias)"])
    problems = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if isinstance(node, dict) and not isinstance(key, str):
            problems.append(f"  {_key_path(path, [repr(key)])}: the key {key!r} is not a string (quote it)")
            continue
        if not path and isinstance(key, str) and key.startswith("x-"):
            continue
        problems += _value_problems(value, _key_path(path, [key]), (*parents, node))
    return problems


def _table_name_problems(config: dict) -> list[str]:
    """A user table named like a built-in would silently replace it in every study that names it."""
    return [
        f"  parametrizations.{name}: {name!r} is a built-in table; give yours another name "
        f"(built-ins: {', '.join(BUILTIN_TABLE_NAMES)})"
        for name in config.get("parametrizations", {})
        if name in BUILTIN_TABLE_NAMES
    ]


def _describe(error: jsonschema.ValidationError, prefix: str) -> str:
    path = _key_path(prefix, error.absolute_path)
    if "propertyNames" in error.schema_path:
        rule = _schema()["$defs"]["name"]["description"].split(": ", 1)[-1]
        return f"  {path}: {error.instance!r} is not a valid name ({rule.rstrip('.')}; at most 100 characters)"
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
    return f"  {path or '<top level>'}: {_shorten(error.message)}"


def _shorten(message: str, limit: int = 300) -> str:
    """One line of bounded length (jsonschema quotes the whole offending value)."""
    line = " ".join(message.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _key_path(prefix: str, parts) -> str:
    out = prefix
    for p in parts:
        out = f"{out}[{p}]" if isinstance(p, int) else (f"{out}.{p}" if out else str(p))
    return out


def _check_references(cfg: dict, check_data: bool) -> list[str]:
    """Cross-references the schema cannot express: corpus keys of another source, each kind's own
    checks (the registry's), the data files of enabled studies, and the figure settings."""
    problems = [line for name, corpus in cfg["corpora"].items() for line in _corpus_problems(f"corpora.{name}", corpus)]
    for name, study in cfg["studies"].items():
        kind = studies.KINDS[study["kind"]]
        own = kind.problems(cfg, f"studies.{name}", study)
        # a disabled study may name data that is not there yet; a broken one (an unknown corpus)
        # has nothing to look for
        if check_data and study.get("enabled", True) and kind.input_problems and not own:
            own += kind.input_problems(cfg, f"studies.{name}", study)
        problems += own
    return problems + _figure_problems(cfg)


def _figure_problems(cfg: dict) -> list[str]:
    """Each ``figures.<stem>``: a figure the configured studies can feed, with the settings its
    catalogue entry takes (closed: a misspelt setting would otherwise be ignored)."""
    known = all_figures(cfg, enabled_only=False)
    problems = []
    for stem, settings in cfg["figures"].items():
        if stem not in known:
            near = difflib.get_close_matches(stem, known, n=3)
            hint = (
                f" (did you mean {', '.join(near)}?)" if near else f" ({len(known)} figures, e.g. {next(iter(known))})"
            )
            problems.append(f"  figures.{stem}: no such figure for the configured studies{hint}")
            continue
        spec, study = known[stem]
        hp = cfg["studies"][study].get("hp") if study else None
        problems += _schema_problems(settings, spec.settings_schema(hp), f"figures.{stem}")
    return problems


class _SafeLoader(yaml.SafeLoader):
    """yaml.SafeLoader that also reads 1e-8 (no dot) as a float, as YAML 1.2 and JSON do."""


_SafeLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789")
)


def read_config_file(path: str | Path) -> dict:
    """Read a YAML or JSON config safely (never constructs arbitrary objects)."""
    with open(path) as fh:
        return yaml.load(fh, Loader=_SafeLoader)  # noqa: S506 - a SafeLoader subclass
