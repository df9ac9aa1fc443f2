"""``aggregator run``: APScheduler 3 jobs in the foreground, one service per database.

Two jobs, each mapped to one pipeline call:

* ``refresh``: a tick that fetches whatever sources are due (each source carries its own next
  attempt time), then publishes when anything changed. It runs at start, so a tick missed while
  the service was down simply happens now.
* ``digest``: a cron trigger on ``digest.schedule`` in ``digest.timezone`` that sends the issue
  of the last complete ISO week. At start, if the last due time has passed and the ledger has
  not seen that issue, a one-off ``digest-catch-up`` job sends it (the ledger makes a repeat
  harmless). Only weeks the service itself missed are caught up: a week that ended before the
  store's first fetch is never sent, so a first start does not mail an issue from before the
  install.

Jobs run one at a time on a single worker thread: the refresh and the digest never race on the
store, and ``max_instances=1`` + ``coalesce`` mean a slow job is never stacked up behind itself.
``wire_jobs(scheduler, service, clock)`` does the wiring without starting anything, so tests
can inspect the jobs and call their functions with a fixed clock.

Signals: SIGTERM/SIGINT ask the pipeline to stop after the source in hand (whose transaction
commits or rolls back as a unit), shut the scheduler down, close the store and exit 0. A second
signal exits at once. SIGHUP reloads config.yaml and rebuilds the jobs (a bad file is logged
and the running configuration kept; a changed ``database`` needs a restart). A change of the
file itself (``aggregator sources ...``, an editor) is seen within ``WATCH_EVERY`` seconds and
reloads it the same way.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from ..clock import Clock, utcnow
from ..errors import AggregatorError, ConfigError
from ..settings import DigestSettings, Settings
from ..text import plural
from .lock import InstanceLock, ServiceLock

if TYPE_CHECKING:
    from ..store import Store
    from .pipeline import Pipeline

log = logging.getLogger("aggregator.scheduler")


#: Seconds a stopping service waits for the job in hand before it gives up and exits anyway
#: (an unfinished source transaction is simply never committed).
STOP_GRACE = 10.0
#: Shortest refresh tick: sources fall due at their own times, so the tick only bounds lateness.
MIN_TICK = 30.0
#: Seconds between two looks at config.yaml's size, time and inode (a changed file is reloaded).
WATCH_EVERY = 2.0


# ---- time arithmetic (pure, tested with fixed clocks) ------------------------------------------


def refresh_period(interval: float) -> float:
    """The refresh tick. A source fetched at ``T + δ`` is next due at ``T + interval + δ``, just
    after the tick at ``T + interval``: ticking at exactly ``interval`` would fetch it every
    other tick. A sixth of the interval keeps each source within ~17 % of its period; a tick
    with nothing due costs one query."""
    return min(interval, max(MIN_TICK, interval / 6))


def shortest_interval(settings: Settings) -> float:
    """The refresh period of the most frequent source that is fetched (``fetch.interval``, or a
    source's own shorter ``interval``): the tick follows it."""
    own = [s.interval for s in settings.sources if s.enabled and s.interval is not None]
    return min([settings.fetch.interval, *own])


class ConfigWatch:
    """Has config.yaml changed since the last look? (size, modification time and inode: an
    atomic replace makes a new inode even within one mtime tick)."""

    def __init__(self, path: Path):
        self.path = path
        self.seen = self._signature()

    def _signature(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_size, st.st_ino)

    def changed(self) -> bool:
        now = self._signature()
        if now is None or now == self.seen:
            return False  # a missing file (mid-replace, or removed) is no configuration
        self.seen = now
        return True


def digest_trigger(digest: DigestSettings) -> CronTrigger:
    """``"mon 07:00"`` in ``digest.timezone`` as a cron trigger."""
    from ..config import parse_schedule

    day, hour, minute = parse_schedule(digest.schedule)
    return CronTrigger(
        day_of_week=day, hour=hour, minute=minute, timezone=ZoneInfo(digest.timezone)
    )


def last_fire_time(trigger: CronTrigger, now: datetime, lookback: timedelta = timedelta(days=8)
                   ) -> datetime | None:  # fmt: skip
    """The latest fire time at or before ``now`` (APScheduler 3 only looks forward)."""
    fire = trigger.get_next_fire_time(None, now - lookback)
    last = None
    while fire is not None and fire <= now:
        last = fire
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return last


def iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def issue_week(moment: datetime, timezone: str) -> str:
    """The last complete ISO week at ``moment`` in ``timezone``: the week before this one."""
    local = moment.astimezone(ZoneInfo(timezone))
    return iso_week(local.date() - timedelta(days=7))


def week_end(week: str, timezone: str) -> datetime:
    """When the ISO ``week`` ends (Monday 00:00 after it) in ``timezone``, as UTC."""
    from ..digest import resolve_week

    return resolve_week(week, timezone, utcnow())[2]


def catch_up_week(
    trigger: CronTrigger,
    now: datetime,
    timezone: str,
    in_ledger: Callable[[str], bool],
    first_fetch: datetime | None,
) -> str | None:
    """The issue to send at start, or None: the issue that was due at the trigger's last fire
    time, unless the ledger already has it (sent, or at least attempted) or the service did not
    exist yet to miss it: a week that ended before the store's ``first_fetch`` (or a store that
    has fetched nothing) is not owed to anyone."""
    due = last_fire_time(trigger, now)
    if due is None or first_fetch is None:
        return None
    week = issue_week(due, timezone)
    if week_end(week, timezone) <= first_fetch:
        return None
    return None if in_ledger(week) else week


# ---- the service: what each job does ------------------------------------------------------------


class Service:
    """The long-lived state of ``run``: settings, one store, one pipeline, the stop flags."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        *,
        clock: Clock = utcnow,
        pipeline: Pipeline | None = None,
    ):
        from .pipeline import Pipeline

        self.settings = settings
        self.store = store
        self.clock = clock
        self.pipeline = pipeline or Pipeline(settings, store, clock=clock)
        self.stopping = False
        self.stop_reason = "stop requested"
        self.reload_requested = False
        self.publish_pending = True  # publish once after start even if nothing is new
        self._busy = threading.Lock()  # held by the job in hand (and by a reload)
        self._running = 0

    # -- jobs (run on the scheduler's single worker thread) --

    def refresh_tick(self) -> None:
        """Fetch the due sources; publish if anything changed (or a publish is owed)."""
        with self._job("refresh"):
            if self.stopping:
                return
            lock = InstanceLock(self.settings.database)
            if not lock.try_acquire():
                log.info(
                    "refresh skipped: another process is refreshing %s", self.settings.database
                )
                return
            try:
                report = self.pipeline.refresh()
                if report.outcomes:
                    failed = report.count("error", "backing-off", "gone")
                    log.info(
                        "refresh: %s, %s, %d failed, %.1f s",
                        plural(len(report.outcomes), "source"),
                        plural(report.new_items, "new item"), failed, report.seconds,
                    )  # fmt: skip
                if report.changed:
                    self.publish_pending = True
                if self.publish_pending and not self.stopping:
                    self.publish()
            finally:
                lock.release()

    def publish(self) -> None:
        from .pipeline import publish

        publish(self.settings, self.store, self.clock())
        self.publish_pending = False

    def digest_tick(self, week: str | None = None) -> None:
        """Send the issue of ``week`` (default: the last complete week at the clock's now)."""
        with self._job("digest"):
            if self.stopping:
                return
            from .sending import send_digest

            now = self.clock()
            tz = self.settings.digest.timezone
            week = week or issue_week(now, tz)
            first = self.store.first_fetch()
            if first is None or week_end(week, tz) <= first:
                since = f"the first fetch ({first:%Y-%m-%d %H:%M} UTC)" if first else "any fetch"
                log.info("digest: week %s ended before %s: no issue to send", week, since)
                return
            log.info("digest: sending issue %s", week)
            report = send_digest(self.settings, self.store, week=week, mode="send", now=now)
            log.info("%s", report.summary())
            if not report.empty:  # the issue is frozen: its page and issues.xml come next tick
                self.publish_pending = True

    def in_ledger(self, issue: str) -> bool:
        """Has a send of ``issue`` begun? It is frozen in the store on its first send. (A week
        with no stories is never frozen: its catch-up reruns at each start, finding nothing.)"""
        return self.store.frozen_digest(issue) is not None

    @contextmanager
    def _job(self, name: str) -> Iterator[None]:
        with self._busy:
            self._running += 1
            try:
                yield
            except AggregatorError as exc:  # one readable line; the job stays scheduled
                log.error("%s failed: %s", name, exc)
            finally:
                self._running -= 1

    # -- control (signal handlers only set flags; the main thread acts on them) --

    @property
    def busy(self) -> bool:
        return self._running > 0

    def request_stop(self) -> None:
        self.stopping = True
        self.pipeline.stop_requested = True

    def replace_settings(self, settings: Settings) -> None:
        """Swap in a reloaded configuration between jobs."""
        from .pipeline import Pipeline

        with self._busy:
            self.settings = settings
            old, self.pipeline = self.pipeline, Pipeline(settings, self.store, clock=self.clock)
            old.close()  # its fetch loop thread and connections
            self.publish_pending = True

    def close(self) -> None:
        self.pipeline.close()


def wire_jobs(
    scheduler: BaseScheduler, service: Service, clock: Clock = utcnow, *, catch_up: bool = True
) -> None:
    """Add the refresh and digest jobs (and a catch-up digest if one was missed)."""
    settings = service.settings
    now = clock()
    common = {"max_instances": 1, "coalesce": True, "replace_existing": True}
    period = refresh_period(shortest_interval(settings))
    scheduler.add_job(
        service.refresh_tick,
        IntervalTrigger(seconds=period, start_date=now, timezone=UTC),
        id="refresh",
        name="refresh due sources, then publish",
        next_run_time=now,  # at start: a tick missed while down runs now
        misfire_grace_time=int(period),
        **common,
    )
    trigger = digest_trigger(settings.digest)
    scheduler.add_job(
        service.digest_tick,
        trigger,
        id="digest",
        name=f"weekly digest ({settings.digest.schedule} {settings.digest.timezone})",
        next_run_time=trigger.get_next_fire_time(None, now),
        misfire_grace_time=6 * 3600,  # a short outage around the due time still sends
        **common,
    )
    if not catch_up:
        return
    week = catch_up_week(
        trigger, now, settings.digest.timezone, service.in_ledger, service.store.first_fetch()
    )
    if week is not None:
        log.info("digest %s was due while the service was down: sending it now", week)
        scheduler.add_job(
            service.digest_tick,
            DateTrigger(run_date=now, timezone=UTC),
            args=[week],
            id="digest-catch-up",
            name=f"catch-up digest {week}",
            next_run_time=now,
            misfire_grace_time=None,  # whenever it gets to run, it is still owed
            **common,
        )


def make_scheduler() -> BackgroundScheduler:
    """One worker thread: jobs run one after another, never beside each other."""
    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(max_workers=1)},
        timezone=UTC,
    )


