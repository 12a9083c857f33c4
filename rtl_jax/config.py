"""Generic helpers over nested frozen config dataclasses.

Experiment configs are nested ``@dataclasses.dataclass(frozen=True)`` classes whose fields are ``int``,
``float``, ``bool``, ``str``, ``tuple[...]`` of those, ``Optional[...]`` / ``X | None``, ``Literal[...]``
and nested config dataclasses. This module converts them to and from JSON-able dicts (strictly typed),
applies ``--set key.sub=value`` command-line overrides parsed by each field's annotation, and gives every
run a content address:

* :func:`non_defaults` keeps only the fields that differ from their defaults, and
* :func:`run_hash` is the md5 of the canonical JSON of those non-defaults,

so adding a field with a default later leaves every existing hash (and run directory) unchanged -- the
design of open_lth's ``Desc.hashname``. Annotations are resolved with :func:`typing.get_type_hints`, so
configs may use ``from __future__ import annotations`` (the classes must then live at module level).

Fields declared with ``init=False`` are derived values: they are neither serialised nor accepted.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Literal, Union

import numpy as np

_NONE_WORDS = ("none", "null")
_TRUE_WORDS = ("true", "1")
_FALSE_WORDS = ("false", "0")


# --------------------------------------------------------------------------- introspection
def _is_config_class(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _require_config(cfg: Any, what: str = "cfg") -> None:
    if not dataclasses.is_dataclass(cfg) or isinstance(cfg, type):
        raise ValueError(f"{what} must be a dataclass instance, got {type(cfg).__name__}: {cfg!r}")


def _fields(cls: type) -> list[dataclasses.Field]:
    """The init fields of a config class (derived ``init=False`` fields are skipped)."""
    return [f for f in dataclasses.fields(cls) if f.init]


def _hints(cls: type) -> dict[str, Any]:
    """Resolved annotations of a config class; a clear error when one cannot be resolved."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError) as e:
        raise ValueError(
            f"cannot resolve the type annotations of config class {cls.__qualname__}: {e} "
            "(config classes must be defined at module level)"
        ) from e


_MISSING = object()


def _field_default(f: dataclasses.Field) -> Any:
    """The default value of a field, or ``_MISSING`` when it has none."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return _MISSING


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _is_union(tp: Any) -> bool:
    return typing.get_origin(tp) in (Union, types.UnionType)


# --------------------------------------------------------------------------- to_dict
def _json_value(value: Any, tp: Any, key: str) -> Any:
    """One field value as a JSON-able Python value (tuples -> lists, int in a float field -> float)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (tuple, list)):
        if _is_union(tp):  # e.g. tuple[float, ...] | None: serialise by the tuple member
            tp = next((m for m in typing.get_args(tp) if typing.get_origin(m) is tuple), Any)
        args = typing.get_args(tp) if typing.get_origin(tp) is tuple else ()
        if len(args) == 2 and args[1] is Ellipsis:
            elem_types = [args[0]] * len(value)
        elif len(args) == len(value):
            elem_types = list(args)
        else:
            elem_types = [Any] * len(value)
        return [_json_value(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, elem_types, strict=True))]
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        float_field = tp is float or (_is_union(tp) and float in typing.get_args(tp) and int not in typing.get_args(tp))
        return float(value) if float_field else value
    if isinstance(value, float):
        return value
    raise ValueError(f"config field {key!r} holds a {type(value).__name__} ({value!r}), which is not JSON-serialisable")


def to_dict(cfg: Any) -> dict:
    """Nested JSON-serialisable dict of a config (nested configs -> dicts, tuples -> lists).

    An int stored in a ``float`` field is written as a float, so ``lr=1`` and ``lr=1.0`` (which compare
    equal) serialise, and therefore hash, identically.
    """
    _require_config(cfg)
    hints = _hints(type(cfg))
    return {f.name: _json_value(getattr(cfg, f.name), hints[f.name], f.name) for f in _fields(type(cfg))}


