"""The registry of diagnostic ids.

One place names every finding playgraph can report, like mypy's
``errorcodes.py`` or ruff's ``codes.rs``.  Ids are stable: tools filter on them
(``# noqa: id``, skip lists, SARIF rule ids).  `specs/diagnostics.md` is
generated from this module (``python scripts/gen_specs.py``) and a test
checks it is current.
"""

from __future__ import annotations

from .diagnostics import Code, Severity

REGISTRY: dict[str, Code] = {}


def _code(rule: str, sub: str | None, severity: Severity, summary: str, doc: str) -> Code:
    code = Code(rule=rule, sub=sub, severity=severity, summary=summary, doc=doc.strip())
    if code.id in REGISTRY:
        raise ValueError(f"duplicate diagnostic id {code.id}")
    REGISTRY[code.id] = code
    return code


E, W, I = Severity.ERROR, Severity.WARNING, Severity.INFO  # noqa: E741 - short names keep the table readable

# --------------------------------------------------------------------------- loading

LOAD_NOT_FOUND = _code(
    "load-failure",
    "not-found",
    E,
    "The file cannot be read.",
    """
What: a playbook, imported task file or role named on the command line or by an
`import_*` does not exist or cannot be opened.
Why: nothing in it can be checked, and Ansible would stop at the same place.
Example: `playgraph check site.yml` where site.yml is missing.
Fix: correct the path; imports are resolved relative to the importing file.
""",
)

LOAD_NOT_UTF8 = _code(
    "load-failure",
    "not-utf8",
    E,
    "The file is not UTF-8 text.",
    """
What: the file has bytes that are not valid UTF-8, or NUL bytes (a binary file).
Why: YAML playbooks are text; Ansible refuses them too.
Example: a playbook saved as Latin-1 with `é` in a task name.
Fix: re-encode the file as UTF-8.
""",
)

# --------------------------------------------------------------------------- syntax

SYNTAX_YAML = _code(
    "syntax",
    "yaml",
    E,
    "The file is not valid YAML.",
    """
What: the YAML parser rejected the file: a tab used for indentation, a bad
indent, an unclosed quote or bracket.
Why: nothing after the error can be read reliably.
Example: a task indented with a tab character.
Fix: follow the message; indent with spaces.
""",
)

SYNTAX_DUPLICATE_KEY = _code(
    "syntax",
    "duplicate-key",
    E,
    "A mapping has the same key twice.",
    """
What: a key appears twice in one mapping.
Why: YAML loaders keep only the last value, so the first is silently lost —
often a second `when:` or `name:` that someone meant to combine.
Example: a task with two `when:` lines.
Fix: remove one, or combine them (`when: [a, b]`).
""",
)

SYNTAX_EMPTY = _code(
    "syntax",
    "empty",
    E,
    "The file holds no plays.",
    """
What: the file is empty or holds only comments / `---`.
Why: a playbook must be a list of plays; Ansible reports "Empty playbook".
Fix: add a play, or stop naming the file.
""",
)

SYNTAX_TOO_DEEP = _code(
    "syntax",
    "too-deep",
    E,
    "The YAML nests deeper than the compiler accepts.",
    """
What: collections nest more than 256 levels deep.
Why: no real playbook does this; it is usually generated garbage, and refusing
it keeps the compiler's memory and stack bounded.
Fix: flatten the data.
""",
)

SYNTAX_YAML_ALIASES = _code(
    "syntax",
    "yaml-aliases",
    E,
    "YAML aliases expand to more nodes than the compiler accepts.",
    """
What: the `*alias` references of one file, each counted as the whole node it
copies, add up to more than 100,000 nodes.
Why: an alias is a copy; a few lines of nested aliases (a "billion laughs")
expand to billions of values and would exhaust the memory and time of anything
that reads the playbook, Ansible included.
Example: `a: &a [x, x, x, x, x, x, x, x, x]`, `b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]`
and so on for nine levels.
Fix: reference shared data by variable instead, or flatten it.
""",
)

SYNTAX_JINJA = _code(
    "syntax",
    "jinja",
    E,
    "A Jinja expression or template does not parse.",
    """
What: a `{{ }}` template, a `when`/`until`/`changed_when`/`failed_when`
condition, or a `{% %}` statement is not valid Jinja.
Why: Ansible would fail the task at run time on every host.
Example: `when: result.rc == 0 and` or `"{{ item.name "`.
Fix: complete the expression; the caret points at the first bad character.
""",
)

