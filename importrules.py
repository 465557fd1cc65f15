"""The project's own import-linter contract type: the public surface of an app.

Other apps reach an app only through its public modules, whatever modules the app grows:
``facade`` (functions), ``contracts`` (plain data and event payloads) and ``errors`` (its
exceptions), plus, for the kernel, its kits (``clinic.db``, ``clinic.rows``, ``clinic.api``,
``clinic.admin``). A list of private modules per app (import-linter's ``protected`` contracts)
had to be kept up to date by hand and let every module nobody had listed through; this rule
lists what is public instead. Configured in ``pyproject.toml``::

    [tool.importlinter]
    contract_types = ["public_surface: importrules.PublicSurfaceContract"]

    [[tool.importlinter.contracts]]
    type = "public_surface"
    public_modules = ["facade", "contracts", "errors"]   # of every app
    also_public = ["clinic.db", "clinic.rows"]            # whole modules or packages
    unrestricted_importers = ["config"]                   # the project may import anything
    # apps = [...]  optional: the root packages (less the unrestricted ones) by default

A public module that is a package is public with everything in it (``clinic.api.base``); the
app's package itself is not (``from orders import facade`` imports ``orders.facade``). An app
importing its own modules, and the unrestricted importers, are not checked. lint-imports puts the
working directory on ``sys.path``, so this module is found when it runs from the repository root.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import grimp
from importlinter import Contract, ContractCheck, fields, output


@dataclass(frozen=True)
class IllegalImport:
    importer: str
    imported: str
    line_numbers: tuple[int | None, ...] = field(default=())


class PublicSurfaceContract(Contract):
    """Another app may import only an app's public modules (and the modules in them).

    Options:
        - public_modules: names, relative to each app, of the modules other apps may import.
        - also_public: full names of further modules (or packages) other apps may import.
        - unrestricted_importers: packages whose modules may import anything (the project).
        - apps: the packages the rule applies to (default: the root packages, less the
          unrestricted importers).
    """

    type_name = "public_surface"

    public_modules = fields.ListField(subfield=fields.StringField())
    also_public = fields.ListField(subfield=fields.StringField(), required=False)
    unrestricted_importers = fields.ListField(subfield=fields.StringField(), required=False)
    apps = fields.ListField(subfield=fields.StringField(), required=False)

    def _option(self, name: str) -> list[str]:
        value = getattr(self, name)  # set from the configuration by Contract.__init__
        return list(value or [])

    def _apps(self) -> list[str]:
        if self._option("apps"):
            return self._option("apps")
        roots = self.session_options.get("root_packages") or [self.session_options["root_package"]]
        return [root for root in roots if root not in self._option("unrestricted_importers")]

    def _public(self, app: str) -> list[str]:
        also = self._option("also_public")
        return [*(f"{app}.{name}" for name in self._option("public_modules")), *(m for m in also if _within(m, app))]

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        illegal: list[IllegalImport] = []
        unrestricted = self._option("unrestricted_importers")
        for app in self._apps():
            if app not in graph.modules:
                continue
            public = self._public(app)
            members = {app, *graph.find_descendants(app)}
            for imported in sorted(members):
                if any(_within(imported, allowed) for allowed in public):
                    continue
                for importer in sorted(graph.find_modules_that_directly_import(imported)):
                    if _within(importer, app) or any(_within(importer, u) for u in unrestricted):
                        continue
                    details = graph.get_import_details(importer=importer, imported=imported)
                    illegal.append(
                        IllegalImport(
                            importer=importer,
                            imported=imported,
                            line_numbers=tuple(d["line_number"] for d in details),
                        )
                    )
        return ContractCheck(kept=not illegal, metadata={"illegal": illegal})

    def render_broken_contract(self, check: ContractCheck) -> None:
        illegal: list[IllegalImport] = check.metadata["illegal"]
        for found in illegal:
            lines = ", ".join(str(n) for n in found.line_numbers)
            output.print_error(f"{found.importer} -> {found.imported} (l.{lines})", bold=False)
        output.new_line()
        output.print(
            "Import the app's facade, contracts or errors instead (or move what you need there).",
        )


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")
