"""netscale.data.pseudo: the labels file (labels.npz) written atomically and read back
with its checks."""

import os

import numpy as np
import pytest

from netscale.data.pseudo import REQUIRED, Predictions, read_predictions


def _predictions(n=6, k=4, seed=0, **changes) -> Predictions:
    logits = np.random.default_rng(seed).normal(size=(n, k))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    fields = dict(
        class_names=tuple("abcd"[:k]),
        source="digits",
        weights="ema",
        run="/runs/teacher",
        spec_id="0123456789ab",
        checkpoint="ckpt-0003",
        epoch=3,
        split=np.array(["test"] * n),
        index=np.arange(n),
    )
    return Predictions.from_probs(probs, 3, **{**fields, **changes})


def test_top_k_and_argmax_follow_the_probabilities():
    p = _predictions()
    assert p.probs.dtype == np.float32 and p.top_k_index.shape == (6, 3)
    assert np.array_equal(p.argmax, p.probs.argmax(1))
    assert np.array_equal(p.top_k_prob, -np.sort(-p.probs, 1)[:, :3])
    assert _predictions(k=2).top_k_index.shape == (6, 2)  # at most the class count


def test_round_trip(tmp_path):
    p = _predictions()
    saved = p.save(tmp_path / "labels.npz")
    assert saved.path == tmp_path / "labels.npz" and len(saved.sha256) == 64
    back = read_predictions(tmp_path / "labels.npz")
    assert back.sha256 == saved.sha256
    for key in ("probs", "top_k_index", "top_k_prob", "argmax", "split", "index"):
        assert np.array_equal(getattr(back, key), getattr(p, key)), key
    assert (back.class_names, back.source, back.weights, back.run) == (
        p.class_names, p.source, p.weights, p.run,
    )  # fmt: skip
    assert (back.spec_id, back.checkpoint, back.epoch, back.files) == (
        "0123456789ab", "ckpt-0003", 3, None,
    )  # fmt: skip
    with np.load(tmp_path / "labels.npz", allow_pickle=False) as z:  # plain arrays, no pickles
        assert set(REQUIRED) <= set(z.files) and z["format"] == "netscale-labels"


def test_never_overwrites_without_force(tmp_path):
    path = tmp_path / "labels.npz"
    path.write_bytes(b"precious")
    with pytest.raises(FileExistsError, match=r"labels.npz already exists; pass force=True"):
        _predictions().save(path)
    assert path.read_bytes() == b"precious"
    _predictions().save(path, force=True)
    assert read_predictions(path).epoch == 3
    assert [f for f in os.listdir(tmp_path) if f != "labels.npz"] == []  # no temporary left
    with pytest.raises(FileNotFoundError, match=r"directory .*nowhere does not exist"):
        _predictions().save(tmp_path / "nowhere" / "labels.npz")


def test_missing_keys_and_not_a_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="pseudo-labels: no file at"):
        read_predictions(tmp_path / "none.npz")
    with pytest.raises(FileNotFoundError, match="pseudo-labels: no file at"):
        read_predictions(tmp_path)  # a directory
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match=r"not an npz archive .*written by netscale predict"):
        read_predictions(tmp_path / "text.npz")
    arrays = _predictions().arrays()
    del arrays["probs"], arrays["spec_id"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(ValueError, match=r"missing arrays \['probs', 'spec_id'\]"):
        read_predictions(tmp_path / "partial.npz")
    arrays = _predictions().arrays()
    del arrays["index"]
    np.savez(tmp_path / "noindex.npz", **arrays)
    with pytest.raises(ValueError, match="missing arrays 'split' and 'index' of source 'digits'"):
        read_predictions(tmp_path / "noindex.npz")
    folder = _predictions(source="folder:/data/u", split=None, index=None)
    np.savez(tmp_path / "nofiles.npz", **folder.arrays())
    with pytest.raises(ValueError, match="missing array 'files'"):
        read_predictions(tmp_path / "nofiles.npz")


def test_probabilities_are_checked(tmp_path):
    arrays = _predictions().arrays()
    arrays["probs"] = arrays["probs"] * 2
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="probs row 0 is not a probability distribution"):
        read_predictions(tmp_path / "bad.npz")
    arrays["probs"] = np.zeros((6,), np.float32)
    np.savez(tmp_path / "flat.npz", **arrays)
    with pytest.raises(ValueError, match=r"probs has dtype float32 and shape \(6,\)"):
        read_predictions(tmp_path / "flat.npz")
