"""Assignment 1 runs: the student's MLP variants trained on circles and MNIST with the shared loops.

Each function takes the student's modules, so the notebook and the autograder train exactly the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from data_scripts import make_circles

from . import recipes
from .cli import add_common_options, entry_point
from .data import image_tensors
from .loops import fit, fit_module, predict, save_run, seed_everything
from .student import load_student_modules

# The course's defaults for the circles MLP.
NH, ETA, BATCH_SIZE, EPOCHS = 10, 0.03, 10, 150


def train_manual(mlp, data, nh=NH, eta=ETA, batch_size=BATCH_SIZE, epochs=EPOCHS, seed=0, loss_is_sum=False):
    """Manual forward/backward/sgd from mlp.py; returns (params, History).

    loss_is_sum: the student's loss (and so their gradients) is the SUM over the batch, not the kit's mean: each
    step uses eta / (batch size), which makes the same update as eta with the mean (see `summed_loss_by_hand`)."""
    seed_everything(seed)
    params = mlp.init_params(data.Xtrain.shape[1], nh, data.Ytrain.shape[1])

    def step(X, Y):
        _, outputs = mlp.forward(params, X)
        grads = mlp.backward(params, outputs, Y)
        params.update(mlp.sgd(params, grads, eta / len(X) if loss_is_sum else eta))

    hist = fit(
        step, _evaluate_by_hand(mlp, params), data.Xtrain, data.Ytrain, data.Xtest, data.Ytest, epochs, batch_size, seed
    )
    return params, hist


def _evaluate_by_hand(mlp, params):
    """(X, Y) -> (loss, accuracy) of the student's hand-written forward pass with the current `params`."""

    @torch.no_grad()
    def evaluate(X, Y):
        yhat, _ = mlp.forward(params, X)
        L, acc = mlp.loss_accuracy(yhat, Y)
        return float(L), float(acc)

    return evaluate


def train_autograd(
    mlp, mlp_torch, data, nh=NH, eta=ETA, batch_size=BATCH_SIZE, epochs=EPOCHS, seed=0, loss_is_sum=False
):
    """Forward by hand, gradients by torch.autograd; returns (params, History). loss_is_sum: as in train_manual."""
    seed_everything(seed)
    params = mlp_torch.init_params_autograd(data.Xtrain.shape[1], nh, data.Ytrain.shape[1])

    def step(X, Y):
        yhat, _ = mlp.forward(params, X)
        L, _ = mlp.loss_accuracy(yhat, Y)
        L.backward()
        mlp_torch.sgd_autograd(params, eta / len(X) if loss_is_sum else eta)

    hist = fit(
        step, _evaluate_by_hand(mlp, params), data.Xtrain, data.Ytrain, data.Xtest, data.Ytest, epochs, batch_size, seed
    )
    return params, hist


def train_nn(
    mlp_torch,
    data,
    nh=NH,
    eta=ETA,
    batch_size=BATCH_SIZE,
    epochs=EPOCHS,
    seed=0,
    use_optim=False,
    labels="one-hot",
    loss_is_sum=False,
):
    """torch.nn model, updated by the student's sgd_nn or (use_optim) by torch.optim; returns (model, History).

    labels: "one-hot" (the kit's (N, ny) Y) or "indices" (class indices (N,), for a loss_accuracy_nn written for
    them); loss_is_sum: the student's loss is the SUM over the batch: the learning rate is divided by the batch
    size (the same update as the mean loss). See `nn_conventions`."""
    seed_everything(seed)
    nx, ny = data.Xtrain.shape[1], data.Ytrain.shape[1]
    if use_optim:
        model, loss, optimizer = mlp_torch.init_model_optim(nx, nh, ny, eta / batch_size if loss_is_sum else eta)
    else:
        model, loss = mlp_torch.init_model_nn(nx, nh, ny)

    def step(X, Y):
        L, _ = mlp_torch.loss_accuracy_nn(loss, model(X), Y)
        if use_optim:
            optimizer.zero_grad()
            L.backward()
            optimizer.step()
        else:
            L.backward()
            mlp_torch.sgd_nn(model, eta / len(X) if loss_is_sum else eta)

    @torch.no_grad()
    def evaluate(X, Y):
        L, acc = mlp_torch.loss_accuracy_nn(loss, model(X), Y)
        return float(L), float(acc)

    Ytrain, Ytest = data.Ytrain, data.Ytest
    if labels == "indices":
        Ytrain, Ytest = Ytrain.argmax(1), None if Ytest is None else Ytest.argmax(1)
    hist = fit(step, evaluate, data.Xtrain, Ytrain, data.Xtest, Ytest, epochs, batch_size, seed)
    return model, hist


