"""`ragchat model pull` and `rm`: models from the Hugging Face hub into the models folder.

A pull asks the hub which commit the branch points at (clear errors for a missing repo,
branch, token or network), then `snapshot_download`s that commit into
models/<owner>--<name>--<branch>. Interrupted downloads resume where they stopped.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ragchat import paths
from ragchat.errors import ModelError
from ragchat.machine import find_token
from ragchat.models.registry import ModelInfo, local_dir_for, unselect

NETWORK_HINT = ("check your connection (and HF_ENDPOINT if you set it); run the same command "
                "again to resume: files already downloaded are kept")


def hub_endpoint() -> str | None:
    """HF_ENDPOINT as set now (huggingface_hub reads it only once, at import)."""
    return os.environ.get("HF_ENDPOINT") or None


def pull_model(repo: str, revision: str, *, include: list[str] | None = None,
               progress: bool = True) -> Path:
    """Download `repo` at branch/tag/commit `revision`; returns the local folder."""
    from huggingface_hub import constants, snapshot_download

    if constants.is_offline_mode():
        raise ModelError(f"cannot download {repo}: downloads are off (HF_HUB_OFFLINE is set)",
                         hint="unset HF_HUB_OFFLINE to download it; "
                              + copy_hint(repo, revision, include))
    token, _source = find_token()
    try:
        commit = resolve_commit(repo, revision, token)
        target = local_dir_for(repo, revision)
        target.mkdir(parents=True, exist_ok=True)
        try:
            folder = snapshot_download(
                repo_id=repo, revision=commit, local_dir=target, allow_patterns=include or None,
                token=token, endpoint=hub_endpoint(), max_workers=4,
                tqdm_class=None if progress else _silent_tqdm(),
            )
        except Exception as exc:
            raise download_error(exc, repo, revision) from exc
    except ModelError as exc:
        if exc.hint != NETWORK_HINT:
            raise
        # the hub cannot be reached from here: name the way that works without it too
        raise ModelError(exc.message, hint=f"{NETWORK_HINT}; "
                         + copy_hint(repo, revision, include)) from exc.__cause__
    return Path(folder)


def copy_hint(repo: str, revision: str, include: list[str] | None = None) -> str:
    """Without the hub: how to get the model onto this machine another way, and use it."""
    where = source_url(repo, revision, include)
    files = _named_files(include)
    if len(files) == 1 and files[0].lower().endswith(".gguf"):
        return (f"or get {files[0]} elsewhere ({where}), copy it here and run "
                f"`ragchat model use PATH/{files[0]}`")
    if any(p.lower().endswith(".gguf") for p in include or ()):
        return f"or get the .gguf file elsewhere ({where}), copy it here and run " \
               "`ragchat model use PATH.gguf`"
    return (f"or copy the model folder ({repo}, branch {revision}: {where}) from a machine "
            "that has it and run `ragchat model use FOLDER`")


def source_url(repo: str, revision: str, include: list[str] | None = None) -> str:
    """Where a browser (or curl) gets the model: the one file, else the branch's files."""
    files = _named_files(include)
    if len(files) == 1:
        return f"https://huggingface.co/{repo}/resolve/{revision}/{files[0]}"
    return f"https://huggingface.co/{repo}/tree/{revision}"


def _named_files(include: list[str] | None) -> list[str]:
    return [p for p in include or () if not any(c in p for c in "*?[")]


def resolve_commit(repo: str, revision: str, token: str | None) -> str:
    from huggingface_hub import HfApi

    try:
        info = HfApi(endpoint=hub_endpoint(), token=token).model_info(repo, revision=revision)
    except Exception as exc:
        raise download_error(exc, repo, revision) from exc
    if not info.sha:
        raise ModelError(f"the hub gave no commit for {repo}@{revision}", hint=NETWORK_HINT)
    return info.sha


def download_error(exc: Exception, repo: str, revision: str) -> ModelError:
    """A hub or network failure as one line with the fix."""
    names = {cls.__name__ for cls in type(exc).__mro__}
    if "GatedRepoError" in names:
        return ModelError(f"{repo} is gated: accept its terms on huggingface.co first",
                          hint="then set HF_TOKEN or run `hf auth login`")
    if "RevisionNotFoundError" in names:
        return ModelError(f"{repo} has no branch or tag {revision!r}",
                          hint=f"see https://huggingface.co/{repo}/tree/main for the branches; "
                               "EXL2 repos name them by bits per weight, e.g. 4_25")
    if "RepositoryNotFoundError" in names:
        return ModelError(f"no model repository {repo!r} on the hub",
                          hint="check the name; private repos need HF_TOKEN or `hf auth login`")
    if names & {"TransportError", "ConnectError", "TimeoutException", "OfflineModeIsEnabled",
                "LocalEntryNotFoundError", "ConnectionError"}:
        return ModelError(f"cannot download {repo}: the Hugging Face hub is not reachable",
                          hint=NETWORK_HINT)
    if isinstance(exc, OSError) and not names & {"HfHubHTTPError"}:
        return ModelError(f"cannot write the model to {paths.models_dir()}: {exc}",
                          hint="free disk space or set RAGCHAT_HOME to a larger disk")
    return ModelError(f"downloading {repo}@{revision} failed: {exc}", hint=NETWORK_HINT)


def _silent_tqdm():
    from tqdm.auto import tqdm

    class Silent(tqdm):
        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)

    return Silent


def remove_model(info: ModelInfo) -> list[str]:
    """Delete a downloaded model; returns the selections it cleared. Refuses anything else."""
    root = paths.models_dir().resolve()
    path = info.path.resolve()
    if info.bundled or root not in path.parents:
        raise ModelError(f"{info.path} is not in the models folder {root}",
                         hint="ragchat only removes models it downloaded; delete it yourself")
    cleared = unselect(info.path) + unselect(path)
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
    return sorted(set(cleared))
