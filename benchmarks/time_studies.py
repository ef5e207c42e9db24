"""Wall time of a config study by study: `snakemake study_<name>` for each study in turn.

A preset that takes hours (workstation.yaml, on 2 cores) is measured in pieces that each
finish, and the pieces add up: each study's line counts the jobs it ran and their wall time, a
study's shared inputs (the corpus, runs shared with an earlier study) count where they are built
first, and a rerun skips what exists (a finished study adds a line with 0 jobs), so a measurement
interrupted by the end of a session resumes where it stopped when the same results/ are kept.

    python benchmarks/time_studies.py --configfile workflow/presets/workstation.yaml --cores 2 \
        --log results/benchmarks/studies.tsv [study ...]

Prints and appends `study  jobs  wall_s  rc` lines (TSV) to --log; the studies default to every
enabled one, in config order, then `all`: the figures that set several studies side by side, which
no `study_<name>` target draws. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "workflow"))

from hptransfer.config.load import load_config, read_config_file  # noqa: E402
from hptransfer.config.runs import enabled_studies  # noqa: E402

ALL = "all"


def jobs_done(output: str) -> int:
    """Jobs the Snakemake run finished, from its last "N of M steps" line (0 when nothing to do),
    not counting the target rule itself."""
    done = re.findall(r"^(\d+) of \d+ steps", output, flags=re.MULTILINE)
    return max(int(done[-1]) - 1, 0) if done else 0


def time_study(study: str, configfile: str, cores: str, log_dir: Path) -> tuple[int, float, int]:
    """Run `snakemake study_<study>` (or `all`) to the end; (jobs run, wall seconds, return code)."""
    target = study if study == ALL else f"study_{study}"
    # the target before --configfile, which takes several values and would swallow it
    command = [sys.executable, "-m", "snakemake", target, "--cores", cores, "--configfile", configfile]
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (log_dir / f"{study}.log").write_text(proc.stdout + proc.stderr)
    return jobs_done(proc.stdout + proc.stderr), wall, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "studies", nargs="*", help=f"studies to time, in order, or {ALL!r} (default: every enabled one, then {ALL!r})"
    )
    parser.add_argument("--configfile", default="config.yaml")
    parser.add_argument("--cores", default="all")
    parser.add_argument("--log", default="results/benchmarks/studies.tsv")
    args = parser.parse_args()
    cfg = load_config(read_config_file(REPO / args.configfile))
    studies = args.studies or [*enabled_studies(cfg), ALL]
    unknown = sorted(set(studies) - set(enabled_studies(cfg)) - {ALL})
    if unknown:
        parser.error(f"not an enabled study of {args.configfile}: {', '.join(unknown)}")
    log = REPO / args.log
    log.parent.mkdir(parents=True, exist_ok=True)
    for study in studies:
        jobs, wall, rc = time_study(study, args.configfile, args.cores, log.parent)
        line = f"{study}\t{jobs}\t{wall:.0f}\t{rc}"
        print(line, flush=True)
        with log.open("a") as out:
            out.write(line + "\n")
        if rc:
            sys.exit(f"{study} failed (rc {rc}); see {log.parent / f'{study}.log'}")


if __name__ == "__main__":
    main()
