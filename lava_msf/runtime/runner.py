"""Run a Network on Lava's CPU simulator: batches of samples through one
runtime, outputs realigned to model time steps, the runtime always stopped."""

import contextlib
import logging
import time

import numpy as np
from tqdm import tqdm

from ..errors import ConfigError, LavaMsfError, ShapeError
from ..graph import Network, flip_layout
from ..signals import forking
from .backends import Backend, get_backend
from .builder import FusedProbe, LavaGraph, build
from .shm import Record


POLL_MIN, POLL_MAX = 0.0002, 0.005  # seconds between looks at idle pipes
# the loggers Lava adds a console handler to: the root (every AbstractProcess) and its compiler's (every Compiler)
LAVA_LOGGERS = ("", "lava.magma.compiler.compiler")


class LavaRunError(LavaMsfError):
    """The Lava runtime failed (names the phase)."""


def _abort(runtime) -> None:
    """End a runtime Lava cannot stop itself (never started, a dead process
    model, interrupted mid-run): kill its actors, free the shared memory."""
    infrastructure = runtime._messaging_infrastructure
    for actor in infrastructure.actors:
        if actor.is_alive():
            actor.kill()  # they ignore SIGTERM (signals.forking)
    infrastructure.stop()  # joins the actors, shuts the shared-memory manager down
    for port in (*runtime.runtime_to_service, *runtime.service_to_runtime):
        port.join()  # their listener threads, as Runtime.stop() does
    runtime._watchdog_manager.stop()
    runtime._is_started = runtime._is_running = False


