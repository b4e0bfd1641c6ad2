"""Monitors of the balloon chapter's feature-bit and "Legacy Interface" clauses."""

from __future__ import annotations

from ballast.monitors.base import Monitor
from ballast.monitors.events import Event
from ballast.reference import balloon as b
from ballast.reference.balloon import Queue
from ballast.virtio.features import Feature, has
from ballast.virtio.status import Status

TELL = Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST


def bswap32(value: int) -> int:
    return int.from_bytes(value.to_bytes(4, "little"), "big")


class DriverFeaturesMonitor(Monitor):
    """The driver's choice of balloon features, and its handling of a refused FEATURES_OK
    (which the device MAY do when MUST_TELL_HOST is declined)."""

    judges = "driver"
    clauses = ("balloon.driver.features.01", "balloon.device.features.01")

    def reset_state(self) -> None:
        super().reset_state()
        self._offered = 0
        self._refused: Event | None = None

    def on_features_read(self, event: Event) -> None:
        if event["select"] == 0:
            self._offered = event["value"]

    def on_features_ok_decided(self, event: Event) -> None:
        if not event["accepted"]:
            self._refused = event
            return
        self._judge_tell_host(event["features"], event)

    def on_driver_ok_seen(self, event: Event) -> None:
        if self._refused is not None:
            self.violation(
                "balloon.device.features.01",
                "DRIVER_OK set after the device refused FEATURES_OK, without a reset",
                self._refused,
                event,
            )
        if event["legacy"]:
            self._judge_tell_host(event["negotiated"], event)

    def on_status_written(self, event: Event) -> None:
        if self._refused is not None and (event["value"] == 0 or event["value"] & Status.FAILED):
            self._refused = None
            self.exercised("balloon.device.features.01")

    def _judge_tell_host(self, features: int, event: Event) -> None:
        if not has(self._offered, TELL):
            self.not_applicable("balloon.driver.features.01", "MUST_TELL_HOST not offered")
        elif not has(features, TELL):
            self.violation(
                "balloon.driver.features.01", "MUST_TELL_HOST offered but not accepted", event
            )
        else:
            self.exercised("balloon.driver.features.01")


