"""The N=1000 farm refreshed by a fleet: 1, 2 and 4 `aggregator fetch` processes on one
PostgreSQL database, against one process on SQLite (wall, CPU, items exact).

    python3 bench/bench_fleet.py [--n 1000] [--workers 1 2 4] [--reps 1] [--latency-ms 0]

Set-up (untimed): the shared farm (``../shared/bench/farm.py up``: nginx on 127.0.0.1..50,
20 feeds per host at N=1000), a throwaway PostgreSQL cluster (tests/support/postgres.py: unix
socket, fsync off, as the tests run it) and one config per store. Each measured run starts from
an empty store (cold: every feed new, parsed, deduplicated, tagged, stored). Wall is from the
first worker's start to the last one's end; CPU is the workers' (with their preparation
processes) and, on PostgreSQL, the server's (its processes' times before and after). Items
must equal the farm's ``items_total``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
FARM = Path(os.environ.get("BENCH", ROOT.parent / "shared" / "bench")) / "farm.py"
sys.path.insert(0, str(ROOT / "tests"))

from support.postgres import PostgresCluster, find_bindir


def start_farm(n: int, out: Path, latency: float) -> tuple[subprocess.Popen, list[str], int]:
    args = [sys.executable, str(FARM), "up", "--n", str(n), "--out", str(out)]
    if latency:
        args += ["--latency-ms", str(latency)]
    (out / "serve.json").unlink(missing_ok=True)
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 600
    while not (out / "serve.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the farm did not start")
        time.sleep(0.5)
    time.sleep(1)
    urls = [u for u in (out / "urls.txt").read_text().split() if u]
    total = json.loads((out / "manifest.json").read_text())["items_total"]
    return proc, urls, total


def write_config(folder: Path, urls: list[str], database: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        f"database: {json.dumps(database)}",
        "output: {dir: public}",
        "fetch: {timeout: 60s, allow_private: [127.0.0.0/8]}",
        "digest: {outbox: outbox}",
        "sources:",
    ]
    lines += [f"  - {{name: {json.dumps(f'feed {i:05d}')}, url: {json.dumps(u)}}}"
              for i, u in enumerate(urls)]  # fmt: skip
    path = folder / "config.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def server_cpu(data: Path) -> float:
    """CPU seconds of the PostgreSQL server: the postmaster with its ended children, and the
    live ones."""
    tick = os.sysconf("SC_CLK_TCK")
    master = int((data / "postmaster.pid").read_text().split()[0])
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        ppid = int(fields[1])
        if int(pid) == master:
            total += sum(int(x) for x in fields[11:15]) / tick  # utime stime cutime cstime
        elif ppid == master:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_fleet(config: Path, workers: int) -> tuple[float, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "aggregator", "-q", "--config", str(config), "fetch", "--force"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd, cwd=config.parent, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(workers)]  # fmt: skip
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise SystemExit(f"worker failed: {err[-2000:]}")
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def count_items(database: str) -> int:
    from aggregator.store import Store

    with Store(database) as store:
        return store.count_items()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--latency-ms", type=float, default=0)
    ap.add_argument("--farm", type=Path, help="a farm folder generated before (reused)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    tmp.chmod(0o755)  # nginx serves the farm as nobody
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL server programs not installed (apt-get install postgresql)")
    farm, urls, total = start_farm(args.n, args.farm or tmp / "farm", args.latency_ms)
    cluster = PostgresCluster(bindir).start()
    rows = []
    try:
        for rep in range(args.reps):
            runs = [("sqlite", 1)] + [("postgresql", w) for w in args.workers]
            for backend, workers in runs:
                folder = tmp / f"{backend}-{workers}-{rep}"
                if backend == "sqlite":
                    database, pg_before = str(folder / "agg.db"), None
                else:
                    database = cluster.database()
                    from aggregator.store import Store

                    Store(database).close()  # migrated before the clock starts
                    pg_before = server_cpu(cluster.data)
                config = write_config(folder, urls, database)
                wall, cpu = run_fleet(config, workers)
                server = server_cpu(cluster.data) - pg_before if pg_before is not None else 0.0
                items = count_items(database)
                rows.append((backend, workers, wall, cpu, server, items))
                print(f"{backend:10} x{workers}  wall {wall:6.2f} s  CPU workers {cpu:6.2f} s"
                      f"  server {server:5.2f} s  items {items} / {total}"
                      f"{'' if items == total else '  MISMATCH'}", flush=True)  # fmt: skip
    finally:
        cluster.stop()
        farm.send_signal(signal.SIGTERM)
        farm.wait(timeout=30)


if __name__ == "__main__":
    main()
