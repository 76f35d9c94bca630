"""Objects (and people) in photos, as words a text embedding can use.

Why: the image tower's ImageNet-1k labels have no "person" class and no counts, yet most photo
captions are about people ("a man", "two girls", "a crowd"). A COCO-80 detector fills that gap.
Its weights ship in a package: the TFJS CenterNet (MobileNetV3 backbone, 512x512 input) of the
``@vladmandic/human`` npm package, fetched once by ``scripts/fetch_human.sh`` (run by
``scripts/setup.sh``) and executed by :mod:`xmodal.media.tfjs`, with the library's own pre- and
post-processing (src/object/centernet.ts of human 3.3.6):

* input: the RGB image as float 0..255 (no mean/std: the graph takes raw pixels) at 512x512;
  human stretches it there with TFJS ``resizeBilinear``; by default we letterbox it as the
  weights' upstream does (see :func:`prepare`, ``DetectConfig.preprocess``);
* the graph decodes the 128x128x80 heatmap itself (3x3 max-pool peak test, top 100 peaks,
  boxes from the ``wh`` offsets, in 512-pixel units, class 0-based);
* class-agnostic non-maximum suppression: score > 0.2, IoU >= 0.4 suppresses, at most 10 boxes,
  scores truncated to 2 decimals.

Backends: by default the backbone+head is exported once to ONNX under the cache dir and run by
ONNX Runtime (about 2x faster than torch on one thread); the small decoding tail always runs in
the torch interpreter, per image, exactly as the graph says.
"""
from __future__ import annotations

import hashlib
import os
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
from PIL import Image

from xmodal._optional import require
from xmodal.config import DetectConfig, cache_dir
from xmodal.errors import InvalidInput, NotFound
from xmodal.media.images import ImageInput, load_image
from xmodal.media.tfjs import TfjsGraph, crop_and_resize, resize_bilinear

__all__ = ["SETUP_COMMAND", "COCO_LABELS", "DetectInput", "Detection", "human_models_dir", "to_pixels", "prepare",
           "nms", "export_onnx", "ObjectDetector", "Face", "FaceAnalyzer", "default_detector",
           "default_face_analyzer", "detect_faces", "detect_objects", "person_word", "describe", "describe_images"]

torch = require("torch", "models")

SETUP_COMMAND = "scripts/fetch_human.sh (also run by scripts/setup.sh)"

# COCO-80 in the order of human's src/object/labels.ts (the model's 0-based class index).
COCO_LABELS: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)

DetectInput = Union[ImageInput, np.ndarray]


@dataclass(frozen=True)
class Detection:
    """One detected object: COCO label, score in [0, 1], box normalised to the image.

    ``box`` is ``(x0, y0, x1, y1)`` as fractions of the image width and height, clipped to [0, 1].
    """

    label: str
    score: float
    box: tuple[float, float, float, float]

    @property
    def area(self) -> float:
        """Share of the image the box covers (0..1)."""
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def human_models_dir(models_dir: str | os.PathLike | None = None, settings: DetectConfig | None = None) -> Path:
    """The ``models/`` folder of the unpacked human package, or :class:`NotFound` naming the setup.

    Looked up in order: the argument, ``settings.human_dir`` (``$XMODAL_HUMAN_DIR``: the unpacked
    ``package`` folder or its ``models``), then ``<cache dir>/human-<version>/package/models`` where
    the setup puts it.
    """
    settings = settings or DetectConfig()
    if models_dir is not None:
        candidates = [Path(models_dir)]
    elif settings.human_dir:
        candidates = [Path(settings.human_dir)]
    else:
        candidates = [cache_dir() / f"human-{settings.human_version}" / "package"]
    for base in candidates:
        for folder in (base, base / "models"):
            if (folder / "centernet.json").is_file():
                return folder
    raise NotFound(f"the @vladmandic/human {settings.human_version} models are not in "
                   f"{candidates[0]} (no centernet.json): run {SETUP_COMMAND}, or point XMODAL_HUMAN_DIR "
                   f"at an unpacked copy of the npm package")


