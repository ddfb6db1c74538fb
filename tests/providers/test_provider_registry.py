"""The lazy registry, the public surface of gearshift.providers, and import hygiene."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gearshift import providers
from gearshift.errors import ConfigError
from gearshift.providers import Provider, ProviderRegistry, SyncProvider, get_provider
from gearshift.providers.base import ModelRequest


def test_importing_the_package_imports_no_sdk() -> None:
    # The SDK and jsonschema load only when a provider or validator that needs them is made;
    # the second half shows the probe sees them once they are loaded.
    code = (
        "import sys, gearshift.providers, gearshift.testing.fake_anthropic, "
        "gearshift.engine.validators\n"
        "heavy = ('anthropic', 'jsonschema')\n"
        "bad = [m for m in heavy if m in sys.modules]\n"
        "assert not bad, bad\n"
        "gearshift.providers.get_provider('anthropic')\n"
        "gearshift.engine.validators.JsonSchemaValidator({'type': 'object'})\n"
        "assert all(m in sys.modules for m in heavy), [m for m in heavy if m not in sys.modules]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_all_names_resolve() -> None:
    assert providers.__all__ == sorted(providers.__all__, key=lambda s: (s[0].islower(), s))
    for name in providers.__all__:
        assert getattr(providers, name) is not None
    with pytest.raises(AttributeError):
        providers.NoSuchThing  # noqa: B018


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("sim", "SimProvider"),
        ("claude-code", "ClaudeCodeProvider"),
        ("anthropic", "AnthropicProvider"),
    ],
)
def test_builtins_are_providers(name: str, cls: str) -> None:
    provider = get_provider(name)
    assert type(provider).__name__ == cls
    assert provider.name == name
    assert isinstance(provider, Provider)


def test_options_reach_the_constructor() -> None:
    sim = get_provider("sim", seed=42, time_scale=0)
    assert sim.seed == 42  # type: ignore[attr-defined]


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        get_provider("gpt")
    assert "sim" in (caught.value.hint or "")


def test_third_parties_register_the_same_way() -> None:
    registry = ProviderRegistry()
    registry.register("my-sim", "gearshift.providers.sim:SimProvider")
    assert "my-sim" in registry.names()
    provider = registry.create("my-sim", time_scale=0)
    with SyncProvider(provider) as sync:
        assert sync.complete(ModelRequest.user("hi", model="haiku")).provider == "sim"
    with pytest.raises(ConfigError):
        registry.register("my-sim", "elsewhere:Other")
    registry.register("my-sim", "elsewhere:Other", replace=True)
    with pytest.raises(ConfigError):
        registry.create("my-sim")  # the module does not exist
    with pytest.raises(ConfigError):
        registry.register("broken", "no-colon")


def test_missing_class_in_module() -> None:
    registry = ProviderRegistry({"x": "gearshift.providers.sim:Nope"})
    with pytest.raises(ConfigError, match="has no Nope"):
        registry.create("x")
