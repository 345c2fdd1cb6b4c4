"""Pure pieces of chassisctl's output: kubectl JSONPath templates, label selectors, the exit-code
precedence."""

from __future__ import annotations

import pytest

from chassisd import exitcodes
from chassisd.errors import ConfigError
from chassisd.jsonpath import render
from chassisd.listing import LabelSelector

DOC = {"items": [{"name": "a", "ip": "10.0.0.1", "macs": ["m1", "m2"], "pool": "p"},
                 {"name": "b", "ip": None, "macs": [], "pool": "q", "n": 2}]}  # fmt: skip


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{.items[*].name}", "a b"),
        ("{.items[0].macs}", '["m1", "m2"]'),
        ("{.items[-1].name}", "b"),
        ('{range .items[*]}{.name}{"\\t"}{.ip}{"\\n"}{end}', "a\t10.0.0.1\nb\t\n"),
        ('{.items[?(@.pool=="q")].name}', "b"),
        ("{.items[?(@.pool!='q')].name}", "a"),
        ("{.items[?(@.n==2)].name}", "b"),
        ("names: {.items[*]['name']}!", "names: a b!"),
        ("{.items[5].name}{.missing}", ""),
    ],
)
def test_jsonpath_templates(template: str, expected: str) -> None:
    """The kubectl template forms operators use give kubectl's text."""
    assert render(template, DOC) == expected


@pytest.mark.parametrize("template", ["{.items[", "{range .items[*]}{.name}", "{end}", "{.a b}"])
def test_jsonpath_mistakes_are_usage_errors(template: str) -> None:
    """A malformed template is a ConfigError (exit 2), never a traceback."""
    with pytest.raises(ConfigError, match="jsonpath"):
        render(template, DOC)


def test_label_selector_requirements() -> None:
    """=, ==, !=, existence and absence, all joined by commas."""
    selector = LabelSelector.parse("rack=r1, tier==gold,zone!=b,ssd,!broken")
    assert selector.matches({"rack": "r1", "tier": "gold", "zone": "a", "ssd": ""})
    assert not selector.matches({"rack": "r1", "tier": "gold", "zone": "b", "ssd": ""})
    assert not selector.matches({"rack": "r1", "tier": "gold", "ssd": "", "broken": "y"})
    assert not selector.matches({"rack": "r1", "tier": "gold"})
    with pytest.raises(ConfigError):
        LabelSelector.parse("!a=b")


def test_exit_code_precedence() -> None:
    """Configuration first, then not-found, unknown outcome, device, left out."""
    codes = exitcodes
    assert codes.worst() == codes.OK
    assert codes.worst(codes.DEVICE, codes.USAGE, codes.INCOMPLETE) == codes.USAGE
    assert codes.worst(codes.INCOMPLETE, codes.DEVICE) == codes.DEVICE
    assert codes.worst(codes.DEVICE, codes.UNKNOWN) == codes.UNKNOWN
    assert codes.sync_exit([None, ConfigError("x")], left_out=3) == codes.USAGE
    assert codes.sync_exit([None], left_out=1) == codes.INCOMPLETE
