"""Reading YAML (suite, baseline, chosen-settings and matrix files; ``--set`` values) with
one-line errors that name the file: regular files only, bounded in size, nesting, expanded
aliases and integer length, duplicate keys refused. Light (PyYAML only), so a suite file is
checked before JAX loads."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import yaml

from pmarl_bench.errors import ConfigError

#: the largest suite, baseline or matrix file read (the shipped ones are under 5 KiB)
MAX_FILE_BYTES = 1 << 20
#: the deepest nesting of mappings and lists a file may have (the shipped ones: 5)
MAX_DEPTH = 32
#: values a file may hold once its YAML aliases are expanded (an alias bomb has billions)
MAX_VALUES = 100_000
#: the longest integer a file may hold (2**64 has 20 digits; a 5000-digit one is refused
#: before Python, which parses at most 4300, raises)
MAX_INT_DIGITS = 20


def read_yaml(path: Path) -> Any:
    """A YAML file's data, or a one-line ``ConfigError`` naming the file: not a regular file,
    too large, not UTF-8, malformed, nested too deep or expanding to too many values."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError:
        raise ConfigError("no such file", str(path)) from None
    if not stat.S_ISREG(info.st_mode):  # a folder, or a FIFO that would block the read
        raise ConfigError(f"not a regular file ({_file_kind(info.st_mode)})", str(path))
    if info.st_size > MAX_FILE_BYTES:
        raise ConfigError(
            f"file too large ({info.st_size / 2**20:.1f} MiB; at most "
            f"{MAX_FILE_BYTES // 2**20} MiB)",
            str(path),
        )
    try:
        raw = path.read_bytes()[: MAX_FILE_BYTES + 1]
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror or err}", str(path)) from None
    return parse_yaml(_decode(raw, path), str(path))


def parse_yaml(text: str, where: str) -> Any:
    """YAML text's data under the guards of every file (a ``--set`` value's too), or a
    one-line ``ConfigError`` located at ``where``: malformed, nested too deep, expanding to
    too many values, a duplicate key, or an integer too long to be a size."""
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _count_values(node)
        return loader.construct_document(node)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{line}malformed YAML: {problem}", where) from None
    except _TooComplex as err:
        raise ConfigError(str(err), where) from None
    finally:
        loader.dispose()


def _file_kind(mode: int) -> str:
    kinds = {stat.S_ISDIR: "a folder", stat.S_ISFIFO: "a FIFO", stat.S_ISSOCK: "a socket",
             stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}  # fmt: skip
    return next((name for test, name in kinds.items() if test(mode)), "not a file")


def _decode(raw: bytes, path: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ConfigError("UTF-16 text; save the file as UTF-8", str(path))
    try:
        return raw.decode("utf-8-sig")  # a UTF-8 byte order mark is harmless
    except UnicodeDecodeError as err:
        raise ConfigError(
            f"not UTF-8 text (byte 0x{raw[err.start]:02x} at offset {err.start}); "
            "save the file as UTF-8",
            str(path),
        ) from None


class _TooComplex(Exception):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the nesting depth bounded while composing (before anything
    is built, so a deep file fails fast instead of overflowing the stack), integers bounded
    in length before Python parses them, and duplicate keys refused (PyYAML keeps the last
    silently)."""

    depth = 0

    def compose_node(self, parent, index):
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _TooComplex(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1

    def construct_yaml_int(self, node):
        digits = len(node.value.lstrip("+-").replace("_", ""))
        if digits > MAX_INT_DIGITS:
            raise _TooComplex(
                f"line {node.start_mark.line + 1}: an integer of {digits:,} digits (at most "
                f"{MAX_INT_DIGITS})"
            )
        return super().construct_yaml_int(node)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            lines: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *x`: later keys override
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    seen = key in lines
                except TypeError:  # an unhashable key: PyYAML's own error follows
                    continue
                if seen:
                    raise _TooComplex(
                        f"line {line}: duplicate key {key!r} (first on line {lines[key]}); "
                        "one of them would be ignored"
                    )
                lines[key] = line
        return super().construct_mapping(node, deep)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _BoundedLoader.construct_yaml_int)


def _count_values(root: yaml.Node) -> int:
    """How many values the document holds with every alias expanded (each node counted once
    per path to it), stopping past ``MAX_VALUES``; an alias that contains itself is refused."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_nodes:
            raise _TooComplex("a YAML alias refers to a value that contains it")
        open_nodes.add(key)
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            children = []
        total = 1 + sum(size(child) for child in children)
        if total > MAX_VALUES:
            raise _TooComplex(
                f"holds more than {MAX_VALUES:,} values once its YAML aliases are expanded"
            )
        open_nodes.discard(key)
        sizes[key] = total
        return total

    return size(root)


def _as_mapping(data: Any, path: Path) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping at the top level, got {type(data).__name__}", str(path)
        )
    return data