# ---------------------------------------------------------------- the student's conventions, found by probing
# The kit trains in its own conventions (mean loss, one-hot labels). A student who wrote the maths right in
# another one loses that convention's points in the quick checks, once; the trainings then adapt to it, so that
# they grade only whether the network learns. Every probe runs on a tiny batch of the training set, before the
# training's seed is set; when a probe fails or is ambiguous, the kit's convention is kept (and the training
# shows the student's own error).
def _doubles(a, b, rtol=1e-4):
    """Whether b is 2 a (a tensor or number that is not zero)."""
    a, b = torch.as_tensor(a).detach().double(), torch.as_tensor(b).detach().double()
    return (
        a.shape == b.shape
        and bool(a.isfinite().all())
        and float(a.abs().max()) > 0
        and torch.allclose(b, 2 * a, rtol=rtol, atol=1e-9)
    )


def _probe_batch(data, n=6):
    """n training examples (n != 2 and n != ny, so that an (N,) vs (N, ny) mix-up cannot broadcast silently)."""
    return data.Xtrain[:n], data.Ytrain[:n]


def summed_loss_by_hand(mlp, data, nh=NH, gradients=True) -> bool:
    """Whether the student's loss_accuracy is the SUM over the batch (duplicating the batch doubles L) and, with
    `gradients`, their backward is its exact gradient (the gradients double too). A summed loss with mean
    gradients, or summed gradients with a mean loss, is not a convention but a bug: False."""
    X, Y = _probe_batch(data)
    X2, Y2 = torch.cat([X, X]), torch.cat([Y, Y])
    try:
        with torch.random.fork_rng(devices=[]):
            params = mlp.init_params(X.shape[1], nh, Y.shape[1])
        params = {k: v.detach() for k, v in params.items()}
        yhat, outputs = mlp.forward(params, X)
        yhat2, outputs2 = mlp.forward(params, X2)
        if not _doubles(mlp.loss_accuracy(yhat, Y)[0], mlp.loss_accuracy(yhat2, Y2)[0]):
            return False
        if not gradients:
            return True
        g1, g2 = mlp.backward(params, outputs, Y), mlp.backward(params, outputs2, Y2)
        return all(_doubles(g1[k], g2[k]) for k in params)
    except Exception:  # the training itself will show the student's error
        return False


def nn_conventions(mlp_torch, data, nh=NH) -> dict:
    """The labels ("one-hot" or "indices") and reduction (loss_is_sum) that the student's loss_accuracy_nn computes
    the cross-entropy of logits with: the kit's own (one-hot, mean) first. When neither kind of label gives the
    cross-entropy (a bug), the kit's conventions."""
    X, Y = _probe_batch(data)
    labels = Y.argmax(1)
    try:
        with torch.random.fork_rng(devices=[]):
            model, loss = mlp_torch.init_model_nn(X.shape[1], nh, Y.shape[1])
        with torch.no_grad():
            logits = model(X).detach()
    except Exception:
        return {"labels": "one-hot", "loss_is_sum": False}
    mean = float(torch.nn.functional.cross_entropy(logits, labels))
    for kind, target in (("one-hot", Y), ("indices", labels)):
        try:
            with torch.no_grad():
                L = float(mlp_torch.loss_accuracy_nn(loss, logits, target)[0])
        except Exception:
            continue
        for loss_is_sum, want in ((False, mean), (True, mean * len(labels))):
            if abs(L - want) <= 1e-4 * max(1.0, abs(want)):
                return {"labels": kind, "loss_is_sum": loss_is_sum}
    return {"labels": "one-hot", "loss_is_sum": False}


# ---------------------------------------------------------------- SVMs: select on a validation split
SVM_VALIDATION = 50  # the last 50 of the 200 circles training points: the validation split of the SVM study


def validation_data(data, n_val=SVM_VALIDATION):
    """The circles for a study that compares settings (learning rate, batch size): trained on the first training
    points, measured on the last n_val, which take the place of the test set, so that the test set is not read
    while comparing. The same split as svm_split."""
    import dataclasses

    return dataclasses.replace(
        data,
        Xtrain=data.Xtrain[:-n_val],
        Ytrain=data.Ytrain[:-n_val],
        Xtest=data.Xtrain[-n_val:],
        Ytest=data.Ytrain[-n_val:],
    )


