"""Detector throughput on one thread: images/s of the human CenterNet (ONNX Runtime and torch
backends) and of the face path, on 50 real 640x480 photographs (scikit-image's samples, cropped
and mirrored so no two are equal).

Run: python -m benchmarks.bench_detect   (XMODAL_THREADS=1 is the default: one intra-op thread)
"""
from __future__ import annotations

import json
import time

import numpy as np
from PIL import Image
from skimage import data

from xmodal.media.detect import FaceAnalyzer, ObjectDetector, describe

N_IMAGES = 50


def photos(n: int = N_IMAGES) -> list[np.ndarray]:
    """n distinct 640x480 RGB photos: crops at varying offsets of the colour samples, some mirrored."""
    sources = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket(), data.immunohistochemistry(),
               np.concatenate([data.astronaut(), data.astronaut()], axis=1)]
    out = []
    for i in range(n):
        src = Image.fromarray(sources[i % len(sources)])
        scale = 1.0 + 0.15 * (i // len(sources))
        big = src.resize((max(640, int(src.width * scale * 1.4)), max(480, int(src.height * scale * 1.4))))
        dx, dy = (7 * i) % (big.width - 640 + 1), (5 * i) % (big.height - 480 + 1)
        im = np.asarray(big.crop((dx, dy, dx + 640, dy + 480)))
        out.append(im[:, ::-1].copy() if i % 2 else im)
    return out


def timed(fn, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


def main() -> dict:
    images = photos()
    report: dict = {"images": len(images), "size": "640x480", "threads": 1}
    for backend in ("onnx", "torch"):
        det = ObjectDetector(backend=backend)
        det.detect(images[:2])  # warm-up
        secs, found = timed(det.detect, images)
        report[f"objects_{backend}_images_per_s"] = round(len(images) / secs, 2)
        report[f"objects_{backend}_ms_per_image"] = round(1000 * secs / len(images), 1)
    faces = FaceAnalyzer()
    faces.analyze(images[:2])
    secs, face_found = timed(faces.analyze, images)
    report["faces_images_per_s"] = round(len(images) / secs, 2)
    report["faces_ms_per_image"] = round(1000 * secs / len(images), 1)
    report["examples"] = sorted({describe(o, f) for o, f in zip(found, face_found)})
    return report


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
