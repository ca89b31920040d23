"""A two-layer perceptron written by hand: forward pass, loss, backward pass and SGD.

Network: a hidden layer of nh tanh units (weights Wh, biases bh), then an output layer of ny units (Wy, by) followed
by a softmax. Its intermediate values are named htilde (the hidden layer before tanh), h, ytilde (the logits) and
yhat (the probabilities); writing the equations that link them is question Q5b of the notebook.
Shapes: N examples in a batch, nx inputs, nh hidden units, ny classes.

Conventions for the whole assignment (the grader follows them):
- the loss L is the MEAN cross-entropy over the batch (over the N examples, not over the N x ny entries), and
  backward returns the gradients of that L (they must match what torch.autograd gives for the same L);
- labels Y are one-hot, shape (N, ny);
- accuracies are fractions in [0, 1] (0.53, not 53);
- weights are stored (out, in), like nn.Linear's weight: Wh is (nh, nx), Wy is (ny, nh);
- biases are 1-D: bh is (nh,), by is (ny,). (A bias kept as (nh, 1) or (1, nh) is graded the same, as long as
  init_params, forward, backward and sgd agree on it.)
"""
import torch


def init_params(nx, nh, ny):
    """Draw the weights of the network.

    Args:
        nx, nh, ny: sizes of the input, hidden and output layers.
    Returns:
        dict with float32 tensors, every entry drawn from a normal law of mean 0 and standard deviation 0.3:
        "Wh": (nh, nx), "bh": (nh,), "Wy": (ny, nh), "by": (ny,) (weights (out, in), biases 1-D).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def softmax(ytilde):
    """Row-wise softmax that stays finite for large logits (subtract each row's maximum first).

    Args:
        ytilde: (N, ny) float tensor of logits.
    Returns:
        (N, ny) tensor of probabilities, each row summing to 1.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def forward(params, X):
    """Forward pass of the network.

    Args:
        params: dict from init_params.
        X: (N, nx) float tensor, one example per row.
    Returns:
        yhat: (N, ny) class probabilities (softmax of ytilde).
        outputs: dict with the intermediate values "X" (N, nx), "htilde" (N, nh), "h" (N, nh),
            "ytilde" (N, ny) and "yhat" (N, ny), kept for the backward pass.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def loss_accuracy(Yhat, Y):
    """Mean cross-entropy and accuracy of a batch.

    Args:
        Yhat: (N, ny) predicted probabilities.
        Y: (N, ny) one-hot labels.
    Returns:
        L: scalar tensor, mean over the batch (the N examples) of -sum_k Y[i, k] log Yhat[i, k]. Yhat already
            holds probabilities: the softmax is applied, do not apply it again.
        acc: float in [0, 1] (a fraction, not a percentage), fraction of rows whose argmax of Yhat is the true
            class.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def backward(params, outputs, Y):
    """Gradients of the loss L of loss_accuracy with respect to every parameter, computed by hand (no autograd).

    Args:
        params: dict from init_params.
        outputs: dict from forward.
        Y: (N, ny) one-hot labels.
    Returns:
        dict "Wy": (ny, nh), "Wh": (nh, nx), "by": (ny,), "bh": (nh,): the gradient of L with respect to each
        parameter, with the parameter's shape.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def sgd(params, grads, eta):
    """One step of gradient descent: p <- p - eta * grad for every parameter.

    Args:
        params: dict of tensors; grads: dict with the same keys and shapes; eta: learning rate.
    Returns:
        the updated params dict.
    """
    # YOUR CODE HERE
    raise NotImplementedError()
