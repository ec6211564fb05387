"""Typed dataclass configuration: load from YAML/TOML, override from the command line.

Every configurable step defines a (possibly nested) dataclass. ``load_config`` builds one from
defaults, an optional YAML/TOML file, and ``key.sub=value`` overrides. Values in overrides are parsed
as YAML scalars/lists (``lr=3e-4``, ``milestones=[0.25,0.5]``), never evaluated as code.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from pathlib import Path
from typing import Any, Mapping, Sequence, TypeVar

import yaml

from slife.errors import SlifeError

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

T = TypeVar("T")

# Bounds on a config or study file (untrusted: shared between people): bytes, values after YAML
# aliases are expanded, nesting depth.
MAX_CONFIG_BYTES = 1 << 20
MAX_NODES = 100_000
MAX_DEPTH = 64


class ConfigError(SlifeError):
    """A configuration file or override is invalid; the message names the source and the key."""


def finite(value: float, where: str) -> float:
    """``value`` if it is a finite number, else a ConfigError naming ``where`` (NaN passes ``x <= 0``
    checks, so every float a config reads goes through here)."""
    if not math.isfinite(value):
        raise ConfigError(f"{where}: must be a finite number, got {value}")
    return value


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


def _check_yaml_nodes(root: yaml.Node, where: str) -> None:
    """Refuse a YAML document that expands (aliases counted every time they are used) to more than
    MAX_NODES values or nests deeper than MAX_DEPTH: a few hundred bytes of aliases can otherwise
    stand for gigabytes."""
    done: dict[int, tuple[int, int]] = {}  # id -> (values, height) of the expanded node
    open_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            children: list[yaml.Node] = []
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        else:
            children = list(node.value)
        if children_done:
            open_nodes.discard(id(node))
            size = 1 + sum(done[id(c)][0] for c in children)
            height = 1 + max((done[id(c)][1] for c in children), default=0)
            if size > MAX_NODES:
                raise ConfigError(f"{where}: expands to more than {MAX_NODES} values (YAML aliases?)")
            if height > MAX_DEPTH:
                raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
            done[id(node)] = (size, height)
            continue
        if id(node) in done:
            continue
        if id(node) in open_nodes:
            raise ConfigError(f"{where}: a YAML alias refers to a value that contains it")
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in done)


def _check_depth(data: Any, where: str) -> None:
    """Refuse parsed data nested deeper than MAX_DEPTH (TOML has no aliases, only depth to bound)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(value, dict):
            stack.extend((v, depth + 1) for v in value.values())
        elif isinstance(value, list):
            stack.extend((v, depth + 1) for v in value)


def load_yaml(text: str, where: str) -> Any:
    """YAML data (safe loader: plain data only), bounded in size and depth; errors name ``where``."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_nodes(node, where)
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: cannot parse YAML: {_one_line(exc)}") from exc
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply") from None
    finally:
        loader.dispose()


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML (.yaml/.yml) or TOML (.toml) file into a dict (UTF-8, at most MAX_CONFIG_BYTES)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    if path.suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: unknown config format {path.suffix!r} (use .yaml, .yml or .toml)")
    with open(path, "rb") as fh:
        raw = fh.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes; not a config file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: cannot parse TOML: {_one_line(exc)}") from exc
        except RecursionError:
            raise ConfigError(f"{path}: nested too deeply") from None
        _check_depth(data, str(path))
    else:
        data = load_yaml(text, str(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def parse_overrides(overrides: Sequence[str], source: str = "command line") -> dict[str, Any]:
    """Turn ``["a.b=1", "c=[1,2]"]`` into a nested dict ``{"a": {"b": 1}, "c": [1, 2]}``."""
    nested: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"{source}: override {item!r} must look like key=value")
        key, raw = item.split("=", 1)
        key = key.strip()
        if not key:
            raise ConfigError(f"{source}: override {item!r} has an empty key")
        value = load_yaml(raw, f"{source}: value of {key!r}") if raw.strip() else ""
        node = nested
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{source}: {key!r} sets a field inside a non-mapping value")
        node[parts[-1]] = value
    return nested


def merge(base: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``update`` wins."""
    out = dict(base)
    for key, value in update.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _coerce(value: Any, annotation: Any, where: str) -> Any:
    """Check/convert one value against a type annotation (dataclasses, Optional, lists, tuples, scalars)."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is Any:
        return value
    if dataclasses.is_dataclass(annotation):
        if isinstance(value, annotation):
            return value
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping for {annotation.__name__}, got {value!r}")
        return from_dict(annotation, value, where)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if errors else f"{where}: invalid value {value!r}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {list(args)}, got {value!r}")
        return value
    if origin in (list, Sequence, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(_coerce(v, a, f"{where}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
        item_type = args[0] if args else Any
        items = [_coerce(v, item_type, f"{where}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if annotation is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if annotation is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        try:
            return finite(float(value), where)
        except OverflowError:  # an int beyond float's range
            raise ConfigError(f"{where}: must be a finite number, got {value}") from None
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], where: str = "config") -> T:
    """Build dataclass ``cls`` from a mapping, rejecting unknown keys and checking types."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(fields)}")
    kwargs = {name: _coerce(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-dict view of a dataclass config (tuples become lists, for YAML/JSON)."""

    def plain(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        return value

    return plain(dataclasses.asdict(cfg))


def load_config(
    cls: type[T],
    path: str | Path | None = None,
    overrides: Sequence[str] = (),
    base: Mapping[str, Any] | None = None,
) -> T:
    """Defaults of ``cls``, updated by ``base``, then the file at ``path``, then ``overrides``."""
    data: dict[str, Any] = dict(base or {})
    where = cls.__name__
    if path is not None:
        data = merge(data, read_config_file(path))
        where = str(path)
    if overrides:
        data = merge(data, parse_overrides(overrides))
    try:
        return from_dict(cls, data, where)
    except ConfigError as exc:
        if path is None:
            raise
        raise ConfigError(_blame_override(str(exc), where, overrides)) from exc


def _blame_override(message: str, where: str, overrides: Sequence[str]) -> str:
    """A message about field ``K`` set by ``--set K=...`` names the option, not the file."""
    for item in overrides:
        key = item.split("=", 1)[0].strip()
        prefix = f"{where}.{key}"
        if message.startswith(prefix) and message[len(prefix) : len(prefix) + 1] in (":", ".", "["):
            return f"--set {key}{message[len(prefix):]}"
    return message


def save_config(cfg: Any, path: str | Path) -> None:
    """Write a dataclass config as YAML."""
    Path(path).write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False), encoding="utf-8")


class _Once(argparse.Action):
    """An option that may be given once: a second ``--config`` would silently replace the first."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:  # fmt: skip
        if getattr(namespace, self.dest, None) is not None:
            raise argparse.ArgumentError(self, "given twice; give one file (use --set for changes on top of it)")
        setattr(namespace, self.dest, values)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The standard ``--config FILE`` and ``--set key=value`` options of a configurable command."""
    parser.add_argument("--config", type=Path, default=None, action=_Once, help="YAML or TOML config file")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set optim.lr=3e-4 (repeatable; values parsed as YAML)",
    )