# --------------------------------------------------------------------------- typed checking
def _check(value: Any, tp: Any, key: str, base: Any = _MISSING) -> Any:
    """Check (and lightly normalise) a Python/JSON value against an annotation.

    Normalisation is limited to lossless conversions: list -> tuple for tuple fields, int -> float for
    float fields, dict -> config for nested config fields (``base`` is the instance the dict overrides).
    Anything else raises ``ValueError`` naming the key, the value and the expected type.
    """

    def fail(extra: str = "") -> ValueError:
        return ValueError(
            f"config key {key!r}: value {value!r} ({type(value).__name__}) is not a valid {_type_name(tp)}{extra}"
        )

    if isinstance(value, np.generic):
        value = value.item()
    origin = typing.get_origin(tp)
    if tp is Any:
        raise ValueError(f"config key {key!r}: annotation Any is not supported; use a concrete type")
    if _is_config_class(tp):
        if isinstance(value, tp):
            return value
        if isinstance(value, Mapping):
            return _from_mapping(tp, value, key, base if isinstance(base, tp) else _MISSING)
        raise fail()
    if tp is type(None):
        if value is None:
            return None
        raise fail()
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise fail()
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise fail()
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if not math.isfinite(value):
                raise fail(" (non-finite floats are not allowed: configs must serialise to strict JSON)")
            return float(value)
        raise fail()
    if tp is str:
        if isinstance(value, str):
            return value
        raise fail()
    if _is_union(tp):
        for member in typing.get_args(tp):
            try:
                return _check(value, member, key, base)
            except ValueError:
                continue
        raise fail()
    if origin is Literal:
        for lit in typing.get_args(tp):
            if type(lit) is type(value) and lit == value:
                return value
        raise fail(f"; allowed values are {list(typing.get_args(tp))}")
    if origin is tuple:
        if not isinstance(value, (tuple, list)):
            raise fail()
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            elem_types = [args[0]] * len(value)
        elif args == ((),):  # tuple[()]
            elem_types = []
        else:
            elem_types = list(args)
        if len(elem_types) != len(value):
            raise fail(f" (expected {len(elem_types)} elements, got {len(value)})")
        return tuple(_check(v, t, f"{key}[{i}]") for i, (v, t) in enumerate(zip(value, elem_types, strict=True)))
    raise ValueError(f"config key {key!r}: unsupported annotation {_type_name(tp)}")


