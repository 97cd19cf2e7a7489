"""Fashion-MNIST as the image folders of bench/transfer_table.sh.

    python bench/transfer_data.py FASHION_MNIST_DIR OUT
    python bench/transfer_data.py FASHION_MNIST_DIR OUT TRAIN_PER_CLASS TEST_PER_CLASS

Writes OUT/pre/{train,test}/<class>/ with every image of classes 0-4 (the
pretraining task), and OUT/few20 and OUT/few100/{train,test}/<class>/ with
the first 20 or 100 training images of each of classes 5-9 and every test
image of those classes (the transfer task). With the two counts, only OUT/{train,test}/<class>/
with the first that many images of each of the ten classes (the probe
table's data).
"""
import gzip
import os
import sys

import numpy as np
from PIL import Image

src, out = sys.argv[1], sys.argv[2]
NAMES = ["tshirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]


def idx(name):
    with gzip.open(os.path.join(src, name), "rb") as f:
        data = f.read()
    if name.find("images") >= 0:
        n = int.from_bytes(data[4:8], "big")
        return np.frombuffer(data, np.uint8, offset=16).reshape(n, 28, 28)
    return np.frombuffer(data, np.uint8, offset=8)


def write(folder, images, labels, classes, per_class=None):
    for c in classes:
        d = os.path.join(out, folder, f"{c}-{NAMES[c]}")
        os.makedirs(d, exist_ok=True)
        picked = np.flatnonzero(labels == c)
        if per_class is not None:
            picked = picked[:per_class]
        for i in picked:
            Image.fromarray(images[i]).save(os.path.join(d, f"{i:05d}.png"))


train_x, train_y = idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz")
test_x, test_y = idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")
if len(sys.argv) == 5:
    write("train", train_x, train_y, range(10), int(sys.argv[3]))
    write("test", test_x, test_y, range(10), int(sys.argv[4]))
    sys.exit(0)
write("pre/train", train_x, train_y, range(5))
write("pre/test", test_x, test_y, range(5))
for n in (20, 100):
    write(f"few{n}/train", train_x, train_y, range(5, 10), n)
    write(f"few{n}/test", test_x, test_y, range(5, 10))
