"""Process hygiene for the embedded runtime: children that die with their parent, ports checked
before use, and who holds the data folder's lock.

The parent-death signal is Linux's prctl(PR_SET_PDEATHSIG), called through ctypes: it is one
libc call, and the libraries that wrap it (python-prctl, psutil) are a C build or a large
dependency for one line. Elsewhere it is a no-op and the process group remains.
"""

from __future__ import annotations

import ctypes
import errno
import os
import signal
import socket
import sys
from pathlib import Path

PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (SIGKILL included).
    Meant as a Popen preexec_fn; the supervisor is single-threaded, so "parent thread" is it."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
    if os.getppid() == 1:  # the parent died before prctl: do what the signal would have done
        os.kill(os.getpid(), sig)


def port_taken(host: str, port: int) -> str | None:
    """Why `host:port` cannot be listened on, or None when it can (port 0 always can)."""
    if not port:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn and nats-server do
        try:
            sock.bind((host, port))
        except OSError as e:
            return os.strerror(e.errno or errno.EADDRINUSE).lower()
    return None


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def holders(path: Path) -> list[int]:
    """Processes that have `path` open (the lock file: the supervisor and every child it left)."""
    target = str(path.resolve())
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) == target:
                    found.append(int(entry.name))
                    break
        except OSError:
            continue
    return sorted(found)
