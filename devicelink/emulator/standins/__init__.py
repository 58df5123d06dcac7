"""Programs the virtual phone has "installed": they run on this machine, inside the sandbox, via desktop LiteRT.

Each is copied into the sandbox with a ``#!`` line naming this Python, the way ``planestrike device setup`` would
have pushed the real binary to a phone.
"""
