"""S4 (static half): no SQL is built from strings anywhere in the code we ship.

The scan reads ``seobatch/``, ``actors/`` and ``scripts/`` with ``ast`` and looks at every
``execute_sql(…)``, ``SQL(…)`` and ``….raw(…)`` call. Its first argument must not be an
f-string, a ``%``-formatted string, a ``.format()`` call or a concatenation with anything
but constants — directly, or through a local variable assigned such a value in the same
function. A call whose SQL is assembled from our own constant identifiers may be
allow-listed with a ``# sql-constant: <why>`` comment on the call's line; the comment must
give a reason, and the allow-list is kept short.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("seobatch", "actors", "scripts")
SQL_CALLS = {"execute_sql", "SQL", "raw"}
ALLOW_RE = re.compile(r"#\s*sql-constant:\s*(\S.{9,})")
#: The allow-list must stay small; each entry needs a written reason.
MAX_ALLOWED = 4


@dataclass(frozen=True)
class Finding:
    path: str
    line: int
    call: str
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.call}(…) first argument is {self.why}"


def _python_files() -> list[Path]:
    files: list[Path] = []
    for top in SCANNED:
        base = ROOT / top
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts:
                continue
            if path.suffix == ".py":
                files.append(path)
            elif path.suffix == "" and path.read_bytes()[:64].startswith(b"#!") and b"python" in path.read_bytes()[:64]:
                files.append(path)
    return files


def _call_name(node: ast.Call) -> str | None:
    func = node.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _is_constant_str(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def unsafe_kind(node: ast.AST) -> str | None:
    """Why ``node`` builds SQL text from values, or None when it does not."""
    if isinstance(node, ast.JoinedStr):
        if any(isinstance(v, ast.FormattedValue) for v in node.values):
            return "an f-string"
        return None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
        if _is_constant_str(node.left) or isinstance(node.left, ast.JoinedStr):
            return "a %-formatted string"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
        return "a .format() call"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "join":
        if not all(_is_constant_str(a) for a in node.args) and not (
            node.args and isinstance(node.args[0], (ast.List, ast.Tuple))
            and all(_is_constant_str(e) for e in node.args[0].elts)
        ):
            return "a str.join() of values"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        parts = _flatten_add(node)
        if any(_is_constant_str(p) or isinstance(p, ast.JoinedStr) for p in parts):
            for p in parts:
                if _is_constant_str(p):
                    continue
                inner = unsafe_kind(p)
                if inner or not _is_constant_str(p):
                    return "a concatenation with a non-constant"
    return None


def _flatten_add(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _flatten_add(node.left) + _flatten_add(node.right)
    return [node]


class _Scanner(ast.NodeVisitor):
    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.lines = source.splitlines()
        self.findings: list[Finding] = []
        self.allowed: list[tuple[Finding, str]] = []
        self.scopes: list[dict[str, list[ast.AST]]] = [{}]

    def _assignments(self, fn: ast.AST) -> dict[str, list[ast.AST]]:
        found: dict[str, list[ast.AST]] = {}
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found.setdefault(target.id, []).append(node.value)
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and isinstance(node.target, ast.Name):
                if node.value is not None:
                    value = node.value
                    if isinstance(node, ast.AugAssign):
                        value = ast.BinOp(left=ast.Constant(""), op=node.op, right=node.value)
                    found.setdefault(node.target.id, []).append(value)
        return found

    def visit_Module(self, node: ast.Module) -> None:
        self.scopes = [self._assignments(node)]
        self.generic_visit(node)

    def _visit_function(self, node: ast.AST) -> None:
        self.scopes.append(self._assignments(node))
        self.generic_visit(node)
        self.scopes.pop()

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Call(self, node: ast.Call) -> None:
        name = _call_name(node)
        if name in SQL_CALLS and node.args:
            why = self._why(node.args[0])
            if why:
                finding = Finding(self.path, node.lineno, name, why)
                reason = self._allow_reason(node)
                if reason:
                    self.allowed.append((finding, reason))
                else:
                    self.findings.append(finding)
        self.generic_visit(node)

    def _why(self, arg: ast.AST) -> str | None:
        why = unsafe_kind(arg)
        if why or not isinstance(arg, ast.Name):
            return why
        for value in self.scopes[-1].get(arg.id, []):
            inner = unsafe_kind(value)
            if inner:
                return f"variable {arg.id!r}, assigned {inner}"
        return None

    def _allow_reason(self, node: ast.Call) -> str | None:
        end = getattr(node, "end_lineno", node.lineno)
        for lineno in range(node.lineno, end + 1):
            match = ALLOW_RE.search(self.lines[lineno - 1])
            if match:
                return match.group(1).strip()
        return None


def scan_source(source: str, path: str = "<string>") -> _Scanner:
    scanner = _Scanner(path, source)
    scanner.visit(ast.parse(source, filename=path))
    return scanner


def scan() -> _Scanner:
    total = _Scanner("", "")
    for file in _python_files():
        rel = str(file.relative_to(ROOT))
        result = scan_source(file.read_text(encoding="utf-8"), rel)
        total.findings += result.findings
        total.allowed += result.allowed
    return total


def test_s4_no_sql_is_built_from_strings_in_the_shipped_code():
    """S4: no ``execute_sql(``/``SQL(``/``.raw(`` call takes an f-string, %-formatting,
    ``.format()`` or a concatenation with values as its SQL — zero findings."""
    result = scan()
    assert _python_files(), "the scan found no source files"
    assert [str(f) for f in result.findings] == []


def test_s4_the_allow_list_is_short_and_every_entry_says_why():
    """S4: allow-listed SQL (``# sql-constant: …``) is only for our own constant
    identifiers, each with a reason, and there are few of them."""
    result = scan()
    assert len(result.allowed) <= MAX_ALLOWED, [str(f) for f, _ in result.allowed]
    for finding, reason in result.allowed:
        assert len(reason) >= 10, f"{finding}: give a real reason"


@pytest.mark.parametrize(
    "code",
    [
        'db.execute_sql(f"SELECT * FROM t WHERE id = {x}")',
        'db.execute_sql("SELECT * FROM t WHERE id = %s" % x)',
        'db.execute_sql("SELECT * FROM t WHERE id = {}".format(x))',
        'db.execute_sql("SELECT * FROM t WHERE id = " + x)',
        'SQL(f"DEFAULT \'{x}\'")',
        'Model.raw("SELECT * FROM t WHERE name = \'" + name + "\'")',
        'def f(x):\n    sql = "DELETE FROM t WHERE id = " + str(x)\n    db.execute_sql(sql)',
        'def f(x):\n    sql = f"DELETE FROM {x}"\n    return db.execute_sql(sql, ())',
        'db.execute_sql(" AND ".join(conditions))',
    ],
)
def test_s4_the_scan_catches_each_kind_of_string_built_sql(code):
    """S4: the scanner itself finds each forbidden shape (so a zero is meaningful)."""
    assert len(scan_source(code).findings) == 1


@pytest.mark.parametrize(
    "code",
    [
        'db.execute_sql("SELECT * FROM t WHERE id = %s", (x,))',
        'SQL("DEFAULT 0")',
        'db.execute_sql("SELECT 1 " + "FROM t")',
        'Model.raw("SELECT * FROM t WHERE id = %s", x)',
        'def f(x):\n    sql = "SELECT * FROM t WHERE id = %s"\n    db.execute_sql(sql, (x,))',
        'db.execute_sql(f"SELECT {x}")  # sql-constant: x is a column name from our model',
    ],
)
def test_s4_parameterised_sql_passes_the_scan(code):
    """S4: parameterised and constant SQL is not flagged."""
    assert scan_source(code).findings == []
