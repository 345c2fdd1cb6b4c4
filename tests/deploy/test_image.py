"""deploy/Dockerfile against the package and the chart, read as text: the Dockerfile,
.dockerignore, pyproject.toml and the chart's values agree. test_image_run.py builds the image
(`make image`) and runs it."""

from __future__ import annotations

import json
import re
import tomllib
from typing import Any

import yaml

from tests.deploy.deploy_helpers import CHART, REPO

DOCKERFILE = REPO / "deploy" / "Dockerfile"


def _stages() -> list[list[tuple[str, str]]]:
    """The Dockerfile's stages, each a list of (INSTRUCTION, arguments), continuations joined."""
    text = re.sub(r"\\\n\s*", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        instruction, _, rest = line.partition(" ")
        if instruction.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((instruction.upper(), rest.strip()))
    return stages


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_builder_stage_copies_everything_the_wheel_is_built_from() -> None:
    """The builder copies pyproject.toml, its readme and the top directory of every package
    pyproject.toml names, and .dockerignore lets exactly those into the build context."""
    project = _pyproject()
    setuptools = project["tool"]["setuptools"]
    package_dirs = setuptools["package-dir"]
    top_dirs = {
        (package_dirs.get(pkg) or pkg.replace(".", "/")).split("/")[0]
        for pkg in setuptools["packages"]
    }
    needed = {"pyproject.toml", project["project"]["readme"], *top_dirs}
    builder = _stages()[0]
    copied = {
        source.rstrip("/")
        for instruction, args in builder
        if instruction == "COPY"
        for source in args.split()[:-1]
    }
    assert needed <= copied, f"deploy/Dockerfile does not copy {sorted(needed - copied)}"
    run = " ".join(args for instruction, args in builder if instruction == "RUN")
    assert "pip wheel --wheel-dir /wheels ." in run
    assert "pip install --no-index --find-links=/wheels chassisd" in run
    assert re.search(r'"cyclonedx-bom==\$\{CYCLONEDX_BOM_VERSION\}"', run)
    assert re.search(r"ARG CYCLONEDX_BOM_VERSION=\d+\.\d+\.\d+\n", DOCKERFILE.read_text())
    ignore = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", ".dockerignore must start by excluding everything"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert allowed == needed


def test_final_stage_runs_chassisd_as_the_user_the_chart_expects() -> None:
    """Both stages start from ${PYTHON_IMAGE} (python:3.11-slim unless make image passes its
    Debian base); the final one copies only the builder's virtualenv, runs as 65532 (the
    chart's runAsUser) and runs `chassisd run`, the console script pyproject.toml declares and
    the command the chart's arguments continue; its version label is a build argument."""
    stages = _stages()
    assert len(stages) == 2
    text = DOCKERFILE.read_text()
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert [s[0] for s in stages] == [
        ("FROM", "${PYTHON_IMAGE} AS builder"),
        ("FROM", "${PYTHON_IMAGE}"),
    ]
    final = dict(stages[1])
    assert final["COPY"] == "--from=builder /opt/chassisd /opt/chassisd"
    assert "pip uninstall --yes --quiet pip setuptools wheel" in final["RUN"]
    assert final["ENV"].startswith("PATH=/opt/chassisd/bin:")
    assert final["USER"] == "65532:65532"
    assert json.loads(final["ENTRYPOINT"]) == ["chassisd"]
    assert json.loads(final["CMD"]) == ["run"]
    assert 'org.opencontainers.image.version="${VERSION}"' in final["LABEL"]
    assert 'org.opencontainers.image.revision="${REVISION}"' in final["LABEL"]
    assert _pyproject()["project"]["scripts"]["chassisd"] == "chassisd.daemon:main"
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["podSecurityContext"]["runAsUser"] == 65532
    assert values["podSecurityContext"]["runAsGroup"] == 65532
    assert int(final["EXPOSE"]) == values["healthPort"]


def test_chart_default_tag_is_the_package_version() -> None:
    """The chart's default image tag is its appVersion (values leave tag empty), which is the
    package's version, the tag `make image` gives the image."""
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["appVersion"] == _pyproject()["project"]["version"]
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert values["image"] == {**values["image"], "repository": "localhost/chassisd", "tag": ""}
