"""The exact float32 store of a vector field: one memory-mapped arena served by the page cache.

Why (issue 16): every kind used to keep a RAM-resident float32 copy of its vectors beside the
index, so HNSW and IVF-Flat held them twice and the compressed kinds (sq8, pq, ivf_pq, opq) saved
nothing. The arena writes the rows to an unlinked temporary file and reads them through a
read-only memory map: the index keeps the only copy in process memory (FAISS's own storage, or
just codes for the compressed kinds), and what re-ranking, range re-checks, exact and filtered
scans and the growing part read is served by the kernel's page cache -- resident while used,
reclaimable under pressure, never swapped out as anonymous memory would be.

The file is derived data (SQLite holds the vectors durably), unlinked from birth, so a crash
leaves nothing behind. If the file cannot be written (a full disk), the arena moves its rows to
process memory and goes on there: an acknowledged write never fails because of it.

The search methods mirror ``faiss.IndexFlat`` (``search`` / ``range_search`` with an optional
``SearchParameters`` selector; distances in FAISS space) through FAISS's brute-force kernels.
"""
from __future__ import annotations

import mmap
import os
import tempfile
from pathlib import Path
from typing import Any

import faiss
import numpy as np

__all__ = ["M_MMAP_THRESHOLD", "return_big_frees_to_the_os", "swig_ptr", "knn_block", "Arena"]

_MALLOC_TUNED = False
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def return_big_frees_to_the_os(threshold: int = 1 << 20) -> None:
    """Fix glibc's mmap threshold (once per process), so blocks of ``threshold`` bytes or more --
    rebuild copies, training samples, a FAISS code vector outgrowing its buffer -- are mapped
    apart and go back to the OS when freed. By default glibc raises the threshold after such a
    free and keeps later big temporaries in its heaps: measured at 100k x 384 sq8, that held
    ~75 MiB of freed memory, as much as the codes themselves. A no-op off glibc."""
    global _MALLOC_TUNED
    if _MALLOC_TUNED:
        return
    _MALLOC_TUNED = True
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, int(threshold))
    except (OSError, AttributeError):
        pass


# faiss.swig_ptr is a Python function around the SWIG module's own: calling that one directly
# saves a Python frame per array, and a search passes three to eight of them (issue 16).
swig_ptr: Any = getattr(getattr(faiss.swig_ptr, "__globals__", {}).get("_swigfaiss"), "swig_ptr", faiss.swig_ptr)


