"""Layer arithmetic of convolutional networks: output sizes, weight counts, receptive fields.

All sizes are along ONE spatial dimension (call the functions once for the height and once for the width):
a 5x3 kernel on a 32x20 image is conv_output_size(32, 5, ...) by conv_output_size(20, 3, ...).
"""


def conv_output_size(size, kernel, padding=0, stride=1):
    """Output size of a convolution (or a pooling) along one spatial dimension.

    Args:
        size: input size (int), e.g. the height of the image.
        kernel: kernel size along that dimension.
        padding: zeros added on EACH side.
        stride: step between two positions of the kernel.
    Returns:
        int, the number of positions of the kernel (as nn.Conv2d and nn.MaxPool2d compute it).
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def conv_weight_count(in_channels, out_channels, kernel_h, kernel_w, bias=True):
    """Number of learned parameters of a convolution layer (as sum of numel() of nn.Conv2d's parameters).

    Args:
        in_channels, out_channels: channels C of the input and number of filters (output channels).
        kernel_h, kernel_w: kernel size.
        bias: whether each filter has a bias.
    Returns:
        int.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def fully_connected_weight_count(in_shape, out_shape, bias=True):
    """Number of parameters of a fully-connected layer mapping a (C, H, W) input to a (C', H', W') output.

    This is what a convolution would cost without weight sharing nor locality: every output value is
    connected to every input value.
    Args:
        in_shape: (C, H, W) of the input; out_shape: (C', H', W') of the output.
        bias: one bias per output value.
    Returns:
        int.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def same_size_settings(kernel):
    """Padding and stride with which a convolution of odd size `kernel` keeps the spatial size.

    Returns:
        (padding, stride): two ints, in the order of conv_output_size's arguments (as halving_pool_settings),
        such that conv_output_size(n, kernel, padding, stride) == n for every n.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def halving_pool_settings(kernel):
    """Padding and stride with which a max-pooling of size `kernel` halves an even spatial size.

    Args:
        kernel: pooling window size, 1 <= kernel <= 7.
    Returns:
        (padding, stride): two ints, in the same order as same_size_settings (padding first, as in
        conv_output_size's arguments), such that conv_output_size(n, kernel, padding, stride) == n // 2 for every
        even n >= kernel; nn.MaxPool2d also requires padding <= kernel // 2.
    """
    # YOUR CODE HERE
    raise NotImplementedError()


def receptive_field(layers):
    """Receptive field (along one dimension) of one output unit of a stack of convolution / pooling layers.

    Args:
        layers: list of (kernel, stride) pairs, first layer first; padding does not change the receptive
            field. Example: [(3, 1), (3, 1)] for two 3x3 convolutions of stride 1.
    Returns:
        int, the number of input pixels (along one dimension) that can influence one output unit.
    """
    # YOUR CODE HERE
    raise NotImplementedError()
