"""Images for the containers backend, built on the machine: no registry is needed.

* Prometheus: a root filesystem of Debian's `/usr/bin/prometheus` and the libraries it links
  (from `ldd`), brought in with `docker import`.
* Python base: `debootstrap --variant=minbase` of Debian bookworm with python3, brought in the
  same way.
* MLflow: `stack/images/mlflow/Dockerfile` built on the base with host networking; pip reaches
  PyPI through the machine's CA bundle, handed to it in the build context.

A build is skipped when its tag exists. Names that do not start with `mlcheck/` (the official
`prom/prometheus`, `ghcr.io/mlflow/mlflow`, set in `[stack]` of the policy) are pulled instead.
`mlcheck stack build-images` runs `build_images` with the policy's names.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

from mlcheck.errors import InfrastructureError
from mlcheck.policy import StackPolicy
from mlcheck.stack.files import stack_file

__all__ = [
    "BASE_IMAGE",
    "BuiltImage",
    "build_images",
    "docker_client",
    "image_exists",
    "is_local_image",
]

BASE_IMAGE = "mlcheck/python-base:local"
DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR_ENV = "MLCHECK_DEBIAN_MIRROR"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
PROMETHEUS_BINARY = Path("/usr/bin/prometheus")
SETUP_HINT = "run `bash scripts/stack-setup.sh` as root (installs docker.io and starts dockerd)"

Log = Callable[[str], None]


@dataclass(frozen=True)
class BuiltImage:
    name: str
    action: str  # "built", "pulled" or "present"
    seconds: float
    size_mb: float


def docker_client(timeout: float = 5.0) -> Any:
    """A client of the local Docker engine, or InfrastructureError naming how to start one."""
    try:
        import docker
    except ImportError as exc:  # pragma: no cover - a dependency of testcontainers
        raise InfrastructureError("the `docker` package is missing: pip install docker") from exc
    try:
        client = docker.from_env(timeout=int(max(timeout, 1)))
        client.ping()
    except Exception as exc:
        host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        raise InfrastructureError(
            f"no Docker engine answers at DOCKER_HOST={host!r} ({type(exc).__name__}); "
            f"start dockerd ({SETUP_HINT}) or use the processes backend"
        ) from exc
    return client


def image_exists(client: Any, name: str) -> bool:
    import docker.errors

    try:
        client.images.get(name)
    except docker.errors.ImageNotFound:
        return False
    return True


def is_local_image(name: str) -> bool:
    """Images named `mlcheck/...` are built here; any other name comes from a registry."""
    return name.startswith("mlcheck/")


def _split(name: str) -> tuple[str, str]:
    repository, _, tag = name.rpartition(":")
    if not repository or "/" in tag:
        return name, "latest"
    return repository, tag


def _size_mb(client: Any, name: str) -> float:
    return round(client.images.get(name).attrs.get("Size", 0) / 1e6, 1)


def _run(command: Sequence[str], what: str, timeout: float) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise InfrastructureError(
            f"{command[0]} is not installed (needed to {what}); {SETUP_HINT}"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise InfrastructureError(
            f"{what}: `{command[0]}` did not finish in {timeout:.0f} s"
        ) from exc
    if done.returncode != 0:
        output = (done.stdout + done.stderr)[-3000:]
        raise InfrastructureError(f"{what} failed (exit {done.returncode}):\n{output}")


def _import_rootfs(client: Any, rootfs: Path, name: str, changes: list[str]) -> None:
    """`tar` the folder and `docker import` it with Dockerfile `changes` (CMD, ENV, ...)."""
    archive = rootfs.parent / "rootfs.tar"
    _run(["tar", "--numeric-owner", "-C", str(rootfs), "-cf", str(archive), "."], "tar", 600)
    repository, tag = _split(name)
    client.api.import_image_from_file(str(archive), repository=repository, tag=tag, changes=changes)
    archive.unlink()


def linked_libraries(binary: Path) -> list[Path]:
    """The shared libraries `binary` loads (empty for a static binary)."""
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or "not a dynamic executable" in done.stdout + done.stderr:
        return []
    libraries = []
    for line in done.stdout.splitlines():
        words = line.replace("=>", " ").split()
        paths = [w for w in words if w.startswith("/")]
        if paths:
            libraries.append(Path(paths[0]))
    return libraries


def build_prometheus(client: Any, name: str, work: Path, log: Log) -> None:
    if not PROMETHEUS_BINARY.is_file():
        raise InfrastructureError(
            f"{PROMETHEUS_BINARY} is missing, so the Prometheus image cannot be made; "
            f"apt-get install prometheus ({SETUP_HINT})"
        )
    rootfs = work / "prometheus-rootfs"
    for folder in ("bin", "etc/prometheus", "prometheus", "tmp"):
        (rootfs / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy2(PROMETHEUS_BINARY, rootfs / "bin" / "prometheus")
    libraries = linked_libraries(PROMETHEUS_BINARY)
    for library in libraries:
        target = rootfs / library.relative_to("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(library.resolve(), target)
    (rootfs / "etc/passwd").write_text("root:x:0:0::/:/bin/false\nnobody:x:65534:65534::/:\n")
    (rootfs / "etc/group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (rootfs / "etc/nsswitch.conf").write_text("hosts: files dns\n")
    (rootfs / "etc/hosts").write_text("127.0.0.1 localhost\n")
    (rootfs / "etc/prometheus/prometheus.yml").write_text(
        "global:\n  scrape_interval: 15s\nscrape_configs: []\n"
    )
    (rootfs / "prometheus").chmod(0o777)
    (rootfs / "tmp").chmod(0o1777)
    log(f"prometheus: rootfs of {PROMETHEUS_BINARY} + {len(libraries)} linked files")
    _import_rootfs(
        client,
        rootfs,
        name,
        [
            'ENTRYPOINT ["/bin/prometheus"]',
            'CMD ["--config.file=/etc/prometheus/prometheus.yml",'
            ' "--storage.tsdb.path=/prometheus"]',
            "WORKDIR /prometheus",
            "EXPOSE 9090",
        ],
    )


def build_base(client: Any, name: str, work: Path, log: Log) -> None:
    if os.geteuid() != 0:
        raise InfrastructureError(
            f"building {name} needs root (debootstrap makes device files); run as root or sudo"
        )
    rootfs = work / "base-rootfs"
    mirror = os.environ.get(DEBIAN_MIRROR_ENV, "http://deb.debian.org/debian")
    log(f"python base: debootstrap {DEBIAN_SUITE} from {mirror} (about 35 s)")
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates",
            DEBIAN_SUITE,
            str(rootfs),
            mirror,
        ],
        "debootstrap of the python base image",
        1800,
    )
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / cache).glob("*"):
            if item.is_file():
                item.unlink()
    _import_rootfs(
        client,
        rootfs,
        name,
        [
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            'CMD ["/bin/bash"]',
        ],
    )


def build_mlflow(client: Any, name: str, base: str, work: Path, log: Log) -> None:
    """The MLflow image on the base: the same mlflow version as this environment's client."""
    context = work / "mlflow-context"
    context.mkdir()
    shutil.copy2(stack_file("images", "mlflow", "Dockerfile"), context / "Dockerfile")
    if not CA_BUNDLE.is_file():
        raise InfrastructureError(f"{CA_BUNDLE} is missing; apt-get install ca-certificates")
    shutil.copy2(CA_BUNDLE, context / "ca-certificates.crt")
    mlflow_version = version("mlflow")
    log(f"mlflow: docker build on {base} with mlflow=={mlflow_version} (about 40 s)")
    lines: list[str] = []
    for chunk in client.api.build(
        path=str(context),
        tag=name,
        network_mode="host",
        buildargs={"BASE": base, "MLFLOW_VERSION": mlflow_version},
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "error" in chunk:
            tail = "".join(lines[-30:])
            raise InfrastructureError(
                f"docker build of {name} failed: {chunk['error'].strip()}\n{tail}"
            )
        text = chunk.get("stream", "")
        if text:
            lines.append(text)
            if text.startswith(("Step ", "Successfully built", "Successfully tagged")):
                log(f"mlflow: {text.strip()}")


def _pull(client: Any, name: str) -> None:
    repository, tag = _split(name)
    try:
        client.images.pull(repository, tag=tag)
    except Exception as exc:
        raise InfrastructureError(
            f"image={name!r} could not be pulled ({exc}); with no registry set "
            "[stack] prometheus_image/mlflow_image to the local mlcheck/... names and run "
            "`mlcheck stack build-images`"
        ) from exc


def build_images(
    policy: StackPolicy | None = None,
    *,
    force: bool = False,
    base: str = BASE_IMAGE,
    log: Log = print,
) -> list[BuiltImage]:
    """Make the stack's images (skipping those present unless `force`); returns what it did."""
    policy = policy or StackPolicy()
    client = docker_client()
    done: list[BuiltImage] = []

    def make(name: str, build: Callable[[Path], None]) -> None:
        started = time.monotonic()
        if image_exists(client, name) and not force:
            log(f"{name}: present, skipped (--force rebuilds it)")
            done.append(BuiltImage(name, "present", 0.0, _size_mb(client, name)))
            return
        if not is_local_image(name):
            log(f"{name}: pulling")
            _pull(client, name)
            action = "pulled"
        else:
            with tempfile.TemporaryDirectory(prefix="mlcheck-image-") as work:
                build(Path(work))
            action = "built"
        seconds = round(time.monotonic() - started, 1)
        size = _size_mb(client, name)
        log(f"{name}: {action} in {seconds:.1f} s ({size:.0f} MB)")
        done.append(BuiltImage(name, action, seconds, size))

    make(
        policy.prometheus_image,
        lambda work: build_prometheus(client, policy.prometheus_image, work, log),
    )
    if is_local_image(policy.mlflow_image):
        needs_mlflow = force or not image_exists(client, policy.mlflow_image)
        if needs_mlflow:  # the base is only needed to build the MLflow image
            make(base, lambda work: build_base(client, base, work, log))
    make(
        policy.mlflow_image, lambda work: build_mlflow(client, policy.mlflow_image, base, work, log)
    )
    return done
