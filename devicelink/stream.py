"""A two-way ADB stream on top of adb-shell, which only offers request-then-read-until-close services.

adb-shell 0.4.4 has no public way to write into an open stream (upstream issue #224), so this uses its private
``_io_manager`` (hence the exact pin). One trap shapes the code: while waiting for the OKAY that acknowledges our
write, the phone may already send data on the same stream, and adb-shell's reader drops any packet it was not
asked for. So every wait asks for OKAY, WRTE and CLSE together and keeps the data for the next ``read``.
"""

from __future__ import annotations

from adb_shell import constants
from adb_shell import exceptions as adb_errors
from adb_shell.adb_device import AdbDevice
from adb_shell.adb_message import AdbMessage
from adb_shell.hidden_helpers import _AdbTransactionInfo

from devicelink.errors import DeviceCommandFailed


_CLOSE_WAIT_S = 2.0  # how long to wait for the phone to echo our CLSE


class AdbStream:
    def __init__(self, device: AdbDevice, destination: str, timeout_s: float):
        self._device = device
        self._info = _AdbTransactionInfo(None, None, timeout_s, timeout_s, None)
        with device._local_id_lock:
            device._local_id = device._local_id % (2**32 - 1) + 1
            self._info.local_id = device._local_id
        self.destination = destination
        self._received = bytearray()
        self.closed = False
        self._send(constants.OPEN, destination.encode("utf-8") + b"\0", remote_id=0)
        command, remote_id, _, _ = device._io_manager.read([constants.OKAY, constants.CLSE], self._info)
        if command == constants.CLSE:
            self.closed = True
            raise DeviceCommandFailed(f"the phone refused to open '{destination.split(':')[0]}:'")
        self._info.remote_id = remote_id

    def _send(self, command: bytes, data: bytes = b"", remote_id: int | None = None) -> None:
        remote = self._info.remote_id if remote_id is None else remote_id
        self._device._io_manager.send(AdbMessage(command, self._info.local_id, remote, data), self._info)

    def _next(self) -> bytes:
        """Wait for one packet on this stream; keep WRTE data, note CLSE; returns the command."""
        command, _, _, data = self._device._io_manager.read([constants.OKAY, constants.WRTE, constants.CLSE],
                                                            self._info)
        if command == constants.WRTE:
            self._received += data
            self._send(constants.OKAY)
        elif command == constants.CLSE:
            self.closed = True
        return command

    def set_timeout(self, timeout_s: float) -> None:
        self._info.transport_timeout_s = timeout_s
        self._info.read_timeout_s = timeout_s

    def write(self, data: bytes) -> None:
        chunk = max(1024, self._device._maxdata)
        for start in range(0, len(data), chunk):
            if self.closed:
                raise ConnectionResetError(f"the phone closed '{self.destination}'")
            self._send(constants.WRTE, data[start:start + chunk])
            while self._next() != constants.OKAY:
                if self.closed:
                    raise ConnectionResetError(f"the phone closed '{self.destination}'")

    def read(self) -> bytes:
        """Whatever the phone sent since the last read, waiting for something if nothing is there; b"" once closed."""
        while not self._received and not self.closed:
            self._next()
        data = bytes(self._received)
        self._received.clear()
        return data

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._send(constants.CLSE)
        # adbd echoes the CLSE; read it so it does not linger in adb-shell's packet store.
        self.set_timeout(min(self._info.transport_timeout_s or _CLOSE_WAIT_S, _CLOSE_WAIT_S))
        try:
            while self._device._io_manager.read([constants.CLSE, constants.WRTE], self._info)[0] != constants.CLSE:
                pass
        except (OSError, adb_errors.TcpTimeoutException, adb_errors.AdbTimeoutError,
                adb_errors.InvalidCommandError, adb_errors.InvalidChecksumError):
            pass  # the stream is gone either way; the next call on the session reports a dead connection
