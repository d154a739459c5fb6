"""Push a distilled student to the Hugging Face Hub.

Only the files a user of the model needs are uploaded (config, weights, tokenizer, card, report); training
state (`training_args.bin`, optimizer / scheduler / RNG states, `trainer_state.json`), the distillation
projections and checkpoint folders stay local. The local folder is never modified.

The endpoint is `HF_ENDPOINT` (default https://huggingface.co); the token is the `token` argument, else
`HF_TOKEN` / the token saved by `hf auth login` (`huggingface-cli login`). The token is never printed or logged.
"""

from __future__ import annotations

import fnmatch
import logging
import shlex
from pathlib import Path

__all__ = ["push_student", "select_upload_files", "PushError", "ALLOW_PATTERNS", "REQUIRED_FILES"]

logger = logging.getLogger(__name__)

REQUIRED_FILES = ("config.json", "model.safetensors")

# Top-level files only: anything in a sub-folder (checkpoint-*/, runs/, ...) is never uploaded.
ALLOW_PATTERNS = (
    "config.json",
    "generation_config.json",
    "model.safetensors",
    "model-*-of-*.safetensors",
    "model.safetensors.index.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.txt",
    "vocab.json",
    "merges.txt",
    "spiece.model",
    "sentencepiece.bpe.model",
    "spm.model",
    "tokenizer.model",
    "README.md",
    "report.json",
    "report.md",
)


class PushError(RuntimeError):
    """Uploading the student failed; the local student folder is untouched."""


ONNX_PATTERNS = ("*.onnx", "export.json")  # in the onnx/ sub-folder `hf-distill export` writes, with include_onnx


def select_upload_files(student_dir: str | Path, include_onnx: bool = False) -> list[str]:
    """Paths (relative to `student_dir`) of its top-level files that match `ALLOW_PATTERNS`, sorted; with
    `include_onnx`, also onnx/*.onnx and onnx/export.json."""
    root = Path(student_dir)
    names = []
    for path in sorted(root.iterdir()):
        if path.is_file() and any(fnmatch.fnmatchcase(path.name, pattern) for pattern in ALLOW_PATTERNS):
            names.append(path.name)
    onnx = root / "onnx"
    if include_onnx:
        if not onnx.is_dir() or not any(onnx.glob("*.onnx")):
            raise ValueError(f"Cannot push the ONNX files: {onnx} has none. Run `hf-distill export` first, or push "
                             "without --push_onnx.")
        names += [f"onnx/{p.name}" for p in sorted(onnx.iterdir())
                  if p.is_file() and any(fnmatch.fnmatchcase(p.name, pattern) for pattern in ONNX_PATTERNS)]
    return names


def _check_student_dir(student_dir: Path, include_onnx: bool = False) -> list[str]:
    if not student_dir.is_dir():
        raise ValueError(f"Cannot push: student folder {student_dir} does not exist or is not a folder.")
    missing = [name for name in REQUIRED_FILES if not (student_dir / name).is_file()]
    if missing and "model.safetensors" in missing and (student_dir / "model.safetensors.index.json").is_file():
        missing.remove("model.safetensors")  # sharded weights
    if missing:
        hint = ""
        if "model.safetensors" in missing and (student_dir / "pytorch_model.bin").is_file():
            hint = " (found pytorch_model.bin: re-save the model with save_pretrained(..., safe_serialization=True))"
        raise ValueError(
            f"Cannot push {student_dir}: missing {', '.join(missing)}{hint}. Expected a folder written by "
            "save_pretrained (config.json + model.safetensors + tokenizer files)."
        )
    return select_upload_files(student_dir, include_onnx)


def _one_line(exc: BaseException, secrets: list[str]) -> str:
    text = " ".join(str(exc).split()) or "(no message)"
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    if len(text) > 400:
        text = text[:397] + "..."
    return f"{type(exc).__name__}: {text}"


def _push_error(exc: BaseException, student_dir: Path, repo_id: str, endpoint: str, secrets: list[str]) -> PushError:
    from huggingface_hub import constants

    reason = _one_line(exc, secrets)
    fix = f"check `HF_TOKEN` / `huggingface-cli login` (or `hf auth login`) and network access to {endpoint}"
    if constants.is_offline_mode():
        fix = f"unset HF_HUB_OFFLINE (offline mode is on), {fix}"
    command = f"hf-distill push --student_dir {shlex.quote(str(student_dir))} --hub_model_id {shlex.quote(repo_id)}"
    return PushError(
        f"Push to the Hugging Face Hub failed for {repo_id} ({endpoint}): {reason}\n"
        f"The student is still saved at {student_dir} (untouched).\n"
        f"Fix: {fix}, then run: {command}"
    )


def push_student(
    student_dir: str,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    commit_message: str = "Upload distilled student (hf_distill)",
    include_onnx: bool = False,
) -> str:
    """Upload the standard files of a saved student to the Hub model repo `repo_id` and return the commit URL.

    Creates the repo if needed (`exist_ok=True`, `private` only applies to a new repo), then makes one commit with
    the allow-listed top-level files of `student_dir` (see `ALLOW_PATTERNS`: config, safetensors weights (sharded
    too), tokenizer files, generation config, README.md, report.json / report.md; with `include_onnx`, the
    onnx/ folder's *.onnx and export.json). Training state, projections and checkpoint folders are never uploaded.

    Raises:
        ValueError: `student_dir` is not a folder or lacks config.json / model.safetensors (nothing is sent).
        PushError: the card's metadata is invalid, or the Hub call failed (network, HTTP error, auth). The
            message gives the reason, says the local student is untouched and how to retry with `hf-distill push`.
    """
    from huggingface_hub import CommitOperationAdd, HfApi, ModelCard

    if not repo_id or not isinstance(repo_id, str):
        raise ValueError("Cannot push: a Hub repo id (e.g. 'user/my-student') is required.")
    student = Path(student_dir).expanduser().resolve()
    files = _check_student_dir(student, include_onnx)

    api = HfApi(token=token)
    endpoint = api.endpoint
    secrets = [token or ""]
    try:
        from huggingface_hub import get_token

        secrets.append(get_token() or "")
    except Exception:  # noqa: BLE001 - only used to scrub messages
        pass

    try:
        if "README.md" in files:
            # Local parse first (bad YAML / model-index fails here, before any network call).
            card = ModelCard((student / "README.md").read_text(encoding="utf-8"))
            if not card.data.to_dict():
                logger.warning("README.md in %s has no YAML metadata: the Hub will show an empty card header.", student)
        else:
            logger.warning("No README.md in %s: pushing without a model card.", student)

        api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
        operations = [CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(student / name)) for name in files]
        logger.info("Pushing %d file(s) to %s: %s", len(files), repo_id, ", ".join(files))
        # create_commit validates README.md's metadata with the Hub (/api/validate-yaml) before uploading anything.
        info = api.create_commit(
            repo_id=repo_id,
            repo_type="model",
            operations=operations,
            commit_message=commit_message,
        )
    except Exception as exc:  # noqa: BLE001 - every failure becomes one actionable PushError
        raise _push_error(exc, student, repo_id, endpoint, secrets) from exc

    url = getattr(info, "commit_url", None) or f"{endpoint}/{repo_id}"
    logger.info("Pushed %s to %s", student, url)
    return url
