"""The channel between the judge and the sandbox: plain data in length-prefixed frames, never pickle.

A frame is ``MAGIC``, the sizes of a JSON header and of a binary payload, the header, then the payload. The
header holds plain values: None, bools, numbers (NaN and infinities included), strings, lists, tuples, dicts,
torch dtypes, tensors and numpy arrays (their bytes live in the payload, the header says dtype, shape, offset, length) and
references to objects that stay in the sandbox (``{"$ref": id}``). Decoding builds fresh ``torch.Tensor`` /
``numpy.ndarray`` objects from bytes, so nothing the sandbox sends can carry code, a tensor subclass or a
foreign object into the judge; sizes, depth and dtypes are bounded. A tensor or array of a dtype outside
``DTYPES`` (complex, ...) crosses as its dtype and shape only (``Unsupported``), never as values.

Shared by the judge and the sandbox: this module imports nothing from the grader's checks.
"""

from __future__ import annotations

import json
import math
import os
import struct

MAGIC = b"KITW"
_HEAD = struct.Struct("<4sIQ")
MAX_HEADER = 16 << 20  # bytes of JSON in one frame
MAX_PAYLOAD = 1 << 30  # bytes of tensor data in one frame (a CNN's weights are 5 MB, test logits under 1 MB)
MAX_DEPTH = 64
DTYPES = (
    "float64",
    "float32",
    "float16",
    "bfloat16",
    "int64",
    "int32",
    "int16",
    "int8",
    "uint8",
    "bool",
)  # no complex dtype: no exercise returns one, and every comparison of the judge is of real numbers


class WireError(Exception):
    """What came through the channel is not a well-formed frame of plain data."""


class Unsupported:
    """What the judge gets for a tensor or array of a dtype the channel does not carry (complex64, uint16, ...):
    its dtype and shape, never its values, so that a check can tell the student what came instead of the tensor
    it asked for."""

    __slots__ = ("dtype", "shape")

    def __init__(self, dtype: str, shape=()):
        self.dtype, self.shape = dtype, tuple(shape)

    def __repr__(self):
        return f"<a {self.dtype} tensor of shape {self.shape}>"


class Ref:
    """A handle on an object that lives in the sandbox (a student's nn.Module, optimizer, ...)."""

    __slots__ = ("id", "cls", "bases")

    def __init__(self, id: int, cls: str = "", bases=()):
        self.id, self.cls, self.bases = id, cls, tuple(bases)

    def __repr__(self):
        return f"<{self.cls or 'object'} in the sandbox>"


# ---------------------------------------------------------------- encoding
def encode(value, to_ref=None) -> tuple[bytes, bytes]:
    """(header, payload) of a value. `to_ref(obj) -> Ref` handles objects that are not plain data (the
    sandbox keeps them and sends a reference); without it they raise WireError."""
    chunks, size = [], [0]

    def blob(data: bytes):
        offset = size[0]
        chunks.append(data)
        size[0] += len(data)
        return offset, len(data)

    def enc(v, depth):
        if depth > MAX_DEPTH:
            raise WireError("data nested too deeply")
        if v is None or isinstance(v, (bool, str)):
            return v
        if isinstance(v, int):
            return v if -(1 << 63) <= v < (1 << 63) else {"$bigint": str(v)}
        if isinstance(v, float):
            return v if math.isfinite(v) else {"$float": repr(v)}
        if isinstance(v, Ref):
            return _ref(v)
        if type(v) is Unsupported:  # decoded and sent again (a by-hand answer made plain in the sandbox)
            return _unsupported(str(v.dtype), v.shape)
        kind = type(v).__module__.split(".", 1)[0]
        if kind == "torch" and type(v).__name__ == "dtype":
            name = str(v).replace("torch.", "")
            if name not in DTYPES:
                raise WireError(f"dtype {name} is not supported")
            return {"$dtype": name}
        if kind == "torch" and _is_tensor(v):
            import torch

            t = v.detach()
            if t.layout != torch.strided or t.is_quantized or t.device.type == "meta":
                raise WireError(f"a {t.layout} tensor on {t.device} is not plain data")
            dtype = str(t.dtype).replace("torch.", "")
            if dtype not in DTYPES:
                return _unsupported(dtype, t.shape)
            t = t.to("cpu").contiguous()
            data = (t.view(torch.int16) if dtype == "bfloat16" else t).numpy().tobytes()
            off, n = blob(data)
            return {
                "$tensor": dtype,
                "shape": list(t.shape),
                "at": off,
                "n": n,
            }
        if kind == "numpy":
            import numpy as np

            if isinstance(v, np.ndarray) and type(v) is np.ndarray and v.dtype.name in DTYPES:
                off, n = blob(np.ascontiguousarray(v).tobytes())
                return {"$ndarray": v.dtype.name, "shape": list(v.shape), "at": off, "n": n}
            if isinstance(v, np.generic) and v.dtype.name in DTYPES:
                return enc(v.item(), depth + 1)
            if isinstance(v, (np.ndarray, np.generic)) and type(v).__module__ == "numpy":
                return _unsupported(v.dtype.name, v.shape)
        if isinstance(v, (list, tuple)):  # torch.Size, named tuples and the like travel as plain tuples
            items = [enc(x, depth + 1) for x in v]
            return items if isinstance(v, list) else {"$tuple": items}
        if isinstance(v, dict):  # OrderedDict (state dicts) too
            return {"$dict": [[enc(k, depth + 1), enc(x, depth + 1)] for k, x in v.items()]}
        if to_ref is None:
            raise WireError(f"a {type(v).__name__} is not plain data")
        ref = to_ref(v)
        if not isinstance(ref, Ref):
            raise WireError(f"a {type(v).__name__} is not plain data")
        return _ref(ref)

    header = json.dumps(enc(value, 0), allow_nan=False).encode()
    return header, b"".join(chunks)