SYNTAX_JINJA_TOO_COMPLEX = _code(
    "syntax",
    "jinja-too-complex",
    E,
    "A Jinja expression nests deeper than the compiler accepts.",
    """
What: an expression chains more than 200 operators in one operand, or nests
brackets that deep (counted together: `a or b or ...`, `x | f | g ...`,
`((((x))))`).
Why: every reader of an expression, Jinja's own parser and compiler included,
walks it recursively; a few hundred levels exhaust Python's stack, so Ansible
fails on it too, and the compiler refuses it before that happens.
Example: `when: x == 1 or x == 1 or ...` with a thousand terms.
Fix: split the expression into variables (`set_fact`, `vars`) or use a list
and a test: `when: x in [1, 2, 3]`.
""",
)

SYNTAX_ARGS = _code(
    "syntax",
    "args",
    E,
    "Free-form module arguments do not parse.",
    """
What: `key=value` arguments given as a string have an unclosed quote or
template.
Why: Ansible's argument splitter fails the task.
Example: `command: echo "hello`.
Fix: close the quote.
""",
)

# --------------------------------------------------------------------------- schema

SCHEMA_NOT_A_PLAYBOOK = _code(
    "schema",
    "playbook",
    E,
    "The top level is not a list of plays.",
    """
What: the file's top level is a mapping or a scalar, or an element of the list
is not a mapping.
Why: a playbook is a YAML list of plays; a task file given as a playbook is the
usual cause.
Example: a file starting with `hosts: all` instead of `- hosts: all`.
Fix: make the top level a list; include task files with `import_tasks`.
""",
)

SCHEMA_UNKNOWN_KEYWORD = _code(
    "schema",
    "unknown-keyword",
    E,
    "A play, block or task has a key that is not a keyword.",
    """
What: a key is neither a keyword of its level (play, block, task, handler,
role) nor, in a task, a module.
Why: Ansible rejects the play ("... is not a valid attribute for a Play"), and a
misspelt keyword such as `remove_user` or `regster` is usually a typo whose
intent would otherwise be lost.
Example: `remove_user: root` on a play — did you mean `remote_user`?
Fix: use the suggested keyword.
""",
)

SCHEMA_UNKNOWN_MODULE = _code(
    "schema",
    "unknown-module",
    E,
    "A task names a module that does not exist.",
    """
What: the task's action is not an `ansible.builtin` module, not a module of a
known collection, and not in a `library/` folder beside the playbook.
Why: Ansible fails with "couldn't resolve module/action".
Example: `ansible.buildin.command` — did you mean `ansible.builtin.command`?
Fix: correct the name.  Modules of collections playgraph does not know are
accepted when their collection name is not a near-miss of a known one.
""",
)

SCHEMA_UNKNOWN_COLLECTION = _code(
    "schema",
    "unknown-collection",
    I,
    "A task uses a collection playgraph has no catalog for.",
    """
What: the action is an FQCN in a collection that is not in playgraph's catalog.
Why: playgraph cannot check its name, arguments or async support; it trusts it.
Fix: nothing, unless the collection name is misspelt.
""",
)

SCHEMA_MISSING_ACTION = _code(
    "schema",
    "missing-action",
    E,
    "A task names no module.",
    """
What: a task has only keywords (`name`, `when`, ...) and no action.
Why: Ansible rejects it: "no module/action detected in task".
Fix: add the module, or check that the module line is not indented wrongly.
""",
)

SCHEMA_CONFLICTING_ACTION = _code(
    "schema",
    "conflicting-action",
    E,
    "A task names more than one module.",
    """
What: two keys of a task are both modules (or `action:` plus a module key).
Why: Ansible rejects it: "conflicting action statements".
Example: a `command:` and a `shell:` in one task, often a missing `- `.
Fix: split into two tasks.
""",
)

SCHEMA_BAD_VALUE = _code(
    "schema",
    "bad-value",
    E,
    "A keyword has a value of the wrong type or range.",
    """
What: a literal value that Ansible would reject: `async: soon`, `poll: -3`,
`retries: many`, `delay: x`, `async: yes` (a boolean, which silently breaks the
remote time limit in ansible-core), `hosts` missing, `register` not a valid
variable name, `strategy` not known.
Why: in ansible-core most of these fail every host at run time, and some
(`async: yes`, a float limit) do the wrong thing silently.
Fix: use the documented type; templated values are checked at run time.
""",
)

