import numpy as np
import pytest

from lava_msf.analysis.detection import coco_map
from lava_msf.analysis.segmentation import confusion_matrix, mean_iou
from lava_msf.errors import ShapeError

GT = [(np.array([[0, 0, 10, 10], [20, 20, 40, 30]], np.float32), np.array([0, 1])),
      (np.array([[5, 5, 15, 25]], np.float32), np.array([1]))]


def _perfect(gt):
    return [(b, np.ones(len(b)), lab) for b, lab in gt]


def test_perfect_detections_score_one_and_printing_is_silenced(capsys):
    r = coco_map(_perfect(GT), GT)
    assert r["map50"] == pytest.approx(1.0) and r["map"] == pytest.approx(1.0)
    assert r["per_class_ap50"] == {0: pytest.approx(1.0), 1: pytest.approx(1.0)} and r["objects"] == 3
    assert capsys.readouterr().out == ""
    as_dicts = coco_map([{"boxes": b, "scores": s, "labels": c} for b, s, c in _perfect(GT)],
                        [{"boxes": b, "labels": c} for b, c in GT])
    assert as_dicts["map"] == r["map"]


def test_shifted_box_counts_at_iou_below_or_above_one_half():
    gt = [(np.array([[0, 0, 10, 10]]), np.array([3]))]
    # shifted right by 4: intersection 60, union 140, IoU 0.43 (a miss at 0.5, a miss at every threshold)
    miss = coco_map([(np.array([[4, 0, 14, 10]]), np.array([0.9]), np.array([3]))], gt)
    assert miss["map50"] == 0.0 and miss["map"] == 0.0
    # shifted by 2: intersection 80, union 120, IoU 0.667: a hit at 0.50, 0.55, 0.60, 0.65 (4 of 10 thresholds)
    hit = coco_map([(np.array([[2, 0, 12, 10]]), np.array([0.9]), np.array([3]))], gt)
    assert hit["map50"] == pytest.approx(1.0) and hit["map"] == pytest.approx(0.4)
    # the right box with the wrong class is no detection of class 3
    wrong = coco_map([(np.array([[0, 0, 10, 10]]), np.array([0.9]), np.array([4]))], gt)
    assert wrong["map50"] == 0.0 and wrong["per_class_ap50"] == {3: 0.0}


def test_ranking_and_images_without_predictions_or_objects():
    gt = [(np.array([[0, 0, 10, 10]]), np.array([0])), (np.zeros((0, 4)), np.zeros(0, int))]
    # a false positive on the empty image scored above the hit: precision 1/2 at recall 1 -> AP 0.5
    # (101-point interpolation: 0.5 at every recall level)
    preds = [(np.array([[0, 0, 10, 10]]), np.array([0.5]), np.array([0])),
             (np.array([[0, 0, 5, 5]]), np.array([0.9]), np.array([0]))]
    assert coco_map(preds, gt)["map50"] == pytest.approx(0.5)
    preds[1] = (np.array([[0, 0, 5, 5]]), np.array([0.1]), np.array([0]))  # ranked below the hit: harmless
    assert coco_map(preds, gt)["map50"] == pytest.approx(1.0)
    none = [(np.zeros((0, 4)), np.zeros(0), np.zeros(0, int))] * 2
    assert coco_map(none, gt)["map50"] == 0.0
    empty = coco_map(none, [(np.zeros((0, 4)), np.zeros(0, int))] * 2)
    assert np.isnan(empty["map50"]) and np.isnan(empty["map"])


def test_detection_input_errors():
    with pytest.raises(ShapeError, match=r"predictions\[0\]: boxes must be \(K, 4\)"):
        coco_map([(np.zeros((2, 3)), np.zeros(2), np.zeros(2, int))], [(np.zeros((0, 4)), np.zeros(0, int))])
    with pytest.raises(ShapeError, match="2 boxes but 1 scores"):
        coco_map([(np.zeros((2, 4)), np.zeros(1), np.zeros(2, int))], [(np.zeros((0, 4)), np.zeros(0, int))])
    with pytest.raises(ShapeError, match="labels must be integers"):
        coco_map(_perfect(GT), [(GT[0][0], np.array([0.5, 1.0])), GT[1]])
    with pytest.raises(ShapeError, match="2 images of predictions but 1"):
        coco_map(_perfect(GT), GT[:1])


def test_mean_iou_hand_computed():
    gt = np.array([[[0, 0, 1, 1], [0, 0, 1, 1]]])  # 4 background, 4 class-0 pixels (value 1)
    assert mean_iou(gt, gt, 3)["miou"] == 1.0
    pred = np.array([[[0, 0, 0, 1], [0, 0, 1, 2]]])
    r = mean_iou(pred, gt, 3)
    # background: TP 4, union 5 -> 0.8; class 0 (value 1): TP 2, union 4 -> 0.5; class 1 (value 2): TP 0, union 1 -> 0
    # class 2 (value 3) absent from both: excluded
    assert r["per_class"] == [pytest.approx(0.8), pytest.approx(0.5), 0.0, None]
    assert r["miou"] == pytest.approx((0.8 + 0.5 + 0.0) / 3)
    assert r["pixel_accuracy"] == pytest.approx(6 / 8)
    cm = confusion_matrix(pred, gt, 3)
    assert cm.sum() == 8 and cm[1, 0] == 1 and cm[1, 2] == 1 and cm[0, 0] == 4


