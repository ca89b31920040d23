"""The two-layer perceptron on MNIST: images flattened to 784 inputs, 10 classes."""
import torch
from torch import nn


def make_mnist_mlp(nh=512):
    """A tanh MLP for MNIST.

    Args:
        nh: number of hidden units.
    Returns:
        nn.Module mapping (N, 1, 28, 28) or (N, 784) float images to (N, 10) logits:
        Flatten -> Linear(784, nh) -> Tanh -> Linear(nh, 10).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def make_optimizer(model, lr=0.05, momentum=0.9):
    """The optimizer used to train make_mnist_mlp: SGD with momentum on all the model's parameters."""
    # YOUR CODE HERE
    raise NotImplementedError()