class DriverLegacyMonitor(Monitor):
    """Legacy-interface rules for the driver: config is little-endian, actual is written in
    one 4-byte access, used lengths are ignored, stats and command IDs are guest-endian."""

    judges = "driver"
    clauses = (
        "balloon.driver.legacy.01",
        "balloon.driver.legacy.02",
        "balloon.driver.legacy.03",
        "balloon.driver.legacy.04",
        "balloon.driver.legacy.05",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._legacy = False
        self._num_pages = 0
        self._requests: dict[int, list[int]] = {}  # inflate head -> pfns
        self._acked_nonzero: set[int] = set()
        self._balloon: set[int] = set()  # PFNs in inflate requests, less deflated ones
        self._current_cmd = b.CMD_ID_STOP
        self._actual: int | None = None  # the last whole actual written, as the device read it

    def on_driver_ok_seen(self, event: Event) -> None:
        self._legacy = event["legacy"]
        if not self._legacy:
            for clause in self.clauses:
                self.not_applicable(clause, "the link uses the modern interface")

    def on_config_written(self, event: Event) -> None:
        if not self._legacy or not b.ACTUAL <= event["offset"] < b.ACTUAL + 4:
            return
        if event["offset"] != b.ACTUAL or event["size"] != 4:
            self.violation(
                "balloon.driver.legacy.03",
                f"actual written with a {event['size']}-byte access at offset {event['offset']}",
                event,
            )
        else:
            self.exercised("balloon.driver.legacy.03")
            self._actual = event["value"]

    def on_host_action(self, event: Event) -> None:
        if event["action"] == "set_target":
            self._num_pages = event["num_pages"]
        elif event["action"] in ("start_hinting", "stop_hinting", "finish_hinting"):
            self._current_cmd = event["cmd_id"]

    def on_balloon_inflate(self, event: Event) -> None:
        if not self._legacy:
            return
        repeated = [p for p in event["pfns"] if p in self._acked_nonzero]
        if repeated:
            self.violation(
                "balloon.driver.legacy.02",
                f"PFN {repeated[0]:#x} resubmitted after an acknowledgement with a "
                "non-zero used length",
                event,
            )
        elif self._acked_nonzero:
            self.exercised("balloon.driver.legacy.02")
        self._requests[event["head"]] = event["pfns"]
        self._balloon.update(event["pfns"])

    def on_balloon_deflate(self, event: Event) -> None:
        self._balloon.difference_update(event["pfns"])

    def on_buffer_used(self, event: Event) -> None:
        pfns = self._requests.pop(event["head"], []) if event["role"] == Queue.INFLATE else []
        if event["written"]:
            self._acked_nonzero.update(pfns)

    def on_stats_buffer(self, event: Event) -> None:
        if not self._legacy or event["number"] == 1:
            return  # the first legacy buffer may be uninitialized
        tags = [t for t, _ in event["entries"]]
        swapped = sum(
            1 for t in tags if t > 0xFF and int.from_bytes(t.to_bytes(2, "little"), "big") < 0x100
        )
        if tags and swapped * 2 > len(tags):
            self.violation(
                "balloon.driver.legacy.04",
                f"stats tags {tags[:4]} read in guest order are byte-swapped: written "
                "little-endian",
                event,
            )
        elif tags:
            self.exercised("balloon.driver.legacy.04")

    def on_hint_command(self, event: Event) -> None:
        if not self._legacy or event["cmd_id"] is None:
            return
        value = event["cmd_id"]
        if value != self._current_cmd and bswap32(value) == self._current_cmd and value:
            self.violation(
                "balloon.driver.legacy.05",
                f"command ID {value:#x} is the byte-swapped current ID {self._current_cmd}",
                event,
            )
        elif value == self._current_cmd:
            self.exercised("balloon.driver.legacy.05")

    def finish(self) -> None:
        if not self._legacy or not self._num_pages:
            return
        swapped = bswap32(self._num_pages)
        size = len(self._balloon)
        # Over-inflated, and by the driver's own reckoning (the actual it reports): a driver
        # that lost track of pages it reused would over-inflate too, but report fewer.
        if size > self._num_pages and swapped >= size and self._actual == size:
            self.violation(
                "balloon.driver.legacy.01",
                f"the driver inflated {size} pages for num_pages "
                f"{self._num_pages}: it read the field byte-swapped ({swapped})",
                {"num_pages": self._num_pages, "inflated": size},
            )
        else:
            self.exercised("balloon.driver.legacy.01")


class DeviceLegacyMonitor(Monitor):
    """Legacy-interface rules for the device, from what the driver and host see."""

    judges = "device"
    clauses = (
        "balloon.device.legacy.01",
        "balloon.device.legacy.02",
        "balloon.device.legacy.03",
        "balloon.device.legacy.04",
        "balloon.device.legacy.05",
        "balloon.device.legacy.06",
        "balloon.device.legacy.07",
    )

    def reset_state(self) -> None:
        super().reset_state()
        self._legacy = False
        self._features = 0
        self._target: int | None = None
        self._submissions: list[list[tuple[int, int]]] = []
        self._actual_partial = False
        self._actual_complete = 0  # the last value the driver finished writing
        self._actual_target = 0
        self._hinted: set[int] = set()

    def on_driver_negotiated(self, event: Event) -> None:
        self._legacy = event["legacy"]
        self._features = event["features"]
        if not self._legacy:
            for clause in self.clauses:
                self.not_applicable(clause, "the link uses the modern interface")

    def on_host_action(self, event: Event) -> None:
        action = event["action"]
        if action == "set_target":
            self._target = event["num_pages"]
        elif action == "read_actual" and self._legacy and self._actual_partial:
            if event["actual"] != self._actual_complete:
                self.violation(
                    "balloon.device.legacy.04",
                    f"the device reports actual {event['actual']:#x} while the driver "
                    f"has written only part of {self._actual_target:#x}",
                    event,
                )
            else:
                self.exercised("balloon.device.legacy.04")
        elif action == "read_stats" and self._legacy and self._submissions:
            self._judge_stats(event)
        elif action == "read_hinted" and self._legacy and self._hinted:
            if self._hinted <= set(event["pfns"]):
                self.exercised("balloon.device.legacy.07")
            else:
                self.violation(
                    "balloon.device.legacy.07",
                    "pages hinted under the current command ID were ignored: the "
                    "device read the command ID in the wrong byte order",
                    event,
                )

    def on_actual_written(self, event: Event) -> None:
        self._actual_partial = not event.data.get("complete", True)
        self._actual_target = event["value"]
        if not self._actual_partial:
            self._actual_complete = event["value"]

    def on_config_seen(self, event: Event) -> None:
        if event["field"] != "num_pages" or not self._legacy or self._target is None:
            return
        if event["value"] != self._target and event["value"] == bswap32(self._target):
            self.violation(
                "balloon.device.legacy.03",
                f"num_pages reads {event['value']:#x}, the byte-swapped target "
                f"{self._target:#x}: config not little-endian",
                event,
            )
        elif event["value"] == self._target:
            self.exercised("balloon.device.legacy.03")

    def on_statsq_submitted(self, event: Event) -> None:
        self._submissions.append(event["request"]["entries"])

    def _judge_stats(self, event: Event) -> None:
        reported: dict[int, int] = event["stats"]
        first = dict(self._submissions[0])
        if len(self._submissions) == 1:
            leaked = {t: v for t, v in reported.items() if first.get(t) == v and v}
            if leaked:
                self.violation(
                    "balloon.device.legacy.06",
                    f"values of the first stats buffer were used: {leaked}",
                    event,
                )
            else:
                self.exercised("balloon.device.legacy.06")
            return
        latest = dict(self._submissions[-1])
        lost = {t: v for t, v in latest.items() if t in b.STAT_TAGS and reported.get(t) != v}
        if lost:
            self.violation(
                "balloon.device.legacy.05",
                f"stats the driver sent in guest byte order were not taken: {lost}",
                event,
            )
        elif latest:
            self.exercised("balloon.device.legacy.05")

    def on_request_unanswered(self, event: Event) -> None:
        if self._legacy and not has(self._features, TELL):
            self.violation(
                "balloon.device.legacy.01",
                f"the device did not acknowledge a {event['role']} request from a "
                "driver that did not negotiate MUST_TELL_HOST",
                event,
            )

    def on_used_buffer(self, event: Event) -> None:
        if not self._legacy:
            return
        if not has(self._features, TELL) and event["role"] == Queue.DEFLATE:
            self.exercised("balloon.device.legacy.01")
            self.exercised("balloon.device.legacy.02")

    def on_free_page_vq_submitted(self, event: Event) -> None:
        self._hinted.update(event["request"].get("pfns", []))

    def on_guest_data_corrupted(self, event: Event) -> None:
        if self._legacy and not has(self._features, TELL):
            self.violation(
                "balloon.device.legacy.02",
                f"the guest reused PFN {event['pfn']:#x} before the deflate ack and "
                "its data was lost",
                event,
            )
