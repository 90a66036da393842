"""How facesift opens an onnxruntime session: one place for the options every model gets.

Why one place: an option that changes a model's results has to reach every session, the
detectors', the shipped embedders' and a user's own. One does:

``session.x64quantprecision``. On x86 processors without AVX-512 VNNI (AVX2 only, such as
the AMD EPYC machines this project's CI has run on since 2026-11-28), onnxruntime's 8-bit
kernels multiply uint8 activations by int8 weights with an instruction (VPMADDUBSW) that
saturates the sum of each pair of products at 16 bits. On the int8 ResNet (``resnet_int8``)
that moved a face's vector up to 0.28 from its float32 one (0.04-0.05 with VNNI), took LFW
view1 to 98.4% (``tests/test_lfw.py`` asks 98.5%) and lost a fixture probe's own person; a
gallery embedded on one processor and a probe on another would no longer agree. With the
option, onnxruntime turns the weights to uint8 and uses a kernel that cannot saturate: the
vectors are again 0.043 (median) and 0.051 (max) from dlib's, as with VNNI, and the test
checks them against the same graph run as float operations (``tests/test_int8_embedder.py``).
The price, on that AVX2 machine (``bench/embed.py --threads 1``, batch 32): int8 4.9 ms a
chip, float32 6.0; the saturating kernels took about 4.0 (a one-off timing at batch 8).
By onnxruntime's documentation it changes nothing with VNNI, or for float models.
"""

from __future__ import annotations

import onnxruntime as ort


def default_providers() -> list[str]:
    """A GPU when onnxruntime has one, else the CPU."""
    available = ort.get_available_providers()
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def session_options(threads: int, *, spin: bool = True) -> ort.SessionOptions:
    """Options for a session on ``threads`` threads. ``spin=False`` stops idle threads from
    spin-waiting, for a model run once an image among other work."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.add_session_config_entry("session.x64quantprecision", "1")
    if not spin:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: its advice is not the user's business
    return options
