"""Reader (and writer, for tests and tooling) of the IDX format used by MNIST and Fashion-MNIST.

IDX layout (big-endian): two zero bytes, one type byte, one byte ``ndim``, then ``ndim`` uint32 sizes,
then the data in C order. Files may be gzip-compressed (detected from the gzip magic, not the name).
"""
from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

#: IDX type byte -> big-endian numpy dtype.
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    """The file's content, gunzipped when it starts with the gzip magic."""
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {str(path)!r}")
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as e:
            raise ValueError(f"IDX file {str(path)!r} is a corrupt or truncated gzip stream: {e}") from e
    return raw


def parse_idx(raw: bytes, *, name: str = "<bytes>") -> np.ndarray:
    """Parse an uncompressed IDX byte string into a new writable array in native byte order.

    Raises ``ValueError`` naming ``name`` on a bad magic number, an unknown type byte, or a size that
    does not match the header (truncated or trailing data).
    """
    if len(raw) < 4:
        raise ValueError(f"IDX data {name!r} is too short ({len(raw)} bytes) to hold the 4-byte magic number")
    if raw[0] != 0 or raw[1] != 0:
        raise ValueError(
            f"IDX data {name!r} has a bad magic number {raw[:4].hex()}: the first two bytes must be zero"
        )
    type_byte, ndim = raw[2], raw[3]
    if type_byte not in IDX_DTYPES:
        raise ValueError(
            f"IDX data {name!r} has a bad magic number {raw[:4].hex()}: unknown type byte 0x{type_byte:02x} "
            f"(known: {', '.join(f'0x{t:02x}' for t in IDX_DTYPES)})"
        )
    if ndim == 0:
        raise ValueError(f"IDX data {name!r} declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise ValueError(f"IDX data {name!r} is truncated inside its header ({len(raw)} < {header} bytes)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = IDX_DTYPES[type_byte]
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) < expected:
        raise ValueError(
            f"IDX data {name!r} is truncated: header shape {shape} needs {expected} bytes, got {len(raw)}"
        )
    if len(raw) > expected:
        raise ValueError(
            f"IDX data {name!r} has {len(raw) - expected} trailing bytes after the data of shape {shape}"
        )
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return np.array(arr, dtype=dtype.newbyteorder("="))


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file (gzip-compressed or raw) into a numpy array in native byte order.

    Raises ``FileNotFoundError`` when the file is missing and ``ValueError`` (with the path) on a bad
    magic number, a corrupt gzip stream, or a data size that does not match the header.
    """
    path = Path(path)
    return parse_idx(_read_bytes(path), name=str(path))


def write_idx(path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file; gzip-compressed when ``compress`` (default: path ends in ``.gz``).

    Inverse of :func:`read_idx`; used by tests and to export data. Raises ``ValueError`` for dtypes IDX
    cannot hold or for scalars.
    """
    path = Path(path)
    array = np.asarray(array)
    if array.ndim == 0 or array.ndim > 255:
        raise ValueError(f"IDX needs 1..255 dimensions, got an array of shape {array.shape}")
    by_kind = {dt.newbyteorder("=").str: t for t, dt in IDX_DTYPES.items()}
    type_byte = by_kind.get(array.dtype.newbyteorder("=").str)
    if type_byte is None:
        raise ValueError(f"IDX cannot store dtype {array.dtype}; use one of {[str(d) for d in IDX_DTYPES.values()]}")
    header = bytes([0, 0, type_byte, array.ndim]) + b"".join(int(s).to_bytes(4, "big") for s in array.shape)
    payload = header + np.ascontiguousarray(array, dtype=IDX_DTYPES[type_byte]).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    if compress:
        payload = gzip.compress(payload, compresslevel=6, mtime=0)
    path.write_bytes(payload)
    return path