def as_validation(hist) -> dict:
    """A History trained on validation_data, with its held-out curves named as what they are (val_loss, val_acc):
    kit.plots.plot_curves then labels them 'val'."""
    h = hist.to_dict() if hasattr(hist, "to_dict") else dict(hist)
    return {
        "train_loss": h["train_loss"],
        "train_acc": h["train_acc"],
        "val_loss": h["test_loss"],
        "val_acc": h["test_acc"],
        "seconds": h.get("seconds", []),
    }


def svm_split(data, n_val=SVM_VALIDATION):
    """numpy arrays (Xfit, yfit, Xval, yval, Xtest, ytest) of the circles: the SVMs are fitted on the first
    training points, compared (kernel, C) on the last n_val, and only the selected one is measured on the test
    set, once."""
    X, y = data.Xtrain.numpy(), data.Ytrain.argmax(1).numpy()
    return X[:-n_val], y[:-n_val], X[-n_val:], y[-n_val:], data.Xtest.numpy(), data.Ytest.argmax(1).numpy()


def select_svm(val_results, kernel=None):
    """The (kernel, C) with the best validation accuracy in `val_results` (svm_accuracies measured on the
    validation split: {(kernel, C): (train acc, validation acc)}), among one kernel if given; ties go to the
    first in the table's order (the smaller C: the smoother boundary)."""
    best = None
    for key, (_, val_acc) in val_results.items():
        if (kernel is None or key[0] == kernel) and (best is None or float(val_acc) > best[1]):
            best = (key, float(val_acc))
    if best is None:
        raise ValueError(f"no SVM with kernel {kernel!r} in the results")
    return best[0]


# MNIST: a 784-512-10 tanh MLP, SGD + momentum (recipe a1.mnist in kit/recipes.py). Batches of 256 at lr 0.2 end as high as
# batches of 64 at lr 0.05 in half the time: a step of 64 images leaves most of the CPU's matrix rate unused.
MNIST_EPOCHS, MNIST_BATCH, MNIST_LR = (recipes.recipe("a1.mnist").settings[k] for k in ("epochs", "batch_size", "lr"))


def train_mnist(
    mnist_mlp,
    epochs=MNIST_EPOCHS,
    batch_size=MNIST_BATCH,
    lr=MNIST_LR,
    seed=0,
    device="auto",
    progress=False,
    limit_train=None,
):
    """Train the student's MNIST MLP with their optimizer; returns (model, History)."""

    seed_everything(seed)
    Xtrain, ytrain, Xtest, ytest = image_tensors("mnist", limit_train=limit_train)
    model = mnist_mlp.make_mnist_mlp()
    optimizer = mnist_mlp.make_optimizer(model, lr=lr)
    # cosine decay of the learning rate: the last epochs settle in a minimum instead of bouncing around it
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    hist = fit_module(
        model,
        torch.nn.CrossEntropyLoss(),
        optimizer,
        Xtrain,
        ytrain,
        Xtest,
        ytest,
        epochs,
        batch_size,
        seed=seed,
        scheduler=scheduler,
        device=device,
        progress=progress,
    )
    return model, hist


# The student's own hand-written MLP (mlp.py) on MNIST: a width and a step that train it in seconds with plain
# mini-batch SGD and the mean loss (no momentum, no schedule: only what Part 2 wrote).
MNIST_BY_HAND = dict(nh=100, eta=0.5, batch_size=100, epochs=5)


@dataclass(frozen=True)
class OneHotImages:
    """Images flattened to rows and one-hot labels: the data layout of mlp.py (as the circles' CirclesData)."""

    Xtrain: torch.Tensor
    Ytrain: torch.Tensor
    Xtest: torch.Tensor
    Ytest: torch.Tensor


def mnist_onehot(limit_train=None) -> OneHotImages:
    """MNIST for the hand-written MLP: (N, 784) standardized images and (N, 10) one-hot labels."""
    Xtrain, ytrain, Xtest, ytest = image_tensors("mnist", limit_train=limit_train)
    onehot = lambda y: torch.nn.functional.one_hot(y, 10).float()  # noqa: E731
    return OneHotImages(Xtrain.flatten(1), onehot(ytrain), Xtest.flatten(1), onehot(ytest))


# ---------------------------------------------------------------- initialization and vanishing gradients
# The weight scales the lecture compares for a deep tanh MLP, as the standard deviation of N(0, std²) given the
# layer's fan-in and fan-out: too small, too large, and Xavier/Glorot's sqrt(2 / (fan_in + fan_out)), which keeps
# the variance of the activations and of the gradients about the same from layer to layer.
INITS = {
    "N(0, 0.01²)": lambda fan_in, fan_out: 0.01,
    "N(0, 1)": lambda fan_in, fan_out: 1.0,
    "Xavier": lambda fan_in, fan_out: (2.0 / (fan_in + fan_out)) ** 0.5,
}


