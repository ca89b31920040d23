"""Assignment 1 runs: the student's MLP variants trained on circles and MNIST with the shared loops.

Each function takes the student's modules, so the notebook and the autograder train exactly the same way.
"""
from __future__ import annotations

import torch

from .loops import History, fit, fit_module, seed_everything

# The course's defaults for the circles MLP.
NH, ETA, BATCH_SIZE, EPOCHS = 10, 0.03, 10, 150


def train_manual(mlp, data, nh=NH, eta=ETA, batch_size=BATCH_SIZE, epochs=EPOCHS, seed=0):
    """Manual forward/backward/sgd from mlp.py; returns (params, History)."""
    seed_everything(seed)
    params = mlp.init_params(data.Xtrain.shape[1], nh, data.Ytrain.shape[1])

    def step(X, Y):
        _, outputs = mlp.forward(params, X)
        grads = mlp.backward(params, outputs, Y)
        params.update(mlp.sgd(params, grads, eta))

    hist = fit(step, _evaluate_by_hand(mlp, params), data.Xtrain, data.Ytrain, data.Xtest, data.Ytest, epochs,
               batch_size, seed)
    return params, hist


def _evaluate_by_hand(mlp, params):
    """(X, Y) -> (loss, accuracy) of the student's hand-written forward pass with the current `params`."""
    @torch.no_grad()
    def evaluate(X, Y):
        yhat, _ = mlp.forward(params, X)
        L, acc = mlp.loss_accuracy(yhat, Y)
        return float(L), float(acc)

    return evaluate


def train_autograd(mlp, mlp_torch, data, nh=NH, eta=ETA, batch_size=BATCH_SIZE, epochs=EPOCHS, seed=0):
    """Forward by hand, gradients by torch.autograd; returns (params, History)."""
    seed_everything(seed)
    params = mlp_torch.init_params_autograd(data.Xtrain.shape[1], nh, data.Ytrain.shape[1])

    def step(X, Y):
        yhat, _ = mlp.forward(params, X)
        L, _ = mlp.loss_accuracy(yhat, Y)
        L.backward()
        mlp_torch.sgd_autograd(params, eta)

    hist = fit(step, _evaluate_by_hand(mlp, params), data.Xtrain, data.Ytrain, data.Xtest, data.Ytest, epochs,
               batch_size, seed)
    return params, hist


def train_nn(mlp_torch, data, nh=NH, eta=ETA, batch_size=BATCH_SIZE, epochs=EPOCHS, seed=0, use_optim=False):
    """torch.nn model, updated by the student's sgd_nn or (use_optim) by torch.optim; returns (model, History)."""
    seed_everything(seed)
    nx, ny = data.Xtrain.shape[1], data.Ytrain.shape[1]
    if use_optim:
        model, loss, optimizer = mlp_torch.init_model_optim(nx, nh, ny, eta)
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
            mlp_torch.sgd_nn(model, eta)

    @torch.no_grad()
    def evaluate(X, Y):
        L, acc = mlp_torch.loss_accuracy_nn(loss, model(X), Y)
        return float(L), float(acc)

    hist = fit(step, evaluate, data.Xtrain, data.Ytrain, data.Xtest, data.Ytest, epochs, batch_size, seed)
    return model, hist


# MNIST: a 784-512-10 tanh MLP, SGD + momentum (measured: see README). Batches of 256 at lr 0.2 end as high as
# batches of 64 at lr 0.05 in half the time: a step of 64 images leaves most of the CPU's matrix rate unused.
MNIST_EPOCHS, MNIST_BATCH, MNIST_LR = 10, 256, 0.2


def train_mnist(mnist_mlp, epochs=MNIST_EPOCHS, batch_size=MNIST_BATCH, lr=MNIST_LR, seed=0, device="auto",
                progress=False, limit_train=None):
    """Train the student's MNIST MLP with their optimizer; returns (model, History)."""
    from .data import image_tensors

    seed_everything(seed)
    Xtrain, ytrain, Xtest, ytest = image_tensors("mnist", limit_train=limit_train)
    model = mnist_mlp.make_mnist_mlp()
    optimizer = mnist_mlp.make_optimizer(model, lr=lr)
    # cosine decay of the learning rate: the last epochs settle in a minimum instead of bouncing around it
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    hist = fit_module(model, torch.nn.CrossEntropyLoss(), optimizer, Xtrain, ytrain, Xtest, ytest, epochs,
                      batch_size, seed=seed, scheduler=scheduler, device=device, progress=progress)
    return model, hist


