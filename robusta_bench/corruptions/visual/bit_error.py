"""Bit error: random byte errors in the compressed VIDEO packets (Yi et al. 2021).

The reference runs FFmpeg's ``noise`` bitstream filter (``-bsf noise=N``, about
one damaged byte in N). That filter is not seedable (its damage is a function of
the packet bytes) and, applied without ``:v``, it also damaged the audio. Here
the damage is an equivalent, seeded byte-level corruption of the video packets:

- every byte of the video payload is hit with probability ``1 / N``
  (``N = bytes_per_error`` = 100000, 50000, 30000, 20000, 10000); a hit XORs
  the byte with a random non-zero value, so a hit always changes the byte
  (FFmpeg overwrites the byte with its filter state, which can leave it equal);
- the stream's framing is spared so the result still decodes with errors
  concealed, like a damaged broadcast: in H.264/HEVC the NAL length prefixes
  (or start codes), the non-VCL units (SPS/PPS/SEI ...) and the first
  :data:`SPARE_BYTES` bytes of every slice NAL unit (NAL header and the start
  of the slice header) are never hit; for other codecs the first
  :data:`SPARE_BYTES` bytes of each packet are spared. The hit probability of
  the remaining bytes of a packet is raised so that the expected number of
  hits per packet is still ``packet size / N``;
- packet ``k`` of the video stream draws from a generator seeded by
  (item seed, k): the damage does not depend on processing order;
- audio packets, timestamps and container metadata are untouched.

Two entry points: :func:`corrupt_file` writes a damaged copy (remux, audio
bit-exact) and :func:`iter_damaged_frames` decodes the damaged stream in
memory for the feature extraction pipeline; both damage identically.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ...media.decode import MediaError, _resampled, chunked
from ...seeding import rng_for
from ..base import CORRUPTIONS, Corruption

log = logging.getLogger(__name__)

#: bytes at the start of every slice NAL unit (or packet) that are never damaged
SPARE_BYTES = 16

_H264_VCL = frozenset(range(1, 6))
_HEVC_VCL = frozenset(range(0, 32))


class PacketLevelError(RuntimeError):
    """Raised when a packet-level corruption is asked to work on decoded frames."""


@dataclass
class BitErrorStats:
    """Counters of one damaged stream."""

    packets: int = 0
    payload_bytes: int = 0
    eligible_bytes: int = 0
    bytes_changed: int = 0
    frames: int = 0
    decode_errors: int = 0
    filled_frames: int = 0


@dataclass(frozen=True)
class StreamLayout:
    """How a video stream's packets are framed (decides which bytes are spared)."""

    codec: str
    nal_length_size: int | None = None  # AVCC/HVCC length-prefixed NAL units
    annexb: bool = False  # start-code delimited NAL units

    @property
    def vcl_types(self) -> frozenset[int] | None:
        if self.codec == "h264":
            return _H264_VCL
        if self.codec == "hevc":
            return _HEVC_VCL
        return None


def stream_layout(stream) -> StreamLayout:
    """The :class:`StreamLayout` of a PyAV video stream (from its codec name and extradata)."""
    codec = stream.codec_context.name or ""
    extra = bytes(stream.codec_context.extradata or b"")
    if codec == "h264":
        if len(extra) >= 7 and extra[0] == 1:
            return StreamLayout(codec, nal_length_size=(extra[4] & 3) + 1)
        return StreamLayout(codec, annexb=True)
    if codec == "hevc":
        if len(extra) >= 23 and extra[0] == 1:
            return StreamLayout(codec, nal_length_size=(extra[21] & 3) + 1)
        return StreamLayout(codec, annexb=True)
    return StreamLayout(codec)


def _nal_type(codec: str, first_byte: int) -> int:
    return first_byte & 0x1F if codec == "h264" else (first_byte >> 1) & 0x3F