def _from_mapping(cls: type, d: Mapping, prefix: str, base: Any) -> Any:
    """Build ``cls`` from a mapping; missing keys come from ``base`` (an instance) or the class defaults."""
    if not isinstance(d, Mapping):
        raise ValueError(f"config {prefix or cls.__qualname__!r}: expected a dict, got {type(d).__name__}: {d!r}")
    hints = _hints(cls)
    fields = {f.name: f for f in _fields(cls)}
    unknown = sorted(set(d) - set(fields))
    where = f"config {prefix!r} ({cls.__qualname__})" if prefix else f"config {cls.__qualname__}"
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; valid keys are {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        default = getattr(base, name) if base is not _MISSING else _field_default(f)
        if name in d:
            kwargs[name] = _check(d[name], hints[name], key, default)
        elif default is _MISSING:
            raise ValueError(f"{where}: required key {name!r} is missing")
        else:
            kwargs[name] = default
    return cls(**kwargs)


def from_dict(cls: type, d: Mapping) -> Any:
    """Strictly build config ``cls`` from a (nested) dict, e.g. one written by :func:`to_dict`.

    Unknown keys raise ``ValueError`` naming them; values are type-checked against the annotations
    (lists become tuples, ints in float fields become floats). Missing keys take their defaults; a
    partial dict for a nested config overrides that field's default instance, so
    ``from_dict(cls, non_defaults(cfg)) == cfg``.
    """
    if not _is_config_class(cls):
        raise ValueError(f"from_dict needs a dataclass type, got {cls!r}")
    return _from_mapping(cls, d, "", _MISSING)


# --------------------------------------------------------------------------- dotted paths
def _resolve(cfg: Any, dotted: str) -> tuple[list[str], Any, Any]:
    """Walk a dotted key; return (parts, owning config instance, annotation of the last part)."""
    _require_config(cfg)
    if not isinstance(dotted, str) or not dotted or any(not p for p in dotted.split(".")):
        raise ValueError(f"malformed config key {dotted!r}")
    parts = dotted.split(".")
    node = cfg
    for i, part in enumerate(parts):
        names = [f.name for f in _fields(type(node))]
        if part not in names:
            here = ".".join(parts[:i]) or "<top level>"
            raise ValueError(
                f"unknown config key {dotted!r}: {part!r} is not a field of {here}; valid keys are {names}"
            )
        if i < len(parts) - 1:
            child = getattr(node, part)
            if not dataclasses.is_dataclass(child):
                raise ValueError(
                    f"unknown config key {dotted!r}: {'.'.join(parts[: i + 1])!r} is a "
                    f"{type(child).__name__}, not a nested config"
                )
            node = child
    return parts, node, _hints(type(node))[parts[-1]]


def _replace_parts(cfg: Any, parts: list[str], value: Any) -> Any:
    if len(parts) == 1:
        return dataclasses.replace(cfg, **{parts[0]: value})
    return dataclasses.replace(cfg, **{parts[0]: _replace_parts(getattr(cfg, parts[0]), parts[1:], value)})


def get_path(cfg: Any, dotted: str) -> Any:
    """The value at a dotted key ("prune.amount"); unknown key -> ``ValueError`` listing valid keys."""
    parts, node, _ = _resolve(cfg, dotted)
    return getattr(node, parts[-1])


def replace_path(cfg: Any, dotted: str, value: Any) -> Any:
    """A new config with the field at ``dotted`` set to ``value`` (type-checked against its annotation).

    Unknown keys raise ``ValueError`` listing the valid keys at that level.
    """
    parts, node, tp = _resolve(cfg, dotted)
    checked = _check(value, tp, dotted, getattr(node, parts[-1]))
    return _replace_parts(cfg, parts, checked)


# --------------------------------------------------------------------------- --set overrides
def parse_override(s: str) -> tuple[str, str]:
    """Split ``"a.b=1"`` into ``("a.b", "1")``. The value may contain further ``=`` characters."""
    if not isinstance(s, str) or "=" not in s:
        raise ValueError(f"malformed override {s!r}: expected KEY=VALUE")
    key, value = s.split("=", 1)
    key = key.strip()
    if not key or any(not p for p in key.split(".")) or any(c.isspace() for c in key):
        raise ValueError(f"malformed override {s!r}: bad key {key!r} (expected dotted.field.names)")
    return key, value


def _split_sequence(text: str) -> list[str]:
    """``"a,b"`` / ``"[a, b]"`` / ``"(a, b)"`` -> element strings (stripped, matching quotes removed)."""
    t = text.strip()
    if len(t) >= 2 and (t[0], t[-1]) in (("[", "]"), ("(", ")")):
        t = t[1:-1].strip()
    if not t:
        return []
    items = []
    for item in t.split(","):
        item = item.strip()
        if len(item) >= 2 and item[0] == item[-1] and item[0] in "'\"":
            item = item[1:-1]
        items.append(item)
    if items and items[-1] == "":  # allow one trailing comma: "1,2," or "[1, 2,]"
        items.pop()
    return items


def parse_value(text: str, tp: Any, key: str) -> Any:
    """Parse a command-line string into a value of annotation ``tp`` (see :func:`apply_overrides`)."""

    def fail(extra: str = "") -> ValueError:
        return ValueError(f"--set {key}={text}: cannot parse {text!r} as {_type_name(tp)}{extra}")

    if not isinstance(text, str):
        raise ValueError(f"--set {key}: value must be a string, got {type(text).__name__}: {text!r}")
    origin = typing.get_origin(tp)
    if _is_config_class(tp):
        names = [f.name for f in _fields(tp)]
        raise ValueError(
            f"--set {key}={text}: {key!r} is a nested config ({tp.__qualname__}); set one of its fields "
            f"instead: {[f'{key}.{n}' for n in names]}"
        )
    if tp is type(None):
        if text.strip().lower() in _NONE_WORDS:
            return None
        raise fail(" (expected 'none' or 'null')")
    if tp is bool:
        word = text.strip().lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise fail(" (expected true/false/1/0)")
    if tp is int:
        try:
            return int(text.strip())
        except ValueError:
            raise fail() from None
    if tp is float:
        try:
            value = float(text.strip())
        except ValueError:
            raise fail() from None
        if not math.isfinite(value):
            raise fail(" (non-finite floats are not allowed: configs must serialise to strict JSON)")
        return value
    if tp is str:
        return text
    if _is_union(tp):
        members = typing.get_args(tp)
        if type(None) in members and text.strip().lower() in _NONE_WORDS:
            return None
        for member in members:
            if member is type(None):
                continue
            try:
                return parse_value(text, member, key)
            except ValueError:
                continue
        raise fail()
    if origin is Literal:
        allowed = typing.get_args(tp)
        for lit in allowed:
            try:
                candidate = parse_value(text, type(lit), key)
            except ValueError:
                continue
            if type(candidate) is type(lit) and candidate == lit:
                return lit
        raise fail(f"; allowed values are {list(allowed)}")
    if origin is tuple:
        args = typing.get_args(tp)
        items = _split_sequence(text)
        if len(args) == 2 and args[1] is Ellipsis:
            elem_types = [args[0]] * len(items)
        elif args == ((),):
            elem_types = []
        else:
            elem_types = list(args)
        if len(elem_types) != len(items):
            raise fail(f" (expected {len(elem_types)} comma-separated elements, got {len(items)})")
        if any(typing.get_origin(t) is tuple or _is_config_class(t) for t in elem_types):
            raise ValueError(f"--set {key}: nested sequences ({_type_name(tp)}) cannot be set from the command line")
        pairs = zip(items, elem_types, strict=True)
        return tuple(parse_value(item, t, f"{key}[{i}]") for i, (item, t) in enumerate(pairs))
    raise ValueError(f"--set {key}={text}: unsupported annotation {_type_name(tp)}")


def apply_overrides(cfg: Any, overrides: Sequence[str]) -> Any:
    """Apply ``KEY=VALUE`` strings in order; each value is parsed by the target field's annotation.

    * ``int``: ``"4096"``, ``"4_096"``; ``"1.5"`` is an error.
    * ``float``: anything ``float()`` accepts (``"1e-3"``, ``"0.5"``).
    * ``bool``: ``true/false/1/0`` (case-insensitive); anything else is an error.
    * ``str``: the text as given.
    * ``Optional[X]``: ``none``/``null`` (case-insensitive) -> ``None``, else parsed as ``X``.
    * ``Literal[...]``: must equal one of the literals (the error lists them).
    * ``tuple[X, ...]``: ``"0.25,0.5,0.75"`` or ``"[0.25, 0.5]"``; ``"[]"`` or ``""`` is empty.
      Elements may be quoted; commas inside elements are not supported.
    * a nested config field cannot be set directly (set its fields).

    Errors are ``ValueError`` naming the key, the value and the expected type.
    """
    if isinstance(overrides, str):
        raise ValueError(f"overrides must be a sequence of 'KEY=VALUE' strings, got one string {overrides!r}")
    for item in overrides:
        key, text = parse_override(item)
        _, _, tp = _resolve(cfg, key)
        cfg = replace_path(cfg, key, parse_value(text, tp, key))
    return cfg


# --------------------------------------------------------------------------- hashing
def _diff(cfg: Any, base: Any) -> dict:
    """Fields of ``cfg`` that differ from ``base`` (an instance of the same class, or ``_MISSING``)."""
    hints = _hints(type(cfg))
    out = {}
    for f in _fields(type(cfg)):
        value = getattr(cfg, f.name)
        default = getattr(base, f.name) if base is not _MISSING else _field_default(f)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            if default is _MISSING or type(default) is not type(value):
                # No default to compare with: record the nested config fully relative to its own defaults.
                out[f.name] = _diff(value, _MISSING)
            else:
                sub = _diff(value, default)
                if sub:
                    out[f.name] = sub
            continue
        mine = _json_value(value, hints[f.name], f.name)
        if default is _MISSING or mine != _json_value(default, hints[f.name], f.name):
            out[f.name] = mine
    return out


def non_defaults(cfg: Any) -> dict:
    """Nested dict of only the fields whose values differ from the defaults.

    Nested configs are compared with the parent field's default instance (so the result round-trips:
    ``from_dict(type(cfg), non_defaults(cfg)) == cfg``); nested configs without any difference are
    omitted entirely. Fields without a default are always included.
    """
    _require_config(cfg)
    return _diff(cfg, _MISSING)


def _canonical(obj: Any, where: str) -> Any:
    if isinstance(obj, Mapping):
        bad = [k for k in obj if not isinstance(k, str)]
        if bad:
            raise ValueError(f"canonical_json: non-string keys {bad!r} at {where or '<root>'}")
        return {k: _canonical(v, f"{where}.{k}" if where else k) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v, f"{where}[{i}]") for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"canonical_json: non-finite float {obj!r} at {where or '<root>'}")
        return obj
    raise ValueError(f"canonical_json: {type(obj).__name__} ({obj!r}) at {where or '<root>'} is not JSON-serialisable")


