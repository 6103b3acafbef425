"""The dense path of the evaluation engine (lshbench.evaluate): every gallery item per query (exact search) or a dense
mask of candidates. One product per block of queries and a full stable sort; exact search on the CPU without the sort:
the ranks of each query's relevant items from one pass over its row (lshbench.kernels) and its top by ``topk``, the
same bits (``rank_all``)."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from . import threads
from .candidates import Candidates
from .scoring import record_rows


class DensePath:
    """Ranks a block whose candidates are every item or a mask (``block``); ``ev``: the Evaluator (gallery, queries,
    labels)."""

    def __init__(self, ev):
        self.ev = ev

    def block(self, candidates: Candidates, start: int, stop: int, keep_top: int, budget: int, dense_step: int):
        """(the block's queries in the order ranked, what each keeps in parts, the next block's size)."""
        rows = torch.arange(start, stop, device=self.ev.device)
        kept = []
        for sub_start, sub_stop in self.sub_blocks(candidates, budget, stop - start):
            part = candidates.slice(sub_start, sub_stop)
            kept.append(self.rank_dense(part, self.ev.query_unit[start + sub_start : start + sub_stop],
                                        self.ev.query_labels[start + sub_start : start + sub_stop], keep_top, budget))
        return rows, kept, dense_step

    def rank(self, candidates: Candidates, query_unit: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Every gallery item (exact search) or a dense mask's, sorted by similarity: (scores (B, N), ids (B, N));
        non-candidates of a mask are -inf (ranked last, by position)."""
        scores = query_unit @ self.ev.gallery_unit.T
        if candidates.mask is not None:
            scores.masked_fill_(~candidates.mask, float("-inf"))
        return torch.sort(scores, dim=1, descending=True, stable=True)

    def rank_dense(self, candidates: Candidates, query_unit: torch.Tensor, labels: torch.Tensor, keep_top: int,
                   budget: int) -> dict[str, torch.Tensor]:
        """Every gallery item (exact search) or a dense mask: ranked and recorded (the full stable sort; exact search
        on the CPU without it, ``rank_all``)."""
        if self.ev.device.type == "cpu" and (candidates.is_all or (candidates.mask is not None
                                                               and bool(candidates.mask.all()))):
            return self.rank_all(query_unit, labels, keep_top)  # a mask of every item (a bucket holding the
            # whole gallery): exact search, whose rankings rank_all gives bit for bit without the sort
        scores, ids = self.rank(candidates, query_unit)
        values = record_rows(scores, ids, labels, self.ev.labels_padded, keep_top, budget)
        values["n_candidates"] = candidates.counts()
        return values

    def rank_all(self, query_unit: torch.Tensor, labels: torch.Tensor, keep_top: int) -> dict[str, torch.Tensor]:
        """``record_rows(*rank(...))`` for exact search without sorting the rows: the ranks of each query's relevant items
        from one pass over its row (lshbench.kernels.relevant_ranks), the top ``keep_top`` by ``topk`` ordered by
        (score descending, id ascending). Rows where the top's last score ties the next one (a tie that may continue
        past what topk returned) take the full stable sort. The same bits as ``record_rows``: its AP terms are the same
        float32 quotients hits / rank, and their float64 sum is exact in any order while relevant items x 2^ceil(log2
        N) <= 2^30 (every term a multiple of 2^-(ceil(log2 N) + 23), every partial sum at most the relevant count);
        beyond that the terms are summed laid out at their ranks, as ``record_rows`` sums them."""
        from .kernels import relevant_ranks

        threads.follow_torch()
        scores = query_unit @ self.ev.gallery_unit.T
        if not getattr(self, "_finite", False):  # finite unit vectors give finite scores in [-1, 1]
            for name, x in (("gallery", self.ev.gallery_unit), ("query", self.ev.query_unit)):
                if not bool(torch.isfinite(x).all()):
                    raise ValueError(f"exact search: the {name} embeddings hold NaN or infinite values; check the "
                                     "embeddings' Parquet file (rerun the embed rule)")
            self._finite = True
        n, device = self.ev.n_gallery, self.ev.device
        members, offsets = self.class_members()
        width = max(1, int(self.ev.class_counts.max()))
        ranks = torch.from_numpy(relevant_ranks(scores.numpy(), labels.numpy(), members, offsets, width))
        n_relevant = (ranks > 0).sum(1)
        hits = torch.arange(1, width + 1, dtype=torch.float32).expand_as(ranks)
        terms = torch.where(ranks > 0, hits / ranks.clamp_min(1).to(torch.float32), 0)
        if width << max(0, math.ceil(math.log2(max(n, 1)))) <= 1 << 30:
            ap_sum = terms.sum(1, dtype=torch.float64)
        else:
            row = torch.zeros(len(ranks), n + 1)
            row.scatter_(1, torch.where(ranks > 0, ranks - 1, n), terms)
            ap_sum = row[:, :n].sum(1, dtype=torch.float64)
        k = min(keep_top, n)
        top_scores, top_ids = torch.topk(scores, min(k + 1, n), dim=1)
        if k < n:
            tied = torch.nonzero(top_scores[:, k - 1] == top_scores[:, k]).flatten()
            top_scores, top_ids = top_scores[:, :k], top_ids[:, :k]
        else:
            tied = top_ids.new_empty(0)
        top_ids, order = torch.sort(top_ids, dim=1)  # ids ascending, then a stable sort by score descending
        top_scores = top_scores.gather(1, order)
        top_scores, order = torch.sort(top_scores, dim=1, descending=True, stable=True)
        top_ids = top_ids.gather(1, order)
        if len(tied):
            sorted_scores, sorted_ids = torch.sort(scores[tied], dim=1, descending=True, stable=True)
            top_scores[tied], top_ids[tied] = sorted_scores[:, :k], sorted_ids[:, :k]
        if k < keep_top:
            top_scores = F.pad(top_scores, (0, keep_top - k), value=float("-inf"))
            top_ids = F.pad(top_ids, (0, keep_top - k), value=n)
        return {"ap_sum": ap_sum, "n_relevant": n_relevant, "scores": top_scores, "ids": top_ids,
                "n_candidates": torch.full((len(scores),), n, dtype=torch.int64, device=device)}

    def class_members(self) -> tuple[np.ndarray, np.ndarray]:
        """The gallery ids of each label, ascending, as CSR (ids, offsets), made once."""
        if getattr(self, "_members", None) is None:
            labels = self.ev.gallery_labels.cpu().numpy()
            ids = np.argsort(labels, kind="stable").astype(np.int64)
            offsets = np.concatenate([[0], np.cumsum(self.ev.class_counts.cpu().numpy())]).astype(np.int64)
            self._members = (ids, offsets)
        return self._members

    def sub_blocks(self, candidates: Candidates, budget: int, max_queries: int):
        """Split a block's queries so that (queries x longest candidate list) stays within the budget."""
        counts = candidates.counts().tolist()
        start = 0
        while start < candidates.n_queries:
            stop = start + 1
            widest = counts[start]
            while stop < candidates.n_queries and stop - start < max_queries:
                widest_next = max(widest, counts[stop])
                if (stop + 1 - start) * max(widest_next, 1) > budget:
                    break
                widest, stop = widest_next, stop + 1
            yield start, stop
            start = stop
