"""Streaming binning: a time-ordered event stream, chunk by chunk, into one
frame per bin (through to_frames, the one definition of binning), with a
stated policy for long silences."""

import numpy as np

from ..errors import ConfigError
from .core import EVENT_DTYPE, MAX_COORD, MAX_TIMESTAMP_US, EventFormatError, as_sensor_size, check_events, check_int
from .transforms import fit_to_input, to_frames

# A stream silent this long stops producing empty bins (see EventBinner).
DEFAULT_MAX_SILENCE_US = 1_000_000
BLOCK_BINS = 64  # bins binned in one pass over the pending events


class EventBinner:
    """Cuts a time-ordered event stream into frames (C, H, W) of bin_us each,
    mapped onto the network's size x size input (downsampling and centring
    as for training data; C = 2 polarities, or 1 merged). Bin k covers
    [t0 + k*bin_us, t0 + (k+1)*bin_us); t0 defaults to the first event's time
    rounded down to a multiple of bin_us.

    Long silences: once no event has come for `max_silence_us` (counted from
    the last event, or from t0), the binner emits the empty bins up to the end
    of the current period of `period` bins and then no more; when events
    resume it continues at the start of the period holding the next event.
    The bins in between (whole periods without an event) are skipped, counted
    in `skips` and `skipped_bins`. A skip is a whole number of periods, so a
    consumer that resets its state every period sees exactly what it would
    have seen had the empty periods been streamed. max_silence_us=None
    streams every bin, however long the silence."""

    def __init__(self, sensor_size, input_shape, bin_us: int, t0: int | None = None, period: int = 1,
                 max_silence_us: int | None = DEFAULT_MAX_SILENCE_US):
        self.bin_us = check_int(bin_us, "--bin-us", 1, MAX_TIMESTAMP_US)
        self.t0 = None if t0 is None else check_int(t0, "--start-us", 0, MAX_TIMESTAMP_US)
        self.period = check_int(period, "the binner's period", 1)
        self.max_silence_us = None if max_silence_us is None else check_int(
            max_silence_us, "--max-silence-us", 0, MAX_TIMESTAMP_US)
        self.sensor_size = as_sensor_size(sensor_size, "the event stream's sensor size", ConfigError)
        self.channels = check_int(input_shape[0], "the network's input channels", 1, 2)
        self.size = check_int(input_shape[1], "the network's input size", 1, MAX_COORD + 1)
        self.next_bin = 0  # first bin not yet emitted
        self._pending = []  # events of bins >= next_bin
        self._last_t = None
        self._quiet_since = self.t0  # time of the last emitted event (t0 before any)
        self.events = 0  # events accepted
        self.late = 0  # events before the current bin (dropped)
        self.skips, self.skipped_bins = 0, 0

    def _silence_limit(self) -> int | None:
        """First bin that is skipped when empty (None: no limit)."""
        if self.max_silence_us is None or self._quiet_since is None:
            return None
        last_streamed = (self._quiet_since + self.max_silence_us - self.t0) // self.bin_us
        return -(-(last_streamed + 1) // self.period) * self.period

    def _frames(self, upto: int):
        """Emit bins next_bin .. upto-1 from the pending events, binned
        BLOCK_BINS at a time (nothing is allocated per bin of a silence),
        skipping long silences."""
        pending = np.concatenate(self._pending) if self._pending else np.empty(0, EVENT_DTYPE)
        self._pending = [pending]
        k = (pending["t"] - self.t0) // self.bin_us
        i = 0  # first pending event not yet emitted
        block, first = (), 0  # frames of bins first, first + 1, ...
        while self.next_bin < upto:
            b, limit = self.next_bin, self._silence_limit()
            if limit is not None and b >= limit and (i == len(k) or k[i] != b):
                if i == len(k):
                    break  # silent past the limit: wait for the next event
                resume = int(k[i]) // self.period * self.period
                if resume > b:
                    self.skips += 1
                    self.skipped_bins += resume - b
                    self.next_bin = resume
                    continue
            if not first <= b < first + len(block):
                first = b
                block = to_frames(pending[i:], (self.size, self.size), self.bin_us, min(BLOCK_BINS, upto - b),
                                  self.t0 + b * self.bin_us, self.channels) > 0
            j = i + int(np.searchsorted(k[i:], b, side="right"))
            if j > i:
                self._quiet_since = int(pending["t"][j - 1])
            self.next_bin, n, i = b + 1, j - i, j
            self._pending = [pending[i:]]
            yield b, block[b - first].astype(np.int32), n

    def push(self, chunk):
        """Yield (bin index, frame, events in it) for every bin the chunk
        completes. A chunk is an event array or (events, now_us)."""
        events, now = chunk if isinstance(chunk, tuple) else (chunk, None)
        events = check_events(events, self.sensor_size, "event stream", after_us=self._last_t)
        if now is not None:
            now = check_int(now, "event stream: now_us", 0, MAX_TIMESTAMP_US, EventFormatError)
        if len(events):
            self._last_t = int(events["t"][-1])
            if self.t0 is None:
                self.t0 = int(events["t"][0]) // self.bin_us * self.bin_us
                self._quiet_since = self.t0
            events, _ = fit_to_input(events, self.sensor_size, self.size)
            if self.channels == 1:
                events["p"] = 0
            late = events["t"] < self.t0 + self.next_bin * self.bin_us
            self.late += int(late.sum())
            self.events += int((~late).sum())
            self._pending.append(events[~late])
        if self.t0 is None:
            return
        # bins before the last event's are complete; with now_us, all that end by then
        upto = (self._last_t - self.t0) // self.bin_us if self._last_t is not None else 0
        if now is not None:
            upto = max(upto, (now - self.t0) // self.bin_us)
            self._last_t = max(self._last_t or 0, now - 1)
        yield from self._frames(upto)

    def flush(self):
        """Yield the remaining bins, up to the one holding the last event."""
        if self._last_t is not None:
            yield from self._frames((self._last_t - self.t0) // self.bin_us + 1)
