"""A real single-node SLURM cluster on localhost, for tests and for trying the SLURM profile by hand.

Everything lives under one temporary root: its own munge key and socket, ``slurm.conf``, state,
spool, logs and pid files, so nothing in ``/etc`` is touched and nothing of a system cluster is
used. The daemons are stopped by the process ids in their pid files, never by name.

Two details make Snakemake's SLURM executor work against such a cluster (measured with SLURM 22.05,
snakemake 9.27.1, snakemake-executor-plugin-slurm 2.8.0; see the notes in the test module):

* the job-step plugin removes ``SLURM_CONF`` from the environment before its inner ``srun``, so a
  config outside ``/etc/slurm/slurm.conf`` would not be found inside jobs. :attr:`SlurmCluster.env`
  therefore puts a directory first on ``PATH`` whose ``srun`` exports ``SLURM_CONF`` and execs the
  real one (jobs are submitted with ``--export=ALL``, so the wrapper reaches them);
* without accounting (``sacct``), status queries must use ``squeue``; ``MinJobAge=300`` keeps
  finished jobs visible to it long enough.

By hand::

    python tests/cluster/slurm_cluster.py start /tmp/slurm   # prints the exports to eval
    python tests/cluster/slurm_cluster.py stop /tmp/slurm
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

DAEMONS = ("slurmd", "slurmctld", "munged")  # the order they are stopped in
REQUIRED_COMMANDS = ("munged", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scancel", "srun")


def missing_commands() -> list[str]:
    """SLURM/munge programs not found on PATH (``/usr/sbin`` included, where Debian puts daemons)."""
    path = os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin"
    return [c for c in REQUIRED_COMMANDS if shutil.which(c, path=path) is None]


def _which(cmd: str) -> str:
    found = shutil.which(cmd, path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")
    if found is None:
        raise FileNotFoundError(f"{cmd} not found (install slurm-wlm and munge: .ci/install-system.sh)")
    return found


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _total_memory_mb() -> int:
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    raise RuntimeError("MemTotal missing from /proc/meminfo")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as gone
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


class SlurmCluster:
    """Start/stop munged, slurmctld and slurmd under ``root``; a context manager."""

    def __init__(
        self,
        root: str | os.PathLike,
        cpus: int | None = None,
        memory_mb: int | None = None,
        partition: str = "debug",
        min_job_age: int = 300,
    ):
        self.root = Path(root).resolve()
        self.cpus = cpus or os.cpu_count() or 1
        # slurmd drains a node that reports less memory than RealMemory: leave a margin
        self.memory_mb = memory_mb or int(_total_memory_mb() * 0.9)
        self.partition = partition
        self.min_job_age = min_job_age
        self.conf = self.root / "etc" / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.bin = self.root / "bin"
        self.startup_seconds: float | None = None

    # ------------------------------------------------------------------------------------ paths
    def pid_file(self, daemon: str) -> Path:
        return self.root / "run" / f"{daemon}.pid"

    def log_file(self, daemon: str) -> Path:
        return self.root / "log" / f"{daemon}.log"

    @property
    def env(self) -> dict[str, str]:
        """The environment in which SLURM clients (and Snakemake's SLURM executor) see this cluster."""
        env = dict(os.environ)
        env["SLURM_CONF"] = str(self.conf)
        env["PATH"] = f"{self.bin}{os.pathsep}{env.get('PATH', '')}"
        for var in [v for v in env if v.startswith(("SLURM_JOB", "SLURM_STEP", "SBATCH_"))]:
            del env[var]  # never look like the inside of a job to Snakemake
        return env

    def run(self, *args: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        """Run a SLURM client command against this cluster."""
        return subprocess.run(list(args), env=self.env, capture_output=True, text=True, check=check, timeout=timeout)

    # ------------------------------------------------------------------------------- start/stop
    def start(self, timeout: float = 60) -> "SlurmCluster":
        t0 = time.monotonic()
        for sub in ("etc", "munge", "state", "spool", "run", "log", "bin"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # munged refuses a socket directory others cannot reach, and slurmd (root) must reach it
        for d in (self.root, self.root / "munge"):
            d.chmod(0o755)
        self._start_munge()
        self._write_conf()
        self._write_srun_wrapper()
        env = self.env
        try:
            subprocess.run([_which("slurmctld")], env=env, check=True, capture_output=True, text=True, timeout=30)
            subprocess.run(
                [_which("slurmd"), "-N", "localhost"], env=env, check=True, capture_output=True, text=True, timeout=30
            )
            self._wait_idle(timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def _start_munge(self) -> None:
        key = self.root / "munge" / "munge.key"
        if not key.exists():
            key.write_bytes(os.urandom(1024))
            key.chmod(0o400)
        subprocess.run(
            [
                _which("munged"),
                f"--socket={self.munge_socket}",
                f"--key-file={key}",
                f"--pid-file={self.pid_file('munged')}",
                f"--log-file={self.log_file('munged')}",
                f"--seed-file={self.root / 'munge' / 'munge.seed'}",
                "--force",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=30,
        )

    def _write_conf(self) -> None:
        r = self.root
        self.conf.write_text(f"""\
# single-node test cluster written by tests/cluster/slurm_cluster.py
ClusterName=hptransfer-test
SlurmctldHost=localhost
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={self.munge_socket}
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={self.pid_file("slurmctld")}
SlurmdPidFile={self.pid_file("slurmd")}
SlurmctldLogFile={self.log_file("slurmctld")}
SlurmdLogFile={self.log_file("slurmd")}
MailProg=/bin/true
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge={self.min_job_age}
KillWait=5
JobCompType=jobcomp/filetxt
JobCompLoc={r}/log/jobcomp.txt
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN
PartitionName={self.partition} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
""")

    def _write_srun_wrapper(self) -> None:
        wrapper = self.bin / "srun"
        wrapper.write_text(
            f"#!/bin/sh\n# SLURM_CONF is dropped inside jobs; restore it\n"
            f"export SLURM_CONF='{self.conf}'\nexec '{_which('srun')}' \"$@\"\n"
        )
        wrapper.chmod(0o755)

    def _wait_idle(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = ""
        while time.monotonic() < deadline:
            out = self.run("sinfo", "-h", "-o", "%T", check=False, timeout=10)
            state = out.stdout.strip()
            if state == "idle":
                return
            time.sleep(0.25)
        raise RuntimeError(f"SLURM node not idle after {timeout} s (state {state!r});\n" + self.describe_logs())

    def describe_logs(self, tail: int = 20) -> str:
        parts = []
        for d in DAEMONS:
            f = self.log_file(d)
            if f.exists():
                lines = f.read_text(errors="replace").splitlines()[-tail:]
                parts.append(f"--- {f}\n" + "\n".join(lines))
        return "\n".join(parts)

    def pids(self) -> dict[str, int]:
        out = {}
        for d in DAEMONS:
            f = self.pid_file(d)
            try:
                out[d] = int(f.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                pass
        return out

    def stop(self, timeout: float = 15) -> None:
        """Cancel what is still queued or running, then stop the daemons by the pids in their pid
        files (slurmd, slurmctld, then munged). Cancelling first matters: job steps run under
        slurmstepd, which outlives slurmd."""
        if self.pids().get("slurmctld") and _alive(self.pids()["slurmctld"]):
            try:
                self.run("scancel", "--partition", self.partition, check=False, timeout=10)
                deadline = time.monotonic() + timeout
                while time.monotonic() < deadline:
                    q = self.run("squeue", "-h", "-t", "PD,R,CG,S", "-o", "%i", check=False, timeout=10)
                    if q.returncode != 0 or not q.stdout.strip():
                        break
                    time.sleep(0.25)
            except (subprocess.SubprocessError, OSError):
                pass
        for daemon in DAEMONS:
            pid = self.pids().get(daemon)
            if pid is None or not _alive(pid):
                continue
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)

    def __enter__(self) -> "SlurmCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print(__doc__, file=sys.stderr)
        return 2
    cluster = SlurmCluster(argv[1])
    if argv[0] == "start":
        cluster.start()
        print(f"# started in {cluster.startup_seconds:.1f} s; pids {cluster.pids()}", file=sys.stderr)
        print(f"export SLURM_CONF='{cluster.conf}'\nexport PATH='{cluster.bin}':\"$PATH\"")
    else:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
