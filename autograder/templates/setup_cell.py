# Set-up. With the kit installed (`make setup`) this cell does nothing. On Colab or a fresh JupyterHub it
# installs the course's student kit, moves into this assignment's folder and fetches the data it uses.
KIT_SOURCE = "__KIT_SOURCE__"  # set by the course's release (pyproject.toml, [tool.dlvision] student-kit-url)
import importlib.util, os, pathlib, shutil, subprocess, sys, urllib.request, zipfile
if importlib.util.find_spec("kit") is None:
    home = pathlib.Path("/content" if "google.colab" in sys.modules else pathlib.Path.home())
    root = home / "student-kit"
    if not (root / "kit").is_dir():
        if not KIT_SOURCE:
            raise SystemExit("The kit is not installed and this notebook has no address to fetch it from: run "
                             "`make setup` in the student kit, or ask your instructor for the kit.")
        archive = home / "student-kit.zip"
        if KIT_SOURCE.startswith(("http://", "https://")):
            urllib.request.urlretrieve(KIT_SOURCE, archive)
        else:
            shutil.copy(KIT_SOURCE, archive)
        with zipfile.ZipFile(archive) as zf:
            top = zf.namelist()[0].split("/")[0]
            zf.extractall(home)
        if top != root.name:
            shutil.move(str(home / top), str(root))
    # the platform's own PyTorch stays (the kit's requirements are ranges, not pins)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "-r", str(root / "requirements.txt")], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(root)], check=True)
    sys.path.insert(0, str(root))
    if pathlib.Path.cwd().name != "__ASSIGNMENT__":  # nbgrader's fetch already put you in your own copy
        os.chdir(root / "assignments" / "__ASSIGNMENT__")
        sys.path.insert(0, os.getcwd())
    subprocess.run([sys.executable, "-m", "data_scripts", "fetch", *__DATASETS__], check=True, cwd=root)
    print(f"kit installed in {root}; your files: {os.getcwd()} (on Colab, download them before the runtime ends)")
import torch
print("device:", "cuda (" + torch.cuda.get_device_name(0) + ")" if torch.cuda.is_available() else "cpu")