SCHEMA_INCLUDE_ASYNC = _code(
    "schema",
    "include-async",
    E,
    "`async`/`poll`/retry keywords on a block or include.",
    """
What: `async`, `poll`, `until`, `retries` or `delay` on a `block`,
`include_tasks` or `include_role`.
Why: ansible-core rejects these ("'async' is not a valid attribute for a
TaskInclude"): includes are not modules, never fork and cannot run async.
Example: `include_tasks: slow.yml` with `async: 300, poll: 0`.
Fix: put `async` on the tasks inside the included file.
""",
)

SCHEMA_UNKNOWN_ARGUMENT = _code(
    "schema",
    "unknown-argument",
    W,
    "A module is given an argument it does not document.",
    """
What: a literal argument name that the module's documentation does not list.
Why: the module fails with "Unsupported parameters" on every host.
Example: `async_status: {jid: ..., wait: true}`.
Fix: use the suggested name.
""",
)

SCHEMA_MISSING_ARGUMENT = _code(
    "schema",
    "missing-argument",
    E,
    "A module is missing a required argument.",
    """
What: a required argument (by the module's documentation) is absent.
Why: the module fails with "missing required arguments" on every host.
Example: `async_status: {}` without `jid`.
Fix: add it.
""",
)

SCHEMA_INCLUDE_LOOP = _code(
    "schema",
    "import-cycle",
    E,
    "An import includes itself.",
    """
What: `import_tasks`/`import_playbook`/`roles` form a cycle.
Why: static imports are expanded at compile time; a cycle never ends.
Fix: break the cycle (use `include_tasks` if recursion is meant, with a guard).
""",
)

SCHEMA_TOO_DEEP = _code(
    "schema",
    "too-deep",
    E,
    "Blocks, imports and roles nest deeper than the compiler accepts.",
    """
What: along one path, blocks, `import_tasks`/`import_role` files, imported
playbooks and roles with their dependencies nest more than 64 levels deep
(counted together). Reported at the block, import or role that goes past it.
Why: no hand-written playbook comes close; it is a generated or runaway chain
(each file importing the next), and expanding it without a bound would exhaust
the compiler's stack.
Example: `t0.yml` imports `t1.yml`, which imports `t2.yml`, ... up to `t300.yml`.
Fix: flatten the chain; import the files side by side from one place.
""",
)

SCHEMA_UNDEFINED_HANDLER = _code(
    "schema",
    "unknown-handler",
    W,
    "`notify` names no handler of the play.",
    """
What: a task notifies a name that no handler has as `name` or `listen`.
Why: Ansible fails "The requested handler ... was not found" when the task
changes.
Fix: correct the name or add the handler.
""",
)


# --------------------------------------------------------------------------- async lint rules
# Each rule lives in compiler/lint/<rule>.py; the ids live here.

_GUIDE = (
    'The Ansible guide: "Do not specify a poll value of 0 with operations that require '
    "exclusive locks (such as yum transactions) if you expect to run other commands later "
    'in the playbook against those same resources."'
)

ASYNC_LOCK_CONFLICT = _code(
    "async-lock-conflict",
    None,
    E,
    "A lock held by a detached job is needed again before the job is joined.",
    f"""
What: a `poll: 0` task holds an exclusive lock (a package database: yum, dnf,
apt, zypper, pacman, apk, ..., or a command line running one of them, or a lock
you declared in `.playgraph.yml`) and a later task on an overlapping host set
needs the same lock before any `async_status` join of that job has completed.
Why: the later task waits up to its `lock_timeout` (dnf 30 s, apt 60 s; dnf5
cannot wait at all) and then fails — the classic "yum lockfile is held by
another process". {_GUIDE}
Example: `yum: name=docker state=present` with `async: 1000, poll: 0`, then
`yum: name=git` on the same hosts.
A join of the same hosts placed in between clears the conflict; a join that
may let the play go on while the job still runs (a `retries x delay` shorter
than the `async` limit, no `until`, `ignore_errors`, a `when` the launch does
not have, a rescue or handler that may skip it, `run_once`, one item of a
looped launch) does not, and the message says which.  Hosts are compared by
pattern (`db` and `web` are disjoint, `all` overlaps every group) unless an
inventory is given with `-i`; `delegate_to` moves the lock to the delegate.
Fix: join the job (`async_status` with `until: job is finished`) before the
next package task, or run the first task with `poll > 0`.
""",
)

