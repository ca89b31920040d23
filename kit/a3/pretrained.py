"""Assignment 3, large pretrained ViTs (timm): where the pretrained weights come from (decided before anything is
built: a local checkpoint, the hub's cache, or the hub when it answers, else a KitError naming --checkpoint), the
model adapted to small grey images, training from scratch or fine-tuning, checkpoints."""

from __future__ import annotations

import math

import torch

from ..data import MEAN_STD
from ..errors import KitError
from ..loops import fit_module, seed_everything
from .training import load, make_optimizer

TIMM_MODELS = ("vit_small_patch16_224", "vit_base_patch16_224", "vit_tiny_patch16_224")


class NoPretrainedWeights(KitError):
    """No pretrained weights where pretrained_source looked: a KitError (the command lines print it and exit 2; the
    a3 notebook's timm cell catches it and trains from scratch only)."""


def _hub_reachable(timeout=3.0):
    """One short request (proxies honoured); timm itself would retry for about 45 s before failing."""
    import urllib.request

    try:
        urllib.request.urlopen("https://huggingface.co", timeout=timeout)
        return True
    except Exception:
        return False


def pretrained_source(name, checkpoint=None):
    """Decide, before building anything, where the pretrained weights of timm model `name` come from.

    Returns the keyword arguments for timm.create_model: a local file (`checkpoint`, or the hub cache), or the hub
    when it answers. Raises NoPretrainedWeights (a KitError) with a message naming --checkpoint otherwise
    (HF_HUB_OFFLINE set, no network).
    """
    import os
    from pathlib import Path

    import timm

    if checkpoint:
        if not Path(checkpoint).is_file():
            raise NoPretrainedWeights(f"--checkpoint {checkpoint}: no such file")
        return dict(pretrained=True, pretrained_cfg_overlay=dict(file=str(Path(checkpoint).resolve())))
    cfg = timm.models.get_pretrained_cfg(name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    if hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache

            for filename in ("model.safetensors", "pytorch_model.bin"):
                cached = try_to_load_from_cache(hub_id, filename)
                if isinstance(cached, str):
                    return dict(pretrained=True, pretrained_cfg_overlay=dict(file=cached))
        except ImportError:
            pass
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    if hub_id and not offline and _hub_reachable():
        return dict(pretrained=True)
    why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face hub cannot be reached"
    where = f"https://huggingface.co/{hub_id} (model.safetensors)" if hub_id else "timm's hub page of the model"
    raise NoPretrainedWeights(
        f"no pretrained weights for {name}: {why} and they are not in the local cache. "
        f"Download them from {where} on a machine with internet and pass --checkpoint FILE, "
        "or use --mode scratch."
    )


def make_timm_vit(
    name="vit_small_patch16_224",
    mode="scratch",
    adapt="native",
    checkpoint=None,
    nb_classes=10,
    img_size=28,
    in_chan=1,
    patch_size=4,
):
    """A timm ViT for small grey images, with a new head of nb_classes.

    adapt="native": timm builds the model for img_size x img_size images of in_chan channels with patches of
        patch_size (pretrained weights are adapted by timm: patch filters resampled and summed over RGB, positional
        embeddings interpolated to the new grid).
    adapt="resize": the model keeps its 224 x 224 RGB input; `resize_to_224` adapts the images instead.
    mode="finetune" loads the pretrained weights (pretrained_source decides from where), "scratch" does not.
    """
    import timm

    kwargs = pretrained_source(name, checkpoint) if mode == "finetune" else dict(pretrained=False)
    if adapt == "native":
        kwargs.update(img_size=img_size, in_chans=in_chan, patch_size=patch_size)
    elif adapt != "resize":
        raise ValueError(f"unknown adapt {adapt!r}")
    return timm.create_model(name, num_classes=nb_classes, **kwargs)


def resize_to_224(model, mean=0.1307, std=0.3081, size=224):
    """A batch transform: standardized grey images -> [0, 1] -> size x size -> 3 channels -> the model's own
    normalization (the statistics of its pre-training)."""
    import torch.nn.functional as F

    cfg = model.pretrained_cfg
    m = torch.tensor(cfg.get("mean", (0.5, 0.5, 0.5))).view(1, 3, 1, 1)
    s = torch.tensor(cfg.get("std", (0.5, 0.5, 0.5))).view(1, 3, 1, 1)

    def transform(x):
        x = (x * std + mean).clamp(0, 1)
        x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False).expand(-1, 3, -1, -1)
        return (x - m.to(x.device)) / s.to(x.device)

    return transform


def train_timm(
    name="vit_small_patch16_224",
    mode="scratch",
    adapt="native",
    checkpoint=None,
    dataset="mnist",
    epochs=1,
    batch_size=64,
    lr=None,
    limit_train=2000,
    limit_test=1000,
    seed=0,
    device="auto",
    progress=False,
    patch_size=4,
):
    """Train (scratch) or fine-tune (finetune) a timm ViT on mnist | fashion_mnist; returns (model, History).

    The default lr is 1e-4 for fine-tuning (the weights are already good) and 1e-3 from scratch.
    """

    seed_everything(seed)
    model = make_timm_vit(name, mode, adapt, checkpoint, nb_classes=10, patch_size=patch_size)  # fails fast
    Xtrain, ytrain, Xtest, ytest = load(dataset)
    Xtrain, ytrain = Xtrain[:limit_train], ytrain[:limit_train]
    Xtest, ytest = Xtest[:limit_test], ytest[:limit_test]
    lr = lr or (1e-4 if mode == "finetune" else 1e-3)
    opt = make_optimizer(model, epochs * math.ceil(len(Xtrain) / batch_size), lr, "adamw", "onecycle")
    transform = resize_to_224(model, *MEAN_STD[dataset]) if adapt == "resize" else None

    class Adapted(torch.nn.Module):  # evaluation sees the same input adaptation as training
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x):
            return self.model(transform(x) if transform else x)

    wrapped = Adapted()
    hist = fit_module(
        wrapped,
        torch.nn.CrossEntropyLoss(),
        opt,
        Xtrain,
        ytrain,
        Xtest,
        ytest,
        epochs,
        batch_size,
        seed=seed,
        device=device,
        progress=progress,
    )
    return model, hist


def save_checkpoint(model, path):
    """Write a timm model's weights as .safetensors (or .pth), loadable later through --checkpoint."""
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


def transfer(
    name="vit_tiny_patch16_224",
    checkpoint=None,
    dataset="fashion_mnist",
    epochs=3,
    limit_train=5000,
    limit_test=2000,
    seed=0,
    device="auto",
    progress=False,
    **kw,
):
    # kw: batch_size, patch_size (4 by default; 7 gives 16 tokens, about 3x cheaper on a CPU)
    """The same timm ViT trained on `dataset` twice, from scratch and fine-tuned from pretrained weights (the hub's
    ImageNet ones, or `checkpoint`, e.g. the kit's own MNIST pre-training); returns {"scratch": History,
    "finetune": History}. Same data, seed and schedule: only the starting weights differ (and the learning rate,
    lower for fine-tuning)."""
    runs = {}
    for mode in ("scratch", "finetune"):
        _, runs[mode] = train_timm(
            name,
            mode,
            "native",
            checkpoint,
            dataset,
            epochs,
            limit_train=limit_train,
            limit_test=limit_test,
            seed=seed,
            device=device,
            progress=progress,
            **kw,
        )
    return runs
