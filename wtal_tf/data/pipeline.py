"""tf.data input pipelines, from a dataset root or a TFDS dataset.

Elements are dicts::

    {"video_id": string [], "features": float32 [T, D],
     "labels": float32 [K] (multi-hot), "num_snippets": int32 []}

Features are read one video at a time (``tf.numpy_function`` on the
memory-mapped ``.npy``), so a dataset never sits in memory whole.  Two
batchings: one video per step (AutoLoc: ``[1, T, D]``), and padded batches with
a ``mask`` ``[B, T]`` that is 1 on real snippets (MLP models).  Extra per-video
arrays (RefineLoc's pseudo labels) are joined by video id from a lookup, never
written into the dataset.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import itertools
import mmap
from typing import Callable, Mapping, Sequence

import numpy as np
import tensorflow as tf

from wtal_tf.data.interchange import DatasetRoot
from wtal_tf.ops.shapes import bucket_length  # noqa: F401 -- also re-exported here

AUTOTUNE = tf.data.AUTOTUNE
#: Videos read in parallel and batches prefetched while training: fixed, so
#: memory stays flat however many videos an epoch has (AUTOTUNE would let the
#: buffers grow with the run).
READ_PARALLELISM = 4
PREFETCH_BATCHES = 2
#: Videos read between two returns of freed heap pages to the system
#: (:func:`release_free_heap`); 0 = never.
RELEASE_HEAP_EVERY = 32
#: Each video read into memory of its own (:func:`unpooled_copy`); False = the
#: heap (the scale benchmark measures both).
UNPOOLED_READS = True


def _malloc_trim():
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to release
        return None


_MALLOC_TRIM = _malloc_trim()


def release_free_heap() -> None:
    """Returns the pages glibc's heap holds free to the system (``malloc_trim``)."""
    if _MALLOC_TRIM is not None:
        _MALLOC_TRIM(0)


