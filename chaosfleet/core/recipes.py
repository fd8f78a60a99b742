"""Payload recipes and string templates: the typed, validated shape of what an
operation sends, at any depth.

A recipe is any JSON value in which

- a mapping with a `faker` key is a Faker field (`{faker: bothify, args: ["####"]}`),
- a string may hold `{...}` expressions (`"SKU-{faker:bothify:####}"`,
  `"user-{unique}"`, `"/articles/{article.slug}"`); `{{` and `}}` are literal braces,
- mappings and lists hold recipes.

Every provider name and template is checked when the scenario is loaded, at
any depth, with the field path of the problem, so nothing like `{"faker": ...}`
can reach the wire (invariant 8). Seeded rendering (Faker, `{unique}`) happens when a
unit is planned (chaosfleet/traffic/payloads.py); references and `{env:...}` are filled
here (`resolve`) when the request is sent.

Template expressions:

- `{faker:PROVIDER}` or `{faker:PROVIDER:ARG:...}`: a seeded Faker value; an ARG
  is a number if it reads as one, else text;
- `{unique}`: 12 hex characters unique to this operation (journey) of this run;
- `{env:NAME}`: the environment variable NAME, read at send time, so a secret
  stays out of files, plans and input hashes;
- `{name}`, `{name.field[0].x}`: a value captured by an earlier journey step, or
  `payload.…` (the operation's own payload) in a target's request templates.
"""

from __future__ import annotations

import difflib
import inspect
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated, Any

from faker import Faker
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    Tag,
    field_validator,
    model_validator,
)
from typing_extensions import TypeAliasType

FUNCTIONS = ("faker", "unique", "env")
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
_REF = re.compile(rf"^({_NAME})((?:\.{_NAME}|\[\d+\])*)$")
_STEP = re.compile(rf"\.({_NAME})|\[(\d+)\]")


class TemplateError(ValueError):
    """A template or recipe the fleet cannot render (named with its text)."""


@lru_cache(maxsize=1)
def faker_instance() -> Faker:
    return Faker()


# callables of a Faker object that are not data providers: calling one reseeds,
# reconfigures or introspects the generator
NOT_PROVIDERS = frozenset({
    "seed", "seed_instance", "seed_locale", "add_provider", "get_providers", "provider",
    "format", "parse", "set_formatter", "get_formatter", "set_arguments", "get_arguments",
    "del_arguments", "items", "weights", "random", "unique", "optional"})


def check_provider(name: str) -> str:
    """A Faker provider name, or a ValueError with the closest known names."""
    if (not name.startswith("_") and name not in NOT_PROVIDERS
            and callable(getattr(faker_instance(), name, None))):
        return name
    known = [n for n in dir(faker_instance()) if not n.startswith("_") and n not in NOT_PROVIDERS]
    close = difflib.get_close_matches(name, known, n=3)
    hint = f" (did you mean {', '.join(map(repr, close))}?)" if close else ""
    raise ValueError(f"unknown Faker provider {name!r}{hint}")


