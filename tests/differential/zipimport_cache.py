"""Loaded (by a ``.pth`` file) into the module interpreter of both tools' runs.

ansible-core runs each module from a zip (AnsiballZ), where CPython writes no
``__pycache__``: every module run compiles ``module_utils`` from source again,
about a quarter of the oracle's CPU in the differential cases.  This keeps the
compiled code of each source text, keyed by its bytes and the bytecode magic, and
names it after the zip it is loaded from: the code that runs is the code a
compile would give, only not compiled again.  Both tools get it, so neither is
measured differently.

Plain Python for the module interpreter (Python 3.8+ has code.replace); no playgraph.
"""

import hashlib
import importlib.util
import marshal
import os
import zipimport

_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "zipimport-code")
_compile_source = getattr(zipimport, "_compile_source", None)


def _named(code, filename):
    consts = tuple(
        _named(const, filename) if isinstance(const, type(code)) else const
        for const in code.co_consts
    )
    return code.replace(co_filename=filename, co_consts=consts)


def _cached(pathname, source):
    # The zip's path differs per run: the key is the source; the name is set on load.
    key = hashlib.sha256(importlib.util.MAGIC_NUMBER + source).hexdigest()
    path = os.path.join(_DIR, key)
    try:
        with open(path, "rb") as f:
            return _named(marshal.loads(f.read()), pathname)
    except (OSError, ValueError, EOFError, TypeError):
        pass
    code = _compile_source(pathname, source)
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(_DIR, exist_ok=True)
        with open(tmp, "wb") as f:
            f.write(marshal.dumps(code))
        os.replace(tmp, path)  # whole or absent for a concurrent reader
    except OSError:
        pass
    return code


if _compile_source is not None:  # a CPython whose zipimport compiles in Python
    zipimport._compile_source = _cached
