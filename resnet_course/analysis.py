"""Looking inside networks: gradients at initialisation, gradient shattering, the identity task.

References
----------
- He, Zhang, Ren, Sun (2015), *Deep Residual Learning for Image Recognition*: §3.1, the
  residual-learning hypothesis ("if identity mappings are optimal, it is easier to push the
  residual to zero than to fit an identity mapping by a stack of nonlinear layers").
- He, Zhang, Ren, Sun (2016), *Identity Mappings in Deep Residual Networks*: Eq. (4)
  ``x_L = x_l + Σ_{i=l}^{L-1} F(x_i)`` and Eq. (5)
  ``∂L/∂x_l = ∂L/∂x_L · (1 + ∂/∂x_l Σ_{i=l}^{L-1} F(x_i))`` for identity shortcuts.
- Balduzzi, Frean, Leary, Lewis, Ma, McWilliams (2017), *The Shattered Gradients Problem:
  If resnets are the answer, then what is the question?*: gradients of deep plain networks
  with respect to their input look like white noise (neighbouring inputs get uncorrelated
  gradients), those of residual networks like brown noise (§2, Fig. 1 and 2).

Chapter 2 of the book uses everything here; chapter 7 (lesion study, loss landscape) adds
to this module.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_course.blocks import BLOCK_TYPES

LossFn = Callable[[Tensor, Tensor], Tensor]
BLOCK_CLASSES: tuple[type[nn.Module], ...] = tuple(BLOCK_TYPES.values())

# The network families of chapter 2, by the block type a reader picks.
NETWORK_KINDS: dict[str, str] = {"plain": "plain{depth}", "residual": "resnet{depth}",
                                 "preact": "preact_resnet{depth}"}


# --------------------------------------------------------------------------- small helpers


def model_name(kind: str, depth: int) -> str:
    """The registry name of a chapter-2 network: ``model_name("plain", 56) == "plain56"``."""
    if kind not in NETWORK_KINDS:
        raise ValueError(f"unknown network kind {kind!r}: choose one of {', '.join(NETWORK_KINDS)}")
    return NETWORK_KINDS[kind].format(depth=int(depth))


def seeded_model(kind: str, depth: int, seed: int = 0, **options: object) -> nn.Module:
    """A freshly initialised CIFAR network (plain, residual or pre-activation) from ``torch.manual_seed(seed)``."""
    from resnet_course.models import create_model

    torch.manual_seed(seed)
    return create_model(model_name(kind, depth), **options)


def cifar_batch(n: int = 64, *, split: str = "test", seed: int = 0,
                root: str | None = None) -> tuple[Tensor, Tensor]:
    """``n`` real CIFAR-10 images (class-balanced, seeded), normalised as for training, and their labels."""
    from resnet_course.data import CIFAR10_MEAN, CIFAR10_STD, load_cifar10

    data = load_cifar10(split, root).subset(n, seed)
    mean = torch.tensor(CIFAR10_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CIFAR10_STD).view(1, 3, 1, 1)
    return (data.images.float() / 255 - mean) / std, data.labels.clone()


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run PyTorch's CPU kernels on one thread inside the block, then restore the thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@contextlib.contextmanager
def preserved_state(model: nn.Module) -> Iterator[nn.Module]:
    """Run code on ``model`` and put back its buffers (BatchNorm statistics), train/eval mode and ``.grad``s.

    Measuring gradients in training mode would otherwise move every BatchNorm's running
    statistics — an analysis should not change the network it looks at.
    """
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    modes = {name: m.training for name, m in model.named_modules()}
    grads = {name: (None if p.grad is None else p.grad.detach().clone()) for name, p in model.named_parameters()}
    try:
        yield model
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        for name, m in model.named_modules():
            m.training = modes[name]
        for name, p in model.named_parameters():
            p.grad = grads[name]


def _loss(outputs: Tensor, targets: Tensor | None, loss: Union[str, LossFn]) -> Tensor:
    if callable(loss):
        if targets is None:
            raise ValueError("a custom loss needs targets")
        return loss(outputs, targets)
    if loss == "cross_entropy":
        if targets is None:  # the network's own predictions as labels
            targets = outputs.detach().argmax(dim=1)
        return F.cross_entropy(outputs, targets)
    if loss == "sum":
        return outputs.sum()
    raise ValueError(f"unknown loss {loss!r}: 'cross_entropy', 'sum' or a function (outputs, targets) -> scalar")


def residual_blocks(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Every block (residual, pre-activation or plain twin) of ``model`` with its name, in module order."""
    return [(name, m) for name, m in model.named_modules() if isinstance(m, BLOCK_CLASSES)]