def canonical_json(d: Mapping) -> str:
    """Deterministic JSON: sorted keys, no whitespace, floats as Python's shortest round-trip ``repr``.

    Tuples become lists and numpy scalars Python scalars; non-finite floats and non-string keys raise.
    """
    return json.dumps(_canonical(d, ""), sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def run_hash(cfg: Any, length: int = 10) -> str:
    """md5 hex digest (first ``length`` chars) of ``canonical_json(non_defaults(cfg))``.

    Only non-default fields enter the hash, so adding a defaulted field later keeps old hashes.
    """
    if not isinstance(length, int) or isinstance(length, bool) or not 1 <= length <= 32:
        raise ValueError(f"hash length must be an int in 1..32, got {length!r}")
    return hashlib.md5(canonical_json(non_defaults(cfg)).encode("utf-8")).hexdigest()[:length]


def run_dir_name(prefix: str, cfg: Any) -> str:
    """``f"{prefix}_{run_hash(cfg)}"``; the prefix names the experiment (no path separators)."""
    if not isinstance(prefix, str) or not prefix or "/" in prefix or "\\" in prefix or prefix.strip() != prefix:
        raise ValueError(f"run directory prefix must be a non-empty name without slashes or spaces, got {prefix!r}")
    return f"{prefix}_{run_hash(cfg)}"