def _unsupported(dtype: str, shape) -> dict:
    return {"$unsupported": dtype[:40], "shape": [int(s) for s in shape][:32]}


def _ref(r: Ref) -> dict:
    return {"$ref": r.id, "cls": r.cls, "bases": list(r.bases)} if r.cls else {"$ref": r.id}


def _is_tensor(v) -> bool:
    import torch

    return isinstance(v, torch.Tensor)


# ---------------------------------------------------------------- decoding
def decode(header: bytes, payload: bytes, refs=None):
    """The value a frame holds. `refs(id) -> object` resolves references (the sandbox's side); without it they
    become Ref handles (the judge's side). Raises WireError for anything malformed."""
    try:
        tree = json.loads(header.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise WireError(f"unreadable header ({type(err).__name__})") from None
    view = memoryview(payload)

    def dec(v, depth):
        if depth > MAX_DEPTH:
            raise WireError("data nested too deeply")
        if v is None or isinstance(v, (bool, int, float, str)):
            return v
        if isinstance(v, list):
            return [dec(x, depth + 1) for x in v]
        if not isinstance(v, dict) or len(v) == 0:
            raise WireError("malformed value")
        if "$tuple" in v:
            return tuple(dec(x, depth + 1) for x in _list(v["$tuple"]))
        if "$dict" in v:
            out = {}
            for pair in _list(v["$dict"]):
                if not isinstance(pair, list) or len(pair) != 2:
                    raise WireError("malformed dict")
                key = dec(pair[0], depth + 1)
                try:
                    out[key] = dec(pair[1], depth + 1)
                except TypeError:
                    raise WireError("a dict key that is not hashable") from None
            return out
        if "$float" in v:
            text = v["$float"]
            if text not in ("nan", "inf", "-inf"):
                raise WireError("malformed float")
            return float(text)
        if "$bigint" in v:
            text = v["$bigint"]
            if not isinstance(text, str) or len(text) > 4000:
                raise WireError("malformed integer")
            return int(text)
        if "$ref" in v:
            rid = v["$ref"]
            if not isinstance(rid, int):
                raise WireError("malformed reference")
            return (
                refs(rid)
                if refs
                else Ref(rid, str(v.get("cls", ""))[:200], [str(b)[:200] for b in _list(v.get("bases", []))[:50]])
            )
        if "$dtype" in v:
            if v["$dtype"] not in DTYPES:
                raise WireError("malformed dtype")
            import torch

            return getattr(torch, v["$dtype"])
        if "$tensor" in v or "$ndarray" in v:
            return _array(v, view)
        if "$unsupported" in v:
            dtype, shape = v["$unsupported"], v.get("shape")
            if not isinstance(dtype, str) or len(dtype) > 40 or not isinstance(shape, list) or len(shape) > 32:
                raise WireError("malformed value")
            if not all(isinstance(s, int) and 0 <= s for s in shape):
                raise WireError("malformed value")
            return Unsupported(dtype, shape)
        raise WireError("malformed value")

    return dec(tree, 0)


def _list(v):
    if not isinstance(v, list):
        raise WireError("malformed value")
    return v


def _array(v, view):
    import numpy as np

    dtype = v.get("$tensor") or v.get("$ndarray")
    shape, at, n = v.get("shape"), v.get("at"), v.get("n")
    if (
        dtype not in DTYPES
        or not isinstance(shape, list)
        or len(shape) > 32
        or not all(isinstance(s, int) and 0 <= s for s in shape)
        or not isinstance(at, int)
        or not isinstance(n, int)
        or at < 0
        or n < 0
        or at + n > len(view)
    ):
        raise WireError("malformed array")
    itemsize = 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize
    if math.prod(shape) * itemsize != n:
        raise WireError("array size does not match its shape")
    raw = np.frombuffer(view[at : at + n], dtype=np.int16 if dtype == "bfloat16" else dtype).copy().reshape(shape)
    if "$ndarray" in v:
        return raw
    import torch

    t = torch.from_numpy(raw)
    return t.view(torch.bfloat16) if dtype == "bfloat16" else t


# ---------------------------------------------------------------- frames over file descriptors
def write_frame(fd: int, value, to_ref=None) -> None:
    send(fd, *encode(value, to_ref))


def send(fd: int, header: bytes, payload: bytes) -> None:
    data = _HEAD.pack(MAGIC, len(header), len(payload)) + header
    _write_all(fd, data)
    _write_all(fd, payload)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        n = os.write(fd, view[: 1 << 20])
        view = view[n:]


def read_exact(fd: int, n: int, deadline=None) -> bytes:
    """n bytes from fd; EOFError when it closes, TimeoutError past `deadline` (time.monotonic())."""
    import select
    import time

    parts, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        parts.append(chunk)
        got += len(chunk)
    return b"".join(parts)


def read_frame(fd: int, deadline=None, refs=None):
    magic, hlen, plen = _HEAD.unpack(read_exact(fd, _HEAD.size, deadline))
    if magic != MAGIC:
        raise WireError("the channel carried something that is not a frame")
    if hlen > MAX_HEADER or plen > MAX_PAYLOAD:
        raise WireError(f"a frame of {hlen + plen} bytes is over the channel's limit")
    header = read_exact(fd, hlen, deadline)
    payload = read_exact(fd, plen, deadline) if plen else b""
    return decode(header, payload, refs)
