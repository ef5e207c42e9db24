"""Command line: the same code paths the Snakemake rules use.

    python -m hptransfer prepare-data --corpus-config corpus.yaml --out results/data/shakespeare
    python -m hptransfer train --config run.json --data results/data/shakespeare --out run.nc
    python -m hptransfer run-config --configfile config.yaml --study llama_adam_lr --param mup \
        --width 64 --value 0.004 --seed 0 > run.json
    python -m hptransfer validate-config config.yaml
    python -m hptransfer estimate --configfile workflow/presets/paper.yaml   # device-hours per study
    python -m hptransfer advise results/studies/sphere --width 8192 [--budget 1e15]   # docs/advice.md

A mistake of the user (a missing or unreadable file, an invalid config, a study, width or value
that is not there) ends the command with one line per problem that says what is wrong and what is
valid, and exit status 2 (:func:`main`); a traceback means a bug.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

USAGE_ERROR = 2  # the exit status of a user's mistake, as argparse's own


class UsageError(Exception):
    """A mistake on the command line; the message says what is wrong and what is valid."""


def _read_structured(path: str) -> dict:
    """A YAML or JSON file as a mapping; a file that is not there or not a mapping is a UsageError."""
    import yaml

    from .config.load import read_config_file

    try:
        data = read_config_file(path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"{path}: not valid YAML or JSON{where} ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(data, dict):
        raise UsageError(f"{path}: expected a mapping of keys to values, got {type(data).__name__}")
    return data


def cmd_train(args) -> None:
    from .config.run import RunConfig
    from .train.job import train_run

    cfg = RunConfig.from_dict(_read_structured(args.config))
    if not cfg.is_image_run and not (Path(args.data) / "meta.json").is_file():
        raise UsageError(f"--data: {args.data} holds no prepared corpus (meta.json); write one with prepare-data")
    train_run(
        cfg,
        args.data,
        args.out,
        threads=args.threads,
        device=args.device,
    )


def cmd_prepare(args) -> None:
    from .config.load import load_corpus
    from .data.corpus import prepare_corpus

    corpus = load_corpus(_read_structured(args.corpus_config))
    print(json.dumps({k: v for k, v in prepare_corpus(corpus, args.out).items() if k != "config"}, indent=2))


def cmd_run_config(args) -> None:
    from .config.load import load_config
    from .config.runs import RunKey, format_value
    from .studies import run_config

    # it only prints: the data files need not be on this machine
    cfg = load_config(_read_structured(args.configfile), check_data=False)
    key = RunKey(args.study, args.param, args.width, "", format_value(args.value), args.seed)
    study = _run_study(cfg, key, args.configfile)
    print(json.dumps(run_config(cfg, dataclasses.replace(key, hp=study["hp"])).to_dict(), indent=2, sort_keys=True))


def _run_study(cfg: dict, key, configfile: str) -> dict:
    """The study of ``key``, after checking that it has a run there (else a UsageError saying what has)."""
    from .config.runs import format_value
    from .studies import kind_of

    with_runs = [n for n, s in cfg["studies"].items() if kind_of(s).trains_per_run]
    if key.study not in cfg["studies"]:
        raise UsageError(f"--study: no study {key.study!r} in {configfile} (studies with runs: {', '.join(with_runs)})")
    study = cfg["studies"][key.study]
    if key.study not in with_runs:
        raise UsageError(
            f"--study: {key.study} (kind {study['kind']}) is trained without per-run configs "
            f"(studies with runs: {', '.join(with_runs) or 'none'})"
        )
    grid = [format_value(v) for v in study["grid"]]
    for option, value, valid in (
        ("--param", key.param, study["parametrizations"]),
        ("--width", key.width, study["widths"]),
        ("--value", key.value, grid),
        ("--seed", key.seed, study["seeds"]),
    ):
        if value not in valid:
            raise UsageError(f"{option}: {value} is not one of {key.study}'s {', '.join(map(str, valid))}")
    return study


def cmd_estimate(args) -> None:
    from .config.load import load_config
    from .train.cost import Prices, estimate, report
    from .train.device import resolve_device

    # it trains nothing for real: the data files need not be on this machine
    cfg = load_config(_read_structured(args.configfile), check_data=False)
    unknown = sorted(set(args.study or []) - set(cfg["studies"]))
    if unknown:
        studies = ", ".join(cfg["studies"])
        raise UsageError(f"--study: no study {', '.join(unknown)} in {args.configfile} (studies: {studies})")
    if args.study:
        cfg = cfg | {"studies": {n: s for n, s in cfg["studies"].items() if n in args.study}}
    device = resolve_device(args.device)
    prices = Prices(device, Path(args.costs) if args.costs else None, steps=args.steps)
    costs = estimate(cfg, prices)
    print(f"{args.configfile} on {device}: step and EMA-point costs measured here ({args.steps} steps per shape)")
    print(report(costs, device.type))


def cmd_advise(args) -> None:
    from .analysis.study_advice import NoAdvice, advise_study

    try:
        print(advise_study(args.results, args.width, args.budget, args.vocab_size), end="")
    except NoAdvice as exc:
        raise UsageError(f"no advice: {exc}") from None


def cmd_validate(args) -> None:
    from .config.load import load_config

    load_config(_read_structured(args.configfile))
    print("config OK")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="hptransfer", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("train", help="train one run")
    p.add_argument("--config", required=True, help="run config (JSON/YAML), see `run-config`")
    p.add_argument("--data", required=True, help="directory written by prepare-data")
    p.add_argument("--out", required=True, help="run.nc to write")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.set_defaults(func=cmd_train)
    p = sub.add_parser("prepare-data", help="tokenize a corpus")
    p.add_argument("--corpus-config", required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_prepare)
    p = sub.add_parser("run-config", help="print the run config of one run of a study")
    p.add_argument("--configfile", default="config.yaml")
    p.add_argument("--study", required=True)
    p.add_argument("--param", required=True)
    p.add_argument("--width", type=int, required=True)
    p.add_argument("--value", type=float, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_run_config)
    p = sub.add_parser("estimate", help="device-hours of a config's training, measured on this device")
    p.add_argument("--configfile", default="config.yaml")
    p.add_argument("--study", nargs="+", help="only these studies (default: every enabled one)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--steps", type=int, default=8, help="timed steps per model shape")
    p.add_argument(
        "--costs",
        default="results/benchmarks/costs.json",
        help="cache of measured costs, reused and extended ('' for none)",
    )
    p.set_defaults(func=cmd_estimate)
    p = sub.add_parser("advise", help="the hyperparameter to use at a target width, its cost, and Theorem 2")
    p.add_argument("results", help="a study's results directory (results/studies/<study>) or its transfer.nc")
    p.add_argument("--width", type=int, required=True, help="target width, above the widths run")
    p.add_argument("--budget", type=float, help="FLOP budget of the Theorem 2 comparison (default: tuning at --width)")
    p.add_argument("--vocab-size", type=int, help="LM studies: vocabulary size (default: from results/data)")
    p.set_defaults(func=cmd_advise)
    p = sub.add_parser("validate-config", help="check a config against the schema")
    p.add_argument("configfile")
    p.set_defaults(func=cmd_validate)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        args.func(args)
    except Exception as exc:  # noqa: BLE001 - sorted into the user's mistakes and bugs below
        message = user_error(exc)
        if message is None:
            raise
        print(f"{parser.prog} {args.command}: error: {message}", file=sys.stderr)
        sys.exit(USAGE_ERROR)


def user_error(exc: Exception) -> str | None:
    """The message of an exception that is the user's to fix (None: a bug, which keeps its traceback):
    the command line, the config, or a file that is missing, unreadable or full."""
    from .config.errors import ConfigError

    if isinstance(exc, (UsageError, ConfigError)):
        return str(exc)
    if isinstance(exc, OSError):
        return f"{exc.strerror}: {exc.filename}" if exc.filename and exc.strerror else str(exc)
    return None


if __name__ == "__main__":
    main()
