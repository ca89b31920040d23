"""python -m autograder.tools.protocols: a short protocol trained over seeds, kept as a docs/data record, and the
table and figures make docs writes from it."""

import json

import pytest
import torch

from autograder.tools import docs, protocols
from kit.a2.training import ABLATION

pytestmark = pytest.mark.quick


def _images(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 3, 32, 32, generator=g), torch.randint(0, 10, (n,), generator=g)


def test_every_variant_and_seed_is_measured_and_saved_as_it_goes(tmp_path):
    data = (*_images(48, 0), *_images(16, 1))
    saved = []
    tiny = dict(limit_train=None, limit_test=None, validation=16, epochs=1, batch_size=16)
    results = protocols.measure("a2.laptop", [0, 1], lambda r: saved.append(len(r["runs"])), data=data, **tiny)
    assert saved == list(range(1, 2 * len(ABLATION) + 1)), "saved after every training"
    assert [(r["seed"], r["variant"]) for r in results["runs"]] == [(s, v) for s in (0, 1) for v, _ in ABLATION]
    assert results["settings"]["epochs"] == 1 and all(0 <= r["best_val_acc"] <= 1 for r in results["runs"])


def _record(runs):
    return {
        "kind": "protocol",
        "machine": "2-core Test CPU, no GPU, torch 2.14.1",
        "command": "python -m autograder.tools.protocols a2.laptop --seeds 0 1",
        "date": "2026-12-07",
        "file": "protocol-a2.laptop-2026-12-07.json",
        "results": {
            "recipe": "a2.laptop",
            "settings": {"epochs": 15},
            "variants": ["vanilla", "+standardize"],
            "runs": runs,
        },
    }


def _run(seed, variant, val, train, seconds):
    return {"seed": seed, "variant": variant, "best_val_acc": val, "train_acc": train, "wall_seconds": seconds}


def test_the_table_gives_the_spread_over_seeds_and_how_often_each_step_helped():
    record = _record(
        [
            _run(0, "vanilla", 0.55, 0.86, 93.0),
            _run(0, "+standardize", 0.58, 0.94, 76.0),
            _run(1, "vanilla", 0.56, 0.85, 90.0),
            _run(1, "+standardize", 0.55, 0.93, 80.0),
        ]
    )
    table = docs.render_protocol_table(record)
    assert "| vanilla | 55.0–56.0 % | – | 85.0–86.0 % | 90–93 s |" in table
    assert "| +standardize | 55.0–58.0 % | −1.0 to +3.0 points (1 of 2) | 93.0–94.0 % | 76–80 s |" in table
    # the notebook's figure: one seed's whole protocol, the slowest seed
    assert (
        docs.figure("protocol a2.laptop time", [record]) == "about 3 min on a 2-core Test CPU"
    )  # median of 169 and 170 s
    assert docs.figure('protocol a2.laptop change "+standardize"', [record]) == "−1.0 to +3.0 points, in 1 of 2 seeds"
    assert docs.figure("protocol a2.laptop val vanilla", [record]) == "55.0–56.0 % over 2 seeds"
    with pytest.raises(docs.DocsError, match="no change for variant 'vanilla'"):
        docs.figure("protocol a2.laptop change vanilla", [record])
    with pytest.raises(docs.DocsError, match="no protocol record of a2.other"):
        docs.figure("protocol a2.other time", [record])


def test_the_record_is_one_docs_can_load(tmp_path):
    (tmp_path / "protocol-a2.laptop-2026-12-07.json").write_text(json.dumps(_record([_run(0, "vanilla", 0.5, 0.6, 9)])))
    records = docs.load_measurements(tmp_path)
    assert records[0]["kind"] == "protocol"
    assert "a2.laptop: the stacked ablation over 1 seeds" in docs.render_protocol(records[0], tmp_path)