# --------------------------------------------------------------------------- gradient norms


def gradient_norms(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor | None = None,
    *,
    loss: Union[str, LossFn] = "cross_entropy",
) -> list[tuple[str, float]]:
    """‖∂L/∂W‖ of every convolution's weight, in the order the forward pass uses them.

    One forward and backward pass at the current weights, with BatchNorm in training mode
    (batch statistics, as during the first SGD step). ``loss`` is ``"cross_entropy"``
    (with ``targets``; without, the network's own predicted labels), ``"sum"`` (the sum of
    the outputs) or a function ``(outputs, targets) -> scalar``. The model is left as it
    was (BatchNorm statistics, mode, existing ``.grad``).

    This is the measurement behind the "vanishing/exploding gradients" discussion of He
    et al. 2015, §1 and §4.1 (which argue that BatchNorm keeps plain networks' gradients
    healthy) and behind Balduzzi et al. 2017, §1.
    """
    order: list[str] = []
    names = {m: n for n, m in model.named_modules()}

    def record(module: nn.Module, _inputs: object, _output: object) -> None:
        order.append(names[module])

    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ValueError("the model has no nn.Conv2d layers")
    with preserved_state(model):
        model.train()
        model.zero_grad(set_to_none=True)
        hooks = [m.register_forward_hook(record) for m in convs]
        try:
            outputs = model(inputs)
        finally:
            for hook in hooks:
                hook.remove()
        _loss(outputs, targets, loss).backward()
        modules = dict(model.named_modules())
        seen: set[str] = set()
        result = []
        for name in order:
            if name in seen:
                continue
            seen.add(name)
            grad = modules[name].weight.grad
            result.append((name, 0.0 if grad is None else float(grad.norm())))
    return result


def block_output_gradient_norms(
    model: nn.Module,
    inputs: Tensor,
    targets: Tensor | None = None,
    *,
    loss: Union[str, LossFn] = "cross_entropy",
) -> list[tuple[str, float]]:
    """‖∂L/∂x_l‖ for the input x_l of every block, in forward order (tensor hooks).

    This is the quantity of He et al. 2016, Eq. (5): with identity shortcuts
    ``∂L/∂x_l = ∂L/∂x_L (1 + ∂/∂x_l Σ_{i=l}^{L-1} F(x_i))``, so the gradient reaching an
    early block contains the late gradient ∂L/∂x_L unchanged and does not vanish even if
    the residual branches' Jacobians are small. For a plain network the gradient is a
    product of the blocks' Jacobians instead. BatchNorm runs in training mode; the model
    is left as it was. The norm is over the whole batch (the loss is a batch mean).
    """
    blocks = residual_blocks(model)
    if not blocks:
        raise ValueError("the model has no residual or plain blocks (resnet_course.blocks)")
    captured: list[tuple[str, Tensor]] = []
    grads: dict[int, float] = {}

    def pre_hook(module: nn.Module, args: tuple[Tensor, ...], name: str) -> None:
        x = args[0]
        index = len(captured)
        captured.append((name, x))
        if x.requires_grad:
            x.register_hook(lambda g, index=index: grads.__setitem__(index, float(g.norm())))

    with preserved_state(model):
        model.train()
        model.zero_grad(set_to_none=True)
        hooks = [m.register_forward_pre_hook(lambda mod, args, name=name: pre_hook(mod, args, name))
                 for name, m in blocks]
        try:
            inputs = inputs.clone().requires_grad_(True)
            outputs = model(inputs)
        finally:
            for hook in hooks:
                hook.remove()
        _loss(outputs, targets, loss).backward()
    return [(name, grads.get(i, 0.0)) for i, (name, _) in enumerate(captured)]


