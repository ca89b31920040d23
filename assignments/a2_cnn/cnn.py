"""The course CNN for CIFAR-10 (32x32 colour images, 10 classes) and a per-layer description of it.

The course gives its architecture (given: a2.architecture):
    conv 5x5, 32 filters -> ReLU -> max-pool 2x2
    conv 5x5, 64 filters -> ReLU -> max-pool 2x2
    conv 5x5, 64 filters -> ReLU -> max-pool 2x2
    flatten -> fully-connected 1000 -> ReLU -> fully-connected 10 (logits)

Each convolution keeps the spatial size and each pooling halves it. Which padding and stride do that is yours to
find (layers.same_size_settings and layers.halving_pool_settings, Q5 of the notebook), and so are the sizes of the
feature maps and the number of inputs of the first fully-connected layer. Two switches add the improvements of the
last part: batch normalization after each convolution, dropout before the classifier.
"""
from torch import nn


class CourseCNN(nn.Module):
    """The course CNN; `batch_norm` puts nn.BatchNorm2d after each convolution (before its ReLU), `dropout` > 0
    puts nn.Dropout(dropout) between the ReLU of the 1000-unit layer and the last (classifier) layer.

    forward: (N, 3, 32, 32) float images -> (N, 10) logits: no activation after the last layer (no ReLU, no
    softmax: the loss applies the softmax itself).
    Any way of flattening works (x.view(x.size(0), -1), x.reshape, torch.flatten(x, 1), nn.Flatten()), and
    poolings may be nn.MaxPool2d modules or F.max_pool2d calls; layers may be modules (nn.Conv2d, nn.Linear,
    nn.BatchNorm2d, nn.Dropout) or functional calls (F.conv2d, F.linear, ...) on nn.Parameter weights, stored
    in their usual shapes (conv (out, in, 5, 5), linear (out, in) or (in, out)). The kit trains with batches in the
    channels_last memory layout when your forward accepts them (faster on CPU), in the usual layout otherwise
    (x.view(N, -1) after a convolution needs it).
    """

    def __init__(self, batch_norm=False, dropout=0.0):
        super().__init__()
        # YOUR CODE HERE
        raise NotImplementedError()

    def forward(self, x):
        # YOUR CODE HERE
        raise NotImplementedError()


def layer_table(model, input_shape=(3, 32, 32)):
    """Output shape and number of parameters of each elementary layer of `model`, in the order they run.

    Elementary layers are the modules without sub-modules (nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Linear, ...);
    hint: forward hooks (module.register_forward_hook) see each layer's output during one forward pass.
    Args:
        model: an nn.Module taking (N, *input_shape) tensors.
        input_shape: shape of ONE input, without the batch dimension.
    Returns:
        list of (name, output_shape, n_params) tuples, one per elementary layer, in execution order: name is
        the module's name in model.named_modules() (e.g. "features.0"), output_shape a tuple WITHOUT the
        batch dimension, n_params the number of parameters of that layer (0 for ReLU or pooling).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def fully_convolutional_output_shape(height, width):
    """Output shape of the course CNN turned fully convolutional, on ONE (3, height, width) image.

    Each fully-connected layer is replaced by the convolution (stride 1, no padding) that computes exactly the same
    numbers on a 32x32 image: work out its kernel size and number of filters from the shape of the layer's input.
    On a 32x32 image the network then gives the course CNN's 10 logits as a (10, 1, 1) map. The convolutions and
    the max-poolings are those of CourseCNN (with your answers to Q5); on a larger image no weight has to change.
    Args:
        height, width: ints >= 32, the size of the image.
    Returns:
        (10, H', W'): a tuple of three ints, the shape of the map of class scores (without the batch dimension),
        as nn.Conv2d and nn.MaxPool2d compute it.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def bag_of_words_svm_param_count(vocabulary_size=1000, n_classes=10):
    """Parameters of the previous approach: a linear SVM (one-vs-all) on bag-of-visual-words histograms.

    Args:
        vocabulary_size: number of visual words (the length of an image's histogram); n_classes: number of classes,
            one linear SVM per class (one-vs-all).
    Returns:
        int, the number of parameters the SVMs learn.
    """
    # YOUR CODE HERE
    raise NotImplementedError()