class LavaSession:
    """One Lava runtime over a built process graph, rooted at `root`: started
    on first use, and always ended (stopped, or aborted when Lava could not
    stop it) on close(), also on errors and KeyboardInterrupt. Use as a
    context manager."""

    def __init__(self, backend: str | Backend):
        self.backend = get_backend(backend) if isinstance(backend, str) else backend
        self.backend.check_available()
        if not self.backend.lava:
            raise ConfigError(f"backend {self.backend.name!r} does not run on Lava")
        self._root = None  # set by the subclass once its graph is built
        self.graph = None  # the subclass's built graph (LavaGraph or StreamGraph)
        self._runtime_live = False  # a runtime exists and has not been stopped or aborted
        self.steps = 0  # Lava steps run so far
        self.compile_seconds = 0.0
        self._dtype = np.float64 if self.backend.select_tag == "floating_pt" else np.int32  # pipe elements
        self._shm = Record()  # the runtime's shared-memory names, for the next run if this one is killed
        self._handlers_before = {name: list(logging.getLogger(name).handlers) for name in LAVA_LOGGERS}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        """Stop the runtime (idempotent)."""
        try:
            if self._runtime_live:
                runtime = self._root.runtime
                if runtime is not None and runtime._is_started and not runtime._is_running and \
                        all(a.is_alive() for a in runtime._messaging_infrastructure.actors):
                    self._runtime_live = False
                    self._root.stop()
                else:  # never run, mid-run, or a process model killed: Lava's stop() would wait for it
                    self._abort()
            self._shm.release()  # stopped or aborted: its segments are unlinked
        finally:
            self._join_host_pipes()
            self._release_processes()
            self._release_log_handlers()

    def _release_processes(self) -> None:
        """Drop this session's processes and their Vars from Lava's
        ProcessServer and VarServer: global lists nothing reads, which keep
        every process ever built alive (about 23 MB per msf_tiny graph; found
        by the build/run/stop soak)."""
        from lava.magma.core.process.process import ProcessServer
        from lava.magma.core.process.variable import VarServer

        ours = {id(p) for p in self.graph.processes.values()} if self.graph is not None else set()
        runtime = self._root.runtime if self._root is not None else None
        if runtime is not None and runtime._executable is not None:
            ours |= {id(p) for p in runtime._executable.process_list}
        processes, variables = ProcessServer(), VarServer()
        processes.processes = [p for p in processes.processes if id(p) not in ours]
        # Vars without a process (compiling stock sub-process models makes some)
        # are held by the registry alone
        variables.vars = [v for v in variables.vars if v.process is not None and id(v.process) not in ours]

    def _release_log_handlers(self) -> None:
        """Drop the console handlers Lava added while this session built and
        compiled: one per process and per compiler, never removed (74 per
        msf_tiny graph: the soak's object count grew by 672 a cycle, and a Lava
        error was printed once per handler)."""
        from lava.magma.core.process.process import LogConfig

        for name, before in self._handlers_before.items():
            log = logging.getLogger(name)
            # Lava's own: plain console handlers, with its LogConfig format (processes) or none (compilers)
            lava_format = None if name else LogConfig.format
            for handler in [h for h in log.handlers if h not in before and type(h) is logging.StreamHandler
                            and getattr(h.formatter, "_fmt", None) == lava_format]:
                log.removeHandler(handler)

    def _join_host_pipes(self) -> None:
        """End the host's ends of the external pipes: Lava's stop leaves their
        listener threads waiting forever (two threads per session, found by the
        build/run/stop soak)."""
        for proc in self.graph.processes.values() if self.graph is not None else ():
            for port in (*proc.in_ports.members, *proc.out_ports.members):
                for end in (getattr(port, "external_pipe_csp_send_port", None),
                            getattr(port, "external_pipe_csp_recv_port", None)):
                    if end is not None:
                        end.join()

    def _abort(self) -> None:
        runtime = self._root.runtime if self._root is not None else None
        if self._runtime_live and runtime is not None:  # None: compilation failed, nothing forked
            _abort(runtime)
        self._runtime_live = False

    def _start(self) -> None:
        cfg = self.backend.run_config()
        t0 = time.time()
        try:
            # the process models die with this process, take no SIGINT or SIGTERM
            with forking(), self._shm.recording():
                self._runtime_live = True
                self._root.create_runtime(run_cfg=cfg)  # forks the process models
        except LavaMsfError:
            raise
        except Exception as e:
            raise LavaRunError(f"compiling the Lava process graph failed: {type(e).__name__}: {e}") from e
        self.compile_seconds = time.time() - t0

    @contextlib.contextmanager
    def _guarded(self):
        """Context for Lava calls: on any failure or interrupt the runtime is
        aborted (a graceful stop could wait for process models in the middle
        of a message); Lava's own errors become LavaRunError."""
        try:
            yield
        except BaseException as e:
            self._abort()
            if isinstance(e, Exception) and not isinstance(e, LavaMsfError):
                raise LavaRunError(f"running the Lava process graph failed: {type(e).__name__}: {e}") from e
            raise

    def _check_alive(self) -> None:
        """Raise the error of a process model that died: Lava's runtime would
        wait for it forever."""
        dead = [a for a in self._root.runtime._messaging_infrastructure.actors if a.exitcode is not None]
        if dead:
            error = next((a.exception[0] for a in dead if a.exception), None)
            raise LavaRunError(f"a Lava process model failed: {type(error).__name__}: {error}")

    def _begin_run(self, steps: int) -> None:
        from lava.magma.core.run_conditions import RunSteps

        self._root.run(condition=RunSteps(num_steps=steps, blocking=False))

    def _end_run(self, steps: int) -> None:
        """Wait, supervised, for the run begun with _begin_run to finish."""
        runtime = self._root.runtime
        while not all(port.probe() for port in runtime.service_to_runtime):
            self._check_alive()
            time.sleep(0.002)
        self._root.wait()
        self.steps += steps

    def _wait_for(self, ready) -> None:
        """Wait, supervised, until ready() is true (a pipe has room or data)."""
        while not ready():
            self._check_alive()
            time.sleep(0.0002)


