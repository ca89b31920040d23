"""Assignment 3, the hyper-parameter study: one ViT per value of each hyper-parameter, ranked on a validation split
held out of the training images; the test set is read once, by the configuration ranked first."""

from __future__ import annotations

import torch

from ..loops import evaluate_module
from .training import count_parameters, load, train_vit

# Values tried for each hyper-parameter, the others staying at COURSE_VIT.
STUDY_VALUES = {
    "embed_dim": [16, 32, 64],
    "patch_size": [4, 7, 14],
    "nb_blocks": [1, 2, 4],
    "nb_heads": [1, 2, 4, 8],
    "mlp_ratio": [1, 2, 4],  # integers, as the course passes them
}
# `validation`: training images held out (a fixed random draw, never trained on) that rank the configurations;
# the test set is read once, by the configuration ranked first (limit_test: its first images only).
STUDY_BUDGET = {
    "small": dict(epochs=1, limit_train=4000, validation=1000, limit_test=1000),  # tests, CI: the code runs
    "full": dict(epochs=3, limit_train=20000, validation=5000),
}


def validation_split(n: int, size: int, seed: int = 0):
    """(train indices, validation indices): a fixed random draw of `size` of the `n` training images held out."""
    if not 0 < size < n:
        raise ValueError(f"validation={size}: hold out between 1 and {n - 1} of the {n} training images")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(1_000_003 + seed))
    return order[size:].sort().values, order[:size].sort().values


def split_validation(data, size: int, seed: int = 0):
    """(Xtrain, ytrain, Xval, yval, Xtest, ytest): `size` training images held out as a validation set."""
    Xtrain, ytrain, Xtest, ytest = data
    keep, held_out = validation_split(len(Xtrain), size, seed)
    return Xtrain[keep], ytrain[keep], Xtrain[held_out], ytrain[held_out], Xtest, ytest


class StudyRows(list):
    """The rows of a study (one per configuration, ranked by validation accuracy), and `selected`: the row of the
    configuration ranked first with its test accuracy, the only time the study reads the test set."""

    selected: dict | None = None


def study(
    vit, params=None, dataset="mnist", budget="small", seed=0, device="auto", progress=False, folder=None, values=None
):
    """Train one ViT per value of each hyper-parameter (others at the course's defaults), rank them on a
    validation split held out of the training images, and read the test set once, for the best one.

    Returns StudyRows: rows {param, value, parameters, val_acc, seconds}, and `.selected`, the best row with its
    `test_acc`. With `folder`, also writes study.json, study.md (the table) and one bar chart (validation accuracy)
    per hyper-parameter, <param>.png.
    """
    import json
    from pathlib import Path

    from ..plots import plot_bars

    values = values or STUDY_VALUES
    params = params or list(values)
    budget_kw = dict(STUDY_BUDGET[budget] if isinstance(budget, str) else budget)
    size = budget_kw.pop("validation", None) or 5000
    limit_test = budget_kw.pop("limit_test", None)
    Xtrain, ytrain, Xval, yval, Xtest, ytest = split_validation(load(dataset), size, seed)
    rows, best, best_model = StudyRows(), None, None
    for param in params:
        for v in values[param]:
            # the validation images stand in for the test set during training: every curve is on validation
            model, hist = train_vit(
                vit,
                dataset,
                config={param: v},
                seed=seed,
                device=device,
                data=(Xtrain, ytrain, Xval, yval),
                **budget_kw,
            )
            rows.append(
                {
                    "param": param,
                    "value": v,
                    "parameters": count_parameters(model),
                    "val_acc": hist.test_acc[-1],
                    "seconds": hist.seconds[-1],
                }
            )
            if best is None or (rows[-1]["val_acc"], -rows[-1]["parameters"]) > (best["val_acc"], -best["parameters"]):
                best, best_model = rows[-1], model
            if progress:
                print(
                    f"{param}={v}: {rows[-1]['parameters']} parameters, validation accuracy "
                    f"{hist.test_acc[-1]:.2%}, {hist.seconds[-1]:.1f} s",
                    flush=True,
                )
        if folder:
            mine = {
                f"{param}={r['value']}\n{r['parameters'] / 1000:.1f}k": r["val_acc"]
                for r in rows
                if r["param"] == param
            }
            plot_bars(
                mine,
                Path(folder) / f"{param}.png",
                ylabel="validation accuracy",
                title=f"{dataset}: {param} (others: course defaults)",
            )
    if best is not None:
        if limit_test:
            Xtest, ytest = Xtest[:limit_test], ytest[:limit_test]
        _, test_acc = evaluate_module(
            best_model, torch.nn.CrossEntropyLoss(), Xtest, ytest, device=next(best_model.parameters()).device
        )
        rows.selected = {**best, "test_acc": test_acc, "test_images": len(Xtest)}
    if folder:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "study.json").write_text(
            json.dumps(
                {"dataset": dataset, "budget": budget_kw, "validation": size, "rows": rows, "selected": rows.selected},
                indent=2,
            )
        )
        (folder / "study.md").write_text(study_table(rows))
    return rows


def study_table(rows):
    """The study as a markdown table (validation accuracy), and the test accuracy of the selected configuration."""
    lines = ["| parameter | value | parameters | validation accuracy | train seconds |", "|---|---|---|---|---|"]
    lines += [
        f"| {r['param']} | {r['value']} | {r['parameters']} | {r['val_acc']:.2%} | {r['seconds']:.1f} |" for r in rows
    ]
    selected = getattr(rows, "selected", None)
    if selected:
        lines += [
            "",
            f"Selected on validation: {selected['param']}={selected['value']} ({selected['val_acc']:.2%}); "
            f"its test accuracy, the only reading of the test set: {selected['test_acc']:.2%} "
            f"({selected['test_images']} test images).",
        ]
    return "\n".join(lines) + "\n"
