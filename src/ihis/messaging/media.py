"""Voice clip checks: the container is sniffed (platform/storage.py) and its duration read from it.

Durations come from the container's own header, never from the client: Ogg (Opus 48 kHz granule
clock, or the Vorbis sample rate), ISO BMFF (``mvhd`` timescale/duration) and WebM (Segment Info
``Duration``; MediaRecorder files often lack it, so the last Cluster/SimpleBlock timecode is used).
A clip whose duration cannot be read is refused.
"""

from __future__ import annotations

import struct

from ihis.platform.storage import MP4_AUDIO, MP4_VIDEO, OGG, WEBM


def _ogg_duration_ms(data: bytes) -> int | None:
    last = data.rfind(b"OggS")
    if last < 0 or len(data) < last + 14:
        return None
    granule = int(struct.unpack_from("<q", data, last + 6)[0])
    if granule < 0:
        return None
    if b"OpusHead" in data[:512]:
        head = data.find(b"OpusHead")
        pre_skip = struct.unpack_from("<H", data, head + 10)[0] if len(data) >= head + 12 else 0
        return max(0, (granule - pre_skip) * 1000 // 48000)
    vorbis = data.find(b"\x01vorbis", 0, 512)
    if vorbis >= 0 and len(data) >= vorbis + 16:
        rate = struct.unpack_from("<I", data, vorbis + 12)[0]
        return granule * 1000 // rate if rate else None
    return None


def _iter_boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    boxes = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1 and pos + 16 <= end:
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        boxes.append((kind, pos + header, pos + size))
        pos += size
    return boxes


def _mp4_info(data: bytes) -> tuple[int | None, bool]:
    """(duration in ms, has a video track) of an ISO BMFF file."""
    moov = next(((s, e) for k, s, e in _iter_boxes(data, 0, len(data)) if k == b"moov"), None)
    if moov is None:
        return None, False
    duration = None
    has_video = False
    for kind, start, end in _iter_boxes(data, *moov):
        if kind == b"mvhd" and end - start >= 32:
            version = data[start]
            if version == 1:
                timescale, length = struct.unpack_from(">IQ", data, start + 20)
            else:
                timescale, length = struct.unpack_from(">II", data, start + 12)
            duration = length * 1000 // timescale if timescale else None
        if kind == b"trak":
            # hdlr: version/flags (4), pre_defined (4), handler type (4)
            has_video = has_video or b"hdlr\x00\x00\x00\x00\x00\x00\x00\x00vide" in data[start:end]
    return duration, has_video


def _ebml_vint(data: bytes, pos: int) -> tuple[int, int] | None:
    if pos >= len(data):
        return None
    first = data[pos]
    length = 1
    mask = 0x80
    while length <= 8 and not first & mask:
        length += 1
        mask >>= 1
    if length > 8 or pos + length > len(data):
        return None
    value = first & (mask - 1)
    for b in data[pos + 1 : pos + length]:
        value = (value << 8) | b
    return value, length


def _webm_duration_ms(data: bytes) -> int | None:
    scale_ns = 1_000_000
    at = data.find(b"\x2a\xd7\xb1")  # TimecodeScale
    if at >= 0:
        size = _ebml_vint(data, at + 3)
        if size:
            raw = data[at + 3 + size[1] : at + 3 + size[1] + size[0]]
            scale_ns = int.from_bytes(raw, "big") or scale_ns
    at = data.find(b"\x44\x89")  # Segment Info Duration (float, in TimecodeScale units)
    if at >= 0:
        size = _ebml_vint(data, at + 2)
        if size and size[0] in (4, 8):
            raw = data[at + 2 + size[1] : at + 2 + size[1] + size[0]]
            value = struct.unpack(">f" if size[0] == 4 else ">d", raw)[0]
            if value > 0:
                return int(value * scale_ns / 1_000_000)
    # No Duration: the last Cluster's Timecode plus the last SimpleBlock's relative timecode.
    cluster = data.rfind(b"\x1f\x43\xb6\x75")
    if cluster < 0:
        return None
    tc = data.find(b"\xe7", cluster + 4, cluster + 24)
    size = _ebml_vint(data, tc + 1) if tc >= 0 else None
    if size is None or not 1 <= size[0] <= 8:
        return None
    base = int.from_bytes(data[tc + 1 + size[1] : tc + 1 + size[1] + size[0]], "big")
    block = data.rfind(b"\xa3", tc)
    relative = 0
    if block > 0:
        bsize = _ebml_vint(data, block + 1)
        if bsize:
            track = _ebml_vint(data, block + 1 + bsize[1])
            if track:
                at = block + 1 + bsize[1] + track[1]
                if at + 2 <= len(data):
                    relative = max(0, struct.unpack_from(">h", data, at)[0])
    return int((base + relative) * scale_ns / 1_000_000)


def voice_info(content_type: str, data: bytes) -> tuple[str, int | None]:
    """(content type to store, duration in ms or None if unreadable) of an audio upload."""
    if content_type == OGG:
        return OGG, _ogg_duration_ms(data)
    if content_type == WEBM:
        return WEBM, _webm_duration_ms(data)
    if content_type in (MP4_AUDIO, MP4_VIDEO):
        duration, has_video = _mp4_info(data)
        return (MP4_VIDEO if has_video else MP4_AUDIO), duration
    return content_type, None
