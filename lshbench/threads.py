"""One thread count for every pool a job computes with: torch's, numba's, and the BLAS and OpenMP libraries loaded
into the process (numpy's OpenBLAS, FAISS's OpenBLAS and OpenMP), through threadpoolctl.

Setting torch's count alone leaves numpy's OpenBLAS at one thread per core, so a "one thread" numpy product ran on
every core; and numba's OpenMP layer, started at one thread, left FAISS's OpenMP at two (measured here: FAISS's
exact search at ``omp_set_num_threads(1)`` used 1.99 CPU seconds per second). ``use`` sets them all, numba before
threadpoolctl so that threadpoolctl's limit is the last word."""

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
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=threads)  # called, not entered: the limits stay until changed
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
