"""Support vector machines on the circles data, with scikit-learn's SVC."""
from sklearn.svm import SVC

KERNELS = ("linear", "poly", "rbf", "sigmoid")
C_VALUES = (0.01, 0.1, 1.0, 10.0, 100.0)


def make_svm(kernel, C):
    """An (unfitted) sklearn SVC with the given kernel and regularization C; other settings at their defaults."""
    # YOUR CODE HERE
    raise NotImplementedError()


def svm_accuracies(Xtrain, ytrain, Xtest, ytest, kernels=KERNELS, C_values=C_VALUES):
    """Fit one SVM per (kernel, C) pair on the training set and measure it on a held-out set.

    The held-out pair (Xtest, ytest) is whatever set you measure on: to SELECT a kernel and C, pass a validation
    split (kit.a1.svm_split); only the selected SVM is then measured on the test set, once.
    Args:
        Xtrain: (N, 2) array; ytrain: (N,) class indices; same for the held-out set.
    Returns:
        dict mapping (kernel, C) to (train accuracy, held-out accuracy), floats in [0, 1].
    """
    # YOUR CODE HERE
    raise NotImplementedError()