# ---------------------------------------------------------------- what the grader runs in its sandbox
def circles_predictions(variant: str, mlp, mlp_torch=None, eta=ETA, epochs=EPOCHS, seed=0) -> dict:
    """Train one variant ('manual', 'autograd', 'nn', 'optim') on circles; its outputs on the test points before
    and after training (probabilities for the hand-written forward, logits for torch.nn), for the judge to
    score. The judge, not this function, computes accuracies."""
    from data_scripts import make_circles

    data = make_circles()
    if variant in ("manual", "autograd"):
        init = (mlp.init_params if variant == "manual" else mlp_torch.init_params_autograd)
        seed_everything(seed)
        first = mlp.forward(init(data.Xtrain.shape[1], NH, data.Ytrain.shape[1]), data.Xtest)[0]
        train = train_manual if variant == "manual" else (
            lambda m, d, **kw: train_autograd(m, mlp_torch, d, **kw))
        params, hist = train(mlp, data, eta=eta, epochs=epochs, seed=seed)
        with torch.no_grad():
            last = mlp.forward(params, data.Xtest)[0]
        kind = "probabilities"
    else:
        seed_everything(seed)
        nx, ny = data.Xtrain.shape[1], data.Ytrain.shape[1]
        with torch.no_grad():
            first = mlp_torch.init_model_nn(nx, NH, ny)[0](data.Xtest)
        model, hist = train_nn(mlp_torch, data, eta=eta, epochs=epochs, seed=seed, use_optim=variant == "optim")
        with torch.no_grad():
            last = model(data.Xtest)
        kind = "logits"
    return {"kind": kind, "first": first.detach().float(), "last": last.detach().float(),
            "train_loss": hist.train_loss}


def mnist_predictions(mnist_mlp, **kw) -> dict:
    """Train the student's MNIST MLP with the kit's recipe; logits on the test images (no labels here)."""
    from .data import image_tensors
    from .grading import predict

    model, hist = train_mnist(mnist_mlp, **kw)
    Xtest = image_tensors("mnist")[2]
    return {"logits": predict(model.cpu(), Xtest), "epochs": len(hist.train_loss), "seconds": hist.seconds}


# ---------------------------------------------------------------- command line
def _import_student(folder):
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(folder).resolve()))
    return {name: importlib.import_module(name) for name in ("mlp", "mlp_torch", "mnist_mlp")}


def main(argv=None):
    """python -m kit.a1 circles|mnist: train the code in --folder, write runs/<name>/metrics.json and plots."""
    import argparse
    import time

    from data_scripts import make_circles

    from . import plots
    from .loops import save_run

    parser = argparse.ArgumentParser(prog="python -m kit.a1", description=main.__doc__)
    parser.add_argument("what", choices=["circles", "mnist"])
    parser.add_argument("--folder", default="assignments/a1_intro_nn", help="where mlp.py etc. are")
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--name", help="run name (default: a1_<what>)")
    args = parser.parse_args(argv)
    mods = _import_student(args.folder)
    name = args.name or f"a1_{args.what}"
    start = time.perf_counter()
    if args.what == "circles":
        data = make_circles()
        params, hist = train_manual(mods["mlp"], data, epochs=args.epochs or EPOCHS, seed=args.seed)
        folder = save_run(name, {"history": hist.to_dict(), "test_acc": hist.test_acc[-1]})
        plots.plot_circles(data, lambda X: mods["mlp"].forward(params, X)[0][:, 1], folder / "boundary.png",
                           title="decision boundary")
    else:
        _, hist = train_mnist(mods["mnist_mlp"], epochs=args.epochs or MNIST_EPOCHS, seed=args.seed,
                              device=args.device, progress=True)
        folder = save_run(name, {"history": hist.to_dict(), "test_acc": hist.test_acc[-1]})
    plots.plot_curves({args.what: hist}, folder / "curves.png")
    print(f"{args.what}: test accuracy {hist.test_acc[-1]:.2%} after {len(hist.test_acc)} epochs, "
          f"{hist.seconds[-1]:.1f} s of training ({time.perf_counter() - start:.1f} s in all); written to {folder}")


if __name__ == "__main__":
    main()