def to_pixels(image: DetectInput) -> np.ndarray:
    """Any supported image (path, PIL image, HxWx3 uint8 array) as an upright RGB uint8 array."""
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8 or min(image.shape[:2]) < 1:
            raise InvalidInput(f"image array must be HxWx3 uint8 RGB, got shape {image.shape} dtype {image.dtype}")
        return image
    if isinstance(image, Image.Image):
        return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    return np.asarray(load_image(image))


def prepare(pixels: np.ndarray, size: int, mode: str) -> tuple[Any, tuple[int, int, int, int]]:
    """RGB uint8 -> (1xSxSx3 float 0..255 model input, (dx, dy, w, h) of the picture inside it).

    ``"stretch"`` is human's centernet.ts: TFJS ``resizeBilinear`` to SxS, aspect ratio lost.
    ``"letterbox"`` is the weights' upstream preprocessing (mobilenetv3_centernet's
    ``FaceDetector.preprocess``): scaled to fit, centred on black. It is the default because
    stretching loses objects: two astronauts side by side give no box above 0.2 stretched, and
    two persons at 0.63 letterboxed; skimage's ``chelsea`` reads "dog" (0.48) stretched and
    "cat" (0.52) letterboxed.
    """
    if mode == "stretch":
        t = torch.from_numpy(np.array(pixels)).unsqueeze(0).float()
        return resize_bilinear(t, (size, size)), (0, 0, size, size)
    if mode != "letterbox":
        raise InvalidInput(f"detector preprocessing {mode!r}: use 'letterbox' or 'stretch'")
    h, w = pixels.shape[:2]
    scale = min(size / h, size / w)
    nw, nh = max(1, min(size, round(w * scale))), max(1, min(size, round(h * scale)))
    small = np.asarray(Image.fromarray(pixels).resize((nw, nh), Image.BILINEAR, reducing_gap=3.0))
    dx, dy = (size - nw) // 2, (size - nh) // 2
    canvas = torch.zeros(1, size, size, 3)
    canvas[0, dy:dy + nh, dx:dx + nw] = torch.from_numpy(np.array(small))
    return canvas, (dx, dy, nw, nh)


def nms(boxes: np.ndarray, scores: np.ndarray, max_out: int, iou_threshold: float,
        score_threshold: float) -> list[int]:
    """TFJS ``image.nonMaxSuppression``: greedy by score, drop IoU >= threshold, keep score > floor.

    ``boxes`` are ``(y0, x0, y1, x1)`` rows (any corner order, as TFJS accepts); ties in score keep
    the lower index first, as TFJS does.
    """
    cand = [i for i in range(len(scores)) if scores[i] > score_threshold]
    cand.sort(key=lambda i: (-float(scores[i]), i))
    lo = np.minimum(boxes[:, :2], boxes[:, 2:])
    hi = np.maximum(boxes[:, :2], boxes[:, 2:])
    area = np.prod(hi - lo, axis=1)
    keep: list[int] = []
    for i in cand:
        if len(keep) >= max_out:
            break
        ok = True
        for j in keep:
            if area[i] <= 0 or area[j] <= 0:
                continue
            inter = np.prod(np.clip(np.minimum(hi[i], hi[j]) - np.maximum(lo[i], lo[j]), 0, None))
            if inter / (area[i] + area[j] - inter) >= iou_threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def _digest(paths: Sequence[Path], tag: str) -> str:
    h = hashlib.sha256(tag.encode())
    for p in paths:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}".encode())
    return h.hexdigest()[:16]


_EXPORT_LOCK = threading.Lock()


