from hypothesis import given, settings
from hypothesis import strategies as st

from wordrnn.config import TokenizerConfig
from wordrnn.text.tokenizer import EOS, MAX_TOKEN_CHARS, Tokenizer


def test_contractions_stay_whole_and_punctuation_splits():
    assert Tokenizer().tokenize("I don't know, do you?") == ["I", "don't", "know", ",", "do", "you", "?"]


def test_curly_apostrophe_is_unified():
    assert Tokenizer().tokenize("it\u2019s") == ["it's"]


def test_line_ends_become_sentence_ends():
    assert Tokenizer().tokenize("one two\nthree\n") == ["one", "two", EOS, "three", EOS]


def test_paragraph_mode_joins_wrapped_lines():
    tok = Tokenizer(TokenizerConfig(eos="paragraph"))
    assert list(tok.iter_sentences(["one two", "three", "", "four"])) == [["one", "two", "three", EOS], ["four", EOS]]


def test_lowercase_option():
    assert Tokenizer(TokenizerConfig(lowercase=True)).tokenize("The Cat") == ["the", "cat"]
    assert Tokenizer().tokenize("The Cat") == ["The", "Cat"]


def test_pretokenized_splits_on_whitespace_only():
    tok = Tokenizer(TokenizerConfig(pretokenized=True))
    assert tok.tokenize("`` Hello , world '' .") == ['"', "Hello", ",", "world", '"', "."]  # Brown's quote tokens


def test_only_whole_treebank_quote_tokens_become_plain_quotes():
    tok = Tokenizer(TokenizerConfig(pretokenized=True))
    assert tok.words("it's `` a '' ``b don''t") == ["it's", '"', "a", '"', "``b", "don''t"]


def test_split_context_finds_partial_word():
    tok = Tokenizer()
    assert tok.split_context("the nex") == (["the"], "nex")
    assert tok.split_context("the next ") == (["the", "next"], "")
    assert tok.split_context("hello,") == (["hello", ","], "")
    assert tok.split_context("") == ([], "")
    assert tok.split_context("I don") == (["I"], "don")


def test_detokenize_restores_spacing():
    tok = Tokenizer()
    text = 'He said "no," and left. Didn\'t he?'
    assert tok.detokenize(tok.tokenize(text)) == text


def test_hostile_characters_do_not_break_tokens():
    tok = Tokenizer()
    assert tok.tokenize("a\x00b\u202ec") == ["a", "b", "c"]
    assert tok.tokenize("x" * 500) == ["x" * MAX_TOKEN_CHARS]
    assert tok.tokenize("שלום 😀 world") == ["שלום", "😀", "world"]


words = st.text(alphabet=st.characters(whitelist_categories=("Ll", "Lu", "Nd")), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(st.lists(words, min_size=1, max_size=12), st.sampled_from([".", "!", "?", ","]))
def test_round_trip_of_plain_sentences(parts, mark):
    tok = Tokenizer()
    text = " ".join(parts) + mark
    assert tok.detokenize(tok.tokenize(text)) == text


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_tokenizes_without_whitespace_or_empty_tokens(text):
    for token in Tokenizer().tokenize(text):
        assert token and not any(c.isspace() for c in token) and len(token) <= MAX_TOKEN_CHARS


TRICKY = ["naïve café", "nai\u0308ve", "नमस्ते दुनिया", "don't-stop 3.14 1,000 10:30 ... -- ?!", "https://x.org/a?b=1 ok",
          "Ünïcödé_words and_under_scores", "emoji 🙂 here", "tab\tand\nnew line", "a" * 100]


@given(st.text(max_size=60))
@settings(max_examples=200, deadline=None)
def test_words_are_exactly_nltk_regexp_tokenizer_output(text):
    from nltk.tokenize import RegexpTokenizer

    from wordrnn.text.tokenizer import _PATTERN

    tokenizer = Tokenizer()
    nltk_tokenizer = RegexpTokenizer(_PATTERN)
    for sample in [text, *TRICKY]:
        expected = [t[:MAX_TOKEN_CHARS] for t in nltk_tokenizer.tokenize(tokenizer.normalize(sample))]
        assert tokenizer.words(sample) == expected


def test_tokenizing_does_not_import_nltk():
    import subprocess
    import sys

    code = ("import sys; from wordrnn.text.tokenizer import Tokenizer; Tokenizer().tokenize(\"don't stop\\nnow\"); "
            "print('nltk' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=60)
       | st.lists(st.sampled_from(["don't", "3.14", "--", "...", "http://x.io/a?b=1", "a-b", " ", "\n", "\r\n",
                                   "'", "!?", "10:30", "1,000", "_", "x_y", "\t", "''", "``"]), max_size=12).map("".join))
def test_ascii_text_splits_as_the_grapheme_aware_pattern_does(text):
    """ASCII context is split with ``re`` (no ``regex`` import); it must split exactly as ``regex`` does."""
    import regex

    from wordrnn.text import tokenizer as tok

    full = regex.compile(tok._PATTERN, regex.UNICODE | regex.MULTILINE | regex.DOTALL)
    text = Tokenizer().normalize(text)  # what is split: control characters are gone (re and regex differ on \x1c-\x1f)
    assert tok._ascii_pattern().findall(text) == full.findall(text)
