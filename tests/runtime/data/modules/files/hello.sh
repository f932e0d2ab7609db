#!/bin/sh
echo "args: $*"
echo "cwd: $(pwd)"
echo "to stderr" >&2
exit "${HELLO_EXIT:-0}"
