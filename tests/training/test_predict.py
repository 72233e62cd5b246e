"""predict: a run's checkpoint labels images with its own evaluation preprocessing; the
probabilities equal a direct forward pass of the loaded weights; EMA vs final; the labels
file is written atomically and never overwritten. Run directories are written by Run
itself (random weights, no training): digits, 8 px, one channel."""

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import netscale
from netscale.build import build
from netscale.data import eval_batch, load_data
from netscale.data.pseudo import read_predictions
from netscale.spec import load, spec_id
from netscale.training.predict import predict

from .conftest import saved_run


def _run_dir(tmp_path, *, ema_decay=0.5, save=True, source="digits", **recipe):
    """A run directory with one checkpoint of random weights (EMA weights differ)."""
    out = tmp_path / "teacher"
    saved_run(out, source, batch_size=64, ema_decay=ema_decay, save=save, **recipe)
    return out


def _direct(out, images, which="model", mean=None, std=None):
    """Softmax of the checkpoint's weights, loaded here, on uint8 images, normalized with
    the run's training statistics (digits train)."""
    model = build(load(out / "spec.yaml"))
    model.load_state_dict(load_file(out / "checkpoints" / "ckpt-0001" / f"{which}.safetensors"))
    if mean is None:
        train = load_data("digits")
        mean, std = train.mean, train.std
    x = eval_batch(images, resolution=8, mean=mean, std=std, channels_last=False)
    with torch.no_grad():
        return torch.softmax(model.eval()(x), 1).numpy()


def test_probabilities_equal_a_direct_forward_pass(tmp_path):
    out = _run_dir(tmp_path)
    p = predict(out, "digits", split="test", weights="final")
    test = load_data("digits").test
    np.testing.assert_allclose(p.probs, _direct(out, test.images), atol=1e-6)
    assert p.weights == "final" and p.split.tolist() == ["test"] * 359
    assert p.index.tolist() == list(range(359)) and p.files is None
    assert p.class_names == tuple(str(i) for i in range(10)) and p.source == "digits"
    assert (p.run, p.spec_id) == (str(out.resolve()), spec_id(load(out / "spec.yaml")))
    assert (p.checkpoint, p.epoch, p.top_k_index.shape) == ("ckpt-0001", 1, (359, 5))
    assert np.array_equal(p.argmax, p.probs.argmax(1)) and p.path is None


def test_the_run_s_statistics_normalize_other_data(tmp_path):
    """Images of another source are normalized as the run's training images were."""
    out = _run_dir(tmp_path)
    x = np.random.default_rng(0).integers(0, 256, (9, 8, 8), dtype=np.uint8)
    np.savez(tmp_path / "u.npz", x_train=x)  # no labels: an unlabeled npz
    p = predict(out, f"npz:{tmp_path / 'u.npz'}", weights="final")
    images = torch.from_numpy(x)[:, None]
    np.testing.assert_allclose(p.probs, _direct(out, images), atol=1e-6)
    assert p.source == f"npz:{(tmp_path / 'u.npz').resolve()}" and p.split.tolist() == ["train"] * 9


def test_ema_by_default_when_the_run_keeps_one(tmp_path):
    out = _run_dir(tmp_path)
    test = load_data("digits").test
    auto = predict(out, "digits", split="test")
    assert auto.weights == "ema"
    np.testing.assert_allclose(auto.probs, _direct(out, test.images, "ema"), atol=1e-6)
    assert np.array_equal(predict(out, "digits", split="test", weights="ema").probs, auto.probs)
    final = predict(out, "digits", split="test", weights="final")
    assert not np.allclose(final.probs, auto.probs)


def test_final_weights_when_the_run_keeps_no_ema(tmp_path):
    out = _run_dir(tmp_path, ema_decay=0.0)
    assert predict(out, "digits", split="test").weights == "final"
    with pytest.raises(ValueError, match=r"keeps no EMA weights .*weights='final', --final"):
        predict(out, "digits", weights="ema")
    with pytest.raises(ValueError, match="weights='best' is invalid; allowed: auto, ema, final"):
        predict(out, "digits", weights="best")


def test_the_labels_file_is_written_once(tmp_path):
    out = _run_dir(tmp_path)
    labels = tmp_path / "labels.npz"
    p = netscale.predict(out, "digits", out=labels, split="test", top_k=3)
    back = read_predictions(labels)
    assert back.sha256 == p.sha256 and np.array_equal(back.probs, p.probs)
    assert back.top_k_index.shape == (359, 3) and back.weights == "ema"
    before = labels.read_bytes()
    with pytest.raises(FileExistsError, match="already exists; pass force=True"):
        predict(out, "digits", out=labels, weights="final")
    assert labels.read_bytes() == before
    predict(out, "digits", out=labels, weights="final", split="test", force=True)
    assert read_predictions(labels).weights == "final"
    assert sorted(f.name for f in tmp_path.iterdir()) == ["labels.npz", "teacher"]


def test_a_folder_is_labeled_file_by_file(tmp_path):
    out = _run_dir(tmp_path)
    test = load_data("digits").test
    folder = tmp_path / "unlabeled"
    folder.mkdir()
    for i in range(6):  # lossless gray PNGs of the digits' own size
        Image.fromarray(test.images[i, 0].numpy()).save(folder / f"{i:02d}.png")
    (folder / "05.png").write_bytes(b"")  # corrupt: left out and named (1 of 6 > 1%)
    with pytest.raises(ValueError, match="1 of 6 image files are corrupt"):
        predict(out, f"folder:{folder}", weights="final", workers=0)
    (folder / "05.png").unlink()
    p = predict(out, f"folder:{folder}", weights="final", workers=0, batch_size=2)
    assert p.files.tolist() == [f"{i:02d}.png" for i in range(5)] and p.split is None
    np.testing.assert_allclose(p.probs, _direct(out, test.images[:5]), atol=1e-5)


def test_errors_before_any_work(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a netscale run directory"):
        predict(tmp_path, "digits")
    out = _run_dir(tmp_path, save=False)
    with pytest.raises(FileNotFoundError, match="has no complete checkpoint yet"):
        predict(out, "digits", out=tmp_path / "labels.npz")
    assert not (tmp_path / "labels.npz").exists()
    with pytest.raises(ValueError, match="top_k=0 is invalid"):
        predict(out, "digits", top_k=0)


def test_an_empty_unlabeled_folder_is_one_line(tmp_path):
    out = _run_dir(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty holds no image files \(") as err:
        predict(out, f"folder:{tmp_path / 'empty'}", out=tmp_path / "labels.npz")
    assert "\n" not in str(err.value) and not (tmp_path / "labels.npz").exists()