def unpooled_copy(array: np.ndarray) -> np.ndarray:
    """``array`` copied into memory of its own (a private anonymous map), returned to
    the system as soon as the copy is freed.

    Why the reader does not keep ``np.load``'s array: an epoch reads thousands of
    arrays of T x D floats (1.5 MB at T = 183, D = 2048), every one of another
    size; glibc serves that size from its heap arenas (once a freed block has
    raised its mmap threshold) and keeps what is freed there, so resident memory
    grew with the number of videos read (BENCHMARKS.md, scale).  TF takes the
    array's memory as the element tensor's without a copy.  What TF itself frees
    into the heap (padded batches of varying T) is returned every
    ``RELEASE_HEAP_EVERY`` videos.  Pinning glibc's mmap threshold instead bounds
    both but turns every large tensor of a training step into fresh pages (15%
    more CPU time in the CAS benchmark).
    """
    buf = mmap.mmap(-1, max(array.nbytes, 1), flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    out = np.frombuffer(buf, array.dtype, count=array.size).reshape(array.shape)
    out[...] = array
    return out


def from_root(root: DatasetRoot, video_ids: Sequence[str], *, shuffle: bool = False,
              seed: int = 0, extras: Mapping[str, Callable[[str], np.ndarray]] | None = None,
              extra_specs: Mapping[str, tf.TensorSpec] | None = None) -> tf.data.Dataset:
    """Videos of a dataset root, read on demand.

    Args:
        root: an opened interchange root.
        video_ids: which videos, in this order unless ``shuffle``.
        shuffle: reshuffle every epoch, deterministically from ``seed``.
        extras: name -> ``video_id -> array`` joined into each element.
        extra_specs: the ``tf.TensorSpec`` of each extra.
    """
    ids = list(video_ids)
    ds = _id_table(root, ids)
    if shuffle:
        ds = ds.shuffle(max(len(ids), 1), seed=seed, reshuffle_each_iteration=True)
    return ds.map(_reader(root, ids, extras, extra_specs), num_parallel_calls=AUTOTUNE,
                  deterministic=True)


def epoch_batches(root: DatasetRoot, video_ids: Sequence[str], *, seed: int, start_epoch: int,
                  epochs: int, batch_fn, extras=None, extra_specs=None,
                  length_window: int = 0, batch_size: int = 0,
                  lengths: Mapping[str, int] | None = None) -> tf.data.Dataset:
    """Epochs ``start_epoch .. epochs - 1`` of shuffled batches, each epoch's order a
    pure function of ``(seed, epoch)``: a resumed training sees exactly the batches
    the uninterrupted one would have.

    Args:
        batch_fn: turns one epoch's element dataset into its batches.
        length_window: if > 1, the shuffled order is cut into windows of this
            many videos and each window sorted by length (read from the ``.npy``
            headers), so padded batches waste little; the windows stay in random
            order.
    """
    ids = list(video_ids)
    n = len(ids)
    if length_window > 1:
        lengths = [lengths[v] if lengths is not None else
                   int(np.load(root.features.path(v), mmap_mode="r").shape[0]) for v in ids]
    lengths = tf.constant(lengths if length_window > 1 else [0] * n, tf.int64)
    read = _reader(root, ids, extras, extra_specs)
    labels = tf.constant(np.stack([root.annotations.videos[v].multi_hot(root.classes)
                                   for v in ids]) if ids else np.zeros((0, len(root.classes)),
                                                                       np.float32))
    id_tensor = tf.constant(ids, tf.string)

    def one_epoch(epoch):
        order = tf.argsort(tf.random.stateless_uniform(
            [n], seed=tf.stack([tf.cast(seed, tf.int64), epoch])))
        if length_window > 1:
            # sort each window of the shuffled order by length (stable, so ties keep
            # their random order); windows keep their random positions
            window = tf.range(n) // length_window
            key = tf.cast(window, tf.int64) * (tf.reduce_max(lengths) + 1) + tf.gather(
                lengths, order)
            order = tf.gather(order, tf.argsort(key, stable=True))
            if batch_size > 1 and n >= 2 * batch_size:
                full = n // batch_size
                perm = tf.argsort(tf.random.stateless_uniform(
                    [full], seed=tf.stack([tf.cast(seed, tf.int64) + 1, epoch])))
                chunks = tf.reshape(order[: full * batch_size], [full, batch_size])
                order = tf.concat([tf.reshape(tf.gather(chunks, perm), [-1]),
                                   order[full * batch_size:]], axis=0)
        ds = tf.data.Dataset.from_tensor_slices(order).map(
            lambda i: {"video_id": id_tensor[i], "labels": labels[i]})
        return batch_fn(ds.map(read, num_parallel_calls=READ_PARALLELISM, deterministic=True))

    return tf.data.Dataset.range(start_epoch, epochs).flat_map(one_epoch).prefetch(
        PREFETCH_BATCHES)


def _id_table(root, ids):
    classes = root.classes
    labels = np.stack([root.annotations.videos[v].multi_hot(classes) for v in ids]) \
        if ids else np.zeros((0, len(classes)), np.float32)
    return tf.data.Dataset.from_tensor_slices(
        {"video_id": tf.constant(ids, tf.string), "labels": tf.constant(labels)})


def _reader(root, ids, extras, extra_specs):
    """The map function that reads one video's features (and extras) by id."""
    dim = root.feature_dim() if ids else 0
    extras = dict(extras or {})
    extra_specs = dict(extra_specs or {})
    count = itertools.count(1)

    def load(video_id):
        if RELEASE_HEAP_EVERY and next(count) % RELEASE_HEAP_EVERY == 0:
            release_free_heap()
        vid = video_id.decode() if isinstance(video_id, bytes) else str(video_id)
        out = [unpooled_copy(root.features.load(vid, mmap=True)) if UNPOOLED_READS
               else root.features.load(vid)]
        out += [np.asarray(fn(vid), spec.dtype.as_numpy_dtype)
                for fn, spec in ((extras[k], extra_specs[k]) for k in extras)]
        return out

    def read(element):
        tout = [tf.float32] + [extra_specs[k].dtype for k in extras]
        arrays = tf.numpy_function(load, [element["video_id"]], tout, stateful=False)
        feats = tf.ensure_shape(arrays[0], [None, dim])
        out = dict(element)
        out["features"] = feats
        out["num_snippets"] = tf.shape(feats)[0]
        for k, arr in zip(extras, arrays[1:]):
            out[k] = tf.ensure_shape(arr, extra_specs[k].shape)
        return out

    return read


def from_tfds(name: str, split: str, *, shuffle: bool = False, seed: int = 0,
              data_dir=None) -> tf.data.Dataset:
    """A TFDS dataset (``wtal_synthetic/thumos``, ``thumos14/i3d``, ...) as elements."""
    import tensorflow_datasets as tfds

    import wtal_datasets  # noqa: F401 -- registers the builders

    read_config = tfds.ReadConfig(shuffle_seed=seed) if shuffle else None
    ds = tfds.load(name, split=split, shuffle_files=shuffle, data_dir=data_dir,
                   read_config=read_config)
    if shuffle:
        ds = ds.shuffle(256, seed=seed, reshuffle_each_iteration=True)

    def convert(ex):
        feats = tf.cast(ex["features"], tf.float32)
        return {"video_id": ex["video_id"], "features": feats,
                "labels": tf.cast(ex["labels"], tf.float32),
                "num_snippets": tf.shape(feats)[0]}

    return ds.map(convert, num_parallel_calls=AUTOTUNE)


def _with_mask(element):
    out = dict(element)
    out["mask"] = tf.ones([tf.shape(element["features"])[0]], tf.float32)
    return out


def _pad_to_bucket(per_octave: int, keys):
    """Pads the time axis (axis 1) of the batched ``keys`` up to ``bucket_length``."""

    def pad(batch):
        length = tf.shape(batch["mask"])[1]
        extra = bucket_length(length, per_octave) - length
        out = dict(batch)
        for key in keys:
            rank = batch[key].shape.rank
            out[key] = tf.pad(batch[key], [[0, 0], [0, extra]] + [[0, 0]] * (rank - 2))
        return out

    return pad


def padded_batches(ds: tf.data.Dataset, batch_size: int, *,
                   drop_remainder: bool = False, prefetch: bool = True,
                   length_buckets_per_octave: int = 0) -> tf.data.Dataset:
    """Padded batches ``[B, T_max, D]`` with ``mask`` ``[B, T_max]`` (1 = real).

    Args:
        length_buckets_per_octave: if > 0, ``T_max`` is rounded up further with
            :func:`bucket_length`, so an epoch has a bounded set of batch shapes
            however many distinct lengths the videos have (why:
            :mod:`wtal_tf.ops.shapes`).  Every per-snippet array (a leading ``T`` axis in the
            element) is padded with zeros; the mask stays exact.
    """
    ds = ds.map(_with_mask, num_parallel_calls=AUTOTUNE)
    per_snippet = [k for k, spec in ds.element_spec.items()
                   if spec.shape.rank and spec.shape[0] is None]
    ds = ds.padded_batch(batch_size, drop_remainder=drop_remainder)
    if length_buckets_per_octave > 0:
        ds = ds.map(_pad_to_bucket(length_buckets_per_octave, per_snippet),
                    num_parallel_calls=AUTOTUNE)
    return ds.prefetch(AUTOTUNE) if prefetch else ds


#: Inference batches: at most this many padded snippets (B x T_max), 134 MB at
#: D = 2048 (ours: THUMOS'14's longest videos in batches of 16 took 2.3 GiB,
#: BENCHMARKS.md "scale"; a training batch keeps its configured size).
MAX_INFERENCE_SNIPPETS = 16 * 1024


def budgeted_batches(ds: tf.data.Dataset, batch_size: int,
                     max_snippets: int = MAX_INFERENCE_SNIPPETS):
    """Padded batches for inference, in the dataset's order, with at most
    ``batch_size`` videos and at most ``max_snippets`` padded snippets
    (``B * T_max``) each; a video longer than the budget goes alone.  Yields
    NumPy dicts with the same keys as :func:`padded_batches` (``features``
    zero-padded, ``mask`` 1 on real snippets).  Memory is one batch, whatever
    the split's size or its longest video; which videos share a batch does not
    change any video's outputs (every op is per video under the mask)."""
    if batch_size < 1 or max_snippets < 1:
        raise ValueError(f"batch_size and max_snippets must be >= 1, got {batch_size}, "
                         f"{max_snippets}")

    def emit(group, t_max):
        batch = {k: np.stack([e[k] for e in group]) for k in group[0] if k != "features"}
        features = np.zeros((len(group), t_max, group[0]["features"].shape[1]), np.float32)
        mask = np.zeros((len(group), t_max), np.float32)
        for b, e in enumerate(group):
            t = int(e["num_snippets"])
            features[b, :t], mask[b, :t] = e["features"], 1.0
        return dict(batch, features=features, mask=mask)

    group, t_max = [], 0
    for element in ds.prefetch(PREFETCH_BATCHES).as_numpy_iterator():
        t = int(element["num_snippets"])
        if group and (len(group) == batch_size or (len(group) + 1) * max(t_max, t) > max_snippets):
            yield emit(group, t_max)
            group, t_max = [], 0
        group.append(element)
        t_max = max(t_max, t)
    if group:
        yield emit(group, t_max)


def one_video_per_step(ds: tf.data.Dataset, *, prefetch: bool = True) -> tf.data.Dataset:
    """Batches of one whole video ``[1, T, D]`` (AutoLoc, §5.2)."""
    ds = ds.map(_with_mask, num_parallel_calls=AUTOTUNE).batch(1)
    return ds.prefetch(AUTOTUNE) if prefetch else ds

