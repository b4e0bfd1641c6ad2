"""The reference balloon device: spec-exact by default, adversarial on request.

It is a :class:`~ballast.virtio.device.DeviceBackend`, so it runs behind any transport model
(PCI modern, legacy, transitional; MMIO v1, v2).  Everything it sees the driver do is an
event with observer ``"device"``; its host interface (the equivalent of QEMU's QMP) emits
observer ``"host"`` events.  Permitted (MAY) behaviours that expose fragile drivers are
switched on by :class:`DeviceOptions`; seeded bugs are named faults from
:mod:`ballast.reference.faults`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from ballast.machine.pci import PciOptions
from ballast.monitors.events import EventLog, Kind
from ballast.reference import balloon as b
from ballast.reference.balloon import Numbering, Queue
from ballast.reference.faults import check_faults
from ballast.virtio.device import VirtioDeviceModel
from ballast.virtio.features import Feature, has, mask
from ballast.virtio.memory import PAGE_SIZE, GuestMemory
from ballast.virtio.splitq import DESC_SIZE, Chain, DeviceQueue, QueueError, QueueLayout
from ballast.virtio.status import Status

DEFAULT_FEATURES = mask(
    Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST,
    Feature.VIRTIO_BALLOON_F_STATS_VQ,
    Feature.VIRTIO_BALLOON_F_DEFLATE_ON_OOM,
    Feature.VIRTIO_BALLOON_F_FREE_PAGE_HINT,
    Feature.VIRTIO_BALLOON_F_PAGE_POISON,
    Feature.VIRTIO_BALLOON_F_PAGE_REPORTING,
    Feature.VIRTIO_F_INDIRECT_DESC,
    Feature.VIRTIO_F_EVENT_IDX,
    Feature.VIRTIO_F_VERSION_1,
    Feature.VIRTIO_F_RING_RESET,
)
SCRIBBLE = b"\xa5" * PAGE_SIZE
UNDEFINED_BIT = 6  # no balloon feature uses it (seeded bug offer_undefined_feature)


@dataclass
class DeviceOptions:
    """How the reference device behaves where the spec leaves it a choice."""

    features: int = DEFAULT_FEATURES
    queue_size: int = 256
    numbering: Numbering = Numbering.FIXED
    known_stat_tags: frozenset[int] = frozenset(b.STAT_TAGS)
    reject_without_must_tell_host: bool = False  # MAY fail FEATURES_OK (device.features.01)
    modify_inflated_pages: bool = False  # MAY, device.operation.01/.02
    modify_hinted_pages: bool = False  # MAY, device.hinting.04
    modify_reported_pages: bool = False  # MAY (no PAGE_POISON), device.reporting.01
    poison_reported_pages: bool = False  # allowed with PAGE_POISON: fill with poison_val
    report_descriptor_length: bool = False  # historical legacy devices: used len = buffer len
    # MMIO only, both deliberate misbehaviour to probe a driver: undefined InterruptStatus
    # bits shown with every interrupt, and a slot before the balloon the driver must ignore
    # ("bad-magic", "bad-version" or "no-device")
    mmio_interrupt_noise: int = 0
    mmio_decoy: str | None = None
    spurious_used_notifications: bool = False  # a vring interrupt with each new target
    poll_rings: bool = False  # also serve rings when the machine polls, unnotified
    # used flags, and avail_event (None: it follows the ring) held on every queue
    hold_avail_suppression: tuple[int, int | None] | None = None
    pci: PciOptions = field(default_factory=PciOptions)  # what a PCI function presents
    reset_latency: int = 0  # status reads after a reset that still show it under way
    faults: frozenset[str] = field(default_factory=frozenset)


@dataclass
class HintRound:
    cmd_id: int
    stop_received: bool = False
    pages: set[int] = field(default_factory=set)


class BalloonDevice:
    """Traditional memory balloon device (device ID 5)."""

    device_id = b.DEVICE_ID

    def __init__(
        self, memory: GuestMemory, events: EventLog, options: DeviceOptions | None = None
    ) -> None:
        self.options = options or DeviceOptions()
        check_faults("device", self.options.faults)
        self.faults = self.options.faults
        self.memory = memory
        self.host_mem = memory.view("host")
        self.events = events
        self.model: VirtioDeviceModel
        self._ids = itertools.count(b.CMD_ID_MIN)
        self._negotiations = 0  # FEATURES_OK decisions since power-on (survives resets)
        self._reset_state()

    # -- DeviceBackend ----------------------------------------------------------------------

    def attach(self, model: VirtioDeviceModel) -> None:
        self.model = model

    @property
    def reset_latency(self) -> int:
        return self.options.reset_latency

    def host_features(self) -> int:
        features = self.options.features
        if self._fault("offer_undefined_feature"):
            features |= 1 << UNDEFINED_BIT
        if self._fault("no_version_1"):
            features &= ~mask(Feature.VIRTIO_F_VERSION_1)
        return features

    def queue_max_sizes(self) -> list[int]:
        slots = b.device_queue_count(self.options.numbering, self.options.features)
        return [self.options.queue_size if present else 0 for present in slots]

    def config_size(self) -> int:
        return b.config_size(self.options.features)

    def config_read(self, offset: int, size: int) -> bytes:
        if self._fault("config_unreadable_before_features_ok") and not self._features_ok():
            return bytes(size)
        layout = b"".join(
            v.to_bytes(4, self._config_order())
            for v in (self.num_pages, self.actual, self.cmd_id, self.poison_val)
        )
        return layout[offset : offset + size]

    def config_write(self, offset: int, data: bytes) -> None:
        if (
            self._fault("legacy_config_write_needs_features")
            and self.model.is_legacy
            and not self.model.driver_features
        ):
            return  # seeded bug: an early legacy config write is dropped
        raw = bytearray(self._config_bytes)
        raw[offset : offset + len(data)] = data
        self._config_bytes = bytes(raw)
        touches = range(offset, offset + len(data))
        order = self._config_order()
        if b.ACTUAL + 3 in touches or (
            self._fault("legacy_actual_use_partial")
            and any(b.ACTUAL <= i < b.ACTUAL + 4 for i in touches)
        ):
            self.actual = int.from_bytes(raw[b.ACTUAL : b.ACTUAL + 4], order)
            self._acked_requests = 0
        if any(b.POISON_VAL <= i < b.POISON_VAL + 4 for i in touches):
            self.poison_val = int.from_bytes(raw[b.POISON_VAL : b.POISON_VAL + 4], order)
        if self._fault("consume_before_driver_ok") and not self.model.status & 4:
            self._use_everything()

    def accept_features(self, features: int) -> bool:
        tell = Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST
        self._negotiations += 1
        if self._fault("refuse_renegotiation") and self._negotiations > 1:
            return False
        if self._fault("refuse_partial_features") and features != self.host_features():
            return False
        if self.options.reject_without_must_tell_host and has(self.options.features, tell):
            return has(features, tell)
        return True

    def queue_notify(self, index: int) -> None:
        self._serve(index, notified=True)

    def poll(self) -> None:
        """The machine gives the device time: with ``poll_rings`` it looks at every ring
        for buffers made available without a notification (a device polling its rings)."""
        if self.options.poll_rings and not self.model.status & Status.DEVICE_NEEDS_RESET:
            for index in self._roles():
                self._serve(index, notified=False)

    def _serve(self, index: int, notified: bool) -> None:
        role = self._roles().get(index)
        # DRIVER_OK, or a legacy driver, which may use the device before it
        # (seeded bug legacy_wait_for_driver_ok waits for DRIVER_OK there too)
        early = self.model.is_legacy and not self._fault("legacy_wait_for_driver_ok")
        if role is None or not (self.model.status & 4 or early) or self._stopped:
            return
        try:
            queue = self._queue(index)  # a misaligned ring part raises here
            if queue is None:
                return
            if self._fault("split_spurious_notify_breaks") and not queue.avail_pending():
                self.model.set_needs_reset()  # fault: a notification with nothing new
                return
            self._window(index, queue, notified)
            while (chain := queue.pop()) is not None:
                self._handle(role, index, queue, chain)
            hold = self.options.hold_avail_suppression
            if hold is not None and not queue.held:
                queue.hold_suppression(*hold)  # from the first service on
        except QueueError as exc:
            self.events.emit(
                "device", Kind.RING_ERROR, queue=index, rule=str(exc.rule), detail=exc.detail
            )
            if self._fault("error_without_needs_reset"):
                self._stopped = True  # seeded bug: stuck, and nothing tells the driver
            else:
                self.model.set_needs_reset()

    def _window(self, index: int, queue: DeviceQueue, notified: bool) -> None:
        """Report how the avail idx moved since the device last served the queue, with the
        suppression fields the driver had to go by."""
        new, old = queue.avail_idx(), queue.last_avail_idx
        if new != old:
            self.events.emit(
                "device",
                Kind.AVAIL_WINDOW,
                queue=index,
                old=old,
                new=new,
                notified=notified,
                flags=queue.used_flags(),
                avail_event=queue.avail_event,
            )

    def driver_ok(self) -> None:
        self.events.emit(
            "device",
            Kind.DRIVER_OK_SEEN,
            negotiated=self.model.negotiated,
            legacy=self.model.is_legacy,
        )

    def reset(self) -> None:
        self._check_exposed("reset")
        held = self._stats_held
        self._reset_state()
        if self._fault("use_after_reset"):
            self._stats_held = held  # seeded bug: still answers the old stats buffer

    # -- host interface (what QMP is to QEMU) -----------------------------------------------

    def set_target(self, num_pages: int) -> None:
        self.events.emit("host", Kind.HOST_ACTION, action="set_target", num_pages=num_pages)
        self.num_pages = num_pages
        self._target_set = True
        self.model.config_changed()
        if self.options.spurious_used_notifications:
            self.model.raise_vring_interrupt(0)  # with the config change, as QEMU does
            self.events.emit("device", Kind.NOTIFY_SENT, queue=None, spurious=True)

    def request_stats(self) -> bool:
        """Return the held stats buffer so the driver refills it; False if none is held."""
        self.events.emit("host", Kind.HOST_ACTION, action="request_stats")
        self._drop_stale_stats()
        if self._stats_held is None:
            return False
        self._check_exposed("use")
        index, queue, chain = self._stats_held
        self._stats_held = None
        self._use(index, queue, chain, 0, Queue.STATS)
        return True

    def enter_error_state(self) -> None:
        """The device fails (as after an internal error): it stops serving its queues and
        asks for a reset (DEVICE_NEEDS_RESET and a configuration change notification)."""
        self.events.emit("host", Kind.HOST_ACTION, action="enter_error_state")
        self._stopped = True
        self.model.set_needs_reset()

    def read_stats(self) -> dict[int, int]:
        stats = dict(self._stats)
        self.events.emit("host", Kind.HOST_ACTION, action="read_stats", stats=stats)
        return stats

    def read_actual(self) -> int:
        self.events.emit("host", Kind.HOST_ACTION, action="read_actual", actual=self.actual)
        return self.actual

    def start_hinting(self) -> int:
        """Begin a free page hinting round with a fresh command ID."""
        previous = self._round
        reuse = self._fault("hint_reuse_cmd_id") and previous is not None
        cmd_id = previous.cmd_id if reuse and previous else next(self._ids)
        self._round = HintRound(cmd_id)
        self._set_cmd_id(cmd_id, "start_hinting")
        return cmd_id

    def stop_hinting(self) -> None:
        """The host cannot use hints any more (e.g. migration paused): STOP."""
        if self._fault("hint_never_stop"):
            self.events.emit("host", Kind.HOST_ACTION, action="stop_hinting", cmd_id=self.cmd_id)
            return
        self._set_cmd_id(b.CMD_ID_STOP, "stop_hinting")

    def finish_hinting(self) -> None:
        """The host no longer needs the hinted pages: DONE."""
        value = b.CMD_ID_STOP if self._fault("hint_never_done") else b.CMD_ID_DONE
        self._set_cmd_id(value, "finish_hinting")
        if self._fault("hint_modify_after_done"):
            for round_ in self._rounds:
                for pfn in sorted(round_.pages)[:1]:
                    self.host_mem.write(pfn << b.PFN_SHIFT, SCRIBBLE)

    def hinted_pages(self) -> set[int]:
        """Pages the device took as hints (host interface read-back)."""
        pages = set().union(*(r.pages for r in self._rounds)) if self._rounds else set()
        self.events.emit("host", Kind.HOST_ACTION, action="read_hinted", pfns=sorted(pages))
        return pages

    @property
    def balloon_pages(self) -> set[int]:
        return set(self._balloon)

    @property
    def reported_ranges(self) -> list[tuple[int, int]]:
        return list(self._reported)

    # -- internals --------------------------------------------------------------------------

    def _reset_state(self) -> None:
        self.num_pages = 0
        self._target_set = False
        self.actual = 0
        self.cmd_id = b.CMD_ID_STOP
        self.poison_val = 0
        self._config_bytes = bytes(16)
        self._queues: dict[int, tuple[int, DeviceQueue]] = {}
        self._roles_for: int | None = None
        self._roles_cache: dict[int, Queue] = {}
        self._balloon: set[int] = set()
        self._acked_requests = 0
        self._stats: dict[int, int] = {}
        self._stats_held: tuple[int, DeviceQueue, Chain] | None = None
        self._stats_buffers = 0
        self._round: HintRound | None = None
        self._rounds: list[HintRound] = []
        self._hint_cmd_seen: int | None = None
        self._reported: list[tuple[int, int]] = []
        self._stopped = False

    def _fault(self, name: str) -> bool:
        return name in self.options.faults

    def _features_ok(self) -> bool:
        return self.model.is_legacy or bool(self.model.status & 8)

    def _drop_stale_stats(self) -> None:
        """A held stats buffer whose queue was reset since went with the reset."""
        if self._stats_held is not None and not self._holds_live(*self._stats_held[:2]):
            self._stats_held = None

    def _holds_live(self, index: int, queue: DeviceQueue) -> bool:
        """Whether ``queue`` is still the live ring of queue ``index`` (no queue reset
        since it was taken; seeded bug serve_after_queue_reset ignores resets)."""
        config = self.model.queue(index)
        cached = self._queues.get(index)
        current = cached is not None and cached[1] is queue and cached[0] == config.epoch
        stale_ok = self._fault("serve_after_queue_reset") or self._fault("use_after_reset")
        return (config.enabled and current) or stale_ok

    def _check_exposed(self, at: str) -> None:
        """Is the held stats buffer still described as it was when the driver exposed it?
        (Checked when it is used, and when a reset takes it back.)"""
        if self._stats_held is None:
            return
        index, queue, chain = self._stats_held
        try:
            again = queue.chain(chain.head)
            intact = (again.out, again.in_) == (chain.out, chain.in_)
        except QueueError:
            intact = False
        self.events.emit(
            "device",
            Kind.EXPOSED_BUFFER_CHECKED,
            queue=index,
            head=chain.head,
            intact=intact,
            at=at,
        )

    def _use_everything(self) -> None:
        """Seeded bug consume_before_driver_ok: every available buffer used at once."""
        for index, role in self._roles().items():
            queue = self._queue(index)
            while queue is not None and (chain := queue.pop()) is not None:
                self._use(index, queue, chain, 0, role)

    def _config_order(self) -> str:
        # The balloon's config is little-endian even on legacy links (balloon.*.legacy.*).
        if self._fault("legacy_config_native_endian") and self._legacy_big_endian():
            return "big"
        return "little"

    def _legacy_big_endian(self) -> bool:
        return self.model.is_legacy and self.model.endian == "big"

    def _data_big_endian(self) -> bool:
        """PFN arrays, stats and command IDs are guest-native on legacy links."""
        return self._legacy_big_endian()

    def _roles(self) -> dict[int, Queue]:
        """Queue index -> role under the configured numbering (cached per feature set)."""
        negotiated = self.model.negotiated
        if self._roles_for != negotiated:
            indices = b.queue_indices(self.options.numbering, self.options.features, negotiated)
            self._roles_cache = {index: role for role, index in indices.items()}
            self._roles_for = negotiated
        return self._roles_cache

    def _queue(self, index: int) -> DeviceQueue | None:
        config = self.model.queue(index)
        if not config.enabled:
            return None
        cached = self._queues.get(index)
        if cached and (cached[0] == config.epoch or self._fault("queue_reset_keeps_ring")):
            return cached[1]  # fault: the ring of the queue's first life, after a reset too
        negotiated = self.model.negotiated
        event_idx = has(negotiated, Feature.VIRTIO_F_EVENT_IDX)
        queue = DeviceQueue(
            self.host_mem,
            config.max_size if self._fault("ignore_new_queue_size") else config.size,
            QueueLayout(config.desc, config.avail, config.used, 0),
            event_idx=event_idx,
            indirect=has(negotiated, Feature.VIRTIO_F_INDIRECT_DESC),
            big_endian=self._data_big_endian(),
            faults=self.faults,
        )
        if cached and self._fault("keep_ring_state_across_queue_reset"):
            queue.last_avail_idx = queue._avail_shadow = cached[1].last_avail_idx
            queue.used_idx = cached[1].used_idx  # seeded bug: indices of the previous life
        self._queues[index] = (config.epoch, queue)
        self.events.emit("device", Kind.USED_RING_SEEN, queue=index, flags=queue.used_flags())
        if self._fault("split_used_flags_invalid") and not event_idx:
            queue.write_used_flags(2)  # fault: a bit the spec does not define
        if self._fault("split_used_flags_with_event_idx") and event_idx:
            queue.write_used_flags(1)  # fault: VIRTQ_USED_F_NO_NOTIFY despite EVENT_IDX
        return queue

    def _use(
        self,
        index: int,
        queue: DeviceQueue,
        chain: Chain,
        written: int,
        role: Queue,
        discard: list[int] | None = None,
    ) -> None:
        """Acknowledge a buffer (now, or when the machine releases held completions);
        ``discard`` pages are reclaimed as the acknowledgement goes out (seeded bugs)."""

        def complete() -> None:
            for pfn in discard or ():
                self.memory.discard(pfn)
            self._scribble_on_ring(queue, chain)
            queue.push(chain.head, written)
            self.events.emit(
                "device",
                Kind.BUFFER_USED,
                queue=index,
                role=str(role),
                head=chain.head,
                written=written,
            )
            if queue.needs_interrupt() and not self._fault("skip_used_interrupt"):
                self.model.raise_vring_interrupt(index)

        self.model.complete(complete)

    def _scribble_on_ring(self, queue: DeviceQueue, chain: Chain) -> None:
        """Seeded bugs: write where the device may only read, as the buffer goes back."""
        if self._fault("split_write_readable") and chain.out:
            addr = chain.out[0][0]
            self.host_mem.write(addr, bytes([self.host_mem.read(addr, 1)[0] ^ 0xFF]))
        if self._fault("split_write_descriptor"):
            self.host_mem.write(queue.layout.desc + DESC_SIZE * chain.head + 8, bytes(4))

    def _read_out(self, chain: Chain) -> bytes:
        return b"".join(self.host_mem.read(addr, length) for addr, length in chain.out)

    def _handle(self, role: Queue, index: int, queue: DeviceQueue, chain: Chain) -> None:
        flags, used_event = queue.avail_suppression()
        self.events.emit(
            "device",
            Kind.AVAIL_BUFFER,
            queue=index,
            role=str(role),
            head=chain.head,
            out=list(chain.out),
            in_=list(chain.in_),
            indirect=chain.indirect,
            avail_flags=flags,
            used_event=used_event,
        )
        handler = {
            Queue.INFLATE: self._inflate,
            Queue.DEFLATE: self._deflate,
            Queue.STATS: self._stats_buffer,
            Queue.HINT: self._hint,
            Queue.REPORT: self._report,
        }[role]
        handler(index, queue, chain)

    def _inflate(self, index: int, queue: DeviceQueue, chain: Chain) -> None:
        pfns = b.decode_pfns(self._read_out(chain), self._data_big_endian())
        self.events.emit(
            "device",
            Kind.BALLOON_INFLATE,
            head=chain.head,
            pfns=pfns,
            length=sum(n for _, n in chain.out),
        )
        beyond_target = len(self._balloon) >= self.num_pages
        if (self._fault("reject_excess_inflate") and beyond_target) or (
            self._fault("expects_actual_per_request") and self._actual_stale()
        ):
            return  # never acknowledged
        self._balloon.update(pfns)
        if self.options.modify_inflated_pages:
            for pfn in pfns:
                self.host_mem.write(pfn << b.PFN_SHIFT, SCRIBBLE)
        self._acked_requests += 1
        self._use(index, queue, chain, self._used_len(chain), Queue.INFLATE)

    def _used_len(self, chain: Chain) -> int:
        """0 (nothing written), or the whole buffer as some historical devices reported."""
        if self.options.report_descriptor_length and self.model.is_legacy:
            return sum(n for _, n in chain.out)
        return 0

    def _actual_stale(self) -> bool:
        """An acknowledged request since actual last changed (expects_actual_per_request)."""
        return self._acked_requests > 0 and self.actual != len(self._balloon)

    def _deflate(self, index: int, queue: DeviceQueue, chain: Chain) -> None:
        pfns = b.decode_pfns(self._read_out(chain), self._data_big_endian())
        self.events.emit(
            "device",
            Kind.BALLOON_DEFLATE,
            head=chain.head,
            pfns=pfns,
            length=sum(n for _, n in chain.out),
        )
        after = len(self._balloon) - len(self._balloon.intersection(pfns))
        tell = has(self.model.negotiated, Feature.VIRTIO_BALLOON_F_MUST_TELL_HOST)
        refused = (
            (self._fault("legacy_reject_without_tell_host") and self.model.is_legacy and not tell)
            or (self._fault("refuse_deflate") and self.num_pages < len(self._balloon))
            or (self._fault("refuse_oom_deflate") and after < self.num_pages)
            or (self._fault("expects_actual_per_request") and self._actual_stale())
        )
        if refused:
            return  # never acknowledged: the driver waits in vain
        discards = self._fault("deflate_discards_pages") or (
            self._fault("legacy_discard_on_deflate") and self.model.is_legacy and not tell
        )
        self._balloon.difference_update(pfns)
        self._acked_requests += 1
        self._use(
            index,
            queue,
            chain,
            self._used_len(chain),
            Queue.DEFLATE,
            discard=pfns if discards else None,
        )

    def _stats_buffer(self, index: int, queue: DeviceQueue, chain: Chain) -> None:
        data = self._read_out(chain)
        self._drop_stale_stats()
        held_before = self._stats_held is not None
        entries = b.decode_stats(data, self._stats_big_endian())
        self._stats_buffers += 1
        self.events.emit(
            "device",
            Kind.STATS_BUFFER,
            head=chain.head,
            length=len(data),
            entries=entries,
            held_before=held_before,
            number=self._stats_buffers,
        )
        first_legacy = self._stats_buffers == 1 and self.model.is_legacy
        tags = [tag for tag, _ in entries]
        dropped = (self._fault("stats_require_all_tags") and set(b.STAT_TAGS) - set(tags)) or (
            self._fault("stats_drop_unordered") and tags != sorted(tags)
        )
        if (not first_legacy or self._fault("legacy_use_first_stats")) and not dropped:
            self._stats.update(self._accepted_stats(entries))
        if held_before and self._stats_held is not None:
            # a second buffer while one is held: give back the older one
            old_index, old_queue, old_chain = self._stats_held
            self._use(old_index, old_queue, old_chain, 0, Queue.STATS)
        self._stats_held = (index, queue, chain)

    def _stats_big_endian(self) -> bool:
        big = self._data_big_endian()
        return not big if self._fault("legacy_stats_wrong_endian") and big else big

    def _accepted_stats(self, entries: list[tuple[int, int]]) -> dict[int, int]:
        accepted: dict[int, int] = {}
        last_tag = -1
        for tag, value in entries:
            if tag not in self.options.known_stat_tags:
                if self._fault("stats_stop_at_unknown_tag"):
                    break
                continue
            if self._fault("stats_require_tag_order") and tag < last_tag:
                continue
            last_tag = tag
            accepted[tag] = value
        return accepted

    def _hint(self, index: int, queue: DeviceQueue, chain: Chain) -> None:
        discard: list[int] | None = None
        if chain.out and not chain.in_:
            data = self._read_out(chain)
            big = self._data_big_endian()
            if self._fault("legacy_cmd_id_wrong_endian") and self.model.is_legacy:
                big = not big
            value = b.decode_u32(data, big) if len(data) >= 4 else None
            self.events.emit(
                "device",
                Kind.HINT_COMMAND,
                head=chain.head,
                length=len(data),
                cmd_id=value,
                current=self.cmd_id,
            )
            if value == b.CMD_ID_STOP and self._round is not None:
                self._round.stop_received = True
            self._hint_cmd_seen = value
        else:
            pfns = sorted(
                {
                    (addr + off) >> b.PFN_SHIFT
                    for addr, length in chain.in_
                    for off in range(0, length, PAGE_SIZE)
                }
            )
            matches = (
                self._round is not None
                and self._hint_cmd_seen == self.cmd_id
                and self.cmd_id >= b.CMD_ID_MIN
            )
            self.events.emit(
                "device",
                Kind.HINT_PAGES,
                head=chain.head,
                pfns=pfns,
                cmd_id=self._hint_cmd_seen,
                current=self.cmd_id,
                matches=matches,
            )
            if self._round is not None and (matches or self._fault("hint_accept_stale_pages")):
                if self._round not in self._rounds:
                    self._rounds.append(self._round)
                self._round.pages.update(pfns)
                if self.options.modify_hinted_pages or (
                    not matches and self._fault("hint_accept_stale_pages")
                ):
                    for pfn in pfns:
                        self.host_mem.write(pfn << b.PFN_SHIFT, SCRIBBLE)
            if self._fault("hint_discard_after_release"):
                discard = pfns  # reclaimed at the ack, whatever the guest wrote meanwhile
        self._use(index, queue, chain, 0, Queue.HINT, discard=discard)

    def _report(self, index: int, queue: DeviceQueue, chain: Chain) -> None:
        ranges = list(chain.in_)
        self.events.emit("device", Kind.REPORT_BUFFER, head=chain.head, ranges=ranges)
        if self._fault("report_only_after_target") and not self._target_set:
            return  # never acknowledged
        self._reported.extend(ranges)
        poison = has(self.model.negotiated, Feature.VIRTIO_BALLOON_F_PAGE_POISON)
        fill = None
        if poison and self._fault("report_scribble_with_poison"):
            fill = SCRIBBLE
        elif poison and self.options.poison_reported_pages:
            fill = self.poison_val.to_bytes(4, "little") * (PAGE_SIZE // 4)
        elif not poison and self.options.modify_reported_pages:
            fill = SCRIBBLE
        if fill is not None:
            for addr, length in ranges:
                for off in range(0, length, PAGE_SIZE):
                    self.host_mem.write(addr + off, fill[: min(PAGE_SIZE, length - off)])
        self._use(index, queue, chain, 0, Queue.REPORT)

    def _set_cmd_id(self, value: int, action: str) -> None:
        self.events.emit("host", Kind.HOST_ACTION, action=action, cmd_id=value)
        self.cmd_id = value
        self.model.config_changed()
