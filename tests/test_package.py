"""The package's layout: every module can be imported by its dotted name."""

import importlib
import pkgutil
import types

import iqa_keras


def test_no_name_of_a_package_hides_one_of_its_modules():
    # `from iqa_keras.metrics.ssim import ssim` in iqa_keras/metrics/__init__.py once made
    # `iqa_keras.metrics.ssim` the function, and `import iqa_keras.metrics.ssim as m` gave it.
    names = [info.name for info in pkgutil.walk_packages(iqa_keras.__path__, "iqa_keras.")]
    hidden = []
    for name in names:
        module = importlib.import_module(name)
        parent, _, child = name.rpartition(".")
        if getattr(importlib.import_module(parent), child) is not module:
            hidden.append(name)
    assert len(names) > 40 and all(isinstance(importlib.import_module(n), types.ModuleType) for n in names)
    assert hidden == []


def test_the_readme_layout_names_every_module_and_package_of_the_tree():
    import pathlib
    import re

    root = pathlib.Path(__file__).resolve().parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"^  (\w+(?:\.py|/)?)\s", layout, flags=re.MULTILINE))
    package = root / "iqa_keras"
    present = {path.name + ("/" if path.is_dir() and not path.is_symlink() else "")
               for path in package.iterdir()
               if not path.name.startswith(("_", ".")) and (path.suffix == ".py" or path.is_dir())}
    assert listed == present
