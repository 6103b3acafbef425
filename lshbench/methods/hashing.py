"""L hash tables of exact buckets, shared by random-hyperplane LSH and neural LSH.

A code of B bits is packed into ceil(B / 63) non-negative int64 words; a table keeps its distinct codes sorted
lexicographically (``keys``), bucket boundaries (``offsets``) and the gallery positions grouped by bucket
(``members``, ascending within a bucket). A query code is looked up by binary search, so two different codes never
share a bucket, for any B (the report's H=100 included). Codes of one word are searched as they are; longer codes by
a 64-bit hash of their words (one sorted search over all tables, as for one word), then a check of the full code on
the few keys with the query's hash: a hash collision costs one more comparison, never a wrong bucket.
"""

from __future__ import annotations

from ..lazy import lazy_import

from ..candidates import BucketCandidates, Candidates, from_pairs, gather_ranges
from .base import Index, ParameterError

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


# splitmix64's constants as signed int64 (torch's int64 arithmetic wraps around)
_GOLDEN = -7046029254386353131  # 0x9E3779B97F4A7C15
_MIX1 = -4658895280553007687  # 0xBF58476D1CE4E5B9
_MIX2 = -7723592293110705685  # 0x94D049BB133111EB


def hash_words(words: torch.Tensor) -> torch.Tensor:
    """(..., W) int64 words -> (...) int64: a splitmix64-style mix of each word into the running hash, vectorised
    over all codes (the loop is over the W words of one code, 2-4 for H <= 252)."""
    h = torch.full(words.shape[:-1], _GOLDEN, dtype=torch.int64, device=words.device)
    for w in range(words.shape[-1]):
        h = (h ^ words[..., w]) * _MIX1
        h = (h ^ (h >> 31)) * _MIX2  # arithmetic shift for negative h: still a fixed, well-mixing function
        h = h ^ (h >> 29)
    return h


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
        self._padded_keys = torch.full((len(self.keys), max(width, 1)), torch.iinfo(torch.int64).max,
                                       dtype=torch.int64, device=device)
        if self.keys[0].shape[1] == 1:
            for t, k in enumerate(self.keys):
                self._padded_keys[t, : len(k)] = k[:, 0]
        else:  # longer codes: keys sorted by their hash; _order maps back to the lexicographic bucket index
            self._order = torch.zeros(len(self.keys), max(width, 1), dtype=torch.int64, device=device)
            self._first_key = torch.tensor([0] + [len(k) for k in self.keys[:-1]], device=device).cumsum(0)
            self._all_keys = torch.cat(list(self.keys)).to(device)
            self._max_run = 1  # the most keys of one table sharing one hash (1 unless two codes collide)
            for t, k in enumerate(self.keys):
                hashes, order = torch.sort(hash_words(k.to(device)), stable=True)
                self._padded_keys[t, : len(k)] = hashes
                self._order[t, : len(k)] = order
                if len(k) > 1:
                    _, runs = torch.unique_consecutive(hashes, return_counts=True)
                    self._max_run = max(self._max_run, int(runs.max()))
        self._padded_offsets = torch.zeros(len(self.keys), width + 1, dtype=torch.int64, device=device)
        for t, o in enumerate(self.offsets):
            self._padded_offsets[t, : len(o)] = o + t * self.n_gallery
            self._padded_offsets[t, len(o) :] = o[-1] + t * self.n_gallery
        self._flat_members = torch.cat(self.members)

    def _search(self, packed: torch.Tensor) -> torch.Tensor:
        """Bucket index of each query in each table, -1 when its code has no bucket: (L, Q, W) words -> (L, Q).

        All tables in one batched binary search over sorted int64 keys: the word itself for one-word codes, the
        code's hash for longer ones (then the full code is compared on the <= max_run keys sharing that hash)."""
        if packed.shape[-1] == 1:
            queries = packed[..., 0].contiguous()
            position = torch.searchsorted(self._padded_keys, queries)
            found = position.clamp_max(self._padded_keys.shape[1] - 1)
            hit = (position < self._key_counts) & (self._padded_keys.gather(1, found) == queries)
            return torch.where(hit, found, -1)
        hashes = hash_words(packed)  # (L, Q)
        position = torch.searchsorted(self._padded_keys, hashes)
        result = torch.full_like(position, -1)
        last = self._padded_keys.shape[1] - 1
        for step in range(self._max_run):
            at = (position + step).clamp_max(last)
            bucket = self._order.gather(1, at)  # lexicographic index of the key there
            same = (position + step < self._key_counts) & (self._padded_keys.gather(1, at) == hashes)
            keys = self._all_keys[self._first_key.unsqueeze(1) + bucket]  # (L, Q, W)
            same &= (keys == packed).all(-1)
            result = torch.where(same, bucket, result)
        return result

    def _hits(self, codes: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(buckets, begin, length), each (L, Q): the bucket each query's code falls in per table (-1: none) and its
        member range in the members of all tables laid end to end (length 0 for none)."""
        self._flat(codes[0].device)
        buckets = self._search(pack_codes(torch.stack(codes)))  # (L, Q)
        safe = buckets.clamp_min(0)
        begin = self._padded_offsets.gather(1, safe)
        length = torch.where(buckets >= 0, self._padded_offsets.gather(1, safe + 1) - begin, 0)
        return buckets, begin, length

    def _dense(self, n_queries: int, total: float, mask_budget: int, dense_share: float) -> bool:
        """Whether ``lookup`` returns the union as a dense mask (many candidates, and the pairs fit the budget)."""
        pairs = n_queries * self.n_gallery
        return not total < pairs / 16 and pairs <= mask_budget and total > dense_share * pairs

    def lookup_buckets(self, codes: list[torch.Tensor], mask_budget: int = 1 << 26, dense_share: float = 0.125
                       ) -> "Candidates | BucketCandidates":
        """The buckets each query hits, unmerged (``BucketCandidates``: the evaluator scores each bucket's queries
        as one product against its members), or ``lookup``'s dense mask where ``lookup`` returns one."""
        n_queries = len(codes[0])
        buckets, begin, length = self._hits(codes)
        if self._dense(n_queries, float(length.sum()), mask_budget, dense_share):
            return self.lookup(codes, mask_budget, dense_share)
        return self._as_hits(buckets, begin, length)

    def hits(self, codes: list[torch.Tensor]) -> BucketCandidates:
        """The bucket each query's code falls in per table, as hits (lshbench.search)."""
        return self._as_hits(*self._hits(codes))

    def one_query_lists(self, codes: list[torch.Tensor]) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """One query's buckets (codes: per table, (P, B) bool, P probes) as (members of all tables, [(begin, length),
        ...]): a Python dict per table from code to member range (built on first use), so a single query pays a
        few dictionary lookups, not the batched binary search's dozen tensor operations (lshbench.search)."""
        if getattr(self, "_ranges", None) is None:
            self._flat(codes[0].device)
            self._ranges = []
            for t, (k, o) in enumerate(zip(self.keys, self.offsets)):
                base = t * self.n_gallery
                starts, ends = (o[:-1] + base).tolist(), (o[1:] - o[:-1]).tolist()
                self._ranges.append(dict(zip(map(tuple, k.tolist()), zip(starts, ends))))
        words = pack_codes(torch.stack(codes)).tolist()  # (L, P, W)
        found = [table[tuple(code)] for table, probes in zip(self._ranges, words) for code in probes
                 if tuple(code) in table]
        return self._flat_members, found

    def _as_hits(self, buckets: torch.Tensor, begin: torch.Tensor, length: torch.Tensor) -> BucketCandidates:
        n_queries = buckets.shape[1]
        n_tables = len(buckets)
        width = self._padded_offsets.shape[1]
        key = buckets + torch.arange(n_tables, device=buckets.device).unsqueeze(1) * width  # distinct per table
        query = torch.arange(n_queries, device=buckets.device).expand(n_tables, -1)
        hit = buckets.reshape(-1) >= 0
        return BucketCandidates(query.reshape(-1)[hit], key.reshape(-1)[hit], begin.reshape(-1)[hit],
                                length.reshape(-1)[hit], self._flat_members, n_queries, self.n_gallery)

    def lookup(self, codes: list[torch.Tensor], mask_budget: int = 1 << 26, dense_share: float = 0.125
               ) -> Candidates:
        """Union over tables of the buckets each query's code falls in (one (Q, B) bool tensor per table).

        When the buckets hit cover more than ``dense_share`` of the (queries x gallery) pairs and the pairs fit the
        budget, the union is returned as a dense mask built by comparing bucket indices; otherwise as CSR, built
        from the buckets' member ranges."""
        n_queries = len(codes[0])
        device = codes[0].device
        buckets, begin, length = self._hits(codes)
        pairs = n_queries * self.n_gallery
        total = float(length.sum())
        if total < pairs / 16:  # few candidates: sorting the (query, id) pairs beats scanning a bitmap
            owner, members = gather_ranges(begin.reshape(-1), length.reshape(-1), self._flat_members)
            return from_pairs(owner % n_queries, members, n_queries, self.n_gallery)
        if self._dense(n_queries, total, mask_budget, dense_share):
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
        """One (N, B) bool code per table (L tables) of the vectors x (N, D)."""
        raise NotImplementedError

    def hamming_codes(self, x: torch.Tensor) -> torch.Tensor:
        """One B-bit code per item, (N, B) bool: what a Hamming ranking compares (the query's code against the
        gallery's, by Hamming distance). By default table 0's code: the whole code of a one-table method (PCAH,
        spectral hashing), the first table's of an L-table one. A method whose tables are not codes of one
        length, or that ranks by another code, overrides it."""
        return self.codes(x)[0]

    def candidates(self, queries: torch.Tensor) -> Candidates:
        return self.tables.lookup(self.codes(self._check_queries(queries)))

    def bucket_candidates(self, queries: torch.Tensor) -> "Candidates | BucketCandidates":
        """``candidates`` before the union: the (query, table) buckets hit (``BucketCandidates``), or the same dense
        mask as ``candidates`` where that is what it returns. The evaluator's fast path (Evaluator.rank_buckets)."""
        return self.tables.lookup_buckets(self.codes(self._check_queries(queries)))

    def hits(self, queries: torch.Tensor) -> BucketCandidates:
        """The bucket hit in each table (lshbench.search scores each bucket's queries as one product)."""
        return self.tables.hits(self.codes(self._check_queries(queries)))

    def one_query_lists(self, query: torch.Tensor) -> tuple[torch.Tensor, list[tuple[int, int]]]:
        """One query's (1, D) buckets, as lshbench.search.one_query_lists gives them."""
        return self.tables.one_query_lists(self.codes(self._check_queries(query)))

    def load_tables(self, arrays: dict[str, torch.Tensor]) -> None:
        self.n_gallery = int(arrays["table00_members"].numel())
        self.tables = HashTables.from_arrays(arrays, self.L, self.n_gallery)

    def info(self):
        return self.tables.stats()


class OneTableIndex(HashingIndex):
    """One table of H-bit codes learned from the gallery, deterministic given it (PCAH, spectral hashing): subclasses
    learn their projection in ``fit`` and end it with ``build_table``. ``title``: the method's name in errors."""

    L = 1
    title = ""

    def __init__(self, H: int, *, device: str | torch.device = "cpu"):
        super().__init__(device)
        if H < 1:
            raise ParameterError(f"{self.title} needs H >= 1 (H={H})")
        self.H = H
        self.ones_share: list[float] = []

    def params(self) -> dict:
        return {"H": self.H}

    def build_table(self, x: torch.Tensor) -> None:
        """The gallery's codes into the table, and the share of them that sets each bit (index.json)."""
        self.n_gallery = len(x)
        codes = self.codes(x)
        self.ones_share = codes[0].float().mean(0).tolist()
        self.tables = HashTables.build(codes)

    def info(self):
        return {**super().info(), "ones_share": self.ones_share}
