"""INFO's template: the lines `info.templated` renders for one shape of a node's reply, filled
from each later reply of that shape with one `%` (`info_probe.py` makes them)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import accumulate
from operator import add, itemgetter
from typing import Any, NamedTuple

from redis_ha_exporter.metrics.model import Layout, Packed, escape_label, offsets

# A reply is cut into tokens at every character its structure hangs on: the line breaks that
# `parse_info` splits at, `:` between key and value, `,` and `=` in `a=1,b=2` values. Each
# token is of one of three kinds:
# - fixed: the same, byte for byte, as in the reply the template was made from. Keys, section
#   headers, and the text values the family code reads (`ok`, `up`, `slave`, master_host).
# - number: a plain number (`NUMBER`) the code reads. Each fill proves they all still are,
#   of the same form (integer, decimal, signed: Redis prints each field one way), with one
#   `translate` and a few scans over them joined, and takes them as they are: the code
#   writes them as spelled.
# - free: the value of a field the code never reads (`used_memory_human`, `run_id`,
#   `lru_clock`), which may change without changing the lines. What the code reads is
#   recorded while it runs on the reply (`info_probe._Reads`), not declared a second time.
# The same delimiters, the same fixed tokens and numbers that are still numbers of their form
# give the same lines, but for the numbers. That is why the shape is not "the reply with its
# digits stripped", which would hide what a template must see:
# - `db0` becoming `db1`, `p99.9` becoming `p99.99`, a digit appearing in a key
#   (`used_memory` -> `used_memory2`) or in a command name: fixed tokens, compared whole.
# - an empty value next to a number swapping places (`a:1,b:` -> `a:,b:1`): the same text
#   without digits and the same count of digit runs, but here an empty token is not a number.
# - a hex id or an address whose digits change: free while unread (run_id, a replica's ip),
#   fixed when it is a label (master_host).
# - a number that becomes a word, empty, `1.2.3` or `-1` (another form): the proof fails. A
#   number written into a label (master_port) shows up as a probe in the probe copy's labels,
#   and is fixed instead.
# - a delimiter that appears, goes or becomes another (`a:x` + `b:5` -> `a:x=b:5`, where
#   field b is gone and the tokens are the same): the delimiters are compared as a string.
#   `\x85`, `\u2028` and `\u2029` break lines for `str.splitlines` but are not cut at: a
#   reply with one has no template.
# A new template is checked against the code's own lines for the reply and for a copy whose
# numbers are all 0 (`-0`, `0.0`), so arithmetic or a branch on a number in `templated` fails
# the build (that node's INFO is then rendered by the builder) instead of filling in wrong
# values.

# The delimiters: the line breaks `str.splitlines` knows that are ASCII, then `:`, `,`, `=`.
DELIMITERS = "\n\r\x0b\x0c\x1c\x1d\x1e:,="
_CUT = bytes.maketrans(DELIMITERS.encode(), b"\n" * len(DELIMITERS))
_NOT_DELIMITERS = bytes(set(range(256)) - set(DELIMITERS.encode()))
_OTHER_BREAKS = ("\x85", "\u2028", "\u2029")

Picker = Callable[[Sequence[Any]], tuple[Any, ...]]


def _picker(indices: Sequence[int]) -> Picker:
    """`itemgetter`, returning a tuple for one index and for none too."""
    if len(indices) == 1:
        (only,) = indices
        return lambda seq: (seq[only],)
    if not indices:
        return lambda seq: ()
    getter: Picker = itemgetter(*indices)
    return getter


class Cut(NamedTuple):
    """A reply cut at every delimiter: its tokens, and its delimiters in order."""

    tokens: list[bytes]
    delimiters: bytes


def cut(text: str) -> Cut | None:
    """The reply cut, or None when it has a line break not cut at."""
    if not text.isascii() and any(c in text for c in _OTHER_BREAKS):
        return None
    try:
        data = text.encode()
    except UnicodeEncodeError:  # a lone surrogate, which no decoded reply has
        return None
    return Cut(data.translate(_CUT).split(b"\n"), data.translate(None, _NOT_DELIMITERS))


class InfoTemplate:
    """INFO's lines for one shape of reply, `%s` where each number and `instance` label goes.
    `args_at` holds, per `%s`, a token's index, or `count` / `count + 1` for the label text
    before other labels / on a line without any. `forms` is the numbers' text without their
    digits, each after a line break: the forms a proof expects."""

    __slots__ = (
        "_args",
        "_bases",
        "_ends",
        "_fixed",
        "_labels",
        "_numbers",
        "_signed",
        "_values",
        "args_at",
        "args_ends",
        "count",
        "delimiters",
        "fixed",
        "fixed_at",
        "fixed_ends",
        "fmt",
        "forms",
        "layout",
        "numbers_at",
    )

    def __init__(
        self,
        delimiters: bytes,
        fixed_at: tuple[int, ...],
        fixed: tuple[bytes, ...],
        numbers_at: tuple[int, ...],
        forms: bytes,
        args_at: tuple[int, ...],
        fmt: bytes,
        layout: Layout,
        fixed_ends: tuple[int, ...],  # per family: bytes of the text up to its end, but `%s`
        args_ends: tuple[int, ...],  # per family: `%s` up to its end
    ) -> None:
        count = self.count = len(delimiters) + 1  # tokens
        self.delimiters, self.fixed_at, self.fixed = delimiters, fixed_at, fixed
        self.numbers_at, self.forms, self.args_at = numbers_at, forms, args_at
        self.fmt, self.layout, self.fixed_ends, self.args_ends = fmt, layout, fixed_ends, args_ends
        self._fixed = _picker(fixed_at)
        self._numbers = _picker(numbers_at)
        self._signed = b"-" in forms
        self._args = _picker(args_at)
        self._values = _picker([at for at in args_at if at < count])
        # Per family, the values and the two label texts up to its end: its offset is then
        # the sizes of the values before it plus what the instance adds, the same every poll.
        ends, self._labels = [], []
        values = listed = alone = 0
        for start, end in zip((0, *args_ends), args_ends, strict=False):
            for at in args_at[start:end]:
                if at < count:
                    values += 1
                elif at == count:
                    listed += 1
                else:
                    alone += 1
            ends.append(values)
            self._labels.append((listed, alone))
        self._ends = _picker(ends)
        self._bases: dict[tuple[int, int], tuple[int, ...]] = {}

    @property
    def key(self) -> tuple[object, ...]:
        """Equal for templates that fill the same way (those of nodes of the same shape)."""
        return (
            self.delimiters,
            self.fixed_at,
            self.fixed,
            self.numbers_at,
            self.forms,
            self.args_at,
            self.fmt,
        )

    def fill(self, reply: Cut, instance: str | None) -> Packed | None:
        """The lines for a reply, or None when its shape is another one."""
        tokens = reply.tokens
        if reply.delimiters != self.delimiters or self._fixed(tokens) != self.fixed:
            return None
        if not self._proved(tokens):
            return None
        if instance is None:
            labels = [b"", b""]
        else:
            label = f'instance="{escape_label(instance)}"'
            labels = [f"{label},".encode(), f"{{{label}}}".encode()]
        sizes = list(accumulate(map(len, self._values(tokens)), initial=0))
        lengths = (len(labels[0]), len(labels[1]))
        base = self._bases.get(lengths)
        if base is None:
            if len(self._bases) > 64:
                self._bases.clear()
            base = self._bases[lengths] = tuple(
                end + a * lengths[0] + b * lengths[1]
                for end, (a, b) in zip(self.fixed_ends, self._labels, strict=True)
            )
        ends = offsets((0, *map(add, base, self._ends(sizes))))
        return Packed(self.layout, self.fmt % self._args(tokens + labels), ends)

    def _proved(self, tokens: list[bytes]) -> bool:
        """Whether the reply's numbers are numbers of the forms the template's were, an
        integer `12`, a decimal `1.5` or either with a `-`: what is left without the digits
        must be the same, and the digits must be where the forms need them."""
        if not self.numbers_at:
            return True
        numbers = b"\n" + b"\n".join(self._numbers(tokens)) + b"\n"
        if numbers.translate(None, b"0123456789") != self.forms:
            return False
        if b"\n\n" in numbers or b"\n." in numbers or b".\n" in numbers:
            return False  # an empty one, or a `.` without digits on both sides
        # and a `-` first and followed by digits
        return not self._signed or not (
            b"-\n" in numbers or b"-." in numbers or numbers.count(b"-") != numbers.count(b"\n-")
        )
