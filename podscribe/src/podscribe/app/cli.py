"""The ``podscribe`` command.

``podscribe transcribe AUDIO`` runs the pipeline (``podscribe.pipeline``) as a durable
execution, on an embedded perdure runtime (one SQLite database per run in the state
directory) or, with ``--server URL``, on a running ``perdure serve --template
podscribe/template.yaml``. Running the same command again resumes the same execution.

Exit status: 0 done, 1 the run failed, 2 bad arguments, configuration or input,
3 the run is paused or still waiting (``--no-wait``), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console
from rich.table import Table

from podscribe.app.progress import Tracker, watch
from podscribe.app.runs import (
    Backend,
    EmbeddedBackend,
    RunError,
    RunInfo,
    RunSession,
    ServerBackend,
    ServerError,
    build_input,
    default_state_dir,
    embedded_run_ids,
    embedded_runs,
    lock_for,
    payload_text,
)
from podscribe.artifacts import ArtifactStore
from podscribe.config import Config, ConfigError, load_config, parse_config
from podscribe.pipeline import review_request_key
from podscribe.timefmt import format_duration

EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_WAITING = 3
EXIT_INTERRUPTED = 130


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    raise CliError(message, code)


# --------------------------------------------------------------------------------------
# argument parsing


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podscribe",
        description="Podcast transcription: captions with named speakers, as a durable workflow.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def where(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--server",
            metavar="URL",
            default=os.environ.get("PODSCRIBE_SERVER"),
            help="a running perdure server started with podscribe/template.yaml "
            "(default: $PODSCRIBE_SERVER, else the embedded runtime)",
        )
        p.add_argument(
            "--state-dir",
            metavar="DIR",
            type=Path,
            help="where embedded runs and artifacts are kept "
            "(default: $PODSCRIBE_STATE_DIR, else $XDG_DATA_HOME/podscribe or ~/.local/share/podscribe)",
        )

    t = sub.add_parser("transcribe", help="transcribe an episode (or resume its run)")
    t.add_argument("audio", metavar="AUDIO", help="audio or video file (or an fsspec URL)")
    t.add_argument("--out", metavar="DIR", help="output directory or URL (default: ./AUDIO-STEM)")
    t.add_argument("--config", metavar="FILE", help="configuration file (TOML)")
    t.add_argument("--model", metavar="MODEL", help="Whisper model: a size name (tiny.en, small, large-v3, ...) or a local CTranslate2 directory (overrides asr.model)")
    t.add_argument("--voices", metavar="DIR", help="voice library (default: speakers.voice_library, else the default library)")
    where(t)
    t.add_argument("--fresh", action="store_true", help="start a new run that reuses nothing")
    t.add_argument("--plain", action="store_true", help="plain progress lines, no live display")
    t.add_argument("--quiet", action="store_true", help="no progress, only the result")
    t.add_argument("--verbose", action="store_true", help="show the workers' logs")

    s = sub.add_parser("status", help="list runs")
    where(s)
    s.add_argument("--json", action="store_true", help="machine-readable output")

    r = sub.add_parser("review", help="approve, reject or correct a run waiting for review")
    r.add_argument("run", metavar="RUN", help="run id (or a unique prefix), or the audio file")
    where(r)
    r.add_argument("--approve", action="store_true", help="approve the transcript as it is")
    r.add_argument("--reject", metavar="REASON", help="reject it: the run fails with REASON")
    r.add_argument(
        "--rename", metavar="SPEAKER=NAME", action="append", default=[],
        help="name a speaker (by label, e.g. SPEAKER_00, or by current name); repeatable",
    )
    r.add_argument(
        "--edit", metavar="IDX=TEXT", action="append", default=[],
        help="replace the text of segment IDX; repeatable",
    )
    r.add_argument("--show", action="store_true", help="only show the transcript")
    r.add_argument("--no-wait", action="store_true", help="send the decision and return at once")
    r.add_argument("--plain", action="store_true", help="plain progress lines, no live display")
    r.add_argument("--web", action="store_true", help="review in the browser: audio, click-to-play, rename, edit")
    r.add_argument("--port", type=int, default=0, help="with --web: the page's port (default: any free one)")
    r.add_argument("--no-browser", action="store_true", help="with --web: print the page's address, open nothing")

    v = sub.add_parser("voices", help="the voice library used to name speakers")
    vsub = v.add_subparsers(dest="voices_command", metavar="ACTION", required=True)
    enroll = vsub.add_parser("enroll", help="store (or update) a voiceprint from a recording of one speaker")
    enroll.add_argument("name", metavar="NAME")
    enroll.add_argument("audio", metavar="AUDIO")
    enroll.add_argument("--replace", action="store_true", help="replace the voiceprint instead of averaging")
    vlist = vsub.add_parser("list", help="list enrolled voices")
    vremove = vsub.add_parser("remove", help="delete a voice")
    vremove.add_argument("name", metavar="NAME")
    for p in (enroll, vlist, vremove):
        p.add_argument("--library", metavar="DIR", help="library directory (default: $PODSCRIBE_VOICES, else DATA_HOME/podscribe/voices)")

    from podscribe.app.feedcli import add_parser as add_feed_parser

    add_feed_parser(sub, where)

    o = sub.add_parser("options", help="print every configuration option with its default")
    o.add_argument("--markdown", action="store_true", help="as a markdown table")
    return parser


# --------------------------------------------------------------------------------------
# helpers


def _state_dir(args: argparse.Namespace) -> Path:
    return (args.state_dir or default_state_dir()).expanduser().resolve()


def _is_url(text: str) -> bool:
    return "://" in text and not text.startswith("file://")


def _config(path: str | None) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        if str(exc).startswith("invalid "):
            _fail(f"{path}: invalid configuration: " + "; ".join(exc.errors))
        _fail(_one_line(str(exc)))


def _artifacts_url(config: Config, state_dir: Path) -> str:
    """The config's store when it is set explicitly; else ``{state_dir}/artifacts``."""
    if "store" in config.artifacts.model_fields_set:
        store = config.artifacts.store
        return store if _is_url(store) else str(Path(store).expanduser().resolve())
    return str(state_dir / "artifacts")


