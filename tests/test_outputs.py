"""ferkit.outputs.check_outputs: the refusals every command makes before any work."""

from pathlib import Path

import pytest

from ferkit.errors import FerkitError
from ferkit.outputs import check_outputs


def test_a_new_file_in_a_new_folder_is_accepted(tmp_path):
    check_outputs([tmp_path / "new" / "deeper" / "out.csv", None])


def test_an_existing_file_needs_overwrite(tmp_path):
    out = tmp_path / "out.csv"
    out.write_text("kept")
    with pytest.raises(FerkitError, match="already exists; pass --overwrite"):
        check_outputs([out])
    check_outputs([out], overwrite=True)
    assert out.read_text() == "kept"


def test_an_input_is_never_an_output_even_with_overwrite(tmp_path):
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"x")
    with pytest.raises(FerkitError, match="photo.jpg: refusing to overwrite an input file"):
        check_outputs([photo], inputs=[photo], overwrite=True)


def test_one_file_for_two_outputs_is_refused(tmp_path):
    with pytest.raises(FerkitError, match="given for two outputs"):
        check_outputs([tmp_path / "a.csv", tmp_path / "a.csv"])


def test_a_folder_given_as_the_output_is_refused(tmp_path):
    with pytest.raises(FerkitError, match="is a folder; give a file name"):
        check_outputs([tmp_path])


def test_a_file_in_the_way_of_the_folder_is_named(tmp_path):
    (tmp_path / "notes").write_text("a file")
    with pytest.raises(FerkitError, match="notes is a file, not a folder"):
        check_outputs([tmp_path / "notes" / "sub" / "out.csv"])


def test_a_missing_drive_is_not_called_a_file(tmp_path, monkeypatch):
    # Windows' "Z:\out.csv" with no drive Z: the search for an existing folder ends at a root
    # that does not exist either; Linux always has "/", so the root's absence is simulated.
    monkeypatch.setattr(Path, "exists", lambda self: False)
    with pytest.raises(FerkitError, match="does not exist") as raised:
        check_outputs([tmp_path / "out.csv"])
    assert "is a file" not in str(raised.value)
