"""The runtime: the only place with effects — processes, SSH, time, terminals (DESIGN.md §4).

It consumes the compiler's IR (or a plan JSON that round-trips to it).
"""