def _voice_library(args: argparse.Namespace, config: Config) -> str | None:
    from podscribe.voices import default_library_dir

    if args.voices:
        return str(Path(args.voices).expanduser().resolve())
    if config.speakers.voice_library:
        return str(Path(config.speakers.voice_library).expanduser().resolve())
    default = default_library_dir()
    return str(default.resolve()) if default.is_dir() and any(default.glob("*.json")) else None


def _console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def _worker_logging(verbose: bool) -> None:
    if verbose:
        os.environ["PERDURE_LOG_LEVEL"] = "INFO"
    else:
        os.environ.setdefault("PERDURE_LOG_LEVEL", "CRITICAL")


def _print_result(console: Console, info: RunInfo) -> int:
    """Report a closed (or paused) execution; returns the exit status."""
    if info.status == "SUCCEEDED":
        r = info.result if isinstance(info.result, dict) else {}
        wall = r.get("wall_seconds")
        rtf = r.get("rtf")
        console.print(
            f"done in {format_duration(wall)}"
            + (f" (real-time factor {rtf:.2f})" if isinstance(rtf, int | float) else "")
            + f" · run {info.name}",
            style="bold green",
        )
        speakers = r.get("speakers") or {}
        sources = r.get("speaker_sources") or {}
        if speakers:
            names = ", ".join(
                f"{label} = {name}"
                + (f" ({sources[label]['source']})" if isinstance(sources.get(label), dict) else "")
                for label, name in sorted(speakers.items())
            )
            console.print(f"speakers: {names}")
        if r.get("refine"):
            ref = r["refine"]
            console.print(f"LLM refinement: {ref.get('updates', 0)} corrections, {ref.get('rejected', 0)} rejected")
        if r.get("review"):
            console.print(f"review: {r['review'].get('action')}")
        if r.get("notification") and r["notification"] != "no webhook configured":
            console.print(f"notification: {r['notification']}")
        console.print("outputs:")
        for fmt, path in (r.get("outputs") or {}).items():
            console.print(f"  {fmt:<11} {path}", soft_wrap=True)
        return 0
    if info.status in ("PAUSED", "PAUSING"):
        console.print(f"run {info.name} is paused", style="yellow")
        return EXIT_WAITING
    err = _console(stderr=True)
    err.print(f"error: {info.error_message}", style="red", soft_wrap=True, markup=False)
    return EXIT_FAILED


