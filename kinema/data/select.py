"""`kinema data filter`: keep the rows of a manifest for which an expression over its columns is true.

Expressions are Python-like and evaluated over a whitelist of syntax only (no attribute access, no imports, no
calls except abs/min/max/len/round): `motion > 0.5 and height >= 256`, `codec in ('h264', 'hevc')`,
`end - start >= 2 and not black`.
"""

from __future__ import annotations

import ast
import operator
from pathlib import Path
from typing import Any

from .manifest import read_manifest, write_manifest

_OPS = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt,
    ast.GtE: operator.ge, ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b,
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
}  # fmt: skip
_FUNCS = {"abs": abs, "min": min, "max": max, "len": len, "round": round}


def compile_expression(text: str, columns: list[str]) -> ast.Expression:
    """Parse and check an expression: only whitelisted syntax, only known columns; raises ValueError saying why."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise ValueError(f"filter '{text}': not a valid expression ({e.msg})") from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in columns and node.id not in _FUNCS:
            raise ValueError(f"filter '{text}': unknown column '{node.id}'; columns are {', '.join(columns)}")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in _FUNCS):
            raise ValueError(f"filter '{text}': only {', '.join(_FUNCS)} may be called")
        allowed = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.UnaryOp, ast.Compare, ast.Name,
                   ast.Load, ast.Constant, ast.Tuple, ast.List, ast.Call, ast.IfExp, *_OPS)  # fmt: skip
        if not isinstance(node, allowed):
            raise ValueError(f"filter '{text}': '{type(node).__name__}' is not allowed in a filter expression")
    return tree


def evaluate(node: ast.AST, row: dict[str, Any]) -> Any:
    """The value of a checked expression for one row."""
    match node:
        case ast.Expression(body=body):
            return evaluate(body, row)
        case ast.Constant(value=v):
            return v
        case ast.Name(id=name):
            return row[name] if name in row else _FUNCS[name]
        case ast.Tuple(elts=elts) | ast.List(elts=elts):
            return tuple(evaluate(e, row) for e in elts)
        case ast.BoolOp(op=ast.And(), values=values):
            return all(evaluate(v, row) for v in values)
        case ast.BoolOp(op=ast.Or(), values=values):
            return any(evaluate(v, row) for v in values)
        case ast.UnaryOp(op=op, operand=x):
            return _OPS[type(op)](evaluate(x, row))
        case ast.BinOp(left=a, op=op, right=b):
            return _OPS[type(op)](evaluate(a, row), evaluate(b, row))
        case ast.Compare(left=left, ops=ops, comparators=rights):
            a = evaluate(left, row)
            for op, right in zip(ops, rights):
                b = evaluate(right, row)
                if not _OPS[type(op)](a, b):
                    return False
                a = b
            return True
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return evaluate(body, row) if evaluate(test, row) else evaluate(orelse, row)
        case ast.Call(func=ast.Name(id=name), args=args):
            return _FUNCS[name](*(evaluate(a, row) for a in args))
    raise ValueError(f"cannot evaluate '{ast.unparse(node)}'")


def filter_manifest(manifest: Path, out: Path, expressions: list[str]) -> tuple[int, int]:
    """Write the rows of `manifest` for which every expression holds to `out`; returns (kept, total)."""
    rows = read_manifest(manifest)
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["path"]
    trees = [compile_expression(e, columns) for e in expressions]
    kept = []
    for i, r in enumerate(rows):
        try:
            if all(evaluate(t, r) for t in trees):
                kept.append(r)
        except TypeError as e:  # e.g. an empty cell compared with a number
            raise ValueError(f"filter: row {i + 2} of '{manifest}' ({r['path']}): {e}") from None
    write_manifest(out, kept, columns)
    return len(kept), len(rows)
