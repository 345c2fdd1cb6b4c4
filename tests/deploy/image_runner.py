"""Runs chassisd's container image the way the kubelet runs the chart's pod, with what a machine
without a working OCI runtime has: buildah's chroot isolation.

What the kubelet and its runtime do, and what stands for it here:

- the image's ENTRYPOINT followed by the container's ``args``, as the pod's ``runAsUser`` and
  ``runAsGroup``: ``buildah run --isolation chroot --user UID:GID`` with exactly that command
  (buildah itself does not apply ENTRYPOINT; its environment and working directory come from
  the image, as they do in a pod);
- ``readOnlyRootFilesystem: true``: the working container's root filesystem is bind-mounted
  read-only onto itself inside a private mount namespace (``unshare --mount``), so the remount
  is never seen outside the run and vanishes with it. buildah creates and removes its own mount
  point ``/run/.containerenv`` in the root filesystem and crashes when it cannot, so ``/run`` is a
  copy of the image's ``/run`` (root-owned, its subdirectories remounted read-only): unwritable
  for the pod's user, like the rest;
- the ServiceAccount volume: a directory holding ``token``, ``ca.crt`` and ``namespace``, mounted
  read-only at ``/run/secrets/kubernetes.io/serviceaccount``, which is where the image's
  ``/var/run/secrets/kubernetes.io/serviceaccount`` leads (``/var/run`` is a symlink to ``/run``
  in Debian; buildah 1.28 resolves an absolute symlink in a mount target on the host, not in the
  image, so the target is named by its resolved path);
- the chart's ``/tmp`` emptyDir: an empty directory of the test's, mode 1777;
- ``KUBERNETES_SERVICE_HOST``/``_PORT``: set by the caller, with the pod's other variables;
- stopping the pod: SIGTERM to the container's process (the one buildah started in the image,
  found among the run's descendants), then its exit status. buildah does not forward SIGTERM
  to it (it kills it), so the signal goes to that process by its PID, as a runtime sends it to
  the container's init process.

The network is the host's (chroot isolation has no network namespace): the agent reaches the API
server and the simulator on 127.0.0.1 and serves its health port there.

Must not: change the image or the system's container storage (only a throw-away working
container, removed afterwards), leave a mount behind, or stop any process it did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

SERVICE_ACCOUNT_DIR = "/run/secrets/kubernetes.io/serviceaccount"  # = /var/run/secrets/…

# Runs in the private mount namespace: root read-only, /run replaced by a writable-for-buildah
# copy whose subdirectories are read-only, then buildah.
_READ_ONLY_ROOT = """set -eu
root=$1 run=$2
shift 2
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount --bind "$run" "$root/run"
for d in "$root"/run/*/; do
  [ -d "$d" ] || continue
  mount --bind "$d" "$d"
  mount -o remount,bind,ro "$d"
done
exec "$@"
"""


def buildah(env: Mapping[str, str], *args: str, timeout: float = 120) -> str:
    """``buildah ARGS``'s stdout; a failure raises with buildah's stderr."""
    result = subprocess.run(
        ["buildah", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env),
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"buildah {' '.join(args)} exited {result.returncode}: {result.stderr}")
    return result.stdout


def image_config(env: Mapping[str, str], image: str) -> dict[str, Any]:
    """The OCI image configuration's ``config`` object (Entrypoint, Cmd, Env, User, Labels…)."""
    info = json.loads(buildah(env, "inspect", "--type", "image", image))
    config: dict[str, Any] = info["OCIv1"]["config"]
    return config


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _cmdline(pid: int) -> list[str]:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")
    except OSError:
        return []


@dataclass
class ImageRun:
    """One run of ``image`` as a pod's container; ``start`` it, read ``log``, ``terminate``."""

    storage_env: Mapping[str, str]  # the environment buildah needs (CONTAINERS_STORAGE_CONF)
    image: str
    args: Sequence[str]  # the container's args (the image's ENTRYPOINT goes first)
    env: Mapping[str, str]  # the container's environment, the kubelet's variables included
    user: str  # "UID:GID", the pod's runAsUser:runAsGroup
    service_account: Mapping[str, bytes]  # token, ca.crt, namespace
    work: Path  # an empty directory of the test's
    entrypoint: Sequence[str] | None = None  # None: the image's ENTRYPOINT, as in a pod
    log: list[str] = field(default_factory=list)
    process: subprocess.Popen[str] | None = None
    container: str = ""
    _drain: threading.Thread | None = None

    @property
    def tmp(self) -> Path:
        """The host side of the container's /tmp (the chart's emptyDir)."""
        return self.work / "tmp"

    def start(self) -> None:
        entrypoint = self.entrypoint
        if entrypoint is None:
            entrypoint = image_config(self.storage_env, self.image).get("Entrypoint") or []
        name = f"chassisd-test-{uuid.uuid4().hex[:10]}"
        self.container = buildah(
            self.storage_env, "from", "--pull-never", "--name", name, self.image
        ).strip()
        rootfs = Path(buildah(self.storage_env, "mount", self.container).strip())
        # Mount points a runtime creates before it makes the root read-only.
        for target in ("etc/hosts", "etc/hostname", "etc/resolv.conf"):
            (rootfs / target).touch(exist_ok=True)
        run_copy = self.work / "run"
        shutil.copytree(rootfs / "run", run_copy, symlinks=True)
        secrets = self.work / "serviceaccount"
        secrets.mkdir(mode=0o755)
        for filename, data in self.service_account.items():
            (secrets / filename).write_bytes(data)
            (secrets / filename).chmod(0o644)
        self.tmp.mkdir()
        self.tmp.chmod(0o1777)
        command = ["unshare", "--mount", "--propagation", "private"]
        command += ["sh", "-c", _READ_ONLY_ROOT, "read-only-root", str(rootfs), str(run_copy)]
        command += ["buildah", "run", "--isolation", "chroot", "--user", self.user]
        for key, value in self.env.items():
            command += ["--env", f"{key}={value}"]
        command += ["--volume", f"{secrets}:{SERVICE_ACCOUNT_DIR}:ro"]
        command += ["--volume", f"{self.tmp}:/tmp", self.container, "--", *entrypoint, *self.args]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=dict(self.storage_env),
        )
        assert self.process.stdout is not None
        self._drain = threading.Thread(target=self._read, args=(self.process.stdout,), daemon=True)
        self._drain.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.log.append(line)

    def container_pid(self, timeout: float = 30) -> int:
        """The PID of the process buildah started in the image (the container's process)."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            children = _children()
            pending = [self.process.pid]
            while pending:
                pid = pending.pop()
                for child in children.get(pid, []):
                    if _cmdline(pid)[:1] == ["buildah-chroot-exec"]:
                        return child
                    pending.append(child)
            time.sleep(0.1)
        raise RuntimeError("the container's process did not appear:\n" + self.tail())

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM to the container's process; its exit status, as buildah reports it."""
        assert self.process is not None
        os.kill(self.container_pid(), signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def tail(self, lines: int = 40) -> str:
        return "log ends:\n" + "".join(self.log[-lines:])

    def stop(self) -> None:
        """Stop what is still running (by PID) and remove the working container."""
        if self.process is not None:
            if self.process.poll() is None:
                with contextlib.suppress(RuntimeError, ProcessLookupError):
                    os.kill(self.container_pid(timeout=5), signal.SIGKILL)
                try:
                    self.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=15)
            if self._drain is not None:
                self._drain.join(timeout=5)
            if self.process.stdout is not None:
                self.process.stdout.close()
        if self.container:
            buildah(self.storage_env, "rm", self.container)
