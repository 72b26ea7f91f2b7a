"""A FAISS index file checked before FAISS reads it.

`faiss.read_index` trusts the sizes a file declares: a header claiming 2^37 floats makes it
allocate 512 GB (a MemoryError, or the kernel's OOM killer) before it notices the file is short.
`check_index_file` walks the layouts coderag writes (flat, IVF-flat with array lists, HNSW-flat;
inner product or L2) and checks every declared size against the bytes that are really there,
without reading the vectors themselves.

>>> import faiss, numpy as np, tempfile, os
>>> index = faiss.IndexFlatIP(4); index.add(np.ones((3, 4), dtype="float32"))
>>> path = os.path.join(tempfile.mkdtemp(), "index.faiss"); faiss.write_index(index, path)
>>> check_index_file(path)
IndexShape(kind='flat', dimension=4, count=3)
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from rag.errors import IndexStoreError

_FLAT = (b"IxFI", b"IxF2")  # inner product, L2
_IVF_FLAT, _HNSW_FLAT = b"IwFl", b"IHNf"
_HASHTABLE_DIRECT_MAP = 2


@dataclass(frozen=True)
class IndexShape:
    kind: str
    dimension: int
    count: int


class _Corrupt(Exception):
    pass


class _Reader:
    """Reads fixed-size fields and skips declared blocks, never past the end of the file."""

    def __init__(self, handle: BinaryIO, size: int) -> None:
        self.handle, self.size, self.position = handle, size, 0

    @property
    def remaining(self) -> int:
        return self.size - self.position

    def read(self, count: int) -> bytes:
        if count > self.remaining:
            raise _Corrupt(f"it ends {count - self.remaining} bytes early")
        data = self.handle.read(count)
        self.position += count
        return data

    def unpack(self, fmt: str) -> tuple[int, ...]:
        return struct.unpack("<" + fmt, self.read(struct.calcsize("<" + fmt)))

    def skip(self, count: int) -> None:
        if count < 0 or count > self.remaining:
            raise _Corrupt(f"it declares {count:,} bytes where {self.remaining:,} are left")
        self.handle.seek(count, 1)
        self.position += count

    def vector(self, item_bytes: int) -> int:
        """Skip one length-prefixed vector; returns its length in items."""
        (length,) = self.unpack("Q")
        if length > self.remaining // item_bytes:
            raise _Corrupt(f"it declares {length:,} items of {item_bytes} bytes where {self.remaining:,} bytes are left")
        self.skip(length * item_bytes)
        return length

    def sizes(self) -> list[int]:
        """A length-prefixed vector of 64-bit sizes, read (they say how much data follows)."""
        (length,) = self.unpack("Q")
        if length > self.remaining // 8:
            raise _Corrupt(f"it declares {length:,} list sizes where {self.remaining:,} bytes are left")
        return list(struct.unpack(f"<{length}Q", self.read(8 * length)))


def check_index_file(path: str | Path) -> IndexShape:
    """The index's kind, dimension and vector count; an IndexStoreError if any declared size does not fit the file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            reader = _Reader(handle, path.stat().st_size)
            shape = _index(reader)
            if reader.remaining:
                raise _Corrupt(f"{reader.remaining:,} bytes follow the index")
    except _Corrupt as exc:
        raise IndexStoreError(f"corrupt FAISS index file {path}: {exc}", hint="rebuild it with `coderag index build`") from None
    except OSError as exc:
        raise IndexStoreError(f"cannot read FAISS index file {path}: {exc.strerror or exc}") from None
    return shape


def _header(reader: _Reader) -> tuple[int, int]:
    dimension, count, _, _, _, metric = reader.unpack("iqqq?i")
    if dimension <= 0 or count < 0:
        raise _Corrupt(f"its header says {dimension} dimensions and {count} vectors")
    if metric > 1:
        reader.skip(4)  # the metric's argument
    return dimension, count


def _index(reader: _Reader) -> IndexShape:
    fourcc = reader.read(4)
    if fourcc in _FLAT:
        dimension, count = _header(reader)
        floats = reader.vector(4)
        if floats != dimension * count:
            raise _Corrupt(f"it holds {floats:,} floats for {count:,} vectors of {dimension}")
        return IndexShape("flat", dimension, count)
    if fourcc == _IVF_FLAT:
        dimension, count = _header(reader)
        reader.skip(16)  # nlist, nprobe
        quantizer = _index(reader)
        if quantizer.dimension != dimension:
            raise _Corrupt("its quantizer has another dimension")
        (map_type,) = reader.unpack("B")
        reader.vector(8)
        if map_type == _HASHTABLE_DIRECT_MAP:
            reader.vector(16)
        stored = _inverted_lists(reader, code_size=4 * dimension)
        if stored != count:
            raise _Corrupt(f"its lists hold {stored:,} vectors, its header says {count:,}")
        return IndexShape("ivf", dimension, count)
    if fourcc == _HNSW_FLAT:
        dimension, count = _header(reader)
        for item_bytes in (8, 4, 4, 8, 4):  # level probabilities, neighbours per level, levels, offsets, neighbours
            reader.vector(item_bytes)
        reader.skip(20)  # entry point, max level, efConstruction, efSearch, upper beam
        storage = _index(reader)
        if (storage.dimension, storage.count) != (dimension, count):
            raise _Corrupt("its vector storage does not match its header")
        return IndexShape("hnsw", dimension, count)
    raise _Corrupt(f"unsupported index type {fourcc!r}")


def _inverted_lists(reader: _Reader, code_size: int) -> int:
    """Skip an IVF's array inverted lists; returns how many vectors they hold."""
    fourcc = reader.read(4)
    if fourcc == b"il00":
        return 0
    if fourcc != b"ilar":
        raise _Corrupt(f"unsupported inverted lists {fourcc!r}")
    nlist, stored_code_size = reader.unpack("QQ")
    if stored_code_size != code_size:
        raise _Corrupt(f"its lists store {stored_code_size}-byte codes, not {code_size}")
    layout = reader.read(4)
    sizes = reader.sizes()
    if layout == b"full":
        if len(sizes) != nlist:
            raise _Corrupt(f"it lists {len(sizes)} sizes for {nlist} lists")
    elif layout == b"sprs":
        if len(sizes) % 2 or any(number >= nlist for number in sizes[::2]):
            raise _Corrupt("its sparse list sizes are malformed")
        sizes = sizes[1::2]
    else:
        raise _Corrupt(f"unsupported list layout {layout!r}")
    total = sum(sizes)
    if total > reader.remaining // (code_size + 8):
        raise _Corrupt(f"its lists declare {total:,} vectors where {reader.remaining:,} bytes are left")
    reader.skip(total * (code_size + 8))
    return total
