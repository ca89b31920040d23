"""The course's 2-D "circles" data set: two noisy concentric circles, one class each."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class CirclesData:
    """Train and test points with one-hot labels, plus a grid covering them for decision-boundary plots.

    Xtrain, Xtest: (N, 2) float32; Ytrain, Ytest: (N, 2) one-hot float32; ytrain, ytest: (N,) int64 classes;
    Xgrid: (G*G, 2) float32 points of a G x G grid over [lim[0], lim[1]]^2.
    """

    Xtrain: torch.Tensor
    Ytrain: torch.Tensor
    Xtest: torch.Tensor
    Ytest: torch.Tensor
    Xgrid: torch.Tensor
    grid_size: int
    lim: tuple

    @property
    def ytrain(self):
        return self.Ytrain.argmax(dim=1)

    @property
    def ytest(self):
        return self.Ytest.argmax(dim=1)


def make_circles(
    n_train: int = 200, n_test: int = 200, noise: float = 0.1, factor: float = 0.5, seed: int = 0, grid_size: int = 100
) -> CirclesData:
    """Seeded circles: outer radius 1 (class 0), inner radius `factor` (class 1), Gaussian noise `noise`."""
    from sklearn.datasets import make_circles as sk_circles

    X, y = sk_circles(n_samples=n_train + n_test, noise=noise, factor=factor, random_state=seed)
    X = torch.as_tensor(X, dtype=torch.float32)
    Y = torch.nn.functional.one_hot(torch.as_tensor(y), 2).float()
    lim = (-1.5, 1.5)
    axis = np.linspace(lim[0], lim[1], grid_size, dtype=np.float32)
    gx, gy = np.meshgrid(axis, axis)
    grid = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
    return CirclesData(X[:n_train], Y[:n_train], X[n_train:], Y[n_train:], grid, grid_size, lim)