def eligible_ranges(data: bytes, layout: StreamLayout) -> list[tuple[int, int]]:
    """Byte ranges ``[lo, hi)`` of one packet that may be damaged (see the module docstring)."""
    n = len(data)
    vcl = layout.vcl_types
    units: list[tuple[int, int]] = []  # (payload start, end) of each NAL unit
    if vcl is not None and layout.nal_length_size:
        size_len = layout.nal_length_size
        i = 0
        while i + size_len < n:
            size = int.from_bytes(data[i : i + size_len], "big")
            start, end = i + size_len, i + size_len + size
            if size == 0 or end > n:
                break
            units.append((start, end))
            i = end
    elif vcl is not None and layout.annexb:
        starts = []
        i = data.find(b"\x00\x00\x01")
        while i >= 0:
            starts.append(i + 3)
            i = data.find(b"\x00\x00\x01", i + 3)
        for k, s in enumerate(starts):
            e = starts[k + 1] - 3 if k + 1 < len(starts) else n
            if e > s:
                units.append((s, e))
    if vcl is None or not units:
        return [(SPARE_BYTES, n)] if n > SPARE_BYTES else []
    ranges = []
    for start, end in units:
        if _nal_type(layout.codec, data[start]) in vcl and start + SPARE_BYTES < end:
            ranges.append((start + SPARE_BYTES, end))
    return ranges


def damage_packet(
    data: bytes, bytes_per_error: int, rng: np.random.Generator, ranges: list[tuple[int, int]]
) -> tuple[bytes, int]:
    """Damage ``data`` inside ``ranges``: ``len(data) / bytes_per_error`` XOR hits expected.

    Returns the new bytes (same length) and the number of bytes changed.
    """
    eligible = sum(hi - lo for lo, hi in ranges)
    if eligible <= 0 or not data:
        return data, 0
    p = min(1.0, len(data) / (float(bytes_per_error) * eligible))
    k = int(rng.binomial(eligible, p))
    if k == 0:
        return data, 0
    offsets = np.sort(rng.choice(eligible, size=k, replace=False))
    values = rng.integers(1, 256, size=k, dtype=np.uint8)
    lows = np.array([lo for lo, _ in ranges], dtype=np.int64)
    cum = np.cumsum([0] + [hi - lo for lo, hi in ranges])
    which = np.searchsorted(cum, offsets, side="right") - 1
    positions = lows[which] + (offsets - cum[which])
    arr = np.frombuffer(data, dtype=np.uint8).copy()
    arr[positions] ^= values
    return arr.tobytes(), k


class PacketDamager:
    """Callable ``(packet bytes, packet index) -> damaged bytes`` for one video; counts in :attr:`stats`."""

    def __init__(self, layout: StreamLayout, bytes_per_error: int, seed: int, stats: BitErrorStats | None = None):
        self.layout = layout
        self.bytes_per_error = int(bytes_per_error)
        self.seed = int(seed)
        self.stats = stats if stats is not None else BitErrorStats()

    def __call__(self, data: bytes, index: int) -> bytes:
        ranges = eligible_ranges(data, self.layout)
        rng = rng_for(self.seed, "bit_error-packet", int(index))
        out, changed = damage_packet(data, self.bytes_per_error, rng, ranges)
        self.stats.packets += 1
        self.stats.payload_bytes += len(data)
        self.stats.eligible_bytes += sum(hi - lo for lo, hi in ranges)
        self.stats.bytes_changed += changed
        return out


def _bytes_per_error(severity: int) -> int:
    return int(BitError.params(severity)["bytes_per_error"])


def corrupt_file(src: str | Path, dst: str | Path, severity: int, seed: int) -> BitErrorStats:
    """Write ``dst``: ``src`` with damaged video packets and bit-identical audio (no re-encoding).

    ``seed`` is the item seed, ``corruption_seed(video_name, "bit_error", severity, user_seed)``.
    Written atomically. Returns the damage counters.
    """
    import av

    from ...media.video_out import remux

    src = Path(src)
    n = _bytes_per_error(severity)
    try:
        with av.open(str(src)) as probe:
            if not probe.streams.video:
                raise MediaError(f"{src.name}: no video stream")
            layout = stream_layout(probe.streams.video[0])
    except av.error.FFmpegError as exc:
        raise MediaError(f"{src.name}: cannot open ({type(exc).__name__}: {exc})") from exc
    damager = PacketDamager(layout, n, seed)
    remux(src, dst, damager)
    return damager.stats