class LavaRunner(LavaSession):
    """Builds `net` once for runs of `batch_samples` samples, `batch` of them
    per Lava step (the graph's batch axis); `run()` feeds any number of
    samples. Each run is one Lava run of `graph.period` steps: its samples in
    waves of `batch`, the waves back to back, then empty frames until the last
    wave's readout is out. A short last wave is padded with empty samples."""

    def __init__(self, net: Network, backend: str | Backend = "lava-cpu", batch_samples: int = 16,
                 probes=(), batch: int = 1):
        super().__init__(backend)
        if batch_samples < 1:
            raise ConfigError(f"batch_samples must be at least 1, got {batch_samples}")
        self.net = net
        self.graph: LavaGraph = build(net, self.backend, batch_samples, probes, batch)
        self._root = self.graph.source

    def run(self, frames: np.ndarray, progress: bool = False) -> tuple:
        """frames: (N, C, H, W, T) integers. Returns (readout (N, C, H, W, T),
        probes {layer name: (N, C, H, W, T)}), aligned to model time steps."""
        g, net = self.graph, self.net
        frames = np.asarray(frames)
        expected = (*net.layers[0].shape, net.timesteps)
        if frames.ndim != 5 or frames.shape[1:] != expected:
            raise ShapeError(f"input frames must be (N, {', '.join(map(str, expected))}), got {frames.shape}")
        if not g.source.proc_params["graded"] and not np.isin(frames, (0, 1)).all():
            raise ShapeError("this network's input is spikes: frames must be 0/1")
        n, b, t_steps = len(frames), g.batch, net.timesteps
        index = {layer.name: i for i, layer in enumerate(net.layers)}
        read = {len(net.layers) - 1: g.output, **{index[name]: sink for name, sink in g.probes.items()}}
        values = {i: np.zeros((n, *net.layers[i].shape, t_steps), dtype=np.float64 if self._dtype == np.float64 else np.int64)
                  for i in read}
        for start in tqdm(range(0, n, g.batch_samples), desc=f"Lava {self.backend.name}", disable=not progress,
                          unit="run"):
            chunk = frames[start:start + g.batch_samples]
            waves = -(-len(chunk) // b)
            padded = np.zeros((waves * b, *chunk.shape[1:]), dtype=self._dtype)
            padded[:len(chunk)] = chunk
            # wave w, step t is pushed at Lava step w*T + t: its B samples (B, W, H, C)
            waved = np.moveaxis(padded.reshape(waves, b, *chunk.shape[1:]), -1, 1)  # (waves, T, B, C, H, W)
            pushed = np.zeros((g.period, b, *net.layers[0].lava_shape), dtype=self._dtype)
            pushed[:waves * t_steps] = flip_layout(waved, 3).reshape(-1, *pushed.shape[1:])
            with self._guarded():
                if not self._runtime_live:
                    self._start()
                self._begin_run(g.period)
                received = self._exchange(pushed, list(read.values()))
                self._end_run(g.period)
            for (i, into), got in zip(values.items(), received):
                lat, shape = g.latency[i], net.layers[i].lava_shape
                steps = got[lat:lat + waves * t_steps].reshape(waves, t_steps, b, *shape)
                steps = flip_layout(np.moveaxis(steps, 1, -1), 2)  # (waves, B, C, H, W, T)
                into[start:start + len(chunk)] = steps.reshape(waves * b, *steps.shape[2:])[:len(chunk)]
        return values[len(net.layers) - 1], {name: values[index[name]] for name in g.probes}

    def _exchange(self, pushed: np.ndarray, sinks: list) -> list:
        """Push every frame into the source and read one value per step from
        each sink, as fast as the pipes take and give them. Sinks may share a
        pipe (the fused process's probes), each selecting its part."""
        source = self.graph.source.input_pipe()
        pipes = list({id(p): p for p in (sink.output_pipe() for sink in sinks)}.values())
        steps, sent, idle = len(pushed), 0, POLL_MIN
        received = [[] for _ in pipes]
        while sent < steps or any(len(r) < steps for r in received):
            moved = False
            while sent < steps and source.probe():
                source.send(pushed[sent])
                sent += 1
                moved = True
            for pipe, r in zip(pipes, received):
                while len(r) < steps and pipe.probe():
                    r.append(pipe.recv())
                    moved = True
            if moved:
                idle = POLL_MIN
            else:  # the pipes buffer PIPE_FRAMES steps: polling less often costs no throughput
                self._check_alive()
                time.sleep(idle)
                idle = min(2 * idle, POLL_MAX)
        stacked = [np.stack(r) for r in received]
        if len(pipes) == len(sinks):  # a pipe per sink
            return stacked
        by_pipe = {id(pipe): values for pipe, values in zip(pipes, stacked)}
        return [sink.select(by_pipe[id(sink.output_pipe())]) if isinstance(sink, FusedProbe)
                else by_pipe[id(sink.output_pipe())] for sink in sinks]