def export_onnx(graph: TfjsGraph, outputs: Sequence[str], input_shape: tuple[int, ...], path: Path) -> Path:
    """Trace the interpreter from the graph's input to ``outputs`` into an ONNX file (batch dynamic).

    Done once per weights file: written under a temporary name and renamed, so a crash never
    leaves a half-written graph for a later process.
    """
    with _EXPORT_LOCK:
        if path.exists():
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        name = graph.inputs[0]

        class _Traced(torch.nn.Module):
            def forward(self, x: Any) -> tuple[Any, ...]:
                return tuple(graph.run_torch(list(outputs), {name: x}))

        tmp = path.with_suffix(f".tmp{os.getpid()}")
        names = [f"out{i}" for i in range(len(outputs))]
        with warnings.catch_warnings():  # tracer warnings: shapes are fixed by the graph anyway
            warnings.simplefilter("ignore")
            torch.onnx.export(_Traced(), (torch.zeros(*input_shape),), str(tmp), input_names=["x"],
                              output_names=names, dynamic_axes={"x": {0: "n"}, **{o: {0: "n"} for o in names}},
                              opset_version=17, dynamo=False)
        os.replace(tmp, path)
    return path


class _Backbone:
    """Runs a graph from its input to some outputs, with ONNX Runtime when possible, else torch."""

    def __init__(self, graph: TfjsGraph, outputs: Sequence[str], input_shape: tuple[int, ...],
                 files: Sequence[Path], backend: str, threads: int) -> None:
        self.graph, self.outputs, self.session = graph, list(outputs), None
        if backend not in ("auto", "onnx", "torch"):
            raise InvalidInput(f"detector backend {backend!r}: use 'auto', 'onnx' or 'torch'")
        if backend != "torch":
            try:
                ort = require("onnxruntime", "models")
            except ImportError:
                if backend == "onnx":
                    raise
            else:
                shape = "x".join(map(str, input_shape[1:3]))
                path = cache_dir() / "onnx" / f"{files[0].stem}-{shape}-{_digest(files, 'tfjs-v1')}.onnx"
                export_onnx(graph, self.outputs, input_shape, path)
                opts = ort.SessionOptions()
                opts.intra_op_num_threads = max(1, threads)
                opts.inter_op_num_threads = 1
                self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.backend = "onnx" if self.session is not None else "torch"

    def __call__(self, x: Any) -> list[Any]:
        if self.session is not None:
            return [torch.from_numpy(a) for a in self.session.run(None, {"x": x.numpy()})]
        return self.graph.run_torch(self.outputs, {self.graph.inputs[0]: x})


