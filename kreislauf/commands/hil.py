"""``kreislauf hil``: serve a component as a Modbus TCP device, check register maps."""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from pathlib import Path

from kreislauf.cli import CommandError
from kreislauf.component import Component


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``kreislauf hil serve``, ``kreislauf hil read`` and ``kreislauf hil map``."""
    hil = sub.add_parser("hil", help="hardware in the loop: serve components over Modbus TCP, check maps")
    hil_sub = hil.add_subparsers(dest="hil_command", metavar="ACTION")
    serve = hil_sub.add_parser(
        "serve",
        help="serve a component as a Modbus TCP device",
        description="Serve COMPONENT as the Modbus TCP device described by the register map. With a trigger "
        "point in the map the component advances when a client writes dt there (lock-step); otherwise "
        "it runs free against the wall clock.",
    )
    serve.add_argument(
        "component",
        metavar="COMPONENT",
        help="an FMU file, a model name, a Python factory 'package.module:function', or a component of a "
        "system file as 'SYSTEM.toml:NAME' (built and parameterised as that file's entry says)",
    )
    serve.add_argument("--map", required=True, type=Path, dest="map_path", metavar="MAP", help="register map (TOML)")
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, loopback only)")
    serve.add_argument(
        "--port", type=int, default=5020, metavar="N", help="TCP port (default 5020; 0 picks a free port)"
    )
    serve.add_argument("--mode", choices=["free", "trigger"], help="default: trigger when the map has one")
    serve.add_argument("--period", type=float, default=1.0, help="free-running step in simulated s (default 1)")
    serve.add_argument("--realtime-factor", type=float, default=1.0, help="simulated s per wall s (default 1)")
    serve.add_argument("--duration", type=float, help="stop after this many wall seconds (default: until Ctrl-C)")
    serve.set_defaults(handler=_serve)
    read = hil_sub.add_parser(
        "read",
        help="read every point of a map from a device once",
        description="Read every point of MAP from the device and print the values: a check of the map on the bench.",
    )
    read.add_argument("map_path", type=Path, metavar="MAP")
    read.add_argument("--host", default="127.0.0.1", help="device address (default 127.0.0.1)")
    read.add_argument("--port", type=int, default=502, metavar="N", help="TCP port (default 502)")
    read.add_argument("--unit-id", type=int, help="Modbus unit id (default: the map's)")
    read.set_defaults(handler=_read)
    check = hil_sub.add_parser("map", help="validate a register map and list its points")
    check.add_argument("map_path", type=Path, metavar="MAP")
    check.set_defaults(handler=_map)
    hil.set_defaults(handler=lambda args: hil.print_help() or 1)


def build_component(spec: str) -> Component:
    """The component named by ``spec``.

    ``spec`` is an FMU file (``*.fmu``), a kreislauf model name (exported to an FMU in the cache
    directory of the master, then imported) or a Python factory ``package.module:function`` called
    without arguments. For a component of a system file see :func:`system_component`.
    """
    if spec.endswith(".fmu"):
        from kreislauf.fmu import FmuArchiveError, FmuComponent

        if not Path(spec).is_file():
            raise CommandError(f"component '{spec}': no such FMU file")
        try:
            return FmuComponent(spec)
        except FmuArchiveError as exc:
            raise CommandError(f"component '{spec}': {exc}") from None
    if ":" not in spec:
        from kreislauf.models import MODELS

        if spec not in MODELS:
            raise CommandError(
                f"component '{spec}': not an FMU file, a model ({', '.join(sorted(MODELS))}) "
                "or a factory 'package.module:function'"
            )
        from kreislauf.fmu import FmuComponent, build_fmu
        from kreislauf.system import default_cache_dir

        return FmuComponent(build_fmu(spec, default_cache_dir()), name=spec)
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise CommandError(f"component '{spec}': expected a factory as 'package.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CommandError(f"component '{spec}': cannot import module '{module_name}': {exc}") from None
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise CommandError(f"component '{spec}': module '{module_name}' has no callable '{attribute}'")
    component = factory()
    if not isinstance(component, Component):
        raise CommandError(f"component '{spec}': the factory returned {type(component).__name__}, not a Component")
    return component


def system_component(spec: str) -> tuple[Component, dict[str, float]] | None:
    """The component ``NAME`` of the system file in ``spec = "SYSTEM.toml:NAME"`` and its parameters.

    The component is built from the entry as a run of that file would build it (its ``model``,
    ``fmu`` or ``python`` with ``arguments`` and ``fmi_version``; for an entry that puts a device in
    its place, the component the device stands in for), and the entry's ``parameters`` come with it,
    so the served component is the one the system file describes. ``None`` when ``spec`` does not
    name a system file.
    """
    file_part, _, name = spec.rpartition(":")
    if not file_part.endswith(".toml"):
        return None
    from kreislauf.system import SystemFileError, interface_spec, load_system_file, make_component

    if not Path(file_part).is_file():
        raise CommandError(f"component '{spec}': no such system file '{file_part}'")
    try:
        system = load_system_file(file_part)
    except SystemFileError as exc:
        raise CommandError(str(exc)) from None
    entry = system.components.get(name)
    if entry is None:
        raise CommandError(
            f"component '{spec}': the system file '{file_part}' has no component '{name}' "
            f"(components: {', '.join(system.components)})"
        )
    if entry.kind == "device" and entry.interface_kind is None:
        raise CommandError(
            f"component '{spec}': the entry is a device without a model, fmu or python to serve in its place"
        )
    served = interface_spec(entry) if entry.interface_kind else entry
    try:
        component = make_component(served)
    except SystemFileError as exc:
        raise CommandError(str(exc)) from None
    return component, dict(entry.parameters)


def _serve(args: argparse.Namespace) -> int:
    from kreislauf.hil import DeviceServer, RegisterMapError, load_register_map

    try:
        register_map = load_register_map(args.map_path)
    except RegisterMapError as exc:
        raise CommandError(str(exc)) from None
    from_system = system_component(args.component)
    component, parameters = from_system if from_system is not None else (build_component(args.component), {})
    try:
        server = DeviceServer(
            component,
            register_map,
            host=args.host,
            port=args.port,
            mode=args.mode,
            period=args.period,
            realtime_factor=args.realtime_factor,
            parameters=parameters,
        )
        server.start()
    except (RegisterMapError, ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    if args.host not in ("127.0.0.1", "localhost", "::1"):
        print(
            f"kreislauf: warning: serving on {args.host}, beyond this machine; Modbus TCP has no authentication, "
            "so use an isolated bench network",
            file=sys.stderr,
            flush=True,
        )
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(
        f"serving component '{component.name}' ({server.mode} mode) on {server.host}:{server.port} "
        f"with map {args.map_path}",
        flush=True,
    )
    try:
        stop.wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.stop()
    stats = server.stats
    exceptions = dict(sorted(stats.exceptions.items()))
    print(
        f"stopped: {stats.requests} requests, {stats.steps} steps, exceptions {exceptions}, "
        f"{stats.malformed} malformed frames, {len(stats.step_errors)} step errors",
        flush=True,
    )
    if server.mode == "free" and stats.steps:
        print(f"real time: {server.realtime_report().summary()}", flush=True)
    return 1 if stats.step_errors else 0


def _read(args: argparse.Namespace) -> int:
    from kreislauf.component import ComponentError
    from kreislauf.hil import RegisterMapError, load_register_map, read_points

    try:
        register_map = load_register_map(args.map_path)
        values = read_points(register_map, args.host, args.port, unit_id=args.unit_id)
    except (RegisterMapError, ComponentError) as exc:
        raise CommandError(str(exc)) from None
    for point in sorted(register_map.points.values(), key=lambda p: (p.table.value, p.address)):
        value = values[point.name]
        print(f"  {point.table.value:14s} {point.address:5d}  {point.name:32s} {value:.9g} {point.unit or ''}")
    return 0


def _map(args: argparse.Namespace) -> int:
    from kreislauf.hil import RegisterMapError, load_register_map

    try:
        register_map = load_register_map(args.map_path)
    except RegisterMapError as exc:
        raise CommandError(str(exc)) from None
    device = register_map.device
    print(f"{register_map.source}: device '{device.name}', unit id {device.unit_id}, {len(register_map.points)} points")
    for point in sorted(register_map.points.values(), key=lambda p: (p.table.value, p.address)):
        codec = point.codec
        print(
            f"  {point.table.value:14s} {point.address:5d}  {codec.data_type.value:7s} {codec.word_order.value:6s} "
            f"{point.access:2s} {point.name:32s} -> {point.variable or '(' + _role(register_map, point.name) + ')'}"
            f"  {point.range_text() if point.writable else point.unit or ''}"
        )
    return 0


def _role(register_map, name: str) -> str:
    device = register_map.device
    return {device.trigger: "trigger", device.heartbeat: "heartbeat", device.time: "time"}.get(name, "")
