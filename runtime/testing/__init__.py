"""Test doubles for the runtime: a virtual-time event loop and a scripted fake connection.

They ship with the package so property tests (here and in downstream code) can
drive the real scheduler without processes or sockets; nothing in the runtime
itself imports them.
"""
