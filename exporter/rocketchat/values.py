"""Reading values out of Rocket.Chat's answers: numbers, strings, dates, login and error bodies.

Everything here treats the body as hostile: a field of the wrong type is treated as absent (its
series disappears), a body of the wrong shape raises ParseError. Numbers may arrive as JSON numbers
or as numeric strings; non-finite values are never produced.
"""

from __future__ import annotations

import functools
import math
import sys
from array import array
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar


class ParseError(ValueError):
    """The body does not have the shape the exporter understands."""


_P = ParamSpec("_P")
_R = TypeVar("_R")


def only_parse_errors(parse: Callable[_P, _R]) -> Callable[_P, _R]:
    """A parser's promise: whatever the body holds, it raises ParseError and nothing else.

    The field readers below already turn odd values into "absent"; this is the net under them,
    so that a body nobody thought of fails one poll with a clear reason instead of a traceback.
    """

    @functools.wraps(parse)
    def guarded(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return parse(*args, **kwargs)
        except ParseError:
            raise
        except (ValueError, TypeError, ArithmeticError, RecursionError, LookupError) as exc:
            raise ParseError(f"unreadable answer ({type(exc).__name__})") from None

    return guarded


# the small counts statistics are full of, as one shared float each (24 bytes saved per value)
_SMALL = tuple(float(i) for i in range(1024))


def number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string, else None (booleans are not numbers)."""
    kind = type(value)  # json.loads makes exact types: the common cases first, cheaply
    if kind is float:
        exact: float = value
        return exact if math.isfinite(exact) else None
    if kind is int:
        integer: int = value
        if 0 <= integer < 1024:
            return _SMALL[integer]
        return float(integer) if -(2**63) < integer < 2**63 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        result = float(value) if abs(value) < 2**63 else math.inf
    elif isinstance(value, float):
        result = value
    elif isinstance(value, str) and 0 < len(value) <= 40:
        try:
            result = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return result if math.isfinite(result) else None


# Numbers a record keeps for as long as it is current, unboxed: 8-byte doubles in an array, not
# float objects (~40 bytes with their pointer), multiplied by every record of a large fleet.
# NaN marks an absent one: number() and timestamp() never yield it.
ABSENT = math.nan
if TYPE_CHECKING:
    _Doubles = array[float]
else:
    _Doubles = array  # not subscriptable at run time before 3.12


class Unboxed(_Doubles):
    """An array of doubles whose absent numbers (NaN) are equal to each other, as None is to
    None: the records holding one compare by their values, absent ones included."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, array):
            return NotImplemented
        return len(self) == len(other) and all(
            a == b or (a != a and b != b) for a, b in zip(self, other, strict=True)
        )

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal


def unboxed(values: Iterable[float | None]) -> Unboxed:
    return Unboxed("d", [ABSENT if value is None else value for value in values])


def boxed(value: float) -> float | None:
    """A number read back from unboxed(): None where it was absent."""
    return None if value != value else value  # NaN is the one value unequal to itself


def clean(value: str) -> str:
    """A string that is valid UTF-8: lone surrogates (legal in JSON, not in UTF-8) are written
    as their escape text, so the status page and labels can encode it and distinct values stay
    distinct."""
    if value.isascii():
        return value
    return value.encode("utf-8", "backslashreplace").decode("utf-8")


def text(value: Any, limit: int = 256) -> str:
    """A label-safe string: strings as they are (capped), numbers as their integer/float text."""
    if type(value) is str and len(value) <= limit and value.isascii():
        return value
    if isinstance(value, str):
        return clean(value[:limit])
    if isinstance(value, bool):
        return ""
    as_number = number(value)
    if as_number is None:
        return ""
    shown = str(int(as_number)) if as_number.is_integer() else repr(as_number)
    return shown[:limit]


H = TypeVar("H", bound=Hashable)
MAX_SHARED = 1024


def shared_in(table: dict[H, H], value: H, cap: int = MAX_SHARED) -> H:
    """The equal value `table` already keeps (one object for every record that holds it), else
    this one, kept while the table has room: the values are the server's to choose, so past
    the cap each record keeps its own."""
    kept = table.get(value)
    if kept is not None:
        return kept
    if len(table) < cap:
        table[value] = value
    return value


def shared(value: Any) -> str:
    """text() of a value most instances share ("Linux", "x64", a Node.js version): one string
    kept for all of them (interned strings are freed when no record uses them any more)."""
    return sys.intern(text(value))


def boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return None


def timestamp(value: Any) -> float | None:
    """Unix seconds from an ISO-8601 string or an EJSON {"$date": ...}; None when unreadable."""
    if isinstance(value, dict) and "$date" in value:
        inner = value["$date"]
        if isinstance(inner, int | float) and not isinstance(inner, bool):
            millis = number(inner)  # None for huge ints and non-finite floats
            return None if millis is None else millis / 1000
        value = inner
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    except (ValueError, OverflowError):  # unparsable, or a year the platform cannot place
        return None


def mapping(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class LoginResult:
    user_id: str
    auth_token: str


def header_safe(value: str) -> bool:
    """Printable ASCII without spaces: what an X-User-Id or X-Auth-Token header can carry."""
    return bool(value) and len(value) <= 4096 and all("!" <= c <= "~" for c in value)


@only_parse_errors
def parse_login(body: Any) -> LoginResult:
    """POST /api/v1/login success: {status: success, data: {userId, authToken}}."""
    data = mapping(body.get("data")) if isinstance(body, dict) else {}
    user_id, token = data.get("userId"), data.get("authToken")
    if not isinstance(user_id, str) or not isinstance(token, str) or not user_id or not token:
        raise ParseError("login answer has no data.userId/data.authToken")
    if not header_safe(user_id) or not header_safe(token):
        # a control character would be refused by every request (or split a header)
        raise ParseError("login answer's userId/authToken is not printable ASCII")
    return LoginResult(user_id, token)


def error_code(body: Any) -> str:
    """The `error` field of an error body (string or number), "" when absent."""
    if isinstance(body, dict):
        return text(body.get("error"), limit=200)
    return ""
