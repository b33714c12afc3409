"""Embeddings from either model source, L2-normalised, as a float32 matrix.

Local: the GGUF model through llama.cpp ``embedding=True`` with mean pooling (the same embedder the
semantic dedup uses, so vectors agree). Endpoint: the OpenAI ``/v1/embeddings`` API (vLLM, llama.cpp
server started with ``--embedding true``, OpenAI). Normalised vectors make cosine similarity a dot
product and the L2 distance a monotone function of it, which the ANN index relies on.
"""

import numpy as np
import pyarrow as pa

from operators.core.contract import OperatorError
from operators.general_text.dedup_semantic import embed as local_embed
from operators.scoring.local import resolve_model_path
from operators.scoring.source import ModelSourceConfig, post_json


def normalise(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    return (vecs / np.where(norms == 0, 1, norms)).astype(np.float32)


def embed_texts(c: ModelSourceConfig, texts: list[str]) -> np.ndarray:
    if not texts:
        return np.zeros((0, 1), dtype=np.float32)
    if not c.base_url:
        return local_embed(texts, str(resolve_model_path(c.model_path)), c.n_ctx).astype(np.float32)
    doc = post_json(c, "/embeddings", {"model": c.model, "input": [t if t else " " for t in texts]})
    try:
        data = sorted(doc["data"], key=lambda d: d.get("index", 0))
        vecs = np.asarray([d["embedding"] for d in data], dtype=np.float32)
    except (KeyError, TypeError, ValueError):
        raise OperatorError(
            f"{c.base_url}/embeddings answered without data[].embedding vectors of one size; is it an embedding "
            "endpoint (llama.cpp server needs --embedding true)?"
        ) from None
    if vecs.ndim != 2 or len(vecs) != len(texts):
        raise OperatorError(f"{c.base_url}/embeddings returned {len(vecs)} vectors for {len(texts)} texts")
    return normalise(vecs)


def matrix(column: pa.ChunkedArray | pa.Array, where: str) -> np.ndarray:
    """A list<float> column (one vector per row) as an (n, d) float32 matrix, without a row loop."""
    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if arr.null_count:
        raise OperatorError(f"{where}: {arr.null_count} rows have no embedding; run EmbeddingGenerator first")
    if len(arr) == 0:
        return np.zeros((0, 1), dtype=np.float32)
    if pa.types.is_fixed_size_list(arr.type):
        flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
        return flat.reshape(len(arr), arr.type.list_size)
    lengths = np.diff(arr.offsets.to_numpy())
    if lengths.min() != lengths.max():
        raise OperatorError(f"{where}: embeddings have different sizes ({lengths.min()}..{lengths.max()})")
    flat = arr.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)  # no copy if float32
    return flat.reshape(len(arr), int(lengths[0]))
