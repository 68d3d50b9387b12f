"""Interop check of `enki mcp` against the official MCP Python SDK (`mcp` on PyPI).

Run by `cargo xtask interop-mcp`, which installs the pinned SDK into a virtual
environment under target/, builds enki, `enki init`s a scratch git project,
starts `enki mcp --transport http` in it, and runs this script with that
venv's Python:

    mcp_client.py --enki BIN --project DIR --url http://127.0.0.1:PORT/mcp --token TOKEN

It connects through the SDK's own transports, stdio (the SDK starts
`enki mcp --role planner` itself) and Streamable HTTP (bearer token in the
headers), each in two modes: "legacy" (the `initialize` handshake) and "auto"
(the SDK's default: probe `server/discover` at 2026-07-28, fall back to
`initialize` if that fails; enki speaks 2026-07-28, so it must not fall back).
In each it initializes, lists tools, calls a read tool and a write tool, lists
and reads resources, lists prompts and gets one, checking the SDK's parsed
results; then what only its era has (legacy: ping, subscriptions, log levels;
2026-07-28: a subscriptions/listen stream), and a destructive tool confirmed by
the user through the SDK's elicitation callback. Prints one line per check;
exits 1 if any failed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
import warnings
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import anyio
from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import ElicitResult, PromptReference, ResourceUpdatedNotification

# The SDK release this check is written against; `cargo xtask interop-mcp`
# installs exactly this one (it reads the line below).
SDK_VERSION = "2.3.0"

# What each mode must settle on with enki.
EXPECTED_VERSION = {"legacy": "2025-11-25", "auto": "2026-07-28"}

# Tools the planner role must list, and a few it must not (worker-only).
PLANNER_TOOLS = {"enki_status", "enki_task_create", "enki_task_list", "enki_execution_create"}
NOT_PLANNER_TOOLS = {"enki_worker_report"}


class Failed(Exception):
    pass


class Events:
    """What the server sent a client besides answers: notifications and elicitations."""

    def __init__(self) -> None:
        self.updated: list[str] = []
        self.update_seen = anyio.Event()
        self.elicited: list[str] = []

    async def on_message(self, message: Any) -> None:
        if isinstance(message, ResourceUpdatedNotification):
            self.updated.append(message.params.uri)
            self.update_seen.set()

    async def on_elicit(self, _context: Any, params: Any) -> ElicitResult:
        self.elicited.append(params.message)
        return ElicitResult(action="accept", content={"confirm": "stop all"})


def check(ok: bool, what: str) -> None:
    if not ok:
        raise Failed(what)


def text_of(content: list[Any]) -> str:
    return "\n".join(getattr(block, "text", "") for block in content)


async def scenario(client: Client, events: Events, mode: str, label: str) -> list[str]:
    """The checks, on one connected client; returns what each found."""
    notes: list[str] = []

    # initialize / server/discover
    check(
        client.protocol_version == EXPECTED_VERSION[mode],
        f"protocol version {client.protocol_version!r}, expected {EXPECTED_VERSION[mode]!r}",
    )
    info = client.server_info
    check(info is not None and info.name == "enki", f"server info {info!r}, expected name 'enki'")
    caps = client.server_capabilities
    check(caps.tools is not None, "no tools capability")
    check(caps.resources is not None, "no resources capability")
    check(caps.prompts is not None, "no prompts capability")
    notes.append(f"connected: protocol {client.protocol_version}, server {info.name} {info.version}")

    # tools/list
    tools = (await client.list_tools()).tools
    names = {tool.name for tool in tools}
    check(PLANNER_TOOLS <= names, f"tools/list lacks {sorted(PLANNER_TOOLS - names)}")
    check(not (NOT_PLANNER_TOOLS & names), f"tools/list offers a planner {sorted(NOT_PLANNER_TOOLS & names)}")
    for tool in tools:
        check(tool.input_schema.get("type") == "object", f"{tool.name}: inputSchema is not an object schema")
        check(tool.annotations is not None, f"{tool.name}: no annotations")
    create = next(tool for tool in tools if tool.name == "enki_task_create")
    check("title" in create.input_schema.get("required", []), "enki_task_create does not require `title`")
    notes.append(f"tools/list: {len(tools)} tools")

    # tools/call, a read tool
    status = await client.call_tool("enki_status", {})
    check(not status.is_error, f"enki_status failed: {text_of(status.content)}")
    check(text_of(status.content).strip() != "", "enki_status answered no text")
    notes.append("tools/call enki_status: ok")

    # tools/call, a write tool
    title = f"interop {label}"
    created = await client.call_tool("enki_task_create", {"title": title})
    check(not created.is_error, f"enki_task_create failed: {text_of(created.content)}")
    structured = created.structured_content or {}
    task_id = structured.get("task_id")
    check(isinstance(task_id, str) and task_id.startswith("task-"), f"enki_task_create gave task_id {task_id!r}")
    shown = await client.call_tool("enki_task_show", {"task_id": task_id})
    check(not shown.is_error, f"enki_task_show {task_id} failed: {text_of(shown.content)}")
    check(title in text_of(shown.content), f"enki_task_show {task_id} does not show its title")
    notes.append(f"tools/call enki_task_create: {task_id}")

    # A wrong call is a tool error the model can read, not a protocol error.
    wrong = await client.call_tool("enki_task_create", {"title": 7})
    check(wrong.is_error, "enki_task_create with a number for `title` was not an error")

    # resources/list, resources/templates/list, resources/read
    resources = (await client.list_resources()).resources
    uris = {str(resource.uri) for resource in resources}
    check("enki://status" in uris, f"resources/list lacks enki://status: {sorted(uris)}")
    templates = (await client.list_resource_templates()).resource_templates
    check(
        any(t.uri_template == "enki://task/{id}" for t in templates),
        f"resources/templates/list lacks enki://task/{{id}}: {[t.uri_template for t in templates]}",
    )
    read = await client.read_resource("enki://status")
    check(len(read.contents) == 1, f"resources/read enki://status: {len(read.contents)} contents")
    check(str(read.contents[0].uri) == "enki://status", f"resources/read answered {read.contents[0].uri}")
    check(bool(getattr(read.contents[0], "text", "")), "resources/read enki://status has no text")
    task = await client.read_resource(f"enki://task/{task_id}")
    check(title in getattr(task.contents[0], "text", ""), f"enki://task/{task_id} does not show its title")
    notes.append(f"resources: {len(resources)} listed, {len(templates)} templates, enki://status read")

    # prompts/list, prompts/get
    prompts = (await client.list_prompts()).prompts
    plan = next((prompt for prompt in prompts if prompt.name == "plan"), None)
    check(plan is not None, f"prompts/list lacks plan: {[p.name for p in prompts]}")
    required = [a.name for a in (plan.arguments or []) if a.required]
    check(required == ["request"], f"plan's required arguments are {required}")
    got = await client.get_prompt("plan", {"request": "add a --verbose flag"})
    check(len(got.messages) >= 1, "prompts/get plan gave no messages")
    check(
        "add a --verbose flag" in text_of([m.content for m in got.messages]),
        "prompts/get plan does not quote the request",
    )
    notes.append(f"prompts: {len(prompts)} listed, plan got ({len(got.messages)} messages)")

    # completion of a prompt argument (none to offer here, but it must answer)
    if caps.completions is not None:
        done = await client.complete(PromptReference(type="ref/prompt", name="plan"), {"name": "execution_id", "value": ""})
        check(isinstance(done.completion.values, list), "completion/complete gave no values list")
        notes.append("completion/complete: ok")

    if mode == "legacy":
        notes += await legacy_only(client, events, label)
    else:
        notes += await modern_only(client, label)

    # A destructive tool: a client that can elicit is asked (the callback
    # accepts with "stop all"): by an elicitation/create request in the
    # legacy revisions (over HTTP on the call's event stream), by an
    # InputRequiredResult and a retry in 2026-07-28.
    stopped = await client.call_tool("enki_stop_all", {})
    check(not stopped.is_error, f"enki_stop_all failed: {text_of(stopped.content)}")
    check(len(events.elicited) == 1, f"{len(events.elicited)} elicitations for enki_stop_all")
    how = "an elicitation request" if mode == "legacy" else "input_required and a retry"
    notes.append(f"tools/call enki_stop_all: confirmed by the user through {how}")
    return notes


async def modern_only(client: Client, label: str) -> list[str]:
    """What 2026-07-28 has instead: a subscriptions/listen stream."""
    async with client.listen(resource_subscriptions=["enki://tasks"]) as sub:
        check(
            list(sub.honored.resource_subscriptions or []) == ["enki://tasks"],
            f"subscriptions/listen honoured {sub.honored!r}",
        )
        created = await client.call_tool("enki_task_create", {"title": f"interop {label} (listened)"})
        check(not created.is_error, f"enki_task_create failed: {text_of(created.content)}")
        event = None
        with anyio.move_on_after(10):
            event = await sub.__anext__()
        check(getattr(event, "uri", None) == "enki://tasks", f"listen stream gave {event!r}, not enki://tasks updated")
    return ["subscriptions/listen: enki://tasks updated after a task_create"]


async def legacy_only(client: Client, events: Events, label: str) -> list[str]:
    """What only the handshake era has: ping, subscriptions, log levels."""
    await client.send_ping()
    await client.set_logging_level("warning")
    await client.subscribe_resource("enki://tasks")
    created = await client.call_tool("enki_task_create", {"title": f"interop {label} (subscribed)"})
    check(not created.is_error, f"enki_task_create failed: {text_of(created.content)}")
    # The server looks for changes every second and after each request.
    with anyio.move_on_after(10):
        await events.update_seen.wait()
    check("enki://tasks" in events.updated, f"no notifications/resources/updated for enki://tasks: {events.updated}")
    return ["ping, logging/setLevel, resources/subscribe: enki://tasks updated after a task_create"]


async def run(label: str, connect: Callable[[str, Events], Any], mode: str) -> bool:
    events = Events()
    try:
        with anyio.fail_after(60):
            async with connect(mode, events) as client:
                notes = await scenario(client, events, mode, label)
    except Failed as failure:
        print(f"FAIL {label}: {failure}")
        return False
    except BaseException as err:  # the SDK's own errors are what this check is for
        print(f"FAIL {label}: {type(err).__name__}: {err}")
        traceback.print_exc(file=sys.stderr)
        return False
    for note in notes:
        print(f"  ok {label}: {note}")
    return True


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--enki", required=True, help="the enki binary")
    parser.add_argument("--project", required=True, help="an `enki init`ed project")
    parser.add_argument("--url", required=True, help="a running `enki mcp --transport http`")
    parser.add_argument("--token", required=True)
    parser.add_argument("--debug", action="store_true", help="log what the SDK does on stderr")
    args = parser.parse_args()

    installed = version("mcp")
    print(f"MCP Python SDK: mcp {installed} (pinned {SDK_VERSION})")
    if installed != SDK_VERSION:
        print(f"FAIL the venv holds mcp {installed}, not the pinned {SDK_VERSION}")
        return 1

    stdio = StdioServerParameters(
        command=args.enki,
        args=["mcp", "--role", "planner"],
        env={"ENKI_DIR": f"{args.project}/.enki", "PATH": "/usr/bin:/bin"},
        cwd=args.project,
    )

    def over_stdio(mode: str, events: Events) -> Client:
        return Client(stdio, mode=mode, message_handler=events.on_message, elicitation_callback=events.on_elicit)

    class OverHttp:
        """A Client over an httpx2 client that carries the bearer token."""

        def __init__(self, mode: str, events: Events) -> None:
            self.mode = mode
            self.events = events

        async def __aenter__(self) -> Client:
            self.http = create_mcp_http_client(headers={"Authorization": f"Bearer {args.token}"})
            await self.http.__aenter__()
            self.client = Client(
                streamable_http_client(args.url, http_client=self.http),
                mode=self.mode,
                message_handler=self.events.on_message,
                elicitation_callback=self.events.on_elicit,
            )
            return await self.client.__aenter__()

        async def __aexit__(self, *exc: Any) -> None:
            try:
                await self.client.__aexit__(*exc)
            finally:
                await self.http.__aexit__(*exc)

    ok = True
    for transport, connect in (("stdio", over_stdio), ("http", OverHttp)):
        for mode in ("legacy", "auto"):
            ok &= await run(f"{transport}/{mode}", connect, mode)

    # A wrong token must be refused, and the SDK must surface it as an error.
    async def wrong_token() -> None:
        async with create_mcp_http_client(headers={"Authorization": "Bearer wrong"}) as http:
            async with Client(streamable_http_client(args.url, http_client=http), mode="legacy"):
                pass

    try:
        with anyio.fail_after(30):
            await wrong_token()
        print("FAIL http/wrong-token: connected with a wrong token")
        ok = False
    except BaseException as err:
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        print(f"  ok http/wrong-token: refused ({type(err).__name__})")

    print("interop: all checks passed" if ok else "interop: some checks FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    logging.basicConfig(level=logging.DEBUG if "--debug" in sys.argv else logging.WARNING, stream=sys.stderr)
    # The legacy checks use what 2026-07-28 removed (ping, subscriptions, log levels) on purpose.
    warnings.filterwarnings("ignore", category=MCPDeprecationWarning)
    sys.exit(anyio.run(main))
