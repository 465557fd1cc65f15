"""MLLP framing (HL7 v2.5.1 appendix C) of a byte stream, as the listener reads it: frames split
across reads, coalesced in one read, abandoned, too long, and noise between them."""

from __future__ import annotations

from interop.v2.mllp import Frame, FrameReader, frame


def frames_of(*reads: bytes, limit: int = 1000) -> list[Frame]:
    reader = FrameReader(limit=limit)
    out = []
    for data in reads:
        reader.feed(data)
        while (taken := reader.next()) is not None:
            out.append(taken)
    return out


def test_a_frame_split_across_reads_is_one_message():
    framed = frame("MSH|^~\\&|LAB\rPID|1\r")

    frames = frames_of(*[framed[i : i + 3] for i in range(0, len(framed), 3)])

    assert frames == [Frame(payload=b"MSH|^~\\&|LAB\rPID|1\r", size=19)]


def test_frames_coalesced_in_one_read_are_taken_in_order():
    frames = frames_of(frame("MSH|1") + frame("MSH|2") + frame("MSH|3"))

    assert [f.payload for f in frames] == [b"MSH|1", b"MSH|2", b"MSH|3"]


def test_bytes_between_frames_are_not_a_message():
    frames = frames_of(b"\r\nnoise", frame("MSH|1"), b"\r\r", frame("MSH|2"))

    assert [f.payload for f in frames] == [b"MSH|1", b"MSH|2"]


def test_a_start_block_before_the_end_abandons_the_frame_it_interrupts():
    frames = frames_of(b"\x0bMSH|given up", b"\x0bMSH|again\x1c\r")

    assert [f.payload for f in frames] == [b"MSH|again"]


def test_a_frame_over_the_limit_keeps_its_start_and_its_real_size():
    body = b"MSH|" + b"x" * 96

    frames = frames_of(b"\x0b" + body[:60], body[60:], b"\x1c\r", frame("MSH|next"), limit=40)

    assert frames == [Frame(payload=body[:40], size=100), Frame(payload=b"MSH|next", size=8)]


def test_an_end_block_without_its_carriage_return_still_ends_the_frame():
    frames = frames_of(b"\x0bMSH|1\x1c", b"\r\x0bMSH|2\x1c")

    assert [f.payload for f in frames] == [b"MSH|1", b"MSH|2"]