def gradient_profiles(
    kinds: Sequence[str],
    depths: Sequence[int],
    inputs: Tensor,
    targets: Tensor | None = None,
    *,
    seed: int = 0,
) -> dict[tuple[str, int], list[tuple[str, float]]]:
    """:func:`gradient_norms` of fresh networks for every (kind, depth): ``{("plain", 56): [...], ...}``."""
    device = inputs.device
    targets = None if targets is None else targets.to(device)
    return {(kind, depth): gradient_norms(seeded_model(kind, depth, seed).to(device), inputs, targets)
            for kind in kinds for depth in depths}


# --------------------------------------------------------------------------- the gradient identity


@dataclass
class GradientIdentityCheck:
    """The pieces of He et al. 2016, Eq. (5), computed separately, for one chain of blocks."""

    autograd: Tensor  # ∂L/∂x_l by backpropagation through the whole chain
    direct: Tensor  # ∂L/∂x_L: the term the identity shortcuts carry unchanged
    residual: Tensor  # ∂L/∂x_L · ∂/∂x_l Σ F(x_i), from the explicit Jacobian of the residual sum
    jacobian: Tensor  # ∂/∂x_l Σ_{i=l}^{L-1} F(x_i) as an (n × n) matrix, n = x_l.numel()
    num_blocks: int

    @property
    def formula(self) -> Tensor:
        """∂L/∂x_L (1 + ∂/∂x_l Σ F): the right-hand side of Eq. (5)."""
        return self.direct + self.residual

    @property
    def max_abs_error(self) -> float:
        """max |autograd − formula|: zero up to rounding when Eq. (5) holds."""
        return float((self.autograd - self.formula).abs().max())

    def table(self) -> str:
        rows = [("∂E/∂x_l by autograd", self.autograd), ("∂E/∂x_L (direct term)", self.direct),
                ("∂E/∂x_L · ∂ΣF/∂x_l (residual term)", self.residual), ("direct + residual (Eq. 5)", self.formula)]
        width = max(len(r[0]) for r in rows)
        lines = [f"{name.ljust(width)}  norm {float(t.norm()):.6f}" for name, t in rows]
        lines.append(f"{'max |autograd - Eq. 5|'.ljust(width)}  {self.max_abs_error:.1e}")
        return "\n".join(lines)


class _Branch(nn.Module):
    """The residual branch of a pre-activation block as its own module: BN-ReLU-conv-BN-ReLU-conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1),
                               nn.BatchNorm2d(channels), nn.ReLU(), nn.Conv2d(channels, channels, 3, padding=1))

    def forward(self, x: Tensor) -> Tensor:
        return self.f(x)


def residual_chain(num_blocks: int = 4, channels: int = 3, *, seed: int = 0,
                   zero_branches: bool = False) -> nn.ModuleList:
    """Residual branches F_0 … F_{L-1} of a chain ``x_{i+1} = x_i + F_i(x_i)`` (float64, eval-mode BN).

    Pre-activation branches (He et al. 2016, Fig. 4(e)) so that the shortcut and the
    after-addition mapping are both identities, the setting of Eq. (4) and (5).
    ``zero_branches=True`` zeroes each branch's last convolution (F ≡ 0).
    """
    torch.manual_seed(seed)
    branches = nn.ModuleList(_Branch(channels) for _ in range(num_blocks)).double().eval()
    if zero_branches:
        for branch in branches:
            nn.init.zeros_(branch.f[-1].weight)
            nn.init.zeros_(branch.f[-1].bias)
    return branches


def run_chain(branches: Sequence[nn.Module], x: Tensor) -> Tensor:
    """x_L = x_l + Σ F_i(x_i) computed block by block (He et al. 2016, Eq. (4))."""
    for branch in branches:
        x = x + branch(x)
    return x


def check_gradient_identity(
    num_blocks: int = 4,
    channels: int = 3,
    size: int = 4,
    *,
    seed: int = 0,
    zero_branches: bool = False,
) -> GradientIdentityCheck:
    """Check He et al. 2016, Eq. (5) numerically on a tiny chain of residual blocks.

    Computes ∂L/∂x_l three ways: (1) autograd through the chain; (2) the direct term
    ∂L/∂x_L, read off at the chain's end; (3) the residual term ∂L/∂x_L · J with
    J = ∂/∂x_l Σ F(x_i), the full Jacobian of the residual sum built column by column by
    ``torch.autograd.functional.jacobian``. Eq. (5) says (1) = (2) + (3). The loss is
    L = ½‖x_L − t‖² for a fixed random target t; everything is float64.
    """
    branches = residual_chain(num_blocks, channels, seed=seed, zero_branches=zero_branches)
    generator = torch.Generator().manual_seed(seed + 1)
    x_l = torch.randn(1, channels, size, size, generator=generator, dtype=torch.float64)
    target = torch.randn(x_l.shape, generator=generator, dtype=torch.float64)

    def loss_of(x_end: Tensor) -> Tensor:
        return 0.5 * ((x_end - target) ** 2).sum()

    x = x_l.clone().requires_grad_(True)
    x_end = run_chain(branches, x)
    x_end.retain_grad()
    loss_of(x_end).backward()
    autograd_grad, direct = x.grad.detach().clone(), x_end.grad.detach().clone()

    def residual_sum(x_in: Tensor) -> Tensor:
        total = torch.zeros_like(x_in)
        for branch in branches:
            f = branch(x_in)
            total = total + f
            x_in = x_in + f
        return total

    n = x_l.numel()
    jacobian = torch.autograd.functional.jacobian(residual_sum, x_l).reshape(n, n)
    residual = (direct.reshape(1, n) @ jacobian).reshape(x_l.shape)
    return GradientIdentityCheck(autograd_grad, direct, residual, jacobian, num_blocks)


# --------------------------------------------------------------------------- gradient shattering


def calibrate_batchnorm(model: nn.Module, inputs: Tensor) -> nn.Module:
    """Set every BatchNorm's running statistics to those of ``inputs`` and switch to eval mode.

    After this the network normalises each layer as in training, but every input is
    processed on its own (no batch coupling), so the gradient of one output with
    respect to one input is a well-defined per-point quantity. Returns the model.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative average: one batch gives exactly its statistics
    model.train()
    with torch.no_grad():
        model(inputs)
    for bn, momentum in zip(bns, momenta):
        bn.momentum = momentum
    return model.eval()


