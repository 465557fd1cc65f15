"""The layers of docs/architecture.md, as far as the database goes: every foreign key that crosses
apps points down the layers and adds no reverse accessor to the app below."""

from __future__ import annotations

from django.apps import apps
from django.db import models
from django.test.utils import isolate_apps

# Lowest first (docs/architecture.md). Django's own apps sit below the kernel.
# web and interop share the top layer (siblings that do not import each other); neither has a
# foreign key to the other, so one order serves.
LAYERS = ["clinic", "identity", "terminology", "encounters", "billing", "orders", "results", "interop", "web"]
# The edges at the top (docs/architecture.md: interop and web): no app may import them, so they
# offer no facade; they are reached over HTTP, HL7 v2, the admin, commands and events.
EDGES = {"interop", "web"}
# Apps that own no tables (web: ADR 0009) have no models.py and no migrations/.
TABLELESS = {"web"}
BELOW_EVERYTHING = {"auth", "contenttypes", "sessions", "admin", "messages", "waffle"}


def layer(app_label: str) -> int:
    if app_label in BELOW_EVERYTHING:
        return -1
    return LAYERS.index(app_label)


def cross_app_fk_violations(model_classes) -> list[str]:
    problems = []
    for model in model_classes:
        source = model._meta.app_label
        if source not in LAYERS:
            continue
        for field in model._meta.get_fields():
            if not (field.is_relation and field.concrete and field.related_model is not None):
                continue
            target = field.related_model._meta.app_label
            if target == source:
                continue
            where = f"{source}.{model.__name__}.{field.name} -> {target}.{field.related_model.__name__}"
            if target not in BELOW_EVERYTHING and layer(target) >= layer(source):
                problems.append(f"{where}: points up or sideways")
            if target in LAYERS and not (field.remote_field.related_name or "").endswith("+"):
                problems.append(f"{where}: adds a reverse accessor (use related_name='+')")
    return problems


def test_every_cross_app_foreign_key_points_down_without_a_reverse_accessor():
    assert cross_app_fk_violations(apps.get_models()) == []


@isolate_apps("identity", "encounters")
def test_the_check_catches_a_foreign_key_pointing_up_or_adding_a_reverse_accessor():
    class Visit(models.Model):
        class Meta:
            app_label = "encounters"

    class Person(models.Model):
        last_visit = models.ForeignKey(Visit, on_delete=models.CASCADE, related_name="+")

        class Meta:
            app_label = "identity"

    class Note(models.Model):
        person = models.ForeignKey(Person, on_delete=models.CASCADE)

        class Meta:
            app_label = "encounters"

    problems = cross_app_fk_violations([Visit, Person, Note])

    assert problems == [
        "identity.Person.last_visit -> encounters.Visit: points up or sideways",
        "encounters.Note.person -> identity.Person: adds a reverse accessor (use related_name='+')",
    ]


def test_every_app_has_the_rooms_every_app_needs():
    # An app has only the rooms it uses (no empty tasks.py, handlers.py, flags.py...); these
    # every app has.
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    rooms = ["apps.py", "facade.py", "models.py", "migrations"]  # the rest only where the app uses them
    missing = [
        f"{app}/{room}"
        for app in LAYERS
        for room in rooms
        if not (root / app / room).exists()
        and not (app in EDGES and room == "facade.py")
        and not (app in TABLELESS and room in {"models.py", "migrations"})
    ]
    assert missing == []


def stub_modules(app: str) -> list[str]:
    """Modules of the app with nothing in them but a docstring (package ``__init__`` files of
    subpackages aside: they only mark the package)."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    stubs = []
    for path in sorted((root / app).rglob("*.py")):
        if "migrations" in path.parts or path.name == "__init__.py":
            continue
        body = ast.parse(path.read_text()).body
        if all(isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) for node in body):
            stubs.append(str(path.relative_to(root)))
    return stubs


def test_no_app_keeps_empty_modules():
    assert [stub for app in LAYERS for stub in stub_modules(app)] == []


def lint_public_surface(tmp_path, monkeypatch, files: dict[str, str], **options):
    """Run the project's public-surface contract (importrules.py) over a tiny package tree."""
    import grimp

    from importrules import PublicSurfaceContract

    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    monkeypatch.syspath_prepend(str(tmp_path))
    roots = sorted({name.split("/")[0] for name in files})
    graph = grimp.build_graph(*roots, cache_dir=None)
    contract = PublicSurfaceContract(
        name="public surface",
        session_options={"root_packages": roots},
        contract_options={"public_modules": ["facade", "contracts", "errors"], **options},
    )
    check = contract.check(graph, verbose=False)
    return sorted((i.importer, i.imported) for i in check.metadata["illegal"])


def test_the_public_surface_rule_lets_an_app_import_only_facade_contracts_errors_and_kits(tmp_path, monkeypatch):
    files = {
        "kernel/__init__.py": "",
        "kernel/facade.py": "",
        "kernel/db.py": "",
        "kernel/api/__init__.py": "",
        "kernel/api/base.py": "",
        "kernel/outbox.py": "",
        "low/__init__.py": "",
        "low/facade.py": "from low import engine\n",  # an app uses its own private modules
        "low/contracts.py": "",
        "low/errors.py": "",
        "low/engine.py": "",
        "low/deep/__init__.py": "",
        "low/deep/matching.py": "",
        "high/__init__.py": "",
        "high/services.py": (
            "from low import facade, contracts, errors\n"
            "from kernel import db, facade as kernel_facade\n"
            "from kernel.api import base\n"
            "from low import engine\n"  # private, whatever its name
            "from low.deep import matching\n"  # private, however deep
            "import low\n"  # the package itself is not public either
            "from kernel import outbox\n"  # the kernel's private module
        ),
        "project/__init__.py": "",
        "project/urls.py": "from low import engine\nfrom high import services\n",  # the project may
    }

    illegal = lint_public_surface(
        tmp_path,
        monkeypatch,
        files,
        also_public=["kernel.db", "kernel.api"],
        unrestricted_importers=["project"],
    )

    assert illegal == [
        ("high.services", "kernel.outbox"),
        ("high.services", "low"),
        ("high.services", "low.deep.matching"),
        ("high.services", "low.engine"),
    ]
