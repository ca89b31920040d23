"""Checks of assignment 1 (intro to neural networks). Oracles: closed-form torch math, torch.autograd,
torch.nn.functional.cross_entropy, scikit-learn's own SVC, and training thresholds."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from autograder.api import (CheckFailed, check, expect, expect_accuracy, expect_close, expect_finite, expect_shape,
                            expect_tensor)

SIZES = [(1, 2, 3, 2), (10, 2, 10, 2), (7, 5, 4, 3), (64, 784, 16, 10)]  # (N, nx, nh, ny)


def random_problem(N, nx, nh, ny, dtype=torch.float64, scale=0.5):
    params = {"Wh": torch.randn(nh, nx, dtype=dtype) * scale, "bh": torch.randn(nh, dtype=dtype) * scale,
              "Wy": torch.randn(ny, nh, dtype=dtype) * scale, "by": torch.randn(ny, dtype=dtype) * scale}
    X = torch.randn(N, nx, dtype=dtype)
    Y = F.one_hot(torch.randint(0, ny, (N,)), ny).to(dtype)
    return params, X, Y


def oracle_forward(params, X):
    htilde = X @ params["Wh"].T + params["bh"]
    h = torch.tanh(htilde)
    ytilde = h @ params["Wy"].T + params["by"]
    return {"X": X, "htilde": htilde, "h": h, "ytilde": ytilde, "yhat": torch.softmax(ytilde, dim=1)}


def oracle_grads(params, X, Y):
    leaves = {k: v.detach().clone().requires_grad_(True) for k, v in params.items()}
    ytilde = oracle_forward(leaves, X)["ytilde"]
    L = F.cross_entropy(ytilde, Y.argmax(dim=1))  # mean over the batch
    grads = torch.autograd.grad(L, list(leaves.values()))
    return dict(zip(leaves, grads))


def diagnose_grad(name, got, expected, N):
    """A hint naming the usual mistake behind a wrong gradient."""
    if not isinstance(got, torch.Tensor):
        return ""
    g = got.detach().to(torch.float64)
    if g.shape == expected.shape and N > 1 and torch.allclose(g, expected * N, rtol=1e-4, atol=1e-8):
        return "it is N times too large: did you average over the batch (the loss is a mean)?"
    if g.dim() == 2 and g.shape == expected.T.shape and g.shape != expected.shape:
        return f"it has the transposed shape: d{name} must have the shape of {name}"
    return "compare each step with the chain rule: dL/dytilde = (yhat - Y) / N, and tanh' = 1 - h**2"


def dict_of_tensors(obj, keys, what):
    expect(isinstance(obj, dict), f"{what} should return a dict, got {type(obj).__name__}")
    missing = [k for k in keys if k not in obj]
    expect(not missing, f"{what} is missing the keys {missing}")
    for k in keys:
        expect_tensor(obj[k], f"{what}[{k!r}]")
    return obj


# ---------------------------------------------------------------- manual MLP
@check("init_params", points=1)
def init_params(sub):
    """init_params returns the four tensors with the right shapes and N(0, 0.3) weights."""
    mlp = sub.module("mlp")
    p = dict_of_tensors(mlp.init_params(30, 40, 50), ["Wh", "bh", "Wy", "by"], "init_params(30, 40, 50)")
    for k, shape in {"Wh": (40, 30), "bh": (40,), "Wy": (50, 40), "by": (50,)}.items():
        expect_shape(p[k], shape, f"init_params(30, 40, 50)[{k!r}]")
        expect(p[k].dtype == torch.float32, f"{k} should be float32, got {p[k].dtype}")
    for k in ("Wh", "Wy"):
        std, mean = float(p[k].std()), float(p[k].mean())
        expect(0.25 < std < 0.35 and abs(mean) < 0.05,
               f"{k} should be drawn from N(0, 0.3): its entries have mean {mean:.3f} and std {std:.3f}")
    q = mlp.init_params(30, 40, 50)
    expect(not torch.equal(p["Wh"], q["Wh"]), "two calls of init_params returned the same weights: draw them at random")


@check("softmax_stable", points=1)
def softmax_stable(sub):
    """softmax rows sum to 1 and stay finite for logits of +-1000."""
    mlp = sub.module("mlp")
    logits = torch.tensor([[1000.0, 0.0, -1000.0], [-1000.0, -1000.0, -999.0], [0.5, 0.1, 0.2]])
    out = mlp.softmax(logits)
    expect_shape(out, logits.shape, "softmax(logits)")
    expect_finite(out, "softmax of logits of +-1000 (subtract the row maximum before exp)")
    expect_close(out, torch.softmax(logits, dim=1), "softmax(logits)", rtol=1e-4, atol=1e-6,
                 hint="softmax is taken over each row (dim=1)")
    x = torch.randn(6, 4) * 3
    expect_close(mlp.softmax(x).sum(dim=1), torch.ones(6), "row sums of softmax", rtol=1e-5, atol=1e-5)


@check("forward", points=2)
def forward(sub):
    """forward returns yhat and the intermediate outputs, equal to the closed-form network."""
    mlp = sub.module("mlp")
    for N, nx, nh, ny in SIZES:
        params, X, _ = random_problem(N, nx, nh, ny, dtype=torch.float32)
        result = mlp.forward({k: v.clone() for k, v in params.items()}, X.clone())
        expect(isinstance(result, tuple) and len(result) == 2, "forward should return a pair (yhat, outputs)")
        yhat, outputs = result
        expected = oracle_forward(params, X)
        dict_of_tensors(outputs, list(expected), "forward(...)[1] (outputs)")
        for key in ("htilde", "h", "ytilde", "yhat"):
            expect_close(outputs[key], expected[key], f"outputs[{key!r}] for N={N}, nx={nx}, nh={nh}, ny={ny}",
                         rtol=1e-4, atol=1e-5)
        expect_close(yhat, expected["yhat"], "yhat", rtol=1e-4, atol=1e-6)


@check("loss_accuracy", points=2)
def loss_accuracy(sub):
    """loss_accuracy equals torch's cross_entropy (mean) and the argmax accuracy."""
    mlp = sub.module("mlp")
    for N, ny in [(1, 2), (10, 2), (37, 10)]:
        logits = torch.randn(N, ny, dtype=torch.float64) * 2
        labels = torch.randint(0, ny, (N,))
        Y = F.one_hot(labels, ny).to(torch.float64)
        L, acc = mlp.loss_accuracy(torch.softmax(logits, 1), Y)
        expect_tensor(L, "L")
        expect(L.numel() == 1, f"L should be a scalar, got shape {tuple(L.shape)}")
        ref = F.cross_entropy(logits, labels)
        if abs(float(L) - float(ref) * N) < 1e-6 * N and N > 1:
            raise CheckFailed("L is the sum over the batch: the loss of this kit is the mean over the batch")
        expect_close(L.reshape(()), ref, f"L for N={N}, ny={ny}", rtol=1e-6, atol=1e-9)
        ref_acc = float((logits.argmax(1) == labels).double().mean())
        expect(abs(float(acc) - ref_acc) < 1e-6, f"accuracy is {float(acc):.4f}, expected {ref_acc:.4f}")