ASYNC_LOCK_CONFLICT_SELF = _code(
    "async-lock-conflict",
    "self",
    E,
    "One detached task starts several jobs that hold the same lock at once.",
    f"""
What: a `poll: 0` task that holds an exclusive lock starts more than one job on
one machine: a `loop` over two or more items (each item is its own job), or a
`delegate_to` one host from a play on several hosts (one job per play host,
all on the delegate).
Why: the jobs run at the same time and fight for the lock: all but one wait
for `lock_timeout` or fail. {_GUIDE}
Example: `apt: name={{{{ item }}}}` with `loop: [git, curl]`, `async: 600`, `poll: 0`.
Fix: install the packages in one transaction (`name: [git, curl]`), add
`run_once` to a delegated launch, or use `poll > 0`.
""",
)

ASYNC_UNJOINED = _code(
    "async-unjoined",
    None,
    W,
    "A detached job is never checked.",
    """
What: a `poll: 0` task registers no result, or no `async_status` ever reads it
(an `async_status` with `mode: cleanup` only deletes the job file; it does not
wait).
Why: "the playbook run ends without checking back on async tasks": failures of
the job go unseen and its job file is never cleaned up.
Fix: register the launch and join it with `async_status`; or use `poll > 0`.
Intentional fire-and-forget (a background server killed by its limit) can say
so with `# noqa: async-unjoined`.
""",
)

ASYNC_JOIN_BUDGET = _code(
    "async-join-budget",
    None,
    W,
    "A join gives up before the job's time limit.",
    """
What: the join's `retries x delay` (defaults: 3 retries when only `until` is
set, delay 5 s) is shorter than the launch's `async` limit; or the join has no
`until` at all, so it reads the status once and does not wait.
Why: the join fails ("FAILED - RETRYING" runs out) while the job is still
allowed to run; the job's real result is lost and later tasks proceed while it
still holds its resources.
Example: `async: 600` joined with `retries: 10, delay: 5` (50 s).
Fix: make `retries x delay` at least the `async` limit.
""",
)

ASYNC_UNSUPPORTED = _code(
    "async-unsupported",
    None,
    E,
    "`async` on an action that cannot run asynchronously.",
    """
What: `async` on an action plugin that runs on the controller or transfers
files: copy, template, assemble, fetch, script, raw, debug, set_fact, assert,
fail, pause, include_vars, async_status itself, ...
Why: ansible-core fails the task: "This action (copy) does not support async."
Fix: drop `async`; for slow transfers use `synchronize` or `get_url`, which can.
""",
)

ASYNC_UNSUPPORTED_META = _code(
    "async-unsupported",
    "meta",
    W,
    "`async`/`poll` on `meta` is silently ignored.",
    """
What: `async` on a `meta` task (`meta: flush_handlers`, `meta: end_play`, ...).
Why: `meta` is handled by the strategy, never forked: ansible-core drops the
keyword without a word, so the playbook reads as asynchronous but is not.
Fix: remove `async`/`poll` from the task.
""",
)

ASYNC_UNSUPPORTED_IMPORT = _code(
    "async-unsupported",
    "import",
    W,
    "`async`/`poll` on an import is silently ignored.",
    """
What: `async`, `poll`, `until`, `retries` or `delay` on `import_tasks` or
`import_role`.
Why: ansible-core drops these keywords without a word, so the imported tasks
run synchronously although the playbook reads as if they were asynchronous.
Fix: put the keywords on the tasks inside the imported file.
""",
)

ASYNC_JOIN_UNKNOWN = _code(
    "async-join-unknown",
    None,
    E,
    "An `async_status` waits for no detached job.",
    """
What: the `jid` of an `async_status` reads a variable that no earlier task
registers (none at all, or only a later one), or one registered by a blocking
task, which has no job.  (A polled task's result is `async-redundant-join`.)
Variables from `vars`, role defaults, `set_fact`, `vars_files` and
`include_vars` are trusted.
Why: at run time the task fails with "could not find job" or "'dict object'
has no attribute 'ansible_job_id'".
Fix: point `jid` at the `register` of a `poll: 0` task.
""",
)

