"""The preprocessing of published weights as their own libraries run it:
torchvision's `weights.transforms()` and timm's `create_transform` (for the
model's `resolve_data_config`), applied to a decoded uint8 image tensor.

    python published_transforms.py configs
        prints, as JSON, what each reference is made of: torchvision's
        transforms' resize/crop sizes, mean, std and interpolation, and
        timm's pretrained_cfg.
    python published_transforms.py run CASES.json
        each case names a raw uint8 [H, W, 3] file, its size, the reference
        and where to write the result as raw float32 [3, 224, 224].
"""
import json
import sys

import numpy as np
import timm
import torch
import torchvision.transforms.functional as F
from timm.data import MaybeToTensor, create_transform, resolve_data_config
from torchvision import models

TORCHVISION = {
    "resnet18": models.ResNet18_Weights.IMAGENET1K_V1,
    "resnet50": models.ResNet50_Weights.IMAGENET1K_V2,
    "googlenet": models.GoogLeNet_Weights.IMAGENET1K_V1,
}
TIMM = ["resnet50.a1_in1k", "resnet18.tv_in1k", "densenet121.tv_in1k"]


def torchvision_transform(name):
    t = TORCHVISION[name].transforms()
    if name != "googlenet":
        return t

    # GoogLeNet's weights run with transform_input=True, which maps the
    # ImageNet-normalized input to (x - 0.5) / 0.5 per channel inside the model.
    def with_transform_input(img):
        x = t(img)
        mean, std = torch.tensor(t.mean).view(3, 1, 1), torch.tensor(t.std).view(3, 1, 1)
        return (x * std + mean - 0.5) / 0.5

    return with_transform_input


def timm_transform(name):
    model = timm.create_model(name, pretrained=False)
    steps = create_transform(**resolve_data_config({}, model=model)).transforms

    def run(img):
        for step in steps:
            # MaybeToTensor leaves a tensor as it is; ToTensor's scaling is what it stands for.
            img = F.convert_image_dtype(img, torch.float) if isinstance(step, MaybeToTensor) else step(img)
        return img

    return run


if sys.argv[1] == "configs":
    out = {"torchvision": {}, "timm": {}}
    for name, w in TORCHVISION.items():
        t = w.transforms()
        out["torchvision"][name] = {"resize_size": t.resize_size[0], "crop_size": t.crop_size[0], "mean": t.mean, "std": t.std,
                                    "interpolation": t.interpolation.value, "antialias": t.antialias}
    for name in TIMM:
        cfg = timm.create_model(name, pretrained=False).pretrained_cfg
        out["timm"][name] = {k: cfg.get(k) for k in ("input_size", "interpolation", "crop_pct", "crop_mode", "mean", "std", "tag")}
    print(json.dumps(out))
else:
    transforms = {}
    for case in json.load(open(sys.argv[2])):
        ref = case["reference"]
        if ref not in transforms:
            family, name = ref.split(":")
            transforms[ref] = torchvision_transform(name) if family == "torchvision" else timm_transform(name)
        pixels = np.fromfile(case["pixels"], dtype=np.uint8).reshape(case["height"], case["width"], 3)
        x = transforms[ref](torch.from_numpy(pixels).permute(2, 0, 1).contiguous())
        x.numpy().astype(np.float32).tofile(case["out"])
