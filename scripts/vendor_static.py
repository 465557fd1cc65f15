"""Vendor the browser assets of the web app from pinned npm packages, with their licences.

    python scripts/vendor_static.py           refresh: fetch each pinned package with ``npm pack``,
                                              check its sha512 against the pinned integrity, copy
                                              the files we serve (transformed where said) and
                                              write their checksums to MANIFEST.json
    python scripts/vendor_static.py --check   verify the vendored files against MANIFEST.json
                                              (no network; a test runs it)

Nothing here is in the run path: the files are committed and served by WhiteNoise. Node's npm
is needed only to refresh them (it knows the registry; we name no host). htmx 2 and its SSE
extension are not vendored: django-htmx (PyPI, pinned in pyproject.toml) ships them as static
files.

To move to a new version: change ``version`` and ``integrity`` below (``npm view
NAME@VERSION dist.integrity``), run the script, look at the diff, run the web tests.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = ROOT / "web" / "static" / "web" / "vendor" / "MANIFEST.json"

# Text and numbers of the clinic's UI come in the system's own fonts: nothing is loaded from
# another host, and nothing of NHS branding (the Frutiger web font is theirs) remains.
SYSTEM_FONTS = 'system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif'

MIT_NHSUK = """The MIT License (MIT)

Copyright (c) Crown Copyright (NHS England)

Permission is hereby granted, free of charge, to any person obtaining a copy of this software
and associated documentation files (the "Software"), to deal in the Software without
restriction, including without limitation the rights to use, copy, modify, merge, publish,
distribute, sublicense, and/or sell copies of the Software, and to permit persons to whom the
Software is furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all copies or
substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING
BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND
NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM,
DAMAGES OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.

(nhsuk-frontend declares "license": "MIT" in its package.json and ships no licence file; this
is the MIT licence its repository carries. Its README: "The codebase is released under the MIT
Licence, unless stated otherwise.")
"""


def nhsuk_css(text: str) -> str:
    """Drop the web font (its @font-face rules load it from NHS servers) for the system's fonts,
    and point the icons at the copies vendored beside the stylesheet."""
    text = re.sub(r"@font-face\{[^}]*\}", "", text)
    text = text.replace("font-family:Frutiger W01,arial,sans-serif", f"font-family:{SYSTEM_FONTS}")
    text = text.replace("font-family:Frutiger W01", f"font-family:{SYSTEM_FONTS}")
    text = text.replace("url(/assets/images/", "url(images/")
    text = re.sub(r"/\*# sourceMappingURL=[^*]*\*/", "", text)
    if "Frutiger" in text or "https://" in text:
        raise SystemExit("nhsuk-frontend: the stylesheet still names the web font or another host")
    return text


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    integrity: str  # npm's dist.integrity
    dest: Path
    files: dict[str, str]  # path in the package → path under dest
    transforms: dict[str, Callable[[str], str]] = field(default_factory=dict)  # by path in the package
    licence_text: str | None = None  # when the package ships no licence file


PACKAGES = [
    Package(
        name="nhsuk-frontend",
        version="10.6.1",
        integrity="sha512-PZorqQZjZx/A26yJoskCL9z0ib6AtkAyF0o4K/RHr8zRrJyXrUOCnMbjy0VNXsGO4tfTNMwqlkwATKs4a0xayw==",
        dest=ROOT / "web" / "static" / "web" / "vendor" / "nhsuk-frontend",
        files={
            "dist/nhsuk/nhsuk-frontend.min.css": "nhsuk-frontend.min.css",
            **{
                f"dist/nhsuk/assets/images/nhsuk-icon-{icon}.svg": f"images/nhsuk-icon-{icon}.svg"
                for icon in ("arrow-down", "arrow-up", "arrow-up-down", "cross")
            },
        },
        transforms={"dist/nhsuk/nhsuk-frontend.min.css": nhsuk_css},
        licence_text=MIT_NHSUK,
    ),
    Package(
        # For the tests only: injected into pages by tests/web (never served by the app).
        name="axe-core",
        version="4.14.1",
        integrity="sha512-FHfa+lmNjQZfJz1q8wKqIDwC6DExcHt/pkjNQb09a3NPjCKg2rhu5qb2S4r76ASyFNNtuFooJpZe37OgudVGtQ==",
        dest=ROOT / "tests" / "support" / "axe",
        files={"axe.min.js": "axe.min.js", "LICENSE": "LICENSE"},
    ),
]


def sri(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetch(package: Package, workdir: Path) -> Path:
    """The package's tarball from the registry npm is configured for, checked against the pin."""
    out = subprocess.run(
        ["npm", "pack", f"{package.name}@{package.version}", "--json", "--pack-destination", str(workdir)],
        check=True,
        capture_output=True,
        text=True,
        cwd=workdir,
    )
    tarball = workdir / str(json.loads(out.stdout)[0]["filename"])
    found = sri(tarball.read_bytes())
    if found != package.integrity:
        raise SystemExit(f"{package.name}@{package.version}: integrity {found} is not the pinned {package.integrity}")
    return tarball


def refresh() -> None:
    manifest: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for package in PACKAGES:
            tarball = fetch(package, Path(tmp))
            with tarfile.open(tarball) as archive:
                for source, target in package.files.items():
                    member = archive.extractfile(f"package/{source}")
                    if member is None:
                        raise SystemExit(f"{package.name}: no {source} in the package")
                    data = member.read()
                    if source in package.transforms:
                        data = package.transforms[source](data.decode()).encode()
                    path = package.dest / target
                    path.parent.mkdir(parents=True, exist_ok=True)
                    path.write_bytes(data)
            if package.licence_text is not None:
                (package.dest / "LICENSE").write_text(package.licence_text)
            files = sorted({*package.files.values(), "LICENSE"})
            manifest[package.name] = {
                "version": package.version,
                "integrity": package.integrity,
                "dest": str(package.dest.relative_to(ROOT)),
                "files": {name: sha256(package.dest / name) for name in files},
            }
            print(f"{package.name}@{package.version}: {len(files)} files in {package.dest.relative_to(ROOT)}")
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    MANIFEST.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def check() -> list[str]:
    """Problems with the vendored files: missing, changed by hand, or pins out of step."""
    manifest = json.loads(MANIFEST.read_text())
    problems = []
    for package in PACKAGES:
        entry = manifest.get(package.name)
        if entry is None or entry["version"] != package.version or entry["integrity"] != package.integrity:
            problems.append(f"{package.name}: MANIFEST.json is not of the pinned version: run the script")
            continue
        for name, digest in entry["files"].items():
            path = ROOT / entry["dest"] / name
            if not path.exists():
                problems.append(f"{path.relative_to(ROOT)}: missing")
            elif sha256(path) != digest:
                problems.append(f"{path.relative_to(ROOT)}: differs from the vendored file (edited by hand?)")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="verify the vendored files; fetch nothing")
    options = parser.parse_args()
    if options.check:
        problems = check()
        for problem in problems:
            print(problem)
        print("vendored files: ok" if not problems else f"vendored files: {len(problems)} problem(s)")
        return 1 if problems else 0
    refresh()
    return 0


if __name__ == "__main__":
    sys.exit(main())
