"""The built-in synthetic video set: articulated figures whose pose only memory can fully recover.

Each video is a 3D stick figure (the network's 14 joints) performing a periodic action (walk,
jumping jacks, wave, squat, windmill, march) with its own speed, size, drift, yaw and camera
shake, drawn with OpenCV over a textured background (scikit-image's bundled textures) with
limb-like distractor lines. Three degradations target what the paper says memory helps with:

- **Occluders**: with probability ``occluder_prob`` a textured box hides one limb's elbow and
  wrist (or knee and ankle) for 3–10 frames. Ground truth is kept; ``occluded`` flags the hidden
  joints (a joint is flagged exactly when it lies under the drawn box).
- **Motion blur**: every frame averages ``subframes`` renders over a random shutter; the label is
  the mid-shutter pose.
- **Left/right cue**: left and right limbs are drawn identically; a red glove and shoe on the
  person's *left* wrist and ankle appear only in the first 1–3 frames (``cue_visible``). Whether
  the figure faces the camera or away is a coin flip per video, so afterwards a per-frame model can
  only guess which side is which.

Every video is a pure function of (seed, split, index) and every frame a pure function of its
time, so frames render on demand (about a millisecond at 160×160), in any order, identically.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import lru_cache

import cv2
import numpy as np

from ..skeleton import SKELETON
from .video import Annotations, Video

ACTIONS = ("walk", "jumping_jacks", "wave", "squat", "windmill", "march")
_SPLITS = {"train": 0, "val": 1, "test": 2}

# Body proportions, fractions of the figure's height (data.md §2).
HEAD, SHOULDER, UPPER_ARM, FOREARM, TORSO, HIP, THIGH, SHIN = (
    0.12, 0.11, 0.17, 0.15, 0.32, 0.08, 0.24, 0.24,
)  # fmt: skip
J = SKELETON.index
_HEAD_JOINT, _NECK_JOINT = J("head"), J("neck")
# The torso is one filled quad (in drawing order); it covers the limbs between its corners.
_TORSO_QUAD = tuple(J(n) for n in ("right_shoulder", "left_shoulder", "left_hip", "right_hip"))
_TORSO_EDGES = tuple(
    (J(a), J(b))
    for a, b in (
        ("right_shoulder", "right_hip"),
        ("left_shoulder", "left_hip"),
        ("right_hip", "left_hip"),
        ("neck", "right_shoulder"),
        ("neck", "left_shoulder"),
    )
)
# The torso's depth: the mean over shoulders and hips, summed in this order.
_TORSO_DEPTH = tuple(J(n) for n in ("right_shoulder", "left_shoulder", "right_hip", "left_hip"))


@dataclass(frozen=True)
class SyntheticConfig:
    frame_size: tuple[int, int] = (160, 160)  # width, height
    num_frames: int = 24
    num_videos: int = 64
    seed: int = 0
    split: str = "train"
    actions: tuple[str, ...] = ACTIONS
    subframes: int = 3
    shutter_max: float = 0.8  # fraction of a frame interval
    occluder_prob: float = 0.5
    occluder_frames: tuple[int, int] = (3, 10)
    occluder_max_size: float = 0.55  # of the figure's height
    cue_frames: tuple[int, int] = (1, 3)
    distractors: tuple[int, int] = (0, 3)
    figure_height: tuple[float, float] = (0.55, 0.75)  # of the frame height
    cycle_frames: tuple[float, float] = (12.0, 30.0)  # frames per action cycle
    noise: float = 4.0

    def __post_init__(self):
        if self.split not in _SPLITS:
            raise ValueError(f"split must be one of {sorted(_SPLITS)}, got {self.split!r}")
        unknown = set(self.actions) - set(ACTIONS)
        if unknown:
            raise ValueError(f"unknown actions {sorted(unknown)}; known: {', '.join(ACTIONS)}")

    @classmethod
    def from_dict(cls, d: dict) -> SyntheticConfig:
        d = dict(d)
        for k in ("frame_size", "occluder_frames", "cue_frames", "distractors", "figure_height"):
            if k in d:
                d[k] = tuple(d[k])
        if "cycle_frames" in d:
            d["cycle_frames"] = tuple(float(v) for v in d["cycle_frames"])
        if "actions" in d:
            d["actions"] = tuple(d["actions"])
        return cls(**d)


@lru_cache(maxsize=1)
def _textures() -> tuple[np.ndarray, ...]:
    from skimage import data

    return tuple(np.ascontiguousarray(getattr(data, n)()) for n in ("grass", "gravel", "brick"))


def _texture_patch(rng: np.random.Generator, w: int, h: int, tint: np.ndarray) -> np.ndarray:
    tex = _textures()[rng.integers(3)]
    zoom = rng.uniform(0.5, 1.5)
    cw, ch = min(int(w * zoom) + 2, tex.shape[1]), min(int(h * zoom) + 2, tex.shape[0])
    x0, y0 = rng.integers(0, tex.shape[1] - cw + 1), rng.integers(0, tex.shape[0] - ch + 1)
    gray = cv2.resize(tex[y0 : y0 + ch, x0 : x0 + cw], (w, h), interpolation=cv2.INTER_AREA)
    g = gray.astype(np.float32)[..., None] / 255.0
    return np.clip(40 + g * tint[None, None, :], 0, 255).astype(np.uint8)


def _direction(abduction: float, flexion: float, side: float) -> np.ndarray:
    """Unit limb direction in body coordinates (x: person's left, y: up, z: forward)."""
    return np.array(
        [
            side * math.sin(abduction),
            -math.cos(abduction) * math.cos(flexion),
            math.cos(abduction) * math.sin(flexion),
        ]
    )


def action_angles(action: str, p: float, amp: float, wave_side: float) -> dict[str, float]:
    """Joint angles (radians) of a periodic action at phase p. Keys: flex/abd per limb, elbow and
    knee bends, and ``lift`` (vertical offset of the pelvis, fraction of height)."""
    s, c = math.sin(p), math.cos(p)
    q = (1 - c) / 2  # 0..1..0 over a cycle
    a = dict.fromkeys(
        ("arm_flex_L", "arm_flex_R", "hip_flex_L", "hip_flex_R", "knee_L", "knee_R", "lift"), 0.0
    )
    a.update(arm_abd_L=0.15, arm_abd_R=0.15, elb_L=0.25, elb_R=0.25, hip_abd_L=0.05, hip_abd_R=0.05)
    if action == "walk":
        a.update(arm_flex_L=0.5 * amp * s, arm_flex_R=-0.5 * amp * s)
        a.update(hip_flex_L=-0.5 * amp * s, hip_flex_R=0.5 * amp * s)
        a.update(knee_L=0.7 * amp * max(0.0, -c), knee_R=0.7 * amp * max(0.0, c))
        a.update(elb_L=0.3 + 0.3 * q, elb_R=0.6 - 0.3 * q)
    elif action == "jumping_jacks":
        a.update(arm_abd_L=0.15 + 2.5 * amp * q, arm_abd_R=0.15 + 2.5 * amp * q)
        a.update(hip_abd_L=0.05 + 0.35 * amp * q, hip_abd_R=0.05 + 0.35 * amp * q)
        a.update(lift=0.05 * abs(s), elb_L=0.1, elb_R=0.1)
    elif action == "wave":
        side = "L" if wave_side > 0 else "R"
        a[f"arm_abd_{side}"] = 2.2 + 0.2 * s
        a[f"elb_{side}"] = 0.5 + 0.6 * amp * s
        a[f"arm_flex_{'R' if side == 'L' else 'L'}"] = 0.15 * s
    elif action == "squat":
        a.update(hip_flex_L=1.3 * amp * q, hip_flex_R=1.3 * amp * q)
        a.update(knee_L=2.2 * amp * q, knee_R=2.2 * amp * q, lift=-0.3 * amp * q)
        a.update(arm_flex_L=1.4 * q, arm_flex_R=1.4 * q, elb_L=0.1, elb_R=0.1)
    elif action == "windmill":
        a.update(arm_abd_L=(p % (2 * math.pi)), arm_abd_R=((p + math.pi) % (2 * math.pi)))
        a.update(elb_L=0.05, elb_R=0.05, hip_abd_L=0.2, hip_abd_R=0.2)
    elif action == "march":
        a.update(hip_flex_L=1.2 * amp * max(0.0, s), hip_flex_R=1.2 * amp * max(0.0, -s))
        a.update(knee_L=2.0 * amp * max(0.0, s), knee_R=2.0 * amp * max(0.0, -s))
        a.update(arm_flex_L=-0.6 * amp * s, arm_flex_R=0.6 * amp * s, elb_L=1.0, elb_R=1.0)
    else:  # pragma: no cover - validated by SyntheticConfig
        raise ValueError(action)
    return a


def body_joints(angles: dict[str, float], bones: np.ndarray) -> np.ndarray:
    """(14, 3) joint positions in body coordinates, pelvis centre at the origin, unit height."""
    head, sho, ua, fa, torso, hip, th, sh = bones
    out = np.zeros((SKELETON.num_joints, 3))
    lift = angles["lift"]
    neck = np.array([0.0, torso + lift, 0.0])
    out[J("neck")] = neck
    out[J("head")] = neck + [0.0, head, 0.0]
    for side_name, side in (("left", 1.0), ("right", -1.0)):
        k = "L" if side > 0 else "R"
        shoulder = neck + [side * sho, -0.02, 0.0]
        abd, flex = angles[f"arm_abd_{k}"], angles[f"arm_flex_{k}"]
        elbow = shoulder + ua * _direction(abd, flex, side)
        wrist = elbow + fa * _direction(abd, flex + angles[f"elb_{k}"], side)
        hip_pt = np.array([side * hip, lift, 0.0])
        habd, hflex = angles[f"hip_abd_{k}"], angles[f"hip_flex_{k}"]
        knee = hip_pt + th * _direction(habd, hflex, side)
        ankle = knee + sh * _direction(habd, hflex - angles[f"knee_{k}"], side)
        for part, pt in (
            ("shoulder", shoulder),
            ("elbow", elbow),
            ("wrist", wrist),
            ("hip", hip_pt),
            ("knee", knee),
            ("ankle", ankle),
        ):
            out[J(f"{side_name}_{part}")] = pt
    return out


@dataclass
class _Scene:
    """Everything random about one video, drawn once from its seed."""

    action: str
    facing: str  # "front" (faces the camera) or "back"
    yaw0: float
    yaw_amp: float
    yaw_freq: float
    phase0: float
    freq: float
    amp: float
    wave_side: float
    bones: np.ndarray
    height: float  # pixels
    center: np.ndarray  # pelvis, pixels
    drift: np.ndarray  # (2,) amplitude, pixels
    drift_freq: float
    drift_phase: np.ndarray
    shake: float
    shutter: float
    cue_frames: int
    limb_color: tuple[int, int, int]
    torso_color: tuple[int, int, int]
    head_color: tuple[int, int, int]
    background: np.ndarray
    occluder: dict | None = None
    extras: dict = field(default_factory=dict)


class SyntheticVideo(Video):
    def __init__(self, config: SyntheticConfig, index: int):
        self.config = config
        self.index = index
        self.video_id = f"synthetic_{config.split}_{config.seed}_{index:05d}"
        self.num_frames = config.num_frames
        rng = np.random.default_rng([config.seed, _SPLITS[config.split], index])
        self.scene = self._draw_scene(rng)
        self._seed = (config.seed, _SPLITS[config.split], index)
        self.annotations = self._annotate()
        self.attrs = {
            "source": "synthetic",
            "action": self.scene.action,
            "facing": self.scene.facing,
            "index": index,
            "split": config.split,
            "seed": config.seed,
            "frame_width": config.frame_size[0],
            "frame_height": config.frame_size[1],
        }

    # ---------------------------------------------------------------- scene and motion
    def _draw_scene(self, rng: np.random.Generator) -> _Scene:
        cfg = self.config
        W, H = cfg.frame_size
        action = cfg.actions[rng.integers(len(cfg.actions))]
        facing = "front" if rng.random() < 0.5 else "back"
        height = rng.uniform(*cfg.figure_height) * H
        bones = np.array([HEAD, SHOULDER, UPPER_ARM, FOREARM, TORSO, HIP, THIGH, SHIN])
        bones = bones * rng.uniform(0.9, 1.1, size=bones.shape)
        drift = np.array([rng.uniform(0, 0.12) * W, rng.uniform(0, 0.05) * H])
        # the figure's middle sits at the frame centre: the pelvis a little below it
        center = np.array(
            [
                W / 2 + rng.uniform(-0.08, 0.08) * W,
                H / 2 + height * 0.05 + rng.uniform(-0.04, 0.04) * H,
            ]
        )
        limb = rng.integers(60, 230, size=3)
        torso = np.clip(limb + rng.integers(-50, 50, size=3), 20, 235)
        bg_tint = rng.uniform(60, 200, size=3)
        background = _texture_patch(rng, W, H, bg_tint).astype(np.float32)
        low = cv2.resize(rng.normal(0, 18, size=(4, 4, 3)).astype(np.float32), (W, H))
        background = background + low
        for _ in range(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1)):
            p0 = rng.uniform([0, 0], [W, H])
            ang = rng.uniform(0, 2 * math.pi)
            length = rng.uniform(0.15, 0.3) * height
            p1 = p0 + length * np.array([math.cos(ang), math.sin(ang)])
            col = np.clip(limb + rng.integers(-30, 30, size=3), 0, 255)
            cv2.line(
                background,
                tuple(int(v) for v in p0),
                tuple(int(v) for v in p1),
                tuple(float(v) for v in col),
                max(2, int(0.045 * height)),
                cv2.LINE_AA,
            )
        scene = _Scene(
            action=action,
            facing=facing,
            yaw0=(0.0 if facing == "front" else math.pi) + rng.uniform(-0.3, 0.3),
            yaw_amp=rng.uniform(0.0, 0.4),
            yaw_freq=rng.uniform(0.005, 0.02),
            phase0=rng.uniform(0, 2 * math.pi),
            freq=1.0 / rng.uniform(*cfg.cycle_frames),
            amp=rng.uniform(0.8, 1.2),
            wave_side=1.0 if rng.random() < 0.5 else -1.0,
            bones=bones,
            height=height,
            center=center,
            drift=drift,
            drift_freq=rng.uniform(0.01, 0.04),
            drift_phase=rng.uniform(0, 2 * math.pi, size=2),
            shake=rng.uniform(0.0, 1.5),
            shutter=rng.uniform(0.0, cfg.shutter_max),
            cue_frames=int(rng.integers(cfg.cue_frames[0], cfg.cue_frames[1] + 1)),
            limb_color=tuple(int(v) for v in limb),
            torso_color=tuple(int(v) for v in torso),
            head_color=tuple(int(v) for v in np.clip(limb + 40, 0, 255)),
            background=np.clip(background, 0, 255).astype(np.uint8),
        )
        scene.extras["occ_rng"] = rng.integers(1 << 31)
        scene.extras["occ_draw"] = rng.random() < cfg.occluder_prob
        scene.extras["occ_tint"] = rng.uniform(60, 200, size=3)
        return scene

    def pose(self, time: float) -> tuple[np.ndarray, np.ndarray]:
        """Joint positions at (fractional) frame time -> (pixels (14, 2), depth (14,))."""
        sc = self.scene
        p = sc.phase0 + 2 * math.pi * sc.freq * time
        angles = action_angles(sc.action, p, sc.amp, sc.wave_side)
        body = body_joints(angles, sc.bones)
        yaw = sc.yaw0 + sc.yaw_amp * math.sin(2 * math.pi * sc.yaw_freq * time)
        cy, sy = math.cos(yaw), math.sin(yaw)
        x = body[:, 0] * cy + body[:, 2] * sy
        z = -body[:, 0] * sy + body[:, 2] * cy
        drift = sc.drift * np.sin(2 * math.pi * sc.drift_freq * time + sc.drift_phase)
        shake = sc.shake * np.array([math.sin(7.31 * time), math.sin(5.17 * time + 1.0)])
        origin = sc.center + drift + shake
        pts = np.stack([origin[0] + sc.height * x, origin[1] - sc.height * body[:, 1]], -1)
        return pts, z

    # ---------------------------------------------------------------- annotations
    def _annotate(self) -> Annotations:
        cfg, sc = self.config, self.scene
        W, H = cfg.frame_size
        T = self.num_frames
        kp = np.stack([self.pose(t)[0] for t in range(T)]).astype(np.float32)
        occluded = np.zeros((T, SKELETON.num_joints), bool)
        if sc.extras["occ_draw"] and T > sc.cue_frames + 1:
            sc.occluder = self._place_occluder(kp)
        if sc.occluder is not None:
            o = sc.occluder
            x1, y1, x2, y2 = o["box"]
            inside = (kp[..., 0] >= x1) & (kp[..., 0] <= x2) & (kp[..., 1] >= y1)
            inside &= kp[..., 1] <= y2
            active = np.zeros(T, bool)
            active[o["start"] : o["stop"]] = True
            occluded = inside & active[:, None]
        in_frame = (kp[..., 0] >= 0) & (kp[..., 0] <= W - 1) & (kp[..., 1] >= 0)
        in_frame &= kp[..., 1] <= H - 1
        vis = np.where(occluded, 0, 1).astype(np.int8)
        vis[~in_frame] = -1
        pad = 0.08 * sc.height
        lo, hi = kp.min(1) - pad, kp.max(1) + pad
        bbox = np.concatenate([lo, hi], -1).astype(np.float32)
        cue = np.arange(T) < sc.cue_frames
        return Annotations(
            keypoints=kp,
            visibility=vis,
            bbox=bbox,
            flags={"occluded": occluded, "cue_visible": cue},
        )

    def _place_occluder(self, kp: np.ndarray) -> dict | None:
        cfg, sc = self.config, self.scene
        rng = np.random.default_rng(int(sc.extras["occ_rng"]))
        T = len(kp)
        limbs = {
            "left_arm": ("left_elbow", "left_wrist"),
            "right_arm": ("right_elbow", "right_wrist"),
            "left_leg": ("left_knee", "left_ankle"),
            "right_leg": ("right_knee", "right_ankle"),
        }
        limb = list(limbs)[rng.integers(4)]
        joints = [J(n) for n in limbs[limb]]
        k = int(rng.integers(cfg.occluder_frames[0], cfg.occluder_frames[1] + 1))
        # after the cue; in a short video the occluder may still be there when it ends
        start = int(rng.integers(sc.cue_frames + 1, max(sc.cue_frames + 2, T - k + 1)))
        k = min(k, T - start)
        pts = kp[start : start + k][:, joints].reshape(-1, 2)
        margin = 0.06 * sc.height
        lo, hi = pts.min(0) - margin, pts.max(0) + margin
        cap = cfg.occluder_max_size * sc.height
        mid = (lo + hi) / 2
        half = np.minimum((hi - lo) / 2, cap / 2)
        lo, hi = mid - half, mid + half
        W, H = cfg.frame_size
        x1, y1 = int(max(0, np.floor(lo[0]))), int(max(0, np.floor(lo[1])))
        x2, y2 = int(min(W - 1, np.ceil(hi[0]))), int(min(H - 1, np.ceil(hi[1])))
        if x2 - x1 < 2 or y2 - y1 < 2:
            return None
        patch = _texture_patch(rng, x2 - x1 + 1, y2 - y1 + 1, sc.extras["occ_tint"])
        return {
            "limb": limb,
            "start": start,
            "stop": start + k,
            "box": (x1, y1, x2, y2),
            "patch": patch,
        }

    # ---------------------------------------------------------------- rendering
    def _draw_figure(self, canvas: np.ndarray, time: float, cue: bool) -> None:
        sc = self.scene
        pts, z = self.pose(time)
        thick = max(2, int(round(0.045 * sc.height)))
        items = []  # (depth, draw function)
        for a, b in SKELETON.edges:
            if (a, b) in _TORSO_EDGES:
                continue  # the torso quad covers these
            items.append((float(z[a] + z[b]) / 2, ("line", a, b)))
        items.append((float(z[list(_TORSO_DEPTH)].mean()) - 1e-3, ("torso",)))
        items.append((float(z[_HEAD_JOINT]) + 1e-3, ("head",)))
        items.sort(key=lambda d: d[0])
        P = [tuple(int(round(v * 16)) for v in p) for p in pts]  # 4 fractional bits
        for _, item in items:
            if item[0] == "line":
                _, a, b = item
                cv2.line(canvas, P[a], P[b], sc.limb_color, thick, cv2.LINE_AA, 4)
                cv2.circle(canvas, P[b], (thick // 2) * 16, sc.limb_color, -1, cv2.LINE_AA, 4)
            elif item[0] == "torso":
                quad = np.array([pts[j] for j in _TORSO_QUAD]) * 16
                cv2.fillConvexPoly(canvas, quad.astype(np.int32), sc.torso_color, cv2.LINE_AA, 4)
                cv2.line(
                    canvas, P[_NECK_JOINT], P[_HEAD_JOINT], sc.limb_color, thick, cv2.LINE_AA, 4
                )
            else:
                r = max(2, int(round(0.06 * sc.height)))
                cv2.circle(canvas, P[_HEAD_JOINT], r * 16, sc.head_color, -1, cv2.LINE_AA, 4)
        if cue:  # red glove and shoe on the person's left side only
            r = max(2, int(round(0.04 * sc.height)))
            for name in ("left_wrist", "left_ankle"):
                cv2.circle(canvas, P[J(name)], r * 16, (0, 0, 235), -1, cv2.LINE_AA, 4)

    def frame(self, t: int) -> np.ndarray:
        """Render frame t (uint8 BGR, H×W×3)."""
        self._check_index(t)
        cfg, sc = self.config, self.scene
        cue = bool(self.annotations.flags["cue_visible"][t])
        n = max(1, cfg.subframes)
        if n == 1 or sc.shutter == 0:
            offsets = [0.0]
        else:
            offsets = [(k / (n - 1) - 0.5) * sc.shutter for k in range(n)]
        acc = np.zeros(sc.background.shape, np.float32)
        for off in offsets:
            canvas = sc.background.copy()
            self._draw_figure(canvas, t + off, cue)
            acc += canvas
        img = acc / len(offsets)
        o = sc.occluder
        if o is not None and o["start"] <= t < o["stop"]:
            x1, y1, x2, y2 = o["box"]
            img[y1 : y2 + 1, x1 : x2 + 1] = o["patch"]
        if cfg.noise > 0:
            rng = np.random.default_rng([*self._seed, t])
            img = img + rng.normal(0, cfg.noise, size=img.shape).astype(np.float32)
        return np.clip(img + 0.5, 0, 255).astype(np.uint8)


class SyntheticVideos:
    """The synthetic set: ``num_videos`` videos of one split, built on demand by index."""

    def __init__(self, config: SyntheticConfig | None = None, **overrides):
        base = config or SyntheticConfig()
        self.config = SyntheticConfig.from_dict({**base.__dict__, **overrides})

    def __len__(self) -> int:
        return self.config.num_videos

    def __getitem__(self, index: int) -> SyntheticVideo:
        if not 0 <= index < len(self):
            raise IndexError(index)
        return SyntheticVideo(self.config, index)

    def __iter__(self):
        return (self[i] for i in range(len(self)))
