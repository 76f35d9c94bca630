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


def timed(report: dict, key: str, n: int, fn, *args) -> object:
    """Wall and process-CPU time per image. With one thread, CPU time is what an idle machine
    would take; on a busy shared machine wall time is inflated by waiting for a core."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    report[key] = {"images_per_s_wall": round(n / wall, 2), "ms_per_image_wall": round(1000 * wall / n, 1),
                   "ms_per_image_cpu": round(1000 * cpu / n, 1), "images_per_s_cpu": round(n / cpu, 2)}
    return result


def main() -> dict:
    images = photos()
    n = len(images)
    report: dict = {"images": n, "size": "640x480", "threads": 1}
    found = None
    for backend, size in (("onnx", 512), ("torch", 512), ("onnx", 384), ("onnx", 320)):
        det = ObjectDetector(backend=backend, input_size=size)
        det.detect(images[:2])  # warm-up
        result = timed(report, f"objects_{backend}_{size}", n, det.detect, images)
        found = found or result
    faces = FaceAnalyzer()
    faces.analyze(images[:2])
    face_found = timed(report, "faces_onnx_all_images", n, faces.analyze, images)
    report["examples"] = sorted({describe(o, f) for o, f in zip(found, face_found)})
    return report


if __name__ == "__main__":
    print(json.dumps(main(), indent=1))
