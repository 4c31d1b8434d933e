"""Reading and writing the artifact store: a local directory or an fsspec URL (s3://, gs://, memory://).

    text = read_text("s3://bucket/runs/demo/designs/d1/design.yaml")
    write_text(url, text)                    # the whole object under that name, or none of it
    names = children_with(layout.designs_dir(), DESIGN_FILE)
    work = work_dir(out)                     # local scratch (checkpoints) of a child writing to `out`

Every process that touches the store (runtime, design session, trainer) goes through
here, so a URL means the same to all of them. A local path or file:// URL goes through
the OS as it always has: temp file, fsync, rename. An object store gets each object in
one upload, which it makes visible only once complete: readers see the old object or
the whole new one, so a result that exists is complete.

Drivers are optional extras (`pip install 'genesys-lm[s3]'` for s3fs, `[gcs]` for
gcsfs). Credentials and endpoints come from the driver's usual sources (AWS_* variables
such as AWS_ENDPOINT_URL, ~/.aws, instance roles; Google's application default
credentials) and from fsspec's FSSPEC_<PROTOCOL>_<OPTION> variables, e.g.
FSSPEC_S3_ENDPOINT_URL; child processes inherit them.
"""

from __future__ import annotations

import os
import posixpath
import tempfile
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from genesys.api.manifest import ManifestError, loads_manifest

M = TypeVar("M", bound=BaseModel)

WORK_DIR_ENV = "GENESYS_WORK_DIR"
# Stores that make an object visible only when its upload completes; other remote
# filesystems (sftp, ...) get a temporary name and a move, like a local directory.
OBJECT_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"}
EXTRAS = {"s3": "s3", "s3a": "s3", "gs": "gcs", "gcs": "gcs"}


class StoreError(Exception):
    """The store cannot be used as named (no driver for its protocol, an unknown protocol)."""


def protocol(url: str) -> str:
    """'s3' for s3://bucket/x, 'file' for a path or a file:// URL."""
    head, sep, _ = str(url).partition("://")
    return head.lower() if sep else "file"


def is_local(url: str) -> bool:
    return protocol(url) in ("file", "local")


def local_path(url: str) -> Path:
    """The local path of a path or file:// URL."""
    text = str(url)
    return Path(text.partition("://")[2] if "://" in text else text)


def join(url: str, *parts: str) -> str:
    return "/".join((str(url).rstrip("/"), *parts))


def _fs(url: str) -> tuple[Any, str]:
    import fsspec

    name = protocol(url)
    try:
        return fsspec.core.url_to_fs(url)
    except ImportError:
        extra = EXTRAS.get(name)
        fix = (f"pip install 'genesys-lm[{extra}]'" if extra
               else f"install the fsspec driver for {name}:// (fsspec's docs list them)")
        raise StoreError(f"{url}: the store's protocol {name}:// has no driver installed: {fix}") from None
    except ValueError as err:
        if "Protocol not known" not in str(err):
            raise
        raise StoreError(f"{url}: unknown store protocol {name}://; give a local path, file://, s3:// or gs:// "
                         "(any fsspec protocol whose driver is installed)") from None


def check(url: str) -> None:
    """Raise StoreError now, before anything is written, if the store's driver is missing."""
    if not is_local(url):
        _fs(url)


def probe(url: str) -> None:
    """Raise StoreError now if the store cannot be reached (credentials, endpoint, driver)."""
    try:
        exists(url)
    except StoreError:
        raise
    except Exception as err:  # drivers raise their own types (botocore's NoCredentialsError, ...)
        raise StoreError(f"{url}: cannot reach the store ({type(err).__name__}: {err}); check its credentials and "
                         "endpoint (for s3://: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws, AWS_ENDPOINT_URL "
                         "or FSSPEC_S3_ENDPOINT_URL)") from None


def read_bytes(url: str) -> bytes:
    """The object's bytes; FileNotFoundError when there is none."""
    if is_local(url):
        return local_path(url).read_bytes()
    fs, path = _fs(url)
    return fs.cat_file(path)


def read_text(url: str) -> str:
    return read_bytes(url).decode("utf-8")


def write_bytes(url: str, data: bytes) -> None:
    """Atomically per object: readers never see a part of `data` under `url`."""
    if is_local(url):
        _write_local(local_path(url), data)
        return
    fs, path = _fs(url)
    if protocol(url) in OBJECT_STORES:
        fs.pipe_file(path, data)
        return
    parent, name = posixpath.split(path)
    fs.makedirs(parent, exist_ok=True)
    tmp = f"{parent}/.{name}.{os.getpid()}.tmp"
    fs.pipe_file(tmp, data)
    fs.mv(tmp, path)


def write_text(url: str, text: str) -> None:
    write_bytes(url, text.encode("utf-8"))


def _write_local(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def upload(local: Path, url: str) -> None:
    """Copy a local file to `url` (atomically); nothing to do when `url` is that file."""
    if is_local(url) and local_path(url).resolve() == local.resolve():
        return
    write_bytes(url, local.read_bytes())


def exists(url: str) -> bool:
    if is_local(url):
        return local_path(url).exists()
    fs, path = _fs(url)
    fs.invalidate_cache(posixpath.dirname(path))  # other processes write here: a cached listing is stale
    return fs.exists(path)


def remove(url: str) -> None:
    """Delete the object if there is one."""
    if is_local(url):
        local_path(url).unlink(missing_ok=True)
        return
    fs, path = _fs(url)
    try:
        fs.rm_file(path)
    except FileNotFoundError:
        pass
    fs.invalidate_cache(posixpath.dirname(path))


def children_with(url: str, filename: str) -> list[str]:
    """Names of the directories directly under `url` holding `filename`, sorted; hidden ones left out."""
    if is_local(url):
        found = [p.parent.name for p in local_path(url).glob(f"*/{filename}")]
    else:
        fs, path = _fs(url)
        fs.invalidate_cache(path)
        found = [posixpath.basename(posixpath.dirname(p)) for p in fs.glob(f"{path.rstrip('/')}/*/{filename}")]
    return sorted(name for name in found if not name.startswith("."))


def read_manifest(url: str, model: type[M]) -> M:
    """A manifest from the store, with load_manifest's errors (a missing file is a ManifestError)."""
    try:
        text = read_text(url)
    except FileNotFoundError:
        raise ManifestError(f"{url}: no such file") from None
    except (IsADirectoryError, UnicodeDecodeError, PermissionError) as err:
        raise ManifestError(f"{url}: cannot read it as a UTF-8 text file ({err})") from None
    return loads_manifest(text, model, str(url))


def work_dir(url: str) -> Path:
    """A local directory for a child's scratch files (checkpoints, the model, evaluation files).

    For a local store, the output directory itself, as always. For a remote one, the same
    place on every start (so a restarted child resumes from its checkpoints): under
    $GENESYS_WORK_DIR, else the system's temp dir, mirroring the URL.
    """
    if is_local(url):
        return local_path(url)
    base = Path(os.environ.get(WORK_DIR_ENV) or Path(tempfile.gettempdir()) / "genesys-work")
    _, _, rest = str(url).partition("://")
    parts = [p for p in rest.split("/") if p not in ("", ".", "..")]
    return base.joinpath(protocol(url), *parts)