def check_arguments(name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
    """The provider accepts these arguments and renders with them: it is called
    once here, so a misspelt kwarg or a bad value fails at load time, not mid-run."""
    provider = getattr(faker_instance(), name)
    try:
        inspect.signature(provider).bind(*args, **kwargs)
    except TypeError as exc:
        raise ValueError(f"Faker provider {name!r}: {exc}") from None
    except ValueError:  # a builtin without a signature: the trial call checks it
        pass
    try:
        provider(*args, **kwargs)
    except Exception as exc:
        raise ValueError(f"Faker provider {name!r} fails with these arguments: "
                         f"{type(exc).__name__}: {exc}") from None


def _argument(text: str) -> Any:
    """A template argument: an int or a float if it reads as one, else the text
    (so `{faker:bothify:##-??}` passes `##-??`)."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    return text


@dataclass(frozen=True)
class Ref:
    """A reference to a named value: `root` then keys and list indices."""

    root: str
    path: tuple[str | int, ...] = ()

    def __str__(self) -> str:
        return self.root + "".join(f"[{p}]" if isinstance(p, int) else f".{p}"
                                   for p in self.path)


@dataclass(frozen=True)
class Call:
    """A function expression: `faker`, `unique` or `env`, with its arguments."""

    fn: str
    args: tuple[Any, ...] = ()


Part = str | Ref | Call


@lru_cache(maxsize=4096)
def parse_ref(text: str) -> Ref:
    """`name`, `name.key`, `name.items[2].id`: the small JSON-path subset the
    fleet reads (captures, error fields, templates). Cached: the same few paths are
    read for every answer of a slice, and a Ref is immutable."""
    m = _REF.match(text.strip())
    if not m:
        raise TemplateError(f"{text!r} is not a reference (name, name.key or name.list[0])")
    steps = tuple(key if key else int(index) for key, index in _STEP.findall(m.group(2)))
    return Ref(m.group(1), steps)


def _parse_expression(expr: str) -> Ref | Call:
    fn, _, rest = expr.partition(":")
    if fn == "unique" and not rest:
        return Call("unique")
    if fn == "env":
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rest):
            raise TemplateError(f"{{{expr}}}: env needs a variable name, e.g. {{env:API_TOKEN}}")
        return Call("env", (rest,))
    if fn == "faker":
        name, *raw = rest.split(":") if rest else [""]
        check_provider(name)
        args = [_argument(a) for a in raw]
        check_arguments(name, args, {})
        return Call("faker", (name, *args))
    try:
        return parse_ref(expr)
    except TemplateError:
        raise TemplateError(f"{{{expr}}} is neither a function ({', '.join(FUNCTIONS)}) "
                            "nor a reference") from None


@lru_cache(maxsize=4096)
def parse_template(text: str) -> tuple[Part, ...]:
    """Split a string into literal text and expressions; `{{`/`}}` are braces."""
    parts: list[Part] = []
    literal: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch in "{}" and text[i:i + 2] in ("{{", "}}"):
            literal.append(ch)
            i += 2
            continue
        if ch == "}":
            raise TemplateError(f"{text!r}: unmatched '}}' (write '}}}}' for a brace)")
        if ch != "{":
            literal.append(ch)
            i += 1
            continue
        end = text.find("}", i)
        if end < 0:
            raise TemplateError(f"{text!r}: unclosed '{{' (write '{{{{' for a brace)")
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(_parse_expression(text[i + 1:end]))
        i = end + 1
    if literal:
        parts.append("".join(literal))
    return tuple(parts)


def template_refs(text: str) -> list[Ref]:
    return [p for p in parse_template(text) if isinstance(p, Ref)]


def has_expressions(text: str) -> bool:
    return "{" in text or "}" in text


def escape(text: str) -> str:
    """Literal text as a template that renders to itself."""
    return text.replace("{", "{{").replace("}", "}}")


def lookup(doc: Any, path: tuple[str | int, ...]) -> Any:
    """Follow keys and indices; KeyError when the document has no such value."""
    for step in path:
        doc = _step_into(doc, step)
    return doc


def _step_into(doc: Any, step: str | int) -> Any:
    if isinstance(doc, list) and isinstance(step, int):
        if -len(doc) <= step < len(doc):
            return doc[step]
    elif isinstance(doc, dict) and step in doc:
        return doc[step]
    raise KeyError(step)


class Pending(str):
    """A template whose seeded parts are rendered; references and `env` wait for
    the send (the text is still a template: literal braces are doubled)."""


class MissingValue(LookupError):
    """A reference names a value the journey does not hold (a failed capture)."""


def resolve(value: Any, names: dict[str, Any]) -> Any:
    """Phase 2: fill every Pending string from `names` (captures, `payload`) and
    the environment. Raises MissingValue naming what is missing."""
    if isinstance(value, Pending):
        return render_template(value, names)
    if isinstance(value, dict):
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    return value


def render_template(text: str, names: dict[str, Any]) -> Any:
    """Render a template whose every part is a literal, a reference or `env`; a
    template that is one reference keeps the value's type."""
    parts = parse_template(text)
    values = [_value(p, names) for p in parts]
    if len(parts) == 1 and not isinstance(parts[0], str):
        return values[0]
    return "".join(v if isinstance(v, str) else json.dumps(v) if isinstance(v, dict | list)
                   else str(v) for v in values)


def _value(part: Any, names: dict[str, Any]) -> Any:
    if isinstance(part, str):
        return part
    if isinstance(part, Call):
        if part.fn != "env":
            raise MissingValue(f"{{{part.fn}}} was not rendered when planned")
        value = os.environ.get(part.args[0])
        if value is None:
            raise MissingValue(f"environment variable {part.args[0]} is not set")
        return value
    if part.root not in names:
        raise MissingValue(f"{{{part}}}: no value named {part.root!r} (a failed capture?)")
    try:
        return lookup(names[part.root], part.path)
    except KeyError:
        raise MissingValue(f"{{{part}}}: {part.root!r} holds no such field") from None


def has_pending(value: Any) -> bool:
    if isinstance(value, Pending):
        return True
    if isinstance(value, dict):
        return any(has_pending(v) for v in value.values())
    if isinstance(value, list):
        return any(has_pending(v) for v in value)
    return False


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class FakerField(Strict):
    """A payload value generated by a Faker provider, e.g. `{faker: pyint, kwargs: {...}}`."""

    faker: str
    args: list[JsonValue] = Field(default_factory=list)
    kwargs: dict[str, JsonValue] = Field(default_factory=dict)

    @field_validator("faker")
    @classmethod
    def known_provider(cls, name: str) -> str:
        return check_provider(name)

    @model_validator(mode="after")
    def accepted_arguments(self) -> FakerField:
        check_arguments(self.faker, list(self.args), dict(self.kwargs))
        return self


def _checked_template(text: str) -> str:
    if has_expressions(text):
        parse_template(text)  # raises TemplateError (a ValueError) naming the problem
    return text


TemplateStr = Annotated[str, AfterValidator(_checked_template)]
"""A string that may hold `{...}` expressions, checked when loaded."""


def _recipe_kind(value: Any) -> str:
    """A mapping with a `faker` key is always a Faker field, so a misspelt provider
    is an error rather than a literal payload value."""
    if isinstance(value, FakerField) or (isinstance(value, dict) and "faker" in value):
        return "recipe:faker"
    if isinstance(value, dict):
        return "recipe:mapping"
    if isinstance(value, list):
        return "recipe:list"
    if isinstance(value, str):
        return "recipe:text"
    return "recipe:scalar"


if TYPE_CHECKING:  # mypy cannot follow a recursive alias made at run time
    Recipe = Any
else:
    Recipe = TypeAliasType(
        "Recipe",
        Annotated[
            Annotated[FakerField, Tag("recipe:faker")]
            | Annotated[dict[str, "Recipe"], Tag("recipe:mapping")]
            | Annotated[list["Recipe"], Tag("recipe:list")]
            | Annotated[TemplateStr, Tag("recipe:text")]
            | Annotated[int | float | bool | None, Tag("recipe:scalar")],
            Discriminator(_recipe_kind),
        ],
    )



def _strings_with_paths(recipe: Any, where: str) -> list[tuple[str, str]]:
    if isinstance(recipe, str):
        return [(where, recipe)]
    if isinstance(recipe, dict):
        return [p for k, v in recipe.items() for p in _strings_with_paths(v, f"{where}.{k}")]
    if isinstance(recipe, list):
        return [p for i, v in enumerate(recipe) for p in _strings_with_paths(v, f"{where}.{i}")]
    return []


def recipe_refs(recipe: Any, where: str) -> list[tuple[str, Ref]]:
    """(field path, reference) for every reference in a recipe's templates."""
    out = []
    for path, text in _strings_with_paths(recipe, where):
        if has_expressions(text):
            out += [(path, ref) for ref in template_refs(text)]
    return out


def recipe_has_path(recipe: Any, path: tuple[str | int, ...]) -> bool:
    """Whether a rendered recipe will hold a value at `path` (statically: through
    mappings and lists; a Faker field or template may hold anything below it)."""
    for step in path:
        if isinstance(recipe, dict) and not isinstance(recipe, FakerField):
            if step not in recipe:
                return False
            recipe = recipe[step]
        elif isinstance(recipe, list) and isinstance(step, int):
            if not -len(recipe) <= step < len(recipe):
                return False
            recipe = recipe[step]
        else:
            return not isinstance(recipe, int | float | bool) and recipe is not None
    return True
