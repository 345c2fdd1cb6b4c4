"""FRU 0 decoding and the host-MAC rules, without a peer; cross-checked with pyghmi's parser.

FRU images come from ``ipmi_fru_build`` (written from the FRU specification, independently of
the driver). No real BMC's FRU with MACs is available as a capture, so there is no fixture file.
"""

from __future__ import annotations

import pytest
from chassisd_ipmi.fru import CustomField, FruInfo, bytes_needed, host_macs, parse_fru
from pyghmi.ipmi.fru import FRU as PyghmiFru

from chassisd.errors import ParseError
from tests.ipmi.ipmi_fru_build import (
    bcd_plus_field,
    binary_field,
    build_fru,
    mac_fields,
    six_bit_field,
)

MACS = ("00:11:22:33:44:01", "00:11:22:33:44:02")


def _product_offset(data: bytes) -> int:
    return data[4] * 8


def _fix_area_checksum(data: bytearray, offset: int) -> None:
    end = offset + data[offset + 1] * 8
    data[end - 1] = (-sum(data[offset : end - 1])) & 0xFF


def _extras(*texts: str) -> FruInfo:
    return FruInfo(custom=tuple(CustomField("product", i, t) for i, t in enumerate(texts, 1)))


def test_fru_gives_product_serial_asset_tag_and_macs_in_order() -> None:
    """Labelled MACs in product extra fields come back in FRU order, with the product data."""
    info = parse_fru(build_fru(serial="SN1", asset_tag="AT-7", product_extra=mac_fields(MACS)))
    assert (info.manufacturer, info.product, info.serial, info.asset_tag) == (
        "Chassisd Test",
        "Test Server 1U",
        "SN1",
        "AT-7",
    )
    assert (info.board_product, info.board_serial) == ("Test board", "B-SN1")
    macs, warnings = host_macs(info)
    assert [str(mac) for mac in macs] == list(MACS)
    assert warnings == ()


def test_decoder_agrees_with_pyghmis_parser() -> None:
    """On a well-formed FRU the strict decoder reads what pyghmi's lenient parser reads."""
    data = build_fru(
        serial="SN2",
        asset_tag="rack 4",
        product_extra=["MAC1:00:11:22:33:44:01", "note"],
        board_extra=["eth0 00-11-22-33-44-09"],
    )
    theirs = PyghmiFru(rawdata=bytearray(data)).info
    ours = parse_fru(data)
    assert (theirs["Product name"], theirs["Serial Number"], theirs["Asset Number"]) == (
        ours.product,
        ours.serial,
        ours.asset_tag,
    )
    assert theirs["Board serial number"] == ours.board_serial
    assert theirs["product_extra"] == [f.text for f in ours.custom if f.area == "product"]
    assert theirs["board_extra"] == [f.text for f in ours.custom if f.area == "board"]


@pytest.mark.parametrize(
    ("field", "mac"),
    [
        ("MAC1:00:11:22:33:44:01", "00:11:22:33:44:01"),
        ("00:11:22:33:44:01", "00:11:22:33:44:01"),
        ("00-11-22-33-44-0A", "00:11:22:33:44:0a"),
        ("0011.2233.4401", "00:11:22:33:44:01"),
        ("eth0 00:11:22:33:44:01", "00:11:22:33:44:01"),
        ("NIC 1 MAC = 00-11-22-33-44-01", "00:11:22:33:44:01"),
        ("MAC: 001122334401", "00:11:22:33:44:01"),
        ("  mac2=00:11:22:33:44:01  ", "00:11:22:33:44:01"),
    ],
)
def test_custom_field_forms_read_as_a_mac(field: str, mac: str) -> None:
    """Each documented form of a MAC custom field yields that one MAC and no warning."""
    macs, warnings = host_macs(_extras(field))
    assert [str(m) for m in macs] == [mac]
    assert warnings == ()


@pytest.mark.parametrize(
    ("field", "warned"),
    [
        ("AA:00:11:22:33:44:55", True),  # seven groups: not "AA" + a MAC
        ("001122334401", False),  # bare hex without a label may be a serial number
        ("SN 001122334401", False),  # bare hex after a label that does not say "mac"
        ("MACs: 00:11:22:33:44:01, 00:11:22:33:44:02", True),  # lists are not read
        ("Machine type 7X06", False),
        ("MAC1 unset", True),
    ],
)
def test_fields_that_are_not_read_as_macs(field: str, warned: bool) -> None:
    """Ambiguous fields give no MAC; those that mention a MAC say so in a warning."""
    macs, warnings = host_macs(_extras(field))
    assert macs == ()
    assert bool(warnings) is warned
    if warned:
        assert "not used" in warnings[0] and "product custom field 1" in warnings[0]


