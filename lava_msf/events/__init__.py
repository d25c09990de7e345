"""Event-camera data as plain structured numpy arrays (fields x, y, t in
microseconds, p; the tonic convention): readers and writers, composable
transforms, binning into per-step frames (also of a stream, EventBinner),
and the `dvs-synth` simulator.
numpy only: usable from the torch side and the Lava side alike."""

from .binning import EventBinner
from .core import EVENT_DTYPE, EventFormatError, SensorSize, as_events, as_sensor_size, check_events, make_events
from .io import EventFile, open_events, read_events, write_events
from .transforms import Compose, CropTime, Denoise, Downsample, MergePolarities, ToFrames, to_frames

__all__ = ["EVENT_DTYPE", "EventFormatError", "SensorSize", "as_events", "as_sensor_size", "check_events",
           "make_events", "EventFile", "open_events", "read_events", "write_events", "EventBinner",
           "Compose", "CropTime", "Denoise", "Downsample", "MergePolarities", "ToFrames", "to_frames"]
