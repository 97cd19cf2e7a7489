"""The six networks in PyTorch eager, as the benchmarks' peer.

Module names are chosen so that state_dict keys equal cnnzoo's parameter names
(`stage2.0.conv1.weight`), which lets the peer load cnnzoo's weights from an
exported (unfolded) ONNX file and compare like with like. Each model returns
(logits, features).
"""
import torch
from torch import nn
import torch.nn.functional as F


def xavier(m: nn.Module) -> None:
    if isinstance(m, (nn.Conv2d, nn.Linear)):
        nn.init.xavier_uniform_(m.weight)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1, self.fc2, self.fc3 = nn.Linear(400, 120), nn.Linear(120, 84), nn.Linear(84, 10)

    def forward(self, x):
        x = F.avg_pool2d(torch.sigmoid(self.conv1(x)), 2)
        x = F.avg_pool2d(torch.sigmoid(self.conv2(x)), 2).flatten(1)
        f = torch.sigmoid(self.fc2(torch.sigmoid(self.fc1(x))))
        return self.fc3(f), f


class AlexNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 96, 11, stride=4, padding=1)
        self.conv2 = nn.Conv2d(96, 256, 5, padding=2)
        self.conv3 = nn.Conv2d(256, 384, 3, padding=1)
        self.conv4 = nn.Conv2d(384, 384, 3, padding=1)
        self.conv5 = nn.Conv2d(384, 256, 3, padding=1)
        self.fc1, self.fc2, self.fc3 = nn.Linear(6400, 4096), nn.Linear(4096, 4096), nn.Linear(4096, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 3, 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 3, 2)
        x = F.relu(self.conv5(F.relu(self.conv4(F.relu(self.conv3(x))))))
        x = F.max_pool2d(x, 3, 2).flatten(1)
        x = F.dropout(F.relu(self.fc1(x)), 0.5, self.training)
        f = F.dropout(F.relu(self.fc2(x)), 0.5, self.training)
        return self.fc3(f), f


def nin_block(cin, cout, k, s, p):
    return nn.ModuleDict({"conv1": nn.Conv2d(cin, cout, k, s, p), "conv2": nn.Conv2d(cout, cout, 1), "conv3": nn.Conv2d(cout, cout, 1)})


def run_nin(block, x):
    for name in ("conv1", "conv2", "conv3"):
        x = F.relu(block[name](x))
    return x


class NiN(nn.Module):
    def __init__(self):
        super().__init__()
        self.nin1 = nin_block(1, 96, 11, 4, 0)
        self.nin2 = nin_block(96, 256, 5, 1, 2)
        self.nin3 = nin_block(256, 384, 3, 1, 1)
        self.nin4 = nin_block(384, 10, 3, 1, 1)

    def forward(self, x):
        x = F.max_pool2d(run_nin(self.nin1, x), 3, 2)
        x = F.max_pool2d(run_nin(self.nin2, x), 3, 2)
        x = F.dropout(F.max_pool2d(run_nin(self.nin3, x), 3, 2), 0.5, self.training)
        f = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return F.adaptive_avg_pool2d(run_nin(self.nin4, x), 1).flatten(1), f


class Inception(nn.Module):
    def __init__(self, cin, c1, c2, c3, c4):
        super().__init__()
        self.p1 = nn.ModuleDict({"conv": nn.Conv2d(cin, c1, 1)})
        self.p2 = nn.ModuleDict({"conv1": nn.Conv2d(cin, c2[0], 1), "conv2": nn.Conv2d(c2[0], c2[1], 3, padding=1)})
        self.p3 = nn.ModuleDict({"conv1": nn.Conv2d(cin, c3[0], 1), "conv2": nn.Conv2d(c3[0], c3[1], 5, padding=2)})
        self.p4 = nn.ModuleDict({"conv": nn.Conv2d(cin, c4, 1)})

    def forward(self, x):
        p1 = F.relu(self.p1["conv"](x))
        p2 = F.relu(self.p2["conv2"](F.relu(self.p2["conv1"](x))))
        p3 = F.relu(self.p3["conv2"](F.relu(self.p3["conv1"](x))))
        p4 = F.relu(self.p4["conv"](F.max_pool2d(x, 3, 1, 1)))
        return torch.cat([p1, p2, p3, p4], 1)


class GoogLeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.b1 = nn.ModuleDict({"conv": nn.Conv2d(1, 64, 7, 2, 3)})
        self.b2 = nn.ModuleDict({"conv1": nn.Conv2d(64, 64, 1), "conv2": nn.Conv2d(64, 192, 3, padding=1)})
        self.b3 = nn.Sequential(Inception(192, 64, (96, 128), (16, 32), 32), Inception(256, 128, (128, 192), (32, 96), 64))
        self.b4 = nn.Sequential(
            Inception(480, 192, (96, 208), (16, 48), 64), Inception(512, 160, (112, 224), (24, 64), 64),
            Inception(512, 128, (128, 256), (24, 64), 64), Inception(512, 112, (144, 288), (32, 64), 64),
            Inception(528, 256, (160, 320), (32, 128), 128))
        self.b5 = nn.Sequential(Inception(832, 256, (160, 320), (32, 128), 128), Inception(832, 384, (192, 384), (48, 128), 128))
        self.fc = nn.Linear(1024, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.b1["conv"](x)), 3, 2, 1)
        x = F.max_pool2d(F.relu(self.b2["conv2"](F.relu(self.b2["conv1"](x)))), 3, 2, 1)
        x = F.max_pool2d(self.b3(x), 3, 2, 1)
        x = F.max_pool2d(self.b4(x), 3, 2, 1)
        f = F.adaptive_avg_pool2d(self.b5(x), 1).flatten(1)
        return self.fc(f), f


def stem():
    return nn.ModuleDict({"conv": nn.Conv2d(1, 64, 7, 2, 3), "bn": nn.BatchNorm2d(64)})


def run_stem(s, x):
    return F.max_pool2d(F.relu(s["bn"](s["conv"](x))), 3, 2, 1)


class Residual(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None

    def forward(self, x):
        y = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(y + (self.shortcut(x) if self.shortcut is not None else x))


class ResNet18(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = stem()
        cin = 64
        for i, c in enumerate([64, 128, 256, 512]):
            s = 1 if i == 0 else 2
            setattr(self, f"stage{i + 1}", nn.Sequential(Residual(cin, c, s), Residual(c, c, 1)))
            cin = c
        self.fc = nn.Linear(512, 10)

    def forward(self, x):
        x = run_stem(self.stem, x)
        for i in range(1, 5):
            x = getattr(self, f"stage{i}")(x)
        f = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.fc(f), f


def bn_relu_conv(cin, cout, k):
    return nn.ModuleDict({"bn": nn.BatchNorm2d(cin), "conv": nn.Conv2d(cin, cout, k, padding=k // 2)})


def run_brc(m, x):
    return m["conv"](F.relu(m["bn"](x)))


class DenseNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = stem()
        c = 64
        for i in range(4):
            blocks = nn.ModuleList()
            for _ in range(4):
                blocks.append(bn_relu_conv(c, 32, 3))
                c += 32
            setattr(self, f"dense{i + 1}", blocks)
            if i < 3:
                setattr(self, f"trans{i + 1}", bn_relu_conv(c, c // 2, 1))
                c //= 2
        self.head = nn.ModuleDict({"bn": nn.BatchNorm2d(c)})
        self.fc = nn.Linear(c, 10)

    def forward(self, x):
        x = run_stem(self.stem, x)
        for i in range(1, 5):
            for blk in getattr(self, f"dense{i}"):
                x = torch.cat([x, run_brc(blk, x)], 1)
            if i < 4:
                x = F.avg_pool2d(run_brc(getattr(self, f"trans{i}"), x), 2)
        f = F.adaptive_max_pool2d(F.relu(self.head["bn"](x)), 1).flatten(1)
        return self.fc(f), f


ZOO = {"lenet": (LeNet, 256, 0.9, 28), "alexnet": (AlexNet, 128, 0.01, 224), "nin": (NiN, 128, 0.1, 224),
       "googlenet": (GoogLeNet, 128, 0.1, 96), "resnet18": (ResNet18, 256, 0.1, 96), "densenet": (DenseNet, 256, 0.1, 96)}


def build(arch: str) -> nn.Module:
    net = ZOO[arch][0]()
    net.apply(xavier)
    return net
