"""Process-level tuning applied once at start-up (``create_app``, ``ihis worker``)."""

from __future__ import annotations

import ctypes
import ctypes.util
from contextlib import suppress

_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_BYTES = 128 * 1024


def tune_allocator() -> bool:
    """Pin glibc's mmap threshold at its 128 KiB default.

    glibc raises the threshold dynamically after large blocks are freed, after which each
    thread's arena keeps argon2id's 19 MiB working buffer for good: with a 40-thread request pool
    that is ~750 MB of RSS. Pinned, large buffers are mmapped and handed back after every hash.
    Returns False where the C library is not glibc (nothing to do)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    with suppress(OSError, AttributeError):
        libc = ctypes.CDLL(name)
        return bool(libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_BYTES))
    return False