@check("backward", points=4)
def backward(sub):
    """Hand-derived gradients equal torch.autograd's (float64, several sizes)."""
    mlp = sub.module("mlp")
    for N, nx, nh, ny in SIZES:
        params, X, Y = random_problem(N, nx, nh, ny)
        outputs = oracle_forward(params, X)
        grads = mlp.backward({k: v.clone() for k, v in params.items()}, {k: v.clone() for k, v in outputs.items()},
                             Y.clone())
        dict_of_tensors(grads, ["Wy", "Wh", "by", "bh"], "backward(...)")
        expected = oracle_grads(params, X, Y)
        for name in ("Wy", "by", "Wh", "bh"):
            got = grads[name]
            if isinstance(got, torch.Tensor) and got.dim() == 2 and name.startswith("b"):
                got = got.reshape(-1)
            expect_close(got, expected[name], f"d{name} for N={N}, nx={nx}, nh={nh}, ny={ny}", rtol=1e-6,
                         atol=1e-10, hint=diagnose_grad(name, got, expected[name], N))


@check("backward_batch_mean", points=1)
def backward_batch_mean(sub):
    """Duplicating every example of the batch leaves the gradients unchanged (they are means)."""
    mlp = sub.module("mlp")
    params, X, Y = random_problem(8, 3, 5, 2)
    g1 = mlp.backward(params, oracle_forward(params, X), Y)
    X2, Y2 = torch.cat([X, X]), torch.cat([Y, Y])
    g2 = mlp.backward(params, oracle_forward(params, X2), Y2)
    for name in ("Wy", "Wh", "by", "bh"):
        expect_close(torch.as_tensor(g2[name]), torch.as_tensor(g1[name]), f"d{name} of a duplicated batch",
                     rtol=1e-6, atol=1e-12, hint="gradients must be averaged over the batch, not summed")


