"""The same two-layer perceptron three more times, each time letting PyTorch do more of the work:
1. torch.autograd computes the gradients (forward pass still by hand, from mlp.py),
2. torch.nn layers build the network and the loss,
3. torch.optim performs the update.

Labels stay one-hot (N, ny) as in mlp.py (not class indices); the loss is the mean over the batch; accuracies
are fractions in [0, 1].
"""
import torch
from torch import nn

from mlp import init_params


# ---------------------------------------------------------------- 1. autograd
def init_params_autograd(nx, nh, ny):
    """Same parameters as mlp.init_params (float32, N(0, 0.3) weights stored (out, in), 1-D biases), as leaf tensors
    that require gradients.

    Returns:
        dict "Wh" (nh, nx), "bh" (nh,), "Wy" (ny, nh), "by" (ny,), each with requires_grad=True.
    """
    ### BEGIN SOLUTION
    return {name: p.clone().requires_grad_(True) for name, p in init_params(nx, nh, ny).items()}
    ### END SOLUTION


def sgd_autograd(params, eta):
    """One descent step using the .grad that loss.backward() left on each parameter, then zero the grads.

    The update must not be recorded by autograd (parameters stay leaf tensors).
    Returns:
        the params dict (updated in place).
    """
    ### BEGIN SOLUTION
    with torch.no_grad():
        for p in params.values():
            p -= eta * p.grad
            p.grad.zero_()
    return params
    ### END SOLUTION


# ---------------------------------------------------------------- 2. torch.nn
def init_model_nn(nx, nh, ny):
    """The network as torch.nn layers, and its loss.

    Returns:
        model: nn.Module mapping (N, nx) inputs to (N, ny) logits (Linear -> Tanh -> Linear; no softmax:
            the loss applies it).
        loss: nn.Module taking (logits (N, ny), class indices (N,)) and returning the mean cross-entropy.
    """
    ### BEGIN SOLUTION
    model = nn.Sequential(nn.Linear(nx, nh), nn.Tanh(), nn.Linear(nh, ny))
    return model, nn.CrossEntropyLoss()
    ### END SOLUTION


def loss_accuracy_nn(loss, Ytilde, Y):
    """Loss and accuracy of logits against one-hot labels.

    Args:
        loss: the loss module from init_model_nn.
        Ytilde: (N, ny) logits.
        Y: (N, ny) one-hot labels (the kit's convention, not class indices).
    Returns:
        L: scalar tensor (differentiable), the mean over the batch; acc: float in [0, 1] (a fraction).
    """
    ### BEGIN SOLUTION
    labels = Y.argmax(dim=1)
    L = loss(Ytilde, labels)
    acc = (Ytilde.argmax(dim=1) == labels).float().mean().item()
    return L, acc
    ### END SOLUTION


def sgd_nn(model, eta):
    """One descent step on every parameter of `model` (using their .grad), then zero the gradients."""
    ### BEGIN SOLUTION
    with torch.no_grad():
        for p in model.parameters():
            p -= eta * p.grad
    model.zero_grad()
    ### END SOLUTION


# ---------------------------------------------------------------- 3. torch.optim
def init_model_optim(nx, nh, ny, eta):
    """Model and loss as in init_model_nn, plus a torch.optim.SGD optimizer of learning rate eta.

    Returns:
        (model, loss, optimizer)
    """
    ### BEGIN SOLUTION
    model, loss = init_model_nn(nx, nh, ny)
    return model, loss, torch.optim.SGD(model.parameters(), lr=eta)
    ### END SOLUTION