def knn_block(q: np.ndarray, xb: np.ndarray, k: int, metric: int, sel: Any = None, D: np.ndarray | None = None,
              I: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest of ``q`` in the block ``xb`` (both C-contiguous float32), FAISS's brute
    force kernels called directly: ``faiss.knn``'s Python wrapper costs as much as scanning a few
    hundred rows, which is what a narrow filtered search does (issue 16)."""
    nq = len(q)
    D = np.empty((nq, k), np.float32) if D is None else D
    I = np.empty((nq, k), np.int64) if I is None else I
    args = (swig_ptr(q), swig_ptr(xb), xb.shape[1], nq, len(xb), k, swig_ptr(D), swig_ptr(I))
    if metric == faiss.METRIC_L2:
        faiss.knn_L2sqr(*args, None, sel)
    else:
        faiss.knn_inner_product(*args, sel)
    return D, I


class Arena:
    """Append-only float32 rows (``dim`` wide) in a memory-mapped temporary file in ``folder``
    (the system's temporary folder when None). ``gather_budget``: bytes of rows that scattered
    reads (``gather``: re-ranking) may leave mapped before the map is released again."""

    def __init__(self, dim: int, metric: int, folder: Path | None = None, gather_budget: int = 64 << 20) -> None:
        return_big_frees_to_the_os()
        self.d = dim
        self._budget = gather_budget
        self._gathered = 0  # bytes gathered since the map was last released
        self.metric = metric
        self.ntotal = 0
        self._row = 4 * dim
        self._cap = 0
        self._view = np.zeros((0, dim), np.float32)  # rows [0, cap) of the current map
        self._mm: mmap.mmap | None = None
        self._ram: np.ndarray | None = None  # set when the file could not be written
        try:
            if folder is not None:
                folder.mkdir(parents=True, exist_ok=True)
            self._fh: Any = tempfile.TemporaryFile(dir=folder, prefix="xmodal-arena-")
        except OSError:
            self._fh = None
            self._ram = np.zeros((0, dim), np.float32)

    @property
    def in_memory(self) -> bool:
        """True when the rows live in process memory (the file could not be written)."""
        return self._ram is not None

    # ------------------------------------------------------------------ writes
    def add(self, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=np.float32).reshape(-1, self.d)
        if len(x) == 0:
            return
        if self._ram is None:
            try:
                self._file_add(x)
                return
            except OSError:
                self._to_memory()
        assert self._ram is not None
        need = self.ntotal + len(x)
        if need > len(self._ram):
            grown = np.empty((max(need, 2 * len(self._ram), 1024), self.d), np.float32)
            grown[: self.ntotal] = self._ram[: self.ntotal]
            self._ram = grown
        self._ram[self.ntotal: need] = x
        self.ntotal = need

    def _file_add(self, x: np.ndarray) -> None:
        need = self.ntotal + len(x)
        fd = self._fh.fileno()
        data = memoryview(x).cast("B")
        offset = self.ntotal * self._row
        while len(data):
            wrote = os.pwrite(fd, data, offset)
            data, offset = data[wrote:], offset + wrote
        if need > self._cap:
            self._cap = max(need, 2 * self._cap, 1024)
            os.ftruncate(fd, self._cap * self._row)
            mm = self._mm = mmap.mmap(fd, self._cap * self._row, prot=mmap.PROT_READ)
            try:  # re-ranking gathers scattered rows: map only the pages touched, not their neighbours
                mm.madvise(mmap.MADV_RANDOM)
            except (OSError, ValueError, AttributeError):
                pass
            # Readers holding the previous view keep its map alive; it is unmapped once they are done.
            self._view = np.frombuffer(mm, np.float32, count=self._cap * self.d).reshape(self._cap, self.d)
        self.ntotal = need

    def _to_memory(self) -> None:
        self._ram = np.array(self._view[: self.ntotal], dtype=np.float32)
        self._view = np.zeros((0, self.d), np.float32)
        self._mm = None
        fh, self._fh = self._fh, None
        try:
            fh.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ reads
    def xb(self) -> np.ndarray:
        """The rows (read-only; valid after later adds too, as a view of the rows it had)."""
        if self._ram is not None:
            return self._ram[: self.ntotal]
        return self._view[: self.ntotal]

    def read(self, lo: int, hi: int) -> np.ndarray:
        """A copy of rows [lo, hi), read from the file rather than through the map, so that
        reading every row once (a fold, a rebuild) does not map them all into the process."""
        hi = min(hi, self.ntotal)
        out = np.empty((max(0, hi - lo), self.d), np.float32)
        if self._ram is not None or len(out) == 0:
            out[:] = self.xb()[lo:hi]
            return out
        buf = memoryview(out).cast("B")
        offset = lo * self._row
        while len(buf):
            got = os.preadv(self._fh.fileno(), [buf], offset)
            if got <= 0:
                raise OSError(f"arena: short read at byte {offset}")
            buf, offset = buf[got:], offset + got
        return out

    def gather(self, slots: np.ndarray) -> np.ndarray:
        """Rows at ``slots`` (any shape of indices), copied. Pages a gather maps stay mapped (and
        count in the process's RSS) until about ``gather_budget`` bytes of pages were mapped; then
        the whole map is released, so re-ranking over a big arena keeps a bounded footprint."""
        out = self.xb()[slots]
        self._count_mapped(out.nbytes // self._row)
        return out

    def _count_mapped(self, rows: int) -> None:
        """Account ``rows`` scattered rows read through the map; past the budget the map is released."""
        if self._mm is not None:  # each row maps the pages it spans: about one more than its bytes
            self._gathered += rows * (self._row + mmap.PAGESIZE)
            if self._gathered >= self._budget:
                self._gathered = 0
                self.release(0, self.ntotal)

    def knn_by_idx(self, q: np.ndarray, slots: np.ndarray, k: int,
                   count_mapped: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest of each query among ``slots`` read in place (FAISS's by-index kernels:
        no gathered copy). ``slots``: (nq, c) candidates per query, -1 ending a row early (as FAISS
        pads), or (c,) shared by every query. Distances in FAISS space, best first; (0, -1) pads.
        ``count_mapped``: count the rows read against the gather budget (see ``gather``)."""
        q = np.ascontiguousarray(q, dtype=np.float32)
        slots = np.ascontiguousarray(slots, dtype=np.int64)
        nq = len(q)
        shared = slots.ndim == 1
        width = len(slots) if shared else slots.shape[1]
        D = np.empty((nq, k), np.float32)
        I = np.empty((nq, k), np.int64)
        if nq == 0 or k == 0:
            return D, I
        xb = self.xb()
        args = (swig_ptr(q), swig_ptr(xb), swig_ptr(slots), self.d, nq, len(xb), width, k,
                swig_ptr(D), swig_ptr(I), 0 if shared else width)
        if self.metric == faiss.METRIC_L2:
            faiss.knn_L2sqr_by_idx(*args)
        else:
            faiss.knn_inner_products_by_idx(*args)
        if count_mapped:
            self._count_mapped(width if shared else nq * width)
        if I.size and I[:, -1].min() < 0:  # FAISS puts a row's missing results (-1) last
            D[I < 0] = 0
        return D, I

    def release(self, lo: int, hi: int) -> None:
        """Drop rows [lo, hi) from the process's map (they stay in the page cache; a later read
        maps them again): rows an index now holds are no longer read on the hot path."""
        mm = self._mm
        if mm is None:
            return
        page = mmap.PAGESIZE
        start = -(-lo * self._row // page) * page  # whole pages inside the range only
        end = min(hi * self._row // page * page, len(mm))
        if end > start:
            try:
                mm.madvise(mmap.MADV_DONTNEED, start, end - start)
            except (OSError, ValueError):
                pass

    def search(self, q: np.ndarray, k: int, params: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Exact k nearest, as ``IndexFlat.search`` (padding -1); ``params.sel`` restricts rows."""
        q = np.ascontiguousarray(q, dtype=np.float32)
        xb = self.xb()
        nq = len(q)
        D = np.empty((nq, k), np.float32)
        I = np.empty((nq, k), np.int64)
        if k == 0 or nq == 0:
            return D, I
        return knn_block(q, xb, k, self.metric, params.sel if params is not None else None, D, I)

    def range_search(self, q: np.ndarray, radius: float,
                     params: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lims, distances, slots) as ``IndexFlat.range_search`` (strictly inside ``radius``)."""
        q = np.ascontiguousarray(q, dtype=np.float32)
        xb = self.xb()
        nq = len(q)
        res = faiss.RangeSearchResult(nq)
        sel = params.sel if params is not None else None
        args = (swig_ptr(q), swig_ptr(xb), self.d, nq, len(xb), float(radius), res, sel)
        if self.metric == faiss.METRIC_L2:
            faiss.range_search_L2sqr(*args)
        else:
            faiss.range_search_inner_product(*args)
        lims = faiss.rev_swig_ptr(res.lims, nq + 1).copy()
        total = int(lims[-1])
        if total == 0:
            return lims, np.zeros(0, np.float32), np.zeros(0, np.int64)
        return lims, faiss.rev_swig_ptr(res.distances, total).copy(), faiss.rev_swig_ptr(res.labels, total).copy()
