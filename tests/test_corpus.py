import io

import pytest

from wordrnn.text import corpus
from wordrnn.text.corpus import iter_lines, iter_pieces, resolve_paths
from wordrnn.errors import CorpusError


def test_directories_expand_to_sorted_txt_files(tmp_path):
    (tmp_path / "b.txt").write_text("b\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("a\n")
    (tmp_path / "skip.md").write_text("no\n")
    assert [p.name for p in resolve_paths([tmp_path])] == ["b.txt", "a.txt"]


def test_missing_path_and_empty_directory(tmp_path):
    with pytest.raises(CorpusError, match="no such file"):
        resolve_paths([tmp_path / "nope.txt"])
    with pytest.raises(CorpusError, match="no \\*.txt files"):
        resolve_paths([tmp_path])


def test_bom_and_mixed_line_endings(tmp_path):
    path = tmp_path / "t.txt"
    path.write_bytes(b"\xef\xbb\xbfone\r\ntwo\rthree\nfour")
    assert list(iter_lines([path])) == ["one", "two", "three", "four"]


def test_crlf_split_across_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "CHUNK_BYTES", 4)
    path = tmp_path / "t.txt"
    path.write_bytes(b"abc\r\ndef\r\n")
    assert list(iter_lines([path])) == ["abc", "def"]


def test_invalid_utf8_names_file_and_offset(tmp_path):
    path = tmp_path / "bad.txt"
    path.write_bytes(b"hello \xff world")
    with pytest.raises(CorpusError, match=r"bad.txt: not valid utf-8 at byte 6; convert it to UTF-8 or pass encoding \(e.g. latin-1\)"):
        list(iter_lines([path]))
    assert list(iter_lines([path], encoding="latin-1")) == ["hello \xff world"]


def test_binary_file_is_refused(tmp_path):
    path = tmp_path / "bin.txt"
    path.write_bytes(b"abc\x00\x01\x02")
    with pytest.raises(CorpusError, match="binary"):
        list(iter_lines([path]))


def test_long_line_arrives_in_bounded_pieces(monkeypatch):
    monkeypatch.setattr(corpus, "CHUNK_BYTES", 1000)
    text = ("word " * 50_000).encode()
    pieces = list(iter_pieces("x", stream=io.BytesIO(text)))
    assert max(len(p) for p in pieces) <= corpus.MAX_PIECE_CHARS
    assert "".join(pieces) == text.decode()


def test_unknown_encoding(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("x")
    with pytest.raises(CorpusError, match="unknown encoding"):
        list(iter_lines([path], encoding="nope-42"))