def test_non_unicast_and_repeated_macs_are_left_out() -> None:
    """All-zero, broadcast and multicast MACs are never host NICs; a repeat is kept once."""
    info = _extras(
        "MAC1:00:00:00:00:00:00",
        "MAC2:ff:ff:ff:ff:ff:ff",
        "MAC3:01:00:5e:00:00:01",
        "MAC4:00:11:22:33:44:01",
        "MAC5:00-11-22-33-44-01",
    )
    macs, warnings = host_macs(info)
    assert [str(m) for m in macs] == ["00:11:22:33:44:01"]
    assert len(warnings) == 3 and all("not a unicast NIC address" in w for w in warnings)


def test_binary_six_byte_field_is_reported_but_not_used() -> None:
    """A 6-byte binary custom field might be a MAC, but its layout is vendor-defined: warned."""
    info = parse_fru(
        build_fru(serial="SN3", product_extra=[binary_field(bytes.fromhex("001122334401"))])
    )
    macs, warnings = host_macs(info)
    assert macs == ()
    assert warnings == (
        "FRU product custom field 1 is 6 binary bytes (001122334401), perhaps a MAC; "
        "binary fields are not read as MACs",
    )


def test_bcd_plus_and_six_bit_ascii_fields_decode() -> None:
    """Serial numbers in BCD plus and product names in 6-bit ASCII decode as pyghmi does."""
    data = build_fru(serial=bcd_plus_field("12-3.45 6"[:8]), product=six_bit_field("SRV-1U X"))
    ours = parse_fru(data)
    theirs = PyghmiFru(rawdata=bytearray(data)).info
    assert ours.serial == "12-3.45" == theirs["Serial Number"]
    assert ours.product == "SRV-1U X" == theirs["Product name"]


def test_corrupt_area_checksum_is_a_parse_error() -> None:
    """One flipped byte in the product area fails its checksum: no half-read MACs."""
    data = bytearray(build_fru(serial="SN4", product_extra=mac_fields(MACS)))
    offset = _product_offset(bytes(data))
    data[offset + 10] ^= 0x01
    with pytest.raises(ParseError, match="product area checksum mismatch") as caught:
        parse_fru(bytes(data))
    assert caught.value.command == "Read FRU Data (FRU 0)"
    assert caught.value.line == f"byte offset {offset}"


def test_corrupt_header_checksum_is_a_parse_error() -> None:
    """The 8-byte common header carries its own checksum."""
    data = bytearray(build_fru(serial="SN5"))
    data[3] += 1
    with pytest.raises(ParseError, match="common header checksum mismatch"):
        parse_fru(bytes(data))


def test_truncated_fru_is_a_parse_error() -> None:
    """A FRU cut short (a read that stopped early) does not fit its declared areas."""
    data = build_fru(serial="SN6", product_extra=mac_fields(MACS))
    with pytest.raises(ParseError, match=r"product area length .* does not fit"):
        parse_fru(data[:-8])


def test_area_without_end_marker_is_a_parse_error() -> None:
    """Custom fields must end with C1h inside the area."""
    data = bytearray(build_fru(serial="SN7", product_extra=["xy"]))
    offset = _product_offset(bytes(data))
    end_marker = data.rindex(0xC1, offset, offset + data[offset + 1] * 8 - 1)
    data[end_marker] = 0x00  # an empty binary field instead of the end marker
    _fix_area_checksum(data, offset)
    with pytest.raises(ParseError, match="no end-of-fields marker"):
        parse_fru(bytes(data))


def test_only_the_info_areas_are_read() -> None:
    """A multi-record area after the product area is not needed, so not read."""
    multirecord = bytes(512)
    data = build_fru(serial="SN8", product_extra=mac_fields(MACS), multirecord=multirecord)
    size = len(data)
    assert bytes_needed(b"", size) == 8
    assert bytes_needed(data[:8], size) == size  # the product area's length is not known yet
    product = _product_offset(data)
    needed = bytes_needed(data[: product + 2], size)
    assert needed == size - len(multirecord)
    assert parse_fru(data[:needed]) == parse_fru(data)


def test_empty_header_needs_nothing_more() -> None:
    """A FRU whose header lists no info area needs only its header."""
    header = bytes([1, 0, 0, 0, 0, 0, 0, 0xFF])
    assert bytes_needed(header, 256) == 8
    assert parse_fru(header) == FruInfo()