@dataclass
class Shattering:
    """Input gradients along a line through input space (Balduzzi et al. 2017)."""

    t: Tensor  # positions along the line, shape (n_points,)
    directional: Tensor  # d/dt of the output unit along the line, shape (n_points,)
    neighbour_correlation: float  # mean cosine similarity of full input gradients at neighbouring points
    autocorrelation: Tensor  # correlation of `directional` with itself at lags 0 … max_lag
    label: str = ""
    extra: dict = field(default_factory=dict)


def neighbour_correlation(grads: Tensor) -> float:
    """Mean cosine similarity between consecutive rows of ``grads`` (n × d): 1 = smooth, 0 = white noise."""
    flat = grads.reshape(grads.shape[0], -1)
    if flat.shape[0] < 2:
        raise ValueError("need gradients at two or more points")
    return float(F.cosine_similarity(flat[:-1], flat[1:], dim=1).mean())


def autocorrelation(signal: Tensor, max_lag: int) -> Tensor:
    """Pearson correlation of ``signal[i]`` with ``signal[i + k]`` for k = 0 … max_lag."""
    s = signal.double()
    values = []
    for k in range(max_lag + 1):
        a, b = s[: len(s) - k], s[k:]
        a, b = a - a.mean(), b - b.mean()
        denominator = a.norm() * b.norm()
        values.append(float(a @ b / denominator) if denominator > 0 else 0.0)
    return torch.tensor(values)


