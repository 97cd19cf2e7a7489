"""The feature probe's reference, computed with scikit-learn on the same
features: DINO's weighted k-NN vote (cosine similarity, exp(sim / 0.07))
written with numpy, and LogisticRegression (lbfgs, multinomial) on
standardized features with C chosen by the log-loss of every tenth
training example, held out, then refitted on all of them.

    python probe_reference.py train.npy train_labels.npy test.npy test_labels.npy K

Prints one JSON line: knn, linear, c.
"""
import json
import sys

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.preprocessing import StandardScaler

train, ytrain, test, ytest = (np.load(p) for p in sys.argv[1:5])
# Labels may come as a float column (the features' own .npy writer).
ytrain, ytest = ytrain.astype(np.int64).ravel(), ytest.astype(np.int64).ravel()
k = int(sys.argv[5])
classes = int(max(ytrain.max(), ytest.max())) + 1


def unit(x):
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1)


sims = unit(test.astype(np.float32)) @ unit(train.astype(np.float32)).T
top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
votes = np.zeros((len(test), classes))
for i in range(len(test)):
    np.add.at(votes[i], ytrain[top[i]], np.exp(sims[i, top[i]] / 0.07))
knn = float((votes.argmax(1) == ytest).mean())

scaler = StandardScaler().fit(train.astype(np.float64))
x, xt = scaler.transform(train.astype(np.float64)), scaler.transform(test.astype(np.float64))
held = np.arange(len(x)) % 10 == 9
best = (np.inf, 1.0)
for c in [0.001, 0.01, 0.1, 1.0, 10.0, 100.0]:
    m = LogisticRegression(C=c, max_iter=2000).fit(x[~held], ytrain[~held])
    loss = log_loss(ytrain[held], m.predict_proba(x[held]), labels=np.arange(classes))
    if loss < best[0]:
        best = (loss, c)
model = LogisticRegression(C=best[1], max_iter=2000).fit(x, ytrain)
linear = float((model.predict(xt) == ytest).mean())
print(json.dumps({"knn": knn, "linear": linear, "c": best[1]}))