@check("sgd", points=1)
def sgd(sub):
    """sgd applies p - eta * grad to every parameter."""
    mlp = sub.module("mlp")
    params, _, _ = random_problem(1, 3, 4, 2)
    grads = {k: torch.randn_like(v) for k, v in params.items()}
    expected = {k: params[k] - 0.03 * grads[k] for k in params}
    out = mlp.sgd({k: v.clone() for k, v in params.items()}, grads, 0.03)
    dict_of_tensors(out, list(params), "sgd(params, grads, eta)")
    for k in params:
        expect_close(out[k], expected[k], f"updated {k}", rtol=1e-9, atol=1e-12,
                     hint="the update is p - eta * grad (minus: we descend)")


# ---------------------------------------------------------------- autograd, nn, optim
def _batch(nx=2, ny=2, N=20):
    X = torch.randn(N, nx)
    return X, F.one_hot((X[:, 0] > 0).long() % ny, ny).float()


@check("autograd_version", points=2)
def autograd_version(sub):
    """init_params_autograd gives leaf tensors that require grad; sgd_autograd descends and zeroes grads."""
    mlp, mt = sub.module("mlp"), sub.module("mlp_torch")
    params = dict_of_tensors(mt.init_params_autograd(2, 10, 2), ["Wh", "bh", "Wy", "by"], "init_params_autograd")
    for k, p in params.items():
        expect(p.requires_grad and p.is_leaf, f"params[{k!r}] should be a leaf tensor with requires_grad=True")
    X, Y = _batch()
    yhat, _ = mlp.forward(params, X)
    L0, _ = mlp.loss_accuracy(yhat, Y)
    L0.backward()
    grads = {k: p.grad.clone() for k, p in params.items()}
    before = {k: p.detach().clone() for k, p in params.items()}
    out = mt.sgd_autograd(params, 0.1)
    params = out if isinstance(out, dict) else params
    for k, p in params.items():
        expect(p.is_leaf and p.requires_grad, f"after sgd_autograd, params[{k!r}] is no longer a leaf that requires "
                                              "grad: do the update under torch.no_grad()")
        expect_close(p.detach(), before[k] - 0.1 * grads[k], f"params[{k!r}] after sgd_autograd", rtol=1e-5, atol=1e-7)
        expect(p.grad is None or float(p.grad.abs().max()) == 0, f"params[{k!r}].grad should be zeroed after the step")


