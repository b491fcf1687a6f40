"""listener: on-device active-listening feedback for counter conversations."""

import os

# The pipeline's matrix products are small (tens of bins by tens of directions, every 10 ms):
# BLAS worker threads spin between them, burning more CPU than they save and taking the cores
# the recogniser and the LEDs need. numpy reads these when it is first imported, so this must run
# before any listener module imports it; a value the user set wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# onnxruntime's Python package writes a device id and a usage database under ~/.cache and $TMPDIR
# as soon as it is imported, and queues them for Microsoft's telemetry endpoint (model file name,
# run counts and times). Nothing may leave the device or be written but what we write: this must be
# set before onnxruntime is imported, and it is not the user's to turn back on.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"

__version__ = "0.1.0"
