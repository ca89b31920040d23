# Set-up. With the kit installed (`make setup`) this cell does nothing. On Colab or a fresh JupyterHub it
# installs the course's student kit, moves into this assignment's folder and fetches the data it uses.
KIT_SOURCE = "__KIT_SOURCE__"  # set by the course's release (pyproject.toml, [tool.dlvision] student-kit-url)
import importlib.metadata, importlib.util, os, pathlib, re, shutil, subprocess, sys, urllib.request, zipfile
# the platform's own Jupyter: installing or upgrading it breaks a running Colab or JupyterHub session
PLATFORM_OWN = {"jupyterlab", "notebook", "ipykernel", "jupyter", "jupyter-server", "jupyter-client"}
def lacking(requirements):
    """The requirement lines whose package the platform lacks (the platform's own versions stay)."""
    found = []
    for line in requirements.read_text().splitlines():
        line = line.split("#")[0].strip()
        name = re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].strip().lower()
        if not name or name in PLATFORM_OWN:
            continue
        try:
            importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            found.append(line)
    return found
if importlib.util.find_spec("kit") is None:
    home = pathlib.Path("/content" if "google.colab" in sys.modules else pathlib.Path.home())
    root = home / "student-kit"
    if not (root / "kit").is_dir():
        archive = home / "student-kit.zip"  # uploaded by the student, or fetched from the course's address
        if KIT_SOURCE and not archive.exists():
            if KIT_SOURCE.startswith(("http://", "https://")):
                urllib.request.urlretrieve(KIT_SOURCE, archive)
            else:
                shutil.copy(KIT_SOURCE, archive)
        if not archive.exists():
            raise SystemExit(f"The kit is not installed: upload student-kit.zip (from your course's page) to {home} "
                             "(on Colab: the Files pane on the left), then run this cell again.")
        with zipfile.ZipFile(archive) as zf:
            top = zf.namelist()[0].split("/")[0]
            zf.extractall(home)
        if top != root.name:
            shutil.move(str(home / top), str(root))
    missing = lacking(root / "requirements.txt")
    if missing:
        print("installing what this platform lacks:", ", ".join(missing))
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", *missing], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "-e", str(root)], check=True)
    sys.path.insert(0, str(root))
    if pathlib.Path.cwd().name != "__ASSIGNMENT__":  # nbgrader's fetch already put you in your own copy
        os.chdir(root / "assignments" / "__ASSIGNMENT__")
        sys.path.insert(0, os.getcwd())
    subprocess.run([sys.executable, "-m", "data_scripts", "fetch", *__DATASETS__], check=True, cwd=root)
    print(f"kit installed in {root}; your files: {os.getcwd()} (on Colab, download them before the runtime ends)")
import torch
print("device:", "cuda (" + torch.cuda.get_device_name(0) + ")" if torch.cuda.is_available() else "cpu")
