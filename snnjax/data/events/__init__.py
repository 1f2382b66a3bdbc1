"""Neuromorphic event data: :mod:`~snnjax.data.events.io` reads the files (N-MNIST ``.bin``, AEDAT 2.0,
AEDAT 3.1), :mod:`~snnjax.data.events.frames` integrates events into frames, and
:mod:`~snnjax.data.events.source` lists a dataset's samples and caches their frames.

Conventions: events are ``[N]`` structured arrays of :data:`io.EVENT_DTYPE` (``t`` int64 us, ``x``/``y``
int16, ``p`` int8 0/1); sizes are ``(W, H)``; frames are ``[T, H, W, 2]`` (polarity channel last).
"""
