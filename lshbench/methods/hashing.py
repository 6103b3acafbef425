"""L hash tables of exact buckets, shared by random-hyperplane LSH and neural LSH.

A code of B bits is packed into ceil(B / 63) non-negative int64 words; a table keeps its distinct codes sorted
lexicographically (``keys``), bucket boundaries (``offsets``) and the gallery positions grouped by bucket
(``members``, ascending within a bucket). A query code is looked up by binary search, so two different codes never
share a bucket, for any B (the report's H=100 included).
"""

from __future__ import annotations

from ..lazy import lazy_import

from ..candidates import Candidates, from_pairs, gather_ranges
from .base import Index

torch = lazy_import("torch")

WORD_BITS = 63


def pack_codes(bits: torch.Tensor) -> torch.Tensor:
    """(..., B) bool -> (..., ceil(B/63)) int64; bit j of word w is code bit 63*w + j."""
    *lead, b = bits.shape
    flat = bits.reshape(-1, b)
    n = len(flat)
    words = []
    for start in range(0, max(b, 1), WORD_BITS):
        width = min(WORD_BITS, b - start)
        shifts = torch.arange(width, dtype=torch.int64, device=bits.device)
        word = torch.empty(n, dtype=torch.int64, device=bits.device)
        step = max(1, (1 << 22) // max(1, width))  # rows per chunk: bounded (rows x bits) int64 temporary
        for row in range(0, n, step):
            word[row : row + step] = (flat[row : row + step, start : start + width].to(torch.int64) << shifts).sum(1)
        words.append(word)
    return torch.stack(words, 1).reshape(*lead, len(words))


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

    def gallery_buckets(self) -> list[torch.Tensor]:
        """Bucket index of every gallery item in each table (derived from members and offsets, cached)."""
        if getattr(self, "_gallery_buckets", None) is None:
            self._gallery_buckets = []
            for offsets, members in zip(self.offsets, self.members):
                sizes = offsets[1:] - offsets[:-1]
                bucket = torch.empty_like(members)
                bucket[members] = torch.repeat_interleave(torch.arange(len(sizes), device=members.device), sizes)
                self._gallery_buckets.append(bucket)
        return self._gallery_buckets

    def _flat(self, device: torch.device) -> None:
        """Caches for lookups of all tables at once: padded sorted keys (single-word codes), padded offsets into
        the members of all tables laid end to end."""
        if getattr(self, "_flat_members", None) is not None:
            return
        width = max(len(k) for k in self.keys)
        self._key_counts = torch.tensor([len(k) for k in self.keys], device=device).unsqueeze(1)
        if self.keys[0].shape[1] == 1:
            self._padded_keys = torch.full((len(self.keys), max(width, 1)), torch.iinfo(torch.int64).max,
                                           dtype=torch.int64, device=device)
            for t, k in enumerate(self.keys):
                self._padded_keys[t, : len(k)] = k[:, 0]
        self._padded_offsets = torch.zeros(len(self.keys), width + 1, dtype=torch.int64, device=device)
        for t, o in enumerate(self.offsets):
            self._padded_offsets[t, : len(o)] = o + t * self.n_gallery
            self._padded_offsets[t, len(o) :] = o[-1] + t * self.n_gallery
        self._flat_members = torch.cat(self.members)

    def _search(self, packed: torch.Tensor) -> torch.Tensor:
        """Bucket index of each query in each table, -1 when its code has no bucket: (L, Q, W) words -> (L, Q)."""
        if packed.shape[-1] > 1:
            return torch.stack([lexicographic_search(k, p) for k, p in zip(self.keys, packed)])
        queries = packed[..., 0].contiguous()  # all tables in one batched binary search
        position = torch.searchsorted(self._padded_keys, queries)
        found = position.clamp_max(self._padded_keys.shape[1] - 1)
        hit = (position < self._key_counts) & (self._padded_keys.gather(1, found) == queries)
        return torch.where(hit, found, -1)

    def lookup(self, codes: list[torch.Tensor], mask_budget: int = 1 << 26, dense_share: float = 0.125
               ) -> Candidates:
        """Union over tables of the buckets each query's code falls in (one (Q, B) bool tensor per table).

        When the buckets hit cover more than ``dense_share`` of the (queries x gallery) pairs and the pairs fit the
        budget, the union is returned as a dense mask built by comparing bucket indices; otherwise as CSR, built
        from the buckets' member ranges."""
        n_queries = len(codes[0])
        device = codes[0].device
        self._flat(device)
        buckets = self._search(pack_codes(torch.stack(codes)))  # (L, Q)
        safe = buckets.clamp_min(0)
        begin = self._padded_offsets.gather(1, safe)
        length = torch.where(buckets >= 0, self._padded_offsets.gather(1, safe + 1) - begin, 0)
        pairs = n_queries * self.n_gallery
        total = float(length.sum())
        if total < pairs / 16:  # few candidates: sorting the (query, id) pairs beats scanning a bitmap
            owner, members = gather_ranges(begin.reshape(-1), length.reshape(-1), self._flat_members)
            return from_pairs(owner % n_queries, members, n_queries, self.n_gallery)
        if pairs <= mask_budget and total > dense_share * pairs:
            mask = torch.zeros(n_queries, self.n_gallery, dtype=torch.bool, device=device)
            for gallery_bucket, bucket in zip(self.gallery_buckets(), buckets):
                mask |= gallery_bucket.unsqueeze(0) == bucket.unsqueeze(1)  # bucket -1 matches nothing
            return Candidates.from_mask(mask)
        step = max(1, mask_budget // max(1, self.n_gallery))
        offsets = torch.zeros(n_queries + 1, dtype=torch.int64, device=device)
        ids = []
        for start in range(0, n_queries, step):
            stop = min(start + step, n_queries)
            owner, members = gather_ranges(begin[:, start:stop].reshape(-1), length[:, start:stop].reshape(-1),
                                           self._flat_members)
            # the union as a (queries x gallery) bitmap: no sort needed, and nonzero() returns ascending ids
            mask = torch.zeros(stop - start, self.n_gallery, dtype=torch.bool, device=device)
            mask[owner % (stop - start), members] = True
            ids.append(torch.nonzero(mask, as_tuple=True)[1])
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


class HashingIndex(Index):
    """An index whose buckets are L hash tables of codes (hyperplane and neural LSH): subclasses give ``codes``."""

    L: int
    tables: HashTables

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def candidates(self, queries: torch.Tensor) -> Candidates:
        return self.tables.lookup(self.codes(self._check_queries(queries)))

    def load_tables(self, arrays: dict[str, torch.Tensor]) -> None:
        self.n_gallery = int(arrays["table00_members"].numel())
        self.tables = HashTables.from_arrays(arrays, self.L, self.n_gallery)

    def info(self):
        return self.tables.stats()
