"""IPMI FRU inventory data (FRU 0): how much to read, how to decode it, which host MACs it holds.

Owns the binary format (Platform Management FRU Information Storage Definition 1.3: common
header, chassis/board/product info areas, type/length-coded fields) and the rules that turn
custom ("extra") fields into host MAC addresses. Pure: no I/O, no pyghmi, no logging. The
decoder is strict where a lenient one would invent data: every area's checksum and bounds are
checked, so a truncated or corrupt FRU is reported as unreadable instead of yielding half of its
MACs (pyghmi's own parser checks neither).

IPMI has no standard command for host NIC MACs (``test-peers.md`` B4). Some vendors put them in
FRU custom fields; the forms read here are a whole field that is a MAC, or a label and a MAC
(``MAC1:00:11:22:33:44:01``, ``eth0 00-11-22-33-44-01``, ``NIC 1 MAC = 0011.2233.4401``); a
bare 12-digit hex string counts only after a label that says "mac". Anything else that looks
like a MAC is reported in a warning and not used.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chassisd.errors import ParseError
from chassisd.model import MacAddress

READ_FRU = "Read FRU Data (FRU 0)"
"""How FRU decoding errors name their source (``ParseError.command``)."""

HEADER_SIZE = 8
END_OF_FIELDS = 0xC1  # type/length byte that ends the custom fields of an area
_ENGLISH = (0, 25)  # language codes whose type-3 text is Latin-1 (others: UTF-16LE, spec 13)
_BCD_PLUS = "0123456789 -.???"
_TEXT_JUNK = "\x00\xff\xfe "  # trailing padding real BMCs leave in text fields (pyghmi strips it)

_HEX2 = "[0-9A-Fa-f]{2}"
_MAC_FORMS = (
    rf"{_HEX2}(?::{_HEX2}){{5}}",
    rf"{_HEX2}(?:-{_HEX2}){{5}}",
    r"[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}",
)
_SEPARATED_MAC = "(?:" + "|".join(_MAC_FORMS) + ")"
_BARE_MAC = "[0-9A-Fa-f]{12}"
# "label sep MAC", where sep is ":" or "=" (with optional spaces) or spaces alone.
_LABELLED = re.compile(
    rf"(?P<label>[A-Za-z][\w .#/()-]*?)\s*(?:[:=]\s*|\s+)(?P<mac>{_SEPARATED_MAC}|{_BARE_MAC})"
)
_LOOKS_LIKE_MAC = re.compile(
    rf"(?<![0-9A-Fa-f]){_HEX2}[:-]{_HEX2}[:-]{_HEX2}|(?<![a-z])mac(?![a-z])", re.IGNORECASE
)


@dataclass(frozen=True)
class CustomField:
    """One custom ("extra") field of an info area."""

    area: str  # "chassis", "board" or "product"
    index: int  # 1-based among that area's custom fields
    text: str  # decoded text; lower-case hex digits for a binary field
    binary: bool = False

    def where(self) -> str:
        return f"FRU {self.area} custom field {self.index}"


@dataclass(frozen=True)
class FruInfo:
    """The parts of FRU 0 chassisd uses. Empty strings for fields the FRU leaves out."""

    manufacturer: str = ""  # product area
    product: str = ""
    serial: str = ""
    asset_tag: str = ""
    board_manufacturer: str = ""
    board_product: str = ""
    board_serial: str = ""
    chassis_serial: str = ""
    custom: tuple[CustomField, ...] = ()


def bytes_needed(prefix: bytes, size: int) -> int:
    """How many bytes of a FRU of ``size`` bytes to read, given the first bytes read so far.

    Only the common header and the chassis/board/product areas are needed; a multi-record area
    placed after them (often the largest part) is not read. Until enough is known, ``size``.
    """
    if len(prefix) < HEADER_SIZE:
        return min(size, HEADER_SIZE) if size else 0
    offsets = [prefix[i] * 8 for i in (2, 3, 4) if prefix[i]]
    if not offsets:
        return HEADER_SIZE
    last = max(offsets)
    if len(prefix) < last + 2:
        return size
    return min(size, last + prefix[last + 1] * 8)


def parse_fru(data: bytes) -> FruInfo:
    """Decode FRU 0; raise ``ParseError`` for anything malformed (bad checksum, overrun)."""
    if len(data) < HEADER_SIZE:
        raise _error(f"{len(data)} bytes is shorter than the 8-byte common header", 0)
    header = data[:HEADER_SIZE]
    if header[0] & 0x0F != 1:
        raise _error(f"unknown common header format version {header[0]:#04x}", 0)
    if sum(header) & 0xFF:
        raise _error("common header checksum mismatch", 0)
    fields: dict[str, str] = {}
    custom: list[CustomField] = []
    for name, offset_index, fixed, header_len in (
        ("chassis", 2, ("chassis_part", "chassis_serial"), 3),
        ("board", 3, ("board_manufacturer", "board_product", "board_serial", "board_part", ""), 6),
        (
            "product",
            4,
            ("manufacturer", "product", "model", "version", "serial", "asset_tag", ""),
            3,
        ),
    ):
        offset = header[offset_index] * 8
        if offset:
            values, extras = _parse_area(data, name, offset, fixed, header_len)
            fields.update(values)
            custom.extend(extras)
    return FruInfo(
        manufacturer=fields.get("manufacturer", ""),
        product=fields.get("product", ""),
        serial=fields.get("serial", ""),
        asset_tag=fields.get("asset_tag", ""),
        board_manufacturer=fields.get("board_manufacturer", ""),
        board_product=fields.get("board_product", ""),
        board_serial=fields.get("board_serial", ""),
        chassis_serial=fields.get("chassis_serial", ""),
        custom=tuple(custom),
    )


def _parse_area(
    data: bytes, name: str, offset: int, fixed: tuple[str, ...], header_len: int
) -> tuple[dict[str, str], list[CustomField]]:
    if offset + 2 > len(data):
        raise _error(f"{name} area starts past the end of the data", offset)
    if data[offset] & 0x0F != 1:
        raise _error(f"{name} area has unknown format version {data[offset]:#04x}", offset)
    length = data[offset + 1] * 8
    end = offset + length
    if length < header_len + 2 or end > len(data):
        raise _error(f"{name} area length {length} does not fit the data", offset)
    if sum(data[offset:end]) & 0xFF:
        raise _error(f"{name} area checksum mismatch", offset)
    language = data[offset + 2] if name != "chassis" else 0
    position = offset + header_len
    values: dict[str, str] = {}
    for key in fixed:
        text, _, position = _field(data, name, position, end - 1, language)
        if key:
            values[key] = text
    extras: list[CustomField] = []
    while True:
        if position >= end - 1:
            raise _error(f"{name} area has no end-of-fields marker", position)
        if data[position] == END_OF_FIELDS:
            return values, extras
        text, binary, position = _field(data, name, position, end - 1, language)
        extras.append(CustomField(name, len(extras) + 1, text, binary))


def _field(
    data: bytes, area: str, position: int, limit: int, language: int
) -> tuple[str, bool, int]:
    """Decode one type/length-coded field; return (text, is_binary, next position)."""
    if position >= limit:
        raise _error(f"{area} area ends inside its fields", position)
    type_length = data[position]
    kind, length = type_length >> 6, type_length & 0x3F
    start, stop = position + 1, position + 1 + length
    if stop > limit:
        raise _error(f"{area} field of {length} bytes overruns its area", position)
    raw = data[start:stop]
    if kind == 0:
        return raw.hex(), True, stop
    if kind == 1:
        text = "".join(_BCD_PLUS[b >> 4] + _BCD_PLUS[b & 0x0F] for b in raw)
        return text.strip(), False, stop
    if kind == 2:
        return _six_bit_ascii(raw).strip(), False, stop
    if language in _ENGLISH:
        text = raw.decode("latin-1")
    else:
        try:
            text = raw.decode("utf-16-le")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
    return text.rstrip(_TEXT_JUNK).replace("\x00", ""), False, stop


def _six_bit_ascii(raw: bytes) -> str:
    bits = int.from_bytes(raw, "little")
    return "".join(chr(0x20 + ((bits >> (6 * i)) & 0x3F)) for i in range(len(raw) * 8 // 6))


def _error(message: str, offset: int) -> ParseError:
    return ParseError(message, command=READ_FRU, line=f"byte offset {offset}")


def host_macs(info: FruInfo) -> tuple[tuple[MacAddress, ...], tuple[str, ...]]:
    """The host MACs in FRU custom fields, in FRU order without repeats, and warnings.

    All-zero, broadcast and multicast addresses are never host NIC MACs: left out, with a
    warning. Binary custom fields are not interpreted (their layout is vendor-defined).
    """
    macs: list[MacAddress] = []
    warnings: list[str] = []
    for field in info.custom:
        if field.binary:
            if len(field.text) == 12:
                warnings.append(
                    f"{field.where()} is 6 binary bytes ({field.text}), perhaps a MAC; "
                    "binary fields are not read as MACs"
                )
            continue
        mac = _mac_in(field.text)
        if mac is None:
            if _LOOKS_LIKE_MAC.search(field.text):
                warnings.append(
                    f"{field.where()} {field.text!r} mentions a MAC in a form chassisd does "
                    "not read; not used"
                )
            continue
        first_octet = int(mac.value[:2], 16)
        if mac.value in ("00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff") or first_octet & 1:
            warnings.append(f"{field.where()}: {mac} is not a unicast NIC address; not used")
            continue
        if mac not in macs:
            macs.append(mac)
    return tuple(macs), tuple(warnings)


def _mac_in(text: str) -> MacAddress | None:
    text = text.strip()
    if re.fullmatch(_SEPARATED_MAC, text):
        return MacAddress(text)
    match = _LABELLED.fullmatch(text)
    if match is None:
        return None
    label, mac = match.group("label"), match.group("mac")
    # A label must read as a word ("MAC1", "eth0"), not as hex digits that are part of a longer
    # colon string ("AA:00:11:22:33:44:55" is not "AA" + a MAC).
    if not re.search("[G-Zg-z]", label):
        return None
    if re.fullmatch(_BARE_MAC, mac) and "mac" not in label.lower():
        return None
    return MacAddress(mac)
