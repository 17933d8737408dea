"""`ragchat collections [list|rm NAME]`"""

from __future__ import annotations

import click

from ragchat.cli.terminal import json_text, safe_line


@click.group(invoke_without_command=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per collection.")
@click.pass_context
def collections(ctx: click.Context, as_json: bool) -> None:
    """List collections (files, chunks, embedding model), or remove one."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(list_cmd, as_json=as_json)


@collections.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per collection.")
def list_cmd(as_json: bool) -> None:
    """List collections."""
    from ragchat.index.collection import list_collections
    from ragchat.index.health import collection_info

    infos = [collection_info(c) for c in list_collections()]
    if as_json:
        for info in infos:
            click.echo(json_text(info))
        return
    if not infos:
        click.echo("No collections yet: run `ragchat ingest PATH`.")
    for info in infos:
        click.echo(f"{safe_line(info['name']):<20} {info['files']:>7} files "
                   f"{info['chunks']:>9} chunks  {safe_line(info['embedding_model'])}  "
                   f"{safe_line(info['path'])}")


@collections.command("rm")
@click.argument("name")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
def rm_cmd(name: str, yes: bool) -> None:
    """Remove collection NAME and its index (your documents are not touched)."""
    from ragchat.index.collection import get_collection, remove_collection

    if not get_collection(name).exists():
        raise _no_such_collection(name)
    shown = safe_line(name)
    if not yes and not _confirmed(f"Remove the index of collection '{shown}'?"):
        click.echo(f"Nothing removed (--yes removes without asking: "
                   f"ragchat collections rm {shown} --yes).", err=True)
        raise SystemExit(1)
    remove_collection(name)
    click.echo(f"Removed collection '{shown}'.")


def _no_such_collection(name: str):
    """`rm` of a name that is no collection: the ones there are (and the likely one)."""
    from ragchat.errors import IndexMissingError
    from ragchat.index.collection import collection_names, listed, near_miss

    names = collection_names()
    near = near_miss(name, names)
    guess = f"; did you mean '{near}'?" if near else ""
    hint = (f"the collections are: {listed(names)}" if names
            else "there are no collections yet (`ragchat ingest PATH` makes one)")
    return IndexMissingError(f"there is no collection '{name}' to remove{guess}", hint=hint)


def _confirmed(question: str) -> bool:
    """The user answered yes; no (or no answer: end of input) is False."""
    try:
        return click.confirm(question, default=False)
    except click.exceptions.Abort:
        click.echo("", err=True)
        return False
