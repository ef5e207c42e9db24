"""Command line: the same code paths the Snakemake rules use.

    python -m hptransfer prepare-data --corpus-config corpus.yaml --out results/data/shakespeare
    python -m hptransfer train --config run.json --data results/data/shakespeare --out run.nc
    python -m hptransfer run-config --configfile config.yaml --study llama_adam_lr --param mup \
        --width 64 --value 0.004 --seed 0 > run.json
    python -m hptransfer validate-config config.yaml
"""

from __future__ import annotations

import argparse
import json
import logging
import sys


def _read_structured(path: str) -> dict:
    from .config.load import read_config_file

    return read_config_file(path)


def cmd_train(args) -> None:
    from .config.run import RunConfig
    from .train.job import train_run

    train_run(
        RunConfig.from_dict(_read_structured(args.config)),
        args.data,
        args.out,
        threads=args.threads,
        device=args.device,
    )


def cmd_prepare(args) -> None:
    from .data.corpus import prepare_corpus

    print(
        json.dumps(
            {k: v for k, v in prepare_corpus(_read_structured(args.corpus_config), args.out).items() if k != "config"},
            indent=2,
        )
    )


def cmd_run_config(args) -> None:
    from .config.load import load_config
    from .config.runs import RunKey, format_value
    from .studies import run_config

    cfg = load_config(_read_structured(args.configfile))
    study = cfg["studies"][args.study]
    key = RunKey(args.study, args.param, args.width, study["hp"], format_value(args.value), args.seed)
    print(json.dumps(run_config(cfg, key).to_dict(), indent=2, sort_keys=True))


def cmd_validate(args) -> None:
    from .config.errors import ConfigError
    from .config.load import load_config

    try:
        load_config(_read_structured(args.configfile))
    except ConfigError as exc:
        sys.exit(str(exc))
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
    p = sub.add_parser("validate-config", help="check a config against the schema")
    p.add_argument("configfile")
    p.set_defaults(func=cmd_validate)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args.func(args)


if __name__ == "__main__":
    main()
