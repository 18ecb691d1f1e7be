"""docker-compose.yml, Dockerfile and .dockerignore: valid, and keeping what a user relies on.

No Docker daemon is needed: the compose file is validated against the Compose
specification's JSON schema (a fixture beside the repository) and then checked
for the promises docs/DEPLOYMENT.md makes.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from services.launcher.container import main as processes_main
from tests.conftest import fixture_file

REPO = Path(__file__).resolve().parents[1]
APP_SERVICES = ("worker", "beat", "web")
LONG_RUNNING = ("redis", "worker", "beat", "web", "flower", "postgres", "simulator")
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
REFERENCE = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(:?-)?\}$")  # ${VAR} or ${VAR:-} with no inline default


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((REPO / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> list[str]:
    """Instructions with continuation lines joined."""
    text = (REPO / "Dockerfile").read_text().replace("\\\n", " ")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for key, value in node.items() for s in (str(key), *_strings(value))]
    if isinstance(node, list):
        return [s for item in node for s in _strings(item)]
    return [str(node)] if node is not None else []


# --- the compose file ----------------------------------------------------------------------


def test_compose_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    import jsonschema

    schema = json.loads(fixture_file("compose", "compose-spec.json").read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(compose), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_the_services_exist(services: dict[str, dict[str, Any]]) -> None:
    assert set(LONG_RUNNING) | {"migrate"} <= set(services)


def test_redis_never_evicts_and_persists(services: dict[str, dict[str, Any]]) -> None:
    redis = services["redis"]
    assert redis["image"].startswith("redis:7")
    command = " ".join(_command(redis))
    assert "--maxmemory-policy noeviction" in command
    assert "--appendonly yes" in command
    assert any(str(v).endswith(":/data") for v in redis["volumes"])
    assert "redis-cli" in redis["healthcheck"]["test"] and "ping" in redis["healthcheck"]["test"]


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck(services: dict[str, dict[str, Any]], name: str) -> None:
    check = services[name].get("healthcheck") or {}
    assert check.get("test"), f"{name} has no healthcheck"
    assert not check.get("disable")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_healthchecks_call_an_existing_check(services: dict[str, dict[str, Any]], name: str) -> None:
    test = services[name]["healthcheck"]["test"]
    assert test[:5] == ["CMD", "python", "-m", "services.cli.processes", "health"]
    with pytest.raises(SystemExit) as exit_info:  # argparse accepts the arguments and prints help
        processes_main([*test[4:], "--help"])
    assert exit_info.value.code == 0
    assert test[5] == name


def test_optional_services_sit_behind_profiles(services: dict[str, dict[str, Any]]) -> None:
    assert services["postgres"]["profiles"] == ["postgres"]
    assert services["flower"]["profiles"] == ["flower"]
    # `--profile demo up` adds the simulator but never runs the one-shot demo; `run demo`
    # enables the demo's own profile, which brings the simulator too.
    assert services["simulator"]["profiles"] == ["demo", "demo-run"]
    assert services["demo"]["profiles"] == ["demo-run"]
    for name in ("redis", "migrate", *APP_SERVICES):
        assert not services[name].get("profiles"), f"{name} must start without a profile"


def test_the_demo_runs_once_the_stack_is_healthy_and_only_against_the_simulator(
    services: dict[str, dict[str, Any]],
) -> None:
    demo = services["demo"]
    assert demo["restart"] == "no" and demo["healthcheck"] == {"disable": True}
    for name in ("simulator", *APP_SERVICES):
        assert demo["depends_on"][name] == {"condition": "service_healthy"}
    script = demo["command"][0]
    # Without the simulator's URL the workers would send its tokens to Garmin: refuse first.
    assert script.index('GARMINSYNC_GARMIN_API_URL}" != http://simulator:8765') < script.index("login")
    for step in ("garminsync login", "garminsync sync --wait", "garminsync verify", "garminsync status"):
        assert step in script
    assert "${GARMINSYNC_DEMO_ACTIVITIES:-300}" in _command(services["simulator"])


def test_every_compose_variable_is_documented(compose: dict[str, Any]) -> None:
    deployment = (REPO / "docs/DEPLOYMENT.md").read_text()
    names = {m for text in _strings(compose) for m in re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text)}
    undocumented = sorted(name for name in names if f"`{name}`" not in deployment)
    assert not undocumented, f"docs/DEPLOYMENT.md does not explain {undocumented}"


def test_postgres_has_a_volume_and_a_readiness_check(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    assert postgres["image"] == "${GARMINSYNC_POSTGRES_IMAGE:-postgres:17}"
    assert any(":/var/lib/postgresql/data" in str(v) for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert _environment(postgres)["POSTGRES_DB"] == "garminsync"


def test_simulator_listens_on_all_interfaces(services: dict[str, dict[str, Any]]) -> None:
    simulator = services["simulator"]
    assert simulator["entrypoint"] == ["python", "-m", "services.simulator"]
    command = _command(simulator)
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 - inside its container
    assert command[command.index("--port") + 1] == "8765"


@pytest.mark.parametrize("name", (*APP_SERVICES, "migrate"))
def test_app_services_share_the_data_volume_and_redis(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], name: str
) -> None:
    service = services[name]
    mounts = [str(v) for v in service["volumes"]]
    assert "garminsync-data:/data" in mounts
    assert "garminsync-data" in compose["volumes"]
    env = _environment(service)
    assert env["REDIS_URL"] == "redis://redis:6379/0"
    assert env["GARMINSYNC_DATA_DIR"] == "/data"
    assert service["env_file"] == [{"path": ".env", "required": False}]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_app_services_wait_for_what_they_need(services: dict[str, dict[str, Any]], name: str) -> None:
    depends = services[name]["depends_on"]
    assert depends["redis"] == {"condition": "service_healthy"}
    assert depends["migrate"] == {"condition": "service_completed_successfully"}
    assert depends["postgres"] == {"condition": "service_healthy", "required": False}


def test_processes_are_the_right_commands(services: dict[str, dict[str, Any]]) -> None:
    assert _command(services["worker"])[0] == "worker"
    assert _command(services["beat"]) == ["beat"]
    assert services["migrate"]["entrypoint"][-1] == "migrate"
    assert services["migrate"]["restart"] == "no"
    web = services["web"]
    assert web["entrypoint"] == ["gunicorn"]
    assert _command(web)[-1] == "services.web.wsgi:app"
    assert "--bind=0.0.0.0:8080" in _command(web)
    assert web["ports"] == ["${GARMINSYNC_PUBLISH_ADDR:-127.0.0.1}:${GARMINSYNC_PUBLISH_PORT:-8080}:8080"]
    assert services["flower"]["ports"][0].startswith("127.0.0.1:")


def test_no_secret_is_written_in_the_compose_file(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    for name, service in services.items():
        for key, value in _environment(service).items():
            if SECRET_NAME.search(key):
                assert REFERENCE.match(value), f"{name}: {key} must come from .env, not {value!r}"
            assert not key.startswith("GARMIN_"), f"{name}: Garmin credentials belong in .env"
    for text in _strings(compose):
        assert not re.search(r"://[^/\s:@]*:[^@\s$]+@", text), f"credentials inline in {text!r}"


# --- the image -------------------------------------------------------------------------------


def test_dockerfile_is_slim_and_not_root(dockerfile: list[str]) -> None:
    assert dockerfile[0].split()[:2] == ["FROM", "python:3.12-slim"]  # a stage name may follow
    users = [line.split()[1] for line in dockerfile if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0"), "the processes must not run as root"
    assert 'ENTRYPOINT ["garminsync"]' in dockerfile
    assert "WORKDIR /app" in dockerfile
    assert any(line.startswith("ENV GARMINSYNC_DATA_DIR=/data") for line in dockerfile)
    assert any(line.startswith("HEALTHCHECK ") and '"health", "web"' in line for line in dockerfile)
    assert not any("[dev]" in line or ".[dev" in line for line in dockerfile), "no dev extras in the image"


def test_dockerfile_builds_offline_and_quietly() -> None:
    """No `# syntax=` line: BuildKit would fetch that frontend from Docker Hub before building."""
    text = (REPO / "Dockerfile").read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    assert "ARG DEBIAN_FRONTEND=noninteractive" in text
    assert "useradd --system" not in text, "a system user's uid must stay below 1000 (useradd warns)"


def test_dockerfile_installs_dependencies_before_the_code(dockerfile: list[str]) -> None:
    """Cache-friendly: editing code must not reinstall every dependency."""
    deps = next(i for i, line in enumerate(dockerfile) if line.startswith("COPY pyproject.toml"))
    install = next(i for i, line in enumerate(dockerfile) if "pip install -r" in line)
    code = next(i for i, line in enumerate(dockerfile) if line.startswith("COPY . "))
    editable = next(i for i, line in enumerate(dockerfile) if "pip install --no-deps -e ." in line)
    assert deps < install < code < editable
    # shared/db.py finds the migrations next to the `shared` package: only an in-place install has them.
    assert "ALEMBIC_DIR" in dockerfile[editable]


def _ignored(patterns: list[str], path: str) -> bool:
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [path, *("/".join(path.split("/")[: i + 1]) for i in range(path.count("/")))]
        if any(
            fnmatch.fnmatch(c, pattern) or fnmatch.fnmatch(c, pattern.removeprefix("**/")) for c in candidates
        ):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_secrets_out_and_the_app_in() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (
        ".env",
        ".env.local",
        ".venv/bin/python",
        "data/garmin.db",
        ".git/config",
        "tests/test_x.py",
    ):
        assert _ignored(patterns, path), f"{path} would be sent to the Docker build"
    needed = (
        "pyproject.toml",
        "alembic.ini",
        "alembic/env.py",
        "shared/db.py",
        "shared/tokens.py",
        "services/cli/main.py",
        "services/simulator/data.py",
        "services/web/templates/base.html",
    )
    for path in needed:
        assert not _ignored(patterns, path), f"{path} is needed in the image"
