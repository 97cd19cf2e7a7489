"""torchvision's ResNet-18 exported the way the PyTorch tutorial shows,
`torch.onnx.export(model, x, "resnet18.onnx")` with the default names and a
fixed batch of 1 (seeded weights, nothing downloaded), and torchvision's own
top-5 for photos run as users run them: PIL, `weights.transforms()`.

    python tutorial_export.py DIR PHOTO...
        writes DIR/resnet18.onnx and prints, as JSON, the graph's input and
        output names and for each photo torchvision's top-5 ImageNet names.
        Also two small foreign models: DIR/small.onnx (input `x`, output `y`,
        4 classes, dynamic batch) and DIR/two.onnx (outputs `scores` and
        `embedding`, names that say nothing to a runtime), and DIR/wide.onnx
        (a fixed 48x192 input, 3 classes) with its softmax per photo.
"""
import json
import sys

import onnx
import torch
import torchvision
from PIL import Image

from torchvision_zoo import calibrate

out_dir, photos = sys.argv[1], sys.argv[2:]
torch.manual_seed(0)
weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
model = calibrate(torchvision.models.resnet18(weights=None), 224)
path = f"{out_dir}/resnet18.onnx"
torch.onnx.export(model, torch.rand(1, 3, 224, 224), path, dynamo=False)
graph = onnx.load(path).graph
initializers = {i.name for i in graph.initializer}
preprocess, categories = weights.transforms(), weights.meta["categories"]
top5 = {}
with torch.no_grad():
    for p in photos:
        logits = model(preprocess(Image.open(p).convert("RGB")).unsqueeze(0))[0]
        top5[p] = [categories[i] for i in logits.topk(5).indices.tolist()]


class Small(torch.nn.Module):
    def __init__(self, two):
        super().__init__()
        self.conv, self.fc, self.two = torch.nn.Conv2d(3, 8, 3, stride=2), torch.nn.Linear(8, 4), two

    def forward(self, x):
        e = self.conv(x).relu().mean(dim=(2, 3))
        return (self.fc(e), e) if self.two else self.fc(e)


class Wide(torch.nn.Module):
    """A text-line classifier's shape: a fixed 48x192 input, 3 classes."""

    def __init__(self):
        super().__init__()
        self.conv, self.fc = torch.nn.Conv2d(3, 4, 3, stride=4, padding=1), torch.nn.Linear(4 * 12 * 48, 3)

    def forward(self, x):
        return self.fc(self.conv(x).relu().flatten(1))


wide = Wide().eval()
torch.onnx.export(wide, torch.rand(1, 3, 48, 192), f"{out_dir}/wide.onnx", dynamo=False,
                  input_names=["x"], output_names=["y"], dynamic_axes={"x": {0: "n"}, "y": {0: "n"}})
# Its reference: the whole photo resized to 48x192 as cnnzoo's default card does
# (PyTorch's antialiased bilinear on the float image, scaled to [0, 1]).
wide_probs = {}
with torch.no_grad():
    for p in photos:
        x = torchvision.transforms.functional.pil_to_tensor(Image.open(p).convert("RGB")).float()[None]
        x = torch.nn.functional.interpolate(x, size=(48, 192), mode="bilinear", antialias=True, align_corners=False) / 255
        wide_probs[p] = wide(x)[0].softmax(0).tolist()

for name, two in [("small", False), ("two", True)]:
    names = ["scores", "embedding"] if two else ["y"]
    torch.onnx.export(Small(two).eval(), torch.rand(1, 3, 48, 48), f"{out_dir}/{name}.onnx", dynamo=False,
                      input_names=["x"], output_names=names, dynamic_axes={n: {0: "n"} for n in ["x", *names]})
print(json.dumps({"inputs": [i.name for i in graph.input if i.name not in initializers],
                  "outputs": [o.name for o in graph.output], "top5": top5, "wide": wide_probs}))
