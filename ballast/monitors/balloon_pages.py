"""Monitors of free page hinting, page poison and free page reporting: what happens to the
contents of pages handed to the device, and when the guest touches them again."""

from __future__ import annotations

from ballast.monitors.base import Monitor, MonitorContext
from ballast.monitors.events import Event
from ballast.reference import balloon as b
from ballast.reference.balloon import Queue
from ballast.virtio.features import Feature
from ballast.virtio.memory import PAGE_SIZE

POISON = Feature.VIRTIO_BALLOON_F_PAGE_POISON
HINT = Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT
REPORTING = Feature.VIRTIO_BALLOON_F_PAGE_REPORTING


def pages_of(ranges: list[tuple[int, int]]) -> list[int]:
    return [
        (addr + off) >> b.PFN_SHIFT
        for addr, length in ranges
        for off in range(0, length, PAGE_SIZE)
    ]


class DriverHintingMonitor(Monitor):
    judges = "driver"
    clauses = (
        *(f"balloon.driver.hinting.{n:02d}" for n in (1, 2, 3, 4, 5, 6, 8, 9, 10)),
        "balloon.device.hinting.04",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self.current = b.CMD_ID_STOP
        self._round_cmds = 0
        self._round_pages = 0
        self._stop_received = True
        self._driver_knows_stopped = False
        self._hinted: set[int] = set()  # pages hinted and not yet touched by the guest
        self._done = False
        self._previous_round: set[int] = set()
        self._this_round: set[int] = set()
        self._rounds_after_done = 0
        self._start: Event | None = None
        self._last_cmd: int | None = None  # the last command ID buffer the driver sent
        self._sent: dict[int, int] = {}  # command ID -> output buffers holding it

    def on_host_action(self, event: Event) -> None:
        action = event["action"]
        if action not in ("start_hinting", "stop_hinting", "finish_hinting"):
            return
        self.current = event.data.get("cmd_id", self.current)
        if action == "start_hinting":
            if self._done:
                self._rounds_after_done += 1
                self._previous_round, self._this_round = self._this_round, set()
            self._round_cmds = self._round_pages = 0
            self._stop_received = False
            self._driver_knows_stopped = False
            self._done = False
            self._start = event
        elif self.current == b.CMD_ID_DONE:
            self._done = True

    def on_config_read(self, event: Event) -> None:
        if (
            event["offset"] == b.FREE_PAGE_HINT_CMD_ID
            and event["value"] in (b.CMD_ID_STOP, b.CMD_ID_DONE)
            and self.current in (b.CMD_ID_STOP, b.CMD_ID_DONE)
        ):
            self._driver_knows_stopped = True

    def on_hint_command(self, event: Event) -> None:
        if event["length"] != 4:
            self.violation(
                "balloon.driver.hinting.01",
                f"command ID buffer of {event['length']} bytes, not 4",
                event,
            )
        else:
            self.exercised("balloon.driver.hinting.01")
        cmd_id = event["cmd_id"]
        self._last_cmd = cmd_id
        if cmd_id is not None and cmd_id >= b.CMD_ID_MIN:
            self._round_cmds += 1
            self._sent[cmd_id] = self._sent.get(cmd_id, 0) + 1
            if self._sent[cmd_id] > 1:
                self.violation(
                    "balloon.driver.hinting.03",
                    f"command ID {cmd_id} sent {self._sent[cmd_id]} times",
                    event,
                )
            else:
                self.exercised("balloon.driver.hinting.03")
        elif cmd_id == b.CMD_ID_STOP:
            self._stop_received = True

    def on_hint_pages(self, event: Event) -> None:
        if self._driver_knows_stopped:
            self.violation(
                "balloon.driver.hinting.05", "pages hinted after the driver read STOP/DONE", event
            )
        if self._last_cmd is None or self._last_cmd < b.CMD_ID_MIN:
            self.violation(
                "balloon.driver.hinting.02",
                "pages hinted without a preceding output buffer holding a command ID",
                event,
            )
        else:
            self.exercised("balloon.driver.hinting.02")
        if event["matches"]:
            self._round_pages += len(event["pfns"])
            self._hinted.update(event["pfns"])
            self._this_round.update(event["pfns"])
            self.ctx.watch(event["pfns"])

    def on_page_access(self, event: Event) -> None:
        pfn = event["pfn"]
        if event["actor"] != "guest" or pfn not in self._hinted:
            return
        self._hinted.discard(pfn)
        self.ctx.unwatch([pfn])
        clause = "balloon.driver.hinting.08" if self._done else "balloon.driver.hinting.09"
        for judged in (clause, "balloon.device.hinting.04"):
            if event["access"] == "read":
                self.violation(
                    judged,
                    f"the guest read hinted PFN {pfn:#x} before "
                    "initializing it: it relies on contents the device may change",
                    event,
                )
            else:
                self.exercised(judged)

    def finish(self) -> None:
        if self._start is None:
            return
        if self.current >= b.CMD_ID_MIN:
            if self._round_pages == 0:
                self.violation(
                    "balloon.driver.hinting.04",
                    f"no pages hinted while the command ID was {self.current}",
                    self._start,
                )
            else:
                self.exercised("balloon.driver.hinting.04")
            if not self._stop_received:
                self.violation(
                    "balloon.driver.hinting.06",
                    "the driver ended its round without an output buffer holding STOP",
                    self._start,
                )
            else:
                self.exercised("balloon.driver.hinting.06")
        if self._driver_knows_stopped:
            self.exercised("balloon.driver.hinting.05")
        if self._rounds_after_done and self._previous_round:
            if not self._this_round & self._previous_round:
                self.violation(
                    "balloon.driver.hinting.10",
                    "no page hinted before DONE came back for the next round: the driver kept them",
                    self._start,
                )
            elif self._this_round:
                self.exercised("balloon.driver.hinting.10")


class DeviceHintingMonitor(Monitor):
    """The device's command IDs as the driver reads them, and hinted pages' contents.

    A device is seen to use a hint only by what it does to the page (the reference device,
    told it may, scribbles on it).  Leaving pages of a stale command ID alone proves it
    ignored them only if it was seen to use pages of the current one; a device that uses
    hints invisibly (QEMU skips them in migration) gets NOT_OBSERVABLE, not PASS."""

    judges = "device"
    clauses = (
        "balloon.device.hinting.01",
        "balloon.device.hinting.02",
        "balloon.device.hinting.03",
        "balloon.device.hinting.05",
        "balloon.device.hinting.06",
        "balloon.driver.hinting.07",
    )

    def __init__(self, ctx: MonitorContext) -> None:
        super().__init__(ctx)
        self._stale_untouched: Event | None = None  # a stale-ID buffer used, pages intact
        self._used_a_hint = False  # a current-ID hinted page changed once its buffer was used

    def reset_state(self) -> None:
        super().reset_state()
        self._seen_cmd = b.CMD_ID_STOP
        self._open_ids: set[int] = set()  # ids whose STOP the device has not received
        self._host_stop: Event | None = None
        self._host_finish: Event | None = None
        self._snapshots: dict[int, tuple[int, bytes]] = {}  # pfn -> (cmd_id, content)
        self._after_done: set[int] = set()  # hinted pages watched for host writes after DONE
        self._in_flight: set[int] = set()  # hinted, the device has not used the buffer yet
        self._early_writes: dict[int, Event] = {}

    def on_host_action(self, event: Event) -> None:
        action = event["action"]
        if action == "start_hinting":
            cmd_id = event["cmd_id"]
            if cmd_id in self._open_ids:
                self.violation(
                    "balloon.device.hinting.02",
                    f"command ID {cmd_id} reused before the driver's STOP was received",
                    event,
                )
            else:
                self.exercised("balloon.device.hinting.02")
            self._open_ids.add(cmd_id)
            self._host_stop = self._host_finish = None
        elif action == "stop_hinting":
            self._host_stop = event
        elif action == "finish_hinting":
            self._host_finish = event
            self._after_done = set(self._snapshots)
            self.ctx.watch(self._after_done)

    def on_config_seen(self, event: Event) -> None:
        if event["field"] == "free_page_hint_cmd_id":
            self._seen_cmd = event["value"]

    def on_free_page_vq_submitted(self, event: Event) -> None:
        request = event["request"]
        if self.ctx.read_memory is None or "pfns" not in request:
            return
        for pfn in request["pfns"]:
            self._snapshots[pfn] = (request["cmd_id"], self._read(pfn))
        self._in_flight.update(request["pfns"])
        self.ctx.watch(request["pfns"])

    def on_used_buffer(self, event: Event) -> None:
        if event["role"] != Queue.HINT:
            return
        request = event.data.get("request") or {}
        if request.get("cmd_id") == b.CMD_ID_STOP and "pfns" not in request:
            self._open_ids.clear()
            return
        self._in_flight.difference_update(request.get("pfns", []))
        for pfn in request.get("pfns", []):
            cmd_id, before = self._snapshots.get(pfn, (None, None))
            if before is None:
                continue
            now = self._read(pfn)
            stale = cmd_id != self._seen_cmd
            if stale and now != before:
                self.violation(
                    "balloon.device.hinting.03",
                    f"PFN {pfn:#x} hinted under stale command ID {cmd_id} was modified",
                    event,
                )
            elif stale:
                self._stale_untouched = self._stale_untouched or event
            elif now != before:
                self._used_a_hint = True

    def on_page_access(self, event: Event) -> None:
        pfn = event["pfn"]
        if event["actor"] == "guest" and event["access"] == "write" and pfn in self._in_flight:
            self._early_writes[pfn] = event
        elif event["actor"] == "host" and event["access"] == "write" and pfn in self._after_done:
            self.violation(
                "balloon.device.hinting.05",
                f"the device wrote hinted PFN {pfn:#x} after setting DONE",
                event,
            )

    def _read(self, pfn: int) -> bytes:
        assert self.ctx.read_memory is not None
        return self.ctx.read_memory(pfn << b.PFN_SHIFT, PAGE_SIZE)

    def finish(self) -> None:
        if self._stale_untouched is not None and self._used_a_hint:
            self.exercised("balloon.device.hinting.03")
        elif self._stale_untouched is not None:
            self.not_observable(
                "balloon.device.hinting.03",
                "pages hinted under a stale command ID were left intact, but the device was "
                "never seen to use a hinted page (none under the current ID changed), so "
                "ignoring them cannot be told from using them",
            )
        if self._host_stop is not None:
            if self._seen_cmd != b.CMD_ID_STOP:
                self.violation(
                    "balloon.device.hinting.01",
                    "the host could no longer use hints but the driver still reads "
                    f"command ID {self._seen_cmd}",
                    self._host_stop,
                )
            else:
                self.exercised("balloon.device.hinting.01")
        if self._host_finish is not None:
            if self._seen_cmd != b.CMD_ID_DONE:
                self.violation(
                    "balloon.device.hinting.06",
                    f"hinting finished but the driver reads {self._seen_cmd}, not DONE",
                    self._host_finish,
                )
            else:
                self.exercised("balloon.device.hinting.06")
            if self._after_done and self.ctx.can_watch:
                self.exercised("balloon.device.hinting.05")
        if self._early_writes and self.ctx.read_memory is not None:
            lost = [e for pfn, e in self._early_writes.items() if not any(self._read(pfn))]
            if lost:
                self.violation(
                    "balloon.driver.hinting.07",
                    f"data the guest wrote to {len(lost)} released hinted page(s) was lost",
                    *lost[:3],
                )
            else:
                self.exercised("balloon.driver.hinting.07")


class PoisonMonitor(Monitor):
    """poison_val written before DRIVER_OK, never while live, and deflated pages filled."""

    judges = "driver"
    clauses = ("balloon.driver.poison.01", "balloon.driver.poison.02", "balloon.driver.poison.03")

    def reset_state(self) -> None:
        super().reset_state()
        self._written_before_ok = False
        self._poison = bytearray(4)
        self._returned: set[int] = set()
        self._written: dict[int, Event] = {}  # first written, content not yet checked
        self._deflating: dict[int, list[int]] = {}

    def on_config_written(self, event: Event) -> None:
        offset, size = event["offset"], event["size"]
        if not (offset < b.POISON_VAL + 4 and offset + size > b.POISON_VAL):
            return
        data = event["value"].to_bytes(size, "little")
        for i, byte in enumerate(data):
            if b.POISON_VAL <= offset + i < b.POISON_VAL + 4:
                self._poison[offset + i - b.POISON_VAL] = byte
        if event["status"] & 4:  # DRIVER_OK
            self.violation("balloon.driver.poison.03", "poison_val written while DRIVER_OK", event)
        else:
            self._written_before_ok = True

    def on_driver_ok_seen(self, event: Event) -> None:
        if not self.negotiated(POISON):
            for clause in self.clauses:
                self.not_applicable(clause, "VIRTIO_BALLOON_F_PAGE_POISON not negotiated")
            return
        if self._written_before_ok:
            self.exercised("balloon.driver.poison.02")
            self.exercised("balloon.driver.poison.03")
        else:
            self.violation(
                "balloon.driver.poison.02", "DRIVER_OK set before poison_val was written", event
            )

    def on_balloon_deflate(self, event: Event) -> None:
        self._deflating[event["head"]] = event["pfns"]

    def on_buffer_used(self, event: Event) -> None:
        pfns = self._deflating.pop(event["head"], None) if event["role"] == Queue.DEFLATE else None
        if pfns and self.negotiated(POISON):
            self._returned.update(pfns)
            self.ctx.watch(pfns)

    def on_page_access(self, event: Event) -> None:
        """The first guest access to a returned page must be a write; what it wrote is
        checked at the next access (watch callbacks run before the access lands)."""
        pfn = event["pfn"]
        if event["actor"] != "guest":
            return
        if pfn in self._written:
            self._judge_content(self._written.pop(pfn))
        elif pfn in self._returned:
            self._returned.discard(pfn)
            if event["access"] == "read":
                self.ctx.unwatch([pfn])
                self.violation(
                    "balloon.driver.poison.01",
                    f"deflated PFN {pfn:#x} read before being filled with poison_val",
                    event,
                )
            else:
                self._written[pfn] = event

    def _judge_content(self, event: Event) -> None:
        pfn = event["pfn"]
        self.ctx.unwatch([pfn])
        if self.ctx.read_memory is None:
            return
        page = self.ctx.read_memory(pfn << b.PFN_SHIFT, PAGE_SIZE)
        if page == bytes(self._poison) * (PAGE_SIZE // 4):
            self.exercised("balloon.driver.poison.01")
        else:
            self.violation(
                "balloon.driver.poison.01",
                f"deflated PFN {pfn:#x} reused without being filled with poison_val",
                event,
            )

    def finish(self) -> None:
        for event in list(self._written.values()):
            self._judge_content(event)
        self._written.clear()


class ReportingMonitor(Monitor):
    """Reported pages: filled with poison_val before reporting (if negotiated), untouched
    until acknowledged, treated as uninitialized afterwards, reported in large ranges."""

    judges = "driver"
    clauses = (
        "balloon.driver.reporting.01",
        "balloon.driver.reporting.02",
        "balloon.driver.reporting.03",
        "balloon.driver.reporting.05",
        "balloon.driver.reporting.06",
        "balloon.device.reporting.01",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._in_flight: dict[int, list[int]] = {}  # head -> pfns
        self._flight_pages: set[int] = set()
        self._returned: set[int] = set()
        self._poison = bytearray(4)

    def on_config_written(self, event: Event) -> None:
        if event["offset"] == b.POISON_VAL and event["size"] == 4:
            self._poison[:] = event["value"].to_bytes(4, "little")

    def on_report_buffer(self, event: Event) -> None:
        ranges = event["ranges"]
        pfns = pages_of(ranges)
        self._in_flight[event["head"]] = pfns
        self._flight_pages.update(pfns)
        self.ctx.watch(pfns)
        if self.negotiated(POISON) and self.ctx.read_memory is not None:
            pattern = bytes(self._poison) * (PAGE_SIZE // 4)
            bad = [p for p in pfns if self.ctx.read_memory(p << b.PFN_SHIFT, PAGE_SIZE) != pattern]
            if bad:
                self.violation(
                    "balloon.driver.reporting.02",
                    f"{len(bad)} reported page(s) not filled with poison_val, e.g. PFN {bad[0]:#x}",
                    event,
                )
            else:
                self.exercised("balloon.driver.reporting.02")
        else:
            self.not_applicable("balloon.driver.reporting.02", "PAGE_POISON not negotiated")
        ordered = sorted(ranges)
        adjacent = any(a + n == ordered[i + 1][0] for i, (a, n) in enumerate(ordered[:-1]))
        if adjacent:
            self.violation(
                "balloon.driver.reporting.05",
                "contiguous free memory reported as separate ranges",
                event,
            )
        else:
            self.exercised("balloon.driver.reporting.05")

    def on_buffer_used(self, event: Event) -> None:
        if event["role"] != Queue.REPORT:
            return
        pfns = self._in_flight.pop(event["head"], [])
        self._flight_pages.difference_update(pfns)
        self._returned.update(pfns)
        if pfns:
            self.exercised("balloon.driver.reporting.03")

    def on_page_access(self, event: Event) -> None:
        pfn = event["pfn"]
        if event["actor"] != "guest":
            return
        if pfn in self._flight_pages:
            self.violation(
                "balloon.driver.reporting.03",
                f"guest {event['access']} of reported PFN {pfn:#x} before the ack",
                event,
            )
        elif pfn in self._returned:
            self._returned.discard(pfn)
            self.ctx.unwatch([pfn])
            if self.negotiated(POISON):
                self._judge_needless(event)
                return
            for clause in ("balloon.driver.reporting.01", "balloon.device.reporting.01"):
                if event["access"] == "read":
                    self.violation(
                        clause,
                        f"the guest read reported PFN {pfn:#x} before initializing it",
                        event,
                    )
                else:
                    self.exercised(clause)

    def _judge_needless(self, event: Event) -> None:
        """With PAGE_POISON a reported page holds poison_val: the guest's first access to
        it should be the write of the next use, never a read."""
        if event["access"] == "read":
            self.violation(
                "balloon.driver.reporting.06",
                f"the guest read reported PFN {event['pfn']:#x} back before using it",
                event,
            )
        else:
            self.exercised("balloon.driver.reporting.06")


class DeviceReportingMonitor(Monitor):
    """With PAGE_POISON, the device may leave reported pages alone or fill them with
    poison_val, nothing else."""

    judges = "device"
    clauses = ("balloon.device.reporting.02", "balloon.driver.reporting.04")

    def reset_state(self) -> None:
        super().reset_state()
        self._snapshots: dict[int, bytes] = {}
        self._poison = 0

    def on_driver_negotiated(self, event: Event) -> None:
        if not event["features"] >> POISON & 1:
            self.not_applicable("balloon.device.reporting.02", "PAGE_POISON not negotiated")

    def on_reporting_vq_submitted(self, event: Event) -> None:
        request = event["request"]
        if self.ctx.read_memory is None:
            return
        for pfn in pages_of(request["ranges"]):
            self._snapshots[pfn] = self.ctx.read_memory(pfn << b.PFN_SHIFT, PAGE_SIZE)
        self._poison = request.get("poison_val", 0)

    def on_used_buffer(self, event: Event) -> None:
        if event["role"] != Queue.REPORT:
            return
        self.exercised("balloon.driver.reporting.04")
        if not self.negotiated(POISON) or self.ctx.read_memory is None:
            return
        pattern = self._poison.to_bytes(4, "little") * (PAGE_SIZE // 4)
        for pfn in pages_of((event.data.get("request") or {}).get("ranges", [])):
            now = self.ctx.read_memory(pfn << b.PFN_SHIFT, PAGE_SIZE)
            if now not in (self._snapshots.get(pfn), pattern):
                self.violation(
                    "balloon.device.reporting.02",
                    f"reported PFN {pfn:#x} holds something other than poison_val",
                    event,
                )
                return
        self.exercised("balloon.device.reporting.02")

    def on_request_unanswered(self, event: Event) -> None:
        if event["role"] == Queue.REPORT:
            self.violation(
                "balloon.driver.reporting.04",
                "the device did not acknowledge a report made after DRIVER_OK",
                event,
            )
