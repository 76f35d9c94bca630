"""The TFJS interpreter against numpy references, and the human CenterNet / face models on real photos.

The model tests run the real @vladmandic/human weights fetched by scripts/fetch_human.sh (part of
scripts/setup.sh) on scikit-image's sample photographs; nothing is mocked.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage import data

from xmodal.errors import InvalidInput, NotFound
from xmodal.media.detect import (Detection, Face, FaceAnalyzer, ObjectDetector, describe, describe_images,
                                 detect_objects, human_models_dir, nms, prepare)
from xmodal.media.tfjs import TfjsGraph, crop_and_resize, decode_weights, resize_bilinear

# ------------------------------------------------------------------------- numpy references


def np_resize(a: np.ndarray, oh: int, ow: int, align: bool = False, half: bool = False) -> np.ndarray:
    """TF ResizeBilinear, written out per pixel (N, H, W, C)."""
    n, h, w, c = a.shape
    out = np.zeros((n, oh, ow, c), np.float64)

    def src(i: int, insz: int, outsz: int) -> tuple[int, int, float]:
        r = (insz - 1) / (outsz - 1) if align and outsz > 1 else insz / outsz
        s = (i + 0.5) * r - 0.5 if half else i * r
        lo = max(0, int(np.floor(s)))
        return lo, min(insz - 1, int(np.ceil(s))), s - lo

    for i in range(oh):
        y0, y1, fy = src(i, h, oh)
        for j in range(ow):
            x0, x1, fx = src(j, w, ow)
            top = a[:, y0, x0] * (1 - fx) + a[:, y0, x1] * fx
            bot = a[:, y1, x0] * (1 - fx) + a[:, y1, x1] * fx
            out[:, i, j] = top * (1 - fy) + bot * fy
    return out


def np_conv_same(x: np.ndarray, w: np.ndarray, stride: int) -> np.ndarray:
    """NHWC conv with TF SAME padding (extra pixel after), filter HWIO."""
    n, h, wd, c = x.shape
    kh, kw, _, o = w.shape
    oh, ow = -(-h // stride), -(-wd // stride)
    ph = max((oh - 1) * stride + kh - h, 0)
    pw = max((ow - 1) * stride + kw - wd, 0)
    xp = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    out = np.zeros((n, oh, ow, o))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j] = np.einsum("nhwc,hwco->no", patch, w)
    return out


def np_depthwise_same(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Stride-1 SAME depthwise conv, filter (kh, kw, C, 1)."""
    kh, kw = w.shape[:2]
    xp = np.pad(x, ((0, 0), (kh // 2, kh // 2), (kw // 2, kw // 2), (0, 0)))
    out = np.zeros_like(x, dtype=np.float64)
    for i in range(x.shape[1]):
        for j in range(x.shape[2]):
            out[:, i, j] = np.einsum("nhwc,hwc->nc", xp[:, i:i + kh, j:j + kw], w[..., 0])
    return out


# ---------------------------------------------------------------- a tiny TFJS model on disk


def _attr_list(ints: list[int]) -> dict:
    return {"list": {"i": [str(i) for i in ints]}}


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def write_model(folder: Path, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """model.json + one shard: conv (float16-quantised filter, uint8-quantised bias, Relu6 fused),
    depthwise conv, 2x resize, SAME max-pool, mean. Returns the weights as the model sees them."""
    w_conv = rng.normal(size=(3, 3, 3, 4)).astype(np.float32)
    q_bias = rng.integers(0, 256, size=4).astype(np.uint8)
    scale, lo = 0.01, -1.2
    w_dw = rng.normal(size=(3, 3, 4, 1)).astype(np.float32)
    size = np.array([8, 6], np.int32)
    axes = np.array([1, 2], np.int32)
    shard = (w_conv.astype("<f2").tobytes() + q_bias.tobytes() + w_dw.astype("<f4").tobytes()
             + size.astype("<i4").tobytes() + axes.astype("<i4").tobytes())
    (folder / "tiny.bin").write_bytes(shard)
    nodes = [
        {"name": "x", "op": "Placeholder", "attr": {"dtype": {"type": "DT_FLOAT"}}},
        {"name": "conv/w", "op": "Const"}, {"name": "conv/b", "op": "Const"}, {"name": "dw/w", "op": "Const"},
        {"name": "up/size", "op": "Const"}, {"name": "mean/axes", "op": "Const"},
        {"name": "conv", "op": "_FusedConv2D", "input": ["x", "conv/w", "conv/b"],
         "attr": {"strides": _attr_list([1, 2, 2, 1]), "padding": _s("SAME"), "data_format": _s("NHWC"),
                  "dilations": _attr_list([1, 1, 1, 1]), "num_args": {"i": "1"},
                  "fused_ops": {"list": {"s": [_s("BiasAdd")["s"], _s("Relu6")["s"]]}}}},
        {"name": "dw", "op": "DepthwiseConv2dNative", "input": ["conv", "dw/w"],
         "attr": {"strides": _attr_list([1, 1, 1, 1]), "padding": _s("SAME"), "data_format": _s("NHWC")}},
        {"name": "up", "op": "ResizeBilinear", "input": ["dw", "up/size"],
         "attr": {"align_corners": {"b": False}, "half_pixel_centers": {"b": False}}},
        {"name": "pool", "op": "MaxPool", "input": ["up"],
         "attr": {"ksize": _attr_list([1, 3, 3, 1]), "strides": _attr_list([1, 2, 2, 1]), "padding": _s("SAME")}},
        {"name": "mean", "op": "Mean", "input": ["pool", "mean/axes"], "attr": {"keep_dims": {"b": False}}},
    ]
    manifest = [{"paths": ["tiny.bin"], "weights": [
        {"name": "conv/w", "shape": [3, 3, 3, 4], "dtype": "float32",
         "quantization": {"dtype": "float16", "original_dtype": "float32"}},
        {"name": "conv/b", "shape": [4], "dtype": "float32",
         "quantization": {"dtype": "uint8", "min": lo, "scale": scale, "original_dtype": "float32"}},
        {"name": "dw/w", "shape": [3, 3, 4, 1], "dtype": "float32"},
        {"name": "up/size", "shape": [2], "dtype": "int32"},
        {"name": "mean/axes", "shape": [2], "dtype": "int32"},
    ]}]
    spec = {"format": "graph-model", "modelTopology": {"node": nodes}, "weightsManifest": manifest}
    (folder / "tiny.json").write_text(json.dumps(spec))
    return {"conv/w": w_conv.astype(np.float16).astype(np.float32),
            "conv/b": q_bias.astype(np.float32) * np.float32(scale) + np.float32(lo), "dw/w": w_dw}


def test_quantised_weights_decode_as_tfjs_defines(tmp_path: Path) -> None:
    expect = write_model(tmp_path, np.random.default_rng(0))
    spec = json.loads((tmp_path / "tiny.json").read_text())
    got = decode_weights(spec["weightsManifest"], tmp_path)
    for name in expect:
        np.testing.assert_array_equal(got[name], expect[name])
    assert got["up/size"].tolist() == [8, 6]


def test_graph_ops_match_numpy_references(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    w = write_model(tmp_path, rng)
    graph = TfjsGraph(tmp_path / "tiny.json")
    x = rng.normal(size=(2, 7, 5, 3)).astype(np.float32)  # odd sizes: SAME stride 2 pads asymmetrically
    conv, dw, up, pool, mean = graph.run(["conv", "dw", "up", "pool", "mean"], {"x": x})
    ref_conv = np.clip(np_conv_same(x.astype(np.float64), w["conv/w"], 2) + w["conv/b"], 0, 6)
    np.testing.assert_allclose(conv, ref_conv, atol=1e-4)
    np.testing.assert_allclose(dw, np_depthwise_same(conv.astype(np.float64), w["dw/w"]), atol=1e-4)
    np.testing.assert_allclose(up, np_resize(dw.astype(np.float64), 8, 6), atol=1e-5)
    # SAME max-pool 3x3 / 2 over 8x6: pad -inf, 0 before / 1 after in both dims.
    padded = np.pad(up, ((0, 0), (0, 1), (0, 1), (0, 0)), constant_values=-np.inf)
    ref_pool = np.stack([np.stack([padded[:, 2 * i:2 * i + 3, 2 * j:2 * j + 3].max(axis=(1, 2))
                                   for j in range(3)], 1) for i in range(4)], 1)
    np.testing.assert_allclose(pool, ref_pool, atol=1e-6)
    np.testing.assert_allclose(mean, ref_pool.mean(axis=(1, 2)), atol=1e-5)
    # Any node can be fed: the tail from "up" on gives the same answer.
    (mean2,) = graph.run(["mean"], {"up": up})
    np.testing.assert_allclose(mean2, mean, atol=1e-6)


def test_unknown_op_is_refused_naming_the_node(tmp_path: Path) -> None:
    write_model(tmp_path, np.random.default_rng(2))
    spec = json.loads((tmp_path / "tiny.json").read_text())
    spec["modelTopology"]["node"][-1]["op"] = "Erf"
    (tmp_path / "tiny.json").write_text(json.dumps(spec))
    with pytest.raises(InvalidInput, match="'mean' uses op 'Erf'"):
        TfjsGraph(tmp_path / "tiny.json")


@pytest.mark.parametrize("align,half", [(False, False), (True, False), (False, True)])
@pytest.mark.parametrize("out", [(14, 10), (11, 13), (3, 2)])
def test_resize_bilinear_matches_tf_grid(align: bool, half: bool, out: tuple[int, int]) -> None:
    a = np.random.default_rng(3).normal(size=(2, 7, 5, 3)).astype(np.float32)
    got = resize_bilinear(torch.from_numpy(a), out, align, half).numpy()
    np.testing.assert_allclose(got, np_resize(a.astype(np.float64), *out, align, half), atol=1e-5)


def test_crop_and_resize_matches_tf_definition() -> None:
    img = np.random.default_rng(4).uniform(0, 255, size=(9, 12, 3)).astype(np.float32)
    box = (-0.1, 0.2, 0.7, 1.2)  # partly outside: those samples are the extrapolation value
    got = crop_and_resize(torch.from_numpy(img), box, (5, 4), extrapolation=-7.0)[0].numpy()
    ref = np.full((5, 4, 3), -7.0)
    for i in range(5):
        y = box[0] * 8 + i * (box[2] - box[0]) * 8 / 4
        for j in range(4):
            x = box[1] * 11 + j * (box[3] - box[1]) * 11 / 3
            if 0 <= y <= 8 and 0 <= x <= 11:
                y0, x0, y1, x1 = int(np.floor(y)), int(np.floor(x)), int(np.ceil(y)), int(np.ceil(x))
                top = img[y0, x0] + (img[y0, x1] - img[y0, x0]) * (x - x0)
                bot = img[y1, x0] + (img[y1, x1] - img[y1, x0]) * (x - x0)
                ref[i, j] = top + (bot - top) * (y - y0)
    np.testing.assert_allclose(got, ref, atol=1e-3)


def test_nms_follows_tfjs_rules() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 1, 10, 11], [20, 20, 30, 30], [0, 0, 10, 10]], np.float32)
    scores = np.array([0.9, 0.8, 0.7, 0.2], np.float32)
    assert nms(boxes, scores, 10, 0.5, 0.2) == [0, 2]  # box 1 overlaps 0 (IoU 0.82); box 3 not > 0.2
    assert nms(boxes, scores, 1, 0.5, 0.0) == [0]
    assert nms(boxes, scores, 10, 0.9, 0.0) == [0, 1, 2]  # IoU 0.82 < 0.9 keeps box 1; box 3 equals 0


# ------------------------------------------------------------------------------ describe()

def _det(label: str, score: float = 0.6, box=(0.1, 0.1, 0.5, 0.6)) -> Detection:
    return Detection(label, score, box)


def test_describe_counts_and_relates() -> None:
    assert describe([]) == ""
    assert describe([_det("person")]) == "a person"
    assert describe([_det("person"), _det("person")]) == "two people"
    assert describe([_det("person")] * 6) == "a group of people"
    assert describe([_det("person"), _det("dog")]) == "a person and a dog"
    assert describe([_det("person"), _det("surfboard", 0.5, (0.0, 0.5, 0.3, 0.7))]) == "a person with a surfboard"
    assert describe([_det("elephant"), _det("elephant"), _det("elephant")]) == "three elephants"
    assert describe([_det("wine glass"), _det("wine glass")]) == "two wine glasses"
    assert describe([_det("apple")]) == "an apple"


def test_describe_drops_low_scores_and_tiny_boxes() -> None:
    faint = _det("dog", 0.21)
    tiny = _det("cup", 0.9, (0.5, 0.5, 0.51, 0.51))
    assert describe([_det("person"), faint, tiny]) == "a person"
    assert describe([faint, tiny]) == ""


def test_faces_name_people_only_inside_person_boxes() -> None:
    person = _det("person", 0.6, (0.0, 0.0, 0.5, 1.0))
    woman = Face(0.9, (0.1, 0.1, 0.4, 0.4), 30.0, "female", 0.6, 0.1)
    girl = Face(0.9, (0.6, 0.1, 0.9, 0.4), 8.0, "female", 0.6, 0.9)
    unsure = Face(0.9, (0.1, 0.1, 0.4, 0.4), 30.0, "male", 0.1, 0.1)
    assert describe([person], [woman]) == "a woman"
    assert describe([person], [unsure]) == "a person"
    assert describe([person], [girl]) == "a person"  # the face lies outside the person box
    other = _det("person", 0.6, (0.5, 0.0, 1.0, 1.0))
    assert describe([person, other], [woman, girl]) == "a girl and a woman"
    assert describe([person, other], [woman]) == "two people"


# ------------------------------------------------------------------------- the real models

@pytest.fixture(scope="module")
def detector() -> ObjectDetector:
    return ObjectDetector()


@pytest.fixture(scope="module")
def faces() -> FaceAnalyzer:
    return FaceAnalyzer()


def two_astronauts() -> np.ndarray:
    a = data.astronaut()
    return np.concatenate([a, a], axis=1)


def test_missing_models_name_the_setup_command(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="fetch_human.sh"):
        human_models_dir(tmp_path)


def test_interpreter_reproduces_tfjs_on_centernet(detector: ObjectDetector) -> None:
    """Reference rows computed by @tensorflow/tfjs 4 (CPU backend, node) on the same input:
    chelsea stretched to 512x512 as human does it."""
    x, _ = prepare(data.chelsea(), 512, "stretch")
    det = detector.graph.run(["tower_0/detections"], {"tower_0/images": x})[0][0]
    tfjs = np.array([[-4.2080688, 9.7821655, 479.4566, 510.80109, 0.47748467, 16],
                     [-2.0462494, 8.6706085, 470.4939, 510.24133, 0.37602216, 16],
                     [-4.2080688, 9.7821655, 479.4566, 510.80109, 0.25331214, 59]])
    np.testing.assert_allclose(det[:3], tfjs, atol=2e-3)


def test_astronaut_is_one_person(detector: ObjectDetector) -> None:
    (dets,) = detector.detect([data.astronaut()])
    people = [d for d in dets if d.label == "person" and d.score >= 0.3]
    assert len(people) == 1 and people[0].area > 0.4
    assert describe(dets) == "a person"


def test_coffee_cup_and_chelsea_cat(detector: ObjectDetector) -> None:
    coffee, cat = detector.detect([data.coffee(), data.chelsea()])
    assert coffee[0].label == "cup" and "a cup" in describe(coffee)
    assert cat[0].label == "cat" and describe(cat) == "a cat"


def test_two_astronauts_side_by_side_are_two_people(detector: ObjectDetector) -> None:
    (dets,) = detector.detect([two_astronauts()])
    assert describe(dets) == "two people"
    people = sorted((d for d in dets if d.label == "person" and d.score >= 0.3), key=lambda d: d.box[0])
    assert people[0].box[2] < 0.55 and people[1].box[0] > 0.45  # one in each half


def test_batch_gives_the_same_detections_as_one_by_one(detector: ObjectDetector) -> None:
    images = [data.astronaut(), data.coffee(), data.chelsea()]
    together = detector.detect(images)
    alone = [detector.detect([im])[0] for im in images]
    for a, b in zip(together, alone):
        assert [d.label for d in a] == [d.label for d in b]
        np.testing.assert_allclose([d.box for d in a], [d.box for d in b], atol=1e-3)


def test_bad_images_are_refused(detector: ObjectDetector) -> None:
    with pytest.raises(InvalidInput, match="sequence of images"):
        detect_objects(data.astronaut(), detector)
    with pytest.raises(InvalidInput, match="HxWx3 uint8"):
        detector.detect([data.astronaut().astype(np.float32)])


def test_faces_make_the_astronauts_women(detector: ObjectDetector, faces: FaceAnalyzer) -> None:
    one, two = data.astronaut(), two_astronauts()
    found = faces.analyze([one, two])
    assert len(found[0]) == 1 and found[0][0].gender == "female" and found[0][0].child_prob < 0.5
    dets = detector.detect([one, two])
    assert describe(dets[0], found[0]) == "a woman"
    assert describe(dets[1], found[1]) == "two women"


def test_a_cat_face_names_no_one(detector: ObjectDetector, faces: FaceAnalyzer) -> None:
    (found,) = faces.analyze([data.chelsea()])
    (dets,) = detector.detect([data.chelsea()])
    assert describe(dets, found) == "a cat"


def test_describe_images_runs_both_detectors() -> None:
    assert describe_images([data.astronaut(), data.chelsea()]) == ["a woman", "a cat"]
    assert describe_images([data.astronaut()], faces=False) == ["a person"]