@check("nn_version", points=2)
def nn_version(sub):
    """init_model_nn builds Linear-Tanh-Linear with the right sizes; loss_accuracy_nn and sgd_nn work."""
    mt = sub.module("mlp_torch")
    model, loss = mt.init_model_nn(3, 7, 4)
    expect(isinstance(model, torch.nn.Module), "init_model_nn should return an nn.Module as model")
    n_params = sum(p.numel() for p in model.parameters())
    expect(n_params == 3 * 7 + 7 + 7 * 4 + 4, f"the model has {n_params} parameters, expected {3 * 7 + 7 + 7 * 4 + 4}")
    X = torch.randn(12, 3)
    labels = torch.randint(0, 4, (12,))
    Y = F.one_hot(labels, 4).float()
    logits = model(X)
    expect_shape(logits, (12, 4), "model(X)")
    linears = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    expect(len(linears) == 2, f"the model should have 2 nn.Linear layers, found {len(linears)}")
    with torch.no_grad():
        expected = linears[1](torch.tanh(linears[0](X)))
    expect_close(logits.detach(), expected, "model(X)", rtol=1e-5, atol=1e-6,
                 hint="the network is Linear -> Tanh -> Linear, with no softmax at the end")
    L, acc = mt.loss_accuracy_nn(loss, logits, Y)
    expect_close(L.detach().reshape(()), F.cross_entropy(logits.detach(), labels), "loss_accuracy_nn's L",
                 rtol=1e-5, atol=1e-6, hint="the model outputs logits; the loss applies the softmax")
    expect(abs(float(acc) - float((logits.argmax(1) == labels).float().mean())) < 1e-6, "wrong accuracy")
    L.backward()
    before = [p.detach().clone() for p in model.parameters()]
    grads = [p.grad.clone() for p in model.parameters()]
    mt.sgd_nn(model, 0.5)
    for p, b, g in zip(model.parameters(), before, grads):
        expect_close(p.detach(), b - 0.5 * g, "a parameter after sgd_nn", rtol=1e-5, atol=1e-7)
        expect(p.grad is None or float(p.grad.abs().max()) == 0, "gradients should be zeroed after sgd_nn")


@check("optim_version", points=1)
def optim_version(sub):
    """init_model_optim returns a model, a loss and a torch.optim.SGD with the given learning rate."""
    mt = sub.module("mlp_torch")
    out = mt.init_model_optim(2, 10, 2, 0.03)
    expect(isinstance(out, tuple) and len(out) == 3, "init_model_optim should return (model, loss, optimizer)")
    model, loss, optim = out
    expect(isinstance(optim, torch.optim.SGD), f"optimizer should be torch.optim.SGD, got {type(optim).__name__}")
    expect(abs(optim.param_groups[0]["lr"] - 0.03) < 1e-12, "the optimizer's learning rate should be eta")
    ids = {id(p) for g in optim.param_groups for p in g["params"]}
    expect(ids == {id(p) for p in model.parameters()}, "the optimizer should update all the model's parameters")


@check("mnist_mlp_shape", points=1)
def mnist_mlp_shape(sub):
    """make_mnist_mlp maps (N, 1, 28, 28) images to (N, 10) logits with 784*nh + nh + nh*10 + 10 parameters."""
    mm = sub.module("mnist_mlp")
    for nh in (512, 32):
        model = mm.make_mnist_mlp(nh=nh)
        expect(isinstance(model, torch.nn.Module), "make_mnist_mlp should return an nn.Module")
        n = sum(p.numel() for p in model.parameters())
        expected = 784 * nh + nh + nh * 10 + 10
        expect(n == expected, f"make_mnist_mlp(nh={nh}) has {n} parameters, expected {expected}")
        expect_shape(model(torch.randn(5, 1, 28, 28)), (5, 10), f"make_mnist_mlp(nh={nh})(images)")
    opt = mm.make_optimizer(mm.make_mnist_mlp(), lr=0.05)
    expect(isinstance(opt, torch.optim.Optimizer), "make_optimizer should return a torch.optim optimizer")


@check("svm_accuracies", points=2)
def svm_accuracies(sub):
    """svm_accuracies matches scikit-learn SVC fitted with each (kernel, C)."""
    from sklearn.svm import SVC

    from data_scripts import make_circles

    svm = sub.module("svm")
    clf = svm.make_svm("poly", 3.0)
    expect(isinstance(clf, SVC), f"make_svm should return sklearn.svm.SVC, got {type(clf).__name__}")
    expect(clf.kernel == "poly" and clf.C == 3.0, "make_svm should set the kernel and C it is given")
    d = make_circles(n_train=60, n_test=60, seed=3)
    Xtr, ytr, Xte, yte = d.Xtrain.numpy(), d.ytrain.numpy(), d.Xtest.numpy(), d.ytest.numpy()
    kernels, Cs = ("linear", "rbf"), (0.1, 10.0)
    got = svm.svm_accuracies(Xtr, ytr, Xte, yte, kernels=kernels, C_values=Cs)
    expect(isinstance(got, dict), f"svm_accuracies should return a dict, got {type(got).__name__}")
    for kernel in kernels:
        for C in Cs:
            expect((kernel, C) in got, f"svm_accuracies has no entry for ({kernel!r}, {C})")
            ref = SVC(kernel=kernel, C=C).fit(Xtr, ytr)
            want = (ref.score(Xtr, ytr), ref.score(Xte, yte))
            have = got[(kernel, C)]
            expect(len(have) == 2 and all(abs(float(a) - b) < 1e-9 for a, b in zip(have, want)),
                   f"({kernel!r}, C={C}): got (train, test) = {have}, scikit-learn gives {want}")


