"""The registry of demo steps: what each app adds to a tenant's demo content.

Each app that has demo content registers one step in its own ``demo.py`` (imported at startup by
``ClinicConfig.ready``, as ``flags.py`` and ``handlers.py`` are: a step needs no other wiring)::

    # billing/demo.py
    from clinic.facade import demo_step

    @demo_step("billing.fees", order=50)
    def seed(*, tenant_id: int) -> list[str]:
        ...  # idempotent; runs in the caller's transaction
        return ["9 fee schedule entries"]

``python manage.py seed_demo --tenant demo`` (``make run`` runs it after ``setup_demo``, which
creates the demo tenant) runs every registered step for the tenant in one transaction, lowest
``order`` first, and prints the lines they return. ``order`` is the app's place in the layers
(ARCHITECTURE.md), by tens, so that a step finds what the apps below it seeded:

    identity 10, terminology 20, encounters 30, documentation 40, billing 50, orders 60,
    results 70, prescribing 80, interop and web 90

(``tests/clinic/test_demo.py`` checks the steps against the layers in ``pyproject.toml``.) A step
is idempotent: running the demo twice leaves what the first run made. A step that cannot seed
the tenant raises a domain error (the command prints it); nothing of the demo is then written.
Demo content is no facade function: no app calls another app's demo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from clinic.errors import InvalidDemoStep


class Seeder(Protocol):
    def __call__(self, *, tenant_id: int) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class DemoStep:
    name: str  # "<app label>.<what>"
    order: int
    seed: Seeder

    @property
    def app(self) -> str:
        return self.name.split(".", 1)[0]


_steps: dict[str, DemoStep] = {}


def register(*, name: str, order: int, seed: Seeder) -> DemoStep:
    """Register a step. The same function registering again (a module imported twice) is
    harmless; another function under the same name raises InvalidDemoStep."""
    if "." not in name:
        raise InvalidDemoStep(f"demo step {name!r}: name it '<app label>.<what it seeds>'")
    step = DemoStep(name=name, order=order, seed=seed)
    existing = _steps.get(name)
    if existing is not None and (existing.order, _origin(existing.seed)) != (order, _origin(seed)):
        raise InvalidDemoStep(f"demo step {name!r} is already registered differently")
    _steps[name] = step
    return step


def _origin(seed: Seeder) -> tuple[str, str]:
    return seed.__module__, getattr(seed, "__qualname__", repr(seed))


def steps() -> list[DemoStep]:
    """The registered steps in the order they run: by ``order``, then by name."""
    return sorted(_steps.values(), key=lambda step: (step.order, step.name))