def _header(audio: str, run_id: str) -> str:
    return f"podscribe · {Path(audio).name if not _is_url(audio) else audio} · run {run_id}"


# --------------------------------------------------------------------------------------
# transcribe


def _with_model(config: Config, model: str | None) -> Config:
    """``config`` with ``--model`` applied (a directory becomes an absolute path)."""
    if not model:
        return config
    from podscribe.asr import check_model

    problem = check_model(model)
    if problem:
        _fail(problem)
    path = Path(model).expanduser()
    value = str(path.resolve()) if path.is_dir() else model
    return config.model_copy(update={"asr": config.asr.model_copy(update={"model": value})})


def cmd_transcribe(args: argparse.Namespace) -> int:
    console = _console()
    state_dir = _state_dir(args)
    config = _with_model(_config(args.config), args.model)
    audio = args.audio
    if not _is_url(audio):
        path = Path(audio.removeprefix("file://")).expanduser()
        if not path.exists():
            _fail(f"{audio}: file not found")
        if not path.is_file():
            _fail(f"{audio}: not a file")
        audio = str(path.resolve())
        stem = path.stem
    else:
        stem = Path(audio.split("?", 1)[0]).stem or "audio"
    out = args.out or str(Path.cwd() / stem)
    if not _is_url(out):
        out = str(Path(out).expanduser().resolve())
    event = build_input(
        audio,
        config,
        out=out,
        artifacts=_artifacts_url(config, state_dir),
        voice_library=_voice_library(args, config),
    )
    if args.fresh:
        event["use_cache"] = False
        event.setdefault("fingerprint", {})["fresh"] = time.time_ns()
        event.pop("run_id")
        from podscribe.pipeline import run_key

        event["run_id"] = run_key(event)
    run_id = event["run_id"]
    _worker_logging(args.verbose)

    run = RunSession(run_id, state_dir=state_dir, server=args.server)
    live = console.is_terminal and not args.plain and not args.quiet
    try:
        attached = run.attach(
            payload_text(event),
            on_wait=lambda: console.print(f"run {run_id} is starting in process {run.holder() or '?'}; watching it"),
        )
        info = attached.info
        if attached.how == "succeeded":
            console.print(f"already transcribed (run {info.name}); use --fresh to run it again")
            return _print_result(console, info)
        if attached.how == "running_elsewhere":
            console.print(f"run {run_id} is running in process {run.holder() or '?'}; watching it")
        elif attached.how == "resumed" and not args.quiet:
            console.print(f"resuming run {info.name}")
        tracker = Tracker(
            run_id=run_id,
            config=config,
            store=ArtifactStore(event["artifacts"]),
            review_hint=f"run `podscribe review {run_id}`"
            + (f" --server {args.server}" if args.server else ""),
        )
        if args.quiet:
            info = _wait_quietly(run.backend, info)
        else:
            info = watch(
                run.backend,
                info,
                console=console,
                tracker=tracker,
                live=live,
                header=_header(audio, info.name),
                poll_s=1.0 if args.server else 0.4,
            )
        return _print_result(console, info)
    except RunError as exc:
        _fail(str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        _console(stderr=True).print(
            f"interrupted: run the same command again to resume run {run_id}", style="yellow"
        )
        return EXIT_INTERRUPTED
    finally:
        run.close()


def _wait_quietly(backend: Backend, info: RunInfo) -> RunInfo:
    while True:
        info = backend.get(info.arn)
        if info.status not in ("RUNNING", "PAUSING"):
            return info
        backend.poke()
        time.sleep(0.5)


# --------------------------------------------------------------------------------------
# status


def _runs(args: argparse.Namespace) -> list[RunInfo]:
    if args.server:
        backend = ServerBackend(args.server)
        try:
            return backend.list_runs()
        finally:
            backend.close()
    return embedded_runs(_state_dir(args))


def _pending_review(backend: Backend, info: RunInfo) -> str | None:
    """The callback id of the review the execution waits for, if it does."""
    tracker = Tracker(run_id=info.run_id)
    tracker.feed(backend.events(info.arn, 0))
    stage = tracker.stages.get("review")
    if stage is not None and stage.status == "waiting":
        return tracker.callback_id
    return None


def cmd_status(args: argparse.Namespace) -> int:
    console = _console()
    runs = _runs(args)
    state_dir = _state_dir(args)
    rows: list[dict[str, Any]] = []
    now = int(time.time() * 1000)
    for info in runs:
        status = info.status
        if info.open and not args.server:
            backend = EmbeddedBackend(state_dir, info.run_id)
            try:
                if _pending_review(backend, info):
                    status = "WAITING FOR REVIEW"
            finally:
                backend.close()
            lock = lock_for(state_dir, info.run_id)
            if status == "RUNNING" and lock.acquire():
                lock.release()
                status = "INTERRUPTED"
        elif info.open:
            server_backend = ServerBackend(args.server)
            try:
                if _pending_review(server_backend, info):
                    status = "WAITING FOR REVIEW"
            finally:
                server_backend.close()
        audio = str((info.input or {}).get("audio", ""))
        end = info.end_ms if info.end_ms is not None else now
        rows.append(
            {
                "run": info.name,
                "status": status,
                "audio": audio,
                "started": datetime.fromtimestamp(info.start_ms / 1000).isoformat(sep=" ", timespec="seconds"),
                "duration": round((end - info.start_ms) / 1000, 1),
                "error": info.error_message if info.status in ("FAILED", "TIMED_OUT", "STOPPED") else None,
            }
        )
        if status == "WAITING FOR REVIEW":
            from podscribe.app.webreview import review_url

            rows[-1]["review"] = review_url(args.server, info.arn) if args.server else f"podscribe review {info.name} --web"

    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        console.print("no runs yet: start one with `podscribe transcribe AUDIO`")
        return 0
    table = Table(show_edge=False)
    table.add_column("run", no_wrap=True, min_width=max(len(r["run"]) for r in rows))
    table.add_column("status", no_wrap=True)
    table.add_column("audio", overflow="fold")
    table.add_column("started")
    table.add_column("duration", no_wrap=True)
    styles = {"SUCCEEDED": "green", "FAILED": "red", "WAITING FOR REVIEW": "yellow", "INTERRUPTED": "yellow"}
    for row in rows:
        table.add_row(
            row["run"],
            f"[{styles.get(row['status'], 'cyan')}]{row['status']}[/]",
            Path(row["audio"]).name if row["audio"] and not _is_url(row["audio"]) else row["audio"],
            row["started"],
            format_duration(row["duration"]),
        )
    console.print(table)
    for row in rows:
        if row["error"]:
            console.print(f"{row['run']}: {row['status']}: {row['error']}", markup=False, highlight=False)
        if row["status"] == "INTERRUPTED":
            console.print(f"{row['run']}: interrupted; run `podscribe transcribe {row['audio']}` again to resume")
        if row.get("review"):
            console.print(f"{row['run']}: waiting for review: {row['review']}", highlight=False, soft_wrap=True)
    return 0


# --------------------------------------------------------------------------------------
# review


def _resolve_run(args: argparse.Namespace) -> tuple[str, list[RunInfo]]:
    """The run a RUN argument names (id, execution name, unique prefix or audio file),
    with its executions, newest first."""
    ref = args.run
    runs = _runs(args)
    by_run: dict[str, list[RunInfo]] = {}
    for info in runs:
        by_run.setdefault(info.run_id, []).append(info)
    if not args.server:
        for run_id in embedded_run_ids(_state_dir(args)):
            by_run.setdefault(run_id, [])
    if ref in by_run:
        return ref, by_run[ref]
    for run_id, infos in by_run.items():
        if any(i.name == ref for i in infos):
            return run_id, infos
    audio = str(Path(ref).expanduser().resolve()) if not _is_url(ref) else ref
    matches = [rid for rid, infos in by_run.items() if any((i.input or {}).get("audio") == audio for i in infos)]
    if not matches:
        matches = [rid for rid in by_run if rid.startswith(ref)]
    if not matches:
        _fail(f"no run matches {ref!r}: see `podscribe status`")
    if len(matches) > 1:
        open_ones = [rid for rid in matches if any(i.open for i in by_run[rid])]
        if len(open_ones) == 1:
            matches = open_ones
        else:
            _fail(f"{ref!r} matches several runs ({', '.join(sorted(matches))}): give the run id")
    return matches[0], by_run[matches[0]]


def cmd_review(args: argparse.Namespace) -> int:
    from podscribe.review import (
        ReviewInputError,
        decision_from_flags,
        interactive_decision,
        render_transcript,
    )

    console = _console()
    run_id, infos = _resolve_run(args)
    open_runs = [i for i in infos if i.open]
    if not open_runs:
        latest = infos[0].status.lower() if infos else "unknown"
        _fail(f"run {run_id} is not waiting for review (it is {latest})", EXIT_FAILED)
    info = open_runs[0]
    if args.web:
        from podscribe.app.webreview import review_in_browser

        code = review_in_browser(args, console, info, _state_dir(args))
        return code if code is not None else _continue_after_review(args, console, run_id, info)
    state_dir = _state_dir(args)
    backend: Backend = ServerBackend(args.server) if args.server else EmbeddedBackend(state_dir, run_id)
    try:
        callback_id = _pending_review(backend, info)
        if callback_id is None:
            tracker = Tracker(run_id=run_id)
            tracker.feed(backend.events(info.arn, 0))
            current = next(reversed(tracker.stages.values())).label if tracker.stages else "starting"
            _fail(f"run {run_id} is not waiting for review (now: {current})", EXIT_FAILED)
        inp = info.input or {}
        store = ArtifactStore(str(inp.get("artifacts")))
        request = store.get_json(review_request_key(run_id))
        transcript = store.get_transcript(request["transcript_key"])
        sources = (request.get("speakers") or {}).get("sources") or {}
        try:
            decision = decision_from_flags(
                approve=args.approve,
                reject=args.reject,
                rename=args.rename,
                edit=args.edit,
                transcript=transcript,
            )
        except ReviewInputError as exc:
            _fail(str(exc))
        if decision is None or args.show:
            render_transcript(console, transcript, sources, title=_header(str(inp.get("audio", "")), info.name))
            if args.show:
                return 0
            if not sys.stdin.isatty():
                _fail("no decision: use --approve, --reject REASON, --rename or --edit (or run it on a terminal)")
            decision = interactive_decision(console, transcript)
            if decision is None:
                console.print("no decision sent; the run keeps waiting")
                return EXIT_WAITING
        backend.send_callback(callback_id, decision.to_json())
        console.print(f"sent: {decision.action}" + (f" ({decision.reason})" if decision.reason else ""))
    finally:
        backend.close()

    if args.no_wait:
        return 0
    return _continue_after_review(args, console, run_id, info)


def _continue_after_review(args: argparse.Namespace, console: Console, run_id: str, info: RunInfo) -> int:
    """Follow the run to its end; in embedded mode run it here unless another process does."""
    _worker_logging(False)
    run = RunSession(run_id, state_dir=_state_dir(args), server=args.server)
    if not run.owner:
        console.print(f"the run continues in process {run.holder() or '?'} (podscribe transcribe)")
        run.close()
        return 0
    inp = info.input or {}
    try:
        cfg = parse_config(inp.get("config") or {})
        tracker = Tracker(run_id=run_id, config=cfg, store=ArtifactStore(str(inp.get("artifacts"))))
        live = console.is_terminal and not args.plain
        final = watch(run.backend, info, console=console, tracker=tracker, live=live, header=_header(str(inp.get("audio", "")), info.name))
        return _print_result(console, final)
    except KeyboardInterrupt:
        _console(stderr=True).print(f"interrupted: `podscribe transcribe` resumes run {run_id}", style="yellow")
        return EXIT_INTERRUPTED
    finally:
        run.close()


# --------------------------------------------------------------------------------------
# voices and options


def cmd_voices(args: argparse.Namespace) -> int:
    from podscribe.audio import AudioError
    from podscribe.voices import VoiceError, enroll, list_voices, remove

    console = _console()
    library = args.library
    try:
        if args.voices_command == "enroll":
            if not Path(args.audio).exists():
                _fail(f"{args.audio}: file not found")
            vp = enroll(args.name, args.audio, library, merge=not args.replace)
            console.print(f"enrolled {vp.name} ({vp.count} recording{'s' if vp.count != 1 else ''}) in {vp.path}")
            return 0
        if args.voices_command == "list":
            voices = list_voices(library)
            if not voices:
                console.print("no voices enrolled: `podscribe voices enroll NAME AUDIO`")
                return 0
            table = Table(show_edge=False)
            for col in ("name", "recordings", "updated", "file"):
                table.add_column(col)
            for v in voices:
                table.add_row(v.name, str(v.count), v.updated, str(v.path or ""))
            console.print(table)
            return 0
        if remove(args.name, library):
            console.print(f"removed {args.name}")
            return 0
        _fail(f"no voice named {args.name!r}", EXIT_FAILED)
    except (AudioError, VoiceError) as exc:
        _fail(_one_line(str(exc)), EXIT_FAILED)


def cmd_options(args: argparse.Namespace) -> int:
    from podscribe.config import option_rows, options_table

    if args.markdown:
        sys.stdout.write(options_table())
        return 0
    table = Table(show_edge=False)
    for col in ("option", "default", "description"):
        table.add_column(col, overflow="fold")
    for option, _type, default, description in option_rows():
        table.add_row(option, default, description)
    _console().print(table)
    return 0


def cmd_feed(args: argparse.Namespace) -> int:
    from podscribe.app.feedcli import cmd_feed as run_feed

    config = _with_model(_config(args.config), args.model)
    state_dir = _state_dir(args)
    if args.server:
        _fail("podscribe feed runs embedded only (no --server yet)")
    _worker_logging(False)
    return run_feed(
        args,
        config=config,
        state_dir=state_dir,
        artifacts=_artifacts_url(config, state_dir),
        voice_library=_voice_library(args, config),
        fail=_fail,
    )


COMMANDS = {
    "transcribe": cmd_transcribe,
    "feed": cmd_feed,
    "status": cmd_status,
    "review": cmd_review,
    "voices": cmd_voices,
    "options": cmd_options,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except CliError as exc:
        _console(stderr=True).print(f"error: {exc}", style="red", soft_wrap=True, markup=False)
        return exc.code
    except ServerError as exc:
        _console(stderr=True).print(f"error: {_one_line(str(exc))}", style="red", soft_wrap=True, markup=False)
        return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
