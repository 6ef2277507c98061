"""Writing a file whole or not at all: the audit bundles, checkpoints and signing keys.

The bytes go to a private temporary file beside the target, are synced, then put in
place in one step: renamed over the target (``replace``), or linked to its name, which
fails if the name is taken, where a rename would replace it. Whatever fails, the
temporary file goes and an InputError says why, naming the target.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from napflow.errors import InputError


def write_whole(
    target: Path,
    write: Callable[[BinaryIO], object],
    *,
    replace: bool,
    mode: int | None = None,
    what: str = "",
) -> None:
    """Write ``target`` with ``write(handle)``, whole or not at all.

    ``replace`` says whether an existing file is replaced or the write refused; ``mode``
    sets the file's permissions (default: the temporary file's, the owner's alone);
    ``what`` leads the target's name in errors ("the bundle to ").
    """
    named = f"{what}{str(target)!r}"
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise InputError(f"Cannot write {named}: {exc.strerror}.") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if mode is not None:
                os.fchmod(handle.fileno(), mode)
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, target)
        else:
            os.link(tmp, target)
    except FileExistsError:
        raise InputError(f"{str(target)!r} exists already; napflow never replaces it.") from None
    except OSError as exc:
        raise InputError(f"Cannot write {named}: {exc.strerror}.") from None
    finally:
        Path(tmp).unlink(missing_ok=True)  # gone already after a rename
