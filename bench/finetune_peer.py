"""The PyTorch side of bench/finetune_speed.sh: the transfer-learning
tutorial's loop (torchvision's ResNet-18, `requires_grad = False`, a new
`fc`, SGD at lr 0.001 with momentum 0.9, ImageFolder + DataLoader with the
weights' transforms, the test split scored after every epoch), and full
fine-tuning in PyTorch eager. The frozen loop's rate follows half a cosine to
0 over its steps, as `cnnzoo-train --lr-schedule cosine` does (the tutorial
decays it in steps): at a constant rate the head's test accuracy swings by
ten points from one epoch to the next on these features, on both sides, and
no two runs could be compared for accuracy.

    python finetune_peer.py data FASHION_MNIST_DIR OUT TRAIN_PER_CLASS TEST_PER_CLASS [CLASSES]
        OUT/{train,test}/<class>/*.jpg: Fashion-MNIST's classes 5-9 (or
        0-4 with CLASSES=0-4, for pretraining) as 224-px RGB JPEGs (upscaled,
        each tinted its own colour), the first that many images of each class.
    WEIGHTS below: a torchvision state dict, .pth or .safetensors (as
    cnnzoo-export --state-dict writes it), with any number of classes.
    python finetune_peer.py frozen DATA WEIGHTS EPOCHS BATCH
        the tutorial's frozen-backbone loop; JSON: seconds (whole, from
        reading the weights), test accuracy after the last epoch.
    python finetune_peer.py full DATA WEIGHTS BATCH LIMIT PRECISION [EPOCHS]
        EPOCHS (default 1) epochs of full fine-tuning (every weight learns,
        batch norm in training mode) on the first LIMIT training images,
        decoded beforehand; PRECISION fp32, or bf16 (autocast,
        channels_last); JSON: examples/s of the last epoch's steps.

The frozen backbone runs in evaluation mode: the tutorial's `model.train()`
would update its batch-norm statistics, which a frozen backbone keeps.
"""
import gzip
import json
import math
import os
import sys
import time

import numpy as np


def data(src, out, train_per_class, test_per_class, classes="5-9"):
    from PIL import Image

    def idx(name):
        with gzip.open(os.path.join(src, name), "rb") as f:
            raw = f.read()
        if "images" in name:
            return np.frombuffer(raw, np.uint8, offset=16).reshape(-1, 28, 28)
        return np.frombuffer(raw, np.uint8, offset=8)

    every = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
    first, last = (int(c) for c in classes.split("-"))
    names = {c: every[c] for c in range(first, last + 1)}
    rng = np.random.default_rng(0)
    for split, prefix, per_class in (("train", "train", train_per_class), ("test", "t10k", test_per_class)):
        x, y = idx(f"{prefix}-images-idx3-ubyte.gz"), idx(f"{prefix}-labels-idx1-ubyte.gz")
        for c, name in names.items():
            d = os.path.join(out, split, name)
            os.makedirs(d, exist_ok=True)
            for i in np.flatnonzero(y == c)[:per_class]:
                gray = np.asarray(Image.fromarray(x[i]).resize((224, 224), Image.BICUBIC), np.float32) / 255.0
                tint = rng.uniform(0.4, 1.0, 3)
                rgb = (gray[..., None] * tint * 255.0).clip(0, 255).astype(np.uint8)
                Image.fromarray(rgb).save(os.path.join(d, f"{i:05d}.jpg"), quality=90)


def resnet18(weights):
    import torch
    import torchvision

    if weights.endswith(".safetensors"):
        from safetensors.torch import load_file

        state = load_file(weights)
    else:
        state = torch.load(weights)
    model = torchvision.models.resnet18(num_classes=state["fc.weight"].shape[0])
    model.load_state_dict(state)
    return model


def loaders(root, batch, shuffle_train=True):
    import torch
    import torchvision
    from torchvision import datasets

    tf = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()
    sets = {s: datasets.ImageFolder(os.path.join(root, s), tf) for s in ("train", "test")}
    return {
        s: torch.utils.data.DataLoader(d, batch_size=batch, shuffle=(s == "train" and shuffle_train), num_workers=os.cpu_count())
        for s, d in sets.items()
    }, len(sets["train"].classes)


def frozen(root, weights, epochs, batch):
    import torch

    torch.manual_seed(0)
    started = time.perf_counter()
    model = resnet18(weights)
    for p in model.parameters():
        p.requires_grad = False
    dl, classes = loaders(root, batch)
    model.fc = torch.nn.Linear(model.fc.in_features, classes)
    model.eval()
    opt = torch.optim.SGD(model.fc.parameters(), lr=0.001, momentum=0.9)
    total = epochs * len(dl["train"])
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step / total, 1.0))))
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        for x, y in dl["train"]:
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            schedule.step()
        correct = n = 0
        with torch.no_grad():
            for x, y in dl["test"]:
                correct += (model(x).argmax(1) == y).sum().item()
                n += len(y)
    print(json.dumps({"seconds": time.perf_counter() - started, "accuracy": correct / n, "epochs": epochs}))


def full(root, weights, batch, limit, precision, epochs=1):
    import torch

    torch.manual_seed(0)
    model = resnet18(weights)
    dl, classes = loaders(root, batch, shuffle_train=False)
    model.fc = torch.nn.Linear(model.fc.in_features, classes)
    xs, ys = [], []
    for x, y in dl["train"]:
        xs.append(x)
        ys.append(y)
    x_all, y_all = torch.cat(xs)[:limit], torch.cat(ys)[:limit]
    perm = torch.randperm(len(y_all))
    x_all, y_all = x_all[perm], y_all[perm]
    bf16 = precision == "bf16"
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(epochs):
        seen, started = 0, time.perf_counter()
        for s in range(0, len(y_all), batch):
            x, y = x_all[s : s + batch], y_all[s : s + batch]
            if bf16:
                x = x.contiguous(memory_format=torch.channels_last)
            opt.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            seen += len(y)
    seconds = time.perf_counter() - started
    print(json.dumps({"examples_per_sec": seen / seconds, "examples": seen, "precision": precision, "torch": torch.__version__}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "data":
        data(args[0], args[1], int(args[2]), int(args[3]), *args[4:5])
    elif cmd == "frozen":
        frozen(args[0], args[1], int(args[2]), int(args[3]))
    elif cmd == "full":
        full(args[0], args[1], int(args[2]), int(args[3]), args[4], int(args[5]) if len(args) > 5 else 1)
    else:
        sys.exit(f"unknown command {cmd}")
