"""Gates: plain functions that return `GateResult`s and never import pytest."""
