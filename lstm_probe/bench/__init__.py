"""Benchmarks of every hot path, run by ``lstm-probe bench`` (and the scripts in ``benchmarks/``).

Each benchmark measures what it compares side by side in one run on one machine, prints a table
headed by the machine and versions, and returns its numbers as a dict (``--out`` writes them as
JSON; docs/performance.md is made from one such run):

==============  ===========================================================================
``streaming``   per-frame latency of LSTM PM (first, later frames) against CPM on the same
                frames, per preset and inference mode; the speed ratio, GFLOP/s and the
                fraction of a conv peak measured in the same run
``fast``        the fast inference modes against ``plain`` fp32 on the demo checkpoint:
                end-to-end frames/s, the largest heatmap difference, PCK on the synthetic set,
                the memory identity in a dump made in that mode
``probe``       the probe's cost: plain streaming, recording the four phases, a detached
                probe, a whole dump (frames/s), and the peak memory of dumps of growing length
``train``       training throughput (clips/s) of the CPU configs and the data loader's share
``dashboard``   server latency of frame and channel changes on a 100-frame dump
==============  ===========================================================================
"""
