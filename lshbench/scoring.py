"""What every ranking path of the evaluation engine shares (lshbench.evaluate and its paths: lshbench.rank_dense,
lshbench.rank_lists, lshbench.rank_buckets): similarity products whose scores have the same bits however the queries
were grouped, the shapes like-sized groups are padded to, and the one record of a ranked block (its top and its AP
terms) that every path's rankings come from."""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn.functional as F

MIN_GEMM = 16  # rows and columns of every similarity product at least this (``product``)
EXACT_SUM_WIDTH = 1 << 14  # lists up to this long: the float64 AP sum is exact in any order (``record``)
MAX_LIST_BLOCK = 1 << 16  # queries of one block when candidates come as lists or bucket hits


def padded(x: torch.Tensor) -> torch.Tensor:
    """Bucket and list sizes rounded up to MIN_GEMM x 1.25^k: groups of like shape share one batched product, and
    padding costs at most a quarter more work."""
    x = x.clamp_min(MIN_GEMM).double()
    return (MIN_GEMM * torch.pow(1.25, torch.ceil(torch.log(x / MIN_GEMM) / math.log(1.25) - 1e-9))).ceil().long()


@contextlib.contextmanager
def one_thread(device: torch.device):
    """One CPU thread for list ranking: its ops are many and mid-sized (a cluster's product and sort), and at two
    threads each waits for the slower thread (measured: 10x slower on a shared 2-core machine, where FAISS's scan
    gains nothing from a second thread either); exact search's large products keep every thread."""
    count = torch.get_num_threads()
    if device.type != "cpu" or count == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(count)


def product(queries: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """queries (m, D) @ items (n, D).T as one GEMM of at least MIN_GEMM rows and columns (zero padding).

    MKL's sgemm gives a dot product the same bits at every shape from about 12 x 12 up (the kernels for fewer
    rows or columns round differently), so padding small products keeps every score independent of how the
    queries were grouped: the same bits as one product over a large block."""
    m, n = len(queries), len(items)
    if m < MIN_GEMM:
        queries = F.pad(queries, (0, 0, 0, MIN_GEMM - m))
    if n < MIN_GEMM:
        items = F.pad(items, (0, 0, 0, MIN_GEMM - n))
    out = queries @ items.T
    return out[:m, :n] if m < MIN_GEMM or n < MIN_GEMM else out


def record(scores: torch.Tensor, ids: torch.Tensor, counts: torch.Tensor, labels: torch.Tensor,
           labels_padded: torch.Tensor, keep_top: int, budget: int) -> dict[str, torch.Tensor]:
    """What a block of ranked lists keeps (lshbench/ranking.py), the one AP implementation of the list paths: sorted
    lists laid end to end (query j's are the next counts[j] of ``scores`` and ``ids``; ``labels``: the queries',
    ``labels_padded``: the gallery's and -1 at position N, the padding id). Returns the top ``keep_top`` ids and
    scores (padded with N and -inf), the relevant retrieved and sum_i rel_i * P@i: hits cumulated, divided by the
    float32 rank, summed in float64 (exactly, in any order, for lists up to EXACT_SUM_WIDTH; longer ones laid out
    at their ranks in rows of ``budget`` elements, so the sum adds in rank order)."""
    n_queries, device, n_gallery = len(counts), scores.device, len(labels_padded) - 1
    ends = torch.cumsum(counts, 0)
    begins = ends - counts
    owner = torch.repeat_interleave(torch.arange(n_queries, device=device), counts)
    position = torch.arange(len(ids), device=device) - begins[owner]
    relevant = (labels_padded[ids] == labels[owner]) & (scores > float("-inf"))
    total = torch.cumsum(relevant, 0)
    def through(at):  # relevant candidates among the first ``at`` of the block
        return torch.where(at > 0, total[(at - 1).clamp_min(0)], 0) if len(total) else torch.zeros_like(at)

    before = through(begins)
    n_relevant = through(ends) - before
    hits = (total - before[owner]).to(torch.float32)
    terms = torch.where(relevant, hits / (position + 1).to(torch.float32), 0)
    ap_sum = torch.zeros(n_queries, dtype=torch.float64, device=device)
    width = max(1, int(counts.max())) if n_queries else 1
    if width <= EXACT_SUM_WIDTH:
        # every term is a float32 >= 1/width >= 2^-14 (so a multiple of 2^-37) and every partial sum is at most
        # width <= 2^14: all are exact in float64 (51 bits), so any order of addition gives the row sum's bits
        ap_sum.index_add_(0, owner, terms.to(torch.float64))
    else:  # a row per query, the terms at their ranks: the float64 sum adds in rank order
        step = max(1, budget // (4 * width))
        for lo in range(0, n_queries, step):
            hi = min(lo + step, n_queries)
            a, b = int(begins[lo]), int(ends[hi - 1])
            row = torch.zeros(hi - lo, width, device=device)
            row[owner[a:b] - lo, position[a:b]] = terms[a:b]
            ap_sum[lo:hi] = row.sum(1, dtype=torch.float64)
    top_scores = torch.full((n_queries, keep_top), float("-inf"), device=device)
    top_ids = torch.full((n_queries, keep_top), n_gallery, dtype=torch.int64, device=device)
    take = position < keep_top
    top_scores[owner[take], position[take]] = scores[take]
    top_ids[owner[take], position[take]] = ids[take]
    return {"ap_sum": ap_sum, "n_relevant": n_relevant, "scores": top_scores, "ids": top_ids}


def record_rows(scores: torch.Tensor, ids: torch.Tensor, labels: torch.Tensor, labels_padded: torch.Tensor,
                keep_top: int, budget: int) -> dict[str, torch.Tensor]:
    """``record`` of sorted rows of one width (a dense block, or padded groups: -inf and N past a list's end), in
    parts of at most a quarter of ``budget`` elements: the same bits, row by row, as one call."""
    rows, width = scores.shape
    step = max(1, budget // (4 * max(1, width)))
    parts = []
    for lo in range(0, rows, step):
        hi = min(lo + step, rows)
        counts = torch.full((hi - lo,), width, dtype=torch.int64, device=scores.device)
        parts.append(record(scores[lo:hi].reshape(-1), ids[lo:hi].reshape(-1), counts, labels[lo:hi], labels_padded,
                            keep_top, budget))
    if not parts:
        return record(scores.reshape(-1), ids.reshape(-1), torch.zeros(0, dtype=torch.int64, device=scores.device),
                      labels, labels_padded, keep_top, budget)
    return {name: torch.cat([p[name] for p in parts]) for name in parts[0]}
