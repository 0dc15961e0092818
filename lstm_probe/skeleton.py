"""The one skeleton definition: the network's 14 joints + background, as in the reference code.

Channel order (0-based) is CPM's: head, neck, right arm, left arm, right leg, left leg, then the
background channel. Every part of lstm-probe (datasets, augmentation, PCK, drawing, the dashboard)
reads joint facts from here, by name, never by bare index.

"Right" and "left" are the person's own sides. Penn Action's README names its joints from the
observer's side; the authors of LSTM PM map Penn "left_shoulder" to the network's right shoulder,
and so do we (see ``PENN_TO_NETWORK``), which keeps released weights and Penn tables comparable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Skeleton:
    names: tuple[str, ...]
    short: tuple[str, ...]
    swap_pairs: tuple[tuple[int, int], ...]
    edges: tuple[tuple[int, int], ...]
    groups: dict[str, tuple[int, ...]]

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def num_channels(self) -> int:
        """Output channels of the network: joints + background."""
        return self.num_joints + 1

    @property
    def background(self) -> int:
        return self.num_joints

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"unknown joint {name!r}; joints are {', '.join(self.names)}") from None

    def flip_permutation(self) -> np.ndarray:
        """perm[j] = the joint whose data joint j takes after a horizontal flip."""
        perm = np.arange(self.num_joints)
        for a, b in self.swap_pairs:
            perm[a], perm[b] = b, a
        return perm

    def side(self, j: int) -> str:
        n = self.names[j]
        return "right" if n.startswith("right") else "left" if n.startswith("left") else "centre"

    def edge_colors(self) -> list[str]:
        """One colour per limb: right side warm, left side cool, centre grey."""
        out = []
        for a, b in self.edges:
            sides = {self.side(a), self.side(b)}
            out.append(
                "#e6550d" if sides == {"right"} else "#3182bd" if sides == {"left"} else "#d9d9d9"
            )
        return out


SKELETON = Skeleton(
    names=(
        "head",
        "neck",
        "right_shoulder",
        "right_elbow",
        "right_wrist",
        "left_shoulder",
        "left_elbow",
        "left_wrist",
        "right_hip",
        "right_knee",
        "right_ankle",
        "left_hip",
        "left_knee",
        "left_ankle",
    ),
    short=(
        "Head",
        "Neck",
        "RSho",
        "RElb",
        "RWri",
        "LSho",
        "LElb",
        "LWri",
        "RHip",
        "RKne",
        "RAnk",
        "LHip",
        "LKne",
        "LAnk",
    ),
    swap_pairs=((2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13)),
    edges=(
        (0, 1),
        (1, 2),
        (2, 3),
        (3, 4),
        (1, 5),
        (5, 6),
        (6, 7),
        (2, 8),
        (5, 11),
        (8, 11),
        (8, 9),
        (9, 10),
        (11, 12),
        (12, 13),
    ),
    # The paper's table columns; the neck is trained but never evaluated.
    groups={
        "Head": (0,),
        "Sho": (2, 5),
        "Elb": (3, 6),
        "Wri": (4, 7),
        "Hip": (8, 11),
        "Knee": (9, 12),
        "Ank": (10, 13),
    },
)

# Penn Action's 13 joints (0-based, README order) -> network channel. The neck (channel 1) is
# synthesised from head and shoulders (see data/penn_action.py).
PENN_TO_NETWORK = (0, 2, 5, 3, 6, 4, 7, 8, 11, 9, 12, 10, 13)

# JHMDB's 15 joints (0-based, README order) -> network channel; the belly (1) has none.
JHMDB_TO_NETWORK = (1, None, 0, 2, 5, 8, 11, 3, 6, 9, 12, 4, 7, 10, 13)
