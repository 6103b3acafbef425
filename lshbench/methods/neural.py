"""Method 3 of the report: neural LSH. A Linear(D, H) layer with tanh is trained with the report's Figure 3 loss

    alpha/|V| sum_u |1^T tanh(C(x_u))|                      (bit balance)
  + beta /|V| sum_u || |tanh(C(x_u))| - 1 ||_1              (no sitting on the fence)
  + gamma/|E| sum_(u,v) in E |tanh(C(x_u)) . tanh(C(x_v))|  (weak supervision; E = different-label pairs u < v)

over the pairs of each mini-batch; at inference tanh becomes sign. Each of the L tables uses its own J bits drawn at
random from the H outputs.

Inputs are standardised per feature with the gallery's mean and standard deviation before the layer (``standardize``,
on by default; the report is silent). ResNet features are non-negative and nearly collinear: measured on the demo's
ResNet-50 features, without it every gallery item gets the same code and every table has one bucket.
"""

from __future__ import annotations

import time

import torch

from .base import ParameterError
from .hashing import HashingIndex, HashTables


def loss_terms(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three unweighted terms of Figure 3 for one batch of tanh outputs (B, H) and their labels (B,)."""
    balance = outputs.sum(1).abs().mean()
    fence = (outputs.abs() - 1).abs().sum(1).mean()
    different = labels.unsqueeze(0) != labels.unsqueeze(1)
    pairs = torch.triu(different, diagonal=1)
    if bool(pairs.any()):
        supervision = (outputs @ outputs.T).abs()[pairs].mean()
    else:
        supervision = outputs.new_zeros(())
    return balance, fence, supervision


class CompressionNet(torch.nn.Module):
    """x -> Linear((x - mean) / std); tanh is applied by the loss in training, sign by the hash at inference."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, H: int):
        super().__init__()
        self.register_buffer("mean", mean.float())
        self.register_buffer("std", std.float())
        self.linear = torch.nn.Linear(len(mean), H)

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear((x - self.mean) / self.std)


def train_network(gallery: torch.Tensor, labels: torch.Tensor, *, H: int = 800, epochs: int = 20, lr: float = 1e-3,
                  batch_size: int = 256, alpha: float = 0.3, beta: float = 0.3, gamma: float = 0.4, seed: int = 0,
                  standardize: bool = True, device: str | torch.device = "cpu", progress: bool = False
                  ) -> tuple[CompressionNet, list[dict]]:
    """Adam on shuffled mini-batches; returns the layer and one row per epoch (mean of each term over batches)."""
    from tqdm import tqdm

    device = torch.device(device)
    x = gallery.to(device, torch.float32)
    y = labels.to(device)
    torch.manual_seed(seed)
    if standardize:
        mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    else:
        mean, std = torch.zeros(x.shape[1], device=device), torch.ones(x.shape[1], device=device)
    layer = CompressionNet(mean, std, H).to(device)
    optimiser = torch.optim.Adam(layer.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in tqdm(range(1, epochs + 1), desc="neural LSH", unit="epoch", disable=not progress):
        start = time.perf_counter()
        sums = torch.zeros(4, dtype=torch.float64)
        batches = 0
        for index in torch.randperm(len(x), generator=generator).to(device).split(batch_size):
            balance, fence, supervision = loss_terms(torch.tanh(layer(x[index])), y[index])
            total = alpha * balance + beta * fence + gamma * supervision
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            optimiser.step()
            sums += torch.stack([balance, fence, supervision, total]).detach().double().cpu()
            batches += 1
        balance, fence, supervision, total = (sums / batches).tolist()
        history.append({"epoch": epoch, "balance": balance, "fence": fence, "supervision": supervision,
                        "balance_weighted": alpha * balance, "fence_weighted": beta * fence,
                        "supervision_weighted": gamma * supervision, "total": total,
                        "seconds": time.perf_counter() - start})
    return layer.eval(), history


def network_arrays(networks: list[CompressionNet]) -> dict[str, torch.Tensor]:
    """network{i}_{weight,bias,mean,std} for each network: inspectable .npy files."""
    out = {}
    for i, net in enumerate(networks):
        out |= {f"network{i}_weight": net.linear.weight, f"network{i}_bias": net.linear.bias,
                f"network{i}_mean": net.mean, f"network{i}_std": net.std}
    return out


def networks_from_arrays(arrays: dict[str, torch.Tensor], device: str | torch.device = "cpu") -> list[CompressionNet]:
    networks = []
    while f"network{len(networks)}_weight" in arrays:
        get = lambda name: arrays[f"network{len(networks)}_{name}"].float()  # noqa: E731
        net = CompressionNet(get("mean"), get("std"), get("weight").shape[0])
        with torch.no_grad():
            net.linear.weight.copy_(get("weight"))
            net.linear.bias.copy_(get("bias"))
        networks.append(net.to(device).eval())
    return networks


class NeuralLSH(HashingIndex):
    method = "neural"

    def __init__(self, networks: list[CompressionNet], J: int, L: int = 8, *, networks_mode: str | None = None,
                 training: dict | None = None, seed: int = 0, device: str | torch.device = "cpu"):
        """``training``: the settings the networks were trained with (standardize, epochs, lr, ...), recorded in
        params() so that index.json and metrics.csv show them."""
        super().__init__(device)
        H = networks[0].out_features
        if not 1 <= J <= H:
            raise ParameterError(f"neural LSH needs 1 <= J <= H={H} (J={J})")
        if len(networks) not in (1, L):
            raise ParameterError(f"neural LSH takes one network shared by the L={L} tables or one per table, not {len(networks)}")
        self.networks = [n.to(self.device).eval() for n in networks]
        self.networks_mode = networks_mode or ("shared" if len(networks) == 1 else "per_table")
        self.training = dict(training or {})
        self.H, self.J, self.L, self.seed = H, J, L, seed
        generator = torch.Generator().manual_seed(seed)
        self.bits = torch.stack([torch.randperm(H, generator=generator)[:J] for _ in range(L)]).to(self.device)

    @classmethod
    def from_params(cls, networks: list[CompressionNet], params: dict, *, seed: int | None = None,
                    device: str | torch.device = "cpu") -> "NeuralLSH":
        """From params() (index.json) or a folder's parameters: J, L, networks; the rest but H (read from the
        networks) and seed are the training settings."""
        training = {k: v for k, v in params.items() if k not in ("H", "J", "L", "networks", "seed")}
        return cls(networks, params["J"], params["L"], networks_mode=params["networks"], training=training,
                   seed=params.get("seed", 0) if seed is None else seed, device=device)

    def params(self) -> dict:
        return {"H": self.H, "J": self.J, "L": self.L, "networks": self.networks_mode, **self.training,
                "seed": self.seed}

    @torch.no_grad()
    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.to(self.device, torch.float32)
        outputs = [network(x) for network in self.networks]
        return [outputs[t % len(outputs)][:, self.bits[t]] > 0 for t in range(self.L)]  # sign(tanh(z)) = sign(z)

    def fit(self, gallery: torch.Tensor, labels: torch.Tensor | None = None):
        self.n_gallery = len(gallery)
        self.tables = HashTables.build(self.codes(gallery))
        return self

    def arrays(self):
        return {"bits": self.bits, **network_arrays(self.networks), **self.tables.arrays()}

    def load_arrays(self, arrays):
        self.bits = arrays["bits"].to(self.device)
        self.networks = networks_from_arrays(arrays, self.device)
        self.load_tables(arrays)
