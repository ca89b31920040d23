"""Assignment 4 runs: the test images, the stated starting point, the step sizes, the three fits and their plots.

The notebook, the command line (`python -m kit.a4`) and the autograder all fit through these functions, so they
fit exactly the same way. The kit holds no model image of its own: the synthetic image is drawn by the student's
gaussian_image (the grader draws its own with its closed form), and plot_fit draws the fitted Gaussian's level
ellipses from the parameters.
"""

from __future__ import annotations

import math
from contextlib import contextmanager

import torch

from data_scripts import load

from .cli import add_common_options, entry_point
from .loops import pick_device, save_run
from .student import load_student_module

# The synthetic image of the assignment: non-square, off-centre, elongated along the columns.
SYNTHETIC = {"height": 40, "width": 60, "a": 2.0, "mu": (17.3, 34.6), "sigma": (6.0, 11.0)}
STEPS = 400  # the checks measured <= 200 steps to recover every test Gaussian within 0.01 (README)
DIGIT_INDEX = 2  # a "1" of the MNIST test set: an elongated stroke, well described by one Gaussian


def as_params(a, mu, sigma, dtype=torch.float64):
    """The parameter dict of the assignment: "a" (), "mu" (2,), "sigma" (2,)."""
    return {
        "a": torch.tensor(float(a), dtype=dtype),
        "mu": torch.tensor(mu, dtype=dtype),
        "sigma": torch.tensor(sigma, dtype=dtype),
    }


def synthetic_image(
    gaussian_fit,
    height=SYNTHETIC["height"],
    width=SYNTHETIC["width"],
    a=SYNTHETIC["a"],
    mu=SYNTHETIC["mu"],
    sigma=SYNTHETIC["sigma"],
    noise=0.0,
    seed=0,
):
    """A Gaussian blob drawn by your gaussian_fit.gaussian_image over your pixel_grid, plus white noise of std
    `noise`; returns (image (H, W) float64, true params)."""
    true = as_params(a, mu, sigma)
    image = gaussian_fit.gaussian_image({k: v.clone() for k, v in true.items()}, gaussian_fit.pixel_grid(height, width))
    return with_noise(image.detach().to(torch.float64), noise, seed), true


def with_noise(image, noise, seed=0):
    """image plus white noise of std `noise`, drawn from a generator of its own seeded with `seed`."""
    if not noise:
        return image
    gen = torch.Generator().manual_seed(seed)
    return image + noise * torch.randn(image.shape, generator=gen, dtype=image.dtype)


def blurred_digit(index=DIGIT_INDEX, blur=1.5):
    """An MNIST test digit in [0, 1], blurred by a Gaussian filter of std `blur` pixels: (28, 28) float64."""
    import torch.nn.functional as F

    images, _ = load("mnist", train=False)
    image = images[index].to(torch.float64) / 255
    radius = int(math.ceil(3 * blur))
    t = torch.arange(-radius, radius + 1, dtype=torch.float64)
    kernel = torch.exp(-(t**2) / (2 * blur**2))
    kernel = kernel / kernel.sum()
    x = F.pad(image[None, None], (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))  # separable blur: rows, then columns
    x = F.conv2d(x, kernel.view(1, 1, -1, 1))
    return x[0, 0]


def initial_params(image):
    """The stated start of every fit: a = max of the image, mu = the image centre, sigma = (H/4, W/4)."""
    height, width = image.shape
    return as_params(
        float(image.max()), ((height - 1) / 2, (width - 1) / 2), (height / 4, width / 4), dtype=image.dtype
    )


def step_sizes(image, eta=1.0):
    """One step size per parameter, scaled by how curved g is along it (plain gradient descent needs that).

    Near the optimum, d2g/da2 = 2 sum e^2 grows with the number of pixels under the bump (<= H*W/16 at the
    start), while d2g/dmu2 and d2g/dsigma2 grow like a^2; on s = log(sigma) the curvature is sigma^2 times the
    one on sigma. eta = 1 was measured stable on every test image (README); eta > 2 starts to oscillate.
    """
    height, width = image.shape
    a0 = max(float(image.max()), 1e-3)
    return {
        "a": 16 * eta / (math.pi * height * width),
        "mu": 0.08 * eta / a0**2,
        "sigma": 0.08 * eta / a0**2,
        "s": 0.002 * eta / a0**2,
    }


def run_fits(gaussian_fit, image, steps=STEPS, eta=1.0, init=None, which=("manual", "autograd", "reparametrized")):
    """Fit the image with the student's fits from the stated start; returns {name: (params, losses)}."""
    image = image.to(torch.float64)
    init = {k: v.to(image.device) for k, v in (init or initial_params(image)).items()}
    lr = step_sizes(image, eta)
    fits = {
        "manual": gaussian_fit.fit_manual,
        "autograd": gaussian_fit.fit_autograd,
        "reparametrized": gaussian_fit.fit_reparametrized,
    }
    out = {}
    with one_thread():
        for name in which:
            step = (
                {"a": lr["a"], "mu": lr["mu"], "s": lr["s"]}
                if name == "reparametrized"
                else {"a": lr["a"], "mu": lr["mu"], "sigma": lr["sigma"]}
            )
            out[name] = fits[name](image, {k: v.clone() for k, v in init.items()}, step, steps)
    return out


