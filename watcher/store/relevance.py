"""The relevance models' cache: ``relevance/<subscription>.json``, one file per subscription.

A cache, not state: every model can be fitted again from the feedback, the library and the
archive. So a file that is missing, damaged, of another model version or of another
subscription reads as a miss with its reason (the caller refits and writes it again), never
as an error that stops a cycle. Plain JSON (terms; the idf and weights as base64 float32),
never pickle: the data directory may be shared, and loading a pickle runs whatever it holds.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from watcher.models import ModelState
from watcher.store.atomic import write_atomically
from watcher.store.base import subscription_file_name

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from watcher.relevance import RelevanceModel

__all__ = [
    "MODELS_DIR",
    "STATUS_FILE",
    "CacheMiss",
    "ModelState",
    "model_path",
    "read_model",
    "read_states",
    "write_model",
    "write_states",
]

MODELS_DIR = "relevance"
STATUS_FILE = "status.json"


@dataclass(frozen=True, slots=True)
class CacheMiss:
    """No usable cached model, and why (``missing`` is the ordinary first time)."""

    reason: str


def write_states(data_dir: Path, states: list[ModelState]) -> None:
    document = {
        "subscriptions": {
            s.subscription: {
                "active": s.active,
                "detail": s.detail,
                "missing": s.missing,
                "problem": s.problem,
            }
            for s in states
        }
    }
    path = data_dir / MODELS_DIR / STATUS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, json.dumps(document, ensure_ascii=False).encode(), durable=False)


def read_states(data_dir: Path) -> dict[str, ModelState] | CacheMiss:
    """What the last ranking said per subscription; a miss (with its reason) when the file
    is absent or damaged (the next cycle writes it again)."""
    path = data_dir / MODELS_DIR / STATUS_FILE
    try:
        raw = json.loads(path.read_bytes())
        states = {}
        for name, item in raw["subscriptions"].items():
            problem = item.get("problem")
            states[str(name)] = ModelState(
                str(name),
                bool(item["active"]),
                str(item["detail"]),
                int(item.get("missing", 0)),
                None if problem is None else str(problem),
            )
        return states
    except FileNotFoundError:
        return CacheMiss("missing")
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        return CacheMiss(f"{path}: damaged ({exc})")


def model_path(data_dir: Path, subscription: str) -> Path:
    """One file per subscription, named by it (reduced to safe characters, with a short
    hash of the full name so two names that reduce alike do not share a file)."""
    return data_dir / MODELS_DIR / subscription_file_name(subscription)


def write_model(data_dir: Path, subscription: str, model: RelevanceModel) -> None:
    document = {
        "version": model.version,
        "subscription": subscription,
        "fingerprint": model.fingerprint,
        "intercept": model.intercept,
        "positives": model.positives,
        "negatives": model.negatives,
        "background": model.background,
        "terms": list(model.terms),
        "idf": _floats_text(model.idf),
        "weights": _floats_text(model.weights),
    }
    path = model_path(data_dir, subscription)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
    # Not fsynced: a cache lost in a crash is refitted.
    write_atomically(path, payload, durable=False)


def read_model(data_dir: Path, subscription: str) -> RelevanceModel | CacheMiss:
    from watcher.relevance import MODEL_VERSION, RelevanceModel

    path = model_path(data_dir, subscription)
    try:
        raw = json.loads(path.read_bytes())
    except FileNotFoundError:
        return CacheMiss("missing")
    except (OSError, ValueError, RecursionError) as exc:  # unreadable, not UTF-8, not JSON
        return CacheMiss(f"{path}: unreadable ({exc})")
    try:
        if not isinstance(raw, dict):
            raise TypeError("not a JSON object")
        if raw["version"] != MODEL_VERSION:
            return CacheMiss(f"{path}: model version {raw['version']!r}")
        if raw["subscription"] != subscription:
            raise ValueError(f"written for {raw['subscription']!r}")
        terms = raw["terms"]
        if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
            raise TypeError("terms must be a list of strings")
        counts = [raw[k] for k in ("positives", "negatives", "background")]
        if not all(isinstance(c, int) and not isinstance(c, bool) for c in counts):
            raise TypeError("counts must be whole numbers")
        intercept = raw["intercept"]
        if not isinstance(intercept, int | float) or isinstance(intercept, bool):
            raise TypeError("intercept must be a number")
        return RelevanceModel(
            fingerprint=str(raw["fingerprint"]),
            terms=tuple(terms),
            idf=_floats(raw["idf"], len(terms), "idf"),
            weights=_floats(raw["weights"], len(terms), "weights"),
            intercept=float(intercept),
            positives=counts[0],
            negatives=counts[1],
            background=counts[2],
        )
    except (
        KeyError,
        TypeError,
        ValueError,
        OverflowError,  # an intercept too large for a float
        binascii.Error,
        UnicodeEncodeError,
    ) as exc:
        return CacheMiss(f"{path}: damaged ({exc})")


# The idf and weights are the fitted float32 numbers themselves, little-endian, in base64:
# read back bit for bit (decimal text rounded them), five times faster to write and read.
# numpy is imported in the functions: `watcher status` reads this module's states without it.
def _floats_text(values: npt.NDArray[np.float32]) -> str:
    import numpy as np

    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode("ascii")


def _floats(text: object, count: int, name: str) -> npt.NDArray[np.float32]:
    import numpy as np

    if not isinstance(text, str):
        raise TypeError(f"{name} must be base64 text")
    raw = base64.b64decode(text.encode("ascii"), validate=True)
    if len(raw) != 4 * count:
        raise ValueError(f"{name} holds {len(raw) // 4} numbers for {count} terms")
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)
