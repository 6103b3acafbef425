"""The list path of the evaluation engine (lshbench.evaluate): CSR candidate lists, scored without any pass over
the gallery. Queries sharing a list (k-means, probes 1: ``Candidates.groups``) as one batched product per bucket of
like-shaped groups; other lists in sub-blocks of MIN_GEMM queries against their union. Every product has at least
MIN_GEMM rows and columns (lshbench.scoring.product), so each score has the bits of one large GEMM however the queries
were grouped."""

from __future__ import annotations

import torch

from .candidates import Candidates, gather_ranges, ranges_within
from .scoring import MAX_LIST_BLOCK, MIN_GEMM, one_thread, padded, product, record, record_rows


def by_first_candidate(candidates: Candidates) -> tuple[torch.Tensor, Candidates]:
    """The queries of a CSR candidate set reordered by their first candidate (empty lists last): (order, reordered)."""
    counts = candidates.counts()
    first = candidates.ids[candidates.offsets[:-1].clamp_max(max(len(candidates.ids) - 1, 0))] if len(
        candidates.ids) else torch.zeros_like(counts)
    key = torch.where(counts > 0, first, candidates.n_gallery)
    order = torch.argsort(key, stable=True)
    _, ids = gather_ranges(candidates.offsets[:-1][order], counts[order], candidates.ids)
    offsets = torch.zeros_like(candidates.offsets)
    offsets[1:] = torch.cumsum(counts[order], 0)
    return order, Candidates(offsets, ids, candidates.n_queries, candidates.n_gallery)


