"""Benchmark: the scene datasets for detection and segmentation.

1. generation time and statistics of each split of digits-scenes and
   dvs-synth-scenes (objects per sample, per class, box sizes, spike density);
2. the metrics on the ground truth itself (mAP and mIoU must be 1.0), and,
   for dvs-synth-scenes, how far the objects move within a window: the mAP of
   the targets of earlier bins taken as predictions of the last bin's;
3. the test split as one stream (split_stream) and a 10 s continuous stream.
Writes docs/results/scenes_data.json; --pictures DIR writes examples there.

    .venv/bin/python bench/scenes_data.py [--pictures runs/scenes]
"""

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np

from lava_msf.analysis.detection import coco_map
from lava_msf.analysis.pictures import draw_scene, side_by_side, write_gif, write_png
from lava_msf.analysis.segmentation import mean_iou
from lava_msf.atomic import write_text
from lava_msf.data import load_scenes
from lava_msf.data.scenes_events import continuous_stream, split_stream
from lava_msf.events.synth import SHAPES


def statistics(ds, seconds: float) -> dict:
    boxes = np.concatenate(ds.boxes)
    side = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
    return {"samples": len(ds), "generated_s": round(seconds, 2),
            "objects_per_sample": np.bincount([len(c) for c in ds.labels]).tolist(),
            "objects_per_class": np.bincount(np.concatenate(ds.labels), minlength=ds.num_classes).tolist(),
            "box_side_px_p5_p50_p95": np.percentile(side, [5, 50, 95]).round(1).tolist(),
            "object_pixel_share": round(float((ds.masks > 0).mean()), 4),
            "input_mean": round(float(ds.x.mean()), 4)}


def self_check(ds) -> dict:
    gt = list(zip(ds.boxes, ds.labels))
    perfect = [(b, np.ones(len(b)), c) for b, c in gt]
    r = coco_map(perfect, gt)
    return {"map50_gt": r["map50"], "map_gt": r["map"], "miou_gt": mean_iou(ds.masks, ds.masks, ds.num_classes)["miou"]}


def motion(ds) -> dict:
    """mAP of bin k's targets as predictions of the last bin's: how much the objects move."""
    per_bin = [ds.bin_targets(i) for i in range(len(ds))]
    gt = list(zip(ds.boxes, ds.labels))
    out = {}
    for k in range(ds.info["timesteps"] - 1):
        preds = [(b[k], np.ones(len(b[k])), c[k]) for b, c, _ in per_bin]
        r = coco_map(preds, gt)
        out[f"bin{k}_as_last"] = {"map50": round(r["map50"], 4), "map": round(r["map"], 4)}
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", type=Path, help="write example pictures to this folder")
    parser.add_argument("--out", type=Path, default=Path("docs/results/scenes_data.json"))
    args = parser.parse_args()
    result = {}
    for name in ("digits-scenes", "dvs-synth-scenes"):
        for split in ("train", "test"):
            t = time.perf_counter()
            ds = load_scenes(name, split, 64, timesteps=4)
            row = statistics(ds, time.perf_counter() - t)
            if split == "test":
                row.update(self_check(ds))
                if name == "dvs-synth-scenes":
                    row["motion"] = motion(ds)
                if args.pictures:
                    images = [draw_scene(ds.x[i], ds.boxes[i], ds.labels[i], mask=ds.masks[i],
                                         class_names=ds.info["classes"]) for i in range(4)]
                    write_png(args.pictures / f"{name}.png", side_by_side(*images))
            result[f"{name} {split}"] = row
            print(name, split, json.dumps(row))
    t = time.perf_counter()
    stream = split_stream("test", 64, 4)
    result["split_stream test"] = {"windows": stream.windows, "events": len(stream.events),
                                   "generated_s": round(time.perf_counter() - t, 2)}
    t = time.perf_counter()
    long = continuous_stream(100, 64, 4)
    result["continuous_stream 100 windows"] = {"events": len(long.events),
                                               "generated_s": round(time.perf_counter() - t, 2)}
    if args.pictures:
        frames = [draw_scene(long.window_frames(k), *long.window_targets(k)[:2], mask=long.window_targets(k)[2],
                             class_names=SHAPES, caption=f"{(k + 1) * 100} ms") for k in range(30)]
        write_gif(args.pictures / "continuous_stream.gif", frames, frame_ms=100)
    result["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    result["load_average_1_5_15min"] = [round(v, 1) for v in os.getloadavg()]  # the times depend on other jobs
    print(json.dumps({k: result[k] for k in list(result)[-3:]}))
    write_text(args.out, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