# ---- the foreground process ---------------------------------------------------------------------


def run_forever(
    settings: Settings, *, clock: Clock = utcnow, stop_grace: float = STOP_GRACE
) -> int:
    """Run until SIGTERM/SIGINT; 0 on a clean stop. Raises ``AlreadyRunning`` (exit 3) at once
    when another ``run`` holds the database. After a stop signal the job in hand gets
    ``stop_grace`` seconds to finish; past that the process exits anyway."""
    from ..store import Store

    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:  # job adds/removes are noise
        logging.getLogger("apscheduler.scheduler").setLevel(logging.WARNING)
    with ServiceLock(settings.database):
        store = Store(settings.database)
        scheduler = make_scheduler()
        try:
            service = Service(settings, store, clock=clock)
            wire_jobs(scheduler, service, clock)
            with _signals(service):
                scheduler.start()
                log.info(
                    "running: refresh tick every %s, digest %s %s (pid %d)",
                    _human(refresh_period(shortest_interval(settings))),
                    settings.digest.schedule, settings.digest.timezone, os.getpid(),
                )  # fmt: skip
                _main_loop(scheduler, service)
                log.info("%s: stopping after the source in hand", service.stop_reason)
                scheduler.shutdown(wait=False)
                if not _wait_idle(service, stop_grace):
                    log.warning(
                        "the job in hand did not finish in %g s; exiting without it "
                        "(its uncommitted source is rolled back)", stop_grace,
                    )  # fmt: skip
                    logging.shutdown()
                    os._exit(0)  # the kernel drops the locks; SQLite discards the open transaction
                service.close()
        finally:
            if scheduler.running:
                scheduler.shutdown(wait=False)
            store.close()
    log.info("stopped")
    return 0


