"""One thread count for every pool a job computes with: torch's, numba's, and the BLAS and OpenMP libraries loaded
into the process (FAISS's OpenBLAS and OpenMP among them), through threadpoolctl; numpy's own BLAS at one thread.

Setting torch's count alone leaves numpy's OpenBLAS at one thread per core, so a "one thread" numpy product ran on
every core; and numba's OpenMP layer, started at one thread, left FAISS's OpenMP at two (measured here: FAISS's
exact search at ``omp_set_num_threads(1)`` used 1.99 CPU seconds per second). ``use`` sets them all, numba before
threadpoolctl so that threadpoolctl's limit is the last word.

numpy's OpenBLAS stays at one thread: lshbench's numpy products are the search's (lshbench.search), which spreads
them over its own threads (``Searcher.tiled_top_k``). OpenBLAS's worker threads spin for a while after each product,
and torch's and numba's threads (one OpenMP pool) wait for the cores they hold: measured at 2 threads, exact search
on the demo's 4,000 items took 4x as long, and one query 8 ms instead of 0.25 ms, with numpy's OpenBLAS at two."""

from __future__ import annotations

import torch

_applied: int | None = None  # the count ``use`` last applied to numba and threadpoolctl's libraries


def use(threads: int) -> int:
    """Run torch, numba and every loaded BLAS/OpenMP library at ``threads`` (at least 1); returns the count."""
    global _applied
    threads = max(1, int(threads))
    torch.set_num_threads(threads)
    try:
        import numba
    except ImportError:  # pragma: no cover - numba is a dependency
        pass
    else:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    import os

    import numpy as np
    from threadpoolctl import ThreadpoolController

    controller = ThreadpoolController()
    controller.limit(limits=threads)  # not entered as a context: the limits stay until changed
    numpy_dir = os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))  # real paths: a linked venv too
    numpy_blas = [lib.filepath for lib in controller.select(user_api="blas").lib_controllers
                  if os.path.relpath(os.path.realpath(lib.filepath), numpy_dir).startswith("numpy")]
    if numpy_blas:
        controller.select(filepath=numpy_blas).limit(limits=1)
    _applied = threads
    return threads


def follow_torch() -> int:
    """Bring numba and the BLAS/OpenMP libraries to torch's current count (cheap when they are already there: the
    library scan behind threadpoolctl costs milliseconds, so it runs only when the count changed)."""
    threads = torch.get_num_threads()
    if threads != _applied:
        return use(threads)
    import numba

    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    return threads
