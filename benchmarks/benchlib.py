"""Shared helpers of the benchmark scripts: where the bench tools live, seeded stores, and
running one measured child process (wall time and peak RSS of that process alone).

The bench tools (``seed.py``, ``crawl.py``, ``renovate_bench.py``, ``ociauth.py``) are read
from ``../shared/bench`` beside the checkout, or from ``$PROMOTER_SHARED_DIR/bench``; the
registry launcher and the pagination proxy from the project's copies in ``tests/servers``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SERVERS = REPO / "tests" / "servers"


def shared_bench() -> Path:
    """``shared/bench``: ``$PROMOTER_SHARED_DIR/bench`` or ``../shared/bench`` beside the repo."""
    root = Path(os.environ.get("PROMOTER_SHARED_DIR") or REPO.parent / "shared")
    bench = root / "bench"
    if not (bench / "crawl.py").is_file():
        sys.exit(f"bench tools not found in {bench}; set PROMOTER_SHARED_DIR")
    return bench


def default_work() -> Path:
    """Where seeded stores are kept between runs (they take minutes to write)."""
    return Path(tempfile.gettempdir()) / "promoter-bench"


def import_path(directory: Path) -> None:
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))


@dataclass(frozen=True, slots=True, kw_only=True)
class Store:
    path: Path
    truth: Path
    repos: int
    tags: int
    prefix: str = "bench/app"


def ensure_store(work: Path, repos: int, tags: int) -> Store:
    """A registry storage dir with ``repos`` x ``tags`` (seed.py's ``mixed`` scheme), written
    straight to disk by ``seed.py --direct-storage`` once and reused afterwards."""
    base = work / f"store-{repos}x{tags}"
    store = Store(path=base / "storage", truth=base / "truth.json", repos=repos, tags=tags)
    done = base / "done"
    if done.exists():
        return store
    if base.exists():  # an interrupted seed: start over
        subprocess.run(["rm", "-rf", "--", str(base)], check=True)
    base.mkdir(parents=True)
    print(f"seeding {repos} x {tags} into {base} (once) ...", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, str(shared_bench() / "seed.py"), "--direct-storage", str(store.path),
         "--repos", str(repos), "--tags", str(tags), "--expected", str(store.truth)],
        check=True, stdout=subprocess.DEVNULL)
    print(f"seeded in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
    done.write_text("ok\n")
    return store


@dataclass(frozen=True, slots=True, kw_only=True)
class Measured:
    """One child process: its JSON output, wall time of the whole process, peak RSS."""

    output: Any
    process_s: float
    peak_rss_mb: float
    cpu_s: float  # user + system time of the child itself
    server_cpu_s: float = 0.0  # of the ``watch`` processes (registry, proxy...) meanwhile


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a running process so far (Linux ``/proc``)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_measured(cmd: Sequence[str], *, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None, watch: Sequence[int] = ()) -> Measured:
    """Run ``cmd``, parse its stdout as JSON; peak RSS and CPU are the child's own
    (``os.wait4``), so other processes of the run do not mix in. CPU seconds are a steadier
    figure than wall time on a machine others share: the servers' (``watch``) are added up
    over the child's lifetime."""
    servers0 = sum(process_cpu(p) for p in watch)
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(list(cmd), stdout=out, env=dict(env) if env else None, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - t0
        servers = sum(process_cpu(p) for p in watch) - servers0
        out.seek(0)
        text = out.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... exited {proc.returncode}:\n{text[-2000:]}")
    return Measured(output=json.loads(text), process_s=wall, peak_rss_mb=usage.ru_maxrss / 1024,
                    cpu_s=usage.ru_utime + usage.ru_stime, server_cpu_s=servers)


def server_pids(reg: Any) -> tuple[int, ...]:
    """The registry's, proxy's and token server's PIDs of a running LocalRegistry."""
    info = reg.info()
    return tuple(info[k] for k in ("registry_pid", "proxy_pid", "token_server_pid") if info[k])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("inf")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for a benchmark child: no proxies, no registry credentials of the
    person running it (promoter reads ``PROMOTER_REGISTRY_*`` and docker's config)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("PROMOTER_REGISTRY", "DOCKER_", "REGISTRY_"))
           and k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def cred_args(reg: Any) -> list[str]:
    """``--user U --password P`` for a LocalRegistry with auth, nothing for an anonymous one."""
    return ["--user", reg.username, "--password", reg.password] if reg.username else []


def write_json(path: Path | None, doc: Any) -> None:
    text = json.dumps(doc, indent=1)
    if path is None:
        print(text)
    else:
        path.write_text(text + "\n")