def deep_tanh_mlp(init: str, depth: int = 8, width: int = 256, n_in: int = 784, n_out: int = 10, seed: int = 0):
    """A `depth`-hidden-layer tanh MLP whose weights are drawn from N(0, std²) with std = INITS[init](fan_in,
    fan_out), biases 0; (B, n_in) -> (B, n_out) logits."""
    if init not in INITS:
        raise ValueError(f"init {init!r}: the initializations are {', '.join(INITS)}")
    generator = torch.Generator().manual_seed(seed)
    sizes = [n_in] + [width] * depth
    layers = []
    for fan_in, fan_out in zip(sizes, sizes[1:] + [n_out]):
        linear = torch.nn.Linear(fan_in, fan_out)
        with torch.no_grad():
            linear.weight.normal_(0.0, INITS[init](fan_in, fan_out), generator=generator)
            linear.bias.zero_()
        layers += [linear, torch.nn.Tanh()]
    return torch.nn.Sequential(*layers[:-1])  # no tanh on the logits


def layer_statistics(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> dict:
    """One forward and backward pass of the cross-entropy of `model` on a batch (X, y). For each activation
    module (nn.Tanh, nn.ReLU, nn.Sigmoid), in order: the standard deviation of its outputs h (B, width), of the
    loss's gradient with respect to them, and the fraction of its units in saturation (|tanh| > 0.99, sigmoid
    outside [0.01, 0.99], ReLU at 0). Returns {"activation_std": [L], "gradient_std": [L], "saturated": [L]}."""
    outputs, hooks = [], []

    def keep(module, inputs, output):
        output.retain_grad()
        outputs.append((module, output))

    for module in model.modules():
        if isinstance(module, (torch.nn.Tanh, torch.nn.ReLU, torch.nn.Sigmoid)):
            hooks.append(module.register_forward_hook(keep))
    try:
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(X), y).backward()
    finally:
        for hook in hooks:
            hook.remove()

    def saturated(module, h):
        if isinstance(module, torch.nn.Tanh):
            return (h.abs() > 0.99).float().mean()
        if isinstance(module, torch.nn.Sigmoid):
            return ((h < 0.01) | (h > 0.99)).float().mean()
        return (h <= 0).float().mean()

    return {
        "activation_std": [float(h.detach().std()) for _, h in outputs],
        "gradient_std": [float(h.grad.std()) for _, h in outputs],
        "saturated": [float(saturated(m, h.detach())) for m, h in outputs],
    }


# ---------------------------------------------------------------- what the grader runs in its sandbox
def circles_predictions(variant: str, mlp, mlp_torch=None, eta=ETA, epochs=EPOCHS, seed=0, Xtest=None) -> dict:
    """Train one variant ('manual', 'autograd', 'nn', 'optim') on the circles' training points; its outputs on
    the evaluation points `Xtest` (the judge's own draw, sent without labels; the circles' test points when None)
    before and after training (probabilities for the hand-written forward, logits for torch.nn), and the weights
    they come from: the initial and trained parameters ("first_params", "params") of the hand-written versions,
    the initial and trained models ("first_model", "model") of the torch.nn ones. The judge recomputes the
    outputs from the weights and computes the accuracies; this function only trains.

    The training follows the student's conventions where their code computes the right thing in another one
    (a summed loss: eta / batch size; class-index labels in the nn part); "conventions" says which were used,
    for the judge to tell the student."""
    import dataclasses

    data = make_circles()
    if Xtest is not None:  # no labels: the sandbox cannot score them, and records no test curve
        data = dataclasses.replace(data, Xtest=torch.as_tensor(Xtest, dtype=torch.float32), Ytest=None)
    conventions = {"labels": "one-hot", "loss_is_sum": False, "batch_size": BATCH_SIZE}
    weights = {}
    if variant in ("manual", "autograd"):
        conventions["loss_is_sum"] = summed_loss_by_hand(mlp, data, gradients=variant == "manual")
        init = mlp.init_params if variant == "manual" else mlp_torch.init_params_autograd
        seed_everything(seed)
        start = init(data.Xtrain.shape[1], NH, data.Ytrain.shape[1])
        weights["first_params"] = _detached(start)
        first = mlp.forward(start, data.Xtest)[0]
        train = train_manual if variant == "manual" else (lambda m, d, **kw: train_autograd(m, mlp_torch, d, **kw))
        params, hist = train(mlp, data, eta=eta, epochs=epochs, seed=seed, loss_is_sum=conventions["loss_is_sum"])
        weights["params"] = _detached(params)
        with torch.no_grad():
            last = mlp.forward(params, data.Xtest)[0]
        kind = "probabilities"
    else:
        conventions.update(nn_conventions(mlp_torch, data))
        seed_everything(seed)
        nx, ny = data.Xtrain.shape[1], data.Ytrain.shape[1]
        weights["first_model"] = mlp_torch.init_model_nn(nx, NH, ny)[0]
        with torch.no_grad():
            first = weights["first_model"](data.Xtest)
        model, hist = train_nn(
            mlp_torch,
            data,
            eta=eta,
            epochs=epochs,
            seed=seed,
            use_optim=variant == "optim",
            labels=conventions["labels"],
            loss_is_sum=conventions["loss_is_sum"],
        )
        weights["model"] = model
        with torch.no_grad():
            last = model(data.Xtest)
        kind = "logits"
    return {
        "kind": kind,
        "first": first.detach().float(),
        "last": last.detach().float(),
        "train_loss": hist.train_loss,
        "conventions": conventions,
        **weights,
    }


