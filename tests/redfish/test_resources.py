"""Pure payload rules of the HTTPS drivers: state maps, ResetType choice, links, fingerprints."""

from __future__ import annotations

import pytest
from chassisd_redfish.resources import (
    MOONSHOT_RESET_TYPES,
    REDFISH_RESET_TYPES,
    Resource,
    pick_reset_type,
    power_of,
    ris_allowable,
)
from chassisd_redfish.tls import format_fingerprint, normalize_fingerprint
from hypothesis import given
from hypothesis import strategies as st

from chassisd.errors import ParseError
from chassisd.model import PowerAction, PowerState

RESET_WORDS = st.sampled_from(
    ["On", "ForceOn", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
     "PowerCycle", "PushPowerButton", "Nmi", "ColdReset"]
)  # fmt: skip


@given(st.sampled_from(sorted(REDFISH_RESET_TYPES, key=str)), st.lists(RESET_WORDS, unique=True))
def test_a_chosen_reset_type_is_preferred_and_allowed(
    action: PowerAction, allowed: list[str]
) -> None:
    """The pick is the first preference the system allows, or nothing when none is allowed."""
    preferences = REDFISH_RESET_TYPES[action]
    chosen = pick_reset_type(preferences, allowed)
    permitted = [p for p in preferences if p in allowed]
    assert chosen == (permitted[0] if permitted else None)


def test_without_an_allow_list_the_first_preference_is_sent() -> None:
    """A system that lists no values is taken to accept the standard ones."""
    assert pick_reset_type(REDFISH_RESET_TYPES[PowerAction.CYCLE], None) == "PowerCycle"
    assert pick_reset_type(MOONSHOT_RESET_TYPES[PowerAction.CYCLE], None) == "ColdReset"


def test_shutdown_never_falls_back_to_a_toggle() -> None:
    """PushPowerButton toggles power, so it is never a way to shut down."""
    assert all("PushPowerButton" not in prefs for prefs in REDFISH_RESET_TYPES.values())
    assert pick_reset_type(REDFISH_RESET_TYPES[PowerAction.SHUTDOWN], ["PushPowerButton"]) is None


@given(st.text(max_size=12))
def test_unknown_power_words_are_unknown(word: str) -> None:
    """Only On/Off and the two transitions map to a state; every other word is UNKNOWN."""
    state = power_of(Resource("u", {"PowerState": word}), "PowerState")
    known = {"on": PowerState.ON, "off": PowerState.OFF}
    known |= {"poweringon": PowerState.ON, "poweringoff": PowerState.OFF}
    assert state is known.get(word.strip().lower(), PowerState.UNKNOWN)


def test_properties_of_the_wrong_type_name_url_and_path() -> None:
    """A link that is not a link, or a list that is not a list, is a ParseError with the path."""
    resource = Resource("https://bmc/redfish/v1/Systems/1", {"Links": {"Chassis": "oops"}})
    with pytest.raises(ParseError, match=r"Links\.Chassis is not a list of links") as info:
        resource.links("Links", "Chassis")
    assert info.value.command == "https://bmc/redfish/v1/Systems/1"
    with pytest.raises(ParseError, match="missing required link Systems"):
        resource.link("Systems", required=True)


def test_ris_allow_lists_are_read_from_available_actions() -> None:
    """RIS lists ResetType values under AvailableActions[Action=Reset].Capabilities."""
    system = Resource(
        "u",
        {
            "AvailableActions": [
                {
                    "Action": "Reset",
                    "Capabilities": [{"PropertyName": "ResetType", "AllowableValues": ["On"]}],
                }
            ]
        },
    )
    assert ris_allowable(system, "Reset", "ResetType") == ["On"]
    assert ris_allowable(Resource("u", {}), "Reset", "ResetType") is None


@given(st.binary(min_size=32, max_size=32))
def test_fingerprint_forms_normalise_to_the_same_digest(digest: bytes) -> None:
    """Colon-separated, bare and sha256:-prefixed fingerprints are one value."""
    hex_digits = digest.hex()
    pretty = format_fingerprint(hex_digits)
    for form in (pretty, hex_digits.upper(), f"sha256:{pretty}", f"SHA256:{hex_digits}"):
        assert normalize_fingerprint(form) == hex_digits


def test_a_short_fingerprint_is_refused() -> None:
    """63 hex digits are not a SHA-256 fingerprint."""
    with pytest.raises(ValueError, match="64 hex digits"):
        normalize_fingerprint("a" * 63)
