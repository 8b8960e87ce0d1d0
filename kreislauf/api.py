"""The Python API: a system in three lines.

    system = kreislauf.load("examples/anika.toml")
    result = system.run(stop="7d", out_dir="results/anika")
    print(result.balance.report())

or, with components built in Python::

    system = kreislauf.System.from_components(
        [tank_a, tank_b], connections=["tank_a.T -> tank_b.T_neighbour"], step="60s", stop="1d")
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kreislauf.component import Component
from kreislauf.master import Master, RunResult
from kreislauf.system import (
    ComponentSpec,
    Problem,
    SystemFileError,
    SystemSpec,
    _parse_bonds,
    _parse_connections,
    _parse_master,
    _Source,
    check_system_file,
    load_system_file,
    make_component,
)

__all__ = ["System", "check", "load", "run"]


def _collector(spec: SystemSpec, problems: list[Problem]):
    def problem(
        message: str, line: int | None = None, component: str | None = None, variable: str | None = None
    ) -> None:
        problems.append(Problem(message, spec.file_text, line, component, variable))

    return problem


class System:
    """A system ready to run: its spec and, for systems built in Python, its components.

    Components named in a system file are built afresh for every run (through
    :func:`kreislauf.system.make_component`); components handed over in Python are set up and
    closed by the one run they serve.
    """

    def __init__(
        self,
        spec: SystemSpec,
        components: Mapping[str, Component] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ):
        self.spec = spec
        self._components = dict(components) if components is not None else None
        self._in_python = components is not None
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None

    @property
    def name(self) -> str:
        """The system's name (from ``[system] name`` or the file name)."""
        return self.spec.name

    @classmethod
    def from_components(
        cls,
        components: Sequence[Component],
        connections: Sequence[str | Mapping[str, Any]] = (),
        bonds: Sequence[str | Mapping[str, Any]] = (),
        parameters: Mapping[str, Mapping[str, float]] | None = None,
        component_steps: Mapping[str, float | str] | None = None,
        outputs: Sequence[str] = ("*.*",),
        name: str = "system",
        **settings: Any,
    ) -> System:
        """A system of Python components; connections and bonds as in a system file.

        ``settings`` are ``[master]`` settings (``algorithm="gauss-seidel"``, ``step="60s"``, ...);
        ``component_steps`` gives multi-rate steps per component name. Raises
        :class:`~kreislauf.system.SystemFileError` listing every problem.
        """
        spec = SystemSpec(name=name)
        problems: list[Problem] = []
        problem = _collector(spec, problems)
        source = _Source("")
        _parse_master(settings, spec.settings, source, problem)
        _parse_connections(list(connections), spec, source, problem)
        _parse_bonds(list(bonds), spec, source, problem)
        spec.outputs.variables = list(outputs)
        by_name: dict[str, Component] = {}
        for comp in components:
            if comp.name in by_name:
                problem(f"two components are called '{comp.name}'", component=comp.name)
            by_name[comp.name] = comp
            spec.components[comp.name] = ComponentSpec(
                comp.name,
                "python",
                f"<{type(comp).__name__} object>",
                parameters=dict((parameters or {}).get(comp.name, {})),
            )
        for cname, step in (component_steps or {}).items():
            if cname not in spec.components:
                problem(f"component_steps: no component called '{cname}'", component=cname)
                continue
            _parse_master({"step": step}, probe := copy.copy(spec.settings), source, problem)
            spec.components[cname].step = probe.step
        if problems:
            raise SystemFileError(problems)
        return cls(spec, by_name)

    def run(
        self,
        stop: float | str | None = None,
        step: float | str | None = None,
        out_dir: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        **settings: Any,
    ) -> RunResult:
        """Run the system and return its :class:`~kreislauf.master.RunResult`.

        ``stop``/``step`` and any ``[master]`` setting override the system's own (durations as
        seconds or strings such as ``"365d"``, ``"60s"``). Results go to ``out_dir`` (default
        ``results/<system name>``). The components are closed afterwards, also on an error.
        """
        spec = copy.copy(self.spec)
        spec.settings = copy.deepcopy(self.spec.settings)
        overrides = dict(settings)
        if stop is not None:
            overrides["stop"] = stop
        if step is not None:
            overrides["step"] = step
        problems: list[Problem] = []
        _parse_master(overrides, spec.settings, _Source(""), _collector(spec, problems))
        if problems:
            raise SystemFileError(problems)
        if self._in_python:
            if self._components is None:
                raise RuntimeError(f"system '{self.name}': components built in Python serve one run only")
            components, self._components = self._components, None
        else:
            components = {}
        try:
            if not self._in_python:
                for cname, cspec in spec.components.items():
                    components[cname] = make_component(cspec, self.cache_dir)
            master = Master(spec, components)
            target = Path(out_dir) if out_dir is not None else Path("results") / self.name
            return master.run(target, progress=progress)
        finally:
            for comp in components.values():
                comp.close()


def load(path: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> System:
    """Read a TOML system file; raises :class:`~kreislauf.system.SystemFileError` listing every problem."""
    return System(load_system_file(path), cache_dir=cache_dir)


def run(path: str | os.PathLike[str], **options: Any) -> RunResult:
    """Load a system file and run it (options as for :meth:`System.run`)."""
    return load(path).run(**options)


def check(path: str | os.PathLike[str]) -> list[Problem]:
    """Every problem of a system file, the components included (empty list when sound)."""
    return check_system_file(path)
