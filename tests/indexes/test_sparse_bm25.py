"""The BM25 sparse encoder against pinecone-text's own BM25Encoder (tests/reference), and its tokenizer offline."""

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

from workbench.indexes.sparse import bm25

CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "The lazy dog is brown; dogs sleep.",
    "Oxygen is a chemical element with symbol O and atomic number 8.",
    "Super Bowl 50 was an American football game.",
    "the of and",
    "Foxes, dogs and elements: jumping over 50 lazy bowls!",
]
QUERIES = ["Which fox is brown?", "atomic number of oxygen", "unseenword football", "the"]


@pytest.fixture(scope="module")
def reference():
    """pinecone-text 0.11.0's BM25Encoder, verbatim, with the workbench tokenizer in place of NLTK's."""
    sparse = types.ModuleType("pinecone_text.sparse")
    sparse.SparseVector = dict
    base = types.ModuleType("pinecone_text.sparse.base_sparse_encoder")
    base.BaseSparseEncoder = object
    tokenizer = types.ModuleType("pinecone_text.sparse.bm25_tokenizer")

    class BM25Tokenizer:
        def __init__(self, **kwargs):
            self.__dict__.update(kwargs)

        def __call__(self, text):
            return bm25.tokenize(text)

    tokenizer.BM25Tokenizer = BM25Tokenizer
    stubs = {
        "pinecone_text": types.ModuleType("pinecone_text"),
        "pinecone_text.sparse": sparse,
        "pinecone_text.sparse.base_sparse_encoder": base,
        "pinecone_text.sparse.bm25_tokenizer": tokenizer,
    }
    saved = {k: sys.modules.get(k) for k in stubs}
    sys.modules.update(stubs)
    try:
        spec = importlib.util.spec_from_file_location(
            "ref_bm25", Path(__file__).parent.parent / "reference" / "pinecone_text_bm25_encoder.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        for k, v in saved.items():
            sys.modules.pop(k) if v is None else sys.modules.__setitem__(k, v)
    encoder = module.BM25Encoder()
    return encoder.fit(CORPUS)


def test_documents_and_queries_match_pinecone_text(reference) -> None:
    params = bm25.fit(CORPUS)
    assert params.n_docs == reference.n_docs == 5  # the stop-words-only document is skipped by both
    assert params.avgdl == pytest.approx(reference.avgdl) and params.doc_freq == reference.doc_freq
    for text in CORPUS + QUERIES:
        ours, theirs = bm25.encode_document(params, text), reference.encode_documents(text)
        assert ours["indices"] == theirs["indices"] and ours["values"] == pytest.approx(theirs["values"], abs=1e-12)
    for text in QUERIES[:3]:
        ours, theirs = bm25.encode_query(params, text), reference.encode_queries(text)
        assert ours["indices"] == theirs["indices"] and ours["values"] == pytest.approx(theirs["values"], abs=1e-12)
    assert bm25.encode_query(params, "the") == {"indices": [], "values": []}
    # Saved parameters load into pinecone-text unchanged.
    reloaded = reference.set_params(**json.loads(json.dumps(params.to_json()))["bm25"])
    ours, theirs = bm25.encode_query(params, "lazy oxygen"), reloaded.encode_queries("lazy oxygen")
    assert ours["indices"] == theirs["indices"] and ours["values"] == pytest.approx(theirs["values"], abs=1e-12)
    assert ours["values"][0] < ours["values"][1]  # the rarer token weighs more


def test_tokenizer_needs_no_download_and_stems() -> None:
    assert bm25.tokenize("The Foxes were JUMPING over dogs' bowls, didn't they?") == ["fox", "jump", "dog", "bowl"]
    assert all(0 <= bm25.token_index(t) < 2**32 for t in ("fox", "ünïcödé", "50"))
    assert len((Path(bm25.__file__).parent / "stopwords_en.txt").read_text().split()) == 179


def test_the_c_stemmer_gives_the_pure_python_stems() -> None:
    """Indexes fitted where PyStemmer is installed must match queries tokenized where it is not: the same stems, on
    every word of the bundled SQuAD articles."""
    import re

    import Stemmer
    from snowballstemmer.english_stemmer import EnglishStemmer

    corpus = Path(__file__).parents[2] / "datasets" / "squad-v1.1-dev-24" / "dev-v1.1-first24.json"
    words = sorted(set(re.findall(r"\w+", corpus.read_text(encoding="utf-8").lower())))
    assert len(words) > 10_000 and isinstance(bm25._stemmer(), Stemmer.Stemmer)  # the C build is the one in use
    assert bm25._stemmer().stemWords(words) == EnglishStemmer().stemWords(words)


def test_convex_scaling_and_params_round_trip(tmp_path) -> None:
    dense, sparse = bm25.scale([1.0, -2.0], {"indices": [7], "values": [0.5]}, 0.25)
    assert dense == [0.25, -0.5] and sparse == {"indices": [7], "values": [0.375]}
    with pytest.raises(ValueError, match="between 0 and 1"):
        bm25.scale([1.0], {"indices": [], "values": []}, 1.5)
    params = bm25.fit(CORPUS, "fp")
    path = bm25.params_path(tmp_path, "acme/eu")
    bm25.save(params, path)
    assert path.name == "acme%2Feu.json" and bm25.load(path) == params
    with pytest.raises(FileNotFoundError, match="no BM25 parameters"):
        bm25.load(tmp_path / "nobody.json")
