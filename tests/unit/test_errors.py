"""The error tree: its drawing matches the classes, ``located`` names the source once, and
``KubeApiError`` is part of it."""

from __future__ import annotations

import re

import pytest

import chassisd.errors as errors_module
from chassisd.errors import (
    AmbiguousOutcome,
    ChassisdError,
    DeviceError,
    DriverError,
    KubeApiError,
    ParseError,
    TransientError,
    located,
)

_CLASS_NAME = re.compile(r"[A-Z]\w+")


def drawn_tree() -> dict[str, str]:
    """Each class in the module docstring's tree → the class drawn as its parent (by column:
    a class is drawn four columns right of its parent)."""
    doc = errors_module.__doc__ or ""
    block = doc.split("::", 1)[1].strip("\n").split("\n\n", 1)[0]
    parents: dict[str, str] = {}
    by_column: dict[int, str] = {}
    for line in block.splitlines():
        match = _CLASS_NAME.search(line)
        assert match, f"not a tree line: {line!r}"
        column, name = match.start(), match.group()
        parents[name] = by_column.get(column - 4, "")
        by_column[column] = name
    return parents


def test_the_drawn_tree_is_the_class_tree() -> None:
    """Every error class is drawn under its real base class, and nothing else is drawn."""
    classes = {
        name: cls
        for name, cls in vars(errors_module).items()
        if isinstance(cls, type) and issubclass(cls, ChassisdError)
    }
    drawn = drawn_tree()
    assert set(drawn) == set(classes)
    for name, cls in classes.items():
        base = cls.__bases__[0]
        assert drawn[name] == ("" if cls is ChassisdError else base.__name__), name


def raise_in(block: located, error: Exception, cause: BaseException | None = None) -> None:
    """Raise ``error`` (from ``cause``) inside ``block``."""
    with block:
        raise error from cause


def test_located_names_the_source_in_the_message_and_fields() -> None:
    """A plain DriverError leaves the block naming driver and chassis; the same object, with
    its cause, travels on."""
    cause = OSError("connection refused")
    raised = TransientError("cannot connect")
    with pytest.raises(TransientError) as info:
        raise_in(located(chassis="m1", driver="moonshot"), raised, cause)
    error = info.value
    assert error is raised and error.__cause__ is cause
    assert (error.chassis, error.driver, error.reason) == ("m1", "moonshot", "cannot connect")
    assert str(error) == "moonshot/m1: cannot connect"


def test_located_keeps_the_fields_of_subclasses() -> None:
    """A ParseError keeps its command and line; only the prefix is added."""
    parse_error = ParseError("bad row", command="show node list", line="@@", line_no=3)
    with pytest.raises(ParseError) as info:
        raise_in(located(chassis="m1", driver="moonshot"), parse_error)
    error = info.value
    assert (error.command, error.line, error.line_no) == ("show node list", "@@", 3)
    assert str(error) == "moonshot/m1: 'show node list': bad row (line 3: '@@')"


def test_nested_blocks_stamp_once_and_the_inner_one_wins() -> None:
    """An error passing through two blocks names the innermost source, prefixed once."""

    def nested() -> None:
        with located(chassis="outer", driver="redfish"):
            raise_in(located(chassis="inner", driver="moonshot"), DeviceError("refused"))

    with pytest.raises(DeviceError) as info:
        nested()
    assert str(info.value) == "moonshot/inner: refused"
    assert (info.value.chassis, info.value.driver) == ("inner", "moonshot")


def test_a_second_pass_through_the_same_block_does_not_stamp_twice() -> None:
    """Re-raising a located error through ``located`` again leaves its message as it was."""
    block = located(chassis="m1", driver="ipmi")
    error = AmbiguousOutcome("no answer")
    for _ in range(2):
        with pytest.raises(AmbiguousOutcome):
            raise_in(block, error)
    assert str(error) == "ipmi/m1: no answer"


def test_other_exceptions_pass_through_untouched() -> None:
    """A non-chassisd error is neither changed nor swallowed."""
    original = ValueError("programming error")
    with pytest.raises(ValueError, match=r"^programming error$") as info:
        raise_in(located(chassis="m1", driver="moonshot"), original)
    assert info.value is original


def test_kube_api_error_says_what_its_status_means() -> None:
    """Status 0 is unreachable; 403, 404 and 409 have names; it is a ChassisdError."""
    assert issubclass(KubeApiError, ChassisdError) and not issubclass(KubeApiError, DriverError)
    assert KubeApiError("x", status=0).unreachable
    assert KubeApiError("x", status=404).not_found
    assert KubeApiError("x", status=409).conflict
    assert KubeApiError("x", status=403).forbidden
    refused = KubeApiError("x", status=422)
    assert not (refused.unreachable or refused.not_found or refused.conflict or refused.forbidden)


def test_the_gateway_still_exports_kube_api_error() -> None:
    """Callers that catch it from the gateway catch the class of the error tree."""
    from chassisd.kube import gateway

    assert gateway.KubeApiError is KubeApiError
