"""RefineLoc's base model math (§3.1, eqs. 1-2) and the video-level losses.

Shapes: ``B`` videos, ``T`` snippets (padded), ``K`` classes.  ``mask`` is
``[B, T]``, 1 on real snippets and 0 on padding.
"""

from __future__ import annotations

import tensorflow as tf

_NEG = -1e9


def foreground_probability(attention_logits: tf.Tensor) -> tf.Tensor:
    """p_fg ``[B, T]`` from ``[B, T, 2]`` (bg/fg softmax, eq. 1) or ``[B, T, 1]`` (sigmoid)."""
    if attention_logits.shape[-1] == 2:
        return tf.nn.softmax(attention_logits, axis=-1)[..., 1]
    return tf.sigmoid(attention_logits[..., 0])


def temporal_attention(attention_logits: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Ā^time ``[B, T]``: softmax over (real) time of the foreground score (eq. 2).

    For the 2-way head the softmax is applied to the foreground *probability*
    Ā^bf (eq. 2 as written, and the official code); for the 1-way head to its
    logit.  Padded snippets get weight 0.
    """
    if attention_logits.shape[-1] == 2:
        score = foreground_probability(attention_logits)
    else:
        score = attention_logits[..., 0]
    score = tf.where(mask > 0, score, _NEG)
    return tf.nn.softmax(score, axis=1) * tf.cast(mask > 0, score.dtype)


def _pool_time(weights: tf.Tensor, values: tf.Tensor) -> tf.Tensor:
    """``Σ_t w[b, t] v[b, t, k]``.  A multiply and a sum, not ``einsum``: on CPU
    einsum becomes a oneDNN batched matmul, one more per-shape primitive
    (~0.3 MB for every new T; see :mod:`wtal_tf.ops.shapes`)."""
    return tf.reduce_sum(weights[..., None] * values, axis=1)


def video_scores(cas_logits: tf.Tensor, attention_time: tf.Tensor) -> tf.Tensor:
    """ŷ ``[B, K]`` = Σ_t Ā^time_t · softmax(C_t) (§3.1, video label prediction)."""
    return _pool_time(attention_time, tf.nn.softmax(cas_logits, axis=-1))


def video_label_loss(labels: tf.Tensor, cas_logits: tf.Tensor, attention_time: tf.Tensor,
                     form: str = "paper") -> tf.Tensor:
    """Cross-entropy between video labels and the pooled prediction, ``[B]``.

    Args:
        labels: ``[B, K]`` multi-hot video labels.
        cas_logits: ``[B, T, K]``.
        attention_time: ``[B, T]`` from :func:`temporal_attention`.
        form: ``"paper"``: ``-Σ_k (y_k / Σy) log ŷ_k`` (the paper's pooling,
            the label distribution normalised: videos with several classes,
            as in THUMOS'14, count each); ``"official"``: the released code's
            ``-Σ_t a_t log_softmax(C_t)[first label]``, first label only.
    """
    labels = tf.cast(labels, cas_logits.dtype)
    if form == "paper":
        return video_score_loss(labels, video_scores(cas_logits, attention_time))
    if form == "official":
        first = tf.argmax(labels, axis=-1)  # the first label in class order
        log_p = tf.nn.log_softmax(cas_logits, axis=-1)                       # [B, T, K]
        pooled = _pool_time(attention_time, log_p)
        return -tf.gather(pooled, first, axis=1, batch_dims=1)
    raise ValueError(f"unknown video loss form {form!r}; expected 'paper' or 'official'")


def video_score_loss(labels: tf.Tensor, y_hat: tf.Tensor) -> tf.Tensor:
    """The paper-form video loss ``-Σ_k (y_k / Σy) log ŷ_k`` of pooled scores, ``[B]``.

    Args:
        labels: ``[B, K]`` multi-hot video labels.
        y_hat: ``[B, K]`` video scores (:func:`video_scores`), same dtype.
    """
    labels = tf.cast(labels, y_hat.dtype)
    y = labels / tf.maximum(tf.reduce_sum(labels, axis=-1, keepdims=True), 1e-12)
    return -tf.reduce_sum(y * tf.math.log(tf.maximum(y_hat, 1e-12)), axis=-1)


def pseudo_label_loss(attention_logits: tf.Tensor, pseudo_labels: tf.Tensor,
                      weights: tf.Tensor) -> tf.Tensor:
    """RefineLoc eq. 4's second term, class-weighted, per video ``[B]``.

    ``(1/T) Σ_t w_t · CE(Ā^bf_t, G(t))`` over the sampled snippets, where the
    class weight is ``[1 - w, w]`` for (background, foreground) with
    ``w = #bg / #all`` of the video's pseudo labels (the official code's
    class weighting), so the rarer label is weighted up.

    Args:
        attention_logits: ``[B, T, 2]`` or ``[B, T, 1]``.
        pseudo_labels: ``[B, T]`` in {0, 1} (1 = foreground).
        weights: ``[B, T]``: 1 on sampled real snippets, 0 elsewhere.
    """
    g = tf.cast(pseudo_labels, attention_logits.dtype)
    weights = tf.cast(weights, attention_logits.dtype)
    n = tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1.0)
    w_bg = tf.reduce_sum((1.0 - g) * weights, axis=1, keepdims=True) / n  # fraction bg
    class_w = g * w_bg + (1.0 - g) * (1.0 - w_bg)
    if attention_logits.shape[-1] == 2:
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.cast(pseudo_labels, tf.int32), attention_logits)
    else:
        ce = tf.nn.sigmoid_cross_entropy_with_logits(g, attention_logits[..., 0])
    return tf.reduce_sum(class_w * ce * weights, axis=1) / n[:, 0]


PSEUDO_WEIGHTINGS = ("video", "global", "none")


def pseudo_label_batch_loss(attention_logits: tf.Tensor, pseudo_labels: tf.Tensor,
                            weights: tf.Tensor, weighting: str = "video",
                            bg_fraction: float | None = None) -> tf.Tensor:
    """RefineLoc eq. 4's second term over a batch, a scalar, in one of three forms.

    Every form is a per-video loss averaged over the videos of the batch.
    ``"video"`` (ours, RL §3.2 read per video): :func:`pseudo_label_loss`
    (class weights from each video's own labels, divided by its sampled
    snippets).  The released code's forms (NOTES; RefineLoc ``src/model.py``:
    each video's mean over its sampled snippets, summed and divided by the
    batch size): ``"global"``: ``w = bg_fraction`` = #bg / #all over the
    training pseudo labels; the 2-way head takes class weights ``[1 - w, w]``
    (a weighted mean, Σ weight·CE / Σ weight, as PyTorch's weighted
    cross-entropy), the 1-way head a BCE with ``pos_weight = √w``; ``"none"``:
    unweighted (the release's ActivityNet setting, ``weighted_psgt_loss: 0``).
    A video with no sampled snippet contributes 0.
    """
    if weighting == "video":
        return tf.reduce_mean(pseudo_label_loss(attention_logits, pseudo_labels, weights))
    if weighting not in PSEUDO_WEIGHTINGS:
        raise ValueError(f"unknown pseudo-label weighting {weighting!r}; expected one of "
                         f"{PSEUDO_WEIGHTINGS}")
    if weighting == "global" and bg_fraction is None:
        raise ValueError("the 'global' pseudo-label weighting needs bg_fraction")
    g = tf.cast(pseudo_labels, attention_logits.dtype)
    m = tf.cast(weights, attention_logits.dtype)
    if attention_logits.shape[-1] == 2:
        ce = tf.nn.sparse_softmax_cross_entropy_with_logits(
            tf.cast(pseudo_labels, tf.int32), attention_logits)
        class_w = (g * bg_fraction + (1.0 - g) * (1.0 - bg_fraction)
                   if weighting == "global" else tf.ones_like(g))
    else:
        pos_weight = float(bg_fraction) ** 0.5 if weighting == "global" else 1.0
        ce = tf.nn.weighted_cross_entropy_with_logits(g, attention_logits[..., 0], pos_weight)
        class_w = tf.ones_like(g)
    per_video = tf.math.divide_no_nan(tf.reduce_sum(class_w * ce * m, axis=1),
                                      tf.reduce_sum(class_w * m, axis=1))
    return tf.reduce_mean(per_video)


def gated_cas(cas_logits: tf.Tensor, p_fg: tf.Tensor, gate: str = "hard",
              threshold: float = 0.5) -> tf.Tensor:
    """The CAS AutoLoc localises on: per-class softmax scores in [0, 1], gated.

    ``hard``: zero where ``p_fg < threshold`` (UntrimmedNet's binarised
    attention, AutoLoc §4.2); ``soft``: multiplied by ``p_fg``.
    """
    scores = tf.nn.softmax(cas_logits, axis=-1)
    if gate == "hard":
        return scores * tf.cast(p_fg >= threshold, scores.dtype)[..., None]
    if gate == "soft":
        return scores * p_fg[..., None]
    if gate == "none":
        return scores
    raise ValueError(f"unknown CAS gate {gate!r}; expected 'hard', 'soft' or 'none'")
