"""lstm-probe: LSTM Pose Machines with probe hooks on the video memory."""

__version__ = "0.1.0"
