"""Serving: the vLLM commands, engine choice, startup failures of a server process, reuse, and the process
group leaving nothing behind. The real vLLM server is driven in tests/graph/test_vllm_real.py."""

from __future__ import annotations

import importlib.util
import json
import shlex
import socket
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from procfs import alive

from graph.serve import vllm as serve_vllm
from graph.serve.cli import main
from graph.serve.command import API_SERVER, reasoning_note, vllm_command
from graph.serve.embedded import embedded_server, endpoints_or_embedded, engine_name
from graph.serve.llamacpp import MODEL_ALIAS, llama_server_command
from graph.serve.probe import PortState, probe
from graph.serve.process import Launch, ServeError, ServerProcess
from state.processes import cpu_threads


def process(command: list[str], port: int, **kw: Any) -> ServerProcess:
    """A server process for `command` (a stand-in program: these tests are about the life cycle)."""
    return ServerProcess(Launch(command, "fake", "fake"), port=port, **kw)

# -- vLLM command ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "parser"),
    [
        ("Qwen/Qwen3-32B", "qwen3"),
        ("Qwen/Qwen3-30B-A3B", "qwen3"),
        ("deepseek-ai/DeepSeek-R1", "deepseek_r1"),
        ("deepseek-ai/DeepSeek-R1-Distill-Qwen-32B", "deepseek_r1"),
        ("deepseek-ai/DeepSeek-R1-0528-Qwen3-8B", "deepseek_r1"),
        ("Qwen/QwQ-32B", "deepseek_r1"),
        ("openai/gpt-oss-120b", "openai_gptoss"),
        ("/models/gpt_oss_20b/", "openai_gptoss"),
        ("zai-org/GLM-4.5-Air", "glm45"),
        ("runs/qwen3-32b-muser/stage2/checkpoint-600", "qwen3"),
        ("meta-llama/Llama-3.1-8B-Instruct", None),
        ("deepseek-ai/DeepSeek-V3", None),
    ],
)
def test_reasoning_parser_follows_the_model_family(model: str, parser: str | None) -> None:
    cmd = vllm_command(model)
    assert cmd[:5] == [sys.executable, "-m", API_SERVER, "--model", model]
    if parser is None:
        assert "--reasoning-parser" not in cmd
    else:
        assert cmd[cmd.index("--reasoning-parser") + 1] == parser


def test_full_command_for_a_sharded_qwen3() -> None:
    cmd = vllm_command(
        "Qwen/Qwen3-32B",
        tensor_parallel_size=4,
        data_parallel_size=2,
        port=8001,
        host="0.0.0.0",
        served_model_name="qwen3-32b",
        extra_args=["--max-model-len", "40960"],
    )
    assert shlex.join(cmd[3:]) == (
        "--model Qwen/Qwen3-32B --tensor-parallel-size 4 --data-parallel-size 2 --reasoning-parser qwen3 "
        "--served-model-name qwen3-32b --host 0.0.0.0 --port 8001 --max-model-len 40960"
    )


def test_explicit_parser_choices_win_over_the_family() -> None:
    assert "deepseek_r1" in vllm_command("my/student", reasoning_parser="deepseek_r1")
    assert "--reasoning-parser" not in vllm_command("Qwen/Qwen3-8B", reasoning_parser="none")
    cmd = vllm_command("Qwen/Qwen3-8B", extra_args=["--reasoning-parser=deepseek_r1"])
    assert cmd.count("--reasoning-parser") == 0 and cmd[-1] == "--reasoning-parser=deepseek_r1"


def test_unknown_family_gets_a_note_instead_of_a_parser() -> None:
    note = reasoning_note("meta-llama/Llama-3.1-8B-Instruct", "auto")
    assert "none known" in note and "--reasoning-parser" in note
    assert "thinking" in reasoning_note("deepseek-ai/DeepSeek-V3.1", "auto")


@pytest.mark.parametrize("kwargs", [{"tensor_parallel_size": 0}, {"data_parallel_size": -1}, {"port": 70000}])
def test_bad_sizes_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        vllm_command("Qwen/Qwen3-8B", **kwargs)


