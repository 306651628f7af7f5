"""JSON to protocol types and back.

A cattrs converter that is strict about JSON types (no `"5"` for 5, no string iterated
as a list), maps snake_case attributes to the contract's camelCase names, treats `null`
like an absent field, checks the model's constraints, and turns every failure into
`field.path: expected …` problems.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from typing import Any, TypeVar, get_args

import attrs
import cattrs
from cattrs.cols import is_sequence, list_structure_factory
from cattrs.errors import AttributeValidationNote, ClassValidationError, IterableValidationError
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override

from .errors import InvalidParams, PayloadTooLarge, Problem

T = TypeVar("T")
INT64_MAX = 2**63 - 1


class ConstraintViolation(ValueError):
    pass


class TooManyItems(ConstraintViolation):
    """An array over its maxItems: the contract calls that PayloadTooLarge, not bad params."""


class InvalidJson(ConstraintViolation):
    """Text that is not Unicode, or JSON nested too deeply, `where` inside the field."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(message)
        self.where = where


# Free-form JSON (metadata, tool arguments) deeper than this is refused: the layers below
# walk it recursively (redaction hit RecursionError at 700 levels; orjson stops at 255).
MAX_JSON_DEPTH = 100


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _expected(what: str, value: object) -> TypeError:
    return TypeError(f"expected {what}, got {json_type(value)}")


def _check_text(text: str, where: str, what: str = "Unicode text") -> None:
    """A lone surrogate (JSON's "\\ud800" escape) cannot be stored as UTF-8."""
    if text.isascii():
        return
    try:
        text.encode()
    except UnicodeEncodeError as error:
        code = ord(text[error.start])
        raise InvalidJson(where, f"expected {what}, got a lone surrogate U+{code:04X} at {error.start}") from None


def _check_json(value: object) -> None:
    """Every string (keys too) Unicode text, and nesting within MAX_JSON_DEPTH; without
    recursion, so the check itself cannot overflow the stack."""
    stack: list[tuple[object, str, int]] = [(value, "", 0)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item, where)
        elif isinstance(item, (dict, list)):
            if depth >= MAX_JSON_DEPTH:
                raise InvalidJson("", f"expected JSON nested at most {MAX_JSON_DEPTH} levels deep")
            for key, child in item.items() if isinstance(item, dict) else enumerate(item):
                if isinstance(key, str):
                    _check_text(key, where, "keys of Unicode text")
                    inner = f"{where}.{key.encode(errors='backslashreplace').decode()}"
                else:
                    inner = f"{where}[{key}]"
                stack.append((child, inner, depth + 1))


def _structure_str(value: object, _: type) -> str:
    if not isinstance(value, str):
        raise _expected("a string", value)
    _check_text(value, "")
    return value


def _structure_int(value: object, _: type) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _expected("an integer", value)
    if abs(value) > INT64_MAX:
        raise ConstraintViolation("expected an integer that fits in 64 bits")
    return value


def _structure_float(value: object, _: type) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise _expected("a number", value)
    if not math.isfinite(value):
        raise ConstraintViolation("expected a finite number")
    return float(value)


def _structure_bool(value: object, _: type) -> bool:
    if not isinstance(value, bool):
        raise _expected("true or false", value)
    return value


def _structure_json_object(value: object, _: type) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _expected("an object", value)
    _check_json(value)
    return value


def _structure_json(value: object, _: type) -> Any:
    _check_json(value)
    return value


PRIMITIVE_HOOKS: dict[type, Callable[[object, type], Any]] = {
    str: _structure_str,
    int: _structure_int,
    float: _structure_float,
    bool: _structure_bool,
}


def _structure_enum(value: object, cls: type[enum.Enum]) -> enum.Enum:
    try:
        return cls(value)
    except ValueError:
        choices = ", ".join(str(member.value) for member in cls)
        raise ConstraintViolation(f"expected one of {choices}") from None


def _violation(value: Any, rules: dict[str, Any], noun: str) -> ConstraintViolation | None:
    if value is None:
        return None
    if "maxItems" in rules and len(value) > rules["maxItems"]:
        return TooManyItems(f"expected at most {rules['maxItems']} items, got {len(value)}")
    if "minItems" in rules and len(value) < rules["minItems"]:
        return ConstraintViolation(f"expected at least {rules['minItems']} item(s)")
    if "minLength" in rules and len(value) < rules["minLength"]:
        return ConstraintViolation("expected a non-empty string")
    low, high = rules.get("minimum"), rules.get("maximum")
    if (low is not None and value < low) or (high is not None and value > high):
        if high is None:
            return ConstraintViolation(f"expected {noun} of at least {low}")
        return ConstraintViolation(f"expected {noun} from {low} to {high}")
    return None