def gradient_shattering(
    model: nn.Module,
    *,
    n_points: int = 256,
    image_size: int = 16,
    start: Tensor | None = None,
    end: Tensor | None = None,
    calibration: Tensor | None = None,
    output_unit: int = 0,
    max_lag: int = 32,
    seed: int = 0,
    batch_size: int = 256,
) -> Shattering:
    """Gradients of one output unit with respect to the input, at ``n_points`` along a line (Balduzzi et al. 2017).

    The paper feeds a one-dimensional input sweep to fully connected networks and looks at
    the gradient as a function of the input: for deep plain networks it is like white
    noise (neighbouring points get unrelated gradients — "shattered"), for residual
    networks like brown noise (correlated over a distance). Here the CIFAR networks see
    the points ``x(t) = (1 − t)·start + t·end`` for t in [0, 1] (a straight line between
    two images; by default two seeded Gaussian images of ``image_size``²), which is a 1-D
    input to the network restricted to that line.

    BatchNorm is first calibrated on ``calibration`` (default: the line's points) and then
    used in eval mode, so each point is processed on its own. Returned: the directional
    derivative d f(x(t))/dt at every point, the mean cosine similarity of the full input
    gradients at neighbouring points, and the autocorrelation of the directional
    derivative over ``max_lag`` lags. A copy of the model is used; the model is unchanged.
    Deterministic for a given ``seed``.
    """
    if n_points < 2:
        raise ValueError("n_points must be at least 2")
    generator = torch.Generator().manual_seed(seed)
    channels = _input_channels(model)
    shape = (channels, image_size, image_size)
    if start is None:
        start = torch.randn(shape, generator=generator)
    if end is None:
        end = torch.randn(shape, generator=generator)
    start, end = start.reshape(1, *start.shape[-3:]).cpu(), end.reshape(1, *end.shape[-3:]).cpu()
    t = torch.linspace(0.0, 1.0, n_points)
    points = (1 - t).view(-1, 1, 1, 1) * start + t.view(-1, 1, 1, 1) * end
    device = next(model.parameters()).device
    start, end, points = start.to(device), end.to(device), points.to(device)
    net = copy.deepcopy(model)
    calibrate_batchnorm(net, points if calibration is None else calibration.to(device))
    for p in net.parameters():
        p.requires_grad_(False)
    grads = []
    for chunk in points.split(batch_size):
        x = chunk.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(net(x)[:, output_unit].sum(), x)
        grads.append(grad)
    gradients = torch.cat(grads)
    directional = (gradients * (end - start)).flatten(1).sum(1)
    return Shattering(
        t=t,
        directional=directional.cpu(),
        neighbour_correlation=neighbour_correlation(gradients),
        autocorrelation=autocorrelation(directional, min(max_lag, n_points - 2)),
        label=getattr(model, "arch", type(model).__name__),
    )


def shattering_sweep(
    kinds: Sequence[str],
    depths: Sequence[int],
    images: Tensor,
    *,
    image_size: int = 8,
    n_points: int = 256,
    pair: tuple[int, int] = (0, 1),
    seed: int = 0,
) -> dict[tuple[str, int], Shattering]:
    """:func:`gradient_shattering` of fresh networks for every (kind, depth), on a line between two real images.

    ``images`` (N×3×32×32, normalised; N ≥ 2) are average-pooled to ``image_size``² (the
    CIFAR networks are fully convolutional, so they accept any size; smaller is cheaper).
    The line runs from ``images[pair[0]]`` to ``images[pair[1]]``, and every network's
    BatchNorm is calibrated on all of ``images``, so it normalises as it would on data.
    Runs on the device of ``images``.
    """
    small = resize_images(images, image_size)
    start, end = small[pair[0]], small[pair[1]]
    results = {}
    for kind in kinds:
        for depth in depths:
            model = seeded_model(kind, depth, seed).to(images.device)
            results[(kind, depth)] = gradient_shattering(model, n_points=n_points, start=start, end=end,
                                                         calibration=small, seed=seed)
            results[(kind, depth)].label = model_name(kind, depth)
    return results


