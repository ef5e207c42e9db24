"""The run config: everything that determines one training run, as a tree of frozen dataclasses.

The config code builds it for every run of a study (:func:`hptransfer.studies.run_config`), so a
malformed run fails where the YAML is read, naming the key; the engine reads attributes, never
``["key"]`` lookups. :meth:`Config.to_dict` gives back exactly the plain dict it was built from,
key for key: that dict is what a Snakemake rule passes to its job, what ``hptransfer run-config``
prints, what identifies a checkpoint and a shared run, and the ``config`` attribute of run.nc.

Optional keys come in two sorts: ``omitted`` ones (absent from the dict when unset, e.g. Dion's
``rank_cap``, which only a study that sets it carries) and ones that are always written, possibly as
``null`` (``momentum``: the optimizer's own default).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

from .errors import ConfigError

OMITTED = {"omitted": True}  # field metadata: absent from the dict when None


def omitted(default=None):
    return field(default=default, metadata=OMITTED)


class Config:
    """Base of the run-config dataclasses: checked construction from a dict, and the way back."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = ""):
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where or 'run config'}: expected a mapping, got {type(data).__name__}")
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(fields))
        if unknown:
            raise ConfigError(f"{_key(where, unknown[0])}: unknown key (allowed: {', '.join(sorted(fields))})")
        hints = _hints(cls)
        values = {}
        for name, f in fields.items():
            key = _key(where, name)
            if name not in data:
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                    raise ConfigError(f"{key}: missing")
                continue
            values[name] = _convert(hints[name], data[name], key)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.metadata.get("omitted"):
                continue
            out[f.name] = _plain(value)
        return out


@functools.cache
def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _key(where: str, name) -> str:
    return f"{where}.{name}" if where else str(name)


