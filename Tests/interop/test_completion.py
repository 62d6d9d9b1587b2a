"""A stock LSP client from PyPI (pytest-lsp over pygls and lsprotocol) against the real
`devmode serve --stdio` binary: initialize on a folder of Python files, open a new document,
and get completions that the embedded `local` engine learnt from that folder.

The client sends nothing devmode-specific: VS Code's capabilities (as recorded by pytest-lsp),
`root_uri` and `workspace_folders`, and the plain LSP requests.
"""

from __future__ import annotations

import atexit
import os
import pathlib
import shutil
import tempfile

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

DEVMODE_BIN = os.path.abspath(os.environ.get("DEVMODE_BIN", ".build/debug/devmode"))
if not os.access(DEVMODE_BIN, os.X_OK):
    pytest.fail(f"no devmode binary at {DEVMODE_BIN} (run `swift build`, or set DEVMODE_BIN)", pytrace=False)

# One temporary tree per test run: the allowed root, the project inside it, and the data directory
# (a fresh one, so no model registry or earlier state can leak in).
WORK = pathlib.Path(tempfile.mkdtemp(prefix="devmode-interop-")).resolve()
atexit.register(shutil.rmtree, WORK, ignore_errors=True)
PROJECT = WORK / "project"
DATA = WORK / "data"

# Identifiers and a call that appear only in these files, so a completion that continues them can
# only have been learnt from the folder.
SHAPES_PY = '''\
class ParallelogramShape:
    def __init__(self, width, height):
        self.width = width
        self.height = height

    def compute_parallelogram_area(self):
        return self.width * self.height


def make_parallelogram_shape(width, height):
    return ParallelogramShape(width, height)
'''

MAIN_PY = '''\
from shapes import make_parallelogram_shape

shape = make_parallelogram_shape(3, 4)
print(shape.compute_parallelogram_area())
'''


def write_project() -> None:
    PROJECT.mkdir(parents=True, exist_ok=True)
    (PROJECT / "shapes.py").write_text(SHAPES_PY)
    (PROJECT / "main.py").write_text(MAIN_PY)


write_project()

# Only what the server needs to run: the variables a devmode model registry or database could
# come from are left out.
SERVER_ENV = {
    key: value
    for key, value in os.environ.items()
    if not key.startswith("DEVMODE_") and not key.endswith("_API_KEY")
}
SERVER_ENV["DEVMODE_DATA_DIR"] = str(DATA)


@pytest_lsp.fixture(
    config=ClientServerConfig(
        server_command=[DEVMODE_BIN, "serve", "--stdio", "--allowed-root", str(WORK)],
        server_env=SERVER_ENV,
    ),
)
async def client(lsp_client: LanguageClient):
    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        root_uri=PROJECT.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=PROJECT.as_uri(), name="project")],
    )
    lsp_client.initialize_result = await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()
    # shutdown then exit: the server leaves with status 0 (1 would mean exit without shutdown).
    assert lsp_client._server is not None and lsp_client._server.returncode == 0


def open_document(client: LanguageClient, name: str, text: str) -> str:
    uri = (PROJECT / name).as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)
        )
    )
    return uri


def end_of(text: str) -> types.Position:
    lines = text.split("\n")
    return types.Position(line=len(lines) - 1, character=len(lines[-1]))


async def test_initialize_advertises_inline_completion_and_completion(client: LanguageClient):
    capabilities = client.initialize_result.capabilities
    assert capabilities.inline_completion_provider, capabilities
    assert capabilities.completion_provider is not None, capabilities
    assert client.initialize_result.server_info.name == "devmode"


async def test_inline_completion_continues_an_identifier_from_the_project(client: LanguageClient):
    text = "from shapes import make_parallelogram_shape\n\nsurface = make_parallelo"
    uri = open_document(client, "new_inline.py", text)
    cursor = end_of(text)

    result = await client.text_document_inline_completion_async(
        types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=cursor,
            context=types.InlineCompletionContext(trigger_kind=types.InlineCompletionTriggerKind.Automatic),
        )
    )

    items = result.items if isinstance(result, types.InlineCompletionList) else result
    assert items, f"no inline completion: {result!r}"
    first = items[0]
    insert = first.insert_text if isinstance(first.insert_text, str) else first.insert_text.value
    # The rest of `make_parallelogram_shape`, as typed in main.py and shapes.py.
    assert insert.startswith("gram_shape"), insert
    assert first.range == types.Range(start=cursor, end=cursor), first.range


async def test_completion_list_has_an_item_that_continues_a_call_from_the_project(client: LanguageClient):
    text = "import shapes\n\nthing = shapes.make_parallelo"
    uri = open_document(client, "new_list.py", text)
    cursor = end_of(text)

    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri=uri), position=cursor)
    )

    items = result.items if isinstance(result, types.CompletionList) else (result or [])
    assert items, f"no completion items: {result!r}"
    word_start = types.Position(line=cursor.line, character=cursor.character - len("make_parallelo"))
    edits = [item.text_edit for item in items if isinstance(item.text_edit, types.TextEdit)]
    assert edits, f"no item has a textEdit: {items!r}"
    # The edit replaces the word typed so far with the whole identifier and what follows it.
    matching = [edit for edit in edits if edit.new_text.startswith("make_parallelogram_shape")]
    assert matching, [edit.new_text for edit in edits]
    assert matching[0].range == types.Range(start=word_start, end=cursor), matching[0].range