@contextmanager
def one_thread():
    """Images of a few thousand pixels: thread start-up costs more than the maths, and on a busy machine
    two threads made the fits 40 times slower than one (measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def describe(params):
    """'a=2.000, mu=(17.30, 34.60), sigma=(6.00, 11.00)'"""
    mu, sigma = [float(v) for v in params["mu"]], [float(v) for v in params["sigma"]]
    return f"a={float(params['a']):.3f}, mu=({mu[0]:.2f}, {mu[1]:.2f}), sigma=({sigma[0]:.2f}, {sigma[1]:.2f})"


# ---------------------------------------------------------------- what the grader runs in its sandbox
def kept(value):
    """`value` itself: called with the grader's kit_kept, it leaves the judge's data (a fit's `init`) in the
    sandbox, where the student's fit gets it and the judge can fetch it afterwards (was it changed in place?)."""
    return value


def use_threads(n: int) -> int:
    """Set torch's thread count for the rest of the check (one, as one_thread: the fits' images are small)."""
    torch.set_num_threads(n)
    return torch.get_num_threads()


def requires_grad(result) -> dict:
    """{name: requires_grad} of the parameters of a fit's result (params, losses); {} for anything else."""
    params = result[0] if isinstance(result, tuple) and len(result) == 2 else None
    if not isinstance(params, dict):
        return {}
    return {k: bool(getattr(v, "requires_grad", False)) for k, v in params.items()}


def dtype(name: str):
    """torch.<name>, a dtype ("float32"): the grader's channel carries no dtypes, so the judge asks for a handle
    on one here and passes it on to the student's code."""
    value = getattr(torch, name, None)
    if not isinstance(value, torch.dtype):
        raise ValueError(f"torch.{name} is not a dtype")
    return value


# ---------------------------------------------------------------- plots
def plot_fit(image, params, path=None, title="", ax=None):
    """The image in grey, the fitted Gaussian as its level curves (0.25, 0.5, 0.75 of a) and mu as a cross."""
    from matplotlib.patches import Ellipse

    from .plots import _save, plt

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 5 * image.shape[0] / image.shape[1] + 0.5))
    ax.imshow(image.detach().cpu().numpy(), cmap="gray")
    mu, sigma = [float(v) for v in params["mu"]], [abs(float(v)) for v in params["sigma"]]
    if abs(float(params["a"])) > 0 and all(math.isfinite(v) for v in mu + sigma):
        for level in (0.25, 0.5, 0.75):
            # the level curve at level * a: sum_k (x_k - mu_k)^2 / sigma_k^2 = log(1 / level), an ellipse
            radius = math.sqrt(math.log(1 / level))
            ax.add_patch(
                Ellipse(
                    (mu[1], mu[0]), 2 * radius * sigma[1], 2 * radius * sigma[0], fill=False, color="C1", linewidth=1
                )
            )  # (col, row), as imshow's axes
    ax.plot(float(params["mu"][1]), float(params["mu"][0]), "+", color="C3", markersize=12)  # plot takes (col, row)
    ax.set(title=title or describe(params), xlabel="col", ylabel="row")
    ax.title.set_fontsize(9)
    return _save(fig or ax.figure, path)


def plot_losses(runs: dict, path=None, title=""):
    """Loss g per step (log scale), one line per fit: runs = {label: losses list or (params, losses)}."""
    from .plots import _save, plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, run in runs.items():
        losses = run[1] if isinstance(run, tuple) else run
        ax.semilogy(range(len(losses)), [max(v, 1e-30) for v in losses], label=label)
    ax.set(xlabel="gradient step", ylabel="g = sum (f - I)^2", title=title or "loss of the fits")
    ax.legend(fontsize=8)
    return _save(fig, path)


# ---------------------------------------------------------------- command line
@entry_point
def main(argv=None):
    """python -m kit.a4 synthetic|digit: fit the image with the code in --folder, write runs/<name>/ and plots."""
    import argparse
    import time

    parser = argparse.ArgumentParser(prog="python -m kit.a4", description=main.__doc__)
    parser.add_argument("what", choices=["synthetic", "digit"])
    add_common_options(
        parser,
        "assignments/a4_gaussian_fit",
        "gaussian_fit.py",
        device="cpu",
        device_help="where the fits run: cpu (the default: images of a few thousand pixels fit "
        "fastest there), auto, cuda or cuda:N",
        seed=0,
    )
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--eta", type=float, default=1.0, help="scales every step size")
    parser.add_argument(
        "--noise", type=float, default=0.05, help="noise std of the synthetic image (drawn with --seed)"
    )
    parser.add_argument("--name", help="run name (default: a4_<what>)")
    args = parser.parse_args(argv)
    gaussian_fit = load_student_module(args.folder, "gaussian_fit")
    if args.what == "synthetic":
        image, true = synthetic_image(gaussian_fit, noise=args.noise, seed=args.seed)
    else:
        image, true = blurred_digit(), None
    device = pick_device(args.device)
    start = time.perf_counter()
    runs = run_fits(gaussian_fit, image.to(device), steps=args.steps, eta=args.eta)
    seconds = time.perf_counter() - start
    runs = {
        name: ({k: v.detach().cpu() for k, v in p.items()}, [float(v) for v in losses])
        for name, (p, losses) in runs.items()
    }
    metrics = {
        name: {"params": {k: v.tolist() for k, v in p.items()}, "losses": losses, "final_loss": losses[-1]}
        for name, (p, losses) in runs.items()
    }
    if true is not None:
        metrics["true"] = {k: v.tolist() for k, v in true.items()}
    metrics["seed"], metrics["device"] = args.seed, str(device)
    folder = save_run(args.name or f"a4_{args.what}", metrics)
    plot_fit(image, runs["manual"][0], folder / "fit.png")
    plot_losses(runs, folder / "losses.png")
    for name, (p, losses) in runs.items():
        print(f"{name:>15}: {describe(p)}, g = {losses[0]:.4g} -> {losses[-1]:.4g}")
    print(f"{args.steps} steps per fit, {seconds:.1f} s for the three fits; written to {folder}")


if __name__ == "__main__":
    main()
