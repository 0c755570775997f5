#!/usr/bin/env python3
"""Learns the default WordPiece vocabulary of `servprof serve` and writes it as a Hugging Face
tokenizer.json (model.type WordPiece). Python 3 standard library only; nothing is downloaded.

Usage: python3 scripts/build-vocab.py [--size N] [--out data/tokenizer.json] [CORPUS_FILE ...]
Default corpus: /usr/share/dict/words (Debian package `wamerican`, installed by scripts/setup.sh).

Training follows WordPiece as Hugging Face `tokenizers` trains it (its WordPieceTrainer runs BPE
merges on "##"-prefixed pieces): the text is pre-tokenised like BERT (lowercase, strip accents, split
on whitespace and punctuation), every word starts as its characters (the first bare, the rest with
the "##" continuation prefix), and the most frequent pair of adjacent pieces is merged into a new
token, repeatedly, until the vocabulary has N tokens. (The likelihood score count(ab)/(count(a)
count(b)) of the original WordPiece paper favours rare pairs on a word list where every word counts
once, so the frequency score is used, as Hugging Face does.) Counts are kept incrementally (pair -> words that contain it) so
the cost grows with the corpus and the number of merges, not their product. Ties break on the token
text, so the output is identical from run to run for the same corpus.
"""
import argparse
import collections
import heapq
import json
import sys
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PREFIX = "##"


def is_punct(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


def pre_tokenize(line):
    """BERT basic tokenisation: lowercase, strip accents, split on whitespace and punctuation."""
    text = unicodedata.normalize("NFD", line.lower())
    text = "".join(c for c in text if unicodedata.category(c) != "Mn")
    words, cur = [], []
    for ch in text:
        if ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf"):
            if cur:
                words.append("".join(cur))
                cur = []
        elif is_punct(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


def train(word_counts, size):
    # pieces per distinct word; a piece is its vocabulary string ("##" marks a continuation)
    words = []
    counts = []
    for w, c in sorted(word_counts.items()):
        if len(w) > 100:
            continue
        words.append([w[0]] + [PREFIX + ch for ch in w[1:]])
        counts.append(c)
    vocab = list(SPECIALS)
    seen = set(vocab)
    # every printable ASCII character, bare and as a continuation, as BERT's vocabulary has them,
    # so digits and punctuation missing from the corpus do not become [UNK]
    for code in range(33, 127):
        seen.add(chr(code))
        seen.add(PREFIX + chr(code))
    for pieces in words:
        for p in pieces:
            if p not in seen:
                seen.add(p)
    for p in sorted(seen - set(SPECIALS)):
        vocab.append(p)
    if len(vocab) >= size:
        return vocab[:size]

    piece_count = collections.Counter()
    pair_count = collections.Counter()
    where = collections.defaultdict(set)  # pair -> indices of words containing it
    for i, pieces in enumerate(words):
        for p in pieces:
            piece_count[p] += counts[i]
        for a, b in zip(pieces, pieces[1:]):
            pair_count[(a, b)] += counts[i]
            where[(a, b)].add(i)

    def score(pair):
        return pair_count[pair]

    # lazy max-heap of (-score, pair); entries are re-checked against the current score on pop
    heap = [(-score(p), p) for p in pair_count]
    heapq.heapify(heap)

    def merged(a, b):
        return a + (b[len(PREFIX):] if b.startswith(PREFIX) else b)

    while len(vocab) < size and heap:
        neg, pair = heapq.heappop(heap)
        if pair_count.get(pair, 0) <= 0:
            continue
        cur = score(pair)
        if cur != -neg:
            heapq.heappush(heap, (-cur, pair))
            continue
        a, b = pair
        new = merged(a, b)
        if new not in seen:
            seen.add(new)
            vocab.append(new)
        touched = set()
        for i in sorted(where.pop(pair, ())):
            pieces = words[i]
            c = counts[i]
            for x, y in zip(pieces, pieces[1:]):
                pair_count[(x, y)] -= c
                where[(x, y)].discard(i)
            for p in pieces:
                piece_count[p] -= c
            out, j = [], 0
            while j < len(pieces):
                if j + 1 < len(pieces) and pieces[j] == a and pieces[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(pieces[j])
                    j += 1
            words[i] = out
            for p in out:
                piece_count[p] += c
            for x, y in zip(out, out[1:]):
                pair_count[(x, y)] += c
                where[(x, y)].add(i)
                touched.add((x, y))
        pair_count.pop(pair, None)
        # scores of pairs sharing a piece with the merge changed; re-push the ones seen here
        for p in touched:
            if pair_count[p] > 0:
                heapq.heappush(heap, (-score(p), p))
    return vocab


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=5000, help="vocabulary size (default 5000)")
    ap.add_argument("--out", default="data/tokenizer.json")
    ap.add_argument("corpus", nargs="*", default=["/usr/share/dict/words"])
    args = ap.parse_args()
    word_counts = collections.Counter()
    for path in args.corpus:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                word_counts.update(pre_tokenize(line))
    vocab = train(word_counts, args.size)
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, t in enumerate(SPECIALS)
        ],
        "normalizer": {"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                       "strip_accents": None, "lowercase": True},
        "pre_tokenizer": {"type": "BertPreTokenizer"},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}},
                       {"Sequence": {"id": "A", "type_id": 0}},
                       {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
            "pair": [],
            "special_tokens": {t: {"id": t, "ids": [SPECIALS.index(t)], "tokens": [t]}
                               for t in ("[CLS]", "[SEP]")},
        },
        "decoder": {"type": "WordPiece", "prefix": PREFIX, "cleanup": True},
        "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": PREFIX,
                  "max_input_chars_per_word": 100,
                  "vocab": {t: i for i, t in enumerate(vocab)}},
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    print(f"build-vocab: {len(vocab)} tokens from {sum(word_counts.values())} words "
          f"({len(word_counts)} distinct) -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