# ---------------------------------------------------------------- trainings (thresholds measured: README)
CIRCLES_THRESHOLD = 0.95
MNIST_THRESHOLD = 0.98
# The course's learning rate (0.03) leaves 6 to 8 seeds in 20 on a plateau at 60-79 % after 150 epochs (python -m
# autograder determinism --runs 20); with 0.1 every version passed 20 seeds of 20, the lowest at 98.0 %.
CIRCLES_CHECK_ETA = 0.1


def _circles_acc(hist, what):
    acc = hist.test_acc[-1]
    expect_accuracy(acc, CIRCLES_THRESHOLD, f"{what} reaches {acc:.1%} test accuracy on circles after training, "
                                            f"expected at least {CIRCLES_THRESHOLD:.0%}")


@check("train_circles_manual", points=3, tier="train", timeout=60)
def train_circles_manual(sub):
    """The hand-written MLP (course architecture, learning rate 0.1) reaches 95 % test accuracy on circles."""
    from data_scripts import make_circles
    from kit.a1 import train_manual

    _, hist = train_manual(sub.module("mlp"), make_circles(), eta=CIRCLES_CHECK_ETA)
    expect(hist.test_loss[-1] < hist.test_loss[0], "the test loss did not decrease during training")
    _circles_acc(hist, "the manual MLP")


@check("train_circles_torch", points=2, tier="train", timeout=90)
def train_circles_torch(sub):
    """The autograd, nn and optim versions each reach 95 % test accuracy on circles."""
    from data_scripts import make_circles
    from kit.a1 import train_autograd, train_nn

    data = make_circles()
    mlp, mt = sub.module("mlp"), sub.module("mlp_torch")
    _circles_acc(train_autograd(mlp, mt, data, eta=CIRCLES_CHECK_ETA)[1], "the autograd version")
    _circles_acc(train_nn(mt, data, eta=CIRCLES_CHECK_ETA)[1], "the torch.nn version")
    _circles_acc(train_nn(mt, data, eta=CIRCLES_CHECK_ETA, use_optim=True)[1], "the torch.optim version")


@check("train_svm_circles", points=1, tier="train", timeout=60)
def train_svm_circles(sub):
    """The best RBF SVM reaches 95 % test accuracy on circles; the linear kernel cannot separate them."""
    from data_scripts import make_circles

    d = make_circles()
    res = sub.module("svm").svm_accuracies(d.Xtrain.numpy(), d.ytrain.numpy(), d.Xtest.numpy(), d.ytest.numpy())
    best_rbf = max(float(v[1]) for (k, _), v in res.items() if k == "rbf")
    best_linear = max(float(v[1]) for (k, _), v in res.items() if k == "linear")
    expect_accuracy(best_rbf, 0.95, f"best RBF SVM test accuracy is {best_rbf:.1%}, expected at least 95%")
    expect(best_linear < 0.8, f"a linear SVM reports {best_linear:.1%} on circles, which no line can separate")


@check("train_mnist_mlp", points=3, tier="train", timeout=240)
def train_mnist_mlp(sub):
    """The MNIST MLP trained by the kit's loop reaches 98 % test accuracy."""
    from kit.a1 import train_mnist

    _, hist = train_mnist(sub.module("mnist_mlp"), device="cpu")
    acc = hist.test_acc[-1]
    expect_accuracy(acc, MNIST_THRESHOLD, f"the MNIST MLP reaches {acc:.2%} test accuracy after "
                                          f"{len(hist.test_acc)} epochs, expected at least {MNIST_THRESHOLD:.0%}")
