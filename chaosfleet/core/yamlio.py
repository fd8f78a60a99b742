"""Load YAML into a typed model, reporting every problem with its field path and line."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from chaosfleet.core.errors import ConfigError

M = TypeVar("M", bound=BaseModel)

MAX_BYTES = 1 << 20  # a scenario, suite or config file is never this large
MAX_DEPTH = 64  # nesting levels; deeper is an attack or a mistake
MAX_NODES = 100_000  # values after aliases are expanded (an alias bomb has billions)


def _check_shape(root: yaml.Node, source: str) -> None:
    """Refuse what would hang or crash the walkers and the validator: recursive
    aliases, nesting deeper than MAX_DEPTH, more than MAX_NODES values once aliases
    are expanded. Each node is sized once, so an alias bomb is measured in linear
    time instead of being walked."""
    sizes: dict[int, int] = {}
    on_path: set[int] = set()

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in on_path:
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: a recursive alias")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{source}:{node.start_mark.line + 1}: nested deeper than "
                              f"{MAX_DEPTH} levels")
        on_path.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        total = 1 + sum(size(child, depth + 1) for child in children)
        on_path.discard(key)
        if total > MAX_NODES:
            raise ConfigError(f"{source}: more than {MAX_NODES:,} values once its aliases "
                              "are expanded")
        sizes[key] = total
        return total

    size(root, 0)


def _line_index(node: yaml.Node, path: tuple[Any, ...] = ()) -> dict[tuple[Any, ...], int]:
    """Map every field path in a composed YAML document to its 1-based line."""
    lines = {path: node.start_mark.line + 1}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines.update(_line_index(value, (*path, key.value)))
            lines[(*path, key.value)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.update(_line_index(item, (*path, i)))
    return lines


def _duplicate_keys(node: yaml.Node, path: tuple[Any, ...] = ()) -> list[str]:
    """Keys given twice in one mapping, with both lines: YAML keeps the last one
    silently (`rate: 40` then `rate: 4000` would pass as 4000)."""
    found: list[str] = []
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value
            where = ".".join(str(p) for p in (*path, name))
            if name in first and name != "<<":
                found.append(f"{key.start_mark.line + 1}: {where}: given twice (first on "
                             f"line {first[name]}; YAML would keep only the last)")
            first.setdefault(name, key.start_mark.line + 1)
            found += _duplicate_keys(value, (*path, name))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            found += _duplicate_keys(item, (*path, i))
    return found


def _nearest_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for end in range(len(loc), -1, -1):
        key = tuple(str(p) if not isinstance(p, int) else p for p in loc[:end])
        if key in lines:
            return lines[key]
    return None


def _suggestion(error: Any) -> str:
    """A "did you mean" for an unknown tag, such as a misspelt fault type."""
    ctx = error.get("ctx") or {}
    if error.get("type") != "union_tag_invalid" or "tag" not in ctx:
        return ""
    tags = [t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(",")]
    close = difflib.get_close_matches(str(ctx["tag"]), tags, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _document_path(data: Any, loc: tuple[Any, ...]) -> tuple[Any, ...]:
    """The error's location as the user wrote it: pydantic inserts the tag of a
    discriminated union (`faults.0.latency.start`); the document has none."""
    path: list[Any] = []
    current = data
    for i, part in enumerate(loc):
        if isinstance(part, str) and part.startswith("recipe:"):
            continue  # the tag of a payload recipe (chaosfleet/core/recipes.py), not a key
        inner = i < len(loc) - 1  # a missing field is always the last part
        if isinstance(current, dict) and part not in current and inner:
            continue  # a union tag such as the value of `type:`, not a key
        path.append(part)
        try:
            current = current[part]
        except (KeyError, IndexError, TypeError):
            current = None
    return tuple(path)


def format_errors(
    err: ValidationError, lines: dict[tuple[Any, ...], int], source: str, data: Any = None
) -> str:
    """One line per problem: `source:line: field.path: message`."""
    out = []
    for e in err.errors():
        loc = _document_path(data, tuple(e["loc"]))
        field = ".".join(str(p) for p in loc) or "(document)"
        line = _nearest_line(lines, loc)
        where = f"{source}:{line}" if line else source
        out.append(f"{where}: {field}: {e['msg']}{_suggestion(e)}")
    return "\n".join(out)


def parse_yaml_model(text: str, model: type[M], source: str = "<string>") -> M:
    """Parse and validate; raise ConfigError listing every bad field, never a traceback."""
    if len(text) > MAX_BYTES:
        raise ConfigError(f"{source}: larger than {MAX_BYTES // 1024} KiB")
    try:
        node = yaml.compose(text)
        if node is not None:
            _check_shape(node, source)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"{where}: not valid YAML: {getattr(exc, 'problem', exc)}") from None
    except RecursionError:  # the YAML parser itself recurses per nesting level
        raise ConfigError(f"{source}: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level")
    lines = _line_index(node) if node is not None else {}
    if dupes := (_duplicate_keys(node) if node is not None else []):
        raise ConfigError("\n".join(f"{source}:{d}" for d in dupes))
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, lines, source, data)) from None


def read_bounded(path: Path, limit: int = MAX_BYTES) -> str:
    """A text file of at most `limit` bytes: `/dev/zero` or a huge file is refused
    after reading one byte past the limit, never read to the end."""
    try:
        with Path(path).open("rb") as f:
            raw = f.read(limit + 1)
        if len(raw) > limit:
            raise ConfigError(f"{path}: larger than {limit // 1024} KiB")
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None


def load_yaml_model(path: Path, model: type[M]) -> M:
    return parse_yaml_model(read_bounded(path), model, str(path))