def _detached(params):
    """A copy of a dict of parameters, as plain tensors (what the student's init_params or training returned
    when it is not a dict: the judge says so)."""
    if not isinstance(params, dict):
        return params
    return {k: v.detach().clone() if isinstance(v, torch.Tensor) else v for k, v in params.items()}


def mnist_predictions(mnist_mlp, **kw) -> dict:
    """Train the student's MNIST MLP with the kit's recipe; logits on the test images (no labels here), and the
    trained model ("model"), from whose weights the judge recomputes them."""

    model, hist = train_mnist(mnist_mlp, **kw)
    Xtest = image_tensors("mnist")[2]
    model = model.cpu()
    return {"logits": predict(model, Xtest), "epochs": len(hist.train_loss), "seconds": hist.seconds, "model": model}


# ---------------------------------------------------------------- command line
STUDENT_MODULES = {"circles": ("mlp",), "mnist": ("mnist_mlp",)}  # what each command trains


@entry_point
def main(argv=None):
    """python -m kit.a1 circles|mnist: train the code in --folder, write runs/<name>/metrics.json and plots."""
    import argparse
    import time

    from . import plots

    parser = argparse.ArgumentParser(prog="python -m kit.a1", description=main.__doc__)
    parser.add_argument("what", choices=["circles", "mnist"])
    add_common_options(
        parser,
        "assignments/a1_intro_nn",
        "mlp.py (circles) and mnist_mlp.py (mnist)",
        device_help="mnist's device: auto (cuda when there is one), cpu, cuda or cuda:N; the circles train on the CPU",
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--name", help="run name (default: a1_<what>)")
    args = parser.parse_args(argv)
    mods = load_student_modules(args.folder, STUDENT_MODULES[args.what])
    name = args.name or f"a1_{args.what}"
    start = time.perf_counter()
    if args.what == "circles":
        data = make_circles()
        loss_is_sum = summed_loss_by_hand(mods["mlp"], data)
        if loss_is_sum:
            print(
                f"note: your loss is the sum over the batch (the kit's is the mean): trained with eta / batch size "
                f"= {ETA} / {BATCH_SIZE} per step, the same update as the mean loss at eta = {ETA}"
            )
        params, hist = train_manual(
            mods["mlp"], data, epochs=args.epochs or EPOCHS, seed=args.seed, loss_is_sum=loss_is_sum
        )
        folder = save_run(name, {"history": hist.to_dict(), "test_acc": hist.test_acc[-1]})
        plots.plot_circles(
            data, lambda X: mods["mlp"].forward(params, X)[0][:, 1], folder / "boundary.png", title="decision boundary"
        )
    else:
        _, hist = train_mnist(
            mods["mnist_mlp"], epochs=args.epochs or MNIST_EPOCHS, seed=args.seed, device=args.device, progress=True
        )
        folder = save_run(name, {"history": hist.to_dict(), "test_acc": hist.test_acc[-1]})
    plots.plot_curves({args.what: hist}, folder / "curves.png")
    print(
        f"{args.what}: test accuracy {hist.test_acc[-1]:.2%} after {len(hist.test_acc)} epochs, "
        f"{hist.seconds[-1]:.1f} s of training ({time.perf_counter() - start:.1f} s in all); written to {folder}"
    )


if __name__ == "__main__":
    main()
