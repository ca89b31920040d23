"""Training a CNN: one epoch of training or evaluation, and the improvements of the last part
(standardization, data augmentation, learning-rate schedule).

Images are batches of float tensors (N, C, H, W); the kit moves them to the right device before they reach you.
"""
import torch


def epoch(data, model, criterion, optimizer=None):
    """One pass over `data`: trains `model` when an optimizer is given, else only evaluates it.

    Training: the model is in train mode (dropout active, batch norm uses batch statistics) and each batch does
    forward, loss, backward and an optimizer step. Evaluation: the model is in eval mode and no graph is built
    (torch.no_grad()), the weights must not change.
    Args:
        data: iterable of (inputs (B, C, H, W), targets (B,) int64 class indices) batches; batch sizes may differ.
            The kit's batches may arrive in the channels_last memory layout (same values, another order in
            memory); they are already on the model's device.
        model: nn.Module mapping inputs to (B, n_classes) logits (at least 10 classes, also when grading).
        criterion: loss module returning the MEAN loss of a batch (nn.CrossEntropyLoss()).
        optimizer: a torch.optim optimizer, or None to evaluate.
    Returns:
        (mean loss, accuracy): two floats, averaged over all the examples of the pass (not over batches); the
        accuracy is the top-1 FRACTION in [0, 1] (0.53, not 53 %). You may compute more (a top-5 accuracy, as
        in the course), but return these two.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def channel_stats(X):
    """Per-channel mean and standard deviation of a set of images.

    Args:
        X: (N, C, H, W) float tensor.
    Returns:
        (mean, std): two (C,) tensors, statistics over all the images and pixels of each channel.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def standardize(X, mean, std):
    """Subtract `mean` and divide by `std`, channel by channel.

    Args:
        X: (N, C, H, W) images; mean, std: (C,) tensors.
    Returns:
        (N, C, H, W) tensor.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def random_crop_flip(X, padding=4, generator=None):
    """Data augmentation on a whole batch at once: random crop after zero padding, then random horizontal flip.

    Each image is padded with `padding` zeros on each side, a crop of the original size is taken at a random
    position (independently for each image, every position equally likely), and the crop is mirrored
    left-right with probability 1/2. No Python loop over the images: index the whole batch at once.
    Args:
        X: (N, C, H, W) tensor.
        padding: int.
        generator: torch.Generator for the random draws (None: the global one).
    Returns:
        (N, C, H, W) tensor, on the same device as X.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def make_transforms(Xtrain, standardize_inputs=True, augment=True):
    """The functions applied to each batch, for training and for evaluation.

    Standardization uses the statistics of the TRAINING images only (the test set is never looked at); it is
    done first, then augmentation (so zero padding is the mean colour). Augmentation (random_crop_flip with
    padding 4) applies to training batches only: evaluation must be deterministic.
    Args:
        Xtrain: (N, C, H, W) training images.
        standardize_inputs, augment: the two switches.
    Returns:
        (train_transform, test_transform): functions (B, C, H, W) tensor -> (B, C, H, W) tensor.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def make_scheduler(optimizer, gamma=0.95):
    """A learning-rate schedule that multiplies the learning rate by `gamma` after each epoch.

    Returns:
        a torch.optim.lr_scheduler object (the kit calls its .step() once per epoch).
    """
    # YOUR CODE HERE
    raise NotImplementedError()
