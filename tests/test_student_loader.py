"""The kit's one way to load a student's code (kit.student), its errors for people (kit.errors.KitError) and the
options every kit command shares (kit.cli)."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from kit.errors import KitError
from kit.student import load_student_module, load_student_modules

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS, ASSIGNMENTS = ROOT / "solutions", ROOT / "assignments"


# ---------------------------------------------------------------- always from the folder asked for
@pytest.mark.quick
@pytest.mark.parametrize("first", ["solutions", "assignments"])
def test_two_folders_in_one_process_give_two_modules(first):
    """The reference and the stubs, loaded one after the other in either order, are two modules from two files: the
    reference's init_params draws weights, the stub's raises NotImplementedError."""
    folders = {"solutions": SOLUTIONS / "a1_intro_nn", "assignments": ASSIGNMENTS / "a1_intro_nn"}
    order = [first, *(f for f in folders if f != first)]
    loaded = {name: load_student_modules(folders[name], ["mlp", "mlp_torch"]) for name in order}
    ref, stub = loaded["solutions"], loaded["assignments"]
    for name in ("mlp", "mlp_torch"):
        assert ref[name] is not stub[name]
        assert Path(ref[name].__file__) == folders["solutions"] / f"{name}.py"
        assert Path(stub[name].__file__) == folders["assignments"] / f"{name}.py"
    assert set(ref["mlp"].init_params(2, 3, 2)) == {"Wh", "bh", "Wy", "by"}
    with pytest.raises(NotImplementedError):
        stub["mlp"].init_params(2, 3, 2)
    # the module last loaded is the one `import mlp` finds now
    assert sys.modules["mlp"] is loaded[order[-1]]["mlp"]


@pytest.mark.quick
def test_student_modules_import_each_other_from_the_same_folder():
    """vit.py does `from attention import MultiHeadsSelfAttention`: it gets attention.py of its own folder, even
    after the other folder's attention module was imported."""

    def attention_file(vit):  # inspect.getfile(a class) would ask sys.modules, which holds the last one loaded
        return Path(vit.MultiHeadsSelfAttention.__init__.__code__.co_filename)

    ref = load_student_module(SOLUTIONS / "a3_transformers", "vit")
    stub = load_student_module(ASSIGNMENTS / "a3_transformers", "vit")
    assert attention_file(ref) == SOLUTIONS / "a3_transformers" / "attention.py"
    assert attention_file(stub) == ASSIGNMENTS / "a3_transformers" / "attention.py"
    again = load_student_module(SOLUTIONS / "a3_transformers", "vit")
    assert attention_file(again) == SOLUTIONS / "a3_transformers" / "attention.py"


@pytest.mark.quick
def test_a_file_is_executed_as_it_is_now(tmp_path):
    (tmp_path / "answer.py").write_text("VALUE = 1\n")
    assert load_student_module(tmp_path, "answer").VALUE == 1
    (tmp_path / "answer.py").write_text("VALUE = 22\n")  # another size: no stale bytecode either
    assert load_student_module(tmp_path, "answer").VALUE == 22


@pytest.mark.quick
def test_the_kit_commands_use_the_shared_loader():
    """kit.a2's loader (kept for its callers) returns the folder's modules, whatever was imported before."""
    from autograder.tools import bench
    from kit import a2

    ref_cnn, _ = a2.student_modules(str(SOLUTIONS / "a2_cnn"))
    stub_cnn, _ = a2.student_modules(str(ASSIGNMENTS / "a2_cnn"))
    assert Path(ref_cnn.__file__).parent == SOLUTIONS / "a2_cnn"
    assert Path(stub_cnn.__file__).parent == ASSIGNMENTS / "a2_cnn"
    (cnn,) = bench._modules(SOLUTIONS / "a2_cnn", ["cnn"])
    assert Path(cnn.__file__).parent == SOLUTIONS / "a2_cnn"


# ---------------------------------------------------------------- errors for people
@pytest.mark.quick
def test_missing_folder_or_file_is_a_kit_error(tmp_path):
    with pytest.raises(KitError, match="no such folder"):
        load_student_modules(tmp_path / "nowhere", ["mlp"])
    (tmp_path / "mlp.py").write_text("")
    with pytest.raises(KitError, match=r"mlp_torch\.py not found: the folder should hold mlp\.py and mlp_torch\.py"):
        load_student_modules(tmp_path, ["mlp", "mlp_torch"])


@pytest.mark.quick
@pytest.mark.parametrize(
    "source, error, words",
    [
        ("x = 1\ndef f(:\n    pass\n", "syntax error", "line 2"),
        ("import torch\n\nraise ValueError('bad shape')\n", "raised ValueError: bad shape", "line 3"),
        ("import sys\nsys.exit(3)\n", "raised SystemExit: 3", "line 2"),
    ],
)
def test_a_file_that_does_not_import_names_its_line(tmp_path, source, error, words):
    (tmp_path / "broken.py").write_text(source)
    with pytest.raises(KitError) as caught:
        load_student_module(tmp_path, "broken")
    message = str(caught.value)
    assert str(tmp_path / "broken.py") in message and error in message and words in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert "broken" not in sys.modules


