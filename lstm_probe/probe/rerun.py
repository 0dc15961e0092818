"""Re-run a dumped video through its model, optionally with interventions.

A dump holds everything needed: the frames (JPEG), each frame's crop (``grid_to_frame`` gives back
frame -> crop), and the checkpoint's path and sha256 in the manifest. The dashboard uses this to
show a channel's ablation next to the unchanged run. Both runs start from the stored (JPEG) frames,
so they differ only by the intervention.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..checkpoint import load_checkpoint
from ..models import PoseMachine
from ..transforms.geometric import compose, grid_to_crop, invert, to_network_input, warp_frame
from ..transforms.heatmaps import HeatmapCodec
from ..utils import InputError, sha256_file
from .recorder import Intervention, MemoryProbe
from .store import Dump, DumpVideo


def load_dump_model(dump: Dump, device: str = "cpu") -> PoseMachine:
    """The dump's model, from the checkpoint its manifest names — only if the file is unchanged."""
    ck = dump.manifest["checkpoint"]
    path = Path(ck.get("path", ""))
    if not path.is_file():
        raise InputError(path, "the dump's checkpoint is not available here (needed to re-run)")
    if sha256_file(path) != ck["sha256"]:
        raise InputError(path, "the checkpoint changed since the dump was made (sha256 differs)")
    model, _ = load_checkpoint(path, device)
    return model


def rerun(
    model: PoseMachine,
    video: DumpVideo,
    interventions: Sequence[Intervention] = (),
    point: str = "cell",
) -> dict[str, np.ndarray]:
    """-> {"keypoints": (F, J, 2) frame pixels, "memory": (F, C, h, w) of ``point``}."""
    codec = HeatmapCodec(model.config.input_size)
    to_crop = grid_to_crop(codec.stride)
    S = model.config.input_size
    state, kps, mem = None, [], {}
    with torch.inference_mode(), MemoryProbe(
        model, [point], interventions=interventions, keep=False,
        on_record=lambda n, t, x: mem.__setitem__(t, x[0].float().cpu().numpy()),
    ):  # fmt: skip
        for t in range(video.num_frames):
            g2f = video.grid_to_frame[t].astype(np.float64)
            frame_to_crop = compose(to_crop, invert(g2f))
            crop = warp_frame(video.frame_image(t)[:, :, ::-1], frame_to_crop, S)  # back to BGR
            out = model.step(to_network_input(crop)[None], state)
            state = out.state
            xy, _ = codec.decode(out.belief[0])
            kps.append(codec.to_frame(xy, g2f))
    return {"keypoints": np.stack(kps), "memory": np.stack([mem[t] for t in sorted(mem)])}