class ObjectDetector:
    """human's CenterNet (COCO-80) on a batch of images; one instance per process is enough.

    Why a class: loading the graph and the ONNX session costs about a second, detection then
    costs one backbone pass per batch plus a small per-image decoding tail.
    """

    INPUT = "tower_0/images"
    HEADS = ("tower_0/keypoints", "tower_0/wh")
    OUTPUT = "tower_0/detections"

    # Constants that fix the graph to its 512x512 input: the head's three 2x upsampling sizes
    # (input / 16, / 8, / 4) and, in the decoding tail, the heatmap's side and cell count.
    _SIZED = {"tower_0/CenternetHead/c5_upsample/up_sampling2d/mul": lambda s: [s // 16] * 2,
              "tower_0/CenternetHead/c4_upsample/up_sampling2d_1/mul": lambda s: [s // 8] * 2,
              "tower_0/CenternetHead/c3_upsample/up_sampling2d_2/mul": lambda s: [s // 4] * 2,
              "tower_0/BatchGather/concat": lambda s: [(s // 4) ** 2, 4],
              "tower_0/strided_slice_6": lambda s: s // 4}

    def __init__(self, models_dir: str | os.PathLike | None = None, backend: str | None = None,
                 input_size: int | None = None, settings: DetectConfig | None = None) -> None:
        self.settings = settings or DetectConfig()  # backend, size, thresholds, threads
        folder = human_models_dir(models_dir, self.settings)
        torch.set_num_threads(max(1, self.settings.threads))
        self.graph = TfjsGraph(folder / "centernet.json")
        dims = self.graph.signature["inputs"][self.INPUT]["tensorShape"]["dim"]
        native = int(dims[2]["size"])  # as human reads it: inputs[0].tensorShape.dim[2]
        self.size = input_size or self.settings.input_size or native
        if self.size != native:
            self._resize_graph(native, self.size)
        files = [folder / "centernet.json", folder / "centernet.bin"]
        self._backbone = _Backbone(self.graph, self.HEADS, (1, self.size, self.size, 3), files,
                                   backend or self.settings.backend, self.settings.threads)
        self.backend = self._backbone.backend
        self._lock = threading.Lock()

    def _resize_graph(self, native: int, size: int) -> None:
        """Run the fully convolutional graph at ``size`` instead of 512 (cheaper, see ``DetectConfig.input_size``)."""
        if size % 32 or not 128 <= size <= 1024:
            raise InvalidInput(f"detector input size {size}: must be a multiple of 32 in 128..1024")
        for name, rule in self._SIZED.items():
            old = self.graph.consts.get(name)
            if old is None or old.reshape(-1).tolist() != torch.tensor(rule(native)).reshape(-1).tolist():
                raise InvalidInput(f"{self.graph.path}: constant {name!r} is not {rule(native)}; this CenterNet "
                                   f"graph cannot be resized (use input_size {native})")
            self.graph.consts[name] = torch.tensor(rule(size), dtype=old.dtype).reshape(old.shape)

    def detect(self, images: Sequence[DetectInput]) -> list[list[Detection]]:
        """Detections per image (best first), with human's thresholds from the detector's settings."""
        cfg = self.settings
        results: list[list[Detection]] = []
        with self._lock:
            for start in range(0, len(images), max(1, cfg.batch_size)):
                chunk = images[start:start + max(1, cfg.batch_size)]
                prepared = [prepare(to_pixels(im), self.size, cfg.preprocess) for im in chunk]
                with torch.inference_mode():
                    heads = self._backbone(torch.cat([x for x, _ in prepared]))
                for i, (_, placed) in enumerate(prepared):
                    feeds = {name: t[i:i + 1] for name, t in zip(self.HEADS, heads)}
                    det = self.graph.run([self.OUTPUT], feeds)[0][0]
                    results.append(self._postprocess(det, placed))
        return results

    def _postprocess(self, det: np.ndarray, placed: tuple[int, int, int, int]) -> list[Detection]:
        """human's centernet.ts ``process``: NMS on (y, x) boxes, then boxes over the picture's size."""
        cfg = self.settings
        boxes = det[:, [1, 0, 3, 2]]
        keep = nms(boxes, det[:, 4], cfg.max_detected, cfg.iou_threshold, cfg.min_confidence)
        out: list[Detection] = []
        for i in keep:
            cls = det[i, 5]
            if np.isnan(cls) or not 0 <= int(cls) < len(COCO_LABELS):
                continue
            score = int(100 * float(det[i, 4])) / 100  # Math.trunc(100 * score) / 100
            dx, dy, w, h = placed
            x0, x1 = (float(np.clip((v - dx) / w, 0.0, 1.0)) for v in det[i, [0, 2]])
            y0, y1 = (float(np.clip((v - dy) / h, 0.0, 1.0)) for v in det[i, [1, 3]])
            out.append(Detection(COCO_LABELS[int(cls)], score, (x0, y0, x1, y1)))
        return out


@dataclass(frozen=True)
class Face:
    """One face: box normalised to the image like :class:`Detection`, and FaceRes' estimates.

    ``gender`` is "male", "female" or "unknown" (FaceRes unsure or face too small to ask), with
    ``gender_score`` human's confidence ``|2 * (p - 0.5)|``; ``age`` in years as human computes it
    (0 when not asked); ``child_prob`` the softmax mass of ages below ``DetectConfig.adult_age``
    (the age peak alone is unreliable: a grey profile of a grown man peaks at 10).
    """

    score: float
    box: tuple[float, float, float, float]
    age: float = 0.0
    gender: str = "unknown"
    gender_score: float = 0.0
    child_prob: float = 0.0

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.box
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)


def _anchors(size: int) -> np.ndarray:
    """human's facemeshutil.generateAnchors for BlazeFace: strides size/16 and size/8, 2 and 6 anchors."""
    out = []
    for stride, per_cell in ((size // 16, 2), (size // 8, 6)):
        cells = (size + stride - 1) // stride
        for gy in range(cells):
            for gx in range(cells):
                out += [(stride * (gx + 0.5), stride * (gy + 0.5))] * per_cell
    return np.asarray(out, dtype=np.float32)


class FaceAnalyzer:
    """human's face path without the mesh: BlazeFace boxes, then FaceRes age and gender per face.

    Follows src/face/blazeface.ts (input /127.5 - 1 at 256x256, anchors, sigmoid scores, NMS
    IoU 0.1, box enlarged 1.4x and squared), facemesh.ts's mesh-less crop (cropAndResize to
    256x256) and faceres.ts (resize to 224x224, 0..255 in; gender = sigmoid <= 0.5 "female",
    confidence trunc(200 |p - 0.5|) / 100; age from the 100-bin softmax around its argmax).
    The picture is padded to a square first (human's ``face.detector.square`` option) so faces
    keep their shape, as the objects do with letterboxing.
    """

    BOXES = ("Identity", "Identity_1", "Identity_2", "Identity_3")
    ESTIMATES = ("gender_pred/Sigmoid", "age_pred/Softmax")

    def __init__(self, models_dir: str | os.PathLike | None = None, backend: str | None = None,
                 settings: DetectConfig | None = None) -> None:
        self.settings = settings or DetectConfig()  # backend, thresholds, threads
        folder = human_models_dir(models_dir, self.settings)
        threads = max(1, self.settings.threads)
        torch.set_num_threads(threads)
        backend = backend or self.settings.backend
        self.detector = TfjsGraph(folder / "blazeface.json")
        self.describer = TfjsGraph(folder / "faceres.json")
        dims = self.detector.signature["inputs"]["input:0"]["tensorShape"]["dim"]
        self.size = int(dims[2]["size"])
        self.anchors = _anchors(self.size)
        dims = self.describer.signature["inputs"]["input_1"]["tensorShape"]["dim"]
        self.res_size = (int(dims[1]["size"]), int(dims[2]["size"]))
        # BlazeFace's reshapes fix its batch to 1 (one picture per call); FaceRes batches the faces.
        self._boxes_net = _Backbone(self.detector, self.BOXES, (1, self.size, self.size, 3),
                                    [folder / "blazeface.json", folder / "blazeface.bin"], backend, threads)
        self._estimates_net = _Backbone(self.describer, self.ESTIMATES, (1, *self.res_size, 3),
                                        [folder / "faceres.json", folder / "faceres.bin"], backend, threads)
        self.backend = self._boxes_net.backend
        self._lock = threading.Lock()

    def analyze(self, images: Sequence[DetectInput]) -> list[list[Face]]:
        """Faces per image, largest first; FaceRes runs only on faces of at least ``face_min_area``."""
        with self._lock:
            return [self._one(to_pixels(im)) for im in images]

    def _boxes(self, pixels: np.ndarray) -> list[tuple[float, tuple[float, float, float, float]]]:
        cfg = self.settings
        h, w = pixels.shape[:2]
        side = max(h, w)
        px, py = (side - w) // 2, (side - h) // 2
        img = torch.from_numpy(np.array(pixels)).unsqueeze(0).float()
        if side != h or side != w:
            img = torch.nn.functional.pad(img, (0, 0, px, side - w - px, py, side - h - py))
        x = resize_bilinear(img, (self.size, self.size)) / 127.5 - 1.0
        with torch.inference_mode():
            outs = [t.numpy() for t in self._boxes_net(x)]
        outs.sort(key=lambda a: a.size)  # as blazeface.ts: 384x1, 512x1, 384x16, 512x16
        raw = np.concatenate([np.concatenate([outs[1], outs[3]], 2), np.concatenate([outs[0], outs[2]], 2)], 1)[0]
        centers = raw[:, 1:3] + self.anchors
        half = raw[:, 3:5] / 2
        boxes = np.concatenate([centers - half, centers + half], 1)  # x0, y0, x1, y1 in model pixels
        scores = 1.0 / (1.0 + np.exp(-np.clip(raw[:, 0], -80.0, 80.0)))
        keep = nms(boxes, scores, cfg.face_max_detected, cfg.face_iou_threshold, cfg.face_min_confidence)
        found = []
        k = side / self.size
        for i in keep:
            x0, y0, x1, y1 = boxes[i] * k - np.array([px, py, px, py])
            cx, cy, half_side = (x0 + x1) / 2, (y0 + y1) / 2, max(x1 - x0, y1 - y0) * 1.4 / 2
            found.append((float(scores[i]), (cx - half_side, cy - half_side, cx + half_side, cy + half_side)))
        return found

    def _one(self, pixels: np.ndarray) -> list[Face]:
        cfg = self.settings
        h, w = pixels.shape[:2]
        faces: list[Face] = []
        crops, asked = [], []
        img = torch.from_numpy(np.array(pixels))
        for score, (x0, y0, x1, y1) in self._boxes(pixels):
            box = (float(max(0.0, x0 / w)), float(max(0.0, y0 / h)), float(min(1.0, x1 / w)), float(min(1.0, y1 / h)))
            face = Face(round(score, 2), box)
            if face.area >= cfg.face_min_area:
                # facemesh.ts's cutAndResize (to the detector's size), then faceres.ts's resize.
                crop = crop_and_resize(img, (y0 / h, x0 / w, y1 / h, x1 / w), (self.size, self.size))
                crops.append(resize_bilinear(crop, self.res_size))
                asked.append(len(faces))
            faces.append(face)
        if crops:
            with torch.inference_mode():
                gender, ages = (t.numpy() for t in self._estimates_net(torch.cat(crops)))
            for j, idx in enumerate(asked):
                faces[idx] = self._estimates(faces[idx], float(gender[j, 0]), ages[j], cfg.adult_age)
        faces.sort(key=lambda f: -f.area)
        return faces

    @staticmethod
    def _estimates(face: Face, p: float, ages: np.ndarray, adult_age: float) -> Face:
        """faceres.ts: gender and its confidence from the sigmoid, age interpolated around the argmax bin."""
        conf = int(200 * abs(p - 0.5)) / 100
        gender, gscore = "unknown", 0.0
        if conf > 0.1:  # human's face.description.minConfidence
            gender, gscore = ("female" if p <= 0.5 else "male"), min(0.99, conf)
        i = int(np.argmax(ages))
        before = float(ages[i - 1]) if i > 0 else -1.0
        after = float(ages[i + 1]) if i + 1 < len(ages) else 0.0
        age = round(10 * i - 100 * before if before > after else 10 * i + 100 * after) / 10
        child = float(ages[:int(np.ceil(adult_age))].sum())
        return Face(face.score, face.box, age, gender, gscore, round(child, 3))


_DEFAULTS: dict[DetectConfig, ObjectDetector] = {}
_DEFAULT_FACES: dict[DetectConfig, FaceAnalyzer] = {}
_DEFAULT_LOCK = threading.Lock()


def default_detector(settings: DetectConfig | None = None) -> ObjectDetector:
    """The process-wide detector for ``settings`` (built on first use from the setup's cache folder)."""
    settings = settings or DetectConfig()
    with _DEFAULT_LOCK:
        if settings not in _DEFAULTS:
            _DEFAULTS[settings] = ObjectDetector(settings=settings)
        return _DEFAULTS[settings]


def default_face_analyzer(settings: DetectConfig | None = None) -> FaceAnalyzer:
    """The process-wide face analyzer for ``settings`` (built on first use from the setup's cache folder)."""
    settings = settings or DetectConfig()
    with _DEFAULT_LOCK:
        if settings not in _DEFAULT_FACES:
            _DEFAULT_FACES[settings] = FaceAnalyzer(settings=settings)
        return _DEFAULT_FACES[settings]


def detect_faces(images: Sequence[DetectInput], analyzer: FaceAnalyzer | None = None,
                 settings: DetectConfig | None = None) -> list[list[Face]]:
    """Faces in each image with age and gender for the large ones: ``result[i]`` for image i
    (``analyzer`` default: the process-wide one for ``settings``)."""
    if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)):
        raise InvalidInput("detect_faces takes a sequence of images; wrap a single image in a list")
    return (analyzer or default_face_analyzer(settings)).analyze(list(images))


def detect_objects(images: Sequence[DetectInput], detector: ObjectDetector | None = None,
                   settings: DetectConfig | None = None) -> list[list[Detection]]:
    """COCO-80 objects in each image: ``result[i]`` lists image i's detections, best score first
    (``detector`` default: the process-wide one for ``settings``)."""
    if isinstance(images, (str, os.PathLike, Image.Image, np.ndarray)):
        raise InvalidInput("detect_objects takes a sequence of images; wrap a single image in a list")
    return (detector or default_detector(settings)).detect(list(images))


# ------------------------------------------------------------------------------------------ words

_NUMBERS = {2: "two", 3: "three", 4: "four"}
_PLURALS = {"person": "people", "mouse": "mice", "sheep": "sheep", "knife": "knives", "skis": "pairs of skis",
            "scissors": "pairs of scissors", "cell phone": "phones", "tv": "televisions",
            "dining table": "tables", "sports ball": "balls", "hair drier": "hair driers"}
_SINGULARS = {"skis": "a pair of skis", "scissors": "a pair of scissors", "cell phone": "a phone",
              "tv": "a television", "dining table": "a table", "sports ball": "a ball", "person": "a person"}
_LIVING = {"person", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe"}


def _plural(label: str) -> str:
    if label in _PLURALS:
        return _PLURALS[label]
    if label.endswith(("s", "x", "ch", "sh")):
        return label + "es"
    if label.endswith("y") and label[-2:-1] not in ("a", "e", "i", "o", "u"):
        return label[:-1] + "ies"
    return label + "s"


def _phrase(label: str, count: int, group_count: int) -> str:
    """'a dog', 'an apple', 'two people', 'a group of people' (from ``group_count`` on)."""
    if count == 1:
        return _SINGULARS.get(label) or ("an " if label[0] in "aeiou" else "a ") + label
    if count >= group_count:
        return "a group of " + _plural(label)
    return f"{_NUMBERS.get(count, str(count))} {_plural(label)}"


def _join(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


_PERSON_WORDS = {("male", False): "man", ("female", False): "woman", ("male", True): "boy", ("female", True): "girl"}
_PERSON_PLURALS = {"man": "men", "woman": "women", "boy": "boys", "girl": "girls"}


def person_word(face: Face, settings: DetectConfig | None = None) -> str | None:
    """"man", "woman", "boy" or "girl" for a large face FaceRes is sure of, else None."""
    cfg = settings or DetectConfig()
    if face.gender == "unknown" or face.gender_score < cfg.face_min_gender_confidence or face.area < cfg.face_min_area:
        return None
    return _PERSON_WORDS[(face.gender, face.child_prob >= cfg.child_min_prob)]


def _inside(face: Face, box: tuple[float, float, float, float]) -> bool:
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def _people_phrase(people: Sequence[Detection], faces: Sequence[Face], settings: DetectConfig) -> str:
    """"a woman", "two men", "a man and a girl" when every person box holds a face with a word."""
    words = []
    for person in people:
        inside = [f for f in faces if _inside(f, person.box)]
        word = person_word(max(inside, key=lambda f: f.area), settings) if inside else None
        if word is None:
            return _phrase("person", len(people), settings.group_count)
        words.append(word)
    counts = Counter(words)
    return _join([f"a {w}" if n == 1 else f"{_NUMBERS.get(n, str(n))} {_PERSON_PLURALS[w]}"
                  for w, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))])


def describe(detections: Sequence[Detection], faces: Sequence[Face] | None = None,
             min_score: float | None = None, min_area: float | None = None,
             settings: DetectConfig | None = None) -> str:
    """Detections as a short caption fragment: "two people", "a person and a dog", "a person with a surfboard".

    Why words, not labels: the text tower embeds phrases, and captions count ("two girls") and
    relate ("a man with a surfboard"). Low-score and tiny boxes are dropped (``settings``);
    people and animals come first, other things follow after "with"; at most
    ``describe_max_labels`` kinds are named, the most prominent (summed score x area) first.
    With ``faces`` (from :func:`detect_faces` on the same image), people become "a woman",
    "two men", "a man and a boy" when each person box (fewer than ``group_count``) holds a large
    face FaceRes is sure of; a face outside every person box names no one (BlazeFace also finds
    cat faces). Returns "" when nothing is left.
    """
    cfg = settings or DetectConfig()
    floor = cfg.describe_min_score if min_score is None else min_score
    small = cfg.describe_min_area if min_area is None else min_area
    kept = [d for d in detections if d.score >= floor and d.area >= small]
    if not kept:
        return ""
    counts = Counter(d.label for d in kept)
    weight: Counter[str] = Counter()
    for d in kept:
        weight[d.label] += d.score * d.area
    labels = sorted(counts, key=lambda lab: (lab != "person", -weight[lab], lab))[:cfg.describe_max_labels]
    people = [d for d in kept if d.label == "person"]
    subjects = []
    for lab in labels:
        if lab == "person" and faces and len(people) < cfg.group_count:
            subjects.append(_people_phrase(people, faces, cfg))
        elif lab in _LIVING:
            subjects.append(_phrase(lab, counts[lab], cfg.group_count))
    things = [_phrase(lab, counts[lab], cfg.group_count) for lab in labels if lab not in _LIVING]
    if subjects and things:
        return f"{_join(subjects)} with {_join(things)}"
    return _join(subjects or things)


def _names_people(detections: Sequence[Detection], cfg: DetectConfig) -> bool:
    """Whether :func:`describe` could turn this image's people into men / women (worth the faces)."""
    people = [d for d in detections
              if d.label == "person" and d.score >= cfg.describe_min_score and d.area >= cfg.describe_min_area]
    return 0 < len(people) < cfg.group_count


def describe_images(images: Sequence[DetectInput], faces: bool = True,
                    settings: DetectConfig | None = None) -> list[str]:
    """:func:`describe` of each image's objects and, with ``faces``, its people's faces, by the
    process-wide detectors for ``settings``.

    The face models run only on images where a few people were found (the only ones whose words
    they can change), so photos without people cost the object detector alone.
    """
    settings = settings or DetectConfig()
    images = list(images)
    objects = detect_objects(images, settings=settings)
    found: list[list[Face] | None] = [None] * len(images)
    if faces:
        wanted = [i for i, dets in enumerate(objects) if _names_people(dets, settings)]
        for i, f in zip(wanted, detect_faces([images[i] for i in wanted], settings=settings) if wanted else []):
            found[i] = f
    return [describe(o, f, settings=settings) for o, f in zip(objects, found)]