def test_cli_dry_run_prints_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--backend", "vllm", "--model", "Qwen/Qwen3-32B", "--tensor-parallel-size", "4", "--dry-run"]
    assert main([*argv, "--", "--gpu-memory-utilization", "0.9"]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == shlex.join([sys.executable, "-m", API_SERVER]) + (
        " --model Qwen/Qwen3-32B --tensor-parallel-size 4 --reasoning-parser qwen3 --port 8000 "
        "--gpu-memory-utilization 0.9"
    )
    assert "reasoning parser: qwen3" in out.err


def test_cli_without_vllm_installed_gives_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "vllm" else real_find_spec(name, *a))
    assert main(["--backend", "vllm", "--model", "Qwen/Qwen3-32B"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: vLLM is not installed")
    assert main(["--backend", "vllm", "--port", str(free_port())]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: vLLM is not installed")


def test_embedded_vllm_command_serves_the_converted_smollm2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(serve_vllm, "embedded_model_dir", lambda: tmp_path / "smollm2")
    monkeypatch.setattr(serve_vllm, "check_installed", lambda: None)
    assert main(["--port", "8999", "--dry-run", "--", "--reasoning-parser", "olmo3"]) == 0
    cmd = shlex.split(capsys.readouterr().out.strip())
    assert cmd[:5] == [sys.executable, "-m", API_SERVER, "--model", str(tmp_path / "smollm2")]
    text = " ".join(cmd)
    assert "--served-model-name smollm2-135m-instruct" in text and "--port 8999" in text
    assert "--enforce-eager" in text and "--max-model-len 8192" in text and text.endswith("--reasoning-parser olmo3")


def test_engine_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MUSER_EMBEDDED_ENGINE", raising=False)
    assert engine_name() == "vllm"
    monkeypatch.setenv("MUSER_EMBEDDED_ENGINE", "LlamaCpp")
    assert engine_name() == "llamacpp"
    assert engine_name("vllm") == "vllm"
    monkeypatch.setenv("MUSER_EMBEDDED_ENGINE", "tgi")
    with pytest.raises(ServeError, match="unknown embedded engine 'tgi'"):
        engine_name()


def test_vllm_with_cuda_companions_on_a_cpu_machine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: object() if name in ("vllm", "torchvision") else real_find_spec(name, *a))
    with pytest.raises(ServeError, match="pip uninstall -y torchvision"):
        serve_vllm.check_installed()


# -- embedded server startup failures ---------------------------------------------------------------


def test_llama_command_leaves_a_core_for_the_pipeline_when_decoding() -> None:
    def flag(cmd: list[str], name: str) -> str:
        return cmd[cmd.index(name) + 1]

    cmd = llama_server_command(Path("m.gguf"), host="127.0.0.1", port=9)
    cores = cpu_threads()
    assert flag(cmd, "--n_threads") == str(max(1, cores - 1)) and flag(cmd, "--n_threads_batch") == str(cores)
    assert flag(cmd, "--model_alias") == MODEL_ALIAS and flag(cmd, "--interrupt_requests") == "False"
    pinned = llama_server_command(Path("m.gguf"), host="127.0.0.1", port=9, threads=3, chat_format="chatml")
    assert flag(pinned, "--n_threads") == flag(pinned, "--n_threads_batch") == "3"
    assert flag(pinned, "--chat_format") == "chatml"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Handler(BaseHTTPRequestHandler):
    """A web server that is not an OpenAI server (404 HTML), or, with `hang_models`, one that is busy."""

    hang_models = False

    def do_GET(self) -> None:
        if self.hang_models and self.path == "/v1/models":
            time.sleep(2)
        if self.hang_models and self.path == "/openapi.json":
            body, status, kind = json.dumps({"paths": {"/v1/chat/completions": {}}}).encode(), 200, "json"
        else:
            body, status, kind = b"<html><body>Not Found</body></html>", 404, "html"
        self.send_response(status)
        self.send_header("Content-Type", f"text/{kind}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def html_server() -> Iterator[int]:
    """A plain web server on 127.0.0.1 (random port) that answers 404 HTML; yields its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


def test_port_taken_by_another_program(html_server: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert probe("127.0.0.1", html_server)[0] is PortState.FOREIGN
    expected = f"port {html_server} is in use by another program; pass --port"
    with pytest.raises(ServeError, match=expected):
        process([sys.executable, "-c", "pass"], html_server).start()
    with pytest.raises(ServeError, match=expected), endpoints_or_embedded([], port=html_server, log=print):
        pytest.fail("must not yield")
    assert main(["--backend", "llamacpp", "--model-file", __file__, "--port", str(html_server), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("error: ")


def test_busy_openai_server_is_recognised_by_its_routes() -> None:
    handler = type("Busy", (_Handler,), {"hang_models": True})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        assert probe("127.0.0.1", int(server.server_address[1]), timeout=0.5)[0] is PortState.OPENAI
    finally:
        server.shutdown()
        server.server_close()


def test_missing_model_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.gguf"
    assert main(["--backend", "llamacpp", "--model-file", str(missing), "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "missing.gguf not found; pass --model-file" in err


def test_crash_at_startup_reports_the_last_stderr_line() -> None:
    script = (
        "import sys, time; print('loading model', file=sys.stderr); time.sleep(0.3); "
        "print('ValueError: Failed to load model from file: broken.gguf', file=sys.stderr); sys.exit(3)"
    )
    server = process([sys.executable, "-c", script], free_port())
    with pytest.raises(ServeError) as info:
        server.start()
    message = str(info.value)
    assert "exit code 3" in message and message.endswith("Failed to load model from file: broken.gguf")
    assert "\n" not in message and server.pid is None


def test_startup_time_out_stops_the_process() -> None:
    server = process([sys.executable, "-c", "import time; time.sleep(60)"], free_port(), startup_timeout=1.0)
    began = time.monotonic()
    with pytest.raises(ServeError, match=r"did not answer on .* within 1s"):
        server.start()
    assert time.monotonic() - began < 10 and server.pid is None


FAKE_OPENAI = textwrap.dedent(
    """
    import json, subprocess, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    with open(sys.argv[2], "w") as f:
        f.write(str(child.pid))

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"object": "list", "data": [{"id": "fake", "object": "model"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
    """
)


def test_stop_leaves_no_process_of_the_group(tmp_path: Path) -> None:
    script = tmp_path / "fake_openai.py"
    script.write_text(FAKE_OPENAI)
    port = free_port()
    pid_file = tmp_path / "grandchild.pid"
    server = process([sys.executable, str(script), str(port), str(pid_file)], port).start()
    pid = server.pid
    assert pid is not None and probe("127.0.0.1", port) == (PortState.OPENAI, ["fake"])
    grandchild = int(pid_file.read_text())
    server.stop()
    assert not alive(pid) and not alive(grandchild)
    assert probe("127.0.0.1", port)[0] is PortState.FREE
    server.stop()  # idempotent


def test_given_base_urls_pass_through_untouched() -> None:
    urls = ["http://gpu-a:8000/v1", "http://gpu-b:8000/v1"]
    with endpoints_or_embedded(urls, log=pytest.fail) as got:
        assert got == urls


def test_running_openai_server_is_reused_and_left_running(stub: Any) -> None:
    port, url = stub.port, stub.url
    logs: list[str] = []
    with endpoints_or_embedded([], port=port, log=logs.append) as got:
        assert got == [url]
    assert probe("127.0.0.1", port)[0] is PortState.OPENAI
    assert logs and "reusing" in logs[0] and "stub-model" in logs[0]


# -- embedded_server's life cycle, on a stand-in engine -----------------------------------------------


@pytest.fixture
def fake_engine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Register an engine `fake` that serves FAKE_OPENAI; returns the file its grandchild's pid lands in."""
    import types

    from graph.serve import embedded as serve

    script, pid_file = tmp_path / "fake_openai.py", tmp_path / "grandchild.pid"
    script.write_text(FAKE_OPENAI)

    def launch(*, host: str, port: int) -> Launch:
        return Launch([sys.executable, str(script), str(port), str(pid_file)], "fake", "fake", startup_timeout=30)

    module = types.SimpleNamespace(launch=launch, PROFILE={"contgen_api": "completions"}, CONCURRENCY=3)
    monkeypatch.setitem(serve.ENGINES, "fake", module)
    return pid_file


def test_embedded_server_starts_reuses_and_stops(fake_engine: Path) -> None:
    port, logs = free_port(), []
    with embedded_server(port=port, log=logs.append, engine="fake") as emb:
        assert emb.url == f"http://127.0.0.1:{port}/v1" and emb.concurrency == 3
        assert emb.profile == {"contgen_api": "completions"}
        grandchild = int(fake_engine.read_text())
        with endpoints_or_embedded([], port=port, log=logs.append) as again:
            assert again == [emb.url]
        assert probe("127.0.0.1", port)[0] is PortState.OPENAI  # the inner reuse did not stop it
    assert not alive(grandchild) and probe("127.0.0.1", port)[0] is PortState.FREE
    assert any("reusing the llamacpp server" in line for line in logs) and logs[-1] == "embedded server stopped"


def test_embedded_server_stops_on_keyboard_interrupt(fake_engine: Path) -> None:
    port = free_port()
    with pytest.raises(KeyboardInterrupt), embedded_server(port=port, log=lambda _: None, engine="fake"):
        grandchild = int(fake_engine.read_text())
        raise KeyboardInterrupt
    assert not alive(grandchild) and probe("127.0.0.1", port)[0] is PortState.FREE


def test_vllm_dtype_follows_the_cpu() -> None:
    assert serve_vllm.cpu_dtype("flags\t: fpu sse2 avx2 avx512f avx512bw") == "bfloat16"
    assert serve_vllm.cpu_dtype("flags\t: fpu sse2 avx2 fma") == "float32"  # bf16 would be emulated
    assert "--dtype" in serve_vllm.cpu_args() and serve_vllm.cpu_dtype() in serve_vllm.cpu_args()
