"""Upload an export folder to a Hugging Face Hub dataset repository.

The token is read from ``$HF_TOKEN`` at call time and handed to ``huggingface_hub``'s ``HfApi``; it is
never written to the export, the lineage, a log line or an error message (error texts are redacted
before they are raised). ``$HF_ENDPOINT`` (read by huggingface_hub) points the upload at another Hub,
e.g. a self-hosted one, or the 127.0.0.1 stand-in the tests use.
"""

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from dataflow_dagster.core.export import MANAGED
from operators.core.contract import OperatorError

TOKEN_ENV = "HF_TOKEN"
UPLOAD_PATTERNS = ["data/*.parquet", "lineage/*.parquet", "README.md", "croissant.json"]


@dataclass
class PushResult:
    repo_id: str
    commit_url: str
    files: int


def _redact(text: str, secret: str) -> str:
    return text.replace(secret, "***") if secret else text


def push_export(
    out_dir: str | Path,
    repo_id: str,
    private: bool = False,
    message: str | None = None,
    token: str | None = None,
    log: logging.Logger | None = None,
) -> PushResult:
    """Create ``repo_id`` (a dataset repo) if needed and upload the export in one commit.

    Shards the new export no longer has are deleted from the repo in the same commit, so a refresh
    that writes fewer shards leaves no stale ones behind for ``load_dataset`` to pick up.
    """
    from huggingface_hub import HfApi

    log = log or logging.getLogger("dataflow")
    out_dir = Path(out_dir)
    if not (out_dir / "README.md").exists() or not (out_dir / "data").is_dir():
        raise OperatorError(f"{out_dir} is not an export (no README.md + data/); run `dataflow-dagster export` first")
    token = token or os.environ.get(TOKEN_ENV, "")
    if not token:
        raise OperatorError(
            f"pushing to the Hub needs a token with write access in ${TOKEN_ENV}; it is read from the environment "
            "only and never stored (create one at https://huggingface.co/settings/tokens)"
        )
    # Read per call (huggingface_hub reads $HF_ENDPOINT once, at import).
    api = HfApi(endpoint=os.environ.get("HF_ENDPOINT") or None, token=token)
    files = [p for p in out_dir.rglob("*") if p.is_file() and p.relative_to(out_dir).parts[0] in MANAGED]
    try:
        api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
        info = api.upload_folder(
            repo_id=repo_id,
            repo_type="dataset",
            folder_path=str(out_dir),
            allow_patterns=UPLOAD_PATTERNS,
            delete_patterns=["data/*.parquet", "lineage/*.parquet"],
            commit_message=message or "dataflow-dagster export",
        )
    except Exception as exc:  # the Hub client's errors carry URLs and server text; never the token
        raise OperatorError(
            f"upload of {out_dir} to dataset repo '{repo_id}' failed: {_redact(str(exc), token)}"
        ) from None
    url = str(getattr(info, "commit_url", "") or info)
    log.info(f"export: pushed {len(files)} files to dataset repo {repo_id}: {url}")
    return PushResult(repo_id, url, len(files))
