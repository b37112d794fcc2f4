"""``promoter find-images`` and ``promoter set-image``: the editing engine on the command line.

Contract (scripts depend on it): ``find-images --output json`` prints the JSON envelope whose
``images`` array holds objects with exactly the keys ``file``, ``line``, ``kind``, ``name``,
``tag``, ``digest`` (a bare array before 0.x's envelope). ``set-image``
exits 0 when it changed something or all was up to date, 1 when the image is referenced nowhere,
2 on invalid input; on any error nothing is written. Skipped files and notes go to stderr.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

import click

from promoter.cli.output import output_option, print_json
from promoter.edit import find_in_paths
from promoter.edit import set_image as _set_image
from promoter.edit.model import FileEdit, Problem
from promoter.render.json import Sites

_HELM_PATH = click.option(
    "--helm-path", "helm_paths", multiple=True, metavar="KEY.PATH",
    help="Also treat this dotted key path in values files as an image (api.image.tag); "
         "repeatable.")


def _warn(problems: Sequence[Problem], notes: Sequence[str] = ()) -> None:
    for p in problems:
        click.echo(f"promoter: warning: skipped {p.message}", err=True)
    for note in notes:
        click.echo(f"promoter: note: {note}", err=True)


@click.command("find-images", epilog="--output json prints one object whose images array holds "
               "objects with the keys file, line, kind, name, tag, digest (a stable contract). "
               "Files that do not parse (Helm templates) are reported on stderr and skipped.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@output_option("text", "json")
@_HELM_PATH
def find_images(paths: tuple[str, ...], output: str, helm_paths: tuple[str, ...]) -> int:
    """List every image reference promoter can edit in PATHS (files or directories)."""
    sites, problems = find_in_paths(paths, helm_paths=helm_paths)
    if output == "json":
        print_json(Sites(sites), exit_code=0, errors=())
    else:
        for s in sites:
            ref = s.name + (f":{s.ref.tag}" if s.ref.tag else "") + (
                f"@{s.ref.digest}" if s.ref.digest else "")
            click.echo(f"{s.file}:{s.line}: {s.kind.value} {ref}")
    _warn(problems)
    return 0


def unified_diff(edit: FileEdit) -> str:
    return "".join(difflib.unified_diff(
        edit.old.splitlines(keepends=True), edit.new.splitlines(keepends=True),
        fromfile=f"a/{edit.file}", tofile=f"b/{edit.file}"))


@click.command("set-image", epilog="Exit status: 0 when something changed or all was up to date, "
               "1 when the image is referenced nowhere, 2 on invalid input; on any error nothing "
               "is written.")
@click.argument("paths", nargs=-1, required=True, type=click.Path())
@click.option("--image", required=True, metavar="NAME",
              help="The image to set, as find-images names it or any equivalent reference.")
@click.option("--tag", metavar="TAG", help="The new tag.")
@click.option("--digest", metavar="DIGEST", help="The new digest (sha256:...).")
@click.option("--new-name", metavar="NAME", help="A new image name (repository).")
@click.option("--include-untagged", is_flag=True,
              help="Also pin references that name no tag or digest (image: busybox, a Helm "
                   "tag: \"\"); without it they are left alone, with a note.")
@click.option("--dry-run", is_flag=True, help="Change nothing on disk.")
@click.option("--diff", "show_diff", is_flag=True, help="Print a unified diff of the changes.")
@_HELM_PATH
def set_image(paths: tuple[str, ...], image: str, tag: str | None, digest: str | None,
              new_name: str | None, include_untagged: bool, dry_run: bool, show_diff: bool,
              helm_paths: tuple[str, ...]) -> int:
    """Set the tag, digest or name of every reference to an image in PATHS, byte-exactly."""
    result = _set_image(paths, image, tag=tag, digest=digest, new_name=new_name,
                        dry_run=dry_run, helm_paths=helm_paths,
                        include_untagged=include_untagged)
    for edit in result.files:
        if not edit.changed:
            click.echo(f"{edit.file}: {'up to date' if edit.sites else 'left alone'}")
        elif show_diff:
            click.echo(unified_diff(edit), nl=False)
        else:
            click.echo(f"{edit.file}: {'would update' if dry_run else 'updated'}")
    _warn(result.problems, result.notes)
    return 0
