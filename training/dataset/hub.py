"""`training.data --push-to-hub REPO`: upload the written dataset folder to a Hugging Face hub (the one
`HF_ENDPOINT` names, else huggingface.co) as a dataset repository; any failure is one InputError line."""

from __future__ import annotations

from pathlib import Path

from state.errors import InputError

PUSHED = ("README.md", "data_card.json", "train.jsonl", "validation.jsonl")


def check_repo(repo: str) -> None:
    """REPO must look like `owner/name` (checked before anything is written)."""
    owner, _, name = repo.partition("/")
    if not owner or not name or "/" in name or any(c.isspace() for c in repo):
        raise InputError(f"--push-to-hub {repo!r} must be a hub dataset name like owner/name")


def push(out: Path, repo: str, token: str | None = None) -> str:
    """Create (or reuse) the dataset repo and upload the dataset files; returns the repo's URL."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise InputError("--push-to-hub needs huggingface_hub (the train extra: pip install -e '.[train]')") from None
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo, repo_type="dataset", exist_ok=True)
        api.upload_folder(folder_path=str(out), repo_id=repo, repo_type="dataset", allow_patterns=list(PUSHED),
                          commit_message="MuSeR dataset from python -m training.data")
    except Exception as exc:  # network, auth, hub errors: all end the same way for the user
        reason = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise InputError(f"could not push {out} to the hub as {repo} ({reason}); the dataset is written in {out}: "
                         "check your connection and `huggingface-cli login` (or HF_TOKEN), then push again") from None
    return str(url)
