"""The runtime: the only place with effects — processes, SSH, time, terminals.

It consumes the compiler's IR (or a plan JSON that round-trips to it).
"""
