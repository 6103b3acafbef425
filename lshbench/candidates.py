"""Candidate lists in CSR form: query i's candidates are ids[offsets[i]:offsets[i+1]], gallery positions, ascending.

Two other forms avoid materialising long lists: ``Candidates.all`` (every gallery item: exact search) and a dense
(Q, N) boolean ``mask`` (candidate sets that cover much of the gallery, as LSH unions on uncentred features do).
"""

from __future__ import annotations

from dataclasses import dataclass

from .lazy import lazy_import

torch = lazy_import("torch")


@dataclass
class Candidates:
    offsets: torch.Tensor | None  # int64 (Q + 1,)
    ids: torch.Tensor | None  # int64 (nnz,), ascending within each query
    n_queries: int
    n_gallery: int
    mask: torch.Tensor | None = None  # bool (Q, N), the dense form
    # int64 (Q,), optional: queries with the same group have the same candidate list (k-means, probes 1), so the
    # evaluator scores each group as one dense product against exactly that list
    groups: torch.Tensor | None = None

    @classmethod
    def all(cls, n_queries: int, n_gallery: int) -> "Candidates":
        return cls(None, None, n_queries, n_gallery)

    @classmethod
    def from_mask(cls, mask: torch.Tensor) -> "Candidates":
        return cls(None, None, mask.shape[0], mask.shape[1], mask)

    @property
    def is_all(self) -> bool:
        return self.ids is None and self.mask is None

    def counts(self) -> torch.Tensor:
        if self.mask is not None:
            return self.mask.sum(1)
        if self.is_all:
            return torch.full((self.n_queries,), self.n_gallery, dtype=torch.int64)
        return self.offsets[1:] - self.offsets[:-1]

    def row(self, i: int) -> torch.Tensor:
        if self.mask is not None:
            return torch.nonzero(self.mask[i]).squeeze(1)
        if self.is_all:
            return torch.arange(self.n_gallery)
        return self.ids[self.offsets[i] : self.offsets[i + 1]]

    def slice(self, start: int, stop: int) -> "Candidates":
        """Queries start..stop-1 (offsets rebased to 0)."""
        if self.mask is not None:
            return Candidates.from_mask(self.mask[start:stop])
        if self.is_all:
            return Candidates.all(stop - start, self.n_gallery)
        offsets = self.offsets[start : stop + 1]
        groups = None if self.groups is None else self.groups[start:stop]
        return Candidates(offsets - offsets[0], self.ids[offsets[0] : offsets[-1]], stop - start, self.n_gallery,
                          groups=groups)


@dataclass
class BucketCandidates:
    """Candidate lists before their union: hit j is query ``query[j]`` falling in the bucket ``bucket[j]`` (a key
    unique across tables) whose members are ``members[begin[j] : begin[j] + length[j]]``, ascending. A query's
    candidates are the union of its hits' members (hashing tables: one hit per table)."""
    query: torch.Tensor  # int64 (H,)
    bucket: torch.Tensor  # int64 (H,)
    begin: torch.Tensor  # int64 (H,)
    length: torch.Tensor  # int64 (H,)
    members: torch.Tensor  # int64, the members of every bucket
    n_queries: int
    n_gallery: int


def from_pairs(rows: torch.Tensor, ids: torch.Tensor, n_queries: int, n_gallery: int) -> Candidates:
    """CSR from (query row, gallery id) pairs: duplicates removed, ids ascending within each row."""
    keys = torch.unique(rows.to(torch.int64) * n_gallery + ids.to(torch.int64))  # sorted
    rows, ids = keys // n_gallery, keys % n_gallery
    counts = torch.bincount(rows, minlength=n_queries)
    offsets = torch.zeros(n_queries + 1, dtype=torch.int64, device=ids.device)
    offsets[1:] = torch.cumsum(counts, 0)
    return Candidates(offsets, ids, n_queries, n_gallery)


def gather_ranges(starts: torch.Tensor, lengths: torch.Tensor, members: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For ranges members[starts[j] : starts[j] + lengths[j]], return (j for each element, the elements)."""
    lengths = lengths.to(torch.int64)
    total = int(lengths.sum())
    owner = torch.repeat_interleave(torch.arange(len(starts), device=starts.device), lengths)
    if total == 0:
        return owner, members[:0]
    first = torch.cumsum(lengths, 0) - lengths
    position = torch.arange(total, device=starts.device) - first[owner] + starts[owner]
    return owner, members[position]


def ranges_within(lengths: torch.Tensor) -> torch.Tensor:
    """0..lengths[j]-1 for each j, laid end to end."""
    total = int(lengths.sum())
    owner = torch.repeat_interleave(torch.arange(len(lengths), device=lengths.device), lengths)
    return torch.arange(total, device=lengths.device) - (torch.cumsum(lengths, 0) - lengths)[owner]