@pytest.mark.quick
def test_an_error_in_an_imported_sibling_names_the_sibling(tmp_path):
    (tmp_path / "vit.py").write_text("from attention import Attention\n")
    (tmp_path / "attention.py").write_text("\n\nclass Attention:\n    size = 1 / 0\n")
    with pytest.raises(KitError, match=r"attention\.py, line 4: importing vit\.py raised ZeroDivisionError"):
        load_student_module(tmp_path, "vit")


@pytest.mark.quick
def test_a_command_ends_with_one_error_line_and_exit_status_2(tmp_path):
    """No traceback: the message and exit status 2 (what was asked for cannot be done), for every kit command."""
    missing = str(tmp_path / "missing")
    for argv in (
        ["kit.a1", "circles", "--folder", missing],
        ["kit.a2", "train", "--code", missing],
        ["kit.a3", "train", "--folder", missing],
        ["kit.a4", "synthetic", "--folder", missing],
    ):
        proc = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2, (argv, proc.stderr)
        assert proc.stderr.startswith("error: ") and "no such folder" in proc.stderr, (argv, proc.stderr)
        assert "Traceback" not in proc.stderr


@pytest.mark.quick
def test_no_pretrained_weights_is_a_kit_error(tmp_path):
    from kit import a3

    with pytest.raises(KitError, match="no such file"):
        a3.pretrained_source("vit_tiny_patch16_224", checkpoint=str(tmp_path / "missing.pth"))


@pytest.mark.quick
def test_library_code_raises_no_system_exit():
    """Only the command-line layer (kit/cli.py) ends the process; everything else raises KitError."""

    def is_main_block(node):  # if __name__ == "__main__": the command line itself
        return isinstance(node, ast.If) and "__main__" in ast.unparse(node.test)

    found = []
    for path in sorted((ROOT / "kit").rglob("*.py")):
        if path.name in ("cli.py", "__main__.py"):
            continue
        library = [n for n in ast.parse(path.read_text()).body if not is_main_block(n)]
        for node in (n for top in library for n in ast.walk(top)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                call = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if getattr(call, "id", getattr(call, "attr", "")) == "SystemExit":
                    found.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Call) and ast.unparse(node.func) in ("sys.exit", "exit", "os._exit"):
                found.append(f"{path.name}:{node.lineno} {ast.unparse(node.func)}")
    assert not found, found


# ---------------------------------------------------------------- one command-line skeleton
def _help(main, argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main([*argv, "--help"])
    assert caught.value.code == 0
    return capsys.readouterr().out


@pytest.mark.quick
def test_every_kit_command_takes_folder_device_and_seed(capsys):
    from autograder.tools import bench
    from kit import a1, a2, a3, a4

    for main, argv in (
        (a1.main, []),
        (a2.main, ["train"]),
        (a2.main, ["ablation"]),
        (a3.main, ["train"]),
        (a3.main, ["study"]),
        (a3.main, ["timm"]),
        (a4.main, []),
        (bench.main, []),
    ):
        text = _help(main, argv, capsys)
        for option in ("--folder FOLDER", "--device DEVICE", "--seed SEED"):
            assert option in text, (main.__module__, argv, option)
        assert "--code" not in text  # kit.a2's former name for --folder: still accepted, not shown


@pytest.mark.quick
def test_old_folder_option_and_device_names():
    import argparse

    from kit.cli import add_common_options

    parser = add_common_options(argparse.ArgumentParser(), "default/folder", "x.py", old_folder_options=("--code",))
    assert parser.parse_args([]).folder == "default/folder"
    assert parser.parse_args(["--code", "a"]).folder == "a" and parser.parse_args(["--folder", "b"]).folder == "b"
    assert parser.parse_args(["--device", "cuda:1", "--seed", "3"]).device == "cuda:1"
    with pytest.raises(SystemExit):
        parser.parse_args(["--device", "gpu"])


@pytest.mark.quick
def test_one_seed_everything(monkeypatch):
    """kit.loops.seed_everything adds KIT_SEED_OFFSET (every training of the kit) unless offset=False (a seed used
    as it is, like the grader's seed of a check)."""
    from kit import loops

    monkeypatch.setattr(loops, "SEED_OFFSET", 5)
    loops.seed_everything(1)
    shifted = torch.rand(3)
    loops.seed_everything(1, offset=False)
    exact = torch.rand(3)
    torch.manual_seed(6)
    assert torch.equal(shifted, torch.rand(3))
    torch.manual_seed(1)
    assert torch.equal(exact, torch.rand(3))