def test_mean_iou_pools_pixels_over_images():
    # per-image IoUs of class 0 would be 1.0 and 0.0 (mean 0.5); pooled: TP 4, union 5 -> 0.8
    gt = np.array([[[1, 1], [1, 1]], [[0, 0], [0, 0]]])
    pred = np.array([[[1, 1], [1, 1]], [[0, 0], [0, 1]]])
    assert mean_iou(pred, gt, 1)["per_class"][1] == pytest.approx(0.8)


def test_mean_iou_input_errors():
    with pytest.raises(ShapeError, match="differ in shape"):
        mean_iou(np.zeros((1, 2, 2), int), np.zeros((1, 2, 3), int), 2)
    with pytest.raises(ShapeError, match=r"integers 0\.\.2"):
        mean_iou(np.full((1, 2, 2), 3), np.zeros((1, 2, 2), int), 2)
    with pytest.raises(ShapeError, match="predicted masks must be integers"):
        mean_iou(np.zeros((1, 2, 2)), np.zeros((1, 2, 2), int), 2)


def test_pictures_decode_with_the_right_size_and_boxes_change_pixels(tmp_path):
    from PIL import Image

    from lava_msf.analysis.pictures import draw_scene, side_by_side, write_gif, write_png

    frame = np.zeros((1, 16, 20), np.float32)
    plain = np.asarray(draw_scene(frame, scale=2))
    boxed = np.asarray(draw_scene(frame, np.array([[4, 6, 12, 14]]), np.array([2]), scores=np.array([0.5]), scale=2))
    assert plain.shape == boxed.shape == (32, 40, 3) and not plain.any()
    changed = (boxed != plain).any(axis=-1)
    assert changed[12:28, 8].all() and changed[27, 8:24].all()  # the left and bottom edges of the box
    assert not changed[14:26, 10:22].any() and not changed[13:, 26:].any()  # inside and right of it: untouched
    assert changed[:12, 8:24].any()  # the label, above the box
    mask = np.zeros((16, 20), int)
    mask[2:5, 3:7] = 1
    overlay = np.asarray(draw_scene(frame, mask=mask, scale=1))
    assert (overlay[2:5, 3:7] > 0).any(axis=-1).all() and not overlay[5:].any() and not overlay[:, 7:].any()
    path = write_png(tmp_path / "pic.png", side_by_side(draw_scene(frame), draw_scene(frame)))
    with Image.open(path) as png:
        assert png.format == "PNG" and png.size == (2 * 80 + 4, 64)
    events = np.zeros((2, 16, 20, 3), np.uint8)
    frames = [draw_scene(events, np.array([[k, 0, k + 4, 4]]), np.array([0]), caption=f"{k}") for k in range(5)]
    with Image.open(write_gif(tmp_path / "stream.gif", frames, frame_ms=50)) as gif:
        assert gif.format == "GIF" and gif.n_frames == 5 and gif.size == (80, 64)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pic.png", "stream.gif"]  # no temporary files left
    with pytest.raises(ShapeError, match="mask"):
        draw_scene(frame, mask=np.zeros((4, 4), int))
    with pytest.raises(ShapeError, match="1 boxes but 2 labels"):
        draw_scene(frame, np.array([[0, 0, 2, 2]]), np.array([0, 1]))


def test_prediction_pictures_draw_the_confident_boxes():
    """A detection picture draws boxes from DRAW_SCORE (the decoder keeps them from 0.05, for mAP)."""
    from lava_msf.analysis.pictures import DRAW_SCORE, draw_scene, prediction_picture

    frame = np.zeros((1, 16, 20), np.float32)
    boxes, labels = np.array([[1, 1, 6, 6], [10, 8, 18, 15]], np.float32), np.array([0, 1])
    scores = np.array([DRAW_SCORE - 0.01, DRAW_SCORE])
    picture = np.asarray(prediction_picture(frame, "detect", (boxes, scores, labels)))
    assert np.array_equal(picture, np.asarray(draw_scene(frame, boxes[1:], labels[1:], scores[1:])))
    assert not np.array_equal(picture, np.asarray(draw_scene(frame)))  # the confident box is there
    truth = np.asarray(prediction_picture(frame, "detect", (boxes, None, labels)))  # ground truth: every box
    assert np.array_equal(truth, np.asarray(draw_scene(frame, boxes, labels)))
