"""Crash consistency: SIGKILL a real `aggregator fetch` at random points, 20 times in a row, then
run normally. The store must pass PRAGMA integrity_check, hold every item exactly once, and every
source's state must agree with its items (one transaction per source)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from aggregator.config import load
from aggregator.store import Store
from test_pipeline import REAL, distinct_items, write_config

ROOT = Path(__file__).resolve().parent.parent
COPIES = 8


def test_sigkill_during_fetch_twenty_times_then_a_normal_run(tmp_path, feed_server):
    files = sorted(REAL.glob("*.xml"))
    # Copies of the corpus under different names: long enough a run to be killed mid-way.
    sources = [(f"{f.stem}#{n}", feed_server.url(f"corpus/real/{f.name}?copy={n}")) for n in range(COPIES) for f in files]
    config = write_config(tmp_path, sources)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    cmd = [sys.executable, "-m", "aggregator", "-q", "--config", str(config), "fetch", "--force"]
    rng = random.Random(20261128)
    killed = 0
    for _ in range(20):
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.3))
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=30)
    assert killed >= 10, "the runs finished before they could be killed: make the load bigger"

    settings = load(config)
    with Store(settings.database) as store:
        assert store.integrity_check() == "ok"
        for state in store.source_states():
            # Coherent: a source has items iff it recorded a successful parse of its body.
            assert (state.items > 0) == (state.body_hash is not None), state.name

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    with Store(settings.database) as store:
        assert store.integrity_check() == "ok"
        states = {s.name: s for s in store.source_states()}
        for name, _url in sources:
            expected = distinct_items(REAL / (name.split("#")[0] + ".xml"))
            assert states[name].items == expected, name
        assert store.count_items() == COPIES * sum(distinct_items(f) for f in files)
        assert not store.unclustered_items()
