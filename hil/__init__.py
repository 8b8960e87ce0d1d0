"""kreislauf.hil: hardware in the loop over Modbus TCP.

- :mod:`~kreislauf.hil.registermap`: the register map format (TOML) and its validation;
- :mod:`~kreislauf.hil.codec`: pure value <-> register codecs;
- :class:`ModbusDevice`: a Component backed by a device (:mod:`~kreislauf.hil.device`);
- :class:`DeviceServer`: serves any Component as a Modbus TCP device (:mod:`~kreislauf.hil.server`);
- :class:`RealTimeClock`: fixed-rate pacing against the wall clock (:mod:`~kreislauf.hil.realtime`).

This package imports nothing of :mod:`kreislauf.fmu` or :mod:`kreislauf.models`.
"""

from .codec import Codec, CodecError, DataType, WordOrder
from .device import (
    DeviceFault,
    DeviceOptionsError,
    FaultKind,
    FaultPolicy,
    ModbusDevice,
    device_from_options,
    read_points,
)
from .realtime import OverrunPolicy, RealTimeClock, RealTimeOverrun, RealTimeReport
from .registermap import Point, RegisterMap, RegisterMapError, Table, load_register_map
from .server import DeviceServer, WriteGuard

__all__ = [
    "Codec",
    "CodecError",
    "DataType",
    "DeviceFault",
    "DeviceOptionsError",
    "DeviceServer",
    "FaultKind",
    "FaultPolicy",
    "ModbusDevice",
    "OverrunPolicy",
    "Point",
    "RealTimeClock",
    "RealTimeOverrun",
    "RealTimeReport",
    "RegisterMap",
    "RegisterMapError",
    "Table",
    "WordOrder",
    "WriteGuard",
    "device_from_options",
    "load_register_map",
    "read_points",
]
