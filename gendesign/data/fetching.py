"""Data and weights on first use: from a mirror, else downloaded, verified and cached.

``data_path("mpts_52/test.csv.gz")`` returns a local path to that file (or folder),
in this order:

1. the local mirror (``--data-root``, ``GENDESIGN_DATA``, ``../shared/data`` beside the
   checkout; :func:`gendesign.paths.resolve_mirror`), read as it is (a file whose size
   differs from the registered one is named in a warning);
2. the cache (``$GENDESIGN_CACHE/data``), where earlier downloads were kept;
3. a download into the cache, from the mirror URL when the mirror is ``http(s)://``,
   else from the file's public URL in the registry (:mod:`gendesign.data.registry`).

Every download is checked against the registry's sha256 (pooch does the download,
the temporary file and the check) and never kept when it differs. Offline, with no
mirror, the error is one sentence naming the file, its URL and the variable that
points to a mirror. :func:`model_path` does the same for the ``models`` root.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from gendesign.data.registry import RegistryEntry, RemoteFile, Root, files_under
from gendesign.errors import DataRootError
from gendesign.paths import ROOT_ENV, Mirror, fetched_root, resolve_mirror

log = logging.getLogger(__name__)

_CHUNK = 1 << 20


def data_path(relative: str | Path, data_root: str | os.PathLike | None = None) -> Path:
    """A local path to the dataset file or folder ``relative`` (fetched if need be)."""
    return locate("data", relative, data_root)


def model_path(relative: str | Path, models_root: str | os.PathLike | None = None) -> Path:
    """A local path to the model file or folder ``relative`` (fetched if need be)."""
    return locate("models", relative, models_root)


def locate(root: Root, relative: str | Path, explicit: str | os.PathLike | None = None) -> Path:
    """A local path to ``relative`` under ``root``: mirror, cache, else a download."""
    found = local_copy(root, relative, explicit)
    if found is not None:
        return found
    mirror = resolve_mirror(root, explicit)
    wanted = files_under(root, relative)
    if not wanted:
        raise DataRootError(
            f"{relative}: not found under {mirror.describe()}, and not a file gendesign knows "
            f"where to fetch; set {ROOT_ENV[root]} to the folder that holds it"
        )
    for _, file in wanted:
        fetch(file, root, mirror)
    return fetched_root(root) / relative


def local_copy(
    root: Root, relative: str | Path, explicit: str | os.PathLike | None = None
) -> Path | None:
    """``relative`` in the local mirror (as it is there) or complete in the cache, else
    None; downloads nothing."""
    mirror = resolve_mirror(root, explicit)
    if mirror.folder is not None and (mirror.folder / relative).exists():
        _warn_if_unlike_registry(mirror.folder, relative, root)
        return mirror.folder / relative
    cached = fetched_root(root)
    wanted = [file for _, file in files_under(root, relative)]
    if wanted and all(_intact(cached / f.path, f) for f in wanted):
        return cached / relative
    return None


_warned: set[Path] = set()


def _warn_if_unlike_registry(folder: Path, relative: str | Path, root: Root) -> None:
    """A mirror is the user's folder and is read as it is; files there whose size differs
    from the registered ones (edited, or another version) are named once per process."""
    differing = [
        folder / file.path
        for _, file in files_under(root, relative)
        if (folder / file.path).is_file() and not _intact(folder / file.path, file)
    ]
    fresh = [path for path in differing if path not in _warned]
    if fresh:
        _warned.update(fresh)
        log.warning(
            "%s: %s not the size the registry gives; read as %s (`gendesign data status "
            "--verify` checks every file)",
            folder / relative,
            f"{len(fresh)} file(s) there are" if len(fresh) > 1 else f"{fresh[0].name} is",
            "they are" if len(fresh) > 1 else "it is",
        )


def fetch(file: RemoteFile, root: Root, mirror: Mirror | None = None) -> Path:
    """``file`` in the cache, downloaded and verified unless already there."""
    target = fetched_root(root) / file.path
    if _intact(target, file):
        return target
    mirror = mirror or resolve_mirror(root)
    local = mirror.folder / file.path if mirror.folder else None
    if local is not None and _intact(local, file):
        _copy_verified(local, target, file)
        return target
    url = f"{mirror.url}/{file.path}" if mirror.url else file.url
    _download(url, target, file, root)
    return target


def _download(url: str, target: Path, file: RemoteFile, root: Root) -> None:
    import pooch  # imported here: most runs find their files locally
    import requests

    pooch.get_logger().setLevel(logging.WARNING)  # we say what is fetched ourselves
    _announce(root, url[: -len(file.path)] if url.endswith(file.path) else None)
    log.debug("fetching %s (%s) from %s", file.path, size_text(file.size), url)
    known = f"sha256:{file.sha256}" if file.sha256 else None
    try:
        pooch.retrieve(url, known_hash=known, fname=target.name, path=target.parent)
    except ValueError:  # pooch: the sha256 differs; it deleted the download
        raise DataRootError(
            f"{url}: the download of {file.path} does not match its registered sha256 "
            f"({file.sha256[:12]}…) and was discarded; the mirror's copy is damaged or not "
            "this version"
        ) from None
    except (requests.RequestException, OSError) as err:
        raise DataRootError(
            f"{file.path} is not on this machine and could not be downloaded from {url} "
            f"({_reason(err)}); set {ROOT_ENV[root]} to a folder or http(s) URL holding a "
            "copy, or run `gendesign data fetch` where there is a network"
        ) from None
    if file.git_blob_sha1 and git_blob_sha1(target) != file.git_blob_sha1:
        target.unlink()
        raise DataRootError(
            f"{url}: the download of {file.path} does not match its registered git blob id "
            f"({file.git_blob_sha1[:12]}…) and was discarded"
        )


def _copy_verified(source: Path, target: Path, file: RemoteFile) -> None:
    """Copy from a local mirror, checked like a download (a bad copy is not kept)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    shutil.copyfile(source, partial)
    if not verified(partial, file):
        partial.unlink()
        raise DataRootError(f"{source}: its checksum differs from the registry's; not used")
    partial.replace(target)


