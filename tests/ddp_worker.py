"""One rank of the DDP test in tests/training/test_train.py (launched twice by torchrun, gloo on CPU).

Usage: python -m torch.distributed.run --nproc_per_node 2 tests/ddp_worker.py OUT_DIR

Trains a tiny network for two epochs with resnet_course.training.fit, then writes
OUT_DIR/rank{RANK}.json: its history, a checksum of its weights, and how many times this
process called torch.save (only rank 0 may write checkpoints).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn as nn

from resnet_course.training.config import TrainConfig
from resnet_course.training.loop import fit
from resnet_course.training.runtime import distributed_info


class TinyNet(nn.Module):
    def __init__(self, num_classes: int = 4, width: int = 8) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        )
        self.fc = nn.Linear(width, num_classes)
        self.arch, self.num_classes = "tinynet", num_classes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x))


class ShardableLoader:
    """Batches of (x, y) with set_epoch and shard, like resnet_course.data.TensorLoader."""

    def __init__(self, x, y, batch_size=32, shuffle=True, rank=0, world_size=1):
        self.x, self.y, self.batch_size, self.shuffle = x, y, batch_size, shuffle
        self.rank, self.world_size, self.epoch = rank, world_size, 0
        self.num_samples = len(x) // world_size

    def __len__(self):
        return -(-self.num_samples // self.batch_size)

    def set_epoch(self, epoch):
        self.epoch = epoch

    def shard(self, rank, world_size):
        return ShardableLoader(self.x, self.y, self.batch_size, self.shuffle, rank, world_size)

    def __iter__(self):
        g = torch.Generator().manual_seed(self.epoch)
        order = torch.randperm(len(self.x), generator=g) if self.shuffle else torch.arange(len(self.x))
        mine = order[self.rank : self.num_samples * self.world_size : self.world_size]
        self.epoch += 1
        for b in range(len(self)):
            index = mine[b * self.batch_size : (b + 1) * self.batch_size]
            yield self.x[index], self.y[index]


def make_data(n, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 4
    x = torch.randn(n, 3, 8, 8, generator=g)
    for c, (channel, sign) in enumerate([(0, 1.0), (1, 1.0), (2, 1.0), (0, -1.0)]):
        x[y == c, channel] += sign
    return x, y


def main(out_dir: Path) -> None:
    saves = 0
    real_save = torch.save

    def counting_save(*args, **kwargs):
        nonlocal saves
        saves += 1
        return real_save(*args, **kwargs)

    torch.save = counting_save  # count this rank's checkpoint writes
    torch.manual_seed(0)
    model = TinyNet()
    history = fit(
        model, ShardableLoader(*make_data(320, 1)), ShardableLoader(*make_data(128, 2), shuffle=False),
        TrainConfig(epochs=2, lr=0.05), checkpoint_dir=out_dir / "checkpoints", device="cpu", progress=False,
    )
    rank, world_size, _ = distributed_info()
    result = {
        "rank": rank,
        "world_size": world_size,
        "backend": dist.get_backend(),
        "history": history.to_dict(),
        "steps_per_epoch": history.meta["steps_per_epoch"],
        "checksum": sum(float(p.double().sum()) for p in model.parameters()),
        "saves": saves,
    }
    (out_dir / f"rank{rank}.json").write_text(json.dumps(result))
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
