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
    ### BEGIN SOLUTION
    rows = torch.arange(height, dtype=dtype)
    cols = torch.arange(width, dtype=dtype)
    return torch.stack(torch.meshgrid(rows, cols, indexing="ij"), dim=-1)
    ### END SOLUTION


def gaussian_image(params, grid):
    """The model image f(x) = a * exp(-(x - mu)^T Sigma (x - mu)) with Sigma = diag(sigma^-2).

    Args:
        params: dict "a" (), "mu" (2,), "sigma" (2,).
        grid: (H, W, 2) pixel coordinates from pixel_grid.
    Returns:
        (H, W) tensor f.
    """
    ### BEGIN SOLUTION
    d = grid - params["mu"]
    q = (d ** 2 * params["sigma"] ** -2).sum(dim=-1)
    return params["a"] * torch.exp(-q)
    ### END SOLUTION


def loss(f, image):
    """The squared error g = sum over all pixels of (f - image)^2.

    Args:
        f, image: (H, W) tensors.
    Returns:
        scalar tensor g (a sum over the pixels, not a mean).
    """
    ### BEGIN SOLUTION
    return ((f - image) ** 2).sum()
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    d = grid - params["mu"]
    p = params["sigma"] ** -2
    q = (d ** 2 * p).sum(dim=-1)
    e = torch.exp(-q)
    f = params["a"] * e
    r = f - image
    g = (r ** 2).sum()
    return g, {"d": d, "p": p, "q": q, "e": e, "f": f, "r": r, "g": g}
    ### END SOLUTION


def backward(params, outputs):
    """Gradients of g with respect to a, mu and sigma, by the chain rule along the graph of forward (no autograd).

    Args:
        params: dict "a" (), "mu" (2,), "sigma" (2,).
        outputs: dict from forward.
    Returns:
        dict "a" (), "mu" (2,), "sigma" (2,): dg/da, dg/dmu, dg/dsigma, each with its parameter's shape.
    """
    ### BEGIN SOLUTION
    d, p, e, r = outputs["d"], outputs["p"], outputs["e"], outputs["r"]
    dg_df = 2 * r                                   # from g = sum r^2 and r = f - I
    dg_de = dg_df * params["a"]
    dg_dq = -dg_de * e                              # e = exp(-q)
    dg_dd = dg_dq[..., None] * 2 * p * d            # q = sum_k p_k d_k^2
    dg_dp = (dg_dq[..., None] * d ** 2).sum(dim=(0, 1))
    return {
        "a": (dg_df * e).sum(),
        "mu": -dg_dd.sum(dim=(0, 1)),               # d = x - mu
        "sigma": dg_dp * (-2) * params["sigma"] ** -3,  # p = sigma^-2
    }
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    dg_dq = -2 * outputs["r"] * outputs["f"]        # back through g, r, f and e: (H, W)
    return (dg_dq[..., None] * outputs["d"] ** 2).sum(dim=(0, 1))
    ### END SOLUTION

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
    ### BEGIN SOLUTION
    grid = pixel_grid(*image.shape, dtype=image.dtype)
    params = {k: v.clone() for k, v in init.items()}
    losses = []
    for _ in range(steps):
        g, outputs = forward(params, grid, image)
        grads = backward(params, outputs)
        losses.append(float(g.detach()))
        params = {k: params[k] - lr[k] * grads[k] for k in params}
    return params, losses
    ### END SOLUTION


def fit_autograd(image, init, lr, steps):
    """The same gradient descent as fit_manual, with the gradients computed by torch.autograd.

    Same arguments and return values as fit_manual; the returned parameters must not require grad
    (detach them).
    """
    ### BEGIN SOLUTION
    grid = pixel_grid(*image.shape, dtype=image.dtype)
    params = {k: v.detach().clone().requires_grad_(True) for k, v in init.items()}
    losses = []
    for _ in range(steps):
        g = loss(gaussian_image(params, grid), image)
        g.backward()
        losses.append(float(g.detach()))
        with torch.no_grad():
            for k, p in params.items():
                p -= lr[k] * p.grad
                p.grad = None
    return {k: v.detach() for k, v in params.items()}, losses
    ### END SOLUTION


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
    ### BEGIN SOLUTION
    grid = pixel_grid(*image.shape, dtype=image.dtype)
    free = {"a": init["a"], "mu": init["mu"], "s": torch.log(init["sigma"])}
    free = {k: v.detach().clone().requires_grad_(True) for k, v in free.items()}
    losses = []
    for _ in range(steps):
        params = {"a": free["a"], "mu": free["mu"], "sigma": torch.exp(free["s"])}
        g = loss(gaussian_image(params, grid), image)
        g.backward()
        losses.append(float(g.detach()))
        with torch.no_grad():
            for k, v in free.items():
                v -= lr[k] * v.grad
                v.grad = None
    return {"a": free["a"].detach(), "mu": free["mu"].detach(), "sigma": torch.exp(free["s"]).detach()}, losses
    ### END SOLUTION
