"""BERT WordPiece tokenisation over a Hugging Face tokenizer.json (model.type WordPiece), the same
rules as the C reference service (src/serve/tokenizer.c, docs/serve.md "Pipeline" step 2): clean
(drop control characters), lowercase and strip accents, split on whitespace, punctuation and CJK
characters, then greedy longest-match-first pieces with the "##" prefix; a word with no split, or
longer than max_input_chars_per_word, is [UNK]. Python's unicodedata stands in for the C tables, so
the two agree on ASCII, Latin-1 and combining marks (what `servprof load` sends) and may differ on
rarer scripts."""
import json
import os
import unicodedata


class TokenizerError(Exception):
    pass


def _is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def _is_cjk(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or
            0x2A700 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


class WordPiece:
    def __init__(self, path, max_file_bytes=64 << 20):
        try:
            size = os.path.getsize(path)
        except OSError as e:
            raise TokenizerError("%s: cannot open tokenizer: %s" % (path, e.strerror)) from None
        if size > max_file_bytes:
            raise TokenizerError("%s: tokenizer file larger than %d bytes" % (path, max_file_bytes))
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except json.JSONDecodeError as e:
            raise TokenizerError("%s:%d:%d: invalid JSON: %s" % (path, e.lineno, e.colno, e.msg)) from None
        model = doc.get("model") if isinstance(doc, dict) else None
        if not isinstance(model, dict) or model.get("type") != "WordPiece":
            raise TokenizerError('%s: model.type is not "WordPiece"' % path)
        vocab = model.get("vocab")
        if not isinstance(vocab, dict) or not vocab:
            raise TokenizerError("%s: model.vocab is missing or empty" % path)
        ids = sorted(vocab.values()) if all(isinstance(v, int) for v in vocab.values()) else None
        if ids != list(range(len(vocab))):
            raise TokenizerError("%s: vocabulary ids must be 0..%d, each once" % (path, len(vocab) - 1))
        self.vocab = vocab
        self.size = len(vocab)
        norm = doc.get("normalizer") if isinstance(doc.get("normalizer"), dict) else {}
        self.lowercase = norm.get("lowercase", True) is not False
        self.prefix = model.get("continuing_subword_prefix", "##")
        mw = model.get("max_input_chars_per_word", 100)
        self.max_word_chars = min(mw if isinstance(mw, int) and mw > 0 else 100, 128)
        self.longest = max(len(k) for k in vocab)
        unk = model.get("unk_token", "[UNK]")
        try:
            self.unk, self.cls, self.sep, self.pad = (vocab[unk], vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"])
        except KeyError:
            raise TokenizerError("%s: the vocabulary lacks one of %s, [CLS], [SEP], [PAD]" % (path, unk)) from None

    def _words(self, text):
        word = []
        for ch in text:
            cp = ord(ch)
            if ch.isspace():
                if word:
                    yield "".join(word)
                    word = []
                continue
            if cp == 0 or cp == 0xFFFD or unicodedata.category(ch) in ("Cc", "Cf"):
                continue
            if self.lowercase:
                ch = ch.lower()
                d = unicodedata.normalize("NFD", ch)
                ch = "".join(c for c in d if unicodedata.category(c) != "Mn")
                if not ch:
                    continue
            if any(_is_punct(c) or _is_cjk(ord(c)) for c in ch):
                if word:
                    yield "".join(word)
                    word = []
                yield ch
                continue
            word.append(ch)
        if word:
            yield "".join(word)

    def _wordpiece(self, word, out):
        if len(word) > self.max_word_chars:
            out.append(self.unk)
            return
        pieces, start = [], 0
        while start < len(word):
            end = min(len(word), start + self.longest)
            found = None
            while end > start:
                piece = (self.prefix if start else "") + word[start:end]
                found = self.vocab.get(piece)
                if found is not None:
                    break
                end -= 1
            if found is None:
                out.append(self.unk)
                return
            pieces.append(found)
            start = end
        out.extend(pieces)

    def encode(self, text, max_tokens):
        """[CLS] pieces... [SEP], cut to max_tokens with [SEP] kept."""
        out = [self.cls]
        for w in self._words(text):
            self._wordpiece(w, out)
            if len(out) >= max_tokens - 1:
                break
        del out[max_tokens - 1:]
        out.append(self.sep)
        return out
