"""Phones this computer connected to over TCP, remembered so `planestrike device ...` needs no --device each time.

Stored as JSON in planestrike's config directory: the last connected phone is the default.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from devicelink.errors import DeviceError
from devicelink.keys import planestrike_key_path
from engine.files import UnreadableFile, read_small_file, write_atomically

DEVICE_ENVIRONMENT = "PLANESTRIKE_DEVICE"
_MAX_STORE_BYTES = 1 << 20  # far more than any list of phones


def _store() -> Path:
    return planestrike_key_path().with_name("devices.json")


def load() -> dict:
    try:
        data = json.loads(read_small_file(_store(), _MAX_STORE_BYTES, "list of phones"))
    except (UnreadableFile, ValueError):
        data = None
    if not isinstance(data, dict):  # missing, or not ours (a FIFO, a huge or garbled file): start afresh
        return {"default": None, "known": []}
    known = data.get("known")
    known = [serial for serial in known if isinstance(serial, str)] if isinstance(known, list) else []
    default = data.get("default") if isinstance(data.get("default"), str) else None
    return {"default": default, "known": known}


def remember(serial: str) -> None:
    data = load()
    data["known"] = [serial] + [known for known in data["known"] if known != serial]
    data["default"] = serial
    path = _store()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(path, json.dumps(data, indent=1).encode())
    except OSError as error:
        raise DeviceError(f"connected, but cannot remember {serial} as the default phone in {path} "
                          f"({error.strerror or error}): fix that folder, or give --device {serial} each time") from None


def default_serial(explicit: str | None) -> str:
    """--device if given, else $PLANESTRIKE_DEVICE, else the last phone `planestrike device connect` reached."""
    serial = explicit or os.environ.get(DEVICE_ENVIRONMENT) or load()["default"]
    if not serial:
        raise DeviceError("which phone? connect one first ('planestrike device connect HOST[:PORT]'), "
                          f"or give --device SERIAL (or set {DEVICE_ENVIRONMENT})")
    return serial


def usb_serials() -> list[str] | None:
    """Serial numbers of phones on USB in ADB mode, or None when the 'usb' extra (libusb) is not installed."""
    try:
        import usb1
    except ImportError:
        return None
    serials = []
    with usb1.USBContext() as context:
        for device in context.getDeviceIterator(skip_on_error=True):
            for setting in device.iterSettings():
                # ADB's interface: vendor class 0xff, subclass 0x42, protocol 0x01
                if (setting.getClass(), setting.getSubClass(), setting.getProtocol()) == (0xFF, 0x42, 0x01):
                    try:
                        serials.append(device.getSerialNumber())
                    except usb1.USBError:
                        serials.append(f"(bus {device.getBusNumber()} device {device.getDeviceAddress()}, "
                                       f"no permission: see docs/device.md)")
                    break
    return serials