def _main_loop(scheduler: BaseScheduler, service: Service) -> None:
    """Sleep in short steps: signal handlers only set flags, so nothing here can deadlock."""
    watch = ConfigWatch(service.settings.path)
    next_look = time.monotonic() + WATCH_EVERY
    while not service.stopping:
        time.sleep(0.1)
        if time.monotonic() >= next_look:
            next_look = time.monotonic() + WATCH_EVERY
            if watch.changed():
                log.info("%s changed: reloading", watch.path)
                service.reload_requested = True
        if service.reload_requested and not service.stopping:
            service.reload_requested = False
            watch.changed()  # a SIGHUP after an edit: one reload, not two
            _reload(scheduler, service)


def _reload(scheduler: BaseScheduler, service: Service) -> None:
    from ..config import load

    try:
        new = load(service.settings.path)
    except ConfigError as exc:
        for line in exc.problems:
            log.error("reload: %s", line)
        log.error("reload: keeping the running configuration")
        return
    if new.database != service.settings.database:
        log.error("reload: database changed to %s; restart to switch", new.database)
        return
    scheduler.pause()
    try:
        service.replace_settings(new)
        wire_jobs(scheduler, service, service.clock, catch_up=False)
    finally:
        scheduler.resume()
    log.info("reloaded %s: %s", new.path, plural(len(new.sources), "source"))


def _wait_idle(service: Service, grace: float) -> bool:
    deadline = time.monotonic() + grace
    while service.busy:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@contextmanager
def _signals(service: Service) -> Iterator[None]:
    def stop(signum: int, _frame: object) -> None:
        if service.stopping:
            os.write(2, b"aggregator: second signal, exiting now\n")
            os._exit(1)
        service.stop_reason = signal.Signals(signum).name
        service.request_stop()

    def reload(_signum: int, _frame: object) -> None:
        service.reload_requested = True

    wanted: dict[signal.Signals, Callable[[int, object], None]] = {
        signal.SIGTERM: stop,
        signal.SIGINT: stop,
    }
    if hasattr(signal, "SIGHUP"):
        wanted[signal.SIGHUP] = reload
    old = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _human(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f}h"
    if seconds % 60 == 0:
        return f"{seconds / 60:.0f}m"
    return f"{seconds:.0f}s"