ASYNC_JOIN_UNKNOWN_LOOPED = _code(
    "async-join-unknown",
    "looped",
    E,
    "An `async_status` reads one job id from a looped launch's result.",
    """
What: the launch has a `loop` (or `with_*`), so its registered result holds one
job per item under `.results`, but the join reads `<register>.ansible_job_id`
directly or loops over the register itself instead of `<register>.results`.
Why: at run time the join fails with "'dict object' has no attribute
'ansible_job_id'" (ansible/ansible#22157, #12254, #38599).
Fix: loop the join over `<register>.results` with a `loop_var`, and read
`jid: "{{ <loop_var>.ansible_job_id }}"`.
""",
)

ASYNC_JOIN_CONTEXT = _code(
    "async-join-context",
    None,
    W,
    "A join runs in a different context than its launch.",
    """
What: the join's `delegate_to`, user (`become`/`become_user`, or
`remote_user` when neither becomes), `ansible_async_dir` or host set (another
play's hosts, or `run_once` against a launch on every host) differs from the
launch's; or the launch has a `when` the join lacks (without a guard on the
launch's own result such as `when: job is not skipped`).
Why: the job file lives under the launching user's `~/.ansible_async` on the
launching host; ansible-core looks elsewhere and reports "could not find job"
(ansible/ansible#77257, #81805, #86479). playgraph's runtime reads the job in
the launch's context, but the playbook breaks under ansible-core.
Fix: give the join the same `delegate_to`, `become`, `become_user`, async dir,
hosts and `when` (a block around both does it).
""",
)

ASYNC_POLL_IGNORED = _code(
    "async-poll-ignored",
    None,
    W,
    "`poll` without `async` does nothing.",
    """
What: a task sets `poll` but no `async` (or `async: 0`).
Why: the task runs synchronously; `poll: 0` in particular reads as "fire and
forget" but is not.
Fix: add `async: <limit>` or remove `poll`.
""",
)

ASYNC_REDUNDANT_JOIN = _code(
    "async-redundant-join",
    None,
    I,
    "`async_status` on a polled task's result.",
    """
What: a join reads the result of a task with `poll > 0`.
Why: a polled task has already waited for its job and returns its result; the
job file is cleaned up, so the join finds nothing ("could not find job").
Fix: remove the join, or make the launch `poll: 0`.
""",
)

ASYNC_RUN_ONCE = _code(
    "async-run-once",
    None,
    W,
    "`run_once` and async jobs do not mix as written.",
    """
What: a `run_once` launch joined on every host, or `run_once` under
`strategy: free`.
Why: only one host gets an `ansible_job_id`; the other hosts' joins fail. Under
the free strategy `run_once` is not honoured and the task runs on every host.
Fix: give the join `run_once` too (or delegate both to one host).
""",
)

ASYNC_CHANGED_WHEN = _code(
    "async-changed-when",
    None,
    I,
    "`changed_when`/`creates` on a detached launch has no effect.",
    """
What: `changed_when`, `failed_when`, `creates` or `removes` on a `poll: 0` task.
Why: the launch record always reports `changed: true`; the conditions see only
the launch record, not the job's result.  (`creates`/`removes` still make the
command skip itself inside the job, but the launch reports `changed` anyway and
only the join's result tells whether it ran.)
Fix: put `changed_when`/`failed_when` on the `async_status` join.
""",
)


# --------------------------------------------------------------------------- lint configuration
# `.playgraph.yml` (or the file named by `check -c`), read by compiler/lint/config.py.

CONFIG_UNKNOWN_KEY = _code(
    "config",
    "unknown-key",
    E,
    "The lint configuration has a key playgraph does not know.",
    """
What: a top-level key of `.playgraph.yml` other than `skip_list`, `warn_list`
and `locks`.
Why: a misspelt key (`skiplist`) would silently do nothing.
Example: `skip-list: [async-unjoined]` — did you mean `skip_list`?
Fix: use the suggested key.
""",
)

CONFIG_UNKNOWN_RULE = _code(
    "config",
    "unknown-rule",
    E,
    "`skip_list`/`warn_list` names no diagnostic id.",
    """
What: an entry of `skip_list` or `warn_list` that is neither a diagnostic id
(`async-unsupported[import]`) nor a rule (`async-unsupported`, which matches
all its sub-ids); or an id that cannot be skipped (`syntax`, `load-failure`,
`config`: nothing after them can be trusted).
Why: a misspelt id would silently skip nothing.
Example: `skip_list: [async-unjoind]` — did you mean `async-unjoined`?
Fix: use the suggested id (`specs/diagnostics.md` lists them all).
""",
)