def _convert(hint, value, key: str):
    """``value`` checked against the annotation ``hint`` (dataclasses built, lists made tuples)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        errors = []
        for option in options:
            try:
                return _convert(option, value, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{key}: {value!r} fits none of the allowed forms")
    if isinstance(hint, type) and issubclass(hint, Config):
        return hint.from_dict(value, key)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        item = args[1] if args else Any
        return {k: _convert(item, v, _key(key, k)) for k, v in value.items()}
    if hint is Any:
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return value  # an int stays an int: the dict, and so the run's identity, keeps its exact form
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is bool or hint is str:
        if not isinstance(value, hint):
            raise ConfigError(f"{key}: expected a {hint.__name__}, got {value!r}")
        return value
    raise TypeError(f"{key}: unsupported annotation {hint!r}")


def _plain(value):
    if isinstance(value, Config):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Corpus(Config):
    """The tokenized corpus of an LM run (its preparation is the ``prepare_data`` rule's)."""

    name: str
    source: str
    vocab_size: int
    val_works: tuple[str, ...] | None = omitted()
    path: str | None = omitted()
    train_glob: str | None = omitted()
    val_glob: str | None = omitted()
    tokenizer: str | None = omitted()
    max_train_chars: int | None = omitted()


@dataclass(frozen=True)
class Augment(Config):
    mixup_alpha: float | None = None
    crop_scale: tuple[float, ...] | None = None


@dataclass(frozen=True)
class ImageDataset(Config):
    """The images of a sample-wise run (:func:`hptransfer.data.images.load_images` reads them)."""

    source: str
    split_seed: int | None = omitted()
    val_size: int | None = omitted()
    path: str | None = omitted()
    augment: Augment | None = omitted()


# -------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class TransformerModel(Config):
    width: int
    depth: int
    base_width: int
    base_depth: int
    block: str
    heads: int
    context: int
    init_std: float
    embedding_std: float
    rope_theta: float


@dataclass(frozen=True)
class MLPModel(Config):
    """The bias-free two-layer MLP of the sample-wise study (one hidden layer)."""

    width: int
    base_width: int
    init_std: float
    depth: int = 1
    base_depth: int = 1


# ---------------------------------------------------------------------------------- parametrization


@dataclass(frozen=True)
class FamilyExponents(Config):
    adam: float | None = omitted()
    sgd: float | None = omitted()
    muon: float | None = omitted()


@dataclass(frozen=True)
class RoleExponents(Config):
    """Width exponents of one parameter role; an absent entry reads as 0 (tables may be sparse)."""

    init: float | None = omitted()
    mult: float | None = omitted()
    wd: float | None = omitted()
    lr: FamilyExponents | None = omitted()


@dataclass(frozen=True)
class Parametrization(Config):
    """A parametrization table (see :mod:`hptransfer.parametrization.tables` for the meaning)."""

    roles: dict[str, RoleExponents]
    name: str | None = omitted()
    description: str | None = omitted()
    attention: float | None = omitted()
    depth_lr: float | None = omitted()

    def role(self, name: str) -> RoleExponents:
        """The exponents of role ``name`` with every absent entry read as 0."""
        given = self.roles.get(name, RoleExponents())
        lr = given.lr or FamilyExponents()
        return RoleExponents(
            init=given.init or 0.0,
            mult=given.mult or 0.0,
            wd=given.wd or 0.0,
            lr=FamilyExponents(adam=lr.adam or 0.0, sgd=lr.sgd or 0.0, muon=lr.muon or 0.0),
        )


# ------------------------------------------------------------------------------ optimizer, training


@dataclass(frozen=True)
class Optimizer(Config):
    name: str
    lr: float
    betas: tuple[float, ...]
    eps: float
    weight_decay: float
    momentum: float | None = None
    grad_clip: float | None = None
    ns_steps: int | None = omitted()
    rank_rule: str | None = omitted()
    rank_cap: int | None = omitted()
    adam_lr: float | None = omitted()


@dataclass(frozen=True)
class Schedule(Config):
    kind: str
    warmup: float
    cooldown: float


@dataclass(frozen=True)
class Training(Config):
    steps: int
    batch_size: int
    log_every: int
    checkpoint_every: int
    keep_checkpoint: bool
    divergence_factor: float
    schedule: Schedule
    val_sequences: int | None = omitted()
    # execution settings, absent at their default ("auto": decided by the device)
    precision: str | None = omitted()
    compile: str | None = omitted()


@dataclass(frozen=True)
class EMA(Config):
    """The EMA window and subsampling schedules of paper §4.1."""

    window_start: float
    window_end: float
    ramp_steps: int
    tau_start: float
    tau_end: float


@dataclass(frozen=True)
class Decomposition(Config):
    enabled: bool
    topk: tuple[int, ...]
    analysis_steps: tuple[int, ...]
    max_components: int | None = omitted()
    linearization: str | None = omitted()  # absent: "left", the paper's rule


# ------------------------------------------------------------------------------------------ the run


@dataclass(frozen=True)
class RunConfig(Config):
    """One training run. ``corpus`` (LM runs, with a Transformer) or ``dataset`` (image runs, with the
    MLP) says what is trained; the rest is shared."""

    model: TransformerModel | MLPModel
    parametrization: Parametrization
    optimizer: Optimizer
    hp: str
    hp_value: float
    seed: int
    training: Training
    ema: EMA
    decomposition: Decomposition
    corpus: Corpus | None = omitted()
    dataset: ImageDataset | None = omitted()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> RunConfig:
        if isinstance(data, Mapping) and ("corpus" in data) == ("dataset" in data):
            raise ConfigError(f"{where or 'run config'}: needs exactly one of corpus (LM run) and dataset (image run)")
        run = super().from_dict(data, where)
        expected = TransformerModel if run.corpus is not None else MLPModel
        if not isinstance(run.model, expected):
            run = dataclasses.replace(run, model=expected.from_dict(data["model"], _key(where, "model")))
        return run

    @property
    def is_image_run(self) -> bool:
        return self.dataset is not None

    def to_json(self) -> str:
        """Canonical JSON of the whole run config (the ``config`` attribute of run.nc)."""
        return json.dumps(self.to_dict(), sort_keys=True)

    def identity(self) -> str:
        """What determines the run's numbers, as canonical JSON: the whole config but for
        ``training.compile``, which changes how the same arithmetic executes. A checkpoint resumes,
        and a run is shared between studies, exactly when identities are equal."""
        config = self.to_dict()
        config["training"].pop("compile", None)
        return json.dumps(config, sort_keys=True)
