"""L hash tables of exact buckets, shared by random-hyperplane LSH and neural LSH.

A code of B bits is packed into ceil(B / 63) non-negative int64 words; a table keeps its distinct codes sorted
lexicographically (``keys``), bucket boundaries (``offsets``) and the gallery positions grouped by bucket
(``members``, ascending within a bucket). A query code is looked up by binary search, so two different codes never
share a bucket, for any B (the report's H=100 included).
"""

from __future__ import annotations

import torch

from ..candidates import Candidates, gather_ranges

WORD_BITS = 63


def pack_codes(bits: torch.Tensor) -> torch.Tensor:
    """(N, B) bool -> (N, ceil(B/63)) int64; bit j of word w is code bit 63*w + j."""
    n, b = bits.shape
    words = []
    for start in range(0, max(b, 1), WORD_BITS):
        width = min(WORD_BITS, b - start)
        shifts = torch.arange(width, dtype=torch.int64, device=bits.device)
        word = torch.empty(n, dtype=torch.int64, device=bits.device)
        step = max(1, (1 << 22) // max(1, width))  # rows per chunk: bounded (rows x bits) int64 temporary
        for row in range(0, n, step):
            word[row : row + step] = (bits[row : row + step, start : start + width].to(torch.int64) << shifts).sum(1)
        words.append(word)
    return torch.stack(words, 1)


def lexicographic_search(keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
    """Row index of each query in the lexicographically sorted, distinct ``keys`` (U, W), or -1 when absent."""
    if len(keys) == 0:
        return torch.full((len(queries),), -1, dtype=torch.int64, device=queries.device)
    if keys.shape[1] == 1:
        position = torch.searchsorted(keys[:, 0].contiguous(), queries[:, 0].contiguous())
    else:  # vectorised binary search: lowest position whose key is >= the query
        low = torch.zeros(len(queries), dtype=torch.int64, device=queries.device)
        high = torch.full_like(low, len(keys))
        while bool((low < high).any()):
            active = low < high
            middle = (low + high) // 2
            candidate = keys[middle.clamp_max(len(keys) - 1)]
            differs = candidate != queries
            first = differs.to(torch.int8).argmax(1, keepdim=True)
            less = differs.any(1) & (candidate.gather(1, first) < queries.gather(1, first)).squeeze(1)
            low = torch.where(active & less, middle + 1, low)
            high = torch.where(active & ~less, middle, high)
        position = low
    found = position.clamp_max(len(keys) - 1)
    hit = (position < len(keys)) & (keys[found] == queries).all(1)
    return torch.where(hit, found, torch.full_like(found, -1))


class HashTables:
    def __init__(self, keys: list[torch.Tensor], offsets: list[torch.Tensor], members: list[torch.Tensor],
                 n_gallery: int):
        self.keys, self.offsets, self.members, self.n_gallery = keys, offsets, members, n_gallery

    @classmethod
    def build(cls, codes: list[torch.Tensor]) -> "HashTables":
        """``codes``: one (N, B) bool tensor per table."""
        keys, offsets, members = [], [], []
        for bits in codes:
            packed = pack_codes(bits)
            distinct, bucket, counts = torch.unique(packed, dim=0, return_inverse=True, return_counts=True)
            keys.append(distinct)
            members.append(torch.argsort(bucket, stable=True))
            offset = torch.zeros(len(distinct) + 1, dtype=torch.int64, device=packed.device)
            offset[1:] = torch.cumsum(counts, 0)
            offsets.append(offset)
        return cls(keys, offsets, members, len(codes[0]))

    def lookup(self, codes: list[torch.Tensor], mask_budget: int = 1 << 26) -> Candidates:
        """Union over tables of the buckets each query's code falls in (one (Q, B) bool tensor per table)."""
        n_queries = len(codes[0])
        device = codes[0].device
        step = max(1, mask_budget // max(1, self.n_gallery))
        packed = [pack_codes(bits) for bits in codes]
        buckets = [lexicographic_search(k, p) for k, p in zip(self.keys, packed)]
        offsets = torch.zeros(n_queries + 1, dtype=torch.int64, device=device)
        ids = []
        for start in range(0, n_queries, step):
            stop = min(start + step, n_queries)
            # the union as a (queries x gallery) bitmap: no sort needed, and nonzero() returns ascending ids
            mask = torch.zeros(stop - start, self.n_gallery, dtype=torch.bool, device=device)
            for table, bucket in enumerate(buckets):
                bucket = bucket[start:stop]
                hit = torch.nonzero(bucket >= 0).squeeze(1)
                b = bucket[hit]
                begin = self.offsets[table][b]
                owner, members = gather_ranges(begin, self.offsets[table][b + 1] - begin, self.members[table])
                mask[hit[owner], members] = True
            rows, cols = torch.nonzero(mask, as_tuple=True)
            ids.append(cols)
            offsets[start + 1 : stop + 1] = offsets[start] + torch.cumsum(mask.sum(1), 0)
        return Candidates(offsets, torch.cat(ids), n_queries, self.n_gallery)

    def arrays(self) -> dict[str, torch.Tensor]:
        out = {}
        for t, (k, o, m) in enumerate(zip(self.keys, self.offsets, self.members)):
            out |= {f"table{t:02d}_keys": k, f"table{t:02d}_offsets": o, f"table{t:02d}_members": m}
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, torch.Tensor], tables: int, n_gallery: int) -> "HashTables":
        get = lambda t, name: arrays[f"table{t:02d}_{name}"]  # noqa: E731
        return cls([get(t, "keys") for t in range(tables)], [get(t, "offsets") for t in range(tables)],
                   [get(t, "members") for t in range(tables)], n_gallery)

    def stats(self) -> dict:
        sizes = [o[1:] - o[:-1] for o in self.offsets]
        return {"buckets_per_table": [len(k) for k in self.keys],
                "largest_bucket_per_table": [int(s.max()) for s in sizes]}
