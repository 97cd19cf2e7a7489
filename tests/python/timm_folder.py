"""A timm model saved as a Hugging Face folder, as `huggingface-cli download
timm/NAME` leaves one (nothing is downloaded: seeded weights, timm's own
pretrained_cfg), with references for cnnzoo's export of it.

    python timm_folder.py DIR NAME [CLASSES]
        writes DIR/model/ (config.json, model.safetensors; with CLASSES, a head
        of that many classes and label_names in config.json), DIR/input.npy
        (8 inputs) and DIR/ref.npz (timm's logits and pre-logits features),
        and prints timm's resolve_data_config for the model as JSON.
"""
import json
import sys

import numpy as np
import timm
import torch
from timm.models import save_for_hf

from torchvision_zoo import calibrate, inputs

out_dir, name = sys.argv[1], sys.argv[2]
kw = {"num_classes": int(sys.argv[3])} if len(sys.argv) > 3 else {}
torch.manual_seed(0)
model = calibrate(timm.create_model(name, pretrained=False, **kw), 224)
save_for_hf(model, f"{out_dir}/model", safe_serialization=True)
if kw:
    config = json.load(open(f"{out_dir}/model/config.json"))
    config["label_names"] = [f"kind {i}" for i in range(kw["num_classes"])]
    json.dump(config, open(f"{out_dir}/model/config.json", "w"))
x = inputs(224)
with torch.no_grad():
    features = model.forward_head(model.forward_features(x), pre_logits=True)
    logits = model(x)
np.save(f"{out_dir}/input.npy", x.numpy())
np.savez(f"{out_dir}/ref.npz", logits=logits.numpy(), features=features.numpy())
print(json.dumps(timm.data.resolve_data_config({}, model=model)))
