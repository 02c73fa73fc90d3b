"""Real small file systems for fault tests: a tmpfs (full is real) and a loop-mounted ext4 (full,
read-only and immutable files are real, even for root). Both need root; without it a test skips,
saying why."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

TMPFS_SIZE = "4m"
EXT4_BYTES = 16 * 1024 * 1024  # ext4's own metadata takes ~1.5 MB of it


def _run(*command: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(command), capture_output=True, text=True)


def mount_tmpfs(mount_point: Path, size: str = TMPFS_SIZE) -> str | None:
    """Mount a tmpfs of `size`; None, or why it cannot be mounted here."""
    mount_point.mkdir(exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point))
    return f"cannot mount a tiny tmpfs here (needs root): {done.stderr.strip()}" if done.returncode else None


def mount_ext4(image: Path, mount_point: Path, size: int = EXT4_BYTES) -> str | None:
    """Make and loop-mount an ext4 image of `size` bytes; None, or why it cannot be done here."""
    mount_point.mkdir(exist_ok=True)
    with open(image, "wb") as handle:
        handle.truncate(size)
    made = _run("mkfs.ext4", "-q", "-F", str(image))
    if made.returncode:
        return f"cannot make an ext4 image here: {made.stderr.strip()}"
    done = _run("mount", "-o", "loop", str(image), str(mount_point))
    return (
        f"cannot loop-mount ext4 here (needs root and /dev/loop*): {done.stderr.strip()}" if done.returncode else None
    )


def unmount(mount_point: Path) -> None:
    _run("chattr", "-R", "-i", str(mount_point))  # an immutable file would outlive the mount
    _run("umount", "-l", str(mount_point))


@contextmanager
def tiny_tmpfs(mount_point: Path) -> Iterator[Path]:
    reason = mount_tmpfs(mount_point)
    if reason:
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        unmount(mount_point)


@contextmanager
def loop_ext4(image: Path, mount_point: Path, size: int = EXT4_BYTES) -> Iterator[Path]:
    reason = mount_ext4(image, mount_point, size)
    if reason:
        pytest.skip(reason)
    try:
        yield mount_point
    finally:
        unmount(mount_point)


def chattr_immutable(path: Path, immutable: bool, *, recursive: bool = False) -> str | None:
    """chattr +i: not even root may open the file for writing (EPERM); None, or why it failed."""
    done = _run("chattr", *(["-R"] if recursive else []), "+i" if immutable else "-i", str(path))
    return f"chattr refused on {path}: {done.stderr.strip()}" if done.returncode else None


def set_immutable(path: Path, immutable: bool) -> None:
    reason = chattr_immutable(path, immutable)
    if reason:
        pytest.skip(reason)


def fill(directory: Path, name: str = "filler") -> Path:
    """Fill the file system to the last byte; delete the returned file to make room again."""
    filler = directory / name
    with open(filler, "wb", buffering=0) as handle:
        for block in (65536, 4096, 512, 1):  # large blocks first, then the last bytes
            try:
                while True:
                    handle.write(b"\0" * block)
            except OSError:  # ENOSPC: full at this block size
                pass
    return filler
