"""``validate_argument_spec``: ansible-core's controller action, with ansible-core's own
argument validator (the rules of type coercion and of every ``required_*`` are its).

Values come from ``provided_arguments`` over the task's variables of the same names, as
ansible-core's action does.  ansible-core is imported only when such a task runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Result = dict[str, Any]


def _plain(value: Any) -> Any:
    """Built-in containers (the validator copies and type-checks them)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def validate_argument_spec(args: Mapping[str, Any], variables: Mapping[str, Any]) -> Result:
    """The action's result for the task's ``args`` and the host's ``variables``."""
    result: Result = {"validate_args_context": args.get("validate_args_context", {})}
    if "argument_spec" not in args:
        return {
            "failed": True,
            "changed": False,
            "msg": f'"argument_spec" arg is required in args: {args}',
        }
    spec = args.get("argument_spec")
    provided = args.get("provided_arguments", {})
    if not isinstance(spec, Mapping):
        return {
            "failed": True,
            "changed": False,
            "msg": f"Incorrect type for argument_spec, expected dict and got {type(spec)}",
        }
    if not isinstance(provided, Mapping):
        return {
            "failed": True,
            "changed": False,
            "msg": f"Incorrect type for provided_arguments, expected dict and got {type(provided)}",
        }
    try:
        from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
    except ImportError:
        return {
            "failed": True,
            "changed": False,
            "msg": "validate_argument_spec uses ansible-core's argument validator, and"
            " ansible-core is not installed: pip install 'playgraph[ansible]'",
        }
    spec = _plain(spec)
    from_vars: dict[str, Any] = {}
    for name in spec:
        if name in variables:
            from_vars[name] = _plain(variables[name])
    validator = ArgumentSpecValidator(spec)
    validation = validator.validate(
        {**from_vars, **_plain(provided)}, validate_role_argument_spec=True
    )
    errors = list(validation.error_messages)
    if errors:
        return {
            **result,
            "failed": True,
            "changed": False,
            "msg": "Validation of arguments failed:\n" + "\n".join(errors),
            "argument_spec_data": spec,
            "argument_errors": errors,
        }
    return {**result, "changed": False, "msg": "The arg spec validation passed"}
