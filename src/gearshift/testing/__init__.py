"""Test helpers shipped with gearshift: a fake Anthropic API server (import it explicitly)."""
