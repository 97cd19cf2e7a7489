"""torchvision's own networks, seeded (no weights downloaded), as the
references for cnnzoo's torchvision layouts.

    python torchvision_zoo.py make DIR SIZE ARCH...
        writes DIR/ARCH.pth (torch.save of the state_dict), DIR/ARCH.safetensors,
        DIR/ARCH.input.npy (8 inputs) and DIR/ARCH.ref.npz (torchvision's logits
        and pooled features on them, eval mode). Batch-norm statistics are
        randomized so that folding them is tested. Prints the state_dict keys.
        Also: densenet121.legacy.pth (the pre-1.6 format with the old
        `norm.1` keys, as the published DenseNet-121 file is) and
        googlenet.aux.pth (with the auxiliary heads, as the published file is).
    python torchvision_zoo.py gray DIR ARCH SIZE
        DIR/ARCH.pth with its first convolution summed over RGB (timm's
        in_chans=1), run on 8 one-channel inputs: DIR/ARCH.gray.input.npy, .ref.npz.
    python torchvision_zoo.py junk DIR
        files that are not state dicts: DIR/list.pth (torch.save of a list)
        and DIR/module.pth (torch.save of a whole nn.Module).
    python torchvision_zoo.py check INPUT.npy REF.npz MODEL.onnx
        runs MODEL.onnx in onnxruntime on the inputs and prints, as JSON, the
        largest differences of its logits and features from the references,
        and whether all are within 1e-4 + 1e-5 * |reference| (numpy's allclose).
"""
import json
import re
import sys

import numpy as np
import torch
import torchvision
from safetensors.torch import save_file

SIZE = {"alexnet": 224, "googlenet": 224}


def calibrate(model, size):
    """Batch norms with their own scales and shifts, and statistics measured
    on data (cumulative averages over a few batches), as a trained network
    has them: distinct per channel, so folding them is tested, and outputs
    of a trained network's size."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.momentum = None
        model.train()
        for _ in range(3):
            model(torch.rand(4, 3, size, size) * 4 - 2)
    return model.eval()


def inputs(size):
    return torch.rand(8, 3, size, size, generator=torch.Generator().manual_seed(1)) * 4 - 2


def build(arch):
    kw = {"aux_logits": False, "init_weights": True, "transform_input": False} if arch == "googlenet" else {}
    return getattr(torchvision.models, arch)(weights=None, **kw)


def head(model, arch):
    """The classifier layer, whose input is the pooled feature vector."""
    if arch == "alexnet":
        return model.classifier[6]
    if arch.startswith("densenet"):
        return model.classifier
    return model.fc


def make(out_dir, arch, size):
    torch.manual_seed(0)
    model = calibrate(build(arch), size)
    sd = model.state_dict()
    torch.save(sd, f"{out_dir}/{arch}.pth")
    save_file({k: v.contiguous() for k, v in sd.items()}, f"{out_dir}/{arch}.safetensors")
    x = inputs(size)
    feats = {}

    def keep_input(module, inputs, output):
        feats["f"] = inputs[0]  # returns None: the output is left as it is

    head(model, arch).register_forward_hook(keep_input)
    with torch.no_grad():
        logits = model(x)
    np.save(f"{out_dir}/{arch}.input.npy", x.numpy())
    np.savez(f"{out_dir}/{arch}.ref.npz", logits=logits.numpy(), features=feats["f"].numpy())
    if arch == "densenet121":
        old = {re.sub(r"(denselayer\d+\.(?:norm|conv))([12])\.", r"\1.\2.", k): v for k, v in sd.items()}
        torch.save(old, f"{out_dir}/{arch}.legacy.pth", _use_new_zipfile_serialization=False)
    if arch == "googlenet":
        with_aux = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True, transform_input=False)
        with_aux.load_state_dict(sd, strict=False)
        torch.save(with_aux.state_dict(), f"{out_dir}/{arch}.aux.pth")
    return list(sd.keys())


def gray(out_dir, arch, size):
    model = build(arch)
    model.load_state_dict(torch.load(f"{out_dir}/{arch}.pth"))
    first = model.conv1
    summed = torch.nn.Conv2d(1, first.out_channels, first.kernel_size, first.stride, first.padding, bias=False)
    with torch.no_grad():
        summed.weight.copy_(first.weight.sum(dim=1, keepdim=True))
    model.conv1 = summed
    model.eval()
    x = inputs(size)[:, :1]
    feats = {}

    def keep_input(module, inputs_, output):
        feats["f"] = inputs_[0]

    head(model, arch).register_forward_hook(keep_input)
    with torch.no_grad():
        logits = model(x)
    np.save(f"{out_dir}/{arch}.gray.input.npy", x.numpy())
    np.savez(f"{out_dir}/{arch}.gray.ref.npz", logits=logits.numpy(), features=feats["f"].numpy())


def junk(out_dir):
    torch.save([1, 2, 3], f"{out_dir}/list.pth")
    torch.save(torchvision.models.resnet18(weights=None), f"{out_dir}/module.pth")


def check(input_path, ref_path, model_path):
    import onnxruntime as ort

    x, ref = np.load(input_path), np.load(ref_path)
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    outs = dict(zip(names, session.run(None, {session.get_inputs()[0].name: x})))
    report = {k: float(np.abs(outs[k] - ref[k]).max()) for k in ("logits", "features")}
    report["allclose"] = all(bool(np.allclose(outs[k], ref[k], rtol=1e-5, atol=1e-4)) for k in ("logits", "features"))
    print(json.dumps(report))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        keys = {a: make(sys.argv[2], a, int(sys.argv[3])) for a in sys.argv[4:]}
        print(json.dumps(keys))
    elif sys.argv[1] == "gray":
        gray(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "junk":
        junk(sys.argv[2])
    else:
        check(*sys.argv[2:5])
