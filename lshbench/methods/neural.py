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

from ..lazy import lazy_import

from .base import ParameterError
from .hashing import HashingIndex, HashTables
from .registry import Method, Training, register, values_of

torch = lazy_import("torch")


def loss_terms(outputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The three unweighted terms of Figure 3 for one batch of tanh outputs (B, H) and their labels (B,)."""
    balance = outputs.sum(1).abs().mean()
    fence = (outputs.abs() - 1).abs().sum(1).mean()
    different = labels.unsqueeze(0) != labels.unsqueeze(1)
    pairs = torch.triu(different, diagonal=1)
    # the mean over the pairs without asking the host whether there are any (0 for a one-label batch)
    count = pairs.sum().clamp_min(1)
    supervision = ((outputs @ outputs.T).abs() * pairs).sum() / count
    return balance, fence, supervision


class CompressionNet:
    """x -> Linear((x - mean) / std); tanh is applied by the loss in training, sign by the hash at inference.

    A plain class around an ``nn.Linear`` (not an ``nn.Module`` subclass): defining it must not import torch."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, H: int):
        self.mean, self.std = mean.float(), std.float()
        self.linear = torch.nn.Linear(len(mean), H)  # initialised on the CPU generator, then moved (.to)

    @property
    def out_features(self) -> int:
        return self.linear.out_features

    def parameters(self):
        return self.linear.parameters()

    def to(self, device) -> "CompressionNet":
        self.mean, self.std, self.linear = self.mean.to(device), self.std.to(device), self.linear.to(device)
        return self

    def eval(self) -> "CompressionNet":
        self.linear.eval()
        return self

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
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
        # no host round trip per step: batches are indexed on the device, the epoch's sums stay there
        sums = torch.zeros(4, dtype=torch.float64, device=device)
        batches = 0
        for index in torch.randperm(len(x), generator=generator).to(device).split(batch_size):
            balance, fence, supervision = loss_terms(torch.tanh(layer(x[index])), y[index])
            total = alpha * balance + beta * fence + gamma * supervision
            optimiser.zero_grad(set_to_none=True)
            total.backward()
            optimiser.step()
            sums += torch.stack([balance, fence, supervision, total]).detach().double()
            batches += 1
        balance, fence, supervision, total = (sums / batches).tolist()  # one transfer per epoch
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
            raise ParameterError(f"neural LSH takes one network shared by the L={L} tables or one per table, not "
                                 f"{len(networks)}")
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

    @classmethod
    def build(cls, params: dict, *, seed: int = 0, device="cpu", trained: dict | None = None, **settings):
        if trained is None:
            raise ValueError("neural LSH is built from trained networks (its training step's model.npz)")
        seed = params.get("seed", seed)  # a folder's seed (the replicate's) wins over the argument
        return cls.from_params(networks_from_arrays(trained, device), params, seed=seed, device=device)

    @classmethod
    def load(cls, params: dict, arrays: dict, device="cpu"):
        index = cls.from_params(networks_from_arrays(arrays, device), params, device=device)
        index.load_arrays(arrays)
        return index

    def params(self) -> dict:
        return {"H": self.H, "J": self.J, "L": self.L, "networks": self.networks_mode, **self.training,
                "seed": self.seed}

    def codes(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = x.to(self.device, torch.float32)
        with torch.no_grad():
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


def train_networks(gallery: torch.Tensor, labels: torch.Tensor, settings: dict, *, seed: int = 0, device="cpu",
                   progress: bool = False) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """The training step: one network (``networks: shared``) or one per table (``per_table``, seeds seed + i), from
    a training folder's settings; returns their arrays and one row per network and epoch."""
    import logging

    count = settings["L"] if settings["networks"] == "per_table" else 1
    networks, rows = [], []
    for i in range(count):
        network, history = train_network(gallery, labels, H=settings["H"], epochs=settings["epochs"],
                                          lr=settings["lr"], batch_size=settings["batch"], alpha=settings["alpha"],
                                          beta=settings["beta"], gamma=settings["gamma"], seed=seed + i,
                                          standardize=settings["standardize"], device=device, progress=progress)
        networks.append(network)
        rows += [{"network": i, **row} for row in history]
        logging.info("network %d: final loss %.4f (%s)", i, history[-1]["total"], history[-1])
    return network_arrays(networks), rows


# The report's neural LSH settings (Figure 3 and its text); a configuration that departs from them says so in its
# Figure 4 block label. ``standardize`` is ours: the report is silent, so its literal reading is false.
REPORT_NEURAL = {"H": 800, "L": 8, "networks": "shared", "standardize": False, "epochs": 20, "lr": 0.001,
                 "batch": 256, "alpha": 0.3, "beta": 0.3, "gamma": 0.4}
TRAINING_KEYS = ("H", "L", "networks", "standardize", "epochs", "lr", "batch", "alpha", "beta", "gamma")


def neural_departures(row) -> list[str]:
    """How a neural LSH configuration departs from the report's settings (REPORT_NEURAL), for its block label."""
    out = []
    for key, value in REPORT_NEURAL.items():
        if key == "L" or key not in row or row[key] is None or row[key] != row[key]:  # missing or NaN
            continue
        ours = row[key]
        if key == "standardize":
            if str(ours).lower() == "true":
                out.append("standardised")
        elif isinstance(value, str):
            if str(ours) != value:
                out.append(str(ours))
        elif float(ours) != float(value):
            out.append(f"{key}={ours:g}" if isinstance(ours, float) else f"{key}={ours}")
    return out


def _neural_block(row) -> str:
    label = f"#HashTables = {int(row['L'])}"
    departures = neural_departures(row)
    return f"{label} ({', '.join(departures)})" if departures else label


def _neural_configurations(grid: dict, settings: dict) -> list[dict]:
    rows = []
    for standardize in settings["standardize"]:
        training = {"H": settings["H"], "L": settings["L"], "networks": settings["networks"],
                    "standardize": standardize, "epochs": settings["epochs"], "lr": settings["lr"],
                    "batch": settings["batch_size"], "alpha": settings["alpha"], "beta": settings["beta"],
                    "gamma": settings["gamma"]}
        rows += [{"H": training["H"], "J": J, **training} for J in grid["J"]]
    return rows


def _neural_checks(settings: dict, grid: dict, sizes: dict | None, where: str) -> None:
    for J in grid.get("J", []):
        if J > settings["H"]:
            raise ValueError(f"{where}.J: {J} exceeds methods.neural.H = {settings['H']} (J bits are drawn from the H "
                             f"outputs)")


def _neural_hamming(bits: int, settings: dict) -> dict:
    """A B-bit code for Hamming ranking: table 0's J = B bits drawn from the network of the first training setting,
    the networks the bucket configurations train (one training serves both protocols)."""
    if bits > settings["H"]:
        raise ValueError(f"neural LSH draws its bits from the network's H = {settings['H']} outputs "
                         f"(methods.neural.H); choose bits <= {settings['H']}")
    return _neural_configurations({"J": [bits]}, settings)[0]


METHOD = register(Method(
    name="neural", order=3, title="neural LSH", index="NeuralLSH", module=__name__,
    params={"H": int, "J": int, "L": int, "networks": str, "standardize": bool, "epochs": int, "lr": float,
            "batch": int, "alpha": float, "beta": float, "gamma": float},
    grid={"J": values_of(int, minimum=1)},
    settings={
        "H": {"type": "integer", "minimum": 1, "default": 800},
        "L": {"type": "integer", "minimum": 1, "maximum": 64, "default": 8},
        "networks": {"enum": ["shared", "per_table"], "default": "shared",
                     "description": "one network for all L tables, or one trained per table"},
        "epochs": {"type": "integer", "minimum": 1, "default": 20},
        "lr": {"type": "number", "exclusiveMinimum": 0, "default": 0.001},
        "batch_size": {"type": "integer", "minimum": 2, "default": 256},
        "alpha": {"type": "number", "minimum": 0, "default": 0.3},
        "beta": {"type": "number", "minimum": 0, "default": 0.3},
        "gamma": {"type": "number", "minimum": 0, "default": 0.4},
        "standardize": {**values_of(bool), "default": [True],
                        "description": "standardise inputs with the gallery mean and std (true; the report is "
                                       "silent) and/or not (false: the report read literally); each value is its own "
                                       "training and Figure 4 block"},
    },
    configurations=_neural_configurations, checks=_neural_checks, hamming=_neural_hamming,
    axis="J", table="figure4_neural", block=_neural_block, series=("L", "networks", "standardize"),
    colour="tab:green",
    caption="The report's Figure 4 (neural LSH, 8 hash tables) in its layout: precision@10, precision@50 and mAP in "
            "percent, one column per dataset and number of bits J drawn per table from the network's H=800 outputs.",
    training=Training(
        keys=TRAINING_KEYS, train=train_networks, table="figure3_neural_loss",
        caption="The loss of the report's Figure 3 per epoch of neural LSH training, per dataset: bit balance, no "
                "sitting on the fence and weak supervision, each unweighted and weighted by alpha, beta, gamma, and "
                "their weighted total (mean over the epoch's batches).",
        curves={"balance_weighted": "alpha x bit balance", "fence_weighted": "beta x no sitting on the fence",
                "supervision_weighted": "gamma x weak supervision", "total": "total"},
        title=lambda folder: "standardised inputs" if "standardize=true" in folder else "raw inputs (the report)",
    ),
))
