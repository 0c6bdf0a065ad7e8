"""Fixtures of the service tests: one populated data dir per module, an in-process client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from prereview.service.app import create_app
from prereview.service.context import ServiceContext
from tests.service.world import World, build_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("service")
    env = {
        "PREREVIEW_HOME": str(base / "home"),
        "PREREVIEW_PLAINTEXT_DIR": str(base / "plaintext"),
        "INSPECT_LOG_DIR": str(base / "inspect-logs"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for var in (
            "PREREVIEW_TOKEN",
            "PREREVIEW_CONFIG",
            "PREREVIEW_DATABASE_URL",
            "PREREVIEW_URL",
        ):
            mp.delenv(var, raising=False)
        for key, value in env.items():
            mp.setenv(key, value)
        yield build_world(base)


@pytest.fixture(scope="module")
def context(world: World) -> Iterator[ServiceContext]:
    ctx = ServiceContext.open(world.settings)
    yield ctx
    ctx.close()


@pytest.fixture(scope="module")
def client(world: World, context: ServiceContext) -> Iterator[TestClient]:
    with TestClient(create_app(world.settings, context=context)) as c:
        yield c


def auth(world: World, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {world.tokens[role]}"}


__all__ = ["Path", "auth"]
