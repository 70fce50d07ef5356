"""Does a reduced index (REDUCE, random projection) rank real question embeddings as well
as the full one? Every question of ../shared/data/qqp_dev.jsonl and data/cache_pairs.jsonl
is embedded (all-MiniLM-L6-v2) and added to one vector set; for every duplicate pair
(label 1), text_b is searched and we count how often text_a is among the COUNT 3
candidates the cache checks. Real embeddings cluster (many questions about the same
topics), unlike the random vectors of vector_set_options.py.

    .venv/bin/python benchmarks/vector_set_real.py [--qqp ../shared/data/qqp_dev.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import redis

sys.path.insert(0, str(Path(__file__).parents[1]))

from reference_service.cache.normalize import canonical
from tests.redis_server import RedisServer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--qqp", default="../shared/data/qqp_dev.jsonl")
    args = parser.parse_args()
    rows = []
    for path in (args.qqp, "data/cache_pairs.jsonl"):
        if Path(path).exists():
            rows += [json.loads(x) for x in Path(path).read_text().splitlines() if x.strip()]
    questions = sorted({canonical(t) for r in rows for t in (r["text_a"], r["text_b"])})
    index = {q: i for i, q in enumerate(questions)}
    from reference_service.app import shared_embedder

    vectors = shared_embedder().embed(questions).astype(np.float32)
    pairs = [
        (index[canonical(r["text_a"])], index[canonical(r["text_b"])])
        for r in rows
        if r["label"] == 1 and canonical(r["text_a"]) != canonical(r["text_b"])
    ]
    print(f"{len(questions)} distinct questions indexed, {len(pairs)} duplicate pairs searched\n")
    sims = vectors @ vectors.T
    # the pairs the cache could serve: exact cosine at or above the default threshold
    servable = [(a, b) for a, b in pairs if sims[a, b] >= 0.93]
    print(f"{len(servable)} of them at cosine >= 0.93 (the default threshold when this ran)\n")
    print(
        "| index | EF | partner in top 3: all pairs | exact (brute force) | "
        "pairs at cosine >= 0.93 | exact |"
    )
    print("|---|---|---|---|---|---|")

    def top3(b):
        return [i for i in np.argsort(-sims[b])[:4] if i != b][:3]

    exact = np.mean([a in top3(b) for a, b in pairs])
    exact_s = np.mean([a in top3(b) for a, b in servable])
    with RedisServer() as server:
        r = redis.Redis(port=server.port)
        for name, extra in (
            ("Q8 (default)", []),
            ("Q8, REDUCE 128", ["REDUCE", "128"]),
            ("Q8, REDUCE 64", ["REDUCE", "64"]),
        ):
            key = f"real:{name}"
            pipe = r.pipeline(transaction=False)
            for i, v in enumerate(vectors):
                pipe.execute_command("VADD", key, *extra, "FP32", v.tobytes(), f"q{i}")
            pipe.execute()
            for ef in (100, 200):
                found = {}
                for a, b in pairs:
                    res = r.execute_command(
                        "VSIM", key, "FP32", vectors[b].tobytes(), "COUNT", 4, "EF", ef
                    )  # b itself is stored too
                    top = [x for x in res if x != f"q{b}".encode()][:3]
                    found[(a, b)] = f"q{a}".encode() in top
                all_ = np.mean(list(found.values()))
                srv = np.mean([found[p] for p in servable])
                print(
                    f"| {name} | {ef} | {all_:.3f} | {exact:.3f} | {srv:.3f} | {exact_s:.3f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
