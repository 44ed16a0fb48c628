"""AnsibleRunner: playbooks, ad-hoc checks, syntax checks and inventory validation through
ansible-runner, with live per-host events and credentials kept secret.

ansible-runner does the work: ``RunnerConfig`` + ``Runner`` (what ``ansible_runner.run_async``
is made of), or ``InventoryConfig`` for ``ansible-inventory --list``, run in a thread of
this runner with its ``event_handler`` (stdout and structured events, live),
``status_handler`` (ansible-runner's status as events), ``cancel_callback`` (how a stop
reaches it) and ``finished_callback``. Nothing is kept on disk: ansible-runner is told to
write no stdout file and no event files, and the run's private directory is removed at the
end (``keep_data_dir`` keeps it, without the credentials).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from runwright.runners.ansible import inputs, processes
from runwright.runners.ansible.progress import Gate, Progress, short
from runwright.runners.base import Exit, RunContext, Runner, RunnerError
from runwright.runners.environment import base_environment
from runwright.runners.hooks import Liveness, OnWorkerLost, Stop
from runwright.runners.options import Option
from runwright.runners.process_identity import in_this_place, place
from runwright.runners.spec import RunSpec, SpecError
from runwright.runners.status import Status

#: The most hosts handled in parallel (``forks``): each is a process.
MAX_FORKS = 10_000

ACTIONS = ("playbook", "ping", "facts", "module", "syntax_check", "inventory")
#: Ansible's exit codes that mean it could not run what it was given.
ERROR_CODES = {1: "error", 4: "parser error", 5: "bad or incomplete options", 250: "unexpected error"}
_STR_LIST = (str, list)


class AnsibleRunner(Runner):
    """Ansible playbooks and ad-hoc checks through ansible-runner."""

    name = "ansible"
    command = "none"
    #: ansible-playbook and its modules on the control host start from this process's
    #: environment (through the environment policy), so what they inherit is masked.
    inherits_environment = True
    on_worker_lost = OnWorkerLost.STOP
    #: Deleting what the run made may wait on the engine, the cluster or the server.
    cleanup_seconds = 30.0
    options = (
        Option("action", str, default="playbook", choices=ACTIONS,
               help="What to run: a playbook, a ping or fact gathering of the inventory's hosts, an ad-hoc module, "
                    "a playbook's syntax check, or an inventory validation (`ansible-inventory --list`)."),
        Option("playbook", str, help="Playbook path (relative to `project_dir` or `cwd`), or the playbook's YAML text "
                                     "(anything spanning lines)."),
        Option("inventory", _STR_LIST, help="Inventory path, inventory text (INI or YAML, spanning lines), "
                                            "or a list of `host[:port]`."),
        Option("project_dir", str, help="Project directory: the run's working directory; its `roles/` are found."),
        Option("roles_path", _STR_LIST, help="More directories to find roles in."),
        Option("extra_vars", dict, help="Extra variables (written to a file in the private directory, `-e @file`)."),
        Option("limit", _STR_LIST, help="Limit the run to these hosts or groups (`--limit`)."),
        Option("tags", _STR_LIST, help="Only tasks with these tags (`--tags`)."),
        Option("skip_tags", _STR_LIST, help="Skip tasks with these tags (`--skip-tags`)."),
        Option("check", bool, default=False, help="Check mode: report what would change (`--check`)."),
        Option("diff", bool, default=False, help="Show the differences in changed files (`--diff`)."),
        Option("forks", int, minimum=1, maximum=MAX_FORKS, help="Hosts handled in parallel (`--forks`)."),
        Option("verbosity", int, default=0, minimum=0, maximum=5, help="Ansible's verbosity (`-v`...)."),
        Option("module", str, help="The module of an ad-hoc run (`action: module`)."),
        Option("module_args", (str, dict), help="The module's arguments: `k=v ...` text or an object."),
        Option("host_pattern", str, default="all", help="Hosts an ad-hoc run (ping, facts, module) targets."),
        Option("fact_filter", _STR_LIST, help="Fact name patterns kept by `action: facts` (`setup` filter)."),
        Option("ssh_user", str, help="Remote user to connect as."),
        Option("ssh_key", str, secret=True, help="SSH private key text (0600 file in the private directory, "
                                                 "removed after the run)."),
        Option("ssh_password", str, secret=True,
               help="SSH password (answered to Ansible's prompt; ansible-core hands it to ssh through SSH_ASKPASS, "
                    "or sshpass with ANSIBLE_SSH_PASSWORD_MECHANISM=sshpass)."),
        Option("become", bool, default=False, help="Run tasks with privilege escalation (`--become`)."),
        Option("become_user", str, help="User to become (default root)."),
        Option("become_method", str, help="How to become (default sudo)."),
        Option("become_password", str, secret=True, help="Password for privilege escalation (answered to the prompt)."),
        Option("vault_password", str, secret=True, help="Vault password (answered to the prompt)."),
        Option("color", bool, default=False, help="Keep Ansible's colours in the output."),
        Option("keep_data_dir", bool, default=False,
               help="Keep the run's private directory (its path is in the metadata); credentials are removed anyway."),
        Option("data_dir_base", str, help="Where private directories are created (default: the temp directory)."),
    )

    # -- validation ----------------------------------------------------------------------------
    def validate(self, spec: RunSpec) -> None:
        super().validate(spec)
        opts = spec.options
        action = opts.get("action", "playbook")
        if action in ("playbook", "syntax_check") and not opts.get("playbook"):
            raise SpecError("options.playbook", f"is required for action {action!r}")
        if action in ("ping", "facts", "module", "inventory") and not opts.get("inventory"):
            raise SpecError("options.inventory", f"is required for action {action!r}")
        if action == "module" and not opts.get("module"):
            raise SpecError("options.module", "is required for action 'module'")
        inventory = opts.get("inventory")
        if isinstance(inventory, list):
            if not inventory:
                raise SpecError("options.inventory", "the host list is empty")
            inputs.host_list_inventory(inventory)  # raises SpecError naming the bad entry
        for name in ("limit", "tags", "skip_tags", "roles_path", "fact_filter"):
            value = opts.get(name)
            if isinstance(value, list) and not all(isinstance(v, str) and v for v in value):
                raise SpecError(f"options.{name}", "must be a string or a list of non-empty strings")
        if spec.stdin is not None:
            raise SpecError("stdin", "is not supported by the ansible runner")

    # -- life cycle ------------------------------------------------------------------------------
    def prepare(self, ctx: RunContext) -> None:
        opts = ctx.options
        prepared = inputs.build(opts, run_id=ctx.run_id, execution_id=ctx.execution_id, env=ctx.spec.env,
                                inherit_env=ctx.spec.inherit_env, cwd=ctx.spec.cwd)
        ctx.state["prepared"] = prepared
        stop = ctx.state["stop"] = threading.Event()
        gate = ctx.state["gate"] = Gate(stop)
        ctx.state["progress"] = Progress(ctx, opts["action"], gate)
        if opts.get("keep_data_dir"):
            ctx.set_metadata(data_dir=str(prepared.private_dir))
        try:
            ctx.state["ansible"] = self._make_runner(ctx, prepared)
        except RunnerError:
            raise
        except ImportError:
            raise RunnerError("the ansible runner needs ansible-runner: pip install 'runwright[ansible]'") from None
        except Exception as exc:  # ansible-runner's ConfigurationError and friends
            why = short(exc, mask=ctx.redactor.text)
            raise RunnerError(f"ansible-runner refused the run: {type(exc).__name__}: {why}") from None

    def _make_runner(self, ctx: RunContext, prepared: inputs.Prepared) -> Any:
        from ansible_runner.runner import Runner as AnsibleRunnerCore

        progress: Progress = ctx.state["progress"]
        stop: threading.Event = ctx.state["stop"]
        handlers: dict[str, Callable[..., Any]] = {
            "event_handler": progress.handle,
            "status_handler": lambda data, runner_config=None: self._status(ctx, data),
            "cancel_callback": stop.is_set,
            "finished_callback": lambda runner: ctx.state.update(rc=runner.rc),
        }
        kwargs = dict(prepared.kwargs)
        if ctx.options["action"] == "inventory":
            # ansible_runner.run_command("ansible-inventory", ...), built the same way; the
            # executable by its path, as the run's PATH may differ from the worker's.
            from ansible_runner.config.command import CommandConfig

            command_kwargs = {k: v for k, v in kwargs.items()
                              if k not in ("inventory", "limit", "tags", "skip_tags", "forks", "verbosity", "cmdline",
                                           "project_dir")}
            args = ["--list"] + [a for inv in prepared.inventories for a in ("-i", inv)]
            if "--ask-vault-password" in (kwargs.get("cmdline") or ""):
                args.append("--ask-vault-password")
            config = CommandConfig(**command_kwargs)
            config.prepare_run_command(os.path.join(prepared.bin_dir, "ansible-inventory"), args)
        else:
            from ansible_runner.config.runner import RunnerConfig

            config = RunnerConfig(**kwargs)
            config.prepare()
        # ansible-runner starts from this process's whole environment: keep what the
        # environment policy lets a command inherit (everything for the CLI, the allow-list
        # under a worker: never its DATABASE_URL or broker URL; nothing without inherit_env),
        # the spec's env and what ansible-runner itself set.
        allowed = {os.fsdecode(k) for k in base_environment(ctx.spec.inherit_env)}
        keep = set(kwargs["envvars"]) | allowed
        config.env = {k: v for k, v in config.env.items()
                      if k in keep or k not in os.environ or os.environ[k] != v}
        return AnsibleRunnerCore(config, **handlers)

    def _status(self, ctx: RunContext, data: Mapping[str, Any]) -> None:
        status = str(data.get("status", ""))
        ctx.state["ansible_status"] = status
        if status == "running":
            # ansible-runner wrote its `command` artifact (the command line and the whole
            # environment, the spec's secret env included) just before the process started:
            # it has no use here, so it does not stay on disk for the length of the run.
            _remove_command_artifacts(ctx.state.get("prepared"))
        ctx.state["gate"].report(ctx.event, "status", {"status": status})

    def start(self, ctx: RunContext) -> None:
        core = ctx.state["ansible"]
        prepared: inputs.Prepared = ctx.state["prepared"]
        thread = threading.Thread(target=self._run_core, args=(ctx, core), daemon=True,
                                  name=f"runwright-ansible-{ctx.run_id[:8]}")
        ctx.state["thread"] = thread
        thread.start()
        # The handle once ansible's process exists (its reports wait at the gate meanwhile).
        pid = None
        while thread.is_alive() and not ctx.stopping:
            pid = processes.child_of_run(ctx.run_id)
            if pid is not None:
                break
            ctx.wait_stop(0.01)
        handle: dict[str, Any] = {"run_id": ctx.run_id, **place(),
                                  "data_dir": str(prepared.private_dir), "execution_id": ctx.execution_id}
        if pid is not None:
            handle.update(pid=pid, start_time=processes.start_time(pid))
        ctx.set_handle(handle)

    def _run_core(self, ctx: RunContext, core: Any) -> None:
        try:
            core.run()
        except BaseException as exc:  # handed to wait() as the run's error
            ctx.state["crash"] = exc

    def stream(self, ctx: RunContext) -> None:
        ctx.state["gate"].open()
        ctx.state["thread"].join()

    def wait(self, ctx: RunContext) -> Exit:
        ctx.state["thread"].join()
        core = ctx.state["ansible"]
        progress: Progress = ctx.state["progress"]
        crash = ctx.state.get("crash")
        if crash is not None:
            return Exit(error=f"ansible-runner failed: {type(crash).__name__}: {short(crash, mask=ctx.redactor.text)}")
        rc = ctx.state.get("rc", core.rc)
        metadata = self._metadata(ctx, progress)
        if rc == 127 and progress.host_results == 0:
            return Exit(exit_code=rc, error=f"ansible could not start: {progress.last_output() or 'command not found'}",
                        metadata=metadata)
        action = ctx.options["action"]
        if action == "inventory":
            return self._inventory_exit(ctx, rc, progress, metadata)
        if rc == 0:
            return Exit(exit_code=0, metadata=metadata)
        if progress.failures or progress.unreachable:
            failed_hosts = _failed_hosts(progress)
            if progress.recap is not None:  # rescued failures are not failures
                progress.failures = {h: v for h, v in progress.failures.items() if h in failed_hosts}
            text = progress.failure_text()
            if text:
                metadata.update(failed_hosts=sorted(progress.failures), unreachable_hosts=sorted(progress.unreachable))
                return Exit(exit_code=rc, status=Status.FAILED, reason=text, metadata=metadata)
        message = progress.ansible_error() or progress.last_output()
        what = ERROR_CODES.get(rc or 0, f"exit code {rc}")
        return Exit(exit_code=rc, error=f"ansible {what}: {message}" if message else f"ansible {what}", metadata=metadata)

    def _metadata(self, ctx: RunContext, progress: Progress) -> dict[str, Any]:
        metadata: dict[str, Any] = {"action": ctx.options["action"], "ansible_status": ctx.state.get("ansible_status"),
                                    "events": progress.events}
        if progress.recap is not None:
            metadata["stats"] = progress.recap
        if progress.pid is not None:
            metadata["pid"] = progress.pid
        if ctx.options["action"] == "ping":
            metadata["ping"] = progress.ping
        if ctx.options["action"] == "facts":
            metadata["facts"] = progress.facts
        return metadata

    def _inventory_exit(self, ctx: RunContext, rc: int | None, progress: Progress, metadata: dict[str, Any]) -> Exit:
        if rc != 0:
            message = progress.ansible_error() or progress.last_output()
            return Exit(exit_code=rc, error=f"inventory is not valid: {message}" if message else "inventory is not valid",
                        metadata=metadata)
        prepared: inputs.Prepared = ctx.state["prepared"]
        stdout = next(prepared.private_dir.glob("artifacts/*/stdout"), None)
        from ansible_runner.utils import sanitize_json_response

        try:  # warnings may come before the JSON: ansible-runner's own get_inventory skips them too
            data = json.loads(sanitize_json_response(stdout.read_text())) if stdout is not None else {}
        except (OSError, ValueError) as exc:
            return Exit(exit_code=rc, error=f"ansible-inventory printed no inventory: {exc}", metadata=metadata)
        groups = sorted(k for k in data if k != "_meta")
        found = set((data.get("_meta") or {}).get("hostvars", {}))
        for group in groups:
            found.update((data.get(group) or {}).get("hosts") or [])
        hosts = sorted(found)
        metadata.update(hosts=hosts, groups=groups)
        return Exit(exit_code=0, metadata=metadata)

    def terminate(self, ctx: RunContext, grace: float) -> Stop:
        stop: threading.Event | None = ctx.state.get("stop")
        thread: threading.Thread | None = ctx.state.get("thread")
        if stop is not None:
            stop.set()  # ansible-runner's cancel_callback: it kills the process group
        if thread is None:
            return Stop(True, "ansible had not started")
        thread.join(max(grace, 0.0) + inputs.POLL_SECONDS + 1.0)
        killed = processes.kill_run(ctx.run_id)  # what left the group (setsid, daemons)
        left = processes.pids_of_run(ctx.run_id)
        detail = "cancelled through ansible-runner (process group killed)"
        if killed:
            detail += f"; killed {killed} process(es) of the run outside its group"
        if thread.is_alive() or left:
            return Stop(False, detail + f"; still running: {'ansible-runner' if thread.is_alive() else ''} "
                                        f"{', '.join(map(str, left))}".rstrip())
        return Stop(True, detail)

    def cleanup(self, ctx: RunContext) -> None:
        prepared: inputs.Prepared | None = ctx.state.get("prepared")
        thread: threading.Thread | None = ctx.state.get("thread")
        if thread is not None and thread.is_alive():
            ctx.state["stop"].set()
            thread.join(inputs.POLL_SECONDS + 5.0)
        if thread is not None:
            # What the run left on the control host: its SSH connection masters (ControlPersist),
            # and anything a task started in the background.
            processes.kill_run(ctx.run_id)
        if prepared is None:
            return
        for path in prepared.credentials:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        if ctx.options.get("keep_data_dir"):
            shutil.rmtree(prepared.private_dir / "credentials", ignore_errors=True)
            _remove_command_artifacts(prepared)
            # Kept on purpose: no longer the sweep's to remove.
            with contextlib.suppress(FileNotFoundError):
                (prepared.private_dir / inputs.OWNER_FILE).unlink()
        else:
            shutil.rmtree(prepared.private_dir, ignore_errors=True)

    # -- hooks -------------------------------------------------------------------------------------
    @classmethod
    def probe(cls, handle: Mapping[str, Any]) -> Liveness:
        """ALIVE while a process of the run (by ``RUNWRIGHT_RUN_ID``) lives here; UNKNOWN when
        the handle is of another host, boot or pid namespace (its processes are not visible)."""
        if not in_this_place(handle):
            return Liveness.UNKNOWN
        return Liveness.ALIVE if processes.pids_of_run(str(handle.get("run_id", ""))) else Liveness.GONE

    @classmethod
    def stop_handle(cls, handle: Mapping[str, Any], grace: float) -> Stop:
        """Kill every process of the run and remove its private directory."""
        if not in_this_place(handle):
            return Stop(False, f"the run is on host {handle.get('host')!r}, not in this machine's pid namespace")
        run_id = str(handle.get("run_id") or "")
        if not run_id:
            return Stop(False, "the handle names no run")
        killed = processes.kill_run(run_id)
        _remove_private_dir(handle.get("data_dir"))
        if processes.pids_of_run(run_id):
            return Stop(False, f"processes of run {run_id} survived SIGKILL")
        return Stop(True, f"killed {killed} process(es) of the ansible run" if killed else "the ansible run had ended")

    @classmethod
    def sweep(cls, is_active: Callable[[str], bool]) -> list[str]:
        """Kill this host's ansible processes whose execution is no longer active, and remove
        private directories (in the temp directory) owned by such executions."""
        removed = []
        for tag, pids in processes.owners().items():
            if is_active(tag):
                continue
            for pid in pids:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                    removed.append(f"pid {pid} (execution {tag})")
        import tempfile

        for path in Path(tempfile.gettempdir()).glob(f"{inputs.DIR_PREFIX}*"):
            try:
                owner = (path / inputs.OWNER_FILE).read_text().strip()
            except OSError:
                continue
            if ":" in owner and not is_active(owner):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(f"data directory {path} (execution {owner})")
        return removed


def _failed_hosts(progress: Progress) -> set[str]:
    if progress.recap is None:
        return set(progress.failures)
    return {h for h, counts in progress.recap.items() if counts.get("failed")}


def _remove_private_dir(value: Any) -> None:
    if not value:
        return
    path = Path(str(value))
    if path.name.startswith(inputs.DIR_PREFIX) and (path / inputs.OWNER_FILE).exists():
        shutil.rmtree(path, ignore_errors=True)


__all__ = ["ACTIONS", "AnsibleRunner"]


def _remove_command_artifacts(prepared: Any) -> None:
    """ansible-runner's ``artifacts/<ident>/command`` holds the run's whole environment."""
    if prepared is None:
        return
    for path in prepared.private_dir.glob("artifacts/*/command"):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
