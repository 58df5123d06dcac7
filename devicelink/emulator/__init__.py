"""The virtual phone: an ADB daemon on loopback whose "device" is a sandbox folder (``planestrike device emulate``).

Standard library only (asyncio), so it can run anywhere the desktop side runs. ``wire`` packs and parses ADB
messages, ``auth`` checks RSA signatures against an ``adb_keys`` file, ``state`` checks the folder that holds both,
``sandbox`` lays out the fake ``/data/local/tmp`` with its stand-in binaries, ``services`` implements what a stream
can open (shell, exec, sync, sockets) and ``daemon`` ties them together per connection, with the limits that keep
one host from stalling the phone for the others.
"""

from devicelink.emulator.daemon import VirtualPhone, VirtualPhoneConfig

__all__ = ["VirtualPhone", "VirtualPhoneConfig"]
