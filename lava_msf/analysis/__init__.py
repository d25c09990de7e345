"""Spike and energy analysis: firing rates, synaptic operations, FLOPs and
energy by the SDT papers' method, for the deployed network and its torch
model; plots. Dense predictions: COCO mAP (detection), mIoU (segmentation),
pictures of boxes and masks (pictures)."""

from .energy import E_AC_PJ, E_MAC_PJ, energy, layer_flops, measure_rates
from .report import analyze, report_text

__all__ = ["E_AC_PJ", "E_MAC_PJ", "analyze", "energy", "layer_flops", "measure_rates", "report_text"]