def resize_images(images: Tensor, size: int) -> Tensor:
    """Average-pool (or, for a size that does not divide, bilinearly resize) N×C×H×W images to size×size."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    if images.shape[-1] % size == 0 and images.shape[-2] % size == 0:
        return F.avg_pool2d(images, (images.shape[-2] // size, images.shape[-1] // size))
    return F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False, antialias=True)


def _input_channels(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m.in_channels
    raise ValueError("the model has no nn.Conv2d layer to read the input channels from")


# --------------------------------------------------------------------------- learning the identity


def identity_stack(kind: str, blocks: int = 2, channels: int = 16) -> nn.Sequential:
    """``blocks`` basic blocks on ``channels`` channels, trained in :func:`identity_learning_curves`.

    ``kind``: ``"plain"`` (conv-BN-ReLU-conv-BN-ReLU, no shortcut), ``"residual"`` (the
    basic block, default initialisation) or ``"residual_zero"`` (the basic block with its
    last BatchNorm zeroed, so F ≡ 0 and the block starts as ReLU(x)).
    """
    from resnet_course.blocks import BasicBlock, PlainBasicBlock, zero_init_last_bn
    from resnet_course.models import _init_weights

    if kind not in ("plain", "residual", "residual_zero"):
        raise ValueError(f"unknown kind {kind!r}: 'plain', 'residual' or 'residual_zero'")
    cls = PlainBasicBlock if kind == "plain" else BasicBlock
    stack = nn.Sequential(*(cls(channels, channels, 1, "A") for _ in range(blocks)))
    _init_weights(stack)
    if kind == "residual_zero":
        zero_init_last_bn(stack)
    return stack


def identity_learning_curves(
    steps: int = 200,
    seed: int = 0,
    *,
    blocks: int = 2,
    channels: int = 16,
    size: int = 8,
    batch_size: int = 32,
    lr: float = 0.05,
    kinds: Sequence[str] = ("plain", "residual", "residual_zero"),
) -> dict[str, list[float]]:
    """Train stacks of blocks to be the identity map; return each one's loss per step.

    He et al. 2015, §3.1: if the identity were the best a few extra layers could do, a
    residual block only has to drive F to zero, while a plain stack of nonlinear layers has
    to *fit* the identity. The inputs are non-negative (ReLU of Gaussian noise, like the
    output of any earlier block), so the identity is exactly representable by every stack.
    Loss: mean squared error ‖stack(x) − x‖²; SGD with momentum 0.9, fresh batches from a
    seeded generator, the same batches for every kind; BatchNorm in training mode.
    """
    curves: dict[str, list[float]] = {}
    with single_thread():  # tensors this small gain nothing from threads, and lose a lot on a busy CPU
        for kind in kinds:
            curves[kind] = _train_identity(kind, steps, seed, blocks, channels, size, batch_size, lr)
    return curves


def _train_identity(kind: str, steps: int, seed: int, blocks: int, channels: int, size: int, batch_size: int,
                    lr: float) -> list[float]:
    torch.manual_seed(seed)
    stack = identity_stack(kind, blocks, channels).train()
    optimizer = torch.optim.SGD(stack.parameters(), lr=lr, momentum=0.9)
    generator = torch.Generator().manual_seed(seed + 1)
    losses = []
    for _ in range(steps):
        x = torch.relu(torch.randn(batch_size, channels, size, size, generator=generator))
        loss = F.mse_loss(stack(x), x)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


# --------------------------------------------------------------------------- text tables for the notebooks


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join([str(header[0]).ljust(widths[0])] + [str(h).rjust(w) for h, w in zip(header[1:], widths[1:])])]
    lines.append("-" * len(lines[0]))
    for r in rows:
        lines.append("  ".join([str(r[0]).ljust(widths[0])] + [str(c).rjust(w) for c, w in zip(r[1:], widths[1:])]))
    return "\n".join(lines)


def gradient_norm_table(profiles: dict[tuple[str, int], list[tuple[str, float]]]) -> str:
    """One line per network: number of convolutions, ‖∂L/∂W‖ of the first and last, and their ratio."""
    rows = []
    for (kind, depth), norms in profiles.items():
        first, last = norms[0][1], norms[-1][1]
        rows.append((model_name(kind, depth), len(norms), f"{first:.3g}", f"{last:.3g}",
                     f"{first / last:.3g}" if last > 0 else "inf"))
    return _table(("network", "convs", "first conv", "last conv", "first / last"), rows)


def block_gradient_table(results: dict[str, list[tuple[str, float]]], every: int = 9) -> str:
    """‖∂L/∂x_l‖ at every ``every``-th block (and the last) for several networks side by side, plus first / last."""
    names = [name for name, _ in next(iter(results.values()))]
    picks = sorted(set(range(0, len(names), every)) | {len(names) - 1})
    rows = [(f"block {i + 1} ({names[i]})", *(f"{results[k][i][1]:.3g}" for k in results)) for i in picks]
    rows.append(("first / last", *(f"{results[k][0][1] / results[k][-1][1]:.3g}" for k in results)))
    return _table(("input of", *results), rows)


def shattering_table(results: dict[tuple[str, int], Shattering]) -> str:
    """Neighbour correlation of input gradients, and lag-1 autocorrelation of the directional derivative."""
    rows = [(model_name(kind, depth), f"{r.neighbour_correlation:.3f}", f"{float(r.autocorrelation[1]):.3f}")
            for (kind, depth), r in results.items()]
    return _table(("network", "neighbour correlation", "lag-1 autocorrelation"), rows)