def _check_constraints(instance: Any) -> None:
    errors: list[Exception] = []
    cls = type(instance)
    for field in attrs.fields(cls):
        noun = "an integer" if field.type is int or int in get_args(field.type) else "a number"
        problem = _violation(getattr(instance, field.name), field.metadata, noun)
        if problem is not None:
            problem.__notes__ = [AttributeValidationNote(f"@ attribute {field.name}", field.name, field.type)]
            errors.append(problem)
    if errors:
        raise ClassValidationError(f"While checking {cls.__name__}", errors, cls)


def _wire_names(cls: type) -> dict[str, str]:
    return {field.name: field.metadata["json"] for field in attrs.fields(cls)}


def _attrs_structure_hook(converter: cattrs.Converter, cls: type) -> Callable[[object, type], Any]:
    renames = {name: override(rename=wire) for name, wire in _wire_names(cls).items()}
    structure_fields: Callable[[dict[str, Any], type], Any] = make_dict_structure_fn(cls, converter, **renames)  # type: ignore[arg-type]
    # `null` for a field with a default means "use the default", as the contract says
    # absent and null optional fields are the same.
    defaulted = {
        field.metadata["json"]
        for field in attrs.fields(cls)
        if field.default is not attrs.NOTHING and field.default is not None
    }

    def structure(value: object, _: type) -> Any:
        if not isinstance(value, dict):
            raise _expected("an object", value)
        present = {k: v for k, v in value.items() if v is not None or k not in defaulted}
        instance = structure_fields(present, cls)
        _check_constraints(instance)
        return instance

    return structure


def _attrs_unstructure_hook(converter: cattrs.Converter, cls: type) -> Callable[[Any], dict[str, Any]]:
    overrides = {
        field.name: override(rename=field.metadata["json"], omit_if_default=field.default is None)
        for field in attrs.fields(cls)
    }
    return make_dict_unstructure_fn(cls, converter, **overrides)  # type: ignore[arg-type]


def _list_hook(converter: cattrs.Converter, cls: type) -> Callable[[object, type], list[Any]]:
    structure_items = list_structure_factory(cls, converter)

    def structure(value: object, _: type) -> list[Any]:
        if not isinstance(value, list):
            raise _expected("an array", value)
        items: list[Any] = structure_items(value, cls)
        return items

    return structure


def make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(detailed_validation=True)
    # By class, which outranks cattrs' own lenient hooks (`str(5)`, `int("5")`). The
    # generated enums are plain Enum, not str subclasses, so the str hook cannot catch them.
    for primitive, hook in PRIMITIVE_HOOKS.items():
        converter.register_structure_hook(primitive, hook)
    converter.register_structure_hook_func(lambda t: t == dict[str, Any], _structure_json_object)
    converter.register_structure_hook_func(lambda t: t is Any, _structure_json)
    converter.register_structure_hook(enum.Enum, _structure_enum)
    converter.register_structure_hook_factory(
        lambda t: is_sequence(t) and bool(get_args(t)), lambda t: _list_hook(converter, t)
    )
    converter.register_structure_hook_factory(attrs.has, lambda t: _attrs_structure_hook(converter, t))
    converter.register_unstructure_hook_factory(attrs.has, lambda t: _attrs_unstructure_hook(converter, t))
    return converter


CONVERTER = make_converter()


def _problems(error: BaseException, path: str) -> list[tuple[str, BaseException]]:
    """Flatten a cattrs error tree into (wire path, leaf error) pairs."""
    if isinstance(error, ClassValidationError):
        names = _wire_names(error.cl)
        with_notes, without = error.group_exceptions()
        found = [
            pair
            for leaf, note in with_notes
            for pair in _problems(leaf, f"{path}.{names.get(note.name, note.name)}".lstrip("."))
        ]
        return found + [pair for leaf in without for pair in _problems(leaf, path)]
    if isinstance(error, IterableValidationError):
        with_index, without = error.group_exceptions()
        found = [pair for leaf, note in with_index for pair in _problems(leaf, f"{path}[{note.index}]")]
        return found + [pair for leaf in without for pair in _problems(leaf, path)]
    if isinstance(error, InvalidJson):
        return [(f"{path}{error.where}", error)]
    return [(path, error)]


def _describe(leaf: BaseException) -> str:
    if isinstance(leaf, KeyError):
        return "required"
    if isinstance(leaf, (TypeError, ValueError)):
        return str(leaf)
    return f"invalid ({type(leaf).__name__})"


def structure_params(raw: object, cls: type[T]) -> T:
    """Turn a request's params into `cls`, or raise InvalidParams/PayloadTooLarge naming the field."""
    try:
        return CONVERTER.structure({} if raw is None else raw, cls)
    except (ClassValidationError, IterableValidationError, TypeError, ValueError) as error:
        problems = _problems(error, "")
        too_large = [(path, leaf) for path, leaf in problems if isinstance(leaf, TooManyItems)]
        if too_large:
            path, leaf = too_large[0]
            raise PayloadTooLarge(f"{path}: {leaf}", {"field": path}) from None
        raise InvalidParams([Problem(path, _describe(leaf)) for path, leaf in problems]) from None


def unstructure(value: object) -> Any:
    return CONVERTER.unstructure(value)
