"""The Jinja environment a `Templar` renders in, and how rendered output is shaped.

A sandboxed native-types environment with strict undefined values, Ansible's
backslash escaping for playbook values, bounds on ``**`` and ``*``, and the
plugin libraries installed: `filters`, `jinja_tests` (each wrapped so that its
errors read as ansible-core words a plugin's failure).  `finalize` and `concat`
turn what Jinja produced into plain data, as ansible-core 2.19 stores it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, Final

import jinja2
from jinja2.lexer import TOKEN_STRING, TOKEN_VARIABLE_BEGIN, TOKEN_VARIABLE_END, Lexer
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.runtime import Context, Undefined
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import pass_context

from playgraph.semantics import UnsafeText

from . import filters, jinja_tests
from .template_values import (
    OMIT,
    PluginHost,
    TemplateError,
    TemplateUndefined,
    Trust,
    error_text,
    raise_undefined,
)

__all__ = ["TemplarEnvironment", "concat", "finalize"]


# --------------------------------------------------------------------------- output shaping

_SCALARS: Final = (str, int, float, bool, type(None), bytes)


def finalize(value: Any, trust: Trust | None = None) -> Any:
    """Turn a rendered value into plain data, raising if an undefined hides inside.

    With `trust` (the output of a rendering), strings become `UnsafeText` unless
    `trust` vouches for them: what a template produced is never a template again.
    Mappings become dicts and other iterables lists (as Ansible 2.19 stores them);
    `OMIT` values vanish from containers.  Containers are always copied, so the
    caller may mutate what `render` returns without touching the variables.
    """
    if isinstance(value, str):
        if trust is None or isinstance(value, UnsafeText) or trust.trusts(value):
            return value
        return UnsafeText(value)
    if isinstance(value, _SCALARS):
        return value
    if isinstance(value, Undefined):
        raise_undefined(value)
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            item = finalize(item, trust)
            if item is not OMIT:
                result[key] = item
        return result
    if isinstance(value, Collection | Iterator):
        items = (finalize(item, trust) for item in value)
        return [item for item in items if item is not OMIT]
    return value


def concat(values: Iterable[Any]) -> Any:
    """Join the pieces a template produced, Ansible 2.19 style (no literal_eval).

    ``None`` pieces are dropped so that ``"x{{ None }}"`` is ``'x'``; a single piece
    keeps its type; several pieces are joined as strings, with `OMIT` dropped.
    """
    pieces = [value for value in values if value is not None]
    if not pieces:
        return None
    if len(pieces) == 1:
        return pieces[0]
    # Finalize each piece first: str() of a list would not trip an undefined inside it.
    return "".join(str(finalize(piece)) for piece in pieces if piece is not OMIT)


@pass_context
def _finalize_expression(context: Context, value: Any) -> Any:
    """Jinja ``finalize`` hook, run on the value of every ``{{ }}``.

    It raises as soon as an expression's value is undefined — native rendering
    never calls ``str()`` on a lone value, so nothing else would.  Taking the
    context (unused) keeps Jinja from folding constant expressions at compile time
    into strings, which would lose their native type.
    """
    if isinstance(value, Undefined):
        raise_undefined(value)
    return value


# --------------------------------------------------------------------------- environment


class _EscapingLexer(Lexer):
    """Doubles backslashes in string literals inside ``{{ }}`` before Jinja unescapes them.

    Playbook templates come from YAML, which has already processed backslash
    escapes once; Ansible escapes them again so that ``'\\1'`` reaches
    ``regex_replace`` as a back-reference.  ``{% %}`` blocks are not escaped.
    """

    def tokeniter(
        self,
        source: str,
        name: str | None,
        filename: str | None = None,
        state: str | None = None,
    ) -> Iterator[tuple[int, str, str]]:
        in_variable = False
        for lineno, token, value in super().tokeniter(source, name, filename, state):
            if token == TOKEN_VARIABLE_BEGIN:
                in_variable = True
            elif token == TOKEN_VARIABLE_END:
                in_variable = False
            elif in_variable and token == TOKEN_STRING:
                value = value.replace("\\", "\\\\")
            yield lineno, token, value


# Bounds on operators the sandbox lets through; beyond them a template could make
# the controller compute for minutes or allocate gigabytes.
_MAX_POWER_BITS: Final = 1_000_000
_MAX_REPEAT_ITEMS: Final = 10_000_000


class TemplarEnvironment(ImmutableSandboxedEnvironment):
    """The Jinja environment of one `Templar`.

    Immutable sandbox (templates cannot call ``list.append`` or ``dict.update``, nor
    reach Python internals), native output, strict undefined, Ansible's block
    whitespace settings (``trim_blocks``) and our own concatenation; Ansible's
    filters, tests and template functions are installed (the renderer adds
    ``lookup``/``query``, which need its variables).
    """

    code_generator_class = NativeCodeGenerator
    concat = staticmethod(concat)
    intercepted_binops = frozenset({"**", "*"})

    def __init__(self, host: PluginHost, *, escape_backslashes: bool) -> None:
        super().__init__(
            undefined=TemplateUndefined,
            trim_blocks=True,
            autoescape=False,
            keep_trailing_newline=False,
            finalize=_finalize_expression,
        )
        self._install_plugins()
        self.templar = host  # what `plugin_host` hands to filters and tests
        self._lexer = _EscapingLexer(self) if escape_backslashes else Lexer(self)

    @property
    def lexer(self) -> Lexer:
        """Our lexer: escaping for playbook values, plain for conditionals and files."""
        return self._lexer

    def _install_plugins(self) -> None:
        self.filters.update(_WRAPPED_FILTERS)
        self.tests.update(_WRAPPED_TESTS)
        # Every filter and test, Jinja's own included, also answers to ansible.builtin.<name>.
        for table in (self.filters, self.tests):
            table.update({f"ansible.builtin.{name}": table[name] for name in list(table)})
        self.globals.update(filters.GLOBALS)
        self.globals["omit"] = OMIT

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        """Refuse ``**`` and ``*`` results too large to compute; see the bounds above."""
        if (
            operator == "**"
            and isinstance(left, int)
            and isinstance(right, int)
            and abs(left) > 1
            and right * max(abs(left).bit_length(), 1) > _MAX_POWER_BITS
        ):
            raise TemplateError(f"Error rendering template: {left} ** {right} is too large")
        if operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, str | list | tuple)
                    and isinstance(times, int)
                    and len(seq) * times > _MAX_REPEAT_ITEMS
                ):
                    raise TemplateError("Error rendering template: repeated sequence is too large")
        return super().call_binop(context, operator, left, right)


# --------------------------------------------------------------------------- plugins


def _wrap(kind: str, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` with its errors reworded as Ansible words plugin failures.

    Undefined-variable errors and our own `TemplateError`s pass through unchanged:
    they already say what went wrong.
    """

    @functools.wraps(function)
    def plugin(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (jinja2.UndefinedError, TemplateError):
            raise
        except Exception as error:
            raise TemplateError(
                f"The {kind} plugin 'ansible.builtin.{name}' failed: {error_text(error)}"
            ) from error

    return plugin


_WRAPPED_FILTERS: Final = {name: _wrap("filter", name, f) for name, f in filters.FILTERS.items()}
_WRAPPED_TESTS: Final = {name: _wrap("test", name, f) for name, f in jinja_tests.TESTS.items()}
