"""devicelink: run a Plane Strike model on an Android phone over ADB, and a virtual phone to test it without one.

The pieces, from the wire up: ``transport`` (adb-shell's TCP transport with its defects fixed), ``stream`` (a
two-way ADB stream), ``session`` (commands, files, the model cache), ``runners`` (benchmark_model and the
persistent protocol), ``agent`` (``device:SERIAL[:MODEL]``), ``emulator`` (the virtual phone).

What the terminal app needs, all blocking (call them from a worker):

    session = DeviceSession.open(serial, on_auth_wait=show_tap_allow_hint)   # DeviceError on failure
    pushed = session.push_model(model_path, progress=lambda sent, total: ...)  # cached by sha256
    info = session.info()            # model, Android version, ABI, runners installed, link latency (ms)
    agent = DeviceAgent(DeviceAgentConfig(serial, model_path))  # an engine Agent; DeviceLost when the phone drops
"""
