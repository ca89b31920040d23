"""Fitting a 2-D Gaussian to a grey image by gradient descent, with gradients derived by hand (backprop).

Model: f(x) = a * exp(-(x - mu)^T Sigma (x - mu)), Sigma = diag(sigma_1^-2, sigma_2^-2), evaluated at every
pixel x of an (H, W) image I. Loss: g = sum over pixels of (f(x) - I(x))^2 (a SUM, not a mean).

Coordinates: x = (row, col), the pixel's integer indices as floats: row i in 0..H-1 (downwards), col j in
0..W-1 (rightwards). So mu = (mu_row, mu_col) and sigma = (sigma_row, sigma_col), in pixels. Note there is no
1/2 in the exponent: sigma is sqrt(2) times the standard deviation of the bump.

Parameters are a dict: "a" () scalar tensor, "mu" (2,) tensor, "sigma" (2,) tensor. Write everything so it works
in float64 (the checks compare your gradients with torch.autograd in float64).
"""
import torch


def pixel_grid(height, width, dtype=torch.float64):
    """Coordinates of every pixel of an image.

    Args:
        height, width: image size H, W (the image need not be square).
    Returns:
        (H, W, 2) tensor of the given dtype; grid[i, j] = (i, j), i.e. grid[..., 0] is the row index and
        grid[..., 1] the column index.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def gaussian_image(params, grid):
    """The model image f(x) = a * exp(-(x - mu)^T Sigma (x - mu)) with Sigma = diag(sigma^-2).

    Args:
        params: dict "a" (), "mu" (2,), "sigma" (2,).
        grid: (H, W, 2) pixel coordinates from pixel_grid.
    Returns:
        (H, W) tensor f.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def loss(f, image):
    """The squared error g = sum over all pixels of (f - image)^2.

    Args:
        f, image: (H, W) tensors.
    Returns:
        scalar tensor g (a sum over the pixels, not a mean).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def forward(params, grid, image):
    """The computational graph of g, one elementary step at a time.

    Steps, the nodes of the graph you drew in Q1, under the names the checks read (given: a4.graph_nodes; the
    returned dict must hold them); the shape of each is yours to work out (Q1):
        d = x - mu                     difference to the mean, at every pixel
        p = sigma^-2                   the diagonal of Sigma (precisions)
        q = sum_k p_k d_k^2            the quadratic form (x - mu)^T Sigma (x - mu)
        e = exp(-q)
        f = a * e                      the model image
        r = f - I                      residual
        g = sum over pixels of r^2     the loss
    Args:
        params: dict "a" (), "mu" (2,), "sigma" (2,).
        grid: (H, W, 2) pixel coordinates; image: (H, W) grey image I.
    Returns:
        g: scalar tensor, the loss.
        outputs: dict with the intermediate values "d", "p", "q", "e", "f", "r" and "g", kept for the backward
            pass.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def backward(params, outputs):
    """Gradients of g with respect to a, mu and sigma, by the chain rule along the graph of forward (no autograd).

    Args:
        params: dict "a" (), "mu" (2,), "sigma" (2,).
        outputs: dict from forward.
    Returns:
        dict "a" (), "mu" (2,), "sigma" (2,): dg/da, dg/dmu, dg/dsigma, each with its parameter's shape.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def backward_Sigma(params, outputs):
    """Gradient of g with respect to Sigma, the matrix of the model's quadratic form, as the course asks it (no
    autograd). With no 1/2 in the exponent, Sigma is half the Gaussian's precision matrix (the precision is 2 Sigma).

    Sigma = diag(p_1, p_2) with p = sigma^-2 (outputs["p"]): in this assignment only its diagonal is free, so its
    gradient is the (2,) vector of the derivatives of g with respect to Sigma_11 and Sigma_22 (holding the other
    entries fixed).
    Args:
        params: dict "a" (), "mu" (2,), "sigma" (2,).
        outputs: dict from forward.
    Returns:
        (2,) tensor: dg/dSigma_11, dg/dSigma_22.
    """
    # YOUR CODE HERE
    raise NotImplementedError()

def fit_manual(image, init, lr, steps):
    """Gradient descent on g with your forward and backward (no autograd: it must run under torch.no_grad()).

    Args:
        image: (H, W) grey image (float64 recommended).
        init: dict "a", "mu", "sigma": the starting point (do not modify it in place).
        lr: dict "a", "mu", "sigma" of step sizes: each parameter p is updated by p <- p - lr[name] * dg/dp
            (one step size per parameter, because g is far more curved along a than along mu and sigma).
        steps: number of gradient steps.
    Returns:
        params: dict "a", "mu", "sigma" after the last step.
        losses: list of `steps` floats; losses[t] is g at the parameters BEFORE step t (losses[0] = g(init)).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def fit_autograd(image, init, lr, steps):
    """The same gradient descent as fit_manual, with the gradients computed by torch.autograd.

    Same arguments and return values as fit_manual; the returned parameters must not require grad
    (detach them).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


# ---------------------------------------------------------------- bonus: positive scales
def fit_reparametrized(image, init, lr, steps):
    """Gradient descent (with autograd) on (a, mu, s) where sigma = exp(s): the scales stay positive.

    Args:
        image, steps: as in fit_manual.
        init: dict "a", "mu", "sigma" (sigma > 0); start from s = log(sigma).
        lr: dict "a", "mu", "s": step sizes; s <- s - lr["s"] * dg/ds.
    Returns:
        params: dict "a", "mu", "sigma" (sigma = exp(s), not s) after the last step.
        losses: as in fit_manual.
    """
    # YOUR CODE HERE
    raise NotImplementedError()