class ListPath:
    """Ranks a block of CSR candidate lists (``block``); ``ev``: the Evaluator (gallery, queries, labels)."""

    def __init__(self, ev):
        self.ev = ev

    def block(self, candidates: Candidates, start: int, stop: int, keep_top: int, budget: int, dense_step: int):
        """(the block's queries in the order ranked, what each keeps, the next block's size: as large as the budget
        allows for lists this long)."""
        with one_thread(self.ev.device):
            order, values = self.rank_lists(candidates, start, keep_top, budget)
        per_query = max(1.0, len(candidates.ids) / max(1, stop - start))
        return start + order, [values], int(max(dense_step, min(MAX_LIST_BLOCK, budget // (4 * per_query))))

    def rank_lists(self, candidates: Candidates, start: int, keep_top: int, budget: int
                   ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Rank a block of CSR candidate lists: (the block's query order, what each of them keeps).

        Queries that share a list (``candidates.groups``) are scored as one dense product against exactly that list
        and sorted together; other lists in sub-blocks of MIN_GEMM queries against the union of their lists. Either
        way the sorted lists are laid end to end (flat) and recorded at once by ``record``."""
        n = self.ev.n_gallery
        counts = candidates.counts()
        if candidates.groups is not None:
            order, values = self.rank_groups(candidates, start, keep_top, budget)
            values["n_candidates"] = counts[order]
            return order, values
        else:
            order, candidates = by_first_candidate(candidates)
            counts = candidates.counts()
            flat_scores, flat_ids = [], []
            for sub_start in range(0, candidates.n_queries, MIN_GEMM):
                sub_stop = min(sub_start + MIN_GEMM, candidates.n_queries)
                part = candidates.slice(sub_start, sub_stop)
                if len(part.ids) == 0:
                    continue
                part_counts = counts[sub_start:sub_stop]
                rows_local = torch.repeat_interleave(torch.arange(len(part_counts), device=self.ev.device), part_counts)
                union = torch.unique(part.ids)  # sorted
                flat = product(self.ev.query_unit[start + order[sub_start:sub_stop]],
                                    self.ev.gallery_unit[union])[rows_local, torch.searchsorted(union, part.ids)]
                width = int(part_counts.max())
                cols = torch.arange(len(part.ids), device=self.ev.device) - part.offsets[rows_local]
                scores = torch.full((len(part_counts), width), float("-inf"), device=self.ev.device)
                scores[rows_local, cols] = flat
                ids = torch.full((len(part_counts), width), n, dtype=torch.int64, device=self.ev.device)
                ids[rows_local, cols] = part.ids  # ascending within a row: a stable sort breaks ties by position
                scores, at = torch.sort(scores, dim=1, descending=True, stable=True)
                valid = torch.arange(width, device=self.ev.device).unsqueeze(0) < part_counts.unsqueeze(1)
                flat_scores.append(scores[valid])
                flat_ids.append(ids.gather(1, at)[valid])
        empty = torch.zeros(0, device=self.ev.device)
        flat_scores = torch.cat(flat_scores) if flat_scores else empty
        flat_ids = torch.cat(flat_ids) if flat_ids else empty.long()
        values = record(flat_scores, flat_ids, counts, self.ev.query_labels[start + order], self.ev.labels_padded,
                        keep_top, budget)
        values["n_candidates"] = counts
        return order, values

    def rank_groups(self, candidates: Candidates, start: int, keep_top: int, budget: int):
        """Queries sharing a list, scored and sorted per group: groups of like shape go through one batched product
        (queries and lists padded to the bucket's size, at least MIN_GEMM, with gallery row 0: a padding row or
        column changes no other entry of a product), then every row sorted and recorded at once. Returns (query
        order, what each query keeps), the queries of each group consecutive, those without candidates first."""
        order = torch.argsort(candidates.groups, stable=True)
        _, sizes = torch.unique_consecutive(candidates.groups[order], return_counts=True)
        firsts = torch.cumsum(sizes, 0) - sizes
        first_query = order[firsts]
        begins = candidates.offsets[first_query]
        lengths = candidates.offsets[first_query + 1] - begins
        keep = lengths > 0
        shape = padded(sizes) * (1 << 32) + padded(lengths)
        groups = torch.nonzero(keep).squeeze(1)
        groups = groups[torch.argsort(shape[groups], stable=True)]
        shapes, per_shape = torch.unique_consecutive(shape[groups], return_counts=True)
        new_order = [order[firsts[~keep].repeat_interleave(sizes[~keep]) + ranges_within(sizes[~keep])]]
        kept: dict[str, list[torch.Tensor]] = {}
        dim = self.ev.gallery_unit.shape[1]
        done = 0
        for key, count in zip(shapes.tolist(), per_shape.tolist()):
            rows_pad, cols_pad = key >> 32, key & 0xFFFFFFFF
            chunk = max(1, budget // (4 * max(1, (rows_pad + dim) * cols_pad)))
            for lo in range(0, count, chunk):
                g = groups[done + lo : done + min(lo + chunk, count)]
                m, n = sizes[g], lengths[g]
                row_valid = torch.arange(rows_pad, device=self.ev.device).unsqueeze(0) < m.unsqueeze(1)  # (B, rows_pad)
                col_valid = torch.arange(cols_pad, device=self.ev.device).unsqueeze(0) < n.unsqueeze(1)  # (B, cols_pad)
                query_at = torch.where(row_valid, firsts[g].unsqueeze(1) + torch.arange(rows_pad, device=self.ev.device), 0)
                queries = torch.where(row_valid, order[query_at], order[0])
                member_at = torch.where(col_valid, begins[g].unsqueeze(1) + torch.arange(cols_pad, device=self.ev.device), 0)
                members = torch.where(col_valid, candidates.ids[member_at], 0)
                scores = torch.bmm(self.ev.query_unit[start + queries], self.ev.gallery_unit[members].transpose(1, 2))
                scores.masked_fill_(~col_valid.unsqueeze(1), float("-inf"))
                scores, at = torch.sort(scores, dim=2, descending=True, stable=True)
                padded_ids = torch.where(col_valid, members, self.ev.n_gallery)
                ids = padded_ids.unsqueeze(1).expand(-1, rows_pad, -1).gather(2, at)
                # the padded rows of each group as record's rows (padding columns: -inf and N, as rank's)
                keep_rows = row_valid.reshape(-1)
                picked = queries[row_valid]
                values = record_rows(scores.reshape(-1, cols_pad)[keep_rows], ids.reshape(-1, cols_pad)[keep_rows],
                                     self.ev.query_labels[start + picked], self.ev.labels_padded, keep_top, budget)
                for name, value in values.items():
                    kept.setdefault(name, []).append(value)
                new_order.append(picked)
            done += count
        values = {name: torch.cat(value) for name, value in kept.items()}
        n_empty = len(new_order[0])
        if n_empty:  # queries without candidates: nothing retrieved
            values["ap_sum"] = torch.cat([torch.zeros(n_empty, dtype=torch.float64, device=self.ev.device),
                                          values["ap_sum"]]) if kept else torch.zeros(n_empty, dtype=torch.float64)
            values["n_relevant"] = torch.cat([torch.zeros(n_empty, dtype=torch.int64, device=self.ev.device),
                                              values["n_relevant"]]) if kept else torch.zeros(n_empty, dtype=torch.int64)
            for name, fill in (("scores", float("-inf")), ("ids", self.ev.n_gallery)):
                pad = torch.full((n_empty, keep_top), fill, device=self.ev.device,
                                 dtype=torch.float32 if name == "scores" else torch.int64)
                values[name] = torch.cat([pad, values[name]]) if kept else pad
        return torch.cat(new_order), values
