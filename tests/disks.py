"""Real small file systems for fault tests: a tmpfs (full is real) and a loop-mounted ext4 (full,
read-only and immutable files are real, even for root). Both need root; without it a test skips,
saying why."""

from __future__ import annotations

import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

TMPFS_SIZE = "4m"
EXT4_BYTES = 16 * 1024 * 1024  # ext4's own metadata takes ~1.5 MB of it


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True)


@contextmanager
def tiny_tmpfs(mount_point: Path) -> Iterator[Path]:
    mount_point.mkdir(exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount_point))
    if done.returncode:
        pytest.skip(f"cannot mount a tiny tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        _run("umount", "-l", str(mount_point))


@contextmanager
def loop_ext4(image: Path, mount_point: Path, size: int = EXT4_BYTES) -> Iterator[Path]:
    mount_point.mkdir(exist_ok=True)
    with open(image, "wb") as handle:
        handle.truncate(size)
    made = _run("mkfs.ext4", "-q", "-F", str(image))
    if made.returncode:
        pytest.skip(f"cannot make an ext4 image here: {made.stderr.strip()}")
    done = _run("mount", "-o", "loop", str(image), str(mount_point))
    if done.returncode:
        pytest.skip(f"cannot loop-mount an ext4 image here (needs root and /dev/loop*): {done.stderr.strip()}")
    try:
        yield mount_point
    finally:
        for path in mount_point.rglob("*"):  # an immutable file would outlive the test
            _run("chattr", "-i", str(path))
        _run("umount", "-l", str(mount_point))


def set_immutable(path: Path, immutable: bool) -> None:
    """chattr +i: not even root may open the file for writing (EPERM)."""
    done = _run("chattr", "+i" if immutable else "-i", str(path))
    if done.returncode:
        pytest.skip(f"chattr is refused here: {done.stderr.strip()}")


def fill(directory: Path) -> Path:
    """Fill the file system to the last byte; delete the returned file to make room again."""
    filler = directory / "filler"
    with open(filler, "wb", buffering=0) as handle:
        for block in (65536, 4096, 512, 1):  # large blocks first, then the last bytes
            try:
                while True:
                    handle.write(b"\0" * block)
            except OSError:  # ENOSPC: full at this block size
                pass
    return filler
