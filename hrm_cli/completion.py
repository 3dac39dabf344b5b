"""Dynamic shell completion of model and dataset names (cheap: no torch import)."""

from __future__ import annotations

import click
from click.shell_completion import CompletionItem


def _items(names: list[tuple[str, str]], incomplete: str) -> list[CompletionItem]:
    seen: set[str] = set()
    items = []
    for name, help_text in names:
        if name.startswith(incomplete) and name not in seen:
            seen.add(name)
            items.append(CompletionItem(name, help=help_text))
    return items


def installed_model_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Shipped defaults and cached models, e.g. for `--model` and `hrm models rm`."""
    from hrm.inference import store

    try:
        entries = store.list_models()
    except Exception:  # a broken cache must not break the user's shell
        return []
    return _items([(entry.name, entry.task or "") for entry in entries], incomplete)


def pullable_model_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """The release checkpoints `hrm models pull` knows, by alias and by repository."""
    from hrm.inference import store

    names = [(m.alias, m.description) for m in store.KNOWN_MODELS]
    names += [(m.repo, m.description) for m in store.KNOWN_MODELS]
    return _items(names, incomplete)


def model_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Installed models, then the ones that can be pulled."""
    installed = installed_model_names(ctx, param, incomplete)
    names = {item.value for item in installed}
    pullable = pullable_model_names(ctx, param, incomplete)
    return installed + [item for item in pullable if item.value not in names]


def dataset_names(
    ctx: click.Context, param: click.Parameter, incomplete: str
) -> list[CompletionItem]:
    """Known remote datasets; files and folders as well, for `hrm datasets build`."""
    from hrm.datasets.sources import SOURCES

    items = _items([(s.name, s.description) for s in SOURCES.values()], incomplete)
    # The file item goes first: click's bash script clears earlier replies when it meets one,
    # and bash falls back to file names only when no dataset name matches.
    return [CompletionItem(incomplete, type="file"), *items]
