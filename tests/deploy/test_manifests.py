"""The plain manifests in deploy/manifests: exactly what generate.sh makes from the chart, and
`kustomize build` of them yields every object once."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from tests.deploy.deploy_helpers import REPO, Helm

MANIFESTS = REPO / "deploy" / "manifests"


def _yaml_files(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*.yaml"))
    }


def _objects(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def _key(obj: dict[str, Any]) -> tuple[str, str, str, str]:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def test_manifests_are_what_generate_sh_makes_from_the_chart(chart: Helm, tmp_path: Path) -> None:
    """Running deploy/manifests/generate.sh again gives byte-identical files (regenerate and
    commit after changing the chart or crds/)."""
    out = tmp_path / "manifests"
    result = subprocess.run(
        ["bash", str(MANIFESTS / "generate.sh"), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**chart.env, "HELM": str(chart.binary)},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    fresh, committed = _yaml_files(out), _yaml_files(MANIFESTS)
    assert sorted(fresh) == sorted(committed), "run: bash deploy/manifests/generate.sh"
    stale = [name for name in fresh if fresh[name] != committed[name]]
    assert not stale, f"out of date: {stale}; run: bash deploy/manifests/generate.sh"


def test_kustomize_build_yields_every_manifest_once(kustomize_build: Path) -> None:
    """`kustomize build deploy/manifests` (the krusty library kubectl uses) succeeds and yields
    each object of the listed files once and unchanged: the Namespace, the three CRDs and the
    chart's default objects."""
    result = subprocess.run(
        [str(kustomize_build), str(MANIFESTS)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    built = {_key(o): o for o in _objects(result.stdout)}
    listed = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    files = sorted(name for name in _yaml_files(MANIFESTS) if name != "kustomization.yaml")
    assert sorted(listed) == files, "kustomization.yaml must list every manifest file"
    from_files = [o for name in files for o in _objects((MANIFESTS / name).read_text())]
    assert len(built) == len(from_files)
    assert built == {_key(o): o for o in from_files}
    kinds = sorted(k[1] for k in built)
    assert kinds.count("CustomResourceDefinition") == 3 and kinds.count("Namespace") == 1
    assert {k[2] for k in built} == {"", "chassisd"}
