"""The balloon's host interface on QEMU: QMP in place of the reference device's methods.

``QemuHost`` has the reference device's host methods and emits the same observer
``"host"`` HOST_ACTION events with the same data keys, so monitors and tests do not
know which device they face.  How each maps onto QEMU 7.2 (measured over qtest):

* ``set_target(n)``: QMP ``balloon value=RAM - n*4096``; QEMU computes
  ``num_pages = (RAM - value) >> 12`` and raises a config interrupt before it answers.
  ``value`` must be positive, so ``n`` must stay below the guest's page count.
* ``read_actual()``: QMP ``query-balloon`` reports ``RAM - actual*4096``.
* ``request_stats()``: QEMU keeps the driver's stats buffer and gives it back only from
  its polling timer.  Turning ``guest-stats-polling-interval`` from 0 to 1 arms that
  timer for "now" (virtual clock, which runs under the parked-CPU firmware), so the buffer
  comes back within milliseconds; the interval goes back to 0 at once so QEMU does not
  return later buffers on its own, unasked (which the reference device never does).
  Whether a buffer is held is QEMU's ``inuse`` count of the stats queue
  (``x-query-virtio-queue-status``).
* ``read_stats()``: ``qom-get guest-stats``, names mapped back to tags; QEMU marks a
  statistic the driver did not send with ``2**64 - 1``, which is left out.
* Free page hinting: QEMU starts rounds only from migration's precopy notifier (there is
  no QMP command for it).  ``start_hinting`` starts a migration to ``exec:cat > /dev/null``
  throttled to 10 bytes/s, so it stays in its first iteration: the setup bitmap sync
  starts exactly one round.  ``finish_hinting`` cancels it, and the cleanup notifier sets
  DONE.  ``start_hinting`` during a round cancels the migration and starts another: QEMU
  passes through DONE (seen only by a driver that reads its config in between) to the
  next command ID, which is how the host starts a new round while the old one's buffers
  are still in flight.  QEMU sends STOP only at a later bitmap sync, which immediately
  starts the next round (or sets DONE), and it records no hinted pages: ``stop_hinting``
  and ``hinted_pages`` raise ``NotObservable``.
* ``balloon_pages`` (the reference device's read-back of which pages it holds): QEMU only
  counts them, so it raises ``NotObservable`` too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ballast.errors import NotObservable, NotSupported
from ballast.monitors.events import EventLog, Kind
from ballast.reference import balloon as b
from ballast.targets.qemu.guard import PeerGuard
from ballast.targets.qemu.qmp import QmpClient
from ballast.timeouts import scaled
from ballast.virtio.memory import PAGE_SIZE

STAT_NAMES = {
    "stat-swap-in": 0,
    "stat-swap-out": 1,
    "stat-major-faults": 2,
    "stat-minor-faults": 3,
    "stat-free-memory": 4,
    "stat-total-memory": 5,
    "stat-available-memory": 6,
    "stat-disk-caches": 7,
    "stat-htlb-pgalloc": 8,
    "stat-htlb-pgfail": 9,
}
"""QEMU's ``guest-stats`` names (``balloon_stat_names``) and the spec's tags."""
STAT_UNSET = (1 << 64) - 1
STATS_QUEUE = 2
"""QEMU always creates the stats queue, as queue 2."""
MIGRATION_URI = "exec:cat > /dev/null"
STALLED_BANDWIDTH = 10
"""Bytes/s: QEMU rate-limits in 100 ms slices, so 10 B/s is one byte per slice and the
first precopy iteration never ends (0 would mean "unlimited")."""
STATS_TIMEOUT = 2.0
MIGRATION_TIMEOUT = 5.0
"""Seconds (before scaling) for the stats poll and for a migration to start or cancel."""
_POLL = 0.0005


class QemuHost:
    """Host-side control of one QEMU balloon device (see the module docstring)."""

    def __init__(
        self,
        qmp: QmpClient,
        events: EventLog,
        guard: PeerGuard,
        *,
        ram_bytes: int,
        balloon_path: str,
        virtio_path: str,
        read_cmd_id: Callable[[], int],
        settle: Callable[[], None],
    ) -> None:
        """``balloon_path`` is the ``-device``'s QOM path (``guest-stats`` lives there),
        ``virtio_path`` the virtio device's (for queue status); ``read_cmd_id`` reads
        ``free_page_hint_cmd_id`` from the device's config space; ``settle`` runs before
        every host action (the page watch reports QEMU's earlier writes there, so they
        land before the action's event)."""
        self.qmp = qmp
        self.events = events
        self.guard = guard
        self.ram_bytes = ram_bytes
        self.balloon_path = balloon_path
        self.virtio_path = virtio_path
        self._read_cmd_id = read_cmd_id
        self._settle = settle

    # -- inflation target and actual ---------------------------------------------------

    def set_target(self, num_pages: int) -> None:
        """Ask the driver for a balloon of ``num_pages`` pages."""
        self._settle()
        pages = self.ram_bytes // PAGE_SIZE
        if num_pages < 0:
            raise ValueError(f"num_pages {num_pages} is negative")
        if num_pages >= pages:
            raise NotSupported(
                f"QEMU's balloon command takes the guest size left (> 0 bytes): num_pages "
                f"must stay below the guest's {pages} pages, not {num_pages}"
            )
        self.events.emit("host", Kind.HOST_ACTION, action="set_target", num_pages=num_pages)
        self._command("balloon", value=self.ram_bytes - num_pages * PAGE_SIZE)

    def read_actual(self) -> int:
        """``actual`` as QEMU knows it (what the driver last wrote)."""
        self._settle()
        left = int(self._command("query-balloon")["actual"])
        actual = (self.ram_bytes - left) // PAGE_SIZE
        self.events.emit("host", Kind.HOST_ACTION, action="read_actual", actual=actual)
        return actual

    # -- statistics -------------------------------------------------------------------

    def request_stats(self) -> bool:
        """Return the held stats buffer so the driver refills it; False if none is held."""
        self._settle()
        self.events.emit("host", Kind.HOST_ACTION, action="request_stats")
        if not self._stats_held():
            return False
        self._set_polling(1)
        try:
            deadline = time.monotonic() + scaled(STATS_TIMEOUT)
            while self._stats_held():
                if time.monotonic() > deadline:
                    raise self.guard.hung(
                        f"held the stats buffer for {scaled(STATS_TIMEOUT):.1f} s after its "
                        "polling timer was armed"
                    )
                time.sleep(_POLL)
        finally:
            if not self.guard.failed:
                self._set_polling(0)
        return True

    def read_stats(self) -> dict[int, int]:
        """The statistics QEMU parsed from the last buffer the driver made available."""
        self._settle()
        reported = self._command("qom-get", path=self.balloon_path, property="guest-stats")
        stats = {
            STAT_NAMES[name]: value
            for name, value in reported["stats"].items()
            if name in STAT_NAMES and value != STAT_UNSET
        }
        self.events.emit("host", Kind.HOST_ACTION, action="read_stats", stats=stats)
        return stats

    def _stats_held(self) -> bool:
        status = self._command(
            "x-query-virtio-queue-status", path=self.virtio_path, queue=STATS_QUEUE
        )
        return bool(status["inuse"])

    def _set_polling(self, seconds: int) -> None:
        self._command(
            "qom-set",
            path=self.balloon_path,
            property="guest-stats-polling-interval",
            value=seconds,
        )

    # -- free page hinting --------------------------------------------------------------

    def start_hinting(self) -> int:
        """Begin a hinting round (a stalled migration); returns its command ID."""
        self._settle()
        if self._migration_status() in ("setup", "active"):
            self._cancel_migration()  # QEMU passes through DONE on its way to the next ID
        self._command("migrate-set-parameters", **{"max-bandwidth": STALLED_BANDWIDTH})
        self._command("migrate", uri=MIGRATION_URI)
        self._await_migration("active")
        cmd_id = self.guard.call(self._read_cmd_id)
        if cmd_id < b.CMD_ID_MIN:
            self._cancel_migration()
            raise NotObservable(
                "QEMU starts free page hint rounds only during migration, and only for a "
                f"driver that negotiated FREE_PAGE_HINT (command ID reads {cmd_id})"
            )
        self.events.emit("host", Kind.HOST_ACTION, action="start_hinting", cmd_id=cmd_id)
        return cmd_id

    def stop_hinting(self) -> None:
        """Not possible on QEMU (see the module docstring)."""
        raise NotObservable(
            "QEMU starts free page hint rounds only during migration and sends STOP only at "
            "a migration bitmap sync, which starts the next round (or sends DONE) at once"
        )

    def finish_hinting(self) -> None:
        """End the round: cancel the migration, whose cleanup sets DONE."""
        self._settle()
        if self._migration_status() not in ("setup", "active"):
            raise NotObservable(
                "QEMU starts free page hint rounds only during migration and sends DONE only "
                "when that migration ends: call start_hinting first"
            )
        self._cancel_migration()
        cmd_id = self.guard.call(self._read_cmd_id)
        self.events.emit("host", Kind.HOST_ACTION, action="finish_hinting", cmd_id=cmd_id)

    def hinted_pages(self) -> set[int]:
        """Not possible on QEMU: it keeps no record of hinted pages."""
        raise NotObservable(
            "QEMU starts free page hint rounds only during migration and keeps no record of "
            "hinted pages: it clears them from the migration dirty bitmap"
        )

    @property
    def balloon_pages(self) -> set[int]:
        """Not possible on QEMU: it discards inflated pages and keeps only their count
        (``read_actual``), not which they were."""
        raise NotObservable(
            "QEMU keeps no list of ballooned pages, only their count (query-balloon)"
        )

    def _migration_status(self) -> str:
        return str(self._command("query-migrate").get("status", "none"))

    def _cancel_migration(self) -> None:
        self._command("migrate_cancel")
        self._await_migration("cancelled")

    def _await_migration(self, wanted: str) -> None:
        deadline = time.monotonic() + scaled(MIGRATION_TIMEOUT)
        while (status := self._migration_status()) != wanted:
            if status == "failed":
                info = self._command("query-migrate")
                raise NotObservable(
                    "QEMU starts free page hint rounds only during migration, and its "
                    f"migration failed: {info.get('error-desc', info)}"
                )
            if time.monotonic() > deadline:
                raise self.guard.hung(f"kept its migration {status!r}; expected {wanted!r}")
            time.sleep(_POLL)

    def _command(self, name: str, **arguments: Any) -> Any:
        return self.guard.call(self.qmp.command, name, **arguments)
