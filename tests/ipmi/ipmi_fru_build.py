"""Builds IPMI FRU images (Platform Management FRU Information Storage Definition 1.3) for the
test peers: ipmi_sim loads the bytes from a file, ``fakebmc.py`` serves them.

Written from the specification, independently of the driver's parser, so that agreeing with it
is evidence. Host MACs go where some vendors put them: product (or board) "extra" (custom)
fields, for example ``MAC1:00:11:22:33:44:01``. Run as a script to write an image to stdout.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

END_OF_FIELDS = 0xC1
ENGLISH = 0


def text_field(text: str) -> bytes:
    """One type/length byte (type 11b: 8-bit ASCII + Latin-1) and the text; at most 63 bytes."""
    data = text.encode("latin-1")
    if len(data) > 63:
        raise ValueError(f"FRU field longer than 63 bytes: {text!r}")
    return bytes([0xC0 | len(data)]) + data


def binary_field(data: bytes) -> bytes:
    """A type 00b (binary) field."""
    return bytes([len(data)]) + data


def bcd_plus_field(text: str) -> bytes:
    """A type 01b (BCD plus: digits, space, dash, dot) field; ``text`` has an even length."""
    codes = {**{str(d): d for d in range(10)}, " ": 0xA, "-": 0xB, ".": 0xC}
    nibbles = [codes[c] for c in text]
    packed = bytes(hi << 4 | lo for hi, lo in zip(nibbles[::2], nibbles[1::2], strict=True))
    return bytes([0x40 | len(packed)]) + packed


def six_bit_field(text: str) -> bytes:
    """A type 10b (6-bit packed ASCII, 0x20-0x5F) field; ``len(text)`` a multiple of 4."""
    bits = 0
    for index, char in enumerate(text):
        bits |= (ord(char) - 0x20) << (6 * index)
    packed = bits.to_bytes(len(text) * 6 // 8, "little")
    return bytes([0x80 | len(packed)]) + packed


Field = str | bytes
"""A field as text (encoded as 8-bit ASCII + Latin-1) or already type/length-encoded bytes."""


def _encode(field: Field) -> bytes:
    return field if isinstance(field, bytes) else text_field(field)


def _checksum(data: bytes) -> int:
    return (-sum(data)) & 0xFF


def _area(body: bytes) -> bytes:
    """Close an info area: end marker, pad to a multiple of 8, length byte, checksum."""
    body = body + bytes([END_OF_FIELDS])
    total = len(body) + 1  # + checksum
    total += -total % 8
    body = body + bytes(total - 1 - len(body))
    body = body[:1] + bytes([total // 8]) + body[2:]
    return body + bytes([_checksum(body)])


def board_area(
    *, manufacturer: Field, product: Field, serial: Field, part: Field, extra: Sequence[Field] = ()
) -> bytes:
    """Board Info Area with a fixed manufacturing date (minutes since 1996-01-01: 0x100000)."""
    body = bytes([0x01, 0x00, ENGLISH, 0x00, 0x00, 0x10])
    for field in (manufacturer, product, serial, part, "", *extra):
        body += _encode(field)
    return _area(body)


def product_area(
    *,
    manufacturer: Field,
    product: Field,
    part: Field,
    version: Field,
    serial: Field,
    asset_tag: Field,
    extra: Sequence[Field] = (),
) -> bytes:
    """Product Info Area; ``extra`` become custom fields after the FRU file id."""
    body = bytes([0x01, 0x00, ENGLISH])
    for field in (manufacturer, product, part, version, serial, asset_tag, "", *extra):
        body += _encode(field)
    return _area(body)


def build_fru(
    *,
    serial: Field,
    product_extra: Sequence[Field] = (),
    board_extra: Sequence[Field] = (),
    manufacturer: Field = "Chassisd Test",
    product: Field = "Test Server 1U",
    asset_tag: Field = "",
    multirecord: bytes = b"",
) -> bytes:
    """A FRU image: common header, board area, product area, then ``multirecord`` bytes as-is."""
    board = board_area(
        manufacturer=manufacturer,
        product="Test board",
        serial=f"B-{serial}" if isinstance(serial, str) else "B-0",
        part="PN-0001",
        extra=board_extra,
    )
    prod = product_area(
        manufacturer=manufacturer,
        product=product,
        part="MODEL-1",
        version="1.0",
        serial=serial,
        asset_tag=asset_tag,
        extra=product_extra,
    )
    board_offset = 1  # in multiples of 8: right after the 8-byte common header
    product_offset = board_offset + len(board) // 8
    multirecord_offset = product_offset + len(prod) // 8 if multirecord else 0
    header = bytes([0x01, 0x00, 0x00, board_offset, product_offset, multirecord_offset, 0x00])
    header += bytes([_checksum(header)])
    return header + board + prod + multirecord


def mac_fields(macs: Sequence[str]) -> list[str]:
    """The labelled custom fields ``MAC1:…``, ``MAC2:…`` for ``macs``."""
    return [f"MAC{index}:{mac}" for index, mac in enumerate(macs, start=1)]


def main(argv: Sequence[str] | None = None) -> int:
    """``python ipmi_fru_build.py SERIAL MAC...`` writes a FRU image to stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("serial")
    parser.add_argument("macs", nargs="*")
    args = parser.parse_args(argv)
    sys.stdout.buffer.write(build_fru(serial=args.serial, product_extra=mac_fields(args.macs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