def verified(path: Path, file: RemoteFile) -> bool:
    """Whether ``path`` has ``file``'s registered checksum (reads the whole file)."""
    if file.sha256:
        return sha256(path) == file.sha256
    return git_blob_sha1(path) == file.git_blob_sha1


def sha256(path: Path) -> str:
    return _hex_digest(path, hashlib.sha256())


def git_blob_sha1(path: Path) -> str:
    """GitHub's id of a file's contents: sha1 over ``blob <size>\\0`` and the bytes."""
    return _hex_digest(path, hashlib.sha1(f"blob {path.stat().st_size}\0".encode()))


def _hex_digest(path: Path, digest) -> str:
    """``digest`` updated with the file's bytes, read in chunks."""
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _intact(path: Path, file: RemoteFile) -> bool:
    """Present at its registered size (the cheap check made on every use; downloads and
    copies are checked in full when they arrive)."""
    return path.is_file() and (file.size is None or path.stat().st_size == file.size)


_announced: set[tuple[str, str | None]] = set()


def _announce(root: Root, base: str | None) -> None:
    """One line per root and source on the first download (each file is logged at debug)."""
    if (root, base) in _announced:
        return
    _announced.add((root, base))
    source = base.rstrip("/") if base else "their public sources (registry URLs)"
    log.info(
        "fetching %s files from %s into %s (first use; each checked against its sha256)",
        root,
        source,
        fetched_root(root),
    )


def size_text(size: int | None, unknown: str = "size not known ahead") -> str:
    """Bytes as MB (kB below 0.1 MB), or ``unknown``."""
    if size is None:
        return unknown
    return f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"


def _reason(err: BaseException) -> str:
    """Why a download failed, in a few words."""
    import requests

    if isinstance(err, requests.HTTPError) and err.response is not None:
        return f"HTTP {err.response.status_code}"
    if isinstance(err, requests.ConnectionError):
        return "no connection"
    if isinstance(err, requests.Timeout):
        return "timed out"
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class EntryStatus:
    """Where an entry's files are on this machine."""

    entry: RegistryEntry
    where: str  # "mirror", "cache", "partly" or "missing"
    folder: Path | None  # the folder its files are read from, when complete
    missing: int  # files not present at their registered size
    damaged: tuple[str, ...] = ()  # with --verify: files whose checksum differs


def entry_status(
    item: RegistryEntry, explicit: str | os.PathLike | None = None, verify: bool = False
) -> EntryStatus:
    """Where ``item`` is: complete in the mirror, complete in the cache, partly, or missing."""
    mirror = resolve_mirror(item.root, explicit)
    places = [("mirror", mirror.folder), ("cache", fetched_root(item.root))]
    best_missing = len(item.files)
    for label, folder in places:
        if folder is None:
            continue
        missing = [f for f in item.files if not _intact(folder / f.path, f)]
        if not missing:
            damaged = tuple(
                f.path for f in item.files if verify and not verified(folder / f.path, f)
            )
            return EntryStatus(item, label, folder, 0, damaged)
        best_missing = min(best_missing, len(missing))
    where = "partly" if best_missing < len(item.files) else "missing"
    return EntryStatus(item, where, None, best_missing)