CONFIG_UNKNOWN_MODULE = _code(
    "config",
    "unknown-module",
    W,
    "A `locks:` entry names a module playgraph does not know.",
    """
What: a module name under `locks:` that is not in playgraph's catalog (and not
a module of a collection playgraph has no catalog for).
Why: the lock would never be taken: no task runs a module of that name.
Example: `locks: {db: [community.mysql.mysql_dbb]}`.
Fix: use the suggested name, or `command:<regex>` for command lines.
""",
)

CONFIG_BAD_VALUE = _code(
    "config",
    "bad-value",
    E,
    "A lint configuration value has the wrong shape.",
    """
What: `skip_list`/`warn_list` not a list of strings; `locks` not a mapping of
lock names to lists of module names and `command:<regex>` patterns; an empty
name; a regular expression that does not compile.
Why: playgraph cannot tell what was meant, and guessing could hide findings.
Example: `locks: {migrations: "command:^/opt/app/bin/migrate"}` (a string, not a list).
Fix: follow the message; the top of `.playgraph.yml` is a mapping.
""",
)


# --------------------------------------------------------------------------- resolution (H3)

NOT_INSTALLED_ROLE = _code(
    "not-installed",
    "role",
    E,
    "A role is not found where Ansible looks for roles.",
    """
What: a role named by `roles:`, `import_role`, `include_role` or a role dependency is
not in the playbook's `roles/` folder, the configured `roles_path`
(`ANSIBLE_ROLES_PATH`, `~/.ansible/roles`, `/usr/share/ansible/roles`,
`/etc/ansible/roles`), beside the playbook, or in an installed collection. Reported
once per role, at its first use; a warning when a `requirements.yml` declares it.
Why: Ansible stops with "the role '...' was not found".
Example: `roles: [geerlingguy.docker]` without `ansible-galaxy install`.
Fix: `ansible-galaxy install -r requirements.yml`, set `roles_path`, or list the role
in `.playgraph.yml`'s `mock_roles` when it is installed only where the playbook runs.
""",
)

NOT_INSTALLED_COLLECTION = _code(
    "not-installed",
    "collection",
    W,
    "A collection used by the playbook is not installed.",
    """
What: a module or role of a collection that is not installed in any collections path
(`ANSIBLE_COLLECTIONS_PATH`, `~/.ansible/collections`, `/usr/share/ansible/collections`,
a `collections/` folder beside the playbook, an installed `ansible` package). Reported
once per collection.
Why: Ansible fails with "couldn't resolve module/action" until it is installed;
playgraph checks what its own catalog knows of it.
Example: `community.general.ufw:` on a controller with only ansible-core.
Fix: `ansible-galaxy collection install community.general` (or `-r requirements.yml`),
or list it in `.playgraph.yml`'s `mock_modules`.
""",
)

RUN_UNSUPPORTED_ACTION_PLUGIN = _code(
    "run-unsupported",
    "action-plugin",
    W,
    "The module has a controller-side action plugin playgraph does not run.",
    """
What: the module's collection ships an action plugin (`plugins/action/<name>.py`),
code that ansible-core runs on the controller before or instead of the module, and
playgraph has no native implementation of it.
Why: `playgraph run` fails that task with a message naming the plugin; `check` says so
before the run.
Example: `ansible.posix.synchronize:` or `community.general.ufw` with its own action.
Fix: run that play with ansible-playbook, or ask for native support.
""",
)


def ids() -> list[str]:
    return sorted(REGISTRY)


def render_markdown() -> str:
    """`specs/diagnostics.md`, generated from the registry."""
    out = [
        "# Diagnostics",
        "",
        "Generated from `compiler/codes.py` by `python scripts/gen_specs.py`;",
        "a test checks this file is current. Do not edit by hand.",
        "",
        "| id | severity | summary |",
        "|---|---|---|",
    ]
    for code_id in ids():
        code = REGISTRY[code_id]
        out.append(f"| `{code_id}` | {code.severity.value} | {code.summary} |")
    for code_id in ids():
        code = REGISTRY[code_id]
        out += [
            "",
            f"## `{code_id}`",
            "",
            f"Severity: **{code.severity.value}**. {code.summary}",
            "",
        ]
        out += code.doc.splitlines()
    return "\n".join(out) + "\n"