def iter_damaged_frames(
    src: str | Path,
    severity: int,
    seed: int,
    *,
    chunk_size: int = 64,
    fps: float | None = None,
    stats: BitErrorStats | None = None,
) -> Iterator[np.ndarray]:
    """Decode ``src`` with its video packets damaged in memory; yield ``(t, H, W, 3)`` uint8 RGB chunks.

    Damage is identical to :func:`corrupt_file` with the same arguments; no file
    is written. Packets that fail to decode are skipped (counted in ``stats``)
    and the decoder conceals errors inside frames, as a player does. Frames a
    failed packet should have produced are filled by repeating the previous
    frame (freeze-frame concealment, by presentation timestamp), so the frame
    count equals the clean decode's. With ``fps``, frames are resampled by
    timestamp exactly like :func:`robusta_bench.media.decode.iter_frames`.
    """
    import av

    src = Path(src)
    stats = stats if stats is not None else BitErrorStats()
    n = _bytes_per_error(severity)
    try:
        container = av.open(str(src))
    except Exception as exc:
        raise MediaError(f"{src.name}: cannot open ({type(exc).__name__}: {exc})") from exc
    try:
        if not container.streams.video:
            raise MediaError(f"{src.name}: no video stream")
        stream = container.streams.video[0]
        # no frame threading: concealment must not depend on thread timing (see media.decode)
        damager = PacketDamager(stream_layout(stream), n, seed, stats)
        expected: list[int] = []  # pts of the packets sent, not yet matched by a frame
        src_rate = float(stream.average_rate or stream.guessed_rate or 0) or None
        resample = fps is not None and (src_rate is None or abs(src_rate - fps) > 1e-3)

        def decoded() -> Iterator:
            index = 0
            for packet in container.demux(stream):
                if packet.size:
                    packet.update(damager(bytes(packet), index))
                    index += 1
                    if packet.pts is not None:
                        heapq.heappush(expected, int(packet.pts))
                try:
                    frames = packet.decode()
                except (av.error.FFmpegError, ValueError) as exc:
                    stats.decode_errors += 1
                    log.debug("%s: packet %d does not decode: %s", src.name, index, exc)
                    continue
                yield from frames

        if resample:
            arrays = _resampled(decoded(), float(fps), src_rate)
        else:
            arrays = _freeze_filled(decoded(), expected, stats)
        yield from chunked(arrays, chunk_size, stats)
        if stats.frames == 0:
            raise MediaError(f"{src.name}: no decodable video frames after bit errors")
    finally:
        container.close()


def _freeze_filled(frames: Iterator, expected: list[int], stats: BitErrorStats) -> Iterator[np.ndarray]:
    """RGB arrays of ``frames``; every expected pts with no frame repeats the previous frame."""
    last: np.ndarray | None = None
    for frame in frames:
        arr = frame.to_ndarray(format="rgb24")
        pts = frame.pts
        if pts is not None:
            while expected and expected[0] < pts:
                heapq.heappop(expected)
                stats.filled_frames += 1
                yield last if last is not None else arr
            if expected and expected[0] == pts:
                heapq.heappop(expected)
        last = arr
        yield arr
    while expected and last is not None:
        heapq.heappop(expected)
        stats.filled_frames += 1
        yield last


@CORRUPTIONS.register("bit_error", rank=1)
class BitError(Corruption):
    """Seeded byte errors in the compressed video stream, about 1 byte in ``bytes_per_error``.

    Packet level: :meth:`write` is :func:`corrupt_file` (a damaged copy of the
    file), :meth:`frames` is :func:`iter_damaged_frames` (decoded frames, in
    memory); :meth:`apply` on decoded frames is an error.
    """

    modality = "visual"
    version = 1
    packet_level = True
    description = "XOR byte errors in the video packets (framing spared), ~1 byte in N; audio untouched"
    levels = tuple({"bytes_per_error": n} for n in (100000, 50000, 30000, 20000, 10000))

    def apply(self, data: np.ndarray, severity: int, seed: int, *, rate: int | None = None, start: int = 0) -> np.ndarray:
        """Always raises :class:`PacketLevelError`: bit errors need the compressed stream."""
        raise PacketLevelError(
            "bit_error damages the compressed video stream, not decoded frames: use "
            "robusta_bench.corruptions.visual.bit_error.corrupt_file(src, dst, severity, seed) to write "
            "a damaged copy, or iter_damaged_frames(src, severity, seed) to decode one in memory"
        )

    def frames(self, source, severity, seed, *, decoded=None, chunk_size=None, fps=None):
        """The frames of ``source``'s damaged stream (its own decode: ``decoded`` clean frames are of no use)."""
        return iter_damaged_frames(source, severity, seed, fps=fps, **({} if chunk_size is None else {"chunk_size": int(chunk_size)}))

    def write(self, source, dest, severity, seed) -> None:
        """A damaged copy of ``source`` (video packets damaged, everything else copied)."""
        corrupt_file(source, dest, severity, seed)
