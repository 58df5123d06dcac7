"""Device errors, each a one-line message that says what went wrong and what to do about it."""

from engine.errors import PlanestrikeError


class DeviceError(PlanestrikeError):
    """Something about a phone or the connection to it."""


class DeviceUnreachable(DeviceError):
    """Nothing answers at the address, or it does not speak ADB."""


class DeviceAuthError(DeviceError):
    """The phone did not accept this computer's key."""


class DeviceUnsupported(DeviceError):
    """The phone wants something devicelink cannot do (TLS pairing, a benchmark tool without file I/O)."""


class DeviceCommandFailed(DeviceError):
    """A command on the phone exited with a non-zero status."""

    def __init__(self, message: str, exit_code: int | None = None, stderr: str = ""):
        super().__init__(message)
        self.device_exit_code = exit_code
        self.stderr = stderr


class RunnerError(DeviceError):
    """The program computing the agent's move on the phone failed, answered garbage, or did not answer in time."""

    exit_code = 1


class DeviceLost(DeviceError):
    """The connection to the phone dropped. The game can go on without it; reconnecting may bring it back."""

    exit_code = 1


class DeviceTimeout(DeviceLost):
    """The phone did not finish within the operation's deadline: a hung program on it, a network that silently
    dropped, or a phone that answers so slowly (a byte now and then) that it never finishes."""


class DeviceProtocolError(DeviceLost):
    """The phone broke the ADB protocol (a bad checksum or magic, an oversized packet, more data than any answer
    needs): the connection is dropped, since nothing after the bad bytes can be trusted."""
