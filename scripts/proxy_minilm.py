#!/usr/bin/env python3
"""End-to-end fidelity proxy: sentence embeddings of all-MiniLM-L6-v2 from
the original weights vs a decompressed copy (mean pooling, L2-normalised),
reported as mean and min cosine similarity over the sentences below.

Usage: proxy_minilm.py MODEL_DIR DECOMPRESSED.safetensors
Needs torch and transformers (e.g. in a venv outside the repository);
runs offline on the local model folder.
"""
import os
import shutil
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402

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


def embed(model_dir):
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModel.from_pretrained(model_dir).eval()
    batch = tok(SENTENCES, padding=True, truncation=True, return_tensors="pt")
    with torch.no_grad():
        out = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    emb = (out * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(emb, dim=1)


def main():
    model_dir, restored = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    ref = embed(model_dir)
    with tempfile.TemporaryDirectory() as tmp:
        for name in os.listdir(model_dir):
            src = os.path.join(model_dir, name)
            if name != "model.safetensors" and os.path.isfile(src):
                shutil.copy(src, tmp)
        shutil.copy(restored, os.path.join(tmp, "model.safetensors"))
        got = embed(tmp)
    cos = (ref * got).sum(1)
    print(f"mean cosine {cos.mean().item():.5f}  min cosine {cos.min().item():.5f}")


if __name__ == "__main__":
    main()
